"""The LiveState interface (tandem.live): the same behaviour from every backend.

``make()`` is one node's view of the backend (or one life of the process): what one writes,
another ``make()`` reads. Sessions are rows of a real store (the in-process backend keeps
its state there, bound to a live session).
"""

from __future__ import annotations

import asyncio
import json

from rewriter.labels import Origin
from tests.live.conftest import new_session

SHOP = "https://shop.example/"


async def test_jar_survives_into_another_node_or_process(backend, store):
    sid = await new_session(store)
    a = backend().open(sid)
    assert await a.jar.set_from_response(SHOP + "login", ["sess=s3cret; Path=/; HttpOnly; Secure", "pref=big; Path=/"]) == 2
    assert await a.jar.script_write(SHOP, "theme=dark; path=/")
    b = backend().open(sid)
    assert await b.jar.cookie_header(SHOP + "account") == "sess=s3cret; pref=big; theme=dark"
    assert await b.jar.script_read(SHOP) == "pref=big; theme=dark"  # HttpOnly stays HttpOnly


async def test_deletions_and_replacements_reach_the_other_side(backend, store):
    sid = await new_session(store)
    a = backend().open(sid)
    await a.jar.set_from_response(SHOP, ["a=1; Path=/", "b=1; Path=/"])
    await a.jar.set_from_response(SHOP, ["a=; Max-Age=0; Path=/", "b=2; Path=/"])
    b = backend().open(sid)
    assert await b.jar.cookie_header(SHOP) == "b=2"
    await b.jar.set_from_response(SHOP, ["b=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/"])
    assert await backend().open(sid).jar.cookie_header(SHOP) is None


async def test_two_nodes_storing_cookies_at_once_lose_none(backend, store):
    """Two nodes answer the same session at the same moment: every Set-Cookie is kept
    (a whole-jar write would keep only the last node's view)."""
    sid = await new_session(store)
    one, two = backend().open(sid), backend().open(sid)
    await one.jar.set_from_response(SHOP, ["seed=1; Path=/"])
    await two.jar.cookie_header(SHOP)  # both have read the jar before either writes

    async def write(live, name, n):
        for i in range(n):
            await live.jar.set_from_response(SHOP, [f"{name}{i}=v; Path=/"])

    await asyncio.gather(write(one, "a", 25), write(two, "b", 25))
    header = await backend().open(sid).jar.cookie_header(SHOP)
    names = {pair.split("=")[0] for pair in header.split("; ")}
    assert names == {"seed"} | {f"a{i}" for i in range(25)} | {f"b{i}" for i in range(25)}


async def test_aliases_are_found_by_another_node_or_after_a_restart(backend, store):
    sid = await new_session(store)
    a = backend().open(sid)
    origin = Origin("https", "a" * 70 + ".example", 8443)
    a.aliases.register("k3y", origin)
    assert a.aliases.get("k3y") == origin  # at once, where it was made
    await a.flush()
    b = backend().open(sid)
    assert await b.aliases.lookup("k3y") == origin
    assert b.aliases.get("k3y") == origin  # and from then on without asking
    assert await b.aliases.lookup("nope") is None


async def test_room_facts_are_kept(backend, store):
    sid = await new_session(store)
    a = backend().open(sid)
    facts = {"url": "http://x.tandem.localhost/p", "title": "Zoë's cart", "leader": "p1", "policy": "free",
             "controller": "p2", "people": [["p1", "Host", True], ["p2", "Guest 1", False]]}
    a.facts.put(facts)
    assert a.facts.get() == facts
    await a.flush()
    assert await backend().open(sid).facts.load() == facts
    a.facts.put({**facts, "controller": None})
    await a.flush()
    assert (await backend().open(sid).facts.load())["controller"] is None


async def test_ending_forgets_everything(backend, store):
    sid = await new_session(store)
    live = backend().open(sid)
    await live.jar.set_from_response(SHOP, ["a=1"])
    live.aliases.register("k", Origin("https", "long.example", 443))
    live.facts.put({"leader": "p1"})
    await live.flush()
    await backend().drop(sid)
    fresh = backend().open(sid)
    assert await fresh.jar.cookie_header(SHOP) is None
    assert await fresh.aliases.lookup("k") is None
    assert await fresh.facts.load() is None


async def test_sessions_are_kept_apart(backend, store):
    one, two = await new_session(store), await new_session(store)
    await backend().open(one).jar.set_from_response(SHOP, ["mine=1"])
    assert await backend().open(two).jar.cookie_header(SHOP) is None
    await backend().drop(two)
    assert await backend().open(one).jar.cookie_header(SHOP) == "mine=1"


async def test_kept_values_are_encrypted_and_bound_to_their_session(backend, store, request):
    """Nothing readable at rest; a value copied under another session does not open there."""
    one, two = await new_session(store), await new_session(store)
    live = backend().open(one)
    await live.jar.set_from_response(SHOP, ["token=PLAINTEXT-SECRET; Path=/"])
    live.aliases.register("k", Origin("https", "hidden-host.example", 443))
    live.facts.put({"title": "PLAINTEXT-TITLE"})
    await live.flush()
    if "redis" in request.node.callspec.id:
        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(request.getfixturevalue("redis_url"))
        raw = b""
        for k in await r.keys(f"*{one}*"):
            raw += b"".join((await r.hgetall(k)).values()) if await r.type(k) == b"hash" else await r.get(k)
        assert raw and b"PLAINTEXT" not in raw and b"hidden-host" not in raw
        fields = await r.hgetall(f"tandem:{{{one}}}:jar")
        await r.hset(f"tandem:{{{two}}}:jar", mapping=fields)
        await r.aclose()
    else:
        rows = await store.backend.fetchall("SELECT session_id, kind, name, value FROM live_state")
        assert rows and not any("PLAINTEXT" in v or "hidden-host" in v for *_, v in rows)
        for _, kind, name, value in rows:
            if kind == "jar":
                await store.backend.execute("INSERT INTO live_state VALUES (?, ?, ?, ?)", (two, kind, name, value))
    assert await backend().open(two).jar.cookie_header(SHOP) is None


async def test_live_state_of_an_ended_session_is_not_written(store):
    """The in-process backend writes only for a live session: a late write after the end keeps nothing."""
    from tandem.live import MemoryBackend

    sid = await new_session(store)
    live = MemoryBackend(store).open(sid)
    await store.end_session(sid)
    await live.jar.set_from_response(SHOP, ["late=1"])
    assert store.live_sessions() == []


async def test_redis_keys_expire(redis_url, store):
    """A session nobody ends cannot pin Redis memory: every key carries a TTL."""
    import redis.asyncio as aioredis

    from tandem.live.redisstate import RedisBackend

    backend = RedisBackend(redis_url, store.cipher, ttl=600)
    sid = await new_session(store)
    live = backend.open(sid)
    await live.jar.set_from_response(SHOP, ["a=1"])
    live.aliases.register("k", Origin("https", "x.example", 443))
    live.facts.put({"leader": "p"})
    await live.flush()
    r = aioredis.Redis.from_url(redis_url)
    keys = await r.keys(f"*{sid}*")
    assert len(keys) == 3
    for k in keys:
        assert 0 < await r.ttl(k) <= 600
    await r.aclose()
    await backend.close()


async def test_facts_too_big_are_not_kept(backend, store):
    sid = await new_session(store)
    live = backend().open(sid)
    live.facts.put({"leader": "p"})
    live.facts.put({"title": "x" * 100_000})
    await live.flush()
    assert await backend().open(sid).facts.load() == {"leader": "p"}
    json.dumps(live.facts.get())


# -- the tab owner's page (scope "all" is judged by it on every node) -------------------------------

async def test_owner_page_is_seen_by_another_node_or_after_a_restart(backend, store):
    sid = await new_session(store)
    live = backend().open(sid)
    assert await live.page.current() is None  # no page served yet: the start URL stands in
    for host in ("shop.example", "pay.example", "shop.example"):
        await live.page.put(host)
        assert live.page.known() == host
        assert await backend().open(sid).page.current() == host


async def test_owner_page_is_encrypted_bound_and_forgotten_at_the_end(backend, store, request):
    one, two = await new_session(store), await new_session(store)
    await backend().open(one).page.put("hidden-page.example")
    if "redis" in request.node.callspec.id:
        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(request.getfixturevalue("redis_url"))
        raw = await r.get(f"tandem:{{{one}}}:page")
        assert raw and b"hidden-page" not in raw
        await r.set(f"tandem:{{{two}}}:page", raw)  # moved to another session: it does not open there
        await r.aclose()
        assert await backend().open(two).page.current() == ""  # kept but unreadable: not "no page yet"
    else:
        rows = await store.backend.fetchall("SELECT session_id, kind, name, value FROM live_state")
        assert rows and not any("hidden-page" in v for *_, v in rows)
    await backend().drop(one)
    assert await backend().open(one).page.current() is None

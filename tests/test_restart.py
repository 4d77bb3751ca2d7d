"""Restarting the embedded default (one `tandem serve`, SQLite, in-process state) loses no customer.

A real child process is stopped with SIGTERM (graceful) or SIGKILL (no chance to save anything)
and started again with the same --data-dir and port; with the live state in process (the
default, kept in SQLite) and in a real Redis (--redis-url). Before the live state was kept, the jar was
gone (the tab owner was signed out), alias hosts answered 404 and the room forgot who leads and
who controls.
"""

from __future__ import annotations

import asyncio
import json
import signal
from urllib.parse import urlsplit

import aiohttp
import pytest

from demosite import start_demo
from tests.live.conftest import redis_url  # noqa: F401 - a throwaway redis-server for this module
from tests.servers.postgres import postgres_server  # noqa: F401 - a throwaway PostgreSQL for the session
from tests.restart_helpers import NAVIGATE, TandemProcess, browser

WAIT = 10.0  # seconds any one expected message may take on a loaded machine
SIGNALS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGKILL, id="SIGKILL")]


@pytest.fixture
async def demo():
    site = await start_demo("127.0.0.1")
    yield site
    await site.close()


@pytest.fixture(params=["memory", "redis", "postgres"])
async def tandem(request, tmp_path, demo):
    """memory: live state in process (kept in the store), SQLite; redis: live state in Redis;
    postgres: the store (and the kept live state) in PostgreSQL (--database-url)."""
    extra: tuple[str, ...] = ()
    database_url = None
    if request.param == "postgres":
        database_url = request.getfixturevalue("postgres_server").new_database()
        extra = ("--database-url", database_url)
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(url)
        await r.flushdb()
        await r.aclose()
        extra = ("--redis-url", url)
    proc = TandemProcess(tmp_path / "data", allow=tuple(demo.hosts), extra_args=extra)
    proc.redis_url = extra[1] if request.param == "redis" else None
    proc.database_url = database_url
    await proc.start()
    yield proc
    proc.stop(signal.SIGTERM)


async def _enter(proc: TandemProcess, client: aiohttp.ClientSession, enter_url: str) -> str:
    """Open an invite link as a browser would; the proxied URL it lands on."""
    async with client.get(enter_url, headers=NAVIGATE) as r:
        assert r.status == 200, (r.status, await r.text())
        return str(r.url)


async def _signed_in(client: aiohttp.ClientSession, account_url: str) -> bool:
    async with client.get(account_url, headers=NAVIGATE, allow_redirects=False) as r:
        assert r.status in (200, 303), (r.status, await r.text())
        return r.status == 200 and "demo" in await r.text()


@pytest.mark.parametrize("sig", SIGNALS)
async def test_tab_owner_stays_signed_in_and_alias_hosts_answer_after_restart(tandem, demo, sig):
    async with browser() as owner:
        status, body = await tandem.api(owner, "POST", "/sessions", json={"url": demo.shop + "/"})
        assert status == 201, body
        page = await _enter(tandem, owner, body["leader_url"])
        proxied = "{0.scheme}://{0.netloc}".format(urlsplit(page))
        async with owner.post(proxied + "/login", data={"username": "demo", "password": "demo123", "next": "/account"},
                              headers={**NAVIGATE, "Sec-Fetch-Site": "same-origin", "Origin": proxied}) as r:
            assert r.status == 200 and str(r.url).endswith("/account"), (r.status, r.url)
        assert await _signed_in(owner, proxied + "/account")
        # a long host gets an alias label, which the runtime asks Tandem to resolve
        long_origin = "https://" + "a" * 60 + ".example"
        async with owner.post(proxied + "/__tandem/alias", data=long_origin.encode()) as r:
            assert r.status == 200, (r.status, await r.text())
            alias = (await r.text()).rsplit("-", 1)[1]

        await tandem.restart(sig)

        assert await _signed_in(owner, proxied + "/account"), "the restart signed the tab owner out"
        async with owner.get(proxied + "/__tandem/alias", params={"hash": alias}) as r:
            assert r.status == 200 and await r.text() == long_origin, (r.status, await r.text())
        status, after = await tandem.api(owner, "GET", f"/sessions/{body['session_id']}")
        assert status == 200 and after["state"] == "live", after

        # ending the session deletes what was kept: nothing of it is left for the next start
        status, _ = await tandem.api(owner, "DELETE", f"/sessions/{body['session_id']}")
        assert status == 200
    tandem.stop(signal.SIGTERM)
    if tandem.redis_url:
        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(tandem.redis_url)
        try:
            assert await r.keys(f"tandem:{{{body['session_id']}}}:*") == []
        finally:
            await r.aclose()
        return
    from tandem.store import open_store

    store = await open_store(tandem.data_dir, tandem.database_url)
    try:
        assert store.live_sessions() == []
    finally:
        await store.close()


async def _ws(proc: TandemProcess, client: aiohttp.ClientSession, sid: str, kind: str, resume=None):
    ws = await client.ws_connect(f"{proc.url}/s/{sid}/ws", origin=proc.url)
    await ws.send_str(json.dumps({"t": "hello", "kind": kind, "resume": resume}))
    return ws


async def _rejoin(proc: TandemProcess, client: aiohttp.ClientSession, sid: str, kind: str, resume=None):
    """Connect as a page does after a restart: welcomed on the first try. With Redis, a SIGKILLed
    process still holds its rooms' owner leases, but the new process on the same address knows them
    for its dead incarnation's (and nobody listens on that one's channel any more) and takes them at
    once; it used to send sockets away (1001) until the leases ran out (up to 6 s)."""
    ws = await _ws(proc, client, sid, kind, resume)
    msg = await asyncio.wait_for(ws.receive(), WAIT)
    assert msg.type == aiohttp.WSMsgType.TEXT and json.loads(msg.data)["t"] == "welcome", (msg.type, msg.data,
                                                                                           ws.close_code)
    return ws, json.loads(msg.data)


async def _recv(ws, t: str, pred=lambda m: True) -> dict:
    async def loop():
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"socket ended while waiting for {t!r}: {msg.type} {msg.data!r} {ws.close_code}")
            obj = json.loads(msg.data)
            if obj["t"] == t and pred(obj):
                return obj

    return await asyncio.wait_for(loop(), WAIT)


async def _closed(ws) -> tuple[int | None, list[str]]:
    """Read until the server closes; (close code, message types seen on the way)."""
    seen = []

    async def loop():
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                return ws.close_code, seen
            seen.append(json.loads(msg.data)["t"])

    return await asyncio.wait_for(loop(), WAIT)


SNAPSHOT = [{"type": 4, "data": {"href": "http://x/", "width": 800, "height": 600}, "timestamp": 1},
            {"type": 2, "data": {"node": {"type": 0, "childNodes": []}}, "timestamp": 1}]


@pytest.mark.parametrize("sig", SIGNALS)
async def test_room_roles_and_control_survive_restart_and_followers_resync(tandem, demo, sig):
    async with browser() as owner, browser() as agent:
        status, body = await tandem.api(owner, "POST", "/sessions", json={"url": demo.shop + "/"})
        assert status == 201, body
        sid = body["session_id"]
        await _enter(tandem, owner, body["leader_url"])
        async with agent.get(body["follower_url"], allow_redirects=False) as r:
            assert r.status in (302, 303), await r.text()
        tab = await _ws(tandem, owner, sid, "tab")
        me = (await _recv(tab, "welcome"))["you"]
        await _recv(tab, "snapshot")
        await tab.send_str(json.dumps({"t": "ev", "e": SNAPSHOT}))
        view = await _ws(tandem, agent, sid, "view")
        welcome = await _recv(view, "welcome")
        guest = welcome["you"]
        await _recv(view, "ev")
        await tab.send_str(json.dumps({"t": "policy", "control": "ask"}))
        await view.send_str(json.dumps({"t": "control", "a": "request"}))
        await _recv(tab, "state", lambda m: guest in m["requests"])
        await tab.send_str(json.dumps({"t": "control", "a": "grant", "p": guest}))
        await _recv(view, "state", lambda m: m["controller"] == guest)

        if sig == signal.SIGTERM:
            tandem.stop(sig)
            # graceful: told to come back (1001), never a `bye` (which ends the page for good)
            code, seen = await _closed(view)
            assert code == 1001 and "bye" not in seen, (code, seen)
            await tandem.start()
        else:
            await tandem.restart(sig)
        for ws in (tab, view):
            await ws.close()

        # the same session, the same people: the leader leads, the guest still controls
        view, again = await _rejoin(tandem, agent, sid, "view", resume={"epoch": welcome["epoch"], "seq": 2})
        assert again["you"] == guest and again["role"] == "follower"
        assert again["state"]["leader"] == me and again["state"]["controller"] == guest
        assert again["state"]["policy"] == "ask"
        await _recv(view, "reset")  # a new stream: the old resume point means nothing now
        tab, tab_welcome = await _rejoin(tandem, owner, sid, "tab")
        assert tab_welcome["role"] == "leader"
        await _recv(tab, "snapshot")  # the tab is asked for a fresh snapshot …
        await tab.send_str(json.dumps({"t": "ev", "e": SNAPSHOT}))
        got = await _recv(view, "ev")  # … and the follower gets it
        assert got["e"][0]["type"] == 4
        status, after = await tandem.api(owner, "GET", f"/sessions/{sid}")
        assert status == 200 and after["id" if "id" in after else "session_id"] == sid and after["state"] == "live"
        await tab.close()
        await view.close()

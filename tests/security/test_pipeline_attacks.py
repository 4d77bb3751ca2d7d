"""Issue 10, attacks on the proxy request path, through a real Tandem and real upstreams on loopback.

Each test names the finding it covers and failed on the code before the pipeline
restructure (proxy/admit.py, decide.py, exchange.py, respond.py).
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from proxy.allowlist import Entry
from tests.harness import client_session
from tests.sync.helpers import join, mirror_shows

NAV = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "none", "Accept": "text/html"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SECRET = "account-balance-4711"


def site(seen: list):
    """A site with a signed-in account page, an API answer and an image; it records what it was sent."""

    async def record(request):
        seen.append({"path": request.path, "method": request.method, "cookie": request.headers.get("Cookie", ""),
                     "override": request.headers.get("X-HTTP-Method-Override"), "body": await request.read()})

    async def login(request):
        await record(request)
        resp = web.Response(text="ok")
        resp.set_cookie("session", "leader-secret-cookie", path="/", httponly=True)
        resp.set_cookie("pref", "visible-to-script", path="/")
        return resp

    async def account(request):
        await record(request)
        return web.Response(text=f"<html><body><p>{SECRET}</p></body></html>", content_type="text/html")

    async def api(request):
        await record(request)
        return web.json_response({"balance": SECRET})

    async def image(request):
        await record(request)
        return web.Response(body=PNG, content_type="image/png")

    async def moved(request):
        await record(request)
        raise web.HTTPFound("/avatar.png", text="<html><body>" + SECRET + "</body></html>", content_type="text/html")

    async def ws(request):
        await record(request)
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        await sock.send_str(SECRET)
        await sock.close()
        return sock

    async def anything(request):
        await record(request)
        return web.Response(text=SECRET, content_type="text/plain")

    app = web.Application()
    app.router.add_post("/login", login)
    app.router.add_get("/account", account)
    app.router.add_get("/api", api)
    app.router.add_get("/avatar.png", image)
    app.router.add_get("/moved.png", moved)
    app.router.add_get("/ws", ws)
    app.router.add_route("*", "/any", anything)
    return app


async def _setup(make_tandem, upstream, **tandem):
    seen: list = []
    origin = await upstream(site(seen))
    t = await make_tandem(**tandem)
    s = await t.session(origin + "/account")
    return t, s, origin, seen


# --- #5: allowlist bypass by request headers ---------------------------------------------------

async def test_5_no_cors_does_not_open_an_internal_host_opened_for_a_listed_site(make_tandem, upstream):
    """The listed site is 127.0.0.1; `localhost` is another (internal) host the private networks reach."""
    t, s, origin, seen = await _setup(make_tandem, upstream, extra_allow=(Entry("127.0.0.1"),))
    internal = origin.replace("127.0.0.1", "localhost")
    r = await t.client.get(s.url(internal + "/account"), headers={"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"})
    body = await r.text()
    assert r.status == 403 and SECRET not in body
    assert not any(x["path"] == "/account" for x in seen)


async def test_5_follower_image_claim_does_not_open_an_unlisted_host(make_tandem, upstream):
    t, s, origin, seen = await _setup(make_tandem, upstream, extra_allow=(Entry("127.0.0.1"),))
    follower = await join(t, s.sid)
    internal = origin.replace("127.0.0.1", "localhost")
    await mirror_shows(t, t.client, s.sid, internal + "/api")  # the page may show any URL: that grants nothing
    try:
        r = await follower.get(s.url(internal + "/api"), headers={"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"})
        assert r.status == 403 and SECRET not in await r.text()
        assert seen == []
    finally:
        await follower.close()


async def test_5_scope_all_is_not_bypassed_by_a_referer_naming_the_unlisted_url(make_tandem, upstream):
    t, s, origin, seen = await _setup(make_tandem, upstream, extra_allow=(Entry("127.0.0.1", "all"),))
    unlisted = origin.replace("127.0.0.1", "localhost") + "/any"
    r = await t.client.get(s.url(unlisted), headers={"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image",
                                                   "Referer": s.url(unlisted)})
    assert r.status == 403 and SECRET not in await r.text()
    assert seen == []


async def test_5_a_websocket_does_not_reach_an_internal_host_opened_for_a_listed_site(make_tandem, upstream):
    t, s, origin, seen = await _setup(make_tandem, upstream, extra_allow=(Entry("127.0.0.1"),))
    internal = origin.replace("127.0.0.1", "localhost")
    try:
        ws = await t.client.ws_connect(s.url(internal + "/ws"))
        got = await ws.receive()
        await ws.close()
    except aiohttp.WSServerHandshakeError as exc:
        got = exc.status
    assert got in (403, 502) and seen == [], got


# --- #6: the follower wall ----------------------------------------------------------------------

async def test_6_follower_image_claim_gets_no_document_and_no_json(make_tandem, upstream):
    t, s, origin, seen = await _setup(make_tandem, upstream)
    r = await t.client.post(s.url(origin + "/login"), data=b"")
    assert r.status == 200
    follower = await join(t, s.sid)
    # a hostile page shows them as images: the mirror asks for them, what they are refuses them
    await mirror_shows(t, t.client, s.sid, origin + "/account", origin + "/api", origin + "/any")
    try:
        for path, dest in (("/account", "image"), ("/account", "style"), ("/api", "image"), ("/any", "font")):
            r = await follower.get(s.url(origin + path), headers={"Sec-Fetch-Dest": dest, "Sec-Fetch-Mode": "no-cors"})
            body = await r.text()
            assert r.status == 403 and "follower_wall" in body and SECRET not in body, (path, dest, r.status)
        # what the site was asked for the follower carried none of the leader's cookies
        assert all("leader-secret-cookie" not in x["cookie"] for x in seen if x["path"] != "/login")
    finally:
        await follower.close()


async def test_6_a_followers_cache_miss_is_fetched_without_the_leaders_cookies(make_tandem, upstream):
    t, s, origin, seen = await _setup(make_tandem, upstream)
    await (await t.client.post(s.url(origin + "/login"), data=b"")).read()
    follower = await join(t, s.sid)
    await mirror_shows(t, t.client, s.sid, origin + "/avatar.png")
    try:
        r = await follower.get(s.url(origin + "/avatar.png"), headers={"Sec-Fetch-Dest": "image", "Sec-Fetch-Mode": "no-cors"})
        assert r.status == 200 and await r.read() == PNG
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        fetched = [x for x in seen if x["path"] == "/avatar.png"]
        assert len(fetched) == 1 and "leader-secret-cookie" not in fetched[0]["cookie"]
    finally:
        await follower.close()


async def test_6_followers_follow_redirects_without_their_bodies_and_never_revalidate(make_tandem, upstream):
    t, s, origin, seen = await _setup(make_tandem, upstream)
    follower = await join(t, s.sid)
    await mirror_shows(t, t.client, s.sid, origin + "/moved.png", origin + "/account")
    try:
        img = {"Sec-Fetch-Dest": "image", "Sec-Fetch-Mode": "no-cors"}
        r = await follower.get(s.url(origin + "/moved.png"), headers=img, allow_redirects=False)
        assert r.status == 302 and SECRET not in await r.text()
        assert r.headers["Location"].endswith("/avatar.png")
        r = await follower.get(s.url(origin + "/account"), headers={**img, "If-None-Match": '"x"'})
        assert r.status == 403 and SECRET not in await r.text()
    finally:
        await follower.close()


async def test_6_followers_send_no_method_override_and_no_body(make_tandem, upstream):
    t, s, origin, seen = await _setup(make_tandem, upstream)
    follower = await join(t, s.sid)
    await mirror_shows(t, t.client, s.sid, origin + "/avatar.png")
    try:
        r = await follower.get(s.url(origin + "/avatar.png"), data=b"amount=1000",
                               headers={"Sec-Fetch-Dest": "image", "X-HTTP-Method-Override": "POST"})
        assert r.status == 200
        sent = [x for x in seen if x["path"] == "/avatar.png"]
        assert sent and all(x["override"] is None and x["body"] == b"" for x in sent)
    finally:
        await follower.close()


async def test_6_followers_cannot_read_the_jar_or_other_reserved_data(make_tandem, upstream):
    t, s, origin, seen = await _setup(make_tandem, upstream)
    await (await t.client.post(s.url(origin + "/login"), data=b"")).read()
    r = await t.client.get(s.url(origin + "/__tandem/cookies?path=/"))
    assert r.status == 200 and "pref=visible-to-script" in await r.text()  # the tab owner's runtime may
    follower = await join(t, s.sid)
    try:
        r = await follower.get(s.url(origin + "/__tandem/cookies?path=/"))
        body = await r.text()
        assert r.status == 403 and "visible-to-script" not in body
        r = await follower.get(s.url(origin + "/__tandem/alias?hash=x"))
        assert r.status == 403
        r = await follower.get(s.url(origin + "/__tandem/runtime.js"))
        assert r.status == 200  # static scripts hold nothing
    finally:
        await follower.close()


# --- #21: credential-less ("anonymous CORS") requests --------------------------------------------

async def test_21_credential_less_requests_meet_the_allowlist_and_guard(make_tandem, upstream):
    t, s, origin, seen = await _setup(make_tandem, upstream, extra_allow=(Entry("127.0.0.1"),))
    await (await t.client.post(s.url(origin + "/login"), data=b"")).read()  # the jar holds the leader's cookies
    stranger = client_session()  # knows the session id, holds no credential
    try:
        page_origin = s.url(origin)[:-1]
        cors = {"Sec-Fetch-Mode": "cors", "Origin": page_origin}
        # an unlisted (internal) host: refused, whatever the method
        internal = origin.replace("127.0.0.1", "localhost")
        for method in ("GET", "PUT", "DELETE"):
            r = await stranger.request(method, s.url(internal + "/any"), headers=cors)
            assert r.status == 403, method
        assert seen[1:] == []
        # an Origin naming a page of an unlisted site: such a page was never served, the Origin is forged
        forged = s.url("http://evil.example/")[:-1]
        r = await stranger.put(s.url(origin + "/any"), headers={"Sec-Fetch-Mode": "cors", "Origin": forged})
        assert r.status == 403
        assert [x for x in seen if x["path"] == "/any"] == []
        # a listed host, from a listed page: forwarded as a browser would send it, without the jar
        r = await stranger.put(s.url(origin + "/any"), headers=cors)
        assert r.status == 200
        assert [x["cookie"] for x in seen if x["path"] == "/any"] == [""]
        # never a WebSocket, never the reserved data endpoints
        r = await stranger.get(s.url(origin + "/__tandem/cookies?path=/"), headers=cors)
        assert r.status == 403 and "visible-to-script" not in await r.text()
    finally:
        await stranger.close()


# --- #6 (the wall by live role): a former tab owner is a follower, whatever its credential says -----------

async def _state_with(ws, pred) -> dict:
    from tests.sync.helpers import recv

    for _ in range(50):
        state = await recv(ws, "state")
        if pred(state):
            return state
    raise AssertionError("no such state")


async def test_6_a_tab_owner_who_handed_over_and_left_gets_no_jar(make_tandem, upstream):
    """The tab owner (credential role "leader") hands the tab to a follower, who signs in to the site,
    then leaves the room. The room no longer knows them, and the proxy fell back to the credential's
    role: the former tab owner browsed the site as the tab owner again, with the new one's signed-in
    jar (an account page, the jar endpoint). Whoever the room says leads is the only tab owner."""
    from tests.sync.helpers import recv, socket

    t, s, origin, seen = await _setup(make_tandem, upstream)
    old = t.client
    tab = await socket(t, old, s.sid, kind="tab")
    await recv(tab, "snapshot")
    new = await join(t, s.sid)
    try:
        view = await socket(t, new, s.sid)
        state = await _state_with(tab, lambda st: len(st["participants"]) == 2)
        new_pid = next(p["id"] for p in state["participants"] if p["id"] != state["leader"])
        await tab.send_str('{"t": "lead", "p": "%s"}' % new_pid)
        assert (await recv(view, "role"))["role"] == "leader"
        r = await new.post(s.url(origin + "/login"), data=b"")  # the new tab owner signs in
        assert r.status == 200
        await tab.send_str('{"t": "leave"}')
        await _state_with(view, lambda st: len(st["participants"]) == 1)
        seen.clear()
        r = await old.get(s.url(origin + "/account"), headers=NAV, allow_redirects=False)
        assert SECRET not in await r.text() and r.status != 200, r.status
        r = await old.get(s.url(origin + "/__tandem/cookies?path=/"))
        assert r.status == 403 and "visible-to-script" not in await r.text()
        r = await old.get(s.url(origin + "/any"), headers={"Sec-Fetch-Dest": "image", "Sec-Fetch-Mode": "no-cors"})
        assert SECRET not in await r.text()
        assert all("leader-secret-cookie" not in x["cookie"] for x in seen)
        # the new tab owner still is one
        r = await new.get(s.url(origin + "/account"), headers=NAV)
        assert r.status == 200 and SECRET in await r.text()
    finally:
        await new.close()

"""Followers on proxied hosts: mirror resources only, from the session cache first, never a write upstream."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from aiohttp import web

from tandem import appkeys
from tests.sync.helpers import mirror_shows, join, recv, socket

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
IMG = {"Sec-Fetch-Dest": "image", "Sec-Fetch-Mode": "no-cors"}


async def site(upstream):
    hits: Counter = Counter()

    async def img(request):
        hits[("GET", request.path)] += 1
        await asyncio.sleep(0.05)  # long enough for concurrent followers to overlap
        resp = web.Response(body=PNG, content_type="image/png")
        resp.set_cookie("tracker", request.path.rsplit("/", 1)[-1])
        return resp

    async def font(request):
        hits[("GET", request.path)] += 1
        return web.Response(body=b"wOF2" + b"\0" * 32, content_type="font/woff2",
                            headers={"Access-Control-Allow-Origin": "*"})

    async def page(request):
        hits[(request.method, request.path)] += 1
        return web.Response(text="<html><head><title>t</title></head><body>page</body></html>", content_type="text/html")

    async def ws(request):
        hits[("WS", request.path)] += 1
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        await sock.close()
        return sock

    app = web.Application()
    app.router.add_get("/img/{name}", img)
    app.router.add_get("/font.woff2", font)
    app.router.add_route("*", "/page", page)
    app.router.add_get("/ws", ws)
    return await upstream(app), hits


async def setup(make_tandem, upstream):
    origin, hits = await site(upstream)
    t = await make_tandem()
    s = await t.session(origin + "/page")
    follower = await join(t, s.sid)
    return t, s, origin, hits, follower


async def test_follower_gets_what_the_leader_fetched_from_the_cache(make_tandem, upstream):
    t, s, origin, hits, follower = await setup(make_tandem, upstream)
    await mirror_shows(t, t.client, s.sid, origin + "/img/a.png")
    try:
        r = await t.client.get(s.url(origin + "/img/a.png"), headers=IMG)
        assert r.status == 200 and await r.read() == PNG
        for _ in range(3):
            r = await follower.get(s.url(origin + "/img/a.png"), headers=IMG)
            assert r.status == 200 and await r.read() == PNG
            assert r.headers["X-Tandem-Cache"] == "hit" and r.headers["Content-Type"] == "image/png"
        assert hits[("GET", "/img/a.png")] == 1
    finally:
        await follower.close()


async def test_concurrent_follower_misses_cause_one_upstream_fetch(make_tandem, upstream):
    t, s, origin, hits, follower = await setup(make_tandem, upstream)
    others = [await join(t, s.sid) for _ in range(4)]
    await mirror_shows(t, t.client, s.sid, origin + "/img/b.png")
    try:
        url = s.url(origin + "/img/b.png")
        results = await asyncio.gather(*(c.get(url, headers=IMG) for c in [follower, *others]))
        assert [r.status for r in results] == [200] * 5
        assert [await r.read() for r in results] == [PNG] * 5
        assert hits[("GET", "/img/b.png")] == 1
        # and the follower's fetch did not put the site's cookie in the session jar
        jar = (await t.app[appkeys.SESSIONS].get(s.sid)).jar
        assert "tracker" not in (await jar.cookie_header(origin + "/img/b.png") or "")
        await (await t.client.get(s.url(origin + "/img/c.png"), headers=IMG)).read()  # the leader's fetch does
        assert "tracker=c.png" in (await jar.cookie_header(origin + "/img/b.png") or "")
    finally:
        for c in [follower, *others]:
            await c.close()


async def test_follower_cannot_write_navigate_script_or_open_sockets(make_tandem, upstream):
    t, s, origin, hits, follower = await setup(make_tandem, upstream)
    try:
        before = sum(hits.values())
        r = await follower.post(s.url(origin + "/page"), data=b"x=1", headers={"Sec-Fetch-Mode": "cors"})
        assert r.status == 403 and "follower_read_only" in await r.text()
        for method in ("PUT", "DELETE", "PATCH"):
            r = await follower.request(method, s.url(origin + "/page"), headers={"Sec-Fetch-Mode": "cors"})
            assert r.status == 403
        r = await follower.get(s.url(origin + "/page"), headers={"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"},
                               allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == f"{t.url}/s/{s.sid}"
        r = await follower.get(s.url(origin + "/page"), headers={"Sec-Fetch-Dest": "script", "Sec-Fetch-Mode": "no-cors"})
        assert r.status == 403
        r = await follower.get(s.url(origin + "/img/x.png"))  # no Sec-Fetch-Dest: not a mirror's resource load
        assert r.status == 403
        r = await follower.get(s.url(origin + "/ws"), headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                                               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                                               "Sec-WebSocket-Version": "13"})
        assert r.status == 403
        r = await follower.post(s.url(origin + "/__tandem/cookies?path=/"), data=b"a=b",
                                headers={"Sec-Fetch-Site": "same-origin"})
        assert r.status == 403
        assert sum(hits.values()) == before  # none of it reached the site
        # the leader still can
        r = await t.client.post(s.url(origin + "/page"), data=b"x=1")
        assert r.status == 200 and hits[("POST", "/page")] == 1
    finally:
        await follower.close()


async def test_roles_follow_the_room_after_hand_over(make_tandem, upstream):
    t, s, origin, hits, follower = await setup(make_tandem, upstream)
    try:
        tab = await socket(t, t.client, s.sid, kind="tab")
        await recv(tab, "snapshot")
        view = await socket(t, follower, s.sid)
        new_leader = (await recv(view, "welcome"))["you"]
        await tab.send_str(json.dumps({"t": "lead", "p": new_leader}))
        assert (await recv(view, "role"))["role"] == "leader"
        assert (await recv(tab, "role"))["role"] == "follower"
        r = await t.client.post(s.url(origin + "/page"), data=b"x=1", headers={"Sec-Fetch-Mode": "cors"})
        assert r.status == 403  # the old leader's browser is a follower now
        r = await follower.post(s.url(origin + "/page"), data=b"x=1")
        assert r.status == 200 and hits[("POST", "/page")] == 1
    finally:
        await follower.close()


async def test_fonts_for_the_mirror_are_allowed_to_the_control_plane(make_tandem, upstream):
    """The mirror's document belongs to BASE; its font loads are CORS requests from there."""
    t, s, origin, hits, follower = await setup(make_tandem, upstream)
    await mirror_shows(t, t.client, s.sid, origin + "/font.woff2", origin + "/font.woff2?v=2")
    try:
        r = await t.client.get(s.url(origin + "/font.woff2"), headers={"Sec-Fetch-Dest": "font", "Origin": s.url(origin)[:-1]})
        assert r.status == 200
        r = await follower.get(s.url(origin + "/font.woff2"), headers={"Sec-Fetch-Dest": "font", "Sec-Fetch-Mode": "cors",
                                                                       "Origin": t.url})
        assert r.status == 200 and r.headers["X-Tandem-Cache"] == "hit"
        assert r.headers["Access-Control-Allow-Origin"] == t.url
        assert hits[("GET", "/font.woff2")] == 1
        # a font the leader never loaded: fetched once for the follower, open to the mirror's origin too
        other = await join(t, s.sid)
        r = await other.get(s.url(origin + "/font.woff2?v=2"), headers={"Sec-Fetch-Dest": "font", "Sec-Fetch-Mode": "cors",
                                                                        "Origin": t.url})
        assert r.status == 200 and "X-Tandem-Cache" not in r.headers
        assert r.headers.getall("Access-Control-Allow-Origin") == [t.url]
        await other.close()
    finally:
        await follower.close()

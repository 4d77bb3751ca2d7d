"""A page's first WebSocket / EventSource to another host of its session, through its own host.

Each proxied host holds its own host-only credential, set by the entry hand-off. A page on
host A that opens ``new WebSocket("wss://B/...")`` or ``new EventSource(B, {withCredentials:
true})`` before the browser entered B sent it credential-less (a constructor cannot wait for
an entry), so B's host refused it. The runtime now sends such connections to A's own
``/__tandem/tunnel/<B's host>/<path>`` (viewer/runtime/network.js, proxy/tunnel.py), which A's
credential admits; the proxy then decides and fetches for B as usual.

In real Chromium: B sees the session jar's cookie on its first contact by socket and event
stream, and the page reads B's URLs back (``ws.url``, ``es.url``, events' ``origin``).
Over HTTP: another session's host, a follower, an unlisted B (scope ``all``), an EventSource
whose site does not allow the page's origin, and anything but a socket or an event stream
are refused.
"""

from __future__ import annotations

import inspect

import pytest
from aiohttp import web
from yarl import URL

from proxy.allowlist import Entry
from tandem import appkeys
from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_sync import WAIT_MS, leader_page
from tests.sync.helpers import join

PAGE = """<!doctype html><html><head><meta charset=utf-8><title>A</title></head><body><p id=m>A</p>
<script>
  const B = "__B__";
  window.result = (async () => {
    const ws = new WebSocket(B.replace("http", "ws") + "/ws?x=1");
    const sock = await new Promise((ok) => {
      ws.onmessage = (e) => ok({data: e.data, origin: e.origin}); ws.onerror = () => ok({data: "ws-error"});
    });
    const es = new EventSource(B + "/events?y=2", {withCredentials: true});
    const stream = await new Promise((ok) => {
      es.onmessage = (e) => { es.close(); ok({data: e.data, origin: e.origin}); };
      es.onerror = () => { es.close(); ok({data: "es-error"}); };
    });
    return {sock, stream, wsUrl: ws.url, esUrl: es.url};
  })().catch((e) => ({error: String(e)}));
</script></body></html>"""


def b_site(seen: list) -> web.Application:
    async def ws(request):
        seen.append(("ws", request.headers.get("Cookie", ""), request.headers.get("Origin", "")))
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        await sock.send_str(request.headers.get("Cookie", ""))
        await sock.close()
        return sock

    async def events(request):
        seen.append(("events", request.headers.get("Cookie", ""), request.headers.get("Origin", "")))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "Access-Control-Allow-Origin": request.headers.get("Origin", ""),
                                           "Access-Control-Allow-Credentials": "true"})
        await resp.prepare(request)
        await resp.write(f"data: {request.headers.get('Cookie', '')}\n\n".encode())
        await resp.write_eof()
        return resp

    async def no_cors(request):
        seen.append(("no-cors", request.headers.get("Cookie", ""), ""))
        return web.Response(text="data: secret\n\n", content_type="text/event-stream")

    app = web.Application()
    app.router.add_get("/ws", ws)
    app.router.add_get("/events", events)
    app.router.add_get("/no-cors", no_cors)
    return app


async def _session(t, a: str):
    resp = await t.api("POST", "/api/v1/sessions", json={"url": a + "/"})
    body = await resp.json()
    assert resp.status == 201, body
    session = t.app[appkeys.SESSIONS].get(body["session_id"])
    return body, (await session if inspect.isawaitable(session) else session)


@needs_chromium
@pytest.mark.e2e
async def test_a_pages_first_websocket_and_event_stream_to_another_host_carry_the_jar(make_tandem, upstream):
    seen: list = []
    b = await upstream(b_site(seen))

    async def page(request):
        return web.Response(text=PAGE.replace("__B__", b), content_type="text/html")

    a_app = web.Application()
    a_app.router.add_get("/", page)
    a = await upstream(a_app)
    t = await make_tandem()
    body, session = await _session(t, a)
    await session.jar.set_from_response(b + "/ws", ["bsess=jar-cookie-for-b; Path=/"])
    async with chromium() as browser:
        ctx, pg = await leader_page(browser, body)
        await pg.wait_for_function("() => window.result", timeout=WAIT_MS)
        got = await pg.evaluate("() => window.result")
        await ctx.close()
    assert got.get("sock") == {"data": "bsess=jar-cookie-for-b", "origin": b.replace("http", "ws")}, (got, seen)
    assert got.get("stream") == {"data": "bsess=jar-cookie-for-b", "origin": b}, (got, seen)
    assert got.get("wsUrl") == b.replace("http", "ws") + "/ws?x=1" and got.get("esUrl") == b + "/events?y=2", got
    # B was told the page's real origin, as the browser would have told it
    assert ("ws", "bsess=jar-cookie-for-b", a) in seen and ("events", "bsess=jar-cookie-for-b", a) in seen, seen


def _tunnel(t, s_url: str, to_host: str, path: str) -> str:
    """The tunnel URL on the proxied host of ``s_url`` towards proxied host ``to_host``."""
    return str(URL(s_url).with_path("/").with_query(None)).rstrip("/") + f"/__tandem/tunnel/{to_host}{path}"


ES = {"Accept": "text/event-stream"}


async def test_the_tunnel_stays_in_the_session_and_in_the_rules(make_tandem, upstream):
    seen: list = []
    b = await upstream(b_site(seen))
    listed = Entry("127.0.0.1", "all")  # a page on 127.0.0.1 may load only from listed hosts
    t = await make_tandem(extra_allow=(listed,))
    a = await upstream(web.Application())
    x = await t.session(a + "/")
    y = await t.session(a + "/")
    x_a, x_b, y_b = x.url(a + "/"), x.url(b + "/"), y.url(b + "/")
    session = t.app[appkeys.SESSIONS].get(x.sid)
    session = await session if inspect.isawaitable(session) else session
    await session.jar.set_from_response(b + "/ws", ["bsess=x-jar; Path=/"])

    # the tab owner, through its own host: B's cookies from the session jar
    r = await t.client.get(_tunnel(t, x_a, URL(x_b).host_port_subcomponent, "/events"), headers=ES)
    assert r.status == 200 and "data: bsess=x-jar" in await r.text(), r.status
    sock = await t.client.ws_connect(_tunnel(t, x_a, URL(x_b).host_port_subcomponent, "/ws"), origin=x_a.rstrip("/"))
    assert (await sock.receive_str()) == "bsess=x-jar"
    await sock.close()
    before = len(seen)

    # another session's host: refused, and that session's site never asked
    r = await t.client.get(_tunnel(t, x_a, URL(y_b).host_port_subcomponent, "/events"), headers=ES)
    assert r.status == 403 and "tunnel_refused" in await r.text()
    # a page of another session (its browser-set Origin) cannot use this session's tunnel
    r = await t.client.get(_tunnel(t, x_a, URL(x_b).host_port_subcomponent, "/events"),
                           headers={**ES, "Origin": y_b.rstrip("/")})
    assert r.status == 403 and "tunnel_refused" in await r.text()
    # a follower: refused
    follower = await join(t, x.sid)
    try:
        r = await follower.get(_tunnel(t, x_a, URL(x_b).host_port_subcomponent, "/events"), headers=ES)
        assert r.status == 403, r.status
    finally:
        await follower.close()
    # an event stream whose site does not allow the page's origin: refused, nothing of it sent on
    r = await t.client.get(_tunnel(t, x_a, URL(x_b).host_port_subcomponent, "/no-cors"), headers=ES)
    text = await r.text()
    assert r.status == 403 and "secret" not in text, (r.status, text)
    # anything but a socket or an event stream (a fetch would read B with the jar, past CORS): refused
    r = await t.client.get(_tunnel(t, x_a, URL(x_b).host_port_subcomponent, "/events"))
    assert r.status == 403
    r = await t.client.post(_tunnel(t, x_a, URL(x_b).host_port_subcomponent, "/events"), headers=ES, data=b"x")
    assert r.status == 403
    assert [s for s in seen[before:] if s[0] != "no-cors"] == [], seen[before:]

    # an unlisted B (the page's entry has scope "all"): refused as a direct connection would be
    unlisted = b.replace("127.0.0.1", "localhost")
    x_u = x.url(unlisted + "/")
    r = await t.client.get(_tunnel(t, x_a, URL(x_u).host_port_subcomponent, "/events"), headers=ES)
    assert r.status == 403 and "site_not_allowed" in await r.text()
    assert [s[0] for s in seen[before:]] == ["no-cors"], seen[before:]

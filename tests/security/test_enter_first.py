"""A credentialed request to a host of the session the browser has not entered yet carries the credential.

Issue 10 (left over from the credential hand-off): each proxied host holds its own HttpOnly
credential, which navigations and no-cors loads get through the entry hand-off; a credentialed
CORS ``fetch`` or a WebSocket cannot follow it, so to a host not entered yet it arrived
credential-less, without the session's cookie jar. The runtime now enters such a host first
(a no-cors GET to its ``/__tandem/hello``, viewer/runtime/enter.js).

In real Chromium: the tab owner's page on host A fetches host B with ``credentials: 'include'``
and then opens a WebSocket to B; B must see the cookie the session's jar holds for it. Nothing
of B was loaded before (no image, no frame), so B was not entered.
"""

from __future__ import annotations

import inspect

import pytest
from aiohttp import web

from tandem import appkeys
from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_sync import WAIT_MS, leader_page

pytestmark = [pytest.mark.e2e, needs_chromium]

PAGE = """<!doctype html><html><head><meta charset=utf-8><title>A</title></head><body><p id=m>A</p>
<script>
  const B = "__B__";
  window.result = (async () => {
    const r = await fetch(B + "/api", {credentials: "include"});
    const api = (await r.json()).cookie;
    const ws = new WebSocket(B.replace("http", "ws") + "/ws");
    const sock = await new Promise((ok, bad) => { ws.onmessage = (e) => ok(e.data); ws.onerror = () => ok("ws-error"); });
    return {api, sock};
  })().catch((e) => ({error: String(e)}));
</script></body></html>"""


async def _sites(upstream):
    seen: list[tuple[str, str]] = []

    async def api(request):
        seen.append(("api", request.headers.get("Cookie", "")))
        origin = request.headers.get("Origin", "")
        return web.json_response({"cookie": request.headers.get("Cookie", "")},
                                 headers={"Access-Control-Allow-Origin": origin,
                                          "Access-Control-Allow-Credentials": "true", "Vary": "Origin"})

    async def ws(request):
        seen.append(("ws", request.headers.get("Cookie", "")))
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        await sock.send_str(request.headers.get("Cookie", ""))
        await sock.close()
        return sock

    b_app = web.Application()
    b_app.router.add_get("/api", api)
    b_app.router.add_get("/ws", ws)
    b = await upstream(b_app)

    async def page(request):
        return web.Response(text=PAGE.replace("__B__", b), content_type="text/html")

    a_app = web.Application()
    a_app.router.add_get("/", page)
    a = await upstream(a_app)
    return a, b, seen


async def test_a_credentialed_fetch_and_websocket_to_a_host_not_entered_yet_carry_the_jar(make_tandem, upstream):
    a, b, seen = await _sites(upstream)
    t = await make_tandem()
    resp = await t.api("POST", "/api/v1/sessions", json={"url": a + "/"})
    body = await resp.json()
    assert resp.status == 201, body
    session = t.app[appkeys.SESSIONS].get(body["session_id"])
    session = await session if inspect.isawaitable(session) else session
    await session.jar.set_from_response(b + "/api", ["bsess=jar-cookie-for-b; Path=/"])
    async with chromium() as browser:
        ctx, page = await leader_page(browser, body)
        result = await page.wait_for_function("() => window.result", timeout=WAIT_MS)
        got = await page.evaluate("() => window.result")
        await ctx.close()
    assert got.get("api") == "bsess=jar-cookie-for-b", (got, seen)
    assert got.get("sock") == "bsess=jar-cookie-for-b", (got, seen)
    assert ("api", "bsess=jar-cookie-for-b") in seen and ("ws", "bsess=jar-cookie-for-b") in seen
    del result

"""Images and stylesheets a page loads with ``crossorigin`` load in the follower's mirror, in real Chromium.

github.com loads every stylesheet as ``<link rel=stylesheet crossorigin=anonymous>`` from its
asset host. The tab owner's page gets them (the proxy admits a credential-less CORS request from
another proxied origin of the session), but the mirror is a document of the control plane: its
CORS request carries no credential and comes from no proxied origin, so the proxy refused it. A
``crossorigin`` image stayed broken in the mirror; a stylesheet was refused (the real-page suite's
follower console showed its 6 stylesheets refused on github.com) until rrweb's copy of its rules arrived. The
mirror now loads them without asking for CORS (``crossorigin`` dropped, but on preloads): the
follower's own credential goes along and the follower wall decides, as for every other resource.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import pytest
from aiohttp import web

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_mirror_pages import PNG_4X4, PageErrors, follower, serve_on_port, start
from tests.e2e.test_sync import leader_page, mirror

pytestmark = [pytest.mark.e2e, needs_chromium]

PAGE = ("<!doctype html><title>crossorigin</title>"
        "<link rel=stylesheet crossorigin=anonymous href='http://b.localhost:{port}/x.css'>"
        "<link rel=stylesheet crossorigin href='/y.css'>"
        "<div id=p1>one</div><div id=p2>two</div>"
        "<img id=pic crossorigin=anonymous src='http://b.localhost:{port}/pic.png' width=8 height=8>"
        "<p id=end>end</p>")
CORS = {"Access-Control-Allow-Origin": "*"}
SCREENSHOT = Path(os.environ.get("TMPDIR") or tempfile.gettempdir()) / "tandem-mirror-crossorigin.png"  # to look at


def app(port_box: list[int]) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        if request.path == "/x.css":
            return web.Response(text="#p1 { width: 123px; color: rgb(0, 160, 0) }", content_type="text/css", headers=CORS)
        if request.path == "/z.css":
            await asyncio.sleep(0.3)
            return web.Response(text="#p3 { width: 55px }", content_type="text/css", headers=CORS)
        if request.path == "/y.css":
            return web.Response(text="#p2 { width: 77px }", content_type="text/css")
        if request.path == "/pic.png":
            return web.Response(body=PNG_4X4, content_type="image/png", headers=CORS)
        if request.path == "/page":
            return web.Response(text=PAGE.format(port=port_box[0]), content_type="text/html")
        raise web.HTTPNotFound()

    a = web.Application()
    a.router.add_get("/{tail:.*}", handler)
    return a


@pytest.fixture
async def site(upstream):
    return await serve_on_port(upstream, app)


SHOWN = """(doc) => {
  const w = (id) => getComputedStyle(doc.getElementById(id)).width;
  const img = doc.getElementById('pic');
  return [w('p1'), w('p2'), !!img && img.complete && img.naturalWidth];
}"""


async def test_crossorigin_stylesheets_and_images_show_in_the_mirror(make_tandem, site):
    t, body = await start(make_tandem, site, "/page")
    async with chromium() as browser:
        lctx, lp = await leader_page(browser, body)
        errors = PageErrors(lp)
        assert await lp.evaluate(f"({SHOWN})(document)") == ["123px", "77px", 4], "the page itself is not styled"
        fctx, fp = await follower(browser, t, body)
        refused: list[str] = []  # errors in the session page's console: nothing refused
        fp.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)
        await mirror(fp, "(doc) => !!doc.getElementById('end')", True)
        await mirror(fp, "(doc) => getComputedStyle(doc.getElementById('p2')).width", "77px")
        # a stylesheet the page adds while watched (rrweb sends the element before it has loaded)
        await lp.evaluate("""(port) => {
            const l = document.createElement('link');
            l.rel = 'stylesheet'; l.crossOrigin = 'anonymous';
            l.href = `http://b.localhost:${port}/z.css`;
            document.head.append(l);
            const d = document.createElement('div'); d.id = 'p3'; d.textContent = 'three';
            document.body.append(d);
        }""", site)
        await lp.wait_for_function("() => getComputedStyle(document.getElementById('p3')).width === '55px'")
        await mirror(fp, "(doc) => getComputedStyle(doc.getElementById('p3')).width", "55px")
        await mirror(fp, SHOWN, ["123px", "77px", 4])
        assert refused == [], refused
        assert errors.tandem() == []
        await fp.screenshot(path=str(SCREENSHOT))
        await fctx.close()
        await lctx.close()

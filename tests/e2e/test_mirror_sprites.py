"""SVG ``<use>`` sprites show in the follower's mirror as in the tab owner's page, in real Chromium.

A page's icons often come from a sprite sheet on its own origin: ``<use href="/sprite.svg#icon">``.
In the tab owner's (proxied) page that is a same-origin reference and shows; the mirror is a
document of the control plane, and browsers refuse an external ``<use>`` reference to another
origin, so every such icon was missing from the mirror. The session page now fetches the sprite
through the proxy as the follower (the follower wall decides) and copies the symbol into the
mirror (viewer/mirror/sprites.js).

Each icon is a 40x40 ``<svg>`` filled by its symbol; the centre pixel of each, on a screenshot of
the page and of the mirror, must be the same colour. Covered: href and xlink:href, a symbol that
needs a gradient from elsewhere in the sprite, an inline symbol, a ``<use>`` in a shadow root, a
``<use>`` added later, href / xlink:href changed later (also a local xlink:href, which rrweb set
outside the XLink namespace), and a sprite on another origin (the page's browser refuses it: the
mirror shows nothing there either). And the session page's CORS read gets nothing a follower may
not have: a sprite the mirror was never sent and the page's HTML are refused.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import tempfile
from pathlib import Path

import pytest
from aiohttp import web

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_mirror_pages import PageErrors, follower, serve_on_port, start
from tests.e2e.test_sync import leader_page, mirror

pytestmark = [pytest.mark.e2e, needs_chromium]

RED, BLUE, GREEN, PURPLE, ORANGE, TEAL, WHITE = (
    [255, 0, 0], [0, 0, 255], [0, 160, 0], [128, 0, 128], [255, 128, 0], [0, 128, 128], [255, 255, 255])

SPRITE = """<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">
  <defs><linearGradient id="g"><stop offset="0" stop-color="rgb(0,0,255)"/><stop offset="1" stop-color="rgb(0,0,255)"/></linearGradient></defs>
  <symbol id="red" viewBox="0 0 10 10"><rect width="10" height="10" fill="rgb(255,0,0)"/></symbol>
  <symbol id="blue" viewBox="0 0 10 10"><rect width="10" height="10" fill="url(#g)"/></symbol>
  <symbol id="green" viewBox="0 0 10 10"><rect width="10" height="10" fill="rgb(0,160,0)"/></symbol>
  <symbol id="purple" viewBox="0 0 10 10"><rect width="10" height="10" fill="rgb(128,0,128)"/><script>alert(1)</script></symbol>
</svg>"""

ICON = "<svg id={id} width=40 height=40 style='display:block;margin:4px'>{use}</svg>"
PAGE = ("<!doctype html><title>Sprites</title><style>body {{ margin: 8px; background: #fff; }}</style>"
        "<img id=pic src='/pic.svg' width=4 height=4>"
        "<svg width=0 height=0 style='position:absolute'>"
        "<symbol id=inl viewBox='0 0 10 10'><rect width=10 height=10 fill='rgb(255,128,0)'/></symbol>"
        "<symbol id=inl2 viewBox='0 0 10 10'><rect width=10 height=10 fill='rgb(0,128,128)'/></symbol></svg>"
        + ICON.format(id="s1", use="<use id=u1 href='/sprite.svg#red'/>")
        + ICON.format(id="s2", use="<use id=u2 xlink:href='/sprite.svg#blue'/>")
        + ICON.format(id="s3", use="<use href='#inl'/>")
        + ICON.format(id="s4", use="<use id=u4 xlink:href='#inl'/>")
        + ICON.format(id="s5", use="<use href='http://b.localhost:{port}/sprite.svg#red'/>")
        + "<div id=host></div><p id=end>end</p>"
        "<script>const root = document.getElementById('host').attachShadow({{mode: 'open'}});"
        "root.innerHTML = \"" + ICON.format(id="s6", use="<use id=u6 href='/sprite.svg#green'/>") + "\";</script>")

PIXEL = "/pic.svg", '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'


def sprite_app(port_box: list[int]) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        if request.path in ("/sprite.svg", "/secret.svg"):
            return web.Response(text=SPRITE, content_type="image/svg+xml")
        if request.path == PIXEL[0]:
            return web.Response(text=PIXEL[1], content_type="image/svg+xml")
        if request.path == "/sprites":
            return web.Response(text=PAGE.format(port=port_box[0]), content_type="text/html")
        raise web.HTTPNotFound()

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    return app


@pytest.fixture
async def sprite_pages(upstream):
    return await serve_on_port(upstream, sprite_app)


# The centre pixel of a PNG, decoded by the browser (no image library in the test environment).
CENTRE = """async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const bmp = await createImageBitmap(new Blob([bytes], {type: 'image/png'}));
  const c = new OffscreenCanvas(bmp.width, bmp.height); const x = c.getContext('2d'); x.drawImage(bmp, 0, 0);
  const d = x.getImageData(Math.floor(bmp.width / 2), Math.floor(bmp.height / 2), 1, 1).data;
  return [d[0], d[1], d[2]];
}"""
SCREENSHOT = Path(os.environ.get("TMPDIR") or tempfile.gettempdir()) / "tandem-mirror-sprites.png"  # to look at


def mirror_frame(fp):
    for f in fp.frames:
        if f != fp.main_frame and f.url in ("about:blank", "") and f.parent_frame == fp.main_frame:
            return f
    raise AssertionError("no mirror frame in the session page")


async def colours(page_or_frame, decoder, ids) -> dict:
    out = {}
    for i in ids:
        loc = page_or_frame.locator(f"svg#{i}")
        if not await loc.count():
            out[i] = None
            continue
        png = await loc.screenshot()
        out[i] = await decoder.evaluate(CENTRE, base64.b64encode(png).decode())
    return out


async def same_colours(lp, fp, decoder, want: dict) -> None:
    """The page shows ``want`` (id -> colour), and the mirror shows the same, within a few seconds."""
    assert await colours(lp, decoder, want) == want, "the test page itself does not show its icons"
    got = None
    for _ in range(40):
        got = await colours(mirror_frame(fp), decoder, want)
        if got == want:
            return
        await asyncio.sleep(0.25)
    diff = {k: {"page": v, "mirror": got.get(k)} for k, v in want.items() if got.get(k) != v}
    stats = await fp.evaluate("() => window.tandemMirror.sprites")
    raise AssertionError(f"the mirror's <use> icons differ from the page's: {json.dumps(diff)}; sprites: {stats}")


async def test_use_sprites_show_in_the_mirror_as_in_the_page(make_tandem, sprite_pages):
    t, body = await start(make_tandem, sprite_pages, "/sprites")
    async with chromium() as browser:
        lctx, lp = await leader_page(browser, body)
        errors = PageErrors(lp)
        fctx, fp = await follower(browser, t, body)
        mirror_console: list[str] = []
        fp.on("console", lambda m: mirror_console.append(m.text) if m.type in ("error", "warning") else None)
        decoder = await fctx.new_page()  # about:blank: decodes screenshots
        await mirror(fp, "(doc) => !!doc.getElementById('end')", True)
        # in the shadow root too (the page fills it from a script)
        await mirror(fp, "(doc) => !!(doc.getElementById('host').shadowRoot || {}).querySelector", True)

        await same_colours(lp, fp, decoder, {"s1": RED, "s2": BLUE, "s3": ORANGE, "s4": ORANGE, "s5": WHITE})
        shadow = "(el) => el.shadowRoot.querySelector('svg')"
        page_s6 = await lp.locator("#host").evaluate_handle(shadow)
        want6 = await decoder.evaluate(CENTRE, base64.b64encode(await page_s6.as_element().screenshot()).decode())
        assert want6 == GREEN
        got6 = None
        for _ in range(40):
            el = await mirror_frame(fp).locator("#host").evaluate_handle(shadow)
            got6 = await decoder.evaluate(CENTRE, base64.b64encode(await el.as_element().screenshot()).decode())
            if got6 == GREEN:
                break
            await asyncio.sleep(0.25)
        assert got6 == GREEN, f"the <use> in the shadow root shows {got6} in the mirror"

        # Later changes: an icon added, href and xlink:href re-pointed (external and local).
        await lp.evaluate("""() => {
            const x = 'http://www.w3.org/1999/xlink';
            document.getElementById('u1').setAttribute('href', '/sprite.svg#green');
            document.getElementById('u2').setAttributeNS(x, 'xlink:href', '/sprite.svg#red');
            document.getElementById('u4').setAttributeNS(x, 'xlink:href', '#inl2');
            const s = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
            s.id = 's7'; s.setAttribute('width', '40'); s.setAttribute('height', '40'); s.style.display = 'block';
            s.innerHTML = '<use href="/sprite.svg#purple"/>';
            document.getElementById('end').before(s);
        }""")
        await same_colours(lp, fp, decoder, {"s1": GREEN, "s2": RED, "s3": ORANGE, "s4": TEAL, "s5": WHITE, "s7": PURPLE})
        # the same element boxes on both sides
        boxes = "(doc) => [...doc.querySelectorAll('use')].map((u) => { const b = u.getBBox(); return [b.width, b.height]; })"
        assert await mirror_frame(fp).evaluate(f"({boxes})(document)") == await lp.evaluate(f"({boxes})(document)")

        await fp.screenshot(path=str(SCREENSHOT))

        # The session page's read is a follower's load: only what the mirror was sent, only images.
        refused = await fp.evaluate("""async () => {
            const origin = new URL(window.tandemMirror.doc().getElementById('pic').src).origin;
            const out = {};
            for (const path of ['/sprite.svg', '/secret.svg', '/sprites']) {
              try { const r = await fetch(origin + path, {credentials: 'include'}); out[path] = r.ok ? r.status : 'refused'; }
              catch (e) { out[path] = 'refused'; }
            }
            return out;
        }""")
        assert refused == {"/sprite.svg": 200, "/secret.svg": "refused", "/sprites": "refused"}, refused
        copies = await mirror_frame(fp).evaluate("() => document.querySelectorAll('[data-tandem=sprites] script').length")
        assert copies == 0
        assert errors.tandem() == []
        assert not [m for m in mirror_console if "sprite.svg" in m and "Unsafe" in m], mirror_console
        await fctx.close()
        await lctx.close()

"""Every <canvas> lays out in the follower's mirror exactly as in the tab owner's page, in real Chromium.

The mirror document runs no script, and in a document without scripting a canvas is no replaced
element: it "represents its fallback content" (HTML, the canvas element) and collapses to it (or to
nothing). A mirror shorter than the page stops scrolling early and puts every pointer and scroll
target below the first canvas in the wrong place (www.mentalfloss.com lost 14,000 px: a canvas in
every figure). So each canvas's box, in every way a page sizes one (attributes, CSS width or height
alone, max-width, box-sizing with padding and border, display, flex items, inline in a line of text,
fallback content, changes of its width/height later, canvases added later), is compared between the
page and the mirror, and the documents' heights too.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_mirror_pages import PAGES, PageErrors, follower, pages, start  # noqa: F401 (pages: the fixture)
from tests.e2e.test_sync import leader_page

pytestmark = [pytest.mark.e2e, needs_chromium]

PAGES["/canvases"] = """<!doctype html><title>Canvases</title>
<style>
  body {{ margin: 8px; font: 16px/1.4 sans-serif; }}
  .box {{ width: 700px; }}
  canvas.sized {{ width: 250px; }}
  .flex {{ display: flex; width: 700px; height: 90px; align-items: stretch; }}
</style>
<div class=box>
  <canvas id=plain></canvas>
  <canvas id=attrs width=120 height=80></canvas>
  <canvas id=wonly width=200></canvas>
  <canvas id=honly height=60></canvas>
  <canvas id=cssw width=400 height=100 style='width: 100%'></canvas>
  <canvas id=cssh width=400 height=100 style='height: 50px'></canvas>
  <canvas id=maxw width=1000 height=500 style='max-width: 100%'></canvas>
  <canvas id=bsz width=100 height=100 style='display: block; padding: 10px; border: 5px solid; box-sizing: border-box; width: 200px'></canvas>
  <canvas id=pad width=60 height=30 style='padding: 7px; border: 3px solid'></canvas>
  <canvas id=rule class=sized width=100 height=40></canvas>
  <canvas id=block width=90 height=30 style='display: block'></canvas>
  <canvas id=fallback width=60 height=40><p>Your browser does not support canvas. A long fallback text that would
    take several lines and make the box taller than the canvas is.</p></canvas>
  <canvas id=bad width='abc' height='  70px'></canvas>
  <canvas id=none width=80 height=40 style='display: none'></canvas>
  <p id=inline>Text before <canvas id=small width=20 height=20></canvas> and after, on one line.</p>
  <div class=flex><canvas id=flexed width=50 height=50></canvas><span>beside</span></div>
  <p id=end>The end.</p>
</div>
<script>
  for (const c of document.querySelectorAll('canvas')) {{
    const x = c.getContext('2d');
    if (x) {{ x.fillStyle = 'rgb(0, 128, 0)'; x.fillRect(0, 0, c.width, c.height); }}
  }}
</script>"""

# Every canvas's box and the end marker's, relative to the document, rounded; and the document's height.
LAYOUT = """(doc) => {
  const r = (el) => { const b = el.getBoundingClientRect(); const s = doc.defaultView;
    return [Math.round(b.left + s.scrollX), Math.round(b.top + s.scrollY), Math.round(b.width), Math.round(b.height)]; };
  const out = {};
  for (const el of doc.querySelectorAll('canvas')) out[el.id] = r(el);
  out.end = r(doc.getElementById('end'));
  out.height = doc.scrollingElement.scrollHeight;
  return out;
}"""


async def mirror_layout_equals(fp, want: dict) -> None:
    got = None
    for _ in range(100):
        got = await fp.evaluate(f"() => {{ const d = window.tandemMirror.doc(); if (!d || !d.getElementById('end')) return null; "
                                f"return ({LAYOUT})(d); }}")
        if got == want:
            return
        await asyncio.sleep(0.1)
    diff = {k: {"page": v, "mirror": (got or {}).get(k)} for k, v in want.items() if (got or {}).get(k) != v}
    raise AssertionError(f"the mirror lays canvases out differently from the page: {json.dumps(diff)}")


async def test_every_canvas_has_the_same_box_in_the_mirror_as_in_the_page(make_tandem, pages):  # noqa: F811
    t, body = await start(make_tandem, pages, "/canvases")
    async with chromium() as browser:
        lctx, lp = await leader_page(browser, body)
        errors = PageErrors(lp)
        fctx, fp = await follower(browser, t, body)
        await mirror_layout_equals(fp, await lp.evaluate(f"() => ({LAYOUT})(document)"))
        # Later: the page resizes a canvas (its width/height change) and adds one.
        await lp.evaluate("""() => {
            const a = document.getElementById('attrs'); a.width = 240; a.height = 30;
            document.getElementById('plain').removeAttribute('width');
            document.getElementById('wonly').setAttribute('height', '10');
            const c = document.createElement('canvas'); c.id = 'added'; c.width = 333; c.height = 111;
            document.getElementById('end').before(c);
        }""")
        want = await lp.evaluate(f"() => ({LAYOUT})(document)")
        assert want["added"][2:] == [333, 111] and want["attrs"][2:] == [240, 30]
        await mirror_layout_equals(fp, want)
        assert errors.tandem() == []
        await fctx.close()
        await lctx.close()

"""What keeps the runtime's per-window start-up cheap stays true of the browser we run.

dom.js names the interfaces it wraps `href` (SVG) and `style` on, instead of looking through every
global for them (which made Chromium build ~65 SVG interface objects in each window, 3-11 ms): the
names must be exactly the ones this Chromium has, or a new interface would go unwrapped.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.browser import chromium, needs_chromium

pytestmark = [pytest.mark.e2e, needs_chromium]
ROOT = Path(__file__).resolve().parents[2]

SCAN = """() => {
  const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
  const names = Object.getOwnPropertyNames(window);
  const has = (re, prop) => names.filter((n) => re.test(n) && window[n] && window[n].prototype && own(window[n].prototype, prop));
  return [has(/^SVG\\w*Element$/, 'href').map((n) => n.slice(3, -7)), has(/^(HTML|SVG|MathML)Element$|^CSS\\w*Rule$/, 'style')];
}"""


async def test_the_interfaces_the_runtime_names_are_the_browsers():
    out = subprocess.run(
        ["node", "--input-type=module", "-e",
         'const m = await import("./viewer/runtime/dom.js"); console.log(JSON.stringify([m.SVG_HREF, m.STYLED]))'],
        cwd=ROOT, capture_output=True, text=True, check=True)
    svg_href, styled = json.loads(out.stdout)
    async with chromium() as browser:
        page = await browser.new_page()
        found_href, found_styled = await page.evaluate(SCAN)
    assert sorted(svg_href) == sorted(found_href)
    assert sorted(styled) == sorted(found_styled)

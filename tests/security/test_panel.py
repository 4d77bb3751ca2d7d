"""Issue 10 #9 in real Chromium: a cross-origin frame inside the co-browsed page embeds the session panel.

The tab owner's page (hostile site, origin A) holds an iframe of another proxied origin of the
same session (origin B). That frame embeds ``BASE/s/SID/panel`` itself and posts it a forged DOM
stream ("HIJACKED") and a ``javascript:`` page URL. Only the panel the recorder embeds in the
top-level page may hold the tab's socket: the stolen panel never connects, followers never see
the forged stream, the real page stays the source, and the session's URL never becomes
``javascript:``.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import pytest

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_sync import WAIT_MS, follower_link, leader_page, mirror
from tests.security.hostile_site import HostileSite

pytestmark = [pytest.mark.e2e, needs_chromium]


@pytest.fixture
async def site():
    s = await HostileSite.start()
    yield s
    await s.close()


async def test_finding_9_a_frame_in_the_page_cannot_become_the_stream_source(make_tandem, site):
    t = await make_tandem()
    resp = await t.api("POST", "/api/v1/sessions", json={"url": site.a + "/"})
    body = await resp.json()
    assert resp.status == 201, body
    sid = body["session_id"]
    panel_url = f"{t.url}/s/{sid}/panel"
    received: list[str] = []
    async with chromium() as browser:
        lctx, lp = await leader_page(browser, body)
        fctx = await browser.new_context(viewport={"width": 1400, "height": 900})
        fp = await fctx.new_page()
        fp.on("websocket", lambda ws: ws.on("framereceived", lambda p: received.append(
            p if isinstance(p, str) else p.decode("utf-8", "replace"))))
        await fp.goto(await follower_link(t, body))
        await fp.wait_for_function("() => window.tandemMirror && window.tandemMirror.stats.applied > 0", timeout=WAIT_MS)
        # the tab owner goes to the page with the hostile widget (origin B in a frame)
        page_a = lp.url.split("/", 3)[:3]
        await lp.goto("/".join(page_a) + f"/frame-hijack?b={quote(site.b)}&panel={quote(panel_url)}")
        await mirror(fp, "(doc) => doc.getElementById('marker').textContent", "REAL-PAGE-1")
        # the widget loaded its own copy of the panel and spent a few seconds posting forgeries to it
        for _ in range(100):
            stolen = [f for f in lp.frames if "/panel" in f.url and f.parent_frame is not None
                      and f.parent_frame != lp.main_frame]
            if stolen:
                break
            await asyncio.sleep(0.1)
        assert stolen, [f.url for f in lp.frames]
        await asyncio.sleep(4)
        connected = await stolen[0].evaluate("() => Boolean(window.tandemPanel && window.tandemPanel.conn)")
        assert not connected, "a panel framed inside the page opened the tab's session socket"
        # the real page is still the one followers see
        await lp.evaluate("document.getElementById('marker').textContent = 'REAL-PAGE-2'")
        await mirror(fp, "(doc) => doc.getElementById('marker').textContent", "REAL-PAGE-2")
    assert received
    assert not [f for f in received if "HIJACKED" in f]
    for f in received:
        msg = json.loads(f)
        if msg.get("t") == "state":
            assert not str(msg.get("url") or "").lower().startswith("javascript:"), msg

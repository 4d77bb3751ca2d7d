"""Issue 10 #6, "blocked images from the cache", in real Chromium: a follower loads only what the mirror uses.

The tab owner opens the hostile site's ``/gallery``: images the mirror shows (``src``,
``srcset``, a ``style`` background, an inline ``<style>``, a stylesheet on the site's other
origin that references an image, a redirected image) and images of a ``[data-tandem-block]``
element, of an element hidden by an admin block selector, and of a ``[data-tandem-mask]``
element. The tab owner's browser loads all of them (the blocked ones are in its page), so
they sit in the session's cache. A follower watches: every image the mirror shows loads; the
blocked and masked ones, asked for by their (guessed) URLs from the follower's own browser,
are refused. Before the follower wall served only what the room relayed, all three loaded.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp
import pytest

from tandem import appkeys
from tests.e2e.browser import chromium, needs_chromium
from tests.harness import client_session
from tests.e2e.test_sync import WAIT_MS, follower_link, leader_page, mirror
from tests.security.hostile_site import HostileSite

pytestmark = [pytest.mark.e2e, needs_chromium]

SHOWN = ["/img/shown.png", "/img/srcset.png", "/img/bg.png", "/img/inline.png", "/img/fromsheet.png",
         "/moved.png", "/img/moved-target.png"]
GUESSED = ["/img/blocked-SECRET.png", "/img/adminblocked-SECRET.png", "/img/masked-SECRET.png", "/img/maskedbg-SECRET.png"]

# From the follower's own page: load an image by URL, as any page can (credentials included).
LOAD = """(url) => new Promise((resolve) => {
  const img = new Image();
  img.onload = () => resolve('loaded');
  img.onerror = () => resolve('refused');
  img.src = url;
})"""


@pytest.fixture
async def site():
    s = await HostileSite.start()
    yield s
    await s.close()


async def test_finding_6_follower_gets_only_what_the_mirror_shows(make_tandem, site):
    t = await make_tandem()
    await t.app[appkeys.MASKING].set("127.0.0.1", block=[".ad"])
    resp = await t.api("POST", "/api/v1/sessions", json={"url": site.a + "/gallery"})
    body = await resp.json()
    assert resp.status == 201, body
    statuses: dict[str, int] = {}
    async with chromium() as browser:
        lctx, lp = await leader_page(browser, body)
        proxied_a = "{0.scheme}://{0.netloc}".format(urlsplit(lp.url))
        # the tab owner's page really loaded every image, the blocked ones too: all are in the cache
        for path in ("/img/shown.png", *GUESSED):
            await lp.wait_for_function("(p) => performance.getEntriesByType('resource').some(e => e.name.includes(p))",
                                       arg=path, timeout=WAIT_MS)
        fctx = await browser.new_context(viewport={"width": 1100, "height": 760})
        fctx.on("response", lambda r: statuses.__setitem__(urlsplit(r.url).path, r.status))
        fp = await fctx.new_page()
        await fp.goto(await follower_link(t, body))
        await fp.wait_for_function("() => window.tandemMirror && window.tandemMirror.stats.applied > 0", timeout=WAIT_MS)
        await mirror(fp, "(doc) => doc.getElementById('marker').textContent", "GALLERY")
        # every image the mirror shows loads: <img> elements complete, CSS backgrounds fetched with 200
        await mirror(fp, "(doc) => ['shown', 'set', 'moved'].map(id => { const i = doc.getElementById(id); "
                         "return !!i && i.complete && i.naturalWidth > 0; })", [True, True, True])
        for _ in range(WAIT_MS // 100):
            if all(statuses.get(p) == 200 for p in SHOWN if p != "/moved.png"):
                break
            await fp.wait_for_timeout(100)
        missing = {p: statuses.get(p) for p in SHOWN if p != "/moved.png" and statuses.get(p) != 200}
        assert not missing, f"the mirror's own resources did not all load for the follower: {missing}"
        assert await mirror_dom_lacks(fp, GUESSED)
        # the follower asks for the blocked and masked images by URL: refused
        verdicts = {p: await fp.evaluate(LOAD, proxied_a + p) for p in GUESSED}
        control = await fp.evaluate(LOAD, proxied_a + "/img/shown.png")
        assert control == "loaded"
        assert verdicts == {p: "refused" for p in GUESSED}, verdicts
        # and by a request of its own, with the follower's cookies and any header it likes
        cookies = "; ".join(f"{c['name']}={c['value']}" for c in await fctx.cookies(proxied_a))
        spoof = {"Cookie": cookies, "Sec-Fetch-Dest": "image", "Sec-Fetch-Mode": "no-cors",
                 "Referer": proxied_a + "/gallery"}
        async with client_session(cookie_jar=aiohttp.DummyCookieJar()) as raw:
            for path in GUESSED:
                async with raw.get(proxied_a + path, headers=spoof, allow_redirects=False) as r:
                    assert r.status == 403 and b"\x89PNG" not in await r.read(), (path, r.status)
            async with raw.get(proxied_a + "/img/shown.png", headers=spoof, allow_redirects=False) as r:
                assert r.status == 200 and (await r.read()).startswith(b"\x89PNG"), r.status
        await fctx.close()
        await lctx.close()


async def mirror_dom_lacks(fp, paths) -> bool:
    """The blocked and masked images are not in the mirror at all (the recorder never sent them)."""
    html = await fp.evaluate("() => window.tandemMirror.doc().documentElement.outerHTML")
    present = [p for p in paths if p in html]
    assert not present, present
    return True

"""Issue 10 #3 and #7 in real Chromium: masked content in shadow DOM and in attributes never reaches a follower.

A tab owner opens the hostile site's ``/masked`` page (secrets in a ``[data-tandem-mask]``
element's text, values and attributes; in open, nested and closed shadow roots under it; under a
masked element inside an unmasked host's shadow root); a follower watches. Then the page changes
all of it (mutations, attribute changes, values) and the tab owner types into a masked field
inside a shadow root. Every WebSocket frame the follower receives, every request its browser
makes and its mirror DOM (shadow roots included) must be free of every secret, while the
unmasked parts (light and shadow) do show.
"""

from __future__ import annotations

import pytest

from tandem import appkeys
from tests.e2e.browser import RequestLog, chromium, needs_chromium
from tests.e2e.test_sync import WAIT_MS, follower_link, leader_page, mirror
from tests.security.hostile_site import SECRET_MARK, HostileSite

pytestmark = [pytest.mark.e2e, needs_chromium]

TYPED = "SECRET-TYPED-f1"

# Everything a mirror document shows, shadow roots included: text, attributes, form values.
MIRROR_DUMP = """(doc) => {
  const out = [];
  const walk = (node) => {
    if (!node) return;
    if (node.nodeType === 3 || node.nodeType === 8) out.push(node.data);
    if (node.nodeType === 1) {
      for (const a of node.attributes) out.push(a.name + '=' + a.value);
      if ('value' in node && typeof node.value === 'string') out.push('value:' + node.value);
      if (node.shadowRoot) walk(node.shadowRoot);
    }
    for (const c of node.childNodes) walk(c);
  };
  walk(doc);
  return out.join('\\n');
}"""


@pytest.fixture
async def site():
    s = await HostileSite.start()
    yield s
    await s.close()


async def test_finding_3_7_masked_text_values_and_attributes_in_shadow_dom_never_reach_followers(make_tandem, site):
    t = await make_tandem()
    resp = await t.api("POST", "/api/v1/sessions", json={"url": site.a + "/masked"})
    body = await resp.json()
    assert resp.status == 201, body
    received: list[str] = []
    async with chromium() as browser:
        lctx, lp = await leader_page(browser, body)
        fctx = await browser.new_context(viewport={"width": 1400, "height": 900})
        requests = RequestLog(fctx)
        fp = await fctx.new_page()
        fp.on("websocket", lambda ws: ws.on("framereceived", lambda p: received.append(
            p if isinstance(p, str) else p.decode("utf-8", "replace"))))
        await fp.goto(await follower_link(t, body))
        await fp.wait_for_function("() => window.tandemMirror && window.tandemMirror.stats.applied > 0", timeout=WAIT_MS)
        await mirror(fp, "(doc) => doc.getElementById('marker').textContent", "VISIBLE-MARKER-1")
        # the unmasked parts are there, light and shadow: the page was recorded, not dropped
        await mirror(fp, "(doc) => doc.getElementById('visible').textContent", "VISIBLE-TEXT")
        await mirror(fp, "(doc) => doc.getElementById('plainhost').shadowRoot.getElementById('shok').textContent",
                     "VISIBLE-SHADOW-OK")
        # changes after the snapshot, and the tab owner typing into a masked field in a shadow root
        await lp.evaluate("window.later()")
        await lp.locator("#shinput").click()
        await lp.keyboard.type(TYPED)
        await lp.locator("#insh").click()
        await lp.keyboard.type(TYPED)
        await lp.evaluate("document.getElementById('visible').setAttribute('data-done', '1')")
        await mirror(fp, "(doc) => doc.getElementById('marker').textContent", "VISIBLE-MARKER-2")
        await mirror(fp, "(doc) => doc.getElementById('visible').getAttribute('data-done')", "1")
        await mirror(fp, "(doc) => doc.getElementById('visible').textContent", "VISIBLE-LATE")
        # the masked field's typing reached the mirror as stars of the same length
        shadow_value = "(doc) => doc.getElementById('openhost').shadowRoot.getElementById('shinput').value"
        await mirror(fp, f"(doc) => ({shadow_value})(doc).length >= {len(TYPED)}", True)
        dump = await fp.evaluate(f"() => ({MIRROR_DUMP})(window.tandemMirror.doc())")
        assert await lp.input_value("#shinput") != ""  # the tab owner's page really holds the secrets
    assert received and any("VISIBLE-MARKER-2" in f for f in received)
    leaked = sorted({f[max(0, f.find(SECRET_MARK) - 40): f.find(SECRET_MARK) + 40] for f in received if SECRET_MARK in f})
    assert not leaked, f"secrets in frames the follower received: {leaked[:5]}"
    assert SECRET_MARK not in dump, [line for line in dump.splitlines() if SECRET_MARK in line][:10]
    assert "VISIBLE-SHADOW-OK" in dump and "VISIBLE-LATE" in dump
    assert not [u for u in requests.urls if SECRET_MARK in u]
    # the masked parts keep their shape: stars where the text was
    assert "****" in dump
    assert await t.app[appkeys.SESSIONS].get(body["session_id"]) is not None

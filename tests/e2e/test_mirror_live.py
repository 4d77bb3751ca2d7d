"""The follower's mirror applies the stream as it arrives, in real Chromium.

rrweb's live replayer applies each event on its timer's next animation frame. So the mirror's
document lagged the stream by up to a frame, more when the follower's page was busy. The session
page now runs the replayer's timer as each message arrives.
"""

from __future__ import annotations

import pytest

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_mirror_pages import LONG, PAGES, PageErrors, pages, start  # noqa: F401 (pages: the fixture)
from tests.e2e.test_sync import follower_link, leader_page, mirror

pytestmark = [pytest.mark.e2e, needs_chromium]

PAGES["/long"] = "<!doctype html><title>Long</title><h1>Long</h1>" + LONG

# In the follower's page: once the session page's own handler of each stream frame has run (in the
# same task, after the microtasks it queued, before any animation frame), note the mirror's scroll position and whether the
# probe paragraph is there.
AFTER_EACH_FRAME = r"""(() => {
  window.__afterFrame = [];
  const Native = window.WebSocket;
  const desc = Object.getOwnPropertyDescriptor(Native.prototype, "onmessage");
  function Hooked(...args) {
    const ws = new Native(...args);
    Object.defineProperty(ws, "onmessage", {
      get() { return desc.get.call(ws); },
      set(handler) {
        desc.set.call(ws, (ev) => {
          handler(ev);
          if (typeof ev.data !== "string" || !ev.data.startsWith('{"t":"ev"')) return;
          Promise.resolve().then(() => note(ev));  // after the microtasks the handler queued, before any other task
        });
      },
    });
    const note = (ev) => {
          const doc = window.tandemMirror && window.tandemMirror.doc();
          if (!doc || !doc.defaultView) return;
          const st = window.tandemMirror.stats;  // the stream's counters after this frame (stream.js)
          window.__afterFrame.push({ scroll: ev.data.includes('"source":3,'), late: ev.data.includes('"late"'),
            y: Math.round(doc.defaultView.scrollY), p: !!doc.getElementById("late"),
            applied: st.applied, gaps: st.gaps, dups: st.dups, resets: st.resets });
    };
    return ws;
  }
  Hooked.prototype = Native.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Hooked[k] = Native[k];
  window.WebSocket = Hooked;
})();"""


async def test_a_frame_is_applied_to_the_mirror_as_it_arrives(make_tandem, pages):  # noqa: F811
    """Without the fix the mirror's document still showed the old scroll position and lacked the
    new paragraph when the frame's handler returned: rrweb applied them at its next animation frame."""
    t, body = await start(make_tandem, pages, "/long")
    async with chromium() as browser:
        lctx, lp = await leader_page(browser, body)
        errors = PageErrors(lp)
        fctx = await browser.new_context(viewport={"width": 1400, "height": 900})
        await fctx.add_init_script(AFTER_EACH_FRAME)
        fp = await fctx.new_page()
        await fp.goto(await follower_link(t, body))
        await mirror(fp, "(doc) => doc.querySelectorAll('p').length", 300)
        await lp.evaluate("window.scrollTo({top: 1500, behavior: 'instant'})")
        await mirror(fp, "(doc) => Math.round(doc.defaultView.scrollY)", 1500)
        await lp.evaluate("() => { const p = document.createElement('p'); p.id = 'late'; p.textContent = 'arrived'; document.body.append(p); }")
        await mirror(fp, "(doc) => (doc.getElementById('late') || {}).textContent", "arrived")
        seen = await fp.evaluate("window.__afterFrame")
        # Only a frame the stream applied as it came says anything: one that arrived out of order (a
        # gap: the follower asks for a resync and drops events until the snapshot) or again (a dup)
        # is not applied, by design. Such frames are rare (a loaded machine); they are named if seen.
        applied = [f for prev, f in zip([{"applied": 0, "gaps": 0, "dups": 0, "resets": 0}] + seen, seen)
                   if f["applied"] > prev["applied"] and (f["gaps"], f["dups"], f["resets"]) == (prev["gaps"], prev["dups"], prev["resets"])]
        scrolls = [f for f in applied if f["scroll"]]
        adds = [f for f in applied if f["late"]]
        assert scrolls and adds, seen
        assert scrolls[-1]["y"] == 1500, f"after the scroll's frame the mirror was at {scrolls[-1]['y']}: {seen}"
        assert adds[0]["p"], f"after the paragraph's frame the mirror did not have it yet: {seen}"
        assert errors.tandem() == []
        await fctx.close()
        await lctx.close()

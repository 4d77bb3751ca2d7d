"""The full snapshot taken in slices (viewer/recorder/slice-patch.mjs) stays exact whatever the page
changes while it is walked.

The walk lets the page's own tasks run between slices, and the serialised tree is mended at the end
from a MutationObserver's records. test_snapshot_cost.py checks rows inserted, removed, moved,
restyled and retexted at one level; here a page changes its DOM the ways real pages do, at every
depth, during the walk: subtrees inserted and then changed inside, containers' contents replaced
while their children are being walked, nodes moved into parts not walked yet (and back), nodes
wrapped, attributes added and removed, text split and appended, comments, <style> text replaced
and appended (CSS-in-JS), a shadow host's light DOM changed (the mending cannot place that: the
synchronous fallback) and same-origin frames. Once the page stops changing, the mirror's tree must
be the page's, node for node.
"""

from __future__ import annotations

import pytest
from aiohttp import web

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_mirror_pages import PageErrors
from tests.e2e.test_snapshot_cost import follower_tab, session_on
from tests.e2e.test_sync import follower_link, leader_page

pytestmark = [pytest.mark.e2e, needs_chromium]

SECTIONS = 60  # each: a header, a list of 8 rows of ~6 nodes, a paragraph -> ~4,000 nodes in all

CHURN = """<script>
  window.busy = true; window.churn = false; window.changes = 0;
  let seed = 7;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const all = (sel) => document.querySelectorAll(sel);
  const pick = (sel) => { const l = all(sel); return l.length ? l[rnd(l.length)] : null; };
  let n = 0;
  const ops = [
    // a subtree inserted, then changed inside by later ticks
    () => { const s = pick('#root section'); if (!s) return; const d = document.createElement('div');
            d.className = 'ins'; d.innerHTML = `<p class="deep">ins ${n} <b>bold ${n}</b><i>it</i></p><ul><li>x ${n}</li></ul>`;
            s.insertBefore(d, s.children[rnd(s.children.length + 1)] || null); },
    () => { const b = pick('#root .ins b'); if (b) { b.firstChild.data = 'rebold ' + n; b.setAttribute('data-n', n); } },
    () => { const u = pick('#root .ins ul'); if (u) u.insertAdjacentHTML('beforeend', `<li class="more">more ${n}</li>`); },
    // a container's contents replaced (its children may be half walked)
    () => { const u = pick('#root ul.rows'); if (u) u.innerHTML = `<li class="fresh">fresh ${n}<span> a</span></li><li>b ${n}</li>`; },
    // a node moved far (often into a part not walked yet), or back to the top
    () => { const r = pick('#root li'); const s = pick('#root section'); if (r && s && !r.contains(s)) s.appendChild(r); },
    () => { const r = pick('#root section:nth-last-child(-n+10) li'); const s = document.querySelector('#root section'); if (r && s) s.prepend(r); },
    // a node wrapped in a new element
    () => { const p = pick('#root section > p'); if (p) { const w = document.createElement('blockquote'); w.className = 'wrap' + n;
            p.replaceWith(w); w.appendChild(p); } },
    // attributes added, changed, removed
    () => { const e = pick('#root *'); if (e) e.setAttribute('data-x', 'v' + n); },
    () => { const e = pick('#root [data-x]'); if (e) e.removeAttribute('data-x'); },
    () => { const e = pick('#root li'); if (e) e.className = 'cls' + n; },
    // text appended next to text, split, replaced
    () => { const e = pick('#root h2'); if (e) e.appendChild(document.createTextNode(' +' + n)); },
    () => { const e = pick('#root section > p'); const t = e && e.firstChild; if (t && t.nodeType === 3 && t.data.length > 4) t.splitText(2); },
    () => { const e = pick('#root li span'); if (e) e.textContent = 'span ' + n; },
    // comments
    () => { const s = pick('#root section'); if (s) s.appendChild(document.createComment('c' + n)); },
    // removals
    () => { const e = pick('#root li'); if (e) e.remove(); },
    // <style> text: replaced, and appended as a new text node (as CSS-in-JS libraries do)
    () => { document.getElementById('css1').textContent = `#probe1 { width: ${100 + n}px; }`; },
    () => { document.getElementById('css2').appendChild(document.createTextNode(`#probe2 { width: ${50 + n}px; }`)); },
    // a shadow host's light DOM (slotted): out of the mending's reach, the synchronous fallback
    () => { const h = document.getElementById('host'); if (h) h.firstElementChild.textContent = 'slotted ' + n; },
    // a same-origin frame's text
    () => { const f = document.getElementById('frame'); const d = f && f.contentDocument; if (d && d.body) d.body.textContent = 'frame ' + n; },
  ];
  window.ops = ops.length;
  const tick = () => {
    if (window.churn && window.busy) {
      for (let k = 0; k < 3; k++) { n++; ops[rnd(ops.length)](); window.changes++; }
    }
    if (window.busy) setTimeout(tick, 0);
  };
  setTimeout(tick, 0);
</script>"""


def page(shadow: bool) -> str:
    sections = "".join(
        f'<section id="s{i}"><h2>Section {i}</h2><ul class="rows">'
        + "".join(f'<li class="r{j}"><a href="/item/{i}/{j}">Item {i}.{j}</a><span> price {j}.99</span> <em>n</em></li>'
                  for j in range(8))
        + f"</ul><p>Paragraph {i} with some text</p></section>"
        for i in range(SECTIONS))
    host = ("<div id=host><span>slotted</span></div><script>document.getElementById('host').attachShadow({mode: 'open'})"
            ".innerHTML = '<p>shadow</p><slot></slot>';</script>") if shadow else ""
    return ("<!doctype html><html><head><title>Churn</title><style id=css1>#probe1 { width: 10px; }</style>"
            "<style id=css2>#probe2 { width: 20px; }</style>" + CHURN + "</head><body>"
            "<div id=probe1>p1</div><div id=probe2>p2</div>" + host
            + "<iframe id=frame srcdoc='<p>frame</p>'></iframe>"
            f"<div id=root>{sections}</div></body></html>")


@pytest.fixture
async def site(upstream):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=page(shadow=request.path == "/shadow"), content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    origin = await upstream(app)
    return int(origin.rsplit(":", 1)[1])


# The tree under #root node for node (elements with id/class/data-* attributes, non-blank text,
# comments), the probes' widths (the <style> texts), the frame's text and the slotted text.
DUMP = r"""(doc) => {
  const out = [];
  const walk = (n, d) => {
    for (const c of n.childNodes) {
      if (c.nodeType === 1) {
        const attrs = [...c.attributes].filter((a) => /^(id|class|data-)/.test(a.name)).map((a) => a.name + '=' + a.value).sort();
        out.push(d + '<' + c.localName + ' ' + attrs.join(' ') + '>');
        walk(c, d + ' ');
      } else if (c.nodeType === 3) {
        if (c.data.trim()) out.push(d + JSON.stringify(c.data));
      } else if (c.nodeType === 8) out.push(d + '<!--' + c.data + '-->');
    }
  };
  walk(doc.getElementById('root'), '');
  const w = (id) => doc.defaultView.getComputedStyle(doc.getElementById(id)).width;
  const f = doc.getElementById('frame');
  const host = doc.getElementById('host');
  return {tree: out.join('\n'), probes: [w('probe1'), w('probe2')],
          frame: f && f.contentDocument && f.contentDocument.body ? f.contentDocument.body.textContent : null,
          slotted: host ? host.textContent : null};
}"""


@pytest.mark.parametrize("path", ["/plain", "/shadow"])
async def test_whatever_the_page_changes_during_the_walk_the_mirror_ends_equal(make_tandem, site, path):
    t, body = await session_on(make_tandem, site, path)
    async with chromium() as browser:
        lctx, lp = await leader_page(browser, body)
        errors = PageErrors(lp)
        fctx, fp = await follower_tab(browser)
        await lp.evaluate("window.churn = true")
        await fp.goto(await follower_link(t, body))
        await fp.wait_for_function("() => { const d = window.tandemMirror && window.tandemMirror.doc(); return d && d.getElementById('root'); }",
                                   timeout=60_000)
        changes = await lp.evaluate("() => { window.busy = false; return window.changes; }")
        assert changes > 20, f"only {changes} changes while the snapshot was taken"
        want = await lp.evaluate(f"({DUMP})(document)")
        try:
            await fp.wait_for_function(f"(want) => JSON.stringify(({DUMP})(window.tandemMirror.doc())) === want",
                                       arg=__import__("json").dumps(want, separators=(",", ":")), timeout=20_000)
        except Exception:
            got = await fp.evaluate(f"({DUMP})(window.tandemMirror.doc())")
            import difflib
            diff = "\n".join(list(difflib.unified_diff(want["tree"].splitlines(), got["tree"].splitlines(), "page", "mirror", n=2, lineterm=""))[:60])
            assert got == want, f"{ {k: (want[k], got[k]) for k in want if k != 'tree' and want[k] != got[k]} }\n{diff}"
        assert errors.tandem() == []
        await fctx.close()
        await lctx.close()

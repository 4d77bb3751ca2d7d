"""``python -m bench.follow``: how fast the follower's mirror follows the tab owner, hop by hop.

For each saved real page (``../shared/corpus/pages``, served from loopback origins as the real-page
suite does, ``tests/e2e/realpages/server.py``) a tab owner and a follower in Chromium, as in the
suite; then ``--changes`` scrolls and ``--changes`` appended paragraphs on the tab owner's side, each
awaited in the mirror. Every change is timed at each hop of its path (all clocks are
``performance.timeOrigin + performance.now()`` of the same machine):

* ``event``: the page's own ``scroll`` event (the browser fires it at the next frame) -- for
  paragraphs the change itself;
* ``panel``: the recorder's frame arrives in the session panel (rrweb's sampling, the recorder's
  batch, postMessage to the panel's frame);
* ``sent``: the panel hands it to its WebSocket;
* ``recv``: the follower's session page receives it (server relay and loopback network);
* ``seen``: the mirror shows it (its scrollY / the paragraph; a scroll listener, a MutationObserver
  and a 4 ms poll, as ``tests/e2e/realpages/probe.js``).

Baseline in the same run: the current session page, panel and recording with the two latency
changes taken back -- ``viewer/mirror/session.js`` as of ``--before`` (the replayer applies events on
its next animation frame) and rrweb's scroll sampling at 50 ms (was, now one frame) -- served in
place of the current bundles through a Playwright route, interleaved page by page with the current
build. Prints
p50/p95 per hop and end to end for both, and the ratio. The machine is shared: read ratios, and
``/proc/loadavg`` printed beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "d07cc93"  # the session page before the mirror applied frames as they arrive
SAMPLING_NOW = "const SAMPLING = { mousemove: 50, scroll: 16 };"
SAMPLING_BEFORE = "const SAMPLING = { mousemove: 50, scroll: 50 };"
VARIANTS = ("before", "now")
BUNDLES = {"session.js": "**/static/sync/session.js*", "panel.js": "**/static/sync/panel.js*", "record.js": "**/__tandem/record.js*"}
BUILD = """
import * as esbuild from "esbuild";
import * as b from "./viewer/build.mjs";
const out = process.argv[2];
await esbuild.build({ ...b.options, entryPoints: [b.RECORD.entry], outfile: out + "/record.js", plugins: [b.patchRrweb] });
for (const x of b.SYNC_BUNDLES.filter((x) => /mirror[\\/](session|panel)\\.js$/.test(x.entry))) {
  const name = x.entry.replace(/.*[\\/]/, "");
  await esbuild.build({ ...b.options, entryPoints: [x.entry], outfile: out + "/" + name, plugins: [b.patchRrweb],
    define: { __TANDEM_RECORD_VERSION__: '"bench"' } });
}
"""

# In the tab owner's context (every frame: the page and the panel's frame).
LEADER_HOOKS = r"""(() => {
  const now = () => performance.timeOrigin + performance.now();
  const hops = window.__hops = [];
  const mark = (kind, text) => {
    const m = /"rp-mark-(\d+)"|"source":3,"id":\d+,"x":-?[\d.]+,"y":(-?[\d.]+)/.exec(text);
    if (m) hops.push([kind, now(), m[1] !== undefined ? "p" + m[1] : "y" + Math.round(Number(m[2]))]);
  };
  if (window.top === window) {
    addEventListener("scroll", () => hops.push(["event", now(), "y" + Math.round(scrollY)]), true);
  }
  addEventListener("message", (e) => {
    const d = e.data;
    if (d && typeof d === "object" && Array.isArray(d.e)) mark("panel", JSON.stringify(d.e));
  }, true);
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (typeof data === "string" && data.startsWith('{"t":"ev"')) mark("sent", data);
    return send.call(this, data);
  };
})();"""

# In the follower's context: when a frame arrives (before the session page's own handler runs).
FOLLOWER_HOOKS = r"""(() => {
  const now = () => performance.timeOrigin + performance.now();
  const hops = window.__hops = [];
  const Native = window.WebSocket;
  function Hooked(...args) {
    const ws = new Native(...args);
    ws.addEventListener("message", (e) => {
      if (typeof e.data !== "string" || !e.data.startsWith('{"t":"ev"')) return;
      const re = /"rp-mark-(\d+)"|"source":3,"id":\d+,"x":-?[\d.]+,"y":(-?[\d.]+)/g;
      for (const m of e.data.matchAll(re)) hops.push(["recv", now(), m[1] !== undefined ? "p" + m[1] : "y" + Math.round(Number(m[2]))]);
    });
    return ws;
  }
  Hooked.prototype = Native.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Hooked[k] = Native[k];
  window.WebSocket = Hooked;
})();"""

HOPS = ("event", "panel", "sent", "recv", "seen")


def build(tmp: Path, rev: str) -> dict[str, dict[str, bytes]]:
    """The bundles as built now and as built at ``rev``."""
    out: dict[str, dict[str, bytes]] = {}
    src = tmp / "before-src"
    shutil.copytree(ROOT / "viewer", src / "viewer", ignore=shutil.ignore_patterns("build", "__pycache__"))
    (src / "node_modules").symlink_to(ROOT / "node_modules")
    session = subprocess.run(["git", "show", f"{rev}:viewer/mirror/session.js"], cwd=ROOT, check=True, capture_output=True).stdout
    (src / "viewer" / "mirror" / "session.js").write_bytes(session)
    record = src / "viewer" / "recorder" / "record.js"
    text = record.read_text()
    if SAMPLING_NOW not in text:
        raise RuntimeError("viewer/recorder/record.js's scroll sampling moved: update bench/follow.py")
    record.write_text(text.replace(SAMPLING_NOW, SAMPLING_BEFORE))
    for variant, cwd in (("before", src), ("now", ROOT)):
        dest = tmp / variant
        dest.mkdir()
        subprocess.run(["node", "--input-type=module", "-e", BUILD, "x", str(dest)], cwd=cwd, check=True, capture_output=True)
        out[variant] = {name: (dest / name).read_bytes() for name in BUNDLES}
    if out["before"] == out["now"]:
        raise RuntimeError("the baseline bundles equal the current ones")
    return out


def _serve(code: bytes):
    async def handler(route) -> None:
        await route.fulfill(body=code, content_type="text/javascript; charset=utf-8")
    return handler


def pages_sample(n: int) -> list[str]:
    from tests.e2e.realpages.server import corpus_files

    files = corpus_files()
    return sorted(files, key=lambda name: hashlib.sha256(name.encode()).hexdigest())[:n]


async def one_page(browser, tandem, site, name: str, bundles: dict[str, bytes], changes: int) -> list[dict]:
    """Tab owner + follower on one page; ``changes`` scrolls and paragraphs; one record per change."""
    from tests.e2e.realpages.cobrowse import FIRST_VIEW_TIMEOUT_MS, LEADER_VIEWPORT, FOLLOWER_VIEWPORT, PROBE_JS

    resp = await tandem.api("POST", "/api/v1/sessions", json={"url": site.page_url(name)})
    body = await resp.json()
    contexts = []
    records: list[dict] = []
    try:
        lctx = await browser.new_context(viewport=LEADER_VIEWPORT)
        fctx = await browser.new_context(viewport=FOLLOWER_VIEWPORT)
        contexts += [lctx, fctx]
        for ctx in (lctx, fctx):
            for bundle, pattern in BUNDLES.items():
                await ctx.route(pattern, _serve(bundles[bundle]))
        await lctx.add_init_script(LEADER_HOOKS)
        await fctx.add_init_script(FOLLOWER_HOOKS)
        lp = await lctx.new_page()
        await lp.goto(body["leader_url"], wait_until="load", timeout=60_000)
        await asyncio.sleep(0.5)
        fp = await fctx.new_page()
        token = await tandem.app[__import__("tandem.appkeys", fromlist=["SESSIONS"]).SESSIONS].invite(body["session_id"], "follower")
        await fp.goto(f"{tandem.url}/s/{body['session_id']}/enter?t={token}", wait_until="load")
        await fp.wait_for_function("() => window.tandemMirror && window.tandemMirror.stats.applied > 0 "
                                   "&& window.tandemMirror.doc() && window.tandemMirror.doc().body", timeout=FIRST_VIEW_TIMEOUT_MS)
        await lp.evaluate(PROBE_JS, {"deep": False})
        await fp.evaluate(PROBE_JS, {"deep": False, "mirror": True})
        await asyncio.sleep(1.0)  # the first view's own work settles
        top = await lp.evaluate("() => Math.floor(document.scrollingElement.scrollHeight - innerHeight)")
        for i in range(changes):
            for kind in ("scroll", "paragraph"):
                if kind == "scroll":
                    y = round(max(0, top) * ((i * 37) % 100) / 100) if top > 0 else 0
                    if y == await lp.evaluate("() => Math.round(scrollY)"):
                        y = 0 if y else min(top, 50)
                    key, spec, tag = f"s{i}", {"kind": "scroll", "y": y}, f"y{y}"
                    act = f"() => {{ window.scrollTo({{top: {y}, left: 0, behavior: 'instant'}}); return window.__rp.now(); }}"
                else:
                    key, spec, tag = f"p{i}", {"kind": "id-text", "id": f"rp-mark-{i}", "text": f"mark {i}"}, f"p{i}"
                    act = (f"() => {{ const p = document.createElement('p'); p.id = 'rp-mark-{i}'; p.textContent = 'mark {i}'; "
                           f"document.body.appendChild(p); return window.__rp.now(); }}")
                await fp.evaluate("([k, s]) => window.__rp.arm(k, s, 10000)", [key, spec])
                t0 = await lp.evaluate(act)
                seen = await fp.evaluate("(k) => window.__rp.result(k)", key)
                rec = {"page": name, "kind": kind, "t0": t0, "seen": seen, "tag": tag}
                records.append(rec)
                await asyncio.sleep(0.3)
        # the hops, matched to each change by its tag (first time each hop saw it after the change)
        page_hops = await lp.evaluate("() => window.__hops")
        panel = next((f for f in lp.frames if "/panel" in f.url), None)
        panel_hops = await panel.evaluate("() => window.__hops || []") if panel else []
        follower_hops = await fp.evaluate("() => window.__hops")
        for rec in records:
            for kind, t, tag in page_hops + panel_hops + follower_hops:
                if tag == rec["tag"] and t >= rec["t0"] - 1 and kind not in rec:
                    rec[kind] = t
            if rec["kind"] == "paragraph":
                rec["event"] = rec["t0"]
    finally:
        for ctx in contexts:
            await ctx.close()
    return records


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(records: list[dict]) -> dict:
    out = {}
    for kind in ("scroll", "paragraph"):
        rows = [r for r in records if r["kind"] == kind]
        total = [r["seen"] - r["t0"] for r in rows if r.get("seen")]
        hops = {}
        prev = "t0"
        for hop in HOPS:
            d = [r[hop] - r[prev] for r in rows if r.get(hop) and r.get(prev)]
            hops[f"{prev}->{hop}"] = (pct(d, 50), pct(d, 95))
            prev = hop
        out[kind] = {"n": len(rows), "missed": sum(1 for r in rows if not r.get("seen")),
                     "total": (pct(total, 50), pct(total, 95)), "hops": hops}
    return out


async def measure(pages: list[str], changes: int, bundles: dict[str, dict[str, bytes]]) -> dict[str, list[dict]]:
    from proxy.allowlist import ALL, Entry
    from tests.e2e.browser import chromium
    from tests.e2e.realpages.server import start_realpages
    from tests.harness import start_tandem

    out: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    tmp = Path(tempfile.mkdtemp(prefix="tandem-follow-"))
    site = await start_realpages()
    tandem = await start_tandem(tmp, extra_allow=tuple(Entry(h, scope=ALL) for h in site.hosts))
    try:
        async with chromium() as browser:
            for n, name in enumerate(pages):
                order = VARIANTS if n % 2 == 0 else VARIANTS[::-1]
                for variant in order:
                    try:
                        out[variant] += await one_page(browser, tandem, site, name, bundles[variant], changes)
                    except Exception as exc:  # noqa: BLE001 - a page that cannot be measured is reported, not fatal
                        print(f"  {name} ({variant}): not measured: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                              file=sys.stderr)
                print(f"  {n + 1}/{len(pages)} {name}", file=sys.stderr)
    finally:
        await tandem.close()
        await site.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.follow", description=__doc__.splitlines()[0])
    p.add_argument("--pages", type=int, default=6, help="saved real pages (the real-page suite's order)")
    p.add_argument("--changes", type=int, default=6, help="scrolls and paragraphs per page and variant")
    p.add_argument("--before", default=BEFORE, help="git revision of the baseline session page (viewer/mirror/session.js)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="tandem-follow-build-"))
    try:
        bundles = build(tmp, args.before)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load0 = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else "?"
    started = time.monotonic()
    result = asyncio.run(measure(pages_sample(args.pages), args.changes, bundles))
    load1 = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else "?"
    print(f"\nMirror following the tab owner ({args.pages} real pages x {args.changes} changes of each kind, "
          f"before = {args.before}; load average {' '.join(load0)} -> {' '.join(load1)}; {time.monotonic() - started:.0f} s)")
    sums = {v: summary(result[v]) for v in VARIANTS}
    for kind in ("scroll", "paragraph"):
        b, n = sums["before"][kind], sums["now"][kind]
        print(f"{kind}: end to end p50 / p95 ms: before {b['total'][0]:.0f} / {b['total'][1]:.0f}  now {n['total'][0]:.0f} / "
              f"{n['total'][1]:.0f}  (p95 now/before {n['total'][1] / b['total'][1]:.2f}x; n={n['n']}, missed {b['missed']}/{n['missed']})")
        for hop in b["hops"]:
            (b50, b95), (n50, n95) = b["hops"][hop], n["hops"][hop]
            print(f"   {hop:14s} before {b50:6.1f} / {b95:6.1f}   now {n50:6.1f} / {n95:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

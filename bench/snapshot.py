"""``python -m bench.snapshot``: the tab owner's main-thread cost of a full snapshot, by page size.

A follower joins a session whose tab owner shows a page of N nodes; the recorder then loads
and takes its full snapshot (rrweb, synchronous). The figures are the longest task on the tab
owner's main thread in the second after the follower joined: its thread CPU time (from a
Chromium trace; on a shared box the wall time also counts other processes), its wall time (a
PerformanceObserver for ``longtask``, so anything under 50 ms reads as "< 50"), and the
snapshot's size on the wire.
Median over ``--rounds`` joins (default 5), each on a fresh load. Issue 11: a 10,000-node page
snapshots in bounded main-thread time.

Baseline in the same run: the recording built without the snapshot patches of rrweb
(``RRWEB_PATCHES`` entries marked ``snapshot: true`` in ``viewer/build.mjs``), served in
place of ``/__tandem/record.js``, interleaved join by join with the current build (both
served through the same Playwright route). ``--sizes`` picks the page sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .pageload import CHROMIUM, CHROMIUM_ARGS, _proxied, _session, _start
from .procs import Children

SIZES = (1_000, 10_000, 30_000)
ROUNDS = 5
ROOT = Path(__file__).resolve().parents[1]
# the recording as built now, and as built without the snapshot patches (the baseline)
BUILD_RECORD = """
import * as esbuild from "esbuild";
import * as b from "./viewer/build.mjs";
const keep = process.argv[2] === "now";
const drop = b.RRWEB_PATCHES.filter((p) => !keep && p.snapshot);
for (const p of drop) b.RRWEB_PATCHES.splice(b.RRWEB_PATCHES.indexOf(p), 1);
await esbuild.build({ ...b.options, entryPoints: [b.RECORD.entry], outfile: process.argv[3], plugins: [b.patchRrweb] });
console.log(drop.length);
"""
VARIANTS = ("before", "now")
WATCH_LONG_TASKS = """() => { window.__long = []; new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); }).observe({type: 'longtask'}); }"""


def build_records(tmp: Path) -> dict[str, bytes]:
    out = {}
    for variant in VARIANTS:
        dest = tmp / f"record-{variant}.js"
        subprocess.run(["node", "--input-type=module", "-e", BUILD_RECORD, "x", variant, str(dest)], cwd=ROOT, check=True,
                       capture_output=True)
        out[variant] = dest.read_bytes()
    if out["before"] == out["now"]:
        raise RuntimeError("the baseline build equals the current one (no snapshot patches?)")
    return out


TRACE_CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline"]


def longest_task_cpu(trace: dict | list) -> float:
    """The longest main-thread task of the renderer that ran the recording, in thread CPU ms (the
    box is shared: a task's wall time counts the time other processes held the core)."""
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    mains = {(e["pid"], e["tid"]) for e in events
             if e.get("name") == "thread_name" and (e.get("args") or {}).get("name") == "CrRendererMain"}
    recording = {e["pid"] for e in events if "/__tandem/record.js" in json.dumps(e.get("args") or {})}
    tasks = [e.get("tdur", 0) for e in events if e.get("ph") == "X" and e.get("name") == "RunTask"
             and (e.get("pid"), e.get("tid")) in mains and e.get("pid") in recording]
    return max(tasks, default=0) / 1000


def _serve(code: bytes):
    async def handler(route) -> None:
        await route.fulfill(body=code, content_type="text/javascript; charset=utf-8")
    return handler


async def _measure(shop: str, corpus: str, port: int, rounds: int, sizes: tuple[int, ...], records: dict[str, bytes]) -> dict:
    from playwright.async_api import async_playwright

    out: dict[tuple[int, str], dict] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for n, variant in [(n, v) for n in sizes for _ in range(rounds) for v in VARIANTS]:
            r = out.setdefault((n, variant), {"nodes": 0, "longest": [], "bytes": [], "cpu": []})
            longest, sizes_, nodes = r["longest"], r["bytes"], 0
            body = _session(port, shop)
            lctx = await browser.new_context()
            await lctx.route("**/__tandem/record.js*", _serve(records[variant]))
            lp = await lctx.new_page()
            await lp.goto(body["leader_url"])
            sent: list[int] = []
            lp.on("websocket", lambda ws: ws.on("framesent", lambda p: sent.append(len(p)) if isinstance(p, str) and p.startswith('{"t":"ev"') else None))
            await lp.goto(_proxied(port, body["session_id"], corpus) + f"/big.html?n={n}", wait_until="load")
            nodes = await lp.evaluate("document.getElementsByTagName('*').length + document.evaluate('count(//text())', document, null, 1, null).numberValue")
            await lp.wait_for_function("() => document.querySelector('tandem-panel') !== null")
            await asyncio.sleep(0.5)  # the panel's socket is up
            await lp.evaluate(WATCH_LONG_TASKS)
            await browser.start_tracing(page=lp, categories=TRACE_CATEGORIES)
            fctx = await browser.new_context()
            fp = await fctx.new_page()
            await fp.goto(body["follower_url"])
            await fp.wait_for_function("() => window.tandemMirror && window.tandemMirror.stats.applied > 1", timeout=60_000)
            await asyncio.sleep(1.0)
            tasks = await lp.evaluate("window.__long")
            r["cpu"].append(longest_task_cpu(json.loads(await browser.stop_tracing())))
            longest.append(max(tasks) if tasks else 0.0)
            sizes_.append(max(sent) if sent else 0)
            r["nodes"] = nodes
            await fctx.close()
            await lctx.close()
        await browser.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.snapshot", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="page sizes in nodes, comma-separated")
    args = parser.parse_args(argv)
    sizes = tuple(int(x) for x in args.sizes.split(",") if x.strip())
    tmp = Path(tempfile.mkdtemp(prefix="tandem-snapshot-"))
    started = time.monotonic()
    try:
        with Children(tmp) as children:
            records = build_records(tmp)
            shop, corpus, port = _start(children, tmp)
            result = asyncio.run(_measure(shop, corpus, port, max(1, args.rounds), sizes, records))
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nFull snapshot on the tab owner's main thread when a follower joins (median of {args.rounds}; "
          "longest main-thread task in the second after joining: its CPU time from a trace, and its wall time, "
          "long tasks are >= 50 ms); 'before' is the recording "
          "built without the snapshot patches, interleaved with 'now' in this run:\n")
    print(f"{'page':>8}{'DOM nodes':>11}{'CPU before':>12}{'CPU now':>9}{'now/before':>12}"
          f"{'wall before':>13}{'wall now':>10}{'now/before':>12}{'frame':>9}")
    fmt = lambda v: f"{v:.0f}" if v else "< 50"  # noqa: E731
    ratio = lambda a, b: f"{b / a:.2f}x" if a and b else "-"  # noqa: E731
    for n in sizes:
        b, w = result[(n, "before")], result[(n, "now")]
        cb, cw = statistics.median(b["cpu"]), statistics.median(w["cpu"])
        mb, mw = statistics.median(b["longest"]), statistics.median(w["longest"])
        print(f"{n:>8}{int(w['nodes']):>11}{cb:>12.0f}{cw:>9.0f}{ratio(cb, cw):>12}{fmt(mb):>13}{fmt(mw):>10}{ratio(mb, mw):>12}"
              f"{statistics.median(w['bytes']) / 1024:>6.0f} KB")
    print(f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

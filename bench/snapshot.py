"""``python -m bench.snapshot``: the tab owner's main-thread cost of a full snapshot, by page size.

A follower joins a session whose tab owner shows a page of N nodes; the recorder then loads
and takes its full snapshot (rrweb, synchronous). The figure is the longest task on the tab
owner's main thread in the second after the follower joined (a PerformanceObserver for
``longtask``, so anything under 50 ms reads as "< 50"), and the snapshot's size on the wire.
Median over ``--rounds`` joins (default 5), each on a fresh load. Issue 11: a 10,000-node page
snapshots in bounded main-thread time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from .pageload import CHROMIUM, CHROMIUM_ARGS, _proxied, _session, _start
from .procs import Children

SIZES = (1_000, 10_000, 30_000)
ROUNDS = 5
WATCH_LONG_TASKS = """() => { window.__long = []; new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); }).observe({type: 'longtask'}); }"""


async def _measure(shop: str, corpus: str, port: int, rounds: int) -> dict:
    from playwright.async_api import async_playwright

    out: dict[int, dict] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for n in SIZES:
            longest, sizes, nodes = [], [], 0
            for _ in range(rounds):
                body = _session(port, shop)
                lctx = await browser.new_context()
                lp = await lctx.new_page()
                await lp.goto(body["leader_url"])
                sent: list[int] = []
                lp.on("websocket", lambda ws: ws.on("framesent", lambda p: sent.append(len(p)) if isinstance(p, str) and p.startswith('{"t":"ev"') else None))
                await lp.goto(_proxied(port, body["session_id"], corpus) + f"/big.html?n={n}", wait_until="load")
                nodes = await lp.evaluate("document.getElementsByTagName('*').length + document.evaluate('count(//text())', document, null, 1, null).numberValue")
                await lp.wait_for_function("() => document.querySelector('tandem-panel') !== null")
                await asyncio.sleep(0.5)  # the panel's socket is up
                await lp.evaluate(WATCH_LONG_TASKS)
                fctx = await browser.new_context()
                fp = await fctx.new_page()
                await fp.goto(body["follower_url"])
                await fp.wait_for_function("() => window.tandemMirror && window.tandemMirror.stats.applied > 1", timeout=30_000)
                await asyncio.sleep(1.0)
                tasks = await lp.evaluate("window.__long")
                longest.append(max(tasks) if tasks else 0.0)
                sizes.append(max(sent) if sent else 0)
                await fctx.close()
                await lctx.close()
            out[n] = {"nodes": nodes, "longest": longest, "bytes": sizes}
        await browser.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.snapshot", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="tandem-snapshot-"))
    started = time.monotonic()
    try:
        with Children(tmp) as children:
            shop, corpus, port = _start(children, tmp)
            result = asyncio.run(_measure(shop, corpus, port, max(1, args.rounds)))
    except RuntimeError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nFull snapshot on the tab owner's main thread when a follower joins (median of {args.rounds}; "
          "longest task in the second after joining, long tasks are >= 50 ms):\n")
    print(f"{'page':>14}{'DOM nodes':>12}{'longest task ms':>18}{'max':>10}{'snapshot frame':>18}")
    for n, r in result.items():
        med = statistics.median(r["longest"])
        print(f"{n:>14}{int(r['nodes']):>12}{(f'{med:.0f}' if med else '< 50'):>18}{max(r['longest']):>10.0f}"
              f"{statistics.median(r['bytes']) / 1024:>15.0f} KB")
    print(f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

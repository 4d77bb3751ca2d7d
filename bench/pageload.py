"""``python -m bench.pageload``: what co-browsing costs a page load, in real Chromium.

The demo site and Tandem run as their own processes on loopback; one headless
Chromium loads each demo page directly and through Tandem, interleaved, round after
round (warm cache, like a visitor clicking through a site), and the table shows the
median ``loadEventEnd`` of each page both ways and their ratio (issue 3's target:
<= 1.3x). The SPA page is also timed until its product list is on screen.

The runtime's own start-up is measured inside real proxied page loads: the runtime
script is served (through Playwright's router) between two ``performance.mark``s, so
the figure is the time from its first statement to its last, per page.

Flags: ``--rounds N`` (default 7), ``--quick`` (3 rounds), ``--keep`` (keep logs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from .procs import Children, free_port, request, wait_ready

ROUNDS = 7  # interleaved rounds per (page, mode); the median absorbs a noisy shared box
QUICK_ROUNDS = 3
WARMUP_ROUNDS = 1  # one untimed pass per mode: caches, connection pools, the service worker
TARGET_RATIO = 1.3  # issue 3: pages load at most 1.3x slower through Tandem
PAGES = ("/", "/products", "/products/2", "/api-demo", "/about", "/spa/")
SPA_READY = "document.querySelectorAll('#spa-products li').length > 0"
CHROMIUM = "/usr/bin/chromium"
RECORDER, RUNTIME = "/__tandem/recorder.js", "/__tandem/runtime.js"
# (mode, column title, reserved scripts blocked): Tandem in full, and without the co-browsing
# recorder (issue 4's share) and without the runtime too (the proxy's own share).
MODES = (
    ("direct", "direct", ()),
    ("proxy", "proxy only", (RUNTIME, RECORDER)),
    ("runtime", "+runtime", (RECORDER,)),
    ("tandem", "Tandem", ()),
)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ADMIN_KEY = "bench-admin-" + secrets.token_hex(8)
RUNTIME_MARKS = ("tandem-runtime-start", "tandem-runtime-end")


def _start(children: Children, tmp: Path) -> tuple[str, str, int]:
    """Demo site and Tandem as processes; returns (shop origin, Tandem origin, Tandem port)."""
    shop_port = free_port()
    demo = children.start("demo", [sys.executable, "-m", "demosite", "--port", str(shop_port)])
    wait_ready(demo, shop_port, "/")
    port = free_port()
    hosts = ("shop.localhost", "cdn.localhost", "widgets.localhost")
    cmd = [sys.executable, "-c", "import sys; from tandem.cli import main; sys.exit(main())",
           "serve", "--port", str(port), "--data-dir", str(tmp / "data"),
           "--allow-private-networks", "loopback", *[a for h in hosts for a in ("--allow-domain", h)]]
    tandem = children.start("tandem", cmd, env={"TANDEM_ADMIN_KEY": ADMIN_KEY})
    wait_ready(tandem, port, "/healthz", {"Host": f"tandem.localhost:{port}"})
    return f"http://shop.localhost:{shop_port}", f"http://tandem.localhost:{port}", port


def _session(port: int, shop: str) -> str:
    status, _, body = request(port, "POST", "/api/v1/sessions",
                              {"Host": f"tandem.localhost:{port}", "Authorization": f"Bearer {ADMIN_KEY}",
                               "Content-Type": "application/json"}, json.dumps({"url": shop + "/"}).encode())
    if status != 201:
        raise RuntimeError(f"session API answered {status}: {body[:200]!r}")
    return json.loads(body)["leader_url"]


async def _load(page, url: str, spa: bool) -> tuple[float, float | None]:
    """(loadEventEnd, ms until the SPA's list is shown or None), both from navigation start."""
    await page.goto(url, wait_until="load")
    ready = None
    if spa:
        await page.wait_for_function(SPA_READY, polling=5)
        ready = await page.evaluate("performance.now()")
    nav = await page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    return float(nav), ready


async def _measure(shop: str, new_session, rounds: int, runtime: bytes) -> dict:
    from playwright.async_api import async_playwright

    times: dict[tuple[str, str], list[float]] = {}
    spa_ready: dict[str, list[float]] = {mode: [] for mode, _, _ in MODES}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages, origin = {}, {}
        for mode, _, blocked in MODES:
            context = await browser.new_context()
            page = await context.new_page()
            if blocked:
                # Blocked in the network stack (CDP), not by a Playwright route: routes turn the cache off.
                cdp = await context.new_cdp_session(page)
                await cdp.send("Network.enable")
                await cdp.send("Network.setBlockedURLs", {"urls": [f"*{path}*" for path in blocked]})
            if mode == "direct":
                origin[mode] = shop
            else:
                await page.goto(new_session())  # invite links are single-use: one session per context
                origin[mode] = page.url.rstrip("/")
            pages[mode] = page
        for r in range(WARMUP_ROUNDS + rounds):
            for path in PAGES:
                order = [m for m, _, _ in MODES]
                if r % 2:
                    order.reverse()
                for mode in order:
                    # without the runtime the SPA's run-time URLs leave the proxy and fail: no "ready" to wait for
                    load, ready = await _load(pages[mode], origin[mode] + path, path == "/spa/" and mode != "proxy")
                    if r >= WARMUP_ROUNDS:
                        times.setdefault((path, mode), []).append(load)
                        if ready is not None:
                            spa_ready[mode].append(ready)

        # the runtime's start-up, inside real proxied page loads
        probe_ctx = await browser.new_context()

        # The same bytes Tandem serves (its runtime is this file), between two marks. Served from
        # here because the driver can't resolve *.localhost names to fetch them itself.
        start, end = RUNTIME_MARKS
        strict = b'"use strict";'
        body = runtime[len(strict):] if runtime.startswith(strict) else runtime
        marked_body = strict + f'performance.mark("{start}");'.encode() + body + f'\n;performance.mark("{end}");'.encode()

        async def marked(route):
            await route.fulfill(status=200, body=marked_body, content_type="text/javascript")

        await probe_ctx.route(lambda url: "/__tandem/runtime.js" in url, marked)  # before any page caches it
        page = await probe_ctx.new_page()
        await page.goto(new_session())  # invite links are single-use: a session of its own
        probe_shop = page.url.rstrip("/")
        startup: list[float] = []
        for _ in range(rounds):
            for path in PAGES:
                await page.goto(probe_shop + path, wait_until="load")
                startup.append(await page.evaluate(
                    f"performance.measure('rt', '{RUNTIME_MARKS[0]}', '{RUNTIME_MARKS[1]}').duration"))
        await browser.close()
    return {"times": times, "spa_ready": spa_ready, "startup": startup}


def _report(result: dict, rounds: int, runtime_bytes: int) -> bool:
    times = result["times"]
    print(f"\nPage load (loadEventEnd, ms) through Tandem vs direct: Chromium, warm cache, median of {rounds} "
          "interleaved rounds.\n'proxy only' blocks the runtime and the recorder, '+runtime' blocks the recorder.\n")
    cols = [title for _, title, _ in MODES]
    print(f"{'page':<14}" + "".join(f"{c:>12}" for c in cols) + "".join(f"{c + '/direct':>19}" for c in cols[1:]))
    ratios: dict[str, list[float]] = {mode: [] for mode, _, _ in MODES[1:]}
    for path in PAGES:
        med = {mode: statistics.median(times[(path, mode)]) for mode, _, _ in MODES}
        row = f"{path:<14}" + "".join(f"{med[m]:>12.1f}" for m, _, _ in MODES)
        for mode, _, _ in MODES[1:]:
            ratios[mode].append(med[mode] / med["direct"])
            row += f"{med[mode] / med['direct']:>18.2f}x"
        print(row)
    overall = {mode: statistics.median(r) for mode, r in ratios.items()}
    print(f"{'median ratio':<14}" + " " * 12 * len(cols) + "".join(f"{overall[m]:>18.2f}x" for m, _, _ in MODES[1:]))
    ok = overall["tandem"] <= TARGET_RATIO
    print(f"\nTarget <= {TARGET_RATIO}x for Tandem: {'met' if ok else 'NOT met'} ({overall['tandem']:.2f}x); "
          f"the runtime's own share (+runtime vs proxy only): {overall['runtime'] / overall['proxy']:.2f}x")
    ready = {m: statistics.median(v) for m, v in result["spa_ready"].items() if v}
    print("SPA until its product list shows: " + ", ".join(f"{t} {ready[m]:.1f} ms" for m, t, _ in MODES if m in ready))
    s = result["startup"]
    print(f"Runtime start-up (first to last statement, {len(s)} page loads): median {statistics.median(s):.2f} ms, "
          f"max {max(s):.2f} ms; bundle {runtime_bytes} bytes minified")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pageload", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"timed rounds (default {ROUNDS})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROUNDS} rounds")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with the servers' logs")
    args = parser.parse_args(argv)
    rounds = QUICK_ROUNDS if args.quick else args.rounds
    if rounds < 1:
        print("--rounds must be at least 1", file=sys.stderr)
        return 2
    if not os.path.exists(CHROMIUM):
        print(f"needs Chromium at {CHROMIUM} (make e2e-deps)", file=sys.stderr)
        return 2
    runtime = Path(__file__).resolve().parents[1] / "viewer" / "static" / "build" / "runtime.js"
    if not runtime.exists():
        print("the runtime is not built: run `make build`", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="tandem-pageload-"))
    started = time.monotonic()
    try:
        with Children(tmp) as children:
            shop, _, port = _start(children, tmp)
            result = asyncio.run(_measure(shop, lambda: _session(port, shop), rounds, runtime.read_bytes()))
    except RuntimeError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    _report(result, rounds, runtime.stat().st_size)  # figures, not a test: the exit code says only that it ran
    print(f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bench.pageload``: what co-browsing costs a page load, in real Chromium.

The demo site, a loopback copy of real saved pages (``../shared/corpus/pages``, every
absolute URL in them remapped onto a stand-in CDN on loopback, as a site's CDN would be) and
Tandem run as their own processes; one headless Chromium loads each page directly and through
Tandem, interleaved, round after round (warm cache, like a visitor clicking through a site).
The table shows the median ``loadEventEnd`` of each page in each mode and its ratio to the
direct load; the summary is the median of the per-page ratios (issue 11's targets: nobody
watching <= 1.2x, one follower watching <= 1.35x).

Modes: ``direct``; ``proxy only`` (Tandem with its scripts blocked: the proxy's own share);
``alone`` (Tandem, the tab owner by itself: the runtime and the recorder's bootstrap);
``watched`` (Tandem with a follower watching the tab owner's page in another context: the
recording runs and streams every page).

The runtime's own start-up is measured inside real proxied page loads: the runtime
script is served (through Playwright's router) between two ``performance.mark``s, so
the figure is the time from its first statement to its last, per page.

Flags: ``--rounds N`` (default 5), ``--quick`` (3 rounds), ``--corpus N`` real pages
(default 14; 0 for the demo only), ``--keep`` (keep logs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .procs import Children, free_port, request, wait_ready

ROUNDS = 5  # interleaved rounds per (page, mode); the median absorbs a noisy shared box
QUICK_ROUNDS = 3
CORPUS_PAGES = 14  # real saved pages, picked evenly from the sorted corpus (same ones every run)
WARMUP_ROUNDS = 1  # one untimed pass per mode: caches, connection pools, the service worker
TARGET_ALONE = 1.2  # issue 11: nobody watching, at most 1.2x the direct load
TARGET_WATCHED = 1.35  # issue 11: one follower watching, at most 1.35x
PAGES = ("/", "/products", "/products/2", "/api-demo", "/about", "/spa/")
SPA_READY = "document.querySelectorAll('#spa-products li').length > 0"
CHROMIUM = "/usr/bin/chromium"
RECORDER, RUNTIME = "/__tandem/recorder.js", "/__tandem/runtime.js"
CORPUS_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "pages"
CORPUS_HOST, CDN_HOST = "corpus.localhost", "corpcdn.localhost"
# (mode, column title, reserved scripts blocked, a follower watches)
MODES = (
    ("direct", "direct", (), False),
    ("proxy", "proxy only", (RUNTIME, RECORDER), False),
    ("alone", "alone", (), False),
    ("watched", "watched", (), True),
)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ADMIN_KEY = "bench-admin-" + secrets.token_hex(8)
RUNTIME_MARKS = ("tandem-runtime-start", "tandem-runtime-end")
SETTLE_TIMEOUT_S = 10.0  # for a load's after-work (panel, mirror) to finish; counted and printed when it does not
MIRROR_QUIET_MS = 500  # watched: the follower's mirror loaded nothing new and applied no event for this long
SETTLE_QUIET_S = 0.2  # then a short pause, with every tab idle, before the next load
RUNTIME_BASELINE = "78b289c"  # the runtime before issue 13's work (be7da51 is its first runtime commit)
LOAD_TIMEOUT_MS = 30_000  # one page load; a real page that takes longer is a bench failure, not a figure

# -- the real pages on loopback ------------------------------------------------------------
_URL_RE = re.compile(rb"(?:https?:)?//((?:[a-z0-9_-]+\.)+[a-z]{2,})(?=[:/\"'\s?#)>\\<,;]|$)", re.I)
_KEEP_HOSTS = (b"www.w3.org", b"w3.org")  # namespace URIs name no resource
_PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                     "1f15c4890000000d49444154789c6360f8ffff3f0005fe02fea7d6a0a00000000049454e44ae426082")
_STAND_INS = {".css": (b"", "text/css"), ".js": (b"", "text/javascript"), ".json": (b"{}", "application/json"),
              ".svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"/>', "image/svg+xml")}
_IMAGES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".ico", ".avif")


def corpus_pages(n: int) -> list[str]:
    if n <= 0 or not CORPUS_DIR.is_dir():
        return []
    files = sorted(p.name for p in CORPUS_DIR.iterdir() if p.suffix in (".html", ".htm"))
    step = max(1, len(files) // n)
    return files[::step][:n]


def big_page(nodes: int) -> str:
    """An article-like page of about ``nodes`` DOM nodes (elements and text)."""
    rows = max(1, nodes // 10)  # each row: li, a, text, span, text, em, text, b, text, whitespace
    items = "".join(f'<li class="r{i % 7}"><a href="/item/{i}">Item {i}</a><span> price {i}.99</span>'
                    f"<em> note</em><b> tag</b> </li>" for i in range(rows))
    return f"<!doctype html><html><head><title>Big page</title></head><body><h1>Big</h1><ul>{items}</ul></body></html>"


def serve_corpus(port: int) -> None:
    """The corpus pages at http://corpus.localhost:PORT/<file>; every absolute URL in them remapped to
    http://corpcdn.localhost:PORT/<host>/<path>, which answers with a small stand-in by extension."""
    from aiohttp import web

    cdn = f"http://{CDN_HOST}:{port}".encode()

    def remap(body: bytes) -> bytes:
        return _URL_RE.sub(lambda m: m.group(0) if m.group(1).lower() in _KEEP_HOSTS else cdn + b"/" + m.group(1), body)

    async def handle(request: web.Request) -> web.StreamResponse:
        name = request.path.lstrip("/")
        if request.host.split(":")[0] == CORPUS_HOST and "/" not in name and (CORPUS_DIR / name).is_file():
            return web.Response(body=remap((CORPUS_DIR / name).read_bytes()), content_type="text/html",
                                headers={"Cache-Control": "no-cache"})
        ext = Path(request.path).suffix.lower()
        cache = {"Cache-Control": "public, max-age=3600"}
        if ext in _IMAGES:
            return web.Response(body=_PNG, content_type="image/png", headers=cache)
        if ext in _STAND_INS:
            data, ctype = _STAND_INS[ext]
            return web.Response(body=data, content_type=ctype, headers=cache)
        if request.path == "/healthz":
            return web.Response(text="ok")
        if request.path == "/big.html":  # a page of about n nodes, for the snapshot cost (bench/snapshot.py)
            return web.Response(text=big_page(int(request.query.get("n", "10000"))), content_type="text/html")
        return web.Response(status=404, headers=cache)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _start_tandem(children: Children, tmp: Path, name: str = "tandem", runtime: Path | None = None) -> int:
    """A Tandem process (serving ``runtime`` in place of the built runtime when given); returns its port."""
    port = free_port()
    hosts = ("shop.localhost", "cdn.localhost", "widgets.localhost", CORPUS_HOST, CDN_HOST)
    patch = f"import pathlib, tandem.app; tandem.app.RUNTIME_PATH = pathlib.Path({str(runtime)!r}); " if runtime else ""
    cmd = [sys.executable, "-c", f"import sys; {patch}from tandem.cli import main; sys.exit(main())",
           "serve", "--port", str(port), "--data-dir", str(tmp / f"data-{name}"),
           "--allow-private-networks", "loopback", *[a for h in hosts for a in ("--allow-domain", h)]]
    tandem = children.start(name, cmd, env={"TANDEM_ADMIN_KEY": ADMIN_KEY})
    wait_ready(tandem, port, "/healthz", {"Host": f"tandem.localhost:{port}"})
    return port


def _start(children: Children, tmp: Path) -> tuple[str, str, int]:
    """Demo site, corpus site and Tandem as processes; returns (shop origin, corpus origin, Tandem port)."""
    shop_port = free_port()
    demo = children.start("demo", [sys.executable, "-m", "demosite", "--port", str(shop_port)])
    wait_ready(demo, shop_port, "/")
    corpus_port = free_port()
    corpus = children.start("corpus", [sys.executable, "-m", "bench.pageload", "--serve-corpus", str(corpus_port)])
    wait_ready(corpus, corpus_port, "/healthz")
    return f"http://shop.localhost:{shop_port}", f"http://{CORPUS_HOST}:{corpus_port}", _start_tandem(children, tmp)


def _session(port: int, shop: str) -> dict:
    status, _, body = request(port, "POST", "/api/v1/sessions",
                              {"Host": f"tandem.localhost:{port}", "Authorization": f"Bearer {ADMIN_KEY}",
                               "Content-Type": "application/json"}, json.dumps({"url": shop + "/"}).encode())
    if status != 201:
        raise RuntimeError(f"session API answered {status}: {body[:200]!r}")
    return json.loads(body)


async def _load(page, url: str, spa: bool) -> tuple[float, float | None]:
    """(loadEventEnd, ms until the SPA's list is shown or None), both from navigation start."""
    await page.goto(url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
    ready = None
    if spa:
        await page.wait_for_function(SPA_READY, polling=5)
        ready = await page.evaluate("performance.now()")
    nav = await page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    return float(nav), ready


def _proxied(tandem_port: int, sid: str, upstream: str) -> str:
    """The proxied origin of ``upstream`` in session ``sid`` (the mapping every rewriter uses)."""
    from rewriter.urls import ProxyBase, UrlRewriter

    return UrlRewriter(ProxyBase("http", f"tandem.localhost:{tandem_port}"), sid).to_proxy(upstream + "/").rstrip("/")


def build_runtime_at(commit: str, out: Path) -> Path:
    """The runtime as it was at ``commit``, built with that commit's own build options into ``out``/
    (a temp dir: never committed). Returns the bundle's path."""
    repo = Path(__file__).resolve().parents[1]
    src = out / f"src-{commit}"
    src.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(repo), "archive", commit, "viewer"], capture_output=True, check=False)
    if archive.returncode:
        raise RuntimeError(f"git archive {commit}: {archive.stderr.decode(errors='replace').strip()}")
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
    (src / "node_modules").symlink_to(repo / "node_modules")
    bundle = out / f"runtime-{commit}.js"
    script = ("import * as b from " + json.dumps((src / "viewer" / "build.mjs").as_uri()) + "; import * as esbuild from 'esbuild';"
              "await esbuild.build({...(b.runtimeOptions || b.options), outfile: " + json.dumps(str(bundle)) + "});")
    built = subprocess.run(["node", "--input-type=module", "-e", script], cwd=src, capture_output=True, check=False)
    if built.returncode or not bundle.exists():
        raise RuntimeError(f"building the runtime of {commit}: {built.stderr.decode(errors='replace').strip()[-400:]}")
    return bundle


def _tandem_mode(mode: str) -> bool:
    return mode not in ("direct", "proxy")


async def _panel_loaded(page, timeout_s: float) -> bool:
    """The recorder mounts the session panel (an iframe of the control plane) right after the load event:
    wait until it is there and loaded. Its frame is in a closed shadow root: found in the frame tree."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for frame in page.frames:
            if frame.url.endswith("/panel"):
                await frame.wait_for_load_state("load", timeout=max(1, deadline - time.monotonic()) * 1000)
                return True
        await asyncio.sleep(0.02)
    return False


MIRROR_SHOWS = """([url, before, title]) => { const m = window.tandemMirror, s = document.querySelector('.url');
  const d = m && m.doc(); return !!(m && m.stats.applied > before && s && s.title === url && d && d.title === title); }"""
# the mirror's own work after it shows the page: its resources (through Tandem) and the stream's
# later events; done when neither count has moved for QUIET_MS
MIRROR_QUIET = """(quietMs) => new Promise((resolve) => { const m = window.tandemMirror; let last = '', since = performance.now();
  const tick = () => { const d = m.doc(), w = d && d.defaultView;
    const now = m.stats.applied + '/' + (w ? w.performance.getEntriesByType('resource').length : 0) + '/' + performance.getEntriesByType('resource').length;
    if (now !== last) { last = now; since = performance.now(); }
    if (performance.now() - since >= quietMs) resolve(true); else setTimeout(tick, 50); };
  tick(); })"""
IDLE = "new Promise((r) => requestIdleCallback(() => r(true), {timeout: 2000}))"


async def _settle(mode: str, page, follower, before: int, upstream: str) -> bool:
    """Let what a load sets off after its load event finish before the next load is timed: the panel's
    mount and socket (Tandem modes); the recording's full snapshot, its trip through the server, the
    follower's mirror rebuilding the page and loading its resources until quiet (watched). Every tab is in the same browser and every Tandem
    mode on the same server, so otherwise that work runs inside whichever load comes next (see
    --no-settle). False when a step did not finish within SETTLE_TIMEOUT_S."""
    ok = True
    if _tandem_mode(mode):
        ok = await _panel_loaded(page, SETTLE_TIMEOUT_S)
    if follower is not None and ok:
        title = await page.evaluate("document.title")
        try:
            await follower.wait_for_function(MIRROR_SHOWS, arg=[upstream, before, title], polling=20,
                                             timeout=SETTLE_TIMEOUT_S * 1000)
        except Exception as exc:  # Playwright's TimeoutError; counted and printed, not a figure
            if "Timeout" not in type(exc).__name__:
                raise
            ok = False
        if ok:
            try:
                await asyncio.wait_for(follower.evaluate(MIRROR_QUIET, MIRROR_QUIET_MS), SETTLE_TIMEOUT_S)
            except asyncio.TimeoutError:  # counted and printed, not a figure
                ok = False
    for p in (page, follower) if follower is not None else (page,):
        await p.evaluate(IDLE)
    await asyncio.sleep(SETTLE_QUIET_S)
    return ok


async def _measure(shop: str, corpus: str, files: list[str], servers: dict[str, tuple[int, object]], rounds: int,
                   runtime: bytes, modes: tuple, settle: bool) -> dict:
    """``servers``: mode -> (Tandem port, new_session()) for every proxied mode."""
    from playwright.async_api import async_playwright

    paths = [(shop, p) for p in PAGES] + [(corpus, "/" + f) for f in files]
    times: dict[tuple[str, str], list[float]] = {}
    loads: list[dict] = []  # every timed load: path, mode, round, the mode loaded just before it
    spa_ready: dict[str, list[float]] = {mode: [] for mode, *_ in modes}
    unsettled = 0
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages, followers, proxied = {}, {}, {}
        for mode, _, blocked, watched in modes:
            context = await browser.new_context()
            page = await context.new_page()
            if blocked:
                # Blocked in the network stack (CDP), not by a Playwright route: routes turn the cache off.
                cdp = await context.new_cdp_session(page)
                await cdp.send("Network.enable")
                await cdp.send("Network.setBlockedURLs", {"urls": [f"*{path}*" for path in blocked]})
            if mode == "direct":
                proxied[mode] = {shop: shop, corpus: corpus}
            else:
                port, new_session = servers[mode]
                body = new_session()
                await page.goto(body["leader_url"])  # invite links are single-use: one session per context
                proxied[mode] = {o: _proxied(port, body["session_id"], o) for o in (shop, corpus)}
                if watched:
                    fctx = await browser.new_context(viewport={"width": 1400, "height": 900})
                    fpage = await fctx.new_page()
                    await fpage.goto(body["follower_url"])
                    followers[mode] = fpage
            pages[mode] = page
        prev = None
        for r in range(WARMUP_ROUNDS + rounds):
            print(f"round {r + 1 - WARMUP_ROUNDS if r >= WARMUP_ROUNDS else 'warm-up'} of {rounds} ...", file=sys.stderr, flush=True)
            for origin, path in paths:
                order = [m for m, *_ in modes]
                if r % 2:
                    order.reverse()
                for mode in order:
                    # without the runtime the SPA's run-time URLs leave the proxy and fail: no "ready" to wait for
                    spa = path == "/spa/" and mode != "proxy"
                    follower = followers.get(mode)
                    before = await follower.evaluate("window.tandemMirror ? window.tandemMirror.stats.applied : 0") if follower else 0
                    load, ready = await _load(pages[mode], proxied[mode][origin] + path, spa)
                    if r >= WARMUP_ROUNDS:
                        times.setdefault((path, mode), []).append(load)
                        loads.append({"path": path, "mode": mode, "round": r, "prev": prev, "load": load})
                        if ready is not None:
                            spa_ready[mode].append(ready)
                    prev = mode
                    if settle and not await _settle(mode, pages[mode], follower, before, origin + path):
                        unsettled += 1
        watching = [await f.evaluate("window.tandemMirror ? window.tandemMirror.stats.applied : 0") for f in followers.values()]

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
        await page.goto(servers["alone"][1]()["leader_url"])  # invite links are single-use: a session of its own
        probe_shop = page.url.rstrip("/")
        startup: list[float] = []
        for _ in range(rounds):
            for path in PAGES:
                await page.goto(probe_shop + path, wait_until="load")
                startup.append(await page.evaluate(
                    f"performance.measure('rt', '{RUNTIME_MARKS[0]}', '{RUNTIME_MARKS[1]}').duration"))
        await browser.close()
    return {"times": times, "loads": loads, "spa_ready": spa_ready, "startup": startup, "paths": [p for _, p in paths],
            "corpus": len(files), "mirror_events": watching, "unsettled": unsettled, "modes": modes}


def _after_watched(result: dict) -> list[str]:
    """What the watched tab's after-load work costs whichever load comes next: per mode, the same page's
    loads right after a watched load over its loads after any other mode (median per page of each, then
    the median of the per-page ratios). About 1.0x when the bench lets every load settle."""
    if not any(m == "watched" for m, *_ in result["modes"]):
        return []
    split: dict[tuple[str, str], dict[bool, list[float]]] = {}
    for x in result["loads"]:
        if x["mode"] != "watched" and x["prev"] is not None:
            split.setdefault((x["mode"], x["path"]), {True: [], False: []})[x["prev"] == "watched"].append(x["load"])
    titles = {m: t for m, t, *_ in result["modes"]}
    out = []
    for mode, *_ in result["modes"]:
        ratios = [statistics.median(v[True]) / statistics.median(v[False])
                  for (m, _), v in split.items() if m == mode and v[True] and v[False]]
        if ratios:
            out.append(f"  {titles[mode]:<28} {statistics.median(ratios):>6.2f}x  ({len(ratios)} pages)")
    return out


def _report(result: dict, rounds: int, runtime_bytes: int, baseline: tuple[str, int] | None, loadavg: tuple) -> None:
    times, modes = result["times"], result["modes"]
    print(f"\nPage load (loadEventEnd, ms) through Tandem vs direct: Chromium, warm cache, median of {rounds} "
          f"interleaved rounds; {len(PAGES)} demo pages and {result['corpus']} real saved pages.\n"
          "'proxy only' blocks Tandem's scripts; 'alone' is the tab owner by itself; 'watched' has a follower "
          "watching the tab owner's page.\n")
    cols = [title for _, title, *_ in modes]
    print(f"{'page':<42}" + "".join(f"{c[:10]:>11}" for c in cols) + "  " + "".join(f"{c[:8] + '/dir':>13}" for c in cols[1:]))
    ratios: dict[str, list[float]] = {mode: [] for mode, *_ in modes[1:]}
    base_ratios: list[float] = []
    for path in result["paths"]:
        med = {mode: statistics.median(times[(path, mode)]) for mode, *_ in modes}
        row = f"{path[:41]:<42}" + "".join(f"{med[m]:>11.1f}" for m, *_ in modes) + "  "
        for mode, *_ in modes[1:]:
            ratios[mode].append(med[mode] / med["direct"])
            row += f"{med[mode] / med['direct']:>12.2f}x"
        if baseline:
            base_ratios.append(med["alone"] / med["base"])
            row += f"  {med['alone'] / med['base']:.2f}x"
        print(row)
    overall = {mode: statistics.median(r) for mode, r in ratios.items()}
    print(f"{'median of per-page ratios':<42}" + " " * (11 * len(cols) + 2) + "".join(f"{overall[m]:>12.2f}x" for m, *_ in modes[1:]))
    for mode, target in (("alone", TARGET_ALONE), ("watched", TARGET_WATCHED)):
        ok = overall[mode] <= target
        print(f"Target <= {target}x with {'nobody' if mode == 'alone' else 'one follower'} watching: "
              f"{'met' if ok else 'NOT met'} ({overall[mode]:.2f}x; the proxy alone {overall['proxy']:.2f}x)")
    if baseline:
        commit, size = baseline
        print(f"Runtime now ({runtime_bytes} bytes) vs at {commit} ({size} bytes), both alone, same run: median of "
              f"per-page ratios {statistics.median(base_ratios):.2f}x (alone/alone-{commit}: last column; "
              f"{sum(r <= 1 for r in base_ratios)} of {len(base_ratios)} pages no slower)")
    print(f"The follower's mirror applied {sum(result['mirror_events'])} events over the watched run.")
    ready = {m: statistics.median(v) for m, v in result["spa_ready"].items() if v}
    print("SPA until its product list shows: " + ", ".join(f"{t} {ready[m]:.1f} ms" for m, t, *_ in modes if m in ready))
    s = result["startup"]
    print(f"Runtime start-up (first to last statement, {len(s)} page loads): median {statistics.median(s):.2f} ms, "
          f"max {max(s):.2f} ms; bundle {runtime_bytes} bytes minified")
    after = _after_watched(result)
    if after:
        print("A load right after the watched tab's load vs after another mode's (same page and mode):")
        print("\n".join(after))
    if result["unsettled"]:
        print(f"{result['unsettled']} loads did not settle within {SETTLE_TIMEOUT_S:.0f} s (panel or mirror)")
    print("Load average (1, 5, 15 min) at the start: {:.2f} {:.2f} {:.2f}; at the end: {:.2f} {:.2f} {:.2f}".format(
        *loadavg, *os.getloadavg()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pageload", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"timed rounds (default {ROUNDS})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROUNDS} rounds")
    parser.add_argument("--corpus", type=int, default=CORPUS_PAGES, help=f"real saved pages (default {CORPUS_PAGES})")
    parser.add_argument("--no-settle", action="store_true",
                        help="time the next load as soon as one ends (the old bench: after-load work overlaps it)")
    parser.add_argument("--runtime-baseline", metavar="COMMIT", nargs="?", const=RUNTIME_BASELINE,
                        help="also time 'alone' with the runtime built from COMMIT, on a second Tandem "
                             f"(default {RUNTIME_BASELINE}: the last runtime before issue 13)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with the servers' logs")
    parser.add_argument("--save", metavar="FILE", help="write every timed load (page, mode, round, previous mode, ms) as JSON")
    parser.add_argument("--serve-corpus", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the bench's own child
    args = parser.parse_args(argv)
    if args.serve_corpus:
        serve_corpus(args.serve_corpus)
        return 0
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
    files = corpus_pages(args.corpus)
    if args.corpus and not files:
        print(f"no real pages: {CORPUS_DIR} is absent; the demo pages only", file=sys.stderr)
    loadavg = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="tandem-pageload-"))
    started = time.monotonic()
    modes, baseline = MODES, None
    try:
        with Children(tmp) as children:
            shop, corpus, port = _start(children, tmp)
            session = lambda p: (lambda: _session(p, shop))  # noqa: E731
            servers = {m: (port, session(port)) for m, *_ in MODES if m != "direct"}
            if args.runtime_baseline:
                old = build_runtime_at(args.runtime_baseline, tmp)
                baseline = (args.runtime_baseline, old.stat().st_size)
                base_port = _start_tandem(children, tmp, "tandem-baseline", old)
                servers["base"] = (base_port, session(base_port))
                modes = MODES + (("base", f"alone, runtime {args.runtime_baseline}", (), False),)
            result = asyncio.run(_measure(shop, corpus, files, servers, rounds, runtime.read_bytes(), modes,
                                          not args.no_settle))
    except RuntimeError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    # figures, not a test: the exit code says only that it ran
    _report(result, rounds, runtime.stat().st_size, baseline, loadavg)
    if args.save:
        Path(args.save).write_text(json.dumps({"loads": result["loads"], "loadavg": [loadavg, os.getloadavg()]}))
    print(f"({time.monotonic() - started:.0f} s{', no settling between loads' if args.no_settle else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

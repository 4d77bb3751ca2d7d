"""Runs every probe page in real Chromium, directly and through Tandem, and records leaks.

Leak detection has two independent parts in the proxied run:

* the browser context's request log (every request Playwright sees, frames and
  workers included): a URL outside ``*.BASE`` is a leak;
* a trap: Chromium is started with host-resolver rules that send the probe
  origins' names to a trap server, so any request the browser makes to them
  directly (from a page, frame, worker, service worker, worklet, beacon, socket,
  whatever Playwright may not report) lands there. Tandem reaches the real
  origins through its own resolver and never touches the trap.

One browser and one context per mode; probes run one after another so every
request (and every trap hit) belongs to the probe that was running.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, RequestLog
from tests.harness import serve_app, start_tandem

from .server import HOST1, HOST2, probe_meta, probe_names, start_probe_origins

PROBE_TIMEOUT_MS = 8_000  # one probe: its own waits are 4 s at most
SETTLE_S = 0.1  # after a probe reports, late requests (beacons, unload) still count as its own


@dataclass
class Outcome:
    passed: bool
    detail: str = ""
    leaks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.passed and not self.leaks

    def describe(self) -> str:
        if self.ok:
            return "pass"
        parts = [] if self.passed else [f"fail: {self.detail}"]
        if self.leaks:
            parts.append(f"leaked {len(self.leaks)}: {', '.join(self.leaks[:3])}")
        return "; ".join(parts)


@dataclass
class ProbeResult:
    name: str
    what: str
    xfail: str | None
    direct: Outcome | None = None
    tandem: Outcome | None = None

    @property
    def verdict(self) -> str:
        """'ok', 'xfail' (fails through Tandem as documented), or a problem."""
        if self.direct is None or not self.direct.passed:
            return f"BROKEN: fails without Tandem ({self.direct.detail if self.direct else 'not run'})"
        if self.tandem is None:
            return "BROKEN: not run through Tandem"
        if self.xfail:
            return "xfail" if not self.tandem.ok else "XPASS: passes through Tandem but is marked as failing"
        return "ok" if self.tandem.ok else f"FAIL through Tandem: {self.tandem.describe()}"


class Trap:
    """Where the proxied run's browser lands when it tries to reach a probe origin itself."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def app(self) -> web.Application:
        async def record(request: web.Request) -> web.Response:
            self.requests.append(f"{request.method} {request.host}{request.path_qs}")
            return web.Response(status=418, text="leak")

        app = web.Application()
        app.router.add_route("*", "/{path:.*}", record)
        return app


async def _run_one(context, url: str, log: RequestLog, trap: Trap | None, base_hostname: str | None) -> Outcome:
    from playwright.async_api import Error as PlaywrightError

    log_start = len(log.urls)
    trap_start = len(trap.requests) if trap else 0
    page = await context.new_page()
    try:
        await page.goto(url, wait_until="commit", timeout=PROBE_TIMEOUT_MS)
        handle = await page.wait_for_function("() => window.__probe", timeout=PROBE_TIMEOUT_MS)
        result = await handle.json_value()
        outcome = Outcome(bool(result.get("pass")), result.get("detail", ""))
    except PlaywrightError as exc:
        outcome = Outcome(False, f"no result: {str(exc).splitlines()[0]}")
    await asyncio.sleep(SETTLE_S)
    for p in list(context.pages):
        await p.close()
    if trap is not None:
        outcome.leaks += [f"trap: {r}" for r in trap.requests[trap_start:]]
    if base_hostname is not None:
        window = RequestLog.__new__(RequestLog)
        window.urls = log.urls[log_start:]
        outcome.leaks += window.leaks(base_hostname)
    return outcome


async def run_suite(names: list[str] | None = None, tmp: Path | None = None) -> dict[str, ProbeResult]:
    from playwright.async_api import async_playwright

    from proxy.allowlist import Entry

    names = names or probe_names()
    results = {n: ProbeResult(n, *probe_meta(n)) for n in names}
    nonce = secrets.token_hex(4)
    one, two, runners = await start_probe_origins(nonce)
    trap = Trap()
    trap_runner, trap_origin = await serve_app(trap.app())
    runners.append(trap_runner)
    trap_port = trap_origin.rsplit(":", 1)[1]
    own_tmp = tempfile.TemporaryDirectory() if tmp is None else None
    tandem = await start_tandem(Path(own_tmp.name) if own_tmp else tmp, extra_allow=(Entry(HOST1), Entry(HOST2)))
    try:
        async with async_playwright() as pw:
            # direct: the probe origins as they are
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = await browser.new_context()
            log = RequestLog(context)
            for n in names:
                results[n].direct = await _run_one(context, f"{one.origin}/p/{n}", log, None, None)
            await browser.close()

            # through Tandem: the probe origins' names lead only to the trap
            rules = f"MAP {HOST1} 127.0.0.1:{trap_port},MAP {HOST2} 127.0.0.1:{trap_port}"
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + [f"--host-resolver-rules={rules}"])
            context = await browser.new_context()
            log = RequestLog(context)
            session = await tandem.session(f"{one.origin}/blank.html", enter=False)
            entry = await context.new_page()
            await entry.goto(session.leader_url)
            await entry.close()
            for n in names:
                url = session.url(f"{one.origin}/p/{n}")
                results[n].tandem = await _run_one(context, url, log, trap, tandem.base.hostname)
            await browser.close()
    finally:
        await tandem.close()
        for r in runners:
            await r.cleanup()
        if own_tmp:
            own_tmp.cleanup()
    return results

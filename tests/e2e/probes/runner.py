"""Runs every probe page in real Chromium, directly and through Tandem, and records leaks.

Leak detection has two independent parts in the proxied run:

* the browser context's request log (every request Playwright sees, frames and
  workers included): a URL outside ``*.BASE`` is a leak;
* a trap: Chromium is started with host-resolver rules that send the probe
  origins' names to a trap server, so any request the browser makes to them
  directly (from a page, frame, worker, service worker, worklet, beacon, socket,
  whatever Playwright may not report) lands there. Tandem reaches the real
  origins through its own resolver and never touches the trap.

One browser and one context per mode, both modes at once; a few probes run at once
in each, each in its own page, and a probe's proxied run starts when its direct run
is over. Every request a probe makes carries its key (``k=<probe>-<run>``), which
attributes leaks to it; a leak without a key counts against every probe that was
running through Tandem when it happened.
"""

from __future__ import annotations

import asyncio
import secrets
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS
from tests.harness import serve_app, start_tandem

from .server import HOST1, HOST2, probe_meta, probe_names, probe_timeout_ms, start_probe_origins

PROBE_TIMEOUT_MS = 30_000  # one page: each of its waits is 10 s at most; pages with parts wait in turn
SETTLE_S = 0.1  # after a probe reports, late requests (beacons, unload) still count as its own


@dataclass
class Outcome:
    passed: bool
    detail: str = ""
    leaks: list[str] = field(default_factory=list)
    seconds: float = 0.0
    same: str | None = None  # a value the probe reported that must be equal directly and through Tandem
    na: str | None = None  # the browser itself lacks what the probe needs (reported by the direct run)

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
    bcd: str | None = None  # the browser-compat-data feature this behaviour belongs to, when the page says

    @property
    def verdict(self) -> str:
        """'ok', 'xfail' (fails through Tandem as documented), 'n/a' (the browser lacks it), or a problem."""
        if self.direct is not None and self.direct.na:
            return "n/a"
        if self.direct is None or not self.direct.passed:
            return f"BROKEN: fails without Tandem ({self.direct.detail if self.direct else 'not run'})"
        if self.tandem is None:
            return "BROKEN: not run through Tandem"
        differs = self.differs
        ok = self.tandem.ok and not differs
        if self.xfail:
            return "xfail" if not ok else "XPASS: passes through Tandem but is marked as failing"
        if differs:
            return f"FAIL through Tandem: {differs}"
        return "ok" if ok else f"FAIL through Tandem: {self.tandem.describe()}"

    @property
    def differs(self) -> str:
        """Why the value the probe reported through Tandem is not the direct one ('' when it is)."""
        d, t = self.direct, self.tandem
        if not (d and t and t.passed) or d.same == t.same:
            return ""
        return f"reads differently: {_clip(t.same)} through Tandem, {_clip(d.same)} directly"

    @property
    def tandem_text(self) -> str:
        """The Tandem column of the tables: pass, or what failed."""
        if self.tandem is None:
            return "not run"
        return self.differs if self.tandem.ok and self.differs else self.tandem.describe()


def _clip(text: str | None, limit: int = 300) -> str:
    text = "none" if text is None else text
    return text if len(text) <= limit else text[:limit] + "…"


KEY_RE = re.compile(r"[?&]k=([^&#\s]*)")
LANES = 4  # probes run at once (pages of one context); each request is attributed by its probe key


class Recorder:
    """Requests seen by the browser context (and WebSockets of its pages), with when they happened."""

    def __init__(self, context) -> None:
        self.seen: list[tuple[float, str]] = []
        context.on("request", lambda req: self.seen.append((time.monotonic(), req.url)))
        context.on("page", lambda page: page.on("websocket", lambda ws: self.seen.append((time.monotonic(), ws.url))))


class Trap:
    """Where the proxied run's browser lands when it tries to reach a probe origin itself."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str]] = []

    def app(self) -> web.Application:
        async def record(request: web.Request) -> web.Response:
            self.seen.append((time.monotonic(), f"trap: {request.method} {request.host}{request.path_qs}"))
            return web.Response(status=418, text="leak")

        app = web.Application()
        app.router.add_route("*", "/{path:.*}", record)
        return app


def _outside(url: str, base_hostname: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "javascript"):
        return False
    host = (parts.hostname or "").lower()
    return not (host == base_hostname or host.endswith("." + base_hostname))


def _leaks(entries, key: str, start: float, end: float) -> list[str]:
    """Entries carrying this probe's key, and unkeyed ones made while it ran (counted against every probe then running)."""
    out = []
    for when, text in entries:
        m = KEY_RE.search(text)
        if (m and m.group(1) == key) or (not m and start <= when <= end):
            out.append(text)
    return out


async def _run_one(context, url: str, key: str, timeout_ms: int = PROBE_TIMEOUT_MS) -> tuple[dict, float, float]:
    from playwright.async_api import Error as PlaywrightError

    started = time.monotonic()
    page = await context.new_page()
    popups = []
    errors: list[str] = []
    page.on("popup", lambda p: popups.append(p))
    page.on("pageerror", lambda e: errors.append(str(e).splitlines()[0] if str(e) else repr(e)))
    try:
        await page.goto(url, wait_until="commit", timeout=PROBE_TIMEOUT_MS)
        handle = await page.wait_for_function("() => window.__probe", timeout=timeout_ms, polling=50)
        result = await handle.json_value()
    except PlaywrightError as exc:
        result = {"pass": False, "detail": f"no result: {str(exc).splitlines()[0]}" + (f" (page errors: {'; '.join(errors[:3])})" if errors else "")}
    await asyncio.sleep(SETTLE_S)
    for p in popups + [page]:
        await p.close()
    ended = time.monotonic()
    result["seconds"] = ended - started
    return result, started, ended


def _outcome(report: dict) -> Outcome:
    return Outcome(bool(report.get("pass")), report.get("detail", ""), seconds=report.get("seconds", 0.0),
                   same=report.get("same"), na=report.get("na"))


def _expand(name: str, direct: dict, tandem: dict, leaks: list[str]) -> list[ProbeResult]:
    """One result per behaviour: the page itself, or each of its parts (probeParts)."""
    what, xfail = probe_meta(name)
    parts = direct.get("parts") or tandem.get("parts")
    if not parts:
        r = ProbeResult(name, what, xfail, _outcome(direct), _outcome(tandem))
        r.tandem.leaks = leaks
        return [r]
    out = []
    for part, spec in parts.items():
        d = (direct.get("parts") or {}).get(part) or {"pass": False, "detail": direct.get("detail") or "not reported"}
        t = (tandem.get("parts") or {}).get(part) or {"pass": False, "detail": tandem.get("detail") or "not reported"}
        r = ProbeResult(f"{name}/{part}", spec.get("what") or part, xfail or spec.get("xfail"), _outcome(d), _outcome(t),
                        spec.get("bcd"))
        r.tandem.leaks = list(leaks)
        out.append(r)
    return out


async def _run_modes(names: list[str], direct_one, proxied_one) -> None:
    """Both runs at once, LANES probes each: a probe's proxied run starts once its direct run is over
    (so a probe's two runs never overlap: its key says which run a request belongs to)."""
    direct_lanes, proxied_lanes = asyncio.Semaphore(LANES), asyncio.Semaphore(LANES)
    done = {n: asyncio.Event() for n in names}

    async def direct(name: str) -> None:
        try:
            async with direct_lanes:
                await direct_one(name)
        finally:
            done[name].set()

    async def proxied(name: str) -> None:
        await done[name].wait()
        async with proxied_lanes:
            await proxied_one(name)

    await asyncio.gather(*(direct(n) for n in names), *(proxied(n) for n in names))


async def run_suite(names: list[str] | None = None, tmp: Path | None = None) -> dict[str, ProbeResult]:
    from playwright.async_api import async_playwright

    from proxy.allowlist import Entry

    names = names or probe_names()
    direct: dict[str, dict] = {}
    runs: dict[str, tuple[dict, float, float]] = {}
    one, two, runners = await start_probe_origins()
    trap = Trap()
    trap_runner, trap_origin = await serve_app(trap.app())
    runners.append(trap_runner)
    trap_port = trap_origin.rsplit(":", 1)[1]
    own_tmp = tempfile.TemporaryDirectory() if tmp is None else None
    tandem = await start_tandem(Path(own_tmp.name) if own_tmp else tmp, extra_allow=(Entry(HOST1), Entry(HOST2)))
    direct_nonce, proxied_nonce = "d" + secrets.token_hex(3), "t" + secrets.token_hex(3)

    def key(name: str, nonce: str) -> str:
        one.nonces[name] = two.nonces[name] = nonce  # the probe's pages and their requests carry this run's key
        return one.key(name)

    try:
        async with async_playwright() as pw:
            # direct: the probe origins as they are; through Tandem: their names lead only to the trap
            rules = f"MAP {HOST1} 127.0.0.1:{trap_port},MAP {HOST2} 127.0.0.1:{trap_port}"
            plain, trapped = await asyncio.gather(
                pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS),
                pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + [f"--host-resolver-rules={rules}"]))
            try:
                direct_context, context = await plain.new_context(), await trapped.new_context()
                recorder = Recorder(context)
                session = await tandem.session(f"{one.origin}/blank.html", enter=False)
                entry = await context.new_page()
                await entry.goto(session.leader_url)
                await entry.close()

                async def direct_one(n: str) -> None:
                    report, _, _ = await _run_one(direct_context, f"{one.origin}/p/{n}", key(n, direct_nonce),
                                                  probe_timeout_ms(n, PROBE_TIMEOUT_MS))
                    direct[n] = report

                async def proxied_one(n: str) -> None:
                    runs[n] = await _run_one(context, session.url(f"{one.origin}/p/{n}"), key(n, proxied_nonce),
                                             probe_timeout_ms(n, PROBE_TIMEOUT_MS))

                await _run_modes(names, direct_one, proxied_one)
                await asyncio.sleep(SETTLE_S)
            finally:
                await plain.close()
                await trapped.close()
            base = tandem.base.hostname
            outside = [(t, u) for t, u in recorder.seen if _outside(u, base)]
            results: dict[str, ProbeResult] = {}
            for n in names:
                report, start, end = runs[n]
                key_ = f"{n}-{proxied_nonce}"
                leaks = _leaks(trap.seen, key_, start, end) + _leaks(outside, key_, start, end)
                for r in _expand(n, direct[n], report, leaks):
                    results[r.name] = r
    finally:
        await tandem.close()
        for r in runners:
            await r.cleanup()
        if own_tmp:
            own_tmp.cleanup()
    return results

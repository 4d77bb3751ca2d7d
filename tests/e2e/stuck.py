"""When a browser step never ends: what the browser still waits for, and where the server is.

Playwright's ``page.evaluate`` has no timeout: a promise in the page that never settles (a request
never answered, an event that never fires) or a renderer that is blocked (a synchronous request) or
gone (a crash) holds the test until pytest-timeout ends it, with nothing said about why. Here
:func:`bounded` gives such a step a deadline and, past it, fails naming:

* the step;
* the browser context's unfinished requests, oldest first, with their age (from Playwright's
  ``request`` / ``requestfinished`` / ``requestfailed`` events): a request the server never answered
  is here; an empty list means the page waits for something that is not a request;
* pages that crashed or closed, and the page's uncaught errors;
* whether the page's renderer still answers (a one-line evaluate): a blocked or dead renderer does not;
* the stack of every task of this event loop: the Tandem server and the upstreams of a test run in
  the test's loop, so a handler that never answers shows the await it sits in.

(A blocked event loop cannot run the deadline either: then pytest-timeout's own dump of every
thread's stack is the report.)
"""

from __future__ import annotations

import asyncio
import functools
import linecache
import re
import shutil
import subprocess
import time
import warnings
from typing import Any, Awaitable

from aiohttp import web

RENDERER_PROBE_S = 5.0  # a live renderer answers a one-line evaluate in milliseconds
STACK_LINES = 14  # frames shown per task


class Watch:
    """Every request of a browser context with its start time, and what happened to its pages."""

    def __init__(self, context) -> None:
        self.open: dict[Any, tuple[float, str]] = {}
        self.events: list[str] = []
        context.on("request", self._request)
        context.on("requestfinished", lambda req: self.open.pop(req, None))
        context.on("requestfailed", lambda req: self.open.pop(req, None))
        context.on("page", self.page)
        for p in context.pages:
            self.page(p)

    def _request(self, req) -> None:
        self.open[req] = (time.monotonic(), f"{req.method} {req.url[:300]} ({req.resource_type})")

    def page(self, page) -> None:
        page.on("crash", lambda p: self.events.append(f"page crashed: {p.url[:200]}"))
        page.on("close", lambda p: self.events.append(f"page closed: {p.url[:200]}"))
        page.on("pageerror", lambda err: self.events.append(f"page error: {str(err)[:300]}"))

    def unfinished(self) -> list[str]:
        now = time.monotonic()
        return [f"{now - t:.1f}s {what}" for t, what in sorted(self.open.values())]


def awaiting(task: asyncio.Task) -> list[str]:
    """Where ``task`` waits: its coroutine and every coroutine or generator it awaits, outermost first
    (``Task.print_stack`` shows only the outermost frame of a suspended coroutine)."""
    out = []
    aw = task.get_coro()
    for _ in range(64):
        frame = getattr(aw, "cr_frame", None) or getattr(aw, "gi_frame", None) or getattr(aw, "ag_frame", None)
        if frame is None:
            if aw is not None and not hasattr(aw, "cr_await"):
                out.append(f"    awaits {type(aw).__name__}: {repr(aw)[:160]}")
            break
        line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
        out.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}: {line}")
        request = frame.f_locals.get("request")
        if isinstance(request, web.BaseRequest) and not any(o.startswith("    serving ") for o in out):
            out.append(f"    serving {request.method} {request.host}{request.path_qs[:200]}")
        aw = getattr(aw, "cr_await", None) or getattr(aw, "gi_yieldfrom", None) or getattr(aw, "ag_await", None)
    return out[-STACK_LINES:]


def loop_tasks() -> str:
    """Where every task of the running loop but the caller's waits."""
    me = asyncio.current_task()
    lines = []
    for task in asyncio.all_tasks():
        if task is not me:
            lines.append(f"task {task.get_name()}:")
            lines += awaiting(task)
    return "\n".join(lines)


async def renderer_answers(page) -> str:
    try:
        await asyncio.wait_for(page.evaluate("1"), RENDERER_PROBE_S)
        return "yes"
    except asyncio.TimeoutError:
        return f"no (a one-line evaluate took over {RENDERER_PROBE_S:.0f} s: blocked or gone)"
    except Exception as exc:  # noqa: BLE001 - a closed or crashed page says so here
        return f"no ({type(exc).__name__}: {str(exc)[:200]})"


def sockets_of(urls: list[str]) -> list[str]:
    """The machine's TCP sockets on the ports of ``urls`` (``ss``): whose program holds the port on each
    address and where the browser's connections went (a request sent to another program on [::1]
    never reaches the server under test; tandem/listen.py)."""
    ports = sorted({m.group(1) for u in urls for m in [re.search(r"//[^/]*:(\d+)/", u)] if m})
    if not ports or shutil.which("ss") is None:
        return []
    try:
        out = subprocess.run(["ss", "-tanp"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line for line in out.splitlines() if any(f":{p} " in line for p in ports)][:40]


async def report(what: str, seconds: float, watch: Watch, page) -> str:
    lines = [f"{what} did not end within {seconds:.0f} s",
             f"page URL: {page.url[:300]}",
             f"renderer answers: {await renderer_answers(page)}",
             "unfinished requests (age, oldest first):"]
    unfinished = watch.unfinished()
    lines += [f"  {u}" for u in unfinished] or ["  none: the page waits for something that is not a request"]
    lines += ["sockets on their ports (an unfinished request no task below serves never reached the server):"]
    lines += [f"  {s}" for s in sockets_of(unfinished)] or ["  none listed"]
    lines += ["page events:"] + ([f"  {e}" for e in watch.events] or ["  none"])
    lines += ["tasks of the test's event loop (the servers under test run in it):", loop_tasks()]
    return "\n".join(lines)


class Stuck(AssertionError):
    """A browser step that did not end in time; its message says which, and what it waited for."""


async def bounded(step: Awaitable, seconds: float, watch: Watch, page, what: str):
    """``await step`` within ``seconds``; past them the test fails (:class:`Stuck`) with :func:`report`."""
    task = asyncio.ensure_future(step)
    try:
        return await asyncio.wait_for(asyncio.shield(task), seconds)
    except asyncio.TimeoutError:
        text = await report(what, seconds, watch, page)  # while the step still waits: its requests are open
        task.cancel()
        raise Stuck(text) from None


async def within(step: Awaitable, seconds: float, what: str):
    """``await step`` (a browser call with no timeout of its own: a new context or page, the context's
    cookies, a close) within ``seconds``, else :class:`Stuck`. The step is cancelled but not waited
    for: a call stuck in the browser's driver must not hold the test in its cancellation too."""
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        raise Stuck(f"{what} did not end within {seconds:.0f} s (browser and driver: {browser_processes()})")
    return task.result()


def browser_processes() -> str:
    """The machine's Chromium and Playwright driver processes, one line each (``ps``)."""
    try:
        out = subprocess.run(["ps", "-eo", "pid,stat,etime,args"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return "ps failed"
    lines = [line[:160] for line in out.splitlines() if "chromium" in line or "playwright" in line]
    return "; ".join(lines[:12]) or "none"


def rerun_once_if_stuck(test):
    """Run an async browser test again, once, when a browser step of it was :class:`Stuck`.

    For the tests whose browser calls were seen to hang with Chromium, its driver and the servers
    idle (tests/security/test_credentials_browser.py, twice in about a dozen whole-suite runs, the cause
    not found): the first attempt's report is kept as a warning in the run's summary, and a second
    stuck step fails the test."""

    @functools.wraps(test)
    async def run(*args, **kwargs):
        try:
            return await test(*args, **kwargs)
        except Stuck as first:
            warnings.warn(f"{test.__name__}: a browser step was stuck, ran again: {first}", stacklevel=1)
            return await test(*args, **kwargs)

    return run

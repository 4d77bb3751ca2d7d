"""One real-page co-browsing run: a page (or app) loaded directly, then by a tab owner through Tandem
with a follower watching the mirror, in real Chromium; the figures and failures as one record.

``Runner.run(target)`` does, for one target:

1. a direct load (its own browser context; requests to anything but ``*.localhost`` fail as an
   unknown host would, so nothing reaches the internet), recording the page's errors;
   (the page is only loaded there, so the direct-vs-proxied comparison takes the tab owner's errors
   up to the point the suite starts driving its page);
2. a session created through the API, the tab owner's context entering it, the follower's context
   opening its invite link and waiting for the mirror;
3. the checks (names in ``CHECKS``): errors raised by Tandem's scripts, page errors that differ from
   the direct load, the mirror's visible words (similarity, below), element counts, four live
   changes made on the tab owner's side (a paragraph appended, a heading changed, an input typed,
   a scroll to 600 px and then to the page's end) each awaited in the mirror with its latency, the
   pointer moved over the page and the window resized and back, the text and counts compared again,
   and for apps their TodoMVC state. The follower's own page errors are recorded, not checked.

Word similarity: the words of both documents (``probe.js``: innerText split on white space) as
multisets A and B; similarity = |A ∩ B| / max(|A|, |B|), with ∩ the multiset intersection (per word,
the smaller count). 1.0 means the same words the same number of times; 0.99 allows one word in a
hundred missing or extra. Both empty counts as 1.0.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tandem import appkeys

HERE = Path(__file__).resolve().parent
PROBE_JS = (HERE / "probe.js").read_text()

CHECKS = ("tandem_errors", "error_parity", "mirror_text", "element_counts", "live_updates", "scroll", "app_state")
SIMILARITY_MIN = 0.99
LOAD_TIMEOUT_MS = 60_000  # the biggest saved pages are 2 MB of HTML (and the machine is shared)
STEP_TIMEOUT_MS = 10_000  # one browser step or one change awaited in the mirror
# A follower's first view of a heavy page: the recorder starts when someone watches, then snapshots
# up to 2 MB of DOM (seen: 12-19 s for a 900 KB page on a 2-core machine at load 14). Recorded per
# target as first_view_ms; only a mirror that never appears in this time fails.
FIRST_VIEW_TIMEOUT_MS = 45_000
SETTLE_S = 0.5  # after "load": pages' own timers and late scripts run, as a person would wait
CONVERGE_S = 6.0  # the mirror and the page are compared until they agree or this passes
LEADER_VIEWPORT = {"width": 1100, "height": 760}
FOLLOWER_VIEWPORT = {"width": 1400, "height": 900}
SCROLL_TARGET = 600  # px; less when the page is shorter
RESULTS_ENV = "REALPAGES_RESULTS"


def results_path() -> Path:
    return Path(os.environ.get(RESULTS_ENV) or Path(tempfile.gettempdir()) / "tandem-realpages" / "results.jsonl")


@dataclass(frozen=True)
class Target:
    name: str  # a corpus file name, or "app:<framework>"
    url: str
    kind: str  # "page" or "app"

    @property
    def deep(self) -> bool:  # apps use shadow DOM (Lit, web components): measure inside open shadow roots
        return self.kind == "app"


def similarity(a: list[str], b: list[str]) -> float:
    if not a and not b:
        return 1.0
    ca, cb = Counter(a), Counter(b)
    return sum((ca & cb).values()) / max(len(a), len(b))


def word_diff(a: list[str], b: list[str], n: int = 12) -> dict:
    ca, cb = Counter(a), Counter(b)
    return {"only_page": list((ca - cb).elements())[:n], "only_mirror": list((cb - ca).elements())[:n]}


_URL = re.compile(r"\b(?:https?|wss?)://\S+")
_NUM = re.compile(r"\d+")


def normalise_error(text: str) -> str:
    return _NUM.sub("#", _URL.sub("<url>", text)).strip()


def is_tandem(err: dict) -> bool:
    return "/__tandem/" in err["text"] or "/__tandem/" in err.get("stack", "")


# Console errors that say a resource did not load. The stand-in origins lack most resources on
# purpose, and a host that is not served fails differently directly (unknown host) and through
# Tandem (refused by the allowlist, so a cross-origin fetch reads as a CORS failure; a saved page's
# stale blob: URL of the site's origin is a foreign origin's blob through the proxy).
RESOURCE_FAILURES = (
    re.compile(r"^Failed to load resource\b"),
    re.compile(r"^Not allowed to load local resource: blob:"),
    re.compile(r"^Access to (XMLHttpRequest|fetch|font|script|image) at .* has been blocked by CORS policy"),
)


def is_resource_failure(text: str) -> bool:
    return any(p.search(text) for p in RESOURCE_FAILURES)


def comparable_errors(errors: list[dict]) -> set[str]:
    """The page's own errors, for the direct-vs-proxied comparison: uncaught exceptions and
    console errors, without failed resource loads (stand-ins are missing on purpose)."""
    out = set()
    for e in errors:
        if is_tandem(e) or is_resource_failure(e["text"]):
            continue
        out.add(f"{e['kind']}: {normalise_error(e['text'])}")
    return out


def watch_errors(page, sink: list[dict]) -> None:
    def on_pageerror(exc) -> None:
        sink.append({"kind": "pageerror", "text": f"{exc.name}: {exc.message}", "stack": exc.stack or ""})

    def on_console(msg) -> None:
        if msg.type == "error":
            loc = msg.location or {}
            sink.append({"kind": "console", "text": msg.text, "stack": f"{loc.get('url', '')}:{loc.get('lineNumber', '')}"})

    page.on("pageerror", on_pageerror)
    page.on("console", on_console)


def _local_only(route) -> asyncio.Future:
    host = re.match(r"^[a-z]+://([^/:]*)", route.request.url)
    if host and not (host.group(1) == "localhost" or host.group(1).endswith(".localhost")):
        return route.abort("namenotresolved")
    return route.continue_()


class Runner:
    """Runs each target once (``result``). ``plan(targets, lanes)``: the targets the tests will ask for, in
    the order they ask, run ``lanes`` at a time, each in its own browser contexts and Tandem session."""

    def __init__(self, browser, tandem, site) -> None:
        self.browser, self.tandem, self.site = browser, tandem, site
        self.results: dict[str, dict] = {}
        self.probes = 0
        self.runs: dict[str, asyncio.Task] = {}
        self.planned: list[Target] = []
        self.lanes = asyncio.Semaphore(1)

    def plan(self, targets: list[Target], lanes: int) -> None:
        self.planned, self.lanes = list(targets), asyncio.Semaphore(max(1, lanes))

    def _start(self, target: Target) -> asyncio.Task:
        if target.name not in self.runs:
            async def run() -> dict:
                async with self.lanes:
                    rec = await self.run(target)
                path = results_path()
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
                return rec

            self.runs[target.name] = asyncio.get_running_loop().create_task(run())
        return self.runs[target.name]

    async def result(self, target: Target) -> dict:
        if target.name not in self.results:
            run = self._start(target)
            for other in self.planned:  # the lanes take them in this order (a semaphore is first come, first served)
                self._start(other)
            self.results[target.name] = await run
        return self.results[target.name]

    async def close(self) -> None:
        """Stops the runs nobody asked for (deselected tests): before the browser goes."""
        for task in self.runs.values():
            task.cancel()
        await asyncio.gather(*self.runs.values(), return_exceptions=True)

    # -- the run -----------------------------------------------------------------------------
    async def run(self, target: Target) -> dict:
        rec: dict = {"target": target.name, "kind": target.kind, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "failures": {}, "latency_ms": {}, "notes": []}
        started = time.monotonic()
        direct_errors: list[dict] = []
        leader_errors: list[dict] = []
        follower_errors: list[dict] = []  # the session page's (replayer's) own: reported, not a check
        contexts = []
        loaded_errors = None  # how many of the tab owner's errors came before the suite drove the page
        marks: list[tuple[str, float]] = []

        def step(name: str) -> None:  # the step now running (a crash names it) and when it began
            rec["step"] = name
            marks.append((name, time.monotonic()))

        try:
            step("direct load")
            dctx = await self.browser.new_context(viewport=LEADER_VIEWPORT)
            contexts.append(dctx)
            await dctx.route(re.compile(r"^https?://"), _local_only)
            dp = await dctx.new_page()
            watch_errors(dp, direct_errors)
            await dp.goto(target.url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
            await asyncio.sleep(SETTLE_S)
            if target.kind == "app":
                rec["direct_app"] = await self.app_flow(dp, None, rec, "direct")
            await dctx.close()
            contexts.remove(dctx)

            step("tab owner's load")
            resp = await self.tandem.api("POST", "/api/v1/sessions", json={"url": target.url})
            body = await resp.json()
            if resp.status != 201:
                raise AssertionError(f"session API answered {resp.status}: {body}")
            lctx = await self.browser.new_context(viewport=LEADER_VIEWPORT)
            contexts.append(lctx)
            lp = await lctx.new_page()
            watch_errors(lp, leader_errors)
            await lp.goto(body["leader_url"], wait_until="load", timeout=LOAD_TIMEOUT_MS)
            await asyncio.sleep(SETTLE_S)
            fctx = await self.browser.new_context(viewport=FOLLOWER_VIEWPORT)
            contexts.append(fctx)
            fp = await fctx.new_page()
            watch_errors(fp, follower_errors)
            step("follower's first view")
            joined = time.monotonic()
            await fp.goto(await self.follower_link(body), wait_until="load")
            await fp.wait_for_function("() => window.tandemMirror && window.tandemMirror.stats.applied > 0 "
                                       "&& window.tandemMirror.doc() && window.tandemMirror.doc().body",
                                       timeout=FIRST_VIEW_TIMEOUT_MS)
            rec["first_view_ms"] = round((time.monotonic() - joined) * 1000)
            await lp.evaluate(PROBE_JS, {"deep": target.deep})
            await fp.evaluate(PROBE_JS, {"deep": target.deep, "mirror": True})

            loaded_errors = len(leader_errors)  # the direct load is not driven: compare the loads only
            step("text compared")
            await self.compare_text(lp, fp, rec, "start")
            step("live changes")
            await self.live_updates(lp, fp, rec)
            step("scrolls")
            await self.scroll(lp, fp, rec)
            step("driving")
            await self.drive(lp)
            await self.compare_text(lp, fp, rec, "end")
            step("app flow")
            if target.kind == "app":
                await self.app_flow(lp, fp, rec, "proxied")
            rec["mirror_stats"] = await fp.evaluate("() => window.tandemMirror.stats")
        except Exception as exc:  # a step that could not run fails every check not yet decided
            rec["crash"] = f"{rec.get('step')}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        finally:
            for ctx in contexts:
                try:
                    await ctx.close()
                except Exception:  # already gone with the browser: nothing left to close
                    pass
        rec["errors_direct"] = direct_errors
        rec["errors_proxied"] = leader_errors
        rec["errors_follower"] = follower_errors
        tandem_errs = [e for e in leader_errors if is_tandem(e)]
        if tandem_errs:
            rec["failures"]["tandem_errors"] = tandem_errs[:5]
        d, p = comparable_errors(direct_errors), comparable_errors(leader_errors[:loaded_errors])
        if d != p:
            rec["failures"]["error_parity"] = {"only_proxied": sorted(p - d)[:8], "only_direct": sorted(d - p)[:8]}
        if "crash" in rec:
            for check in CHECKS:
                if check in ("tandem_errors", "error_parity") or (check == "app_state" and target.kind != "app"):
                    continue
                decided = check in rec["failures"] or check in rec.get("passed", ())
                if not decided:
                    rec["failures"][check] = {"crash": rec["crash"]}
        ended = time.monotonic()
        rec["step_s"] = {name: round(end - begin, 2) for (name, begin), end in zip(marks, [t for _, t in marks[1:]] + [ended])}
        rec["seconds"] = round(ended - started, 2)
        return rec

    async def follower_link(self, body: dict) -> str:
        if "follower_url" in body:
            return body["follower_url"]
        token = await self.tandem.app[appkeys.SESSIONS].invite(body["session_id"], "follower")
        return f"{self.tandem.url}/s/{body['session_id']}/enter?t={token}"

    def passed(self, rec: dict, check: str) -> None:
        rec.setdefault("passed", []).append(check)

    # -- checks ------------------------------------------------------------------------------
    async def compare_text(self, lp, fp, rec: dict, when: str) -> None:
        """Visible words and element counts of page and mirror, compared until they agree or
        CONVERGE_S passes; done at the start and again at the end (after every change, the scrolls
        and the driving), and a check passes only when both agree."""
        deadline = time.monotonic() + CONVERGE_S
        while True:
            page_words = await lp.evaluate("() => window.__rp.words()")
            mirror_words = await fp.evaluate("() => window.__rp.words()")
            page_counts = await lp.evaluate("() => window.__rp.counts()")
            mirror_counts = await fp.evaluate("() => window.__rp.counts()")
            sim = similarity(page_words, mirror_words)
            if (sim >= SIMILARITY_MIN and page_counts == mirror_counts) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
        suffix = "" if when == "start" else f"_{when}"
        rec["similarity" + suffix] = round(sim, 5)
        rec["words" + suffix] = [len(page_words), len(mirror_words)]
        rec["counts" + suffix] = {"page": page_counts, "mirror": mirror_counts}
        if sim < SIMILARITY_MIN and "mirror_text" not in rec["failures"]:
            rec["failures"]["mirror_text"] = {"at": when, "similarity": round(sim, 5), "words": [len(page_words), len(mirror_words)],
                                              **word_diff(page_words, mirror_words)}
        if page_counts != mirror_counts and "element_counts" not in rec["failures"]:
            rec["failures"]["element_counts"] = {"at": when, "page": page_counts, "mirror": mirror_counts}
        if when == "end":
            for check in ("mirror_text", "element_counts"):
                if check not in rec["failures"]:
                    self.passed(rec, check)

    async def drive(self, lp) -> None:
        """What a person does besides reading: the pointer over the page, a window resize and back.
        The pointer ends in the corner, so no :hover state (not mirrored by design) stays behind."""
        for x, y in ((120, 120), (550, 300), (950, 620), (300, 700), (700, 160)):
            await lp.mouse.move(x, y, steps=2)
        await lp.set_viewport_size({"width": 820, "height": 600})
        await asyncio.sleep(0.3)
        await lp.set_viewport_size(LEADER_VIEWPORT)
        await lp.mouse.move(0, 0)
        await asyncio.sleep(0.3)

    async def awaited(self, lp, fp, key: str, spec: dict, change: str, arg=None) -> float | None:
        """Arm the follower's wait for ``spec``, make ``change`` on the tab owner's side (a JS function
        returning the time it acted), and return the latency in ms (None when never seen)."""
        self.probes += 1
        await fp.evaluate("([k, s, t]) => window.__rp.arm(k, s, t)", [key, spec, STEP_TIMEOUT_MS])
        if callable(change):
            t0 = await change()
        else:
            t0 = await lp.evaluate(change, arg)
        seen = await fp.evaluate("(k) => window.__rp.result(k)", key)
        return None if seen is None else round(max(seen - t0, 0.0), 1)

    async def live_updates(self, lp, fp, rec: dict) -> None:
        token = f"rp{self.probes}x{int(time.time() * 1000) % 100000}"
        missed = {}
        # a paragraph appended
        text = f"Probe paragraph {token}"
        ms = await self.awaited(lp, fp, "p", {"kind": "id-text", "id": "rp-probe-p", "text": text},
                                "(text) => { const p = document.createElement('p'); p.id = 'rp-probe-p'; p.textContent = text; "
                                "document.body.appendChild(p); return window.__rp.now(); }", text)
        rec["latency_ms"]["paragraph"] = ms
        if ms is None:
            missed["paragraph"] = await fp.evaluate("() => { const d = window.tandemMirror.doc(); const p = d && d.getElementById('rp-probe-p'); return p ? p.textContent : 'absent'; }")
        # a heading changed (one is added first where the page has none)
        tag = await lp.evaluate("() => { const h = document.querySelector('body h1, body h2, body h3'); return h ? h.localName : null; }")
        if tag is None:
            rec["notes"].append("no h1-h3: a heading was added first")
            await self.awaited(lp, fp, "h0", {"kind": "present", "sel": "#rp-probe-h"},
                               "() => { const h = document.createElement('h2'); h.id = 'rp-probe-h'; h.textContent = 'heading'; "
                               "document.body.prepend(h); return window.__rp.now(); }")
            tag = "h2"
        text = f"Probe heading {token}"
        ms = await self.awaited(lp, fp, "h", {"kind": "tag-text", "tag": tag, "text": text},
                                "(text) => { const h = document.querySelector('body h1, body h2, body h3'); h.textContent = text; return window.__rp.now(); }", text)
        rec["latency_ms"]["heading"] = ms
        if ms is None:
            missed["heading"] = f"no <{tag}> with the new text"
        # an input typed into (the page's first visible, non-secret text field, else one added)
        found = await lp.evaluate(CHOOSE_INPUT)
        if not found:
            rec["notes"].append("no visible text field: one was added")
        await self.awaited(lp, fp, "i0", {"kind": "present", "sel": "[data-rp-input]"},
                           "() => window.__rp.now()")
        value = f"typed {token}"
        await lp.evaluate("() => { const el = document.querySelector('[data-rp-input]'); "
                          "el.addEventListener('input', () => { window.__rpTyped = window.__rp.now(); }); }")

        async def type_it():
            await lp.locator("[data-rp-input]").first.fill(value, force=True, timeout=STEP_TIMEOUT_MS)
            # Some pages keep typed text out of a field they did not make (chefkoch.de: focus never
            # lands in the added field, directly as through Tandem, and no input event fires): the
            # value then changes as a page script would change it, so the mirror is still measured.
            return await lp.evaluate("""(value) => {
                const el = document.querySelector('[data-rp-input]');
                if (el.value === value) return window.__rpTyped || window.__rp.now();
                el.value = value; const t = window.__rp.now();
                el.dispatchEvent(new Event('input', {bubbles: true}));
                return -t; }""", value)

        async def typed():
            t = await type_it()
            if t < 0:
                rec["notes"].append("the page kept typed text out of the field: its value was set by script")
            return abs(t)

        ms = await self.awaited(lp, fp, "i", {"kind": "value", "sel": "[data-rp-input]", "value": value}, typed)
        rec["latency_ms"]["input"] = ms
        if ms is None:
            missed["input"] = await fp.evaluate("() => { const d = window.tandemMirror.doc(); const el = d && d.querySelector('[data-rp-input]'); return el ? 'value ' + JSON.stringify(el.value) : 'field absent'; }")
        if missed:
            rec["failures"]["live_updates"] = {"missed": missed}
        else:
            self.passed(rec, "live_updates")

    async def scroll(self, lp, fp, rec: dict) -> None:
        y = await lp.evaluate(f"""() => {{
            let max = document.scrollingElement.scrollHeight - innerHeight;
            if (max < 100) {{
                const spacer = document.createElement('div'); spacer.id = 'rp-spacer'; spacer.style.height = '2000px';
                document.body.appendChild(spacer); max = document.scrollingElement.scrollHeight - innerHeight;
            }}
            return Math.max(0, Math.min({SCROLL_TARGET}, Math.floor(max)));
        }}""")
        if await lp.evaluate("() => !!document.getElementById('rp-spacer')"):
            rec["notes"].append("page shorter than the viewport: a spacer was added to scroll")
            await self.awaited(lp, fp, "s0", {"kind": "present", "sel": "#rp-spacer"}, "() => window.__rp.now()")
        problems = {}
        for key, label in (("s", "scroll"), ("s-end", "scroll_end")):
            if key == "s-end":  # then to the very end: a mirror document shorter than the page stops early
                y_end = await lp.evaluate("() => Math.floor(document.scrollingElement.scrollHeight - innerHeight)")
                if y_end <= y + 1:
                    break
                y = y_end
            ms = await self.awaited(lp, fp, key, {"kind": "scroll", "y": y},
                                    "(y) => { window.scrollTo({top: y, left: 0, behavior: 'instant'}); return window.__rp.now(); }", y)
            rec["latency_ms"][label] = ms
            if ms is None:
                got = await fp.evaluate("() => { const d = window.tandemMirror.doc(); return d && d.defaultView ? "
                                        "[d.defaultView.scrollY, d.scrollingElement ? d.scrollingElement.scrollHeight : null, d.compatMode] : null; }")
                page = await lp.evaluate("() => [scrollY, document.scrollingElement.scrollHeight, document.compatMode]")
                if got and page and abs(page[0] - y) > 1 and abs(got[0] - page[0]) <= 1:
                    # the page moved its own scroll after ours (a sticky header, scroll anchoring): the
                    # mirror is where the page is, which is what this check asks; no latency is taken
                    rec["notes"].append(f"{label}: the page itself moved from {y} to {page[0]} px; the mirror followed")
                    continue
                problems[label] = {"page_scrollY_height_mode": page, "mirror_scrollY_height_mode": got}
        if problems:
            rec["failures"]["scroll"] = problems
        else:
            self.passed(rec, "scroll")

    # -- apps --------------------------------------------------------------------------------
    async def app_flow(self, page, fp, rec: dict, side: str) -> list:
        """Add three items, tick the second, filter, delete the first, reload; after each step the
        app's state must be the expected one and (through Tandem) the mirror's the same."""
        problems: list = []
        new = page.locator(".new-todo").first
        await new.wait_for(timeout=STEP_TIMEOUT_MS)
        await page.evaluate(PROBE_JS, {"deep": True})  # no-op where it is installed already

        async def state():
            return await page.evaluate("() => window.__rp.todo()")

        async def expect(step: str, want: dict) -> None:
            try:
                await page.wait_for_function("(want) => JSON.stringify(window.__rp.todo()) === want", arg=json.dumps(want, separators=(",", ":")),
                                             timeout=STEP_TIMEOUT_MS)
            except Exception:
                problems.append({"step": step, "side": f"{side} app", "want": want, "got": await state()})
                return
            if fp is not None:
                key = f"app-{step}"
                await fp.evaluate("([k, s, t]) => window.__rp.arm(k, s, t)", [key, {"kind": "todo", "json": json.dumps(want, separators=(",", ":"))}, STEP_TIMEOUT_MS])
                seen = await fp.evaluate("(k) => window.__rp.result(k)", key)
                if seen is None:
                    problems.append({"step": step, "side": "mirror", "want": want, "got": await fp.evaluate("() => window.__rp.todo()")})

        def items(*rows):
            return [list(r) for r in rows]

        a, b, c = ("Buy milk", False, False), ("Walk the dog", False, False), ("Write tests", False, False)
        for title in (a[0], b[0], c[0]):
            await new.fill(title, timeout=STEP_TIMEOUT_MS)
            await new.press("Enter", timeout=STEP_TIMEOUT_MS)
        await expect("add", {"items": items(a, b, c), "count": "3 items left", "filter": "All"})
        await page.locator(".todo-list li .toggle").nth(1).click(timeout=STEP_TIMEOUT_MS)
        b_done = ("Walk the dog", True, True)
        await expect("tick", {"items": items(a, b_done, c), "count": "2 items left", "filter": "All"})
        await page.locator(".filters a[href='#/active']").first.click(timeout=STEP_TIMEOUT_MS)
        await expect("filter-active", {"items": items(a, c), "count": "2 items left", "filter": "Active"})
        await page.locator(".filters a[href='#/completed']").first.click(timeout=STEP_TIMEOUT_MS)
        await expect("filter-completed", {"items": items(b_done), "count": "2 items left", "filter": "Completed"})
        await page.locator(".filters a[href='#/']").first.click(timeout=STEP_TIMEOUT_MS)
        await expect("filter-all", {"items": items(a, b_done, c), "count": "2 items left", "filter": "All"})
        first = page.locator(".todo-list li").first
        await first.hover(timeout=STEP_TIMEOUT_MS)
        await first.locator(".destroy").click(force=True, timeout=STEP_TIMEOUT_MS)
        await expect("delete", {"items": items(b_done, c), "count": "1 item left", "filter": "All"})
        await page.reload(wait_until="load")
        await page.evaluate(PROBE_JS, {"deep": True})
        if fp is not None:
            await fp.wait_for_function("() => { const d = window.tandemMirror.doc(); return d && d.querySelector('.new-todo, todo-app, todo-mvc'); }",
                                       timeout=STEP_TIMEOUT_MS)
        await expect("reload", {"items": items(b_done, c), "count": "1 item left", "filter": "All"})
        if fp is not None:
            if problems:
                rec["failures"]["app_state"] = problems
            else:
                self.passed(rec, "app_state")
        return problems


# The page's first visible text field a person could type into, marked data-rp-input; passwords,
# payment and one-time-code fields are masked by design and not chosen. Returns false (after adding
# a field at the top of the body) when the page has none.
CHOOSE_INPUT = r"""() => {
    const secret = /(cc-|password|one-time-code)/i, payment = /(card|cvc|cvv|iban)/i;
    const ok = (el) => el.getClientRects().length && !el.disabled && !el.readOnly
        && getComputedStyle(el).visibility !== 'hidden'
        && !secret.test(el.getAttribute('autocomplete') || '') && !payment.test(el.name || '');
    const fields = [...document.querySelectorAll('input:not([type]), input[type=text], input[type=search], input[type=email], input[type=url], input[type=tel], textarea')];
    const el = fields.find(ok);
    if (el) { el.setAttribute('data-rp-input', ''); return true; }
    const added = document.createElement('input'); added.setAttribute('data-rp-input', ''); added.id = 'rp-probe-input';
    document.body.prepend(added);
    return false;
}"""

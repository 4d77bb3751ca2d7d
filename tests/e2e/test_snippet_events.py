"""The snippet's pushed events in real Chromium, on the snippet demo site (viewer/snippet/demo.html).

A customer starts a session from the demo site and lands on its proxied copy; an agent joins
with the PIN, asks for control, the customer grants it in the panel. The customer's page hears
``viewer_joined`` and ``control_changed`` within a second of the server recording them, with no
polling (each lag measured: the page's clock at hearing minus the server's at recording). Then
the event stream is dropped by the server while the browser cannot reconnect (its requests fail,
as on a network cut), a real event (the customer takes control back) happens in the
gap, and when the network is back the snippet resumes with Last-Event-ID: the event arrives once,
nothing earlier is repeated. The agent ending the session reaches the page as ``session_ended``,
within a second too.
"""

from __future__ import annotations

import asyncio
import inspect
import time

import pytest

from proxy.allowlist import Entry
from tandem import appkeys, events
from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_control_flows import DESKTOP, PASSWORD, sign_in
from tests.e2e.test_sync import panel_action
from tests.harness import serve_app
from viewer.snippet.push import FEED

pytestmark = [pytest.mark.e2e, needs_chromium]

WAIT_MS = 10_000
PUSHED_WITHIN = 1.0  # seconds from the server recording an event to the customer's page hearing it


async def maybe(value):
    """Store calls are plain or awaitable (the store's async conversion): the value either way."""
    return await value if inspect.isawaitable(value) else value


async def heard(page, name: str, count: int = 1) -> list[dict]:
    """Wait until the page has heard ``name`` ``count`` times; returns those events."""
    await page.wait_for_function("([n, c]) => window.__heard.filter(e => e.name === n).length >= c", arg=[name, count],
                                 timeout=WAIT_MS)
    return await page.evaluate("(n) => window.__heard.filter(e => e.name === n)", name)


async def test_snippet_hears_events_pushed_and_misses_none_across_a_reconnect(make_tandem, tmp_path):
    from viewer.snippet.demo import DEMO_HOST, demo_site_app

    t = await make_tandem(extra_allow=(Entry(DEMO_HOST),))
    runner, origin = await serve_app(demo_site_app(t.url))
    site = origin.replace("127.0.0.1", DEMO_HOST)
    await maybe(t.app[appkeys.STORE].create_agent("ann", "Ann Agent", PASSWORD))
    recorded: dict[str, list[float]] = {}  # audit kind -> server times it was recorded
    t.app[events.LISTENERS].append(lambda kind, sid: recorded.setdefault(kind, []).append(time.time()))
    requests: list[tuple[str, dict]] = []
    try:
        async with chromium() as browser:
            ctx = await browser.new_context(viewport=DESKTOP)
            page = await ctx.new_page()
            page.on("request", lambda r: requests.append((r.url, r.headers)) if "/snippet/v1/" in r.url else None)
            await page.goto(site + "/")
            await page.click("#start")
            await page.wait_for_url(lambda u: ".tandem.localhost:" in u)
            # the page records when each event reaches it (wall clock, as the server's)
            await page.evaluate("""() => { window.__heard = [];
                for (const n of ['viewer_joined', 'control_changed', 'session_ended'])
                    Tandem('on', n, (d) => window.__heard.push({name: n, at: Date.now() / 1000, data: d})); }""")
            sid = await page.evaluate("location.hostname.split('-')[0]")
            for _ in range(200):
                if t.app[FEED].count(sid=sid):
                    break
                await asyncio.sleep(0.05)
            assert t.app[FEED].count(sid=sid) == 1, "the snippet on the proxied page opened no event stream"
            await page.click("#pin")
            await page.wait_for_function("document.getElementById('out').textContent.includes('\"pin\"')", timeout=WAIT_MS)
            pin = (await page.inner_text("#out")).split('"pin":"')[1][:6]

            # the agent joins with the PIN: viewer_joined, pushed
            agent_ctx = await browser.new_context(viewport=DESKTOP)
            agent = await agent_ctx.new_page()
            await sign_in(agent, t, "ann")
            await agent.fill("#agent-pin", pin)
            await agent.click("form[action='/console/join-pin'] button")
            [joined] = await heard(page, "viewer_joined")
            assert joined["data"]["session_id"] == sid and joined["data"]["name"] == "Ann Agent"
            lag_join = joined["at"] - recorded["participant.joined"][-1]

            # the agent asks for control on the session page, the customer grants it in the panel
            await agent.wait_for_url(f"{t.url}/s/{sid}", timeout=WAIT_MS)
            await agent.click("text=Request control")
            await panel_action(page, "Grant")
            [granted] = await heard(page, "control_changed")
            assert granted["data"]["control"]["to_name"] == "Ann Agent"
            lag_control = granted["at"] - recorded["control.changed"][-1]
            print(f"pushed: viewer_joined {lag_join * 1000:.0f} ms, control_changed {lag_control * 1000:.0f} ms after the server recorded them")
            assert lag_join < PUSHED_WITHIN and lag_control < PUSHED_WITHIN

            # the network goes: the browser's event requests fail; the server drops the open stream
            failed: list[str] = []

            async def cut(route):
                failed.append(route.request.url)
                await route.abort("connectionfailed")

            await ctx.route("**/snippet/v1/visitors/*/events", cut)
            assert t.app[FEED].drop(sid) == 1
            for _ in range(200):
                if not t.app[FEED].count(sid=sid) and failed:
                    break
                await asyncio.sleep(0.05)
            assert t.app[FEED].count(sid=sid) == 0 and failed, "the snippet did not try to reconnect"
            # a real event in the gap: the customer takes control back
            before = len(recorded["control.changed"])
            await panel_action(page, "Take back")
            for _ in range(200):
                if len(recorded["control.changed"]) > before:
                    break
                await asyncio.sleep(0.05)
            assert len(recorded["control.changed"]) > before and t.app[FEED].count(sid=sid) == 0  # nobody listening
            await asyncio.sleep(0.5)
            assert len(await page.evaluate("window.__heard")) == 2  # not heard yet: the stream is down
            for _ in range(200):  # it keeps trying, backing off
                if len(failed) >= 2:
                    break
                await asyncio.sleep(0.05)
            assert len(failed) >= 2
            # the network is back: the snippet reconnects (backoff) and resumes after the last id it had
            await ctx.unroute("**/snippet/v1/visitors/*/events", cut)
            taken = await heard(page, "control_changed", 2)
            assert taken[1]["data"]["control"]["to"] is None
            resumed = [h for u, h in requests if u.endswith("/events") and h.get("last-event-id")]
            assert resumed and resumed[-1]["last-event-id"].startswith(sid + "."), resumed

            # the session is ended (through the API): session_ended, once
            r = await t.api("DELETE", f"/api/v1/sessions/{sid}")
            assert r.status == 200, await r.text()
            [end] = await heard(page, "session_ended")
            assert end["data"] == {"session_id": sid}
            lag_end = end["at"] - recorded["session.ended"][-1]
            print(f"pushed: session_ended {lag_end * 1000:.0f} ms after the server recorded it")
            assert lag_end < PUSHED_WITHIN
            await asyncio.sleep(0.5)
            names = [e["name"] for e in await page.evaluate("window.__heard")]
            assert names == ["viewer_joined", "control_changed", "control_changed", "session_ended"]  # nothing twice
            assert "session_ended" in await page.inner_text("#log")  # the demo page's own listener too
            # no polling anywhere: the only snippet calls were the PIN and event streams
            assert not [u for u, _ in requests if u.endswith("/state")]
            await page.screenshot(path=str(tmp_path / "snippet-events.png"))
    finally:
        await runner.cleanup()

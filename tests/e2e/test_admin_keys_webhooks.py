"""The admin pages for API keys (scopes, rate limits) and webhooks, in real Chromium, end to end.

* API keys: the page says the rate limits in force and who reads ``/metrics``; an administrator
  creates a key ticking its scopes, the key is shown once, the API holds it to those scopes (403
  ``insufficient_scope`` JSON), the scopes are changed on the page and the API follows at once;
  past the key's limit the API answers 429 JSON with the RateLimit fields.
* Webhooks: real browsers make the room's events (a follower asks for control and the tab owner
  grants it in the panel, hands the tab over, leaves); the hook hears ``control.changed``,
  ``leader.changed`` and ``participant.left`` signed, in ``sequence`` order; the receiver breaks, the
  hook fails for the whole window and is switched off; **Admin → Webhooks** says so and shows the
  delivery log; "Switch on again" and "Send again" (same delivery id) work from the page; the audit
  log page lists the same kinds.

Each page is checked for labels, names and a focus ring and for sideways scrolling at 360 px; with
``TANDEM_SHOTS=DIR`` the screenshots at 1280 and 360 px are kept there.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import time

import pytest
from aiohttp import web

from proxy.allowlist import Entry
from tandem import appkeys
from tandem.events import verify
from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_control_flows import DESKTOP, PASSWORD, sign_in
from tests.e2e.test_sso import shoot
from tests.e2e.test_sync import WAIT_MS, demo, follower_page, leader_page, panel_action  # noqa: F401 - demo is a fixture

pytestmark = [pytest.mark.e2e, needs_chromium]


async def admin_page(browser, t):
    await t.app[appkeys.STORE].create_agent("root", "Root Admin", PASSWORD, is_admin=True)
    ctx = await browser.new_context(viewport=DESKTOP)
    page = await ctx.new_page()
    await sign_in(page, t, "root")
    return page


async def shoot_admin(page, name: str) -> None:
    """``shoot`` (labels, focus ring, no sideways scrolling, screenshots at 1280 and 360 px), and at
    360 px every table cell in sight: none cut off or hidden to the side inside its table."""
    await shoot(page, name)
    await page.set_viewport_size({"width": 360, "height": 900})
    hidden = await page.evaluate("""() => [...document.querySelectorAll('.table td')]
        .filter(td => td.textContent.trim() || td.querySelector('button'))
        .filter(td => { const r = td.getBoundingClientRect(); return r.width <= 0 || r.left < 0 || r.right > innerWidth + 0.5; })
        .map(td => td.textContent.trim().slice(0, 40))""")
    await page.set_viewport_size(DESKTOP)
    assert not hidden, f"{name}: table cells out of sight at 360 px: {hidden}"


async def api(t, method: str, path: str, key: str, **kw):
    r = await t.client.request(method, t.url + "/api/v1" + path, headers={"Authorization": f"Bearer {key}"}, **kw)
    return r, await r.json()


async def test_keys_page_chooses_and_changes_scopes_and_shows_the_rate_limits(make_tandem):
    t = await make_tandem(api_rate_per_key=6, api_rate_per_address=0, metrics_token="scrape-token-0123456789")
    async with chromium() as browser:
        page = await admin_page(browser, t)
        await page.goto(t.url + "/admin/keys")
        text = await page.inner_text("main")
        assert "6 requests a minute with one key" in text and "no limit from one address" in text
        assert "GET /metrics (Prometheus text format) is read with a key holding the admin scope" in text
        assert "TANDEM_METRICS_TOKEN, set" in text and "scrape-token" not in await page.content()
        create = page.locator('form[action="/admin/keys"]')
        # the default is the session scopes; this key only reads
        assert await create.locator('input[name="scope-sessions:write"]').is_checked()
        assert not await create.locator('input[name="scope-admin"]').is_checked()
        await page.fill("#kname", "Dashboard")
        await create.locator('input[name="scope-sessions:write"]').press("Space")  # keyboard: untick
        await page.fill("#hook", "https://hooks.example/tandem")
        await create.get_by_role("button", name="Create key").click()
        await page.wait_for_selector("#newkey")
        key = await page.input_value("#newkey")
        assert "(sessions:read)" in await page.inner_text("main")
        await shoot_admin(page, "admin-keys-created")

        # the API holds the key to its scope
        r, body = await api(t, "GET", "/sessions", key)
        assert r.status == 200
        r, body = await api(t, "POST", "/sessions", key, json={"url": "http://127.0.0.1:9/"})
        assert r.status == 403 and body["error"]["code"] == "insufficient_scope" and "sessions:write" in body["error"]["message"]

        # the page lists it with its scope; change them there
        await page.goto(t.url + "/admin/keys")
        row = page.locator("tr", has_text="Dashboard")
        assert (await row.locator("td").nth(2).inner_text()).startswith("sessions:read")
        await row.get_by_label("Change the scopes of key Dashboard").click()
        await row.locator('input[name="scope-sessions:write"]').check()
        await shoot_admin(page, "admin-keys-change-scopes")
        await row.get_by_role("button", name="Save scopes").click()
        await page.wait_for_url(re.compile(r"/admin/keys\?ok="), timeout=WAIT_MS)
        assert "Dashboard now has: sessions:read, sessions:write" in await page.inner_text("main")
        r, body = await api(t, "POST", "/sessions", key, json={"url": "http://127.0.0.1:9/"})
        assert r.status == 201, body

        # the key's quota (6 a minute): the next calls run it out, then 429 JSON with the fields
        while True:
            r, body = await api(t, "GET", "/sessions", key)
            if r.status != 200:
                break
            assert int(r.headers["RateLimit-Remaining"]) >= 0
        assert r.status == 429 and body["error"]["code"] == "rate_limited"
        assert r.headers["RateLimit-Limit"] == "6" and r.headers["RateLimit-Remaining"] == "0"
        assert 0 < int(r.headers["RateLimit-Reset"]) <= 60 and int(r.headers["Retry-After"]) > 0
        # another key is not held back by it
        r, _ = await api(t, "GET", "/sessions", t.settings.admin_key)
        assert r.status == 200


def hook_receiver():
    got: list[dict] = []
    state = {"fail": False}

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        if state["fail"]:
            return web.Response(status=500)
        got.append({"headers": dict(request.headers), "body": body, "json": json.loads(body)})
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    return app, got, state


async def until(pred, what: str, timeout: float = 10.0):
    """Wait until ``pred()`` (a value or an awaitable) is true."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.05)


async def test_room_events_from_real_browsers_reach_the_hook_and_the_webhooks_page(make_tandem, upstream, demo):  # noqa: F811
    app, got, state = hook_receiver()
    origin = await upstream(app)
    t = await make_tandem(extra_allow=tuple(Entry(h) for h in demo.hosts))
    hooks = t.app[appkeys.WEBHOOKS]
    hooks.backoff = ()  # one attempt per delivery
    r = await t.api("POST", "/api/v1/keys", json={"name": "CRM", "webhook_url": origin + "/hook"})
    created = await r.json()
    key, secret = created["key"], created["webhook_secret"]
    r = await t.api("POST", "/api/v1/sessions", json={"url": demo.shop + "/"}, headers={"Authorization": f"Bearer {key}"})
    body = await r.json()
    assert r.status == 201, body
    sid = body["session_id"]

    def kinds():
        return [g["json"]["type"] for g in got]

    async with chromium() as browser:
        lctx, lp = await leader_page(browser, body)
        fctx, fp = await follower_page(browser, t, body)
        await fp.click("text=Request control")
        await panel_action(lp, "Grant")
        await until(lambda: "control.changed" in kinds(), "control.changed delivered")
        # the tab owner hands the tab over; the follower's browser becomes the tab owner
        await panel_action(lp, "Make tab owner")
        await until(lambda: "leader.changed" in kinds(), "leader.changed delivered")
        await lp.wait_for_url(f"{t.url}/s/{sid}", timeout=WAIT_MS)
        # the receiver breaks: every attempt fails from now on, for the whole window (a day; here 0.3 s)
        hooks.failure_window = 0.3
        state["fail"] = True
        await lp.get_by_role("button", name="Leave").click()  # participant.left: a failure
        log = hooks.log_for(t.app[appkeys.STORE])

        async def attempted(kind):
            return any(a.kind == kind and a.status == 500 for a in await log.attempts())

        await until(lambda: attempted("participant.left"), "participant.left attempted")
        await asyncio.sleep(0.4)
        r = await t.api("DELETE", f"/api/v1/sessions/{sid}", headers={"Authorization": f"Bearer {key}"})
        assert r.status == 200

        async def switched_off():
            return (await log.state(created["id"])).disabled_at is not None

        await until(switched_off, "the hook switched off after failing for the whole window")

        # what arrived: signed, from the browsers' room, in sequence order
        for g in got:
            assert verify(secret, g["headers"]["Tandem-Signature"], g["body"])
            assert g["json"]["data"]["session_id"] == sid
        seqs = [g["json"]["sequence"] for g in got]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
        by_kind = {g["json"]["type"]: g["json"] for g in got}
        assert any(g["json"]["type"] == "control.changed" and g["json"]["data"]["to_name"] for g in got)  # the grant
        assert by_kind["leader.changed"]["data"]["to"] and by_kind["leader.changed"]["data"]["to_name"]

        # the administrator's view
        page = await admin_page(browser, t)
        await page.goto(t.url + "/admin/webhooks")
        text = await page.inner_text("main")
        assert "Switched off" in text and "HTTP 500" in text and "HTTP 204" in text
        assert re.search(r"\d+ ms", text)
        for kind in ("participant.left", "control.changed", "leader.changed"):
            assert kind in text, kind
        await shoot_admin(page, "admin-webhooks-switched-off")

        # fixed: switch on, send the failed participant.left again from the page
        state["fail"] = False
        await page.get_by_role("button", name="Switch on the webhook of CRM").click()
        await page.wait_for_url(re.compile(r"/admin/webhooks\?ok="), timeout=WAIT_MS)
        assert "Switched off" not in await page.inner_text("main")
        left = next(a for a in await log.attempts() if a.kind == "participant.left")
        await page.get_by_role("button", name=f"Send participant.left {left.delivery} again").click()
        await page.wait_for_url(re.compile(r"/admin/webhooks\?ok="), timeout=WAIT_MS)
        await until(lambda: "participant.left" in kinds(), "participant.left sent again")
        again = next(g for g in got if g["json"]["type"] == "participant.left")
        assert again["headers"]["Tandem-Delivery"] == left.delivery
        assert verify(secret, again["headers"]["Tandem-Signature"], again["body"])
        assert again["json"]["sequence"] > by_kind["leader.changed"]["sequence"]

        async def logged_204():
            newest = (await log.attempts())[0]
            return newest.delivery == left.delivery and newest.status == 204

        await until(logged_204, "the attempt sent again is logged")
        await page.reload()
        newest = page.locator("tbody tr").first
        assert "participant.left" in await newest.inner_text() and "HTTP 204" in await newest.inner_text()
        await shoot_admin(page, "admin-webhooks-sent-again")

        # the switch-off and the switch-on are in the audit log
        await page.goto(t.url + "/admin/audit?kind=webhook.disabled")
        assert f"key_id: {created['id']}" in await page.inner_text("tbody")
        await page.goto(t.url + "/admin/audit?kind=webhook.enabled")
        assert "root" in await page.inner_text("tbody")
        # the audit log page lists the room's kinds for the session
        for kind in ("control.changed", "leader.changed", "participant.left"):
            await page.goto(t.url + f"/admin/audit?kind={kind}")
            assert sid in await page.inner_text("tbody"), kind
        await shoot_admin(page, "admin-audit-room-events")

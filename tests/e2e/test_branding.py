"""Branding that does what the API promises, in real Chromium: naked (the mirror alone), no_bottom_bar
(the tab owner's bar unseen, the session still live), retry_url (offered to whoever cannot join),
on_end_url (every participant sent there at the end; never a Tandem address)."""

from __future__ import annotations

import os
import re

import pytest
from aiohttp import web

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_sync import panel

pytestmark = [pytest.mark.e2e, needs_chromium]

WAIT_MS = 10_000
SHOTS = os.environ.get("TANDEM_SHOTS")  # a directory: screenshots of the changed pages at 1280 and 360 px


def shop():
    async def home(request):
        return web.Response(text="<!doctype html><html><head><title>Shop</title></head><body style='margin:0'>"
                                 "<h1 id=hello>Hello from the shop</h1><p>Some text.</p></body></html>",
                            content_type="text/html")

    app = web.Application()
    app.router.add_get("/", home)
    return app


def crm():
    async def landing(request):
        return web.Response(text=f"<!doctype html><title>CRM</title><h1 id=crm>{request.path}</h1>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", landing)
    return app


async def start(make_tandem, upstream, branding: dict):
    origin = await upstream(shop())
    t = await make_tandem()
    r = await t.api("POST", "/api/v1/sessions", json={"url": origin + "/", "branding": branding})
    body = await r.json()
    assert r.status == 201, body
    stored = (await (await t.api("GET", f"/api/v1/sessions/{body['session_id']}")).json())["branding"]
    assert stored | branding == stored
    return t, body


async def follower(browser, t, body, width=1280, height=800):
    ctx = await browser.new_context(viewport={"width": width, "height": height})
    page = await ctx.new_page()
    await page.goto(body["follower_url"])
    await page.wait_for_function("() => window.tandemMirror && window.tandemMirror.stats.applied > 0", timeout=WAIT_MS)
    return ctx, page


async def leader(browser, body, width=1280, height=800):
    ctx = await browser.new_context(viewport={"width": width, "height": height})
    page = await ctx.new_page()
    await page.goto(body["leader_url"])
    frame = await panel(page)
    return ctx, page, frame


async def shot(page, name):
    if SHOTS:
        await page.screenshot(path=os.path.join(SHOTS, name), full_page=False)


async def test_naked_shows_the_mirror_without_tandem_chrome(make_tandem, upstream):
    t, body = await start(make_tandem, upstream, {"naked": True})
    _, plain = await start(make_tandem, upstream, {})
    async with chromium() as browser:
        await leader(browser, body)
        for width in (1280, 360):
            _, page = await follower(browser, t, body, width=width)
            assert not await page.locator("header.bar").is_visible()
            assert not await page.locator("aside.side").is_visible()
            assert await page.locator(".framebox").is_visible()
            box = await page.locator(".stage").bounding_box()
            assert box["y"] == 0 and box["width"] == width  # the mirror takes the whole page
            await shot(page, f"naked-{width}.png")
        # without naked: the chrome is there
        await leader(browser, plain)
        ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await ctx.new_page()
        await page.goto(plain["follower_url"])
        await page.wait_for_function("() => window.tandemMirror && window.tandemMirror.stats.applied > 0", timeout=WAIT_MS)
        assert await page.locator("header.bar").is_visible()


async def test_no_bottom_bar_hides_the_tab_owners_bar_and_the_session_goes_on(make_tandem, upstream):
    t, body = await start(make_tandem, upstream, {"no_bottom_bar": True})
    _, plain = await start(make_tandem, upstream, {})
    async with chromium() as browser:
        _, page, frame = await leader(browser, body)  # the leader link is single-use: one tab, two widths
        iframe = await frame.frame_element()
        for width in (1280, 360):
            await page.set_viewport_size({"width": width, "height": 800})
            await page.wait_for_function("(f) => getComputedStyle(f).display === 'none'", arg=iframe, timeout=WAIT_MS)
            assert not await iframe.is_visible()
            await shot(page, f"no-bottom-bar-{width}.png")
        # the unseen panel still streams: a follower sees the page
        _, fpage = await follower(browser, t, body)
        await fpage.wait_for_function(
            "() => (window.tandemMirror.doc().querySelector('#hello') || {}).textContent === 'Hello from the shop'",
            timeout=WAIT_MS)
        # without it: the bar is shown
        _, page, frame = await leader(browser, plain)
        iframe = await frame.frame_element()
        await page.wait_for_function("(f) => f.getBoundingClientRect().height >= 40", arg=iframe, timeout=WAIT_MS)
        assert await iframe.is_visible()


async def test_retry_url_is_offered_to_whoever_cannot_join(make_tandem, upstream):
    back = await upstream(crm())
    t, body = await start(make_tandem, upstream, {"retry_url": back + "/retry"})
    async with chromium() as browser:
        for width in (1280, 360):
            ctx = await browser.new_context(viewport={"width": width, "height": 800})
            page = await ctx.new_page()
            resp = await page.goto(f"{t.url}/s/{body['session_id']}/enter?t=not-a-token")
            assert resp.status == 403
            link = page.get_by_role("link", name="Try again")
            assert await link.get_attribute("href") == back + "/retry"
            await shot(page, f"retry-{width}.png")
        await link.click()
        await page.wait_for_url(back + "/retry")
        assert await page.locator("#crm").text_content() == "/retry"
        # someone who is not a participant, on the session page itself
        page = await (await browser.new_context()).new_page()
        resp = await page.goto(f"{t.url}/s/{body['session_id']}")
        assert resp.status == 403 and await page.get_by_role("link", name="Try again").get_attribute("href") == back + "/retry"


async def test_on_end_url_sends_every_participant_there(make_tandem, upstream):
    back = await upstream(crm())
    t, body = await start(make_tandem, upstream, {"on_end_url": back + "/thanks"})
    async with chromium() as browser:
        _, lpage, _frame = await leader(browser, body)
        _, fpage = await follower(browser, t, body)
        r = await t.api("DELETE", f"/api/v1/sessions/{body['session_id']}")
        assert r.status == 200
        await lpage.wait_for_url(back + "/thanks", timeout=WAIT_MS)
        await fpage.wait_for_url(back + "/thanks", timeout=WAIT_MS)
        assert await lpage.locator("#crm").text_content() == "/thanks"
        # coming back later to the session page: sent there too
        await fpage.goto(f"{t.url}/s/{body['session_id']}")
        await fpage.wait_for_url(back + "/thanks")


async def test_end_and_retry_urls_must_leave_tandem(make_tandem):
    t = await make_tandem()
    host = t.base.hostname
    for field in ("on_end_url", "retry_url"):
        for bad in (f"{t.url}/console", f"http://x--y.{t.base.domain}/", f"https://{host}/", "javascript:alert(1)",
                    "ftp://example.com/"):
            r = await t.api("POST", "/api/v1/sessions", json={"url": "http://127.0.0.1:9/", "branding": {field: bad}})
            err = (await r.json())["error"]
            assert r.status == 422 and err["code"] == "invalid_body" and re.search(field, err["message"]), (bad, err)
        r = await t.api("POST", "/api/v1/sessions", json={"url": "http://127.0.0.1:9/", "branding": {field: "https://example.com/x"}})
        assert r.status == 201

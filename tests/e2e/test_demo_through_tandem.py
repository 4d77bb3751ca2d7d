"""The demo site co-browsed through Tandem in real Chromium: every page, login, cart, API,
WebSocket, cross-origin iframe and CDN — and not one request outside *.BASE."""

import pytest

from demosite import start_demo
from proxy.allowlist import Entry
from tests.e2e.browser import RequestLog, chromium, needs_chromium

pytestmark = [pytest.mark.e2e, needs_chromium]


@pytest.fixture
async def demo():
    site = await start_demo("127.0.0.1")
    yield site
    await site.close()


async def test_demo_site_through_tandem(make_tandem, demo, tmp_path):
    from playwright.async_api import expect

    t = await make_tandem(extra_allow=tuple(Entry(h) for h in demo.hosts))
    s = await t.session(demo.shop + "/", enter=False)
    shop = s.url(demo.shop)

    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        log = RequestLog(context)
        page = await context.new_page()
        await page.goto(s.leader_url)
        assert page.url == shop + "/"
        await expect(page.locator("#js-status")).to_have_text("JavaScript on")
        # stylesheet (with @import) and images come from the proxied CDN and render
        assert await page.evaluate("getComputedStyle(document.body).getPropertyValue('--brand').trim()") == "#4f46e5"
        assert await page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
        # the page sees its own (upstream) image URLs; the request log below proves they came through Tandem
        assert await page.evaluate("[...document.images].every(i => i.currentSrc.startsWith('http://cdn.localhost:'))")
        assert any(".tandem.localhost:" in u and "-cdn-localhost." in u for u in log.urls)
        await page.screenshot(path=str(tmp_path / "home-through-tandem.png"), full_page=True)

        # products list -> product page -> add to cart (POST, 303, GET)
        await page.click("nav >> text=Products")
        await page.wait_for_url(shop + "/products")
        await page.click("a[href$='/products/2'] >> nth=0")
        await page.wait_for_url(shop + "/products/2")
        await page.fill("#quantity", "2")
        await page.click(".add-form button[type=submit]")
        await page.wait_for_url(shop + "/cart")
        await expect(page.locator('tr[data-product-id="2"] .qty-cell')).to_have_text("2")
        await expect(page.locator("#cart-count")).to_have_text("2")
        assert demo.stats.count(demo.shop, "POST", "/cart/add") == 1

        # login: HttpOnly session cookie in the server jar, JS-readable cookie through the runtime
        await page.click("#nav-login")
        await page.fill("#username", "demo")
        await page.fill("#password", "demo123")
        await page.click("#login-form button[type=submit]")
        await page.wait_for_url(shop + "/account")
        await expect(page.locator("#signed-in")).to_contain_text("Signed in as demo")
        await expect(page.locator("#js-cookie-user")).to_have_text("demo")
        browser_cookies = {c["name"] for c in await context.cookies()}
        assert "demo_session" not in browser_cookies and "demo_user" not in browser_cookies
        assert await page.evaluate("document.cookie") == "demo_user=demo"

        # fetch() JSON API and a POST with JSON
        await page.click("a[href='/api-demo'] >> nth=0")
        await expect(page.locator("#api-result li")).to_have_count(6)
        await page.fill("#api-q", "tea")
        await page.click("#api-search button")
        await expect(page.locator("#api-result li")).to_have_count(1)
        await page.click("#echo-btn")
        await expect(page.locator("#echo-result")).to_contain_text('"demo_session"')
        await expect(page.locator("#echo-result")).to_contain_text(demo.shop)  # upstream saw its own Origin

        # the WebSocket widget, relayed
        await page.click("a[href='/chat'] >> nth=0")
        await expect(page.locator("#chat-status")).to_have_text("Connected (demo-chat)")
        await expect(page.locator("#chat-log")).to_contain_text("welcome")
        await page.fill("#chat-input", "hello through tandem")
        await page.click("#chat-send")
        await expect(page.locator("#chat-log")).to_contain_text("echo: hello through tandem")

        # the iframe from the second origin, itself proxied, with its own fetch POST
        await page.click("a[href$='/about'] >> nth=0")
        widget = page.frame_locator("#widget-frame")
        await widget.locator("#count-btn").click()
        await expect(widget.locator("#count-value")).to_have_text("1")
        assert demo.stats.count(demo.widgets, "POST", "/api/count") == 1
        frame_src = await page.get_attribute("#widget-frame", "src")
        assert frame_src.startswith(s.url(demo.widgets))
        # its target=_top link brings the whole tab back to the proxied shop
        await widget.locator("#widget-shop-link").click()
        await page.wait_for_url(shop + "/products")

        # a redirect chain ending in an absolute URL stays inside the proxy
        await page.goto(shop + "/redirect-chain")
        assert page.url == shop + "/products"

        leaks = log.leaks(t.base.hostname)
        assert not leaks, f"requests escaped the proxy: {leaks}"
        assert len(log.urls) > 30  # the log really saw the session's traffic
        await context.close()


async def test_block_page_for_off_list_site(make_tandem, demo):
    from playwright.async_api import expect

    t = await make_tandem(extra_allow=(Entry("shop.localhost"),))
    s = await t.session(demo.shop + "/", enter=False)
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(s.leader_url)
        response = await page.goto(s.url(demo.widgets + "/widget"))
        assert response.status == 403
        await expect(page.locator("h1")).to_have_text("This site is not available for co-browsing")


async def test_landing_button_starts_a_demo_session(make_tandem, demo):
    """Regression: the landing page's CSP form-action once blocked the redirect to the proxied shop."""
    from playwright.async_api import expect

    t = await make_tandem(extra_allow=tuple(Entry(h) for h in demo.hosts), demo_start=demo.shop + "/")
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(t.url + "/")
        await page.click("text=Start a demo session")
        await expect(page.locator("#js-status")).to_have_text("JavaScript on")
        host = page.url.split("/")[2]
        assert host.endswith("-shop-localhost." + t.base.domain)

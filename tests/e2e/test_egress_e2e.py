"""The demo site in real Chromium, through Tandem, through a real forward proxy (mitmdump):
pages, CDN assets, a form POST, login, the WebSocket chat and the cross-origin iframe all reach
the origins via the proxy (its own flow log says so), and not one browser request leaves *.BASE."""

import pytest

from demosite import start_demo
from proxy.allowlist import Entry
from proxy.egress import config_from_flag
from tests.e2e.browser import RequestLog, chromium, needs_chromium
from tests.proxy.mitm_proxy import MitmProxy, needs_mitmdump

pytestmark = [pytest.mark.e2e, needs_chromium, needs_mitmdump]


@pytest.fixture
async def demo():
    site = await start_demo("127.0.0.1")
    yield site
    await site.close()


@pytest.fixture
def mitm(tmp_path):
    p = MitmProxy(tmp_path / "mitm").start()
    yield p
    p.stop()


async def test_demo_site_through_tandem_through_a_corporate_proxy(make_tandem, demo, mitm, tmp_path):
    from playwright.async_api import expect

    t = await make_tandem(extra_allow=tuple(Entry(h) for h in demo.hosts), egress=config_from_flag(mitm.url))
    s = await t.session(demo.shop + "/", enter=False)
    shop = s.url(demo.shop)

    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        log = RequestLog(context)
        page = await context.new_page()
        images = []  # (status, url) of every image response: delivered through both proxies
        # (the entry hand-off's redirects on a host's first load are not image responses)
        page.on("response", lambda r: images.append((r.status, r.url))
                if r.request.resource_type == "image" and not 300 <= r.status < 400 else None)
        await page.goto(s.leader_url)
        assert page.url == shop + "/"
        await expect(page.locator("#js-status")).to_have_text("JavaScript on")
        assert await page.evaluate("getComputedStyle(document.body).getPropertyValue('--brand').trim()") == "#4f46e5"
        await page.wait_for_load_state("load")
        assert len(images) >= 5 and all(status == 200 for status, _ in images), images
        await page.screenshot(path=str(tmp_path / "home-through-proxy.png"), full_page=True)

        await page.click("nav >> text=Products")
        await page.wait_for_url(shop + "/products")
        await page.click("a[href$='/products/2'] >> nth=0")
        await page.wait_for_url(shop + "/products/2")
        await page.fill("#quantity", "2")
        await page.click(".add-form button[type=submit]")
        await page.wait_for_url(shop + "/cart")
        await expect(page.locator("#cart-count")).to_have_text("2")

        await page.click("#nav-login")
        await page.fill("#username", "demo")
        await page.fill("#password", "demo123")
        await page.click("#login-form button[type=submit]")
        await page.wait_for_url(shop + "/account")
        await expect(page.locator("#signed-in")).to_contain_text("Signed in as demo")

        await page.click("a[href='/chat'] >> nth=0")
        await expect(page.locator("#chat-status")).to_have_text("Connected (demo-chat)")
        await page.fill("#chat-input", "hello through the corporate proxy")
        await page.click("#chat-send")
        await expect(page.locator("#chat-log")).to_contain_text("echo: hello through the corporate proxy")

        await page.click("a[href$='/about'] >> nth=0")
        widget = page.frame_locator("#widget-frame")
        await widget.locator("#count-btn").click()
        await expect(widget.locator("#count-value")).to_have_text("1")

        leaks = log.leaks(t.base.hostname)
        assert not leaks, f"requests escaped the proxy: {leaks}"
        await context.close()

    flows = mitm.records()
    urls = [(rec.get("method"), rec["url"]) for rec in flows if rec["event"] == "response"]
    for origin in (demo.shop, demo.cdn, demo.widgets):
        assert any(url.startswith(origin + "/") for _, url in urls), f"nothing from {origin} went through the proxy"
    assert ("POST", demo.shop + "/cart/add") in urls
    assert ("POST", demo.shop + "/login") in urls or any(m == "POST" and "/login" in u for m, u in urls)
    assert ("POST", demo.widgets + "/api/count") in urls
    assert any(rec["event"] == "ws_message" and rec["text"] and "hello through the corporate proxy" in rec["text"] for rec in flows)
    assert demo.stats.count(demo.shop, "POST", "/cart/add") == 1


async def test_proxy_errors_reach_people_as_clear_pages(make_tandem, demo, tmp_path):
    from playwright.async_api import expect

    from tests.harness import free_socket

    sock = free_socket()
    dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()  # the proxy is down
    t = await make_tandem(extra_allow=tuple(Entry(h) for h in demo.hosts), egress=config_from_flag(dead))
    s = await t.session(demo.shop + "/", enter=False)
    async with chromium() as browser:
        page = await browser.new_page()
        response = await page.goto(s.leader_url)
        assert response.status == 502
        await expect(page.locator("h1")).to_have_text("Tandem's outbound proxy could not be reached")
        await expect(page.locator("body")).to_contain_text(dead.split("//")[1])
        await expect(page.locator("body")).to_contain_text("proxy_unreachable")
        await page.screenshot(path=str(tmp_path / "proxy-down.png"))

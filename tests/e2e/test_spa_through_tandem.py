"""The demo shop's single-page app (React) co-browsed through Tandem in real Chromium.

The app routes with pushState, fetches JSON from an absolute URL it builds at run time,
renders CDN images named in that JSON, lazy-loads a chunk with import() and registers a
service worker. Through Tandem all of it must work and the browser must not send one
request past the proxy: besides the request log, the demo hosts' names resolve to a trap
in this browser, so even a service worker's request that Playwright doesn't report would
be caught.
"""

import pytest

from demosite import start_demo
from proxy.allowlist import Entry
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, RequestLog, needs_chromium
from tests.e2e.probes.runner import Trap
from tests.harness import serve_app

pytestmark = [pytest.mark.e2e, needs_chromium]


@pytest.fixture
async def demo():
    site = await start_demo("127.0.0.1")
    yield site
    await site.close()


async def _drive(page, shop: str, upstream_shop: str, tmp_path, name: str) -> None:
    """The same walk through the app, whichever way the shop is reached."""
    from playwright.async_api import expect

    await page.click("nav >> text=App")
    await page.wait_for_url(shop + "/spa/")
    await expect(page.locator("#spa-products li")).to_have_count(6)
    await page.wait_for_function("[...document.querySelectorAll('#spa-products img')].every(i => i.complete && i.naturalWidth > 0)")
    await page.screenshot(path=str(tmp_path / f"spa-{name}.png"), full_page=True)
    await page.evaluate("window.__stayed = true")

    # pushState routes: no page load (the marker survives), the URL follows
    await page.click("#spa-products li[data-product-id='2'] a")
    await expect(page.locator("#spa-product h1")).to_have_text("Linen Tote")
    assert page.url == shop + "/spa/products/2"
    await expect(page.locator("#spa-route")).to_have_text("/spa/products/2")
    await page.click("#spa-about-link")
    await expect(page.locator("#spa-lazy")).to_have_text("This part of the app was loaded on demand.")
    await page.go_back()
    await expect(page.locator("#spa-product h1")).to_have_text("Linen Tote")
    assert await page.evaluate("window.__stayed === true")

    # the service worker installs, activates, and controls the app after a reload
    await expect(page.locator("#spa-sw-status")).to_contain_text("activated", timeout=10_000)
    await page.reload()
    await expect(page.locator("#spa-sw-status")).to_contain_text("controlling this page", timeout=10_000)
    await expect(page.locator("#spa-product h1")).to_have_text("Linen Tote")
    status = await page.evaluate("""() => new Promise((resolve) => {
        navigator.serviceWorker.addEventListener("message", (e) => resolve(e.data), { once: true });
        navigator.serviceWorker.controller.postMessage("status");
    })""")
    # the worker sees the site's own URLs (its scope, the URLs it cached)
    assert status["scope"] == upstream_shop + "/spa/"
    assert upstream_shop + "/spa/" in status["cached"] and upstream_shop + "/spa/assets/app.js" in status["cached"]
    # the app shell answers deep links (client-side routes survive a reload)
    await page.goto(shop + "/spa/about")
    await expect(page.locator("#spa-shop-origin")).to_have_text(upstream_shop)


async def test_spa_directly(demo, tmp_path):
    """Baseline: the app works on its own, without Tandem."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page()
        await page.goto(demo.shop + "/")
        await _drive(page, demo.shop, demo.shop, tmp_path, "direct")
        await browser.close()


async def test_spa_through_tandem(make_tandem, demo, tmp_path):
    from playwright.async_api import async_playwright

    t = await make_tandem(extra_allow=tuple(Entry(h) for h in demo.hosts))
    s = await t.session(demo.shop + "/", enter=False)
    shop = s.url(demo.shop)
    trap = Trap()
    trap_runner, trap_origin = await serve_app(trap.app())
    port = trap_origin.rsplit(":", 1)[1]
    rules = ",".join(f"MAP {h} 127.0.0.1:{port}" for h in demo.hosts)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + [f"--host-resolver-rules={rules}"])
            context = await browser.new_context(viewport={"width": 1100, "height": 900})
            log = RequestLog(context)
            page = await context.new_page()
            await page.goto(s.leader_url)
            assert page.url == shop + "/"
            await _drive(page, shop, demo.shop, tmp_path, "tandem")
            # the page saw its own URLs: the JSON's CDN images and the shop origin it built requests from
            assert await page.evaluate("document.URL") == demo.shop + "/spa/about"
            await browser.close()
    finally:
        await trap_runner.cleanup()
    assert not trap.seen, f"the browser reached the demo site directly: {trap.seen}"
    leaks = log.leaks(t.base.hostname)
    assert not leaks, f"requests escaped the proxy: {leaks}"
    assert any("/spa/assets/chunk-" in u for u in log.urls), "the lazy chunk was never requested"
    assert any("/__tandem/sw.js?" in u for u in log.urls), "the service worker was not started through the wrapper"

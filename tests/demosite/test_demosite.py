"""The bundled demo shop, over real loopback sockets (no proxy in between)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from demosite import DemoSite, start_demo
from demosite.download import MAX_DOWNLOAD_BYTES, RangeNotSatisfiable, expected_bytes, parse_range

# Every network wait in these tests is bounded by this, so a broken server fails fast.
TIMEOUT_S = 5.0


class LocalhostResolver(AbstractResolver):
    """Maps `localhost` and any `*.localhost` to 127.0.0.1, as browsers do."""

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if host != "localhost" and not host.endswith(".localhost"):
            raise OSError(f"test resolver only knows *.localhost, not {host!r}")
        return [ResolveResult(hostname=host, host="127.0.0.1", port=port, family=socket.AF_INET,
                              proto=0, flags=socket.AI_NUMERICHOST)]

    async def close(self) -> None:
        pass


@pytest.fixture
async def demo() -> AsyncIterator[DemoSite]:
    site = await start_demo()
    yield site
    await site.close()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(resolver=LocalhostResolver())
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as session:
        yield session


async def login(client: aiohttp.ClientSession, demo: DemoSite, **extra: str) -> aiohttp.ClientResponse:
    data = {"username": "demo", "password": "demo123", **extra}
    async with client.post(f"{demo.shop}/login", data=data, allow_redirects=False) as resp:
        await resp.read()
        return resp


async def add_to_cart(client: aiohttp.ClientSession, demo: DemoSite, product_id: int,
                      quantity: int = 1) -> aiohttp.ClientResponse:
    async with client.post(f"{demo.shop}/cart/add", allow_redirects=False,
                           data={"product_id": str(product_id), "quantity": str(quantity)}) as resp:
        await resp.read()
        return resp


async def get_text(client: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with client.get(url, allow_redirects=False) as resp:
        return resp.status, await resp.text()


# --- startup ---------------------------------------------------------------------------------

async def test_origins_and_hosts(demo: DemoSite) -> None:
    assert re.fullmatch(r"http://shop\.localhost:\d+", demo.shop)
    assert re.fullmatch(r"http://cdn\.localhost:\d+", demo.cdn)
    assert re.fullmatch(r"http://widgets\.localhost:\d+", demo.widgets)
    assert demo.hosts == ["shop.localhost", "cdn.localhost", "widgets.localhost"]
    assert len({demo.shop, demo.cdn, demo.widgets}) == 3


# --- pages -----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/products", "/products/1", "/products/6", "/login",
                                  "/cart", "/api-demo", "/chat", "/about"])
async def test_pages_are_complete_html(demo: DemoSite, client: aiohttp.ClientSession,
                                       path: str) -> None:
    async with client.get(demo.shop + path) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        page = await resp.text()
    assert page.startswith("<!doctype html>")
    assert '<meta charset="utf-8">' in page and 'name="viewport"' in page and "<title>" in page
    assert f'<link rel="stylesheet" href="{demo.cdn}/css/site.css">' in page
    for link in ('href="/products"', 'href="/api-demo"', 'href="/chat"', 'href="/cart"',
                 f'href="{demo.shop}/about"'):
        assert link in page
    assert 'id="cart-count">0<' in page
    assert "<footer" in page


async def test_home_uses_absolute_protocol_relative_and_srcset_urls(
        demo: DemoSite, client: aiohttp.ClientSession) -> None:
    _, page = await get_text(client, demo.shop + "/")
    shop_pr = demo.shop.removeprefix("http:")
    assert f'href="{shop_pr}/products"' in page
    assert f'href="{demo.shop}/about"' in page
    assert f'srcset="{demo.cdn}/img/product-1.svg 1x, {demo.cdn}/img/product-1@2x.svg 2x"' in page
    assert f'url("{demo.cdn}/img/hero.svg")' in page  # inline <style>
    assert f"style=\"background-image: url('{demo.cdn}/img/promo.svg')\"" in page
    for path in ("/login", "/account", "/download/", "/redirect-chain", "/products/1"):
        assert f'href="{path}' in page


async def test_about_embeds_widget_from_second_origin(demo: DemoSite,
                                                      client: aiohttp.ClientSession) -> None:
    _, page = await get_text(client, demo.shop + "/about")
    assert f'<iframe class="widget-frame" id="widget-frame" src="{demo.widgets}/widget"' in page


async def test_unknown_pages_are_html_404s(demo: DemoSite, client: aiohttp.ClientSession) -> None:
    for path in ("/nope", "/products/99", "/products/abc"):
        async with client.get(demo.shop + path) as resp:
            assert resp.status == 404, path
            assert resp.content_type == "text/html"
    async with client.get(demo.shop + "/api/nope") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"


async def test_product_search(demo: DemoSite, client: aiohttp.ClientSession) -> None:
    _, page = await get_text(client, demo.shop + "/products?q=%3Cscript%3Etea")
    assert "&lt;script&gt;tea" in page and "<script>tea" not in page
    _, page = await get_text(client, demo.shop + "/products?q=tea")
    assert page.count('class="card"') == 1 and "Tea Sampler" in page


# --- login and account -----------------------------------------------------------------------

async def test_login_sets_httponly_session_and_js_readable_user_cookie(
        demo: DemoSite, client: aiohttp.ClientSession) -> None:
    resp = await login(client, demo)
    assert resp.status == 303
    assert resp.headers["Location"] == "/account"
    session = resp.cookies["demo_session"]
    user = resp.cookies["demo_user"]
    assert len(session.value) >= 32
    assert session["httponly"] is True
    assert session["path"] == "/"
    assert session["samesite"] == "Lax"
    assert user.value == "demo"
    assert not user["httponly"]
    assert user["path"] == "/"

    status, page = await get_text(client, demo.shop + "/account")
    assert status == 200
    assert "Signed in as <strong>demo</strong>" in page
    assert '<span id="js-cookie-user"' in page and "document.cookie" in page


async def test_account_redirects_to_login_when_signed_out(
        demo: DemoSite, client: aiohttp.ClientSession) -> None:
    async with client.get(demo.shop + "/account", allow_redirects=False) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/login?next=/account"
    client.cookie_jar.update_cookies({"demo_session": "forged"}, response_url=URL(demo.shop + "/"))
    async with client.get(demo.shop + "/account", allow_redirects=False) as resp:
        assert resp.status == 303


async def test_wrong_password_shows_form_again(demo: DemoSite,
                                               client: aiohttp.ClientSession) -> None:
    async with client.post(f"{demo.shop}/login", allow_redirects=False,
                           data={"username": "demo<b>", "password": "nope"}) as resp:
        assert resp.status == 401
        page = await resp.text()
        assert not resp.cookies
    assert 'id="login-error"' in page and 'id="login-form"' in page
    assert 'value="demo&lt;b&gt;"' in page


async def test_login_next_only_follows_local_paths(demo: DemoSite,
                                                   client: aiohttp.ClientSession) -> None:
    assert (await login(client, demo, next="/cart")).headers["Location"] == "/cart"
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        assert (await login(client, demo, next=evil)).headers["Location"] == "/account"


async def test_logout_clears_both_cookies(demo: DemoSite, client: aiohttp.ClientSession) -> None:
    await login(client, demo)
    async with client.post(demo.shop + "/logout", allow_redirects=False) as resp:
        assert resp.status == 303
        assert resp.cookies["demo_session"].value == ""
        assert resp.cookies["demo_user"].value == ""
        assert resp.cookies["demo_session"]["max-age"] == "0"
    async with client.get(demo.shop + "/account", allow_redirects=False) as resp:
        assert resp.status == 303


# --- cart ------------------------------------------------------------------------------------

async def test_anonymous_cart_add_and_remove(demo: DemoSite, client: aiohttp.ClientSession) -> None:
    resp = await add_to_cart(client, demo, 2, quantity=3)
    assert resp.status == 303 and resp.headers["Location"] == "/cart"
    assert resp.cookies["demo_cart"]["httponly"] is True
    resp = await add_to_cart(client, demo, 4)
    assert "demo_cart" not in resp.cookies  # the existing anonymous cart is reused

    status, page = await get_text(client, demo.shop + "/cart")
    assert status == 200
    assert 'data-product-id="2"' in page and 'data-product-id="4"' in page
    assert 'id="cart-count">4<' in page
    assert 'id="cart-total">$75.50<' in page  # 3 × 22.00 + 9.50

    async with client.post(demo.shop + "/cart/remove", data={"product_id": "2"},
                           allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/cart"
    _, page = await get_text(client, demo.shop + "/cart")
    assert 'data-product-id="2"' not in page and 'id="cart-total">$9.50<' in page

    assert demo.stats.count(demo.shop, "POST", "/cart/add") == 2
    assert demo.stats.count(demo.shop, "POST", "/cart/remove") == 1


async def test_cart_follows_redirect_to_cart_page(demo: DemoSite,
                                                  client: aiohttp.ClientSession) -> None:
    async with client.post(demo.shop + "/cart/add", data={"product_id": "1"}) as resp:
        assert resp.status == 200 and str(resp.url) == demo.shop + "/cart"
        assert "Ceramic Mug" in await resp.text()
    assert demo.stats.count(demo.shop, "POST", "/cart/add") == 1
    assert demo.stats.count(demo.shop, "GET", "/cart") == 1


async def test_login_keeps_anonymous_cart(demo: DemoSite, client: aiohttp.ClientSession) -> None:
    await add_to_cart(client, demo, 5, quantity=2)
    await login(client, demo)
    _, page = await get_text(client, demo.shop + "/cart")
    assert 'data-product-id="5"' in page and 'id="cart-count">2<' in page
    await add_to_cart(client, demo, 5)
    _, page = await get_text(client, demo.shop + "/account")
    assert "3 item(s)" in page


@pytest.mark.parametrize("data", [{"product_id": "99"}, {"product_id": "x"},
                                  {"product_id": "1", "quantity": "0"},
                                  {"product_id": "1", "quantity": "100"}, {}])
async def test_cart_add_rejects_bad_input(demo: DemoSite, client: aiohttp.ClientSession,
                                          data: dict[str, str]) -> None:
    async with client.post(demo.shop + "/cart/add", data=data, allow_redirects=False) as resp:
        assert resp.status == 400
        assert resp.content_type == "text/html"


# --- JSON API --------------------------------------------------------------------------------

async def test_api_products(demo: DemoSite, client: aiohttp.ClientSession) -> None:
    async with client.get(demo.shop + "/api/products") as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        data = await resp.json()
    assert data["count"] == 6 and len(data["products"]) == 6
    first = data["products"][0]
    assert first == {"id": 1, "name": "Ceramic Mug", "price_cents": 1450, "price": "$14.50",
                     "blurb": first["blurb"], "image": f"{demo.cdn}/img/product-1.svg",
                     "url": "/products/1"}
    async with client.get(demo.shop + "/api/products", params={"q": "WOOL"}) as resp:
        data = await resp.json()
    assert [p["name"] for p in data["products"]] == ["Wool Beanie"]


async def test_api_echo_reports_body_cookie_names_and_headers(
        demo: DemoSite, client: aiohttp.ClientSession) -> None:
    await login(client, demo)
    headers = {"Origin": demo.shop, "Referer": demo.shop + "/api-demo"}
    async with client.post(demo.shop + "/api/echo", json={"hello": "tandem"},
                           headers=headers) as resp:
        assert resp.status == 200
        data = await resp.json()
    assert data["method"] == "POST"
    assert data["json"] == {"hello": "tandem"}
    assert data["cookie_names"] == ["demo_session", "demo_user"]
    assert data["origin"] == demo.shop
    assert data["referer"] == demo.shop + "/api-demo"
    assert "demo123" not in str(data) and data["host"] == demo.shop.removeprefix("http://")


async def test_api_echo_limits(demo: DemoSite, client: aiohttp.ClientSession) -> None:
    async with client.post(demo.shop + "/api/echo", data=b"{not json",
                           headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 400
    async with client.post(demo.shop + "/api/echo", data=b"x" * (64 * 1024 + 1)) as resp:
        assert resp.status == 413


# --- WebSocket -------------------------------------------------------------------------------

async def test_websocket_echo_text_and_binary(demo: DemoSite,
                                              client: aiohttp.ClientSession) -> None:
    async with client.ws_connect(demo.shop.replace("http", "ws", 1) + "/ws/echo",
                                 protocols=("demo-chat",)) as ws:
        assert ws.protocol == "demo-chat"
        welcome = await asyncio.wait_for(ws.receive_str(), TIMEOUT_S)
        assert welcome.startswith("welcome")
        await ws.send_str("hello there")
        assert await asyncio.wait_for(ws.receive_str(), TIMEOUT_S) == "echo: hello there"
        payload = bytes(range(256)) * 4
        await ws.send_bytes(payload)
        assert await asyncio.wait_for(ws.receive_bytes(), TIMEOUT_S) == payload
    assert demo.stats.count(demo.shop, "GET", "/ws/echo") == 1


async def test_websocket_page_without_upgrade(demo: DemoSite,
                                              client: aiohttp.ClientSession) -> None:
    async with client.get(demo.shop + "/ws/echo") as resp:
        assert resp.status == 400


# --- downloads -------------------------------------------------------------------------------

async def test_download_full_body(demo: DemoSite, client: aiohttp.ClientSession) -> None:
    size = 300_000  # several chunks, not a multiple of the pattern period
    async with client.get(f"{demo.shop}/download/{size}") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Length"] == str(size)
        assert resp.headers["Accept-Ranges"] == "bytes"
        body = await resp.read()
    assert body == expected_bytes(0, size)


@pytest.mark.parametrize("header,first,last", [
    ("bytes=100-199", 100, 199),
    ("bytes=70000-", 70000, 99_999),
    ("bytes=-10", 99_990, 99_999),
    ("bytes=99990-200000", 99_990, 99_999),
])
async def test_download_range(demo: DemoSite, client: aiohttp.ClientSession,
                              header: str, first: int, last: int) -> None:
    async with client.get(f"{demo.shop}/download/100000", headers={"Range": header}) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes {first}-{last}/100000"
        assert resp.headers["Content-Length"] == str(last - first + 1)
        assert await resp.read() == expected_bytes(first, last - first + 1)


async def test_download_unsatisfiable_and_too_large(demo: DemoSite,
                                                    client: aiohttp.ClientSession) -> None:
    async with client.get(f"{demo.shop}/download/100", headers={"Range": "bytes=100-"}) as resp:
        assert resp.status == 416
        assert resp.headers["Content-Range"] == "bytes */100"
    async with client.get(f"{demo.shop}/download/{MAX_DOWNLOAD_BYTES + 1}") as resp:
        assert resp.status == 400


@pytest.mark.parametrize("header,expected", [
    (None, None),
    ("", None),
    ("bytes=0-0", (0, 0)),
    ("bytes=5-", (5, 9)),
    ("bytes=-3", (7, 9)),
    ("bytes=-30", (0, 9)),
    ("bytes=2-100", (2, 9)),
    ("bytes=5-2", None),  # invalid: ignored, whole body
    ("bytes=0-1,4-5", None),  # multi-range: ignored, whole body
    ("items=0-1", None),
    ("bytes=-", None),
])
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 10) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=-0", "bytes=99-100"])
def test_parse_range_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 10)


# --- redirects -------------------------------------------------------------------------------

async def test_redirect_chain(demo: DemoSite, client: aiohttp.ClientSession) -> None:
    async with client.get(demo.shop + "/redirect-chain", allow_redirects=False) as resp:
        assert resp.status == 302 and resp.headers["Location"] == "/redirect-2"
    async with client.get(demo.shop + "/redirect-2", allow_redirects=False) as resp:
        assert resp.status == 301 and resp.headers["Location"] == f"{demo.shop}/products"
    async with client.get(demo.shop + "/redirect-chain") as resp:
        assert resp.status == 200 and str(resp.url) == f"{demo.shop}/products"
        assert [r.status for r in resp.history] == [302, 301]


# --- CDN and widgets -------------------------------------------------------------------------

async def test_cdn_css_has_absolute_cdn_urls(demo: DemoSite, client: aiohttp.ClientSession) -> None:
    async with client.get(demo.cdn + "/css/site.css") as resp:
        assert resp.status == 200 and resp.content_type == "text/css"
        assert resp.headers["Cache-Control"] == "public, max-age=3600"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        css = await resp.text()
    assert css.lstrip().startswith("/*")
    assert f'@import url("{demo.cdn}/css/theme.css");' in css
    assert f'url("{demo.cdn}/img/bg-pattern.svg")' in css
    assert f'url("{demo.cdn}/img/icon-cart.svg")' in css
    assert "$" not in css
    async with client.get(demo.cdn + "/css/theme.css") as resp:
        assert resp.status == 200 and "--brand" in await resp.text()
    async with client.get(demo.cdn + "/css/other.css") as resp:
        assert resp.status == 404


@pytest.mark.parametrize("name", ["logo", "hero", "promo", "bg-pattern", "icon-cart",
                                  "product-1", "product-6", "product-3@2x"])
async def test_cdn_images(demo: DemoSite, client: aiohttp.ClientSession, name: str) -> None:
    async with client.get(f"{demo.cdn}/img/{name}.svg") as resp:
        assert resp.status == 200 and resp.content_type == "image/svg+xml"
        assert resp.headers["Cache-Control"] == "public, max-age=3600"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        svg = await resp.text()
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    if name == "product-3@2x":
        assert 'width="800" height="600"' in svg and "Desk Plant" in svg


async def test_cdn_unknown_image(demo: DemoSite, client: aiohttp.ClientSession) -> None:
    for name in ("product-7", "nope", "product-1@3x"):
        async with client.get(f"{demo.cdn}/img/{name}.svg") as resp:
            assert resp.status == 404


async def test_widget_page_and_counter(demo: DemoSite, client: aiohttp.ClientSession) -> None:
    status, page = await get_text(client, demo.widgets + "/widget")
    assert status == 200
    assert "Widget from widgets.localhost" in page
    assert f'href="{demo.shop}/products" target="_top"' in page
    assert 'fetch("/api/count", {method: "POST"})' in page
    for expected in (1, 2):
        async with client.post(demo.widgets + "/api/count") as resp:
            assert (await resp.json()) == {"count": expected}
    _, page = await get_text(client, demo.widgets + "/widget")
    assert 'id="count-value">2<' in page


# --- request stats ---------------------------------------------------------------------------

async def test_stats_count_every_origin(demo: DemoSite, client: aiohttp.ClientSession) -> None:
    await get_text(client, demo.shop + "/products?q=x")
    await get_text(client, demo.shop + "/products")
    await get_text(client, demo.cdn + "/css/site.css")
    await get_text(client, demo.widgets + "/widget")
    await get_text(client, demo.shop + "/no-such-page")
    assert demo.stats.count(demo.shop, "GET", "/products") == 2
    assert demo.stats.count(demo.cdn, "GET", "/css/site.css") == 1
    assert demo.stats.count(demo.widgets, "GET", "/widget") == 1
    assert demo.stats.count(demo.shop, "GET", "/no-such-page") == 1
    assert demo.stats.count(demo.shop, "POST", "/products") == 0

    async with client.get(demo.shop + "/__demo/stats") as resp:
        data = await resp.json()
    assert {"origin": demo.shop, "method": "GET", "path": "/products", "count": 2} in data["requests"]
    assert data["total"] == 6  # the five above plus this request

    demo.stats.reset()
    assert demo.stats.count(demo.shop, "GET", "/products") == 0
    async with client.delete(demo.shop + "/__demo/stats") as resp:
        assert (await resp.json())["requests"] == []


# --- in a real browser -----------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
HOME_SCREENSHOT = "/tmp/demosite-home.png"

# Longest a browser step may take before the test fails (pages here load in milliseconds).
BROWSER_STEP_TIMEOUT_MS = 5_000


@pytest.mark.e2e
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Chromium at {CHROMIUM} (make e2e-deps)")
async def test_browser_walkthrough(demo: DemoSite) -> None:
    """Chromium straight at the demo (no proxy): sign in, cart, API page, chat, widget iframe."""
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(BROWSER_STEP_TIMEOUT_MS)
            expect.set_options(timeout=BROWSER_STEP_TIMEOUT_MS)

            await page.goto(demo.shop + "/")
            await expect(page.locator("#js-status")).to_have_text("JavaScript on")
            # every stylesheet and image came from the CDN origin and rendered
            assert await page.evaluate(
                "getComputedStyle(document.body).getPropertyValue('--brand').trim()") == "#4f46e5"
            assert await page.evaluate(
                "[...document.images].every(i => i.complete && i.naturalWidth > 0)")
            await page.screenshot(path=HOME_SCREENSHOT, full_page=True)

            await page.click("#nav-login")
            await page.fill("#username", "demo")
            await page.fill("#password", "demo123")
            await page.click("#login-form button[type=submit]")
            await page.wait_for_url(demo.shop + "/account")
            await expect(page.locator("#js-cookie-user")).to_have_text("demo")
            await expect(page.locator("#signed-in")).to_contain_text("Signed in as demo")

            await page.goto(demo.shop + "/products/2")
            await page.fill("#quantity", "2")
            await page.click(".add-form button[type=submit]")
            await page.wait_for_url(demo.shop + "/cart")
            await expect(page.locator('tr[data-product-id="2"] .qty-cell')).to_have_text("2")
            await expect(page.locator("#cart-count")).to_have_text("2")
            assert demo.stats.count(demo.shop, "POST", "/cart/add") == 1

            await page.click("a[href='/api-demo']")
            await expect(page.locator("#api-result li")).to_have_count(6)
            await page.fill("#api-q", "tea")
            await page.click("#api-search button")
            await expect(page.locator("#api-result li")).to_have_count(1)
            await page.click("#echo-btn")
            await expect(page.locator("#echo-result")).to_contain_text('"demo_session"')

            await page.goto(demo.shop + "/chat")
            await expect(page.locator("#chat-status")).to_have_text("Connected (demo-chat)")
            await expect(page.locator("#chat-log")).to_contain_text("welcome")
            await page.fill("#chat-input", "hello from chromium")
            await page.click("#chat-send")
            await expect(page.locator("#chat-log")).to_contain_text("echo: hello from chromium")

            await page.goto(demo.shop + "/about")
            widget = page.frame_locator("#widget-frame")
            await widget.locator("#count-btn").click()
            await expect(widget.locator("#count-value")).to_have_text("1")
            assert demo.stats.count(demo.widgets, "POST", "/api/count") == 1
        finally:
            await browser.close()

"""Co-browsing in real Chromium: a tab owner on the demo shop, followers watching its live mirror.

Each test runs one browser with a context per participant. Waits are generous (the
machine is shared); how fast the mirror follows is measured by ``bench/sync.py``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from urllib.parse import urlsplit

import pytest

from demosite import start_demo
from proxy.allowlist import Entry
from tandem import appkeys
from tests.e2e.browser import RequestLog, chromium, needs_chromium

pytestmark = [pytest.mark.e2e, needs_chromium]

WAIT_MS = 10_000
SECRET = "S3cret-PASS-x9q"
MASKED_USER = "uniqueUser42"


@pytest.fixture
async def demo():
    site = await start_demo("127.0.0.1")
    yield site
    await site.close()


async def start(make_tandem, demo, **kw):
    t = await make_tandem(extra_allow=tuple(Entry(h) for h in demo.hosts), **kw)
    resp = await t.api("POST", "/api/v1/sessions", json={"url": demo.shop + "/"})
    body = await resp.json()
    assert resp.status == 201, body
    return t, body


async def follower_link(t, body) -> str:
    if "follower_url" in body:
        return body["follower_url"]
    token = await t.app[appkeys.SESSIONS].invite(body["session_id"], "follower")
    return f"{t.url}/s/{body['session_id']}/enter?t={token}"


async def leader_page(browser, body, frames=None):
    ctx = await browser.new_context(viewport={"width": 1100, "height": 760})
    page = await ctx.new_page()
    if frames is not None:
        watch_frames(page, frames)
    await page.goto(body["leader_url"])
    await panel(page)  # the panel is up and its socket connected
    return ctx, page


async def panel(page):
    for _ in range(200):
        frame = next((f for f in page.frames if re.search(r"/s/[a-z2-7]+/panel", f.url)), None)
        if frame is not None:
            try:
                await frame.wait_for_function("() => window.tandemPanel && window.tandemPanel.state", timeout=WAIT_MS)
                return frame
            except Exception:  # the frame navigated away under us: look again
                pass
        await asyncio.sleep(0.05)
    raise AssertionError("the session panel never appeared in the leader's page")


async def panel_action(page, label: str):
    """Click a button in the leader's panel, opening the panel first when it is folded."""
    frame = await panel(page)
    toggle = frame.locator("button.toggle")
    if await toggle.get_attribute("aria-expanded") != "true":
        await toggle.click()
    await frame.click(f"button:has-text('{label}')")
    return frame


async def follower_page(browser, t, body, frames=None):
    ctx = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await ctx.new_page()
    if frames is not None:
        watch_frames(page, frames)
    await page.goto(await follower_link(t, body))
    assert page.url == f"{t.url}/s/{body['session_id']}"
    await page.wait_for_function("() => window.tandemMirror && window.tandemMirror.stats.applied > 0", timeout=WAIT_MS)
    return ctx, page


def watch_frames(page, frames: list):
    def on_ws(ws):
        ws.on("framesent", lambda payload: frames.append(payload))
        ws.on("framereceived", lambda payload: frames.append(payload))

    page.on("websocket", on_ws)


async def mirror(page, js: str, expected, arg=None):
    """Wait until ``js`` (a function of (doc, arg)) evaluated in the follower's mirror equals ``expected``."""
    fn = f"([arg, expected]) => {{ const doc = window.tandemMirror.doc(); if (!doc || !doc.body) return false; " \
         f"try {{ return JSON.stringify(({js})(doc, arg)) === JSON.stringify(expected); }} catch (e) {{ return false; }} }}"
    try:
        await page.wait_for_function(fn, arg=[arg, expected], timeout=WAIT_MS)
    except Exception:
        got = await page.evaluate(f"([arg]) => {{ const doc = window.tandemMirror.doc(); try {{ return ({js})(doc, arg); }} catch (e) {{ return String(e); }} }}", [arg])
        raise AssertionError(f"mirror never showed {expected!r}; it shows {got!r}") from None


TEXT = "(doc, sel) => (doc.querySelector(sel) || {}).textContent?.trim()"
VALUE = "(doc, sel) => (doc.querySelector(sel) || {}).value"


async def click_in_mirror(page, selector: str):
    """Click where ``selector``'s element is drawn in the (scaled) mirror, as a person would."""
    point = await page.evaluate("""(sel) => {
        const el = window.tandemMirror.doc().querySelector(sel);
        const r = el.getBoundingClientRect();
        const box = document.querySelector('.framebox');
        const outer = box.getBoundingClientRect();
        const scale = outer.width / parseFloat(getComputedStyle(box).width);
        return {x: outer.left + (r.left + r.width / 2) * scale, y: outer.top + (r.top + r.height / 2) * scale};
    }""", selector)
    await page.mouse.click(point["x"], point["y"])


async def test_followers_see_the_leaders_page_live_and_the_origin_sees_one_request_per_action(make_tandem, demo, tmp_path):
    from playwright.async_api import expect

    t, body = await start(make_tandem, demo)
    shop = urlsplit(body["leader_url"]).netloc
    async with chromium() as browser:
        lctx, lp = await leader_page(browser, body)
        leader_log = []
        lctx.on("request", lambda r: leader_log.append((r.method, r.url)) if r.resource_type == "document" or r.method != "GET" else None)
        followers = [await follower_page(browser, t, body) for _ in range(2)]
        fpages = [p for _, p in followers]
        follower_cache = Counter()
        for fctx, _ in followers:
            # resources only: the entry hand-off's redirects (a host's first load) are not answers from the site
            fctx.on("response", lambda r: follower_cache.update([r.headers.get("x-tandem-cache", "miss")])
                    if "-cdn-localhost." in r.url and not 300 <= r.status < 400 else None)
        shop_url = lp.url.rstrip("/")
        demo.stats.reset()
        leader_log.clear()

        for fp in fpages:
            await mirror(fp, TEXT, "Small things, carefully made.", "h1")

        await lp.click("nav >> text=Products")
        await lp.wait_for_url(shop_url + "/products")
        for fp in fpages:
            await mirror(fp, TEXT, "Products", "h1")

        # window scroll
        y = await lp.evaluate("window.scrollTo(0, 250), window.scrollY")
        assert y > 0
        for fp in fpages:
            await mirror(fp, "(doc) => doc.defaultView.scrollY", y)

        # a form: typed values show, the password never does
        await lp.click("#nav-login")
        await lp.fill("#username", "demo")
        await lp.fill("#password", "demo123")
        for fp in fpages:
            await mirror(fp, VALUE, "demo", "#username")
            await mirror(fp, VALUE, "*******", "#password")
        await lp.click("#login-form button[type=submit]")
        await lp.wait_for_url(shop_url + "/account")
        for fp in fpages:
            await mirror(fp, TEXT, "Signed in as demo", "#signed-in")

        # add to the cart
        await lp.goto(shop_url + "/products/2")
        await lp.fill("#quantity", "2")
        for fp in fpages:
            await mirror(fp, VALUE, "2", "#quantity")
        await lp.click(".add-form button[type=submit]")
        await lp.wait_for_url(shop_url + "/cart")
        for fp in fpages:
            await mirror(fp, TEXT, "2", "#cart-count")

        # a scrollable element: the chat log
        await lp.goto(shop_url + "/chat")
        await expect(lp.locator("#chat-status")).to_have_text("Connected (demo-chat)")
        for n in range(8):
            await lp.fill("#chat-input", f"line {n}")
            await lp.click("#chat-send")
        await expect(lp.locator("#chat-log")).to_contain_text("echo: line 7")
        await lp.evaluate("document.getElementById('chat-log').scrollTop = 0")
        await lp.evaluate("document.getElementById('chat-log').scrollTop = 120")
        for fp in fpages:
            await mirror(fp, "(doc) => doc.getElementById('chat-log').scrollTop", 120)
            await mirror(fp, "(doc) => doc.getElementById('chat-log').textContent.includes('echo: line 7')", True)
        # one follower draws; the other sees the stroke over its mirror (drawings are overlays, not input)
        await fpages[0].click("button:has-text('Draw')")
        box = await fpages[0].locator(".framebox").bounding_box()
        await fpages[0].mouse.move(box["x"] + 200, box["y"] + 200)
        await fpages[0].mouse.down()
        for k in range(1, 12):
            await fpages[0].mouse.move(box["x"] + 200 + 20 * k, box["y"] + 200 + 8 * k)
            await asyncio.sleep(0.02)
        await fpages[0].mouse.up()
        await fpages[1].wait_for_function("""() => {
            const c = document.querySelector('.pointers canvas');
            if (!c || !c.width) return false;
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 3; i < px.length; i += 4) if (px[i] > 0) return true;
            return false;
        }""", timeout=WAIT_MS)
        await fpages[0].screenshot(path=str(tmp_path / "follower-mirror.png"))
        await fpages[0].click("button:has-text('Draw')")
        await lp.screenshot(path=str(tmp_path / "leader.png"))

        # The origin saw each page load and each form post of the leader exactly once, and the
        # followers' mirrors caused no upstream request at all (their resources came from the cache).
        await asyncio.sleep(0.5)  # let followers' image loads finish
        expected = Counter()
        for method, url in leader_log:
            parts = urlsplit(url)
            if parts.netloc.split(".", 1)[0].endswith("-shop-localhost"):
                expected[(demo.shop, method, parts.path)] += 1
        seen = Counter({(r["origin"], r["method"], r["path"]): r["count"] for r in demo.stats.as_json()
                        if (r["origin"], r["method"], r["path"]) in expected})
        assert seen == expected
        assert expected[(demo.shop, "POST", "/cart/add")] == 1 and expected[(demo.shop, "POST", "/login")] == 1
        assert (await t.app[appkeys.SESSIONS].get(body["session_id"])).cache.follower_fetches == 0
        assert follower_cache["hit"] > 0 and follower_cache["miss"] == 0, follower_cache
        for fp in fpages:
            stats = await fp.evaluate("window.tandemMirror.stats")
            assert stats["gaps"] == 0 and stats["dups"] == 0
        assert shop


async def test_control_request_grant_type_click_and_revoke(make_tandem, demo, tmp_path):
    t, body = await start(make_tandem, demo)
    async with chromium() as browser:
        lctx, lp = await leader_page(browser, body)
        shop_url = lp.url.rstrip("/")
        await lp.goto(shop_url + "/controlled")
        await lp.wait_for_selector("#name")
        fctx, fp = await follower_page(browser, t, body)
        await mirror(fp, TEXT, "Order a custom mug", "h1")

        # without control a click does nothing to the page
        await click_in_mirror(fp, "#gift")
        await asyncio.sleep(0.3)
        assert not await lp.is_checked("#gift")

        await fp.click("text=Request control")
        await panel_action(lp, "Grant")
        await fp.wait_for_selector("text=You are in control", timeout=WAIT_MS)

        await click_in_mirror(fp, "#name")
        await fp.keyboard.type("Ada L")
        await fp.keyboard.press("Backspace")
        await fp.keyboard.type("Lovelace")
        await lp.wait_for_function("document.getElementById('preview').textContent === 'Preview: “Ada Lovelace”'", timeout=WAIT_MS)
        await mirror(fp, TEXT, "Preview: “Ada Lovelace”", "#preview")

        await click_in_mirror(fp, "#note")
        await fp.keyboard.type("two")
        await fp.keyboard.press("Enter")
        await fp.keyboard.type("lines")
        await click_in_mirror(fp, "#size")
        await fp.click(".picker >> text=Large")
        await click_in_mirror(fp, "#gift")
        await lp.wait_for_function(
            "JSON.parse(document.getElementById('state').textContent).gift === true", timeout=WAIT_MS)
        state = json.loads(await lp.text_content("#state"))
        assert state == {"name": "Ada Lovelace", "note": "two\nlines", "size": "l", "gift": True}
        await click_in_mirror(fp, "#place")
        await lp.wait_for_function("document.querySelectorAll('#orders li').length === 1", timeout=WAIT_MS)
        assert await lp.text_content("#orders li") == "Ada Lovelace · l · gift"
        await mirror(fp, TEXT, "Ada Lovelace · l · gift", "#orders li")
        # regression: a "you are watching" hint from before the grant must not outlive it
        assert await fp.locator(".toast.hint").count() == 0
        await fp.screenshot(path=str(tmp_path / "follower-in-control.png"))

        # file inputs stay the tab owner's: refused on the mirror, and by the tab owner's page if forced
        await click_in_mirror(fp, "#upload")
        await fp.wait_for_selector(".toast >> text=Only the tab owner can choose files", timeout=WAIT_MS)
        await fp.evaluate("""() => {
            const d = window.tandemMirror.doc(); const el = d.getElementById('upload'); const r = el.getBoundingClientRect();
            window.tandemMirror.conn.send({t: 'input', i: {kind: 'click', x: r.left + 5, y: r.top + 5}});
        }""")
        await fp.wait_for_function(  # the tab owner's page refused it and said why
            "() => [...document.querySelectorAll('.toast')].filter(t => t.textContent.includes('Only the tab owner can choose files')).length >= 2",
            timeout=WAIT_MS)

        # navigation from the session page's toolbar
        await fp.click("button[aria-label=Back]")
        await lp.wait_for_url(shop_url + "/", timeout=WAIT_MS)
        await mirror(fp, TEXT, "Small things, carefully made.", "h1")
        await fp.fill(".navbar input", demo.shop + "/about")
        await fp.click(".navbar button[type=submit]")
        await lp.wait_for_url(shop_url + "/about", timeout=WAIT_MS)
        await mirror(fp, TEXT, "About the shop", "h1")
        # the demo SPA: a click on a client-side link moves the app (pushState), the mirror and the address follow
        await lp.goto(shop_url + "/spa/")
        await mirror(fp, TEXT, "/spa/", "#spa-route")
        await click_in_mirror(fp, "#spa-about-link")
        await lp.wait_for_function("() => location.pathname === '/spa/about'", timeout=WAIT_MS)
        await mirror(fp, TEXT, "/spa/about", "#spa-route")
        await fp.wait_for_function("() => document.querySelector('.url').title.endsWith('/spa/about')", timeout=WAIT_MS)
        await lp.goto(shop_url + "/controlled")
        await lp.wait_for_selector("#name")
        await lp.fill("#name", "Ada Lovelace")

        # revoke: typing no longer reaches the page
        await panel_action(lp, "Take back")
        await fp.wait_for_selector("text=Request control", timeout=WAIT_MS)
        await click_in_mirror(fp, "#name")
        await fp.keyboard.type("XYZ")
        await fp.evaluate("window.tandemMirror.conn.send({t: 'input', i: {kind: 'text', text: 'forged'}})")
        await fp.wait_for_function("() => window.tandemMirror.errors.includes('no_control')", timeout=WAIT_MS)
        await asyncio.sleep(0.3)
        assert json.loads(await lp.text_content("#state"))["name"] == "Ada Lovelace"


async def test_masked_values_never_leave_the_leaders_browser(make_tandem, demo):
    t, body = await start(make_tandem, demo)
    await t.app[appkeys.MASKING].set("shop.localhost", mask=["#username"], block=[".notice"])
    frames: list = []
    async with chromium() as browser:
        lctx, lp = await leader_page(browser, body, frames)
        fctx, fp = await follower_page(browser, t, body, frames)
        shop_url = lp.url.rstrip("/")
        await lp.goto(shop_url + "/login")
        await mirror(fp, TEXT, "Sign in", "h1")
        await lp.click("#username")
        await lp.keyboard.type(MASKED_USER)
        await lp.click("#password")
        await lp.keyboard.type(SECRET)
        await mirror(fp, VALUE, "*" * len(SECRET), "#password")
        await mirror(fp, VALUE, "*" * len(MASKED_USER), "#username")
        # a "show password" toggle turns the field into text: still masked
        await lp.evaluate("document.getElementById('password').type = 'text'")
        await lp.click("#password")
        await lp.keyboard.type("!")
        await mirror(fp, VALUE, "*" * (len(SECRET) + 1), "#password")
        # the blocked element is an empty placeholder in the mirror
        await mirror(fp, "(doc) => { const n = doc.querySelector('.notice'); return n ? n.textContent : 'gone'; }", "")
        await lp.evaluate("document.querySelector('.notice').textContent = 'changed " + SECRET + "'")
        await asyncio.sleep(0.5)
        await mirror(fp, "(doc) => { const n = doc.querySelector('.notice'); return n ? n.textContent : 'gone'; }", "")
        assert await lp.input_value("#password") == SECRET + "!"
        # a follower without control: refused, and nothing reaches the page
        await fp.evaluate("window.tandemMirror.conn.send({t: 'input', i: {kind: 'text', text: 'intruder'}})")
        await fp.wait_for_function("() => window.tandemMirror.errors.includes('no_control')", timeout=WAIT_MS)
        await asyncio.sleep(0.3)
        assert await lp.input_value("#password") == SECRET + "!"
        # the tab owner ends up on a blocked site: followers see the same explanation, not a stale page
        session = await t.app[appkeys.SESSIONS].get(body["session_id"])
        blocked = session.url_rewriter(t.base).to_proxy("http://elsewhere.localhost:9/")
        response = await lp.goto(blocked)
        assert response.status == 403
        await fp.wait_for_selector(".page-error >> text=not available for co-browsing", timeout=WAIT_MS)
        await lp.go_back()
        await fp.wait_for_selector(".page-error", state="hidden", timeout=WAIT_MS)
        await mirror(fp, TEXT, "Sign in", "h1")
    assert len(frames) > 10
    assert any("Username" in (f if isinstance(f, str) else "") for f in frames)  # the DOM stream itself was captured
    for payload in frames:
        text = payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
        assert SECRET not in text and MASKED_USER not in text and "changed" not in text


async def test_hand_over_keeps_the_login_and_late_join_and_reconnect_are_consistent(make_tandem, demo, tmp_path):
    t, body = await start(make_tandem, demo)
    async with chromium() as browser:
        lctx, lp = await leader_page(browser, body)
        shop_url = lp.url.rstrip("/")
        await lp.click("#nav-login")
        await lp.fill("#username", "demo")
        await lp.fill("#password", "demo123")
        await lp.click("#login-form button[type=submit]")
        await lp.wait_for_url(shop_url + "/account")

        # late join: the mirror shows the current page at once
        fctx, fp = await follower_page(browser, t, body)
        await mirror(fp, TEXT, "Signed in as demo", "#signed-in")

        # reconnect: drop the follower's socket, change the page meanwhile, come back without gap or duplicate
        await fp.evaluate("window.tandemMirror.conn.drop()")
        await lp.goto(shop_url + "/products/3")
        await lp.fill("#quantity", "3")
        await mirror(fp, VALUE, "3", "#quantity")
        stats = await fp.evaluate("window.tandemMirror.stats")
        assert stats["gaps"] == 0 and stats["dups"] == 0 and stats["resets"] == 1
        await lp.fill("#quantity", "4")
        await mirror(fp, VALUE, "4", "#quantity")

        # a cross-origin (proxied) iframe is mirrored too, live
        await lp.goto(shop_url + "/about")
        await lp.frame_locator("#widget-frame").locator("#count-btn").click()
        frame_js = "(doc, sel) => { const f = doc.querySelector('iframe'); const d = f && f.contentDocument; " \
                   "const el = d && d.querySelector(sel); return el ? el.textContent.trim() : null; }"
        await mirror(fp, frame_js, "1", "#count-value")
        await lp.goto(shop_url + "/products/3")

        # hand-over: the follower becomes the tab owner, still signed in; the old owner follows
        await panel_action(lp, "Make tab owner")
        await fp.wait_for_url(re.compile(r"/products/3$"), timeout=WAIT_MS)
        await fp.goto(shop_url + "/account")
        assert "Signed in as demo" in await fp.text_content("#signed-in")
        await lp.wait_for_url(f"{t.url}/s/{body['session_id']}", timeout=WAIT_MS)
        await lp.wait_for_function("() => window.tandemMirror && window.tandemMirror.stats.applied > 0", timeout=WAIT_MS)
        await mirror(lp, TEXT, "Signed in as demo", "#signed-in")
        await lp.screenshot(path=str(tmp_path / "old-leader-following.png"))
        # the new owner acts; the old one sees it
        await fp.click("#nav-cart, a[href='/cart'] >> nth=0")
        await mirror(lp, TEXT, "Your cart", "h1")

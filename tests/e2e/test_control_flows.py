"""The control plane in real Chromium: an agent signs in and starts a session on the demo shop, a customer
joins through the invite link (and another through the PIN) and the consent screen, the agent ends it; an
admin adds a domain and navigation goes through while an off-list one shows the block page; a proxied page
cannot read or toss the credentials; the embeddable snippet on a customer's own site. Screenshots of the
console, join, consent and admin pages at desktop and 360 px width, with basic keyboard/label checks."""

import os
import re
import shutil

import pytest
from aiohttp import web

from demosite import start_demo
from proxy.allowlist import Entry
from tandem import appkeys, policy
from tests.e2e.browser import chromium, needs_chromium
from tests.harness import serve_app

pytestmark = [pytest.mark.e2e, needs_chromium]

PASSWORD = "correct horse battery"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 760}
SHOTS_ENV = "TANDEM_SCREENSHOTS"  # set to a directory to keep the screenshots


@pytest.fixture
async def demo():
    site = await start_demo("127.0.0.1")
    yield site
    await site.close()


class Shots:
    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.keep = os.environ.get(SHOTS_ENV)

    async def take(self, page, name):
        """Desktop and 360 px screenshots, after checking labels, names and keyboard focus on the page."""
        await check_accessible(page)
        size = page.viewport_size
        for label, viewport in (("desktop", DESKTOP), ("360", PHONE)):
            await page.set_viewport_size(viewport)
            path = self.dir / f"{name}-{label}.png"
            await page.screenshot(path=str(path), full_page=True)
            if label == "360":
                overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                assert overflow <= 0, f"{name}: page scrolls sideways at 360 px ({overflow}px)"
            if self.keep:
                os.makedirs(self.keep, exist_ok=True)
                shutil.copy(path, os.path.join(self.keep, path.name))
        await page.set_viewport_size(size)


async def check_accessible(page):
    problems = await page.evaluate("""() => {
      const out = [];
      for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
        if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label')) out.push('no label: ' + (el.id || el.name));
      }
      for (const el of document.querySelectorAll('button, a[href]')) {
        if (!(el.textContent.trim() || el.getAttribute('aria-label'))) out.push('no name: ' + el.outerHTML.slice(0, 60));
      }
      return out;
    }""")
    assert not problems, problems
    # keyboard: the first Tab lands on a control that shows a visible focus ring
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    await page.keyboard.press("Tab")
    ring = await page.evaluate("""() => { const el = document.activeElement; if (!el || el === document.body) return 'none';
      const s = getComputedStyle(el); return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 ? 'ok' : s.outlineStyle; }""")
    assert ring == "ok", f"no visible focus ring ({ring}) on {page.url}"


async def sign_in(page, t, username):
    await page.goto(t.url + "/console")
    assert "/console/login" in page.url
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.press("#password", "Enter")
    await page.wait_for_url(t.url + "/console")


async def test_agent_invites_customer_who_consents_then_agent_ends(make_tandem, demo, tmp_path):
    from playwright.async_api import expect

    shots = Shots(tmp_path)
    t = await make_tandem(extra_allow=tuple(Entry(h) for h in demo.hosts))
    store = t.app[appkeys.STORE]
    await store.create_agent("ann", "Ann Agent", PASSWORD)
    async with chromium() as browser:
        agent_ctx = await browser.new_context(viewport=DESKTOP)
        await agent_ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=t.url)
        agent = await agent_ctx.new_page()
        await agent.goto(t.url + "/console/login")
        await shots.take(agent, "console-login")
        await sign_in(agent, t, "ann")
        await shots.take(agent, "console-dashboard")
        await agent.fill("#url", demo.shop + "/products")
        await agent.click("text=Start session")
        await agent.wait_for_url("**/console/sessions/**")
        invite = await agent.input_value("#invite")
        pin = (await agent.inner_text("#pin")).strip()
        assert invite.startswith(t.url + "/s/") and len(pin) == 6
        await agent.click("text=Copy invite link")
        await expect(agent.locator("[data-copy-status]")).to_have_text("Copied.")
        assert await agent.evaluate("navigator.clipboard.readText()") == invite
        await shots.take(agent, "console-session")
        sid = agent.url.split("/console/sessions/")[1].split("?")[0]

        # the agent opens the session (leads): the proxied shop
        await agent.click("text=Open session")
        await expect(agent.locator("#js-status")).to_have_text("JavaScript on")
        agent_tab = agent.url
        assert agent_tab.startswith(f"http://{sid}-")

        # customer 1: invite link -> consent -> joined
        customer_ctx = await browser.new_context(viewport=DESKTOP)
        customer = await customer_ctx.new_page()
        await customer.goto(invite)
        await expect(customer.locator("h1")).to_have_text("Ann Agent invites you to browse together")
        await expect(customer.locator("body")).to_contain_text("Passwords, payment card details")
        await shots.take(customer, "consent")
        await customer.fill("#name", "Carla")
        await customer.click("text=Join the session")
        await customer.wait_for_load_state()
        cookies = {c["name"]: c for c in await customer_ctx.cookies()}
        cred = cookies[f"tandem_p_{sid}"]
        assert cred["httpOnly"] and cred["domain"].lstrip(".") == t.base.hostname

        # customer 2: PIN at BASE/join -> consent -> joined
        pin_ctx = await browser.new_context(viewport=DESKTOP)
        pinner = await pin_ctx.new_page()
        await pinner.goto(t.url + "/join")
        await shots.take(pinner, "join-pin")
        await pinner.fill("#pin", "000000" if pin != "000000" else "000001")
        await pinner.press("#pin", "Enter")
        await expect(pinner.locator("[role=alert]")).to_contain_text("not valid")
        await pinner.fill("#pin", pin)
        await pinner.press("#pin", "Enter")
        await expect(pinner.locator("h1")).to_contain_text("invites you")
        await pinner.click("text=Join the session")
        await pinner.wait_for_load_state()
        names = sorted((p.name, p.kind) for p in await store.participants(sid))
        assert names == [("Ann Agent", "agent"), ("Carla", "customer"), ("Customer", "customer")]

        # a proxied page can neither read nor toss the participant credential or the agent's sign-in
        before = {c["name"]: c["value"] for c in await agent_ctx.cookies()}
        seen = await agent.evaluate("document.cookie")
        assert "tandem_p_" not in seen and "tandem_agent" not in seen
        await agent.evaluate("""async (sid) => {
          const names = ['tandem_p_' + sid, '__Host-tandem_agent', '__Secure-tandem_agent', 'tandem_agent'];
          const f = document.createElement('iframe'); document.body.append(f);
          const d = Object.getOwnPropertyDescriptor(f.contentWindow.Document.prototype, 'cookie');
          for (const n of names) for (const attrs of ['; domain=' + location.hostname.split('.').slice(1).join('.').split(':')[0] + '; path=/',
                                                      '; domain=tandem.localhost; path=/console', '; path=/']) {
            try { d.set.call(document, n + '=tossed' + attrs); } catch (e) {}
            try { document.cookie = n + '=tossed' + attrs; } catch (e) {}
          }
          if (window.cookieStore) for (const n of names) {
            try { await cookieStore.set({name: n, value: 'tossed', domain: 'tandem.localhost', path: '/'}); } catch (e) {}
          }
        }""", sid)
        after = await agent_ctx.cookies()
        base_cookies = {(c["name"], c["path"]): c["value"] for c in after if c["domain"].lstrip(".") == t.base.hostname}
        assert base_cookies[("__Host-tandem_agent", "/")] == before["__Host-tandem_agent"]  # never overwritten
        assert base_cookies[(f"tandem_p_{sid}", f"/s/{sid}")] == before[f"tandem_p_{sid}"]  # host-only, this session's paths
        assert not any(n.startswith("__Host-") and v == "tossed" for (n, _), v in base_cookies.items())
        # CSRF from the proxied page: the browser attaches the agent's cookie (same-site), the console refuses
        before_sessions = len(await store.list_sessions())
        # even handed the real CSRF token (which it cannot read), the proxied page is refused: its Origin is LABEL.BASE
        peek = await agent_ctx.new_page()
        await peek.goto(t.url + "/console")
        token = await peek.get_attribute("input[name=csrf]", "value")
        await peek.close()
        outcome = await agent.evaluate("""async ([base, token]) => {
          const body = new URLSearchParams({url: 'http://shop.localhost/', lead: 'agent', csrf: token});
          const out = {};
          await fetch(base + '/console/sessions', {method: 'POST', mode: 'no-cors', credentials: 'include', body});
          try { await (await fetch(base + '/console', {credentials: 'include'})).text(); out.read = 'readable'; }
          catch (e) { out.read = 'blocked'; }
          try { const r = await fetch(base + '/api/v1/sessions', {method: 'POST', credentials: 'include',
                  headers: {'Content-Type': 'text/plain'}, body: '{"url":"http://shop.localhost/"}', mode: 'no-cors'}); out.api = r.type; }
          catch (e) { out.api = 'error'; }
          const f = document.createElement('form'); f.method = 'post'; f.action = base + '/console/sessions'; f.target = 'csrf';
          for (const [k, v] of body) { const i = document.createElement('input'); i.name = k; i.value = v; f.append(i); }
          const frame = document.createElement('iframe'); frame.name = 'csrf'; document.body.append(frame, f);
          const loaded = new Promise((ok) => frame.onload = ok); f.submit(); await loaded;
          return out;
        }""", [t.url, token])
        assert outcome["read"] == "blocked"  # no CORS: the console's pages can't be read from LABEL.BASE
        assert len(await store.list_sessions()) == before_sessions  # neither the fetch nor the form created a session
        # whatever was tossed, the console still knows the agent and the session still admits the participant
        console = await agent_ctx.new_page()
        await console.goto(f"{t.url}/console/sessions/{sid}")
        await expect(console.locator("h1")).to_contain_text("Session on shop.localhost")
        resp = await agent.reload()
        assert resp.status == 200

        # the agent ends the session: everyone's next request shows it ended
        await console.click("text=End session")
        await console.wait_for_url(t.url + "/console")
        await expect(console.locator("body")).to_contain_text("No live sessions")
        resp = await agent.reload()
        assert resp.status == 410
        await expect(agent.locator("h1")).to_have_text("This co-browsing session has ended")
        resp = await customer.goto(agent_tab)
        assert resp.status == 410
        resp = await customer.goto(invite)
        assert resp.status == 410
        kinds = [e.kind for e in await store.audit_events(session_id=sid)]
        assert kinds.count("participant.joined") == 3 and kinds[0] == "session.ended"


async def test_admin_adds_a_domain_then_off_list_navigation_is_blocked(make_tandem, demo, tmp_path):
    from playwright.async_api import expect

    shots = Shots(tmp_path)
    t = await make_tandem()
    store = t.app[appkeys.STORE]
    await store.create_agent("root", "Root Admin", PASSWORD, is_admin=True)
    await policy.allow(store, "example.org")
    async with chromium() as browser:
        ctx = await browser.new_context(viewport=DESKTOP)
        page = await ctx.new_page()
        await sign_in(page, t, "root")
        await page.fill("#url", demo.shop + "/")
        await page.click("text=Start session")
        await expect(page.locator("[role=alert]")).to_contain_text("shop.localhost is not on the allowlist")

        await page.click("nav >> text=Admin")
        await shots.take(page, "admin-agents")
        await page.click("text=Allowlist")
        await page.fill("#pattern", "shop.localhost")
        await page.fill("#redirect", "")
        await page.click("text=Add site")
        await expect(page.locator("[role=status]")).to_contain_text("shop.localhost added")
        await page.fill("#pattern", "*.localhost")
        await page.click("text=Add site")  # the CDN is under it; the widgets host is removed below
        await page.click("button[aria-label='Remove *.localhost']")
        await page.fill("#pattern", "cdn.localhost")
        await page.click("text=Add site")
        await shots.take(page, "admin-allowlist")
        await page.click("text=API keys")
        await page.fill("#kname", "CRM")
        await page.click("text=Create key")
        key = await page.input_value("#newkey")
        assert key.startswith("tdm_")
        await shots.take(page, "admin-key-created")
        await page.click("text=Masking")
        await page.fill("#mpattern", "shop.localhost")
        await page.fill("#selectors", "#quantity")
        await page.click("text=Save")
        await shots.take(page, "admin-masking")
        await page.click("text=Retention")
        await shots.take(page, "admin-retention")
        await page.click("text=Audit log")
        await expect(page.locator("table")).to_contain_text("allowlist.added")
        await shots.take(page, "admin-audit")
        assert (await policy.selectors(store, "shop.localhost"))[0] == ("#quantity",)

        # now the session starts and navigation goes through; the off-list widgets site shows the block page
        await page.click("nav >> text=Sessions")
        await page.fill("#url", demo.shop + "/")
        await page.click("text=Start session")
        await page.wait_for_url("**/console/sessions/**")
        await page.click("text=Open session")
        await expect(page.locator("#js-status")).to_have_text("JavaScript on")
        await page.click("nav >> text=Products")
        await expect(page).to_have_url(re.compile(r".*/products$"))
        sid = page.url.split("://")[1].split("-")[0]
        blocked = (await t.app[appkeys.SESSIONS].get(sid)).url_rewriter(t.base).to_proxy(demo.widgets + "/widget")
        resp = await page.goto(blocked)
        assert resp.status == 403
        await expect(page.locator("h1")).to_have_text("This site is not available for co-browsing")
        # (A follower sees the leader's tab through the session page's mirror: showing the block page there is the
        # session page's work, tested with it.)


async def test_snippet_moves_the_customer_into_a_session_with_cookies(make_tandem, tmp_path):
    from playwright.async_api import expect

    from viewer.snippet.demo import DEMO_HOST, demo_site_app

    shots = Shots(tmp_path)
    t = await make_tandem(extra_allow=(Entry(DEMO_HOST),))
    runner, origin = await serve_app(demo_site_app(t.url))
    site = origin.replace("127.0.0.1", DEMO_HOST)
    await t.app[appkeys.STORE].create_agent("ann", "Ann Agent", PASSWORD)
    try:
        async with chromium() as browser:
            ctx = await browser.new_context(viewport=DESKTOP)
            page = await ctx.new_page()
            await page.goto(site + "/")
            await page.click("#watch")
            await expect(page.locator("#out")).to_contain_text("/console/watch/v_")
            await shots.take(page, "snippet-demo")
            await page.click("#start")
            await page.wait_for_url(lambda u: ".tandem.localhost:" in u)
            assert "acme_pref=large-text" in await page.evaluate("document.cookie")  # carried into the jar
            await expect(page.locator("#log")).to_have_text("")
            await page.click("#pin")
            await expect(page.locator("#out")).to_contain_text('"pin"')
            pin = (await page.inner_text("#out")).split('"pin":"')[1][:6]
            # the agent joins with the PIN; the customer's page hears viewer_joined
            agent_ctx = await browser.new_context(viewport=DESKTOP)
            agent = await agent_ctx.new_page()
            await sign_in(agent, t, "ann")
            await agent.fill("#agent-pin", pin)
            await agent.click("form[action='/console/join-pin'] button")
            await agent.wait_for_load_state()
            await expect(page.locator("#log")).to_contain_text("viewer_joined", timeout=15_000)
            await page.click("#end")
            await expect(page.locator("#log")).to_contain_text("session_ended")
    finally:
        await runner.cleanup()

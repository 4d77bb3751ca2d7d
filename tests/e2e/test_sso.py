"""Agents' single sign-on end to end: real Chromium, real Tandem, a real OpenID provider
(`oidc-provider` from npm, OpenID Certified) on loopback — tests/oidc/provider.mjs, one per module.

Covered: just-in-time agent creation, the admin flag from the `groups` claim (given and taken
away at later sign-ins), PKCE (S256) and a nonce in the request, sign-out (the cookie dead on the
server too), a user switched off at the provider (at sign-in and after it), an agent disabled in
Tandem (while signed in, and signing in again), a wrong audience, a forged signature, an expired
and a future ID token (and one inside the leeway), a nonce and a state mismatch, a replayed
callback and a replayed code, and password sign-in switched off.
Every refusal is a fixed page: its status, its code, no traceback and no byte of the request.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest

from tandem import appkeys
from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_control_flows import check_accessible
from tests.harness import free_socket

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = ROOT / "tests" / "oidc" / "provider.mjs"
SHOTS = os.environ.get("TANDEM_SHOTS")  # a directory: sign-in and admin pages at 1280 and 360 px
WAIT_MS = 10_000
BAIT = "<script>alert(1)</script>"

pytestmark = [
    pytest.mark.e2e, needs_chromium,
    pytest.mark.skipif(shutil.which("node") is None or not (ROOT / "node_modules" / "oidc-provider").is_dir(),
                       reason="needs node and node_modules/oidc-provider (npm install)"),
]


@dataclass
class Idp:
    issuer: str

    async def post(self, path: str, body: dict) -> None:
        async with aiohttp.ClientSession() as http:
            async with http.post(self.issuer + path, data=json.dumps(body)) as r:
                assert r.status == 200, await r.text()


@pytest.fixture(scope="module")
def idp():
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen(["node", str(PROVIDER), str(port)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)  # stdin: the provider exits when this process goes
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        line = proc.stdout.readline().decode() if ready else ""
        assert line.startswith("ready "), f"provider did not start: {line!r}"
        yield Idp(line.split()[1])
    finally:
        proc.terminate()
        proc.wait(10)


async def sso_tandem(make_tandem, idp: Idp, **settings):
    client_id, secret = "tandem-" + secrets.token_hex(4), secrets.token_urlsafe(24)
    t = await make_tandem(oidc_issuer=idp.issuer, oidc_client_id=client_id, oidc_client_secret=secret,
                          oidc_insecure_loopback=True, oidc_name="Test IdP", oidc_scopes="openid profile email groups",
                          oidc_admin_value="tandem-admins", **settings)
    await idp.post("/__test/clients", {"client_id": client_id, "client_secret": secret,
                                       "redirect_uris": [t.url + "/console/sso/callback"]})
    return t


async def shoot(page, name: str) -> None:
    """Labels, names and a focus ring checked; at 1280 and 360 px (no sideways scrolling), kept in TANDEM_SHOTS."""
    await check_accessible(page)
    for width in (1280, 360):
        await page.set_viewport_size({"width": width, "height": 900})
        if width == 360:
            overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name}: scrolls sideways at 360 px"
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=f"{SHOTS}/{name}-{width}.png", full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 900})


async def sign_in(page, t, user: str | None, *, path: str = "/console/login") -> None:
    """Press "Sign in with Test IdP" and, when the provider asks, give the user name."""
    await page.goto(t.url + path)
    await page.get_by_role("link", name="Sign in with Test IdP").click()
    if user is not None:
        await page.wait_for_selector("#user", timeout=WAIT_MS)
        await page.fill("#user", user)
        await page.click("button[type=submit]")
    await page.wait_for_load_state("load")


async def expect_refused(page, status: int, code: str, *, bait: str = "") -> None:
    html = await page.content()
    assert "Sign-in failed" in html, html[:500]
    assert f"Error {status}" in html and f"code: {code}" in html, html
    for leak in ("Traceback", "here</b>", "switched off <b>", BAIT, "alert(1)") + ((bait,) if bait else ()):
        assert leak not in html


async def expect_console(page, t) -> None:
    await page.wait_for_url(t.url + "/console", timeout=WAIT_MS)
    assert await page.get_by_role("heading", name="Co-browse a page").is_visible()


async def test_sign_in_creates_the_agent_maps_admin_and_signs_out(make_tandem, idp):
    t = await sso_tandem(make_tandem, idp)
    store = t.app[appkeys.STORE]
    async with chromium() as browser:
        ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await ctx.new_page()
        await page.goto(t.url + "/console/login")
        await shoot(page, "sso-sign-in")
        assert await page.get_by_role("button", name="Sign in with a password").is_visible()
        assert await store.agent_by_username("alice") is None
        await sign_in(page, t, "alice")
        await expect_console(page, t)
        alice = await store.agent_by_username("alice")
        assert alice is not None and alice.is_admin and alice.name == "Alice Admin" and alice.active
        assert await page.get_by_role("link", name="Admin").is_visible()
        await page.goto(t.url + "/admin/sso")
        assert idp.issuer in await page.content()
        assert t.url + "/console/sso/callback" in await page.content()
        await shoot(page, "sso-admin")
        # sign out: the console asks for a sign-in again
        signed = [c for c in await ctx.cookies(t.url) if c["name"].endswith("tandem_agent")]
        assert len(signed) == 1
        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_url(t.url + "/console/login", timeout=WAIT_MS)
        assert not [c["name"] for c in await ctx.cookies(t.url) if c["name"].endswith(("tandem_agent", "tandem_sso"))]
        await page.goto(t.url + "/console")
        assert urlsplit(page.url).path == "/console/login"
        # the signed-out cookie, kept and sent again from another browser, is dead on the server too
        replay = await browser.new_context()
        await replay.add_cookies(signed)
        stale = await replay.new_page()
        await stale.goto(t.url + "/console")
        assert urlsplit(stale.url).path == "/console/login"
        await replay.close()
        # the same person again: the same agent, not a second one
        await sign_in(page, t, None)  # the provider still knows alice: no question asked
        await expect_console(page, t)
        assert [a.username for a in await store.agents()] == ["alice"]

        bob_ctx = await browser.new_context()
        bob = await bob_ctx.new_page()
        await sign_in(bob, t, "bob", path="/console/login?next=%2Fadmin")
        await bob.wait_for_url(t.url + "/admin", timeout=WAIT_MS)  # next= kept; then refused: no admin
        agent = await store.agent_by_username("bob")
        assert agent is not None and not agent.is_admin
        await bob.goto(t.url + "/console")
        assert not await bob.get_by_role("link", name="Admin").count()

        # the admin flag follows the claim at every sign-in: given, then taken away
        for groups, admin in ((["staff", "tandem-admins"], True), (["staff"], False)):
            await idp.post("/__test/groups", {"user": "bob", "groups": groups})
            again = await (await browser.new_context()).new_page()
            await sign_in(again, t, "bob")
            await expect_console(again, t)
            assert (await store.agent_by_username("bob")).is_admin is admin
            assert (await again.get_by_role("link", name="Admin").count() > 0) is admin
        assert [a.username for a in await store.agents()] == ["alice", "bob"]


async def test_refusals_each_show_a_clear_page(make_tandem, idp):
    t = await sso_tandem(make_tandem, idp)
    store = t.app[appkeys.STORE]
    async with chromium() as browser:
        async def fresh():
            ctx = await browser.new_context()
            return await ctx.new_page()

        # switched off at the provider: it answers access_denied (with a description we never show)
        page = await fresh()
        await sign_in(page, t, "carol")
        await expect_refused(page, 403, "sso_refused")
        await shoot(page, "sso-refused")
        assert await store.agent_by_username("carol") is None

        # switched off at the provider after it sent the code, before Tandem redeems it
        page = await fresh()
        await idp.post("/__test/revoke", {"user": "dave", "after_code": True})
        await sign_in(page, t, "dave")
        await expect_refused(page, 403, "sso_code")
        assert await store.agent_by_username("dave") is None

        # disabled in Tandem: the signed-in console is closed to them at once, and SSO refuses them
        page = await fresh()
        await sign_in(page, t, "bob")
        await expect_console(page, t)
        bob = await store.agent_by_username("bob")
        await store.update_agent(bob.id, disabled=True)
        await page.goto(t.url + "/console")
        assert urlsplit(page.url).path == "/console/login"
        page = await fresh()
        await sign_in(page, t, "bob")
        await expect_refused(page, 403, "sso_disabled")

        # ID tokens the provider signs with its own key, but for someone else, too old, from the
        # future or for another request; and one signed with a key it never published. One browser:
        # after the first, the provider knows alice and answers at once.
        page, user = await fresh(), "alice"
        now = int(time.time())
        for change, code in (({"claims": {"aud": "someone-else"}}, "sso_token"),
                             ({"claims": {"aud": ["someone-else"], "azp": t.settings.oidc_client_id}}, "sso_token"),
                             ({"claims": {"iat": now - 7200, "exp": now - 3600}}, "sso_clock"),
                             ({"claims": {"iat": now + 3600, "exp": now + 7200}}, "sso_clock"),
                             ({"claims": {"nonce": "another-request"}}, "sso_token"),
                             ({"claims": {"iss": "https://evil.example"}}, "sso_token"),
                             ({"foreign_key": True}, "sso_token")):
            await idp.post("/__test/next-id-token", change)
            await sign_in(page, t, user)
            await expect_refused(page, 403, code)
            user = None
        assert await store.agent_by_username("alice") is None

        # a clock a little off (inside the leeway) is fine
        await idp.post("/__test/next-id-token", {"claims": {"iat": now + 30}})
        await sign_in(page, t, None)
        await expect_console(page, t)


async def test_state_and_code_cannot_be_replayed_or_swapped(make_tandem, idp):
    t = await sso_tandem(make_tandem, idp)
    async with chromium() as browser:
        ctx = await browser.new_context()
        page = await ctx.new_page()
        seen: list[str] = []
        page.on("request", lambda r: seen.append(r.url) if "/console/sso/callback" in r.url else None)
        await sign_in(page, t, "alice")
        await expect_console(page, t)
        first = seen[-1]

        # the same answer again: the pending sign-in is spent
        await page.goto(first)
        await expect_refused(page, 400, "sso_state")

        # a state that is not this browser's (login CSRF), with a bait in it
        q = parse_qs(urlsplit(first).query)
        await page.goto(t.url + "/console/sso/callback?" + urlencode({"code": q["code"][0], "state": BAIT, "iss": q["iss"][0]}))
        await expect_refused(page, 400, "sso_state")

        async def new_pending_state() -> str:
            """A sign-in started in a new browser, waiting at the provider's form: its state."""
            ctx = await browser.new_context()
            fresh = await ctx.new_page()
            asked: list[str] = []
            fresh.on("request", lambda r: asked.append(r.url) if r.url.startswith(idp.issuer + "/auth?") else None)
            await fresh.goto(t.url + "/console/login")
            await fresh.get_by_role("link", name="Sign in with Test IdP").click()
            await fresh.wait_for_selector("#user", timeout=WAIT_MS)
            sent = parse_qs(urlsplit(asked[0]).query)
            # PKCE with S256 (a SHA-256 is 43 base64url characters), a nonce, the code flow
            assert sent["code_challenge_method"] == ["S256"] and len(sent["code_challenge"][0]) == 43
            assert sent["response_type"] == ["code"] and len(sent["nonce"][0]) >= 20
            return fresh, sent["state"][0]

        # an answer naming another issuer (mix-up) is refused before its code goes anywhere
        other, state = await new_pending_state()
        await other.goto(t.url + "/console/sso/callback?" + urlencode({"code": q["code"][0], "state": state, "iss": "https://evil.example"}))
        await expect_refused(other, 400, "sso_issuer")

        # a browser waiting for its own answer gets one with another state (login CSRF): refused, and
        # its own sign-in is not spent by it
        other, state = await new_pending_state()
        await other.goto(t.url + "/console/sso/callback?" + urlencode({"code": q["code"][0], "state": "x" + state, "iss": q["iss"][0]}))
        await expect_refused(other, 400, "sso_state")
        # the old code with that browser's own state: the provider refuses a code used once
        await other.goto(t.url + "/console/sso/callback?" + urlencode({"code": q["code"][0], "state": state, "iss": q["iss"][0]}))
        await expect_refused(other, 403, "sso_code")


async def test_password_sign_in_switched_off_by_the_admin(make_tandem, idp):
    t = await sso_tandem(make_tandem, idp)
    store = t.app[appkeys.STORE]
    await store.create_agent("ann", "Ann", "correct horse battery", is_admin=True)
    async with chromium() as browser:
        ctx = await browser.new_context()
        page = await ctx.new_page()
        # a password works while allowed
        await page.goto(t.url + "/console/login")
        await page.fill("#username", "ann")
        await page.fill("#password", "correct horse battery")
        await page.get_by_role("button", name="Sign in with a password").click()
        await expect_console(page, t)
        await page.goto(t.url + "/admin/sso")
        await page.get_by_role("button", name="Switch password sign-in off").click()
        await page.wait_for_url("**/admin/sso?ok=*", timeout=WAIT_MS)
        assert "Password sign-in is <strong>off</strong>" in await page.content()
        assert not await store.local_passwords()

        other = await (await browser.new_context()).new_page()
        await other.goto(t.url + "/console/login")
        assert await other.get_by_role("link", name="Sign in with Test IdP").is_visible()
        assert not await other.locator("#password").count()
        await shoot(other, "sso-sign-in-passwords-off")
        # the form, posted anyway from Tandem's own origin, is refused
        async with other.expect_navigation() as nav:
            await other.evaluate("""() => {
                const form = Object.assign(document.createElement('form'), {method: 'post', action: '/console/login'});
                for (const [name, value] of [['username', 'ann'], ['password', 'correct horse battery']])
                    form.append(Object.assign(document.createElement('input'), {name, value}));
                document.body.append(form);
                form.submit();
            }""")
        response = await nav.value
        html = await other.content()
        assert response.status == 403 and "switched off" in html and "Traceback" not in html
        assert not await other.locator("#password").count()
        # single sign-on still works
        await sign_in(other, t, "bob")
        await expect_console(other, t)


async def test_a_provider_naming_another_issuer_is_not_used(make_tandem, idp):
    """Discovery at http://localhost:PORT answers issuer http://127.0.0.1:PORT: not the configured one."""
    port = urlsplit(idp.issuer).port
    t = await make_tandem(oidc_issuer=f"http://localhost:{port}", oidc_client_id="tandem", oidc_insecure_loopback=True,
                          oidc_name="Test IdP")
    r = await t.client.get(t.url + "/console/sso", allow_redirects=False)
    html = await r.text()
    assert r.status == 502 and "code: sso_discovery" in html and "Traceback" not in html
    assert "Location" not in r.headers


async def test_failed_answers_are_throttled_per_address(make_tandem, idp):
    """Forged answers cost the sender: after the password form's budget of failures (20 per address), 429."""
    from tandem.ratelimit import LOGIN_FAILURES_PER_ADDRESS

    t = await sso_tandem(make_tandem, idp)
    url = t.url + "/console/sso/callback?" + urlencode({"code": "forged", "state": BAIT})
    for _ in range(LOGIN_FAILURES_PER_ADDRESS[0]):
        r = await t.client.get(url)
        assert r.status == 400 and "code: sso_state" in await r.text()
    r = await t.client.get(url)
    html = await r.text()
    assert r.status == 429 and "code: sso_throttled" in html and BAIT not in html and "alert(1)" not in html
    failures = await t.app[appkeys.STORE].audit_events(kind="agent.login_failed")
    assert len(failures) == LOGIN_FAILURES_PER_ADDRESS[0]

"""Security: CSRF from a proxied origin, forged/expired/revoked/other-session invites, PIN and password
brute force, the sign-in cookie's prefix, API refusing ambient cookies."""

import time

import pytest

from proxy.sessions import CONSENT
from tandem import appkeys
from tandem.ratelimit import PIN_FAILURES_GLOBAL, PIN_FAILURES_PER_ADDRESS

from .helpers import AGENT_COOKIE, add_agent, cookie_from

URL = "http://127.0.0.1:9/start"


async def test_sign_in_cookie_is_host_prefixed_and_strict(make_tandem, console):
    t = await make_tandem()
    await add_agent(t)
    c = await console(t, login=False)
    r, _ = await c.post("/console/login", {"username": "ann", "password": "correct horse battery"}, csrf=False)
    header = r.headers["Set-Cookie"]
    assert header.startswith(AGENT_COOKIE + "=")
    for attr in ("HttpOnly", "Secure", "Path=/", "SameSite=Strict"):
        assert attr in header
    assert "Domain" not in header  # host-only: required for __Host-, and LABEL.BASE never receives it


def proxied_origin(t, sid="abcdefghjkmn") -> str:
    return f"http://{sid}-h9-example-com.{t.base.domain}"


async def test_csrf_from_proxied_origin_is_refused(make_tandem, console):
    """A page on LABEL.BASE is same-site with the console: the browser would attach the agent's cookie to its
    form posts. Without BASE's Origin and the page's CSRF token, nothing happens."""
    t = await make_tandem()
    c = await console(t)
    store = t.app[appkeys.STORE]
    attempts = [
        dict(origin=proxied_origin(t)),  # cookie + right CSRF token, wrong Origin
        dict(origin=proxied_origin(t), headers={"Sec-Fetch-Site": "same-site"}),
        dict(origin=None),  # no Origin at all
        dict(origin="null"),
        dict(origin="self", headers={"Sec-Fetch-Site": "same-site"}),  # Origin spoofed? the fetch metadata still says same-site
        dict(origin="self", csrf=False),  # right Origin, no token
    ]
    for kw in attempts:
        r, text = await c.post("/console/sessions", {"url": URL, "lead": "agent"}, **kw)
        assert r.status == 403 and "bad_origin" in text, kw
    r, text = await c.post("/console/sessions", {"url": URL, "csrf": "0" * 32})
    assert r.status == 403
    assert await store.list_sessions() == []
    r, _ = await c.post("/console/sessions", {"url": URL, "lead": "agent"})
    assert r.status == 303 and len(await store.list_sessions()) == 1


async def test_admin_and_logout_posts_need_origin_too(make_tandem, console):
    t = await make_tandem()
    c = await console(t, "root", admin=True)
    r, _ = await c.post("/admin/allowlist", {"pattern": "evil.example"}, origin=proxied_origin(t))
    assert r.status == 403 and await t.app[appkeys.STORE].allowlist() == []
    r, _ = await c.post("/admin/keys", {"name": "stolen"}, origin=proxied_origin(t))
    assert r.status == 403 and await t.app[appkeys.STORE].api_keys() == []
    r, _ = await c.post("/console/logout", {}, origin=proxied_origin(t))
    assert r.status == 403
    r, _ = await c.get("/console")
    assert r.status == 200  # still signed in


async def test_api_ignores_ambient_cookies(make_tandem, console):
    t = await make_tandem()
    c = await console(t, "root", admin=True)
    r = await c.client.post(t.url + "/api/v1/sessions", json={"url": URL},
                            headers={"Cookie": f"{AGENT_COOKIE}={c.cookies[AGENT_COOKIE]}", "Origin": t.url})
    assert r.status == 401


async def test_join_post_needs_base_origin(make_tandem):
    t = await make_tandem()
    s = await t.api("POST", "/api/v1/sessions", json={"url": URL})
    invite = (await s.json())["invite_url"]
    sid, token = invite.split("/s/")[1].split("/join?t=")
    r = await t.client.post(f"{t.url}/s/{sid}/join", data={"t": token}, headers={"Origin": proxied_origin(t, sid)}, allow_redirects=False)
    assert r.status == 403
    r = await t.client.post(f"{t.url}/s/{sid}/join", data={"t": token}, headers={"Origin": t.url}, allow_redirects=False)
    assert r.status == 303


def _tamper(token: str, index: int, value: str) -> str:
    parts = token.split(".")
    parts[index] = value
    return ".".join(parts)


async def test_invite_tokens_forged_expired_revoked_other_session(make_tandem):
    t = await make_tandem()
    sessions = t.app[appkeys.SESSIONS]
    a = await sessions.create(URL)
    b = await sessions.create(URL)
    good = await sessions.invite(a.sid, "follower")
    cases = {
        "forged mac": _tamper(good, 5, "A" * 22),
        "role raised": _tamper(good, 2, "leader"),
        "expiry pushed": _tamper(good, 4, str(int(time.time()) + 10**6)),
        "garbage": "inv.x.y",
        "empty": "",
        "expired": await sessions.invite(a.sid, "follower", ttl=-5),
    }
    for name, token in cases.items():
        r = await t.client.get(f"{t.url}/s/{a.sid}/enter?t={token}", allow_redirects=False)
        assert r.status == 403 and "invalid_invite" in await r.text(), name
    # another session's token
    r = await t.client.get(f"{t.url}/s/{b.sid}/enter?t={good}", allow_redirects=False)
    assert r.status == 403
    # a signed token whose record is gone (never issued by this store) is refused too
    forged_id = sessions.signer.sign("inv", a.sid, "follower", "neverissued", ttl=600)
    r = await t.client.get(f"{t.url}/s/{a.sid}/enter?t={forged_id}", allow_redirects=False)
    assert r.status == 403
    # revoked
    assert (await t.client.get(f"{t.url}/s/{a.sid}/enter?t={good}", allow_redirects=False)).status == 303
    await sessions.revoke_invites(a.sid)
    r = await t.client.get(f"{t.url}/s/{a.sid}/enter?t={good}", allow_redirects=False)
    assert r.status == 403
    # consent invites: the consent page is read-only; a single-use one is spent by the join only
    once = await sessions.invite(a.sid, "follower", audience=CONSENT, single_use=True)
    for _ in range(2):
        r = await t.client.get(f"{t.url}/s/{a.sid}/join?t={once}")
        assert r.status == 200
    r = await t.client.get(f"{t.url}/s/{a.sid}/enter?t={once}", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == f"/s/{a.sid}/join?t={once}"  # consent links never skip consent
    post = dict(data={"t": once}, headers={"Origin": t.url}, allow_redirects=False)
    assert (await t.client.post(f"{t.url}/s/{a.sid}/join", **post)).status == 303
    assert (await t.client.post(f"{t.url}/s/{a.sid}/join", **post)).status == 403
    assert (await t.client.get(f"{t.url}/s/{a.sid}/join?t={once}")).status == 403


async def _pin_post(t, pin):
    return await t.client.post(t.url + "/join", data={"pin": pin}, headers={"Origin": t.url}, allow_redirects=False)


async def test_pin_join_and_brute_force_throttled_per_address(make_tandem):
    t = await make_tandem()
    r = await t.api("POST", "/api/v1/sessions", json={"url": URL})
    pin = (await r.json())["pin"]
    wrong = f"{(int(pin) + 1) % 10**6:06d}"
    limit = PIN_FAILURES_PER_ADDRESS[0]
    for i in range(limit):
        r = await _pin_post(t, wrong)
        assert r.status == 400, i
    r = await _pin_post(t, pin)  # even the right PIN waits now
    assert r.status == 429 and int(r.headers["Retry-After"]) > 0
    assert "Too many" in await r.text()
    await t.app[appkeys.LIMITS].pin_address.reset("127.0.0.1")
    r = await _pin_post(t, " ".join([pin[:3], pin[3:]]))  # typed with a space, as read out
    assert r.status == 303 and "/join?t=" in r.headers["Location"]
    consent = await t.client.get(r.headers["Location"])
    assert consent.status == 200 and "invites you" in await consent.text()


async def _pin_from(t, pin, address):
    return await t.client.post(t.url + "/join", data={"pin": pin}, allow_redirects=False,
                               headers={"Origin": t.url, "X-Forwarded-For": address})


async def test_finding_19_wrong_pins_from_many_addresses_do_not_lock_out_the_right_one(make_tandem, monkeypatch):
    """Issue 10 #19: 100 wrong PINs from a dozen addresses used to lock out every PIN join, the right ones included.
    Now others' guessing never turns a right PIN away; the guessers themselves run out of tries sooner."""
    monkeypatch.setenv("TANDEM_TRUSTED_PROXIES", "127.0.0.0/8")
    t = await make_tandem()
    r = await t.api("POST", "/api/v1/sessions", json={"url": URL})
    pin = (await r.json())["pin"]
    wrong = f"{(int(pin) + 1) % 10**6:06d}"
    attackers = [f"198.51.{i}.7" for i in range(12)]
    sent = 0
    for address in attackers:
        for _ in range(PIN_FAILURES_PER_ADDRESS[0]):
            if (await _pin_from(t, wrong, address)).status == 400:
                sent += 1
    assert sent >= PIN_FAILURES_GLOBAL[0]  # the old global budget is spent
    assert (await _pin_from(t, pin, "203.0.113.5")).status == 303  # a customer with the right PIN gets in
    # under attack, addresses that have been guessing are out of tries, the right PIN included
    assert (await _pin_from(t, pin, attackers[0])).status == 429
    # a customer who mistypes once still gets in
    assert (await _pin_from(t, wrong, "203.0.113.6")).status == 400
    assert (await _pin_from(t, pin, "203.0.113.6")).status == 303


async def test_pin_guessing_is_limited_per_network(make_tandem, monkeypatch):
    """Fresh addresses in one /24 share that network's budget."""
    monkeypatch.setenv("TANDEM_TRUSTED_PROXIES", "127.0.0.0/8")
    from tandem.ratelimit import PIN_FAILURES_PER_NETWORK

    t = await make_tandem()
    r = await t.api("POST", "/api/v1/sessions", json={"url": URL})
    pin = (await r.json())["pin"]
    wrong = f"{(int(pin) + 1) % 10**6:06d}"
    for i in range(PIN_FAILURES_PER_NETWORK[0]):
        assert (await _pin_from(t, wrong, f"192.0.2.{i + 1}")).status == 400
    assert (await _pin_from(t, pin, "192.0.2.200")).status == 429
    assert (await _pin_from(t, pin, "2001:db8::1")).status == 303
    for i in range(PIN_FAILURES_PER_ADDRESS[0]):
        await _pin_from(t, wrong, f"2001:db8:0:{i}::1")
    assert (await _pin_from(t, pin, "2001:db8:0:ff::1")).status == 303  # under the /48's budget still


async def test_pin_admits_a_few_joins_then_is_spent(make_tandem):
    t = await make_tandem()
    r = await t.api("POST", "/api/v1/sessions", json={"url": URL})
    pin = (await r.json())["pin"]
    from viewer.routes import PIN_USES

    for _ in range(PIN_USES):
        assert (await _pin_post(t, pin)).status == 303
    assert (await _pin_post(t, pin)).status == 400


async def test_password_guessing_is_throttled_per_user(make_tandem, console):
    from tandem.ratelimit import LOGIN_FAILURES_PER_USER

    t = await make_tandem()
    await add_agent(t)
    c = await console(t, login=False)
    for _ in range(LOGIN_FAILURES_PER_USER[0]):
        r, text = await c.post("/console/login", {"username": "ann", "password": "wrong password!"}, csrf=False)
        assert r.status == 401 and "password don" in text
    r, text = await c.post("/console/login", {"username": "ann", "password": "correct horse battery"}, csrf=False)
    assert r.status == 429 and cookie_from(r, AGENT_COOKIE) is None
    kinds = [e.kind for e in await t.app[appkeys.STORE].audit_events(kind="agent.login_failed")]
    assert len(kinds) == LOGIN_FAILURES_PER_USER[0]


async def test_unknown_user_and_disabled_agent_cannot_sign_in(make_tandem, console):
    t = await make_tandem()
    a = await add_agent(t)
    c = await console(t, login=False)
    r, _ = await c.post("/console/login", {"username": "nobody", "password": "correct horse battery"}, csrf=False)
    assert r.status == 401
    await t.app[appkeys.STORE].update_agent(a.id, disabled=True)
    r, _ = await c.post("/console/login", {"username": "ann", "password": "correct horse battery"}, csrf=False)
    assert r.status == 401


async def test_disabling_an_agent_ends_their_console_sessions(make_tandem, console):
    t = await make_tandem()
    c = await console(t)
    agent = await t.app[appkeys.STORE].agent_by_username("ann")
    await t.app[appkeys.STORE].update_agent(agent.id, disabled=True)
    r, _ = await c.get("/console")
    assert r.status == 303 and r.headers["Location"].startswith("/console/login")


@pytest.mark.parametrize("nxt", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
async def test_login_redirect_stays_on_base(make_tandem, console, nxt):
    from urllib.parse import quote

    t = await make_tandem()
    await add_agent(t)
    c = await console(t, login=False)
    r, _ = await c.post(f"/console/login?next={quote(nxt, safe='')}", {"username": "ann", "password": "correct horse battery"}, csrf=False)
    assert r.status == 303 and r.headers["Location"] == "/console"


async def test_pin_limits_key_on_forwarded_address_only_behind_a_trusted_proxy(make_tandem, monkeypatch):
    """Behind a TLS terminator every request comes from one peer: with TANDEM_TRUSTED_PROXIES the limits key on
    the client address the terminator forwards; without it, X-Forwarded-For is ignored (it could be forged)."""
    t = await make_tandem()
    limit = PIN_FAILURES_PER_ADDRESS[0]

    async def guess(addr):
        return await t.client.post(t.url + "/join", data={"pin": "abcdef"}, allow_redirects=False,
                                   headers={"Origin": t.url, "X-Forwarded-For": addr})

    for i in range(limit):
        assert (await guess(f"203.0.113.{i}")).status == 400
    assert (await guess("203.0.113.99")).status == 429  # untrusted: all one peer, forged header ignored
    await t.app[appkeys.LIMITS].pin_address.reset("127.0.0.1")
    monkeypatch.setenv("TANDEM_TRUSTED_PROXIES", "127.0.0.0/8")
    for _ in range(limit):
        assert (await guess("198.51.100.7")).status == 400
    assert (await guess("198.51.100.7")).status == 429
    assert (await guess("198.51.100.8")).status == 400  # another customer still has their budget

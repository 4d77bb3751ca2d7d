"""Issue 10 #2: participant credentials are host-only and bound to one place.

The control plane's credential lives on BASE under ``/s/<sid>``; each proxied host gets its
own through the entry hand-off (proxy/entry.py). Clients here use plain cookie jars and follow
the real redirects (the harness's ParticipantJar shortcut is not used)."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import aiohttp
from aiohttp import web
from yarl import URL

from proxy import credentials
from tandem import appkeys
from tests.harness import client_session

NAV = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Accept": "text/html"}
IMG = {"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}


async def two_origins(upstream):
    async def page(request):
        return web.Response(text=f"<p>page {request.path}</p>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    a = await upstream(app)
    app2 = web.Application()
    app2.router.add_get("/{tail:.*}", page)
    b = await upstream(app2)
    return a, b


def jar_cookies(client: aiohttp.ClientSession) -> list:
    return list(client.cookie_jar)


async def entered(t, start: str):
    """A session and a browser-like client (plain jar) that followed its leader link."""
    s = await t.session(start, enter=False)
    client = client_session(cookie_jar=aiohttp.CookieJar())
    r = await client.get(s.leader_url, headers=NAV)
    assert r.status == 200, await r.text()
    return s, client


async def test_enter_link_ends_on_the_start_page_with_host_only_credentials(make_tandem, upstream):
    a, _ = await two_origins(upstream)
    t = await make_tandem()
    s, client = await entered(t, a + "/start?x=1")
    try:
        start_host = urlsplit(s.url(a + "/")).hostname
        cookies = {(m.key, m["domain"], m["path"]): m for m in jar_cookies(client)}
        names = {k for k, _, _ in cookies}
        assert names == {f"tandem_p_{s.sid}", credentials.host_cookie_name(t.base)}
        for (name, domain, path), m in cookies.items():
            assert m["httponly"]
            if name.startswith("tandem_p_"):
                assert domain == t.base.hostname and path == f"/s/{s.sid}"
            else:
                assert domain == start_host and path == "/"
        r = await client.get(s.url(a + "/start?x=1"), headers=NAV, allow_redirects=False)
        assert r.status == 200 and "page /start" in await r.text()
    finally:
        await client.close()


async def test_a_new_host_of_the_session_gets_its_own_credential_through_the_hand_off(make_tandem, upstream):
    a, b = await two_origins(upstream)
    t = await make_tandem()
    s, client = await entered(t, a + "/")
    try:
        other = s.url(b + "/img.png")  # another upstream origin: another proxied host, no credential yet
        r = await client.get(other, headers=IMG, allow_redirects=False)
        assert r.status == 302
        step = r.headers["Location"]
        assert step.startswith(f"{t.url}/s/{s.sid}/pass?to={quote(other, safe='')}&n=")
        nonce_cookie = r.headers["Set-Cookie"]  # this browser's entry nonce: host-only, HttpOnly, for the entry only
        assert nonce_cookie.startswith("tandem_n_") and "HttpOnly" in nonce_cookie and "Domain" not in nonce_cookie
        assert "Path=/__tandem/enter" in nonce_cookie
        r = await client.get(step, headers=IMG, allow_redirects=False)
        assert r.status == 302 and "Set-Cookie" not in r.headers
        enter = r.headers["Location"]
        assert enter.startswith(other.split("/img.png")[0] + "/__tandem/enter?ticket=")
        ticket = parse_qs(urlsplit(enter).query)["ticket"][0]
        assert ticket not in await r.text()
        # copied by page code (the site's service worker sees this URL): useless without the nonce cookie
        thief = client_session(cookie_jar=aiohttp.DummyCookieJar())
        try:
            r = await thief.get(enter, headers=IMG, allow_redirects=False)
            assert "Set-Cookie" not in r.headers
            forged = f"tandem_n_{ticket.split('.')[5]}=1"  # what the ticket shows of the nonce is a digest
            r = await thief.get(enter, headers={**IMG, "Cookie": forged}, allow_redirects=False)
            assert "Set-Cookie" not in r.headers
        finally:
            await thief.close()
        r = await client.get(enter, headers=IMG, allow_redirects=False)
        assert r.status == 302 and r.headers["Location"] == "/img.png"
        set_cookie = [v for v in r.headers.getall("Set-Cookie") if v.startswith(credentials.host_cookie_name(t.base))][0]
        assert "HttpOnly" in set_cookie and "Domain" not in set_cookie and ticket not in await r.text()
        r = await client.get(other, headers=IMG, allow_redirects=False)
        assert r.status == 200 and "page /img.png" in await r.text()
        # a ticket is spent once: replayed, it sets nothing
        r = await client.get(enter, headers=IMG, allow_redirects=False)
        assert "Set-Cookie" not in r.headers
    finally:
        await client.close()


async def test_a_credential_counts_only_on_its_own_host_and_place(make_tandem, upstream):
    a, b = await two_origins(upstream)
    t = await make_tandem()
    s, client = await entered(t, a + "/")
    s2, client2 = await entered(t, a + "/")  # another session, same site
    try:
        host_a = urlsplit(s.url(a + "/")).hostname
        name = credentials.host_cookie_name(t.base)
        host_value = next(m.value for m in jar_cookies(client) if m.key == name)
        control_value = next(m.value for m in jar_cookies(client) if m.key.startswith("tandem_p_"))
        anon = client_session(cookie_jar=aiohttp.DummyCookieJar())
        try:
            async def status(url: str, cookie: str) -> int:
                r = await anon.get(url, headers={**NAV, "Cookie": cookie}, allow_redirects=False)
                return r.status

            assert await status(s.url(a + "/"), f"{name}={host_value}") == 200  # its own host
            # another host of the same session, another session's host, the control plane: nothing
            assert await status(s.url(b + "/"), f"{name}={host_value}") == 302
            assert await status(s2.url(a + "/"), f"{name}={host_value}") == 302
            assert await status(f"{t.url}/s/{s.sid}", f"tandem_p_{s.sid}={host_value}") == 403
            # the control-plane credential is no pass on a proxied host, nor for another session
            assert await status(s.url(a + "/"), f"{name}={control_value}; tandem_p_{s.sid}={control_value}") == 302
            assert await status(f"{t.url}/s/{s2.sid}", f"tandem_p_{s2.sid}={control_value}") == 403
            assert await status(f"{t.url}/s/{s.sid}", f"tandem_p_{s.sid}={control_value}") == 200
        finally:
            await anon.close()
        assert host_a
    finally:
        await client.close()
        await client2.close()


async def test_the_control_plane_mints_tickets_only_for_its_own_sessions_hosts(make_tandem, upstream):
    a, _ = await two_origins(upstream)
    t = await make_tandem()
    s, client = await entered(t, a + "/")
    s2, client2 = await entered(t, a + "/")
    try:
        async def pass_status(sid: str, to: str, c=client, n: str = "0123456789abcdef") -> int:
            r = await c.get(f"{t.url}/s/{sid}/pass?to={quote(to, safe='')}&n={n}", headers=NAV, allow_redirects=False)
            return r.status

        assert await pass_status(s.sid, s.url(a + "/x")) == 302
        assert await pass_status(s.sid, s.url(a + "/x"), n="") == 400  # not through a host's hand-off
        assert await pass_status(s.sid, s2.url(a + "/x")) == 400  # another session's host
        assert await pass_status(s2.sid, s2.url(a + "/x")) == 403  # client holds no credential of s2 here...
        assert await pass_status(s2.sid, s2.url(a + "/x"), client2) == 302  # ...its own participant does
        for bad in ("http://evil.example/", "javascript:alert(1)", t.url + "/", "//" + urlsplit(s.url(a)).netloc + "/",
                    s.url(a + "/").replace("http://", "http://user@")):
            assert await pass_status(s.sid, bad) == 400, bad
        # a ticket is bound to its host: spent on another host of the session it sets nothing
        fresh = client_session(cookie_jar=aiohttp.CookieJar())
        try:
            r = await fresh.get(s.leader_url, allow_redirects=False)  # control-plane credential only
            r = await fresh.get(s.url(a + "/x"), headers=NAV, allow_redirects=False)
            r = await fresh.get(r.headers["Location"], headers=NAV, allow_redirects=False)
            enter = URL(r.headers["Location"], encoded=True)
            other_host = urlsplit(s.url(a.replace("127.0.0.1", "localhost") + "/")).netloc
            r = await fresh.get(enter.with_host(other_host.split(":")[0]), headers=NAV, allow_redirects=False)
            assert not any(v.startswith("tandem_h") for v in r.headers.getall("Set-Cookie", []))
            r = await fresh.get(enter, headers=NAV, allow_redirects=False)  # on its own host it works
            assert any(v.startswith("tandem_h") for v in r.headers.getall("Set-Cookie", []))
        finally:
            await fresh.close()
    finally:
        await client.close()
        await client2.close()


async def test_enter_never_redirects_off_its_host(make_tandem, upstream):
    a, _ = await two_origins(upstream)
    t = await make_tandem()
    s, client = await entered(t, a + "/")
    try:
        for to in ("//evil.example/", "/\\evil.example/", "https://evil.example/", "/%0d%0aSet-Cookie:x=1"):
            r = await client.get(f"{t.url}/s/{s.sid}/pass?to={quote(s.url(a + '/'), safe='')}&n=0123456789abcdef",
                                 allow_redirects=False)
            enter = URL(r.headers["Location"]).update_query(to=to)
            r = await client.get(enter, allow_redirects=False)
            assert r.status == 302
            location = r.headers["Location"]
            assert location.startswith("/") and not location.startswith("//") and "\\" not in location
            assert "\r" not in location and "\n" not in location
    finally:
        await client.close()


async def test_planted_cookies_are_ignored_and_expired(make_tandem, upstream):
    a, _ = await two_origins(upstream)
    t = await make_tandem()
    s, client = await entered(t, a + "/")
    try:
        name = credentials.host_cookie_name(t.base)
        real = next(m.value for m in jar_cookies(client) if m.key == name)
        anon = client_session(cookie_jar=aiohttp.DummyCookieJar())
        try:
            cookie = f"bomb={'x' * 3900}; {name}=forged; {name}={real}; tandem_p_{s.sid}=old"
            r = await anon.get(s.url(a + "/"), headers={**NAV, "Cookie": cookie}, allow_redirects=False)
            assert r.status == 200  # the real credential still counts; the rest is ignored
            expired = r.headers.getall("Set-Cookie")
            domain = f"Domain={t.base.hostname}"
            assert any(v.startswith("bomb=;") and "Max-Age=0" in v and domain not in v for v in expired)
            assert any(v.startswith("bomb=;") and domain in v for v in expired)
            assert any(v.startswith(f"tandem_p_{s.sid}=;") and domain in v for v in expired)  # an old Domain=BASE pass
            ours = [v for v in expired if v.startswith(f"{name}=")]
            assert ours and all(domain in v for v in ours)  # only the Domain=BASE copy of our name, never the real one
            # on the control plane: junk goes, Tandem's own cookies stay
            r = await anon.get(f"{t.url}/s/{s.sid}", headers={"Cookie": f"bomb=1; tandem_p_{s.sid}={real}"},
                               allow_redirects=False)
            expired = r.headers.getall("Set-Cookie", [])
            assert any(v.startswith("bomb=;") for v in expired)
            assert not any(v.startswith("tandem_p_") for v in expired)
        finally:
            await anon.close()
    finally:
        await client.close()


async def test_without_a_control_plane_credential_the_hand_off_says_join_first(make_tandem, upstream):
    a, _ = await two_origins(upstream)
    t = await make_tandem()
    s = await t.session(a + "/", enter=False)
    anon = client_session(cookie_jar=aiohttp.CookieJar())
    try:
        r = await anon.get(s.url(a + "/"), headers=NAV)
        assert r.status == 403 and "not_a_participant" in await r.text()
        assert str(r.url).startswith(f"{t.url}/s/{s.sid}/pass?")
    finally:
        await anon.close()
    assert await t.app[appkeys.SESSIONS].get(s.sid) is not None


async def test_a_form_post_to_a_host_not_entered_yet_goes_through_with_its_body(make_tandem, upstream):
    """A login form on www posting to login.example: 307 keeps the method and body on every hop,
    and the site sees the POST once, after the host has its credential."""
    seen = []

    async def login(request):
        seen.append((request.method, await request.read()))
        return web.Response(text="welcome", content_type="text/html")

    app = web.Application()
    app.router.add_post("/login", login)
    b = await upstream(app)
    a, _ = await two_origins(upstream)
    t = await make_tandem()
    s, client = await entered(t, a + "/")
    try:
        r = await client.post(s.url(b + "/login"), data=b"user=ann&pw=secret",
                              headers={**NAV, "Content-Type": "application/x-www-form-urlencoded"})
        assert r.status == 200 and (await r.text()).endswith("welcome")
        assert [h.status for h in r.history] == [307, 307, 307]
        assert seen == [("POST", b"user=ann&pw=secret")]
    finally:
        await client.close()

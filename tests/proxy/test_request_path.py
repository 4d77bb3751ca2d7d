"""Issue 14 #5: the per-request path outside the rewriter does its work once, not on every request.

Behaviour, not timings (the timings are in ``python -m bench --resource small|pages``): what is
remembered gives the same answers as the work it saves, and remembering never lets through
what the check would refuse (an expired or forged credential, a private address).
"""

from __future__ import annotations

import gzip
import time

import pytest

from proxy import guard, respond
from proxy.sessions import Signer


def counting_signer(monkeypatch) -> tuple[Signer, list[str]]:
    signer = Signer(b"k" * 32)
    macs: list[str] = []
    real = signer._mac

    def mac(payload: str) -> str:
        macs.append(payload)
        return real(payload)

    monkeypatch.setattr(signer, "_mac", mac)
    return signer, macs


def test_a_credential_signature_is_computed_once_and_its_expiry_read_every_time(monkeypatch):
    signer, macs = counting_signer(monkeypatch)
    token = signer.sign("h", "sid", "pid", "leader", "label", ttl=60)
    macs.clear()
    for _ in range(5):
        assert signer.verify(token, 5) == ["h", "sid", "pid", "leader", "label"]
    assert len(macs) == 1  # one HMAC for five requests carrying the same credential
    assert signer.verify(token, 4) is None  # another kind of token: the part count still decides
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 61)
    assert signer.verify(token, 5) is None  # expired, though its signature was remembered


def test_a_forged_token_is_never_remembered_or_accepted(monkeypatch):
    signer, macs = counting_signer(monkeypatch)
    token = signer.sign("h", "sid", "pid", "leader", "label", ttl=60)
    assert signer.verify(token, 5) is not None
    payload, mac = token.rsplit(".", 1)
    forged = f"{payload.replace('leader', 'follow')}.{mac}"
    other_mac = f"{payload}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
    for bad in (forged, other_mac, forged, other_mac):
        assert signer.verify(bad, 5) is None
    assert forged not in signer._verified and other_mac not in signer._verified
    macs.clear()
    assert signer.verify(forged, 5) is None and len(macs) == 1  # checked again, every time


def test_the_memo_of_verified_tokens_is_bounded(monkeypatch):
    from proxy import sessions

    monkeypatch.setattr(sessions, "VERIFIED_MEMO", 8)
    signer = Signer(b"k" * 32)
    tokens = [signer.sign("p", "sid", str(i), "leader", ttl=60) for i in range(20)]
    for t in tokens:
        assert signer.verify(t, 4) is not None
    assert len(signer._verified) <= 8
    assert all(signer.verify(t, 4) is not None for t in tokens)  # forgotten ones are checked again


HOSTS = ("127.0.0.1", "[::1]", "[::ffff:10.0.0.1]", "0x7f.1", "2130706433", "example.com", "10.0.0.1", "8.8.8.8",
         "[fe80::1%25eth0]", "169.254.169.254", "127.1.", "x" * 300, "[64:ff9b::a00:1]", "")


def test_the_address_guard_remembers_its_answers_and_they_are_the_same():
    guard._ip_literal.cache_clear()
    guard._address_allowed.cache_clear()
    for allowed in ((), guard.LOOPBACK_ONLY, guard.ALL_PRIVATE):
        for _ in range(2):
            for host in HOSTS:
                address = guard.ip_literal(host)
                assert address == guard._ip_literal.__wrapped__(host)
                if address is not None:
                    assert guard.address_allowed(address, allowed) == guard._address_allowed.__wrapped__(address, allowed)
                    assert guard.address_allowed(address, list(allowed)) == guard.address_allowed(address, allowed)
    assert guard._ip_literal.cache_info().hits > 0 and guard._address_allowed.cache_info().hits > 0
    assert guard._ip_literal.cache_info().currsize == len(HOSTS) - 1  # a host over MEMO_KEY is answered, not kept


def test_a_private_address_is_refused_however_often_it_is_asked():
    for _ in range(3):
        with pytest.raises(guard.AddressBlocked):
            guard.check_host("10.0.0.1")
        with pytest.raises(guard.AddressBlocked):
            guard.check_host("[::ffff:127.0.0.1]", ())
        guard.check_host("127.0.0.1", guard.LOOPBACK_ONLY)


async def _agen(parts):
    for p in parts:
        yield p


async def _collect(chunks) -> list[bytes]:
    return [c async for c in chunks]


async def test_a_body_without_content_encoding_reaches_the_rewriter_as_it_arrived():
    parts = [b"<p>one", b"</p><p>two"]
    for encoding in ("", "identity", " Identity "):
        source = _agen(parts)
        assert respond._decoded(source, encoding) is source  # no decoding layer, no extra loop turn per chunk
    body = b"<p>" + b"x" * 100_000
    squeezed = gzip.compress(body)
    out = await _collect(respond._decoded(_agen([squeezed[:100], squeezed[100:]]), "gzip"))
    assert b"".join(out) == body


# -- the server side: routing, policy refresh, metrics, the jar -------------------------------------

NAV = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "none", "Accept": "text/html"}
PAGE = "<!doctype html><title>p</title><p>page</p>"


def _site():
    from aiohttp import web

    async def page(request):
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    return app


async def test_a_proxied_page_path_is_matched_by_the_proxy_not_missed_by_the_router(make_tandem, upstream):
    """Every path on a proxied host matches one router entry (the proxy's): a miss cost a new 404
    exception and a middleware chain built anew per request. The control plane's own misses and
    routes are as they were."""
    from proxy.handler import ProxiedHosts

    seen = []
    origin = await upstream(_site())
    t = await make_tandem(observe=lambda req, resp: seen.append((req.host, req.path, resp.status, req.match_info.route.resource)))
    s = await t.session(origin + "/")
    for path in ("/a/deep/page.html", "/", "/healthz", "/api/v1/sessions"):
        r = await t.client.get(s.url(origin + path), headers=NAV)
        assert r.status == 200 and "page" in await r.text()
    proxied = [x for x in seen if x[0] != t.base.domain]
    assert [x[1] for x in proxied][-4:] == ["/a/deep/page.html", "/", "/healthz", "/api/v1/sessions"]
    assert isinstance(proxied[-4][3], ProxiedHosts) and isinstance(proxied[-3][3], ProxiedHosts)
    seen.clear()
    r = await t.client.get(t.url + "/no/such/page")
    assert r.status == 404
    r = await t.client.get(t.url + "/healthz")
    assert r.status == 200
    assert [(x[1], x[2]) for x in seen] == [("/no/such/page", 404), ("/healthz", 200)]
    assert not any(isinstance(x[3], ProxiedHosts) for x in seen)


async def test_a_proxied_request_reads_the_policy_stamp_once(make_tandem, upstream):
    """The allowlist and masking are read as they are now before every request; after it only on
    the control plane, the one place that changes them (a proxied request never does)."""
    from tests.control.test_metrics import scrape, value

    origin = await upstream(_site())
    t = await make_tandem()
    s = await t.session(origin + "/")
    before = value(await scrape(t), "tandem_store_seconds_count", op="policy_stamp")
    for _ in range(5):
        r = await t.client.get(s.url(origin + "/x"), headers=NAV)
        assert r.status == 200
    after = value(await scrape(t), "tandem_store_seconds_count", op="policy_stamp")
    assert after - before == 5 + 2  # one per proxied request; the scrapes' own: after the first, before the second


async def test_request_path_metrics_take_their_labelled_children_once(make_tandem, upstream, monkeypatch):
    from prometheus_client.metrics import MetricWrapperBase

    origin = await upstream(_site())
    t = await make_tandem()
    s = await t.session(origin + "/")
    r = await t.client.get(s.url(origin + "/warm"), headers=NAV)
    assert r.status == 200
    calls = []
    real = MetricWrapperBase.labels

    def labels(self, *a, **kw):
        calls.append(a)
        return real(self, *a, **kw)

    monkeypatch.setattr(MetricWrapperBase, "labels", labels)
    for _ in range(5):
        r = await t.client.get(s.url(origin + "/y"), headers=NAV)
        assert r.status == 200 and "page" in await r.text()
    assert calls == []  # every child (rewrite kind, status class, store operation) was made by the warm-up load
    from tests.control.test_metrics import scrape, value

    samples = await scrape(t)
    assert value(samples, "tandem_rewrite_seconds_count", kind="html") >= 6
    assert value(samples, "tandem_proxied_requests_total", status="2xx") >= 6


def test_an_empty_jar_answers_without_reading_the_url(monkeypatch):
    from rewriter import cookies

    jar = cookies.CookieJar()
    real = cookies._parse
    monkeypatch.setattr(cookies, "_parse", lambda url: (_ for _ in ()).throw(AssertionError("parsed")))
    assert jar.cookie_header("https://example.com/a") is None
    monkeypatch.setattr(cookies, "_parse", real)
    jar.set_from_response("https://example.com/", ["a=1; Path=/"])
    assert jar.cookie_header("https://example.com/a") == "a=1"
    assert jar.cookie_header("https://other.example/a") is None


def test_a_charset_label_is_looked_up_once(monkeypatch):
    import webencodings

    respond._charset_name.cache_clear()
    calls = []
    real = webencodings.lookup
    monkeypatch.setattr(webencodings, "lookup", lambda label: calls.append(label) or real(label))
    for _ in range(3):
        assert respond.usable_charset("UTF-8") == "utf-8"
        assert respond.usable_charset("undefined") is None  # a Python codec name, not a browser's label
        assert respond.usable_charset("x" * 65) is None
    assert calls == ["UTF-8", "undefined"]


# -- the response writer: few sends, nothing held that the browser could have -------------------------

def _count_sends(monkeypatch, port: int) -> list[int]:
    """Sizes of the sends Tandem's server makes on connections to its ``port`` (asyncio's socket transport)."""
    from asyncio import selector_events

    sizes: list[int] = []
    real = selector_events._SelectorSocketTransport.write

    def write(self, data):
        sock = self.get_extra_info("sockname")
        if sock and sock[1] == port:
            sizes.append(len(data))
        return real(self, data)

    monkeypatch.setattr(selector_events._SelectorSocketTransport, "write", write)
    return sizes


async def test_a_page_whose_body_is_all_in_leaves_in_one_send_with_its_length(make_tandem, upstream, monkeypatch):
    """The head, the rewritten page and the end of the response went out in three or four sends (each a
    system call that wakes the browser's side); when the upstream body is all in, nothing is waited
    for, so they leave in one, with a Content-Length instead of chunks. Stylesheets too."""
    from aiohttp import web

    async def css(request):
        return web.Response(text="body{background:url(/a.png)}", content_type="text/css")

    async def page(request):
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/s.css", css)
    app.router.add_get("/{tail:.*}", page)
    origin = await upstream(app)
    t = await make_tandem()
    s = await t.session(origin + "/")
    r = await t.client.get(s.url(origin + "/warm"), headers=NAV)
    assert r.status == 200
    sends = _count_sends(monkeypatch, t.settings.port)
    r = await t.client.get(s.url(origin + "/p"), headers=NAV)
    body = await r.read()
    assert r.status == 200 and b"<p>page</p>" in body and b"/__tandem/runtime.js" in body
    assert r.headers.get("Content-Length") == str(len(body)) and "Transfer-Encoding" not in r.headers
    assert len(sends) == 1 and sends[0] > len(body)  # head and body together
    sends.clear()
    r = await t.client.get(s.url(origin + "/s.css"), headers={"Sec-Fetch-Dest": "style", "Sec-Fetch-Mode": "no-cors"})
    assert r.status == 200 and "url(" in await r.text()
    assert len(sends) == 1


async def _one_route(make_tandem, upstream, path, handler):
    """A Tandem with a session on an upstream that serves ``handler`` at ``path``: (tandem, session, origin)."""
    from aiohttp import web

    site_app = web.Application()
    site_app.router.add_get(path, handler)
    origin = await upstream(site_app)
    t = await make_tandem()
    return t, await t.session(origin + "/"), origin


async def test_a_page_still_arriving_streams_as_it_comes(make_tandem, upstream):
    """What is rewritten while the upstream body is still arriving is sent at once: the browser reads the
    start of the page while the site has not sent the rest (it sends the rest only once it was read)."""
    import asyncio

    from aiohttp import web

    read_first = asyncio.Event()

    async def slow(request):
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        await resp.prepare(request)
        await resp.write(b"<!doctype html><title>t</title><p>first part</p>" + b" " * 2000)
        await asyncio.wait_for(read_first.wait(), 10)
        await resp.write(b"<p>second part</p>")
        return resp

    t, s, origin = await _one_route(make_tandem, upstream, "/slow", slow)
    r = await asyncio.wait_for(t.client.get(s.url(origin + "/slow"), headers=NAV), 5)
    assert r.status == 200
    got = b""
    while b"first part" not in got:
        got += await asyncio.wait_for(r.content.readany(), 5)  # would time out if the start were held
    read_first.set()
    got += await asyncio.wait_for(r.read(), 5)
    assert b"second part" in got


async def test_a_stream_whose_body_is_late_gets_its_head_at_once(make_tandem, upstream):
    """A response whose body has not begun (an event stream, a long poll) has its status and headers sent
    as soon as the upstream's are in, not held for the first body bytes."""
    import asyncio

    from aiohttp import web

    headers_read = asyncio.Event()

    async def events(request):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await asyncio.wait_for(headers_read.wait(), 10)
        await resp.write(b"data: one\n\n")
        return resp

    t, s, origin = await _one_route(make_tandem, upstream, "/events", events)
    r = await asyncio.wait_for(t.client.get(s.url(origin + "/events"), headers={"Sec-Fetch-Dest": "empty",
                                                                                 "Sec-Fetch-Mode": "cors"}), 5)
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    headers_read.set()
    assert await asyncio.wait_for(r.read(), 5) == b"data: one\n\n"


async def test_a_proxied_host_label_is_found_once_and_junk_cookies_are_still_expired(make_tandem, upstream, monkeypatch):
    """The router's entry for proxied hosts finds the host's label and keeps it on the request: admission,
    the credential and the junk-cookie check read it there (it was worked out six times a request). The
    junk-cookie answer is remembered per Cookie header, and stays the same answer: a planted cookie is
    asked to go on every response, a cookie bomb is answered without being remembered."""
    from proxy import credentials
    from rewriter.urls import ProxyBase

    origin = await upstream(_site())
    t = await make_tandem()
    s = await t.session(origin + "/")
    r = await t.client.get(s.url(origin + "/warm"), headers=NAV)
    assert r.status == 200
    calls = []
    real = ProxyBase.label_of_host
    monkeypatch.setattr(ProxyBase, "label_of_host", lambda self, host: calls.append(host) or real(self, host))
    r = await t.client.get(s.url(origin + "/x"), headers=NAV)
    assert r.status == 200
    asked = [h for h in calls if h == r.url.host + f":{r.url.port}"]  # of the request's Host (others: URLs in pages)
    assert 1 <= len(asked) <= 3  # the router entry, and the app's own host router and policy middleware
    monkeypatch.setattr(ProxyBase, "label_of_host", real)

    credentials._junk_expiry.cache_clear()
    for _ in range(3):
        r = await t.client.get(s.url(origin + "/x"), headers={**NAV, "Cookie": "planted=1"})
        expired = [v for v in r.headers.getall("Set-Cookie", []) if v.startswith("planted=;")]
        assert len(expired) == 2 and any(f"Domain={t.base.hostname}" in v for v in expired)
    assert credentials._junk_expiry.cache_info().hits >= 2
    big = "; ".join(f"c{i}={'v' * 100}" for i in range(60))  # over JUNK_MEMO_BYTES: worked out, not kept
    size = credentials._junk_expiry.cache_info().currsize
    r = await t.client.get(s.url(origin + "/x"), headers={**NAV, "Cookie": big})
    assert r.status == 200 and sum(v.startswith("c1=;") for v in r.headers.getall("Set-Cookie", [])) == 2
    assert credentials._junk_expiry.cache_info().currsize == size

"""Egress through a real forward proxy: Tandem -> mitmdump -> loopback origins.

Every assertion that something went "through the proxy" reads mitmproxy's own flow
log (tests/proxy/mitm_flowlog.py), never Tandem's word for it. Test origins are on
loopback, so Tandem runs with loopback allowed, as in every proxy test; the guard
tests run without it.
"""

import asyncio
import base64
import logging
import ssl

import aiohttp
import pytest
import trustme
from aiohttp import web

from proxy.egress import config_from_flag
from tests.harness import free_socket
from tests.proxy.mitm_proxy import MitmProxy, needs_mitmdump
from tests.proxy.test_forwarding import NAV, SUB, site

pytestmark = needs_mitmdump

BIG = 24 * 1024 * 1024  # the streamed download: far past mitmproxy's 1 MiB streaming threshold
CHUNK = 256 * 1024
PROXY_USER, PROXY_PASSWORD = "alice", "s3cr3t-Proxy-Pw"
STEP = 20  # seconds for one exchange at most, so nothing hangs


@pytest.fixture(scope="module")
def mitm(tmp_path_factory):
    p = MitmProxy(tmp_path_factory.mktemp("mitm")).start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def mitm_auth(tmp_path_factory):
    p = MitmProxy(tmp_path_factory.mktemp("mitm-auth"), proxyauth=f"{PROXY_USER}:{PROXY_PASSWORD}").start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def mitm_socks(tmp_path_factory):
    p = MitmProxy(tmp_path_factory.mktemp("mitm-socks"), mode="socks5", proxyauth=f"{PROXY_USER}:{PROXY_PASSWORD}").start()
    yield p
    p.stop()


def shop():
    """A small site: a page, a form POST, a WebSocket echo and a big download streamed in chunks."""

    async def page(request):
        return web.Response(text="<!doctype html><title>Shop</title><h1>Welcome to the shop</h1>", content_type="text/html")

    async def order(request):
        form = await request.post()
        return web.Response(text=f"ordered {form.get('item')} x{form.get('qty')}", content_type="text/plain")

    async def ws(request):
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await sock.send_str("echo:" + msg.data)
        return sock

    async def big(request):
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream", "Content-Length": str(BIG)})
        await resp.prepare(request)
        block = b"\xab" * CHUNK
        for _ in range(BIG // CHUNK):
            await resp.write(block)
        await resp.write_eof()
        return resp

    return site(**{"GET /": page, "POST /order": order, "GET /ws": ws, "GET /big.bin": big})


def via(proxy: MitmProxy, bypass: str = "", credentials: str = "") -> dict:
    url = proxy.url.replace("://", f"://{credentials}@") if credentials else proxy.url
    return {"egress": config_from_flag(url, bypass)}


async def test_pages_post_websocket_and_download_go_through_the_proxy(make_tandem, upstream, mitm):
    origin = await upstream(shop())
    t = await make_tandem(**via(mitm))
    s = await t.session(origin + "/")

    r = await t.client.get(s.url(origin + "/"), headers=NAV)
    assert r.status == 200 and "Welcome to the shop" in await r.text()
    r = await t.client.post(s.url(origin + "/order"), data={"item": "tea", "qty": "2"}, headers={**SUB, "Origin": s.url(origin)})
    assert r.status == 200 and await r.text() == "ordered tea x2"

    async with t.client.ws_connect(s.url(origin.replace("http", "ws") + "/ws"), origin=s.url(origin)) as sock:
        await sock.send_str("hello via proxy")
        assert await asyncio.wait_for(sock.receive_str(), STEP) == "echo:hello via proxy"

    r = await t.client.get(s.url(origin + "/big.bin"), headers=SUB)
    assert r.status == 200 and r.headers["Content-Length"] == str(BIG)
    total = 0
    async for chunk in r.content.iter_any():
        assert chunk.strip(b"\xab") == b""
        total += len(chunk)
    assert total == BIG

    log = mitm.records(contains=origin.split("//")[1])
    seen = {(rec.get("method"), rec["url"].split(origin.split("//")[1])[-1], rec.get("status")) for rec in log if rec["event"] == "response"}
    assert ("GET", "/", 200) in seen
    assert ("POST", "/order", 200) in seen
    assert ("GET", "/big.bin", 200) in seen
    assert [rec["length"] for rec in log if rec["event"] == "response" and rec["url"].endswith("/big.bin")] == [str(BIG)]
    port = int(origin.rsplit(":", 1)[1])
    # the WebSocket went in a CONNECT tunnel (as browsers send ws:// through a proxy) and its messages crossed it
    assert {"event": "connect", "method": "CONNECT", "host": "127.0.0.1", "port": port} in mitm.records("connect")
    texts = [(rec["from_client"], rec["text"]) for rec in log if rec["event"] == "ws_message"]
    assert (True, "hello via proxy") in texts and (False, "echo:hello via proxy") in texts


@pytest.fixture(scope="module")
def tls_ca():
    return trustme.CA()


async def serve_tls(app: web.Application, ca: trustme.CA):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = free_socket()
    await web.SockSite(runner, sock, ssl_context=ctx).start()
    return runner, f"https://127.0.0.1:{sock.getsockname()[1]}"


async def test_https_and_wss_tunnel_with_connect_through_a_tls_inspecting_proxy(make_tandem, mitm, tls_ca, tmp_path):
    """mitmproxy opens the CONNECT tunnels and inspects TLS like a corporate proxy: Tandem trusts its CA via upstream_ca."""
    # mitmproxy checks the origin against the test CA; Tandem checks mitmproxy against mitmproxy's CA
    inspecting = MitmProxy(tmp_path / "inspect", options=(f"ssl_verify_upstream_trusted_ca={tmp_path / 'ca.pem'}",))
    tls_ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    inspecting.start()
    try:
        runner, origin = await serve_tls(shop(), tls_ca)
        try:
            t = await make_tandem(**via(inspecting), upstream_ca=inspecting.ca_pem)
            s = await t.session(origin + "/")
            r = await t.client.get(s.url(origin + "/"), headers=NAV)
            assert r.status == 200 and "Welcome to the shop" in await r.text()
            async with t.client.ws_connect(s.url(origin.replace("https", "wss") + "/ws"), origin=s.url(origin)) as sock:
                await sock.send_str("secure hello")
                assert await asyncio.wait_for(sock.receive_str(), STEP) == "echo:secure hello"

            # without the proxy's CA, Tandem refuses the inspected connection: a TLS error naming the proxy
            t2 = await make_tandem(**via(inspecting))
            s2 = await t2.session(origin + "/")
            r = await t2.client.get(s2.url(origin + "/"), headers=NAV)
            text = await r.text()
            assert r.status == 502 and "tls_error" in text and inspecting.url.split("//")[1] in text
        finally:
            await runner.cleanup()
        port = int(origin.rsplit(":", 1)[1])
        log = inspecting.records()
        assert any(rec["event"] == "connect" and rec["port"] == port for rec in log)  # the WebSocket may reuse the page's tunnel
        assert any(rec["event"] == "response" and rec["url"] == origin + "/" and rec["status"] == 200 for rec in log)
        assert any(rec["event"] == "ws_message" and rec["text"] == "secure hello" for rec in log)
    finally:
        inspecting.stop()


async def test_proxy_authentication_required_and_supplied(make_tandem, upstream, mitm_auth, caplog, tls_ca, tmp_path):
    caplog.set_level(logging.DEBUG)
    origin = await upstream(shop())
    proxy_hostport = mitm_auth.url.split("//")[1]

    t = await make_tandem(**via(mitm_auth))  # no credentials configured
    s = await t.session(origin + "/")
    r = await t.client.get(s.url(origin + "/"), headers=NAV)
    page = await r.text()
    assert r.status == 502 and "proxy_auth_required" in page and proxy_hostport in page
    assert "Proxy-Authenticate" not in r.headers
    r = await t.client.get(s.url(origin + "/x.png"), headers=SUB)
    assert r.status == 502 and (await r.text()).startswith("proxy_auth_required:")
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:  # ws:// asks for the tunnel with CONNECT: 407 there too
        await t.client.ws_connect(s.url(origin.replace("http", "ws") + "/ws"), origin=s.url(origin))
    assert info.value.status == 502

    wrong = await make_tandem(**via(mitm_auth, credentials=f"{PROXY_USER}:wrong-password"))
    s = await wrong.session(origin + "/")
    r = await wrong.client.get(s.url(origin + "/"), headers=NAV)
    page = await r.text()
    assert r.status == 502 and "did not accept the credentials" in page and "wrong-password" not in page

    good = await make_tandem(**via(mitm_auth, credentials=f"{PROXY_USER}:{PROXY_PASSWORD}"))
    s = await good.session(origin + "/")
    r = await good.client.get(s.url(origin + "/"), headers=NAV)
    assert r.status == 200 and "Welcome to the shop" in await r.text()
    async with good.client.ws_connect(s.url(origin.replace("http", "ws") + "/ws"), origin=s.url(origin)) as sock:
        await sock.send_str("authed")
        assert await asyncio.wait_for(sock.receive_str(), STEP) == "echo:authed"
    assert any(rec["event"] == "response" and rec["url"] == origin + "/" and rec["status"] == 200 for rec in mitm_auth.records())

    # the credentials never reach a log line or a page, in clear or as the Basic token
    token = base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
    logged = "\n".join(rec.getMessage() + repr(rec.args) + str(rec.exc_info) for rec in caplog.records)
    for secret in (PROXY_PASSWORD, token, "wrong-password"):
        assert secret not in logged


async def test_bypass_list_goes_direct(make_tandem, upstream, mitm):
    origin = await upstream(shop())
    other = await upstream(shop())
    t = await make_tandem(**via(mitm, bypass=f"localhost,{origin.split('//')[1]}"))
    s = await t.session(origin + "/")
    r = await t.client.get(s.url(origin + "/"), headers=NAV)
    assert r.status == 200 and "Welcome" in await r.text()
    async with t.client.ws_connect(s.url(origin.replace("http", "ws") + "/ws"), origin=s.url(origin)) as sock:
        await sock.send_str("direct")
        assert await asyncio.wait_for(sock.receive_str(), STEP) == "echo:direct"
    r = await t.client.get(s.url(other + "/"), headers=NAV)  # same address, another port: not on the list
    assert r.status == 200
    assert mitm.records(contains=origin.split("//")[1]) == []
    assert any(rec["event"] == "response" and rec["url"] == other + "/" for rec in mitm.records())


async def test_private_targets_refused_before_reaching_the_proxy(make_tandem, upstream, mitm):
    origin = await upstream(shop())
    port = origin.rsplit(":", 1)[1]
    t = await make_tandem(**via(mitm), allow_private=())  # the default: no private networks
    s = await t.session("https://example.com/")
    for target in (origin + "/", f"http://shop.localhost:{port}/", f"http://localhost:{port}/",
                   f"http://10.0.0.1:{port}/", f"http://0x7f.1:{port}/", f"http://2130706433:{port}/",
                   f"http://[::ffff:127.0.0.1]:{port}/", f"http://wiki.internal:{port}/", f"http://intranet:{port}/"):
        r = await t.client.get(s.url(target), headers=NAV)
        page = await r.text()
        assert r.status == 403 and "private_address" in page, target
    async with asyncio.timeout(STEP):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await t.client.ws_connect(s.url(f"ws://localhost:{port}/ws"))
    assert info.value.status == 403
    assert mitm.records(contains=port) == []


async def test_proxy_down_gives_proxy_unreachable(make_tandem, upstream):
    origin = await upstream(shop())
    sock = free_socket()
    dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()  # nothing listens there now
    t = await make_tandem(egress=config_from_flag(dead))
    s = await t.session(origin + "/")
    r = await t.client.get(s.url(origin + "/"), headers=NAV)
    page = await r.text()
    assert r.status == 502 and "proxy_unreachable" in page and dead.split("//")[1] in page and "Traceback" not in page
    r = await t.client.get(s.url(origin.replace("http:", "https:") + "/"), headers=NAV)  # CONNECT path
    assert r.status == 502 and "proxy_unreachable" in await r.text()
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await t.client.ws_connect(s.url(origin.replace("http", "ws") + "/ws"), origin=s.url(origin))
    assert info.value.status == 502


async def test_silent_proxy_times_out(make_tandem, upstream):
    async def silent(reader, writer):
        await reader.read(1)
        await asyncio.sleep(30)

    sock = free_socket()
    server = await asyncio.start_server(silent, sock=sock)
    async with server:
        proxy = f"http://127.0.0.1:{sock.getsockname()[1]}"
        # CONNECT is bounded by the connect timeout; a forwarded request's silence by the read timeout
        t = await make_tandem(egress=config_from_flag(proxy), connect_timeout=0.3, read_timeout=1.0)
        s = await t.session("http://example.com/")
        r = await t.client.get(s.url("https://example.com/"), headers=NAV)  # CONNECT never answered
        page = await r.text()
        assert r.status == 504 and "proxy_timeout" in page and proxy.split("//")[1] in page
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:  # WebSockets tunnel: bounded the same way
            await t.client.ws_connect(s.url("wss://example.com/ws"), origin=s.url("https://example.com"))
        assert info.value.status == 504
        r = await t.client.get(s.url("http://example.com/"), headers=NAV)  # forwarded request never answered
        page = await r.text()
        assert r.status == 504 and "code: timeout" in page and proxy.split("//")[1] in page  # proxy or site: named both


async def test_connect_refused_by_the_proxy(make_tandem, mitm):
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    t = await make_tandem(**via(mitm))
    s = await t.session(f"https://127.0.0.1:{port}/")
    r = await t.client.get(s.url(f"https://127.0.0.1:{port}/"), headers=NAV)
    page = await r.text()
    assert r.status == 502 and "proxy_connect_failed" in page and mitm.url.split("//")[1] in page
    assert any(rec["event"] == "connect" and rec["port"] == port for rec in mitm.records())


async def test_socks5_proxy(make_tandem, upstream, mitm_socks):
    origin = await upstream(shop())
    t = await make_tandem(**via(mitm_socks, credentials=f"{PROXY_USER}:{PROXY_PASSWORD}"))
    s = await t.session(origin + "/")
    r = await t.client.get(s.url(origin + "/"), headers=NAV)
    assert r.status == 200 and "Welcome" in await r.text()
    async with t.client.ws_connect(s.url(origin.replace("http", "ws") + "/ws"), origin=s.url(origin)) as sock:
        await sock.send_str("socks hello")
        assert await asyncio.wait_for(sock.receive_str(), STEP) == "echo:socks hello"
    log = mitm_socks.records(contains=origin.split("//")[1])
    assert any(rec["event"] == "response" and rec["url"] == origin + "/" for rec in log)
    assert any(rec["event"] == "ws_message" and rec["text"] == "socks hello" for rec in log)

    anonymous = await make_tandem(**via(mitm_socks))
    s = await anonymous.session(origin + "/")
    r = await anonymous.client.get(s.url(origin + "/"), headers=NAV)
    assert r.status == 502 and "proxy_auth_required" in await r.text()


async def test_webhooks_leave_through_the_proxy_too(make_tandem, upstream, mitm):
    """Regression: webhook deliveries went out directly even with --upstream-proxy set."""
    got = []

    async def hook(request):
        got.append(await request.read())
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    origin = await upstream(receiver)
    t = await make_tandem(**via(mitm))
    r = await t.api("POST", "/api/v1/keys", json={"name": "crm", "webhook_url": origin + "/hook"})
    assert r.status == 201
    r = await t.api("POST", "/api/v1/sessions", json={"url": origin + "/"})
    assert r.status == 201
    async with asyncio.timeout(STEP):
        while not got:
            await asyncio.sleep(0.02)
    hostport = origin.split("//")[1]
    assert any(rec.get("method") == "POST" and rec["url"].endswith(hostport + "/hook") for rec in mitm.records(contains=hostport))

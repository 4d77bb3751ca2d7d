"""Upstream faults give the documented errors; the site's WebSockets relay both ways."""

import asyncio

import aiohttp
import pytest
from aiohttp import web

from tests.harness import free_socket
from tests.proxy.test_forwarding import NAV, SUB, site


async def raw_server(handler):
    """A TCP server speaking whatever bytes ``handler(reader, writer)`` writes: for broken upstreams."""
    sock = free_socket()
    server = await asyncio.start_server(handler, sock=sock)
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_connection_refused(make_tandem):
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()  # nothing listens here now
    t = await make_tandem()
    s = await t.session(f"http://127.0.0.1:{port}/")
    r = await t.client.get(s.url(f"http://127.0.0.1:{port}/"), headers=NAV)
    assert r.status == 502
    text = await r.text()
    assert "connection_refused" in text and "refused the connection" in text and "Traceback" not in text
    r = await t.client.get(s.url(f"http://127.0.0.1:{port}/a.png"), headers=SUB)
    assert r.status == 502 and r.content_type == "text/plain"


async def test_dns_failure(make_tandem):
    t = await make_tandem()
    s = await t.session("http://127.0.0.1:9/")
    r = await t.client.get(s.url("http://no-such-host.invalid/"), headers=NAV)
    assert r.status == 502
    assert "dns_failure" in await r.text()


async def test_timeout(make_tandem, upstream):
    async def slow(request):
        await asyncio.sleep(3)
        return web.Response(text="late")

    origin = await upstream(site(**{"GET /": slow}))
    t = await make_tandem(read_timeout=0.3)
    s = await t.session(origin + "/")
    r = await t.client.get(s.url(origin + "/"), headers=NAV)
    assert r.status == 504
    assert "timeout" in await r.text()


async def test_garbage_response(make_tandem):
    async def garbage(reader, writer):
        await reader.read(1024)
        writer.write(b"this is not HTTP at all\r\n\r\n")
        await writer.drain()
        writer.close()

    server, origin = await raw_server(garbage)
    async with server:
        t = await make_tandem()
        s = await t.session(origin + "/")
        r = await t.client.get(s.url(origin + "/"), headers=NAV)
        assert r.status == 502
        assert "bad_response" in await r.text()


async def test_reset_mid_body_cuts_the_connection(make_tandem):
    async def half(reader, writer):
        await reader.read(1024)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
        await writer.drain()
        writer.transport.abort()

    server, origin = await raw_server(half)
    async with server:
        t = await make_tandem()
        s = await t.session(origin + "/")
        r = await t.client.get(s.url(origin + "/f.bin"), headers=SUB)
        assert r.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()  # short body: the browser sees a failed download, not a truncated "success"


async def test_reset_mid_html_before_anything_sent(make_tandem):
    async def half(reader, writer):
        await reader.read(1024)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n<html><head>")
        await writer.drain()
        writer.transport.abort()

    server, origin = await raw_server(half)
    async with server:
        t = await make_tandem()
        s = await t.session(origin + "/")
        r = await t.client.get(s.url(origin + "/"), headers=NAV)
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()


async def test_websocket_relay(make_tandem, upstream):
    seen = {}

    async def ws_handler(request):
        seen["origin"] = request.headers.get("Origin")
        seen["cookie"] = request.headers.get("Cookie")
        ws = web.WebSocketResponse(protocols=("chat.v2", "chat.v1"))
        await ws.prepare(request)
        await ws.send_str("hello")
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                if msg.data == "bye":
                    await ws.close(code=4001, message=b"see you")
                    break
                await ws.send_str("echo:" + msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data[::-1])
        return ws

    async def login(request):
        r = web.Response(text="ok")
        r.set_cookie("ws_auth", "yes", httponly=True)
        return r

    origin = await upstream(site(**{"GET /ws": ws_handler, "GET /login": login}))
    t = await make_tandem()
    s = await t.session(origin + "/")
    await t.client.get(s.url(origin + "/login"))
    async with t.client.ws_connect(s.url(origin.replace("http", "ws") + "/ws"), protocols=("chat.v1",),
                                   origin=s.url(origin)) as ws:
        assert ws.protocol == "chat.v1"
        assert (await asyncio.wait_for(ws.receive_str(), 5)) == "hello"
        await ws.send_str("hi")
        assert (await asyncio.wait_for(ws.receive_str(), 5)) == "echo:hi"
        await ws.send_bytes(b"\x00\x01\x02")
        assert (await asyncio.wait_for(ws.receive_bytes(), 5)) == b"\x02\x01\x00"
        await ws.send_str("bye")
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4001 and msg.extra == "see you"
    assert seen["origin"] == origin
    assert seen["cookie"] == "ws_auth=yes"


async def test_websocket_browser_close_reaches_upstream(make_tandem, upstream):
    closed = asyncio.get_running_loop().create_future()

    async def ws_handler(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for _ in ws:
            pass
        closed.set_result(ws.close_code)
        return ws

    origin = await upstream(site(**{"GET /ws": ws_handler}))
    t = await make_tandem()
    s = await t.session(origin + "/")
    ws = await t.client.ws_connect(s.url(origin + "/ws"))
    await ws.close(code=4002)
    assert await asyncio.wait_for(closed, 5) == 4002


async def test_websocket_upstream_refuses(make_tandem, upstream):
    origin = await upstream(site(**{"GET /ws": lambda r: web.Response(status=403, text="no")}))
    t = await make_tandem()
    s = await t.session(origin + "/")
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await t.client.ws_connect(s.url(origin + "/ws"))
    assert info.value.status == 502

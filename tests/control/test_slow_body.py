"""A body Tandem reads itself is bounded in time (tandem.httpserver.BODY_TIMEOUT).

A client that sends a request's head and then no body, or trickles it a byte at a time,
gets 408 and a closed connection, on the control plane (JSON: ``request_timeout``; a form:
plain text) and on a proxied host's ``/__tandem/`` endpoints. Raw sockets on a real server.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from yarl import URL

from tandem import httpserver
from tests.harness import ADMIN_KEY

BOUND = 1.0  # seconds, for the test (the default is BODY_TIMEOUT)
WAIT = 15  # far past the bound: an answer must come long before


@pytest.fixture(autouse=True)
def short_bound(monkeypatch):
    monkeypatch.setattr(httpserver, "BODY_TIMEOUT", BOUND)


async def _slow_post(t, host: str, path: str, headers: dict[str, str], trickle: bool) -> bytes:
    """POST a head announcing 1000 body bytes, then nothing (or a byte every BOUND/2 s); return all
    the server sends up to its closing the connection."""
    port = urlsplit(t.url).port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": host, "Content-Length": "1000", **headers}.items())
    writer.write(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode())
    await writer.drain()

    async def drip():
        while True:
            await asyncio.sleep(BOUND / 2)
            writer.write(b"{")
            await writer.drain()

    dripping = asyncio.ensure_future(drip()) if trickle else None
    try:
        return await asyncio.wait_for(reader.read(), WAIT)  # read() ends only when the server closes
    finally:
        if dripping is not None:
            dripping.cancel()
            await asyncio.gather(dripping, return_exceptions=True)
        writer.close()


def _answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("trickle", [False, True], ids=["silent", "trickle"])
async def test_api_json_body_that_never_arrives_gets_408_json(make_tandem, trickle):
    t = await make_tandem()
    raw = await _slow_post(t, urlsplit(t.url).netloc, "/api/v1/sessions",
                           {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}, trickle)
    status, headers, body = _answer(raw)
    assert status == 408, raw[:300]
    assert headers["content-type"].startswith("application/json") and headers.get("connection") == "close"
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout" and "did not arrive" in error["message"]
    # a normal POST on the same server still works
    r = await t.api("POST", "/api/v1/sessions", headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                    json={"url": "https://example.com/"})
    assert r.status == 201, await r.text()


async def test_form_body_that_never_arrives_gets_408_text(make_tandem):
    t = await make_tandem()
    raw = await _slow_post(t, urlsplit(t.url).netloc, "/console/login",
                           {"Content-Type": "application/x-www-form-urlencoded", "Origin": t.base.url}, trickle=True)
    status, headers, body = _answer(raw)
    assert status == 408 and headers["content-type"].startswith("text/plain"), raw[:300]
    assert b"did not arrive" in body


@pytest.mark.parametrize("trickle", [False, True], ids=["silent", "trickle"])
async def test_proxied_host_alias_body_that_never_arrives_gets_408(make_tandem, upstream, trickle):
    t = await make_tandem()
    origin = await upstream(web.Application())
    s = await t.session(origin + "/")
    proxied = URL(s.url(origin))
    cookies = t.client.cookie_jar.filter_cookies(proxied)
    cookie = "; ".join(f"{k}={m.value}" for k, m in cookies.items())
    assert cookie, "the test client holds the proxied host's credential"
    raw = await _slow_post(t, proxied.raw_authority, "/__tandem/alias",
                           {"Cookie": cookie, "Content-Type": "text/plain"}, trickle)
    status, headers, body = _answer(raw)
    assert status == 408, raw[:300]
    assert json.loads(body)["error"]["code"] == "request_timeout" and headers.get("connection") == "close"
    # the endpoint still answers a body that arrives
    r = await t.client.post(str(proxied) + "/__tandem/alias", data="https://example.com")
    assert r.status == 200 and await r.text() == f"{s.sid}-s-example-com"


async def test_a_json_body_in_several_packets_is_read_whole(make_tandem):
    """The body is read to its end, not cut at what the first packet brought (httpserver.read_capped)."""
    t = await make_tandem()
    where = urlsplit(t.url)
    body = json.dumps({"url": "https://example.com/", "metadata": {"note": "x" * 2000}}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", where.port)
    writer.write((f"POST /api/v1/sessions HTTP/1.1\r\nHost: {where.netloc}\r\nAuthorization: Bearer {ADMIN_KEY}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
                 + body[:10])
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.write(body[10:])
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), WAIT)
    writer.close()
    assert _answer(raw)[0] == 201, raw[:400]


async def test_a_proxied_upload_that_falls_silent_is_cut_by_the_watchdog(make_tandem, upstream):
    """Bodies streamed to the site are not timed by BODY_TIMEOUT (a big upload may take long) but
    by the exchange's idle watchdog: a silent upload still ends, with an answer and a close."""
    async def sink(request):
        await request.read()
        return web.Response(text="stored")

    site = web.Application()
    site.router.add_post("/up", sink)
    t = await make_tandem(read_timeout=BOUND)
    origin = await upstream(site)
    s = await t.session(origin + "/")
    proxied = URL(s.url(origin))
    cookie = "; ".join(f"{k}={m.value}" for k, m in t.client.cookie_jar.filter_cookies(proxied).items())
    raw = await _slow_post(t, proxied.raw_authority, "/up", {"Cookie": cookie, "Content-Type": "text/plain"}, False)
    assert _answer(raw)[0] >= 500, raw[:300]

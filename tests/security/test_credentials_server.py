"""Issue 10 #1, #8, #20 at the HTTP server, over raw sockets: unreadable requests get a fixed
answer with no byte of the request in it; big cookie headers (a browser's whole jar) are read;
a client trickling its headers is cut off after ``HEADER_TIMEOUT``."""

from __future__ import annotations

import asyncio
import time

import pytest

from tandem import httpserver

MARK = "Zq7SECRETzq7"  # stands for a credential: must never come back


async def exchange(t, head: bytes, *, read_timeout: float = 10.0) -> bytes:
    """Send ``head`` on a fresh connection; everything the server answers until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", t.settings.port)
    try:
        writer.write(head)
        await writer.drain()
        chunks = []
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), read_timeout)
            if not chunk:
                break
            chunks.append(chunk)
            if b"Connection: keep-alive" in b"".join(chunks) and b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)
    finally:
        writer.close()


def request(t, *, path: str = "/healthz", headers: list[tuple[str, str]] = (), host: str | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host or t.base.domain}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def assert_fixed(answer: bytes, status: int) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[:2] in ([b"HTTP/1.1", str(status).encode()], [b"HTTP/1.0", str(status).encode()]), head[:200]
    assert body.decode() == httpserver.FIXED_ANSWERS[status]  # exactly the fixed text
    assert MARK.encode() not in answer and b"tandem_p_" not in answer and b"tandem_h" not in answer


async def test_oversized_cookie_header_gets_a_fixed_answer_without_its_bytes(make_tandem):
    t = await make_tandem()
    cookie = f"tandem_p_abc={MARK}; " + "; ".join(f"junk{i}={'x' * 4000}" for i in range(260))  # past a full jar
    assert len(cookie) > httpserver.MAX_HEADER_FIELD
    assert_fixed(await exchange(t, request(t, headers=[("Cookie", cookie)])), 431)
    # the same on a proxied host, where a page could make its browser send it
    assert_fixed(await exchange(t, request(t, headers=[("Cookie", cookie)], host=f"x-y.{t.base.domain}")), 431)


async def test_a_full_browser_jar_of_cookies_is_read_not_refused(make_tandem):
    """180 cookies of 4 KB (what Chromium keeps for a site) still reach Tandem: a cookie bomb is not fatal."""
    t = await make_tandem()
    cookie = "; ".join(f"bomb{i:03d}={'b' * 4080}" for i in range(180))
    answer = await exchange(t, request(t, headers=[("Cookie", cookie)]))
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    # and every planted cookie is asked to go (host-only and Domain=BASE forms)
    head = answer.partition(b"\r\n\r\n")[0].decode()
    assert f"Set-Cookie: bomb000=; Path=/; Max-Age=0" in head
    assert f"Domain={t.base.hostname}" in head


async def test_oversized_request_line_gets_a_fixed_answer(make_tandem):
    t = await make_tandem()
    path = "/healthz?" + MARK * (httpserver.MAX_REQUEST_LINE // len(MARK) + 1)
    assert_fixed(await exchange(t, request(t, path=path)), 414)


async def test_too_many_headers_get_a_fixed_answer(make_tandem):
    t = await make_tandem()
    headers = [(f"X-H{i}", MARK) for i in range(httpserver.MAX_HEADERS + 5)]
    assert_fixed(await exchange(t, request(t, headers=headers)), 431)


async def test_many_big_headers_add_up_to_a_fixed_answer(make_tandem):
    """Each under the field limit, together over the head limit: memory per connection stays bounded."""
    t = await make_tandem()
    big = MARK * (httpserver.MAX_HEADER_FIELD // len(MARK) - 10)
    headers = [(f"X-B{i}", big) for i in range(httpserver.MAX_HEAD_BYTES // len(big) + 2)]
    assert_fixed(await exchange(t, request(t, headers=headers)), 431)


@pytest.mark.parametrize("raw", [
    "GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Bad\x01Name: {mark}\r\n\r\n",  # a control byte in a name
    "GET /healthz HTTP/1.1\r\nHost: {host}\r\n{mark} no colon here\r\n\r\n",  # a line that is no header
    "GET /healthz HTTP/1.1\r\nHost: {host}\r\nCookie: a={mark}\x00b\r\n\r\n",  # NUL in a value
    "GET /{mark} HTTP/9.9\r\nHost: {host}\r\n\r\n",  # a bad version
    "G\x7fT /{mark} HTTP/1.1\r\nHost: {host}\r\n\r\n",  # a bad method
    "GET /healthz HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1\r\nContent-Length: 2{mark}\r\n\r\n",
])
async def test_malformed_requests_get_a_fixed_answer(make_tandem, raw):
    t = await make_tandem()
    answer = await exchange(t, raw.format(host=t.base.domain, mark=MARK).encode("latin-1"))
    assert_fixed(answer, 400)


async def test_slowloris_is_cut_off_after_the_header_timeout(make_tandem, monkeypatch):
    monkeypatch.setattr(httpserver, "HEADER_TIMEOUT", 1.5)  # the named limit, shortened for the test
    t = await make_tandem()
    reader, writer = await asyncio.open_connection("127.0.0.1", t.settings.port)
    started = time.monotonic()
    closed_after = None
    answer = b""
    try:
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: {t.base.domain}\r\n".encode())
        for i in range(40):  # one header line every 0.25 s, for up to 10 s
            await asyncio.sleep(0.25)
            try:
                writer.write(f"X-Slow-{i}: {MARK}\r\n".encode())
                await writer.drain()
            except ConnectionError:
                break
            if reader.at_eof() or writer.is_closing():
                break
            try:
                answer += await asyncio.wait_for(reader.read(65536), 0.01)
            except asyncio.TimeoutError:
                continue
            if reader.at_eof():
                break
        try:
            answer += await asyncio.wait_for(reader.read(), 3)
        except (asyncio.TimeoutError, ConnectionError):
            pass
        closed_after = time.monotonic() - started if reader.at_eof() else None
    finally:
        writer.close()
    assert closed_after is not None, "the connection was never closed"
    assert closed_after < 1.5 + 2.0
    assert_fixed(answer, 408)


async def _read_ok(reader: asyncio.StreamReader) -> None:
    """Read one 200 response with a Content-Length off a raw connection, leaving it ready for the next."""
    status = await asyncio.wait_for(reader.readline(), 5)
    assert status.startswith(b"HTTP/1.1 200"), status
    length = 0
    while (line := await reader.readline()) != b"\r\n":
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)


async def test_a_slow_but_complete_request_and_keep_alive_still_work(make_tandem, monkeypatch):
    monkeypatch.setattr(httpserver, "HEADER_TIMEOUT", 1.5)
    t = await make_tandem()
    reader, writer = await asyncio.open_connection("127.0.0.1", t.settings.port)
    try:
        for _ in range(2):  # two requests on one connection, each head split over writes
            writer.write(f"GET /healthz HTTP/1.1\r\nHost: {t.base.domain}\r\n".encode())
            await asyncio.sleep(0.5)
            writer.write(b"Accept: */*\r\n\r\n")
            await _read_ok(reader)
            await asyncio.sleep(2.0)  # idle between requests longer than the head timeout: not a slow head
    finally:
        writer.close()


async def test_a_head_that_arrives_whole_arms_no_timer(make_tandem, monkeypatch):
    """The head timer guards heads that arrive in pieces; a head that arrives in one read (what
    browsers send) is complete before a timer would be armed, so none is (one less timer per request)."""
    monkeypatch.setattr(httpserver, "HEADER_TIMEOUT", 987.0)  # a delay no other timer has
    t = await make_tandem()
    loop = asyncio.get_running_loop()
    armed = []
    real = loop.call_later
    monkeypatch.setattr(loop, "call_later", lambda delay, cb, *a, **kw: armed.append(delay) or real(delay, cb, *a, **kw))
    reader, writer = await asyncio.open_connection("127.0.0.1", t.settings.port)
    try:
        for _ in range(3):
            writer.write(f"GET /healthz HTTP/1.1\r\nHost: {t.base.domain}\r\n\r\n".encode())
            await _read_ok(reader)
        assert 987.0 not in armed
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: {t.base.domain}\r\n".encode())  # half a head: now it is armed
        for _ in range(50):
            await asyncio.sleep(0.02)
            if 987.0 in armed:
                break
        assert armed.count(987.0) == 1
    finally:
        writer.close()

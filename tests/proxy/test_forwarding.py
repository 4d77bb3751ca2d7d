"""The proxy against real upstream servers on loopback: rewriting, redirects, cookies,
streaming, Range, HEAD, compression, request limits, access checks."""

import asyncio
import gzip
import os
import resource

import aiohttp
import pytest
from aiohttp import web

NAV = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "none", "Accept": "text/html"}
SUB = {"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image", "Sec-Fetch-Site": "same-origin"}


def site(**routes):
    app = web.Application()
    for spec, handler in routes.items():
        method, _, path = spec.partition(" ")
        if not asyncio.iscoroutinefunction(handler):
            handler = _async(handler)
        if method == "GET":
            app.router.add_get(path, handler)  # GET routes answer HEAD too, as real servers do
        else:
            app.router.add_route(method, path, handler)
    return app


def _async(fn):
    async def handler(request):
        return fn(request)

    return handler


async def test_html_is_rewritten_and_runtime_injected(make_tandem, upstream):
    async def page(request):
        origin = f"http://{request.host}"
        return web.Response(
            text=f'<!doctype html><html><head><title>x</title></head><body><a href="{origin}/next">n</a>'
            f'<img src="/rel.png"><a href="//{request.host}/p">p</a></body></html>',
            content_type="text/html",
        )

    origin = await upstream(site(**{"GET /": page}))
    t = await make_tandem()
    s = await t.session(origin + "/")
    r = await t.client.get(s.url(origin + "/"), headers=NAV)
    body = await r.text()
    assert r.status == 200
    assert body.index('<script src="/__tandem/runtime.js?v=') < body.index("<title>")
    assert f'href="{s.url(origin + "/next")}"' in body
    assert 'src="/rel.png"' in body  # relative URLs stay as they are
    assert f'href="{s.url(origin + "/p")}"' in body
    assert "127.0.0.1" not in body.replace(s.url(origin), "")


async def test_leader_url_lands_on_proxied_start_page(make_tandem, upstream):
    origin = await upstream(site(**{"GET /start": lambda r: web.Response(text="<p>start page</p>", content_type="text/html")}))
    t = await make_tandem()
    s = await t.session(origin + "/start", enter=False)
    r = await t.client.get(s.leader_url, headers=NAV)
    assert r.status == 200
    assert str(r.url) == s.url(origin + "/start")
    assert "start page" in await r.text()


async def test_redirect_location_rewritten_not_followed(make_tandem, upstream):
    async def redir(request):
        raise web.HTTPFound(f"http://{request.host}/target?x=1")

    async def rel(request):
        raise web.HTTPMovedPermanently("/elsewhere")

    origin = await upstream(site(**{"GET /r": redir, "GET /rel": rel}))
    t = await make_tandem()
    s = await t.session(origin + "/r")
    r = await t.client.get(s.url(origin + "/r"), allow_redirects=False, headers=NAV)
    assert r.status == 302
    assert r.headers["Location"] == s.url(origin + "/target?x=1")
    r = await t.client.get(s.url(origin + "/rel"), allow_redirects=False, headers=NAV)
    assert (r.status, r.headers["Location"]) == (301, "/elsewhere")


async def test_cookies_stay_in_server_jar_and_go_upstream(make_tandem, upstream):
    async def login(request):
        resp = web.Response(text="ok")
        resp.set_cookie("sid", "secret", httponly=True, path="/")
        resp.set_cookie("theme", "dark", path="/")
        return resp

    async def echo(request):
        return web.json_response({"cookie": request.headers.get("Cookie", "")})

    origin = await upstream(site(**{"POST /login": login, "GET /echo": echo}))
    t = await make_tandem()
    s = await t.session(origin + "/echo")
    r = await t.client.post(s.url(origin + "/login"), data=b"", headers={"Origin": s.url(origin)})
    assert r.status == 200
    assert "Set-Cookie" not in r.headers
    r = await t.client.get(s.url(origin + "/echo"))
    cookies = (await r.json())["cookie"]
    assert "sid=secret" in cookies and "theme=dark" in cookies
    assert "tandem_p_" not in cookies  # Tandem's credential never goes upstream
    # document.cookie endpoint: non-HttpOnly only
    r = await t.client.get(s.url(origin + "/__tandem/cookies?path=/"))
    assert await r.text() == "theme=dark"


async def test_cookie_write_endpoint_refuses_cross_origin(make_tandem, upstream):
    origin = await upstream(site(**{"GET /": lambda r: web.Response(text="x")}))
    t = await make_tandem()
    s = await t.session(origin + "/")
    url = s.url(origin + "/__tandem/cookies?path=/")
    r = await t.client.post(url, data="a=1", headers={"Sec-Fetch-Site": "same-site", "Origin": "http://evil.tandem.localhost"})
    assert r.status == 403
    r = await t.client.post(url, data="a=1", headers={"Sec-Fetch-Site": "same-origin"})
    assert r.status == 204
    assert await (await t.client.get(url)).text() == "a=1"


async def test_request_headers_rebuilt_for_upstream(make_tandem, upstream):
    seen = {}

    async def echo(request):
        seen.update(request.headers)
        return web.Response(text="ok")

    origin = await upstream(site(**{"POST /e": echo}))
    t = await make_tandem()
    s = await t.session(origin + "/e")
    proxied_origin = s.url(origin)
    await t.client.post(s.url(origin + "/e"), data=b"x", headers={
        "Origin": proxied_origin, "Referer": proxied_origin + "/page?q=1", "Sec-Fetch-Site": "same-origin",
        "X-Forwarded-For": "10.0.0.1", "Connection": "keep-alive, X-Secret", "X-Secret": "hop", "Accept-Encoding": "gzip, zstd, br",
    })
    host = origin.split("://")[1]
    assert seen["Host"] == host
    assert seen["Origin"] == origin
    assert seen["Referer"] == origin + "/page?q=1"
    assert seen["Sec-Fetch-Site"] == "same-origin"
    assert "X-Forwarded-For" not in seen and "X-Secret" not in seen
    assert seen["Accept-Encoding"] == "gzip, br"
    assert "tandem_p_" not in seen.get("Cookie", "")


async def test_response_header_table_applied(make_tandem, upstream):
    async def h(request):
        return web.Response(text="x", headers={
            "Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "DENY",
            "Strict-Transport-Security": "max-age=1", "Cross-Origin-Opener-Policy": "same-origin",
            "Clear-Site-Data": '"*"', "Access-Control-Allow-Origin": f"http://{request.host}",
            "Link": f'<http://{request.host}/style.css>; rel=preload; as=style', "X-Custom": "kept",
        })

    origin = await upstream(site(**{"GET /": h}))
    t = await make_tandem()
    s = await t.session(origin + "/")
    r = await t.client.get(s.url(origin + "/"))
    for gone in ("Content-Security-Policy", "X-Frame-Options", "Strict-Transport-Security", "Cross-Origin-Opener-Policy", "Clear-Site-Data"):
        assert gone not in r.headers
    assert r.headers["Access-Control-Allow-Origin"] == s.url(origin)
    assert r.headers["Link"] == f"<{s.url(origin + '/style.css')}>; rel=preload; as=style"
    assert r.headers["X-Custom"] == "kept"


async def test_css_rewritten_with_length(make_tandem, upstream):
    async def css(request):
        return web.Response(text=f'body{{background:url(http://{request.host}/bg.png)}}', content_type="text/css")

    origin = await upstream(site(**{"GET /s.css": css}))
    t = await make_tandem()
    s = await t.session(origin + "/")
    r = await t.client.get(s.url(origin + "/s.css"))
    body = await r.read()
    assert body == f"body{{background:url({s.url(origin + '/bg.png')})}}".encode()
    assert int(r.headers["Content-Length"]) == len(body)


async def test_gzip_html_decoded_for_rewriting_binary_passed_compressed(make_tandem, upstream):
    html = b'<html><head></head><body><a href="http://example.com/x">x</a></body></html>'

    async def page(request):
        return web.Response(body=gzip.compress(html), headers={"Content-Encoding": "gzip", "Content-Type": "text/html"})

    async def blob(request):
        return web.Response(body=gzip.compress(b"\x00" * 1000), headers={"Content-Encoding": "gzip", "Content-Type": "application/octet-stream"})

    origin = await upstream(site(**{"GET /": page, "GET /b": blob}))
    t = await make_tandem()
    s = await t.session(origin + "/")
    r = await t.client.get(s.url(origin + "/"))
    assert "Content-Encoding" not in r.headers
    assert s.url("http://example.com/x") in await r.text()
    r = await t.client.get(s.url(origin + "/b"), auto_decompress=False)
    assert r.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(await r.read()) == b"\x00" * 1000


async def test_range_and_head_pass_through(make_tandem, upstream, tmp_path):
    data = os.urandom(100_000)
    f = tmp_path / "file.bin"
    f.write_bytes(data)

    async def file(request):
        return web.FileResponse(f)

    origin = await upstream(site(**{"GET /f": file}))
    t = await make_tandem()
    s = await t.session(origin + "/")
    r = await t.client.get(s.url(origin + "/f"), headers={"Range": "bytes=1000-1999"})
    assert r.status == 206
    assert r.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    assert await r.read() == data[1000:2000]
    r = await t.client.head(s.url(origin + "/f"))
    assert r.status == 200
    assert int(r.headers["Content-Length"]) == len(data)
    assert await r.read() == b""


async def test_large_body_streams_without_buffering(make_tandem, upstream):
    size = 256 * 1024 * 1024
    chunk = b"z" * (1024 * 1024)

    async def big(request):
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
        await resp.prepare(request)
        for _ in range(size // len(chunk)):
            await resp.write(chunk)
        return resp

    origin = await upstream(site(**{"GET /big": big}))
    t = await make_tandem()
    s = await t.session(origin + "/")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    received = 0
    async with t.client.get(s.url(origin + "/big")) as r:
        async for part in r.content.iter_chunked(1024 * 1024):
            received += len(part)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert received == size
    assert grown_mib < 64, f"peak memory grew {grown_mib:.0f} MiB while streaming {size >> 20} MiB"


async def test_request_body_streamed_up_and_limited(make_tandem, upstream):
    async def upload(request):
        return web.json_response({"n": len(await request.read())})

    origin = await upstream(site(**{"POST /u": upload}))
    t = await make_tandem(max_request_body=10_000)
    s = await t.session(origin + "/")
    r = await t.client.post(s.url(origin + "/u"), data=b"a" * 9_000)
    assert (await r.json())["n"] == 9_000
    r = await t.client.post(s.url(origin + "/u"), data=b"a" * 20_000)
    assert r.status == 413

    async def chunks():
        for _ in range(30):
            yield b"b" * 1000

    r = await t.client.post(s.url(origin + "/u"), data=chunks())
    assert r.status == 413


async def test_all_methods_forwarded(make_tandem, upstream):
    async def any_method(request):
        return web.Response(text=request.method + ":" + (await request.text()))

    app = web.Application()
    app.router.add_route("*", "/m", any_method)
    origin = await upstream(app)
    t = await make_tandem()
    s = await t.session(origin + "/")
    for method in ("PUT", "PATCH", "DELETE", "OPTIONS", "POST"):
        r = await t.client.request(method, s.url(origin + "/m"), data=b"body")
        assert await r.text() == f"{method}:body"


@pytest.mark.parametrize("host_label, status, code", [
    ("nonsense", 404, "unknown_host"),
    ("abcdefgh2345-x-bad", 404, "unknown_host"),
    ("abcdefgh2345-h8001-127-0-0-1", 404, "unknown_host"),  # well-formed, no such session
])
async def test_malformed_or_unknown_labels(make_tandem, host_label, status, code):
    t = await make_tandem()
    r = await t.client.get(f"http://{host_label}.{t.base.domain}/", headers=NAV)
    assert r.status == status
    assert f"code: {code}" in await r.text()
    r = await t.client.get(f"http://{host_label}.{t.base.domain}/x.png", headers=SUB)
    assert r.status == status and r.content_type == "text/plain"


async def test_no_credential_refused(make_tandem, upstream):
    origin = await upstream(site(**{"GET /": lambda r: web.Response(text="secret page")}))
    t = await make_tandem()
    s = await t.session(origin + "/", enter=False)
    r = await t.client.get(s.url(origin + "/"), headers=NAV)
    assert r.status == 403
    assert "not_a_participant" in await r.text()
    # a tossed cookie of the right name but forged value is not a credential either
    r = await t.client.get(s.url(origin + "/"), headers={**NAV, "Cookie": f"tandem_p_{s.sid}=p.{s.sid}.x.leader.9999999999.AAAA"})
    assert r.status == 403


async def test_ended_session_is_gone(make_tandem, upstream):
    origin = await upstream(site(**{"GET /": lambda r: web.Response(text="x")}))
    t = await make_tandem()
    s = await t.session(origin + "/")
    from tandem import appkeys

    await t.app[appkeys.SESSIONS].end(s.sid)
    r = await t.client.get(s.url(origin + "/"), headers=NAV)
    assert r.status == 410


async def test_off_allowlist_navigation_shows_block_page(make_tandem, upstream, tmp_path):
    from proxy.allowlist import Entry

    origin = await upstream(site(**{"GET /": lambda r: web.Response(text="<p>hi</p>", content_type="text/html")}))
    t = await make_tandem(extra_allow=(Entry("127.0.0.1"),))
    s = await t.session(origin + "/")
    r = await t.client.get(s.url(origin + "/"), headers=NAV)
    assert r.status == 200
    other = origin.replace("127.0.0.1", "localhost")
    r = await t.client.get(s.url(other + "/"), headers=NAV)
    assert r.status == 403
    text = await r.text()
    assert "not available for co-browsing" in text and "site_not_allowed" in text
    # subresources from unlisted hosts are free while the page's entry is navigation-only (the
    # decide table covers that), but never on the private networks opened for the listed host
    r = await t.client.get(s.url(other + "/"), headers={**SUB, "Referer": s.url(origin + "/")})
    assert r.status == 403 and "private_address" in await r.text()


async def test_scope_all_blocks_unlisted_subresources(make_tandem, upstream):
    from proxy.allowlist import Entry

    origin = await upstream(site(**{"GET /": lambda r: web.Response(text="x")}))
    t = await make_tandem(extra_allow=(Entry("127.0.0.1", "all"),))
    s = await t.session(origin + "/")
    other = origin.replace("127.0.0.1", "localhost")
    r = await t.client.get(s.url(other + "/"), headers={**SUB, "Referer": s.url(origin + "/")})
    assert r.status == 403


async def test_private_addresses_refused_by_default(make_tandem, upstream):
    origin = await upstream(site(**{"GET /": lambda r: web.Response(text="internal")}))
    t = await make_tandem(allow_private=())
    r = await t.api("POST", "/api/v1/sessions", json={"url": origin + "/"})
    assert r.status == 403 and (await r.json())["error"]["code"] == "private_address"
    # a name that resolves to loopback (localhost) is refused after resolution
    from tandem import appkeys

    session = await t.app[appkeys.SESSIONS].create("http://example.com/")
    sid = session.sid
    enter = f"{t.url}/s/{sid}/enter?t={await t.app[appkeys.SESSIONS].invite(sid)}"
    await t.client.get(enter, allow_redirects=False)
    from tests.harness import ProxiedSession

    s = ProxiedSession(sid, enter, t.base, t.app)
    for target in (origin.replace("127.0.0.1", "localhost"), origin, "http://0x7f.1:" + origin.rsplit(":", 1)[1],
                   "http://[::ffff:127.0.0.1]:" + origin.rsplit(":", 1)[1]):
        r = await t.client.get(s.url(target + "/"), headers=NAV)
        assert r.status == 403, target
        assert "private_address" in await r.text()


async def test_head_of_rewritten_type_has_no_stale_length(make_tandem, upstream):
    html = '<html><head></head><body><a href="http://example.com/">x</a></body></html>'
    origin = await upstream(site(**{"GET /": lambda r: web.Response(text=html, content_type="text/html")}))
    t = await make_tandem()
    s = await t.session(origin + "/")
    r = await t.client.head(s.url(origin + "/"))
    assert r.status == 200 and "Content-Length" not in r.headers
    r = await t.client.get(s.url(origin + "/"))
    assert len(await r.read()) != len(html)  # the rewritten body really differs in length

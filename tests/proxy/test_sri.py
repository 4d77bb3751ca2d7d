"""Subresource integrity enforced by the proxy on the upstream bytes (proxy/sri.py), and the page's
<meta> CSP kept in force on the proxied origins (rewriter.headers.rewrite_csp). Real upstream servers
on loopback; the browser's side of both is in tests/e2e/probes (sri-*, meta-csp-*)."""

import base64
import gzip
import hashlib
import re

from aiohttp import web

from proxy import sri
from rewriter.headers import rewrite_csp
from rewriter.urls import ProxyBase, UrlRewriter, sri_marker, take_sri_marker

from .test_forwarding import NAV, site

JS = b"window.ok = 1; location.href;\n"  # rewritten by the JS rewriter: the browser could never check it
SCRIPT = {"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "script", "Sec-Fetch-Site": "same-origin"}


def b64(alg: str, data: bytes) -> str:
    return base64.b64encode(hashlib.new(alg, data).digest()).decode()


# -- the metadata, as the browser reads it --------------------------------------------------------

def test_strongest_algorithm_wins_and_any_of_its_digests_passes():
    good256, good384 = f"sha256-{b64('sha256', JS)}", f"sha384-{b64('sha384', JS)}"
    assert sri.check(good256, JS) is None
    assert sri.check(f"sha384-{b64('sha384', b'x')} {good384}", JS) is None  # any match of the strongest
    assert sri.check(f"{good256} sha384-{b64('sha384', b'x')}", JS) == f"SHA-384 integrity '{b64('sha384', JS)}'"
    assert sri.check(f"sha512-{b64('sha512', JS)}?opt=1 {good256}", JS) is None  # options after '?' ignored
    assert sri.check("md5-abc sha1-def", JS) is None  # unknown algorithms only: no check
    assert sri.check(f"SHA256-{b64('sha256', JS)}", JS) is None  # algorithm names: case-insensitive
    urlsafe = b64("sha256", JS).replace("+", "-").replace("/", "_").rstrip("=")
    assert sri.check(f"sha256-{urlsafe}", JS) is None


def test_cross_origin_no_cors_is_never_eligible():
    assert sri.eligible("no-cors", "same-origin") and sri.eligible("cors", "cross-site")
    assert not sri.eligible("no-cors", "same-site") and not sri.eligible("no-cors", "cross-site")


def test_marker_round_trip_takes_only_the_last_parameter():
    meta = "sha384-a+b/c= sha256-x?y"
    for path in ("/a.js", "/a.js?v=1", "/a.js?"):
        marked = f"{path}{'&' if '?' in path else '?'}{sri_marker(meta)}"
        assert take_sri_marker(marked) == (path, meta)
    assert take_sri_marker("/a.js?__tandem_sri=x&v=1") == ("/a.js?__tandem_sri=x&v=1", None)
    assert sri_marker("  ") == ""


# -- the proxy ------------------------------------------------------------------------------------

def _page(integrity: str, path: str = "/app.js", tag: str = "script") -> bytes:
    el = (f'<script src="{path}" integrity="{integrity}"></script>' if tag == "script" else
          f'<link rel=stylesheet href="{path}" integrity="{integrity}">')
    return f"<!doctype html><html><head>{el}</head><body>x</body></html>".encode()


async def _setup(make_tandem, upstream, integrity: str, gz: bool = False, tag: str = "script"):
    def page(request):
        return web.Response(body=_page(integrity, tag=tag), content_type="text/html")

    def script(request):
        if gz:
            return web.Response(body=gzip.compress(JS), headers={"Content-Encoding": "gzip",
                                                                 "Content-Type": "application/javascript"})
        return web.Response(body=JS, content_type="application/javascript")

    seen = []

    @web.middleware
    async def log(request, handler):
        seen.append(request.raw_path)
        return await handler(request)

    app = site(**{"GET /": page, "GET /app.js": script})
    app.middlewares.append(log)
    origin = await upstream(app)
    t = await make_tandem()
    s = await t.session(origin + "/")
    html = await (await t.client.get(s.url(origin + "/"), headers=NAV)).text()
    return t, s, origin, html, seen


def _marked_src(html: str) -> str:
    m = re.search(r'<script src="([^"]*__tandem_sri=[^"]*)"', html) or re.search(r'href="([^"]*__tandem_sri=[^"]*)"', html)
    assert m, html[:600]
    return m.group(1)


async def test_page_integrity_travels_in_the_url_and_is_off_the_element(make_tandem, upstream):
    good = f"sha256-{b64('sha256', JS)}"
    t, s, origin, html, _ = await _setup(make_tandem, upstream, good)
    assert "integrity=" not in html
    assert _marked_src(html) == f"/app.js?{sri_marker(good)}"


async def test_matching_upstream_bytes_pass_and_are_still_rewritten(make_tandem, upstream):
    good = f"sha384-{b64('sha384', JS)}"
    t, s, origin, html, seen = await _setup(make_tandem, upstream, good, gz=True)
    r = await t.client.get(s.url(origin + _marked_src(html)), headers=SCRIPT)
    assert r.status == 200
    body = await r.read()
    assert body != JS and b"window.ok = 1" in body  # the JS rewriter ran on the checked bytes
    assert seen[-1] == "/app.js"  # the upstream never sees the marker


async def test_mismatch_is_refused_before_a_byte_and_every_time(make_tandem, upstream):
    bad = f"sha256-{b64('sha256', b'other bytes')}"
    t, s, origin, html, seen = await _setup(make_tandem, upstream, bad)
    url = s.url(origin + _marked_src(html))
    for _ in range(2):  # checked per request, never served from a cache
        r = await t.client.get(url, headers=SCRIPT)
        assert r.status == 502
        assert "window.ok" not in await r.text()
        assert r.headers["X-Tandem-Sri"] == (  # the browser's console message, written by the runtime
            f"Failed to find a valid digest in the 'integrity' attribute for resource "
            f"'{origin}/app.js' with computed SHA-256 integrity '{b64('sha256', JS)}'. The resource has been blocked.")
    assert seen.count("/app.js") == 2
    # the same URL without the page's integrity (a plain load) is the page's own business
    plain = await t.client.get(s.url(origin + "/app.js"), headers=SCRIPT)
    assert plain.status == 200


async def test_revalidation_304_passes_through(make_tandem, upstream):
    """A reload revalidates the browser's copy (stored under the marked URL, so checked against this
    integrity when it came): the upstream's 304 has no body to check and must not fail the load."""
    etag = '"v1"'

    def script(request):
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=JS, content_type="application/javascript", headers={"ETag": etag})

    def page(request):
        return web.Response(body=_page(f"sha256-{b64('sha256', JS)}"), content_type="text/html")

    origin = await upstream(site(**{"GET /": page, "GET /app.js": script}))
    t = await make_tandem()
    s = await t.session(origin + "/")
    html = await (await t.client.get(s.url(origin + "/"), headers=NAV)).text()
    r = await t.client.get(s.url(origin + _marked_src(html)), headers={**SCRIPT, "If-None-Match": etag})
    assert r.status == 304


async def test_cross_origin_no_cors_with_integrity_fails_whatever_the_bytes(make_tandem, upstream):
    good = f"sha256-{b64('sha256', JS)}"
    t, s, origin, html, _ = await _setup(make_tandem, upstream, good)
    url = s.url(origin + _marked_src(html))
    r = await t.client.get(url, headers={**SCRIPT, "Sec-Fetch-Site": "cross-site"})
    assert r.status == 502 and "requires the request to be CORS enabled" in r.headers["X-Tandem-Sri"]
    r = await t.client.get(url, headers={**SCRIPT, "Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "cross-site"})
    assert r.status == 200


async def test_stylesheet_link_carries_its_integrity(make_tandem, upstream):
    t, s, origin, html, _ = await _setup(make_tandem, upstream, "sha512-AAAA", tag="link")
    assert "integrity=" not in html and _marked_src(html).startswith("/app.js?__tandem_sri=sha512-AAAA")


# -- the page's <meta> CSP ------------------------------------------------------------------------

URLS = UrlRewriter(ProxyBase("http", "tandem.localhost:8080"), "abcdefghijkl", "https://site.example/")


def test_csp_sources_move_to_the_proxied_origins():
    out = rewrite_csp("default-src 'self' https://cdn.example/js/ 'nonce-x'; img-src data: *.img.example; "
                      "report-uri https://r.example/csp", URLS)
    assert out == ("default-src 'self' http://abcdefghijkl-s-cdn-example.tandem.localhost:8080/js/ 'nonce-x'; "
                   "img-src data: http://*.tandem.localhost:8080; "
                   "report-uri http://abcdefghijkl-s-r-example.tandem.localhost:8080/csp")


def test_csp_gets_room_for_tandems_own_files_where_it_governs_them():
    own = "http://L.tandem.localhost:8080/__tandem/"
    out = rewrite_csp("script-src 'none'; img-src 'self'", URLS, {"script": [own]})
    assert out == f"script-src {own}; img-src 'self'"
    out = rewrite_csp("default-src 'self'", URLS, {"script": [own], "frame": ["http://tandem.localhost:8080"]})
    assert out == f"default-src 'self' {own} http://tandem.localhost:8080"


def test_upgrade_insecure_requests_only_where_it_cannot_break_tandems_urls():
    assert rewrite_csp("upgrade-insecure-requests", URLS) == "upgrade-insecure-requests"  # *.localhost: never upgraded
    plain = UrlRewriter(ProxyBase("http", "tandem.example:8080"), "abcdefghijkl", "https://site.example/")
    assert rewrite_csp("upgrade-insecure-requests; img-src 'self'", plain) == "img-src 'self'"


async def test_meta_csp_stays_in_force_rewritten(make_tandem, upstream):
    def page(request):
        return web.Response(text=(
            "<!doctype html><html><head>"
            f"<meta http-equiv=Content-Security-Policy content=\"img-src http://{request.host}; script-src 'nonce-n1'\">"
            "</head><body><script nonce=n1>1</script></body></html>"), content_type="text/html")

    origin = await upstream(site(**{"GET /": page}))
    t = await make_tandem()
    s = await t.session(origin + "/")
    html = await (await t.client.get(s.url(origin + "/"), headers=NAV)).text()
    assert 'http-equiv=Content-Security-Policy content="img-src ' + s.url(origin) in html
    assert "script-src 'nonce-n1' " in html and "/__tandem/" in html.split("script-src", 1)[1]
    assert "<script nonce=n1>" in html  # the nonce that lets the page's script run stays
    assert html.index("/__tandem/runtime.js") < html.index("Content-Security-Policy")  # the runtime is not governed

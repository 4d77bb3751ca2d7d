"""Header tables, both directions, as pure functions."""

import re

import pytest
from hypothesis import given, strategies as st

from rewriter.headers import browser_response_headers, filter_accept_encoding, rewrite_refresh, upstream_request_headers
from rewriter.labels import Origin
from rewriter.urls import ProxyBase, UrlRewriter

BASE = ProxyBase("http", "tandem.localhost:8080")
SID = "abcdefgh2345"
URLS = UrlRewriter(BASE, SID, "https://shop.example/")
UP = Origin("https", "shop.example", 443)
P_SHOP = URLS.proxy_origin(UP)  # http://abcdefgh2345-s-shop-example.tandem.localhost:8080


def to_upstream(url):
    if url.startswith(P_SHOP):
        return "https://shop.example" + (url[len(P_SHOP):] or "/")
    if url.startswith(URLS.proxy_origin(Origin("https", "cdn.other", 443))):
        return "https://cdn.other/"
    return None


def req(headers, cookie=None):
    return upstream_request_headers(headers, upstream=UP, to_upstream=to_upstream, cookie=cookie)


def resp(headers):
    return browser_response_headers(headers, urls=URLS, to_proxy_origin=lambda o: URLS.rewrite(o))


@pytest.mark.parametrize("given, expected", [
    ([], [("Host", "shop.example"), ("Accept-Encoding", "identity")]),
    ([("Host", "x.tandem.localhost")], [("Host", "shop.example"), ("Accept-Encoding", "identity")]),
    ([("Origin", P_SHOP)], [("Host", "shop.example"), ("Origin", "https://shop.example"), ("Accept-Encoding", "identity")]),
    ([("Origin", "null")], [("Host", "shop.example"), ("Origin", "null"), ("Accept-Encoding", "identity")]),
    ([("Origin", "http://tandem.localhost:8080")], [("Host", "shop.example"), ("Origin", "null"), ("Accept-Encoding", "identity")]),
    ([("Referer", P_SHOP + "/a?b")], [("Host", "shop.example"), ("Referer", "https://shop.example/a?b"), ("Accept-Encoding", "identity")]),
    ([("Referer", "http://tandem.localhost:8080/")], [("Host", "shop.example"), ("Accept-Encoding", "identity")]),
    ([("Cookie", "tandem_p_x=secret")], [("Host", "shop.example"), ("Accept-Encoding", "identity")]),
    ([("Connection", "close, X-Hop"), ("X-Hop", "1"), ("Keep-Alive", "5"), ("TE", "trailers")], [("Host", "shop.example"), ("Accept-Encoding", "identity")]),
    ([("X-Forwarded-For", "1.2.3.4"), ("Forwarded", "for=1.2.3.4"), ("X-Real-IP", "1.2.3.4")], [("Host", "shop.example"), ("Accept-Encoding", "identity")]),
    ([("X-Tandem-Debug", "1")], [("Host", "shop.example"), ("Accept-Encoding", "identity")]),
    ([("Accept-Encoding", "gzip, deflate, br, zstd")], [("Host", "shop.example"), ("Accept-Encoding", "gzip, deflate, br")]),
    ([("User-Agent", "UA"), ("Accept", "*/*"), ("Authorization", "Basic eA==")],
     [("Host", "shop.example"), ("User-Agent", "UA"), ("Accept", "*/*"), ("Authorization", "Basic eA=="), ("Accept-Encoding", "identity")]),
    ([("Sec-Fetch-Site", "none")], [("Host", "shop.example"), ("Sec-Fetch-Site", "none"), ("Accept-Encoding", "identity")]),
    ([("Sec-Fetch-Site", "same-site"), ("Origin", P_SHOP)],
     [("Host", "shop.example"), ("Origin", "https://shop.example"), ("Sec-Fetch-Site", "same-origin"), ("Accept-Encoding", "identity")]),
], ids=lambda v: repr(v)[:60])
def test_request_table(given, expected):
    assert req(given) == expected


def test_request_cookie_from_jar_and_cross_site_fetch_site():
    out = dict(req([("Sec-Fetch-Site", "same-site"), ("Referer", URLS.proxy_origin(Origin("https", "cdn.other", 443)) + "/")], cookie="a=1"))
    assert out["Cookie"] == "a=1"
    assert out["Sec-Fetch-Site"] == "cross-site"


@pytest.mark.parametrize("name, value, expected", [
    ("Content-Security-Policy", "default-src 'self'", None),
    ("content-security-policy-report-only", "x", None),
    ("X-Frame-Options", "DENY", None),
    ("Cross-Origin-Opener-Policy", "same-origin", None),
    ("Cross-Origin-Embedder-Policy", "require-corp", None),
    ("Cross-Origin-Resource-Policy", "same-origin", None),
    ("Strict-Transport-Security", "max-age=31536000", None),
    ("Clear-Site-Data", '"cookies"', None),
    ("Report-To", "{}", None),
    ("Reporting-Endpoints", "a=x", None),
    ("NEL", "{}", None),
    ("Alt-Svc", 'h3=":443"', None),
    ("Set-Cookie", "a=1", None),
    ("Transfer-Encoding", "chunked", None),
    ("Content-Length", "10", None),
    ("Location", "https://shop.example/next", P_SHOP + "/next"),
    ("Location", "/relative", "/relative"),
    ("Location", "//shop.example/x", P_SHOP + "/x"),
    ("Content-Location", "https://shop.example/c", P_SHOP + "/c"),
    ("Refresh", "5; url=https://shop.example/r", "5; url=" + P_SHOP + "/r"),
    ("Refresh", "0;URL='https://shop.example/q'", "0;URL='" + P_SHOP + "/q'"),
    ("Refresh", "10", "10"),
    ("Link", "<https://shop.example/a.css>; rel=preload, </b.js>; rel=preload",
     "<" + P_SHOP + "/a.css>; rel=preload, </b.js>; rel=preload"),
    ("Access-Control-Allow-Origin", "https://shop.example", P_SHOP),
    ("Access-Control-Allow-Origin", "*", "*"),
    ("Access-Control-Allow-Origin", "null", "null"),
    ("Access-Control-Allow-Credentials", "true", "true"),
    ("Cache-Control", "max-age=60", "max-age=60"),
    ("Content-Type", "text/html; charset=utf-8", "text/html; charset=utf-8"),
    ("SourceMap", "https://shop.example/a.map", P_SHOP + "/a.map"),
], ids=lambda v: str(v)[:40])
def test_response_table(name, value, expected):
    out = resp([(name, value)])
    assert out == ([] if expected is None else [(name, expected)])


def test_response_connection_listed_headers_dropped():
    assert resp([("Connection", "X-Private"), ("X-Private", "1"), ("X-Public", "2")]) == [("X-Public", "2")]


@pytest.mark.parametrize("value, expected", [
    (None, "identity"), ("", "identity"), ("zstd", "identity"), ("gzip;q=1.0, identity;q=0.5", "gzip;q=1.0"),
    ("br", "br"),
])
def test_accept_encoding(value, expected):
    assert filter_accept_encoding(value) == expected


def test_refresh_without_url_untouched():
    assert rewrite_refresh("3", URLS) == "3"


class _Marks:
    def rewrite(self, url: str) -> str:
        return "<" + url + ">"


# The reference reading of a Refresh value (the one regex it used to be): the result must not change.
_REFRESH_REFERENCE = re.compile(r"""^(\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?)(['"]?)(.*?)(\2\s*)$""", re.I | re.S)


def _refresh_reference(value: str) -> str:
    m = _REFRESH_REFERENCE.match(value)
    if not m or not m.group(3):
        return value
    return f"{m.group(1)}{m.group(2)}{_Marks().rewrite(m.group(3))}{m.group(4)}"



@given(st.text(alphabet=" \t\n0.5;,uUrRlL='\"x/\xa0\u2003", max_size=16))
def test_refresh_reads_as_the_reference_regex(value):
    assert rewrite_refresh(value, _Marks()) == _refresh_reference(value)


def test_refresh_is_linear_in_a_run_of_spaces():
    """The single regex was quadratic in a run of spaces before the value's end (0.9 s of the event
    loop for an 8 KB header from a hostile upstream). 400k spaces in a child process, with a timeout."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("from rewriter.headers import rewrite_refresh\n"
            "class U:\n    def rewrite(self, u): return 'P' + u\n"
            "print(rewrite_refresh('0; url=x' + ' ' * 400000 + 'y', U())[:9])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                       cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "0; url=Px"

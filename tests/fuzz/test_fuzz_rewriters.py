"""Every rewriter and parser of rewriter/ gets arbitrary input: no exception escapes, no input exceeds its budget.

The one way a rewriter may fail is :class:`rewriter.errors.RewriteError` (the proxy then fails
closed); anything else escaping is a bug. Budgets are the per-input deadline (strategies.BUDGET_MS).
"""

from __future__ import annotations

from hypothesis import given, strategies as st

from rewriter import labels
from rewriter.cookies import CookieJar, RequestContext, parse_set_cookie
from rewriter.css import rewrite_css, rewrite_css_bytes
from rewriter.errors import RewriteError
from rewriter.headers import browser_response_headers, upstream_request_headers
from rewriter.html import HtmlRewriter, rewrite_html
from rewriter.js import rewrite_js_bytes
from rewriter.urls import ProxyBase, UrlError, UrlRewriter, split_url

from .strategies import HOSTS, MUTATION_RANDOMS, css_text, fuzz, html_text, js_text, odd_text, run, urls, variants

rnds = MUTATION_RANDOMS

SID = "abcdefgh2345"
BASE = ProxyBase("http", "tandem.localhost:8080")
CHARSETS = [None, "utf-8", "utf-16", "utf-16be", "shift_jis", "iso-2022-jp", "gb18030", "windows-1252", "x-user-defined",
            "bogus", "utf-7", "replacement", ""]


def mapper(page="https://example.com/dir/page.html") -> UrlRewriter:
    return UrlRewriter(BASE, SID, page_url=page)


def _html(data, charset, chunk):
    urls = mapper()
    try:
        if chunk:
            rw = HtmlRewriter(urls, charset=charset) if charset else HtmlRewriter(urls)
            out = b"".join(rw.feed(data[i:i + chunk]) for i in range(0, len(data), chunk)) + rw.close()
        else:
            out = rewrite_html(data, urls, charset=charset) if charset else rewrite_html(data, urls)
    except RewriteError:
        return
    assert isinstance(out, bytes)


@fuzz(300)
@given(st.one_of(html_text.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=300)),
       st.sampled_from(CHARSETS), st.integers(min_value=0, max_value=64), rnds)
def test_html_rewriter(seed, charset, chunk, rnd):
    for data in variants(seed, rnd):
        run("html", _html, data, charset, chunk)


def _css_text(text):
    assert isinstance(rewrite_css(text, mapper()), str)


def _css_bytes(data, charset):
    try:
        out = rewrite_css_bytes(data, mapper(), charset)
    except RewriteError:
        return
    assert isinstance(out, bytes)


def _js(data, charset):
    try:
        out = rewrite_js_bytes(data, mapper(), charset)
    except RewriteError:
        return
    assert isinstance(out, bytes)


@fuzz(400)
@given(st.one_of(css_text, st.text(max_size=200)), rnds)
def test_css_rewriter_text(seed, rnd):
    for text in variants(seed, rnd):
        run("css", _css_text, text)


@fuzz(150)
@given(st.one_of(css_text.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=200)), st.sampled_from(CHARSETS), rnds)
def test_css_rewriter_bytes(seed, charset, rnd):
    for data in variants(seed, rnd):
        run("css_bytes", _css_bytes, data, charset)


@fuzz(100)
@given(st.one_of(js_text.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=200)), st.sampled_from(CHARSETS), rnds)
def test_js_rewriter(seed, charset, rnd):
    for data in variants(seed, rnd):
        run("js", _js, data, charset)


def _url(value, page):
    urls = mapper(page) if page else mapper()
    assert isinstance(urls.rewrite(value), str)
    try:
        split_url(value)
    except UrlError:
        pass


@fuzz(400)
@given(urls, st.sampled_from(["https://example.com/a/b", "http://[::1]:8/", "https://bücher.example/", "about:blank", ""]), rnds)
def test_url_mapper(seed, page, rnd):
    for value in variants(seed, rnd):
        run("urls", _url, value, page)


HEADER_NAMES = ["Location", "Content-Location", "Refresh", "Link", "Set-Cookie", "Access-Control-Allow-Origin", "Origin",
                "Referer", "Sec-Fetch-Site", "Connection", "Accept-Encoding", "Content-Security-Policy", "Timing-Allow-Origin",
                "X-Tandem-Role", "Cookie", "Host", "Keep-Alive", "Upgrade", "Content-Type", "Content-Disposition"]
header = st.tuples(st.one_of(st.sampled_from(HEADER_NAMES), st.text(max_size=10)), st.one_of(urls, odd_text, st.text(max_size=50)))


def _headers(headers):
    urls = mapper()
    out = browser_response_headers(headers, urls=urls, to_proxy_origin=lambda o: urls.rewrite(o) if o else None)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in out)
    upstream = labels.Origin("https", "example.com", 443)
    out = upstream_request_headers(headers, upstream=upstream, to_upstream=lambda u: u if u.startswith("http") else None,
                                   cookie="a=b")
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in out)


@fuzz(250)
@given(st.lists(header, max_size=8), rnds)
def test_header_tables(headers, rnd):
    seed = "\n".join(f"{k}\x01{v}" for k, v in headers)
    for text in variants(seed, rnd):
        pairs = [tuple(line.split("\x01", 1)) if "\x01" in line else (line, "") for line in text.split("\n")] if text else []
        run("headers", _headers, pairs)


cookie_line = st.lists(st.one_of(st.sampled_from(["a=b", "; Path=/", "; Domain=example.com", "; Domain=.com", "; Secure", "; HttpOnly",
                                                  "; SameSite=None", "; SameSite=Strict", "; Max-Age=-1", "; Max-Age=99999999999999999999",
                                                  "; Expires=Wed, 21 Oct 2015 07:28:00 GMT", "; Expires=31 Dec 99999 23:59:60",
                                                  "__Host-x=1", "__Secure-y=2", "; Partitioned", "=", ";", "\x00"]),
                                 odd_text), max_size=8).map("".join)


def _cookies(lines, url, script):
    for line in lines:
        parse_set_cookie(line)
    jar = CookieJar()
    ctx = RequestContext.from_urls(url, url) if url.startswith("http") else RequestContext()
    jar.set_from_response(url, lines, ctx)
    header = jar.cookie_header(url, ctx)
    assert header is None or isinstance(header, str)
    jar.script_write(url, script)
    assert isinstance(jar.script_read(url), str)
    for record in jar.records().values():
        assert isinstance(record, dict)


parse_set_cookie("warm=up; Domain=example.com")  # the public suffix list loads once, not inside an input's budget


@fuzz(250)
@given(st.lists(cookie_line, max_size=4), st.sampled_from(["https://example.com/a/b", "http://127.0.0.1:8/", "https://bücher.example/",
                                                            "https://[::1]/", "nonsense", ""]), cookie_line, rnds)
def test_cookie_jar(lines, url, script, rnd):
    seed = "\n".join(lines)
    for text, scr in zip(variants(seed, rnd), variants(script, rnd)):
        run("cookies", _cookies, text.split("\n") if text else [], url, scr)


def _labels(label, scheme, host, port):
    try:
        labels.decode(label)
    except labels.LabelError:
        pass
    try:
        origin = labels.Origin(scheme, host, port)
        encoded, _alias = labels.encode(SID, origin)
    except (labels.LabelError, ValueError):
        return
    assert isinstance(encoded, str) and len(encoded) <= 63


@fuzz(300)
@given(st.one_of(st.text(max_size=70), st.from_regex(r"[a-z2-7]{12}-[a-z0-9-]{0,50}", fullmatch=True)),
       st.sampled_from(["http", "https", "ws", "ftp", ""]), st.one_of(st.sampled_from(HOSTS), st.text(max_size=30)),
       st.integers(min_value=-1, max_value=70000), rnds)
def test_labels(label, scheme, host, port, rnd):
    for lab, h in zip(variants(label, rnd), variants(host, rnd)):
        run("labels", _labels, lab, scheme, h, port)

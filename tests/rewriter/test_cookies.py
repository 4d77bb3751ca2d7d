"""The server-side cookie jar against RFC 6265bis (as Chromium behaves).

Most cases are rows: a Set-Cookie string stored from one URL, then the Cookie
header (or document.cookie) seen from another. The clock is a real object the
test moves by hand, so expiry is exact.
"""

from __future__ import annotations

import calendar
import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewriter.cookies import (
    LAX_ALLOWING_UNSAFE_WINDOW,
    MAX_COOKIE_AGE,
    MAX_COOKIES_PER_SITE,
    MAX_COOKIES_TOTAL,
    CookieJar,
    RequestContext,
    default_path,
    parse_cookie_date,
    path_match,
    site_of,
)

T0 = float(calendar.timegm((2024, 1, 1, 0, 0, 0)))


class Clock:
    """A clock that only moves when told to."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_jar(clock: Clock | None = None) -> CookieJar:
    return CookieJar(clock=clock or Clock())


def utc(*parts: int) -> float:
    return float(calendar.timegm(datetime.datetime(*parts).timetuple()))


CROSS_SUB = RequestContext(same_site=False)
CROSS_NAV_GET = RequestContext(same_site=False, top_level_navigation=True)
CROSS_NAV_POST = RequestContext(method="POST", same_site=False, top_level_navigation=True)
SAME_POST = RequestContext(method="POST")

# --- store from one URL, read the Cookie header at another ----------------------------

WWW = "https://www.example.com/"
STORE_THEN_SEND = [
    # (id, set_url, set_cookie, request_url, expected Cookie header)
    # host-only vs Domain
    ("host-only-same-host", WWW, "a=1", WWW, "a=1"),
    ("host-only-not-to-subdomain", WWW, "a=1", "https://sub.www.example.com/", None),
    ("host-only-not-to-parent", WWW, "a=1", "https://example.com/", None),
    ("domain-to-parent", WWW, "a=1; Domain=example.com", "https://example.com/", "a=1"),
    ("domain-to-sibling", WWW, "a=1; Domain=example.com", "https://api.example.com/", "a=1"),
    ("domain-leading-dot", WWW, "a=1; Domain=.example.com", "https://api.example.com/", "a=1"),
    ("domain-case-insensitive", WWW, "a=1; DOMAIN=EXAMPLE.COM", "https://x.example.com/", "a=1"),
    ("host-case-canonical", "https://WWW.Example.COM/", "a=1", WWW, "a=1"),
    ("domain-equal-host", WWW, "a=1; Domain=www.example.com", "https://x.www.example.com/", "a=1"),
    ("domain-not-matching-host", WWW, "a=1; Domain=other.com", WWW, None),
    ("domain-sub-of-host", WWW, "a=1; Domain=a.www.example.com", "https://a.www.example.com/", None),
    ("domain-suffix-not-label", "https://badexample.com/", "a=1; Domain=example.com",
     "https://badexample.com/", None),
    ("domain-empty-is-host-only", WWW, "a=1; Domain=", "https://x.www.example.com/", None),
    ("domain-empty-still-stored", WWW, "a=1; Domain=", WWW, "a=1"),
    ("domain-last-wins", WWW, "a=1; Domain=other.com; Domain=example.com", "https://example.com/", "a=1"),
    ("domain-non-ascii-rejected", "https://www.xn--bcher-kva.de/", "a=1; Domain=bücher.de",
     "https://www.xn--bcher-kva.de/", None),
    # public suffixes
    ("public-suffix-rejected", WWW, "a=1; Domain=com", WWW, None),
    ("public-suffix-dot-rejected", WWW, "a=1; Domain=.com", WWW, None),
    ("multi-label-suffix-rejected", "https://shop.example.co.uk/", "a=1; Domain=co.uk",
     "https://shop.example.co.uk/", None),
    ("private-suffix-rejected", "https://me.github.io/", "a=1; Domain=github.io", "https://me.github.io/", None),
    ("suffix-equal-host-host-only", "https://github.io/", "a=1; Domain=github.io", "https://github.io/", "a=1"),
    ("suffix-equal-host-not-sub", "https://github.io/", "a=1; Domain=github.io", "https://me.github.io/", None),
    ("registrable-under-suffix-ok", "https://a.example.co.uk/", "a=1; Domain=example.co.uk",
     "https://b.example.co.uk/", "a=1"),
    ("localhost-domain-host-only", "http://localhost:8000/", "a=1; Domain=localhost",
     "http://localhost:9000/", "a=1"),
    # IP addresses
    ("ip-host-only", "http://10.0.0.1/", "a=1", "http://10.0.0.1/", "a=1"),
    ("ip-domain-equal-host-only", "http://10.0.0.1/", "a=1; Domain=10.0.0.1", "http://10.0.0.1/", "a=1"),
    ("ip-domain-suffix-rejected", "http://10.0.0.1/", "a=1; Domain=0.0.1", "http://10.0.0.1/", None),
    ("ipv6-host-only", "http://[::1]:8080/", "a=1", "http://[::1]:9090/x", "a=1"),
    ("ports-ignored", "https://www.example.com:8443/", "a=1", WWW, "a=1"),
    # path matching and default-path
    ("default-path-dir", "https://h.com/a/b/c", "a=1", "https://h.com/a/b/x", "a=1"),
    ("default-path-not-above", "https://h.com/a/b/c", "a=1", "https://h.com/a/x", None),
    ("default-path-root-file", "https://h.com/file", "a=1", "https://h.com/other", "a=1"),
    ("default-path-ignores-query", "https://h.com/a/b?x=/y/z", "a=1", "https://h.com/a/q", "a=1"),
    ("path-exact", "https://h.com/", "a=1; Path=/docs", "https://h.com/docs", "a=1"),
    ("path-below", "https://h.com/", "a=1; Path=/docs", "https://h.com/docs/x", "a=1"),
    ("path-not-prefix-of-segment", "https://h.com/", "a=1; Path=/docs", "https://h.com/docsx", None),
    ("path-trailing-slash", "https://h.com/", "a=1; Path=/docs/", "https://h.com/docs/x", "a=1"),
    ("path-trailing-slash-not-parent", "https://h.com/", "a=1; Path=/docs/", "https://h.com/docs", None),
    ("path-case-sensitive", "https://h.com/", "a=1; Path=/Docs", "https://h.com/docs", None),
    ("path-relative-uses-default", "https://h.com/a/b", "a=1; Path=docs", "https://h.com/a/x", "a=1"),
    ("path-empty-uses-default", "https://h.com/a/b", "a=1; Path=", "https://h.com/q", None),
    ("path-last-wins", "https://h.com/", "a=1; Path=/x; Path=/y", "https://h.com/y", "a=1"),
    # Secure
    ("secure-sent-https", WWW, "a=1; Secure", WWW, "a=1"),
    ("secure-not-sent-http", WWW, "a=1; Secure", "http://www.example.com/", None),
    ("secure-from-http-rejected", "http://www.example.com/", "a=1; Secure", WWW, None),
    ("secure-localhost-http-ok", "http://localhost:8000/", "a=1; Secure", "http://localhost:8000/", "a=1"),
    ("secure-127-http-ok", "http://127.0.0.1:8000/", "a=1; Secure", "http://127.0.0.1:9/", "a=1"),
    ("secure-wss", WWW, "a=1; Secure", "wss://www.example.com/socket", "a=1"),
    ("secure-not-ws", WWW, "a=1; Secure", "ws://www.example.com/socket", None),
    ("plain-sent-over-http", WWW, "a=1", "http://www.example.com/", "a=1"),
    # prefixes
    ("secure-prefix-ok", WWW, "__Secure-a=1; Secure", WWW, "__Secure-a=1"),
    ("secure-prefix-needs-secure", WWW, "__Secure-a=1", WWW, None),
    ("secure-prefix-from-http", "http://www.example.com/", "__Secure-a=1; Secure", WWW, None),
    ("secure-prefix-lowercase", WWW, "__secure-a=1", WWW, None),
    ("secure-prefix-mixed-case", WWW, "__SeCuRe-a=1", WWW, None),
    ("secure-prefix-with-domain-ok", WWW, "__Secure-a=1; Secure; Domain=example.com",
     "https://example.com/", "__Secure-a=1"),
    ("host-prefix-ok", WWW, "__Host-a=1; Secure; Path=/", WWW, "__Host-a=1"),
    ("host-prefix-needs-path", WWW, "__Host-a=1; Secure", WWW, None),
    ("host-prefix-needs-root-path", WWW, "__Host-a=1; Secure; Path=/x", "https://www.example.com/x", None),
    ("host-prefix-no-domain", WWW, "__Host-a=1; Secure; Path=/; Domain=example.com", WWW, None),
    ("host-prefix-domain-equal-host", WWW, "__Host-a=1; Secure; Path=/; Domain=www.example.com", WWW, None),
    ("host-prefix-needs-secure", WWW, "__Host-a=1; Path=/", WWW, None),
    ("host-prefix-uppercase", WWW, "__HOST-a=1; Path=/", WWW, None),
    ("host-prefix-lowercase-ok", WWW, "__host-a=1; Secure; Path=/", WWW, "__host-a=1"),
    ("prefix-lookalike-not-prefix", WWW, "_Host-a=1", WWW, "_Host-a=1"),
    ("http-prefix-ok", WWW, "__Http-a=1; Secure; HttpOnly", WWW, "__Http-a=1"),
    ("http-prefix-needs-httponly", WWW, "__Http-a=1; Secure", WWW, None),
    ("host-http-prefix-ok", WWW, "__Host-Http-a=1; Secure; HttpOnly; Path=/", WWW, "__Host-Http-a=1"),
    ("host-http-prefix-needs-httponly", WWW, "__Host-Http-a=1; Secure; Path=/", WWW, None),
    # nameless cookies, values, whitespace
    ("nameless-no-equals", WWW, "justvalue", WWW, "justvalue"),
    ("nameless-leading-equals", WWW, "=justvalue", WWW, "justvalue"),
    ("nameless-empty-rejected", WWW, "=", WWW, None),
    ("empty-string-rejected", WWW, "", WWW, None),
    ("nameless-looks-host-prefixed", WWW, "=__Host-a=1; Secure; Path=/", WWW, None),
    ("nameless-looks-secure-prefixed", WWW, "__secure-a; Secure", WWW, None),
    ("empty-value", WWW, "a=", WWW, "a="),
    ("value-keeps-equals", WWW, "a=b=c", WWW, "a=b=c"),
    ("quoted-value-kept", WWW, 'a="x y"', WWW, 'a="x y"'),
    ("whitespace-trimmed", WWW, "  a  =  1  ;  Path = /  ", WWW, "a=1"),
    ("tab-trimmed", WWW, "\ta\t=\t1\t", WWW, "a=1"),
    ("inner-space-kept", WWW, "a b=1 2", WWW, "a b=1 2"),
    ("attribute-names-case-insensitive", WWW, "a=1; sEcUrE; hTTPoNLY; pAtH=/", "http://www.example.com/", None),
    ("unknown-attribute-ignored", WWW, "a=1; Frobnicate=yes; Priority=High", WWW, "a=1"),
    # control characters and sizes
    ("ctl-in-value", WWW, "a=1\x01", WWW, None),
    ("ctl-in-name", WWW, "a\x7f=1", WWW, None),
    ("ctl-in-attribute", WWW, "a=1; Path=/\x00", WWW, None),
    ("cr-lf-rejected", WWW, "a=1\r\nX-Evil: 1", WWW, None),
    ("htab-allowed", WWW, "a=1\t2", WWW, "a=1\t2"),
    ("name-value-4096-ok", WWW, "a=" + "v" * 4095, WWW, "a=" + "v" * 4095),
    ("name-value-4097-rejected", WWW, "a=" + "v" * 4096, WWW, None),
    ("name-value-counts-octets", WWW, "a=" + "é" * 2048, WWW, None),
    ("attribute-1025-ignored", WWW, "a=1; Path=/" + "p" * 1024, WWW, "a=1"),
    ("attribute-1024-kept", WWW, "a=1; Path=/" + "p" * 1023, WWW, None),
]


@pytest.mark.parametrize("set_url,set_cookie,request_url,expected",
                         [row[1:] for row in STORE_THEN_SEND], ids=[row[0] for row in STORE_THEN_SEND])
def test_store_then_send(set_url: str, set_cookie: str, request_url: str, expected: str | None) -> None:
    jar = make_jar()
    jar.set_from_response(set_url, [set_cookie])
    assert jar.cookie_header(request_url) == expected


# --- the cookie-date algorithm -----------------------------------------------------------

DATES = [
    ("rfc1123", "Wed, 21 Oct 2015 07:28:00 GMT", utc(2015, 10, 21, 7, 28, 0)),
    ("rfc850-two-digit-year", "Wednesday, 21-Oct-15 07:28:00 GMT", utc(2015, 10, 21, 7, 28, 0)),
    ("asctime", "Wed Oct 21 07:28:00 2015", utc(2015, 10, 21, 7, 28, 0)),
    ("year-70-is-1970", "01 Jan 70 00:00:01", 1.0),
    ("year-69-is-2069", "01 Jan 69 00:00:00", utc(2069, 1, 1, 0, 0, 0)),
    ("year-99-is-1999", "31 Dec 99 23:59:59", utc(1999, 12, 31, 23, 59, 59)),
    ("month-long-name", "21 October 2015 07:28:00", utc(2015, 10, 21, 7, 28, 0)),
    ("month-case", "21 OCT 2015 07:28:00", utc(2015, 10, 21, 7, 28, 0)),
    ("single-digit-fields", "1 Feb 2020 1:2:3", utc(2020, 2, 1, 1, 2, 3)),
    ("odd-delimiters", "21/oct/2015,07:28:00", utc(2015, 10, 21, 7, 28, 0)),
    ("trailing-garbage-in-tokens", "21st Oct 2015GMT 07:28:00zulu", utc(2015, 10, 21, 7, 28, 0)),
    ("leap-day", "29 Feb 2024 00:00:00", utc(2024, 2, 29, 0, 0, 0)),
    ("no-time", "21 Oct 2015", None),
    ("no-year", "21 Oct 07:28:00", None),
    ("no-month", "21 2015 07:28:00", None),
    ("day-zero", "0 Oct 2015 07:28:00", None),
    ("day-32", "32 Oct 2015 07:28:00", None),
    ("hour-24", "21 Oct 2015 24:00:00", None),
    ("minute-60", "21 Oct 2015 23:60:00", None),
    ("second-60", "21 Oct 2015 23:59:60", None),
    ("year-before-1601", "21 Oct 1600 07:28:00", None),
    ("feb-30", "30 Feb 2015 07:28:00", None),
    ("feb-29-common-year", "29 Feb 2023 00:00:00", None),
    ("three-digit-hour", "21 Oct 2015 123:00:00", None),
    ("five-digit-year-token", "21 Oct 20155 07:28:00", None),
    ("empty", "", None),
    ("unicode-digits-not-digits", "٢١ Oct 2015 07:28:00", None),
]


@pytest.mark.parametrize("text,expected", [d[1:] for d in DATES], ids=[d[0] for d in DATES])
def test_parse_cookie_date(text: str, expected: float | None) -> None:
    assert parse_cookie_date(text) == expected


# --- expiry with a moving clock ------------------------------------------------------------

EXPIRY = [
    # (id, set_cookie, seconds later, still there?)
    ("session-cookie-stays", "a=1", 10**7, True),
    ("max-age-before", "a=1; Max-Age=60", 59, True),
    ("max-age-at", "a=1; Max-Age=60", 60, False),
    ("max-age-zero", "a=1; Max-Age=0", 0, False),
    ("max-age-negative", "a=1; Max-Age=-5", 0, False),
    ("max-age-minus-zero", "a=1; Max-Age=-0", 0, False),
    ("max-age-overflow-capped", "a=1; Max-Age=99999999999999999999999999", MAX_COOKIE_AGE - 1, True),
    ("max-age-overflow-capped-ends", "a=1; Max-Age=99999999999999999999999999", MAX_COOKIE_AGE, False),
    ("max-age-invalid-ignored", "a=1; Max-Age=12abc", 10**7, True),
    ("max-age-plus-sign-ignored", "a=1; Max-Age=+5", 10**7, True),
    ("max-age-invalid-keeps-earlier", "a=1; Max-Age=5; Max-Age=x", 5, False),
    ("max-age-last-wins", "a=1; Max-Age=5; Max-Age=100", 50, True),
    ("max-age-beats-later-expires", "a=1; Max-Age=100; Expires=Thu, 01 Jan 1970 00:00:00 GMT", 50, True),
    ("max-age-beats-earlier-expires", "a=1; Expires=Wed, 01 Jan 2025 00:00:00 GMT; Max-Age=0", 0, False),
    ("expires-future", "a=1; Expires=Tue, 02 Jan 2024 00:00:00 GMT", 86399, True),
    ("expires-future-passes", "a=1; Expires=Tue, 02 Jan 2024 00:00:00 GMT", 86400, False),
    ("expires-past", "a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT", 0, False),
    ("expires-bad-date-ignored", "a=1; Expires=tomorrow", 10**7, True),
    ("expires-far-future-capped", "a=1; Expires=Fri, 31 Dec 9999 23:59:59 GMT", MAX_COOKIE_AGE, False),
    ("expires-two-digit-year", "a=1; expires=Tue, 02-Jan-24 00:00:00 GMT", 86399, True),
]


@pytest.mark.parametrize("set_cookie,later,present", [e[1:] for e in EXPIRY], ids=[e[0] for e in EXPIRY])
def test_expiry(set_cookie: str, later: float, present: bool) -> None:
    clock = Clock()
    jar = make_jar(clock)
    jar.set_from_response(WWW, [set_cookie])
    clock.advance(later)
    assert (jar.cookie_header(WWW) == "a=1") is present
    assert (len(jar) == 1) is present
    assert (len(jar.snapshot()) == 1) is present
    assert (jar.script_read(WWW) == "a=1") is present


# --- SameSite when sending ------------------------------------------------------------------

SAMESITE_SEND = [
    # (id, attribute, context, sent?)
    ("strict-same-site", "SameSite=Strict", RequestContext(), True),
    ("strict-same-site-post", "SameSite=Strict", SAME_POST, True),
    ("strict-cross-subresource", "SameSite=Strict", CROSS_SUB, False),
    ("strict-cross-nav-get", "SameSite=Strict", CROSS_NAV_GET, False),
    ("lax-same-site", "SameSite=Lax", RequestContext(), True),
    ("lax-cross-subresource", "SameSite=Lax", CROSS_SUB, False),
    ("lax-cross-nav-get", "SameSite=Lax", CROSS_NAV_GET, True),
    ("lax-cross-nav-head", "SameSite=Lax",
     RequestContext(method="HEAD", same_site=False, top_level_navigation=True), True),
    ("lax-cross-nav-post", "SameSite=Lax", CROSS_NAV_POST, False),
    ("none-cross-subresource", "SameSite=None; Secure", CROSS_SUB, True),
    ("none-cross-nav-post", "SameSite=None; Secure", CROSS_NAV_POST, True),
    ("default-cross-subresource", "", CROSS_SUB, False),
    ("default-cross-nav-get", "", CROSS_NAV_GET, True),
    ("default-cross-nav-post-fresh", "", CROSS_NAV_POST, True),
    ("invalid-is-default", "SameSite=Bogus", CROSS_SUB, False),
    ("invalid-is-default-nav", "SameSite=Bogus", CROSS_NAV_GET, True),
    ("value-case-insensitive", "samesite=STRICT", CROSS_NAV_GET, False),
    ("last-wins", "SameSite=Strict; SameSite=Lax", CROSS_NAV_GET, True),
]


@pytest.mark.parametrize("attr,ctx,sent", [s[1:] for s in SAMESITE_SEND], ids=[s[0] for s in SAMESITE_SEND])
def test_samesite_send(attr: str, ctx: RequestContext, sent: bool) -> None:
    jar = make_jar()
    assert jar.set_from_response(WWW, [f"a=1; {attr}"]) == 1
    assert (jar.cookie_header(WWW, ctx) == "a=1") is sent


@pytest.mark.parametrize("age,sent", [(0, True), (LAX_ALLOWING_UNSAFE_WINDOW, True),
                                      (LAX_ALLOWING_UNSAFE_WINDOW + 1, False)],
                         ids=["fresh", "at-window", "after-window"])
def test_lax_allowing_unsafe_window(age: float, sent: bool) -> None:
    clock = Clock()
    jar = make_jar(clock)
    jar.set_from_response(WWW, ["a=1", "b=2; SameSite=Lax"])
    clock.advance(age)
    assert jar.cookie_header(WWW, CROSS_NAV_POST) == ("a=1" if sent else None)


def test_lax_allowing_unsafe_can_be_turned_off() -> None:
    jar = CookieJar(clock=Clock(), lax_allowing_unsafe=False)
    jar.set_from_response(WWW, ["a=1"])
    assert jar.cookie_header(WWW, CROSS_NAV_POST) is None


# --- SameSite when setting --------------------------------------------------------------------

SAMESITE_SET = [
    # (id, attribute, context of the response, stored?)
    ("strict-same-site", "SameSite=Strict", RequestContext(), True),
    ("strict-cross-subresource", "SameSite=Strict", CROSS_SUB, False),
    ("strict-cross-nav", "SameSite=Strict", CROSS_NAV_GET, True),
    ("lax-cross-subresource", "SameSite=Lax", CROSS_SUB, False),
    ("lax-cross-nav-post", "SameSite=Lax", CROSS_NAV_POST, True),
    ("default-cross-subresource", "", CROSS_SUB, False),
    ("none-secure-cross-subresource", "SameSite=None; Secure", CROSS_SUB, True),
    ("none-without-secure", "SameSite=None", RequestContext(), False),
    ("none-without-secure-lowercase", "samesite=none", RequestContext(), False),
]


@pytest.mark.parametrize("attr,ctx,stored", [s[1:] for s in SAMESITE_SET], ids=[s[0] for s in SAMESITE_SET])
def test_samesite_set(attr: str, ctx: RequestContext, stored: bool) -> None:
    jar = make_jar()
    assert jar.set_from_response(WWW, [f"a=1; {attr}"], ctx) == int(stored)
    assert len(jar) == int(stored)


# --- script (non-HTTP API) ----------------------------------------------------------------------

def test_script_read_hides_httponly() -> None:
    jar = make_jar()
    jar.set_from_response(WWW, ["h=1; HttpOnly", "s=2"])
    assert jar.script_read(WWW) == "s=2"
    assert jar.cookie_header(WWW) == "h=1; s=2"


SCRIPT_WRITE = [
    # (id, cookies already set over HTTP, document.cookie assignment, accepted?, Cookie header after)
    ("plain", [], "a=1", True, "a=1"),
    ("with-attributes", [], "a=1; path=/; max-age=60; samesite=strict", True, "a=1"),
    ("httponly-attribute-refused", [], "a=1; HttpOnly", False, None),
    ("cannot-overwrite-httponly", ["a=1; HttpOnly"], "a=2", False, "a=1"),
    ("cannot-delete-httponly", ["a=1; HttpOnly"], "a=; Max-Age=0", False, "a=1"),
    ("can-overwrite-plain", ["a=1"], "a=2", True, "a=2"),
    ("can-delete-plain", ["a=1"], "a=; expires=Thu, 01 Jan 1970 00:00:00 GMT", True, None),
    ("other-path-beside-httponly", ["a=1; HttpOnly; Path=/"], "a=2; Path=/x", True, "a=1"),
    ("secure-from-https-doc", [], "a=1; Secure", True, "a=1"),
    ("http-prefix-refused", [], "__Http-a=1; Secure", False, None),
    ("host-prefix-ok", [], "__Host-a=1; Secure; Path=/", True, "__Host-a=1"),
    ("ctl-refused", [], "a=\x0b", False, None),
]


@pytest.mark.parametrize("before,assignment,accepted,after", [s[1:] for s in SCRIPT_WRITE],
                         ids=[s[0] for s in SCRIPT_WRITE])
def test_script_write(before: list[str], assignment: str, accepted: bool, after: str | None) -> None:
    jar = make_jar()
    jar.set_from_response(WWW, before)
    assert jar.script_write(WWW, assignment) is accepted
    assert jar.cookie_header(WWW) == after


def test_script_write_secure_from_http_document_refused() -> None:
    jar = make_jar()
    assert jar.script_write("http://www.example.com/", "a=1; Secure") is False


def test_script_in_cross_site_frame() -> None:
    jar = make_jar()
    jar.set_from_response(WWW, ["lax=1; SameSite=Lax", "none=2; SameSite=None; Secure"])
    assert jar.script_read(WWW, CROSS_NAV_GET) == "none=2"
    assert jar.script_write(WWW, "x=1", CROSS_NAV_GET) is False
    assert jar.script_write(WWW, "y=1; SameSite=None; Secure", CROSS_NAV_GET) is True


# --- leave secure cookies alone ------------------------------------------------------------------

LEAVE_SECURE_ALONE = [
    # (id, secure cookie set over https, Set-Cookie over http, http stores?)
    ("same-name-refused", "a=1; Secure", "a=2", False),
    ("delete-refused", "a=1; Secure", "a=; Max-Age=0", False),
    ("domain-cookie-shadows-refused", "a=1; Secure; Domain=example.com", "a=2", False),
    ("parent-domain-refused", "a=1; Secure", "a=2; Domain=example.com", False),
    ("sub-path-refused", "a=1; Secure; Path=/", "a=2; Path=/x", False),
    ("parent-path-allowed", "a=1; Secure; Path=/x", "a=2; Path=/", True),
    ("other-name-allowed", "a=1; Secure", "b=2", True),
]


@pytest.mark.parametrize("secure_cookie,http_cookie,stored", [r[1:] for r in LEAVE_SECURE_ALONE],
                         ids=[r[0] for r in LEAVE_SECURE_ALONE])
def test_leave_secure_cookies_alone(secure_cookie: str, http_cookie: str, stored: bool) -> None:
    jar = make_jar()
    assert jar.set_from_response(WWW, [secure_cookie]) == 1
    assert jar.set_from_response("http://www.example.com/", [http_cookie]) == int(stored)
    assert jar.cookie_header(WWW) is not None  # the secure one survived


# --- ordering, overwrite, deletion ----------------------------------------------------------------

def test_header_order_path_length_then_creation() -> None:
    clock = Clock()
    jar = make_jar(clock)
    for text in ["root1=1; Path=/", "deep=1; Path=/a/b", "mid=1; Path=/a", "root2=1; Path=/"]:
        jar.set_from_response(WWW, [text])
        clock.advance(1)
    assert jar.cookie_header("https://www.example.com/a/b/c") == "deep=1; mid=1; root1=1; root2=1"


def test_equal_creation_times_keep_insertion_order() -> None:
    jar = make_jar()  # the clock never moves
    jar.set_from_response(WWW, ["z=1", "a=2", "m=3"])
    assert jar.cookie_header(WWW) == "z=1; a=2; m=3"


def test_overwrite_keeps_creation_time_and_position() -> None:
    clock = Clock()
    jar = make_jar(clock)
    jar.set_from_response(WWW, ["a=1"])
    clock.advance(10)
    jar.set_from_response(WWW, ["b=2"])
    clock.advance(10)
    jar.set_from_response(WWW, ["a=3; HttpOnly"])
    assert jar.cookie_header(WWW) == "a=3; b=2"
    (a,) = [c for c in jar.snapshot() if c.name == "a"]
    assert (a.creation, a.last_access, a.value, a.http_only) == (T0, T0 + 20, "3", True)


def test_same_name_different_path_or_domain_are_distinct() -> None:
    jar = make_jar()
    jar.set_from_response(WWW, ["a=1; Path=/", "a=2; Path=/x", "a=3; Domain=example.com"])
    assert len(jar) == 3
    assert jar.cookie_header("https://www.example.com/x") == "a=2; a=1; a=3"


def test_nameless_cookie_overwrites_nameless() -> None:
    jar = make_jar()
    jar.set_from_response(WWW, ["first", "=second"])
    assert jar.cookie_header(WWW) == "second"


def test_delete_by_expiring_counts_as_accepted() -> None:
    jar = make_jar()
    jar.set_from_response(WWW, ["a=1", "b=2"])
    assert jar.set_from_response(WWW, ["a=; Expires=Thu, 01 Jan 1970 00:00:00 GMT"]) == 1
    assert jar.cookie_header(WWW) == "b=2"


def test_last_access_updated_only_for_sent_cookies() -> None:
    clock = Clock()
    jar = make_jar(clock)
    jar.set_from_response(WWW, ["a=1; Path=/a", "b=2"])
    clock.advance(5)
    jar.cookie_header("https://www.example.com/")
    by_name = {c.name: c.last_access for c in jar.snapshot()}
    assert by_name == {"a": T0, "b": T0 + 5}


def test_snapshot_is_a_copy() -> None:
    jar = make_jar()
    jar.set_from_response(WWW, ["a=1"])
    jar.snapshot()[0].value = "evil"
    assert jar.cookie_header(WWW) == "a=1"


def test_clear() -> None:
    jar = make_jar()
    jar.set_from_response(WWW, ["a=1; Max-Age=10", "b=2"])
    jar.clear()
    assert len(jar) == 0 and jar.cookie_header(WWW) is None


@pytest.mark.parametrize("url", ["data:text/plain,x", "not a url", "https://[::1/", "ftp://h.com/"],
                         ids=["data", "garbage", "bad-ipv6", "ftp"])
def test_urls_without_cookies(url: str) -> None:
    jar = make_jar()
    assert jar.set_from_response(url, ["a=1"]) == 0
    assert jar.cookie_header(url) is None
    assert jar.script_read(url) == ""
    assert jar.script_write(url, "a=1") is False


# --- limits and eviction --------------------------------------------------------------------------

def test_per_site_limit_evicts_least_recently_used() -> None:
    clock = Clock()
    jar = make_jar(clock)
    for i in range(MAX_COOKIES_PER_SITE):
        jar.set_from_response(WWW, [f"c{i}=1"])
        clock.advance(1)
    jar.cookie_header(WWW)  # touches all: ties broken by creation
    clock.advance(1)
    jar.set_from_response("https://api.example.com/", ["new=1"])  # same site, other host
    names = {c.name for c in jar.snapshot()}
    assert len(names) == MAX_COOKIES_PER_SITE
    assert "c0" not in names and "c1" in names and "new" in names


def test_per_site_limit_prefers_non_secure_and_expired() -> None:
    clock = Clock()
    jar = make_jar(clock)
    jar.set_from_response(WWW, ["soon=1; Max-Age=5"])
    jar.set_from_response(WWW, [f"s{i}=1; Secure" for i in range(MAX_COOKIES_PER_SITE - 2)])
    jar.set_from_response(WWW, ["plain=1"])
    clock.advance(10)  # "soon" is now expired
    jar.set_from_response(WWW, ["new1=1; Secure", "new2=1; Secure"])
    names = {c.name for c in jar.snapshot()}
    assert len(names) == MAX_COOKIES_PER_SITE
    assert "soon" not in names and "plain" not in names and "s0" in names


def test_other_sites_unaffected_by_per_site_limit() -> None:
    jar = make_jar()
    jar.set_from_response("https://other.org/", ["keep=1"])
    jar.set_from_response(WWW, [f"c{i}=1" for i in range(MAX_COOKIES_PER_SITE + 5)])
    assert jar.cookie_header("https://other.org/") == "keep=1"


def test_total_limit() -> None:
    clock = Clock()
    jar = make_jar(clock)
    sites = MAX_COOKIES_TOTAL // MAX_COOKIES_PER_SITE + 1
    for s in range(sites):
        clock.advance(1)
        jar.set_from_response(f"https://s{s}.example/", [f"c{i}=1" for i in range(MAX_COOKIES_PER_SITE)])
    assert len(jar) == MAX_COOKIES_TOTAL
    excess = sites * MAX_COOKIES_PER_SITE - MAX_COOKIES_TOTAL
    first_site = jar.cookie_header("https://s0.example/")  # the least recently used went first
    assert first_site is not None and first_site.split("; ")[0] == f"c{excess}=1"
    last_site = jar.cookie_header(f"https://s{sites - 1}.example/")
    assert last_site is not None and len(last_site.split("; ")) == MAX_COOKIES_PER_SITE


def test_too_many_set_cookies_in_one_response_are_cut() -> None:
    jar = make_jar()
    stored = jar.set_from_response(WWW, (f"c{i}=1; Domain=example.com" if i % 2 else f"c{i}=1"
                                         for i in range(10_000)))
    assert 0 < stored < 10_000


# --- helpers ------------------------------------------------------------------------------------

@pytest.mark.parametrize("uri_path,expected", [
    ("", "/"), ("/", "/"), ("/a", "/"), ("/a/", "/a"), ("/a/b", "/a"), ("a/b", "/"), ("/a//b", "/a/"),
], ids=["empty", "root", "file", "dir-slash", "nested", "relative", "double-slash"])
def test_default_path(uri_path: str, expected: str) -> None:
    assert default_path(uri_path) == expected


@pytest.mark.parametrize("request_path,cookie_path,matches", [
    ("/a", "/a", True), ("/a/b", "/a", True), ("/ab", "/a", False), ("/a/b", "/a/", True),
    ("/", "/a", False), ("/anything", "/", True),
], ids=["same", "below", "not-segment", "slash-end", "above", "root"])
def test_path_match(request_path: str, cookie_path: str, matches: bool) -> None:
    assert path_match(request_path, cookie_path) is matches


@pytest.mark.parametrize("value,site", [
    ("https://www.example.com/x", "example.com"),
    ("a.b.example.co.uk", "example.co.uk"),
    ("me.github.io", "me.github.io"),
    ("github.io", "github.io"),
    ("com", "com"),
    ("http://127.0.0.1:8080/", "127.0.0.1"),
    ("http://[::1]:8080/", "::1"),
    ("localhost", "localhost"),
    ("app.localhost:8080", "app.localhost"),
    ("Example.COM", "example.com"),
    ("", ""),
], ids=["url", "multi-label-suffix", "private-suffix", "suffix-itself", "tld", "ipv4", "ipv6",
        "localhost", "sub-localhost-port", "case", "empty"])
def test_site_of(value: str, site: str) -> None:
    assert site_of(value) == site


@pytest.mark.parametrize("target,initiator,same", [
    ("https://www.example.com/", None, True),
    ("https://www.example.com/", "https://api.example.com/page", True),
    ("https://www.example.com/", "https://evil.com/", False),
    ("https://www.example.com/", "http://www.example.com/", False),
    ("wss://www.example.com/ws", "https://www.example.com/", True),
    ("https://a.github.io/", "https://b.github.io/", False),
    ("http://127.0.0.1:8001/", "http://127.0.0.1:8002/", True),
    ("https://www.example.com/", "about:blank", False),
], ids=["typed", "same-site", "cross-site", "schemeful", "wss-is-https", "private-suffix", "ip-ports",
        "opaque-initiator"])
def test_request_context_from_urls(target: str, initiator: str | None, same: bool) -> None:
    ctx = RequestContext.from_urls(target, initiator, method="post", top_level_navigation=True)
    assert ctx == RequestContext(method="POST", same_site=same, top_level_navigation=True)


# --- nothing raises, nothing injects ------------------------------------------------------------

_attr = st.sampled_from(["Domain", "Path", "Expires", "Max-Age", "Secure", "HttpOnly", "SameSite",
                         "domain", "PATH", "", "x"])
_set_cookie = st.one_of(
    st.text(max_size=200),
    st.lists(st.tuples(_attr, st.text(max_size=30)), max_size=6).map(
        lambda avs: "n=v" + "".join(f"; {k}={v}" for k, v in avs)),
)
_url = st.one_of(
    st.sampled_from([WWW, "http://www.example.com/a/b", "http://127.0.0.1:9/", "https://github.io/",
                     "http://[::1]/x", "https://a.b.example.co.uk/p?q"]),
    st.text(max_size=40).map(lambda t: "https://" + t),
)


@settings(max_examples=300, deadline=None)
@given(url=_url, values=st.lists(_set_cookie, max_size=5), same_site=st.booleans(), nav=st.booleans())
def test_arbitrary_set_cookie_never_raises(url: str, values: list[str], same_site: bool, nav: bool) -> None:
    jar = make_jar()
    ctx = RequestContext(same_site=same_site, top_level_navigation=nav)
    jar.set_from_response(url, values, ctx)
    for v in values:
        jar.script_write(url, v)
    header = jar.cookie_header(url, ctx)
    assert header is None or not any(c in header for c in "\r\n\x00")
    jar.script_read(url)
    assert len(jar) == len(jar.snapshot())

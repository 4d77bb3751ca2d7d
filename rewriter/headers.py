"""Header policy as tables: header name -> action, for each direction. Pure.

Browser -> upstream (:func:`upstream_request_headers`): the browser talks to
``LABEL.BASE``; the upstream must see a normal request from a browser on its own
origin. ``Host``, ``Origin`` and ``Referer`` are rebuilt to upstream values,
hop-by-hop headers go, Tandem's own cookies never leave (the session jar supplies
``Cookie``), and ``Sec-Fetch-Site`` is recomputed from upstream origins (every
proxied host is same-site with every other under ``BASE``, which would lie).

Upstream -> browser (:func:`browser_response_headers`): headers that would break
the proxied page or pin the browser to the upstream (CSP, framing, COOP/COEP/CORP,
HSTS, Clear-Site-Data, reporting) are dropped; URL-bearing headers are mapped
through the proxy; CORS origins are mapped to proxied origins. ``Set-Cookie`` is
taken out by the caller into the session jar and never reaches the browser.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

from .cookies import site_of
from .labels import Origin
from .urls import UrlRewriter, UrlError, split_url

Headers = list[tuple[str, str]]

# RFC 9110 7.6.1 hop-by-hop headers, plus proxy plumbing that must not pass either way.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
     "te", "trailer", "transfer-encoding", "upgrade"}
)

# Browser -> upstream.
REQUEST_DROP = frozenset(
    {"host", "cookie", "origin", "referer", "content-length", "accept-encoding",
     "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port",
     "x-real-ip", "sec-fetch-site"}
)
# Encodings the proxy can decode when it has to rewrite a body.
SUPPORTED_ENCODINGS = ("gzip", "deflate", "br")

# Upstream -> browser: action per header.
DROP, URL, REFRESH, LINK, CORS_ORIGIN = "drop", "url", "refresh", "link", "cors-origin"
RESPONSE_POLICY: dict[str, str] = {
    "content-security-policy": DROP,
    "content-security-policy-report-only": DROP,
    "x-content-security-policy": DROP,
    "x-webkit-csp": DROP,
    "x-frame-options": DROP,
    "cross-origin-opener-policy": DROP,
    "cross-origin-opener-policy-report-only": DROP,
    "cross-origin-embedder-policy": DROP,
    "cross-origin-embedder-policy-report-only": DROP,
    "cross-origin-resource-policy": DROP,
    "strict-transport-security": DROP,
    "public-key-pins": DROP,
    "public-key-pins-report-only": DROP,
    "expect-ct": DROP,
    "clear-site-data": DROP,
    "report-to": DROP,
    "reporting-endpoints": DROP,
    "nel": DROP,
    "alt-svc": DROP,  # would point the browser at the upstream's own QUIC endpoint
    "set-cookie": DROP,  # goes to the session jar, by the caller
    "set-cookie2": DROP,
    "content-length": DROP,  # the proxy sets framing itself
    "content-encoding": DROP,
    "location": URL,
    "content-location": URL,
    "sourcemap": URL,
    "x-sourcemap": URL,
    "refresh": REFRESH,
    "link": LINK,
    "access-control-allow-origin": CORS_ORIGIN,
    "timing-allow-origin": CORS_ORIGIN,
}

# The part before the URL: always matches, greedily, so it never backtracks. (One regex with the URL
# as ``(.*?)`` and ``\s*$`` after it was quadratic in a run of spaces: 0.9 s for an 8 KB header.)
_REFRESH_HEAD_RE = re.compile(r"""\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?""", re.I)
_LINK_URL_RE = re.compile(r"<([^>]*)>")


def filter_accept_encoding(value: str | None) -> str:
    """Keep only encodings the proxy can decode (order and weights kept)."""
    if not value:
        return "identity"
    kept = [p.strip() for p in value.split(",") if p.split(";")[0].strip().lower() in SUPPORTED_ENCODINGS]
    return ", ".join(kept) if kept else "identity"


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    return {t.strip().lower() for k, v in headers if k.lower() == "connection" for t in v.split(",")}


def fetch_site(target: Origin, initiator: Origin | None) -> str:
    """``Sec-Fetch-Site`` as the browser would send it if it talked to the upstream directly
    (schemeful same-site, registrable domain from the Public Suffix List)."""
    if initiator is None:
        return "none"
    if initiator == target:
        return "same-origin"
    return "same-site" if _site(initiator) == _site(target) else "cross-site"


def _site(origin: Origin) -> tuple[str, str]:
    return origin.scheme, site_of(origin.host.strip("[]"))


def upstream_request_headers(
    headers: Iterable[tuple[str, str]],
    *,
    upstream: Origin,
    to_upstream: Callable[[str], str | None],
    cookie: str | None,
) -> Headers:
    """Headers for the upstream request. ``to_upstream`` maps a proxied URL back (None: not ours)."""
    headers = list(headers)
    conn = _connection_tokens(headers)
    out: Headers = [("Host", upstream.netloc)]
    origin_hdr = referer_hdr = None
    browser_site = None
    for name, value in headers:
        low = name.lower()
        if low == "origin":
            origin_hdr = value
        elif low == "referer":
            referer_hdr = value
        elif low == "sec-fetch-site":
            browser_site = value
        elif low == "accept-encoding":
            out.append((name, filter_accept_encoding(value)))
        if low in HOP_BY_HOP or low in conn or low in REQUEST_DROP or low.startswith("x-tandem-"):
            continue
        out.append((name, value))
    initiator: Origin | None = None
    if origin_hdr is not None:
        mapped = "null" if origin_hdr == "null" else to_upstream(origin_hdr)
        out.append(("Origin", mapped.rstrip("/") if mapped else "null"))
        initiator = _origin_of(mapped)
    if referer_hdr is not None:
        mapped = to_upstream(referer_hdr)
        if mapped:
            out.append(("Referer", mapped))
            initiator = initiator or _origin_of(mapped)
    if browser_site is not None:
        out.append(("Sec-Fetch-Site", "none" if browser_site == "none" else fetch_site(upstream, initiator)))
    if not any(k.lower() == "accept-encoding" for k, _ in out):
        out.append(("Accept-Encoding", "identity"))
    if cookie:
        out.append(("Cookie", cookie))
    return out


def _origin_of(url: str | None) -> Origin | None:
    if not url or url == "null":
        return None
    try:
        parts = split_url(url)
    except UrlError:
        return None
    return parts.origin if parts else None


def rewrite_refresh(value: str, urls: UrlRewriter) -> str:
    """``Refresh: 5; url='X'``: X proxied; the delay, the quotes and any spaces kept as they were."""
    body = value.rstrip()
    head = _REFRESH_HEAD_RE.match(body).end()
    rest = body[head:]
    quote = rest[:1] if rest[:1] in ("'", '"') and len(rest) > 1 and rest.endswith(rest[:1]) else ""
    url = rest[1:-1] if quote else rest
    if not url:
        return value
    return f"{body[:head]}{quote}{urls.rewrite(url)}{quote}{value[len(body):]}"


def rewrite_link(value: str, urls: UrlRewriter) -> str:
    return _LINK_URL_RE.sub(lambda m: f"<{urls.rewrite(m.group(1))}>", value)


def browser_response_headers(
    headers: Iterable[tuple[str, str]],
    *,
    urls: UrlRewriter,
    to_proxy_origin: Callable[[str], str | None],
) -> Headers:
    """Headers for the browser. ``to_proxy_origin`` maps an upstream origin string to the proxied one."""
    headers = list(headers)
    conn = _connection_tokens(headers)
    out: Headers = []
    for name, value in headers:
        low = name.lower()
        if low in HOP_BY_HOP or low in conn:
            continue
        action = RESPONSE_POLICY.get(low)
        if action == DROP:
            continue
        if action == URL:
            value = urls.rewrite(value)
        elif action == REFRESH:
            value = rewrite_refresh(value, urls)
        elif action == LINK:
            value = rewrite_link(value, urls)
        elif action == CORS_ORIGIN:
            value = " ".join(
                tok if tok in ("*", "null") else (to_proxy_origin(tok) or "null") for tok in value.split()
            )
        out.append((name, value))
    return out


# -- Content-Security-Policy ----------------------------------------------------------------------
# A policy kept in force through the proxy (a page's <meta http-equiv=Content-Security-Policy>): the
# same directives, each source moved onto the proxied origins, so what the site's policy blocks
# directly it blocks through Tandem. What CSP cannot say about proxied origins is widened, never
# narrowed (a load that works directly must work through Tandem):
# * a host wildcard (``*.cdn.com``), a port wildcard, a bare scheme (``https:``): every proxied
#   origin of the session is ``LABEL.BASE``, so they become ``*.BASE`` (on Tandem's scheme);
# * ``upgrade-insecure-requests`` stays only where it cannot send Tandem's own http URLs to https:
#   Tandem on https, or on ``localhost`` names (browsers never upgrade those);
# * ``require-trusted-types-for``: the runtime hands the page's strings to native sinks itself.
# Tandem's own needs (``tandem``: directive family -> sources) are added where the policy governs
# them: the runtime's lazy scripts under ``/__tandem/`` and the panel frame from the control plane.
CSP_KEYWORDS_KEPT = frozenset(("data:", "blob:", "mediastream:", "filesystem:", "*"))
CSP_SCHEMES = frozenset(("http:", "https:", "ws:", "wss:"))
CSP_DROPPED = frozenset(("require-trusted-types-for", "report-to"))
CSP_URL_LISTS = frozenset(("report-uri",))
CSP_NO_SOURCES = frozenset(("sandbox", "upgrade-insecure-requests", "block-all-mixed-content", "trusted-types",
                            "plugin-types", "webrtc", "report-to"))
# which directives govern a kind of load, most specific first (CSP3 "directive fallback list")
CSP_FALLBACK = {
    "script": ("script-src-elem", "script-src", "default-src"),
    "frame": ("frame-src", "child-src", "default-src"),
    "connect": ("connect-src", "default-src"),
}
_CSP_HOST_RE = re.compile(r"(?:([a-zA-Z][a-zA-Z0-9+.-]*)://)?(\*\.)?([^/:]+|\*)(:(?:\d+|\*))?(/.*)?\Z")


def _csp_source(src: str, urls: UrlRewriter, wide: str) -> str:
    low = src.lower()
    if src.startswith("'") or low in CSP_KEYWORDS_KEPT:
        return src
    if low in CSP_SCHEMES:
        return f"{src} {wide}"
    m = _CSP_HOST_RE.match(src)
    if m is None:
        return src  # not a source expression: the browser ignores it, so may we
    scheme, star, host, port, path = m.groups()
    if star or host == "*" or port == ":*":
        return wide
    if scheme is not None and scheme.lower() not in ("http", "https", "ws", "wss"):
        return src
    absolute = f"{scheme}://{host}{port or ''}" if scheme else f"//{host}{port or ''}"
    mapped = urls.rewrite(absolute + "/")
    if mapped == absolute + "/":  # not mapped (Tandem's own host, or not a host the mapper takes)
        return src
    return mapped[:-1] + (path or "")


def rewrite_csp(value: str, urls: UrlRewriter, tandem: dict[str, list[str]] | None = None) -> str:
    """A Content-Security-Policy value with every source on the proxied origins (see above)."""
    base = urls.base
    wide = f"{base.scheme}://*.{base.domain}"
    localhost = base.hostname == "localhost" or base.hostname.endswith(".localhost")
    keep_upgrade = base.scheme == "https" or localhost
    policies = []
    for policy in value.split(","):
        out = []
        seen: set[str] = set()
        for directive in policy.split(";"):
            tokens = directive.split()
            if not tokens:
                continue
            name = tokens[0].lower()
            if name in seen:  # a repeated directive is ignored by the browser: as written
                out.append(" ".join(tokens))
                continue
            seen.add(name)
            if name in CSP_DROPPED or (name == "upgrade-insecure-requests" and not keep_upgrade):
                continue
            if name in CSP_URL_LISTS:
                tokens[1:] = [urls.rewrite(t) for t in tokens[1:]]
            elif name not in CSP_NO_SOURCES:
                tokens[1:] = [_csp_source(t, urls, wide) for t in tokens[1:]]
            out.append(tokens)
        for kind, sources in (tandem or {}).items():
            specific = [d for d in out if not isinstance(d, str) and d[0].lower() in CSP_FALLBACK[kind][:-1]]
            governing = specific or [d for d in out if not isinstance(d, str) and d[0].lower() == "default-src"]
            for d in governing:
                kept = [t for t in d[1:] if t.lower() != "'none'"]
                d[1:] = kept + [s for s in sources if s not in kept]
        policies.append("; ".join(d if isinstance(d, str) else " ".join(d) for d in out))
    return ", ".join(policies)

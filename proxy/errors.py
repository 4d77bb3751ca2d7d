"""Errors the proxy turns into responses, each with its status and a code.

Raised anywhere in ``proxy/``; converted in one place (:func:`render`, called by :mod:`proxy.handler`)
into a clear page for navigations, a short text for subresources, or JSON for the API.
"""

from __future__ import annotations


class ProxyError(Exception):
    status = 502
    code = "upstream_error"
    title = "The site could not be reached"

    def __init__(self, message: str, *, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail


class UnknownHost(ProxyError):
    status, code, title = 404, "unknown_host", "This co-browsing address does not exist"


class SessionGone(ProxyError):
    status, code, title = 410, "session_ended", "This co-browsing session has ended"


class NotReady(ProxyError):
    status, code, title = 503, "not_ready", "Tandem is not ready"


class NotParticipant(ProxyError):
    status, code, title = 403, "not_a_participant", "Join the session first"


class NotAllowed(ProxyError):
    status, code, title = 403, "site_not_allowed", "This site is not available for co-browsing"


class AddressRefused(ProxyError):
    status, code, title = 403, "private_address", "This address cannot be reached through Tandem"


class BodyTooLarge(ProxyError):
    status, code, title = 413, "body_too_large", "The upload is too large"


class UpstreamDNS(ProxyError):
    status, code, title = 502, "dns_failure", "The site's name could not be found"


class UpstreamRefused(ProxyError):
    status, code, title = 502, "connection_refused", "The site refused the connection"


class UpstreamTLS(ProxyError):
    status, code, title = 502, "tls_error", "A secure connection to the site could not be made"


class UpstreamTimeout(ProxyError):
    status, code, title = 504, "timeout", "The site took too long to answer"


class UpstreamBroken(ProxyError):
    status, code, title = 502, "bad_response", "The site sent a response Tandem could not read"


# Failures at Tandem's own outbound proxy (``--upstream-proxy``): same statuses as the
# upstream failures they subclass, own codes, and messages that name the proxy.


class ProxyUnreachable(UpstreamRefused):
    code, title = "proxy_unreachable", "Tandem's outbound proxy could not be reached"


class ProxyAuthRequired(ProxyError):
    status, code, title = 502, "proxy_auth_required", "Tandem could not sign in to its outbound proxy"


class ProxyTunnelFailed(ProxyError):
    status, code, title = 502, "proxy_connect_failed", "The outbound proxy could not connect to the site"


class ProxyTimeout(UpstreamTimeout):
    code, title = "proxy_timeout", "Tandem's outbound proxy took too long to answer"


class FollowerOnly(ProxyError):
    status, code, title = 403, "follower_read_only", "Only the tab owner acts on the site"


class FollowerWall(ProxyError):
    status, code, title = 403, "follower_wall", "Followers see only the page's images, styles, fonts and media"


class UpstreamUpgrade(UpstreamBroken):
    code = "unexpected_upgrade"


class EncodingRefused(UpstreamBroken):
    """A compressed body over its budget (size or ratio), in an unknown encoding, or cut short."""

    code, title = "bad_encoding", "The site sent a compressed response Tandem could not safely read"


class RewriteFailed(UpstreamBroken):
    """The page could not be rewritten: it is never passed on unproxied instead."""

    code, title = "rewrite_failed", "Tandem could not prepare this page for co-browsing"


# --- rendering: one place turns a ProxyError into what the browser gets ---------------------------
# The proxy renders its own page (it never imports the control plane). Every value is escaped and
# comes from the error itself, never from the request.

_PAGE = (
    "<!doctype html><html lang=en><head><meta charset=utf-8>"
    '<meta name=viewport content="width=device-width,initial-scale=1"><title>{title} · Tandem</title>'
    "<style>:root{{color-scheme:light dark}}body{{margin:0;font:16px/1.5 system-ui,sans-serif}}"
    "main{{max-width:40rem;margin:8vh auto;padding:0 1.25rem}}.s{{font-weight:600;color:#b3261e}}"
    ".m{{opacity:.75;font-size:.9rem}}code{{font-family:ui-monospace,monospace}}</style></head>"
    '<body><main><a href="{home}">Tandem</a><p class=s>Error {status}</p><h1>{title}</h1><p>{message}</p>'
    "{detail}<p class=m>code: {code}</p></main></body></html>"
)
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def render(exc: ProxyError, *, page: bool, home: str = "/"):
    """A clear page (``page``: a navigation) or a one-line text answer for ``exc``."""
    from html import escape

    from aiohttp import web

    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if isinstance(exc, IntegrityFailed):  # the browser's console message, which the runtime writes (network.js)
        headers.update(exc.cors)  # the upstream's own CORS answer, mapped: the browser's CORS check passes as directly
        headers["X-Tandem-Sri"] = exc.detail
        headers["Access-Control-Expose-Headers"] = "X-Tandem-Sri"
    if not page:
        return web.Response(status=exc.status, text=f"{exc.code}: {exc.message}\n", headers=headers,
                            content_type=getattr(exc, "content_type", "text/plain"))
    body = _PAGE.format(
        title=escape(exc.title), home=escape(home), status=exc.status, message=escape(exc.message),
        detail=f"<p class=m>{escape(exc.detail)}</p>" if exc.detail else "", code=escape(exc.code),
    )
    headers["Content-Security-Policy"] = PAGE_CSP
    return web.Response(status=exc.status, text=body, content_type="text/html", headers=headers)


class IntegrityFailed(ProxyError):
    """The upstream bytes do not match the integrity the page gave for them (proxy/sri.py): the
    browser would block the resource, so it never reaches the page."""

    status, code, title = 502, "integrity_mismatch", "The resource does not match its integrity"
    content_type = "text/plain"  # the type the load expects (a stylesheet's, a script's): else the
    # browser's console says "Refused to apply style ... MIME type" where directly it said the digest failed
    cors: dict[str, str] = {}

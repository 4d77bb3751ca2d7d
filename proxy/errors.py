"""Errors the proxy turns into responses, each with its status and a code.

Raised anywhere in ``proxy/``; converted in one place (:func:`proxy.handler.error_response`)
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

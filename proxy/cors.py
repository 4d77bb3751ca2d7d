"""Requests browsers send without credentials between the origins of one session.

A browser omits cookies, the participant credential among them, on cross-origin
requests in CORS mode unless the page asks for credentials: ``fetch()`` by
default, fonts, module scripts, ``crossorigin=anonymous`` elements and every
CORS preflight. Between two proxied origins of one session such a request is
still the session's: it is admitted without the credential when its ``Origin`` is
another proxied origin of the same session, and forwarded exactly as the browser
would send it upstream, without cookies (the jar is neither read nor written).

Anyone who knows a session id can send such a request, so it is bounded
(:mod:`proxy.decide`, role ``anonymous``): the allowlist applies as to a subresource
of the tab owner's page (scope ``all`` included), the ``Origin`` must name a page of a
listed host (a page of an unlisted host was never served, so such an Origin is
forged), opened private networks are reachable only for listed hosts, an unlisted
host's document is refused, and it is never a WebSocket, a navigation, a reserved
endpoint or a write to the jar or the followers' cache. What remains is what any
page on the internet can do with a cookieless request to an allowed site, from
Tandem's address.
"""

from __future__ import annotations

from aiohttp import web

from rewriter.labels import LabelError, decode
from tandem import appkeys

def anonymous_cors(request: web.Request, sid: str) -> bool:
    """True for a credential-less CORS request (or preflight) from another proxied origin of session ``sid``."""
    if request.headers.get("Sec-Fetch-Mode", "cors") != "cors":
        return False
    origin = request.headers.get("Origin", "")
    scheme, sep, host = origin.partition("://")
    if not sep or scheme not in ("http", "https") or host.lower() == request.host.lower():
        return False
    label = request.app[appkeys.BASE].label_of_host(host)
    if label is None:
        return False
    try:
        return decode(label).sid == sid
    except LabelError:
        return False

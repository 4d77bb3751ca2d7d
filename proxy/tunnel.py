"""``/__tandem/tunnel/<host>/<path>``: a page's WebSocket or EventSource to another host of its session.

Each proxied host holds its own host-only credential (proxy/entry.py). A page on host A that
opens ``new WebSocket("wss://B/...")`` on its first contact with B sends the handshake without
a credential (constructors are synchronous: nothing can enter B first), so B's host would refuse
it. The runtime (viewer/runtime/network.js) sends such connections to its OWN host instead,
``A/__tandem/tunnel/<B's proxied host>/<path>?<query>``; A's credential admits them. Here:

* ``<host>`` must be a proxied host of the SAME session as A (else refused: a page of one
  session never reaches another session's sites, whatever label it names);
* the request then goes through the normal pipeline for target origin B (allowlist, address
  guard, follower wall: the route is the tab owner's only, and followers get no sockets
  anyway), with B's cookies from the session jar and the browser's ``Origin`` mapped upstream;
* only a WebSocket handshake or an EventSource GET (``Accept: text/event-stream``) is tunnelled.
  Through the tunnel an EventSource is same-origin for the browser, which would then skip
  CORS, so the proxy applies it: B's answer must allow the page's origin with credentials
  (``Access-Control-Allow-Origin`` = that origin, ``Access-Control-Allow-Credentials: true``),
  else it is refused before a byte reaches the page; request headers are cut to those an
  EventSource sends, so nothing a CORS preflight would have guarded gets through.
"""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web
from yarl import URL

from rewriter.labels import LabelError, decode
from tandem import appkeys

from . import errors
from .admit import RESERVED_PREFIX, Admission, Mapper, Target

PREFIX = RESERVED_PREFIX + "tunnel/"
# what an EventSource request carries (the browser's own headers, the Last-Event-ID of a reconnect)
EVENT_SOURCE_HEADERS = frozenset({"host", "accept", "accept-language", "accept-encoding", "cache-control", "pragma",
                                  "last-event-id", "user-agent", "referer", "origin", "cookie", "connection"})


class TunnelRefused(errors.ProxyError):
    status, code, title = 403, "tunnel_refused", "This connection is not allowed"


async def handle(request: web.Request, adm: Admission) -> web.StreamResponse:
    from . import handler  # the pipeline (handler imports reserved, which imports this module)

    host, _, rest = request.raw_path[len(PREFIX):].partition("/")
    label = request.app[appkeys.BASE].label_of_host(host)
    decoded = _decode(label)
    if decoded is None:
        raise errors.UnknownHost("There is nothing at this reserved address.")
    sent = request.headers.get("Origin")
    if decoded.sid != adm.session.sid or (sent is not None and _sid_of_origin(request, sent) != adm.session.sid):
        # the target, and the page that asks (when the browser says), are of this session only
        raise TunnelRefused("A page of this session cannot connect to another session's sites.")
    origin = await adm.session.resolve(decoded)
    if origin is None:
        raise errors.UnknownHost("This address belongs to a site the session has not visited.")
    headers = request.headers
    if not adm.websocket:
        if request.method != "GET" or "text/event-stream" not in headers.get("Accept", ""):
            raise TunnelRefused("Only a WebSocket or an EventSource connects through this address.")
        headers = {k: v for k, v in headers.items() if k.lower() in EVENT_SOURCE_HEADERS}
        # same-origin for the browser, so it sent no Origin: the page's own is the initiator
        headers.setdefault("Origin", f"{request.app[appkeys.BASE].scheme}://{request.host}")
    sub = request.clone(rel_url=URL("/" + rest, encoded=True), headers=headers)
    target = Target(adm.session, origin, label)
    tunnelled = replace(adm, target=target, mapper=Mapper(sub, target), navigation=False, top_level=False,
                        reserved=None, hand_off=False, in_mirror=False)
    if adm.websocket:
        return await handler._proxy(sub, tunnelled)
    initiator = adm.mapper.to_upstream(headers["Origin"] + "/")
    return await handler._proxy(sub, tunnelled, check=lambda up: _cors_allows(up, initiator))


def _decode(label: str | None):
    try:
        return decode(label) if label else None
    except LabelError:
        return None


def _sid_of_origin(request: web.Request, origin: str) -> str | None:
    try:
        host = URL(origin).host_port_subcomponent or ""
    except ValueError:
        return None
    decoded = _decode(request.app[appkeys.BASE].label_of_host(host))
    return decoded.sid if decoded else None


def _cors_allows(up, initiator: str | None) -> None:
    """What the browser would check of a credentialed cross-origin EventSource's answer."""
    allowed = up.headers.get("Access-Control-Allow-Origin", "")
    if not initiator or allowed != initiator.rstrip("/") or up.headers.get(
            "Access-Control-Allow-Credentials", "").strip().lower() != "true":
        raise TunnelRefused("The site does not allow this page's origin to read this event stream.")

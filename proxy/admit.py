"""Stage 1 of the proxy pipeline: admit. Who asks, for what, worked out once per request.

From the request's ``Host`` (the label: session and upstream origin), the participant
credential (read once, through :func:`proxy.credentials.participant`) and the session's
room (the participant's *live* role), :func:`admit` builds one :class:`Admission` that
every later stage reads. Nothing later parses the credential again.

What the request merely *says* about itself (``Sec-Fetch-*``, ``Accept``) is kept as
``navigation`` / ``top_level`` claims: later stages may use a claim only to be
stricter (a follower's navigation goes to the mirror; a navigation must be to a
listed site), never to grant anything.

Roles: ``leader`` (the tab owner), ``follower``, or ``anonymous``: a request without a
credential that a browser sends credential-less by its own rules (see
:mod:`proxy.cors`), admitted only under the bounds :mod:`proxy.decide` sets. A
credential-less request that would follow a redirect with cookies goes through the
entry hand-off first (:mod:`proxy.entry`): that is how a proxied host gets its own
credential.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from rewriter.labels import LabelError, Origin, decode
from rewriter.urls import UrlError, UrlRewriter, split_url, take_sri_marker
from sync.relay import RelayUnavailable
from tandem import appkeys

from . import cors, credentials, entry, errors
from .decide import ANONYMOUS, FOLLOWER, LEADER
from .sessions import Session, upstream_url

RESERVED_PREFIX = "/__tandem/"


@dataclass
class Target:
    session: Session
    origin: Origin
    label: str

    @property
    def host(self) -> str:
        return self.origin.host


async def resolve_target(request: web.Request) -> Target:
    app = request.app
    label = credentials.proxied_label(request)
    if label is None:
        raise errors.UnknownHost("This address is not a Tandem co-browsing address.")
    try:
        decoded = decode(label)
    except LabelError as exc:
        raise errors.UnknownHost("This co-browsing address is malformed.") from exc
    session = await app[appkeys.SESSIONS].get(decoded.sid)
    if session is None:
        raise errors.UnknownHost("There is no co-browsing session at this address.")
    if session.ended:
        raise errors.SessionGone("The agent or the customer ended this session. You can close this tab.")
    origin = await session.resolve(decoded)  # an alias may have been made on another node
    if origin is None:
        raise errors.UnknownHost("This address belongs to a site the session has not visited.")
    return Target(session, origin, label)


class Mapper:
    """The URL mappings one proxied request needs, both directions."""

    def __init__(self, request: web.Request, target: Target):
        self.base = request.app[appkeys.BASE]
        self.target = target
        # the site's integrity for this load, carried in the URL (rewriter.urls.sri_marker; proxy.sri)
        raw_path, self.integrity = take_sri_marker(request.raw_path)
        self.page_url = target.origin.serialize() + raw_path
        self.urls: UrlRewriter = target.session.url_rewriter(self.base, self.page_url)

    def to_upstream(self, proxied: str) -> str | None:
        return upstream_url(self.base, self.target.session, proxied)

    def to_proxy_origin(self, upstream_origin: str) -> str | None:
        try:
            parts = split_url(upstream_origin)
        except (UrlError, ValueError, UnicodeError):
            return None
        return self.urls.proxy_origin(parts.origin) if parts else None


def claims_navigation(request: web.BaseRequest) -> bool:
    """What the request says: a navigation. A claim, used only to be stricter."""
    mode = request.headers.get("Sec-Fetch-Mode")
    if mode is not None:
        return mode == "navigate"
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


async def live_role(app: web.Application, sid: str, who: tuple[str, str]) -> str:
    """The participant's role now: the room's (leadership moves), else the credential's.
    Several nodes: the room's directory answers (sync.relay.Relay.live_role); no answer, no request."""
    pid, credential_role = who
    relay = app.get(appkeys.SYNC)
    try:
        role = await relay.live_role(sid, pid) if relay is not None else None
    except RelayUnavailable:
        raise errors.NotReady("Tandem cannot reach its shared state right now. Try again in a moment.") from None
    return role or credential_role


async def mirror_allows(app: web.Application, sid: str, upstream_url: str) -> bool:
    """Whether the room relayed ``upstream_url`` to the session's mirrors (the follower wall's list)."""
    relay = app.get(appkeys.SYNC)
    return relay is not None and await relay.mirror_allows(sid, upstream_url)


@dataclass(frozen=True)
class Admission:
    target: Target
    mapper: Mapper
    role: str  # LEADER, FOLLOWER or ANONYMOUS
    pid: str | None
    navigation: bool  # claimed (Sec-Fetch-Mode / Accept)
    top_level: bool  # claimed: a navigation of the top-level document
    websocket: bool
    reserved: str | None  # the name under /__tandem/, or None
    hand_off: bool = False  # credential-less, and the browser will follow the entry hand-off (proxy.entry)
    in_mirror: bool = False  # followers: the room relayed this URL to the mirror (sync/resources.py)

    @property
    def session(self) -> Session:
        return self.target.session

    @property
    def upstream_url(self) -> str:
        return self.mapper.page_url


async def admit(request: web.Request) -> Admission:
    """Raises a ProxyError when the request names no live session or (outside reserved paths) no participant.

    A credential-less request the browser would follow through the entry hand-off is
    admitted with ``hand_off`` set: the handler sends it there and nothing else happens.
    """
    target = await resolve_target(request)
    reserved = request.path[len(RESERVED_PREFIX):] if request.path.startswith(RESERVED_PREFIX) else None
    sid = target.session.sid
    who = credentials.participant(request, sid)
    hand_off = False
    if who is not None:
        role, pid = (FOLLOWER if await live_role(request.app, sid, who) == FOLLOWER else LEADER), who[0]
    elif reserved is None and entry.wants_hand_off(request):
        role, pid, hand_off = ANONYMOUS, None, True
    elif reserved is None and not cors.anonymous_cors(request, sid):
        raise errors.NotParticipant("Open the invite link you were sent to join this co-browsing session.")
    else:
        role, pid = ANONYMOUS, None
    navigation = claims_navigation(request)
    mapper = Mapper(request, target)
    return Admission(
        target=target,
        mapper=mapper,
        role=role,
        pid=pid,
        navigation=navigation,
        top_level=navigation and request.headers.get("Sec-Fetch-Dest", "document") == "document",
        websocket=request.headers.get("Upgrade", "").lower() == "websocket",
        reserved=reserved,
        hand_off=hand_off,
        in_mirror=role == FOLLOWER and reserved is None and await mirror_allows(request.app, sid, mapper.page_url),
    )

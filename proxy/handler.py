"""Requests on proxied hosts (``LABEL.BASE``): one straight pipeline.

    admit ──▶ decide ──▶ exchange ──▶ decide (the response) ──▶ respond
    (who,     (pure:      (upstream     (what the response       (type → rewriter
     what,     allow or    call)         IS: follower wall,        table, the
     once)     deny+why)                 documents off the list)   followers' cache)

* :mod:`proxy.admit`: target origin, participant and live role (the credential is
  read once), what the request claims to be, the URL mapper.
* :mod:`proxy.decide`: allowlist, address guard and follower wall, as one pure function
  asked before the upstream call and again when the response headers are in.
* :mod:`proxy.exchange`: the upstream request (the jar only when the decision says so,
  the way out that may reach opened private networks only when it says so).
* :mod:`proxy.respond`: the response kind and rewriter tables, decoding under a
  budget, the copy into the followers' cache.

Reserved ``/__tandem/`` paths go to :mod:`proxy.reserved`'s routing table; followers'
resource loads are answered from the session cache first. Every refusal and failure is
a :class:`~proxy.errors.ProxyError`, rendered in one place (:func:`proxy.errors.render`):
a clear page for a navigation, a short text otherwise; nothing of the request in it.
"""

from __future__ import annotations

import functools
import logging

from aiohttp import web
from aiohttp.web_urldispatcher import UrlMappingMatchInfo

from rewriter.urls import UrlError, split_url
from tandem import appkeys, metrics

from . import cobrowse, credentials, entry, errors, reserved, sri
from .admit import ANONYMOUS, FOLLOWER, Admission, admit, claims_navigation
from .allowlist import ALL, Allowlist
from .decide import (DOCUMENT_OFF_LIST, FOLLOWER_READ_ONLY, FOLLOWER_WALL, NOT_IN_MIRROR, NOT_PARTICIPANT, ORIGIN_OFF_LIST,
                     PRIVATE_ADDRESS, SCOPE_ALL, SITE_NOT_ALLOWED, UNEXPECTED_UPGRADE, Decision, Facts, decide)
from .exchange import egress_for, omits_credentials, open_exchange, request_context, upstream_headers
from .respond import INJECT_TEMPLATE, REWRITE_CACHE, peek, plan, respond  # noqa: F401  (re-exported)
from .upstream import classify
from .watchdog import IdleWatchdog
from .wsrelay import relay_websocket

log = logging.getLogger("tandem.proxy")
MIRROR_DESTS = frozenset({"image", "style", "font", "audio", "video", "track"})  # what a mirror's loads say they are


def claims_mirror_load(request: web.Request) -> bool:
    """What a follower's request says it loads: an image, style, font or media for the mirror, or a
    CORS read by the session page itself (an SVG sprite a ``<use>`` names, viewer/mirror/sprites.js:
    browsers refuse ``<use>`` across origins, so the page copies the symbol). A claim only narrows:
    what the response is and whether the mirror was sent the URL still decide (proxy.decide)."""
    dest = request.headers.get("Sec-Fetch-Dest", "")
    if dest in MIRROR_DESTS:
        return True
    return (dest == "empty" and request.headers.get("Sec-Fetch-Mode") == "cors"
            and request.headers.get("Origin") == request.app[appkeys.BASE].url)


async def handle(request: web.Request) -> web.StreamResponse:
    adm: Admission | None = None
    try:
        adm = await admit(request)
        if adm.hand_off:  # this host holds no credential yet: the control plane mints one
            return entry.hand_off(request, adm.session.sid)
        if adm.reserved is not None:
            return await reserved.handle_reserved(request, adm)
        return await _proxy(request, adm)
    except errors.ProxyError as exc:
        cobrowse.report_error(request, adm, exc)  # the tab owner's page failed: followers are told why
        if exc.status >= 500:  # the site (or the way to it) failed, not the participant's request
            metrics.upstream_error(request.app, exc.code)
        return errors.render(exc, page=adm.navigation if adm else claims_navigation(request),
                             home=request.app[appkeys.BASE].url)


class ProxiedHosts(web.PlainResource):
    """The app router's entry for every path on a proxied host (``LABEL.BASE``), registered first.

    A proxied page's paths are the site's, never the control plane's routes: without this, each
    of its requests walked the router to a miss, whose answer is a fresh 404 exception object and
    a middleware chain wrapped anew for every request (aiohttp caches the chain only for matched
    routes). Matching here changes nothing of what answers: ``tandem.app.host_router`` sends every
    request on a proxied host to :func:`handle` before any route's handler, and this resource
    matches no other host."""

    def __init__(self, base):
        super().__init__("/")
        self._base = base
        self.add_route("*", handle)
        self._any = self._routes.get("*") or self._any_route

    async def resolve(self, request: web.Request):
        label = self._base.label_of_host(request.host)
        if label is None:
            return None, set()
        request[credentials.PROXIED_LABEL] = label  # found once: admission and the cookie checks read it
        return UrlMappingMatchInfo({}, self._any), self._allowed_methods


# -- facts and the decision ---------------------------------------------------------------------

PAGE_SCOPE_ALL: web.RequestKey[bool] = web.RequestKey("tandem.proxy.page_scope_all", bool)  # asked once a request


async def judge_page(request: web.Request, adm: Admission) -> None:
    """Whether the tab owner's page is on an entry with scope ``all``, for :func:`facts`, once a request.

    The page is the live state's (:class:`tandem.live.OwnerPage`: the last top-level document any
    node served the tab owner), else the session's start URL, never a request header. It is asked
    only when a decision depends on it (a non-navigation to an unlisted host while some entry has
    scope ``all``): with Redis that is one GET for those requests alone, none for the others."""
    allowlist = Allowlist(request.app[appkeys.ALLOWLIST].entries)  # the list in force, across the await below
    if (adm.navigation or not any(e.scope == ALL for e in allowlist.entries)
            or allowlist.allows_navigation(adm.target.host)):
        request[PAGE_SCOPE_ALL] = False  # decide() does not read it for these
        return
    page_host = await adm.session.live.page.current()
    if page_host is None:  # no page served yet: the one the session starts on
        page_host = _start_host(adm)
    if not page_host:  # nothing known of the page: the strictest entry in force
        request[PAGE_SCOPE_ALL] = True
        return
    page_entry = allowlist.entry_for(page_host)
    request[PAGE_SCOPE_ALL] = page_entry is not None and page_entry.scope == ALL


def facts(request: web.Request, adm: Admission, response: str | None = None) -> Facts:
    app = request.app
    allowlist = Allowlist(app[appkeys.ALLOWLIST].entries)  # the list in force, read once for this decision
    scope_all = request.get(PAGE_SCOPE_ALL, True)  # judge_page() not asked: the strictest answer
    origin_listed = True
    if adm.role == ANONYMOUS:
        origin = adm.mapper.to_upstream(request.headers.get("Origin", "") + "/")
        origin_host = _host_of(origin)
        origin_listed = origin_host is not None and allowlist.allows_navigation(origin_host)
    return Facts(
        role=adm.role, method=request.method, host=adm.target.host,
        listed=allowlist.allows_navigation(adm.target.host), page_scope_all=scope_all,
        navigation=adm.navigation, websocket=adm.websocket,
        private_networks=app[appkeys.SETTINGS].allow_private, origin_listed=origin_listed,
        claims_mirror_load=claims_mirror_load(request), in_mirror=adm.in_mirror,
        response=response,
    )


def _host_of(url: str | None) -> str | None:
    if not url:
        return None
    if len(url) > HOST_MEMO_URL:
        return _host_of_url.__wrapped__(url)
    return _host_of_url(url)


HOST_MEMO_URL = 4096  # start URLs longer than this are split every time (the memo keeps its keys)


@functools.lru_cache(maxsize=1024)  # pure: asked twice per request for the session's start URL
def _host_of_url(url: str) -> str | None:
    try:
        parts = split_url(url)
    except (UrlError, ValueError, UnicodeError):
        return None
    return parts.origin.host if parts else None


def _start_host(adm: Admission) -> str | None:
    return _host_of(adm.session.start_url)


_REFUSALS = {
    NOT_PARTICIPANT: lambda adm: errors.NotParticipant("Open the invite link you were sent to join this co-browsing session."),
    ORIGIN_OFF_LIST: lambda adm: errors.NotParticipant("Open the invite link you were sent to join this co-browsing session."),
    FOLLOWER_READ_ONLY: lambda adm: errors.FollowerOnly(
        "Followers cannot send data to the site or open its connections; ask for control and act through the "
        "tab owner's page."),
    FOLLOWER_WALL: lambda adm: errors.FollowerWall(
        "Followers load only the images, styles, fonts and media of the mirrored page."),
    NOT_IN_MIRROR: lambda adm: errors.FollowerWall(
        "Followers load only the images, styles, fonts and media the mirrored page shows."),
    SITE_NOT_ALLOWED: lambda adm: errors.NotAllowed(
        f"{adm.target.host} is not on this Tandem server's list of sites that may be co-browsed.",
        detail="Ask your administrator to add it to the allowlist."),
    SCOPE_ALL: lambda adm: errors.NotAllowed(
        f"{adm.target.host} is not on this Tandem server's list of sites, and the page being co-browsed may "
        "load only from listed sites.", detail="Ask your administrator to add it to the allowlist."),
    DOCUMENT_OFF_LIST: lambda adm: errors.NotAllowed(
        f"{adm.target.host} is not on this Tandem server's list of sites that may be co-browsed.",
        detail="Ask your administrator to add it to the allowlist."),
    PRIVATE_ADDRESS: lambda adm: errors.AddressRefused(
        f"{adm.target.host} is a private or internal address, which Tandem does not fetch for this site."),
    UNEXPECTED_UPGRADE: lambda adm: errors.UpstreamUpgrade(
        f"{adm.target.host} answered a plain request by switching protocols."),
}


def refuse(adm: Admission, decision: Decision) -> errors.ProxyError:
    make = _REFUSALS.get(decision.reason, _REFUSALS[NOT_PARTICIPANT])
    return make(adm)


# -- the pipeline ----------------------------------------------------------------------------------

async def _proxy(request: web.Request, adm: Admission, check=None) -> web.StreamResponse:
    """``check(upstream_response)``: raises to refuse the answer before a byte of it is sent (proxy.tunnel)."""
    await judge_page(request, adm)
    decision = decide(facts(request, adm))
    if decision.mirror:  # the follower's place is the mirror: never run the site twice
        return web.Response(status=303, headers={"Location": cobrowse.session_page(request.app, adm.session.sid),
                                                 "Cache-Control": "no-store"})
    if not decision.allow:
        raise refuse(adm, decision)
    redirect = _allowlist_redirect(request, adm)
    if redirect is not None:
        return redirect
    if adm.role == FOLLOWER and not sri.needs_check(adm.mapper.integrity):  # the cache holds rewritten bytes:
        return await _for_follower(request, adm, decision)  # a load with an integrity is checked upstream
    return await _fetch(request, adm, decision, check)


def _allowlist_redirect(request: web.Request, adm: Admission) -> web.Response | None:
    """A navigation to a host whose allowlist entry carries a redirect goes there instead, through the proxy."""
    if not adm.navigation:
        return None
    found = request.app[appkeys.ALLOWLIST].entry_for(adm.target.host)
    if found is None or not found.redirect:
        return None
    try:
        location = adm.mapper.urls.to_proxy(found.redirect)
    except (UrlError, ValueError, UnicodeError):
        return None
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


async def _for_follower(request: web.Request, adm: Admission, decision: Decision) -> web.StreamResponse:
    """A follower's resource load: the session cache first, one upstream fetch however many miss at once."""
    cache = adm.session.cache
    key = adm.upstream_url
    pending = cache.inflight(key)
    if pending is not None:
        await pending
    found = cache.get(key)
    if found is not None:
        await cobrowse.note_mirror_refs(request, adm, found.status, found.headers, found.body)
        return cobrowse.from_cache(request, found)
    fut = cache.begin(key)
    try:
        return await _fetch(request, adm, decision)
    finally:
        cache.finish(key, fut)


async def _fetch(request: web.Request, adm: Admission, decision: Decision, check=None) -> web.StreamResponse:
    ctx = request_context(request, adm)
    headers = await upstream_headers(request, adm, decision, ctx)
    if adm.websocket:
        return await relay_websocket(request, adm.target, adm.mapper, headers,  # the tab owner's only (decide)
                                     egress=egress_for(request.app, decision))
    settings = request.app[appkeys.SETTINGS]
    watchdog = IdleWatchdog(settings.read_timeout)
    try:
        async with open_exchange(request, adm, decision, headers, watchdog) as up:
            if check is not None:
                check(up)
            head = await peek(up)
            p = plan(request, adm, up, head)
            second = decide(facts(request, adm, response=p.kind))
            if not second.allow:
                raise refuse(adm, second)
            set_cookies = up.headers.getall("Set-Cookie", [])
            # followers, credential-less requests and credentials: 'omit' never change the jar
            if set_cookies and second.use_jar and not omits_credentials(request):
                await adm.session.jar.set_from_response(adm.upstream_url, set_cookies, ctx)
            return await respond(request, adm, up, p, head, watchdog)
    except errors.ProxyError:
        raise
    except Exception as exc:  # the exchange context failing on its way out
        if request.transport is None or request.transport.is_closing():
            raise
        raise classify(exc, adm.target.host) from exc
    finally:
        watchdog.stop()

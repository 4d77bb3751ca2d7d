"""Control-plane routes at ``BASE``: landing, session API, enter links.

Ambient cookies never authorize anything here: the API takes a bearer key,
the demo start button checks ``Origin``, and enter links carry a signed token.
"""

from __future__ import annotations

import logging
from aiohttp import web

from proxy import credentials, entry, guard
from proxy.sessions import CONSENT, DIRECT, INVITE_TTL, Session
from rewriter.urls import UrlError, split_url
from tandem import appkeys
from tandem.httpserver import BodyTimeout

from .pages import error_page, page

log = logging.getLogger("tandem.viewer")

API_PREFIX = "/api/v1/"
MAX_URL_LENGTH = 8 * 1024  # start URLs; browsers cope with more but no real entry page needs it
DEMO_START: web.AppKey[str] = web.AppKey("demo_start_url")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class PageResponse(Exception):
    """Raised by a handler to answer with this ready page (refusals deep in a helper)."""

    def __init__(self, response: web.Response):
        super().__init__(response.status)
        self.response = response


def api_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler):
    """JSON errors for the API, clear pages for people; never a traceback."""
    is_api = request.path.startswith(API_PREFIX)
    try:
        return await handler(request)
    except ApiError as exc:
        return api_error(exc.status, exc.code, exc.message)
    except PageResponse as exc:
        return exc.response
    except BodyTimeout:  # the body did not arrive in time: its own 408 answer, and the connection is closed
        raise
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if is_api:
            code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(exc.status, "http_error")
            return api_error(exc.status, code, exc.reason)
        return error_page(exc.status, exc.reason, "Tandem has nothing at this address.", code=str(exc.status))
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if is_api:
            return api_error(500, "internal_error", "Tandem hit an internal error; it has been logged.")
        return error_page(500, "Something went wrong", "Tandem hit an internal error; it has been logged.", code="internal_error")


def validate_start_url(request: web.Request, url: object) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ApiError(422, "invalid_url", "'url' must be a non-empty string.")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ApiError(422, "invalid_url", f"'url' is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = split_url(url, page_scheme="")
    except UrlError as exc:
        raise ApiError(422, "invalid_url", f"'url' is not a valid web address: {exc}.") from exc
    if parts is None or parts.scheme not in ("http", "https") or parts.lead or url.startswith("//"):
        raise ApiError(422, "invalid_url", "'url' must be an absolute http:// or https:// address.")
    base = request.app[appkeys.BASE]
    if base.is_ours(parts.origin.host):
        raise ApiError(422, "invalid_url", "'url' points at Tandem itself.")
    if not request.app[appkeys.ALLOWLIST].allows_navigation(parts.origin.host):
        raise ApiError(403, "site_not_allowed", f"{parts.origin.host} is not on the allowlist.")
    try:
        guard.check_host(parts.origin.host, request.app[appkeys.SETTINGS].allow_private)
    except guard.AddressBlocked as exc:
        raise ApiError(403, "private_address", str(exc)) from exc
    return url


PIN_TTL = 10 * 60  # a PIN is read out over the phone and typed at once; short-lived by design
PIN_USES = 3  # joins one PIN admits (a customer retrying on a second device), then it is spent


async def enter_url(request: web.Request, sid: str, role: str, *, audience: str = DIRECT, single_use: bool = False,
              ttl: int = INVITE_TTL) -> str:
    """A signed invite link for the session and role; consent links go through the customer consent screen."""
    token = await request.app[appkeys.SESSIONS].invite(sid, role, audience=audience, single_use=single_use, ttl=ttl)
    path = "join" if audience == CONSENT else "enter"
    return f"{request.app[appkeys.BASE].url}/s/{sid}/{path}?t={token}"


async def new_pin(request: web.Request, session: Session) -> tuple[str, float]:
    return await request.app[appkeys.STORE].new_pin(session.sid, session.customer_role, PIN_TTL, PIN_USES)


async def create_session(request: web.Request, url: str, *, agent_id: str | None = None, agent_name: str = "",
                   branding: dict | None = None, permissions: dict | None = None, metadata: dict | None = None,
                   customer_role: str = "follower", key_id: int | None = None, visitor_id: str | None = None,
                   actor: str = "") -> dict:
    """The one place a session is created (API, console, snippet, demo button)."""
    from tandem import events

    sessions = request.app[appkeys.SESSIONS]
    session = await sessions.create(url, agent_id=agent_id, agent_name=agent_name, branding=dict(branding or {}),
                              permissions=dict(permissions or {}), metadata=dict(metadata or {}),
                              customer_role=customer_role, key_id=key_id, visitor_id=visitor_id)
    pin, pin_expires = await new_pin(request, session)
    log.info("session %s started", session.sid)
    await events.emit(request.app, "session.started", session, actor=actor, detail={"url": url})
    return {
        "session_id": session.sid,
        "leader_url": await enter_url(request, session.sid, "leader"),
        "follower_url": await enter_url(request, session.sid, "follower"),
        "invite_url": await enter_url(request, session.sid, customer_role, audience=CONSENT),
        "pin": pin,
        "pin_expires_at": pin_expires,
        "expires_at": session.expires_at,
        "created_at": session.created_at,
    }


async def save_session_details(request: web.Request, session: Session) -> None:
    """Persist changes the control plane made to a live session (agent, branding, permissions)."""
    details = {"agent_name": session.agent_name, "branding": session.branding, "permissions": session.permissions,
               "metadata": session.metadata, "customer_role": session.customer_role}
    await request.app[appkeys.STORE].update_session(session.sid, agent_id=session.agent_id, details=details)


async def session_or_page(request: web.Request, sid: str) -> Session | web.Response:
    """The live session, or the page to show instead (unknown, ended)."""
    session = await request.app[appkeys.SESSIONS].get(sid)
    if session is None:
        return error_page(404, "No such session", "This invite link does not belong to any session.", code="unknown_session")
    if session.ended:
        return error_page(410, "This session has ended", "The co-browsing session is over.", code="session_ended",
                          retry_url=retry_url_of(session))
    return session


def retry_url_of(session: Session | None) -> str | None:
    """branding.retry_url: where a participant who cannot join is offered to go."""
    return (session.branding or {}).get("retry_url") if session is not None else None


def invalid_invite_page(session: Session | None = None) -> web.Response:
    return error_page(403, "This link is not valid", "The invite link is wrong, has expired, was withdrawn or was already used. Ask for a new one.",
                      code="invalid_invite", retry_url=retry_url_of(session))


async def enter(request: web.Request) -> web.StreamResponse:
    """Direct invite link target (agents, API); customer (consent) links go to the consent screen first."""
    sid = request.match_info["sid"]
    session = await session_or_page(request, sid)
    if isinstance(session, web.Response):
        return session
    sessions = request.app[appkeys.SESSIONS]
    token = request.query.get("t", "")
    peek = await sessions.peek_invite(sid, token)
    if peek is not None and peek.audience == CONSENT:
        raise web.HTTPSeeOther(f"/s/{sid}/join?t={token}")
    invite = await sessions.use_invite(sid, token) if peek is not None else None
    if invite is None:
        return invalid_invite_page(session)
    return await admit(request, session, invite.role, kind="agent" if invite.audience == DIRECT else "customer",
                 name=request.query.get("name", "")[:MAX_NAME])


MAX_NAME = 60  # a participant's display name on the toolbar


async def admit(request: web.Request, session: Session, role: str, *, kind: str, name: str) -> web.Response:
    """Sets the participant credential (host-only on BASE, under ``/s/<sid>``), records the join and
    sends the browser to the start page, whose host then gets its own through the entry hand-off
    (see proxy/entry.py)."""
    from sync.protocol import clean_name
    from tandem import events

    sessions = request.app[appkeys.SESSIONS]
    sid = session.sid
    base = request.app[appkeys.BASE]
    credential = sessions.credential(sid, role)
    pid = credential.split(".")[2]
    name = clean_name(name, MAX_NAME) or ("Agent" if kind == "agent" else "Customer")  # no role look-alikes (issue 10 #17)
    await request.app[appkeys.STORE].add_participant(sid, pid, role, kind, name)
    await events.emit(request.app, "participant.joined", session, actor=name, detail={"role": role, "kind": kind, "pid": pid})
    target = session.url_rewriter(base).to_proxy(session.start_url)  # its host's entry hand-off follows
    resp = web.Response(status=303, headers={"Location": target})
    credentials.set_control_cookie(resp, base, sid, credential)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"  # the invite token must not leak to the site
    return resp


async def pass_(request: web.Request) -> web.StreamResponse:
    """Entry hand-off, step 2: a participant's browser wants a credential for one of the session's hosts."""
    sid = request.match_info["sid"]
    session = await session_or_page(request, sid)
    if isinstance(session, web.Response):
        return session
    try:
        location = entry.ticket_location(request, sid, request.query.get("to", ""), request.query.get("n", ""))
    except entry.NotThisSession:
        return error_page(400, "This link is not valid", "That address is not part of this co-browsing session.",
                          code="bad_entry")
    except PermissionError:
        return error_page(403, "Join the session first", "Open the invite link you were sent to join this co-browsing session.",
                          code="not_a_participant")
    return web.Response(status=entry.redirect_status(request), headers={"Location": location, **entry.NO_STORE})


async def landing(request: web.Request) -> web.Response:
    demo = request.app.get(DEMO_START)
    start = (
        '<form method=post action="/demo/start"><p>The demo shop runs next to Tandem on this machine. '
        "Start a session and you are its tab owner.</p><button type=submit>Start a demo session</button></form>"
        if demo
        else ""
    )
    start += (
        '<div class=row><a class=button href="/join">I have a PIN</a>'
        '<a class="button secondary" href="/console">Agent console</a></div>'
        '<p class=muted>Developers: the REST API is described at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>; '
        'site owners can add the <a href="/snippet">embeddable snippet</a>.</p>'
    )
    body = (
        "<h1>Co-browse any site, nothing to install</h1>"
        "<p>Tandem opens a web page through this server so an agent and a customer can see and act on it together.</p>"
        f"{start}"
    )
    return page("Tandem", body)


async def demo_start(request: web.Request) -> web.StreamResponse:
    demo = request.app.get(DEMO_START)
    if not demo:
        raise web.HTTPNotFound()
    base = request.app[appkeys.BASE]
    origin = request.headers.get("Origin")
    if origin != base.url:
        return error_page(403, "Request refused", "This button only works from Tandem's own page.", code="bad_origin")
    info = await create_session(request, demo)
    raise web.HTTPSeeOther(info["leader_url"])


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def favicon(request: web.Request) -> web.Response:
    """No icon, said plainly: every page of the control plane (the follower's session page among
    them) had the browser log a 404 for /favicon.ico."""
    return web.Response(status=204, headers={"Cache-Control": "public, max-age=86400"})


def setup(app: web.Application) -> None:
    from . import sso

    sso.setup(app)  # agents' single sign-on: /console/sso, its callback, /admin/sso
    app.router.add_get("/", landing)
    app.router.add_post("/demo/start", demo_start)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/s/{sid}/enter", enter)
    app.router.add_get("/s/{sid}/pass", pass_)
    app.router.add_post("/s/{sid}/pass", pass_)  # a POST being handed off (307): its body is not read here

"""Control-plane routes at ``BASE``: landing, session API, enter links.

Ambient cookies never authorize anything here: the API takes a bearer key,
the demo start button checks ``Origin``, and enter links carry a signed token.
"""

from __future__ import annotations

import hmac
import json
import logging
from aiohttp import web

from proxy import guard
from proxy.sessions import CREDENTIAL_TTL
from rewriter.urls import UrlError, split_url
from tandem import appkeys

from .pages import error_page, page

log = logging.getLogger("tandem.viewer")

API_PREFIX = "/api/v1/"
MAX_URL_LENGTH = 8 * 1024  # start URLs; browsers cope with more but no real entry page needs it
SESSION_FIELDS = frozenset({"url"})
DEMO_START: web.AppKey[str] = web.AppKey("demo_start_url")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


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


def _check_api_key(request: web.Request) -> None:
    auth = request.headers.get("Authorization", "")
    scheme, _, key = auth.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "unauthorized", "Send an API key as 'Authorization: Bearer <key>'.")
    key = key.strip()
    admin = request.app[appkeys.SETTINGS].admin_key
    if admin and hmac.compare_digest(key.encode(), admin.encode()):
        return
    if request.app[appkeys.STORE].check_api_key(key):
        return
    raise ApiError(401, "unauthorized", "The API key is not valid.")


async def _json_body(request: web.Request) -> dict:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send a JSON body with Content-Type: application/json.")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise ApiError(413, "body_too_large", f"The body is larger than {request.client_max_size} bytes.") from exc
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "The body must be a JSON object.")
    return body


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


def create_session(request: web.Request, url: str) -> dict:
    sessions = request.app[appkeys.SESSIONS]
    session = sessions.create(url)
    base = request.app[appkeys.BASE]
    invite = sessions.invite(session.sid, "leader")
    log.info("session %s started", session.sid)
    return {
        "session_id": session.sid,
        "leader_url": f"{base.url}/s/{session.sid}/enter?t={invite}",
        "created_at": session.created_at,
    }


async def api_create_session(request: web.Request) -> web.Response:
    _check_api_key(request)
    body = await _json_body(request)
    unknown = sorted(set(body) - SESSION_FIELDS)
    if unknown:
        raise ApiError(400, "unknown_fields", f"Unknown field(s): {', '.join(unknown)}.")
    url = validate_start_url(request, body.get("url"))
    return web.json_response(create_session(request, url), status=201)


async def api_not_found(request: web.Request) -> web.Response:
    raise ApiError(404, "not_found", f"No API endpoint at {request.path}.")


async def enter(request: web.Request) -> web.StreamResponse:
    """Invite link target: sets the participant credential on Domain=BASE, then opens the proxied page."""
    sid = request.match_info["sid"]
    sessions = request.app[appkeys.SESSIONS]
    session = sessions.get(sid)
    if session is None:
        return error_page(404, "No such session", "This invite link does not belong to any session.", code="unknown_session")
    if session.ended:
        return error_page(410, "This session has ended", "The co-browsing session is over.", code="session_ended")
    role = sessions.check_invite(sid, request.query.get("t", ""))
    if role is None:
        return error_page(403, "This link is not valid", "The invite link is wrong or has expired. Ask for a new one.", code="invalid_invite")
    base = request.app[appkeys.BASE]
    target = session.url_rewriter(base).to_proxy(session.start_url)
    resp = web.Response(status=303, headers={"Location": target})
    resp.set_cookie(
        sessions.cookie_name(sid),
        sessions.credential(sid, role),
        domain=base.hostname,
        path="/",
        max_age=CREDENTIAL_TTL,
        httponly=True,
        secure=base.scheme == "https",
        samesite="Lax",
    )
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"  # the invite token must not leak to the site
    return resp


async def landing(request: web.Request) -> web.Response:
    demo = request.app.get(DEMO_START)
    start = (
        '<form method=post action="/demo/start"><p>The demo shop runs next to Tandem on this machine. '
        "Start a session and you are its tab owner.</p><button type=submit>Start a demo session</button></form>"
        if demo
        else "<p>Start a session through the REST API: <code>POST /api/v1/sessions</code> with an admin key.</p>"
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
    info = create_session(request, demo)
    raise web.HTTPSeeOther(info["leader_url"])


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def setup(app: web.Application) -> None:
    app.router.add_get("/", landing)
    app.router.add_post("/demo/start", demo_start)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/v1/sessions", api_create_session)
    app.router.add_route("*", "/api/v1/{tail:.*}", api_not_found)
    app.router.add_get("/s/{sid}/enter", enter)

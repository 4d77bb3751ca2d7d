"""Server side of the embeddable snippet: ``BASE/tandem.js`` and ``/snippet/v1/*`` (CORS, no cookies).

Who may do what:
* Registering a visitor and starting a session need a request from a site on the
  allowlist (its ``Origin``), for a URL on that same host. An empty allowlist admits
  no snippet site: anonymous session starts from anywhere would make Tandem an open
  proxy. Proxied origins (``*.BASE``) are refused: they are already in a session.
  Starts are rate limited per address.
* Everything else (state, PIN, end) is authorized by the visitor's secret in the
  ``X-Tandem-Visitor`` header, from any origin; the answer says nothing about other
  visitors.

Starting a session carries the page's non-HttpOnly cookies (``document.cookie``)
into the session jar (host-only, ``Path=/``: a script cannot see their original
domain and path), so the customer stays signed in inside the session.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from urllib.parse import quote, urlsplit

from aiohttp import web

from tandem import appkeys, events
from tandem.ratelimit import client_address

from ..pages import page
from ..jsonbody import read_json
from ..routes import ApiError, create_session, validate_start_url
from . import push

HERE = Path(__file__).resolve().parent
BUILD = HERE.parent / "static" / "build"
SNIPPET_BUILD = BUILD / "tandem.js"
STATIC_FILES = {"console.js": "text/javascript", "tandem.js": "text/javascript"}
MAX_BODY = 48 * 1024  # a start carries document.cookie (browsers cap it near 4 KB per cookie, ~180 cookies at most in practice far fewer)
MAX_COOKIES = 32 * 1024  # of which the cookie string
MAX_CARRIED = 100  # cookies carried into the jar per start
VISITOR_SECRET_BYTES = 24
SNIPPET_CACHE = "public, max-age=300"  # site owners embed it; a new version reaches visitors within minutes
PREFLIGHT_MAX_AGE = "600"
_VISITOR_ID = re.compile(r"v_[A-Za-z0-9_-]{16}")


def _cors(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    if origin:
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Vary"] = "Origin"
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _json(request: web.Request, data: dict, status: int = 200) -> web.Response:
    return _cors(request, web.json_response(data, status=status))  # type: ignore[return-value]


def _error(request: web.Request, status: int, code: str, message: str) -> web.Response:
    return _json(request, {"error": {"code": code, "message": message}}, status)


def _site_origin(request: web.Request) -> str | None:
    """The calling site's host when it may use the snippet (on the allowlist, not Tandem's own)."""
    origin = request.headers.get("Origin", "")
    try:
        parts = urlsplit(origin)
        host = parts.hostname or ""
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    if request.app[appkeys.BASE].is_ours(host):
        return None
    allowlist = request.app[appkeys.ALLOWLIST]
    if allowlist.open or not allowlist.allows_navigation(host):
        return None
    return host


async def _body(request: web.Request) -> dict:
    # Content-Type is not required: a site's fetch may send text/plain to skip the CORS preflight.
    return await read_json(request, max_bytes=MAX_BODY, require_type=False, empty="{}")


async def _visitor(request: web.Request, vid: str | None = None) -> str:
    """The visitor id (of the path by default), checked against the secret in X-Tandem-Visitor."""
    vid = request.match_info.get("visitor", "") if vid is None else vid
    header = request.headers.get("X-Tandem-Visitor", "")
    hid, _, secret = header.partition(".")
    if hid != vid or not secret or not await request.app[appkeys.STORE].check_visitor(vid, secret):
        raise ApiError(401, "unauthorized", "Unknown visitor or wrong secret.")
    return vid


async def _live_session(request: web.Request, vid: str):
    rows = await request.app[appkeys.STORE].list_sessions(state="live", visitor_id=vid, limit=1)
    session = await request.app[appkeys.SESSIONS].get(rows[0].id) if rows else None
    return session if session is not None and not session.ended else None


@web.middleware
async def snippet_errors(request: web.Request, handler):
    if not request.path.startswith("/snippet/v1/"):
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as exc:
        return _error(request, exc.status, exc.code, exc.message)


async def preflight(request: web.Request) -> web.Response:
    resp = web.Response(status=204, headers={
        "Access-Control-Allow-Methods": "GET, POST",
        "Access-Control-Allow-Headers": "Content-Type, X-Tandem-Visitor, Last-Event-ID",
        "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
    })
    return _cors(request, resp)  # type: ignore[return-value]


async def register(request: web.Request) -> web.Response:
    origin_host = _site_origin(request)
    if origin_host is None:
        raise ApiError(403, "site_not_allowed", "This site may not start co-browsing sessions (it is not on the allowlist).")
    limits = request.app[appkeys.LIMITS]
    if not await limits.snippet_address.hit(client_address(request)):
        raise ApiError(429, "rate_limited", "Too many requests from this address; try again in a few minutes.")
    await _body(request)
    vid = "v_" + secrets.token_urlsafe(12)
    secret = secrets.token_urlsafe(VISITOR_SECRET_BYTES)
    await request.app[appkeys.STORE].add_visitor(vid, secret, request.headers["Origin"])
    return _json(request, {"visitor_id": vid, "secret": secret}, 201)


async def _carry_cookies(session, url: str, cookie_string: str) -> int:
    carried = 0
    for pair in cookie_string.split(";"):
        pair = pair.strip()
        if "=" not in pair or carried >= MAX_CARRIED:
            continue
        await session.jar.script_write(url, pair + "; path=/")
        carried += 1
    return carried


async def start(request: web.Request) -> web.Response:
    origin_host = _site_origin(request)
    if origin_host is None:
        raise ApiError(403, "site_not_allowed", "This site may not start co-browsing sessions (it is not on the allowlist).")
    body = await _body(request)
    unknown = sorted(set(body) - {"visitor_id", "url", "cookies", "name"})
    if unknown:
        raise ApiError(400, "unknown_fields", f"Unknown field(s): {', '.join(unknown)}.")
    vid = await _visitor(request, str(body.get("visitor_id", "")))
    limits = request.app[appkeys.LIMITS]
    if not await limits.snippet_address.hit(client_address(request)):
        raise ApiError(429, "rate_limited", "Too many sessions from this address; try again in a few minutes.")
    url = validate_start_url(request, body.get("url"))
    if (urlsplit(url).hostname or "") != origin_host:
        raise ApiError(422, "invalid_url", "The snippet can only start a session for the page it runs on.")
    cookies = body.get("cookies", "")
    if not isinstance(cookies, str) or len(cookies) > MAX_COOKIES:
        raise ApiError(422, "invalid_body", f"'cookies' must be a string of at most {MAX_COOKIES} characters.")
    name = body.get("name", "")
    name = name[:60] if isinstance(name, str) else ""
    previous = await _live_session(request, vid)
    if previous is not None:
        from ..console import end_session

        await end_session(request, previous, actor=f"visitor:{vid}")
    info = await create_session(request, url, customer_role="leader", visitor_id=vid, actor=f"visitor:{vid}")
    session = await request.app[appkeys.SESSIONS].get(info["session_id"])
    carried = await _carry_cookies(session, url, cookies)
    # The PIN of a visitor's session is for an agent to type into the console: it admits a follower.
    pin, pin_expires = await request.app[appkeys.STORE].new_pin(session.sid, "follower", *_pin_policy())
    return _json(request, {
        "session_id": session.sid,
        "leader_url": info["leader_url"] + (f"&name={quote(name)}" if name else ""),
        "pin": pin,
        "pin_expires_at": pin_expires,
        "watch_url": f"{request.app[appkeys.BASE].url}/console/watch/{vid}",
        "cookies_carried": carried,
    }, 201)


def _pin_policy() -> tuple[float, int]:
    from ..routes import PIN_TTL, PIN_USES

    return PIN_TTL, PIN_USES


async def state(request: web.Request) -> web.Response:
    vid = await _visitor(request)
    rows = await request.app[appkeys.STORE].list_sessions(visitor_id=vid, limit=1)
    if not rows:
        return _json(request, {"session": None})
    row = rows[0]
    store = request.app[appkeys.STORE]
    agents = sum(1 for p in await store.participants(row.id) if p.kind == "agent")
    control = await store.audit_events(session_id=row.id, kind="control.changed", limit=1)
    return _json(request, {"session": {
        "session_id": row.id, "state": row.state, "agents": agents,
        "control": control[0].detail if control else None,
    }})


async def pin(request: web.Request) -> web.Response:
    vid = await _visitor(request)
    session = await _live_session(request, vid)
    if session is None:
        raise ApiError(409, "no_live_session", "Start a session first.")
    value, expires = await request.app[appkeys.STORE].new_pin(session.sid, "follower", *_pin_policy())
    await events.emit(request.app, "pin.created", session, actor=f"visitor:{vid}")
    return _json(request, {"pin": value, "expires_at": expires, "session_id": session.sid}, 201)


async def end(request: web.Request) -> web.Response:
    from ..console import end_session

    vid = await _visitor(request)
    session = await _live_session(request, vid)
    if session is None:
        raise ApiError(409, "no_live_session", "There is no live session to end.")
    await end_session(request, session, actor=f"visitor:{vid}")
    return _json(request, {"session_id": session.sid, "state": "ended"})


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    path = BUILD / name
    if not path.exists():
        return web.Response(status=503, text="/* not built: run `make build` */\n", content_type="text/javascript")
    return web.Response(body=path.read_bytes(), content_type=STATIC_FILES[name],
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})


async def snippet_js(request: web.Request) -> web.StreamResponse:
    if not SNIPPET_BUILD.exists():
        return web.Response(status=503, text="/* Tandem snippet not built: run `make build` */\n", content_type="text/javascript")
    return web.Response(body=SNIPPET_BUILD.read_bytes(), content_type="text/javascript",
                        headers={"Cache-Control": SNIPPET_CACHE, "Cross-Origin-Resource-Policy": "cross-origin",
                                 "X-Content-Type-Options": "nosniff"})


async def snippet_help(request: web.Request) -> web.Response:
    from html import escape

    base = request.app[appkeys.BASE].url
    code = ("<script>window.Tandem=window.Tandem||function(){(Tandem.q=Tandem.q||[]).push(arguments)};</script>\n"
            f'<script async src="{base}/tandem.js"></script>')
    body = (
        "<h1>Embeddable snippet</h1>"
        "<p>Add this to your own site's pages. Your site must be on this server's allowlist.</p>"
        f"<pre class=secret>{escape(code)}</pre>"
        "<h2>Calls</h2><ul>"
        "<li><code>Tandem('startSession', {name}, cb)</code> moves the customer into a co-browsing session of the current page, "
        "carrying its non-HttpOnly cookies.</li>"
        "<li><code>Tandem('getWatchLink', cb)</code> a link an agent opens in the console to join.</li>"
        "<li><code>Tandem('getPin', cb)</code> a 6-digit PIN the customer reads out to the agent.</li>"
        "<li><code>Tandem('endSession')</code>; events with <code>Tandem('on', name, fn)</code>: "
        "<code>session_started</code>, <code>viewer_joined</code>, <code>control_changed</code>, <code>session_ended</code>, "
        "pushed by the server as they happen (Server-Sent Events); after a dropped connection the snippet reconnects and "
        "misses none.</li></ul>"
    )
    return page("Snippet", body)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/tandem.js", snippet_js)
    r.add_get("/snippet", snippet_help)
    r.add_get("/static/build/{name}", static_file)
    r.add_route("OPTIONS", "/snippet/v1/{tail:.*}", preflight)
    r.add_post("/snippet/v1/visitors", register)
    r.add_post("/snippet/v1/sessions", start)
    r.add_get("/snippet/v1/visitors/{visitor}/state", state)
    r.add_post("/snippet/v1/visitors/{visitor}/pin", pin)
    r.add_post("/snippet/v1/visitors/{visitor}/end", end)
    push.setup(app)  # GET /snippet/v1/visitors/{visitor}/events: pushed events (Server-Sent Events)

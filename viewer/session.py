"""The session on the control plane: session page (followers' mirror), leader panel, session socket.

Routes (all on ``BASE``):

* ``GET /s/{sid}``        the session page. A follower sees the live mirror and the
                          controls; the tab owner is sent on to the page it shows.
* ``GET /s/{sid}/panel``  the small panel the recorder embeds in the tab owner's
                          proxied page (participants, control requests, hand-over).
                          It holds the tab's session socket.
* ``GET /s/{sid}/ws``     the session WebSocket (``sync.ws``).
* ``GET /s/{sid}/left``   where people land after leaving.
* ``GET /static/sync/…``  the bundles those pages load.

Pages carry no inline script; the CSP allows scripts from this origin only, and
the mirror's resources (images, styles, fonts) from the proxied hosts ``*.BASE``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from html import escape
from pathlib import Path

from aiohttp import web

from proxy import credentials
from proxy.cobrowse import session_page
from proxy.sessions import upstream_url
from rewriter.urls import UrlError, split_url
from sync.masking import MaskingPolicy
from sync.relay import LocalRelay
from sync.room import Room
from sync.ws import session_socket
from tandem import appkeys, events

from .pages import error_page

log = logging.getLogger("tandem.session")

BUILD = Path(__file__).resolve().parent / "static" / "build"
BUNDLES = {"session.js": "text/javascript", "session.css": "text/css", "panel.js": "text/javascript"}
RECORDER = BUILD / "recorder.js"
RECORD = BUILD / "record.js"  # loaded by the recorder only while someone watches
MISSING = b"/* Tandem bundle not built: run `make build` */\n"
TICK_INTERVAL = 1.0  # seconds between room clock ticks (presence grace, heartbeat timeouts)
ASSETS: web.AppKey[dict] = web.AppKey("sync_assets")


def _load(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes()
    log.error("bundle missing at %s: run `make build`", path)
    return MISSING


def _version(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


# -- URL mapping for rooms ------------------------------------------------------------------
def _mappers(app: web.Application, sid: str):
    base = app[appkeys.BASE]

    def to_proxy(url: str) -> str | None:
        session = app[appkeys.SESSIONS].cached(sid)
        if session is None:
            return None
        try:
            parts = split_url(url.strip(), page_scheme="")
        except UrlError:
            return None
        if parts is None or parts.scheme not in ("http", "https") or parts.lead or base.is_ours(parts.origin.host):
            return None
        try:
            return session.url_rewriter(base).to_proxy(url.strip())
        except UrlError:
            return None

    def to_upstream(proxied: str) -> str | None:
        session = app[appkeys.SESSIONS].cached(sid)
        return upstream_url(base, session, proxied) if session is not None else None

    return to_proxy, to_upstream


def make_relay(app: web.Application) -> LocalRelay:
    def make_room(sid: str, epoch: str) -> Room:
        session = app[appkeys.SESSIONS].cached(sid)
        to_proxy, to_upstream = _mappers(app, sid)
        def permissions() -> dict:  # read live: the control plane may change them during the session
            live = app[appkeys.SESSIONS].cached(sid)
            return getattr(live, "permissions", None) or {}

        return Room(sid, epoch=epoch, start_url=session.start_url if session else "", to_proxy=to_proxy,
                    to_upstream=to_upstream, permissions=permissions)

    def facts_of(sid: str):  # the room's facts, kept by the session's live state (tandem.live)
        session = app[appkeys.SESSIONS].cached(sid)
        return session.live.facts if session is not None and not session.ended else None

    def on_change(sid, room, before, after):
        room_events(app, sid, room, before, after)

    settings = app.get(appkeys.SETTINGS)
    if settings is not None and settings.redis_url:  # several nodes share rooms through Redis
        from tandem.cluster import cluster_relay

        return cluster_relay(app, make_room, facts_of, on_change)
    return LocalRelay(make_room, facts_of, on_change=on_change)


def room_events(app: web.Application, sid: str, room: Room, before: tuple, after: tuple) -> None:
    """The room's edge: leader, controller and presence changes become audited, webhooked events
    (the room calls this synchronously: each event is written by a task, in order)."""
    session = app[appkeys.SESSIONS].cached(sid)
    if session is None or session.ended:
        return

    def name(pid: str | None) -> str:
        p = room.participants.get(pid or "")
        return p.name if p is not None else ""

    (leader0, control0, present0), (leader1, control1, present1) = before, after
    if leader1 != leader0:
        events.emit_soon(app, "leader.changed", session, actor=name(leader1),
                    detail={"from": leader0, "to": leader1, "to_name": name(leader1)})
    if control1 != control0:
        events.emit_soon(app, "control.changed", session, actor=name(control1 or control0),
                    detail={"from": control0, "to": control1, "to_name": name(control1)})
    for pid in sorted(present0 - present1):
        events.emit_soon(app, "participant.left", session, actor=name(pid), detail={"pid": pid})


# -- who is asking --------------------------------------------------------------------------
async def _live_session(request: web.Request, sid: str):
    session = await request.app[appkeys.SESSIONS].get(sid)
    if session is None:
        return error_page(404, "No such session", "There is no co-browsing session at this address.", code="unknown_session")
    if session.ended:
        on_end = (session.branding or {}).get("on_end_url")
        if on_end:  # branding.on_end_url (checked at the API): where every participant goes at the end
            return web.Response(status=303, headers={"Location": on_end, "Cache-Control": "no-store",
                                                     "Referrer-Policy": "no-referrer"})
        return error_page(410, "This session has ended", "The co-browsing session is over. You can close this tab.",
                          code="session_ended")
    return session


async def identify(request: web.Request, sid: str):
    """(pid, credential role) of the caller, or the response refusing them."""
    session = await _live_session(request, sid)
    if isinstance(session, web.StreamResponse):
        return session
    who = credentials.participant(request, sid)
    if who is None:
        return error_page(403, "Join the session first", "Open the invite link you were sent to join this co-browsing session.",
                          code="not_a_participant", retry_url=(session.branding or {}).get("retry_url"))
    return who


# -- pages ----------------------------------------------------------------------------------
def _csp(app: web.Application, *, frame_ancestors: str) -> str:
    base = app[appkeys.BASE]
    proxied = f"{base.scheme}://*.{base.domain}"
    ws = ("wss" if base.scheme == "https" else "ws") + f"://{base.domain}"
    return (
        "default-src 'none'; script-src 'self'; "
        f"style-src 'self' 'unsafe-inline' {proxied}; img-src 'self' data: blob: {proxied}; "
        f"font-src 'self' data: {proxied}; media-src 'self' {proxied} blob:; connect-src 'self' {ws} {proxied}; "
        f"frame-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors {frame_ancestors}"
    )


def _document(app: web.Application, title: str, body_class: str, config: dict, *, script: str,
              frame_ancestors: str) -> web.Response:
    assets = app[ASSETS]
    css = f'<link rel=stylesheet href="/static/sync/session.css?v={assets["session.css"][1]}">'
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · Tandem</title>{css}</head>"
        f'<body class="{body_class}"><script type=application/json id=tandem-config>'
        f"{_json_for_html(config)}</script>"
        f'<div id=app aria-live=polite></div>'
        f'<script src="/static/sync/{script}?v={assets[script][1]}"></script></body></html>'
    )
    return web.Response(text=html, content_type="text/html", headers={
        "Cache-Control": "no-store", "Referrer-Policy": "same-origin",
        "Content-Security-Policy": _csp(app, frame_ancestors=frame_ancestors),
        "X-Content-Type-Options": "nosniff",
    })


def _json_for_html(obj: dict) -> str:
    return json.dumps(obj).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _config(request: web.Request, sid: str, pid: str) -> dict:
    base = request.app[appkeys.BASE]
    ws = ("wss" if base.scheme == "https" else "ws") + f"://{base.domain}/s/{sid}/ws"
    return {"sid": sid, "pid": pid, "ws": ws, "base": base.url, "session": session_page(request.app, sid),
            "branding": _branding(request, sid)}


def _branding(request: web.Request, sid: str) -> dict:
    """What the pages act on: naked (no chrome around the mirror), no_bottom_bar (no tab owner's bar),
    on_end (go to the session page at the end: it sends an ended session's participants to on_end_url)."""
    session = request.app[appkeys.SESSIONS].cached(sid)  # identify() has just loaded it
    b = (session.branding if session is not None else None) or {}
    return {"naked": bool(b.get("naked")), "no_bottom_bar": bool(b.get("no_bottom_bar")), "on_end": bool(b.get("on_end_url"))}


async def session_view(request: web.Request) -> web.StreamResponse:
    sid = request.match_info["sid"]
    who = await identify(request, sid)
    if isinstance(who, web.StreamResponse):
        return who
    pid, _role = who
    config = _config(request, sid, pid)
    return _document(request.app, "Co-browsing session", "session naked" if config["branding"]["naked"] else "session", config,
                     script="session.js",
                     frame_ancestors="'none'")


async def panel_view(request: web.Request) -> web.StreamResponse:
    sid = request.match_info["sid"]
    who = await identify(request, sid)
    if isinstance(who, web.StreamResponse):
        return who
    pid, _role = who
    base = request.app[appkeys.BASE]
    config = _config(request, sid, pid)
    return _document(request.app, "Session panel", "panel no-bar" if config["branding"]["no_bottom_bar"] else "panel", config,
                     script="panel.js",
                     frame_ancestors=f"{base.scheme}://*.{base.domain}")


async def left_view(request: web.Request) -> web.Response:
    from .pages import page

    return page("You left the session", "<h1>You left the co-browsing session</h1>"
                "<p>You can close this tab. To come back, open your invite link again.</p>")


async def socket(request: web.Request) -> web.StreamResponse:
    sid = request.match_info["sid"]

    async def who(req, sid_):
        result = await identify(req, sid_)
        if isinstance(result, web.StreamResponse):
            return web.json_response({"error": {"code": "not_a_participant", "message": "Join the session first."}},
                                     status=result.status)
        return result

    async def name_of(sid_: str, pid: str) -> str:
        """The name recorded when this participant was admitted (invite, PIN, console), if any."""
        store = request.app[appkeys.STORE]
        listed = getattr(store, "participants", None)
        if listed is None:
            return ""
        try:
            return next((p.name for p in reversed(await listed(sid_)) if p.pid == pid), "")
        except Exception:  # a store problem must not keep anyone out of the session
            log.exception("participant name lookup failed")
            return ""

    return await session_socket(request, relay=request.app[appkeys.SYNC], identify=who,
                                control_origin=request.app[appkeys.BASE].url, name_of=name_of)


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    asset = request.app[ASSETS].get(name)
    if asset is None:
        raise web.HTTPNotFound()
    data, version = asset
    cache = "public, max-age=31536000, immutable" if request.query.get("v") == version else "no-cache"
    return web.Response(body=data, content_type=BUNDLES[name], headers={"Cache-Control": cache,
                                                                          "X-Content-Type-Options": "nosniff"})


# -- wiring ---------------------------------------------------------------------------------
async def _ticker(app: web.Application):
    import asyncio

    relay = app[appkeys.SYNC]

    sessions = app[appkeys.SESSIONS]

    async def run() -> None:
        while True:
            await asyncio.sleep(TICK_INTERVAL)
            try:
                relay.tick(time.monotonic())
                for sid in relay.active_sessions():
                    session = await sessions.get(sid)
                    if session is None or session.ended:  # ended elsewhere (console, API): everyone out
                        relay.end(sid)
                        if session is not None:
                            session.cache.clear()
            except Exception:  # a bug in one tick must not stop presence for every room
                log.exception("room tick failed")

    task = asyncio.get_running_loop().create_task(run())
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


async def _going_away(app: web.Application) -> None:
    app[appkeys.SYNC].close_all("going_away", "The server is restarting.")


def setup(app: web.Application) -> None:
    app[appkeys.SYNC] = make_relay(app)
    if appkeys.MASKING not in app:  # the app factory normally sets the store-backed rules (admin pages, API)
        app[appkeys.MASKING] = MaskingPolicy()
    recorder = _load(RECORDER)
    app[appkeys.RECORDER] = recorder
    app[appkeys.RECORDER_VERSION] = _version(recorder)
    app[appkeys.RECORD] = _load(RECORD)
    app[ASSETS] = {name: (data, _version(data)) for name in BUNDLES for data in (_load(BUILD / name),)}
    app.cleanup_ctx.append(_ticker)
    app.on_shutdown.append(_going_away)
    app.router.add_get("/s/{sid}", session_view)
    app.router.add_get("/s/{sid}/panel", panel_view)
    app.router.add_get("/s/{sid}/ws", socket)
    app.router.add_get("/s/{sid}/left", left_view)
    app.router.add_get("/static/sync/{name}", static)

"""Reserved paths on proxied hosts: ``/__tandem/...`` is Tandem's, never the site's.

* ``runtime.js``: the browser runtime injected first into every proxied page.
* ``cookies``: ``document.cookie`` for the runtime, served from the session jar
  (GET reads non-HttpOnly cookies for ``?path=``, POST writes one cookie string).
  Writes must come from the same proxied origin, so one site in a session can no
  more set another site's cookies than it could outside Tandem.
"""

from __future__ import annotations

from aiohttp import web

from tandem import appkeys

from . import errors

MAX_COOKIE_WRITE = 8 * 1024  # a document.cookie assignment: the RFC's 4096 plus attributes, with room
NO_STORE = {"Cache-Control": "no-store"}


async def handle_reserved(request: web.Request, target) -> web.StreamResponse:
    name = request.path[len("/__tandem/"):]
    if name == "runtime.js" and request.method in ("GET", "HEAD"):
        return web.Response(
            body=request.app[appkeys.RUNTIME],
            content_type="text/javascript",
            headers={"Cache-Control": "public, max-age=31536000, immutable" if request.query.get("v") else "no-cache"},
        )
    if name == "recorder.js" and request.method in ("GET", "HEAD"):  # co-browsing recorder, after the runtime
        return web.Response(
            body=request.app[appkeys.RECORDER],
            content_type="text/javascript",
            headers={"Cache-Control": "public, max-age=31536000, immutable" if request.query.get("v") else "no-cache"},
        )
    if name == "cookies":
        return await _cookies(request, target)
    raise errors.UnknownHost("There is nothing at this reserved address.")


def _is_follower(request: web.Request, target) -> bool:
    from .cobrowse import FOLLOWER, live_role
    from .handler import _cookie_values

    sessions = request.app[appkeys.SESSIONS]
    who = sessions.participant(target.session.sid, _cookie_values(request, sessions.cookie_name(target.session.sid)))
    return who is None or live_role(request.app, target.session.sid, who) == FOLLOWER


def _same_origin(request: web.Request) -> bool:
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("Origin")
    return origin is not None and origin.split("://", 1)[-1] == request.host


async def _cookies(request: web.Request, target) -> web.StreamResponse:
    from .handler import _cookie_values

    sessions = request.app[appkeys.SESSIONS]
    if not sessions.check_credential(target.session.sid, _cookie_values(request, sessions.cookie_name(target.session.sid))):
        raise errors.NotParticipant("Not a participant of this session.")
    path = request.query.get("path", "/")
    if not path.startswith("/"):
        path = "/"
    url = target.origin.serialize() + path
    jar = target.session.jar
    if request.method == "GET":
        return web.Response(text=jar.script_read(url), content_type="text/plain", headers=NO_STORE)
    if request.method == "POST":
        if not _same_origin(request):
            return web.Response(status=403, text="cross-origin cookie write refused\n", headers=NO_STORE)
        if _is_follower(request, target):
            return web.Response(status=403, text="followers do not change the session's cookies\n", headers=NO_STORE)
        if request.content_length is not None and request.content_length > MAX_COOKIE_WRITE:
            raise errors.BodyTooLarge("Cookie string too long.")
        raw = await request.content.read(MAX_COOKIE_WRITE + 1)
        if len(raw) > MAX_COOKIE_WRITE:
            raise errors.BodyTooLarge("Cookie string too long.")
        jar.script_write(url, raw.decode("utf-8", "replace"))
        return web.Response(status=204, headers=NO_STORE)
    return web.Response(status=405, text="method not allowed\n", headers={"Allow": "GET, POST"})

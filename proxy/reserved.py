"""Reserved paths on proxied hosts: ``/__tandem/...`` is Tandem's, never the site's.

One routing table, :data:`ROUTES`: name -> (handler, who may call it).

* ``runtime.js``: the browser runtime injected first into every proxied page.
* ``recorder.js``: the co-browsing recorder, after the runtime.
* ``worker.js`` / ``sw.js``: the script a page's worker or service worker really
  starts from: it loads the runtime, then the site's script (``?src=``, which must
  be on the same proxied origin or a blob: of it, as the browser requires of the
  script itself). ``sw.js`` may control the whole origin (``Service-Worker-Allowed``).
* ``alias``: alias labels for the runtime. POST an upstream origin: the label
  (registered with the session); GET ``?hash=``: the origin an alias stands for.
* ``cookies``: ``document.cookie`` for the runtime, served from the session jar
  (GET reads non-HttpOnly cookies for ``?path=``, POST writes one cookie string).
  Writes must come from the same proxied origin, so one site in a session can no
  more set another site's cookies than it could outside Tandem.
* ``tunnel/<host>/<path>``: a page's WebSocket or EventSource to another host of its session,
  through the page's own host (:mod:`proxy.tunnel`); a prefix route (``"tunnel/"``).

Static scripts are open to anyone (they hold nothing); the data endpoints (the jar,
aliases) answer the tab owner only: never a follower, never a credential-less request.
Other modules add their own endpoints with :func:`route` (e.g. the credential hand-off).
"""

from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

from tandem import appkeys
from tandem.httpserver import read_capped

from . import entry, errors, tunnel
from .admit import LEADER, Admission

MAX_COOKIE_WRITE = 8 * 1024  # a document.cookie assignment: the RFC's 4096 plus attributes, with room
NO_STORE = {"Cache-Control": "no-store"}
ANYONE, TAB_OWNER = "anyone", "tab_owner"
Handler = Callable[[web.Request, Admission], Awaitable[web.StreamResponse]]
ROUTES: dict[str, tuple[Handler, str]] = {}


def route(name: str, handler: Handler, who: str = TAB_OWNER) -> None:
    """Serve ``/__tandem/<name>`` with ``handler(request, admission)``; ``who``: ANYONE or TAB_OWNER."""
    ROUTES[name] = (handler, who)


class ReservedDenied(errors.ProxyError):
    status, code, title = 403, "reserved_tab_owner_only", "Only the tab owner's page uses this"


async def handle_reserved(request: web.Request, adm: Admission) -> web.StreamResponse:
    name = adm.reserved or ""
    found = ROUTES.get(name) or ROUTES.get(name.partition("/")[0] + "/")  # "name/": a prefix route
    if found is None:
        raise errors.UnknownHost("There is nothing at this reserved address.")
    handler, who = found
    if who == TAB_OWNER and adm.role != LEADER:
        if adm.role == "anonymous":
            raise errors.NotParticipant("Not a participant of this session.")
        raise ReservedDenied("Followers watch the mirror; the tab owner's page data is not theirs to read.")
    return await handler(request, adm)


def _static(key, name: str) -> Handler:
    async def serve(request: web.Request, adm: Admission) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="method not allowed\n", headers={"Allow": "GET, HEAD"})
        return web.Response(
            body=request.app[key],
            # always UTF-8: without a charset a classic script is decoded in the page's encoding, and on
            # a UTF-16 page the runtime would not run at all (probe html-charset-utf16)
            content_type="text/javascript", charset="utf-8",
            headers={"Cache-Control": "public, max-age=31536000, immutable" if request.query.get("v") else "no-cache"},
        )

    serve.__name__ = f"serve_{name}"
    return serve


def _same_origin(request: web.Request) -> bool:
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("Origin")
    return origin is not None and origin.split("://", 1)[-1] == request.host


async def _cookies(request: web.Request, adm: Admission) -> web.StreamResponse:
    path = request.query.get("path", "/")
    if not path.startswith("/"):
        path = "/"
    url = adm.target.origin.serialize() + path
    jar = adm.session.jar
    if request.method == "GET":
        text, ttl = await jar.script_read_ttl(url)
        # how long the runtime may keep this read within one run of a script (viewer/runtime/cookies.js)
        keep = {"X-Tandem-Cookie-Ttl": str(int(min(ttl, 60.0) * 1000))}
        return web.Response(text=text, content_type="text/plain", headers=NO_STORE | keep)
    if request.method == "POST":
        if not _same_origin(request):
            return web.Response(status=403, text="cross-origin cookie write refused\n", headers=NO_STORE)
        if request.content_length is not None and request.content_length > MAX_COOKIE_WRITE:
            raise errors.BodyTooLarge("Cookie string too long.")
        raw = await read_capped(request, MAX_COOKIE_WRITE)
        if len(raw) > MAX_COOKIE_WRITE:
            raise errors.BodyTooLarge("Cookie string too long.")
        await jar.script_write(url, raw.decode("utf-8", "replace"))
        return web.Response(status=204, headers=NO_STORE)
    return web.Response(status=405, text="method not allowed\n", headers={"Allow": "GET, POST"})


# --- workers and aliases, for the browser runtime ------------------------------------

WORKER_WRAPPERS = ("worker.js", "sw.js")
MAX_ALIAS_BODY = 2048  # one serialised origin: scheme, a 253-char host (or IPv6), a port


def _worker_wrapper(request: web.Request, name: str) -> web.Response:
    """``importScripts`` (classic) or static ``import`` (module) of the runtime, then of ``src``."""
    import json

    base = request.app[appkeys.BASE]
    own = f"{base.scheme}://{request.host.lower()}/"
    src = request.query.get("src", "")
    if not (src.startswith(own) or src.startswith("blob:" + own)):
        return web.Response(status=400, text="bad_worker_src: the worker script must be on this origin\n",
                            headers=NO_STORE)
    runtime = json.dumps(f"/__tandem/runtime.js?v={request.app[appkeys.RUNTIME_VERSION]}")
    if request.query.get("t") == "module":
        body = f"import {runtime};\nimport {json.dumps(src)};\n"
    else:
        body = f"importScripts({runtime});\nimportScripts({json.dumps(src)});\n"
    headers = {"Cache-Control": "no-cache"}
    if name == "sw.js":
        headers["Service-Worker-Allowed"] = "/"
    return web.Response(text=body, content_type="text/javascript", headers=headers)


async def _alias(request: web.Request, adm: Admission) -> web.Response:
    from rewriter import labels
    from rewriter.urls import UrlError, split_url

    session = adm.session
    if request.method == "GET":
        origin = await session.aliases.lookup(request.query.get("hash", ""))
        if origin is None:
            return web.Response(status=404, text="unknown alias\n", headers=NO_STORE)
        return web.Response(text=origin.serialize(), content_type="text/plain", headers=NO_STORE)
    if request.method != "POST":
        return web.Response(status=405, text="method not allowed\n", headers={"Allow": "GET, POST"})
    raw = await read_capped(request, MAX_ALIAS_BODY)
    try:
        if len(raw) > MAX_ALIAS_BODY:
            raise UrlError("too long")
        parts = split_url(raw.decode("utf-8") + "/")
        if parts is None or parts.rest != "/" or parts.userinfo:
            raise UrlError("not an origin")
        label, is_alias = labels.encode(session.sid, parts.origin)
    except (UrlError, UnicodeError, ValueError):
        return web.Response(status=400, text="bad_origin: send one http(s) origin\n", headers=NO_STORE)
    if is_alias:
        session.register_alias(label.rsplit("-", 1)[1], parts.origin)
        await session.aliases.flush()  # durable (another node, a restart) before the page uses the label
    return web.Response(text=label, content_type="text/plain", headers=NO_STORE)


def _wrapper(name: str) -> Handler:
    async def serve(request: web.Request, adm: Admission) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="method not allowed\n", headers={"Allow": "GET, HEAD"})
        return _worker_wrapper(request, name)

    return serve


route("runtime.js", _static(appkeys.RUNTIME, "runtime"), ANYONE)
route("recorder.js", _static(appkeys.RECORDER, "recorder"), ANYONE)
route("record.js", _static(appkeys.RECORD, "record"), ANYONE)  # the recording, loaded by recorder.js while someone watches
for _name in WORKER_WRAPPERS:
    route(_name, _wrapper(_name), ANYONE)
route("cookies", _cookies)
route("alias", _alias)


def _hand_off(name: str) -> Handler:
    """``enter`` / ``hello``: how a host obtains its credential (proxy.entry), so open to anyone."""

    async def serve(request: web.Request, adm: Admission) -> web.StreamResponse:
        handed = await entry.reserved(request, adm.session.sid, name)
        if handed is None:
            return web.Response(status=405, text="method not allowed\n", headers={"Allow": "GET, HEAD"})
        return handed

    return serve


for _name in ("enter", "hello"):
    route(_name, _hand_off(_name), ANYONE)

# tunnel/<host>/<path>: a page's WebSocket or EventSource to another host of its session (proxy.tunnel)
route("tunnel/", tunnel.handle)

"""What co-browsing adds to the proxy's responses: the recorder tag, the followers' cache, error notices.

* Every proxied HTML page gets the recorder after the runtime, with the masking
  rules for its host and the address of the leader panel.
* What the tab owner fetched of the kinds a mirror loads is copied into the session's
  response cache as it streams (:class:`TeeResponse`); followers are answered from
  there first (:func:`from_cache`), one upstream fetch however many miss at once.
* Responses to followers are sealed (:func:`seal_for_follower`): never sniffed into
  something else, never run as a document, open to the mirror's origin.
* A top-level navigation of the tab owner that ends on an error page is told to the
  room, so followers see the same explanation (:func:`report_error`).

Who is a follower, and what a follower may have, is decided before any of this
(:mod:`proxy.admit`, :mod:`proxy.decide`); nothing here reads a credential.
"""

from __future__ import annotations

import functools
from html import escape

from aiohttp import web

from sync.resources import css_urls
from tandem import appkeys

from . import errors
from .cache import KEPT_HEADERS, Collector, Entry, mirror_type

RECORDER_TAG = ('<script defer src="/__tandem/recorder.js?v={version}" data-panel="{panel}"'
                ' data-mask="{mask}" data-block="{block}"></script>')
# On every response to a follower: the browser takes it for what its type says, and if it
# is ever opened as a document (an SVG, say), it runs nothing and reaches nothing.
FOLLOWER_SEAL = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox; default-src 'none'; "
                 "img-src data:; style-src 'unsafe-inline'; font-src data:; media-src data:"}


def session_page(app: web.Application, sid: str) -> str:
    return f"{app[appkeys.BASE].url}/s/{sid}"


def seal_for_follower(headers) -> None:
    for k, v in FOLLOWER_SEAL.items():
        headers[k] = v


def allow_control_plane(request: web.Request, headers) -> None:
    """The mirror is a document of the control plane: its font loads (and crossorigin images)
    are CORS requests from BASE, which the leader's mapped Access-Control-Allow-Origin does not name;
    the session page reads SVG sprites with the follower's credential (viewer/mirror/sprites.js).
    Only ever the control plane's origin, and only on what the follower wall lets a follower have."""
    base_origin = request.app[appkeys.BASE].url
    if request.headers.get("Origin") == base_origin:
        headers["Access-Control-Allow-Origin"] = base_origin
        headers["Access-Control-Allow-Credentials"] = "true"
        headers["Vary"] = "Origin"


def from_cache(request: web.Request, entry: Entry) -> web.Response:
    resp = web.Response(status=entry.status, body=b"" if request.method == "HEAD" else entry.body)
    for k, v in entry.headers:
        resp.headers[k] = v
    resp.headers["X-Tandem-Cache"] = "hit"
    seal_for_follower(resp.headers)
    allow_control_plane(request, resp.headers)
    if request.method == "HEAD":
        resp.headers["Content-Length"] = str(len(entry.body))
    return resp


class UpstreamResponse(web.StreamResponse):
    """An upstream answer on its way to the browser; for a follower, open to the mirror's origin."""

    def __init__(self, *, follower: bool = False, **kw):
        super().__init__(**kw)
        self._follower = follower

    async def prepare(self, request: web.BaseRequest):
        if self._follower:
            allow_control_plane(request, self.headers)
        return await super().prepare(request)


class TeeResponse(UpstreamResponse):
    """Streams to the browser and copies what it sent into the session cache once complete."""

    def __init__(self, collector: Collector, **kw):
        super().__init__(**kw)
        self._collector = collector

    async def write(self, data) -> None:
        self._collector.feed(bytes(data))
        await super().write(data)

    async def write_eof(self, data: bytes = b"") -> None:
        if data:
            self._collector.feed(bytes(data))
        await super().write_eof(data)
        self._collector.headers = [(k, v) for k, v in self.headers.items() if k.title() in KEPT_HEADERS]
        self._collector.done()


def cache_response(request: web.Request, session, key: str, status: int, reason: str | None,
                   content_type: str, attachment: bool, follower: bool = False) -> web.StreamResponse:
    """The response object for an upstream answer: a tee into the cache when followers may want it."""
    collector = None
    if not attachment and mirror_type(content_type):
        collector = session.cache.collector(key, request.method, status, [("Content-Type", content_type)])
    if collector is None:
        return UpstreamResponse(status=status, reason=reason, follower=follower)
    return TeeResponse(collector, status=status, reason=reason, follower=follower)


async def note_mirror_refs(request: web.Request, adm, status: int, headers, body: bytes = b"") -> None:
    """A follower is served ``adm``'s URL (allowed: the mirror uses it). What it leads to may be loaded
    too: the URLs a stylesheet references, where a redirect goes (sync/resources.py)."""
    relay = request.app.get(appkeys.SYNC)
    if relay is None or adm.role != "follower":
        return
    found = {k.title(): v for k, v in headers}
    if 300 <= status < 400 and found.get("Location"):
        urls = [found["Location"]]
    elif found.get("Content-Type", "").split(";", 1)[0].strip().lower() == "text/css" and body:
        urls = css_urls(body.decode("latin-1"))  # URL syntax is ASCII; the bytes stay as they are
    else:
        return
    await relay.mirror_refs(adm.session.sid, adm.upstream_url, urls)


def recorder_tag(request: web.Request, sid: str, host: str) -> str:
    app = request.app
    masking = app.get(appkeys.MASKING)
    mask, block = masking.rules_for(host) if masking is not None else ((), ())
    return _recorder_tag(app.get(appkeys.RECORDER_VERSION, "0"), session_page(app, sid), mask, block)


@functools.lru_cache(maxsize=256)  # pure: the same few sessions and rules on every page
def _recorder_tag(version: str, session: str, mask: tuple[str, ...], block: tuple[str, ...]) -> str:
    return RECORDER_TAG.format(version=version, panel=escape(session + "/panel"), mask=escape(", ".join(mask)),
                               block=escape(", ".join(block)))


def report_error(request: web.Request, adm, exc: errors.ProxyError) -> None:
    """A top-level navigation of the tab owner ended on an error page: tell the room, so followers
    see the same clear explanation instead of a mirror that silently stopped."""
    if adm is None or adm.role != "leader" or not adm.top_level or request.method not in ("GET", "POST"):
        return
    relay = request.app.get(appkeys.SYNC)
    if relay is None:
        return
    url = f"{request.app[appkeys.BASE].scheme}://{request.host}{request.raw_path}"
    relay.page_error(adm.session.sid, adm.pid, exc.code, exc.title, exc.message, url)

"""What co-browsing adds to the proxy: live roles, follower rules, the recorder tag, the response cache tee.

* A participant's *live* role comes from the session's room (leadership moves);
  a participant the room has not met yet has the role its credential carries.
* Followers never run the site: a navigation to a proxied page sends them to the
  session page (the mirror); they may only GET resources, served from the
  session's response cache first (one upstream fetch however many miss at once),
  never open the site's WebSockets and never change the cookie jar.
* Every proxied HTML page gets the recorder after the runtime, with the masking
  rules for its host and the address of the leader panel.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

from tandem import appkeys

from . import credentials, errors
from .cache import KEPT_HEADERS, Collector, ResponseCache, mirror_type

FOLLOWER = "follower"
FOLLOWER_REQUEST: web.RequestKey[bool] = web.RequestKey("tandem_follower_request", bool)
SUBRESOURCE_DESTS = frozenset({"image", "style", "font", "audio", "video", "track"})  # what a mirror loads
RECORDER_TAG = ('<script defer src="/__tandem/recorder.js?v={version}" data-panel="{panel}"'
                ' data-mask="{mask}" data-block="{block}"></script>')


class FollowerOnly(errors.ProxyError):
    status, code, title = 403, "follower_read_only", "Only the tab owner acts on the site"


def live_role(app: web.Application, sid: str, who: tuple[str, str]) -> str:
    pid, credential_role = who
    relay = app.get(appkeys.SYNC)
    role = relay.role_of(sid, pid) if relay is not None else None
    return role or credential_role


def session_page(app: web.Application, sid: str) -> str:
    return f"{app[appkeys.BASE].url}/s/{sid}"


async def follower_request(request: web.Request, target) -> web.StreamResponse:
    """A follower's request on a proxied host: mirror resources only."""
    from .handler import forward, is_navigation

    sid = target.session.sid
    if request.headers.get("Upgrade", "").lower() == "websocket":
        raise FollowerOnly("Followers watch the tab owner's page; they do not open the site's connections.")
    if is_navigation(request):
        # The follower's place is the mirror: send them there instead of running the site twice.
        return web.Response(status=303, headers={"Location": session_page(request.app, sid), "Cache-Control": "no-store"})
    if request.method not in ("GET", "HEAD"):
        raise FollowerOnly("Followers cannot send data to the site; ask for control and act through the tab owner's page.")
    if request.headers.get("Sec-Fetch-Dest", "") not in SUBRESOURCE_DESTS:
        raise FollowerOnly("Followers load only the images, styles and fonts of the mirrored page.")
    cache: ResponseCache = target.session.cache
    key = target.origin.serialize() + request.raw_path
    pending = cache.inflight(key)
    if pending is not None:
        await pending
    entry = cache.get(key)
    if entry is not None:
        return _from_cache(request, entry)
    fut = cache.begin(key)
    try:
        request[FOLLOWER_REQUEST] = True
        return await forward(request, target)
    finally:
        cache.finish(key, fut)


def _from_cache(request: web.Request, entry) -> web.Response:
    resp = web.Response(status=entry.status, body=b"" if request.method == "HEAD" else entry.body)
    for k, v in entry.headers:
        resp.headers[k] = v
    resp.headers["X-Tandem-Cache"] = "hit"
    _allow_control_plane(request, resp.headers)
    if request.method == "HEAD":
        resp.headers["Content-Length"] = str(len(entry.body))
    return resp


def _allow_control_plane(request: web.Request, headers) -> None:
    """The mirror is a document of the control plane: its font loads (and crossorigin images)
    are CORS requests from BASE, which the leader's mapped Access-Control-Allow-Origin does not name."""
    base_origin = request.app[appkeys.BASE].url
    if request.headers.get("Origin") == base_origin:
        headers["Access-Control-Allow-Origin"] = base_origin
        headers["Vary"] = "Origin"


class UpstreamResponse(web.StreamResponse):
    """An upstream answer on its way to the browser; for a follower, open to the mirror's origin."""

    async def prepare(self, request: web.BaseRequest):
        if request.get(FOLLOWER_REQUEST):
            _allow_control_plane(request, self.headers)
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
                   content_type: str, attachment: bool) -> web.StreamResponse:
    """The response object for an upstream answer: a tee into the cache when followers may want it."""
    collector = None
    if not attachment and mirror_type(content_type):
        collector = session.cache.collector(key, request.method, status, [("Content-Type", content_type)])
    if collector is None:
        return UpstreamResponse(status=status, reason=reason)
    return TeeResponse(collector, status=status, reason=reason)


def recorder_tag(request: web.Request, sid: str, host: str) -> str:
    app = request.app
    masking = app.get(appkeys.MASKING)
    mask, block = masking.rules_for(host) if masking is not None else ((), ())
    return RECORDER_TAG.format(
        version=app.get(appkeys.RECORDER_VERSION, "0"),
        panel=escape(session_page(app, sid) + "/panel"),
        mask=escape(", ".join(mask)),
        block=escape(", ".join(block)),
    )


def report_error(request: web.Request, exc: errors.ProxyError) -> None:
    """A top-level navigation of the tab owner ended on an error page: tell the room, so followers
    see the same clear explanation instead of a mirror that silently stopped."""
    if request.headers.get("Sec-Fetch-Dest", "document") != "document" or request.method not in ("GET", "POST"):
        return
    from .handler import is_navigation

    if not is_navigation(request):
        return
    relay = request.app.get(appkeys.SYNC)
    label = request.app[appkeys.BASE].label_of_host(request.host)
    if relay is None or label is None:
        return
    try:
        from rewriter.labels import decode

        sid = decode(label).sid
    except Exception:  # a malformed label has no room to tell
        return
    who = credentials.participant(request, sid)
    if who is None or live_role(request.app, sid, who) == FOLLOWER:
        return
    url = f"{request.app[appkeys.BASE].scheme}://{request.host}{request.raw_path}"
    relay.page_error(sid, who[0], exc.code, exc.title, exc.message, url)

"""Requests on proxied hosts (``LABEL.BASE``): route, check, forward, rewrite or stream back.

Order of checks for every request: the label decodes and names a live session;
reserved ``/__tandem/`` paths are served here; the participant credential is
valid; the allowlist permits the site; the address guard permits the host. Then
the request goes upstream with rebuilt headers and the session jar's cookies, and
the response comes back through the header table: HTML and CSS are rewritten
(HTML as a stream), everything else is streamed through untouched, compressed or
not, ``Range``/``206`` included.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from dataclasses import dataclass

import aiohttp
import brotli
from aiohttp import web
from yarl import URL

from rewriter.cookies import RequestContext
from rewriter.cache import RewriteCache
from rewriter.css import rewrite_css, rewrite_css_bytes
from rewriter.headers import browser_response_headers, upstream_request_headers
from rewriter.html import HtmlRewriter
from rewriter.js import js_rewriter, rewrite_js_bytes
from rewriter.manifest import rewrite_manifest
from rewriter.labels import LabelError, Origin, decode
from rewriter.urls import UrlError, UrlRewriter, split_url
from tandem import appkeys
from viewer.pages import error_page

from . import cobrowse, cors, credentials, entry, errors, guard
from .egress import EGRESS
from .sessions import Session, upstream_url
from .upstream import classify
from .watchdog import IdleWatchdog
from .wsrelay import relay_websocket

log = logging.getLogger("tandem.proxy")

RESERVED_PREFIX = "/__tandem/"
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
CSS_TYPES = frozenset({"text/css"})
# Scripts (classic and module: the MIME type does not tell them apart) and web app manifests.
JS_TYPES = frozenset({"application/javascript", "text/javascript", "application/x-javascript",
                      "text/ecmascript", "application/ecmascript", "text/x-javascript"})
MANIFEST_TYPES = frozenset({"application/manifest+json"})
# Documents the HTML rewriter reads as XML (every element is markup, CDATA anywhere).
XML_DOC_TYPES = frozenset({"application/xhtml+xml", "image/svg+xml"})
# Rewritten stylesheets and scripts, by content hash and URL mapping (rewriter/cache.py).
REWRITE_CACHE = RewriteCache()
# Bodies above this are rewritten on a worker thread: a 1 MB script takes ~0.1 s to parse.
OFFLOAD_BYTES = 64 * 1024
_BUFFERED = {"css": rewrite_css_bytes, "js": rewrite_js_bytes}
NO_BODY_STATUSES = frozenset({204, 304})


@dataclass
class Target:
    session: Session
    origin: Origin
    label: str

    @property
    def host(self) -> str:
        return self.origin.host


def resolve_target(request: web.Request) -> Target:
    base = request.app[appkeys.BASE]
    label = base.label_of_host(request.host)
    if label is None:
        raise errors.UnknownHost("This address is not a Tandem co-browsing address.")
    try:
        decoded = decode(label)
    except LabelError as exc:
        raise errors.UnknownHost("This co-browsing address is malformed.", detail=str(exc)) from exc
    session = request.app[appkeys.SESSIONS].get(decoded.sid)
    if session is None:
        raise errors.UnknownHost("There is no co-browsing session at this address.")
    if session.ended:
        raise errors.SessionGone("The agent or the customer ended this session. You can close this tab.")
    origin = session.origin_of(decoded)
    if origin is None:
        raise errors.UnknownHost("This address belongs to a site the session has not visited.")
    return Target(session, origin, label)


def is_navigation(request: web.Request) -> bool:
    mode = request.headers.get("Sec-Fetch-Mode")
    if mode is not None:
        return mode == "navigate"
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


def error_response(request: web.Request, exc: errors.ProxyError) -> web.StreamResponse:
    base_url = request.app[appkeys.BASE].url
    if is_navigation(request):
        return error_page(exc.status, exc.title, exc.message, code=exc.code, detail=exc.detail, base_url=base_url)
    return web.Response(status=exc.status, text=f"{exc.code}: {exc.message}\n", headers={"Cache-Control": "no-store"})


class Mapper:
    """The URL mappings one proxied request needs, both directions."""

    def __init__(self, request: web.Request, target: Target):
        self.base = request.app[appkeys.BASE]
        self.target = target
        self.page_url = target.origin.serialize() + request.raw_path
        self.urls: UrlRewriter = target.session.url_rewriter(self.base, self.page_url)

    def to_upstream(self, proxied: str) -> str | None:
        return upstream_url(self.base, self.target.session, proxied)

    def to_proxy_origin(self, upstream_origin: str) -> str | None:
        try:
            parts = split_url(upstream_origin)
        except UrlError:
            return None
        return self.urls.proxy_origin(parts.origin) if parts else None


def _initiator(request: web.Request, mapper: Mapper) -> str | None:
    for name in ("Origin", "Referer"):
        value = request.headers.get(name)
        if value and value != "null":
            return mapper.to_upstream(value)
    return None


async def handle(request: web.Request) -> web.StreamResponse:
    try:
        target = resolve_target(request)
        if request.path.startswith(RESERVED_PREFIX):
            from .reserved import handle_reserved

            return await handle_reserved(request, target)
        who = credentials.participant(request, target.session.sid)
        if who is None:
            if entry.wants_hand_off(request):  # this host has no credential yet: the control plane mints one
                return entry.hand_off(request, target.session.sid)
            if cors.anonymous_cors(request, target.session.sid):  # cookieless by the browser's own rules
                request[cors.ANONYMOUS] = True
                return await forward(request, target)
            raise errors.NotParticipant("Open the invite link you were sent to join this co-browsing session.")
        if cobrowse.live_role(request.app, target.session.sid, who) == cobrowse.FOLLOWER:
            return await cobrowse.follower_request(request, target)
        return await forward(request, target)
    except errors.ProxyError as exc:
        cobrowse.report_error(request, exc)  # the tab owner's page failed: followers are told why
        return error_response(request, exc)


def _check_allowed(request: web.Request, target: Target, mapper: Mapper, navigation: bool) -> None:
    allowlist = request.app[appkeys.ALLOWLIST]
    if navigation:
        ok = allowlist.allows_navigation(target.host)
    else:
        referer = request.headers.get("Referer")
        page = mapper.to_upstream(referer) if referer else None
        page_host = split_url(page).origin.host if page else None
        ok = allowlist.allows_subresource(target.host, page_host)
    if not ok:
        raise errors.NotAllowed(
            f"{target.host} is not on this Tandem server's list of sites that may be co-browsed.",
            detail="Ask your administrator to add it to the allowlist.",
        )


def _allowlist_redirect(request: web.Request, target: Target, mapper: Mapper, navigation: bool) -> web.Response | None:
    """A navigation to a host whose allowlist entry carries a redirect goes there instead, through the proxy."""
    if not navigation:
        return None
    entry = request.app[appkeys.ALLOWLIST].entry_for(target.host)
    if entry is None or not entry.redirect:
        return None
    try:
        location = mapper.urls.to_proxy(entry.redirect)
    except UrlError:
        return None
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


def _request_body(request: web.Request, limit: int, watchdog: IdleWatchdog | None = None):
    """None, or an async generator streaming the body up, refusing more than ``limit`` bytes."""
    length = request.content_length
    if length is not None and length > limit:
        raise errors.BodyTooLarge(f"The request body is {length} bytes; the limit is {limit}.")
    if not request.body_exists:
        return None

    async def stream():
        total = 0
        async for chunk in request.content.iter_any():
            if watchdog is not None:
                watchdog.progress()
            total += len(chunk)
            if total > limit:
                raise errors.BodyTooLarge(f"The request body exceeds the limit of {limit} bytes.")
            yield chunk

    return stream()


def _decoder(encoding: str):
    """A streaming decoder for Content-Encoding, or None if unsupported. Returns (feed, flush)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return (lambda b: b), (lambda: b"")
    if encoding in ("gzip", "x-gzip"):
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return d.decompress, d.flush
    if encoding == "deflate":
        state: dict[str, object] = {}

        def feed(b: bytes) -> bytes:
            if "d" not in state:  # RFC 9110 says zlib-wrapped; some servers send raw deflate
                state["d"] = zlib.decompressobj(zlib.MAX_WBITS if b[:1] and (b[0] & 0x0F) == 8 else -zlib.MAX_WBITS)
            return state["d"].decompress(b)

        return feed, (lambda: state["d"].flush() if "d" in state else b"")
    if encoding == "br":
        d = brotli.Decompressor()
        return d.process, (lambda: b"")
    return None


def _charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        k, _, v = param.strip().partition("=")
        if k.strip().lower() == "charset":
            return v.strip().strip("\"'") or None
    return None


async def forward(request: web.Request, target: Target) -> web.StreamResponse:
    app = request.app
    settings = app[appkeys.SETTINGS]
    mapper = Mapper(request, target)
    navigation = is_navigation(request)
    redirect = _allowlist_redirect(request, target, mapper, navigation)
    if redirect is not None:
        return redirect
    _check_allowed(request, target, mapper, navigation)
    try:
        guard.check_host(target.host, settings.allow_private)
    except guard.AddressBlocked as exc:
        raise classify(exc, target.host) from exc

    upstream_url = mapper.page_url
    jar = target.session.jar
    ctx = RequestContext.from_urls(
        upstream_url,
        _initiator(request, mapper) if request.headers.get("Sec-Fetch-Site") != "none" else None,
        method=request.method,
        top_level_navigation=navigation and request.headers.get("Sec-Fetch-Dest", "document") == "document",
    )
    headers = upstream_request_headers(
        request.headers.items(),
        upstream=target.origin,
        to_upstream=mapper.to_upstream,
        cookie=None if request.get(cors.ANONYMOUS) else await jar.cookie_header(upstream_url, ctx),
    )
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await relay_websocket(request, target, mapper, headers)

    watchdog = IdleWatchdog(settings.read_timeout)
    try:
        return await _exchange(request, target, mapper, headers, ctx, watchdog)
    finally:
        watchdog.stop()


async def _exchange(request, target: Target, mapper: Mapper, headers, ctx, watchdog: IdleWatchdog) -> web.StreamResponse:
    app = request.app
    settings = app[appkeys.SETTINGS]
    upstream_url = mapper.page_url
    jar = target.session.jar
    body = _request_body(request, settings.max_request_body, watchdog)
    if body is not None and request.content_length is not None:
        headers.append(("Content-Length", str(request.content_length)))
    # Silence is bounded by the watchdog, not sock_read (see proxy/watchdog.py for why).
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=settings.connect_timeout, sock_read=None)
    route = app[EGRESS].route(target.origin.scheme, target.host, target.origin.port)  # direct or via --upstream-proxy
    try:
        up_cm = route.client.request(
            request.method, URL(upstream_url, encoded=True), headers=headers, data=body,
            allow_redirects=False, timeout=timeout, **route.options,
        )
        up = await up_cm.__aenter__()
        watchdog.progress()
    except errors.ProxyError:
        raise
    except asyncio.CancelledError:
        if not watchdog.absorb():
            raise
        log.warning("upstream %s %s failed: timeout", request.method, target.origin)
        raise classify(asyncio.TimeoutError(), target.host, route.proxy) from None  # names the proxy, if any
    except Exception as exc:  # every client failure becomes a clear error
        if isinstance(getattr(exc, "__cause__", None), errors.ProxyError):
            raise exc.__cause__ from exc
        err = classify(exc, target.host, route.proxy)
        log.warning("upstream %s %s failed: %s (%s)", request.method, target.origin, err.code, type(exc).__name__)
        raise err from exc
    try:
        route.check_response(up.status)  # a 407 from the outbound proxy is Tandem's problem, not the page's
        set_cookies = up.headers.getall("Set-Cookie", [])
        # followers never change the jar; nor does a response to a cookieless request
        if set_cookies and not request.get(cobrowse.FOLLOWER_REQUEST) and not request.get(cors.ANONYMOUS):
            await jar.set_from_response(upstream_url, set_cookies, ctx)
        return await _respond(request, up, mapper, settings, watchdog)
    finally:
        await up_cm.__aexit__(None, None, None)


async def _chunks(up: aiohttp.ClientResponse, watchdog: IdleWatchdog):
    """The upstream body as it arrives (no re-slicing copies), reporting progress to the watchdog."""
    async for chunk in up.content.iter_any():
        watchdog.progress()
        yield chunk
        watchdog.progress()  # the browser took it: a slow reader is not a silent upstream


async def _respond(request: web.Request, up: aiohttp.ClientResponse, mapper: Mapper, settings,
                   watchdog: IdleWatchdog) -> web.StreamResponse:
    out_headers = browser_response_headers(up.headers.items(), urls=mapper.urls, to_proxy_origin=mapper.to_proxy_origin)
    content_type = up.headers.get("Content-Type", "")
    mime = content_type.split(";", 1)[0].strip().lower()
    encoding = up.headers.get("Content-Encoding", "")
    decoder = _decoder(encoding)
    attachment = up.headers.get("Content-Disposition", "").lower().startswith("attachment")
    has_body = request.method != "HEAD" and up.status not in NO_BODY_STATUSES and up.status >= 200
    rewrite = None
    if has_body and decoder is not None and not attachment and up.status != 206:
        if mime in HTML_TYPES or (mime in XML_DOC_TYPES and request.headers.get("Sec-Fetch-Dest") != "image"):
            rewrite = "html"  # an SVG loaded as an image runs no script and loads nothing: as it is
        elif mime in CSS_TYPES:
            rewrite = "css"
        elif mime in JS_TYPES:
            rewrite = "js"
        elif mime in MANIFEST_TYPES or (mime == "application/json" and request.headers.get("Sec-Fetch-Dest") == "manifest"):
            rewrite = "manifest"

    resp = cobrowse.cache_response(request, mapper.target.session, mapper.page_url, up.status, up.reason, content_type, attachment)
    for k, v in out_headers:
        resp.headers.add(k, v)
    try:
        if rewrite == "html":
            await _stream_html(request, resp, _chunks(up, watchdog), mapper, decoder, _charset(content_type),
                               xml=mime in XML_DOC_TYPES)
        elif rewrite is not None:
            await _send_rewritten(request, resp, _chunks(up, watchdog), mapper, decoder, _charset(content_type),
                                  settings.max_rewrite_body, rewrite)
        else:
            # A HEAD for a type we would rewrite must not promise the upstream's length.
            rewritable = mime in HTML_TYPES or mime in CSS_TYPES or mime in JS_TYPES or mime in XML_DOC_TYPES
            await _stream_raw(request, resp, up, _chunks(up, watchdog) if has_body else None,
                              keep_length=has_body or not rewritable)
    except (aiohttp.ClientError, asyncio.TimeoutError, asyncio.CancelledError, zlib.error, brotli.error) as exc:
        if isinstance(exc, asyncio.CancelledError):
            if not watchdog.absorb():
                raise
            exc = asyncio.TimeoutError()
        if request.transport is None or request.transport.is_closing():
            log.debug("browser left during %s", mapper.target.origin)  # not an upstream fault
            return resp
        err = classify(exc, mapper.target.host)
        if not resp.prepared:
            log.warning("upstream %s body failed: %s", mapper.target.origin, err.code)
            return error_response(request, err)
        # Headers are out: the only honest signal left is to cut the connection short.
        log.warning("upstream %s failed mid-body: %s; connection cut", mapper.target.origin, err.code)
        if request.transport is not None:
            request.transport.abort()
    return resp


async def _stream_raw(request, resp, up, chunks, keep_length=True) -> None:
    for name in ("Content-Encoding", "Content-Length") if keep_length else ("Content-Encoding",):
        if name in up.headers:
            resp.headers[name] = up.headers[name]
    await resp.prepare(request)
    if chunks is not None:
        async for chunk in chunks:
            await resp.write(chunk)
    await resp.write_eof()


INJECT_TEMPLATE = '<script src="/__tandem/runtime.js?v={version}"></script>'


async def _stream_html(request, resp, chunks, mapper: Mapper, decoder, charset, xml: bool = False) -> None:
    feed, flush = decoder
    version = request.app[appkeys.RUNTIME_VERSION]
    urls = mapper.urls
    inject = INJECT_TEMPLATE.format(version=version) + cobrowse.recorder_tag(request, mapper.target.session.sid, mapper.target.host)
    rw = HtmlRewriter(urls, inject=inject, charset=charset,
                      css=lambda text: rewrite_css(text, urls))
    rw.js, rw.xml = js_rewriter(urls), xml
    await resp.prepare(request)
    async for chunk in chunks:
        out = rw.feed(feed(chunk))
        if out:
            await resp.write(out)
    tail = rw.feed(flush()) + rw.close()
    if tail:
        await resp.write(tail)
    await resp.write_eof()


async def _send_rewritten(request, resp, chunks, mapper: Mapper, decoder, charset, limit: int, kind: str) -> None:
    """Buffer a stylesheet, script or manifest, rewrite it (cached by content), send it with its length."""
    feed, flush = decoder
    buf = bytearray()
    async for chunk in chunks:
        buf += feed(chunk)
        if len(buf) > limit:  # too big to rewrite in memory: send what we have and stream the rest
            await resp.prepare(request)
            await resp.write(bytes(buf))
            async for more in chunks:
                await resp.write(feed(more))
            await resp.write(flush())
            await resp.write_eof()
            return
    buf += flush()
    data, urls = bytes(buf), mapper.urls
    if kind == "manifest":
        body = rewrite_manifest(data, urls)
    else:
        rewrite = _BUFFERED[kind]

        def run() -> bytes:
            return REWRITE_CACHE.get_or_rewrite(kind, data, urls, lambda: rewrite(data, urls, charset), charset)

        body = await asyncio.get_running_loop().run_in_executor(None, run) if len(data) > OFFLOAD_BYTES else run()
    resp.content_length = len(body)
    await resp.prepare(request)
    await resp.write(body)
    await resp.write_eof()

"""Stage 4 of the proxy pipeline: respond. What the upstream answered, on its way to the browser.

Two tables drive it, in the manner of pywb's ``default_rewriter.py``:

* :data:`KINDS`: a response's media type (or, without one, its first bytes) to what it
  *is* (document, script, JSON, style, image, font, media, other). :mod:`proxy.decide`
  decides on that, never on what the request said it wanted.
* :data:`REWRITERS`: a media type to the rewriter its body goes through (HTML as a
  stream; CSS, JS and manifests buffered). Everything else streams through untouched,
  compressed or not, ``Range``/``206`` included.

Bodies that are rewritten are decoded first under a budget (:mod:`proxy.decoding`); the
HTML rewriter is given the page's charset label only when it names a real encoding (a
bogus label means none, as in browsers) and reads UTF-16 and other ASCII-incompatible
pages itself. A rewriter that fails (raises, or gives up and would pass the page
through) fails the response closed: an error page when nothing was sent yet, a cut
connection otherwise. Never the page unproxied.

The tab owner's mirror resources are copied into the session's response cache while
they stream (:mod:`proxy.cobrowse`); followers are served from there first.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass

import aiohttp
import webencodings
from aiohttp import web

from rewriter.cache import RewriteCache
from rewriter.css import CssRewriter, rewrite_css_bytes
from rewriter.headers import browser_response_headers, rewrite_csp
from rewriter.html import HtmlRewriter
from rewriter.js import js_rewriter, rewrite_js_bytes
from rewriter.manifest import rewrite_manifest
from rewriter.urls import sri_marker
from tandem import appkeys, metrics

from . import cobrowse, errors, sri
from .admit import FOLLOWER, LEADER, Admission
from .decide import DOCUMENT, FONT, IMAGE, JSON, MEDIA, OTHER, REDIRECT, SCRIPT, STYLE, UPGRADE
from .decoding import Decoder, parse_encodings
from .upstream import classify
from .watchdog import IdleWatchdog

log = logging.getLogger("tandem.proxy")

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Documents the HTML rewriter reads as XML (every element is markup, CDATA anywhere).
XML_DOC_TYPES = frozenset({"application/xhtml+xml", "image/svg+xml"})
JS_TYPES = frozenset({"application/javascript", "text/javascript", "application/x-javascript",
                      "text/ecmascript", "application/ecmascript", "text/x-javascript"})
MANIFEST_TYPES = frozenset({"application/manifest+json"})

# media type -> what the response is. Exact types first, then prefixes.
KINDS: dict[str, str] = {
    **{t: DOCUMENT for t in ("text/html", "application/xhtml+xml", "text/xml", "application/xml", "text/xsl",
                             "application/xslt+xml", "multipart/x-mixed-replace", "application/pdf")},
    **{t: SCRIPT for t in JS_TYPES}, "text/jscript": SCRIPT, "application/wasm": SCRIPT,
    "application/json": JSON, "text/json": JSON, "application/manifest+json": JSON,
    "text/css": STYLE,
    "image/svg+xml": IMAGE,  # as an image it runs nothing; navigated to, it is rewritten like a page
    "application/vnd.ms-fontobject": FONT, "application/font-woff": FONT, "application/font-woff2": FONT,
    "application/x-font-ttf": FONT, "application/x-font-otf": FONT, "application/x-font-woff": FONT,
    "application/font-sfnt": FONT, "application/x-font-opentype": FONT,
    "text/vtt": MEDIA, "application/ogg": MEDIA,
}
KIND_PREFIXES = (("image/", IMAGE), ("font/", FONT), ("audio/", MEDIA), ("video/", MEDIA))
# Without a Content-Type: the first bytes (what browsers sniff for), as few as tell.
SNIFF_BYTES = 512
MAGIC = (
    (b"\x89PNG\r\n\x1a\n", IMAGE), (b"\xff\xd8\xff", IMAGE), (b"GIF87a", IMAGE), (b"GIF89a", IMAGE),
    (b"RIFF", IMAGE), (b"\x00\x00\x01\x00", IMAGE),
    (b"wOFF", FONT), (b"wOF2", FONT), (b"\x00\x01\x00\x00", FONT), (b"OTTO", FONT), (b"true", FONT),
    (b"OggS", MEDIA), (b"ID3", MEDIA), (b"\x1a\x45\xdf\xa3", MEDIA), (b"fLaC", MEDIA),
)
HTML_SNIFF = (b"<!doctype html", b"<html", b"<head", b"<script", b"<iframe", b"<body", b"<svg", b"<?xml",
              b"<!--", b"<h1", b"<div", b"<a ", b"<table", b"<p", b"<style", b"<title", b"<font", b"<br", b"<b ")

# media type -> rewriter for the body (kinds not here stream through as they are)
REWRITERS: dict[str, str] = {
    **{t: "html" for t in HTML_TYPES}, "image/svg+xml": "html",
    "text/css": "css",
    **{t: "js" for t in JS_TYPES},
    **{t: "manifest" for t in MANIFEST_TYPES},
}
# Rewritten stylesheets and scripts, by content hash and URL mapping (rewriter/cache.py).
REWRITE_CACHE = RewriteCache()
# Bodies above this are rewritten on a worker thread: a 1 MB script takes ~0.1 s to parse.
OFFLOAD_BYTES = 64 * 1024
_BUFFERED = {"css": rewrite_css_bytes, "js": rewrite_js_bytes}
NO_BODY_STATUSES = frozenset({204, 304})
INJECT_TEMPLATE = '<script src="/__tandem/runtime.js?v={version}"></script>'
def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def kind_of(status: int, content_type: str, head: bytes = b"", location: bool = False) -> str:
    """What a response is: by its media type; without one, by its first bytes (``head``)."""
    if status == 101:
        return UPGRADE
    if location and 300 <= status < 400 and status != 304:
        return REDIRECT
    mime = media_type(content_type)
    if mime:
        if mime in KINDS:
            return KINDS[mime]
        if mime.endswith("+json"):
            return JSON
        if mime.endswith("+xml"):
            return DOCUMENT
        for prefix, kind in KIND_PREFIXES:
            if mime.startswith(prefix):
                return kind
        return OTHER
    for magic, kind in MAGIC:
        if head.startswith(magic):
            return kind
    text = head.lstrip(b"\xef\xbb\xbf\xfe\xff \t\r\n\x0c").lower()
    if text.startswith(HTML_SNIFF) or (b"\x00" in head[:4] and b"<\x00" in head[:64]):  # HTML, also in UTF-16
        return DOCUMENT
    return OTHER


def charset_of(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        k, _, v = param.strip().partition("=")
        if k.strip().lower() == "charset":
            return v.strip().strip("\"'") or None
    return None


def usable_charset(label: str | None) -> str | None:
    """The WHATWG name of a charset label, or None: a label no browser knows means "no label", as in
    browsers. Python-only codec names (``undefined``, ``base64``, ``unicode_escape``…) never reach a rewriter."""
    if not label or len(label) > 64:
        return None
    return _charset_name(label)


@functools.lru_cache(maxsize=256)  # pure; webencodings lower-cases the label in a Python loop on every call
def _charset_name(label: str) -> str | None:
    found = webencodings.lookup(label)
    return found.name if found is not None else None


@dataclass
class Plan:
    """How one response goes out, worked out from its headers before a byte is sent."""

    kind: str
    mime: str
    content_type: str
    rewrite: str | None  # "html", "css", "js", "manifest" or None (stream as is)
    has_body: bool
    attachment: bool


def plan(request: web.Request, adm: Admission, up: aiohttp.ClientResponse, head: bytes) -> Plan:
    content_type = up.headers.get("Content-Type", "")
    mime = media_type(content_type)
    attachment = up.headers.get("Content-Disposition", "").lower().startswith("attachment")
    has_body = request.method != "HEAD" and up.status not in NO_BODY_STATUSES and up.status >= 200
    rewrite = None
    if has_body and not attachment and up.status != 206:
        rewrite = REWRITERS.get(mime)
        if rewrite == "html" and mime == "image/svg+xml" and request.headers.get("Sec-Fetch-Dest") == "image":
            rewrite = None  # an SVG loaded as an image runs no script and loads nothing: as it is
        if rewrite is None and mime == "application/json" and request.headers.get("Sec-Fetch-Dest") == "manifest":
            rewrite = "manifest"
    kind = kind_of(up.status, content_type, head, location="Location" in up.headers)
    return Plan(kind, mime, content_type, rewrite, has_body, attachment)


async def peek(up: aiohttp.ClientResponse) -> bytes:
    """The first bytes of an unlabelled, unencoded body (to sniff what it is), kept for sending."""
    if up.headers.get("Content-Type") or up.headers.get("Content-Encoding", "identity").lower() not in ("", "identity"):
        return b""
    try:
        return await up.content.read(SNIFF_BYTES) if not up.content.at_eof() else b""
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return b""


async def _chunks(up: aiohttp.ClientResponse, watchdog: IdleWatchdog, head: bytes = b"", app: web.Application | None = None):
    """The upstream body as it arrives (no re-slicing copies), reporting progress to the watchdog;
    the bytes received are counted once, when the body ends (or fails)."""
    if head:
        yield head
    received = 0
    try:
        async for chunk in up.content.iter_any():
            watchdog.progress()
            received += len(chunk)
            yield chunk
            watchdog.progress()  # the browser took it: a slow reader is not a silent upstream
    finally:
        metrics.bytes_in(app, received)


def _response_object(request: web.Request, adm: Admission, up: aiohttp.ClientResponse, p: Plan) -> web.StreamResponse:
    if adm.role == FOLLOWER:
        resp = cobrowse.cache_response(request, adm.session, adm.upstream_url, up.status, up.reason,
                                       p.content_type, p.attachment, follower=True)
        cobrowse.seal_for_follower(resp.headers)
        return resp
    if adm.role == LEADER:
        return cobrowse.cache_response(request, adm.session, adm.upstream_url, up.status, up.reason,
                                       p.content_type, p.attachment)
    return web.StreamResponse(status=up.status, reason=up.reason)  # credential-less: never into the cache


async def respond(request: web.Request, adm: Admission, up: aiohttp.ClientResponse, p: Plan, head: bytes,
                  watchdog: IdleWatchdog) -> web.StreamResponse:
    mapper = adm.mapper
    out_headers = browser_response_headers(up.headers.items(), urls=mapper.urls, to_proxy_origin=mapper.to_proxy_origin)
    integrity = mapper.integrity if sri.needs_check(mapper.integrity) else None
    if up.status == 304 or request.method == "HEAD":  # no body: the browser's copy under this very URL
        integrity = None  # (the marker is part of it) was checked against the same integrity when stored
    if integrity is not None and p.kind == REDIRECT:  # the integrity goes where the browser is sent next
        out_headers = [(k, _with_marker(v, integrity) if k.lower() == "location" else v) for k, v in out_headers]
        integrity = None
    resp = _response_object(request, adm, up, p)
    for k, v in out_headers:
        resp.headers.add(k, v)
    if adm.role == FOLLOWER and p.kind == REDIRECT:  # a follower follows a redirect; its body is not theirs
        await cobrowse.note_mirror_refs(request, adm, up.status, up.headers.items())  # where it leads, allowed
        for name in ("Content-Length", "Content-Encoding"):
            resp.headers.popall(name, None)
        await resp.prepare(request)
        await resp.write_eof()
        return resp
    if adm.role == LEADER and adm.top_level and p.kind == DOCUMENT and 200 <= up.status < 300:
        # the tab owner's page now, on every node, before its first byte can ask for a subresource
        await adm.session.live.page.put(adm.target.host)  # (proxy.handler.judge_page: scope "all")
    try:
        chunks = _chunks(up, watchdog, head, request.app)
        if integrity is not None:
            chunks = await _checked(request, adm, up, chunks, integrity, out_headers)
        if p.rewrite == "html":
            await _stream_html(request, adm, resp, chunks, up.headers.get("Content-Encoding", ""), p, up)
        elif p.rewrite is not None:
            await _send_rewritten(request, adm, resp, chunks, up.headers.get("Content-Encoding", ""), p)
        else:
            # A HEAD for a type we would rewrite must not promise the upstream's length.
            await _stream_raw(request, resp, up, chunks if p.has_body else None,
                              keep_length=p.has_body or p.mime not in REWRITERS)
    except (aiohttp.ClientError, asyncio.TimeoutError, asyncio.CancelledError, errors.ProxyError) as exc:
        if isinstance(exc, asyncio.CancelledError):
            if not watchdog.absorb():
                raise
            exc = asyncio.TimeoutError()
        if request.transport is None or request.transport.is_closing():
            log.debug("browser left during %s", adm.target.origin)  # not an upstream fault
            return resp
        err = exc if isinstance(exc, errors.ProxyError) else classify(exc, adm.target.host)
        return _fail(request, adm, resp, err)
    except Exception as exc:  # a rewriter bug: fail closed, never pass the page through unproxied
        log.exception("rewriting %s failed", adm.target.origin)
        return _fail(request, adm, resp, errors.RewriteFailed(
            f"Tandem could not rewrite this {p.kind} from {adm.target.host}.", detail=type(exc).__name__))
    if adm.role == LEADER and adm.top_level and p.kind == DOCUMENT and 200 <= up.status < 300:
        request[metrics.PAGE] = True  # timed as a page load (tandem.metrics)
    return resp


def _with_marker(location: str, integrity: str) -> str:
    cut = location.find("#")
    cut = len(location) if cut < 0 else cut
    return f"{location[:cut]}{'&' if '?' in location[:cut] else '?'}{sri_marker(integrity)}{location[cut:]}"


async def _checked(request: web.Request, adm: Admission, up: aiohttp.ClientResponse, chunks, integrity: str,
                   out_headers: list[tuple[str, str]]):
    """The whole body, checked against the page's integrity on its decoded bytes (proxy/sri.py) before
    anything is sent; replayed as it came. Refused: an error the page sees as a failed load."""
    def refused(message: str, computed: str | None) -> errors.IntegrityFailed:
        err = errors.IntegrityFailed(message, detail=sri.console_message(adm.upstream_url, computed))
        err.content_type = SRI_ERROR_TYPES.get(request.headers.get("Sec-Fetch-Dest", ""), "text/plain")
        err.cors = {k: v for k, v in out_headers if k.lower() in SRI_CORS_HEADERS}
        return err

    if not sri.eligible(request.headers.get("Sec-Fetch-Mode", ""), request.headers.get("Sec-Fetch-Site", "")):
        raise refused(SRI_CORS, None)
    limit = request.app[appkeys.SETTINGS].max_rewrite_body
    raw: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise errors.IntegrityFailed(f"This resource is larger than Tandem checks ({limit // (1024 * 1024)} MB).")
        raw.append(chunk)

    async def again():
        for chunk in raw:
            yield chunk

    body = bytearray()
    async for data in _decoded(again(), up.headers.get("Content-Encoding", "")):
        body += data
    computed = sri.check(integrity, bytes(body))
    if computed is not None:
        raise refused(SRI_MISMATCH, computed)
    return again()


SRI_MISMATCH = "The resource's bytes do not match the integrity the page gave for it; the browser blocks it."
SRI_CORS = "The resource has an integrity but is loaded cross-origin without CORS; the browser blocks it."
SRI_ERROR_TYPES = {"script": "text/javascript", "style": "text/css"}
SRI_CORS_HEADERS = frozenset(("access-control-allow-origin", "access-control-allow-credentials"))


def _fail(request: web.Request, adm: Admission, resp: web.StreamResponse, err: errors.ProxyError) -> web.StreamResponse:
    if not resp.prepared:
        log.warning("upstream %s body failed: %s", adm.target.origin, err.code)
        raise err
    # Headers are out: the only honest signal left is to cut the connection short (a failed download).
    log.warning("upstream %s failed mid-body: %s; connection cut", adm.target.origin, err.code)
    metrics.upstream_error(request.app, err.code)
    if request.transport is not None:
        request.transport.abort()
    return resp


HOLD_BYTES = 256 * 1024  # at most this much is held back to leave with the end of a response (Sender)


async def prepare_for_body(request: web.BaseRequest, resp: web.StreamResponse) -> None:
    """Prepare ``resp`` whose first body bytes are written straight after: its head leaves with them,
    in one send instead of two. Only for bytes already in hand: a head held for bytes still to come
    would keep the browser waiting for the status (a stream, a long poll)."""
    resp._send_headers_immediately = False  # aiohttp's own switch (web.Response's default); gone: two sends
    await resp.prepare(request)


class Sender:
    """Writes a response body with as few sends as it can, never holding back what the browser could use.

    Each send on a socket is a system call, and on a connection the peer waits on, a wake-up: for a
    small page, the head, the body and the chunked end each took one, costing more CPU than the
    rest of the response path. Bytes go out as soon as they are made while the upstream body is
    still arriving (the page streams as it did); once the upstream body is all in, nothing more is
    waited for, so what is made from it is held (up to :data:`HOLD_BYTES`) and sent with the end of
    the response, the head included when nothing was sent yet (then with its length, not chunked)."""

    def __init__(self, request: web.BaseRequest, resp: web.StreamResponse, up: aiohttp.ClientResponse):
        self.request, self.resp, self.up = request, resp, up
        self.held: list[bytes] = []
        self.size = 0

    async def send(self, data: bytes) -> None:
        if data:
            self.held.append(data)
            self.size += len(data)
        if self.held and (self.size >= HOLD_BYTES or not self.up.content.at_eof()):
            if not self.resp.prepared:
                await prepare_for_body(self.request, self.resp)
            await self.resp.write(self._take())

    async def end(self, data: bytes = b"", length: bool = True) -> None:
        """The rest, with the end of the response. ``length``: the body may be given a Content-Length
        when all of it leaves now (False where a length must not be promised)."""
        if data:
            self.held.append(data)
        body = self._take()
        if not self.resp.prepared:
            if length and self.resp.content_length is None and not self.resp.chunked:
                self.resp.content_length = len(body)
            await prepare_for_body(self.request, self.resp)
        await self.resp.write_eof(body)

    def _take(self) -> bytes:
        held, self.held, self.size = self.held, [], 0
        return held[0] if len(held) == 1 else b"".join(held)


async def _stream_raw(request, resp, up, chunks, keep_length=True) -> None:
    for name in ("Content-Encoding", "Content-Length") if keep_length else ("Content-Encoding",):
        if name in up.headers:
            resp.headers[name] = up.headers[name]
    if chunks is None:
        await resp.prepare(request)
        await resp.write_eof()
        return
    content = up.content
    if not (content.total_bytes or content.is_eof()):  # no body bytes yet: the head goes now (a stream may
        await resp.prepare(request)  # be long in coming, and the browser waits on the status)
    out = Sender(request, resp, up)
    async for chunk in chunks:
        await out.send(chunk)
    await out.end(length=keep_length)


def _decoded(chunks, encoding: str):
    """The body decoded under the budget of :mod:`proxy.decoding`; a body sent without a
    ``Content-Encoding`` (or ``identity``) has nothing to decode and comes as it arrived."""
    if not parse_encodings(encoding):
        return chunks
    return _decoding(chunks, Decoder(encoding))


async def _decoding(chunks, decoder: Decoder):
    async for chunk in chunks:
        async for out in decoder.feed(chunk):
            yield out
    async for out in decoder.finish():
        yield out


async def _stream_html(request, adm: Admission, resp, chunks, encoding: str, p: Plan, up: aiohttp.ClientResponse) -> None:
    """Decode (under budget) and rewrite a page as it streams. The rewriter reads the charset from the
    label or a BOM (UTF-16 and other ASCII-incompatible pages included); a failure raises, never passes."""
    urls, app = adm.mapper.urls, request.app
    base = app[appkeys.BASE]
    inject = (INJECT_TEMPLATE.format(version=app[appkeys.RUNTIME_VERSION])
              + cobrowse.recorder_tag(request, adm.session.sid, adm.target.host))
    rw = HtmlRewriter(urls, inject=inject, charset=usable_charset(charset_of(p.content_type)),
                      css=CssRewriter(urls))
    rw.js, rw.xml = js_rewriter(urls), p.mime in XML_DOC_TYPES
    # the page's own <meta> CSP stays in force on the proxied origins, with room for Tandem's own files and panel
    own = f"{base.scheme}://{request.host}/__tandem/"
    tandem = {"script": [own], "connect": [own], "frame": [base.url]}
    rw.csp, rw.sri = (lambda policy: rewrite_csp(policy, urls, tandem)), sri_marker

    def check(out: bytes) -> bytes:
        # A rewriter that gave up and let the rest through (errors), or could not scan the page's
        # encoding at all (passed through without transcoding): the page would leave unproxied.
        if rw.stats.get("errors") or (rw.stats.get("passed_through") and "transcoded" not in rw.stats):
            raise errors.RewriteFailed(f"Tandem could not rewrite this page from {adm.target.host}.",
                                       detail="The page's markup or encoding could not be read safely.")
        return out

    spent = 0.0
    out = Sender(request, resp, up)
    async for data in _decoded(chunks, encoding):
        start = time.perf_counter()
        made = check(rw.feed(data))
        spent += time.perf_counter() - start
        await out.send(made)
    start = time.perf_counter()
    tail = check(rw.close())
    metrics.observe_rewrite(app, "html", spent + time.perf_counter() - start)
    await out.end(tail)


async def _send_rewritten(request, adm: Admission, resp, chunks, encoding: str, p: Plan) -> None:
    """Buffer a stylesheet, script or manifest, rewrite it (cached by content), send it with its length."""
    limit = request.app[appkeys.SETTINGS].max_rewrite_body
    charset = usable_charset(charset_of(p.content_type))
    buf = bytearray()
    async for data in _decoded(chunks, encoding):
        buf += data
        if len(buf) > limit:
            raise errors.RewriteFailed(f"This {p.kind} from {adm.target.host} is larger than Tandem rewrites "
                                       f"({limit // (1024 * 1024)} MB).")
    data, urls, kind = bytes(buf), adm.mapper.urls, p.rewrite

    def run() -> bytes:
        if kind == "manifest":
            return rewrite_manifest(data, urls)
        rewrite = _BUFFERED[kind]
        return REWRITE_CACHE.get_or_rewrite(kind, data, urls, lambda: rewrite(data, urls, charset), charset)

    # big bodies on a worker thread: the event loop never waits on one parse
    start = time.perf_counter()
    body = await asyncio.get_running_loop().run_in_executor(None, run) if len(data) > OFFLOAD_BYTES else run()
    metrics.observe_rewrite(request.app, kind, time.perf_counter() - start)
    if adm.role == FOLLOWER and kind == "css":  # what the follower's stylesheet references, allowed too
        await cobrowse.note_mirror_refs(request, adm, 200, [("Content-Type", "text/css")], body)
    resp.content_length = len(body)
    await prepare_for_body(request, resp)
    await resp.write_eof(body)  # head and body in one send

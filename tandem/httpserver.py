"""The HTTP server under the app: header limits, fixed answers to unreadable requests, slow clients.

aiohttp's low-level server (``web_protocol.RequestHandler``) answers a request it cannot
parse with a 400 whose body is the parser's message, and that message quotes the offending
bytes: the start of an over-long ``Cookie`` header, credentials first. A proxied page could
make its own browser send such a header (cookies planted with ``cookieStore``) and read the
answer. Here every unreadable request gets a fixed, plain answer that contains no byte of
the request, and the log names the kind of failure, not its content.

Limits (each with its reason):

* ``MAX_HEADER_FIELD`` — one header may carry a browser's whole cookie jar for the site:
  Chromium and Firefox keep at most 180 cookies of at most 4096 bytes per site, and every
  ``*.BASE`` host shares one site. A page that plants cookies therefore cannot push its
  browser past what Tandem reads (cookie bomb); what it planted is ignored and expired
  (:func:`proxy.credentials.junk_expiry`).
* ``MAX_HEAD_BYTES`` — the request line and all headers together, so ``MAX_HEADERS`` big
  headers cannot add up to ``MAX_HEADERS`` × ``MAX_HEADER_FIELD`` of memory per connection.
* ``MAX_REQUEST_LINE`` — real pages' URLs (analytics beacons, signed query strings) pass
  8 KB; the label is in the host, so proxied URLs are no longer than the site's own.
* ``HEADER_TIMEOUT`` — a request's head must be complete this long after its first byte
  arrives. Browsers send a head in one write; a client trickling a header line every few
  seconds (slowloris) is answered 408 and closed. The timer is armed only for a head that
  is still incomplete after the bytes that began it (a head that arrives whole needs none).
* ``KEEPALIVE_TIMEOUT`` — an idle connection (no request under way) is closed after this.
* ``BODY_TIMEOUT`` — a body Tandem reads itself (control-plane JSON and forms, a proxied
  host's ``/__tandem/`` endpoints) must be complete this long after its head: a client that
  sends a head and then no body, or trickles it, would otherwise hold its handler forever.
  The reader then gets :class:`BodyTimeout`, which answers 408 (``{"error": {"code":
  "request_timeout", ...}}``, or a plain text for a form) and closes the connection. The
  bound fits the largest such body (``tandem.app.CONTROL_MAX_BODY``, 1 MB: 17 KB/s). Bodies
  streamed to a proxied site are not timed here: the exchange's idle watchdog
  (:mod:`proxy.watchdog`) cuts an upload that falls silent, and a big upload may take long.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from . import appkeys

log = logging.getLogger("tandem.http")

MAX_HEADER_FIELD = 768 * 1024  # 180 cookies x 4096 bytes (+ "; " each) = 737,640 bytes: a full per-site jar
MAX_HEAD_BYTES = 1024 * 1024  # request line + every header; bounds memory per connection
MAX_REQUEST_LINE = 32 * 1024  # method, URL, version
MAX_HEADERS = 128  # header lines; browsers send about 20
HEADER_TIMEOUT = 20.0  # seconds from a request's first byte to the end of its headers
KEEPALIVE_TIMEOUT = 75.0  # seconds an idle keep-alive connection is kept (nginx's default)
BODY_TIMEOUT = 60.0  # seconds from a request's head to the end of a body Tandem reads itself (read when armed)
RESERVED_PREFIX = "/__tandem/"  # a proxied host's own endpoints (proxy.admit.RESERVED_PREFIX): their bodies are Tandem's
REFUSED_LINGER = 2.0  # seconds a refused connection's further bytes are read and dropped before it closes

# The only bodies an unreadable request ever gets: fixed text, no byte of the request.
FIXED_ANSWERS = {
    400: "400 Bad Request\n\nTandem could not read this request.\n",
    408: "408 Request Timeout\n\nThe request headers did not arrive in time.\n",
    414: "414 URI Too Long\n\nThe address in this request is too long for Tandem.\n",
    431: "431 Request Header Fields Too Large\n\nThe request headers are too large for Tandem.\n",
    500: "500 Internal Server Error\n\nTandem hit an internal error; it has been logged.\n",
}
_REASONS = {400: "Bad Request", 408: "Request Timeout", 414: "URI Too Long", 431: "Request Header Fields Too Large",
            500: "Internal Server Error"}


def fixed_status(exc: BaseException | None, status: int) -> int:
    """The status for a parser failure: 414/431 for the limits above, else the one aiohttp chose."""
    if isinstance(exc, LineTooLong):
        limit = exc.args[1] if len(exc.args) > 1 else None
        return 414 if limit == MAX_REQUEST_LINE else 431
    if exc is not None and "Too many headers" in str(exc):
        return 431
    return status if status in FIXED_ANSWERS else (500 if status >= 500 else 400)


def raw_answer(status: int) -> bytes:
    """A complete HTTP/1.1 response for ``status`` (used where no request object exists yet)."""
    body = FIXED_ANSWERS[status].encode("ascii")
    return (f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n").encode("ascii") + body


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class BodyTimeout(web.HTTPRequestTimeout):
    """Raised into a handler's read of a body that did not arrive in time: the 408 answer itself."""

    def __init__(self, form: bool = False):
        message = f"The request body did not arrive within {BODY_TIMEOUT:g} seconds."
        if form:
            super().__init__(text=f"408 Request Timeout\n\n{message}\n", headers={"Cache-Control": "no-store"})
        else:
            body = json.dumps({"error": {"code": "request_timeout", "message": message}})
            super().__init__(text=body, content_type="application/json", headers={"Cache-Control": "no-store"})
        self.force_close()


def _body_timed_out(request: web.BaseRequest) -> None:
    payload, protocol = request.content, request.protocol
    if payload.is_eof() or payload.exception() is not None or not isinstance(protocol, TandemRequestHandler):
        return
    if protocol._current_request is not request:  # answered already: aiohttp's lingering read bounds the rest
        return
    log.info("408: a request body took over %ss", BODY_TIMEOUT)
    protocol._body_late = True  # its answer is the last on this connection (finish_response)
    payload.set_exception(BodyTimeout(form=request.content_type in FORM_TYPES))


def arm_body_timer(request: web.BaseRequest, app: web.Application) -> None:
    """Bound the time to this request's body, unless it has none or streams to a proxied site."""
    payload = request.content
    if payload.is_eof():
        return
    base = app.get(appkeys.BASE)
    if base is not None and not request.path.startswith(RESERVED_PREFIX) and base.label_of_host(request.host) is not None:
        return  # streamed to the site: bounded by the exchange's idle watchdog
    timer = asyncio.get_running_loop().call_later(BODY_TIMEOUT, _body_timed_out, request)
    payload.on_eof(timer.cancel)


async def read_capped(request: web.BaseRequest, limit: int) -> bytes:
    """The whole body, or its first ``limit + 1`` bytes when it is longer (the caller refuses those).
    ``request.content.read(n)`` alone returns what has arrived so far: a body in several packets
    would be cut short."""
    raw = bytearray()
    while len(raw) <= limit:
        chunk = await request.content.read(limit + 1 - len(raw))
        if not chunk:
            break
        raw += chunk
    return bytes(raw)


class TandemRequestHandler(RequestHandler):
    """aiohttp's connection handler with fixed error answers, a head-size cap and a head timeout."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._discarding = False
        self._body_late = False

    # -- unreadable requests: a fixed answer -------------------------------------------
    def handle_error(self, request, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        status = fixed_status(exc, status)
        if status >= 500:
            log.error("internal error answering %s", getattr(request, "remote", "?"), exc_info=exc)
        else:  # the exception text quotes the request's bytes: name its kind only
            log.info("refused an unreadable request (%s) with %d", type(exc).__name__ if exc else "?", status)
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; the connection is cut")
        resp = web.Response(status=status, text=FIXED_ANSWERS[status], content_type="text/plain",
                            headers={"Cache-Control": "no-store"})
        resp.force_close()
        return resp

    async def finish_response(self, request, resp, start_time):
        result = await super().finish_response(request, resp, start_time)
        if self._body_late:  # answered 408 for a late body: drop what still comes, then close
            request.content.feed_eof()  # aiohttp reads no more of it (its lingering read would raise)
            self._linger_and_close()
        return result

    # -- the head of each request: size and time ---------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._discarding:  # refused: what still comes is dropped until the linger ends
            return
        idle = self._waiter is not None and not self._waiter.done()  # between requests: what comes is a head
        in_head = not self._messages and (idle or self._request_count == 0)
        if not in_head or self._upgraded or self._force_close or self._close:
            super().data_received(data)
            return
        self._head_bytes += len(data)
        super().data_received(data)
        if self._messages or self._force_close:  # the head is complete (or the parser refused it)
            self._head_done()
        elif self._head_bytes > MAX_HEAD_BYTES:
            self._refuse(431)
        elif self._head_timer is None and self._head_bytes:  # a head begun, not complete: its clock starts
            self._head_timer = self._loop.call_later(HEADER_TIMEOUT, self._head_timed_out)  # with its first byte, now

    def _head_done(self) -> None:
        self._head_bytes = 0
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport is not None and not self._messages and not self._request_in_progress:
            log.info("closed a connection whose request headers took over %ss", HEADER_TIMEOUT)
            self._refuse(408)

    def _refuse(self, status: int) -> None:
        """Answer, then drain what the client still sends for a moment before closing: closing on
        unread data makes the kernel reset the connection, and the client may lose the answer."""
        self._head_done()
        transport = self.transport
        if transport is None:
            return
        transport.write(raw_answer(status))
        self._linger_and_close()

    def _linger_and_close(self) -> None:
        transport = self.transport
        if transport is None:
            return
        self._discarding = True
        if transport.can_write_eof():
            transport.write_eof()
        self._loop.call_later(REFUSED_LINGER, self.force_close)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._head_done()
        super().connection_lost(exc)


class TandemServer(Server):
    def __call__(self) -> RequestHandler:
        return TandemRequestHandler(self, loop=self._loop, **self._kwargs)


HANDLER_LIMITS = dict(max_line_size=MAX_REQUEST_LINE, max_field_size=MAX_HEADER_FIELD, max_headers=MAX_HEADERS,
                      keepalive_timeout=KEEPALIVE_TIMEOUT)


class TandemRunner(web.AppRunner):
    """``web.AppRunner`` whose connections use :class:`TandemRequestHandler` with Tandem's limits."""

    def __init__(self, app: web.Application, **kwargs):
        super().__init__(app, **{**HANDLER_LIMITS, **kwargs})

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        make_request, app = server.request_factory, self._app

        def request_factory(*args, **kw):
            request = make_request(*args, **kw)
            arm_body_timer(request, app)
            return request

        return TandemServer(server.request_handler, request_factory=request_factory,
                            handler_cancellation=server.handler_cancellation, loop=server._loop, **server._kwargs)

"""The session WebSocket (``BASE/s/{sid}/ws``): a thin shell around the room.

It checks what only the edge can check — the session exists, ``Origin`` is the
control plane (proxied pages live on other origins and never get here), the
participant credential is valid (``identify``: the control plane reads it through
``proxy.credentials.participant``, the one seam; it is host-only on BASE under ``/s/<sid>``,
so this socket is the only place on BASE, beside the session's pages, that receives it) — then reads JSON frames into
the relay and writes the relay's frames out. One reader (the handler) and one
writer task per connection; the writer drains a bounded :class:`Outbox`, so a
slow reader never blocks the room or anyone else.
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import inspect
import json
import logging
import re
import socket
import struct
import termios
import time
import weakref
from collections import deque
from typing import Callable

from aiohttp import WSMsgType, web

from tandem import safejson
from tandem.appkeys import SETTINGS

from .outbox import MAX_LAG, Outbox
from .protocol import MAX_STREAM_MESSAGE, Frame
from .relay import Relay, RelayUnavailable

log = logging.getLogger("tandem.sync")

SEND_BUFFER = 64 * 1024  # bytes the kernel may hold for one session socket (it doubles it): ~0.1 s at 10 Mbit/s
HELLO_TIMEOUT = 10.0  # seconds a new connection has to say hello
WRITE_TIMEOUT = 30.0  # seconds one frame may take to leave; a peer slower than that is dropped
CLOSE_CODES = {  # application close codes (4000-4999) by reason code
    "session_ended": 4000, "left": 4001, "timeout": 4002, "too_slow": 4003, "room_full": 4004,
    "too_many_connections": 4005, "bad_message": 4006, "going_away": 1001, "send_failed": 1011,
}
COMPRESS_MIN = 1024  # bytes: a smaller message goes out uncompressed (zlib's per-message flush costs more CPU than it saves)
INLINE_COMPRESS_MAX = 16 * 1024  # bytes compressed inline on the loop at most (aiohttp's own bound; larger: a worker thread)
DIRECT_BUFFER = 64 * 1024  # bytes waiting in asyncio's transport past which a socket's writer task takes over (it waits)
FLUSH_SLICE = 0.005  # seconds of writing in one turn of the event loop; then the loop polls its sockets and timers


class InFlight:
    """How long bytes already written to a TCP socket have waited for the peer to acknowledge them.

    The outbox sees only what waits there; what the writer already handed over waits in asyncio's
    buffer and the kernel's send queue, where a peer that stopped reading (or reads slower than the
    room talks) leaves it. At each :meth:`age` call (the room's tick) the end of everything written
    so far is noted with the time; a note is dropped once the peer has acknowledged up to it
    (``tcpi_bytes_acked``); the oldest note left is an upper bound on when the oldest unacknowledged
    byte was written. Linux TCP only (elsewhere: 0). Bytes the peer's kernel acknowledged and its
    program never read are not seen here: a page that stops running stops pinging, and the room
    closes it after its silence limit.
    """

    def __init__(self, transport) -> None:
        sock = transport.get_extra_info("socket") if transport is not None else None
        tcp = sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6)
        self._sock = sock if tcp else None
        self._fd = sock.fileno() if tcp else -1
        self._transport = transport
        self._notes: list[tuple[float, int]] = []  # (when, wire position of the end of what was written by then)
        self._floor = 0  # after a resync: older bytes are not held against the follower again

    def _acked_and_end(self) -> tuple[int, int] | None:
        try:
            raw = self._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
            acked = struct.unpack_from("Q", raw, _BYTES_ACKED)[0]
            queued = array.array("i", [0])
            fcntl.ioctl(self._fd, termios.TIOCOUTQ, queued)  # SIOCOUTQ: sent and unacknowledged, plus unsent
        except (OSError, struct.error, ValueError):
            return None
        buffered = self._transport.get_write_buffer_size() if not self._transport.is_closing() else 0
        return acked, acked + queued[0] + buffered

    def age(self, now: float) -> float:
        if self._fd < 0:
            return 0.0
        got = self._acked_and_end()
        if got is None:
            return 0.0
        acked, end = got
        notes = self._notes
        while notes and notes[0][1] <= max(acked, self._floor):
            notes.pop(0)
        if end > max(acked, self._floor) and (not notes or notes[-1][1] < end):
            notes.append((now, end))
        return now - notes[0][0] if notes else 0.0

    def forgive(self) -> None:
        """The follower starts over: what it has not acknowledged yet no longer counts against it."""
        got = self._acked_and_end() if self._fd >= 0 else None
        self._notes.clear()
        if got is not None:
            self._floor = got[1]


_TCP_INFO_LEN = 232
_BYTES_ACKED = 120  # struct tcp_info: __u64 tcpi_bytes_acked (Linux 4.1+)


class Flusher:
    """Writes the sockets of one event loop that have frames waiting, ``FLUSH_SLICE`` seconds of work at a time.

    A room's fan-out only queues frames (:meth:`SocketEndpoint.deliver`) and marks the socket due; one
    callback then writes every due socket directly to its transport, with no task to wake per socket.
    After ``FLUSH_SLICE`` seconds it stops and asks the loop to call it again: the loop polls its sockets
    and runs its timers in between, so a fan-out to thousands of sockets never holds the loop for one
    long turn. Sockets whose peer reads slowly are written by their own writer task instead (it waits
    for the transport to drain)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._due: deque[SocketEndpoint] = deque()
        self._scheduled = False
        self.slices = 0  # turns of the loop that wrote something (tests, stats)

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> "Flusher":
        flusher = _FLUSHERS.get(loop)
        if flusher is None:
            flusher = _FLUSHERS[loop] = cls(loop)
        return flusher

    def mark(self, endpoint: "SocketEndpoint") -> None:
        if endpoint._due:
            return
        endpoint._due = True
        self._due.append(endpoint)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._run)

    def _run(self) -> None:
        due = self._due
        end = time.perf_counter() + FLUSH_SLICE
        try:
            while due:
                endpoint = due.popleft()
                endpoint._due = False
                endpoint._flush()
                if time.perf_counter() >= end:
                    break
        finally:
            self.slices += 1
            if due:
                self._loop.call_soon(self._run)  # the rest in a later turn: the loop polls its sockets first
            else:
                self._scheduled = False


_FLUSHERS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Flusher]" = weakref.WeakKeyDictionary()


def frame_writer(ws: web.WebSocketResponse):
    """aiohttp's frame writer of ``ws`` when it has the two methods the direct path uses (aiohttp 3.11+:
    ``_write_websocket_frame`` writes one frame as given, ``_send_compressed_frame_sync`` compresses a
    small one inline); None otherwise, and every frame then goes through ``send_str`` in the writer task.
    aiohttp's public ``send_str(compress=...)`` cannot send one message uncompressed on a connection
    that negotiated permessage-deflate (``compress=0`` falls back to the connection's setting)."""
    writer = getattr(ws, "_writer", None)
    if (writer is None or not callable(getattr(writer, "_write_websocket_frame", None))
            or not callable(getattr(writer, "_send_compressed_frame_sync", None))
            or getattr(writer, "transport", None) is None):
        return None
    return writer


class SocketEndpoint:
    """One WebSocket's outgoing side: outbox, wake-up event and the writer task.

    Two ways out, never both at once. While the peer keeps up (the transport buffers less than
    ``DIRECT_BUFFER``), the loop's :class:`Flusher` writes queued frames straight to the transport:
    a message under ``COMPRESS_MIN`` bytes uncompressed (RFC 7692 lets each message choose; zlib's
    flush per small message cost more CPU than it saved bytes), a larger one compressed inline. A
    frame too big to compress inline, a transport that has not drained, or closing hands the socket
    to its writer task (``send_str``, waits for the peer, the write timeout), which hands it back once
    its queue is empty."""

    def __init__(self, ws: web.WebSocketResponse, max_lag: float = MAX_LAG, transport=None):
        self.ws = ws
        self.outbox = Outbox(max_lag=max_lag)
        self.in_flight = InFlight(transport)
        self._wake = asyncio.Event()
        self._closing: tuple[str, str] | None = None
        self.task: asyncio.Task | None = None
        self.sent_bytes = 0
        self.direct_frames = 0  # messages written by the flusher (the rest went through the writer task)
        # The write timeout: when the batch being written started (loop time), and one timer that checks it.
        # Armed when a batch starts and none is armed, re-armed only while a batch is being written: a
        # timer per socket per WRITE_TIMEOUT, not a timer (and a context manager) per batch.
        self._batch_since: float | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._timed_out = False
        self._writer = frame_writer(ws)
        self._flusher: Flusher | None = None
        self._direct = False  # the flusher may write now (the writer task waits with nothing to do)
        self._due = False  # queued in the flusher
        self._pending: list[str] | None = None  # taken from the outbox by the flusher, left for the writer task
        self.on_dead: Callable[[], None] = lambda: None  # the writer gave up: leave the room now

    def behind(self, now: float) -> bool:
        """Asked at every room tick: True when this follower is further behind than ``max_lag`` (its
        oldest frame still queued here, or written and not acknowledged by the peer); its queue is
        then emptied, and the relay starts it over from a fresh snapshot. Checked on the clock, not
        only when the next frame comes: a quiet room's stuck follower is caught too."""
        if self._closing:
            return False
        lag = max(self.outbox.lag(now), self.in_flight.age(now))
        if lag <= self.outbox.max_lag:
            return False
        log.info("session socket %.1f s behind (bound %.1f s)", lag, self.outbox.max_lag)
        self.outbox.clear()
        self._pending = None
        self.in_flight.forgive()
        return True

    def deliver(self, frame: Frame, *, force: bool = False) -> bool:
        if self._closing:
            return True
        ok = self.outbox.push(frame, force=force, now=time.monotonic())
        if self._direct:
            self._flusher.mark(self)
        else:
            self._wake.set()
        if not ok:
            self.outbox.clear()
            self._pending = None
            self.in_flight.forgive()
        return ok

    def close(self, code: str, reason: str) -> None:
        if self._closing is None:
            self._closing = (code, reason)
            self._direct = False
            self._wake.set()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._writer is not None:
            self._flusher = Flusher.of(loop)
        self.task = loop.create_task(self._write())

    # -- the direct path (the flusher) ------------------------------------------------------------
    def _flush(self) -> None:
        if not self._direct:
            return  # the writer task has the socket (it was handed over after this was marked due)
        batch = self.outbox.take()
        if not batch:
            return
        try:
            rest = self._write_now(batch)
        except Exception:  # noqa: BLE001 - the writer task retries through send_str and closes the socket if that fails too
            log.info("direct write to a session socket failed", exc_info=True)
            rest = batch
        if rest:
            self._pending = rest
            self._direct = False
            self._wake.set()

    def _write_now(self, texts: list[str]) -> list[str] | None:
        """Write what can leave without waiting; the texts left for the writer task, or None."""
        w = self._writer
        transport = w.transport
        for i, text in enumerate(texts):
            if (transport.is_closing() or transport.get_write_buffer_size() > DIRECT_BUFFER
                    or self.ws.closed or w._send_lock.locked()):
                return texts[i:]
            data = text.encode("utf-8")
            if len(data) < COMPRESS_MIN or not w.compress:
                w._write_websocket_frame(data, WSMsgType.TEXT, 0)
            elif len(data) <= INLINE_COMPRESS_MAX:
                w._send_compressed_frame_sync(data, WSMsgType.TEXT, None)
            else:
                return texts[i:]  # compressed in a worker thread by send_str, in the writer task
            self.sent_bytes += len(text)
            self.direct_frames += 1
        return None

    # -- the writer task ----------------------------------------------------------------------------
    def _check_write(self) -> None:
        """The watchdog: a batch written for WRITE_TIMEOUT seconds ends the writer (it aborts the socket)."""
        self._watchdog = None
        since, task = self._batch_since, self.task
        if since is None or task is None or task.done():
            return  # nothing being written: armed again by the next batch
        loop = asyncio.get_running_loop()
        if loop.time() >= since + WRITE_TIMEOUT - 0.001:
            self._timed_out = True
            task.cancel()
        else:
            self._watchdog = loop.call_at(since + WRITE_TIMEOUT, self._check_write)

    async def _write(self) -> None:
        ws = self.ws
        loop = asyncio.get_running_loop()
        try:
            while True:
                batch, self._pending = self._pending, None
                if not batch:
                    batch = self.outbox.take()
                if not batch:
                    if self._closing:
                        break
                    if self._flusher is not None:
                        self._direct = True  # caught up: the flusher writes from now on
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                self._batch_since = loop.time()
                if self._watchdog is None:
                    self._watchdog = loop.call_at(self._batch_since + WRITE_TIMEOUT, self._check_write)
                for text in batch:
                    await ws.send_str(text)
                    self.sent_bytes += len(text)
                self._batch_since = None
            self._batch_since = None
            code, reason = self._closing
            if not ws.closed:
                if code != "going_away":  # a bye ends the session for the page; going away means "come back"
                    await ws.send_str(json.dumps({"t": "bye", "code": code, "message": reason}))
                await ws.close(code=CLOSE_CODES.get(code, 4999), message=reason.encode()[:120])
        except (ConnectionError, asyncio.TimeoutError, RuntimeError) as exc:
            log.info("session socket writer stopped: %s %s", type(exc).__name__, exc)
            await self._abort(CLOSE_CODES["too_slow"], b"write failed")
        except asyncio.CancelledError:
            if not self._timed_out:
                raise
            self._timed_out = False
            asyncio.current_task().uncancel()  # our own cancellation, handled here: the socket is closed below
            log.info("session socket writer stopped: a write took over %.0f s", WRITE_TIMEOUT)
            await self._abort(CLOSE_CODES["too_slow"], b"write failed")
        except Exception:  # noqa: BLE001 - a send that fails for any other reason must not leave a silent socket
            log.exception("session socket writer failed")
            await self._abort(CLOSE_CODES["send_failed"], b"send failed")

    async def _abort(self, code: int, message: bytes) -> None:
        """The writer cannot go on: close the socket (the client reconnects and resyncs), stop taking frames."""
        if self._closing is None:
            self._closing = ("send_failed", "send failed")
        self._direct = False
        self._pending = None
        self.outbox.clear()
        # Out of the room at once: no more frames queue up for it, no fresh snapshot is taken on its
        # account, and others see it leave. The client reconnects and resumes (or gets its own reset).
        self.on_dead()
        if not self.ws.closed:
            try:
                await self.ws.close(code=code, message=message)
            except Exception:  # noqa: BLE001 - already broken: nothing more to tell the peer
                log.info("session socket close after a failed send also failed", exc_info=True)

    async def stop(self) -> None:
        self.close("going_away", "closing")
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self.task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.task), 2.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self.task.cancel()


def _refuse(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def session_socket(request: web.Request, *, relay: Relay, identify, control_origin: str,
                         name_of=lambda sid, pid: "") -> web.StreamResponse:
    """``identify(request, sid)`` returns (pid, credential role), or the response refusing the caller;
    ``name_of(sid, pid)`` the name the participant gave when joining (a hello may still set one).
    Either may be a coroutine function (the store is async)."""
    sid = request.match_info["sid"]
    if request.headers.get("Origin") != control_origin:
        return _refuse(403, "bad_origin", "The session socket only accepts Tandem's own pages.")
    who = identify(request, sid)
    if inspect.isawaitable(who):
        who = await who
    if isinstance(who, web.StreamResponse):
        return who
    pid, cred_role = who
    ws = web.WebSocketResponse(compress=True, max_msg_size=MAX_STREAM_MESSAGE, autoping=True)
    if not ws.can_prepare(request).ok:
        return _refuse(400, "not_websocket", "This address takes a WebSocket.")
    await ws.prepare(request)
    _small_send_buffer(request)
    try:
        first = await asyncio.wait_for(ws.receive(), HELLO_TIMEOUT)
    except asyncio.TimeoutError:
        await ws.close(code=CLOSE_CODES["timeout"], message=b"no hello")
        return ws
    hello = _parse(first.data) if first.type == WSMsgType.TEXT else None
    if not isinstance(hello, dict) or hello.get("t") != "hello":
        await ws.close(code=CLOSE_CODES["bad_message"], message=b"first message must be hello")
        return ws
    settings = request.app.get(SETTINGS)
    endpoint = SocketEndpoint(ws, max_lag=getattr(settings, "sync_max_lag", MAX_LAG), transport=request.transport)
    endpoint.start()
    name = name_of(sid, pid)  # the name admitted with, never one the client says now
    if inspect.isawaitable(name):
        name = await name
    resume = hello.get("resume") if isinstance(hello.get("resume"), dict) else None
    try:
        await relay.prepare(sid)  # a room this process does not hold starts from its kept facts
    except RelayUnavailable as exc:  # the page reconnects (a balancer may send it to another node)
        log.info("session socket for %s refused: %s", sid, exc)
        await ws.close(code=CLOSE_CODES["going_away"], message=b"not ready")
        await endpoint.stop()
        return ws
    conn = relay.attach(sid, endpoint, pid=pid, may_lead=cred_role == "leader", kind=str(hello.get("kind")),
                        name=name, resume=resume, now=time.monotonic())
    endpoint.on_dead = lambda: relay.detach(sid, conn, time.monotonic())
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                obj = _parse(msg.data)
                if not isinstance(obj, dict):
                    endpoint.deliver(Frame({"t": "error", "code": "bad_message",
                                            "message": obj or "Frames are JSON objects."}))
                    continue
                relay.submit(sid, conn, obj, len(msg.data), time.monotonic())
            elif msg.type == WSMsgType.BINARY:
                endpoint.deliver(Frame({"t": "error", "code": "bad_message", "message": "Frames are JSON text."}))
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        relay.detach(sid, conn, time.monotonic())
        await endpoint.stop()
    return ws


def _small_send_buffer(request: web.Request) -> None:
    """Keep the kernel's send buffer small, so a slow reader's backlog waits in the outbox, where
    its age is seen (Outbox.max_lag), not in megabytes of socket buffer where nothing sees it."""
    sock = request.transport.get_extra_info("socket") if request.transport is not None else None
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        except OSError:
            log.info("could not shrink a session socket's send buffer", exc_info=True)


def _parse(data: str):
    """The frame as a dict; otherwise None or a short reason (str) to tell the client.

    Parsed by :func:`tandem.safejson.loads`: no NaN/Infinity, nesting bounded (with room to
    encode it again later). Every string that enters the room is well-formed: an unpaired
    surrogate (an emoji cut in half) becomes U+FFFD. A text frame is valid UTF-8, so one can
    only arrive as a ``\\uD8xx``-``\\uDFxx`` escape: only frames holding such an escape are
    walked (a snapshot is megabytes). :func:`sync.protocol.encode` repairs outgoing text too.
    """
    try:
        obj = safejson.loads(data, max_depth=None, check_strings=False)
    except safejson.JsonError as exc:
        return exc.message
    if isinstance(obj, dict) and _SURROGATE_ESCAPE.search(data):
        obj = safejson.repair(obj)
    return obj if isinstance(obj, dict) else None


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")

"""Pushed snippet events: ``GET /snippet/v1/visitors/{visitor}/events``, Server-Sent Events.

The snippet hears ``viewer_joined``, ``control_changed`` and ``session_ended`` of its visitor's
latest session as they happen (no polling). Authorized like the other visitor calls, by the
secret in ``X-Tandem-Visitor`` (the snippet reads the stream with ``fetch``, which can send it;
``EventSource`` cannot), from any origin (CORS, no cookies).

Where events come from. A session's events are its audit rows (``tandem.events.emit`` records
every one; webhooks number the same rows): the store is their memory, so nothing is missed
across a reconnect, a page load of the proxied copy or a server restart. Each SSE event's id
is ``<session id>.<audit row id>``; a client that comes back sends it as ``Last-Event-ID`` and
gets every event after it, in order. A fresh connection (no id, or one of another session)
starts with a ``ready`` event carrying the current position and replays nothing (the page
did not see the session before). ``session_ended`` is the last event of a stream.

How fast. ``emit`` tells :class:`Feed` (``tandem.events.LISTENERS``) and the streams of that
session read the new rows at once. With several nodes (``--redis-url``) ``emit`` also announces
the event over the cluster's Redis channel (``tandem.events.ANNOUNCE``, the relay's ``evt``
message, sent once the row is written), and every other node tells its own listeners
(``tandem.events.heard``): a stream on any node reads the row at once. A stream also looks every
``KEEPALIVE`` seconds, sending a comment line that keeps proxies from closing an idle stream and
finds a dead client; that look also catches a notice lost while Redis was away.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from contextlib import contextmanager

from aiohttp import web

from tandem import appkeys
from tandem import events as tandem_events

from ..routes import ApiError

KEEPALIVE = 15.0  # seconds between comment lines on an idle stream (proxies often cut at 30-60 s)
GONE_CHECK = 1.0  # seconds between looks at whether the client's connection is still there (a local check)
MAX_STREAMS_PER_VISITOR = 4  # open streams of one visitor (a few tabs); a new one past this ends the oldest
# (a page load leaves its old stream behind until the next keepalive write finds it gone)
RETRY_MS = 1000  # the SSE `retry:` hint for EventSource-style clients (the snippet has its own backoff)
PAGE = 100  # audit rows read per look (paged further when more came)
_LAST_ID = re.compile(r"([a-z2-7]{1,64})\.([0-9]{1,18})")

# audit kind -> snippet event name (see snippet/client.js EVENTS)
PUSHED = {"participant.joined": "viewer_joined", "control.changed": "control_changed", "session.ended": "session_ended"}


async def _maybe(value):
    """The store's calls are plain or awaitable (its async conversion): the value either way."""
    return await value if inspect.isawaitable(value) else value


class Watch:
    __slots__ = ("sid", "visitor", "wake", "dropped", "order")

    def __init__(self, sid: str, visitor: str, order: int):
        self.sid = sid
        self.visitor = visitor
        self.order = order
        self.wake = asyncio.Event()
        self.dropped = False


class Feed:
    """Which streams follow which session, and waking them when the session has a new event."""

    def __init__(self) -> None:
        self._watches: dict[str, set[Watch]] = {}
        self._opened = 0

    def notify(self, kind: str, sid: str | None) -> None:
        if sid is not None and kind in PUSHED:
            for w in self._watches.get(sid, ()):
                w.wake.set()

    def count(self, *, sid: str | None = None, visitor: str | None = None) -> int:
        return sum(1 for ws in self._watches.values() for w in ws
                   if (sid is None or w.sid == sid) and (visitor is None or w.visitor == visitor))

    @contextmanager
    def watch(self, sid: str, visitor: str):
        self._opened += 1
        w = Watch(sid, visitor, self._opened)
        mine = sorted((x for ws in self._watches.values() for x in ws if x.visitor == visitor and not x.dropped),
                      key=lambda x: x.order)
        for old in mine[: max(0, len(mine) - MAX_STREAMS_PER_VISITOR + 1)]:
            old.dropped = True
            old.wake.set()
        self._watches.setdefault(sid, set()).add(w)
        try:
            yield w
        finally:
            ws = self._watches.get(sid)
            if ws is not None:
                ws.discard(w)
                if not ws:
                    del self._watches[sid]

    def drop(self, sid: str | None = None) -> int:
        """End the streams of ``sid`` (all when None) from the server side; clients reconnect and resume."""
        n = 0
        for s, ws in list(self._watches.items()):
            if sid is None or s == sid:
                for w in ws:
                    w.dropped = True
                    w.wake.set()
                    n += 1
        return n

    async def on_shutdown(self, app: web.Application) -> None:
        self.drop()


FEED = web.AppKey("snippet_feed", Feed)


async def _check_visitor(request: web.Request, vid: str) -> None:
    hid, _, secret = request.headers.get("X-Tandem-Visitor", "").partition(".")
    if hid != vid or not secret or not await _maybe(request.app[appkeys.STORE].check_visitor(vid, secret)):
        raise ApiError(401, "unauthorized", "Unknown visitor or wrong secret.")


async def _rows_after(store, sid: str, after: int) -> list:
    """The session's audit rows with an id above ``after``, oldest first."""
    rows: list = []
    before = None
    while True:
        page = await _maybe(store.audit_events(session_id=sid, before_id=before, limit=PAGE))
        newer = [r for r in page if r.id > after]
        rows += newer
        if len(newer) < len(page) or len(page) < PAGE or not page:
            break
        before = page[-1].id
    rows.sort(key=lambda r: r.id)
    return rows


def _frame(name: str, event_id: str, data: dict) -> bytes:
    # one JSON line per event: json.dumps never writes a raw newline, so `data:` is one line
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _pushed(row, sid: str) -> tuple[str, dict] | None:
    name = PUSHED.get(row.kind)
    detail = row.detail if isinstance(row.detail, dict) else {}
    if name is None:
        return None
    if name == "viewer_joined":
        if detail.get("role") != "follower":
            return None  # the customer's own join (as tab owner) is not a viewer
        return name, {"session_id": sid, "name": row.actor, "kind": detail.get("kind")}
    if name == "control_changed":
        return name, {"session_id": sid, "control": {k: detail.get(k) for k in ("from", "to", "to_name")}}
    return name, {"session_id": sid}


def _resume_point(request: web.Request, sid: str) -> int | None:
    """The audit row id after which to resume, from ``Last-Event-ID``; None for a fresh stream."""
    m = _LAST_ID.fullmatch(request.headers.get("Last-Event-ID", "").strip())
    return int(m.group(2)) if m and m.group(1) == sid else None


async def stream(request: web.Request) -> web.StreamResponse:
    from .routes import _cors

    vid = request.match_info["visitor"]
    await _check_visitor(request, vid)
    store = request.app[appkeys.STORE]
    feed = request.app[FEED]
    found = await _maybe(store.list_sessions(visitor_id=vid, limit=1))
    if not found:
        raise ApiError(409, "no_session", "This visitor has no session to follow yet.")
    row = found[0]
    sid = row.id
    after = _resume_point(request, sid)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no",
                                       "X-Content-Type-Options": "nosniff"})
    _cors(request, resp)
    with feed.watch(sid, vid) as watch:  # watching before the first look: nothing recorded meanwhile is lost
        await resp.prepare(request)
        try:
            await resp.write(f"retry: {RETRY_MS}\n\n".encode())
            if after is None:
                latest = await _maybe(store.audit_events(session_id=sid, limit=1))
                after = latest[0].id if latest else 0
                await resp.write(_frame("ready", f"{sid}.{after}", {"session_id": sid, "state": row.state}))
                if row.state != "live":  # joined after the end: say so, once
                    await resp.write(_frame("session_ended", f"{sid}.{after}", {"session_id": sid}))
                    return resp
            while not watch.dropped:
                watch.wake.clear()
                for r in await _rows_after(store, sid, after):
                    after = r.id
                    pushed = _pushed(r, sid)
                    if pushed is not None:
                        await resp.write(_frame(pushed[0], f"{sid}.{r.id}", pushed[1]))
                        if pushed[0] == "session_ended":
                            return resp
                if row.state != "live":  # resumed after the end was already heard: say it again, and stop
                    await resp.write(_frame("session_ended", f"{sid}.{after}", {"session_id": sid}))
                    return resp
                waited = 0.0
                while not watch.wake.is_set():
                    try:
                        await asyncio.wait_for(watch.wake.wait(), GONE_CHECK)
                    except asyncio.TimeoutError:
                        if request.transport is None or request.transport.is_closing():
                            return resp  # the client left (a page load, a closed tab): free its place now
                        waited += GONE_CHECK
                        if waited >= KEEPALIVE:
                            break  # look at the store again (a notice lost while Redis was away) and say we are here
                if not watch.wake.is_set():
                    await resp.write(b": keepalive\n\n")
        except ConnectionError:
            pass  # the client went away: it resumes from its last id
    return resp


def setup(app: web.Application) -> None:
    feed = Feed()
    app[FEED] = feed
    app.setdefault(tandem_events.LISTENERS, []).append(feed.notify)
    app.on_shutdown.append(feed.on_shutdown)
    app.router.add_get("/snippet/v1/visitors/{visitor}/events", stream)


# -- the OpenAPI document (viewer/api.py) lists this endpoint ------------------------------
OPENAPI_SECURITY = {"visitorSecret": {
    "type": "apiKey", "in": "header", "name": "X-Tandem-Visitor",
    "description": "The snippet's visitor credential, '<visitor_id>.<secret>' from POST /snippet/v1/visitors (not an API key)."}}


def openapi_paths(base_url: str) -> dict:
    json_error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {"/snippet/v1/visitors/{visitor}/events": {
        "servers": [{"url": base_url}],
        "get": {
            "summary": "The snippet's events, pushed as Server-Sent Events: viewer_joined, control_changed, session_ended",
            "description": (
                "For the visitor's latest session. A fresh stream starts with a `ready` event and replays nothing; every "
                "event has the id `<session_id>.<n>`: send the last one back as Last-Event-ID to get every event after it "
                f"(nothing is missed across a reconnect). A comment line every {KEEPALIVE:.0f} s keeps an idle stream open; "
                "`session_ended` is the last event. CORS from any origin, no cookies."),
            "operationId": "snippet_events",
            "security": [{"visitorSecret": []}],
            "parameters": [
                {"name": "visitor", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"},
                 "description": "The id of the last event received: resume after it"},
            ],
            "responses": {
                "200": {"description": "text/event-stream: events ready, viewer_joined {session_id, name, kind}, "
                                       "control_changed {session_id, control: {from, to, to_name}}, session_ended {session_id}",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                "401": {"description": "Unknown visitor or wrong secret (code unauthorized)", "content": json_error},
                "409": {"description": "The visitor has no session yet (code no_session)", "content": json_error},
            },
        },
    }}

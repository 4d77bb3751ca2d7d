"""The relay between participants: where rooms live and how their output reaches sockets.

Everything the WebSocket shell and the proxy need from sync goes through the small
:class:`Relay` interface. :class:`LocalRelay` keeps every room in this process; a
multi-process deployment implements the same methods over Redis (room state and
replay buffer in Redis, fan-out by pub/sub, ``role_of`` served from a local cache).
"""

from __future__ import annotations

import logging
import secrets
from abc import ABC, abstractmethod
from typing import Callable, Protocol

from .protocol import Frame
from .room import Close, Out, Room, Send

log = logging.getLogger("tandem.sync")

ROOM_IDLE_TTL = 6 * 3600.0  # seconds a room with nobody connected keeps roles and its buffer


class Endpoint(Protocol):
    """One connection as the relay sees it: somewhere to put frames, a way to end it."""

    def deliver(self, frame: Frame, *, force: bool = False) -> bool: ...

    def close(self, code: str, reason: str) -> None: ...


class Relay(ABC):
    @abstractmethod
    def attach(self, sid: str, endpoint: Endpoint, *, pid: str, may_lead: bool, kind: str,
               name: str, resume: dict | None, now: float) -> int:
        """Join a connection to its room; returns the connection id."""

    @abstractmethod
    def submit(self, sid: str, conn: int, msg: object, size: int, now: float) -> None: ...

    @abstractmethod
    def detach(self, sid: str, conn: int, now: float) -> None: ...

    @abstractmethod
    def tick(self, now: float) -> None: ...

    @abstractmethod
    def page_error(self, sid: str, pid: str, code: str, title: str, message: str, url: str) -> None:
        """The tab owner's browser was shown a Tandem error page for a navigation."""

    @abstractmethod
    def role_of(self, sid: str, pid: str) -> str | None:
        """The live role of a participant, or None when the room does not know them."""

    @abstractmethod
    def current_url(self, sid: str) -> str | None:
        """The proxied URL the session's tab owner shows (or its start page)."""

    @abstractmethod
    def active_sessions(self) -> list[str]:
        """Session ids with a room here."""

    @abstractmethod
    def end(self, sid: str) -> None:
        """The session ended: close its connections and forget the room."""

    @abstractmethod
    def close_all(self, code: str, reason: str) -> None: ...


class LocalRelay(Relay):
    def __init__(self, make_room: Callable[[str, str], Room]):
        self._make_room = make_room
        self.rooms: dict[str, Room] = {}
        self._endpoints: dict[int, tuple[str, Endpoint]] = {}
        self._idle_since: dict[str, float] = {}
        self._next = 0

    def room(self, sid: str) -> Room:
        room = self.rooms.get(sid)
        if room is None:
            room = self.rooms[sid] = self._make_room(sid, secrets.token_hex(6))
        return room

    def _dispatch(self, outs: list[Out]) -> None:
        for out in outs:
            if isinstance(out, Send):
                for conn in out.conns:
                    entry = self._endpoints.get(conn)
                    if entry is not None and not entry[1].deliver(out.frame):
                        self._overflow(entry[0], conn)
            elif isinstance(out, Close):
                entry = self._endpoints.pop(out.conn, None)
                if entry is not None:
                    entry[1].close(out.code, out.reason)

    def _overflow(self, sid: str, conn: int) -> None:
        """A follower fell too far behind: its queue was emptied; start it over from the snapshot."""
        entry = self._endpoints.get(conn)
        room = self.rooms.get(sid)
        if entry is None or room is None:
            return
        outs = room.resync(conn, fresh=True)
        if not outs:
            self._dispatch([Close(conn, "too_slow", "This connection fell too far behind.")])
            return
        log.info("room %s: connection %d fell behind; resynchronising from a fresh snapshot", sid, conn)
        for out in outs:
            if isinstance(out, Send):
                for c in out.conns:
                    target = self._endpoints.get(c)
                    if target is not None:
                        target[1].deliver(out.frame, force=c == conn)

    def attach(self, sid, endpoint, *, pid, may_lead, kind, name, resume, now) -> int:
        self._next += 1
        conn = self._next
        self._endpoints[conn] = (sid, endpoint)
        self._idle_since.pop(sid, None)
        self._dispatch(self.room(sid).connect(conn, pid, may_lead=may_lead, kind=kind, now=now, name=name, resume=resume))
        return conn

    def submit(self, sid, conn, msg, size, now) -> None:
        room = self.rooms.get(sid)
        if room is not None:
            self._dispatch(room.receive(conn, msg, now, size))

    def detach(self, sid, conn, now) -> None:
        self._endpoints.pop(conn, None)
        room = self.rooms.get(sid)
        if room is not None:
            self._dispatch(room.disconnect(conn, now))
            if room.empty:
                self._idle_since.setdefault(sid, now)

    def tick(self, now: float) -> None:
        for sid, room in list(self.rooms.items()):
            self._dispatch(room.tick(now))
            if room.empty and now - self._idle_since.setdefault(sid, now) > ROOM_IDLE_TTL:
                del self.rooms[sid]
                self._idle_since.pop(sid, None)

    def active_sessions(self) -> list[str]:
        return list(self.rooms)

    def page_error(self, sid, pid, code, title, message, url) -> None:
        room = self.rooms.get(sid)
        if room is not None:
            self._dispatch(room.report_error(pid, code, title, message, url))

    def role_of(self, sid: str, pid: str) -> str | None:
        room = self.rooms.get(sid)
        return room.role_of(pid) if room is not None else None

    def current_url(self, sid: str) -> str | None:
        room = self.rooms.get(sid)
        return room.current_url() if room is not None else None

    def end(self, sid: str) -> None:
        for conn, (s, endpoint) in list(self._endpoints.items()):
            if s == sid:
                self._endpoints.pop(conn, None)
                endpoint.close("session_ended", "The session has ended.")
        self.rooms.pop(sid, None)

    def close_all(self, code: str, reason: str) -> None:
        for conn, (_sid, endpoint) in list(self._endpoints.items()):
            endpoint.close(code, reason)
        self._endpoints.clear()

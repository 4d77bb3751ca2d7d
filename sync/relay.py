"""The relay between participants: where rooms live and how their output reaches sockets.

Everything the WebSocket shell and the proxy need from sync goes through the small
:class:`Relay` interface. :class:`LocalRelay` keeps every room in this process; a
multi-process deployment implements the same methods over Redis (room state and
replay buffer in Redis, fan-out by pub/sub, ``role_of`` served from a local cache).

Room facts (page, leader, policy, controller, who was there) are handed to a
:class:`FactsStore` whenever they change, and a room this process does not hold is
started from them: after a restart the proxy still knows who leads, and
reconnecting participants find their roles. A room nobody is connected to drops
its replay buffer after ``BUFFER_IDLE_TTL`` (a returning follower gets a fresh
snapshot) and is forgotten after ``ROOM_IDLE_TTL`` (its facts are kept).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from abc import ABC, abstractmethod
from typing import Callable, Protocol

from .protocol import Frame
from .room import VIEW, Close, Out, Room, Send

log = logging.getLogger("tandem.sync")

ROOM_IDLE_TTL = 30 * 60.0  # seconds a room with nobody connected stays in memory (its facts are kept elsewhere)
BUFFER_IDLE_TTL = 60.0  # seconds an empty room keeps its replay buffer: covers a reconnect, not an abandoned tab
QUIET_MESSAGES = frozenset({"ev", "ptr", "ping"})  # messages that change no room fact (ev: unless the page changed)


class RelayUnavailable(Exception):
    """The relay cannot take this connection now (a networked backend does not answer): the shell
    closes it as "going away", and the page reconnects, maybe through another node."""


class FactsStore(Protocol):
    """Where a session's room facts are kept (tandem.live.RoomFacts)."""

    def get(self) -> dict | None: ...

    def put(self, facts: dict) -> None: ...

    async def load(self) -> dict | None: ...

    async def flush(self) -> None: ...

    def writing(self): ...  # an awaitable while puts are not yet durable, else None


def role_in_facts(facts: dict | None, pid: str) -> str | None:
    """A participant's role as a room's kept facts say (``Room.role_of`` for a room held elsewhere)."""
    if not isinstance(facts, dict):
        return None
    if facts.get("leader") == pid:
        return "leader"
    people = facts.get("people")
    known = isinstance(people, list) and any(isinstance(p, list) and p and p[0] == pid for p in people)
    # someone else leads (the facts do not say whether they are here): an unknown pid follows until it
    # connects, as Room.role_of has it while the leader is present
    return "follower" if known or isinstance(facts.get("leader"), str) else None


class Endpoint(Protocol):
    """One connection as the relay sees it: somewhere to put frames, a way to end it."""

    def deliver(self, frame: Frame, *, force: bool = False) -> bool: ...

    def close(self, code: str, reason: str) -> None: ...


class Relay(ABC):
    @abstractmethod
    def attach(self, sid: str, endpoint: Endpoint, *, pid: str, may_lead: bool, kind: str,
               name: str, resume: dict | None, now: float) -> int:
        """Join a connection to its room; returns the connection id."""

    async def prepare(self, sid: str) -> None:
        """Called before a connection joins ``sid``'s room: fetch what a networked backend keeps."""

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

    async def ready(self) -> bool:
        """True when this relay can take sessions (a networked one: its backend answers)."""
        return True

    async def live_role(self, sid: str, pid: str) -> str | None:
        """``role_of`` as the proxy asks it on every request: a networked relay may ask its directory."""
        return self.role_of(sid, pid)

    async def mirror_allows(self, sid: str, upstream_url: str) -> bool:
        """Whether the stream ``sid``'s followers were sent uses ``upstream_url`` (sync/resources.py):
        the follower wall serves a follower nothing else. A networked relay asks the room's owner."""
        return False

    async def mirror_refs(self, sid: str, source: str, urls: list[str]) -> None:
        """``source`` (an upstream URL) was served to a follower and leads to ``urls``: what a stylesheet
        references, where a redirect goes (allowed from then on whenever ``source`` is)."""

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
    def __init__(self, make_room: Callable[[str, str], Room],
                 facts_of: Callable[[str], FactsStore | None] = lambda sid: None,
                 on_change: Callable[[str, Room, tuple, tuple], None] | None = None):
        self._make_room = make_room
        self._facts_of = facts_of
        # on_change(sid, room, before, after): who leads, who controls, who is present changed
        # (the app edge turns it into leader.changed / control.changed / participant.left events)
        self._on_change = on_change
        self._seen: dict[str, tuple] = {}
        self.rooms: dict[str, Room] = {}
        self._endpoints: dict[int, tuple[str, Endpoint]] = {}
        self._idle_since: dict[str, float] = {}
        self._saved: dict[str, dict] = {}  # facts last handed to the FactsStore, per room
        self._awaiting_facts: dict[str, list[Callable[[], None]]] = {}  # rooms whose frames wait for their facts' write
        self._senders: set[asyncio.Task] = set()  # the tasks that send held frames once the facts are written
        self._next = 0

    def room(self, sid: str, now: float | None = None) -> Room:
        room = self.rooms.get(sid)
        if room is None:
            room = self.rooms[sid] = self._make_room(sid, secrets.token_hex(6))
            kept = self._facts_of(sid)
            facts = kept.get() if kept is not None else None
            if facts:
                room.restore(facts, time.monotonic() if now is None else now)
                log.info("room %s: restored (leader %s, %d participants)", sid, room.leader, len(room.participants))
            self._saved[sid] = room.facts()
        return room

    async def prepare(self, sid: str) -> None:
        """Before a connection joins a room this process does not hold: fetch its kept facts
        (a networked backend has them only after a round trip)."""
        if sid not in self.rooms:
            kept = self._facts_of(sid)
            if kept is not None:
                await kept.load()

    def _known(self, sid: str) -> Room | None:
        """The room here, or one started from kept facts (after a restart), or None."""
        room = self.rooms.get(sid)
        if room is None:
            kept = self._facts_of(sid)
            if kept is not None and kept.get():
                room = self.room(sid)
        return room

    def _keep(self, sid: str) -> None:
        """Hand the room's facts to the FactsStore when they changed (and tell on_change who changed)."""
        room = self.rooms.get(sid)
        if room is None:
            return
        if self._on_change is not None:
            seen = (room.leader, room.controller, frozenset(p.pid for p in room.participants.values() if p.present))
            before = self._seen.get(sid)
            self._seen[sid] = seen
            if before is not None and before != seen:
                self._on_change(sid, room, before, seen)
        facts = room.facts()
        if facts != self._saved.get(sid):
            kept = self._facts_of(sid)
            if kept is not None:
                kept.put(facts)
            self._saved[sid] = facts

    def _dispatch(self, outs: list[Out], *, joining: int | None = None) -> None:
        """Perform a room's outputs. ``joining``: a connection being attached, whose welcome and replay
        are forced into its queue (a late joiner in a busy room gets them, not a reset)."""
        for out in outs:
            if isinstance(out, Send):
                for conn in out.conns:
                    entry = self._endpoints.get(conn)
                    if entry is not None and not entry[1].deliver(out.frame, force=conn == joining):
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

    def _new_conn(self) -> int:
        self._next += 1
        return self._next

    def attach(self, sid, endpoint, *, pid, may_lead, kind, name, resume, now) -> int:
        conn = self._new_conn()
        self._join(sid, conn, endpoint, pid=pid, may_lead=may_lead, kind=kind, name=name, resume=resume, now=now)
        return conn

    def _join(self, sid, conn, endpoint, *, pid, may_lead, kind, name, resume, now) -> None:
        self._endpoints[conn] = (sid, endpoint)
        self._idle_since.pop(sid, None)
        self._perform(sid, self.room(sid, now).connect(conn, pid, may_lead=may_lead, kind=kind, now=now, name=name,
                                                       resume=resume), joining=conn)

    def _perform(self, sid: str, outs: list[Out], *, joining: int | None = None) -> None:
        """A room's outputs, sent only once its facts are durable: a participant who saw "you control"
        must find it again after a crash (SIGKILL right after the frame). The facts are handed to the
        store first; a store that writes asynchronously (Redis) holds the room's frames until it has
        (:meth:`_in_order`). Kept again after, for what performing the outputs changed (a resync)."""
        self._keep(sid)

        def perform() -> None:
            self._dispatch(outs, joining=joining)
            self._keep(sid)

        self._in_order(sid, perform)

    def _in_order(self, sid: str, step: Callable[[], None]) -> None:
        """Run ``step`` (which sends a room's frames) now, or, while the room's facts are still being
        written, after the write and after every step held before it: frames keep their order."""
        held = self._awaiting_facts.get(sid)
        if held is not None:
            held.append(step)
            return
        kept = self._facts_of(sid)
        writing = getattr(kept, "writing", None)
        if writing is None or writing() is None:
            step()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            step()  # no loop (a synchronous caller): nothing could be waited for
            return
        self._awaiting_facts[sid] = [step]
        task = loop.create_task(self._send_when_kept(sid, kept))
        self._senders.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._senders.discard)

    async def _send_when_kept(self, sid: str, kept) -> None:
        try:
            while (pending := kept.writing()) is not None:  # puts made while waiting are waited for too
                await pending
        finally:
            for step in self._awaiting_facts.pop(sid, None) or []:
                try:
                    step()
                except Exception:
                    log.exception("room %s: sending held frames failed", sid)
            self._after_held()

    def _after_held(self) -> None:
        """Held steps ran outside any entry point: what they produced for elsewhere goes now (a cluster)."""

    def submit(self, sid, conn, msg, size, now) -> None:
        room = self.rooms.get(sid)
        if room is not None:
            t = msg.get("t") if isinstance(msg, dict) else None
            url = room.page_url
            outs = room.receive(conn, msg, now, size)
            keep = t not in QUIET_MESSAGES or room.page_url != url
            if keep:
                self._perform(sid, outs)
            elif sid in self._awaiting_facts:
                self._in_order(sid, lambda: self._dispatch(outs))
            else:
                self._dispatch(outs)

    def detach(self, sid, conn, now) -> None:
        self._endpoints.pop(conn, None)
        room = self.rooms.get(sid)
        if room is not None:
            self._perform(sid, room.disconnect(conn, now))
            if room.empty:
                self._idle_since.setdefault(sid, now)

    def tick(self, now: float) -> None:
        for conn, (sid, endpoint) in list(self._endpoints.items()):
            room = self.rooms.get(sid)
            c = room.conns.get(conn) if room is not None else None
            behind = getattr(endpoint, "behind", None)  # a socket knows how long its frames have waited
            # followers' views only: they can start over from a snapshot (a tab owner's page cannot)
            if c is not None and c.kind == VIEW and behind is not None and behind(now):
                # started over from a fresh snapshot, the others untouched (after frames held before it)
                self._in_order(sid, lambda sid=sid, conn=conn: self._overflow(sid, conn))
        for sid, room in list(self.rooms.items()):
            self._perform(sid, room.tick(now))
            if not room.empty:
                continue
            idle = now - self._idle_since.setdefault(sid, now)
            if idle > ROOM_IDLE_TTL:
                self._forget(sid)
            elif idle > BUFFER_IDLE_TTL and room.buffer.ready:
                room.buffer.clear()  # nobody to replay to; whoever comes back gets a fresh snapshot

    def _forget(self, sid: str) -> None:
        self.rooms.pop(sid, None)
        self._seen.pop(sid, None)
        self._idle_since.pop(sid, None)
        self._saved.pop(sid, None)

    def active_sessions(self) -> list[str]:
        return list(self.rooms)

    def lag(self, now: float) -> float:
        """Seconds the oldest frame still queued for any connection here has waited (for metrics)."""
        return max((e.outbox.lag(now) for _sid, e in self._endpoints.values() if hasattr(e, "outbox")), default=0.0)

    def page_error(self, sid, pid, code, title, message, url) -> None:
        room = self._known(sid)
        if room is not None:
            self._dispatch(room.report_error(pid, code, title, message, url))

    def role_of(self, sid: str, pid: str) -> str | None:
        room = self._known(sid)
        return room.role_of(pid) if room is not None else None

    async def mirror_allows(self, sid: str, upstream_url: str) -> bool:
        room = self.rooms.get(sid)
        return room is not None and room.mirror_allows(upstream_url)

    async def mirror_refs(self, sid: str, source: str, urls: list[str]) -> None:
        room = self.rooms.get(sid)
        if room is not None:
            room.resources.note_refs(source, urls)

    def current_url(self, sid: str) -> str | None:
        room = self._known(sid)
        return room.current_url() if room is not None else None

    def end(self, sid: str) -> None:
        for conn, (s, endpoint) in list(self._endpoints.items()):
            if s == sid:
                self._endpoints.pop(conn, None)
                endpoint.close("session_ended", "The session has ended.")
        self._forget(sid)

    def close_all(self, code: str, reason: str) -> None:
        for conn, (_sid, endpoint) in list(self._endpoints.items()):
            endpoint.close(code, reason)
        self._endpoints.clear()

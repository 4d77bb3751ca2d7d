"""A co-browsing room as a pure state machine: calls in, messages out. No sockets, no clock.

Theory of operation
-------------------
The WebSocket shell owns connections; the room only sees integer connection ids
and the participant id (``pid``) each belongs to. Every entry point —
``connect``, ``receive``, ``disconnect``, ``tick`` — takes the current time and
returns a list of outputs: ``Send(conns, frame)`` or ``Close(conn, code, reason)``.
The shell performs them in order. That makes every behaviour here testable by
feeding calls and reading outputs, with no event loop (like h11).

Participants and roles. One participant is the *leader* (the tab owner): its
browser runs the real page. A leader has *tab* connections (the panel inside each
proxied page it has open) and maybe *view* connections (the session page). One tab
connection is the *source*: the DOM stream comes from it and control input goes to
it. Everyone else is a *follower*, whose *view* connection shows the mirror.

Presence. A participant with no connection stays present for ``PRESENCE_GRACE``
seconds (the leader's panel reconnects on every page load), then is shown as away.
A connection silent for ``HEARTBEAT_TIMEOUT`` is closed.

Stream. Leader events are numbered (``seq``, per room, with a random ``epoch`` per
room instance) and kept in a :class:`ReplayBuffer` from the latest full snapshot.
A follower view is *synced* once it has a snapshot; only synced views get live
events. A reconnecting view sends ``resume: {epoch, seq}`` and gets exactly the
frames after ``seq``, or a reset and the snapshot when that is not possible.

Control. The leader always controls its own page. At most one follower holds
control at a time (``controller``); only that follower's input is forwarded to the
source tab. Policy ``ask``: followers request, the leader grants; ``free``: a
follower may take control; ``none``: nobody but the leader acts. The leader can
always take control back. Hand-over (``lead``) makes another participant the
leader: it loads the current URL through the proxy and becomes the source.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Union

from . import protocol as P
from .buffer import ReplayBuffer
from .protocol import Frame
from .resources import MirrorResources

PRESENCE_GRACE = 5.0  # seconds without a connection before a participant shows as away: covers a page load
HEARTBEAT_TIMEOUT = 45.0  # seconds of silence before a connection is considered dead (clients ping every 15 s)
FORGET_AFTER = 3600.0  # seconds an away participant is remembered (name, pid) before it is dropped
MAX_PARTICIPANTS = 100  # per room: beyond a support session's needs, bounds fan-out cost
MAX_CONNS_PER_PARTICIPANT = 8  # tabs and session pages of one person
POINTER_INTERVAL = 1 / 30  # seconds between relayed pointer moves of one participant: smooth enough, and
# with 50 people moving their mice the fan-out stays at 50 x 49 x 30 frames a second, not 60
DRAW_INTERVAL = 1 / 60  # strokes need more points to look like strokes

LEADER, FOLLOWER = "leader", "follower"
TAB, VIEW = "tab", "view"


@dataclass
class Send:
    conns: tuple[int, ...]
    frame: Frame


@dataclass
class Close:
    conn: int
    code: str
    reason: str


Out = Union[Send, Close]


@dataclass
class Conn:
    id: int
    pid: str
    kind: str
    last_seen: float
    synced: bool = False


@dataclass
class Participant:
    pid: str
    name: str
    may_lead: bool
    conns: list[int] = field(default_factory=list)
    present: bool = True
    left_at: float | None = None


class Room:
    def __init__(
        self,
        sid: str,
        *,
        epoch: str,
        start_url: str = "",
        policy: str = "ask",
        to_proxy: Callable[[str], str | None] = lambda url: None,
        to_upstream: Callable[[str], str | None] = lambda url: None,
        permissions: Callable[[], dict] = dict,
        buffer: ReplayBuffer | None = None,
    ):
        if policy not in P.POLICIES:
            raise ValueError(f"unknown control policy {policy!r}")
        self.sid = sid
        self.epoch = epoch
        self.start_url = start_url
        self.policy = policy
        self.to_proxy = to_proxy
        self.to_upstream = to_upstream
        self.permissions = permissions
        self.buffer = buffer or ReplayBuffer()
        self.resources = MirrorResources(lambda url: self.to_upstream(url))  # what followers' mirrors may load
        self.participants: dict[str, Participant] = {}
        self.conns: dict[int, Conn] = {}
        self.leader: str | None = None
        self.source: int | None = None
        self.controller: str | None = None
        self.requests: list[str] = []
        self.seq = 0
        self.page_url: str | None = None  # proxied URL the leader shows
        self.title = ""
        self.snapshot_pending = False
        self.page_error: dict | None = None  # the tab owner's browser shows a Tandem error page instead
        self._last_ptr: dict[str, float] = {}
        self._new_source = False  # the source changed and has not sent its snapshot yet
        self._guests = 0
        self.chat = ChatLog()  # the last messages, for joiners: lives and dies with this room, never in facts()

    # -- queries -------------------------------------------------------------------------
    def role_of(self, pid: str) -> str | None:
        """LEADER, FOLLOWER, or None when the room has no say (the credential's role stands). A pid the
        room does not know (never connected, left, forgotten) is a follower while someone else leads
        and is here: a tab owner who handed the tab over and left is not the tab owner again."""
        if pid == self.leader:
            return LEADER
        if pid in self.participants:
            return FOLLOWER
        leader = self.participants.get(self.leader) if self.leader is not None else None
        return FOLLOWER if leader is not None and leader.present else None

    @property
    def empty(self) -> bool:
        return not self.conns

    def current_url(self) -> str | None:
        """The proxied URL a new tab owner should load: always one of this session's (see :meth:`is_ours`)."""
        if self.page_url and self.is_ours(self.page_url):
            return self.page_url
        start = self.to_proxy(self.start_url) if self.start_url else None
        return start if start and self.is_ours(start) else None

    def is_ours(self, url: Any) -> bool:
        """Whether ``url`` is an http(s) URL on a proxied host of this session (``to_upstream`` maps it back).

        Every page URL the room is told (``page``, a snapshot's ``href``) and every URL it sends a
        browser to (hand-over) passes this: a page cannot make the session show, or send the next
        tab owner to, ``javascript:`` or an address outside the session.
        """
        if not isinstance(url, str) or len(url) > P.MAX_URL or not url.lower().startswith(("http://", "https://")):
            return False
        if any(ord(c) < 0x21 or ord(c) == 0x7F or c == "\\" for c in url):
            return False
        upstream = self.to_upstream(url)
        return isinstance(upstream, str) and upstream.lower().startswith(("http://", "https://"))

    def state(self) -> dict[str, Any]:
        people = [
            {
                "id": p.pid,
                "name": p.name,
                "role": self.role_of(p.pid),
                "present": p.present,
                "control": p.pid == self.controller,
            }
            for p in self.participants.values()
        ]
        return {
            "t": "state",
            "participants": people,
            "leader": self.leader,
            "controller": self.controller,
            "requests": list(self.requests),
            "policy": self.policy,
            "url": (self.to_upstream(self.page_url) if self.page_url else None) or self.start_url,
            "title": self.title,
            "streaming": self.buffer.ready,
            "tab": self.source is not None,
            "error": self.page_error,
        }

    def mirror_allows(self, upstream_url: str) -> bool:
        """Whether the stream followers were sent uses ``upstream_url`` (sync/resources.py)."""
        return self.resources.allows(upstream_url)

    # -- facts that outlive this room (kept by the live state: a restart restores them) ---
    def facts(self) -> dict[str, Any]:
        """What a restarted room needs: the page, who leads, the control policy, who controls, who was here."""
        return {"url": self.page_url, "title": self.title, "leader": self.leader, "policy": self.policy,
                "controller": self.controller,
                "people": [[p.pid, p.name, p.may_lead] for p in self.participants.values()]}

    def restore(self, facts: Any, now: float) -> None:
        """Start from ``facts`` (see :meth:`facts`): everyone as just disconnected, so whoever does not
        come back within ``PRESENCE_GRACE`` shows as away and gives up control, as after a page load."""
        if not isinstance(facts, dict):
            return
        people = facts.get("people")
        for entry in people if isinstance(people, list) else ():
            if (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str) and isinstance(entry[1], str)
                    and isinstance(entry[2], bool) and len(self.participants) < MAX_PARTICIPANTS):
                self.participants[entry[0]] = Participant(entry[0], _clean_name(entry[1]), entry[2], left_at=now)
                self._guests += 0 if entry[2] else 1
        url, title = facts.get("url"), facts.get("title")
        if isinstance(url, str) and len(url) <= P.MAX_URL:
            self.page_url = url
        if isinstance(title, str):
            self.title = title[: P.MAX_TITLE]
        if P.one_of(facts.get("policy"), P.POLICIES):
            self.policy = facts["policy"]
        if P.one_of(facts.get("leader"), self.participants):
            self.leader = facts["leader"]
        if (P.one_of(facts.get("controller"), self.participants) and facts["controller"] != self.leader
                and self.policy != "none"):
            self.controller = facts["controller"]

    # -- helpers -------------------------------------------------------------------------
    def _all(self, *, exclude_pid: str | None = None) -> tuple[int, ...]:
        return tuple(c.id for c in self.conns.values() if c.pid != exclude_pid)

    def _of(self, pid: str, kind: str | None = None) -> tuple[int, ...]:
        p = self.participants.get(pid)
        if p is None:
            return ()
        return tuple(c for c in p.conns if kind is None or self.conns[c].kind == kind)

    def _broadcast_state(self) -> list[Out]:
        conns = self._all()
        return [Send(conns, Frame(self.state()))] if conns else []

    def _viewers(self) -> list[Conn]:
        return [c for c in self.conns.values() if c.kind == VIEW and c.pid != self.leader]

    @staticmethod
    def _err(conn: int, code: str, message: str) -> list[Out]:
        return [Send((conn,), P.error(code, message))]

    def _replay(self, conn: Conn, resume: dict | None) -> list[Out]:
        """What a follower view needs to catch up: the frames after its resume point, or a reset and the snapshot."""
        if isinstance(resume, dict) and resume.get("epoch") == self.epoch and isinstance(resume.get("seq"), int):
            frames = self.buffer.replay(resume["seq"])  # in blocks: a few Sends, not one per buffered frame
            if frames is not None:
                conn.synced = True
                return [Send((conn.id,), f) for f in frames]
        frames = self.buffer.replay()
        conn.synced = bool(frames)
        return [Send((conn.id,), Frame({"t": "reset"}))] + [Send((conn.id,), f) for f in frames]

    def _set_source(self, conn_id: int | None) -> list[Out]:
        out: list[Out] = []
        old = self.source
        self.source = conn_id
        if old is not None and old != conn_id and old in self.conns:
            out.append(Send((old,), Frame({"t": "paused"})))
        if conn_id is not None:
            self.snapshot_pending = True
            self._new_source = conn_id != old  # its events mean nothing until its own snapshot starts
            out.append(Send((conn_id,), Frame({"t": "snapshot"})))
        return out

    # -- entry points --------------------------------------------------------------------
    def connect(self, conn_id: int, pid: str, *, may_lead: bool, kind: str, now: float,
                name: str = "", resume: dict | None = None) -> list[Out]:
        if kind not in (TAB, VIEW):
            return [Close(conn_id, "bad_message", "hello.kind must be 'tab' or 'view'")]
        p = self.participants.get(pid)
        if p is None:
            if len(self.participants) >= MAX_PARTICIPANTS:
                self._forget(now, force=True)
                if len(self.participants) >= MAX_PARTICIPANTS:
                    return [Close(conn_id, "room_full", f"This session already has {MAX_PARTICIPANTS} participants.")]
            self._guests += 0 if may_lead else 1
            default = "Host" if may_lead else f"Guest {self._guests}"
            p = Participant(pid, _clean_name(name) or default, may_lead)
            self.participants[pid] = p
        elif len(p.conns) >= MAX_CONNS_PER_PARTICIPANT:
            return [Close(conn_id, "too_many_connections", "Close some of your other Tandem tabs first.")]
        elif name:
            p.name = _clean_name(name) or p.name
        conn = Conn(conn_id, pid, kind, now)
        self.conns[conn_id] = conn
        p.conns.append(conn_id)
        p.present, p.left_at = True, None
        if may_lead and (self.leader is None or not self.participants[self.leader].present):
            if self.leader != pid:
                self._reset_control()
            self.leader = pid
        role = self.role_of(pid)
        out: list[Out] = [Send((conn_id,), Frame({"t": "welcome", "you": pid, "role": role, "epoch": self.epoch,
                                                  "seq": self.seq, "state": self.state()}))]
        out += [Send((conn_id,), f) for f in self.chat.history]  # the client skips ids it already has
        if kind == TAB:
            if role != LEADER:
                out.append(Send((conn_id,), Frame({"t": "role", "role": FOLLOWER})))
            else:
                out += self._set_source(conn_id)
        elif role == LEADER:
            url = self.current_url()
            out.append(Send((conn_id,), Frame({"t": "role", "role": LEADER, "url": url})))
        else:
            out += self._replay(conn, resume)
        return out + self._broadcast_state()

    def disconnect(self, conn_id: int, now: float) -> list[Out]:
        conn = self.conns.pop(conn_id, None)
        if conn is None:
            return []
        p = self.participants.get(conn.pid)
        out: list[Out] = []
        if p is not None:
            p.conns = [c for c in p.conns if c != conn_id]
            if not p.conns:
                p.left_at = now
        if conn_id == self.source:
            others = self._of(conn.pid, TAB)
            out += self._set_source(others[-1] if others else None)
            if self.source is None:
                out += self._broadcast_state()
        return out

    def tick(self, now: float) -> list[Out]:
        out: list[Out] = []
        for conn in list(self.conns.values()):
            if now - conn.last_seen > HEARTBEAT_TIMEOUT:
                out.append(Close(conn.id, "timeout", "No heartbeat from this connection."))
                out += self.disconnect(conn.id, now)
        changed = False
        for p in self.participants.values():
            on_error_page = p.pid == self.leader and self.page_error is not None
            if (p.present and not p.conns and p.left_at is not None and now - p.left_at >= PRESENCE_GRACE
                    and not on_error_page):
                p.present = False
                changed = True
                if self.controller == p.pid:
                    self.controller = None
                if p.pid in self.requests:
                    self.requests.remove(p.pid)
        changed |= self._forget(now)
        return out + (self._broadcast_state() if changed else [])

    def _forget(self, now: float, force: bool = False) -> bool:
        gone = [p.pid for p in self.participants.values()
                if not p.present and p.pid != self.leader and p.left_at is not None
                and (force or now - p.left_at > FORGET_AFTER)]
        for pid in gone:
            del self.participants[pid]
        return bool(gone)

    def report_error(self, pid: str, code: str, title: str, message: str, url: str) -> list[Out]:
        """The proxy answered the tab owner's navigation with an error page (site not allowed,
        unreachable…): everyone is told, and the tab owner counts as present while it shows."""
        if pid != self.leader:
            return []
        self.page_error = {"code": code[:40], "title": title[: P.MAX_TITLE], "message": message[:500],
                           "url": (self.to_upstream(url) or "")[: P.MAX_URL]}
        return self._broadcast_state()

    def resync(self, conn_id: int, *, fresh: bool = False) -> list[Out]:
        """Start a follower over: from the buffer, or (``fresh``) from a new snapshot of the page.

        ``fresh`` is for a follower that fell too far behind to be sent the buffer: it
        gets a reset now and the snapshot the leader takes for it (which everyone gets).
        """
        conn = self.conns.get(conn_id)
        if conn is None or conn.kind != VIEW:
            return []
        state = Send((conn_id,), Frame(self.state()))
        # fresh: its queue was emptied, chat messages in it too: they come again (the client skips ids it has)
        chat = [Send((conn_id,), f) for f in self.chat.history] if fresh else []
        if not fresh or self.source is None:
            return [state, *chat] + self._replay(conn, None)
        conn.synced = False
        out: list[Out] = [state, *chat, Send((conn_id,), Frame({"t": "reset"}))]
        if not self.snapshot_pending:
            self.snapshot_pending = True
            out.append(Send((self.source,), Frame({"t": "snapshot"})))
        return out

    def receive(self, conn_id: int, msg: Any, now: float, size: int = 0) -> list[Out]:
        conn = self.conns.get(conn_id)
        if conn is None:
            return []
        conn.last_seen = now
        if not isinstance(msg, dict) or not isinstance(msg.get("t"), str):
            return self._err(conn_id, "bad_message", "Every message is a JSON object with a string 't'.")
        t = msg["t"]
        if t != "ev" and size > P.MAX_CONTROL_MESSAGE:
            return self._err(conn_id, "too_large", f"Messages other than the DOM stream are limited to {P.MAX_CONTROL_MESSAGE} bytes.")
        handler = getattr(self, "_on_" + t, None) if t.isidentifier() else None
        if handler is None:
            return self._err(conn_id, "bad_message", f"Unknown message type {t[:40]!r}.")
        return handler(conn, msg, now)

    # -- message handlers ----------------------------------------------------------------
    def _on_ping(self, conn: Conn, msg: dict, now: float) -> list[Out]:
        return []

    def _on_ev(self, conn: Conn, msg: dict, now: float) -> list[Out]:
        if conn.id != self.source:
            return []  # a paused or demoted tab still flushing: not an error, just not the stream
        events = msg.get("e")
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            return self._err(conn.id, "bad_message", "ev.e must be a list of rrweb events.")
        out: list[Out] = []
        for run, starts, full, ephemeral in _split(events):
            if self._new_source and not starts:
                continue  # a new source's changes to a page nobody has from it: not applicable on the old snapshot
            self._new_source = False
            frame = P.stream_frame(self.seq + 1, run, ephemeral)
            self.seq += len(run)
            if starts:
                href = run[0].get("data", {}).get("href") if isinstance(run[0].get("data"), dict) else None
                if self.is_ours(href):
                    self.page_url = href
                was_streaming = self.buffer.ready
            if full:
                self.resources.new_page()
            if not ephemeral:
                self.resources.note_text(frame.text, self.page_url)  # the text every follower is sent
            result = self.buffer.add(frame, starts, full)
            if starts:
                self.snapshot_pending = False
                if self.page_error is not None:
                    self.page_error = None
                    out += self._broadcast_state()
                for v in self._viewers():
                    v.synced = True
                if not was_streaming:
                    out += self._broadcast_state()
            targets = tuple(v.id for v in self._viewers() if v.synced)
            if targets:
                out.append(Send(targets, frame))
            if result != "ok" and not self.snapshot_pending and self.source is not None:
                self.snapshot_pending = True
                out.append(Send((self.source,), Frame({"t": "snapshot"})))
        return out

    def _on_page(self, conn: Conn, msg: dict, now: float) -> list[Out]:
        if conn.id != self.source:
            return []
        url, title = msg.get("url"), msg.get("title", "")
        if not isinstance(url, str) or len(url) > P.MAX_URL or not isinstance(title, str):
            return self._err(conn.id, "bad_message", "page needs a url string and a title string.")
        if not self.is_ours(url):
            return self._err(conn.id, "bad_url", "page.url must be a proxied http(s) address of this session.")
        self.page_url, self.title = url, title[: P.MAX_TITLE]
        return self._broadcast_state()

    def _on_idle(self, conn: Conn, msg: dict, now: float) -> list[Out]:
        """The source tab stopped recording (nobody watches): a joiner must wait for its next
        snapshot rather than be shown the stale one (another page, or this one long ago)."""
        if conn.id != self.source or not self.buffer.ready:
            return []
        self.buffer.clear()
        return self._broadcast_state()

    def _on_active(self, conn: Conn, msg: dict, now: float) -> list[Out]:
        if conn.kind != TAB or conn.pid != self.leader or conn.id == self.source:
            return []
        return self._set_source(conn.id)

    def _on_ptr(self, conn: Conn, msg: dict, now: float) -> list[Out]:
        x, y = msg.get("x"), msg.get("y")
        if not msg.get("hide"):
            interval = DRAW_INTERVAL if msg.get("d") else POINTER_INTERVAL
            if now - self._last_ptr.get(conn.pid, -1.0) < interval - 0.002:  # slack: a client at exactly the rate passes
                return []  # too soon: the next move carries the position anyway
            self._last_ptr[conn.pid] = now
        if msg.get("hide"):
            frame = Frame({"t": "ptr", "p": conn.pid, "hide": True}, kind="ptr", key=conn.pid)
        elif _number(x) and _number(y):
            draw = bool(msg.get("d")) and self.permissions().get(P.DRAW_PERMISSION, True) is not False
            frame = Frame({"t": "ptr", "p": conn.pid, "x": round(x, 1), "y": round(y, 1), "d": draw},
                          kind="ptr", key=conn.pid)
        else:
            return self._err(conn.id, "bad_message", "ptr needs numbers x and y.")
        targets = self._all(exclude_pid=conn.pid)
        return [Send(targets, frame)] if targets else []

    def _on_input(self, conn: Conn, msg: dict, now: float) -> list[Out]:
        if conn.pid == self.leader:
            return self._err(conn.id, "bad_message", "The tab owner acts on the page directly.")
        if conn.pid != self.controller:
            return self._err(conn.id, "no_control", "You do not have control of the page. Ask for control first.")
        i = msg.get("i")
        problem = _check_input(i)
        if problem:
            return self._err(conn.id, "bad_input", problem)
        if self.permissions().get(P.INPUT_PERMISSION[i["kind"]], True) is False:
            return self._err(conn.id, "not_permitted", "This session does not allow that kind of action.")
        if i["kind"] == "nav" and i.get("action") == "go":
            proxied = self.to_proxy(i["url"])
            if proxied is None:
                return self._err(conn.id, "bad_url", "That is not a web address Tandem can open.")
            i = {**i, "url": proxied}
        if self.source is None:
            return self._err(conn.id, "no_tab", "The tab owner's page is not connected right now.")
        return [Send((self.source,), Frame({"t": "input", "p": conn.pid, "i": i}))]

    def _on_control(self, conn: Conn, msg: dict, now: float) -> list[Out]:
        a, target = msg.get("a"), msg.get("p")
        pid = conn.pid
        is_leader = pid == self.leader
        if not P.one_of(a, P.CONTROL_ACTIONS):
            return self._err(conn.id, "bad_message", "control.a is one of " + ", ".join(sorted(P.CONTROL_ACTIONS)))
        if a == "request":
            if is_leader:
                return self._err(conn.id, "bad_message", "The tab owner already controls the page.")
            if self.policy == "none":
                return self._err(conn.id, "not_allowed", "Only the tab owner acts in this session.")
            if self.controller == pid:
                return []
            if self.policy == "free":
                self.controller = pid
                self._drop_request(pid)
            elif pid not in self.requests:
                self.requests.append(pid)
        elif a == "take":
            if is_leader:
                self.controller = None
            elif self.policy == "free":
                self.controller = pid
                self._drop_request(pid)
            else:
                return self._err(conn.id, "not_allowed", "Ask the tab owner for control.")
        elif a == "release":
            if self.controller == pid:
                self.controller = None
            self._drop_request(pid)
        else:  # grant, deny, revoke: the leader's decisions
            if not is_leader:
                return self._err(conn.id, "not_leader", "Only the tab owner can do that.")
            if a == "revoke":
                self.controller = None
            elif a == "deny":
                self._drop_request(target)
            else:
                p = self.participants.get(target) if isinstance(target, str) else None
                if p is None or not p.present or target == self.leader:
                    return self._err(conn.id, "bad_target", "That participant is not here.")
                if self.policy == "none":
                    return self._err(conn.id, "not_allowed", "Control is switched off in this session.")
                self.controller = target
                self._drop_request(target)
        return self._broadcast_state()

    def _drop_request(self, pid: Any) -> None:
        if pid in self.requests:
            self.requests.remove(pid)

    def _reset_control(self) -> None:
        self.controller = None
        self.requests.clear()

    def _on_policy(self, conn: Conn, msg: dict, now: float) -> list[Out]:
        if conn.pid != self.leader:
            return self._err(conn.id, "not_leader", "Only the tab owner can change who may take control.")
        policy = msg.get("control")
        if not P.one_of(policy, P.POLICIES):
            return self._err(conn.id, "bad_message", "policy.control is one of " + ", ".join(P.POLICIES))
        self.policy = policy
        if policy == "none":
            self._reset_control()
        return self._broadcast_state()

    def _on_name(self, conn: Conn, msg: dict, now: float) -> list[Out]:
        # Participants appear under the name they were admitted with (invite, PIN, console):
        # a name chosen later, on the socket, could pass for someone else.
        return self._err(conn.id, "not_allowed", "Names are set when you join the session.")

    def _on_notice(self, conn: Conn, msg: dict, now: float) -> list[Out]:
        if conn.pid != self.leader:
            return []
        code, text = msg.get("code"), msg.get("text")
        if not isinstance(code, str) or not isinstance(text, str):
            return self._err(conn.id, "bad_message", "notice needs code and text strings.")
        to = msg.get("p") if isinstance(msg.get("p"), str) else self.controller
        targets = self._of(to) if to else ()
        frame = Frame({"t": "notice", "code": code[:40], "text": text[:300]})
        return [Send(targets, frame)] if targets else []

    def _on_chat(self, conn: Conn, msg: dict, now: float) -> list[Out]:
        p = self.participants.get(conn.pid)
        if p is None:
            return []
        refused = self.chat.refuse(conn.pid, msg.get("text"), now)
        if refused:
            return self._err(conn.id, *refused)
        frame = self.chat.add(conn.pid, p.name, P.clean_chat(msg["text"]))
        return [Send(self._all(), frame)]

    def _on_resync(self, conn: Conn, msg: dict, now: float) -> list[Out]:
        return self.resync(conn.id)

    def _on_lead(self, conn: Conn, msg: dict, now: float) -> list[Out]:
        if conn.pid != self.leader:
            return self._err(conn.id, "not_leader", "Only the tab owner can hand the tab over.")
        target = msg.get("p")
        p = self.participants.get(target) if isinstance(target, str) else None
        if p is None or not p.present or not p.conns or target == self.leader:
            return self._err(conn.id, "bad_target", "That participant is not connected.")
        return self._hand_over(target)

    def _on_claim(self, conn: Conn, msg: dict, now: float) -> list[Out]:
        if conn.pid == self.leader:
            return []
        if self.leader is not None and self.participants[self.leader].present:
            return self._err(conn.id, "not_allowed", "The tab owner is here: ask them to hand the tab over.")
        return self._hand_over(conn.pid)

    def _hand_over(self, new_leader: str) -> list[Out]:
        old = self.leader
        url = self.current_url()
        self.leader = new_leader
        self._reset_control()
        out: list[Out] = []
        if self.source is not None:
            self.source = None
        if old is not None:
            conns = self._of(old)
            if conns:
                out.append(Send(conns, Frame({"t": "role", "role": FOLLOWER})))
        out.append(Send(self._of(new_leader), Frame({"t": "role", "role": LEADER, "url": url})))
        # A leader's own views get no stream, so whatever they last saw is stale: the new leader's
        # views wait for a reset of their own when they follow again, and the old leader's start
        # over now from the buffer (else they would go on from where they stood, with a gap).
        for c in self._of(new_leader, VIEW):
            self.conns[c].synced = False
        if old is not None:
            for c in self._of(old, VIEW):
                out += self._replay(self.conns[c], None)
        return out + self._broadcast_state()

    def _on_leave(self, conn: Conn, msg: dict, now: float) -> list[Out]:
        pid = conn.pid
        out: list[Out] = []
        for c in self._of(pid):
            out.append(Close(c, "left", "You left the session."))
            out += self.disconnect(c, now)
        p = self.participants.pop(pid, None)
        if p is not None:
            if self.controller == pid:
                self.controller = None
            self._drop_request(pid)
            if self.leader == pid:
                self.leader = None
        return out + self._broadcast_state()


class ChatLog:
    """The room's chat: numbered messages, the last ``CHAT_HISTORY`` kept for joiners, a rate per participant.

    Held in memory by the room only: not in :meth:`Room.facts` (so never in the live state or the
    store), not in the replay buffer, not audited. When the room goes (session ended, or nobody
    connected for the relay's idle time, or a restart) the messages go with it.
    """

    def __init__(self) -> None:
        self.history: deque[Frame] = deque(maxlen=P.CHAT_HISTORY)
        self.last_id = 0
        self._budget: dict[str, tuple[float, float]] = {}  # pid -> (messages allowed now, when counted)

    def refuse(self, pid: str, text: Any, now: float) -> tuple[str, str] | None:
        """Why this message is not sent (code, message for the sender), or None; counts it against the rate."""
        if not isinstance(text, str):
            return ("bad_message", "chat needs a text string.")
        if len(text) > P.MAX_CHAT:
            return ("chat_too_long", f"Chat messages are limited to {P.MAX_CHAT} characters; this one has {len(text)}.")
        if P.clean_chat(text) is None:
            return ("chat_empty", "That message is empty.")
        allowed, then = self._budget.get(pid, (float(P.CHAT_BURST), now))
        allowed = min(float(P.CHAT_BURST), allowed + max(0.0, now - then) * P.CHAT_PER_SECOND)
        if allowed < 1.0:
            self._budget[pid] = (allowed, now)
            wait = max(1, math.ceil((1.0 - allowed) / P.CHAT_PER_SECOND))
            return ("chat_rate", f"You are sending messages too fast: wait {wait} s and send it again. "
                                 f"At most {P.CHAT_BURST} in a row, then one a second.")
        self._budget[pid] = (allowed - 1.0, now)
        return None

    def add(self, pid: str, name: str, text: str) -> Frame:
        self.last_id += 1
        frame = Frame({"t": "chat", "id": self.last_id, "p": pid, "name": name, "text": text})
        self.history.append(frame)
        return frame


def _split(events: list[dict]):
    """Cut a batch of leader events into runs: (events, starts_snapshot, has_full, ephemeral).

    A Meta event opens a new run (a new snapshot starts there); otherwise a run is a
    maximal stretch of events that are all ephemeral or all not.
    """
    run: list[dict] = []
    starts = full = eph = False
    for ev in events:
        e = P.is_ephemeral(ev)
        meta = ev.get("type") == P.EV_META
        if run and (meta or e != eph):
            yield run, starts, full, eph
            run, starts, full = [], False, False
        if not run:
            starts, eph = meta, e
        run.append(ev)
        full |= ev.get("type") == P.EV_FULL_SNAPSHOT
    if run:
        yield run, starts, full, eph


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e7


def _clean_name(name: Any) -> str:
    return P.clean_name(name)


def _check_input(i: Any) -> str | None:
    """Why a control input is malformed, or None. The leader's runtime checks targets again."""
    if not isinstance(i, dict) or not P.one_of(i.get("kind"), P.INPUT_KINDS):
        return "input.i.kind is one of " + ", ".join(sorted(P.INPUT_KINDS))
    kind = i["kind"]
    if kind in ("click", "dblclick", "contextmenu", "wheel") and not (_number(i.get("x")) and _number(i.get("y"))):
        return f"{kind} needs numbers x and y"
    if kind == "text" and (not isinstance(i.get("text"), str) or len(i["text"]) > P.MAX_TEXT_INPUT):
        return f"text needs a string of at most {P.MAX_TEXT_INPUT} characters"
    if kind == "key" and (not isinstance(i.get("key"), str) or len(i["key"]) > 40):
        return "key needs a key name"
    if kind == "nav":
        if not P.one_of(i.get("action"), P.NAV_ACTIONS):
            return "nav.action is one of " + ", ".join(sorted(P.NAV_ACTIONS))
        if i["action"] == "go" and (not isinstance(i.get("url"), str) or len(i["url"]) > P.MAX_URL):
            return "go needs a url"
    return None

"""Rooms shared by several nodes: each room runs on one owner node; sockets may sit on any node.

Theory of operation
-------------------
A room is a pure state machine (:class:`sync.room.Room`) and must have exactly one copy,
so each session's room has an *owner*: the node holding its lease in the transport
(:mod:`sync.transport`). The owner runs the room exactly as :class:`LocalRelay` does
(it *is* a LocalRelay for the rooms it owns). A socket that lands on another node is
attached through the transport: that node forwards what the socket says (``attach``,
``msg``, ``detach``) to the owner, and the owner's outputs for that connection travel
back (``send``, ``close``) to be queued in the socket's own outbox there. A connection
id names its node (:func:`sync.transport.node_of`), so the owner knows where to send.

The proxy asks the room's directory on every request (:meth:`live_role`): the owner
answers from its room; any other node reads the room facts the owner keeps in the
shared live state. Facts are written before any frame queued after the change leaves
(a transport barrier): a follower told "you lead now" who loads the page through a
third node is already the leader there.

Failures: a room's lease is renewed every tick, and each node says it is alive every
half second. A node that dies (killed: at once; paused or cut off: when its liveness
runs out) gives its rooms up: the nodes still holding sockets of those rooms see the
owner dead (watched every ``WATCH`` seconds) and close them as "going away"; the pages
reconnect, a live node claims the room (a new term, a new epoch) and starts it from its
kept facts, the tab owner's page sends a fresh snapshot, and followers get it. A stale
owner that wakes up cannot publish into its old rooms (the transport fences what it
sends), and drops them before it runs them again (``Transport.valid``). A node that
lost the transport drops its rooms and sockets the same way, and says it is not ready
until it is back. A node that stops (SIGTERM) hands its rooms back at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Awaitable, Callable

from sync.protocol import Frame
from sync.relay import Endpoint, FactsStore, LocalRelay, RelayUnavailable, role_in_facts
from sync.room import Close, Room
from sync.transport import NODE_SHIFT, Transport, frame_from, frame_header, node_of

log = logging.getLogger("tandem.cluster")

GOING_AWAY = ("going_away", "This session moved to another server; reconnecting.")
ENDED = ("session_ended", "The session has ended.")
ASK_TIMEOUT = 2.0  # seconds to wait for a room's owner to answer a question (the follower wall's)
WATCH = 0.25  # seconds between looks at the owners of the rooms whose sockets sit here (a dead one: they reconnect)


class RemoteEndpoint:
    """A connection held by another node, as the owner's rooms see it."""

    __slots__ = ("relay", "node", "sid", "conn")

    def __init__(self, relay: "ClusterRelay", node: int, sid: str, conn: int):
        self.relay, self.node, self.sid, self.conn = relay, node, sid, conn

    def deliver(self, frame: Frame, *, force: bool = False) -> bool:
        self.relay._hold_frame(self.node, self.sid, self.conn, frame, force)
        return True  # that node's outbox judges the backlog and says "overflow" when it gives up

    def close(self, code: str, reason: str) -> None:
        self.relay._hold(self.node, {"o": "close", "s": self.sid, "c": self.conn, "code": code, "r": reason})


class ClusterRelay(LocalRelay):
    def __init__(self, make_room: Callable[[str, str], Room], facts_of: Callable[[str], FactsStore | None],
                 transport: Transport, *, on_change=None, on_ended: Callable[[str], None] = lambda sid: None,
                 load: Callable[[str], Awaitable[Any]] | None = None,
                 on_event: Callable[[str, str], None] = lambda kind, sid: None):
        super().__init__(self._room_of_term(make_room), facts_of, on_change)
        self.t = transport
        self._load = load  # loads a session into this node's registry (a room's callbacks read it there)
        self.node = transport.node
        self._on_ended = on_ended
        self._on_event = on_event  # an event was recorded for a session on another node (snippet streams wake)
        self._counter = 0
        self._owned: set[str] = set()  # rooms whose lease this node holds (their Room is in self.rooms)
        self._remote: dict[int, tuple[str, Endpoint]] = {}  # sockets here whose room is owned elsewhere
        self._owner: dict[str, int] = {}  # owner of each room with sockets in _remote
        self._held: list[list] = []  # outputs of the current call, sent after its facts are written
        self._facts_changed: set[str] = set()
        self._house: asyncio.Task | None = None
        self._ended: dict[str, float] = {}  # sessions whose end was announced (not again), with when
        self._asks: dict[int, asyncio.Future] = {}  # questions to other nodes' rooms awaiting an answer
        self._next_ask = 0
        self._watcher: asyncio.Task | None = None
        self._stopping = False
        self.healthy = True

    def _room_of_term(self, make_room: Callable[[str, str], Room]) -> Callable[[str, str], Room]:
        """A room's epoch starts with its lease's term: each owner's stream is newer than the last one's
        (a page resuming from an older owner's stream gets a reset and a fresh snapshot)."""

        def make(sid: str, epoch: str) -> Room:
            value = self.t.lease_of(sid) or ""
            term = value.rpartition(".")[2]
            return make_room(sid, f"{int(term):08x}-{epoch}" if term.isdigit() else epoch)

        return make

    # -- life ------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.t.start(self._receive, self._lost)
        self.healthy = await self.t.ready()
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        """The node is stopping: every socket was told "going away"; hand the rooms back."""
        self._stopping = True
        owned = list(self._owned)
        for sid in owned:
            self._drop_room(sid)
        try:
            await self.t.flush()
            await self.t.release(owned)
            await self.t.retire()
        except Exception:  # noqa: BLE001 - the leases run out by themselves
            log.info("could not release room leases at shutdown", exc_info=True)
        for task in (self._house, self._watcher):
            if task is not None:
                task.cancel()
        await self.t.close()

    async def ready(self) -> bool:
        return self.healthy and await self.t.ready()

    # -- holding outputs until the facts they follow are written ---------------------------
    def _new_conn(self) -> int:
        self._counter += 1
        return (self.node << NODE_SHIFT) | self._counter

    def _hold_frame(self, node: int, sid: str, conn: int, frame: Frame, force: bool) -> None:
        last = self._held[-1] if self._held else None
        if last is not None and last[0] == node and last[2] is frame and last[3] == force:
            last[4].append(conn)  # one message per node for a frame many of its sockets get
        else:
            self._held.append([node, sid, frame, force, [conn]])

    def _hold(self, node: int, header: dict, body: str | None = None) -> None:
        self._held.append([node, header, body])

    def _keep(self, sid: str) -> None:
        before = self._saved.get(sid)
        super()._keep(sid)
        if self._saved.get(sid) is not before:
            self._facts_changed.add(sid)

    def _after_held(self) -> None:
        self._release()  # frames for other nodes made by steps that waited for a room's facts

    def _release(self) -> None:
        """Send what the call produced: after the facts it changed are written (a barrier)."""
        for sid in self._facts_changed:
            kept = self._facts_of(sid)
            if kept is not None:
                self.t.barrier(kept.flush)
        self._facts_changed.clear()
        held, self._held = self._held, []
        for item in held:
            if len(item) == 3:
                self.t.send(*item)
            else:
                node, sid, frame, force, conns = item
                header = {"o": "send", "s": sid, "c": conns, **frame_header(frame)}
                if force:
                    header["f"] = 1
                self.t.send(node, header, frame.text, fence=sid)  # never from a room this node lost

    # -- entry points (the socket shell) ---------------------------------------------------
    async def prepare(self, sid: str) -> None:
        if not self.healthy or self._stopping:
            raise RelayUnavailable("the cluster transport is not connected" if self.healthy else "this node is stopping")
        self._check_lease()
        try:
            owner = await self._claim(sid)
        except Exception as exc:  # noqa: BLE001 - any backend failure: this node cannot take the socket
            raise RelayUnavailable(str(exc)) from exc
        if owner == self.node:
            await super().prepare(sid)
        else:
            self._owner[sid] = owner

    async def _claim(self, sid: str) -> int:
        """Claim ``sid``'s room (or learn its owner). A new lease on a room this node still runs
        (it lost it, someone else ran it, it came back): that old copy is dropped first."""
        before = self.t.lease_of(sid)
        owner = await self.t.claim(sid)
        if owner == self.node:
            if sid in self.rooms and self.t.lease_of(sid) != before:
                log.warning("room %s: taken again after another node ran it; the old copy here starts over", sid)
                self._drop_room(sid)
            self._owned.add(sid)
        return owner

    def _check_lease(self) -> None:
        """Before running any room: if this node may have been presumed dead (paused, cut off), its
        rooms may run elsewhere now; drop them (their sockets reconnect) rather than run a stale copy."""
        if self.t.valid or not self._owned:
            return
        owned = sorted(self._owned)
        log.warning("this node's liveness lapsed (paused or cut off): its %d rooms may have moved; they start over",
                    len(owned))
        for sid in owned:
            self._drop_room(sid)
        self._release()
        try:
            asyncio.get_running_loop().create_task(self._quietly(self.t.release(owned)))
        except RuntimeError:
            pass

    def attach(self, sid, endpoint, *, pid, may_lead, kind, name, resume, now) -> int:
        self._check_lease()
        conn = self._new_conn()
        if sid in self._owned:
            self._join(sid, conn, endpoint, pid=pid, may_lead=may_lead, kind=kind, name=name, resume=resume, now=now)
        else:
            self._remote[conn] = (sid, endpoint)
            self._to_owner(sid, {"o": "attach", "s": sid, "c": conn, "p": pid, "l": may_lead, "k": kind, "n": name,
                                 "r": resume})
        self._release()
        return conn

    def submit(self, sid, conn, msg, size, now) -> None:
        self._check_lease()
        if conn in self._remote:
            self._to_owner(sid, {"o": "msg", "s": sid, "c": conn, "z": size},
                           json.dumps(msg, separators=(",", ":"), ensure_ascii=False))
        else:
            super().submit(sid, conn, msg, size, now)
        self._release()

    def detach(self, sid, conn, now) -> None:
        self._check_lease()
        if self._remote.pop(conn, None) is not None:
            self._to_owner(sid, {"o": "detach", "s": sid, "c": conn})
        else:
            super().detach(sid, conn, now)
        self._release()

    def _to_owner(self, sid: str, header: dict, body: str | None = None) -> None:
        owner = self._owner.get(sid)
        if owner is not None:
            self._hold(owner, header, body)

    def tick(self, now: float) -> None:
        self._check_lease()
        super().tick(now)  # rooms owned here
        self._release()
        for sid, t in list(self._ended.items()):
            if now - t > 60:
                del self._ended[sid]
        if self._house is None or self._house.done():
            try:
                self._house = asyncio.get_running_loop().create_task(self._housekeep())
            except RuntimeError:
                pass  # no loop (a synchronous test): nothing to renew

    async def _housekeep(self) -> None:
        """Keep this node's leases; let go of sockets whose room's owner is gone."""
        try:
            lost = await self.t.renew(sorted(self._owned))
            remote = sorted({sid for sid, _ in self._remote.values()})
            owners = await self.t.owners(remote) if remote else {}
            ok = await self.t.ready()
        except Exception as exc:  # noqa: BLE001 - the backend is away: nothing here can be trusted
            log.warning("cluster transport does not answer: %s", exc)
            self._lost()
            return
        if not ok:
            self._lost()
            return
        self.healthy = True
        for sid in lost:
            log.warning("room %s: lease lost; its sockets reconnect through the new owner", sid)
            self._drop_room(sid)
        self._close_orphans(owners)
        self._release()

    def _close_orphans(self, owners: dict[str, int | None]) -> None:
        for sid, owner in owners.items():
            if sid in self._owner and owner != self._owner.get(sid):
                log.info("room %s: owner %s is gone; its sockets here reconnect", sid, self._owner.get(sid))
                self._close_remote(sid, *GOING_AWAY)

    async def _watch(self) -> None:
        """Often: is the owner of each room with sockets here still alive? (A dead one's rooms move at once.)"""
        while True:
            await asyncio.sleep(WATCH)
            remote = sorted({sid for sid, _ in self._remote.values()})
            if not remote or not self.healthy:
                continue
            try:
                owners = await self.t.owners(remote)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the tick's housekeeping finds out and says not ready
                continue
            self._close_orphans(owners)
            self._release()

    def _lost(self) -> None:
        """Messages may have been missed: every room and socket here starts over."""
        self.healthy = False
        for sid in list(self._owned):
            self._drop_room(sid)
        for sid in {sid for sid, _ in self._remote.values()}:
            self._close_remote(sid, *GOING_AWAY)
        self._held.clear()

    def _drop_room(self, sid: str) -> None:
        for conn, (s, endpoint) in list(self._endpoints.items()):
            if s == sid:
                self._endpoints.pop(conn, None)
                endpoint.close(*GOING_AWAY)
        self._owned.discard(sid)
        LocalRelay._forget(self, sid)

    def _close_remote(self, sid: str, code: str, reason: str) -> None:
        for conn, (s, endpoint) in list(self._remote.items()):
            if s == sid:
                del self._remote[conn]
                endpoint.close(code, reason)
        self._owner.pop(sid, None)

    def _forget(self, sid: str) -> None:
        super()._forget(sid)
        if sid in self._owned:
            self._owned.discard(sid)
            asyncio.get_running_loop().create_task(self._quietly(self.t.release([sid])))

    @staticmethod
    async def _quietly(coro) -> None:
        try:
            await coro
        except Exception:  # noqa: BLE001 - a lease not released runs out by itself
            log.info("cluster: background call failed", exc_info=True)

    # -- messages from other nodes ---------------------------------------------------------
    async def _receive(self, h: dict[str, Any], body: str | None) -> None:
        o, sid = h.get("o"), h.get("s")
        if not isinstance(sid, str):
            return
        self._check_lease()
        if o == "send":
            frame = frame_from(h, body or "")
            for conn in h.get("c", ()):
                entry = self._remote.get(conn)
                if entry is not None and not entry[1].deliver(frame, force=bool(h.get("f"))):
                    self._to_owner(sid, {"o": "overflow", "s": sid, "c": conn})
        elif o == "close":
            entry = self._remote.pop(h.get("c"), None)
            if entry is not None:
                entry[1].close(str(h.get("code")), str(h.get("r")))
        elif o == "end":
            if h.get("from") != self.node:
                self._end_here(sid)
                self._on_ended(sid)
        elif o in ("attach", "msg", "detach", "overflow", "err"):
            await self._as_owner(o, sid, h, body)
        elif o == "ask" and isinstance(h.get("id"), int) and isinstance(h.get("from"), int):
            value = await self._answer(sid, h) if sid in self._owned else None
            self.t.send(h["from"], {"o": "answer", "s": sid, "id": h["id"], "v": value})
        elif o == "answer":
            fut = self._asks.get(h.get("id"))
            if fut is not None and not fut.done():
                fut.set_result(h.get("v"))
        elif o == "evt" and h.get("from") != self.node:
            self._on_event(str(h.get("k")), sid)
        elif o == "refs" and sid in self._owned and isinstance(h.get("u"), list):
            await LocalRelay.mirror_refs(self, sid, str(h.get("src")), [str(u) for u in h["u"]])
        self._release()

    async def _as_owner(self, o: str, sid: str, h: dict, body: str | None) -> None:
        conn = h.get("c")
        if sid not in self._owned and o in ("attach", "err") and not self._stopping:
            try:
                await self._claim(sid)
            except Exception:  # noqa: BLE001 - cannot claim: the sender is told to go away below
                log.info("cluster: claim failed", exc_info=True)
        if sid not in self._owned:
            if isinstance(conn, int) and o in ("attach", "msg"):  # not ours (any more): that socket starts over
                self.t.send(node_of(conn), {"o": "close", "s": sid, "c": conn, "code": GOING_AWAY[0], "r": GOING_AWAY[1]})
            return
        if sid not in self.rooms and self._load is not None:  # the socket's node loaded the session; this one may not have
            await self._load(sid)
        now = time.monotonic()
        if o == "attach" and isinstance(conn, int):
            if sid not in self.rooms:
                await LocalRelay.prepare(self, sid)
            resume = h.get("r") if isinstance(h.get("r"), dict) else None
            self._join(sid, conn, RemoteEndpoint(self, node_of(conn), sid, conn), pid=str(h.get("p")),
                       may_lead=h.get("l") is True, kind=str(h.get("k")), name=str(h.get("n") or ""), resume=resume,
                       now=now)
        elif o == "msg" and isinstance(conn, int) and conn in self._endpoints:
            try:
                msg = json.loads(body or "")
            except ValueError:
                return
            LocalRelay.submit(self, sid, conn, msg, int(h.get("z") or 0), now)
        elif o == "detach" and isinstance(conn, int):
            LocalRelay.detach(self, sid, conn, now)
        elif o == "overflow" and isinstance(conn, int):
            self._overflow(sid, conn)
        elif o == "err":
            LocalRelay.page_error(self, sid, str(h.get("p")), str(h.get("code")), str(h.get("title")),
                                  str(h.get("message")), str(h.get("url")))

    # -- questions only the room's owner can answer -----------------------------------------
    async def _answer(self, sid: str, h: dict):
        if h.get("q") == "mirror":
            return bool(await LocalRelay.mirror_allows(self, sid, str(h.get("u"))))
        return None

    async def _owner_now(self, sid: str) -> int | None:
        owner = self._owner.get(sid)
        if owner is None:
            owner = (await self.t.owners([sid])).get(sid)
        return owner

    async def _ask(self, sid: str, question: dict, timeout: float = ASK_TIMEOUT):
        """Ask the node owning ``sid``'s room; None when there is no room, no owner or no answer in time."""
        try:
            owner = await self._owner_now(sid)
        except Exception as exc:  # noqa: BLE001 - no directory: refuse rather than guess
            raise RelayUnavailable(str(exc)) from exc
        if owner is None:
            return None
        self._next_ask += 1
        rid = self._next_ask
        fut = asyncio.get_running_loop().create_future()
        self._asks[rid] = fut
        self.t.send(owner, {"o": "ask", "s": sid, "id": rid, "from": self.node, **question})
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            log.info("room %s: owner %s did not answer %s", sid, owner, question.get("q"))
            return None
        finally:
            self._asks.pop(rid, None)

    async def mirror_allows(self, sid: str, upstream_url: str) -> bool:
        if sid in self._owned:
            return bool(await LocalRelay.mirror_allows(self, sid, upstream_url))
        return bool(await self._ask(sid, {"q": "mirror", "u": upstream_url}))  # no answer: not allowed

    async def mirror_refs(self, sid: str, source: str, urls: list[str]) -> None:
        if sid in self._owned:
            await LocalRelay.mirror_refs(self, sid, source, urls)
            return
        owner = await self._owner_now(sid)
        if owner is not None:
            self.t.send(owner, {"o": "refs", "s": sid, "src": source, "u": list(urls)})

    # -- the directory ---------------------------------------------------------------------
    def _known(self, sid: str) -> Room | None:
        return self.rooms.get(sid) if sid in self._owned else None  # never a second copy of another node's room

    async def live_role(self, sid: str, pid: str) -> str | None:
        room = self._known(sid)
        if room is not None:
            return room.role_of(pid)
        kept = self._facts_of(sid)
        if kept is None:
            return None
        try:
            facts = await kept.load()
        except Exception as exc:  # noqa: BLE001 - no answer is not "not a participant": refuse for now
            raise RelayUnavailable(str(exc)) from exc
        return role_in_facts(facts, pid)

    def page_error(self, sid, pid, code, title, message, url) -> None:
        self._check_lease()
        if sid in self._owned:
            super().page_error(sid, pid, code, title, message, url)
            self._release()
            return
        header = {"o": "err", "s": sid, "p": pid, "code": code, "title": title, "message": message, "url": url}

        async def forward() -> None:
            owner = await self._claim(sid)
            if owner == self.node:
                await self._as_owner("err", sid, header, None)
                self._release()
            else:
                self.t.send(owner, header)

        asyncio.get_running_loop().create_task(self._quietly(forward()))

    # -- sessions --------------------------------------------------------------------------
    def active_sessions(self) -> list[str]:
        return sorted(set(self.rooms) | {sid for sid, _ in self._remote.values()})

    def lag(self, now: float) -> float:
        here = max((e.outbox.lag(now) for _sid, e in self._remote.values() if hasattr(e, "outbox")), default=0.0)
        return max(here, super().lag(now))

    def _end_here(self, sid: str) -> None:
        LocalRelay.end(self, sid)
        self._close_remote(sid, *ENDED)

    def end(self, sid: str) -> None:
        self._end_here(sid)  # (a room owned here is forgotten, its lease released)
        if sid not in self._ended:
            self._ended[sid] = time.monotonic()
            self._hold(0, {"o": "end", "s": sid, "from": self.node})
        self._release()

    def announce_event(self, kind: str, sid: str | None) -> None:
        """An event was recorded here for ``sid`` (its audit row is written): every other node hears of it."""
        if sid is not None:
            self.t.send(0, {"o": "evt", "s": sid, "k": kind, "from": self.node})

    def close_all(self, code: str, reason: str) -> None:
        """The node is stopping: every socket goes away, and the rooms are handed back at once (after
        the closes are sent) so the pages reconnect to a node that takes them, not to this one."""
        super().close_all(code, reason)
        for conn, (_sid, endpoint) in list(self._remote.items()):
            endpoint.close(code, reason)
        self._remote.clear()
        self._stopping = True
        owned = sorted(self._owned)
        for sid in owned:
            self._drop_room(sid)
        self._release()

        async def leave() -> None:
            await self._quietly(self.t.release(owned))
            await self._quietly(self.t.retire())

        self.t.barrier(leave)

    def stats(self) -> dict[str, int]:
        return {"owned_rooms": len(self._owned), "remote_sockets": len(self._remote),
                "local_sockets": sum(1 for _s, e in self._endpoints.values() if not isinstance(e, RemoteEndpoint))}

"""The relay transport over Redis: pub/sub for frames between nodes, a key per room for its owner's lease.

Why pub/sub and not streams: what crosses between nodes is live traffic whose catch-up
already has a home — the owner's replay buffer (a reconnecting follower resumes from it
or gets a fresh snapshot). Streams would keep every frame, megabyte snapshots included,
in Redis memory until trimmed, and each reader would poll its own cursor; pub/sub keeps
nothing, delivers in order per publisher connection, and a message costs one PUBLISH.
What pub/sub cannot do — deliver to a node that was disconnected — is handled by
starting over: a node whose subscription dropped (or whose writes fail) drops its rooms
and closes its sockets as "going away", and the pages reconnect.

Keys and channels:

* ``tandem:node:<n>`` — channel of node ``n`` (its messages: frames for its sockets,
  messages for the rooms it owns); ``tandem:all`` — every node (a session ended).
* ``tandem:{sid}:owner`` — the room's lease: ``<node>.<term>``, the owning node's number
  and the room's term (``tandem:{sid}:term``, INCR on every claim: the fencing token).
  Renewed every tick by the owner (a Lua check-and-extend), gone ``lease`` seconds after
  the owner stops: the backstop.
* ``tandem:alive:<n>`` — node ``n`` is alive: set every ``BEAT`` seconds, gone ``LIVENESS``
  seconds after the last beat. ``tandem:ident:<host:port>`` — the node number of the
  process serving that address now.

Taking a room over (``claim``, one Lua script, so two nodes never both win): free, or its
owner is dead — no liveness key (a node stopped, paused or cut off for ``LIVENESS``), or
nobody subscribed to its channel (the process died: the kernel closed its connections and
Redis dropped its subscription at once, which is what makes a SIGKILLed node's rooms move in
well under a second). A process started on the address of a dead one deletes the dead
one's liveness key (``ident``): its own previous incarnation, whose rooms it takes at once.

Fencing: a frame an owner sends to its rooms' sockets on other nodes (``send(...,
fence=sid)``) is published by a Lua script only while the room's lease still holds the
value it had when the frame was made; a stale owner that wakes up after its rooms were
taken cannot publish into them. Locally, :attr:`RedisTransport.valid` says whether this
node's liveness has held without a gap (the relay drops its rooms when it has not,
before it runs them again).

Every PUBLISH of a node leaves through one writer task, in the order queued, batched
in pipelines; a barrier (:meth:`barrier`) ends a batch and waits (a room's facts are
written before frames that follow them).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from typing import Any, Awaitable, Callable

import redis.asyncio as aioredis

from sync.transport import Handler, Transport, decode, encode

log = logging.getLogger("tandem.cluster")

LEASE = 6.0  # seconds a room's lease outlives its last renewal (the backstop: an owner alive but not renewing)
LIVENESS = 2.0  # seconds a node's liveness key outlives its last beat: a paused or cut-off node's rooms move after it
BEAT = 0.5  # seconds between liveness beats
CONNECT_TIMEOUT = 2.0  # seconds to reach Redis
COMMAND_TIMEOUT = 2.0  # seconds for one command (not the subscription, which waits for messages)
BATCH = 256  # messages per pipeline: one round trip carries a burst
RESUBSCRIBE_DELAY = 0.5  # seconds between attempts to subscribe again after Redis went away
ALL = "tandem:all"

_DEAD = """
local function dead(value)
  local node = string.match(value, '^(%d+)')
  if node == nil then return true end
  if redis.call('EXISTS', 'tandem:alive:' .. node) == 0 then return true end
  return redis.call('PUBSUB', 'NUMSUB', 'tandem:node:' .. node)[2] == 0
end
"""
# KEYS: owner key, term key; ARGV: this node, lease ms. Returns the lease value now held.
_CLAIM = _DEAD + """
local cur = redis.call('GET', KEYS[1])
if cur and (string.match(cur, '^(%d+)') == ARGV[1] or not dead(cur)) then return cur end
local value = ARGV[1] .. '.' .. redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return value
"""
# KEYS: owner keys. Returns each lease value, or false when there is none or its owner is dead.
_OWNERS = _DEAD + """
local out = {}
for i, key in ipairs(KEYS) do
  local cur = redis.call('GET', key)
  if cur and not dead(cur) then out[i] = cur else out[i] = false end
end
return out
"""
# KEYS: owner keys; ARGV: lease ms, then the value held for each key.
_RENEW = """
local lost = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i + 1] then redis.call('PEXPIRE', key, ARGV[1]) else lost[#lost + 1] = i end
end
return lost
"""
_RELEASE = """
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i] then redis.call('DEL', key) end
end
return 0
"""
# KEYS: owner keys of the rooms a batch speaks for; ARGV: the value each must hold, then
# (key index or 0, channel, message) per message. Publishes in order; a message of a room
# whose lease changed is not published. Returns the indexes of those rooms.
_PUBLISH = """
local n = #KEYS
local ok, lost = {}, {}
for i, key in ipairs(KEYS) do
  ok[i] = redis.call('GET', key) == ARGV[i]
  if not ok[i] then lost[#lost + 1] = i end
end
for i = n + 1, #ARGV, 3 do
  local k = tonumber(ARGV[i])
  if k == 0 or ok[k] then redis.call('PUBLISH', ARGV[i + 1], ARGV[i + 2]) end
end
return lost
"""


def channel(node: int) -> str:
    return ALL if node == 0 else f"tandem:node:{node}"


def owner_key(sid: str) -> str:
    return f"tandem:{{{sid}}}:owner"


def term_key(sid: str) -> str:
    return f"tandem:{{{sid}}}:term"


def alive_key(node: int) -> str:
    return f"tandem:alive:{node}"


def node_in(value: bytes | str) -> int:
    """The node number in a lease value ``<node>.<term>``."""
    text = value.decode() if isinstance(value, bytes) else value
    return int(text.split(".", 1)[0])


class RedisTransport(Transport):
    def __init__(self, url: str, *, lease: float = LEASE, liveness: float = LIVENESS, identity: str | None = None):
        self.node = secrets.randbits(30) + 1  # 0 means "every node"; a new number for every process (incarnation)
        self.url = url
        self.lease_ms = int(lease * 1000)
        self.liveness = liveness  # 0: no liveness and no take-over before the lease runs out (the old way, for the bench)
        self.identity = identity  # where this node serves (host:port): a process started there after a crash takes its rooms at once
        self.leases: dict[str, str] = {}  # lease value held for each room this node owns (the fencing token)
        self._alive_until = 0.0  # monotonic time until which this node's liveness surely holds
        self._lapsed = False  # a beat came after the liveness had run out: rooms may have been taken
        self._beater: asyncio.Task | None = None
        self._r = aioredis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=COMMAND_TIMEOUT)
        self._sub_client = aioredis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=None)
        self._renew = self._r.register_script(_RENEW)
        self._release = self._r.register_script(_RELEASE)
        self._claim = self._r.register_script(_CLAIM)
        self._owners = self._r.register_script(_OWNERS)
        self._publish = self._r.register_script(_PUBLISH)
        self._queue: deque[tuple[str, bytes] | Callable[[], Awaitable[None]]] = deque()
        self._wake = asyncio.Event()
        self._queued = 0
        self._sent = 0
        self._progress = asyncio.Condition()
        self._tasks: list[asyncio.Task] = []
        self.subscribed = False
        self.published = 0  # messages sent (for stats and the bench)

    # -- receiving -------------------------------------------------------------------------
    async def start(self, handler: Handler, on_lost: Callable[[], None]) -> None:
        ready = asyncio.get_running_loop().create_future()
        self._tasks.append(asyncio.get_running_loop().create_task(self._read(handler, on_lost, ready)))
        self._tasks.append(asyncio.get_running_loop().create_task(self._write(on_lost)))
        if self.liveness:
            await self._beat_once(first=True)
            self._beater = asyncio.get_running_loop().create_task(self._beat())
            self._tasks.append(self._beater)
        try:  # a node started while Redis is away comes up not ready, and subscribes when it can
            await asyncio.wait_for(asyncio.shield(ready), CONNECT_TIMEOUT * 2)
        except asyncio.TimeoutError:
            log.warning("cluster: Redis at %s does not answer yet; this node is not ready", self.url.split("@")[-1])

    async def _read(self, handler: Handler, on_lost: Callable[[], None], ready: asyncio.Future) -> None:
        while True:
            pubsub = self._sub_client.pubsub()
            try:
                await pubsub.subscribe(channel(self.node), ALL)
                self.subscribed = True
                if not ready.done():
                    ready.set_result(True)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        header, body = decode(message["data"])
                    except (ValueError, UnicodeDecodeError):
                        log.warning("cluster: a message on %s is not a relay message", message.get("channel"))
                        continue
                    try:
                        await handler(header, body)
                    except Exception:  # noqa: BLE001 - one bad message must not stop the node's relay
                        log.exception("cluster: handling %s failed", header.get("o"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis went away: start over when it is back
                if self.subscribed:
                    log.warning("cluster: subscription to Redis lost (%s); rooms and sockets here start over", exc)
                self.subscribed = False
                on_lost()
                await asyncio.sleep(RESUBSCRIBE_DELAY)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:  # noqa: BLE001 - the connection is already gone
                    pass

    # -- sending ---------------------------------------------------------------------------
    def send(self, node: int, header: dict[str, Any], body: str | None = None, *, fence: str | None = None) -> None:
        if fence is None:
            self._queue.append((channel(node), encode(header, body)))
        else:
            value = self.leases.get(fence)
            if value is None:
                return  # not this node's room (any more): nothing it says may reach the room's sockets
            self._queue.append((channel(node), encode(header, body), fence, value))
        self._queued += 1
        self._wake.set()

    def barrier(self, wait: Callable[[], Awaitable[None]]) -> None:
        self._queue.append(wait)
        self._queued += 1
        self._wake.set()

    async def _write(self, on_lost: Callable[[], None]) -> None:
        q = self._queue
        while True:
            if not q:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch: list[tuple] = []
            barrier = None
            while q and len(batch) < BATCH:
                item = q.popleft()
                if callable(item):
                    barrier = item
                    break
                batch.append(item)
            try:
                if batch:
                    await self._send_batch(batch)
                    self.published += len(batch)
                if barrier is not None:
                    await barrier()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - lost messages: everything here starts over
                log.warning("cluster: publishing to Redis failed (%s); rooms and sockets here start over", exc)
                self._sent += len(q)  # dropped: nobody waits for them
                q.clear()
                on_lost()
            self._sent += len(batch) + (barrier is not None)
            async with self._progress:
                self._progress.notify_all()

    async def _send_batch(self, batch: list[tuple]) -> None:
        fences: dict[tuple[str, str], int] = {}
        for item in batch:
            if len(item) == 4:
                fences.setdefault((item[2], item[3]), len(fences) + 1)
        if not fences:  # nothing a room's owner says: a plain pipeline
            async with self._r.pipeline(transaction=False) as pipe:
                for chan, data in batch:
                    pipe.publish(chan, data)
                await pipe.execute()
            return
        rooms = list(fences)
        args: list[Any] = [value for _sid, value in rooms]
        for item in batch:
            args += [fences[(item[2], item[3])] if len(item) == 4 else 0, item[0], item[1]]
        lost = await self._publish(keys=[owner_key(sid) for sid, _v in rooms], args=args)
        for i in lost:
            sid, value = rooms[int(i) - 1]
            log.warning("room %s: lease %s is no longer this node's; its frames were not published", sid, value)
            if self.leases.get(sid) == value:
                del self.leases[sid]  # the next renewal reports it lost: the relay drops the room

    async def flush(self) -> None:
        target = self._queued
        async with self._progress:
            await self._progress.wait_for(lambda: self._sent >= target or not self._tasks)

    # -- leases ----------------------------------------------------------------------------
    async def claim(self, sid: str) -> int:
        if not self.liveness:  # the old way: a room moves only when its lease has run out
            key = owner_key(sid)
            for _ in range(3):
                value = f"{self.node}.0"
                if await self._r.set(key, value, nx=True, px=self.lease_ms):
                    self.leases[sid] = value
                    return self.node
                owner = await self._r.get(key)
                if owner is not None:
                    return self._held(sid, owner.decode())
            raise ConnectionError("room lease keeps changing hands")
        value = await self._claim(keys=[owner_key(sid), term_key(sid)], args=[self.node, self.lease_ms])
        return self._held(sid, value.decode() if isinstance(value, bytes) else str(value))

    def _held(self, sid: str, value: str) -> int:
        owner = node_in(value)
        if owner == self.node:
            self.leases[sid] = value
        else:
            self.leases.pop(sid, None)
        return owner

    def lease_of(self, sid: str) -> str | None:
        return self.leases.get(sid)

    async def owners(self, sids: list[str]) -> dict[str, int | None]:
        """Who holds each room's lease now; None when nobody does or its holder is dead."""
        if not sids:
            return {}
        if self.liveness:
            values = await self._owners(keys=[owner_key(s) for s in sids])
        else:
            values = await self._r.mget([owner_key(s) for s in sids])
        return {s: (node_in(v) if v else None) for s, v in zip(sids, values)}

    async def renew(self, sids: list[str]) -> list[str]:
        if not sids:
            return []
        held = [s for s in sids if s in self.leases]
        lost = {s for s in sids if s not in self.leases}
        if held:
            gone = await self._renew(keys=[owner_key(s) for s in held], args=[self.lease_ms, *(self.leases[s] for s in held)])
            for i in gone:
                lost.add(held[int(i) - 1])
        for sid in lost:
            self.leases.pop(sid, None)
        return sorted(lost)

    async def release(self, sids: list[str]) -> None:
        held = [(s, self.leases.pop(s)) for s in sids if s in self.leases]
        if held:
            await self._release(keys=[owner_key(s) for s, _v in held], args=[v for _s, v in held])

    # -- liveness --------------------------------------------------------------------------
    @property
    def valid(self) -> bool:
        """This node's liveness has held without a gap until now: nobody can have taken its rooms
        (False once: the caller drops its rooms and starts over)."""
        if not self.liveness:
            return True
        if self._lapsed or time.monotonic() >= self._alive_until:
            self._lapsed = False
            return False
        return True

    async def _beat_once(self, *, first: bool = False) -> None:
        t0 = time.monotonic()
        try:
            if first and self.identity:  # a dead process served this address: its rooms are ours to take now
                before = await self._r.getset(f"tandem:ident:{self.identity}", self.node)
                if before is not None and int(before) != self.node:
                    await self._r.delete(alive_key(int(before)))
                    log.info("cluster: node %s served %s before this process; its rooms move here", int(before),
                             self.identity)
            await self._r.set(alive_key(self.node), 1, px=int(self.liveness * 1000))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the relay's housekeeping says not ready
            log.info("cluster: liveness beat failed: %s", exc)
            return
        if self._alive_until and t0 > self._alive_until:
            self._lapsed = True  # it ran out before this beat: other nodes may have taken this node's rooms
        self._alive_until = t0 + self.liveness

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(BEAT)
            await self._beat_once(first=not self._alive_until)

    async def ready(self) -> bool:
        try:
            return self.subscribed and bool(await self._r.ping())
        except Exception:  # noqa: BLE001 - any failure: not ready
            return False

    async def retire(self) -> None:
        """This node stops: say so at once (its rooms are free to take before the liveness runs out)."""
        self._alive_until = 0.0
        if self._beater is not None:
            self._beater.cancel()
        if self.liveness:
            await self._r.delete(alive_key(self.node))

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping
                pass
        await self._r.aclose()
        await self._sub_client.aclose()

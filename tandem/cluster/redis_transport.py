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
* ``tandem:{sid}:owner`` — the node number owning the room; ``SET NX PX`` to claim,
  renewed every tick by the owner (a Lua check-and-extend), gone ``lease`` seconds after
  the owner stops.

Every PUBLISH of a node leaves through one writer task, in the order queued, batched
in pipelines; a barrier (:meth:`barrier`) ends a batch and waits (a room's facts are
written before frames that follow them).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from typing import Any, Awaitable, Callable

import redis.asyncio as aioredis

from sync.transport import Handler, Transport, decode, encode

log = logging.getLogger("tandem.cluster")

LEASE = 6.0  # seconds a room stays with a node that stopped renewing: how long a killed node's rooms wait
CONNECT_TIMEOUT = 2.0  # seconds to reach Redis
COMMAND_TIMEOUT = 2.0  # seconds for one command (not the subscription, which waits for messages)
BATCH = 256  # messages per pipeline: one round trip carries a burst
RESUBSCRIBE_DELAY = 0.5  # seconds between attempts to subscribe again after Redis went away
ALL = "tandem:all"

_RENEW = """
local lost = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('PEXPIRE', key, ARGV[2]) else lost[#lost + 1] = i end
end
return lost
"""
_RELEASE = """
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 0
"""


def channel(node: int) -> str:
    return ALL if node == 0 else f"tandem:node:{node}"


def owner_key(sid: str) -> str:
    return f"tandem:{{{sid}}}:owner"


class RedisTransport(Transport):
    def __init__(self, url: str, *, lease: float = LEASE):
        self.node = secrets.randbits(30) + 1  # 0 means "every node"
        self.url = url
        self.lease_ms = int(lease * 1000)
        self._r = aioredis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=COMMAND_TIMEOUT)
        self._sub_client = aioredis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=None)
        self._renew = self._r.register_script(_RENEW)
        self._release = self._r.register_script(_RELEASE)
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
    def send(self, node: int, header: dict[str, Any], body: str | None = None) -> None:
        self._queue.append((channel(node), encode(header, body)))
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
            batch: list[tuple[str, bytes]] = []
            barrier = None
            while q and len(batch) < BATCH:
                item = q.popleft()
                if callable(item):
                    barrier = item
                    break
                batch.append(item)
            try:
                if batch:
                    async with self._r.pipeline(transaction=False) as pipe:
                        for chan, data in batch:
                            pipe.publish(chan, data)
                        await pipe.execute()
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

    async def flush(self) -> None:
        target = self._queued
        async with self._progress:
            await self._progress.wait_for(lambda: self._sent >= target or not self._tasks)

    # -- leases ----------------------------------------------------------------------------
    async def claim(self, sid: str) -> int:
        key = owner_key(sid)
        for _ in range(3):
            if await self._r.set(key, self.node, nx=True, px=self.lease_ms):
                return self.node
            owner = await self._r.get(key)
            if owner is not None:
                return int(owner)
        raise ConnectionError("room lease keeps changing hands")

    async def owners(self, sids: list[str]) -> dict[str, int | None]:
        if not sids:
            return {}
        values = await self._r.mget([owner_key(s) for s in sids])
        return {s: (int(v) if v is not None else None) for s, v in zip(sids, values)}

    async def renew(self, sids: list[str]) -> list[str]:
        if not sids:
            return []
        lost = await self._renew(keys=[owner_key(s) for s in sids], args=[self.node, self.lease_ms])
        return [sids[int(i) - 1] for i in lost]

    async def release(self, sids: list[str]) -> None:
        if sids:
            await self._release(keys=[owner_key(s) for s in sids], args=[self.node])

    async def ready(self) -> bool:
        try:
            return self.subscribed and bool(await self._r.ping())
        except Exception:  # noqa: BLE001 - any failure: not ready
            return False

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

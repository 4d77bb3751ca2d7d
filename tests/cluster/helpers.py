"""Pieces several cluster tests (and bench/takeover.py) share: relay nodes in one process on one Redis."""

from __future__ import annotations

import redis.asyncio as aioredis

from sync.room import Room
from tandem.cluster import ClusterRelay, RedisTransport
from tandem.live.redisstate import RedisBackend


def relay_node(url: str, cipher, *, lease: float, identity: str | None = None) -> ClusterRelay:
    """A relay node as the app makes one, with its own Redis connections (``relay.backend`` too, to close)."""
    backend = RedisBackend(url, cipher)
    facts: dict = {}

    def make_room(sid: str, epoch: str) -> Room:
        return Room(sid, epoch=epoch, start_url="http://shop.test/", to_proxy=lambda u: u, to_upstream=lambda u: u)

    def facts_of(sid: str):
        if sid not in facts:
            facts[sid] = backend.open(sid).facts
        return facts[sid]

    relay = ClusterRelay(make_room, facts_of, RedisTransport(url, lease=lease, identity=identity))
    relay.backend = backend
    return relay


async def pttl(url: str, key: str) -> int:
    """Redis's PTTL of ``key``: the milliseconds it has left (-2: gone, -1: no expiry)."""
    r = aioredis.Redis.from_url(url)
    try:
        return await r.pttl(key)
    finally:
        await r.aclose()

"""Sessions no longer in use leave memory (SessionRegistry); their live state stays where it is kept.

Before: ``SessionRegistry._live`` kept every session ever created or looked up, ended or not
(~2.2 KiB each, plus its followers' response cache, up to 48 MiB).
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time

from proxy import sessions as S
from proxy.sessions import SessionRegistry
from rewriter.labels import Origin
from rewriter.urls import ProxyBase
from tandem.store import Store

BASE = ProxyBase("http", "tandem.localhost:8080")
SHOP = "https://shop.example/"
CREATED = 10_000
BLOCKS_PER_SESSION_BOUND = 1.0  # Python memory blocks left per created-and-ended session (a kept Session is ~40)


def _store(tmp_path) -> Store:
    store = Store(tmp_path / "data")
    store.db.execute("PRAGMA synchronous=OFF")  # this test is about memory, not durability: no fsync per row
    store.live_db.execute("PRAGMA synchronous=OFF")
    backend = store.backend  # and the worker thread's connection, which the standalone writes go through
    backend._worker.submit(backend._worker_conn.execute, "PRAGMA synchronous=OFF").result()
    return store


async def test_ten_thousand_created_and_ended_sessions_leave_memory_flat(tmp_path):
    store = _store(tmp_path)
    registry = SessionRegistry(store, BASE)

    async def one() -> None:
        s = await registry.create(SHOP)
        await s.jar.set_from_response(SHOP, ["sess=1; Path=/"])
        s.register_alias("k", Origin("https", "x.example", 443))
        await registry.end(s.sid)
        await registry.get(s.sid)  # a late lookup of an ended session must not bring it back into memory

    for _ in range(50):  # warm up: the public-suffix list, statement caches
        await one()
    await asyncio.sleep(0)
    gc.collect()
    before = sys.getallocatedblocks()  # cheap, unlike tracemalloc, which made this test take minutes
    try:
        for i in range(CREATED):
            await one()
            if i % 200 == 0:
                await asyncio.sleep(0)  # let the live-state drops run
        await asyncio.sleep(0.05)
        gc.collect()
        grown = sys.getallocatedblocks() - before
    finally:
        await store.close()
    assert registry.in_memory() == 0
    assert grown < CREATED * BLOCKS_PER_SESSION_BOUND, f"{grown / CREATED:.1f} memory blocks kept per ended session"


async def test_idle_sessions_are_evicted_and_come_back_with_their_state(tmp_path):
    store = _store(tmp_path)
    registry = SessionRegistry(store, BASE)
    try:
        busy, idle, in_room = await registry.create(SHOP), await registry.create(SHOP), await registry.create(SHOP)
        await idle.jar.set_from_response(SHOP, ["sess=kept; Path=/"])
        from proxy.cache import Entry

        idle.cache.put(SHOP + "a.png", Entry(200, [("Content-Type", "image/png")], b"x" * 1000))
        later = time.monotonic() + S.IDLE_EVICT + 1
        busy.last_used = later
        assert registry.sweep(later, in_use={in_room.sid}) == 1
        assert registry.in_memory() == 2
        assert len(idle.cache) == 0  # the cache of a session nobody uses goes with it
        back = await registry.get(idle.sid)
        assert back is not idle and await back.jar.cookie_header(SHOP) == "sess=kept"
    finally:
        await store.close()

"""A follower's lag is bounded by time, through a real socket (issue 12: "slow followers are
resynchronised within a time bound while the others are unaffected").

The stuck follower here is a real TCP peer that stops reading, behind a small receive buffer, fed a
slow stream of small events: a few KiB a second, so nothing ever waits in Tandem's outbox — it all
sits in the kernel's send queue, written and not acknowledged. Before, only what waited in the outbox
was timed: this follower fell further behind for minutes (until the kernel's buffers filled) without
anything noticing. Now the room's tick sees how long its bytes have waited for the peer
(``--sync-max-lag``) and starts it over from a fresh snapshot; the other follower gets every event,
in order, and no reset.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time

import aiohttp

from tandem import appkeys
from tests.sync.helpers import full, join, meta, recv, socket
from tests.sync.test_socket import raw_follower, started

MAX_LAG = 1.0  # seconds (the setting under test)
RATE = 20  # small events a second
SECONDS = 6.0  # of sending: the bound, plus the room's 1 s tick, plus room for a loaded machine


async def stuck_follower(t, client: aiohttp.ClientSession, sid: str):
    """A session socket (no compression) whose peer reads its handshake and then nothing, with a small
    receive window: what the server writes stays in the server's send queue, unacknowledged."""
    _, writer = await raw_follower(t, client, sid, rcvbuf=4096)
    writer.transport.pause_reading()  # from here on it reads nothing
    return writer


async def test_a_follower_behind_by_time_is_started_over_and_the_others_get_everything(make_tandem, upstream):
    t, s = await started(lambda: make_tandem(sync_max_lag=MAX_LAG), upstream)
    tab = await socket(t, t.client, s.sid, kind="tab")
    await recv(tab, "snapshot")
    await tab.send_str(json.dumps({"t": "ev", "e": [meta(), full()]}))
    fast_client, stuck_client = await join(t, s.sid), await join(t, s.sid)
    writer = None
    try:
        fast = await socket(t, fast_client, s.sid)
        await recv(fast, "welcome")
        snap = await recv(fast, "ev")
        last = snap["s"] + len(snap["e"]) - 1
        writer = await stuck_follower(t, stuck_client, s.sid)
        room = t.app[appkeys.SYNC].rooms[s.sid]
        for _ in range(100):
            if len([c for c in room.conns.values() if c.kind == "view"]) == 2:
                break
            await asyncio.sleep(0.02)
        got: list[int] = []
        kinds: list[str] = []

        async def read_fast():
            async for msg in fast:
                obj = json.loads(msg.data)
                kinds.append(obj["t"])
                if obj["t"] == "ev":
                    got.extend(range(obj["s"], obj["s"] + obj.get("n", len(obj["e"]))))

        asks: list[float] = []

        async def read_tab():
            async for msg in tab:
                if json.loads(msg.data)["t"] == "snapshot":
                    asks.append(time.monotonic())

        reading = [asyncio.create_task(read_fast()), asyncio.create_task(read_tab())]
        start = time.monotonic()
        sent = 0
        n = 0
        while time.monotonic() - start < SECONDS:
            text = {"id": n, "value": secrets.token_hex(200)}  # 400 bytes that do not compress away
            frame = json.dumps({"t": "ev", "e": [{"type": 3, "data": {"source": 0, "texts": [text]}, "timestamp": 1}]})
            await tab.send_str(frame)
            sent += len(frame)
            n += 1
            await asyncio.sleep(1 / RATE)
        await asyncio.sleep(0.5)
        # the stuck follower was started over (a fresh snapshot asked of the tab owner), well within the
        # sending, with a backlog of some KiB: bounded by time, far below any byte bound
        assert asks, f"no fresh snapshot asked for; {sent} bytes sent while the follower read nothing"
        assert asks[0] - start < SECONDS - 1
        assert sent < 64 * 1024
        stuck_conns = [c for c in room.conns.values() if c.kind == "view"]
        assert len(stuck_conns) == 2  # it was not dropped: it starts over when it reads again
        # the fast follower: every event, in order, no reset, no gap
        assert got == list(range(last + 1, last + 1 + n)), (got[:5], got[-5:], n)
        assert "reset" not in kinds
        for task in reading:
            task.cancel()
    finally:
        if writer is not None:
            writer.close()
        await fast_client.close()
        await stuck_client.close()

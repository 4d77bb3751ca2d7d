"""A follower's socket that stops reading, over a real connection: it leaves the room at once when its
writes time out, and nobody else pays for it."""

from __future__ import annotations

import asyncio
import socket as pysocket
import time

from aiohttp import web

from sync import ws as sync_ws
from tandem import appkeys
from tests.sync.helpers import full, join, meta, mutation, recv, socket


async def test_write_timed_out_connection_leaves_the_room_at_once(make_tandem, upstream, monkeypatch):
    """Before: after a write timeout the connection stayed in the room (~49 s) while its close
    handshake waited on a peer that reads nothing; frames kept queueing for it."""
    monkeypatch.setattr(sync_ws, "WRITE_TIMEOUT", 1.0)

    async def home(request):
        return web.Response(text="<p>hi</p>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", home)
    origin = await upstream(app)
    t = await make_tandem()
    s = await t.session(origin + "/")
    leader = await join(t, s.sid, "leader")
    slow_client = await join(t, s.sid, "follower")
    try:
        tab = await socket(t, leader, s.sid, kind="tab")
        await recv(tab, "snapshot")
        await tab.send_json({"t": "ev", "e": [meta(), full(10)]})
        slow = await socket(t, slow_client, s.sid, kind="view")
        await recv(slow, "ev")
        sock = slow._writer.transport.get_extra_info("socket")
        sock.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_RCVBUF, 4096)
        slow._writer.transport.pause_reading()  # a peer that reads nothing more
        room = t.app[appkeys.SYNC].rooms[s.sid]
        view_conns = lambda: [c for c in room.conns.values() if c.kind == "view"]  # noqa: E731
        assert len(view_conns()) == 1
        started = time.monotonic()
        n = 0
        while view_conns() and time.monotonic() - started < 8:
            n += 1
            await tab.send_json({"t": "ev", "e": [mutation(n) | {"pad": "y" * 50_000}]})
            await asyncio.sleep(0.05)
        assert not view_conns(), "the timed-out connection is still in the room"
        assert time.monotonic() - started < 6  # the write timeout (1 s) plus the send buffers filling
        # the leader was not asked for fresh snapshots on its account
        snaps = 0
        while True:
            try:
                msg = await asyncio.wait_for(tab.receive_json(), 0.2)
            except asyncio.TimeoutError:
                break
            snaps += msg["t"] == "snapshot"
        assert snaps == 0
    finally:
        await leader.close()
        await slow_client.close()

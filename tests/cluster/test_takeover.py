"""A room's owner dies or stalls: another node takes the room over at once, and never two at a time.

Relay nodes in one process with a real Redis (as in test_relay_nodes), each with its own
connections. The room leases here are long (``LEASE``): whatever moves a room in these tests
does so long before a lease could have run out — the owner's liveness (its channel's
subscription gone: the process died; its liveness key gone: it stalled) is what lets another
node take the room. And the fence: an owner that lost its room cannot get a frame to any socket.
"""

from __future__ import annotations

import asyncio
import secrets
import time

import redis.asyncio as aioredis

from tandem import crypto
from tandem.cluster import ClusterRelay
from tandem.cluster.redis_transport import alive_key, owner_key
from tests.cluster.helpers import pttl, relay_node
from tests.cluster.test_relay_nodes import join
from tests.sync.helpers import full, meta, mutation

LEASE = 30.0  # seconds: far longer than any of these tests waits


async def started(url: str, cipher, n: int):
    made = [relay_node(url, cipher, lease=LEASE) for _ in range(n)]
    for relay in made:
        await relay.start()
    return made


async def finish(*relays: ClusterRelay) -> None:
    for relay in relays:
        try:
            await relay.stop()
        except Exception:  # noqa: BLE001 - a node "killed" by the test has no connections left
            pass
        await relay.backend.close()


async def kill(relay: ClusterRelay) -> None:
    """What a SIGKILL leaves behind: its connections to Redis closed, its keys as they were."""
    await relay.t.flush()
    if relay._watcher is not None:
        relay._watcher.cancel()
    await relay.t.close()


async def test_a_dead_owner_s_room_moves_long_before_its_lease_would_run_out(redis_server):
    cipher = crypto.Cipher([secrets.token_bytes(32)])
    a, b = await started(redis_server.url, cipher, 2)
    try:
        sid = "s" + secrets.token_hex(6)
        lconn, leader = await join(a, sid, "lead", kind="tab", may_lead=True)
        a.submit(sid, lconn, {"t": "ev", "e": [meta("http://shop.test/"), full()]}, 100, time.monotonic())
        _, follower = await join(b, sid, "fol", kind="view")
        first = await follower.wait_for(lambda f: f["t"] == "welcome", "welcome")
        await follower.wait_for(lambda f: f["t"] == "ev", "the snapshot")
        await kill(a)
        left = await pttl(redis_server.url, owner_key(sid))
        assert left > (LEASE - 5) * 1000, left  # the dead owner's lease has long to run

        code, _ = await follower.wait_closed()  # node b sees the owner dead and sends its socket to reconnect
        assert code == "going_away"
        _, follower2 = await join(b, sid, "fol", kind="view", resume={"epoch": first["epoch"], "seq": 2})
        welcome = await follower2.wait_for(lambda f: f["t"] == "welcome", "welcome from the new owner")
        assert b.stats()["owned_rooms"] == 1 and welcome["state"]["leader"] == "lead"
        assert welcome["epoch"] > first["epoch"]  # a newer term: the old stream's resume point means nothing
        await follower2.wait_for(lambda f: f["t"] == "reset", "a reset")
        lconn2, leader2 = await join(b, sid, "lead", kind="tab", may_lead=True)
        await leader2.wait_for(lambda f: f["t"] == "snapshot", "a fresh snapshot asked of the tab owner")
        b.submit(sid, lconn2, {"t": "ev", "e": [meta("http://shop.test/"), full()]}, 100, time.monotonic())
        await follower2.wait_for(lambda f: f["t"] == "ev", "the mirror again")
        assert await pttl(redis_server.url, owner_key(sid)) > (LEASE - 5) * 1000  # b's own lease now
    finally:
        await finish(a, b)


async def test_an_owner_presumed_dead_cannot_publish_into_the_room_taken_from_it(redis_server):
    """Node a stops beating (stalled: its connections stay open) and node b takes its room. Node c,
    holding a follower of the room, has not looked yet: whatever a's stale room still sends never
    reaches that follower (the publish is fenced in Redis), and a drops the room at its next renewal."""
    cipher = crypto.Cipher([secrets.token_bytes(32)])
    a, b, c = await started(redis_server.url, cipher, 3)
    try:
        sid = "s" + secrets.token_hex(6)
        lconn, leader = await join(a, sid, "lead", kind="tab", may_lead=True)
        a.submit(sid, lconn, {"t": "ev", "e": [meta("http://shop.test/"), full()]}, 100, time.monotonic())
        _, follower = await join(c, sid, "fol", kind="view")
        await follower.wait_for(lambda f: f["t"] == "ev", "the snapshot")
        c._watcher.cancel()  # c does not notice the owner change during this test
        a.t._beater.cancel()  # a stalls as far as Redis can tell ...
        r = aioredis.Redis.from_url(redis_server.url)
        try:
            await r.delete(alive_key(a.node))  # ... and its liveness runs out
        finally:
            await r.aclose()

        _, joiner = await join(b, sid, "late", kind="view")  # b takes the room: a is dead as far as it can tell
        await joiner.wait_for(lambda f: f["t"] == "welcome", "welcome from the new owner")
        assert b.stats()["owned_rooms"] == 1
        assert await pttl(redis_server.url, owner_key(sid)) > (LEASE - 5) * 1000
        before = len(follower.frames)
        for n in range(1, 6):  # the stale owner still believes in its room
            a.submit(sid, lconn, {"t": "ev", "e": [mutation(n)]}, 100, time.monotonic())
        await a.t.flush()
        await asyncio.sleep(0.5)
        assert [f["t"] for f in follower.frames[before:]] == [], "a stale owner's frames reached a follower"
        a.tick(time.monotonic())  # its renewal finds the lease gone: the room here starts over
        code, _ = await leader.wait_closed()
        assert code == "going_away" and a.stats()["owned_rooms"] == 0
    finally:
        await finish(a, b, c)


async def test_a_node_whose_liveness_lapsed_drops_its_rooms_before_running_them(redis_server):
    """After a stall longer than its liveness (SIGSTOP, a long pause), a node cannot know whether its
    rooms were taken: the first thing it does is drop them (their sockets reconnect)."""
    cipher = crypto.Cipher([secrets.token_bytes(32)])
    (a,) = await started(redis_server.url, cipher, 1)
    try:
        sid = "s" + secrets.token_hex(6)
        lconn, leader = await join(a, sid, "lead", kind="tab", may_lead=True)
        _, follower = await join(a, sid, "fol", kind="view")
        await follower.wait_for(lambda f: f["t"] == "welcome", "welcome")
        a.t._alive_until = time.monotonic() - 0.1  # as after a stall: the last beat is older than the liveness
        before = len(follower.frames)
        a.submit(sid, lconn, {"t": "ev", "e": [meta("http://shop.test/"), full()]}, 100, time.monotonic())
        assert (await leader.wait_closed())[0] == "going_away"
        assert (await follower.wait_closed())[0] == "going_away"
        assert follower.frames[before:] == [] and a.stats()["owned_rooms"] == 0
    finally:
        await finish(a)


async def test_a_process_started_where_a_dead_one_served_takes_its_rooms_at_once(redis_server):
    """The same address (host:port), a new process: the old incarnation's rooms are its own to take,
    even while the old one's connections to Redis still look open (a machine that rebooted)."""
    cipher = crypto.Cipher([secrets.token_bytes(32)])
    old = relay_node(redis_server.url, cipher, lease=LEASE, identity="host/127.0.0.1:8080")
    await old.start()
    new = None
    try:
        sid = "s" + secrets.token_hex(6)
        _, leader = await join(old, sid, "lead", kind="tab", may_lead=True)
        await leader.wait_for(lambda f: f["t"] == "welcome", "welcome")
        old._watcher.cancel()
        old.t._beater.cancel()  # hung, not closed: its subscription still counts, its liveness key still there
        new = relay_node(redis_server.url, cipher, lease=LEASE, identity="host/127.0.0.1:8080")
        await new.start()
        _, again = await join(new, sid, "lead", kind="tab", may_lead=True)
        await again.wait_for(lambda f: f["t"] == "welcome", "welcome on the first try")
        assert new.stats()["owned_rooms"] == 1
    finally:
        await finish(*(r for r in (new, old) if r is not None))


async def test_a_stopping_node_hands_its_rooms_back_at_once(redis_server):
    cipher = crypto.Cipher([secrets.token_bytes(32)])
    a, b = await started(redis_server.url, cipher, 2)
    try:
        sid = "s" + secrets.token_hex(6)
        _, leader = await join(a, sid, "lead", kind="tab", may_lead=True)
        _, follower = await join(b, sid, "fol", kind="view")
        await follower.wait_for(lambda f: f["t"] == "welcome", "welcome")
        a.close_all("going_away", "The server is restarting.")  # SIGTERM: the shutdown's first step
        assert (await follower.wait_closed())[0] == "going_away"
        await a.t.flush()
        assert await pttl(redis_server.url, owner_key(sid)) == -2  # released, not left to run out
        _, again = await join(b, sid, "fol", kind="view")
        await again.wait_for(lambda f: f["t"] == "welcome", "welcome through a live node")
        assert b.stats()["owned_rooms"] == 1
    finally:
        await finish(a, b)

"""Two relay nodes in one process, each with its own Redis connections, sharing rooms through a real Redis.

The room runs on its owner node only; a socket on the other node is attached through the
transport. These check that everything the room does reaches a socket on either node, in
order; that the directory (``live_role``) on a node that does not hold the room answers
what the room says, already when the frame that announced the change arrives; and that a
node that dies without a word gives its rooms up: the sockets elsewhere are told to
reconnect, and the room starts again from its kept facts on a live node.
"""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest

from tandem import crypto
from tandem.cluster import ClusterRelay
from tests.cluster.helpers import relay_node
from tests.sync.helpers import full, meta, mutation

WAIT = 5.0
LEASE = 1.0  # seconds: a dead node's rooms move on quickly in this test


class Sock:
    """One connection's outgoing side, as the shell's SocketEndpoint is: frames in, a close."""

    def __init__(self):
        self.frames: list[dict] = []
        self.closed: tuple[str, str] | None = None
        self._changed = asyncio.Event()

    def deliver(self, frame, *, force=False) -> bool:
        self.frames.append(frame.msg)
        self._changed.set()
        return True

    def close(self, code, reason) -> None:
        self.closed = (code, reason)
        self._changed.set()

    async def wait_for(self, pred, what: str):
        deadline = time.monotonic() + WAIT
        while True:
            for f in self.frames:
                if pred(f):
                    return f
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what}; got {[f.get('t') for f in self.frames]} closed={self.closed}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), 0.2)
            except asyncio.TimeoutError:
                pass

    async def wait_closed(self, timeout: float = WAIT) -> tuple[str, str]:
        deadline = time.monotonic() + timeout
        while self.closed is None:
            if time.monotonic() > deadline:
                raise AssertionError("the socket was not closed")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), 0.2)
            except asyncio.TimeoutError:
                pass
        return self.closed


@pytest.fixture
async def nodes(redis_server):
    cipher = crypto.Cipher([secrets.token_bytes(32)])
    made = [relay_node(redis_server.url, cipher, lease=LEASE) for _ in range(2)]
    for relay in made:
        await relay.start()
    yield made
    for relay in made:
        await relay.stop()
        await relay.backend.close()


async def join(relay: ClusterRelay, sid: str, pid: str, *, kind: str, may_lead: bool = False, resume=None):
    sock = Sock()
    await relay.prepare(sid)
    conn = relay.attach(sid, sock, pid=pid, may_lead=may_lead, kind=kind, name=pid, resume=resume,
                        now=time.monotonic())
    return conn, sock


def stream(frames) -> list[int]:
    """The sequence numbers of the DOM stream a socket got, in order."""
    seqs = []
    for f in frames:
        if f.get("t") == "ev":
            seqs.extend(range(f["s"], f["s"] + f.get("n", len(f["e"]))))
    return seqs


async def test_a_follower_on_another_node_gets_the_stream_in_order_and_drives_the_room(nodes):
    a, b = nodes
    sid = "s" + secrets.token_hex(6)
    lconn, leader = await join(a, sid, "lead", kind="tab", may_lead=True)  # a owns the room
    await leader.wait_for(lambda f: f["t"] == "snapshot", "snapshot request")
    fconn, follower = await join(b, sid, "fol", kind="view")
    welcome = await follower.wait_for(lambda f: f["t"] == "welcome", "welcome")
    assert welcome["role"] == "follower"
    a.submit(sid, lconn, {"t": "ev", "e": [meta("http://shop.test/"), full()]}, 100, time.monotonic())
    for n in range(1, 51):
        a.submit(sid, lconn, {"t": "ev", "e": [mutation(n)]}, 100, time.monotonic())
    await follower.wait_for(lambda f: f["t"] == "ev" and f["s"] == 52, "the last event")
    assert stream(follower.frames) == list(range(1, 53))  # nothing lost, duplicated or reordered across nodes

    # what the follower says on node b reaches the room on node a, and the answers come back
    b.submit(sid, fconn, {"t": "control", "a": "request"}, 30, time.monotonic())
    await leader.wait_for(lambda f: f["t"] == "state" and f["requests"] == ["fol"], "control request")
    a.submit(sid, lconn, {"t": "control", "a": "grant", "p": "fol"}, 30, time.monotonic())
    await follower.wait_for(lambda f: f["t"] == "state" and f["controller"] == "fol", "control granted")
    b.submit(sid, fconn, {"t": "input", "i": {"kind": "click", "x": 5, "y": 6}}, 60, time.monotonic())
    got = await leader.wait_for(lambda f: f["t"] == "input", "the follower's click")
    assert got["p"] == "fol" and got["i"]["x"] == 5

    # the directory on the node without the room answers as the room does
    assert await b.live_role(sid, "lead") == "leader"
    assert await b.live_role(sid, "fol") == "follower"
    assert await b.live_role(sid, "nobody") == "follower" == await a.live_role(sid, "nobody")  # someone else leads


async def test_the_directory_knows_a_hand_over_when_the_new_leader_hears_of_it(nodes):
    """A follower told "you lead now" loads the page through any node: that node must already agree."""
    a, b = nodes
    sid = "s" + secrets.token_hex(6)
    lconn, leader = await join(a, sid, "lead", kind="view", may_lead=True)
    fconn, follower = await join(b, sid, "fol", kind="view", may_lead=True)
    await follower.wait_for(lambda f: f["t"] == "welcome", "welcome")
    for _ in range(5):
        follower.frames.clear()
        a.submit(sid, lconn, {"t": "lead", "p": "fol"}, 30, time.monotonic())
        await follower.wait_for(lambda f: f["t"] == "role" and f["role"] == "leader", "the hand-over")
        assert await b.live_role(sid, "fol") == "leader"  # asked the moment the frame is in
        leader.frames.clear()
        b.submit(sid, fconn, {"t": "lead", "p": "lead"}, 30, time.monotonic())
        await leader.wait_for(lambda f: f["t"] == "role" and f["role"] == "leader", "the hand-back")
        assert await b.live_role(sid, "lead") == "leader"


async def test_a_node_that_dies_gives_its_rooms_up_and_sockets_elsewhere_reconnect(redis_server):
    cipher = crypto.Cipher([secrets.token_bytes(32)])
    a, b = relay_node(redis_server.url, cipher, lease=LEASE), relay_node(redis_server.url, cipher, lease=LEASE)
    await a.start()
    await b.start()
    try:
        sid = "s" + secrets.token_hex(6)
        lconn, leader = await join(a, sid, "lead", kind="tab", may_lead=True)
        a.submit(sid, lconn, {"t": "ev", "e": [meta("http://shop.test/"), full()]}, 100, time.monotonic())
        fconn, follower = await join(b, sid, "fol", kind="view")
        await follower.wait_for(lambda f: f["t"] == "ev", "the snapshot")
        await a.t.flush()
        await a.t.close()  # node a dies: no goodbye, its lease is not released
        deadline = time.monotonic() + LEASE * 4 + WAIT
        while follower.closed is None and time.monotonic() < deadline:
            b.tick(time.monotonic())
            await asyncio.sleep(0.2)
        assert follower.closed is not None and follower.closed[0] == "going_away"
        # the page reconnects (through node b now): b takes the room over from its kept facts
        fconn2, follower2 = await join(b, sid, "fol", kind="view")
        welcome = await follower2.wait_for(lambda f: f["t"] == "welcome", "welcome after the move")
        assert welcome["state"]["leader"] == "lead"  # who leads survived the node
        assert b.stats()["owned_rooms"] == 1
        lconn2, leader2 = await join(b, sid, "lead", kind="tab", may_lead=True)
        await leader2.wait_for(lambda f: f["t"] == "snapshot", "a fresh snapshot asked of the tab owner")
        b.submit(sid, lconn2, {"t": "ev", "e": [meta("http://shop.test/"), full()]}, 100, time.monotonic())
        await follower2.wait_for(lambda f: f["t"] == "ev", "the mirror again")
    finally:
        await b.stop()
        await a.backend.close()
        await b.backend.close()


async def test_a_session_ended_through_any_node_ends_everywhere(redis_server):
    """The API call that ends a session lands on any node: every node closes its sockets of it and
    forgets the session (the registry reads it again, ended, from the store)."""
    cipher = crypto.Cipher([secrets.token_bytes(32)])
    a, b, c = (relay_node(redis_server.url, cipher, lease=LEASE) for _ in range(3))
    forgotten: dict[str, list] = {"a": [], "b": [], "c": []}
    for name, relay in zip("abc", (a, b, c)):
        relay._on_ended = forgotten[name].append
        await relay.start()
    try:
        sid = "s" + secrets.token_hex(6)
        _, leader = await join(a, sid, "lead", kind="tab", may_lead=True)
        _, follower = await join(b, sid, "fol", kind="view")
        await follower.wait_for(lambda f: f["t"] == "welcome", "welcome")
        c.end(sid)  # node c holds nothing of the session: the API call just landed there
        assert (await leader.wait_closed())[0] == "session_ended"
        assert (await follower.wait_closed())[0] == "session_ended"
        assert forgotten["a"] == [sid] and forgotten["b"] == [sid] and forgotten["c"] == []
        assert sid not in a.active_sessions() and sid not in b.active_sessions()
    finally:
        for relay in (a, b, c):
            await relay.stop()
            await relay.backend.close()

"""A room's owner node is paused (SIGSTOP) or killed (SIGKILL) in a real cluster: the session resumes
through another node while the dead owner's lease still has seconds to run, and a paused owner that
wakes up never gets its stale room's events to a follower.

Three real ``tandem serve`` nodes, Redis, PostgreSQL, HAProxy (:class:`tests.cluster.nodes.Cluster`);
the sockets speak the session protocol as the pages do, each to the node the test picks (the Host
is the public one, as the balancer forwards it). "Before the lease could have run out" is measured
with Redis's own PTTL of the old owner's lease, not with a wall-clock bound.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.cluster.nodes import Cluster
from tests.restart_helpers import NAVIGATE, TandemProcess, browser
from tests.sync.helpers import full, meta, mutation

pytestmark = [pytest.mark.asyncio(loop_scope="module")]

WAIT = 15.0  # seconds any one expected message may take on a loaded machine
SNAPSHOT = [meta(), full()]
MARK = 4242  # the text node id of the event the paused owner gets while it is stopped


async def session(cluster: Cluster, demo, owner: aiohttp.ClientSession, agent: aiohttp.ClientSession) -> str:
    status, body = await cluster.api(owner, "POST", "/sessions", json={"url": demo.shop + "/"})
    assert status == 201, body
    async with owner.get(body["leader_url"], headers=NAVIGATE, allow_redirects=False) as r:
        assert r.status in (200, 302, 303), (r.status, await r.text())
    async with agent.get(body["follower_url"], allow_redirects=False) as r:
        assert r.status in (302, 303), await r.text()
    return body["session_id"]


async def watched_room(cluster, demo, owner, agent, tab_node: TandemProcess, view_node: TandemProcess,
                       seen: list | None = None):
    """A session whose tab owner's socket is on ``tab_node`` (so its room runs there) and has sent the first
    snapshot, and a follower's socket on ``view_node`` that has had it: (sid, tab socket, view socket)."""
    sid = await session(cluster, demo, owner, agent)
    tab = await ws(cluster, tab_node, owner, sid, "tab")
    await recv(tab, "snapshot")
    await tab.send_str(json.dumps({"t": "ev", "e": SNAPSHOT}))
    view = await ws(cluster, view_node, agent, sid, "view")
    await recv(view, "ev", seen=seen)
    return sid, tab, view


async def ws(cluster: Cluster, node: TandemProcess, client: aiohttp.ClientSession, sid: str, kind: str, resume=None):
    """A session socket to ``node`` itself (as if the balancer had sent it there)."""
    sock = await client.ws_connect(f"http://tandem.localhost:{node.port}/s/{sid}/ws", origin=cluster.url,
                                   headers={"Host": cluster.url.split("//", 1)[1]})
    await sock.send_str(json.dumps({"t": "hello", "kind": kind, "resume": resume}))
    return sock


async def recv(sock, t: str, pred=lambda m: True, seen: list | None = None, timeout: float = WAIT) -> dict:
    async def loop():
        while True:
            msg = await sock.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"socket ended while waiting for {t!r}: {msg.type} {sock.close_code}")
            obj = json.loads(msg.data)
            if seen is not None:
                seen.append(obj)
            if obj["t"] == t and pred(obj):
                return obj

    return await asyncio.wait_for(loop(), timeout)


async def closed(sock, seen: list | None = None, timeout: float = WAIT) -> int | None:
    async def loop():
        while True:
            msg = await sock.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                return sock.close_code
            if seen is not None:
                seen.append(json.loads(msg.data))

    return await asyncio.wait_for(loop(), timeout)


async def rejoin(cluster, node, client, sid, kind, resume=None):
    """As a page does: a socket sent away (1001) comes back."""
    deadline = time.monotonic() + WAIT
    while True:
        sock = await ws(cluster, node, client, sid, kind, resume)
        msg = await asyncio.wait_for(sock.receive(), WAIT)
        if msg.type == aiohttp.WSMsgType.TEXT and json.loads(msg.data)["t"] == "welcome":
            return sock, json.loads(msg.data)
        assert sock.close_code == 1001 and time.monotonic() < deadline, (msg.type, msg.data, sock.close_code)
        await asyncio.sleep(0.3)


async def lease(cluster: Cluster, sid: str) -> tuple[bytes | None, int]:
    """The room's owner lease and the milliseconds it has left (Redis's PTTL: -2 when it is gone)."""
    r = aioredis.Redis.from_url(cluster.redis.url)
    try:
        key = f"tandem:{{{sid}}}:owner"
        return await r.get(key), await r.pttl(key)
    finally:
        await r.aclose()


def is_mark(m: dict) -> bool:
    return m.get("t") == "ev" and any(e.get("type") == 3 and any(t.get("id") == MARK for t in e["data"].get("texts", ()))
                                      for e in m.get("e", ()))


async def test_a_paused_owner_loses_its_room_and_cannot_publish_into_it(cluster, demo):
    n0, n1, n2 = cluster.nodes
    async with browser() as owner, browser() as agent:
        seen: list[dict] = []
        sid, tab, view = await watched_room(cluster, demo, owner, agent, n0, n1, seen)  # n0 runs the room
        assert await cluster.owner_of(sid) is n0

        n0.proc.send_signal(signal.SIGSTOP)  # n0 stalls: its connections stay open, it renews nothing
        try:
            assert await closed(view, seen) == 1001  # n1 finds n0 dead and sends the follower to reconnect ...
            value, left = await lease(cluster, sid)
            assert left > 1000, (value, left)  # ... while n0's lease still had more than a second to run
            view, welcome = await rejoin(cluster, n1, agent, sid, "view")  # n1 takes the room
            seen.append(welcome)
            assert await cluster.owner_of(sid) is n1
            # the tab owner's page, its socket still open to the stalled n0, sends an event
            await tab.send_str(json.dumps({"t": "ev", "e": [mutation(MARK)]}))
        finally:
            n0.proc.send_signal(signal.SIGCONT)
        # n0 wakes: it drops its stale room (the tab reconnects) and never relays the event
        assert await closed(tab) == 1001
        tab, _ = await rejoin(cluster, n2, owner, sid, "tab")
        await recv(tab, "snapshot")
        await tab.send_str(json.dumps({"t": "ev", "e": SNAPSHOT}))
        got = await recv(view, "ev", seen=seen)
        assert got["e"][0]["type"] == 4, got  # the follower's next events are the tab's fresh snapshot
        assert not any(is_mark(m) for m in seen), "the stalled owner's event reached the follower"
        await tab.close()
        await view.close()
    await cluster.wait_ready()  # n0 is back in the balancer before the next test


async def test_a_killed_owner_s_session_resumes_before_its_lease_could_run_out(cluster, demo):
    n0, n1, n2 = cluster.nodes
    async with browser() as owner, browser() as agent:
        sid, tab, view = await watched_room(cluster, demo, owner, agent, n0, n1)
        assert await cluster.owner_of(sid) is n0

        n0.stop(signal.SIGKILL)
        killed = time.monotonic()
        _, left = await lease(cluster, sid)  # the dead owner's lease: what the old code waited out
        assert left > 2000, left
        tab, welcome = await rejoin(cluster, n2, owner, sid, "tab")  # the page reconnects through another node
        assert welcome["role"] == "leader"
        await recv(tab, "snapshot")
        await tab.send_str(json.dumps({"t": "ev", "e": SNAPSHOT}))
        assert await closed(view) == 1001  # n1 saw its room's owner die
        view, _ = await rejoin(cluster, n1, agent, sid, "view")
        got = await recv(view, "ev")
        resumed = time.monotonic() - killed
        assert got["e"][0]["type"] == 4
        # the follower has the fresh snapshot while the dead owner's lease still had over a second to run
        assert resumed < left / 1000 - 1.0, (resumed, left)
        assert await cluster.owner_of(sid) is n2
        await tab.close()
        await view.close()

"""How long a session's followers wait when the node running its room dies: kill-to-resumed in a
cluster, and restart-to-resumed for one node with Redis, with the owner's liveness (the default,
``--cluster-liveness 2``) against the old way in the same run (``--cluster-liveness 0``: a dead
owner's rooms wait for their 6 s lease).

    python -m bench.takeover [--rounds 3] [--only kill|restart]

Real processes on loopback: Redis, PostgreSQL, three ``tandem serve`` nodes and HAProxy
(:class:`tests.cluster.nodes.Cluster`) for the kill; one node with ``--redis-url`` for the
restart. A tab-owner socket and a follower socket speak the session protocol as the pages do.

* kill-to-resumed: the room's owner node is SIGKILLed with the tab owner's socket on it and
  the follower's on another node; the tab owner's page reconnects through a third node and
  sends the fresh snapshot it is asked for; the figure is from the kill until the follower
  (told to reconnect by its node, as the page would) has that snapshot. The old owner lease's
  PTTL at the kill is printed beside it.
* restart-to-resumed: the single node is SIGKILLed and started again on the same address; the
  figure is from the new process answering HTTP until the follower has the fresh snapshot
  (both pages retry every 0.3 s, the pages' first back-off step).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import tempfile
import time
from pathlib import Path

from demosite import start_demo
from tests.cluster.nodes import Cluster
from tests.cluster.helpers import pttl
from tests.cluster.test_takeover_nodes import SNAPSHOT, closed, lease, recv, rejoin, watched_room
from tests.restart_helpers import TandemProcess, browser
from tests.servers.redis import RedisServer

RETRY = 0.3  # seconds between a page's reconnection attempts (viewer/mirror/conn.js BACKOFF_MIN_MS)


async def until_welcome(cluster, node, client, sid, kind, deadline: float = 30.0):
    """Reconnect every RETRY seconds until welcomed (refused connections included: the node is starting)."""
    end = time.monotonic() + deadline
    while True:
        try:
            return await rejoin(cluster, node, client, sid, kind)
        except (AssertionError, OSError, asyncio.TimeoutError, Exception):  # noqa: BLE001 - the page just retries
            if time.monotonic() > end:
                raise
            await asyncio.sleep(RETRY)


async def one_kill(cluster: Cluster, demo) -> tuple[float, int]:
    n0, n1, n2 = cluster.nodes
    async with browser() as owner, browser() as agent:
        sid, tab, view = await watched_room(cluster, demo, owner, agent, n0, n1)
        n0.stop(signal.SIGKILL)
        killed = time.monotonic()
        _, left = await lease(cluster, sid)

        async def tab_side():
            t, _ = await until_welcome(cluster, n2, owner, sid, "tab")
            await recv(t, "snapshot", timeout=30)
            await t.send_str(json.dumps({"t": "ev", "e": SNAPSHOT}))
            return t

        async def view_side():
            assert await closed(view, timeout=30) == 1001
            v, _ = await until_welcome(cluster, n1, agent, sid, "view")
            await recv(v, "ev", lambda m: m["e"][0]["type"] == 4, timeout=30)
            return v

        t, v = await asyncio.gather(tab_side(), view_side())
        took = time.monotonic() - killed
        await t.close()
        await v.close()
    await n0.start()  # back for the next round (a new process on the same address)
    await cluster.wait_ready()
    return took, left


async def kills(rounds: int, liveness: str, demo) -> tuple[list[float], list[int]]:
    workdir = Path(tempfile.mkdtemp(prefix="tandem-bench-takeover-"))
    cluster = Cluster(workdir, nodes=3, allow=tuple(demo.hosts), extra=("--cluster-liveness", liveness))
    times, lefts = [], []
    try:
        await cluster.start()
        for _ in range(rounds):
            took, left = await one_kill(cluster, demo)
            times.append(took)
            lefts.append(left)
            print(f"  liveness {liveness}: kill-to-resumed {took:.2f} s (old owner's lease had {left / 1000:.2f} s left)",
                  flush=True)
    finally:
        cluster.stop()
    return times, lefts


async def restarts(rounds: int, liveness: str, demo) -> list[float]:
    workdir = Path(tempfile.mkdtemp(prefix="tandem-bench-restart-"))
    times, lefts = [], []
    with RedisServer(workdir / "redis") as redis:
        node = TandemProcess(workdir / "data", allow=tuple(demo.hosts),
                             extra_args=("--redis-url", redis.url, "--cluster-liveness", liveness))
        await node.start()
        try:
            for _ in range(rounds):
                one = type("One", (), {"url": node.url, "api": node.api})()  # what session() and ws() use of a cluster
                async with browser() as owner, browser() as agent:
                    sid, tab, view = await watched_room(one, demo, owner, agent, node, node)
                    node.stop(signal.SIGKILL)
                    killed = time.monotonic()
                    await node.start()
                    answered = time.monotonic()
                    left = await pttl(redis.url, f"tandem:{{{sid}}}:owner")  # the dead process's lease, if any left
                    t, _ = await until_welcome(one, node, owner, sid, "tab")
                    await recv(t, "snapshot", timeout=30)
                    await t.send_str(json.dumps({"t": "ev", "e": SNAPSHOT}))
                    v, _ = await until_welcome(one, node, agent, sid, "view")
                    await recv(v, "ev", lambda m: m["e"][0]["type"] == 4, timeout=30)
                    took = time.monotonic() - answered
                    times.append(took)
                    lefts.append(left)
                    print(f"  liveness {liveness}: restart-to-resumed {took:.2f} s (the new process answered "
                          f"{answered - killed:.1f} s after the kill; the dead one's lease had "
                          f"{max(left, 0) / 1000:.2f} s left then)", flush=True)
                    await t.close()
                    await v.close()
        finally:
            node.stop(signal.SIGTERM)
    if all(left <= 0 for left in lefts):
        print(f"  (liveness {liveness}: every restart outlasted the 6 s lease: the old way had nothing left to wait for)")
    return times


def summary(name: str, new: list[float], old: list[float]) -> None:
    n, o = statistics.median(new), statistics.median(old)
    print(f"{name}: median {n:.2f} s (max {max(new):.2f}) with liveness vs {o:.2f} s (max {max(old):.2f}) waiting for "
          f"the lease: {o / n:.1f}x faster")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", choices=("kill", "restart"))
    args = ap.parse_args()
    demo = await start_demo("127.0.0.1")
    try:
        if args.only != "restart":
            new, _ = await kills(args.rounds, "2", demo)
            old, _ = await kills(args.rounds, "0", demo)
            summary("kill-to-resumed (3 nodes, owner SIGKILLed)", new, old)
        if args.only != "kill":
            new_r = await restarts(args.rounds, "2", demo)
            old_r = await restarts(args.rounds, "0", demo)
            summary("restart-to-resumed (1 node + Redis, SIGKILL, from answering)", new_r, old_r)
    finally:
        await demo.close()


if __name__ == "__main__":
    asyncio.run(main())

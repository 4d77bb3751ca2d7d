"""Relay latency: one node (in process) against two nodes over Redis, with 10 and 50 followers.

    python -m bench.cluster_relay [--frames 400] [--rate 100]

A tab owner's DOM events (one small mutation batch per frame, ``--rate`` frames a second) go
through the room to every follower's outbox. Latency is from the tab owner's ``submit`` to the
frame reaching each follower's outbox (what the socket writer then sends): in process that is
the room plus the fan-out; over Redis the room runs on node A, the followers' sockets are on
node B, so each frame also makes one PUBLISH and one pub/sub delivery (one message per node,
not per follower). Both in one event loop, one run, a real ``redis-server`` on loopback;
ratios are Redis / in process in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from sync.relay import LocalRelay
from sync.room import Room
from tandem import crypto
from tandem.cluster import ClusterRelay, RedisTransport
from tandem.live.redisstate import RedisBackend
from tests.servers.redis import RedisServer


class Follower:
    def __init__(self, sent: dict[int, float], out: list[float]):
        self.sent, self.out = sent, out

    def deliver(self, frame, *, force=False) -> bool:
        if frame.kind == "stream":
            t0 = self.sent.get(frame.seq)
            if t0 is not None:
                self.out.append(time.perf_counter() - t0)
        return True

    def close(self, code, reason) -> None:
        pass


def make_room(sid: str, epoch: str) -> Room:
    return Room(sid, epoch=epoch, start_url="http://shop.test/", to_proxy=lambda u: u, to_upstream=lambda u: u)


def event(n: int) -> dict:
    return {"type": 3, "data": {"source": 0, "texts": [{"id": n, "value": f"text {n}"}], "adds": [], "removes": []},
            "timestamp": n}


async def run(leader_relay, follower_relay, followers: int, frames: int, rate: float) -> list[float]:
    sid = "b" + secrets.token_hex(6)
    sent: dict[int, float] = {}
    out: list[float] = []
    if hasattr(leader_relay, "prepare"):
        await leader_relay.prepare(sid)
    now = time.monotonic()
    lconn = leader_relay.attach(sid, Follower({}, []), pid="lead", may_lead=True, kind="tab", name="", resume=None,
                                now=now)
    snap = [{"type": 4, "data": {"href": "http://shop.test/", "width": 800, "height": 600}, "timestamp": 0},
            {"type": 2, "data": {"node": {"type": 0, "childNodes": []}}, "timestamp": 0}]
    leader_relay.submit(sid, lconn, {"t": "ev", "e": snap}, 200, time.monotonic())
    for i in range(followers):
        await follower_relay.prepare(sid)
        follower_relay.attach(sid, Follower(sent, out), pid=f"f{i}", may_lead=False, kind="view", name="",
                              resume=None, now=time.monotonic())
    await asyncio.sleep(0.5)  # every follower has its snapshot
    seq = 2
    for n in range(frames):
        seq += 1
        sent[seq] = time.perf_counter()
        leader_relay.submit(sid, lconn, {"t": "ev", "e": [event(n)]}, 120, time.monotonic())
        await asyncio.sleep(1 / rate)
    await asyncio.sleep(0.5)
    expected = frames * followers
    if len(out) != expected:
        raise SystemExit(f"lost frames: {len(out)} of {expected} delivered")
    leader_relay.end(sid)
    return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] * 1000


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--rate", type=float, default=100.0, help="tab-owner frames a second")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as redis:
        cipher = crypto.Cipher([secrets.token_bytes(32)])
        backend = RedisBackend(redis.url, cipher)
        facts: dict = {}

        def facts_of(sid):
            return facts.setdefault(sid, backend.open(sid).facts)

        local = LocalRelay(make_room)
        a = ClusterRelay(make_room, facts_of, RedisTransport(redis.url))
        b = ClusterRelay(make_room, facts_of, RedisTransport(redis.url))
        await a.start()
        await b.start()

        async def ticker() -> None:  # as the app's room clock does: leases renewed every second
            while True:
                await asyncio.sleep(1.0)
                for relay in (a, b):
                    relay.tick(time.monotonic())

        ticking = asyncio.get_running_loop().create_task(ticker())
        try:
            print(f"relay latency, tab owner's submit -> each follower's outbox; {args.frames} frames at "
                  f"{args.rate:.0f}/s; p50 / p99 in ms")
            print(f"{'followers':>9}  {'in process':>18}  {'Redis, 2 nodes':>18}  {'ratio p50':>9}  {'ratio p99':>9}")
            for n in (10, 50):
                here = await run(local, local, n, args.frames, args.rate)
                over = await run(a, b, n, args.frames, args.rate)
                l50, l99, r50, r99 = pct(here, 50), pct(here, 99), pct(over, 50), pct(over, 99)
                print(f"{n:>9}  {l50:>8.3f} / {l99:>7.3f}  {r50:>8.3f} / {r99:>7.3f}  {r50 / l50:>8.1f}x  {r99 / l99:>8.1f}x")
            print(f"messages published by node A: {a.t.published} (one per frame per node, not per follower)")
            print(f"mean over Redis, 50 followers: {statistics.mean(over) * 1000:.3f} ms")
        finally:
            ticking.cancel()
            await a.stop()
            await b.stop()
            await backend.close()


if __name__ == "__main__":
    asyncio.run(main())

"""Proxied page throughput: one node (the default: SQLite, in process) against three nodes behind HAProxy
with Redis, on this machine.

    python -m bench.cluster_throughput [--seconds 15] [--connections 8]

A tab owner (one browser-like client with its cookie jar, signed in to the demo shop) loads
the shop's product page over and over on ``--connections`` connections. Through the cluster
every request crosses the balancer, reads the jar and the room's directory from Redis and
may land on any node; on one node all of it is in process. Both in one run, real processes
on loopback; on a 2-core machine the three nodes, HAProxy, Redis, the demo site and the load
generator share the same two cores, so this shows what the balancer and Redis cost here, not
what more machines would add.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from demosite import start_demo
from tests.cluster.nodes import Cluster
from tests.restart_helpers import NAVIGATE, TandemProcess, browser
from tests.harness import ADMIN_KEY


async def tab_owner(base_url: str, shop: str) -> tuple[aiohttp.ClientSession, str]:
    client = browser()
    async with client.post(base_url + "/api/v1/sessions", json={"url": shop + "/"},
                           headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as r:
        body = await r.json()
        assert r.status == 201, body
    async with client.get(body["leader_url"], headers=NAVIGATE) as r:
        assert r.status == 200, r.status
        page = str(r.url).rstrip("/")
    async with client.post(page + "/login", data={"username": "demo", "password": "demo123"},
                           headers={"Origin": page, **NAVIGATE}) as r:
        assert r.status == 200 and "Signed in as demo" in await r.text()
    return client, page + "/products/2"


async def load(client: aiohttp.ClientSession, url: str, connections: int, seconds: float) -> tuple[float, list[float]]:
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            async with client.get(url, headers=NAVIGATE) as r:
                await r.read()
                if r.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - t0)

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    if errors:
        raise SystemExit(f"{errors} requests failed")
    return len(latencies) / (time.monotonic() - start), latencies


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--connections", type=int, default=8)
    args = ap.parse_args()
    demo = await start_demo("127.0.0.1")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        one = TandemProcess(Path(tmp) / "one" / "data", allow=tuple(demo.hosts))
        (Path(tmp) / "one").mkdir()
        await one.start()
        try:
            client, url = await tab_owner(one.url, demo.shop)
            await load(client, url, args.connections, 2)  # warm-up
            results["one node"] = await load(client, url, args.connections, args.seconds)
            await client.close()
        finally:
            one.stop(signal.SIGTERM)
        cluster = Cluster(Path(tmp) / "cluster", nodes=3, allow=tuple(demo.hosts))
        try:
            await cluster.start()
            client, url = await tab_owner(cluster.url, demo.shop)
            await load(client, url, args.connections, 2)
            results["3 nodes + HAProxy + Redis"] = await load(client, url, args.connections, args.seconds)
            served = {r.server for r in cluster.lb.requests() if r.uri.startswith("/products/2")}
            await client.close()
        finally:
            cluster.stop()
    await demo.close()
    base = results["one node"][0]
    print(f"signed-in tab owner loading a proxied product page, {args.connections} connections, {args.seconds:.0f} s each")
    print(f"{'':28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs one node':>12}")
    for name, (rate, lat) in results.items():
        lat.sort()
        print(f"{name:28} {rate:8.1f} {statistics.median(lat) * 1000:8.1f} {lat[int(0.99 * (len(lat) - 1))] * 1000:8.1f} "
              f"{rate / base:11.2f}x")
    print(f"cluster requests served by: {sorted(served)}")


if __name__ == "__main__":
    asyncio.run(main())

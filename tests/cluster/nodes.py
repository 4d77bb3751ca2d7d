"""A whole cluster on loopback for tests: Redis, PostgreSQL, N real ``tandem serve`` nodes, HAProxy in front.

The nodes share the store (a fresh PostgreSQL database; the data directory only for the keys,
which every node needs the same) and Redis; the balancer is round-robin with no stickiness,
so consecutive requests of one browser land on different nodes. ``Cluster.url`` is the public
address (``tandem.localhost:<balancer port>``).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import tempfile
from pathlib import Path

import aiohttp

from tests.harness import ADMIN_KEY
from tests.restart_helpers import TandemProcess
from tests.servers.haproxy import HAProxy
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer

NODE_LINE = re.compile(r"cluster relay: node (\d+)")


class Cluster:
    def __init__(self, workdir: Path, *, nodes: int = 3, allow: tuple[str, ...] = (), extra: tuple[str, ...] = ()):
        self.workdir = workdir
        self.redis = RedisServer(workdir / "redis")
        self.pg_dir = Path(tempfile.mkdtemp(prefix="tandem-pg-"))  # the server runs as postgres: not under root-only tmp
        self.pg = PostgresServer(self.pg_dir)
        self.count = nodes
        self.allow = allow
        self.extra = extra  # more `tandem serve` arguments for every node
        self.nodes: list[TandemProcess] = []
        self.lb: HAProxy | None = None

    @property
    def url(self) -> str:
        return f"http://tandem.localhost:{self.lb.port}"

    async def start(self) -> "Cluster":
        self.redis.start()
        self.pg.start()
        database = self.pg.new_database()
        self.lb = HAProxy(self.workdir / "haproxy", [])  # its port first: the nodes' public address
        args = ("--redis-url", self.redis.url, "--database-url", database,
                "--base-domain", f"tandem.localhost:{self.lb.port}", *self.extra)
        self.nodes = [TandemProcess(self.workdir / "data", allow=self.allow, extra_args=args) for _ in range(self.count)]
        await self.nodes[0].start()  # the first one creates the data directory, its keys and the schema
        await asyncio.gather(*(n.start() for n in self.nodes[1:]))
        self.lb.nodes = [("127.0.0.1", n.port) for n in self.nodes]
        self.lb.start()
        await self.wait_ready()
        return self

    async def wait_ready(self, timeout: float = 20.0) -> None:
        """Until the balancer's health checks see every running node."""
        async with aiohttp.ClientSession() as client:
            deadline = asyncio.get_running_loop().time() + timeout
            for n in self.nodes:
                if n.proc is None or n.proc.poll() is not None:
                    continue
                while True:
                    try:
                        async with client.get(f"http://127.0.0.1:{n.port}/readyz") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    if asyncio.get_running_loop().time() > deadline:
                        raise AssertionError(f"node {n.port} not ready:\n{n.tail()}")
                    await asyncio.sleep(0.1)
            await self._balanced(client, deadline)

    async def _balanced(self, client: aiohttp.ClientSession, deadline: float) -> None:
        """Until the balancer sends requests to every running node: its health checks (inter 1 s, rise 2)
        have seen them. Round-robin gives each server it holds up one of every N requests in a row;
        its log says which server answered each."""
        running = {f"n{i}" for i, n in enumerate(self.nodes, 1) if n.proc is not None and n.proc.poll() is None}
        while True:
            seen = len(self.lb.requests())
            for _ in range(2 * len(self.nodes)):
                try:
                    async with client.get(f"http://127.0.0.1:{self.lb.port}/readyz") as r:
                        await r.read()
                except aiohttp.ClientError:
                    pass
            served = {r.server for r in self.lb.requests()[seen:] if r.uri == "/readyz"}
            if running <= served:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the balancer sends nothing to {sorted(running - served)}")
            await asyncio.sleep(0.2)

    def node_number(self, proc: TandemProcess) -> int:
        found = NODE_LINE.findall(proc.log.read_text(errors="replace"))
        assert found, f"node on {proc.port} logged no cluster node number:\n{proc.tail()}"
        return int(found[-1])

    async def owner_of(self, sid: str) -> TandemProcess | None:
        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(self.redis.url)
        try:
            owner = await r.get(f"tandem:{{{sid}}}:owner")
        finally:
            await r.aclose()
        if owner is None:
            return None
        number = int(owner.split(b".", 1)[0])  # the lease is <node>.<term>
        return next((n for n in self.nodes if self.node_number(n) == number), None)

    async def api(self, client: aiohttp.ClientSession, method: str, path: str, **kw) -> tuple[int, dict]:
        async with client.request(method, self.url + "/api/v1" + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                                  **kw) as r:
            return r.status, await r.json()

    def stop(self) -> None:
        if self.lb is not None:
            self.lb.stop()
        for n in self.nodes:
            try:
                n.stop(signal.SIGTERM)
            except AssertionError:
                pass
        self.redis.stop()
        self.pg.stop()
        shutil.rmtree(self.pg_dir, ignore_errors=True)

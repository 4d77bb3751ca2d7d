"""Cluster tests run against real servers: Redis (and HAProxy, PostgreSQL for the e2e) on free loopback ports."""

from __future__ import annotations

import signal

import pytest
import pytest_asyncio

from tests.servers.redis import RedisServer


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def demo():
    """The demo sites (shop, ...) the cluster's sessions browse."""
    from demosite import start_demo

    site = await start_demo("127.0.0.1")
    yield site
    await site.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(request, tmp_path_factory, demo):
    """One cluster for the module (starting three nodes is most of its time): Redis, PostgreSQL, three
    ``tandem serve`` nodes and HAProxy (:class:`tests.cluster.nodes.Cluster`). A module's tests that
    stop or kill a node put it back, or run last."""
    from tests.cluster.nodes import Cluster

    c = Cluster(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]), nodes=3, allow=tuple(demo.hosts))
    try:
        await c.start()
        yield c
    finally:
        for n in c.nodes:  # never leave a stopped child behind
            if n.proc is not None and n.proc.poll() is None:
                n.proc.send_signal(signal.SIGCONT)
        c.stop()

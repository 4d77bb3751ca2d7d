"""Entry tickets are single-use across the nodes of a cluster (issue 10, "spent tickets are remembered per process").

Two real ``tandem serve`` nodes sharing Redis and PostgreSQL (tests/cluster/nodes.py, HAProxy in
front). A ticket is spent on one node, then the same ticket with the same entry nonce cookie is
replayed on the other node, addressed directly (not through the balancer). When spent tickets were
remembered per process, the second node knew nothing of the first spend and minted a second
credential; now the live state's ``claim_once`` (``SET NX`` in Redis) decides for every node.
"""

from __future__ import annotations

import aiohttp
import pytest
from yarl import URL

from demosite import start_demo
from tests.harness import client_session
from tests.restart_helpers import browser
from tests.security.handoff import IMG, sets_credential, ticket_for_a_new_host



@pytest.fixture
async def demo():
    site = await start_demo("127.0.0.1")
    yield site
    await site.close()


@pytest.fixture
async def cluster(tmp_path, demo):
    from tests.cluster.nodes import Cluster

    c = Cluster(tmp_path / "cluster", nodes=2, allow=tuple(demo.hosts))
    try:
        await c.start()
        yield c
    finally:
        c.stop()


async def test_a_ticket_spent_on_one_node_is_refused_on_another(cluster, demo):
    async with browser() as owner:
        location, nonce = await ticket_for_a_new_host(cluster, owner, demo.shop + "/")
        enter = URL(location, encoded=True)
        assert enter.path == "/__tandem/enter" and "ticket" in enter.query

        async def replay_on(node) -> aiohttp.ClientResponse:
            """The copied ticket plus the browser's nonce cookie, sent straight to one node."""
            direct = enter.with_host("127.0.0.1").with_port(node.port)
            headers = {**IMG, "Cookie": nonce, "Host": f"{enter.host}:{enter.port}"}
            async with client_session(cookie_jar=aiohttp.DummyCookieJar()) as c:
                async with c.get(direct, headers=headers, allow_redirects=False) as r:
                    await r.read()
                    return r

        first, second = cluster.nodes
        spent = await replay_on(first)
        assert spent.status == 302 and sets_credential(spent), spent.headers
        again = await replay_on(second)
        assert not sets_credential(again), "a ticket spent on one node minted a credential on another"
        assert not sets_credential(await replay_on(first))

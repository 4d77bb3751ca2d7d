"""Entry tickets are single-use across the nodes of a cluster (issue 10, "spent tickets are remembered per process").

Two real ``tandem serve`` nodes sharing Redis and PostgreSQL (tests/cluster/nodes.py, HAProxy in
front). A ticket is spent on one node, then the same ticket with the same entry nonce cookie is
replayed on the other node, addressed directly (not through the balancer). When spent tickets were
remembered per process, the second node knew nothing of the first spend and minted a second
credential; now the live state's ``claim_once`` (``SET NX`` in Redis) decides for every node.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp
import pytest
from yarl import URL

from demosite import start_demo
from tests.harness import client_session
from tests.restart_helpers import NAVIGATE, browser

IMG = {"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image", "Sec-Fetch-Site": "cross-site"}
HOST_COOKIE = "tandem_h"


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


def _sets_credential(r: aiohttp.ClientResponse) -> bool:
    return any(v.startswith(HOST_COOKIE) and "Max-Age=0" not in v for v in r.headers.getall("Set-Cookie", []))


async def test_a_ticket_spent_on_one_node_is_refused_on_another(cluster, demo):
    async with browser() as owner:
        status, body = await cluster.api(owner, "POST", "/sessions", json={"url": demo.shop + "/"})
        assert status == 201, body
        async with owner.get(body["leader_url"], headers=NAVIGATE) as r:
            assert r.status == 200, (r.status, await r.text())
            page = str(r.url)
        split = urlsplit(page)
        other = f"{split.scheme}://{split.netloc}/static/logo.png"
        owner.cookie_jar.clear(lambda c: c.key.startswith(HOST_COOKIE))  # as if this host were new to the browser
        async with owner.get(other, headers=IMG, allow_redirects=False) as r:
            assert r.status == 302, (r.status, await r.text())
            step = r.headers["Location"]
            nonce = next(v.split(";", 1)[0] for v in r.headers.getall("Set-Cookie") if v.startswith("tandem_n_"))
        async with owner.get(step, headers=IMG, allow_redirects=False) as r:
            assert r.status == 302, (r.status, await r.text())
            enter = URL(r.headers["Location"], encoded=True)
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
        assert spent.status == 302 and _sets_credential(spent), spent.headers
        again = await replay_on(second)
        assert not _sets_credential(again), "a ticket spent on one node minted a credential on another"
        assert not _sets_credential(await replay_on(first))

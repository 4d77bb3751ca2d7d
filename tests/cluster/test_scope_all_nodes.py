"""Scope ``all`` is judged by the same page on every node (issue 10 #5, issue 12: nothing may depend
on a participant reaching "their" node).

An allowlist entry with scope ``all`` means: while the tab owner's page is on it, subresources
may come only from listed hosts. The page is the one the *server* last served the tab owner as
a top-level document. It was remembered only in the process that served it; another node fell
back to the session's start URL (or to the last page it had served itself), so after the tab
owner moved (through node A) from a listed page to a scope-``all`` page, node B still let the
page load from unlisted hosts, and after moving back B still refused them.

Two real ``tandem serve`` nodes sharing Redis and PostgreSQL (tests/cluster/nodes.py). Every
request below that the test judges is sent straight to one node (not through the balancer).
The unlisted host (``cdn.localhost``) resolves to loopback, which Tandem reaches only for listed
hosts: a request the allowlist lets through is then stopped by the address guard
(``private_address``), one the scope-``all`` rule refuses never gets that far
(``site_not_allowed``). The code in the answer says which rule decided.
"""

from __future__ import annotations

import aiohttp
import pytest
import pytest_asyncio
from yarl import URL

from rewriter.urls import ProxyBase, UrlRewriter
from tests.harness import client_session
from tests.restart_helpers import NAVIGATE, browser

pytestmark = [pytest.mark.asyncio(loop_scope="module")]

IMG = {"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image", "Sec-Fetch-Site": "cross-site"}
SCOPE_ALL_REFUSED = "site_not_allowed"  # the scope "all" rule (proxy.handler SCOPE_ALL)
PAST_THE_ALLOWLIST = "private_address"  # allowed by the list; the guard stops a loopback host that is not listed


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def two_nodes(tmp_path_factory, demo):
    from tests.cluster.nodes import Cluster

    c = Cluster(tmp_path_factory.mktemp("scope_all"), nodes=2)
    try:
        await c.start()
        yield c
    finally:
        c.stop()


async def on_node(node, owner: aiohttp.ClientSession, url: str, headers: dict) -> tuple[int, str]:
    """``url`` sent straight to ``node`` with the owner's cookies for it, as if the balancer had picked it."""
    target = URL(url, encoded=True)
    cookies = owner.cookie_jar.filter_cookies(target)
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in cookies.items())
    direct = target.with_host("127.0.0.1").with_port(node.port)
    async with client_session(cookie_jar=aiohttp.DummyCookieJar()) as c:
        async with c.get(direct, headers={**headers, "Host": f"{target.host}:{target.port}", "Cookie": cookie},
                         allow_redirects=False) as r:
            return r.status, await r.text()


async def test_every_node_judges_scope_all_by_the_page_the_tab_owner_was_last_served(two_nodes, demo):
    cluster = two_nodes
    a, b = cluster.nodes
    async with browser() as owner:
        for pattern, scope in (("shop.localhost", "navigation"), ("widgets.localhost", "all")):
            status, body = await cluster.api(owner, "POST", "/allowlist", json={"pattern": pattern, "scope": scope})
            assert status == 201, body
        status, body = await cluster.api(owner, "POST", "/sessions", json={"url": demo.shop + "/"})
        assert status == 201, body
        urls = UrlRewriter(ProxyBase("http", URL(cluster.url).raw_authority), body["session_id"])
        shop, widgets = urls.to_proxy(demo.shop + "/"), urls.to_proxy(demo.widgets + "/widget")
        unlisted = urls.to_proxy(demo.cdn + "/img/hero.svg")

        # the owner's credentials for every host (through the balancer, wherever it sends them)
        async with owner.get(body["leader_url"], headers=NAVIGATE) as r:
            assert r.status == 200, (r.status, await r.text())
        for url, headers in ((widgets, NAVIGATE), (unlisted, IMG)):
            async with owner.get(url, headers=headers) as r:
                await r.read()

        async def owner_opens(node, url: str) -> None:
            status, text = await on_node(node, owner, url, NAVIGATE)
            assert status == 200, (status, text[:300])

        async def unlisted_load_on(node) -> str:
            status, text = await on_node(node, owner, unlisted, IMG)
            assert status == 403, (status, text[:300])
            return text.split(":", 1)[0]

        await owner_opens(a, shop)
        assert await unlisted_load_on(b) == PAST_THE_ALLOWLIST
        await owner_opens(a, widgets)  # a scope "all" page: only listed hosts now, on every node
        assert await unlisted_load_on(b) == SCOPE_ALL_REFUSED, "node B judged by a page the tab owner left"
        assert await unlisted_load_on(a) == SCOPE_ALL_REFUSED
        await owner_opens(b, widgets)
        await owner_opens(a, shop)  # back on a page without scope "all"
        assert await unlisted_load_on(b) == PAST_THE_ALLOWLIST, "node B judged by a page the tab owner left"
        assert await unlisted_load_on(a) == PAST_THE_ALLOWLIST

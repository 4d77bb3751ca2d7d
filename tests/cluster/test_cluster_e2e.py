"""Three nodes behind HAProxy (round-robin, no stickiness), Redis between them, in real Chromium.

Nothing may depend on a participant reaching "their" node: the tab owner's page loads and the
followers' sockets land wherever the balancer sends them. Through that: sign-in to the demo
shop, the cart, control, a late joiner, a hand-over — as on one node, and the origin sees each tab-owner
action once. Then the node that runs the room is killed (SIGKILL): the session goes on through
the others, the tab owner still signed in, and the mirror comes back.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections import Counter
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from tests.cluster.nodes import Cluster
from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_sync import TEXT, VALUE, click_in_mirror, follower_page, leader_page, mirror, panel_action
from tests.restart_helpers import browser as http_client

pytestmark = [pytest.mark.e2e, needs_chromium, pytest.mark.asyncio(loop_scope="module")]

RECOVER_MS = 40_000  # the sockets' reconnect back-off and a fresh snapshot, on a loaded machine (the room moves at once)


async def new_session(cluster: Cluster, url: str) -> dict:
    async with http_client() as client:
        status, body = await cluster.api(client, "POST", "/sessions", json={"url": url})
    assert status == 201, body
    return body


def is_shop(url: str) -> bool:
    return urlsplit(url).netloc.split(".", 1)[0].endswith("-shop-localhost")


async def test_a_session_across_three_nodes(cluster, demo):
    body = await new_session(cluster, demo.shop + "/")
    sid = body["session_id"]
    t = SimpleNamespace(url=cluster.url)
    async with chromium() as browser:
        lctx, lp = await leader_page(browser, body)
        leader_log: list[tuple[str, str]] = []
        lctx.on("request", lambda r: leader_log.append((r.method, r.url))
                if r.resource_type == "document" or r.method != "GET" else None)
        shop_url = lp.url.rstrip("/")
        fctx, fp = await follower_page(browser, t, body)
        await mirror(fp, TEXT, "Small things, carefully made.", "h1")
        demo.stats.reset()
        leader_log.clear()

        # sign in: the jar is in Redis, whichever node answers the next page has it
        await lp.click("#nav-login")
        await lp.fill("#username", "demo")
        await lp.fill("#password", "demo123")
        await mirror(fp, VALUE, "demo", "#username")
        await lp.click("#login-form button[type=submit]")
        await lp.wait_for_url(shop_url + "/account")
        await mirror(fp, TEXT, "Signed in as demo", "#signed-in")

        # the cart
        await lp.goto(shop_url + "/products/2")
        await lp.fill("#quantity", "2")
        await lp.click(".add-form button[type=submit]")
        await lp.wait_for_url(shop_url + "/cart")
        await mirror(fp, TEXT, "2", "#cart-count")
        await lp.goto(shop_url + "/account")
        await mirror(fp, TEXT, "Signed in as demo", "#signed-in")

        # control: the follower asks, the tab owner grants, the follower types into the real page
        await lp.goto(shop_url + "/controlled")
        await lp.wait_for_selector("#name")
        await mirror(fp, TEXT, "Order a custom mug", "h1")
        await fp.click("text=Request control")
        await panel_action(lp, "Grant")
        await fp.wait_for_selector("text=You are in control", timeout=10_000)
        await click_in_mirror(fp, "#name")
        await fp.keyboard.type("Ada")
        await lp.wait_for_function("() => document.querySelector('#name').value === 'Ada'", timeout=10_000)

        # a late joiner sees the page as it is now
        f2ctx, f2p = await follower_page(browser, t, body)
        await mirror(f2p, VALUE, "Ada", "#name")

        # the origin saw each of the tab owner's page loads and posts once; the followers none
        await asyncio.sleep(0.5)
        expected = Counter((demo.shop, m, urlsplit(u).path) for m, u in leader_log if is_shop(u))
        seen = Counter({(r["origin"], r["method"], r["path"]): r["count"] for r in demo.stats.as_json()
                        if (r["origin"], r["method"], r["path"]) in expected})
        assert seen == expected
        assert expected[(demo.shop, "POST", "/login")] == 1 and expected[(demo.shop, "POST", "/cart/add")] == 1

        # and it really was spread: the balancer's log says which node answered what
        served = cluster.lb.requests()
        page_nodes = {r.server for r in served if is_shop("http://" + r.host + "/") and r.method == "GET"}
        socket_nodes = {r.server for r in served if r.uri.startswith(f"/s/{sid}/ws")}
        assert len(page_nodes) == 3, page_nodes  # the tab owner's pages came from every node
        assert len(socket_nodes) >= 2, socket_nodes  # the panel's and the followers' sockets from several
        for fpage in (fp, f2p):
            stats = await fpage.evaluate("window.tandemMirror.stats")
            assert stats["gaps"] == 0 and stats["dups"] == 0
        await f2ctx.close()

        # hand-over: the follower becomes the tab owner (its page loads through any node), still signed in;
        # the old tab owner now follows
        await panel_action(lp, "Make tab owner")
        await fp.wait_for_url(re.compile(r"/controlled$"), timeout=15_000)
        await fp.goto(shop_url + "/account")
        assert "Signed in as demo" in await fp.text_content("#signed-in")
        await lp.wait_for_url(f"{cluster.url}/s/{sid}", timeout=15_000)
        await lp.wait_for_function("() => window.tandemMirror && window.tandemMirror.stats.applied > 0", timeout=15_000)
        await mirror(lp, TEXT, "Signed in as demo", "#signed-in")
        for ctx in (lctx, fctx):
            await ctx.close()


async def test_killing_the_node_that_runs_the_room(cluster, demo):
    body = await new_session(cluster, demo.shop + "/")
    sid = body["session_id"]
    t = SimpleNamespace(url=cluster.url)
    async with chromium() as browser:
        lctx, lp = await leader_page(browser, body)
        shop_url = lp.url.rstrip("/")
        await lp.click("#nav-login")
        await lp.fill("#username", "demo")
        await lp.fill("#password", "demo123")
        await lp.click("#login-form button[type=submit]")
        await lp.wait_for_url(shop_url + "/account")
        fctx, fp = await follower_page(browser, t, body)
        await mirror(fp, TEXT, "Signed in as demo", "#signed-in")

        owner = await cluster.owner_of(sid)
        assert owner is not None
        owner.stop(signal.SIGKILL)  # no goodbye: its sockets just drop, another node takes the room

        # the tab owner goes on through the other nodes, still signed in
        await lp.goto(shop_url + "/products/2")
        await lp.fill("#quantity", "3")
        await lp.click(".add-form button[type=submit]")
        await lp.wait_for_url(shop_url + "/cart")
        await lp.goto(shop_url + "/account")
        assert "Signed in as demo" in await lp.inner_text("#signed-in")
        # the mirror comes back, through a new owner, with the page as it is now
        await fp.wait_for_function("""() => { const d = window.tandemMirror && window.tandemMirror.doc();
            const el = d && d.querySelector('#signed-in'); return !!el && el.textContent.includes('Signed in as demo')
                && d.location.pathname !== undefined; }""", timeout=RECOVER_MS)
        await lp.goto(shop_url + "/cart")
        await mirror(fp, TEXT, "3", "#cart-count")
        new_owner = await cluster.owner_of(sid)
        assert new_owner is not None and new_owner is not owner
        for ctx in (lctx, fctx):
            await ctx.close()

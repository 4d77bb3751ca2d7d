"""``permissions`` of ``POST /api/v1/sessions`` do what the API says, in real Chromium: a follower
given control of a session started with ``allow_type: false`` and ``allow_agent_redirect: false``
can click (``allow_click`` left on) but neither type into the tab owner's page nor send it to
another address; each refusal is said on the session page, and the tab owner's page is untouched.
(An API field that is accepted and ignored is a defect: this is the check for these.)"""

from __future__ import annotations

import asyncio
import json

import pytest

from proxy.allowlist import Entry
from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_sync import (WAIT_MS, TEXT, click_in_mirror, demo, follower_page, leader_page,  # noqa: F401 - demo is a fixture
                                 mirror, panel_action)

pytestmark = [pytest.mark.e2e, needs_chromium]

REFUSED = "This session does not allow that kind of action."


async def test_permissions_from_the_api_hold_a_controlling_follower(make_tandem, demo):  # noqa: F811
    t = await make_tandem(extra_allow=tuple(Entry(h) for h in demo.hosts))
    r = await t.api("POST", "/api/v1/sessions", json={
        "url": demo.shop + "/", "permissions": {"allow_type": False, "allow_agent_redirect": False}})
    body = await r.json()
    assert r.status == 201, body
    async with chromium() as browser:
        lctx, lp = await leader_page(browser, body)
        shop_url = lp.url.rstrip("/")
        await lp.goto(shop_url + "/controlled")
        await lp.wait_for_selector("#name")
        fctx, fp = await follower_page(browser, t, body)
        await mirror(fp, TEXT, "Order a custom mug", "h1")
        await fp.click("text=Request control")
        await panel_action(lp, "Grant")
        await fp.wait_for_selector("text=You are in control", timeout=WAIT_MS)

        # clicks are allowed
        await click_in_mirror(fp, "#gift")
        await lp.wait_for_function("JSON.parse(document.getElementById('state').textContent).gift === true", timeout=WAIT_MS)

        # typing is not: refused by the room, said on the session page, the field stays empty
        await click_in_mirror(fp, "#name")
        await fp.keyboard.type("Ada")
        await fp.wait_for_function("() => window.tandemMirror.errors.includes('not_permitted')", timeout=WAIT_MS)
        await fp.wait_for_selector(f".toast >> text={REFUSED}", timeout=WAIT_MS)
        # nor sending the tab owner elsewhere from the toolbar
        before = await fp.evaluate("window.tandemMirror.errors.filter(c => c === 'not_permitted').length")
        await fp.fill(".navbar input", demo.shop + "/about")
        await fp.click(".navbar button[type=submit]")
        await fp.wait_for_function(f"() => window.tandemMirror.errors.filter(c => c === 'not_permitted').length > {before}",
                                   timeout=WAIT_MS)
        await asyncio.sleep(0.5)
        assert lp.url == shop_url + "/controlled"
        assert json.loads(await lp.text_content("#state"))["name"] == ""

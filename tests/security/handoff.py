"""The entry hand-off a browser goes through on a session host it has not entered yet, step by step
(proxy/entry.py): shared by the tests that replay its single-use ticket (after a restart, on another node)."""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp

from tests.restart_helpers import NAVIGATE

IMG = {"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image", "Sec-Fetch-Site": "cross-site"}
HOST_COOKIE = "tandem_h"


def sets_credential(r: aiohttp.ClientResponse) -> bool:
    return any(v.startswith(HOST_COOKIE) and "Max-Age=0" not in v for v in r.headers.getall("Set-Cookie", []))


async def ticket_for_a_new_host(server, owner: aiohttp.ClientSession, start_url: str) -> tuple[str, str]:
    """Start a session on ``start_url`` through ``server`` (a TandemProcess or a Cluster), open it as the
    tab owner, then forget the host's credential and load an image there: the hand-off's last
    ``Location`` (``/__tandem/enter?ticket=…``) and the entry nonce cookie (``name=value``)."""
    status, body = await server.api(owner, "POST", "/sessions", json={"url": start_url})
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
        enter = r.headers["Location"]
    assert "/__tandem/enter?ticket=" in enter
    return enter, nonce

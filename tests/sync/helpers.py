"""Factories for sync tests: participants with their own cookie jars, session sockets."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tandem import appkeys
from tests.harness import client_session, participant_jar

WAIT = 5.0  # seconds any single expected message may take on a loaded machine


async def join(t, sid: str, role: str = "follower") -> aiohttp.ClientSession:
    """A new participant (own cookie jar) that opened an invite link for ``role``."""
    token = await t.app[appkeys.SESSIONS].invite(sid, role)
    client = client_session(cookie_jar=participant_jar(t.app))
    r = await client.get(f"{t.url}/s/{sid}/enter?t={token}", allow_redirects=False)
    assert r.status in (302, 303), await r.text()
    return client


async def socket(t, client: aiohttp.ClientSession, sid: str, *, kind: str = "view", origin: str | None = None,
                 resume=None, **kw) -> aiohttp.ClientWebSocketResponse:
    ws = await client.ws_connect(f"{t.url}/s/{sid}/ws", origin=origin or t.url, **kw)
    await ws.send_str(json.dumps({"t": "hello", "kind": kind, "resume": resume}))
    return ws


async def recv(ws, t_: str) -> dict:
    """The next message of type ``t_``; other messages are skipped, but an unexpected error fails."""
    async def loop():
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"socket ended while waiting for {t_!r}: {msg.type} {msg.data!r}")
            obj = json.loads(msg.data)
            if obj["t"] == t_:
                return obj
            if obj["t"] in ("error", "bye"):
                raise AssertionError(f"wanted {t_!r}, got {obj}")

    return await asyncio.wait_for(loop(), WAIT)


def meta(href="http://x/"):
    return {"type": 4, "data": {"href": href, "width": 800, "height": 600}, "timestamp": 1}


def full(size=10):
    return {"type": 2, "data": {"node": {"type": 0, "childNodes": [], "pad": "x" * size}}, "timestamp": 1}


def mutation(n):
    return {"type": 3, "data": {"source": 0, "texts": [{"id": n, "value": f"t{n}"}], "adds": [], "removes": []}, "timestamp": 1}


async def mirror_shows(t, client: aiohttp.ClientSession, sid: str, *upstream_urls: str) -> aiohttp.ClientWebSocketResponse:
    """The tab owner's tab (``client``) streams a snapshot whose images are ``upstream_urls`` (as the
    recorder writes them: the site's own URLs), so the follower wall lets followers load them
    (sync/resources.py). Returns the tab socket; the caller closes it."""
    tab = await socket(t, client, sid, kind="tab")
    await recv(tab, "snapshot")
    imgs = [{"type": 2, "id": 10 + i, "tagName": "img", "attributes": {"src": u}, "childNodes": []}
            for i, u in enumerate(upstream_urls)]
    snap = {"type": 2, "data": {"node": {"type": 0, "id": 1, "childNodes": imgs}}, "timestamp": 1}
    await tab.send_str(json.dumps({"t": "ev", "e": [meta(), snap]}))
    relay = t.app[appkeys.SYNC]
    for _ in range(int(WAIT / 0.02)):  # the room takes the frame when the server reads it
        if all([await relay.mirror_allows(sid, u) for u in upstream_urls]):
            return tab
        await asyncio.sleep(0.02)
    raise AssertionError(f"the room never took the snapshot with {upstream_urls}")

"""The idle watchdog: silence ends an exchange; steady progress, however long, does not."""

import asyncio

import pytest
from aiohttp import web

from proxy.watchdog import IdleWatchdog
from tests.proxy.test_forwarding import SUB, site


async def test_fires_after_silence_and_is_absorbed():
    wd = IdleWatchdog(0.05)
    with pytest.raises(asyncio.CancelledError):
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            assert wd.fired
            raise
    assert wd.absorb()
    await asyncio.sleep(0)  # the task is usable again


async def test_progress_keeps_it_quiet():
    """Total time (10 x 0.1 s) far exceeds the timeout; no single silence comes near it, even on a loaded box."""
    wd = IdleWatchdog(2.0)
    for _ in range(10):
        await asyncio.sleep(0.1)
        wd.progress()
    wd.stop()
    assert not wd.fired


async def test_stream_that_stalls_mid_body_is_cut(make_tandem, upstream):
    async def stall(request):
        resp = web.StreamResponse(headers={"Content-Length": "100000", "Content-Type": "application/octet-stream"})
        await resp.prepare(request)
        await resp.write(b"x" * 1000)
        await asyncio.sleep(5)
        return resp

    origin = await upstream(site(**{"GET /s": stall}))
    t = await make_tandem(read_timeout=0.3)
    s = await t.session(origin + "/")
    r = await t.client.get(s.url(origin + "/s"), headers=SUB)
    assert r.status == 200
    with pytest.raises(Exception):
        await asyncio.wait_for(r.read(), 3)  # cut short well before the upstream's 5 s stall ends


async def test_slow_but_steady_stream_is_not_cut(make_tandem, upstream):
    async def drip(request):
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await resp.prepare(request)
        for _ in range(8):
            await resp.write(b"y" * 100)
            await asyncio.sleep(0.1)
        return resp

    origin = await upstream(site(**{"GET /d": drip}))
    t = await make_tandem(read_timeout=0.3)
    s = await t.session(origin + "/")
    r = await t.client.get(s.url(origin + "/d"), headers=SUB)
    assert await r.read() == b"y" * 800  # 0.8 s in all, never 0.3 s silent

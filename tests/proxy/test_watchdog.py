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


async def test_exchanges_share_one_timer_and_a_silent_one_is_still_cut():
    """Each exchange's watchdog arms no timer of its own: one clock per loop and timeout checks them all,
    a busy one is left alone, a silent one is cut after its timeout (at most a quarter of it later), and
    the clock stops once nothing is watched."""
    from proxy import watchdog

    loop = asyncio.get_running_loop()
    armed = []
    real = loop.call_later
    loop.call_later = lambda delay, cb, *a, **kw: armed.append(delay) or real(delay, cb, *a, **kw)
    try:
        stopped = [IdleWatchdog(0.2) for _ in range(50)]
        for wd in stopped:
            wd.stop()
        assert armed == [0.2 / watchdog.CHECKS]  # fifty exchanges, one timer
        busy = IdleWatchdog(0.2)
        started = loop.time()

        async def watch_silent():
            wd = IdleWatchdog(0.2)
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                assert wd.absorb()
                return loop.time() - started
            return None

        cut = loop.create_task(watch_silent())
        for _ in range(8):
            await asyncio.sleep(0.05)
            busy.progress()
        took = await asyncio.wait_for(cut, 3)
        assert took is not None and 0.2 <= took < 1.0
        assert not busy.fired
        busy.stop()
        await asyncio.sleep(0.2)
        assert (id(loop), 0.2) not in watchdog._CLOCKS  # nothing watched: the clock stopped ticking
    finally:
        loop.call_later = real

"""A node that loses Redis says so on /readyz and refuses new sessions rather than serve a wrong answer;
when Redis is back, so is the node (no restart)."""

from __future__ import annotations

import asyncio

from tests.servers.redis import RedisServer

WAIT = 15.0  # seconds: the node's next housekeeping tick (1 s) and reconnect, on a loaded machine


async def _until(check, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(what)
        await asyncio.sleep(0.2)


async def test_a_node_cut_off_from_redis_is_not_ready_and_refuses_new_sessions(make_tandem, tmp_path):
    redis = RedisServer(tmp_path / "redis").start()
    try:
        t = await make_tandem(redis_url=redis.url)

        async def status(path="/readyz"):
            async with t.client.get(t.url + path) as r:
                return r.status

        async def create():
            r = await t.api("POST", "/api/v1/sessions", json={"url": "http://shop.localhost:9/"})
            return r.status, await r.json()

        assert await status() == 200
        assert (await create())[0] == 201
        redis.stop()
        await _until(lambda: _is(status(), 503), "/readyz kept saying ready with Redis gone")
        code, body = await create()
        assert code == 503 and body["error"]["code"] == "not_ready", body
        assert await status("/healthz") == 200  # alive, just not ready
        redis.start()  # same port: Redis is back
        await _until(lambda: _is(status(), 200), "the node did not come back when Redis did")
        assert (await create())[0] == 201
    finally:
        redis.stop()


async def _is(coro, value) -> bool:
    return (await coro) == value

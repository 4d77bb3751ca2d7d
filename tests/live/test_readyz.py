"""/readyz tells a balancer whether this node can serve sessions: a node that loses its
live-state backend says so (503) instead of answering wrongly."""

from __future__ import annotations

from tests.harness import free_socket


async def test_ready_with_the_default_backend(make_tandem):
    t = await make_tandem()
    r = await t.client.get(t.url + "/readyz")
    assert r.status == 200 and await r.json() == {"ready": True, "live_state": "memory"}


async def test_ready_with_redis_and_not_without_it(make_tandem, redis_url):
    t = await make_tandem(redis_url=redis_url)
    r = await t.client.get(t.url + "/readyz")
    assert r.status == 200 and (await r.json())["live_state"] == "redis"
    sock = free_socket()  # a port nobody listens on: a Redis that went away
    port = sock.getsockname()[1]
    sock.close()
    gone = await make_tandem(redis_url=f"redis://127.0.0.1:{port}/0")
    r = await gone.client.get(gone.url + "/readyz")
    body = await r.json()
    assert r.status == 503 and body["error"]["code"] == "not_ready" and "redis" in body["error"]["message"]

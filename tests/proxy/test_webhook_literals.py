"""Finding #4 (issue 10): webhook URLs that are IP literals must meet the address guard.

aiohttp never hands an IP literal to the guarded resolver, so a webhook to
``http://127.0.0.1:…/`` went out although private networks were not allowed.
"""

import asyncio
import socket

import pytest
from aiohttp import web

from tandem import appkeys
from tests.harness import serve_app

URL = "http://example.com/start"


def _receiver():
    got = []

    async def hook(request):
        got.append(await request.read())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    return app, got


async def _serve_v6(app):
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.bind(("::1", 0))
    await web.SockSite(runner, sock).start()
    return runner, sock.getsockname()[1]


@pytest.mark.parametrize("form", ["127.0.0.1", "[::ffff:127.0.0.1]", "[::ffff:0:127.0.0.1]", "2130706433", "[::1]"])
async def test_webhook_to_a_loopback_literal_is_not_delivered(make_tandem, form):
    app, got = _receiver()
    if form == "[::1]":
        runner, port = await _serve_v6(app)
    else:
        runner, origin = await serve_app(app)
        port = int(origin.rsplit(":", 1)[1])
    try:
        t = await make_tandem(allow_private=())
        t.app[appkeys.WEBHOOKS].backoff = ()
        r = await t.api("POST", "/api/v1/keys", json={"name": "k", "webhook_url": f"http://{form}:{port}/hook"})
        key = (await r.json())["key"]
        r = await t.api("POST", "/api/v1/sessions", json={"url": URL}, headers={"Authorization": f"Bearer {key}"})
        assert r.status == 201
        await asyncio.sleep(1.0)
        assert got == [], f"a webhook reached {form} with private networks not allowed"
    finally:
        await runner.cleanup()


async def test_webhook_to_a_loopback_literal_is_delivered_when_loopback_is_allowed(make_tandem):
    app, got = _receiver()
    runner, origin = await serve_app(app)
    try:
        t = await make_tandem()  # the harness allows loopback
        r = await t.api("POST", "/api/v1/keys", json={"name": "k", "webhook_url": origin + "/hook"})
        key = (await r.json())["key"]
        await t.api("POST", "/api/v1/sessions", json={"url": URL}, headers={"Authorization": f"Bearer {key}"})
        async with asyncio.timeout(10):
            while not got:
                await asyncio.sleep(0.02)
    finally:
        await runner.cleanup()

"""Webhooks: HMAC-signed, retried with backoff under the same delivery id, never blocking the request."""

import asyncio
import json

from aiohttp import web

from tandem import appkeys
from tandem.events import verify
from tests.control.helpers import sqlite_bytes

URL = "http://127.0.0.1:9/start"
WAIT = 10  # seconds a test waits for deliveries before failing


def receiver(fail_first: int = 0, gate: asyncio.Event | None = None):
    got: list[dict] = []
    seen = {"n": 0}

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        seen["n"] += 1
        if gate is not None:
            await gate.wait()
        if seen["n"] <= fail_first:
            return web.Response(status=503)
        got.append({"headers": dict(request.headers), "body": body, "json": json.loads(body)})
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    return app, got, seen


async def wait_for(pred):
    async with asyncio.timeout(WAIT):
        while not pred():
            await asyncio.sleep(0.02)


async def test_signed_events_for_the_keys_own_sessions(make_tandem, upstream):
    app, got, _ = receiver()
    origin = await upstream(app)
    t = await make_tandem()
    r = await t.api("POST", "/api/v1/keys", json={"name": "crm", "webhook_url": origin + "/hook"})
    created = await r.json()
    key, secret = created["key"], created["webhook_secret"]
    r = await t.api("POST", "/api/v1/sessions", json={"url": URL, "metadata": {"ticket": 9}}, headers={"Authorization": f"Bearer {key}"})
    s = await r.json()
    await t.client.get(s["leader_url"], allow_redirects=False)
    await t.api("DELETE", f"/api/v1/sessions/{s['session_id']}", headers={"Authorization": f"Bearer {key}"})
    await wait_for(lambda: len(got) == 3)
    assert sorted(g["json"]["type"] for g in got) == ["participant.joined", "session.ended", "session.started"]
    for g in got:
        assert verify(secret, g["headers"]["Tandem-Signature"], g["body"])
        assert not verify(secret, g["headers"]["Tandem-Signature"], g["body"] + b" ")
        assert not verify("whsec_wrong", g["headers"]["Tandem-Signature"], g["body"])
        assert g["json"]["data"]["session_id"] == s["session_id"] and g["json"]["data"]["metadata"] == {"ticket": 9}
        assert g["headers"]["Tandem-Event"] == g["json"]["type"] and g["headers"]["Tandem-Delivery"] == g["json"]["id"]
    # the secret is stored encrypted, never in plain text
    raw = await sqlite_bytes(t.app[appkeys.STORE], t.settings.data_dir)
    assert secret.encode() not in raw


async def test_other_keys_sessions_are_not_sent(make_tandem, upstream):
    app, got, _ = receiver()
    origin = await upstream(app)
    t = await make_tandem()
    await t.api("POST", "/api/v1/keys", json={"name": "a", "webhook_url": origin + "/hook"})
    other = await (await t.api("POST", "/api/v1/keys", json={"name": "b"})).json()
    await t.api("POST", "/api/v1/sessions", json={"url": URL}, headers={"Authorization": f"Bearer {other['key']}"})
    await t.api("POST", "/api/v1/sessions", json={"url": URL})  # the env admin key: no owner, every hook hears it
    await wait_for(lambda: len(got) == 1)
    await t.app[appkeys.TASKS].drain(WAIT)
    assert len(got) == 1


async def test_failures_are_retried_with_the_same_delivery_id(make_tandem, upstream):
    app, got, seen = receiver(fail_first=2)
    origin = await upstream(app)
    t = await make_tandem()
    t.app[appkeys.WEBHOOKS].backoff = (0.01, 0.01, 0.01)
    await t.api("POST", "/api/v1/keys", json={"name": "a", "webhook_url": origin + "/hook"})
    await t.api("POST", "/api/v1/sessions", json={"url": URL})
    await wait_for(lambda: len(got) == 1)
    assert seen["n"] == 3 and t.app[appkeys.WEBHOOKS].delivered == 1


async def test_a_dead_receiver_is_given_up_on(make_tandem, upstream):
    app, got, seen = receiver(fail_first=100)
    origin = await upstream(app)
    t = await make_tandem()
    hooks = t.app[appkeys.WEBHOOKS]
    hooks.backoff = (0.01, 0.01)
    await t.api("POST", "/api/v1/keys", json={"name": "a", "webhook_url": origin + "/hook"})
    await t.api("POST", "/api/v1/sessions", json={"url": URL})
    await t.app[appkeys.TASKS].drain(WAIT)
    assert seen["n"] == 3 and hooks.failed == 1 and got == []


async def test_a_slow_receiver_never_blocks_the_request(make_tandem, upstream):
    gate = asyncio.Event()
    app, got, seen = receiver(gate=gate)
    origin = await upstream(app)
    t = await make_tandem()
    await t.api("POST", "/api/v1/keys", json={"name": "a", "webhook_url": origin + "/hook"})
    r = await asyncio.wait_for(t.api("POST", "/api/v1/sessions", json={"url": URL}), WAIT)
    assert r.status == 201
    await wait_for(lambda: seen["n"] == 1)
    assert got == []  # the receiver is still holding the delivery while the API has answered
    gate.set()
    await wait_for(lambda: len(got) == 1)


async def test_webhook_url_must_be_http(make_tandem):
    t = await make_tandem()
    r = await t.api("POST", "/api/v1/keys", json={"name": "a", "webhook_url": "file:///etc/passwd"})
    assert r.status == 422 and "webhook_url" in (await r.json())["error"]["message"]

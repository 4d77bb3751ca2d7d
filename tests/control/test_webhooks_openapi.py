"""The OpenAPI document describes what a webhook receives (OpenAPI 3.1 ``webhooks``): one entry per
event kind Tandem sends, with its headers and body schema; real deliveries of every kind (a real
receiver, a real session socket) validate against the documented schema and carry no field it
leaves out."""

import asyncio
import json

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from tandem.events import WEBHOOK_EVENTS, verify
from tests.sync.helpers import join, recv, socket

from .test_webhooks import receiver, wait_for


async def test_every_webhook_kind_is_documented_and_real_deliveries_match(make_tandem, upstream):
    app, got, _ = receiver()
    hook = await upstream(app)
    t = await make_tandem()
    doc = await (await t.client.get(t.url + "/api/v1/openapi.json")).json()
    validate(doc)
    assert set(doc["webhooks"]) == set(WEBHOOK_EVENTS)
    schemas = doc["components"]["schemas"]

    r = await t.api("POST", "/api/v1/keys", json={"name": "crm", "webhook_url": hook + "/hook"})
    secret = (await r.json())["webhook_secret"]
    r = await t.api("POST", "/api/v1/sessions", json={"url": "http://127.0.0.1:9/", "metadata": {"ticket": 7}})
    created = await r.json()
    sid = created["session_id"]
    assert (await t.client.get(created["leader_url"], allow_redirects=False)).status == 303  # the tab owner enters
    tab = await socket(t, t.client, sid, kind="tab")
    assert (await recv(tab, "welcome"))["role"] == "leader"
    fclient = await join(t, sid)
    try:
        view = await socket(t, fclient, sid)
        you = (await recv(view, "welcome"))["you"]
        await view.send_str(json.dumps({"t": "control", "a": "request"}))
        await asyncio.sleep(0.05)
        await tab.send_str(json.dumps({"t": "control", "a": "grant", "p": you}))
        await tab.send_str(json.dumps({"t": "lead", "p": you}))
        await wait_for(lambda: {"control.changed", "leader.changed"} <= {g["json"]["type"] for g in got})
        await view.send_str(json.dumps({"t": "leave"}))
        await wait_for(lambda: "participant.left" in {g["json"]["type"] for g in got})
    finally:
        await fclient.close()
    await t.api("DELETE", f"/api/v1/sessions/{sid}")
    await wait_for(lambda: set(WEBHOOK_EVENTS) <= {g["json"]["type"] for g in got})

    for g in got:
        body, kind = g["json"], g["json"]["type"]
        entry = doc["webhooks"][kind]["post"]
        headers = {p["name"] for p in entry["parameters"] if p["in"] == "header"}
        assert {"Tandem-Event", "Tandem-Delivery", "Tandem-Signature"} <= headers
        assert all(h in g["headers"] for h in headers), (kind, headers)
        assert verify(secret, g["headers"]["Tandem-Signature"], g["body"])
        schema = schemas[entry["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(body)]
        assert not errors, (kind, errors, body)
        undocumented = set(body["data"]) - set(schema["properties"]["data"]["properties"])
        assert not undocumented, f"{kind} sends data fields the document leaves out: {undocumented}"
        assert body["data"]["metadata"] == {"ticket": 7}

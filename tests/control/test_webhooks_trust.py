"""Webhooks operators can trust: a per-session sequence kept across restarts, room events from the
room's edge (control.changed, leader.changed, participant.left) also in the audit log, a hook
switched off after failing for the whole window, a delivery log in admin with "Send again".

Real receivers (aiohttp on loopback), real Tandem servers, real session sockets.
"""

import asyncio
import json

from aiohttp import web

from tandem import appkeys
from tests.harness import start_tandem
from tests.sync.helpers import join, recv, socket

from .helpers import add_agent
from .test_webhooks import receiver, wait_for

WAIT = 10


async def site(upstream):
    async def home(request):
        return web.Response(text="<html><body>hi</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", home)
    return await upstream(app)


async def hook_key(t, url):
    r = await t.api("POST", "/api/v1/keys", json={"name": "crm", "webhook_url": url})
    assert r.status == 201
    return await r.json()


async def test_room_edge_events_with_sequence_and_audit(make_tandem, upstream):
    app, got, _ = receiver()
    hook = await upstream(app)
    origin = await site(upstream)
    t = await make_tandem()
    await hook_key(t, hook + "/hook")
    s = await t.session(origin + "/")  # admin-key session: every key's hook hears it
    tab = await socket(t, t.client, s.sid, kind="tab")
    assert (await recv(tab, "welcome"))["role"] == "leader"
    fclient = await join(t, s.sid)
    try:
        view = await socket(t, fclient, s.sid)
        you = (await recv(view, "welcome"))["you"]
        await view.send_str(json.dumps({"t": "control", "a": "request"}))
        await asyncio.sleep(0.05)
        await tab.send_str(json.dumps({"t": "control", "a": "grant", "p": you}))
        await wait_for(lambda: any(g["json"]["type"] == "control.changed" for g in got))
        await tab.send_str(json.dumps({"t": "lead", "p": you}))
        await wait_for(lambda: any(g["json"]["type"] == "leader.changed" for g in got))
        await view.send_str(json.dumps({"t": "leave"}))
        await wait_for(lambda: any(g["json"]["type"] == "participant.left" for g in got))
    finally:
        await fclient.close()
    by_type = {}
    for g in got:
        by_type.setdefault(g["json"]["type"], []).append(g["json"])
    granted = next(e for e in by_type["control.changed"] if e["data"]["to"] == you)
    assert granted["data"]["session_id"] == s.sid
    assert by_type["leader.changed"][0]["data"]["to"] == you
    assert by_type["participant.left"][0]["data"]["pid"] == you
    # sequence: unique, and in the order things happened
    seqs = [g["json"]["sequence"] for g in got]
    assert len(set(seqs)) == len(seqs) and all(isinstance(n, int) and n >= 1 for n in seqs)
    order = [by_type["session.started"][0], by_type["participant.joined"][0], granted, by_type["leader.changed"][0],
             by_type["participant.left"][0]]
    assert [e["sequence"] for e in order] == sorted(e["sequence"] for e in order)
    # the same kinds in the audit log
    r = await t.api("GET", f"/api/v1/audit?session_id={s.sid}")
    kinds = {e["kind"] for e in (await r.json())["events"]}
    assert {"control.changed", "leader.changed", "participant.left"} <= kinds


async def test_sequence_continues_after_a_restart(tmp_path, upstream):
    app, got, _ = receiver()
    hook = await upstream(app)
    data = tmp_path / "data"
    t = await start_tandem(tmp_path / "a", data_dir=data)
    try:
        await hook_key(t, hook + "/hook")
        s = await t.session("http://127.0.0.1:9/start")  # session.started, participant.joined
        await wait_for(lambda: len(got) == 2)
    finally:
        await t.close()
    before = max(g["json"]["sequence"] for g in got)
    t = await start_tandem(tmp_path / "b", data_dir=data)  # the same store: a restart
    try:
        r = await t.api("DELETE", f"/api/v1/sessions/{s.sid}")
        assert r.status == 200
        await wait_for(lambda: len(got) == 3)
    finally:
        await t.close()
    ended = next(g["json"] for g in got if g["json"]["type"] == "session.ended")
    assert ended["sequence"] > before


async def test_failing_hook_switched_off_logged_and_sent_again(make_tandem, upstream, console):
    state = {"fail": True}
    got = []

    async def hook(request):
        body = await request.read()
        if state["fail"]:
            return web.Response(status=500)
        got.append({"headers": dict(request.headers), "json": json.loads(body)})
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    origin = await upstream(app)
    t = await make_tandem()
    hooks = t.app[appkeys.WEBHOOKS]
    hooks.backoff = ()  # one attempt per delivery
    hooks.failure_window = 0.3  # a day in production
    created = await hook_key(t, origin + "/hook")
    s = await t.session("http://127.0.0.1:9/start")
    await wait_for(lambda: hooks.attempts_failed == 2)  # session.started, participant.joined
    log = hooks.log_for(t.app[appkeys.STORE])
    assert (await log.state(created["id"])).disabled_at is None  # failing, but not for the whole window yet
    await asyncio.sleep(0.4)
    r = await t.api("POST", f"/api/v1/sessions/{s.sid}/pin")
    await t.api("DELETE", f"/api/v1/sessions/{s.sid}")  # session.ended: fails, and the window has passed
    await wait_for(lambda: hooks.attempts_failed == 3)
    assert (await log.state(created["id"])).disabled_at is not None
    # switched off: nothing more is sent
    s2 = await t.session("http://127.0.0.1:9/start")
    await asyncio.sleep(0.3)
    assert hooks.attempts_failed == 3 and not got

    await add_agent(t, "root", admin=True)
    c = await console(t, "root", login=False)
    await c.login("root")
    resp, page = await c.get("/admin/webhooks")
    assert resp.status == 200
    assert "Switched off" in page and "Send again" in page and "HTTP 500" in page
    attempts = await log.attempts()
    assert [a.status for a in attempts] == [500, 500, 500]
    assert all(a.latency_ms >= 0 for a in attempts)

    # the receiver is fixed: switch on, then send the first delivery again (same id, fresh signature)
    state["fail"] = False
    resp, _ = await c.post(f"/admin/webhooks/{created['id']}/enable")
    assert resp.status == 303 and (await log.state(created["id"])).disabled_at is None
    first = attempts[-1]
    resp, _ = await c.post(f"/admin/webhooks/attempts/{first.id}/resend")
    assert resp.status == 303, resp.headers.get("Location")
    await wait_for(lambda: len(got) == 1)
    assert got[0]["headers"]["Tandem-Delivery"] == first.delivery and got[0]["json"]["type"] == first.kind
    async with asyncio.timeout(10):
        while (await log.attempts())[0].status != 204:
            await asyncio.sleep(0.02)
    resp, page = await c.get("/admin/webhooks")
    assert "Switched off" not in page and "HTTP 204" in page
    # not for strangers: a follower-less, signed-out client is sent to sign in, never served
    r = await t.client.get(t.url + "/admin/webhooks", allow_redirects=False)
    assert r.status in (303, 401, 403)
    r = await t.client.post(t.url + f"/admin/webhooks/attempts/{first.id}/resend", allow_redirects=False)
    assert r.status in (303, 401, 403) and len(got) == 1
    del s2

"""The snippet's pushed events (Server-Sent Events, viewer/snippet/push.py) over real HTTP:
who may listen, what is pushed, resuming with Last-Event-ID after a dropped stream with an event
in the gap, the end of a session ending the stream."""

from __future__ import annotations

import asyncio
import inspect
import json

from proxy.allowlist import Entry
from tandem import appkeys, events
from viewer.snippet.push import FEED, MAX_STREAMS_PER_VISITOR

from .test_snippet import SITE, register, start

WAIT = 5.0


async def maybe(v):
    return await v if inspect.isawaitable(v) else v


class Stream:
    """One SSE response read event by event (comments skipped)."""

    def __init__(self, resp):
        self.resp = resp

    async def next(self, timeout: float = WAIT) -> dict | None:
        async def read():
            ev: dict = {}
            while True:
                line = await self.resp.content.readline()
                if not line:
                    return None  # the server ended the stream
                line = line.decode().rstrip("\r\n")
                if not line:
                    if "event" in ev or "data" in ev:
                        return ev
                    ev = {}
                    continue
                if line.startswith(":"):
                    continue
                field, _, value = line.partition(":")
                ev[field] = value[1:] if value.startswith(" ") else value
        return await asyncio.wait_for(read(), timeout)

    async def event(self, timeout: float = WAIT) -> tuple[str, str, dict]:
        ev = await self.next(timeout)
        assert ev is not None, "the stream ended"
        return ev["event"], ev.get("id", ""), json.loads(ev["data"])


async def listen(t, v, last_id: str | None = None, secret: str | None = None):
    headers = {"X-Tandem-Visitor": f"{v['visitor_id']}.{secret or v['secret']}", "Origin": SITE}
    if last_id:
        headers["Last-Event-ID"] = last_id
    resp = await t.client.get(f"{t.url}/snippet/v1/visitors/{v['visitor_id']}/events", headers=headers)
    return resp


async def setup_session(make_tandem):
    t = await make_tandem(extra_allow=(Entry("shop.example"),))
    _, v, _ = await register(t)
    _, s = await start(t, v)
    return t, v, s


async def join_agent(t, sid: str, name: str):
    """An agent joins as a follower through the real admission path (invite link)."""
    token = await t.app[appkeys.SESSIONS].invite(sid, "follower")
    from tests.harness import client_session, participant_jar

    client = client_session(cookie_jar=participant_jar(t.app))
    r = await client.get(f"{t.url}/s/{sid}/enter?t={token}&name={name}", allow_redirects=False)
    assert r.status in (302, 303)
    await client.close()


async def test_who_may_listen(make_tandem):
    t = await make_tandem(extra_allow=(Entry("shop.example"),))
    _, v, _ = await register(t)
    r = await listen(t, v)
    assert r.status == 409 and (await r.json())["error"]["code"] == "no_session"
    assert r.headers["Access-Control-Allow-Origin"] == SITE
    _, s = await start(t, v)
    for secret in ("nope", ""):
        r = await listen(t, v, secret=secret or "x" * 40)
        assert r.status == 401 and (await r.json())["error"]["code"] == "unauthorized"
    r = await t.client.options(f"{t.url}/snippet/v1/visitors/{v['visitor_id']}/events", headers={
        "Origin": SITE, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-tandem-visitor,last-event-id"})
    assert r.status == 204 and "Last-Event-ID" in r.headers["Access-Control-Allow-Headers"]
    # a visitor holds a few streams at most: a new one past the limit ends the oldest (a page load's leftover)
    streams = [Stream(await listen(t, v)) for _ in range(MAX_STREAMS_PER_VISITOR + 1)]
    for sse in streams:
        assert sse.resp.status == 200 and (await sse.event())[0] == "ready"
    assert await streams[0].next() is None
    assert t.app[FEED].count(visitor=v["visitor_id"]) == MAX_STREAMS_PER_VISITOR
    for sse in streams:
        sse.resp.close()
    # a client that goes away (page load, closed tab) frees its place within a second or two, not at the next keepalive
    for _ in range(100):
        if t.app[FEED].count(visitor=v["visitor_id"]) == 0:
            break
        await asyncio.sleep(0.05)
    assert t.app[FEED].count(visitor=v["visitor_id"]) == 0


async def test_events_are_pushed_and_a_dropped_stream_resumes_without_a_gap(make_tandem):
    t, v, s = await setup_session(make_tandem)
    sid = s["session_id"]
    session = await t.app[appkeys.SESSIONS].get(sid)
    resp = await listen(t, v)
    assert resp.status == 200 and resp.content_type == "text/event-stream"
    assert resp.headers["Access-Control-Allow-Origin"] == SITE and resp.headers["Cache-Control"] == "no-store"
    sse = Stream(resp)
    name, ready_id, data = await sse.event()
    assert name == "ready" and data == {"session_id": sid, "state": "live"} and ready_id.startswith(sid + ".")

    await join_agent(t, sid, "Ann")
    name, first_id, data = await sse.event(timeout=1.0)  # pushed, not polled
    assert name == "viewer_joined" and data["name"] == "Ann" and data["session_id"] == sid
    await events.emit(t.app, "control.changed", session, actor="Ann", detail={"from": None, "to": "p1", "to_name": "Ann"})
    name, second_id, data = await sse.event(timeout=1.0)
    assert name == "control_changed" and data["control"] == {"from": None, "to": "p1", "to_name": "Ann"}
    assert int(second_id.split(".")[1]) > int(first_id.split(".")[1])

    # the server drops the stream; while nobody listens, a real event happens
    assert t.app[FEED].drop(sid) == 1
    assert await sse.next() is None  # the stream ended
    resp.close()
    for _ in range(50):
        if t.app[FEED].count(sid=sid) == 0:
            break
        await asyncio.sleep(0.02)
    assert t.app[FEED].count(sid=sid) == 0
    await join_agent(t, sid, "Bea")
    await events.emit(t.app, "pin.created", session, actor="x")  # not a snippet event: not pushed, skipped on resume
    # the client comes back with its last id: exactly what it missed, nothing it had
    sse = Stream(await listen(t, v, last_id=second_id))
    name, third_id, data = await sse.event()
    assert name == "viewer_joined" and data["name"] == "Bea"
    # a live event after the resume still arrives at once
    await join_agent(t, sid, "Cid")
    name, _, data = await sse.event(timeout=1.0)
    assert (name, data["name"]) == ("viewer_joined", "Cid")

    # resuming from the first id replays the rest in order
    again = Stream(await listen(t, v, last_id=first_id))
    got = [(await again.event())[0:2] for _ in range(3)]
    assert [g[0] for g in got] == ["control_changed", "viewer_joined", "viewer_joined"]
    assert got[0][1] == second_id and got[1][1] == third_id

    # the end of the session is the stream's last event
    r = await t.client.post(f"{t.url}/snippet/v1/visitors/{v['visitor_id']}/end", json={},
                            headers={"X-Tandem-Visitor": f"{v['visitor_id']}.{v['secret']}", "Origin": SITE})
    assert r.status == 200
    for stream in (sse, again):
        name, _, data = await stream.event(timeout=1.0)
        assert (name, data) == ("session_ended", {"session_id": sid})
        assert await stream.next() is None
    # resuming after the end (a page reload with the last id kept) hears the end again and the stream stops
    for last in (second_id, f"{sid}.{10**9}"):
        after_end = Stream(await listen(t, v, last_id=last))
        names = []
        while (ev := await after_end.next()) is not None:
            names.append(ev["event"])
        assert names[-1] == "session_ended" and names.count("session_ended") == 1
    # a fresh listener of an ended session hears that it ended, once
    late = Stream(await listen(t, v))
    assert (await late.event())[0] == "ready"
    assert (await late.event())[0] == "session_ended"
    assert await late.next() is None


async def test_an_id_of_another_session_starts_fresh(make_tandem):
    t, v, s = await setup_session(make_tandem)
    await join_agent(t, s["session_id"], "Ann")
    _, s2 = await start(t, v)  # a new session for the same visitor
    sse = Stream(await listen(t, v, last_id=f"{s['session_id']}.1"))
    name, _, data = await sse.event()
    assert name == "ready" and data["session_id"] == s2["session_id"]
    sse.resp.close()
    for bad in ("garbage", "x" * 500, f"{s2['session_id']}.-1", "\u00e9.1", f"{s2['session_id']}.1.2"):
        sse = Stream(await listen(t, v, last_id=bad))
        assert (await sse.event())[0] == "ready", bad
        sse.resp.close()


async def test_shutdown_ends_open_streams(make_tandem):
    t, v, s = await setup_session(make_tandem)
    sse = Stream(await listen(t, v))
    assert (await sse.event())[0] == "ready"
    await t.app[FEED].on_shutdown(t.app)
    assert await sse.next() is None
    rows = await maybe(await t.app[appkeys.STORE].audit_events(session_id=s["session_id"]))
    assert rows  # the audit log is the stream's memory


async def test_the_openapi_document_lists_the_events_endpoint(make_tandem):
    from openapi_spec_validator import validate

    t = await make_tandem()
    doc = await (await t.client.get(t.url + "/api/v1/openapi.json")).json()
    validate(doc)
    item = doc["paths"]["/snippet/v1/visitors/{visitor}/events"]
    assert item["servers"] == [{"url": t.url}]
    op = item["get"]
    assert "text/event-stream" in op["responses"]["200"]["content"]
    assert op["security"] == [{"visitorSecret": []}]
    assert doc["components"]["securitySchemes"]["visitorSecret"]["name"] == "X-Tandem-Visitor"
    assert any(p["name"] == "Last-Event-ID" and p["in"] == "header" for p in op["parameters"])

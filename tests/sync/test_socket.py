"""The session socket over real loopback WebSockets: the edge checks, the relay, backpressure."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket as pysocket

import aiohttp
from aiohttp import web

from sync.outbox import Outbox
from sync.relay import LocalRelay
from sync.room import Room
from tests.sync.helpers import full, join, meta, mutation, recv, socket


async def started(make_tandem, upstream):
    async def home(request):
        return web.Response(text="<html><body>hi</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", home)
    origin = await upstream(app)
    t = await make_tandem()
    s = await t.session(origin + "/")
    return t, s


async def test_socket_refuses_other_origins_and_strangers(make_tandem, upstream):
    t, s = await started(make_tandem, upstream)
    leader = t.client  # entered through the leader link
    proxied_origin = s.url("http://127.0.0.1/").rstrip("/")
    for origin in (proxied_origin, "http://evil.example", "null"):
        try:
            await leader.ws_connect(f"{t.url}/s/{s.sid}/ws", origin=origin)
            raise AssertionError(f"{origin} was let in")
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 403
    from tests.harness import client_session

    async with client_session() as stranger:
        try:
            await stranger.ws_connect(f"{t.url}/s/{s.sid}/ws", origin=t.url)
            raise AssertionError("no credential, yet let in")
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 403
    # a credential of another session does not open this one
    other = await t.session("http://127.0.0.1:9/")
    try:
        await leader.ws_connect(f"{t.url}/s/{other.sid}/ws", origin=t.url)
    except aiohttp.WSServerHandshakeError:
        raise AssertionError("the client entered both sessions, so this one should open")


async def test_leader_stream_reaches_followers_and_input_needs_control(make_tandem, upstream):
    t, s = await started(make_tandem, upstream)
    tab = await socket(t, t.client, s.sid, kind="tab")
    assert (await recv(tab, "welcome"))["role"] == "leader"
    await recv(tab, "snapshot")
    fclient = await join(t, s.sid)
    try:
        view = await socket(t, fclient, s.sid, compress=15)
        assert "permessage-deflate" in view._response.headers.get("Sec-WebSocket-Extensions", "")
        welcome = await recv(view, "welcome")
        assert welcome["role"] == "follower"
        await recv(view, "reset")
        await tab.send_str(json.dumps({"t": "ev", "e": [meta(), full()]}))
        got = await recv(view, "ev")
        assert got["s"] == 1 and [e["type"] for e in got["e"]] == [4, 2]
        # input without control: refused, the tab hears nothing
        await view.send_str(json.dumps({"t": "input", "i": {"kind": "click", "x": 1, "y": 1}}))
        assert (await recv(view, "error"))["code"] == "no_control"
        # request, grant, input arrives at the tab
        await view.send_str(json.dumps({"t": "control", "a": "request"}))
        await asyncio.sleep(0.05)
        await tab.send_str(json.dumps({"t": "control", "a": "grant", "p": welcome["you"]}))
        await asyncio.sleep(0.05)
        await view.send_str(json.dumps({"t": "input", "i": {"kind": "text", "text": "hello"}}))
        got = await recv(tab, "input")
        assert got["i"] == {"kind": "text", "text": "hello"} and got["p"] == welcome["you"]
        # garbage is answered, not fatal
        await view.send_str("not json")
        assert (await recv(view, "error"))["code"] == "bad_message"
        await view.send_bytes(b"\x00")
        assert (await recv(view, "error"))["code"] == "bad_message"
        await view.send_str(json.dumps({"t": "ping"}))
        await tab.send_str(json.dumps({"t": "ev", "e": [mutation(1)]}))
        assert (await recv(view, "ev"))["s"] == 3
    finally:
        await fclient.close()


async def test_hello_must_come_first(make_tandem, upstream):
    t, s = await started(make_tandem, upstream)
    ws = await t.client.ws_connect(f"{t.url}/s/{s.sid}/ws", origin=t.url)
    await ws.send_str(json.dumps({"t": "ping"}))
    msg = await asyncio.wait_for(ws.receive(), 5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == 4006


async def test_reconnect_resumes_without_gap_or_duplicate(make_tandem, upstream):
    t, s = await started(make_tandem, upstream)
    tab = await socket(t, t.client, s.sid, kind="tab")
    await recv(tab, "snapshot")
    fclient = await join(t, s.sid)
    try:
        view = await socket(t, fclient, s.sid)
        epoch = (await recv(view, "welcome"))["epoch"]
        await recv(view, "reset")
        await tab.send_str(json.dumps({"t": "ev", "e": [meta(), full()]}))
        seen = [(await recv(view, "ev"))["s"]]
        await tab.send_str(json.dumps({"t": "ev", "e": [mutation(1)]}))
        last = (await recv(view, "ev"))["s"]
        await view.close()
        for n in range(2, 6):  # events while the follower is away
            await tab.send_str(json.dumps({"t": "ev", "e": [mutation(n)]}))
        await asyncio.sleep(0.1)
        view = await socket(t, fclient, s.sid, resume={"epoch": epoch, "seq": last})
        await recv(view, "welcome")
        got: list[int] = []
        while len(got) < 4:  # the replay may come as one frame (the writer joins consecutive DOM frames)
            ev = await recv(view, "ev")
            got += range(ev["s"], ev["s"] + ev.get("n", len(ev["e"])))
        assert got == [4, 5, 6, 7] and seen == [1] and last == 3
    finally:
        await fclient.close()


# -- relay backpressure, no network -----------------------------------------------------------
class StuckEndpoint:
    """A follower that never reads: its outbox only fills."""

    def __init__(self, max_bytes):
        self.outbox = Outbox(max_bytes=max_bytes)
        self.closed = None

    def deliver(self, frame, *, force=False):
        ok = self.outbox.push(frame, force=force)
        if not ok:
            self.outbox.clear()
        return ok

    def close(self, code, reason):
        self.closed = code


class FastEndpoint:
    def __init__(self):
        self.frames = []

    def deliver(self, frame, *, force=False):
        self.frames.append(frame)
        return True

    def close(self, code, reason):
        pass


def test_slow_follower_is_resynced_and_never_holds_up_others():
    relay = LocalRelay(lambda sid, epoch: Room(sid, epoch=epoch))
    tab, fast, slow = FastEndpoint(), FastEndpoint(), StuckEndpoint(max_bytes=50_000)
    t = relay.attach("s", tab, pid="L", may_lead=True, kind="tab", name="", resume=None, now=0)
    relay.attach("s", fast, pid="F", may_lead=False, kind="view", name="", resume=None, now=0)
    relay.attach("s", slow, pid="S", may_lead=False, kind="view", name="", resume=None, now=0)
    relay.submit("s", t, {"t": "ev", "e": [meta(), full(1000)]}, 0, 0)
    for n in range(2000):
        relay.submit("s", t, {"t": "ev", "e": [mutation(n)]}, 0, 0)
    seqs = [f.msg["s"] for f in fast.frames if f.msg["t"] == "ev"]
    assert seqs == [1] + list(range(3, 2003))  # every event, in order, unmerged
    # the stuck one was reset; the leader was asked once for a fresh snapshot, which it sends
    assert [f.msg["t"] for f in tab.frames].count("snapshot") == 2  # at join, and for the slow follower
    relay.submit("s", t, {"t": "ev", "e": [meta(), full(1000)]}, 0, 0)
    relay.submit("s", t, {"t": "ev", "e": [mutation(5000)]}, 0, 0)
    queued = []
    while (f := slow.outbox.pop()) is not None:
        queued.append(f.msg)
    kinds = [m["t"] for m in queued]
    assert "reset" in kinds and len(queued) < 2000
    after = queued[len(kinds) - 1 - kinds[::-1].index("reset") + 1:]
    evs = [m for m in after if m["t"] == "ev"]
    assert [e["type"] for e in evs[0]["e"]] == [4, 2] and evs[0]["s"] == 2003
    assert [m["s"] for m in evs] == [2003, 2005]


async def test_ending_the_session_closes_every_socket(make_tandem, upstream):
    from tandem import appkeys

    t, s = await started(make_tandem, upstream)
    tab = await socket(t, t.client, s.sid, kind="tab")
    await recv(tab, "snapshot")
    await t.app[appkeys.SESSIONS].end(s.sid)
    bye = None
    while True:
        msg = await asyncio.wait_for(tab.receive(), 5)
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        obj = json.loads(msg.data)
        if obj["t"] == "bye":
            bye = obj
    assert bye is not None and bye["code"] == "session_ended"
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4000
    try:
        await t.client.ws_connect(f"{t.url}/s/{s.sid}/ws", origin=t.url)
        raise AssertionError("an ended session's socket opened")
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 410


async def raw_follower(t, client, sid: str, *, rcvbuf: int | None = None):
    """A follower's session socket spoken by hand (no compression): the handshake and its hello, and then
    nothing is read but what the caller reads: (reader, writer). ``rcvbuf``: a small receive buffer (set
    before connecting, so it is the window the server sees)."""
    sock = pysocket.socket(pysocket.AF_INET, pysocket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", t.settings.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    cookie = "; ".join(f"{c.key}={c.value}" for c in client.cookie_jar)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET /s/{sid}/ws HTTP/1.1\r\nHost: {t.base.domain}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {t.url}\r\nCookie: {cookie}\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert b" 101 " in head.split(b"\r\n", 1)[0], head
    hello = json.dumps({"t": "hello", "kind": "view"}).encode()
    mask = os.urandom(4)
    writer.write(bytes([0x81, 0x80 | len(hello)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(hello)))
    await writer.drain()
    return reader, writer


async def test_a_follower_that_stops_reading_does_not_hold_up_the_leader_or_others(make_tandem, upstream):
    """Backpressure through real sockets: the stuck follower is cut loose, the fast one gets every event."""
    t, s = await started(make_tandem, upstream)
    tab = await socket(t, t.client, s.sid, kind="tab")
    await recv(tab, "snapshot")
    await tab.send_str(json.dumps({"t": "ev", "e": [meta(), full()]}))
    fast_client = await join(t, s.sid)
    stuck_client = await join(t, s.sid)
    try:
        fast = await socket(t, fast_client, s.sid)
        await recv(fast, "welcome")
        reader, writer = await raw_follower(t, stuck_client, s.sid)  # never reads: the kernel buffers fill, then Tandem's
        got: list[int] = []

        async def read_fast():
            while True:
                msg = await fast.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return
                obj = json.loads(msg.data)
                if obj["t"] == "ev":
                    got.append(obj["s"])
                    if obj["s"] >= 2 + 400:
                        return

        reading = asyncio.create_task(read_fast())
        big = "x" * 60_000
        for n in range(400):  # 24 MB of DOM stream: more than the kernel and the outbox hold
            await asyncio.wait_for(tab.send_str(json.dumps({"t": "ev", "e": [
                {"type": 3, "data": {"source": 0, "texts": [{"id": n, "value": big}]}, "timestamp": 1}]})), 5)
        await asyncio.wait_for(reading, 30)
        assert got[-400:] == list(range(3, 403))  # every event, in order
        # the leader was asked for a fresh snapshot on the stuck follower's behalf
        snapshot_asks = 0
        while True:
            try:
                msg = await asyncio.wait_for(tab.receive(), 0.5)
            except asyncio.TimeoutError:
                break
            if msg.type == aiohttp.WSMsgType.TEXT and json.loads(msg.data)["t"] == "snapshot":
                snapshot_asks += 1
        assert snapshot_asks >= 1
        writer.close()
    finally:
        await fast_client.close()
        await stuck_client.close()


async def test_participants_are_named_as_they_were_admitted(make_tandem, upstream):
    t, s = await started(make_tandem, upstream)
    from tests.harness import client_session

    from tandem import appkeys

    token = await t.app[appkeys.SESSIONS].invite(s.sid, "follower")
    client = client_session(cookie_jar=aiohttp.CookieJar())
    try:
        r = await client.get(f"{t.url}/s/{s.sid}/enter?t={token}&name=Ann%20Agent", allow_redirects=False)
        assert r.status in (302, 303)
        view = await socket(t, client, s.sid)
        welcome = await recv(view, "welcome")
        me = next(p for p in welcome["state"]["participants"] if p["id"] == welcome["you"])
        assert me["name"] == "Ann Agent"
    finally:
        await client.close()

"""How session sockets are written (sync/ws.py): small messages leave uncompressed, and a fan-out to
thousands of sockets yields to the event loop while it writes. Real loopback WebSockets throughout."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver

from sync import ws as sync_ws
from sync.protocol import Frame
from sync.ws import SocketEndpoint
from tandem import appkeys
from tests.harness import participant_jar, serve_app
from tests.sync.helpers import full, meta, mutation, recv, socket


class _Recorder:
    """A TCP relay on loopback that keeps every byte the server sends back on each connection."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.down: list[bytearray] = []  # per connection: server -> client bytes
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _conn(self, creader, cwriter):
        sreader, swriter = await asyncio.open_connection("127.0.0.1", self.target_port)
        got = bytearray()
        self.down.append(got)

        async def pipe(reader, writer, keep):
            try:
                while data := await reader.read(65536):
                    if keep is not None:
                        keep += data
                    writer.write(data)
                    await writer.drain()
            except ConnectionError:
                pass
            finally:
                writer.close()

        await asyncio.gather(pipe(creader, swriter, None), pipe(sreader, cwriter, got))

    def close(self):
        self.server.close()


class _Via(AbstractResolver):
    """Every name to 127.0.0.1 at ``port`` (the recorder), whatever port the URL says."""

    def __init__(self, port: int):
        self.port = port

    async def resolve(self, host, port=0, family=0):
        return [{"hostname": host, "host": "127.0.0.1", "port": self.port, "family": 2, "proto": 0, "flags": 0}]

    async def close(self):
        pass


def _frames(data: bytes):
    """(opcode, RSV1 set, payload) of each server frame after the 101 response (servers never mask)."""
    i = data.index(b"\r\n\r\n") + 4
    while i + 2 <= len(data):
        b0, n = data[i], data[i + 1] & 0x7F
        i += 2
        if n == 126:
            n, i = int.from_bytes(data[i:i + 2], "big"), i + 2
        elif n == 127:
            n, i = int.from_bytes(data[i:i + 8], "big"), i + 8
        if i + n > len(data):
            return
        yield b0 & 0x0F, bool(b0 & 0x40), bytes(data[i:i + n])
        i += n


async def test_small_messages_leave_uncompressed_and_large_ones_compressed(make_tandem, upstream):
    """Before: every message was deflated, each paying zlib's compress and sync flush, most of the
    server's CPU per delivered event under load (issue 12's stall stacks)."""

    async def home(request):
        return web.Response(text="<p>hi</p>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", home)
    origin = await upstream(app)
    t = await make_tandem()
    s = await t.session(origin + "/")
    tab = await socket(t, t.client, s.sid, kind="tab")
    await recv(tab, "snapshot")
    await tab.send_json({"t": "ev", "e": [meta(), full(10)]})

    recorder = _Recorder(int(t.url.rsplit(":", 1)[1].rstrip("/")))
    port = await recorder.start()
    token = await t.app[appkeys.SESSIONS].invite(s.sid, "follower")
    follower = aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=_Via(port), force_close=True),
                                     cookie_jar=participant_jar(t.app))
    try:
        r = await follower.get(f"{t.url}/s/{s.sid}/enter?t={token}", allow_redirects=False)
        assert r.status in (302, 303)
        view = await socket(t, follower, s.sid, compress=15)
        assert "permessage-deflate" in view._response.headers.get("Sec-WebSocket-Extensions", "")
        await recv(view, "ev")  # the replay: caught up
        await asyncio.sleep(0.1)
        small = mutation(7)
        big = mutation(8) | {"pad": "lorem ipsum dolor " * 400}  # ~7 KiB
        await tab.send_json({"t": "ev", "e": [small]})
        got = await recv(view, "ev")
        assert got["e"] == [small]
        await tab.send_json({"t": "ev", "e": [big]})
        got = await recv(view, "ev")
        assert got["e"] == [big]  # the client inflated it correctly after an uncompressed message
        await tab.send_json({"t": "ev", "e": [mutation(9)]})
        assert (await recv(view, "ev"))["e"] == [mutation(9)]
        await view.close()
    finally:
        await follower.close()
        recorder.close()
    ws_conn = [d for d in recorder.down if d.startswith(b"HTTP/1.1 101")]
    assert len(ws_conn) == 1
    texts = [(rsv1, payload) for op, rsv1, payload in _frames(bytes(ws_conn[0])) if op == 1]
    plain = [json.loads(p) for rsv1, p in texts if not rsv1]
    small_evs = [m for m in plain if m.get("t") == "ev" and m["e"] in ([mutation(7)], [mutation(9)])]
    assert len(small_evs) == 2, "the small event frames were not sent uncompressed"
    compressed = [p for rsv1, p in texts if rsv1]
    assert compressed and all(b'"lorem ipsum' not in p for p in compressed)
    assert max(len(p) for p in compressed) < 2000  # the big one, deflated (~7 KiB of text)
    assert all(len(p) < sync_ws.COMPRESS_MIN for rsv1, p in texts if not rsv1)


async def test_a_fan_out_to_2000_sockets_lets_the_loop_run_while_it_writes():
    """Before: each socket's writer task woke in the same turn of the event loop, so a frame for
    2,000 sockets held the loop until every one was written; a timer (or another socket's read)
    scheduled meanwhile waited for all of them."""
    count = 2000
    endpoints: list[SocketEndpoint] = []
    done = asyncio.Event()

    async def handler(request):
        ws = web.WebSocketResponse(compress=True)
        await ws.prepare(request)
        endpoint = SocketEndpoint(ws, transport=request.transport)
        endpoint.start()
        endpoints.append(endpoint)
        try:
            async for _msg in ws:
                pass
        finally:
            await endpoint.stop()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner, origin = await serve_app(app)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    clients = []
    try:
        for start in range(0, count, 200):
            clients += await asyncio.gather(*(session.ws_connect(origin + "/ws", compress=15)
                                              for _ in range(min(200, count - start))))
        for _ in range(100):
            if len(endpoints) == count:
                break
            await asyncio.sleep(0.05)
        assert len(endpoints) == count
        # every writer idle (nothing queued yet)
        await asyncio.sleep(0.2)
        frame = Frame({"t": "ev", "s": 1, "e": [mutation(1)]}, kind="stream")
        written_when_probed = []
        for endpoint in endpoints:  # the room's fan-out: one frame queued for every socket
            endpoint.deliver(frame)
        loop = asyncio.get_running_loop()
        loop.call_soon(lambda: written_when_probed.append(sum(e.sent_bytes > 0 for e in endpoints)))
        await asyncio.sleep(0)
        for _ in range(200):
            if all(e.sent_bytes > 0 for e in endpoints):
                break
            await asyncio.sleep(0.01)
        assert all(e.sent_bytes > 0 for e in endpoints)
        assert written_when_probed and written_when_probed[0] < count, (
            f"the callback scheduled during the fan-out ran only after all {count} sockets were written")

        async def read(ws):
            msg = await asyncio.wait_for(ws.receive(), 10)
            return json.loads(msg.data)

        got = await asyncio.gather(*(read(ws) for ws in clients))
        assert all(m == {"t": "ev", "s": 1, "e": [mutation(1)]} for m in got)
        done.set()
    finally:
        for ws in clients:
            await ws.close()
        await session.close()
        await runner.cleanup()

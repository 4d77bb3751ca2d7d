"""``python -m bench.sync``: co-browsing on loopback — how fast and how heavy the live mirror is.

Measured in one run, each against a baseline from the same run:

1. Relay latency, leader event → follower socket, with 1, 10 and 50 followers (lightweight
   WebSocket clients in this process), p50/p99. Baseline: a bare aiohttp broadcast server
   (no rooms, no JSON, no buffer) driven the same way.
2. End-to-end latency in real Chromium: a DOM change in the tab owner's page → the same change
   in each follower's mirror (3 follower browsers), p50/p99, next to the relay figure.
3. Bytes per participant-minute of a scripted demo-shop session (pages, typing, scrolling,
   pointer): the DOM stream as JSON and after permessage-deflate, plus the mirror's resource
   loads, against a 1 Mbit/s screen-share stream (7.5 MB per viewer-minute).
4. Server memory per idle participant (RSS growth over 200 idle session sockets), against the
   bare broadcast server holding the same number of idle sockets.

Flags: ``--quick`` (fewer samples), ``--followers 1,10,50``, ``--keep`` (keep server logs).
``--load 50x10 --duration 600 [--rate 10]`` runs only the load of issue 12 instead: 500 participants in
50 rooms, every tab owner sending stamped events; it prints events lost, delivery p50/p99/max, the
server's RSS over the run and whether a late joiner in each busy room got a snapshot.
Hook into ``python -m bench``: call ``bench.sync.run(quick=...)`` (returns the figures as a dict)
or ``bench.sync.main([...])``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from sync.ws import COMPRESS_MIN

from .procs import Children, cpu_seconds, free_port, request, rss_kib, wait_ready

SAMPLES = 200  # leader events per follower count (relay latency)
QUICK_SAMPLES = 60
SEND_INTERVAL = 0.01  # seconds between leader events: 100 per second, a busy page
BROWSER_SAMPLES = 40  # DOM changes timed end to end in Chromium
QUICK_BROWSER_SAMPLES = 15
BROWSER_FOLLOWERS = 3
IDLE_SOCKETS = 300  # idle participants for the memory figure (enough to rise above allocator noise)
PER_ROOM = 50  # idle followers per room (rooms cap their participants)
SETTLE = 1.5  # seconds to let RSS settle after opening or closing sockets
SCREEN_SHARE_BPS = 1_000_000  # the comparison: a 1 Mbit/s screen-share stream
TIMEOUT = 20.0  # seconds any single wait may take before the bench gives up with a message


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


# -- the baseline: a bare broadcast server ---------------------------------------------------
def bare_app() -> web.Application:
    """Every text frame from a connection that said ``lead`` goes to every other connection."""
    peers: set[web.WebSocketResponse] = set()

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse(compress=True, max_msg_size=16 * 1024 * 1024)
        await sock.prepare(request)
        await sock.send_str('{"t":"welcome"}')  # like Tandem's welcome: the compressor exists from here on
        peers.add(sock)
        try:
            async for msg in sock:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    for p in list(peers):
                        if p is not sock:
                            await p.send_str(msg.data)
        finally:
            peers.discard(sock)
        return sock

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/ws", ws)
    app.router.add_get("/healthz", healthz)
    return app


def serve_bare(port: int) -> None:
    web.run_app(bare_app(), host="127.0.0.1", port=port, print=None, access_log=None)


# -- Tandem with the demo shop ------------------------------------------------------------------
class Server:
    def __init__(self, children: Children, tmp: Path, profile: Path | None = None, stalls: Path | None = None):
        self.port = free_port()
        self.admin = secrets.token_urlsafe(24)
        script = Path(sys.executable).parent / "tandem"
        cmd = [str(script)] if script.exists() else [sys.executable, "-m", "tandem.cli"]
        if profile is not None:  # CPU profile of the server, written when it stops (SIGTERM)
            cmd = [sys.executable, "-m", "bench.cprofile_tandem", str(profile)]
        elif stalls is not None:  # what held the event loop in each stall, written when it stops
            cmd = [sys.executable, "-m", "bench.stalls_tandem", str(stalls)]
        self.child = children.start("tandem", cmd + ["serve", "--demo", "--port", str(self.port), "--data-dir",
                                                     str(tmp / "data")], env={"TANDEM_ADMIN_KEY": self.admin})
        self.base = f"tandem.localhost:{self.port}"
        wait_ready(self.child, self.port, "/healthz", {"Host": self.base})
        self.shop = f"http://shop.localhost:{self.port + 1}"

    @property
    def pid(self) -> int:
        return self.child.pid

    def session(self) -> dict:
        status, _, body = request(self.port, "POST", "/api/v1/sessions",
                                  {"Host": self.base, "Authorization": f"Bearer {self.admin}",
                                   "Content-Type": "application/json"}, json.dumps({"url": self.shop + "/"}).encode())
        if status != 201:
            raise SystemExit(f"bench.sync: the session API answered {status}: {body[:300]!r}")
        created = json.loads(body)
        if "follower_url" not in created:
            raise SystemExit("bench.sync: POST /api/v1/sessions gave no follower_url")
        return created

    def credential(self, link: str) -> tuple[str, str]:
        """(cookie name, value) a participant gets by opening an invite link."""
        parts = urlsplit(link)
        status, headers, body = request(self.port, "GET", f"{parts.path}?{parts.query}", {"Host": parts.netloc})
        if status not in (302, 303):
            raise SystemExit(f"bench.sync: the invite link answered {status}: {body[:300]!r}")
        for value in headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            if name.startswith("tandem_p_"):
                return name, rest.split(";", 1)[0]
        raise SystemExit("bench.sync: the invite link set no participant cookie")


def start_server(children: Children, tmp: Path, attempts: int = 3, profile: Path | None = None,
                 stalls: Path | None = None) -> Server:
    """``--demo`` also takes PORT+1..PORT+4, which a free PORT does not promise: retry on a clash."""
    for attempt in range(attempts):
        try:
            return Server(children, tmp, profile, stalls)
        except RuntimeError as exc:
            if "Address already in use" not in str(exc) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


class LoopbackResolver(aiohttp.abc.AbstractResolver):
    async def resolve(self, host, port=0, family=0):
        import socket

        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0, "flags": 0}]

    async def close(self):
        pass


def client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=LoopbackResolver(), limit=0))


async def open_socket(http: aiohttp.ClientSession, server: Server, sid: str, cookie: tuple[str, str], kind: str):
    ws = await http.ws_connect(f"http://{server.base}/s/{sid}/ws", origin=f"http://{server.base}",
                               headers={"Cookie": f"{cookie[0]}={cookie[1]}"}, compress=15, max_msg_size=0)
    await ws.send_str(json.dumps({"t": "hello", "kind": kind}))
    return ws


def snapshot_events(pad: int = 20_000) -> list[dict]:
    return [{"type": 4, "data": {"href": "http://x/", "width": 1280, "height": 800}, "timestamp": 0},
            {"type": 2, "data": {"node": {"type": 0, "id": 1, "childNodes": [], "pad": "x" * pad}}, "timestamp": 0}]


def stamp_event(n: int) -> dict:
    """A small text mutation, like one keystroke's worth of DOM change, carrying its send time."""
    return {"type": 3, "data": {"source": 0, "texts": [{"id": 7, "value": f"{n}@{time.perf_counter():.6f}"}],
                                "attributes": [], "removes": [], "adds": []}, "timestamp": 0}


async def relay_latency(server: Server, followers: int, samples: int) -> list[float]:
    created = server.session()
    sid = created["session_id"]
    leader_cookie = server.credential(created["leader_url"])
    cookies = [server.credential(created["follower_url"]) for _ in range(followers)]
    async with client() as http:
        tab = await open_socket(http, server, sid, leader_cookie, "tab")
        views = [await open_socket(http, server, sid, c, "view") for c in cookies]
        await tab.send_str(json.dumps({"t": "ev", "e": snapshot_events()}))
        latencies: list[float] = []
        done = asyncio.Event()
        remaining = [followers * samples]

        async def reader(ws):
            async for msg in ws:
                obj = json.loads(msg.data)
                if obj.get("t") != "ev":
                    continue
                now = time.perf_counter()
                for e in obj["e"]:
                    if e.get("type") == 3 and e["data"].get("texts"):
                        sent = float(e["data"]["texts"][0]["value"].split("@", 1)[1])
                        latencies.append((now - sent) * 1000)
                        remaining[0] -= 1
                        if remaining[0] <= 0:
                            done.set()

        async def drain(ws):
            async for _ in ws:
                pass

        tasks = [asyncio.create_task(reader(v)) for v in views] + [asyncio.create_task(drain(tab))]
        await asyncio.sleep(0.3)  # joiners have their snapshot
        for n in range(samples):
            await tab.send_str(json.dumps({"t": "ev", "e": [stamp_event(n)]}))
            await asyncio.sleep(SEND_INTERVAL)
        try:
            await asyncio.wait_for(done.wait(), TIMEOUT)
        except asyncio.TimeoutError:
            print(f"  warning: {remaining[0]} of {followers * samples} events never arrived", file=sys.stderr)
        for ws in views + [tab]:
            await ws.close()
        for t in tasks:
            t.cancel()
        return latencies


async def bare_latency(port: int, followers: int, samples: int) -> list[float]:
    async with client() as http:
        lead = await http.ws_connect(f"http://127.0.0.1:{port}/ws", compress=15)
        views = [await http.ws_connect(f"http://127.0.0.1:{port}/ws", compress=15, max_msg_size=0) for _ in range(followers)]
        latencies: list[float] = []
        done = asyncio.Event()
        remaining = [followers * samples]

        async def reader(ws):
            async for msg in ws:
                obj = json.loads(msg.data)
                now = time.perf_counter()
                for e in obj.get("e", ()):
                    sent = float(e["data"]["texts"][0]["value"].split("@", 1)[1])
                    latencies.append((now - sent) * 1000)
                    remaining[0] -= 1
                    if remaining[0] <= 0:
                        done.set()

        tasks = [asyncio.create_task(reader(v)) for v in views]
        await asyncio.sleep(0.2)
        for n in range(samples):
            await lead.send_str(json.dumps({"t": "ev", "e": [stamp_event(n)]}))
            await asyncio.sleep(SEND_INTERVAL)
        try:
            await asyncio.wait_for(done.wait(), TIMEOUT)
        except asyncio.TimeoutError:
            print(f"  warning: bare relay lost {remaining[0]} events", file=sys.stderr)
        for ws in views + [lead]:
            await ws.close()
        for t in tasks:
            t.cancel()
        return latencies


# -- real browsers --------------------------------------------------------------------------
async def browser_figures(server: Server, samples: int) -> dict:
    from playwright.async_api import async_playwright

    from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS

    if not os.path.exists(CHROMIUM):
        return {"skipped": f"no Chromium at {CHROMIUM}"}
    created = server.session()
    out: dict = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            lctx = await browser.new_context(viewport={"width": 1280, "height": 800})
            lp = await lctx.new_page()
            await lp.goto(created["leader_url"])

            followers = []
            frames_in: list[int] = []
            deflated: list[int] = []
            all_deflated: list[int] = []
            resource_bytes = [0]
            for i in range(BROWSER_FOLLOWERS):
                fctx = await browser.new_context(viewport={"width": 1400, "height": 900})
                fp = await fctx.new_page()
                if i == 0:
                    comp = zlib.compressobj(6, zlib.DEFLATED, -15)  # permessage-deflate with context takeover
                    comp_all = zlib.compressobj(6, zlib.DEFLATED, -15)  # the same, had every message been deflated

                    def on_ws(ws):
                        def got(payload):
                            data = payload.encode() if isinstance(payload, str) else payload
                            frames_in.append(len(data))
                            all_deflated.append(len(comp_all.compress(data) + comp_all.flush(zlib.Z_SYNC_FLUSH)) - 4)
                            if len(data) < COMPRESS_MIN:  # the server sends these uncompressed (sync/ws.py)
                                deflated.append(len(data))
                            else:
                                deflated.append(len(comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)) - 4)
                        ws.on("framereceived", got)

                    fp.on("websocket", on_ws)

                    async def sized(req):
                        try:
                            sizes = await req.sizes()
                            resource_bytes[0] += sizes["responseBodySize"] + sizes["responseHeadersSize"]
                        except Exception:
                            pass

                    fctx.on("requestfinished", lambda req: asyncio.ensure_future(sized(req)))
                await fp.goto(created["follower_url"])
                await fp.wait_for_function("() => window.tandemMirror && window.tandemMirror.stats.applied > 0",
                                           timeout=TIMEOUT * 1000)
                await fp.evaluate("""() => {
                    window.__seen = {};
                    const watch = () => {
                        const doc = window.tandemMirror.doc();
                        if (!doc || !doc.body) return setTimeout(watch, 20);
                        new MutationObserver(() => {
                            const el = doc.getElementById('bench-probe');
                            if (el && !(el.textContent in window.__seen))
                                window.__seen[el.textContent] = performance.timeOrigin + performance.now();
                        }).observe(doc, {subtree: true, childList: true, characterData: true});
                    };
                    watch();
                }""")
                followers.append(fp)
            # end-to-end latency: a DOM change in the leader page until each mirror shows it
            await lp.evaluate("() => { const p = document.createElement('p'); p.id = 'bench-probe'; document.body.prepend(p); }")
            await asyncio.sleep(0.5)
            sent: dict[str, float] = {}
            for n in range(samples):
                token = f"probe-{n}"
                sent[token] = await lp.evaluate(
                    "(t) => { document.getElementById('bench-probe').textContent = t; return performance.timeOrigin + performance.now(); }",
                    token)
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            lat = []
            for fp in followers:
                seen = await fp.evaluate("() => window.__seen")
                lat += [seen[t] - sent[t] for t in sent if t in seen]
            out["e2e_ms"] = lat
            out["e2e_expected"] = samples * len(followers)

            # bytes per participant-minute: a scripted minute-ish of ordinary use
            frames_in.clear()
            deflated.clear()
            all_deflated.clear()
            resource_bytes[0] = 0
            t0 = time.monotonic()
            shop = lp.url.split("/", 3)[:3]
            shop_url = "/".join(shop)
            for path in ("/products", "/products/2", "/login", "/products", "/about", "/api-demo", "/"):
                await lp.goto(shop_url + path)
                for k in range(10):
                    await lp.mouse.move(100 + 40 * k, 200 + 10 * k)
                    await asyncio.sleep(0.05)
                await lp.mouse.wheel(0, 300)
                await asyncio.sleep(0.3)
                if path == "/login":
                    await lp.fill("#username", "")
                    await lp.click("#username")
                    await lp.keyboard.type("demo user typing", delay=60)
                await asyncio.sleep(0.5)
            elapsed = time.monotonic() - t0
            out["minutes"] = elapsed / 60
            out["stream_raw"] = sum(frames_in)
            out["stream_deflate"] = sum(deflated)
            out["stream_deflate_all"] = sum(all_deflated)
            out["resources"] = resource_bytes[0]
        finally:
            await browser.close()
    return out


# -- memory -------------------------------------------------------------------------------------
async def idle_memory_tandem(server: Server, count: int) -> float:
    """Idle followers spread over rooms of ``PER_ROOM`` (rooms cap their size), each with its own credential."""
    rooms = []
    for _ in range(0, count, PER_ROOM):
        created = server.session()
        rooms.append((created["session_id"], server.credential(created["leader_url"]),
                      [server.credential(created["follower_url"]) for _ in range(min(PER_ROOM, count - len(rooms) * PER_ROOM))]))
    async with client() as http:
        tabs = []
        for sid, leader, _ in rooms:
            tab = await open_socket(http, server, sid, leader, "tab")
            await tab.send_str(json.dumps({"t": "ev", "e": snapshot_events(pad=2_000)}))
            tabs.append(tab)
        await asyncio.sleep(SETTLE)
        before = rss_kib(server.pid)
        socks = [await open_socket(http, server, sid, c, "view") for sid, _, cookies in rooms for c in cookies]
        await asyncio.sleep(SETTLE)
        after = rss_kib(server.pid)
        for ws in socks + tabs:
            await ws.close()
    return (after - before) * 1024 / len(socks)


async def idle_memory_bare(port: int, pid: int, count: int) -> float:
    async with client() as http:
        await asyncio.sleep(SETTLE)
        before = rss_kib(pid)
        socks = [await http.ws_connect(f"http://127.0.0.1:{port}/ws", compress=15) for _ in range(count)]
        await asyncio.sleep(SETTLE)
        after = rss_kib(pid)
        for ws in socks:
            await ws.close()
    return (after - before) * 1024 / count


# -- load: many rooms at once (issue 12) ----------------------------------------------------------
LOAD_RATE = 10.0  # events a second each room's tab owner sends (a busy page: typing, DOM changes)
PING_EVERY = 15.0  # seconds between a participant's pings (as the pages send them)


CLIENT_PROCESSES = 2  # load clients, each in its own process with a share of the rooms
READY_TIMEOUT = 120.0  # seconds for the clients to open their sockets


def _scrape(server: Server) -> dict[str, float]:
    """The server's own figures from GET /metrics (name{labels} -> value)."""
    status, _, body = request(server.port, "GET", "/metrics", {"Host": server.base,
                                                                "Authorization": f"Bearer {server.admin}"})
    if status != 200:
        return {}
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


async def load_rooms(server: Server, rooms: int, per_room: int, duration: float, rate: float = LOAD_RATE,
                     clients: int = CLIENT_PROCESSES) -> dict:
    """``rooms`` rooms of ``per_room`` participants (one tab owner, the rest followers) for ``duration`` s.

    Every tab owner sends stamped events at ``rate`` a second; every follower counts what it got
    (lost = sent to it and never seen, nor covered by a snapshot it got later) and the delivery
    latency of each. The clients run in ``clients`` child processes (bench/loadgen.py ``rooms``), not
    here; this process samples the server's RSS every second and reads its pauses from /metrics. At
    the end a late joiner enters each room and must get a snapshot.
    """
    made = []
    for _ in range(rooms):
        created = server.session()
        sid = created["session_id"]

        def cookie(link, sid=sid):
            name, value = server.credential(link)
            return {"sid": sid, "name": name, "value": value}

        made.append((sid, {"leader": cookie(created["leader_url"]),
                           "followers": [cookie(created["follower_url"]) for _ in range(per_room - 1)]}, created))
    clients = max(1, min(clients, rooms))
    procs = []
    for k in range(clients):
        spec = {"base": server.base, "rate": rate, "duration": duration, "rooms": [m[1] for m in made[k::clients]]}
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.loadgen", "rooms",
                                                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                    limit=64 * 1024 * 1024)  # the result line holds a histogram
        proc.stdin.write(json.dumps(spec).encode() + b"\n")
        await proc.stdin.drain()
        procs.append(proc)
    rss: list[int] = []
    loadavg: list[float] = []
    try:
        for proc in procs:
            line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT)
            if line.strip() != b"ready":
                raise RuntimeError(f"a load client did not start: {line[:200]!r}")
        await asyncio.sleep(1.0)  # joiners have their snapshot
        before = await asyncio.to_thread(_scrape, server)
        cpu0, wall0, went = cpu_seconds(server.pid), time.perf_counter(), time.time()
        for proc in procs:
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()

        async def sample():
            while True:
                rss.append(rss_kib(server.pid))
                loadavg.append(os.getloadavg()[0])
                await asyncio.sleep(1.0)

        sampler = asyncio.create_task(sample())
        await asyncio.sleep(duration)
        wall = time.perf_counter() - wall0
        server_cpu = (cpu_seconds(server.pid) - cpu0) / wall
        results = [json.loads(await asyncio.wait_for(proc.stdout.readline(), duration + TIMEOUT + 60)) for proc in procs]
        cpu_all = cpu_seconds(server.pid) - cpu0  # the sending and the catching up after it
        sampler.cancel()
        after = await asyncio.to_thread(_scrape, server)
        # a late joiner in each busy room gets a snapshot (the replay buffer's, or a fresh one)
        late_ok = 0
        async with client() as http:
            for sid, _, created in made:
                ws = await open_socket(http, server, sid, server.credential(created["follower_url"]), "view")
                try:
                    async def snapshot():
                        async for msg in ws:
                            obj = json.loads(msg.data)
                            if obj.get("t") == "ev" and any(e.get("type") == 2 for e in obj["e"]):
                                return True
                        return False
                    late_ok += bool(await asyncio.wait_for(snapshot(), TIMEOUT))
                except asyncio.TimeoutError:
                    pass
                await ws.close()
    finally:
        for proc in procs:
            if proc.returncode is None:
                try:
                    proc.stdin.write(b"bye\n")
                    await proc.stdin.drain()
                    await asyncio.wait_for(proc.wait(), 30)
                except (ConnectionError, asyncio.TimeoutError):
                    proc.kill()
                    await proc.wait()
    hist: dict[str, int] = {}
    for res in results:
        for key, n in res["hist"].items():
            hist[key] = hist.get(key, 0) + n
    sent = [n for res in results for n in res["sent"]]

    def grew(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    return {"rooms": rooms, "participants": rooms * per_room, "seconds": duration, "rate": rate,
            "sent": sum(sent), "expected": sum(res["expected"] for res in results),
            "lost": sum(res["lost"] for res in results), "latency_hist": hist,
            "latency_max_ms": max(res["max_ms"] for res in results),
            "rss_kib": rss, "loadavg": loadavg, "window": [went, went + duration], "late_joiners": rooms, "late_with_snapshot": late_ok,
            "resyncs": sum(res["resyncs"] for res in results),
            "followers_closed": sum(res["closed"] for res in results), "server_cpu": server_cpu,
            "tabs_closed": sum(res.get("tabs_closed", 0) for res in results),
            "server_cpu_us_per_delivery": cpu_all * 1e6 / max(1, sum(res["expected"] - res["lost"] for res in results)),
            "client_cpu": sum(res["cpu"] / res["wall"] for res in results), "clients": len(procs),
            "client_lag_max_s": max(res.get("lag_max_s", 0.0) for res in results),
            "client_stalls": sum(res.get("stalls", 0) for res in results),
            "loop_lag_max_s": after.get("tandem_event_loop_lag_max_seconds", float("nan")),
            "loop_lag_max_before_s": before.get("tandem_event_loop_lag_max_seconds", float("nan")),
            "gc_pause_max_s": after.get("tandem_gc_pause_max_seconds", float("nan")),
            "gc_collections": {g: grew(f'tandem_gc_collections_total{{generation="{g}"}}') for g in ("0", "1", "2")},
            "gc_seconds": grew("tandem_gc_pause_seconds_total"),
            "loop_lag_over_100ms": grew("tandem_event_loop_stalls_total"),
            "loop_busy_over_100ms": grew("tandem_event_loop_busy_stalls_total"),
            "store_calls": store_calls(after)}


def store_calls(scraped: dict[str, float]) -> dict[str, dict[str, float]]:
    """Per store operation (the ``tandem_store_seconds`` histogram of /metrics, whole run): how many calls,
    their total seconds, and how many took over 1, 10 and 100 ms (each call runs on the event loop)."""
    out: dict[str, dict[str, float]] = {}
    for key, value in scraped.items():
        if not key.startswith("tandem_store_seconds"):
            continue
        name, _, labels = key.partition("{")
        fields = dict(part.split("=", 1) for part in labels.rstrip("}").split(",") if "=" in part)
        op = fields.get("op", "").strip('"')
        entry = out.setdefault(op, {"count": 0.0, "sum": 0.0, "le": {}})
        if name.endswith("_count"):
            entry["count"] = value
        elif name.endswith("_sum"):
            entry["sum"] = value
        elif name.endswith("_bucket"):
            entry["le"][fields.get("le", "").strip('"')] = value
    for entry in out.values():
        le = {float(k): v for k, v in entry.pop("le").items() if k != "+Inf"}
        for bound in (0.001, 0.01, 0.1):
            under = max((v for b, v in le.items() if b <= bound), default=0.0)
            entry[f"over_{bound * 1000:g}ms"] = entry["count"] - under
    return out


def report_load(r: dict) -> None:
    from .loadgen import hist_percentile

    hist = r["latency_hist"]
    rss = r["rss_kib"] or [0]
    p50, p99 = hist_percentile(hist, 50), hist_percentile(hist, 99)
    print(f"\nLoad: {r['participants']} participants in {r['rooms']} rooms for {r['seconds']:.0f} s, "
          f"{r['rate']:.0f} events/s per room (bench/sync.py --load)")
    print(f"   events sent {r['sent']}, deliveries expected {r['expected']}, lost {r['lost']} (neither delivered nor "
          f"covered by a later snapshot); fresh snapshots asked for {r['resyncs']}, follower sockets closed by the "
          f"server {r['followers_closed']}, tab owners' sockets closed {r['tabs_closed']}")
    print(f"   delivery p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {r['latency_max_ms']:.1f} ms "
          f"(target p99 < 100 ms: {'met' if hist and p99 < 100 else 'NOT met'})")
    print(f"   server RSS first {rss[0] / 1024:.1f} MiB, max {max(rss) / 1024:.1f} MiB, last {rss[-1] / 1024:.1f} MiB")
    print(f"   late joiners with a snapshot: {r['late_with_snapshot']}/{r['late_joiners']}")
    print(f"   server pauses (/metrics, whole run): longest event-loop stall {r['loop_lag_max_s'] * 1000:.0f} ms "
          f"({r['loop_lag_max_before_s'] * 1000:.0f} ms of it before the sending), "
          f"stalls over 100 ms during the sending {r['loop_lag_over_100ms']:.0f} ({r.get('loop_busy_over_100ms', 0):.0f} of "
          f"them with over 100 ms of the loop's own CPU time); longest GC pause "
          f"{r['gc_pause_max_s'] * 1000:.1f} ms, GC during the sending {r['gc_seconds'] * 1000:.0f} ms in "
          f"{'/'.join(f'{v:.0f}' for v in r['gc_collections'].values())} gen0/1/2 collections")
    print(f"   server CPU per delivered event {r['server_cpu_us_per_delivery']:.0f} µs (CPU time: holds on a busy machine)")
    print(f"   CPU during the sending: server {r['server_cpu'] * 100:.0f}% of a core, the {r['clients']} client processes "
          f"{r['client_cpu'] * 100:.0f}% together (load average {min(r['loadavg'] or [0]):.1f}-"
          f"{max(r['loadavg'] or [0]):.1f} during it; the machine has {os.cpu_count()} CPUs)")
    print(f"   the clients' own event loops: longest stall {r['client_lag_max_s'] * 1000:.0f} ms, stalls over 100 ms "
          f"{r['client_stalls']} (each one delays what its followers measure)")
    calls = sorted(r.get("store_calls", {}).items(), key=lambda kv: -kv[1]["sum"])
    if calls:
        print("   store calls (whole run, wall time of each call: on the event loop for transactions and the live "
              "write-through, waiting for the SQLite worker thread for the others; bucket bounds): " + "; ".join(
            f"{op} {c['count']:.0f} in {c['sum'] * 1000:.0f} ms, over 1/10/100 ms {c['over_1ms']:.0f}/"
            f"{c['over_10ms']:.0f}/{c['over_100ms']:.0f}" for op, c in calls[:8]))


def run_load(rooms: int, per_room: int, duration: float, rate: float = LOAD_RATE, keep: bool = False,
             profile: Path | None = None, stalls: Path | None = None) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="tandem-bench-load-"))
    try:
        with Children(tmp) as children:
            server = start_server(children, tmp, profile=profile, stalls=stalls)
            result = asyncio.run(load_rooms(server, rooms, per_room, duration, rate))
    finally:
        if keep:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report_load(result)
    if stalls is not None:
        report_stalls(stalls, result["window"])
    return result


def report_stalls(path: Path, window: list[float]) -> None:
    """What the server's stall sampler (bench/stalls_tandem.py) saw during the sending: how many stalls,
    how much of them the main thread spent on a CPU (its own work) or waiting for one (other processes),
    and the stacks sampled in the stalls that were mostly its own work."""
    try:
        r = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"   stall sampler: no report ({exc})")
        return
    inside = [s for s in r["all"] if window[0] <= s["at"] <= window[1]]
    own = [s for s in inside if s["cpu"] >= r["stall_s"]]  # over 100 ms of the loop's own CPU time
    print(f"   stall sampler ({path}), during the sending: {len(inside)} stalls over {r['stall_s'] * 1000:.0f} ms, "
          f"{sum(s['wall'] for s in inside):.1f} s in all: main thread on a CPU {sum(s['cpu'] for s in inside):.1f} s, "
          f"waiting for one {sum(s['runqueue'] for s in inside):.1f} s, in GC {sum(s['gc'] for s in inside):.1f} s; "
          f"{len(own)} of them held the loop for over {r['stall_s'] * 1000:.0f} ms of CPU time "
          f"(longest {max((s['cpu'] for s in own), default=0) * 1000:.0f} ms, GC {sum(s['gc'] for s in own):.1f} s of them)")
    turns = [t for t in r.get("turns", []) if window[0] <= t["at"] <= window[1]]
    if "turns" in r:
        long_turns = [t for t in turns if t["wall"] >= r["stall_s"]]
        own_turns = [t for t in long_turns if t["cpu"] >= r["stall_s"]]
        print(f"   loop turns (select to select, timed in the server), during the sending: {len(long_turns)} over "
              f"{r['stall_s'] * 1000:.0f} ms (longest {max((t['wall'] for t in turns), default=0) * 1000:.0f} ms), "
              f"{len(own_turns)} of them over {r['stall_s'] * 1000:.0f} ms of CPU time; whole run: "
              f"{r['turn_count']} turns, longest {r['longest_turn_s'] * 1000:.0f} ms")
        for t in sorted(long_turns, key=lambda t: -t["wall"])[:5]:
            near = [s for s in r["all"] if s["at"] <= t["at"] + t["wall"] and t["at"] <= s["at"] + s["wall"]]
            top = near[0]["stacks"][0][0].split(";")[-4:] if near and near[0]["stacks"] else ["(not sampled)"]
            print(f"     turn {t['wall'] * 1000:.0f} ms (CPU {t['cpu'] * 1000:.0f} ms) at +{t['at'] - window[0]:.1f} s: "
                  f"...{';'.join(top)}")
    g = r.get("gc_cpu_by_generation")
    if g:
        print("   collections in CPU time (whole run; not stretched by waiting for a CPU): "
              + ", ".join(f"gen{i} {n} in {t * 1000:.0f} ms (longest {m * 1000:.1f} ms)" for i, (n, t, m) in enumerate(g)))
    stacks: dict[str, int] = {}
    for s in own:
        for stack, n in s["stacks"]:
            stacks[stack] = stacks.get(stack, 0) + n
    for stack, n in sorted(stacks.items(), key=lambda kv: -kv[1])[:8]:
        print(f"     {n:6d}  ...{';'.join(stack.split(';')[-5:])}")
    census = r.get("census")
    if census:
        print(f"   objects the collector tracks (after the 2nd full collection): {census['tracked_by_generation']} by "
              f"generation, {census['frozen']} frozen; oldest generation's commonest types: "
              + ", ".join(f"{name} {n}" for name, n in census["gen2_types"][:10]))


# -- the write path alone: CPU per delivery and the longest loop turn, this code against a baseline --------
FANOUT_RATE = 20.0  # fan-outs a second (each frame to every socket)


def _endpoint_class(commit: str | None):
    """sync.ws.SocketEndpoint, or the one of ``commit`` (its sync/ws.py, read with git show, loaded beside)."""
    if commit is None:
        from sync.ws import SocketEndpoint

        return SocketEndpoint
    import importlib.util
    import subprocess
    import types

    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(["git", "-C", str(root), "show", f"{commit}:sync/ws.py"], check=True,
                            capture_output=True, text=True).stdout
    name = "sync._ws_baseline"
    module = types.ModuleType(name)
    module.__package__ = "sync"
    module.__spec__ = importlib.util.spec_from_loader(name, loader=None)
    sys.modules[name] = module
    exec(compile(source, f"{commit[:10]}:sync/ws.py", "exec"), module.__dict__)
    return module.SocketEndpoint


async def fanout_cpu(endpoint_cls, sockets: int, frames: int, rate: float = FANOUT_RATE) -> dict:
    """``frames`` frames (a ~250-byte DOM mutation each), each to ``sockets`` session sockets opened by a
    child process over loopback: the server side's CPU per delivery (this thread's CPU time) and the
    longest turn of this event loop while the frames went out."""
    from sync.protocol import stream_frame

    endpoints = []

    async def handler(request):
        ws = web.WebSocketResponse(compress=True)
        await ws.prepare(request)
        endpoint = endpoint_cls(ws, transport=request.transport)
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
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.sync", "--fanout-client",
                                                f"http://127.0.0.1:{port}/ws", str(sockets), str(frames),
                                                stdout=asyncio.subprocess.PIPE)
    turns: list[float] = []
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT)
        if line.strip() != b"ready" or len(endpoints) != sockets:
            raise RuntimeError(f"fan-out clients did not start: {line[:200]!r}, {len(endpoints)} sockets")
        await asyncio.sleep(0.5)
        loop = asyncio.get_running_loop()
        stop = False

        async def probe():  # how late a 5 ms sleep wakes: the longest turn of the loop, roughly
            while not stop:
                t0 = loop.time()
                await asyncio.sleep(0.005)
                turns.append(loop.time() - t0 - 0.005)

        prober = asyncio.create_task(probe())
        event = {"type": 3, "data": {"source": 0, "texts": [{"id": 1, "value": "x" * 120}], "adds": [],
                                     "removes": [{"parentId": 2, "id": 3}]}, "timestamp": 1}
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        for i in range(frames):
            frame = stream_frame(i + 1, [event | {"timestamp": i}], False)
            for endpoint in endpoints:
                endpoint.deliver(frame)
            await asyncio.sleep(1 / rate)
        line = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT + frames / rate)
        cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
        stop = True
        await prober
        if not line.startswith(b"done"):
            raise RuntimeError(f"fan-out clients failed: {line[:200]!r}")
        wire = int(line.split()[1])
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await runner.cleanup()
    deliveries = sockets * frames
    return {"us_per_delivery": cpu * 1e6 / deliveries, "cpu_s": cpu, "wall_s": wall, "deliveries": deliveries,
            "longest_turn_ms": max(turns, default=0.0) * 1000, "wire_bytes_per_delivery": wire / deliveries}


async def fanout_client(url: str, sockets: int, frames: int) -> None:
    """The child of :func:`fanout_cpu`: open the sockets, say ready, read ``frames`` events on each,
    check each message goes on where the last one ended, say done with the bytes that crossed the wire (TCP, after deflate)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        socks = []
        for start in range(0, sockets, 100):
            socks += await asyncio.gather(*(http.ws_connect(url, compress=15, max_msg_size=0)
                                            for _ in range(min(100, sockets - start))))
        print("ready", flush=True)

        async def read(ws):  # frames queued together arrive joined (one message, consecutive events)
            nxt = 1
            while nxt <= frames:
                msg = await ws.receive()
                got = json.loads(msg.data) if msg.type == aiohttp.WSMsgType.TEXT else {}
                if got.get("s") != nxt:
                    raise RuntimeError(f"frame {nxt}: {msg.type} {str(msg.data)[:80]}")
                nxt += len(got["e"])

        await asyncio.gather(*(read(ws) for ws in socks))
        wire = 0
        for ws in socks:
            sock = ws._response.connection.transport.get_extra_info("socket")
            info = sock.getsockopt(6, 11, 232)  # TCP_INFO: tcpi_bytes_received at offset 128 (Linux 4.1+)
            wire += int.from_bytes(info[128:136], "little")
        print(f"done {wire}", flush=True)
        for ws in socks:
            await ws.close()


def run_fanout(sockets: int, frames: int, baseline: str | None) -> dict:
    results = {}
    for label, commit in (("baseline " + baseline[:10], baseline), ("this tree", None)) if baseline else (("this tree", None),):
        results[label] = asyncio.run(fanout_cpu(_endpoint_class(commit), sockets, frames))
    print(f"\nWrite path: {frames} frames to each of {sockets} session sockets, {FANOUT_RATE:.0f} fan-outs a second "
          f"(bench/sync.py --fanout; server side in this process, clients in a child; load average "
          f"{os.getloadavg()[0]:.1f})")
    for label, r in results.items():
        print(f"   {label:20s} CPU per delivery {r['us_per_delivery']:6.1f} µs, longest loop turn "
              f"{r['longest_turn_ms']:6.1f} ms, {r['wire_bytes_per_delivery']:.0f} bytes on the wire per delivery")
    if baseline:
        old, new = results.values()
        print(f"   ratio: CPU per delivery {new['us_per_delivery'] / old['us_per_delivery']:.2f}x the baseline, "
              f"longest turn {new['longest_turn_ms'] / max(old['longest_turn_ms'], 1e-9):.2f}x")
    return results


# -- report ---------------------------------------------------------------------------------------
def run(quick: bool = False, follower_counts=(1, 10, 50), keep: bool = False) -> dict:
    samples = QUICK_SAMPLES if quick else SAMPLES
    tmp = Path(tempfile.mkdtemp(prefix="tandem-bench-sync-"))
    results: dict = {"relay": {}, "bare": {}}
    try:
        with Children(tmp) as children:
            server = start_server(children, tmp)
            bport = free_port()
            bare = children.start("bare-relay", [sys.executable, "-m", "bench.sync", "--serve-bare", str(bport)])
            wait_ready(bare, bport, "/healthz")

            async def measure():
                # memory first, on fresh processes: later phases leave freed memory that would hide growth
                results["mem_tandem"] = await idle_memory_tandem(server, IDLE_SOCKETS)
                results["mem_bare"] = await idle_memory_bare(bport, bare.pid, IDLE_SOCKETS)
                for n in follower_counts:
                    results["relay"][n] = await relay_latency(server, n, samples)
                    results["bare"][n] = await bare_latency(bport, n, samples)
                results["browser"] = await browser_figures(server, QUICK_BROWSER_SAMPLES if quick else BROWSER_SAMPLES)

            asyncio.run(measure())
    finally:
        if keep:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report(results)
    return results


def report(r: dict) -> None:
    print("\nCo-browsing sync on loopback (bench/sync.py)\n")
    print("1. Relay latency, leader event -> follower socket (ms)")
    print(f"   {'followers':>9}  {'Tandem p50':>10}  {'p99':>7}  {'bare p50':>9}  {'p99':>7}  {'p99 ratio':>9}")
    for n, lat in r["relay"].items():
        bare = r["bare"][n]
        ratio = pct(lat, 99) / pct(bare, 99) if bare else float("nan")
        print(f"   {n:>9}  {pct(lat, 50):>10.2f}  {pct(lat, 99):>7.2f}  {pct(bare, 50):>9.2f}  {pct(bare, 99):>7.2f}  {ratio:>8.1f}x")
    if 10 in r["relay"]:
        p99 = pct(r["relay"][10], 99)
        print(f"   target p99 < 100 ms at 10 followers: {'met' if p99 < 100 else 'NOT met'} ({p99:.1f} ms)")
    b = r.get("browser", {})
    if "skipped" in b:
        print(f"\n2. Browser figures skipped: {b['skipped']}")
        return
    e2e = b.get("e2e_ms", [])
    print(f"\n2. End to end in Chromium, DOM change in the tab owner's page -> same change in the mirror "
          f"({BROWSER_FOLLOWERS} followers, {len(e2e)}/{b.get('e2e_expected')} seen)")
    relay_n = r["relay"].get(1) or next(iter(r["relay"].values()))
    print(f"   p50 {pct(e2e, 50):.1f} ms, p99 {pct(e2e, 99):.1f} ms  (relay alone p50 {pct(relay_n, 50):.2f} ms: "
          f"recording and replay add {pct(e2e, 50) - pct(relay_n, 50):.1f} ms at the median)")
    minutes = b["minutes"]
    raw = b["stream_raw"] / minutes
    dfl = b["stream_deflate"] / minutes
    res = b["resources"] / minutes
    share = SCREEN_SHARE_BPS / 8 * 60
    print(f"\n3. Bytes per participant-minute, scripted demo-shop session ({minutes * 60:.0f} s: 7 pages, pointer, "
          "scrolling, typing)")
    print(f"   DOM stream as JSON      {raw / 1e6:8.3f} MB/min")
    print(f"   as sent (deflate from {COMPRESS_MIN} B) {dfl / 1e6:7.3f} MB/min   ({share / dfl:.0f}x less than a 1 Mbit/s "
          f"screen share, {share / 1e6:.1f} MB/min; every message deflated: "
          f"{b.get('stream_deflate_all', 0) / minutes / 1e6:.3f} MB/min)")
    print(f"   mirror resources (cache) {res / 1e6:7.3f} MB/min   (images, CSS, fonts the follower's browser loads)")
    print(f"   total on the wire        {(dfl + res) / 1e6:7.3f} MB/min   ({share / (dfl + res):.1f}x less than the screen share)")
    mt, mb = r["mem_tandem"], r["mem_bare"]
    print(f"\n4. Server memory per idle participant ({IDLE_SOCKETS} idle session sockets)")
    print(f"   Tandem {mt / 1024:.1f} KiB, bare broadcast server {mb / 1024:.1f} KiB "
          f"({(mt / mb if mb > 0 else float('nan')):.1f}x)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sync", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--followers", default="1,10,50", help="follower counts for the relay latency")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with server logs")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--load", metavar="ROOMSxPARTICIPANTS", help="only the load run, e.g. 50x10 (500 participants "
                        "in 50 rooms; issue 12 asks for 10 minutes: --duration 600)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the load run (default 60)")
    parser.add_argument("--rate", type=float, default=LOAD_RATE, help="events a second per room in the load run")
    parser.add_argument("--profile", type=Path, metavar="OUT.prof",
                        help="load run: run the server under cProfile (CPU clock), stats written to OUT.prof")
    parser.add_argument("--json", type=Path, metavar="OUT.json", dest="json_out",
                        help="load run: also write the figures as JSON (p50/p99 in ms, without the histogram)")
    parser.add_argument("--stalls", type=Path, metavar="OUT.json",
                        help="load run: sample the server's main thread; what held the loop in each stall, to OUT.json")
    parser.add_argument("--fanout", metavar="SOCKETSxFRAMES", help="only the write path: FRAMES frames fanned out "
                        "to SOCKETS session sockets, CPU per delivery and the longest loop turn (e.g. 450x300)")
    parser.add_argument("--baseline", metavar="COMMIT", help="--fanout: also run the SocketEndpoint of COMMIT, first")
    parser.add_argument("--fanout-client", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fanout_client:
        url, n, count = args.fanout_client
        asyncio.run(fanout_client(url, int(n), int(count)))
        return
    if args.fanout:
        try:
            sockets, frames = (int(x) for x in args.fanout.lower().split("x"))
        except ValueError:
            parser.error("--fanout takes SOCKETSxFRAMES, e.g. 450x300")
        run_fanout(sockets, frames, args.baseline)
        return
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    if args.load:
        try:
            rooms, per_room = (int(x) for x in args.load.lower().split("x"))
        except ValueError:
            parser.error("--load takes ROOMSxPARTICIPANTS, e.g. 50x10")
        if not (1 <= rooms <= 1000 and 2 <= per_room <= 100) or not (1 <= args.duration <= 3600) or not 0 < args.rate <= 1000:
            parser.error("--load: 1-1000 rooms of 2-100 participants, --duration 1-3600 s, --rate up to 1000")
        try:
            result = run_load(rooms, per_room, args.duration, args.rate, keep=args.keep, profile=args.profile,
                              stalls=args.stalls)
            if args.json_out is not None:
                from .loadgen import hist_percentile

                hist = result.pop("latency_hist")
                result.update(p50_ms=hist_percentile(hist, 50), p99_ms=hist_percentile(hist, 99))
                args.json_out.write_text(json.dumps(result))
        except (RuntimeError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            sys.exit(f"bench.sync: {first}")
        return
    try:
        counts = tuple(int(x) for x in args.followers.split(",") if x.strip())
    except ValueError:
        parser.error("--followers takes numbers separated by commas, e.g. 1,10,50")
    if not counts or min(counts) < 1 or max(counts) > 500:
        parser.error("--followers: between 1 and 500 each")
    try:
        run(quick=args.quick, follower_counts=counts, keep=args.keep)
    except (RuntimeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        sys.exit(f"bench.sync: {first}")


if __name__ == "__main__":
    main()

"""``python -m bench.live``: what keeping live session state costs, and what it saves.

Measured in one run, each against a baseline from the same run:

1. One Set-Cookie response stored in a session's jar (and one Cookie header read):
   memory only (the old default, lost on restart) vs written through to SQLite (the
   default now) vs Redis (``--redis-url``; a throwaway ``redis-server`` on loopback).
2. Memory left per created-and-ended session (10,000 of them), and held per live session.
3. Replay buffer: bytes held per byte counted, frames keeping their parsed events (as
   before) vs text only (now).
4. Restart to resumed: a real ``tandem serve`` stopped with SIGTERM / SIGKILL and started
   again; seconds until the tab owner's next /account is answered signed in.

Flags: ``--quick`` (fewer samples).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from .procs import free_port

SHOP = "https://shop.example/"


def _store(path: Path):
    from tandem.store import Store

    return Store(path)


async def jar_costs(n: int) -> dict:
    from rewriter import labels
    from tandem.live import MemoryBackend

    tmp = Path(tempfile.mkdtemp())
    store = _store(tmp / "data")
    backends = {"memory only": MemoryBackend(None), "SQLite write-through": MemoryBackend(store)}
    redis_proc = None
    exe = shutil.which("redis-server")
    if exe:
        from tandem.live.redisstate import RedisBackend

        port = free_port()
        redis_proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                       "--dir", str(tmp)], stdout=subprocess.DEVNULL)
        await asyncio.sleep(0.3)
        backends["Redis"] = RedisBackend(f"redis://127.0.0.1:{port}/0", store.cipher)
    out = {}
    try:
        for name, backend in backends.items():
            sid = labels.new_sid(bytes(10))[:-4] + f"{len(out):04d}"
            await store.add_session(sid, SHOP, expires_at=time.time() + 3600)
            live = backend.open(sid)
            for i in range(20):  # a realistic jar: 20 cookies
                await live.jar.set_from_response(SHOP, [f"c{i}=v{i}; Path=/"])
            writes, reads = [], []
            for i in range(n):
                t = time.perf_counter()
                await live.jar.set_from_response(SHOP, [f"sess=value{i}; Path=/; HttpOnly"])
                writes.append(time.perf_counter() - t)
                t = time.perf_counter()
                await live.jar.cookie_header(SHOP + "account")
                reads.append(time.perf_counter() - t)
            out[name] = {"write_us_p50": statistics.median(writes) * 1e6, "read_us_p50": statistics.median(reads) * 1e6,
                         "write_us_p99": sorted(writes)[int(len(writes) * 0.99)] * 1e6}
            await backend.close()
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait()
        await store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


async def session_memory(n: int) -> dict:
    from proxy.sessions import SessionRegistry
    from rewriter.urls import ProxyBase

    tmp = Path(tempfile.mkdtemp())
    store = _store(tmp / "data")
    store.db.execute("PRAGMA synchronous=OFF")
    store.live_db.execute("PRAGMA synchronous=OFF")
    registry = SessionRegistry(store, ProxyBase("http", "tandem.localhost:8080"))
    for _ in range(50):
        s = await registry.create(SHOP)
        await s.jar.set_from_response(SHOP, ["a=1"])
        await registry.end(s.sid)
    await asyncio.sleep(0)
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for i in range(n):
        s = await registry.create(SHOP)
        await s.jar.set_from_response(SHOP, ["a=1"])
        await registry.end(s.sid)
        if i % 200 == 0:
            await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    gc.collect()
    ended, _ = tracemalloc.get_traced_memory()
    live = []
    for _ in range(min(n, 2000)):
        s = await registry.create(SHOP)
        await s.jar.set_from_response(SHOP, ["a=1"])
        live.append(s)
    gc.collect()
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    await store.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return {"ended_bytes_per_session": (ended - before) / n, "live_bytes_per_session": (held - ended) / len(live),
            "in_memory_after_ending": n and registry.in_memory() - len(live)}


def buffer_ratio(frames: int) -> dict:
    from sync.buffer import ReplayBuffer
    from sync.protocol import stream_frame

    def mutation(n):
        return {"type": 3, "timestamp": 1700000000000 + n, "data": {
            "source": 0, "texts": [], "removes": [],
            "attributes": [{"id": n, "attributes": {"class": f"item item-{n}", "style": "color: red"}}],
            "adds": [{"parentId": n, "nextId": None, "node": {"type": 2, "tagName": "div", "attributes": {"id": f"n{n}"},
                                                                "childNodes": [], "id": n + 1}}]}}

    texts = [json.dumps({"t": "ev", "e": [mutation(i * 10 + j) for j in range(10)]}) for i in range(frames)]
    out = {}
    for mode in ("parsed events kept (before)", "text only (now)"):
        gc.collect()
        tracemalloc.start()
        b = ReplayBuffer(soft_limit=1 << 40, hard_limit=1 << 40)
        b.add(stream_frame(1, [{"type": 4, "data": {"href": "h"}}], False), True)
        keep = []
        for i, text in enumerate(texts):
            events = json.loads(text)["e"]
            b.add(stream_frame(2 + i * 10, events, False), False)
            if mode.startswith("parsed"):
                keep.append(events)  # what a Frame used to hold beside its text
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out[mode] = held / b.bytes
        del keep, b
    return out


async def restart_to_resumed() -> dict:
    """Seconds from the signal to the tab owner's next /account answered signed in."""
    from urllib.parse import urlsplit

    from demosite import start_demo
    from tests.restart_helpers import NAVIGATE, TandemProcess, browser

    demo = await start_demo("127.0.0.1")
    tmp = Path(tempfile.mkdtemp())
    proc = TandemProcess(tmp / "data", allow=tuple(demo.hosts))
    out = {}
    try:
        await proc.start()
        async with browser() as owner:
            status, body = await proc.api(owner, "POST", "/sessions", json={"url": demo.shop + "/"})
            async with owner.get(body["leader_url"], headers=NAVIGATE) as r:
                proxied = "{0.scheme}://{0.netloc}".format(urlsplit(str(r.url)))
            async with owner.post(proxied + "/login", data={"username": "demo", "password": "demo123", "next": "/account"},
                                  headers={**NAVIGATE, "Sec-Fetch-Site": "same-origin", "Origin": proxied}) as r:
                assert r.status == 200
            for sig in (signal.SIGTERM, signal.SIGKILL):
                t = time.perf_counter()
                await proc.restart(sig)
                async with owner.get(proxied + "/account", headers=NAVIGATE, allow_redirects=False) as r:
                    assert r.status == 200, "signed out after the restart"
                out[signal.Signals(sig).name] = time.perf_counter() - t
    finally:
        proc.stop(signal.SIGTERM)
        await demo.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


async def run(quick: bool = False) -> dict:
    figures = {
        "jar": await jar_costs(200 if quick else 2000),
        "sessions": await session_memory(2000 if quick else 10_000),
        "buffer": buffer_ratio(300 if quick else 2000),
        "restart": await restart_to_resumed(),
    }
    jar = figures["jar"]
    base = jar["memory only"]["write_us_p50"]
    print("1. One Set-Cookie into a 20-cookie jar, p50 (p99) per write; Cookie header read p50")
    for name, f in jar.items():
        print(f"   {name:22s} write {f['write_us_p50']:8.0f} µs ({f['write_us_p99']:.0f})  x{f['write_us_p50'] / base:5.1f}"
              f"   read {f['read_us_p50']:6.0f} µs")
    s = figures["sessions"]
    print(f"2. Memory left per created-and-ended session: {s['ended_bytes_per_session']:.0f} B "
          f"(sessions still in memory: {s['in_memory_after_ending']}); held per live session: {s['live_bytes_per_session']:.0f} B")
    print("3. Replay buffer, bytes held per byte counted: " +
          ", ".join(f"{k} {v:.2f}x" for k, v in figures["buffer"].items()))
    print("4. Restart to resumed (signal → tab owner's /account answered signed in): " +
          ", ".join(f"{k} {v:.1f} s" for k, v in figures["restart"].items()))
    return figures


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.live", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    asyncio.run(run(quick=args.quick))


if __name__ == "__main__":
    main()

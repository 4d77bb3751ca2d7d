"""Decompression bombs through the proxy: time to refuse, and the longest event-loop stall meanwhile.

    .venv/bin/python -m bench.bombs

Issue 10 #11: a 421-byte brotli body expanding to 256 MB took 28 s of CPU and blocked the
loop for seconds. Prints, for each bomb and for a baseline (an ordinary 2 MB gzip page), the
wall time of the request and the longest gap a 5 ms ticker saw on the same loop (Tandem, the
upstream and the client share it, so the figure is an upper bound for Tandem's own slices).
"""

from __future__ import annotations

import asyncio
import gzip
import tempfile
import time
import zlib
from pathlib import Path

import brotli
from aiohttp import web

from tests.harness import serve_app, start_tandem

NAV = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Accept": "text/html"}
TICK = 0.005


def bodies() -> dict[str, tuple[bytes, str]]:
    zeros = b"<p>" + b"\0" * (256 * 1024 * 1024)
    page = b"<!doctype html><html><head></head><body>" + b"".join(
        b'<p><a href="/item/%d">item %d</a></p>' % (i, i) for i in range(60_000)) + b"</body></html>"
    return {
        "baseline 2 MB page, gzip": (gzip.compress(page), "gzip"),
        "br 256 MB bomb": (brotli.compress(zeros, quality=5), "br"),
        "gzip 256 MB bomb": (gzip.compress(zeros, 9), "gzip"),
        "deflate 256 MB bomb": (zlib.compress(zeros, 9), "deflate"),
        "gzip+br nested bomb": (brotli.compress(gzip.compress(zeros, 9)), "gzip, br"),
    }


async def main() -> None:
    app = web.Application()
    table = bodies()
    for i, (body, enc) in enumerate(table.values()):
        async def h(request, body=body, enc=enc):
            return web.Response(body=body, headers={"Content-Type": "text/html", "Content-Encoding": enc})
        app.router.add_get(f"/{i}", h)
    runner, origin = await serve_app(app)
    t = await start_tandem(Path(tempfile.mkdtemp()))
    s = await t.session(origin + "/0")
    baseline = None
    print(f"{'body':28} {'bytes':>9} {'status':>7} {'wall s':>8} {'max stall ms':>13} {'stall/baseline':>15}")
    for i, (name, (body, _)) in enumerate(table.items()):
        worst = 0.0
        done = False

        async def ticker():
            nonlocal worst
            last = time.perf_counter()
            while not done:
                await asyncio.sleep(TICK)
                now = time.perf_counter()
                worst = max(worst, now - last - TICK)
                last = now

        tick = asyncio.create_task(ticker())
        start = time.perf_counter()
        status = "cut"
        try:
            r = await t.client.get(s.url(f"{origin}/{i}"), headers=NAV)
            await r.read()
            status = str(r.status)
        except Exception:
            pass
        wall = time.perf_counter() - start
        done = True
        await tick
        baseline = baseline or worst
        print(f"{name:28} {len(body):>9} {status:>7} {wall:>8.2f} {worst * 1000:>13.1f} {worst / baseline:>15.2f}")
    await t.close()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())

"""Decompression bombs through the proxy: time to refuse, and the longest event-loop stall meanwhile.

    .venv/bin/python -m bench.bombs

Issue 10 #11: a 421-byte brotli body expanding to 256 MB took 28 s of CPU and blocked the
loop for seconds; the rule is that no decompression blocks the event loop for more than 50 ms.
Prints, for each bomb and for two baselines in the same run (an ordinary 2 MB page sent plain,
and the same page gzipped), the wall time of the request and two figures from a 5 ms ticker on
the same loop (Tandem, the upstream and the client share it, so both are upper bounds for
Tandem's own slices):

* ``max stall``: the longest wall-clock gap between ticks, as a user would feel it. On a loaded
  machine this includes time the OS gave other processes;
* ``max busy``: the most CPU time the loop's thread spent between two ticks (``thread_time``),
  i.e. the longest stretch of work without a turn for other tasks, whatever the load.

Each is also printed as a ratio to the plain page's figure.
"""

from __future__ import annotations

import asyncio
import gzip
import os
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
        "baseline 2 MB page, plain": (page, ""),
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
            headers = {"Content-Type": "text/html", **({"Content-Encoding": enc} if enc else {})}
            return web.Response(body=body, headers=headers)
        app.router.add_get(f"/{i}", h)
    runner, origin = await serve_app(app)
    t = await start_tandem(Path(tempfile.mkdtemp()))
    s = await t.session(origin + "/0")
    base_stall = base_busy = None
    print(f"{'body':28} {'bytes':>9} {'status':>7} {'wall s':>8} {'max stall ms':>13} {'x plain':>8} "
          f"{'max busy ms':>12} {'x plain':>8}")
    for i, (name, (body, _)) in enumerate(table.items()):
        stall = busy = 0.0
        done = False

        async def ticker():
            nonlocal stall, busy
            last, last_cpu = time.perf_counter(), time.thread_time()
            while not done:
                await asyncio.sleep(TICK)
                now, cpu = time.perf_counter(), time.thread_time()
                stall = max(stall, now - last - TICK)
                busy = max(busy, cpu - last_cpu)
                last, last_cpu = now, cpu

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
        base_stall, base_busy = base_stall or stall or 1e-6, base_busy or busy or 1e-6
        print(f"{name:28} {len(body):>9} {status:>7} {wall:>8.2f} {stall * 1000:>13.1f} {stall / base_stall:>8.2f} "
              f"{busy * 1000:>12.1f} {busy / base_busy:>8.2f}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    await t.close()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())

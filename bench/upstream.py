"""The upstream site the benchmark fetches, run in its own process.

``python -m bench.upstream --port P`` serves:

* ``/page.html``: the ~50 KB HTML page (text/html; Tandem rewrites it),
* ``/small.html``: the same page cut to ~2 KB (the per-request path outside the rewriter),
* ``/blob.bin``: 1 MB of bytes (application/octet-stream; Tandem streams it),
* ``/huge``: ``--huge-size`` bytes (default 1 GiB) generated on the fly, with Content-Length,
* ``/corpus/{i}.html``: with ``--corpus DIR``, the i-th saved page of DIR (sorted ``*.html``), as
  ``text/html`` without a charset (each page declares its own),
* ``/healthz``: readiness probe.

Bodies are built once at start so the upstream spends as little CPU as possible per request.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from aiohttp import web

from .pages import blob, html_page

HUGE_SIZE = 1024 ** 3  # the "1 GB body" for the memory-flatness check
HUGE_CHUNK = 256 * 1024  # bytes per write while generating /huge
SMALL_SIZE = 2 * 1024  # /small.html


def corpus_pages(directory: str | None) -> list[bytes]:
    """The saved pages of ``directory`` (sorted by name), or [] when there is none."""
    if not directory or not Path(directory).is_dir():
        return []
    return [p.read_bytes() for p in sorted(Path(directory).glob("*.html"))]


def make_app(origin: str, huge_size: int, corpus: list[bytes] | None = None) -> web.Application:
    page = html_page(origin)
    small = html_page(origin, SMALL_SIZE)
    pages = corpus or []
    data = blob()
    chunk = (data * (HUGE_CHUNK // len(data) + 1))[:HUGE_CHUNK]

    async def page_html(request: web.Request) -> web.Response:
        return web.Response(body=page, content_type="text/html", charset="utf-8")

    async def small_html(request: web.Request) -> web.Response:
        return web.Response(body=small, content_type="text/html", charset="utf-8")

    async def blob_bin(request: web.Request) -> web.Response:
        return web.Response(body=data, content_type="application/octet-stream")

    async def huge(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        resp.content_length = huge_size
        await resp.prepare(request)
        left = huge_size
        while left > 0:
            piece = chunk if left >= len(chunk) else chunk[:left]
            await resp.write(piece)
            left -= len(piece)
        await resp.write_eof()
        return resp

    async def corpus_page(request: web.Request) -> web.Response:
        i = request.match_info["i"]
        if not i.isdigit() or int(i) >= len(pages):
            raise web.HTTPNotFound()
        return web.Response(body=pages[int(i)], headers={"Content-Type": "text/html"})

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_get("/page.html", page_html)
    app.router.add_get("/small.html", small_html)
    app.router.add_get("/blob.bin", blob_bin)
    app.router.add_get("/huge", huge)
    app.router.add_get("/corpus/{i}.html", corpus_page)
    app.router.add_get("/healthz", healthz)
    return app


async def serve(app: web.Application, port: int) -> None:
    """Run ``app`` on 127.0.0.1:port until SIGTERM/SIGINT."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.upstream")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--huge-size", type=int, default=HUGE_SIZE)
    p.add_argument("--corpus", help="directory of saved pages served as /corpus/{i}.html")
    args = p.parse_args()
    app = make_app(f"http://127.0.0.1:{args.port}", args.huge_size, corpus_pages(args.corpus))
    asyncio.run(serve(app, args.port))


if __name__ == "__main__":
    main()

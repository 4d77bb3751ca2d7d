"""A bare aiohttp pass-through proxy: the baseline no real proxy can beat. Own process.

``python -m bench.passthrough --port P --upstream http://127.0.0.1:U`` forwards every
``GET`` path to the upstream with one pooled ClientSession and streams the body back
as it arrives (``iter_any``; ``--chunk-size N`` switches to ``iter_chunked(N)``), copying only Content-Type, Content-Length and
Content-Encoding (``--sock-read S`` adds a read timeout, for diagnosis). No routing, no credentials, no header policy, no cookies, no
rewriting.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import AsyncIterator

import aiohttp
from aiohttp import web

from .upstream import serve

COPIED = ("Content-Type", "Content-Length", "Content-Encoding")


def make_app(upstream: str, chunk_size: int = 0, sock_read: float | None = None) -> web.Application:
    app = web.Application()

    async def client_ctx(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=200, limit_per_host=64)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=sock_read) if sock_read else aiohttp.ClientTimeout()
        app["client"] = aiohttp.ClientSession(connector=connector, auto_decompress=False, timeout=timeout)
        yield
        await app["client"].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        client: aiohttp.ClientSession = request.app["client"]
        async with client.get(upstream + request.raw_path) as up:
            resp = web.StreamResponse(status=up.status, reason=up.reason)
            for name in COPIED:
                if name in up.headers:
                    resp.headers[name] = up.headers[name]
            await resp.prepare(request)
            chunks = up.content.iter_chunked(chunk_size) if chunk_size else up.content.iter_any()
            async for chunk in chunks:
                await resp.write(chunk)
            await resp.write_eof()
            return resp

    app.cleanup_ctx.append(client_ctx)
    app.router.add_get("/{tail:.*}", forward)
    return app


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.passthrough")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True, help="upstream origin, e.g. http://127.0.0.1:8001")
    p.add_argument("--chunk-size", type=int, default=0, help="stream with iter_chunked(N) instead of iter_any")
    p.add_argument("--sock-read", type=float, default=None, help="client sock_read timeout, as Tandem sets one")
    args = p.parse_args()
    asyncio.run(serve(make_app(args.upstream.rstrip("/"), args.chunk_size, args.sock_read), args.port))


if __name__ == "__main__":
    main()

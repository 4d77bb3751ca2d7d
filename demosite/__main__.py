"""`python -m demosite [--host H] [--port P]`: run the demo shop on its own.

The three origins use ports P, P+1 and P+2 (P = 0: three ephemeral ports).
"""

from __future__ import annotations

import argparse
import asyncio

from .server import start_demo


async def _run(host: str, port: int) -> None:
    ports = (port, port + 1, port + 2) if port else None
    site = await start_demo(host, ports)
    print(f"shop     {site.shop}/", flush=True)
    print(f"cdn      {site.cdn}/", flush=True)
    print(f"widgets  {site.widgets}/", flush=True)
    print("demo login: demo / demo123 · Ctrl-C stops", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await site.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demosite", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081,
                        help="shop port; cdn and widgets use the next two (0: ephemeral)")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_run(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

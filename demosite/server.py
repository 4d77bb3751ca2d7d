"""Starting and stopping the three demo origins.

Sockets are bound first (port 0 → an ephemeral port read back from the socket), so the
origins are known before the apps are built and every page can name them absolutely.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from aiohttp import web

from .cdn import create_cdn_app
from .origins import CDN_HOST, SHOP_HOST, WIDGETS_HOST, Origins
from .shop import create_shop_app
from .stats import RequestStats
from .widgets import create_widgets_app

# How long close() lets in-flight requests finish before dropping them: the demo only serves
# short requests, and tests should never wait long on teardown.
SHUTDOWN_TIMEOUT_S = 2.0


@dataclass
class DemoSite:
    shop: str
    cdn: str
    widgets: str
    hosts: list[str]
    stats: RequestStats
    _runners: list[web.AppRunner] = field(default_factory=list, repr=False)

    async def close(self) -> None:
        runners, self._runners = self._runners, []
        for runner in reversed(runners):
            await runner.cleanup()


def _bind(host: str, port: int) -> socket.socket:
    family, type_, proto, _, addr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, type_, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError:
        sock.close()
        raise
    return sock


async def start_demo(host: str = "127.0.0.1",
                     ports: tuple[int, int, int] | None = None) -> DemoSite:
    """Start shop, cdn and widgets on `host`; `ports` None → three ephemeral ports."""
    wanted = ports if ports is not None else (0, 0, 0)
    socks: list[socket.socket] = []
    try:
        for port in wanted:
            socks.append(_bind(host, port))
    except OSError:
        for sock in socks:
            sock.close()
        raise
    bound = [sock.getsockname()[1] for sock in socks]
    origins = Origins.for_ports(*bound)
    stats = RequestStats()
    site = DemoSite(shop=origins.shop, cdn=origins.cdn, widgets=origins.widgets,
                    hosts=[SHOP_HOST, CDN_HOST, WIDGETS_HOST], stats=stats)
    apps = (create_shop_app(origins, stats), create_cdn_app(origins, stats),
            create_widgets_app(origins, stats))
    try:
        for app, sock in zip(apps, socks):
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
            await runner.setup()
            site._runners.append(runner)
            await web.SockSite(runner, sock).start()
    except BaseException:
        await site.close()
        for sock in socks:
            sock.close()
        raise
    return site

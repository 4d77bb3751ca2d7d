"""A stand-in for a customer's own site with Tandem's snippet on it (``tandem serve --demo``, tests).

Served on its own origin, like a real site: the page loads ``BASE/tandem.js``.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

DEMO_PAGE = Path(__file__).resolve().parent / "demo.html"
DEMO_HOST = "site.localhost"  # put on the allowlist by --demo; Chromium resolves *.localhost to loopback


def demo_site_app(tandem_url: str) -> web.Application:
    html = DEMO_PAGE.read_text().replace("{{TANDEM}}", tandem_url)

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/help", index)
    return app

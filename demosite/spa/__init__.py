"""``/spa/``: the demo shop's single-page app (React), for co-browsing a real framework.

Sources beside this file (``app.jsx``, ``router.js``, ``About.jsx``, ``sw.js``) are built
by ``viewer/build.mjs`` into ``build/``: ``app.js`` (an ES module), the chunk ``import()``
loads, and the service worker. Every path under ``/spa/`` that is not an asset is the app
shell (client-side routes survive a reload); the service worker lives at ``/spa/sw.js``
so its scope can be ``/spa/``.
"""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path

from aiohttp import web

BUILD = Path(__file__).resolve().parent / "build"
ASSET_RE = re.compile(r"[A-Za-z0-9_-]+\.js")  # app.js, About-XXXX.js, chunk-XXXX.js
SHELL = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>App · Tandem Demo Shop</title>
<meta name="spa-config" content="{config}">
<link rel="stylesheet" href="{cdn}/css/site.css">
<style>
.spa-nav {{ display: flex; gap: 1rem; padding: .75rem 0; border-bottom: 1px solid #ddd; }}
.spa-grid {{ list-style: none; padding: 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 1rem; }}
.spa-card-link {{ display: flex; flex-direction: column; gap: .25rem; text-decoration: none; color: inherit; }}
.spa-name {{ font-weight: 600; }} .spa-route, .spa-sw {{ color: #555; font-size: .9rem; }}
</style></head>
<body><main class="wrap" id="main"><div id="root"><p>Loading the app…</p></div></main>
<noscript>This app needs JavaScript.</noscript>
<script type="module" src="/spa/assets/app.js"></script></body></html>
"""
NOT_BUILT = "/* the SPA is not built: run `make build` */"


async def shell(request: web.Request) -> web.Response:
    from ..origins import ORIGINS_KEY

    origins = request.app[ORIGINS_KEY]
    config = escape(json.dumps({"shop": origins.shop, "cdn": origins.cdn}), quote=True)
    return web.Response(text=SHELL.format(config=config, cdn=origins.cdn), content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-cache"})


def _script(path: Path, headers: dict[str, str] | None = None) -> web.Response:
    if not path.is_file():
        return web.Response(status=503, text=NOT_BUILT, content_type="text/javascript")
    return web.Response(body=path.read_bytes(), content_type="text/javascript", charset="utf-8",
                        headers={"Cache-Control": "no-cache", **(headers or {})})


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not ASSET_RE.fullmatch(name) or name == "sw.js":
        raise web.HTTPNotFound()
    return _script(BUILD / name)


async def service_worker(request: web.Request) -> web.Response:
    return _script(BUILD / "sw.js")


async def to_shell(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently("/spa/")


def setup(app: web.Application) -> None:
    app.router.add_get("/spa", to_shell)
    app.router.add_get("/spa/sw.js", service_worker)
    app.router.add_get("/spa/assets/{name}", asset)
    app.router.add_get("/spa/{tail:.*}", shell)

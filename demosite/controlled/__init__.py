"""``/controlled``: a React page with controlled inputs (text, textarea, select, checkbox, submit).

Co-browsing control must change a framework's state, not just the DOM: React keeps its own
copy of an input's value and ignores plain ``.value`` assignments. The bundle is built by
``viewer/build.mjs`` (React from npm) into ``build/app.js`` beside this file.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

BUNDLE = Path(__file__).resolve().parent / "build" / "app.js"
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Custom mug · Tandem Demo Shop</title><link rel="stylesheet" href="{cdn}/css/site.css"></head>
<body><main class="wrap narrow" id="main"><div id="root"></div></main>
<script src="/controlled.js"></script></body></html>
"""


async def page(request: web.Request) -> web.Response:
    from ..origins import ORIGINS_KEY

    html = PAGE.format(cdn=request.app[ORIGINS_KEY].cdn)
    return web.Response(text=html, content_type="text/html", charset="utf-8")


async def bundle(request: web.Request) -> web.Response:
    if not BUNDLE.is_file():
        return web.Response(status=503, text="/* run `make build` */", content_type="text/javascript")
    return web.Response(body=BUNDLE.read_bytes(), content_type="text/javascript", charset="utf-8",
                        headers={"Cache-Control": "no-cache"})


def setup(app: web.Application) -> None:
    app.router.add_get("/controlled", page)
    app.router.add_get("/controlled.js", bundle)

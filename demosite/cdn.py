"""The CDN origin (`cdn.localhost`): stylesheets and generated SVG images.

The CSS is filled in per request with the real CDN origin, so stylesheets hold absolute URLs
(`@import url("http://cdn.localhost:PORT/css/theme.css")`) that a proxy must rewrite.
"""

from __future__ import annotations

import re

from aiohttp import web

from . import art
from .catalog import get_product
from .origins import ORIGINS_KEY, Origins
from .stats import STATS_KEY, Handler, RequestStats
from .templates import render

# CDN assets never change while the demo runs; an hour lets a proxy's cache do its job.
CACHE_CONTROL = "public, max-age=3600"

_STYLESHEETS = {"site", "theme"}
_PRODUCT_RE = re.compile(r"^product-(\d+)(@2x)?$")


@web.middleware
async def _cdn_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if response.status < 400:
        response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


async def stylesheet(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _STYLESHEETS:
        raise web.HTTPNotFound()
    css = render(f"{name}.css", cdn=request.app[ORIGINS_KEY].cdn)
    return web.Response(text=css, content_type="text/css", charset="utf-8")


async def image(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    svg = art.STATIC_SVGS.get(name)
    if svg is None:
        m = _PRODUCT_RE.match(name)
        product = get_product(int(m.group(1))) if m else None
        if product is None:
            raise web.HTTPNotFound()
        svg = art.product_svg(product, scale=2 if m and m.group(2) else 1)
    return web.Response(text=svg, content_type="image/svg+xml", charset="utf-8")


def create_cdn_app(origins: Origins, stats: RequestStats) -> web.Application:
    app = web.Application(middlewares=[stats.middleware(origins.cdn), _cdn_headers])
    app[ORIGINS_KEY] = origins
    app[STATS_KEY] = stats
    app.router.add_get("/css/{name}.css", stylesheet)
    app.router.add_get("/img/{name}.svg", image)
    return app

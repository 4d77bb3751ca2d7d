"""The widgets origin (`widgets.localhost`): a small page embedded by the shop in an iframe."""

from __future__ import annotations

from aiohttp import web

from . import pages
from .origins import ORIGINS_KEY, Origins
from .stats import STATS_KEY, RequestStats


class Counter:
    def __init__(self) -> None:
        self.value = 0


COUNTER_KEY = web.AppKey("demosite_widget_counter", Counter)


async def widget(request: web.Request) -> web.Response:
    body = pages.widget(request.app[ORIGINS_KEY], request.app[COUNTER_KEY].value)
    return web.Response(text=body, content_type="text/html", charset="utf-8")


async def count(request: web.Request) -> web.Response:
    counter = request.app[COUNTER_KEY]
    if request.method == "POST":
        counter.value += 1
    return web.json_response({"count": counter.value})


def create_widgets_app(origins: Origins, stats: RequestStats) -> web.Application:
    app = web.Application(middlewares=[stats.middleware(origins.widgets)])
    app[ORIGINS_KEY] = origins
    app[STATS_KEY] = stats
    app[COUNTER_KEY] = Counter()
    app.router.add_get("/widget", widget)
    app.router.add_route("GET", "/api/count", count)
    app.router.add_route("POST", "/api/count", count)
    return app

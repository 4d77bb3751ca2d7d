"""Per-request counters shared by the three demo apps.

Tests use them to check what actually reached the origin, e.g. "exactly one POST /cart/add",
which is how we prove a proxy or a follower did not make the site act twice.
"""

from __future__ import annotations

from collections import Counter
from typing import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RequestStats:
    """Counts requests by (origin, method, path). Path excludes the query string."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, str]] = Counter()

    def record(self, origin: str, method: str, path: str) -> None:
        self._counts[(origin, method.upper(), path)] += 1

    def count(self, origin: str, method: str, path: str) -> int:
        return self._counts.get((origin, method.upper(), path), 0)

    def total(self) -> int:
        return sum(self._counts.values())

    def reset(self) -> None:
        self._counts.clear()

    def as_json(self) -> list[dict[str, object]]:
        return [
            {"origin": o, "method": m, "path": p, "count": n}
            for (o, m, p), n in sorted(self._counts.items())
        ]

    def middleware(self, origin: str) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
        """An aiohttp middleware recording every request that reaches the app serving `origin`.

        Requests are recorded before the handler runs, so ones that fail still count.
        """

        @web.middleware
        async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
            self.record(origin, request.method, request.path)
            return await handler(request)

        return count_requests


STATS_KEY = web.AppKey("demosite_stats", RequestStats)

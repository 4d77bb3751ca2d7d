"""Rate limits on the REST API (``/api/v1``) and ``GET /metrics``: per client address and per API key.

Two fixed-window quotas of requests per minute, both settings (``--api-rate-per-address``,
``--api-rate-per-key``; 0 turns one off):

* per address (:func:`tandem.ratelimit.client_address`, so behind a trusted TLS terminator the
  client's own address): every request counts, before the key is even looked at, so a flood of
  bad keys is limited as well as a good one;
* per key (a stored key's id, or ``admin-key`` for ``TANDEM_ADMIN_KEY``), counted once the key is
  known: caps what one integration (or one leaked key) does from all its addresses together.

Past either quota the answer is ``429 {"error": {"code": "rate_limited", ...}}`` with
``Retry-After``. Every answer on these paths carries the IETF draft's fields
(draft-ietf-httpapi-ratelimit-headers-06): ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset`` (seconds) of the quota nearest to running out, and ``RateLimit-Policy``
naming both quotas.

Counting goes through the app's :class:`tandem.ratelimit.RateBackend` (``hit(key, limit, window)
-> (allowed, remaining, reset)``): in process, or in Redis with ``--redis-url`` so every node counts
against the same quotas. A window starts at a key's first request and lasts a minute.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from tandem import appkeys
from tandem.ratelimit import client_address

from .routes import ApiError

WINDOW = 60  # seconds: the settings are requests per minute
LIMITED_PREFIXES = ("/api/v1/",)
LIMITED_PATHS = ("/metrics",)


@dataclass(frozen=True)
class Quota:
    name: str  # "address" | "key"
    limit: int
    remaining: int
    reset: int


STATE: web.RequestKey[list] = web.RequestKey("tandem.api.ratelimit", list)  # the quotas counted for this request


def _backend(app: web.Application):
    """Where the counts live: the app's rate backend (tandem.ratelimit: in process, or Redis with --redis-url)."""
    return app[appkeys.LIMITS].backend


def limited(request: web.BaseRequest) -> bool:
    return request.path.startswith(LIMITED_PREFIXES) or request.path in LIMITED_PATHS


async def _count(request: web.Request, name: str, subject: str, limit: int) -> None:
    if limit <= 0:
        return
    allowed, remaining, reset = await _backend(request.app).hit(f"api:{name}:{subject}", limit, WINDOW)
    quota = Quota(name, limit, remaining, reset)
    if STATE not in request:
        request[STATE] = []
    request[STATE].append(quota)
    if not allowed:
        per = "from this address" if name == "address" else "with this API key"
        raise ApiError(429, "rate_limited",
                       f"More than {limit} requests a minute {per}; try again in {reset} s.")


async def count_address(request: web.Request) -> None:
    await _count(request, "address", client_address(request), request.app[appkeys.SETTINGS].api_rate_per_address)


async def count_key(request: web.Request, key_name: str) -> None:
    """Count one request for an authenticated key (``key:<id>`` or ``admin-key``)."""
    await _count(request, "key", key_name, request.app[appkeys.SETTINGS].api_rate_per_key)


@web.middleware
async def middleware(request: web.Request, handler):
    if limited(request):
        await count_address(request)
    return await handler(request)


async def add_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """Every answer on a limited path says where the caller stands (also errors, 401 and 429)."""
    if not limited(request):
        return
    settings = request.app[appkeys.SETTINGS]
    policy = [f"{n};w={WINDOW};comment=\"per {what}\"" for n, what in
              ((settings.api_rate_per_address, "address"), (settings.api_rate_per_key, "key")) if n > 0]
    quotas = request.get(STATE) or []
    if not quotas:
        return
    tight = min(quotas, key=lambda q: (q.remaining, -q.reset))
    response.headers["RateLimit-Limit"] = str(tight.limit)
    response.headers["RateLimit-Remaining"] = str(tight.remaining)
    response.headers["RateLimit-Reset"] = str(tight.reset)
    response.headers["RateLimit-Policy"] = ", ".join(policy)
    if response.status == 429:  # wait for the (longest) spent quota to start again
        response.headers["Retry-After"] = str(max((q.reset for q in quotas if q.remaining == 0), default=tight.reset))


def setup(app: web.Application) -> None:
    app.middlewares.append(middleware)  # innermost: its 429 is rendered as JSON by viewer.routes.error_middleware
    app.on_response_prepare.append(add_headers)

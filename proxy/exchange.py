"""Stage 3 of the proxy pipeline: exchange. The upstream call, and nothing else.

Given the admission and the decision, :func:`open_exchange` rebuilds the request
headers (the session jar's cookies only when the decision says so), picks the way
out (the egress that may reach opened private networks only when ``private_ok``),
streams the request body up under its limit, and yields the upstream response with
its headers in. Every client failure becomes a clear :class:`~proxy.errors.ProxyError`.
Silence is bounded by the :class:`~proxy.watchdog.IdleWatchdog`, which the respond
stage keeps feeding while the body streams.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

import aiohttp
from aiohttp import web
from yarl import URL

from rewriter.cookies import RequestContext
from rewriter.headers import upstream_request_headers
from tandem import appkeys

from . import errors
from .admit import Admission
from .decide import FOLLOWER
from .decide import Decision
from .egress import EGRESS
from .upstream import PUBLIC_EGRESS, classify
from .watchdog import IdleWatchdog

log = logging.getLogger("tandem.proxy")


def request_context(request: web.Request, adm: Admission) -> RequestContext:
    """The cookie context (SameSite) of this request, from what the browser sent."""
    initiator = None
    if request.headers.get("Sec-Fetch-Site") != "none":
        for name in ("Origin", "Referer"):
            value = request.headers.get(name)
            if value and value != "null":
                initiator = adm.mapper.to_upstream(value)
                break
    return RequestContext.from_urls(adm.upstream_url, initiator, method=request.method, top_level_navigation=adm.top_level)


# Followers' loads are never conditional (the wall judges a full answer: a 304 says nothing of what it
# is), and never carry a method override a site framework would honour (a GET that acts as a POST).
FOLLOWER_DROP = frozenset({"if-none-match", "if-modified-since", "if-match", "if-unmodified-since",
                           "x-http-method-override", "x-http-method", "x-method-override"})


# The runtime's marker for a same-origin fetch() with credentials: 'omit' (viewer/runtime/network.js):
# the request carries the participant credential, which the proxy needs, but the site's cookies are
# neither sent upstream nor taken from the response, as the browser would do. It only narrows.
OMIT_HEADER = "X-Tandem-Credentials"


def omits_credentials(request: web.Request) -> bool:
    return request.headers.get(OMIT_HEADER, "").strip().lower() == "omit"


async def upstream_headers(request: web.Request, adm: Admission, decision: Decision,
                           ctx: RequestContext) -> list[tuple[str, str]]:
    use_jar = decision.use_jar and not omits_credentials(request)
    cookie = await adm.session.jar.cookie_header(adm.upstream_url, ctx) if use_jar else None
    items = request.headers.items()
    if adm.role == FOLLOWER:
        items = [(k, v) for k, v in items if k.lower() not in FOLLOWER_DROP]
    return upstream_request_headers(items, upstream=adm.target.origin,
                                    to_upstream=adm.mapper.to_upstream, cookie=cookie)


def egress_for(app: web.Application, decision: Decision):
    return app[EGRESS] if decision.private_ok else app[PUBLIC_EGRESS]


def _request_body(request: web.Request, limit: int, watchdog: IdleWatchdog | None = None):
    """None, or an async generator streaming the body up, refusing more than ``limit`` bytes."""
    length = request.content_length
    if length is not None and length > limit:
        raise errors.BodyTooLarge(f"The request body is {length} bytes; the limit is {limit}.")
    if not request.body_exists:
        return None

    async def stream():
        total = 0
        async for chunk in request.content.iter_any():
            if watchdog is not None:
                watchdog.progress()
            total += len(chunk)
            if total > limit:
                raise errors.BodyTooLarge(f"The request body exceeds the limit of {limit} bytes.")
            yield chunk

    return stream()


@functools.lru_cache(maxsize=8)  # one per setting, not one per request (attrs' frozen init is not cheap)
def _timeout(connect: float) -> aiohttp.ClientTimeout:
    # Silence is bounded by the watchdog, not sock_read (see proxy/watchdog.py for why).
    return aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=None)


@asynccontextmanager
async def open_exchange(request: web.Request, adm: Admission, decision: Decision, headers: list[tuple[str, str]],
                        watchdog: IdleWatchdog) -> AsyncIterator[aiohttp.ClientResponse]:
    settings = request.app[appkeys.SETTINGS]
    target = adm.target
    body = None if adm.role == FOLLOWER else _request_body(request, settings.max_request_body, watchdog)
    if body is not None and request.content_length is not None:
        headers.append(("Content-Length", str(request.content_length)))
    timeout = _timeout(settings.connect_timeout)
    route = egress_for(request.app, decision).route(target.origin.scheme, target.host, target.origin.port)
    try:
        up_cm = route.client.request(
            request.method, URL(adm.upstream_url, encoded=True), headers=headers, data=body,
            allow_redirects=False, timeout=timeout, **route.options,
        )
        up = await up_cm.__aenter__()
        watchdog.progress()
    except errors.ProxyError:
        raise
    except asyncio.CancelledError:
        if not watchdog.absorb():
            raise
        log.warning("upstream %s %s failed: timeout", request.method, target.origin)
        raise classify(asyncio.TimeoutError(), target.host, route.proxy) from None  # names the proxy, if any
    except Exception as exc:  # every client failure becomes a clear error
        if isinstance(getattr(exc, "__cause__", None), errors.ProxyError):
            raise exc.__cause__ from exc
        err = classify(exc, target.host, route.proxy)
        log.warning("upstream %s %s failed: %s (%s)", request.method, target.origin, err.code, type(exc).__name__)
        raise err from exc
    try:
        route.check_response(up.status)  # a 407 from the outbound proxy is Tandem's problem, not the page's
        yield up
    finally:
        if up.status < 200:  # a protocol switch nobody asked for: never reuse that connection
            up.close()
        await up_cm.__aexit__(None, None, None)

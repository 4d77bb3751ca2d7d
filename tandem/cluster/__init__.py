"""Several ``tandem serve`` nodes behind a balancer (``--redis-url``): rooms, their directory and the relay
between nodes (:mod:`tandem.cluster.relay` over :mod:`tandem.cluster.redis_transport`).

``cluster_relay`` is what :func:`viewer.session.make_relay` uses when Redis is configured;
one process without Redis keeps :class:`sync.relay.LocalRelay`, unchanged.
"""

from __future__ import annotations

import logging
import socket

from aiohttp import web

from tandem import appkeys, events

from .redis_transport import RedisTransport
from .relay import ClusterRelay

log = logging.getLogger("tandem.cluster")

__all__ = ["ClusterRelay", "RedisTransport", "cluster_relay"]


def cluster_relay(app: web.Application, make_room, facts_of, on_change=None) -> ClusterRelay:
    settings = app[appkeys.SETTINGS]
    sessions = app[appkeys.SESSIONS]
    # where this node serves: a process started there after this one died takes its rooms at once
    identity = f"{socket.gethostname()}/{settings.host}:{settings.port}"
    relay = ClusterRelay(make_room, facts_of, RedisTransport(settings.redis_url, identity=identity,
                                                       liveness=settings.cluster_liveness), on_change=on_change,
                         on_ended=sessions.forget, load=sessions.get,
                         on_event=lambda kind, sid: events.heard(app, kind, sid))
    app[events.ANNOUNCE] = relay.announce_event  # snippet event streams on every node wake within a second
    sessions.on_end = relay.end  # ended through this node (API, console): every node hears of it

    async def run(app: web.Application):
        await relay.start()
        log.info("cluster relay: node %d on %s", relay.node, settings.redis_url.split("@")[-1])
        yield
        await relay.stop()

    app.cleanup_ctx.append(run)
    # inside the error pages' middleware (it renders everything else), outside the rest (the API's
    # rate limits count in Redis too)
    names = [getattr(m, "__name__", "") for m in app.middlewares]
    at = names.index("error_middleware") + 1 if "error_middleware" in names else len(names)
    app.middlewares.insert(at, _refuse_when_cut_off(relay))
    return relay


OPEN_PATHS = ("/healthz", "/readyz", "/metrics")  # the balancer and the scraper must still get answers


def _refuse_when_cut_off(relay: ClusterRelay):
    """A node cut off from Redis refuses new sessions and joins (503, the reason said) rather than start
    something it cannot share; the balancer's /readyz check takes it out meanwhile. Proxied hosts are
    refused at admission (the directory does not answer: ``proxy.errors.NotReady``)."""

    from redis.exceptions import ConnectionError as RedisDown, TimeoutError as RedisSlow

    @web.middleware
    async def middleware(request: web.Request, handler):
        if relay.healthy or request.path in OPEN_PATHS or request.method in ("GET", "HEAD") and not request.path.startswith("/api/"):
            try:
                return await handler(request)
            except (RedisDown, RedisSlow) as exc:  # found out in the middle of the request
                log.warning("Redis does not answer (%s): %s %s refused", exc, request.method, request.path)
        message = "This Tandem node cannot reach Redis right now; try again in a moment."
        if request.path.startswith("/api/"):
            return web.json_response({"error": {"code": "not_ready", "message": message}}, status=503,
                                     headers={"Retry-After": "5"})
        from viewer.pages import error_page

        return error_page(503, "Tandem is not ready", message, code="not_ready")

    return middleware

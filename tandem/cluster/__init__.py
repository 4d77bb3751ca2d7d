"""Several ``tandem serve`` nodes behind a balancer (``--redis-url``): rooms, their directory and the relay
between nodes (:mod:`tandem.cluster.relay` over :mod:`tandem.cluster.redis_transport`).

``cluster_relay`` is what :func:`viewer.session.make_relay` uses when Redis is configured;
one process without Redis keeps :class:`sync.relay.LocalRelay`, unchanged.
"""

from __future__ import annotations

import logging

from aiohttp import web

from tandem import appkeys

from .redis_transport import RedisTransport
from .relay import ClusterRelay

log = logging.getLogger("tandem.cluster")

__all__ = ["ClusterRelay", "RedisTransport", "cluster_relay"]


def cluster_relay(app: web.Application, make_room, facts_of, on_change=None) -> ClusterRelay:
    settings = app[appkeys.SETTINGS]
    sessions = app[appkeys.SESSIONS]
    relay = ClusterRelay(make_room, facts_of, RedisTransport(settings.redis_url), on_change=on_change,
                         on_ended=sessions.forget)
    sessions.on_end = relay.end  # ended through this node (API, console): every node hears of it

    async def run(app: web.Application):
        await relay.start()
        log.info("cluster relay: node %d on %s", relay.node, settings.redis_url.split("@")[-1])
        yield
        await relay.stop()

    app.cleanup_ctx.append(run)
    return relay

"""Prometheus metrics: ``GET /metrics`` on the control plane, in the text exposition format.

Each app has its own :class:`prometheus_client.CollectorRegistry` (never the process-wide
default), so several apps in one process (tests, a demo) keep their own numbers.

Two kinds of numbers:

* counted where they happen, through the small functions below (``observe_rewrite``,
  ``upstream_error``, ``proxied``, ``webhook``): the proxy path calls them with its app and
  nothing else; an app without metrics (a bare test app) is simply not counted;
* read when scraped (:class:`_LiveCollector`): live sessions (the store), participants and
  relay lag (the relay of this node). Nothing to keep in step, nothing to forget.

Auth: ``Authorization: Bearer <key>`` with an API key that has the ``admin`` scope (the admin
key, or a stored key with that scope), or the separate ``TANDEM_METRICS_TOKEN`` a scraper can hold without API rights.
Answers 401 JSON ``{"error": {...}}`` otherwise.
"""

from __future__ import annotations

import functools
import hmac
import inspect
import time
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from tandem import appkeys, pauses

# Buckets: a page load through the proxy is tens of ms to seconds; a rewrite is µs to a second;
# a store call (SQLite, one process) is µs to ms, a networked one a few ms.
PAGE_LOAD_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
REWRITE_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
STORE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0)


class Metrics:
    """The collectors of one app, on the app's own registry."""

    def __init__(self, app: web.Application):
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.page_load = Histogram("tandem_page_load_seconds",
                                   "Time to serve a top-level page to the tab owner, first byte in to last byte out",
                                   buckets=PAGE_LOAD_BUCKETS, registry=r)
        self.rewrite = Histogram("tandem_rewrite_seconds", "Time spent rewriting one response, by kind",
                                 ["kind"], buckets=REWRITE_BUCKETS, registry=r)
        self.upstream_errors = Counter("tandem_upstream_errors", "Proxied requests that failed, by error code",
                                       ["code"], registry=r)
        self.bytes_in = Counter("tandem_proxy_bytes_in", "Body bytes received from upstream sites", registry=r)
        self.bytes_out = Counter("tandem_proxy_bytes_out", "Body bytes sent to browsers on proxied hosts", registry=r)
        self.proxied = Counter("tandem_proxied_requests", "Requests answered on proxied hosts, by status class",
                               ["status"], registry=r)
        self.store_latency = Histogram("tandem_store_seconds", "Time of one call into the metadata store, by operation",
                                       ["op"], buckets=STORE_BUCKETS, registry=r)
        self.live = _LiveCollector(app)
        r.register(self.live)
        self._children: dict[tuple[int, str], Any] = {}

    def child(self, metric, label: str):
        """``metric.labels(label)``, remembered (prometheus_client validates and locks on every
        ``labels()`` call; the request path asks a few times per request). Labels here come from
        small fixed sets: response kinds, error codes, status classes, store operations."""
        key = (id(metric), label)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(label)
        return found


METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
PAGE: web.RequestKey[bool] = web.RequestKey("tandem.metrics.page", bool)  # request key: the proxy marks a tab owner's top-level page, timed as a page load


class _LiveCollector(Collector):
    """Numbers read at scrape time from the parts that already hold them."""

    def __init__(self, app: web.Application):
        self.app = app
        self.live_sessions = 0  # read from the store by the endpoint just before the registry is encoded

    def collect(self):
        app = self.app
        live = self.live_sessions
        yield GaugeMetricFamily("tandem_live_sessions", "Sessions started and not ended (all nodes: from the store)", value=live)
        relay = app.get(appkeys.SYNC)
        rooms = getattr(relay, "rooms", {}) if relay is not None else {}
        present = sum(1 for room in rooms.values() for p in room.participants.values() if p.present and p.conns)
        yield GaugeMetricFamily("tandem_rooms", "Co-browsing rooms held by this node", value=len(rooms))
        yield GaugeMetricFamily("tandem_participants", "Participants connected to rooms on this node", value=present)
        lag = relay.lag(time.monotonic()) if relay is not None else 0.0
        yield GaugeMetricFamily("tandem_relay_lag_seconds",
                                "Age of the oldest frame still waiting to be sent to any connection on this node", value=lag)
        yield from _pause_metrics(app.get(pauses.PAUSES))
        hooks = app.get(appkeys.WEBHOOKS)
        if hooks is not None:
            yield CounterMetricFamily("tandem_webhook_deliveries", "Webhook deliveries answered 2xx", value=hooks.delivered)
            yield CounterMetricFamily("tandem_webhook_failures", "Webhook deliveries dropped after every retry failed",
                                      value=hooks.failed)
            yield CounterMetricFamily("tandem_webhook_attempts_failed", "Webhook attempts that failed (each retry counts)",
                                      value=hooks.attempts_failed)


def _pause_metrics(p: pauses.PauseMonitor | None):
    """Event-loop stalls and GC pauses of this process (tandem/pauses.py)."""
    if p is None:
        return
    yield GaugeMetricFamily("tandem_event_loop_lag_max_seconds", "Longest the event loop was late to wake a task since start",
                            value=p.lag_max)
    yield CounterMetricFamily("tandem_event_loop_stalls", f"Event-loop wake-ups later than {pauses.STALL:g} s",
                              value=p.stalls)
    yield CounterMetricFamily("tandem_event_loop_busy_stalls", f"Of those, the ones in which the loop's thread ran over "
                              f"{pauses.STALL:g} s of CPU time (its own work, not other processes')", value=p.busy_stalls)
    gcs = CounterMetricFamily("tandem_gc_collections", "Garbage collections by generation", labels=["generation"])
    for gen, n in enumerate(p.gc_counts):
        gcs.add_metric([str(gen)], n)
    yield gcs
    yield CounterMetricFamily("tandem_gc_pause_seconds", "Time spent in garbage collections", value=p.gc_seconds)
    yield GaugeMetricFamily("tandem_gc_pause_max_seconds", "Longest garbage collection since start", value=p.gc_max)


# -- hooks the request path calls ----------------------------------------------------------------------
def observe_rewrite(app: web.Application, kind: str, seconds: float) -> None:
    m = app.get(METRICS)
    if m is not None:
        m.child(m.rewrite, kind).observe(seconds)


def upstream_error(app: web.Application, code: str) -> None:
    m = app.get(METRICS)
    if m is not None:
        m.child(m.upstream_errors, code).inc()


def bytes_in(app: web.Application | None, n: int) -> None:
    m = app.get(METRICS) if app is not None else None
    if m is not None:
        m.bytes_in.inc(n)


def proxied(app: web.Application, resp: web.StreamResponse, seconds: float, *, page: bool) -> None:
    """One answer on a proxied host: status class, bytes out, and for a tab owner's page its load time."""
    m = app.get(METRICS)
    if m is None:
        return
    m.child(m.proxied, f"{resp.status // 100}xx").inc()
    m.bytes_out.inc(resp.body_length if resp.prepared else 0)
    if page:
        m.page_load.observe(seconds)


def instrument_store(store: Any, metrics: Metrics) -> None:
    """Time every public method of ``store`` (this instance only) into ``metrics.store_latency``.

    A store shared by several apps (tests) reports to each of them."""
    observers: list[Metrics] | None = getattr(store, "_metrics_observers", None)
    if observers is not None:
        observers.append(metrics)
        return
    observers = [metrics]
    store._metrics_observers = observers
    for name in dir(type(store)):
        if name.startswith("_") or name in ("close", "open", "db", "live_db"):
            continue
        attr = getattr(type(store), name, None)
        if not callable(attr) or isinstance(attr, type):
            continue
        method = getattr(store, name)

        def timed(method=method, name=name):
            if inspect.iscoroutinefunction(method):
                @functools.wraps(method)
                async def acall(*args, **kw):
                    start = time.perf_counter()
                    try:
                        return await method(*args, **kw)
                    finally:
                        took = time.perf_counter() - start
                        for m in observers:
                            m.child(m.store_latency, name).observe(took)
                return acall

            @functools.wraps(method)
            def call(*args, **kw):
                start = time.perf_counter()
                try:
                    return method(*args, **kw)
                finally:
                    took = time.perf_counter() - start
                    for m in observers:
                        m.child(m.store_latency, name).observe(took)
            return call

        setattr(store, name, timed())


# -- the endpoint ------------------------------------------------------------------------------------
async def _authorize(request: web.Request) -> None:
    from tandem.scopes import ADMIN
    from viewer.api import authorize  # the API's own check: its ApiError is rendered as JSON by the error middleware

    token = request.app[appkeys.SETTINGS].metrics_token
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and given.strip() and hmac.compare_digest(given.strip().encode(), token.encode()):
        return
    await authorize(request, ADMIN)  # an API key with the admin scope; else 401/403 with the API's JSON body


async def metrics_endpoint(request: web.Request) -> web.Response:
    await _authorize(request)
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))  # text format, or OpenMetrics if asked
    request.app[METRICS].live.live_sessions = await request.app[appkeys.STORE].count_sessions(state="live")
    body = encode(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    m = app[METRICS] = Metrics(app)
    instrument_store(app[appkeys.STORE], m)
    app.router.add_get("/metrics", metrics_endpoint)
    app.cleanup_ctx.append(pauses.running)  # event-loop stalls and GC pauses, read by the collector

"""App factory: one aiohttp application serving the control plane and every proxied host.

A middleware looks at ``Host`` first: ``LABEL.BASE`` goes to the proxy whatever
the path; anything else is the control plane's router.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

from aiohttp import web

from proxy import credentials
from proxy import handler as proxy_handler
from proxy.allowlist import Entry
from proxy.sessions import SessionRegistry
from proxy.upstream import upstream_ctx
from rewriter.urls import ProxyBase
from viewer import admin as admin_view
from viewer import api as api_view
from viewer import console as console_view
from viewer import join as join_view
from viewer import routes as viewer_routes
from viewer import session as session_view
from viewer import webhooks_admin
from viewer.snippet import routes as snippet_view

from . import appkeys, metrics, policy
from .events import Webhooks
from .live import open_backend
from .ratelimit import Limits, open_rates
from .retention import retention_ctx
from .tasks import periodic, tasks_ctx
from .settings import Settings
from .store import Store

log = logging.getLogger("tandem")

RUNTIME_PATH = Path(__file__).resolve().parents[1] / "viewer" / "static" / "build" / "runtime.js"
CONTROL_MAX_BODY = 1024 * 1024  # JSON and forms on the control plane; proxied bodies stream and have their own limit
MISSING_RUNTIME = b"/* Tandem runtime not built: run `make build` */\n"


async def expire_junk_cookies(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """Every answer asks the browser to drop cookies a page planted on BASE or a proxied host
    (see proxy/credentials.py): a planted cookie never accumulates into a cookie bomb."""
    for value in credentials.junk_expiry(request):
        response.headers.add("Set-Cookie", value)


@web.middleware
async def host_router(request: web.Request, handler):
    if request.app[appkeys.BASE].label_of_host(request.host) is not None:
        start = time.perf_counter()
        resp = await proxy_handler.handle(request)
        metrics.proxied(request.app, resp, time.perf_counter() - start, page=request.get(metrics.PAGE, False))
        return resp
    return await handler(request)


def load_runtime() -> bytes:
    if RUNTIME_PATH.exists():
        return RUNTIME_PATH.read_bytes()
    log.error("browser runtime missing at %s: run `make build`", RUNTIME_PATH)
    return MISSING_RUNTIME


async def _close(store: Store) -> None:
    await store.close()


async def readyz(request: web.Request) -> web.Response:
    """For a balancer: 200 when this node can serve sessions (the store and the live-state backend
    answer), else 503 with the reason, so it is taken out rather than answer wrongly."""
    app = request.app
    try:
        await app[appkeys.STORE].ping()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which part
        return web.json_response({"error": {"code": "not_ready", "message": f"store: {type(exc).__name__}"}}, status=503)
    backend = app[appkeys.SESSIONS].live_backend
    if not await backend.ready():
        return web.json_response({"error": {"code": "not_ready", "message": f"live state ({backend.name}) does not answer"}},
                                 status=503)
    relay = app.get(appkeys.SYNC)
    if relay is not None and not await relay.ready():
        return web.json_response({"error": {"code": "not_ready", "message": "relay between nodes (redis) does not answer"}},
                                 status=503)
    return web.json_response({"ready": True, "live_state": backend.name})


SWEEP_INTERVAL = 60.0  # seconds between evictions of sessions nobody uses (proxy.sessions.IDLE_EVICT)


async def sessions_ctx(app: web.Application):
    """Idle sessions leave memory now and then; the live-state backend is closed at the end."""
    sessions = app[appkeys.SESSIONS]

    async def sweep() -> None:
        relay = app.get(appkeys.SYNC)
        sessions.sweep(time.monotonic(), set(relay.active_sessions()) if relay is not None else set())

    app[appkeys.TASKS].spawn(periodic(SWEEP_INTERVAL, sweep, name="session-sweep"), name="session-sweep", daemon=True)
    yield
    await sessions.live_backend.close()
    await app[appkeys.LIMITS].backend.close()


def create_app(settings: Settings, *, store: Store | None = None, extra_allow: tuple[Entry, ...] = ()) -> web.Application:
    app = web.Application(middlewares=[policy.refresh_policy, host_router, viewer_routes.error_middleware, snippet_view.snippet_errors],
                          client_max_size=CONTROL_MAX_BODY)
    if store is None:  # PostgreSQL connects when the app starts (SQLite is ready now)
        store = Store(settings.data_dir, database_url=getattr(settings, "database_url", None))
        app.on_startup.append(lambda _app: store.open())
        app.on_cleanup.append(lambda _app: _close(store))
    base = ProxyBase(settings.public_scheme, settings.base_domain.lower())
    app[appkeys.SETTINGS] = settings
    app[appkeys.STORE] = store
    app[appkeys.BASE] = base
    app.router.register_resource(proxy_handler.ProxiedHosts(base))  # a proxied page's paths match it, not a miss (see there)
    app[appkeys.SESSIONS] = SessionRegistry(store, base, open_backend(settings.redis_url, store))
    extra = tuple(Entry(d) for d in settings.allow_domains) + tuple(extra_allow)
    policy.setup(app, store, extra)  # appkeys.ALLOWLIST and appkeys.MASKING: the admin policy, re-read when it changes
    runtime = load_runtime()
    app[appkeys.RUNTIME] = runtime
    app[appkeys.RUNTIME_VERSION] = hashlib.sha256(runtime).hexdigest()[:12]
    app.cleanup_ctx.append(upstream_ctx)
    app.on_response_prepare.append(expire_junk_cookies)
    app[appkeys.LIMITS] = Limits(open_rates(settings.redis_url))  # shared by every node with Redis
    app[appkeys.WEBHOOKS] = Webhooks()
    metrics.setup(app)  # GET /metrics (Prometheus), this app's own registry
    app.cleanup_ctx.append(tasks_ctx(appkeys.TASKS))
    app.cleanup_ctx.append(sessions_ctx)
    app.router.add_get("/readyz", readyz)
    app.cleanup_ctx.append(retention_ctx)
    api_view.setup(app)  # control plane: REST API, console, admin, customer join, snippet
    console_view.setup(app)
    admin_view.setup(app)
    webhooks_admin.setup(app)
    join_view.setup(app)
    snippet_view.setup(app)
    viewer_routes.setup(app)
    session_view.setup(app)  # co-browsing: rooms, session socket, session page, recorder
    return app

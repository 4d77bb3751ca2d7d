"""The retention job: a background task (cleanup_ctx) that ends expired sessions and purges old metadata.

Every ``RETENTION_INTERVAL`` seconds: live sessions past their ``expires_at`` are
ended (for everyone, as if an agent had ended them), then :meth:`Store.purge`
deletes metadata older than the retention period (admin setting, default 30 days)
in one transaction.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from tandem import appkeys, events
from tandem.tasks import periodic

log = logging.getLogger("tandem.retention")

RETENTION_INTERVAL = 3600.0  # hourly: retention is counted in days, an hour late is immaterial


async def run_once(app: web.Application, now: float | None = None) -> dict[str, int]:
    now = time.time() if now is None else now
    store, sessions = app[appkeys.STORE], app[appkeys.SESSIONS]
    expired = 0
    for row in await store.list_sessions(state="live", limit=10_000):
        if row.expires_at is not None and row.expires_at < now:
            session = await sessions.get(row.id)
            if session is not None and await sessions.end(row.id):
                await store.revoke_invites(row.id)
                await events.emit(app, "session.ended", session, actor="expiry")
                expired += 1
    counts = await store.purge(now)
    counts["expired_sessions"] = expired
    if any(counts.values()):
        log.info("retention: %s", ", ".join(f"{k}={v}" for k, v in counts.items() if v))
    return counts


async def retention_ctx(app: web.Application):
    async def job() -> None:
        await run_once(app)

    app[appkeys.TASKS].spawn(periodic(RETENTION_INTERVAL, job, name="retention"), name="retention", daemon=True)
    yield

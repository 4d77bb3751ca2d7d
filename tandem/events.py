"""Session events: one call records the audit event and queues the webhooks.

``emit(app, kind, session, actor=..., detail=...)`` never blocks and never raises
into the request that caused it: the audit row is one short insert; webhook
deliveries run as background tasks (:mod:`tandem.tasks`), retried with backoff.

Webhooks. A key created with a ``webhook_url`` hears about the sessions it
created; sessions created elsewhere (console, snippet) go to every key's hook.
Each delivery is ``POST`` JSON ``{"id", "type", "created_at", "data"}`` with
``Tandem-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``,
``Tandem-Event`` and ``Tandem-Delivery`` (the same id on every retry, so a
receiver can drop duplicates). Non-2xx answers and network failures are retried
after each delay in ``Webhooks.backoff``; then the delivery is dropped and logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import Mapping

import aiohttp
from aiohttp import web
from yarl import URL

from proxy.egress import EGRESS
from proxy.errors import ProxyError
from proxy.guard import AddressBlocked, check_host
from tandem import appkeys

log = logging.getLogger("tandem.events")

WEBHOOK_EVENTS = frozenset({"session.started", "session.ended", "participant.joined"})
WEBHOOK_BACKOFF = (1.0, 5.0, 30.0, 120.0, 600.0)  # seconds between attempts: ~13 minutes to ride out a receiver restart
WEBHOOK_TIMEOUT = 10.0  # seconds for one attempt; a receiver should answer at once and work later
MAX_PENDING_DELIVERIES = 1000  # past this, new deliveries are dropped (logged) rather than piling up in memory


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does (used by tests, documented in the README)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if "t" not in fields or "v1" not in fields or not fields["t"].isdigit():
        return False
    return hmac.compare_digest(sign(secret, int(fields["t"]), body), header)


class Webhooks:
    def __init__(self) -> None:
        self.backoff: tuple[float, ...] = WEBHOOK_BACKOFF
        self.timeout = WEBHOOK_TIMEOUT
        self.delivered = 0
        self.failed = 0
        self.attempts_failed = 0  # every failed attempt, retries included (tandem.metrics)

    async def deliver(self, client: aiohttp.ClientSession, url: str, secret: str, kind: str, body: bytes, delivery: str,
                      options: Mapping[str, object] | None = None) -> bool:
        for attempt in range(len(self.backoff) + 1):
            ts = int(time.time())
            headers = {"Content-Type": "application/json", "Tandem-Event": kind, "Tandem-Delivery": delivery,
                       "Tandem-Signature": sign(secret, ts, body), "User-Agent": "Tandem-Webhooks/1"}
            try:
                async with client.post(url, data=body, headers=headers, allow_redirects=False,
                                       timeout=aiohttp.ClientTimeout(total=self.timeout), **(options or {})) as resp:
                    await resp.read()
                    if 200 <= resp.status < 300:
                        self.delivered += 1
                        return True
                    reason = f"HTTP {resp.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                reason = type(exc).__name__
            self.attempts_failed += 1
            if attempt < len(self.backoff):
                log.info("webhook %s to %s failed (%s); retry %d in %.0fs", kind, url, reason, attempt + 1, self.backoff[attempt])
                await asyncio.sleep(self.backoff[attempt])
        self.failed += 1
        log.warning("webhook %s to %s dropped after %d attempts", kind, url, len(self.backoff) + 1)
        return False


def emit(app: web.Application, kind: str, session, *, actor: str = "", detail: dict | None = None) -> None:
    """Audit ``kind`` for ``session`` (a proxy Session or None) and queue its webhooks."""
    store = app[appkeys.STORE]
    sid = session.sid if session is not None else None
    store.audit(kind, session_id=sid, actor=actor, detail=detail)
    if kind not in WEBHOOK_EVENTS or session is None:
        return
    hooks = store.webhooks_for(session.key_id)
    if not hooks:
        return
    tasks = app[appkeys.TASKS]
    if len(tasks) >= MAX_PENDING_DELIVERIES:
        log.warning("webhook %s for %s dropped: %d deliveries pending", kind, sid, len(tasks))
        return
    data = {"session_id": sid, "agent_id": session.agent_id, "metadata": session.metadata, **(detail or {})}
    if actor:
        data["actor"] = actor
    for _key_id, url, secret in hooks:
        delivery = "dlv_" + secrets.token_urlsafe(12)
        body = json.dumps({"id": delivery, "type": kind, "created_at": time.time(), "data": data}, separators=(",", ":")).encode()
        try:  # the same way out as page fetches: direct, or through --upstream-proxy unless bypassed
            target = URL(url)
            # IP literals never reach the guarded resolver: the guard judges them here (and the
            # client session's literal_guard again on every attempt).
            check_host(target.raw_host or "", app[appkeys.SETTINGS].allow_private)
            route = app[EGRESS].route(target.scheme, target.host or "", target.port)
        except AddressBlocked:
            log.warning("webhook %s to %s not sent: a private or internal address", kind, url)
            continue
        except (ProxyError, ValueError) as exc:
            log.warning("webhook %s to %s not sent: %s", kind, url, getattr(exc, "message", exc))
            continue
        tasks.spawn(app[appkeys.WEBHOOKS].deliver(route.client, url, secret, kind, body, delivery, route.options),
                    name=f"webhook {kind} {sid}")

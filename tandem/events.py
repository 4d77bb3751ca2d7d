"""Session events: one call records the audit event and queues the webhooks.

``emit(app, kind, session, actor=..., detail=...)`` never blocks and never raises
into the request that caused it: the audit row is one short insert; webhook
deliveries run as background tasks (:mod:`tandem.tasks`), retried with backoff.

Webhooks. A key created with a ``webhook_url`` hears about the sessions it
created; sessions created elsewhere (console, snippet) go to every key's hook.
Each delivery is ``POST`` JSON ``{"id", "type", "created_at", "sequence", "data"}`` with
``Tandem-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``,
``Tandem-Event`` and ``Tandem-Delivery`` (the same id on every retry, so a
receiver can drop duplicates). Non-2xx answers and network failures are retried
after each delay in ``Webhooks.backoff``; then the delivery is dropped and logged.

``sequence`` counts the session's events (audit rows) from 1: monotonic per session, kept
across restarts (it is read back from the store), so a receiver can order and de-duplicate.

Every attempt lands in the delivery log (:class:`DeliveryLog`: status, latency, the body
encrypted so "send again" can repeat it). A hook whose every attempt has failed for
``Webhooks.failure_window`` (a day) is switched off; the admin pages say so and switch it on.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Mapping

import aiohttp
from aiohttp import web
from yarl import URL

from proxy.egress import EGRESS
from proxy.errors import ProxyError
from proxy.guard import AddressBlocked, check_host
from tandem import appkeys

log = logging.getLogger("tandem.events")

WEBHOOK_EVENTS = frozenset({"session.started", "session.ended", "participant.joined", "participant.left",
                            "control.changed", "leader.changed"})
FAILURE_WINDOW = 86400.0  # seconds of nothing but failed attempts before a hook is switched off
LOG_KEEP = 200  # delivery attempts kept per key (the body of each is metadata: bounded, encrypted)
WEBHOOK_BACKOFF = (1.0, 5.0, 30.0, 120.0, 600.0)  # seconds between attempts: ~13 minutes to ride out a receiver restart
WEBHOOK_TIMEOUT = 10.0  # seconds for one attempt; a receiver should answer at once and work later
LISTENERS = web.AppKey("event_listeners", list)  # fn(kind, session_id) told of every recorded event (snippet push),
# here or, with several nodes, on another node (``heard``)
ANNOUNCE = web.AppKey("event_announce", object)  # fn(kind, session_id): tells the other nodes (tandem.cluster sets it)
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


@dataclass(frozen=True)
class Attempt:
    id: int
    at: float
    key_id: int
    delivery: str
    kind: str
    session_id: str | None
    attempt: int
    status: int | None  # the receiver's HTTP status; None when no answer came
    latency_ms: float
    error: str


@dataclass(frozen=True)
class HookState:
    failing_since: float | None
    disabled_at: float | None


class DeliveryLog:
    """Attempts and on/off state of each key's hook, kept by the store (tables of their own)."""

    def __init__(self, store) -> None:
        self.store = store

    async def record(self, key_id: int, delivery: str, kind: str, session_id: str | None, attempt: int, status: int | None,
                     latency_ms: float, error: str, body: bytes) -> None:
        await self.store.webhook_record(key_id, delivery, kind, session_id, attempt, status, latency_ms, error, body, LOG_KEEP)

    async def attempts(self, key_id: int | None = None, limit: int = 50) -> list[Attempt]:
        return [Attempt(*r) for r in await self.store.webhook_attempts(key_id, limit)]

    async def body_of(self, attempt_id: int) -> tuple[Attempt, bytes] | None:
        found = await self.store.webhook_body(attempt_id)
        return (Attempt(*found[0]), found[1]) if found else None

    async def state(self, key_id: int) -> HookState:
        return HookState(*await self.store.webhook_state(key_id))

    async def succeeded(self, key_id: int) -> None:
        await self.store.webhook_succeeded(key_id)

    async def failed(self, key_id: int, now: float, window: float) -> bool:
        """Note a failed attempt; True when it switched the hook off (failing for ``window`` seconds)."""
        return await self.store.webhook_failed(key_id, now, window)

    async def enable(self, key_id: int) -> None:
        await self.store.webhook_enable(key_id)


class Webhooks:
    def __init__(self) -> None:
        self.backoff: tuple[float, ...] = WEBHOOK_BACKOFF
        self.timeout = WEBHOOK_TIMEOUT
        self.failure_window = FAILURE_WINDOW
        self.delivered = 0
        self.failed = 0
        self.attempts_failed = 0  # every failed attempt, retries included (tandem.metrics)
        self.log: DeliveryLog | None = None  # bound to the store on first use (log_for)
        self.order = asyncio.Lock()  # emit_soon: events from synchronous callers are written in order

    def log_for(self, store) -> DeliveryLog:
        if self.log is None or self.log.store is not store:
            self.log = DeliveryLog(store)
        return self.log

    async def deliver(self, client: aiohttp.ClientSession, url: str, secret: str, kind: str, body: bytes, delivery: str,
                      options: Mapping[str, object] | None = None, *, key_id: int | None = None,
                      session_id: str | None = None, retries: bool = True) -> bool:
        log_ = self.log if key_id is not None else None
        backoff = self.backoff if retries else ()
        for attempt in range(len(backoff) + 1):
            if log_ is not None and (await log_.state(key_id)).disabled_at is not None:
                log.info("webhook %s to %s not sent: the hook is switched off", kind, url)
                return False
            ts = int(time.time())
            headers = {"Content-Type": "application/json", "Tandem-Event": kind, "Tandem-Delivery": delivery,
                       "Tandem-Signature": sign(secret, ts, body), "User-Agent": "Tandem-Webhooks/1"}
            status: int | None = None
            start = time.monotonic()
            try:
                async with client.post(url, data=body, headers=headers, allow_redirects=False,
                                       timeout=aiohttp.ClientTimeout(total=self.timeout), **(options or {})) as resp:
                    await resp.read()
                    status = resp.status
                    reason = "" if 200 <= status < 300 else f"HTTP {status}"
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                reason = type(exc).__name__
            latency = (time.monotonic() - start) * 1000
            if log_ is not None:
                await log_.record(key_id, delivery, kind, session_id, attempt + 1, status, latency, reason, body)
            if not reason:
                self.delivered += 1
                if log_ is not None:
                    await log_.succeeded(key_id)
                return True
            self.attempts_failed += 1
            if log_ is not None and await log_.failed(key_id, time.time(), self.failure_window):
                log.warning("webhook of key %s switched off: every attempt failed for %.0f s", key_id, self.failure_window)
                # in the audit log too, beside the administrator's webhook.enabled that ends it
                await log_.store.audit("webhook.disabled", actor="tandem",
                                       detail={"key_id": key_id, "failing_for_s": round(self.failure_window)})
            if attempt < len(backoff):
                log.info("webhook %s to %s failed (%s); retry %d in %.0fs", kind, url, reason, attempt + 1, self.backoff[attempt])
                await asyncio.sleep(backoff[attempt])
        self.failed += 1
        log.warning("webhook %s to %s dropped after %d attempts", kind, url, len(backoff) + 1)
        return False


async def emit(app: web.Application, kind: str, session, *, actor: str = "", detail: dict | None = None) -> None:
    """Audit ``kind`` for ``session`` (a proxy Session or None) and queue its webhooks."""
    store = app[appkeys.STORE]
    sid = session.sid if session is not None else None
    sequence = await store.audit(kind, session_id=sid, actor=actor, detail=detail)  # the session's event count
    heard(app, kind, sid)
    announce = app.get(ANNOUNCE)
    if announce is not None:  # after the row is written: the other nodes read it when told
        announce(kind, sid)
    if kind not in WEBHOOK_EVENTS or session is None:
        return
    hooks = await store.webhooks_for(session.key_id)
    if not hooks:
        return
    webhooks = app[appkeys.WEBHOOKS]
    delivery_log = webhooks.log_for(store)
    hooks = [h for h in hooks if (await delivery_log.state(h[0])).disabled_at is None]
    if not hooks:
        return
    tasks = app[appkeys.TASKS]
    if len(tasks) >= MAX_PENDING_DELIVERIES:
        log.warning("webhook %s for %s dropped: %d deliveries pending", kind, sid, len(tasks))
        return
    data = {"session_id": sid, "agent_id": session.agent_id, "metadata": session.metadata, **(detail or {})}
    if actor:
        data["actor"] = actor
    for key_id, url, secret in hooks:
        delivery = "dlv_" + secrets.token_urlsafe(12)
        body = json.dumps({"id": delivery, "type": kind, "created_at": time.time(), "sequence": sequence, "data": data},
                          separators=(",", ":")).encode()
        send(app, key_id, url, secret, kind, body, delivery, sid)


def heard(app: web.Application, kind: str, sid: str | None) -> None:
    """Tell this node's listeners that ``kind`` was recorded for ``sid`` (here, or on another node)."""
    for listener in app.get(LISTENERS, ()):
        listener(kind, sid)


def emit_soon(app: web.Application, kind: str, session, *, actor: str = "", detail: dict | None = None) -> None:
    """``emit`` from synchronous code (the room's callbacks): a task, and the events of such calls
    are written in the order they were made."""
    order = app[appkeys.WEBHOOKS].order

    async def run() -> None:
        async with order:
            await emit(app, kind, session, actor=actor, detail=detail)

    app[appkeys.TASKS].spawn(run(), name=f"event {kind}")


def send(app: web.Application, key_id: int, url: str, secret: str, kind: str, body: bytes, delivery: str,
         sid: str | None, *, retries: bool = True) -> bool:
    """Queue one delivery (False: not sent, and logged why)."""
    try:  # the same way out as page fetches: direct, or through --upstream-proxy unless bypassed
        target = URL(url)
        # IP literals never reach the guarded resolver: the guard judges them here (and the
        # client session's literal_guard again on every attempt).
        check_host(target.raw_host or "", app[appkeys.SETTINGS].allow_private)
        route = app[EGRESS].route(target.scheme, target.host or "", target.port)
    except AddressBlocked:
        log.warning("webhook %s to %s not sent: a private or internal address", kind, url)
        return False
    except (ProxyError, ValueError) as exc:
        log.warning("webhook %s to %s not sent: %s", kind, url, getattr(exc, "message", exc))
        return False
    app[appkeys.TASKS].spawn(app[appkeys.WEBHOOKS].deliver(route.client, url, secret, kind, body, delivery, route.options,
                                                           key_id=key_id, session_id=sid, retries=retries),
                             name=f"webhook {kind} {sid}")
    return True


async def resend(app: web.Application, attempt_id: int) -> Attempt | None:
    """Send a logged delivery again (same id and body, a fresh signature; one attempt). None: no such
    attempt, or its key is revoked or has no hook now."""
    webhooks = app[appkeys.WEBHOOKS]
    store = app[appkeys.STORE]
    found = await webhooks.log_for(store).body_of(attempt_id)
    if found is None:
        return None
    attempt, body = found
    hook = next((h for h in await store.webhooks_for(attempt.key_id) if h[0] == attempt.key_id), None)
    if hook is None:
        return None
    return attempt if send(app, attempt.key_id, hook[1], hook[2], attempt.kind, body, attempt.delivery,
                           attempt.session_id, retries=False) else None

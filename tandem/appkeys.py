"""Typed application keys, declared in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import ClientSession, web

if TYPE_CHECKING:
    from proxy.allowlist import Allowlist
    from proxy.sessions import SessionRegistry
    from rewriter.urls import ProxyBase
    from tandem.settings import Settings
    from tandem.store import Store

SETTINGS: web.AppKey["Settings"] = web.AppKey("settings")
STORE: web.AppKey["Store"] = web.AppKey("store")
BASE: web.AppKey["ProxyBase"] = web.AppKey("base")
SESSIONS: web.AppKey["SessionRegistry"] = web.AppKey("sessions")
ALLOWLIST: web.AppKey["Allowlist"] = web.AppKey("allowlist")
UPSTREAM: web.AppKey[ClientSession] = web.AppKey("upstream")
RUNTIME: web.AppKey[bytes] = web.AppKey("runtime")
RUNTIME_VERSION: web.AppKey[str] = web.AppKey("runtime_version")

if TYPE_CHECKING:
    from sync.masking import MaskingPolicy
    from sync.relay import Relay

SYNC: web.AppKey["Relay"] = web.AppKey("sync_relay")  # co-browsing rooms
MASKING: web.AppKey["MaskingPolicy"] = web.AppKey("masking")  # per-domain masking selectors (admin setting)
RECORDER: web.AppKey[bytes] = web.AppKey("recorder")  # /__tandem/recorder.js
RECORDER_VERSION: web.AppKey[str] = web.AppKey("recorder_version")
RECORD: web.AppKey[bytes] = web.AppKey("record")  # /__tandem/record.js: the recording, loaded only while someone watches

if TYPE_CHECKING:
    from tandem.events import Webhooks
    from tandem.ratelimit import Limits
    from tandem.tasks import Tasks

TASKS: web.AppKey["Tasks"] = web.AppKey("tasks")
WEBHOOKS: web.AppKey["Webhooks"] = web.AppKey("webhooks")
LIMITS: web.AppKey["Limits"] = web.AppKey("limits")

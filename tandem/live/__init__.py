"""Live session state (jar, aliases, room facts): the interface and its backends. See base.py."""

from __future__ import annotations

from .base import MAX_ALIASES, LiveAliases, LiveBackend, LiveJar, RoomFacts, SessionLive
from .memory import MemoryBackend

__all__ = ["MAX_ALIASES", "LiveAliases", "LiveBackend", "LiveJar", "MemoryBackend", "RoomFacts", "SessionLive",
           "open_backend"]


def open_backend(redis_url: str | None, store) -> LiveBackend:
    """Redis when a URL is configured, else in process with the store keeping what a restart needs."""
    if redis_url:
        from .redisstate import RedisBackend

        return RedisBackend(redis_url, store.cipher)
    return MemoryBackend(store)

"""The in-process live state (the default): objects in memory, written through to the store.

Each change is one short SQLite transaction in the store's ``live_state`` table
(encrypted, the session id in the cipher's context) before the call that made it
returns: a SIGKILL loses nothing already answered. With no store (tests, tools)
it is memory only. ``open`` loads what was kept, so a restarted process — or a
session that left this process's memory — picks up where it was.

The tab owner's page (:class:`MemoryPage`) is an attribute read; it is written
through (beside the room facts, one read at ``open``) only when its host changes,
so a page load on the same site costs no write.
"""

from __future__ import annotations

import json
import time
from typing import Protocol

from rewriter.cookies import CookieJar
from rewriter.labels import Origin

from .base import MAX_ALIASES, MAX_FACTS_BYTES, LiveAliases, LiveBackend, LiveJar, OwnerPage, RoomFacts, SessionLive

JAR, ALIAS, FACTS, ONCE = "jar", "alias", "facts", "once"
ROOM, PAGE = "room", "page"  # the names kept under FACTS: the room's facts, the tab owner's page host
MAX_CLAIMS = 100_000  # claims remembered in memory: bounded even if they come faster than they expire


class KeptState(Protocol):
    """What the store offers (tandem.store.Store's live_* methods)."""

    def live_write(self, sid: str, kind: str, upserts: dict[str, str], removed=()) -> None: ...

    def live_read(self, sid: str, kind: str) -> dict[str, str]: ...

    def live_drop(self, sid: str) -> None: ...

    def live_claim(self, sid: str, kind: str, name: str, value: str) -> bool: ...


class MemoryJar(LiveJar):
    def __init__(self, sid: str, kept: KeptState | None):
        self._sid, self._kept = sid, kept
        self._jar = CookieJar()
        if kept is not None:
            self._jar.load(_records(kept.live_read(sid, JAR).values()))

    async def _open(self) -> CookieJar:
        return self._jar

    async def _commit(self, upserts: dict[str, dict], removed: list[str]) -> None:
        if self._kept is not None:
            self._kept.live_write(self._sid, JAR, {k: json.dumps(r, separators=(",", ":")) for k, r in upserts.items()},
                                  removed)


class MemoryAliases(LiveAliases):
    def __init__(self, sid: str, kept: KeptState | None):
        self._sid, self._kept = sid, kept
        self._map: dict[str, Origin] = {}
        if kept is not None:
            for alias, value in kept.live_read(sid, ALIAS).items():
                origin = _origin(value)
                if origin is not None:
                    self._map[alias] = origin

    def get(self, alias: str) -> Origin | None:
        return self._map.get(alias)

    def register(self, alias: str, origin: Origin) -> None:
        if alias in self._map or len(self._map) >= MAX_ALIASES:
            return
        self._map[alias] = origin
        if self._kept is not None:
            self._kept.live_write(self._sid, ALIAS, {alias: _origin_text(origin)})

    def __len__(self) -> int:
        return len(self._map)


class MemoryFacts(RoomFacts):
    def __init__(self, sid: str, kept: KeptState | None, rows: dict[str, str]):
        self._sid, self._kept = sid, kept
        self._facts: dict | None = _facts(rows.get(ROOM))

    def get(self) -> dict | None:
        return self._facts

    def put(self, facts: dict) -> None:
        text = json.dumps(facts, separators=(",", ":"), ensure_ascii=False)
        if len(text) > MAX_FACTS_BYTES:
            return  # keep the last facts that fit: a restart then restores a slightly older room
        self._facts = json.loads(text)
        if self._kept is not None:
            self._kept.live_write(self._sid, FACTS, {ROOM: text})


class MemoryPage(OwnerPage):
    def __init__(self, sid: str, kept: KeptState | None, rows: dict[str, str]):
        self._sid, self._kept = sid, kept
        self._host: str | None = rows.get(PAGE) or None

    def known(self) -> str | None:
        return self._host

    async def put(self, host: str) -> None:
        if host == self._host:
            return
        self._host = host
        if self._kept is not None:  # a restart judges by this page, not the start URL
            self._kept.live_write(self._sid, FACTS, {PAGE: host})


class MemoryBackend(LiveBackend):
    name = "memory"

    def __init__(self, kept: KeptState | None = None):
        self._kept = kept
        self._claims: dict[tuple[str, str], float] = {}  # (sid, key) -> until when it stays claimed

    def open(self, sid: str) -> SessionLive:
        rows = self._kept.live_read(sid, FACTS) if self._kept is not None else {}
        return SessionLive(sid, MemoryJar(sid, self._kept), MemoryAliases(sid, self._kept),
                           MemoryFacts(sid, self._kept, rows), MemoryPage(sid, self._kept, rows))

    async def drop(self, sid: str) -> None:
        self._claims = {k: t for k, t in self._claims.items() if k[0] != sid}
        if self._kept is not None:
            self._kept.live_drop(sid)

    async def claim_once(self, sid: str, key: str, ttl: int) -> bool:
        now = time.time()
        if len(self._claims) >= MAX_CLAIMS or len(self._claims) % 1024 == 0:
            self._claims = {k: t for k, t in self._claims.items() if t >= now}
            if len(self._claims) >= MAX_CLAIMS:  # a flood of live claims: refuse rather than forget one
                return False
        if self._claims.get((sid, key), 0.0) >= now:
            return False
        # the store decides across restarts (the row stays until the session's live state is dropped)
        if self._kept is not None and not self._kept.live_claim(sid, ONCE, key, str(int(now + ttl))):
            return False
        self._claims[(sid, key)] = now + ttl
        return True


# -- plain data in and out (shared with the Redis backend) ---------------------------------------
def _records(texts) -> list[dict]:
    out = []
    for text in texts:
        try:
            out.append(json.loads(text))
        except ValueError:
            continue  # a damaged record is one cookie lost, not a session
    return out


def _origin_text(origin: Origin) -> str:
    return json.dumps([origin.scheme, origin.host, origin.port])


def _origin(text: str | bytes | None) -> Origin | None:
    try:
        scheme, host, port = json.loads(text)
        return Origin(scheme, host, port)
    except (TypeError, ValueError):
        return None


def _facts(text: str | bytes | None) -> dict | None:
    if not text:
        return None
    try:
        facts = json.loads(text)
    except ValueError:
        return None
    return facts if isinstance(facts, dict) else None

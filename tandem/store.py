"""SQLite store: session metadata, API keys, allowlist. Never session content.

One connection, WAL mode, short synchronous statements (each well under a
millisecond on local disk), schema versioned with ordered migrations. Every write
is one transaction, so a crash never leaves a half-written record.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SECRET_BYTES = 32  # HMAC key for participant credentials and invite tokens
API_KEY_BYTES = 24  # 192 bits: a bearer secret that cannot be guessed

MIGRATIONS: list[str] = [
    """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        start_url TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'live',
        ended_at REAL
    );
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        revoked_at REAL
    );
    CREATE TABLE allowlist (
        pattern TEXT PRIMARY KEY,
        scope TEXT NOT NULL CHECK (scope IN ('navigation', 'all')),
        created_at REAL NOT NULL
    );
    """,
]


class StoreError(Exception):
    """A store operation that cannot be done as asked (bad value, duplicate)."""


@dataclass(frozen=True)
class SessionRow:
    id: str
    created_at: float
    start_url: str
    state: str
    ended_at: float | None


@dataclass(frozen=True)
class AllowEntry:
    pattern: str
    scope: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class Store:
    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.data_dir / "tandem.db", isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        for i, sql in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.db:
                self.db.execute("BEGIN")
                for statement in _statements(sql):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={i}")

    # -- server secret ---------------------------------------------------
    def secret(self) -> bytes:
        path = self.data_dir / "secret.key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(SECRET_BYTES))
        data = path.read_bytes()
        if len(data) != SECRET_BYTES:
            raise StoreError(f"{path} is damaged: expected {SECRET_BYTES} bytes")
        return data

    # -- sessions --------------------------------------------------------
    def add_session(self, sid: str, start_url: str) -> SessionRow:
        now = time.time()
        with self.db:
            self.db.execute("INSERT INTO sessions (id, created_at, start_url) VALUES (?, ?, ?)", (sid, now, start_url))
        return SessionRow(sid, now, start_url, "live", None)

    def get_session(self, sid: str) -> SessionRow | None:
        row = self.db.execute("SELECT id, created_at, start_url, state, ended_at FROM sessions WHERE id=?", (sid,)).fetchone()
        return SessionRow(*row) if row else None

    def end_session(self, sid: str) -> None:
        with self.db:
            self.db.execute("UPDATE sessions SET state='ended', ended_at=? WHERE id=? AND state='live'", (time.time(), sid))

    # -- API keys --------------------------------------------------------
    def has_api_keys(self) -> bool:
        return self.db.execute("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1").fetchone() is not None

    def create_api_key(self, name: str) -> str:
        key = "tdm_" + secrets.token_urlsafe(API_KEY_BYTES)
        with self.db:
            self.db.execute("INSERT INTO api_keys (name, key_hash, created_at) VALUES (?, ?, ?)", (name, hash_key(key), time.time()))
        return key

    def check_api_key(self, key: str) -> bool:
        digest = hash_key(key)
        rows = self.db.execute("SELECT key_hash FROM api_keys WHERE revoked_at IS NULL").fetchall()
        return any(hmac.compare_digest(digest, r[0]) for r in rows)

    # -- allowlist -------------------------------------------------------
    def allowlist(self) -> list[AllowEntry]:
        return [AllowEntry(p, s) for p, s in self.db.execute("SELECT pattern, scope FROM allowlist ORDER BY pattern")]

    def allow(self, pattern: str, scope: str = "navigation") -> AllowEntry:
        from proxy.allowlist import normalize_pattern  # validation lives beside the matching rules

        pattern = normalize_pattern(pattern)
        if scope not in ("navigation", "all"):
            raise StoreError(f"scope must be 'navigation' or 'all', not {scope!r}")
        with self.db:
            self.db.execute(
                "INSERT INTO allowlist (pattern, scope, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT(pattern) DO UPDATE SET scope=excluded.scope",
                (pattern, scope, time.time()),
            )
        return AllowEntry(pattern, scope)

    def disallow(self, pattern: str) -> bool:
        from proxy.allowlist import normalize_pattern

        with self.db:
            cur = self.db.execute("DELETE FROM allowlist WHERE pattern=?", (normalize_pattern(pattern),))
        return cur.rowcount > 0


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]

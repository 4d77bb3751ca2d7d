"""SQLite store: session metadata, agents, API keys, allowlist, masking, invites, PINs, audit.
Never session content.

One connection, WAL mode, short synchronous statements (each well under a
millisecond on local disk), schema versioned with ordered migrations. Every write
is one transaction, so a crash never leaves a half-written record.

What is encrypted at rest (AES-GCM, :mod:`tandem.crypto`): the start URL, the
session details (agent name, branding, permissions, caller metadata), participant
names, audit details and webhook secrets. What stays plain, because it is looked
up or filtered by: ids, states, times, the agent id, hashes of secrets.

Secrets are stored hashed: API keys (SHA-256: 192 random bits need no slow hash),
agent passwords (argon2id), console login tokens and PINs (keyed HMAC).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from . import crypto
from .scopes import DEFAULT_SCOPES, from_text as _scopes_from_text, to_text as _scopes_text

SECRET_BYTES = 32  # HMAC key for participant credentials and invite tokens
API_KEY_BYTES = 24  # 192 bits: a bearer secret that cannot be guessed
LOGIN_TOKEN_BYTES = 32  # console sign-in token in the agent cookie
WEBHOOK_SECRET_BYTES = 32  # HMAC key a webhook receiver checks signatures with
DEFAULT_RETENTION_DAYS = 30  # the design's default for metadata
MAX_RETENTION_DAYS = 3650  # ten years: past that an admin meant something else
MIN_RETENTION_DAYS = 1  # a purge must never race the sessions it is purging
PIN_DIGITS = 6
LIVE_BUSY_TIMEOUT_MS = 2000  # a CLI command (key rotation) may hold the database briefly; wait rather than lose a cookie
MAX_SELECTORS = 100  # masking selectors of each kind per pattern; each is checked on every DOM change by the recorder
AUDIT_PAGE = 200  # audit rows per page in the API and the admin page

# argon2id with OWASP's baseline (m=19 MiB, t=2, p=1): memory-hard against GPU guessing, ~50 ms per
# sign-in on one core. Parameters are stored in each hash, so raising them later needs no migration.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified when a user name is unknown, so a failed sign-in costs the same either way.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))

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
    """
    ALTER TABLE sessions ADD COLUMN agent_id TEXT;
    ALTER TABLE sessions ADD COLUMN key_id INTEGER;
    ALTER TABLE sessions ADD COLUMN visitor_id TEXT;
    ALTER TABLE sessions ADD COLUMN details TEXT;
    ALTER TABLE sessions ADD COLUMN expires_at REAL;
    CREATE INDEX sessions_by_state ON sessions (state, created_at);
    CREATE INDEX sessions_by_agent ON sessions (agent_id, state);
    CREATE INDEX sessions_by_visitor ON sessions (visitor_id, state);
    ALTER TABLE api_keys ADD COLUMN prefix TEXT NOT NULL DEFAULT '';
    ALTER TABLE api_keys ADD COLUMN webhook_url TEXT;
    ALTER TABLE api_keys ADD COLUMN webhook_secret TEXT;
    ALTER TABLE allowlist ADD COLUMN redirect TEXT;
    CREATE TABLE agents (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        is_admin INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        disabled_at REAL
    );
    CREATE TABLE logins (
        token_hash TEXT PRIMARY KEY,
        agent_id INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE TABLE masking (
        pattern TEXT PRIMARY KEY,
        selectors TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE config (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE invites (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        audience TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        single_use INTEGER NOT NULL DEFAULT 0,
        used_at REAL,
        revoked_at REAL
    );
    CREATE INDEX invites_by_session ON invites (session_id);
    CREATE TABLE pins (
        digest TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        uses_left INTEGER NOT NULL
    );
    CREATE INDEX pins_by_session ON pins (session_id);
    CREATE TABLE participants (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        pid TEXT NOT NULL,
        role TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT,
        joined_at REAL NOT NULL
    );
    CREATE INDEX participants_by_session ON participants (session_id);
    CREATE TABLE visitors (
        id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        origin TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_seen REAL NOT NULL
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        session_id TEXT,
        actor TEXT NOT NULL DEFAULT '',
        detail TEXT
    );
    CREATE INDEX audit_by_time ON audit (at);
    CREATE INDEX audit_by_session ON audit (session_id);
    """,
    """
    ALTER TABLE masking ADD COLUMN blocks TEXT NOT NULL DEFAULT '[]';
    """,
    # A live session's state that must survive a restart (cookie jar, label aliases, room facts):
    # encrypted, bound to the session (the key is in the cipher's context), gone when it ends.
    """
    CREATE TABLE live_state (
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (session_id, kind, name)
    ) WITHOUT ROWID;
    """,
    # API key scopes (tandem/scopes.py), space-separated. Keys made before keep what they could do:
    # all three. NULL reads as no scope at all (fail closed), so every INSERT names its scopes.
    """
    ALTER TABLE api_keys ADD COLUMN scopes TEXT;
    UPDATE api_keys SET scopes = 'sessions:read sessions:write admin';
    """,
]

# Where each encrypted column lives: (table, key column, value column). Key rotation walks these.
ENCRYPTED_COLUMNS = (
    ("sessions", "id", "start_url"),
    ("sessions", "id", "details"),
    ("participants", "id", "name"),
    ("audit", "id", "detail"),
    ("api_keys", "id", "webhook_secret"),
)


class StoreError(Exception):
    """A store operation that cannot be done as asked (bad value, duplicate)."""


@dataclass(frozen=True)
class SessionRow:
    id: str
    created_at: float
    start_url: str
    state: str
    ended_at: float | None
    agent_id: str | None = None
    key_id: int | None = None
    visitor_id: str | None = None
    expires_at: float | None = None
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AllowEntry:
    pattern: str
    scope: str
    redirect: str | None = None


@dataclass(frozen=True)
class Agent:
    id: int
    username: str
    name: str
    is_admin: bool
    created_at: float
    disabled_at: float | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    created_at: float
    revoked_at: float | None
    webhook_url: str | None
    scopes: tuple[str, ...] = ()  # tandem/scopes.py: what the key may do


@dataclass(frozen=True)
class Invite:
    id: str
    session_id: str
    role: str
    audience: str
    expires_at: float
    single_use: bool
    used_at: float | None
    revoked_at: float | None


@dataclass(frozen=True)
class Participant:
    pid: str
    role: str
    kind: str
    name: str
    joined_at: float


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: float
    kind: str
    session_id: str | None
    actor: str
    detail: dict


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists (pass None for an unknown user)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


class Store:
    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        keys, self.key_source = crypto.load_keys(self.data_dir)
        self.cipher = crypto.Cipher(keys)
        self.db = sqlite3.connect(self.data_dir / "tandem.db", isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        self._encrypt_plain_start_urls()
        # Live state is written on every Set-Cookie, so through its own connection with
        # synchronous=NORMAL: in WAL mode a commit is then in the OS's hands when it returns
        # (survives SIGKILL; a power cut may roll back the last moments) and costs ~0.3 ms
        # instead of an fsync (4-10 ms measured here). Metadata keeps FULL.
        self.live_db = sqlite3.connect(self.data_dir / "tandem.db", isolation_level=None, check_same_thread=False)
        self.live_db.execute("PRAGMA synchronous=NORMAL")
        self.live_db.execute("PRAGMA foreign_keys=ON")
        self.live_db.execute(f"PRAGMA busy_timeout={LIVE_BUSY_TIMEOUT_MS}")
        self._pin_key = hmac.new(self.secret(), b"pin", hashlib.sha256).digest()
        # Bumped on every allowlist write through this connection (PRAGMA data_version only sees other connections').
        self.allowlist_version = 0

    def close(self) -> None:
        self.live_db.close()
        self.db.close()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        for i, sql in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.db:
                self.db.execute("BEGIN")
                for statement in _statements(sql):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={i}")

    def _encrypt_plain_start_urls(self) -> None:
        """Rows written before encryption existed (schema 1) are encrypted once, in one transaction."""
        rows = self.db.execute("SELECT id, start_url FROM sessions WHERE start_url NOT LIKE 'v1.%'").fetchall()
        if rows:
            with self.db:
                for sid, url in rows:
                    self.db.execute("UPDATE sessions SET start_url=? WHERE id=?", (self._enc(url, "sessions.start_url", sid), sid))

    # -- encryption helpers ------------------------------------------------
    def _enc(self, value: str, column: str, key: object) -> str:
        return self.cipher.encrypt(value, f"{column}:{key}")

    def _dec(self, value: str | None, column: str, key: object) -> str | None:
        if value is None:
            return None
        return self.cipher.decrypt(value, f"{column}:{key}")

    def _enc_json(self, value: Any, column: str, key: object) -> str:
        return self._enc(json.dumps(value, separators=(",", ":")), column, key)

    def _dec_json(self, value: str | None, column: str, key: object) -> Any:
        text = self._dec(value, column, key)
        return json.loads(text) if text else {}

    def reencrypt_all(self) -> int:
        """Re-encrypt every value not under the current key; one transaction. Returns the count."""
        count = 0
        with self.db:
            self.db.execute("BEGIN")
            for table, key_col, col in ENCRYPTED_COLUMNS:
                rows = self.db.execute(f"SELECT {key_col}, {col} FROM {table} WHERE {col} IS NOT NULL").fetchall()
                for key, value in rows:
                    if self.cipher.needs_rotation(value):
                        ctx = f"{table}.{col}:{key}"
                        plain = self.cipher.decrypt(value, ctx)
                        self.db.execute(f"UPDATE {table} SET {col}=? WHERE {key_col}=?", (self.cipher.encrypt(plain, ctx), key))
                        count += 1
            for sid, kind, name, value in self.db.execute("SELECT session_id, kind, name, value FROM live_state").fetchall():
                if self.cipher.needs_rotation(value):
                    ctx = self._live_ctx(sid, kind, name)
                    self.db.execute("UPDATE live_state SET value=? WHERE session_id=? AND kind=? AND name=?",
                                    (self.cipher.encrypt(self.cipher.decrypt(value, ctx), ctx), sid, kind, name))
                    count += 1
        return count

    # -- server secret ---------------------------------------------------
    def secret(self) -> bytes:
        path = self.data_dir / "secret.key"
        if not path.exists():
            crypto.create_private_file(path, secrets.token_bytes(SECRET_BYTES))
        data = path.read_bytes()
        if len(data) != SECRET_BYTES:
            raise StoreError(f"{path} is damaged: expected {SECRET_BYTES} bytes")
        return data

    # -- config ------------------------------------------------------------
    def retention_days(self) -> int:
        row = self.db.execute("SELECT value FROM config WHERE name='retention_days'").fetchone()
        return int(row[0]) if row else DEFAULT_RETENTION_DAYS

    def set_retention_days(self, days: int) -> None:
        if not isinstance(days, int) or isinstance(days, bool) or not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
            raise StoreError(f"retention must be a whole number of days from {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS}")
        with self.db:
            self.db.execute("INSERT INTO config (name, value) VALUES ('retention_days', ?) "
                            "ON CONFLICT(name) DO UPDATE SET value=excluded.value", (str(days),))

    # -- sessions --------------------------------------------------------
    def add_session(self, sid: str, start_url: str, *, agent_id: str | None = None, key_id: int | None = None,
                    visitor_id: str | None = None, expires_at: float | None = None, details: dict | None = None) -> SessionRow:
        now = time.time()
        with self.db:
            self.db.execute(
                "INSERT INTO sessions (id, created_at, start_url, agent_id, key_id, visitor_id, expires_at, details) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (sid, now, self._enc(start_url, "sessions.start_url", sid), agent_id, key_id, visitor_id, expires_at,
                 self._enc_json(details or {}, "sessions.details", sid)),
            )
        return SessionRow(sid, now, start_url, "live", None, agent_id, key_id, visitor_id, expires_at, dict(details or {}))

    _SESSION_COLS = "id, created_at, start_url, state, ended_at, agent_id, key_id, visitor_id, expires_at, details"

    def _session_row(self, row) -> SessionRow:
        sid = row[0]
        return SessionRow(sid, row[1], self._dec(row[2], "sessions.start_url", sid), row[3], row[4], row[5], row[6], row[7],
                          row[8], self._dec_json(row[9], "sessions.details", sid))

    def get_session(self, sid: str) -> SessionRow | None:
        row = self.db.execute(f"SELECT {self._SESSION_COLS} FROM sessions WHERE id=?", (sid,)).fetchone()
        return self._session_row(row) if row else None

    def list_sessions(self, *, state: str | None = None, agent_id: str | None = None, visitor_id: str | None = None,
                      limit: int = 100, before: float | None = None) -> list[SessionRow]:
        where, args = [], []
        for col, value in (("state", state), ("agent_id", agent_id), ("visitor_id", visitor_id)):
            if value is not None:
                where.append(f"{col}=?")
                args.append(value)
        if before is not None:
            where.append("created_at<?")
            args.append(before)
        sql = f"SELECT {self._SESSION_COLS} FROM sessions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC LIMIT ?"
        return [self._session_row(r) for r in self.db.execute(sql, (*args, limit))]

    def update_session(self, sid: str, *, agent_id: str | None, details: dict) -> None:
        """Record who took a session over (an agent joining a snippet session) and its current details."""
        with self.db:
            self.db.execute("UPDATE sessions SET agent_id=?, details=? WHERE id=?",
                            (agent_id, self._enc_json(details, "sessions.details", sid), sid))

    def end_session(self, sid: str) -> bool:
        """Marks a live session ended; False when it was not live (already ended, or unknown)."""
        with self.db:
            cur = self.db.execute("UPDATE sessions SET state='ended', ended_at=? WHERE id=? AND state='live'", (time.time(), sid))
            self.db.execute("DELETE FROM pins WHERE session_id=?", (sid,))
            self.db.execute("DELETE FROM live_state WHERE session_id=?", (sid,))
        return cur.rowcount > 0

    # -- live state (the jar, aliases and room facts of a live session) ------
    @staticmethod
    def _live_ctx(sid: str, kind: str, name: str) -> str:
        return f"live_state.value:{sid}\x1f{kind}\x1f{name}"

    def live_write(self, sid: str, kind: str, upserts: dict[str, str], removed: Iterable[str] = ()) -> None:
        """Set and delete named values of one kind in one transaction (only for a session that is live)."""
        with self.live_db:
            self.live_db.execute("BEGIN")
            if self.live_db.execute("SELECT 1 FROM sessions WHERE id=? AND state='live'", (sid,)).fetchone() is None:
                return
            self.live_db.executemany("DELETE FROM live_state WHERE session_id=? AND kind=? AND name=?",
                                [(sid, kind, name) for name in removed])
            self.live_db.executemany(
                "INSERT INTO live_state (session_id, kind, name, value) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (session_id, kind, name) DO UPDATE SET value=excluded.value",
                [(sid, kind, name, self.cipher.encrypt(value, self._live_ctx(sid, kind, name)))
                 for name, value in upserts.items()])

    def live_read(self, sid: str, kind: str) -> dict[str, str]:
        """The named values of one kind; a value that does not decrypt (moved from another session,
        damaged) is left out: one lost cookie, not a session that fails on every request."""
        out = {}
        for name, value in self.live_db.execute("SELECT name, value FROM live_state WHERE session_id=? AND kind=?", (sid, kind)):
            try:
                out[name] = self.cipher.decrypt(value, self._live_ctx(sid, kind, name))
            except crypto.CryptoError:
                continue
        return out

    def live_claim(self, sid: str, kind: str, name: str, value: str) -> bool:
        """Keep ``name`` once: True when it was not kept yet (and the session is live), False otherwise."""
        with self.live_db:
            self.live_db.execute("BEGIN")
            if self.live_db.execute("SELECT 1 FROM sessions WHERE id=? AND state='live'", (sid,)).fetchone() is None:
                return False
            cur = self.live_db.execute(
                "INSERT INTO live_state (session_id, kind, name, value) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (session_id, kind, name) DO NOTHING",
                (sid, kind, name, self.cipher.encrypt(value, self._live_ctx(sid, kind, name))))
            return cur.rowcount == 1

    def live_drop(self, sid: str) -> None:
        with self.live_db:
            self.live_db.execute("DELETE FROM live_state WHERE session_id=?", (sid,))

    def live_sessions(self) -> list[str]:
        """Sessions with live state kept (tests, operators)."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT session_id FROM live_state")]

    # -- participants -------------------------------------------------------
    def add_participant(self, sid: str, pid: str, role: str, kind: str, name: str) -> None:
        with self.db:
            cur = self.db.execute("INSERT INTO participants (session_id, pid, role, kind, joined_at) VALUES (?, ?, ?, ?, ?)",
                                  (sid, pid, role, kind, time.time()))
            self.db.execute("UPDATE participants SET name=? WHERE id=?",
                            (self._enc(name, "participants.name", cur.lastrowid), cur.lastrowid))

    def participants(self, sid: str) -> list[Participant]:
        rows = self.db.execute("SELECT id, pid, role, kind, name, joined_at FROM participants WHERE session_id=? ORDER BY id", (sid,))
        return [Participant(pid, role, kind, self._dec(name, "participants.name", rid) or "", at) for rid, pid, role, kind, name, at in rows]

    # -- invites --------------------------------------------------------------
    def add_invite(self, invite_id: str, sid: str, role: str, audience: str, expires_at: float, single_use: bool) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO invites (id, session_id, role, audience, created_at, expires_at, single_use) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (invite_id, sid, role, audience, time.time(), expires_at, int(single_use)))

    def get_invite(self, invite_id: str) -> Invite | None:
        row = self.db.execute("SELECT id, session_id, role, audience, expires_at, single_use, used_at, revoked_at FROM invites WHERE id=?",
                              (invite_id,)).fetchone()
        return Invite(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7]) if row else None

    def current_invite(self, sid: str, role: str, audience: str) -> Invite | None:
        """The newest reusable invite of that kind still in force (the link the console shows)."""
        row = self.db.execute(
            "SELECT id, session_id, role, audience, expires_at, single_use, used_at, revoked_at FROM invites "
            "WHERE session_id=? AND role=? AND audience=? AND single_use=0 AND revoked_at IS NULL AND expires_at>=? "
            "ORDER BY created_at DESC LIMIT 1", (sid, role, audience, time.time())).fetchone()
        return Invite(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7]) if row else None

    def use_invite(self, invite_id: str) -> bool:
        """Marks an invite used; for single-use invites only the first call returns True."""
        now = time.time()
        with self.db:
            cur = self.db.execute(
                "UPDATE invites SET used_at=coalesce(used_at, ?) WHERE id=? AND revoked_at IS NULL AND expires_at>=? "
                "AND (single_use=0 OR used_at IS NULL)", (now, invite_id, now))
        return cur.rowcount > 0

    def revoke_invites(self, sid: str, invite_id: str | None = None) -> int:
        with self.db:
            if invite_id is None:
                cur = self.db.execute("UPDATE invites SET revoked_at=? WHERE session_id=? AND revoked_at IS NULL", (time.time(), sid))
            else:
                cur = self.db.execute("UPDATE invites SET revoked_at=? WHERE session_id=? AND id=? AND revoked_at IS NULL",
                                      (time.time(), sid, invite_id))
        return cur.rowcount

    # -- PINs -------------------------------------------------------------------
    def _pin_digest(self, pin: str) -> str:
        return hmac.new(self._pin_key, pin.encode("ascii"), hashlib.sha256).hexdigest()

    def new_pin(self, sid: str, role: str, ttl: float, uses: int) -> tuple[str, float]:
        """A fresh PIN for the session (replacing its previous one), unique among unexpired PINs."""
        now = time.time()
        with self.db:
            self.db.execute("DELETE FROM pins WHERE expires_at<? OR session_id=?", (now, sid))
            for _ in range(50):
                pin = f"{secrets.randbelow(10 ** PIN_DIGITS):0{PIN_DIGITS}d}"
                try:
                    self.db.execute("INSERT INTO pins (digest, session_id, role, created_at, expires_at, uses_left) VALUES (?, ?, ?, ?, ?, ?)",
                                    (self._pin_digest(pin), sid, role, now, now + ttl, uses))
                    return pin, now + ttl
                except sqlite3.IntegrityError:
                    continue
        raise StoreError("could not find a free PIN; too many live sessions")

    def redeem_pin(self, pin: str) -> tuple[str, str] | None:
        """(session id, role) for a live PIN, spending one of its uses; None otherwise."""
        if not (len(pin) == PIN_DIGITS and pin.isascii() and pin.isdigit()):
            return None
        digest = self._pin_digest(pin)
        now = time.time()
        with self.db:
            row = self.db.execute("SELECT session_id, role FROM pins WHERE digest=? AND expires_at>=? AND uses_left>0",
                                  (digest, now)).fetchone()
            if row is None:
                return None
            self.db.execute("UPDATE pins SET uses_left=uses_left-1 WHERE digest=?", (digest,))
        return row[0], row[1]

    def has_pin(self, sid: str) -> float | None:
        row = self.db.execute("SELECT expires_at FROM pins WHERE session_id=? AND expires_at>=? AND uses_left>0", (sid, time.time())).fetchone()
        return row[0] if row else None

    # -- agents -------------------------------------------------------------------
    _AGENT_COLS = "id, username, name, is_admin, created_at, disabled_at"

    @staticmethod
    def _agent(row) -> Agent:
        return Agent(row[0], row[1], row[2], bool(row[3]), row[4], row[5])

    def create_agent(self, username: str, name: str, password: str, *, is_admin: bool = False) -> Agent:
        username = username.strip().lower()
        if not username or len(username) > 64 or not all(c.isalnum() or c in "._-@" for c in username):
            raise StoreError("user name: 1–64 letters, digits or . _ - @")
        if not name.strip() or len(name) > 100:
            raise StoreError("name: 1–100 characters")
        check_password_rules(password)
        try:
            with self.db:
                cur = self.db.execute(
                    "INSERT INTO agents (username, name, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?, ?)",
                    (username, name.strip(), hash_password(password), int(is_admin), time.time()))
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"an agent named {username!r} already exists") from exc
        return self.get_agent(cur.lastrowid)

    def get_agent(self, agent_id: int) -> Agent | None:
        row = self.db.execute(f"SELECT {self._AGENT_COLS} FROM agents WHERE id=?", (agent_id,)).fetchone()
        return self._agent(row) if row else None

    def agent_by_username(self, username: str) -> Agent | None:
        row = self.db.execute(f"SELECT {self._AGENT_COLS} FROM agents WHERE username=?", (username.strip().lower(),)).fetchone()
        return self._agent(row) if row else None

    def password_hash(self, agent_id: int) -> str | None:
        row = self.db.execute("SELECT password_hash FROM agents WHERE id=? AND disabled_at IS NULL", (agent_id,)).fetchone()
        return row[0] if row else None

    def agents(self) -> list[Agent]:
        return [self._agent(r) for r in self.db.execute(f"SELECT {self._AGENT_COLS} FROM agents ORDER BY username")]

    def update_agent(self, agent_id: int, *, name: str | None = None, password: str | None = None,
                     is_admin: bool | None = None, disabled: bool | None = None) -> Agent:
        if self.get_agent(agent_id) is None:
            raise StoreError("no such agent")
        with self.db:
            if name is not None:
                if not name.strip() or len(name) > 100:
                    raise StoreError("name: 1–100 characters")
                self.db.execute("UPDATE agents SET name=? WHERE id=?", (name.strip(), agent_id))
            if password is not None:
                check_password_rules(password)
                self.db.execute("UPDATE agents SET password_hash=? WHERE id=?", (hash_password(password), agent_id))
                self.db.execute("DELETE FROM logins WHERE agent_id=?", (agent_id,))
            if is_admin is not None:
                self.db.execute("UPDATE agents SET is_admin=? WHERE id=?", (int(is_admin), agent_id))
            if disabled is not None:
                self.db.execute("UPDATE agents SET disabled_at=? WHERE id=?", (time.time() if disabled else None, agent_id))
                if disabled:
                    self.db.execute("DELETE FROM logins WHERE agent_id=?", (agent_id,))
        return self.get_agent(agent_id)

    def active_admins(self) -> int:
        return self.db.execute("SELECT count(*) FROM agents WHERE is_admin=1 AND disabled_at IS NULL").fetchone()[0]

    # -- console logins --------------------------------------------------------------
    def create_login(self, agent_id: int, ttl: float) -> str:
        token = secrets.token_urlsafe(LOGIN_TOKEN_BYTES)
        now = time.time()
        with self.db:
            self.db.execute("DELETE FROM logins WHERE expires_at<?", (now,))
            self.db.execute("INSERT INTO logins (token_hash, agent_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                            (hash_key(token), agent_id, now, now + ttl))
        return token

    def agent_for_login(self, token: str) -> Agent | None:
        row = self.db.execute(
            f"SELECT {', '.join('a.' + c.strip() for c in self._AGENT_COLS.split(','))} FROM logins l JOIN agents a ON a.id=l.agent_id "
            "WHERE l.token_hash=? AND l.expires_at>=? AND a.disabled_at IS NULL", (hash_key(token), time.time())).fetchone()
        return self._agent(row) if row else None

    def end_login(self, token: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM logins WHERE token_hash=?", (hash_key(token),))

    # -- API keys --------------------------------------------------------
    def has_api_keys(self) -> bool:
        return self.db.execute("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1").fetchone() is not None

    def create_api_key(self, name: str, *, webhook_url: str | None = None, scopes: Iterable[str] = DEFAULT_SCOPES) -> str:
        return self.create_api_key_full(name, webhook_url=webhook_url, scopes=scopes)[0]

    def create_api_key_full(self, name: str, *, webhook_url: str | None = None,
                            scopes: Iterable[str] = DEFAULT_SCOPES) -> tuple[str, ApiKey, str | None]:
        """(the key, shown once; its record; the webhook secret, shown once, or None).
        ``scopes``: tandem/scopes.py names (ScopeError, a ValueError, for others)."""
        scope_text = _scopes_text(scopes)
        key = "tdm_" + secrets.token_urlsafe(API_KEY_BYTES)
        hook_secret = "whsec_" + secrets.token_urlsafe(WEBHOOK_SECRET_BYTES) if webhook_url else None
        with self.db:
            cur = self.db.execute("INSERT INTO api_keys (name, key_hash, created_at, prefix, webhook_url, scopes) VALUES (?, ?, ?, ?, ?, ?)",
                                  (name, hash_key(key), time.time(), key[:8], webhook_url, scope_text))
            if hook_secret:
                self.db.execute("UPDATE api_keys SET webhook_secret=? WHERE id=?",
                                (self._enc(hook_secret, "api_keys.webhook_secret", cur.lastrowid), cur.lastrowid))
        return key, self.get_api_key(cur.lastrowid), hook_secret

    _KEY_COLS = "id, name, prefix, created_at, revoked_at, webhook_url, scopes"

    @staticmethod
    def _api_key(row) -> ApiKey:
        return ApiKey(*row[:-1], scopes=_scopes_from_text(row[-1]))

    def get_api_key(self, key_id: int) -> ApiKey | None:
        row = self.db.execute(f"SELECT {self._KEY_COLS} FROM api_keys WHERE id=?", (key_id,)).fetchone()
        return self._api_key(row) if row else None

    def api_keys(self) -> list[ApiKey]:
        return [self._api_key(r) for r in self.db.execute(f"SELECT {self._KEY_COLS} FROM api_keys ORDER BY id")]

    async def api_key_for(self, key: str) -> ApiKey | None:
        """The record (with its scopes) of a valid, unrevoked key, else None: what the API authenticates with."""
        digest = hash_key(key)
        row = self.db.execute(f"SELECT {self._KEY_COLS}, key_hash FROM api_keys WHERE key_hash=? AND revoked_at IS NULL",
                              (digest,)).fetchone()
        return self._api_key(row[:-1]) if row and hmac.compare_digest(digest, row[-1]) else None

    async def set_api_key_scopes(self, key_id: int, scopes: Iterable[str]) -> ApiKey | None:
        """Replace a live key's scopes; None when there is no live key with that id."""
        scope_text = _scopes_text(scopes)
        with self.db:
            cur = self.db.execute("UPDATE api_keys SET scopes=? WHERE id=? AND revoked_at IS NULL", (scope_text, key_id))
        return self.get_api_key(key_id) if cur.rowcount else None

    def check_api_key(self, key: str) -> int | None:
        """The key's id when it is valid and not revoked, else None."""
        digest = hash_key(key)
        row = self.db.execute("SELECT id, key_hash FROM api_keys WHERE key_hash=? AND revoked_at IS NULL", (digest,)).fetchone()
        return row[0] if row and hmac.compare_digest(digest, row[1]) else None

    def revoke_api_key(self, key_id: int) -> bool:
        with self.db:
            cur = self.db.execute("UPDATE api_keys SET revoked_at=? WHERE id=? AND revoked_at IS NULL", (time.time(), key_id))
        return cur.rowcount > 0

    def webhooks_for(self, key_id: int | None) -> list[tuple[int, str, str]]:
        """(key id, url, secret) to notify: the creating key's hook, or every hook when no key created it."""
        sql = "SELECT id, webhook_url, webhook_secret FROM api_keys WHERE revoked_at IS NULL AND webhook_url IS NOT NULL"
        args: tuple = ()
        if key_id is not None:
            sql += " AND id=?"
            args = (key_id,)
        return [(i, url, self._dec(sec, "api_keys.webhook_secret", i)) for i, url, sec in self.db.execute(sql, args)]

    # -- allowlist -------------------------------------------------------
    def allowlist(self) -> list[AllowEntry]:
        return [AllowEntry(p, s, r) for p, s, r in self.db.execute("SELECT pattern, scope, redirect FROM allowlist ORDER BY pattern")]

    def allow(self, pattern: str, scope: str = "navigation", redirect: str | None = None) -> AllowEntry:
        from proxy.allowlist import check_redirect, normalize_pattern  # validation lives beside the matching rules

        pattern = normalize_pattern(pattern)
        if scope not in ("navigation", "all"):
            raise StoreError(f"scope must be 'navigation' or 'all', not {scope!r}")
        if redirect:
            redirect = check_redirect(pattern, redirect)
        with self.db:
            self.db.execute(
                "INSERT INTO allowlist (pattern, scope, created_at, redirect) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(pattern) DO UPDATE SET scope=excluded.scope, redirect=excluded.redirect",
                (pattern, scope, time.time(), redirect or None),
            )
        self.allowlist_version += 1
        return AllowEntry(pattern, scope, redirect or None)

    def disallow(self, pattern: str) -> bool:
        from proxy.allowlist import normalize_pattern

        with self.db:
            cur = self.db.execute("DELETE FROM allowlist WHERE pattern=?", (normalize_pattern(pattern),))
        self.allowlist_version += 1
        return cur.rowcount > 0

    # -- masking -----------------------------------------------------------------
    def masking(self) -> dict[str, dict[str, list[str]]]:
        """``{pattern: {"mask": [...], "block": [...]}}``."""
        return {p: {"mask": json.loads(m), "block": json.loads(b)}
                for p, m, b in self.db.execute("SELECT pattern, selectors, blocks FROM masking ORDER BY pattern")}

    def set_masking(self, pattern: str, mask: Iterable[str], block: Iterable[str] = ()) -> tuple[list[str], list[str]]:
        """Store the selectors for a host pattern: ``mask`` (values shown as ``*``) and ``block`` (element
        replaced by a placeholder). Both empty removes the pattern. Selector rules are the recorder's."""
        from proxy.allowlist import normalize_pattern
        from sync.masking import MaskingError, check_selector

        pattern = normalize_pattern(pattern)

        def clean(items: Iterable[str]) -> list[str]:
            out: list[str] = []
            for item in items:
                if not item.strip():
                    continue
                try:
                    sel = check_selector(item)
                except MaskingError as exc:
                    raise StoreError(str(exc)) from exc
                if sel not in out:
                    out.append(sel)
            if len(out) > MAX_SELECTORS:
                raise StoreError(f"at most {MAX_SELECTORS} selectors of each kind per pattern")
            return out

        masks, blocks = clean(mask), clean(block)
        with self.db:
            if masks or blocks:
                self.db.execute("INSERT INTO masking (pattern, selectors, blocks, updated_at) VALUES (?, ?, ?, ?) "
                                "ON CONFLICT(pattern) DO UPDATE SET selectors=excluded.selectors, blocks=excluded.blocks, "
                                "updated_at=excluded.updated_at", (pattern, json.dumps(masks), json.dumps(blocks), time.time()))
            else:
                self.db.execute("DELETE FROM masking WHERE pattern=?", (pattern,))
        return masks, blocks

    def _selectors(self, host: str, column: str) -> list[str]:
        from proxy.allowlist import matches

        out: list[str] = []
        for pattern, selectors in self.db.execute(f"SELECT pattern, {column} FROM masking"):
            if matches(pattern, host):
                out.extend(s for s in json.loads(selectors) if s not in out)
        return out

    def mask_selectors(self, host: str) -> list[str]:
        """Admin-configured masking selectors for a page on ``host`` (every matching pattern, exact and wildcard).

        The recorder masks these on top of the built-in rules (passwords, ``autocomplete=cc-*``,
        ``[data-tandem-mask]``), which need no configuration.
        """
        return self._selectors(host, "selectors")

    def block_selectors(self, host: str) -> list[str]:
        """Admin-configured selectors whose elements are replaced by an empty placeholder on ``host``."""
        return self._selectors(host, "blocks")

    # -- visitors (embeddable snippet) ---------------------------------------------
    def add_visitor(self, visitor_id: str, secret: str, origin: str) -> None:
        now = time.time()
        with self.db:
            self.db.execute("INSERT INTO visitors (id, secret_hash, origin, created_at, last_seen) VALUES (?, ?, ?, ?, ?)",
                            (visitor_id, hash_key(secret), origin, now, now))

    def check_visitor(self, visitor_id: str, secret: str) -> bool:
        row = self.db.execute("SELECT secret_hash FROM visitors WHERE id=?", (visitor_id,)).fetchone()
        if row is None or not hmac.compare_digest(row[0], hash_key(secret)):
            return False
        with self.db:
            self.db.execute("UPDATE visitors SET last_seen=? WHERE id=?", (time.time(), visitor_id))
        return True

    def visitor_exists(self, visitor_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM visitors WHERE id=?", (visitor_id,)).fetchone() is not None

    # -- audit -----------------------------------------------------------------------
    def audit(self, kind: str, *, session_id: str | None = None, actor: str = "", detail: dict | None = None) -> None:
        """Record an audit event (session start/end, joins, control changes, allowlist edits …)."""
        with self.db:
            cur = self.db.execute("INSERT INTO audit (at, kind, session_id, actor) VALUES (?, ?, ?, ?)",
                                  (time.time(), kind, session_id, actor))
            if detail:
                self.db.execute("UPDATE audit SET detail=? WHERE id=?", (self._enc_json(detail, "audit.detail", cur.lastrowid), cur.lastrowid))

    def audit_events(self, *, session_id: str | None = None, kind: str | None = None, before_id: int | None = None,
                     limit: int = AUDIT_PAGE) -> list[AuditEvent]:
        where, args = [], []
        if session_id is not None:
            where.append("session_id=?")
            args.append(session_id)
        if kind is not None:
            where.append("kind=?")
            args.append(kind)
        if before_id is not None:
            where.append("id<?")
            args.append(before_id)
        sql = "SELECT id, at, kind, session_id, actor, detail FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        rows = self.db.execute(sql, (*args, min(limit, AUDIT_PAGE)))
        return [AuditEvent(i, at, k, s, a, self._dec_json(d, "audit.detail", i) if d else {}) for i, at, k, s, a, d in rows]

    # -- retention ---------------------------------------------------------------------
    def purge(self, now: float | None = None) -> dict[str, int]:
        """Delete metadata older than the retention period; one transaction. Returns counts per table."""
        now = time.time() if now is None else now
        cutoff = now - self.retention_days() * 86400
        with self.db:
            self.db.execute("BEGIN")
            counts = {
                "sessions": self.db.execute("DELETE FROM sessions WHERE coalesce(ended_at, created_at)<?", (cutoff,)).rowcount,
                "audit": self.db.execute("DELETE FROM audit WHERE at<?", (cutoff,)).rowcount,
                "visitors": self.db.execute("DELETE FROM visitors WHERE last_seen<?", (cutoff,)).rowcount,
                "logins": self.db.execute("DELETE FROM logins WHERE expires_at<?", (now,)).rowcount,
                "pins": self.db.execute("DELETE FROM pins WHERE expires_at<?", (now,)).rowcount,
                # a session nobody ended keeps its live state only until it expires
                "live_state": self.db.execute("DELETE FROM live_state WHERE session_id IN "
                                              "(SELECT id FROM sessions WHERE state!='live' OR expires_at<?)", (now,)).rowcount,
            }
        return counts


PASSWORD_MIN = 10  # NIST SP 800-63B asks for at least 8; a shared support tool gets a little more
PASSWORD_MAX = 256  # bounds the work a sign-in attempt can ask of the KDF


def check_password_rules(password: str) -> None:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise StoreError(f"password: {PASSWORD_MIN} to {PASSWORD_MAX} characters")


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]


class StoredMasking:
    """``appkeys.MASKING`` backed by the store: what the recorder is told to mask on each page.

    Same interface as :class:`sync.masking.MaskingPolicy` (the in-memory default), so the
    session layer reads admin settings without knowing where they live.
    """

    def __init__(self, store: Store):
        self.store = store

    def set(self, pattern: str, *, mask=(), block=()):
        from sync.masking import DomainRules, MaskingError, normalize_pattern

        try:
            masks, blocks = self.store.set_masking(pattern, mask, block)
        except StoreError as exc:
            raise MaskingError(str(exc)) from exc
        return DomainRules(normalize_pattern(pattern), tuple(masks), tuple(blocks))

    def remove(self, pattern: str) -> bool:
        had = pattern.strip().lower() in self.store.masking()
        self.store.set_masking(pattern, (), ())
        return had

    def all(self):
        from sync.masking import DomainRules

        return [DomainRules(p, tuple(r["mask"]), tuple(r["block"])) for p, r in self.store.masking().items()]

    def rules_for(self, host: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return tuple(self.store.mask_selectors(host)), tuple(self.store.block_selectors(host))

"""SQLite store: session metadata, agents, API keys, allowlist, masking, invites, PINs, audit.
Never session content.

An async interface over one of two databases (:mod:`tandem.storedb`): SQLite, the
default (one file in the data directory, WAL mode, statements well under a millisecond
run inline), or PostgreSQL (``--database-url``; several nodes share it). The schema is
the ordered SQL files in ``tandem/migrations``, run for either. Every write is one
transaction, so a crash never leaves a half-written record.

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
from .storedb import DatabaseError, SqliteDatabase, open_database
from .scopes import DEFAULT_SCOPES, from_text as _scopes_from_text, to_text as _scopes_text

SECRET_BYTES = 32  # HMAC key for participant credentials and invite tokens
API_KEY_BYTES = 24  # 192 bits: a bearer secret that cannot be guessed
LOGIN_TOKEN_BYTES = 32  # console sign-in token in the agent cookie
WEBHOOK_SECRET_BYTES = 32  # HMAC key a webhook receiver checks signatures with
DEFAULT_RETENTION_DAYS = 30  # the design's default for metadata
MAX_RETENTION_DAYS = 3650  # ten years: past that an admin meant something else
MIN_RETENTION_DAYS = 1  # a purge must never race the sessions it is purging
PIN_DIGITS = 6
MAX_SELECTORS = 100  # masking selectors of each kind per pattern; each is checked on every DOM change by the recorder
AUDIT_PAGE = 200  # audit rows per page in the API and the admin page

# argon2id with OWASP's baseline (m=19 MiB, t=2, p=1): memory-hard against GPU guessing, ~50 ms per
# sign-in on one core. Parameters are stored in each hash, so raising them later needs no migration.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified when a user name is unknown, so a failed sign-in costs the same either way.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))

# Where each encrypted column lives: (table, key column, value column). Key rotation walks these.
ENCRYPTED_COLUMNS = (
    ("sessions", "id", "start_url"),
    ("sessions", "id", "details"),
    ("participants", "id", "name"),
    ("audit", "id", "detail"),
    ("api_keys", "id", "webhook_secret"),
)  # and live_state.value, webhook_log.body (their contexts are not "table.column:key")


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
    """The store: one async interface over SQLite (the default) or PostgreSQL (``database_url``).

    SQLite is ready when constructed; PostgreSQL after ``await store.open()`` (or use
    :func:`open_store`, which does both). The live-state methods (``live_*``) are synchronous on
    purpose: tandem/live writes through to them before the call that made a change returns.
    """

    def __init__(self, data_dir: Path, *, database_url: str | None = None):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        keys, self.key_source = crypto.load_keys(self.data_dir)
        self.cipher = crypto.Cipher(keys)
        try:
            self.backend = open_database(self.data_dir, database_url)
        except DatabaseError as exc:
            raise StoreError(str(exc)) from exc
        if isinstance(self.backend, SqliteDatabase):
            self._encrypt_plain_start_urls(self.backend.conn)
        self._pin_key = hmac.new(self.secret(), b"pin", hashlib.sha256).digest()

    @property
    def dialect(self) -> str:
        return self.backend.dialect

    # SQLite's raw connections, for tests that inspect the file (never used by the application).
    @property
    def db(self) -> sqlite3.Connection:
        return self.backend.conn  # type: ignore[union-attr]

    @property
    def live_db(self) -> sqlite3.Connection:
        return self.backend.live_conn  # type: ignore[union-attr]

    async def open(self) -> "Store":
        """Connect and migrate (PostgreSQL; SQLite did it in the constructor). Idempotent."""
        try:
            await self.backend.open()
        except DatabaseError as exc:
            raise StoreError(str(exc)) from exc
        return self

    async def close(self) -> None:
        await self.backend.close()

    async def ping(self) -> None:
        """Raises when the database does not answer (readiness checks)."""
        await self.backend.ping()

    async def schema_version(self) -> int:
        return await self.backend.schema_version()

    def _encrypt_plain_start_urls(self, conn: sqlite3.Connection) -> None:
        """Rows written before encryption existed (SQLite schema 1) are encrypted once, in one transaction."""
        rows = conn.execute("SELECT id, start_url FROM sessions WHERE start_url NOT LIKE 'v1.%'").fetchall()
        if rows:
            with conn:
                for sid, url in rows:
                    conn.execute("UPDATE sessions SET start_url=? WHERE id=?", (self._enc(url, "sessions.start_url", sid), sid))

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

    async def reencrypt_all(self) -> int:
        """Re-encrypt every value not under the current key; one transaction. Returns the count."""
        count = 0
        async with self.backend.transaction() as tx:
            for table, key_col, col in ENCRYPTED_COLUMNS:
                rows = await tx.fetchall(f"SELECT {key_col}, {col} FROM {table} WHERE {col} IS NOT NULL")
                for key, value in rows:
                    if self.cipher.needs_rotation(value):
                        ctx = f"{table}.{col}:{key}"
                        plain = self.cipher.decrypt(value, ctx)
                        await tx.execute(f"UPDATE {table} SET {col}=? WHERE {key_col}=?", (self.cipher.encrypt(plain, ctx), key))
                        count += 1
            for sid, kind, name, value in await tx.fetchall("SELECT session_id, kind, name, value FROM live_state"):
                if self.cipher.needs_rotation(value):
                    ctx = self._live_ctx(sid, kind, name)
                    await tx.execute("UPDATE live_state SET value=? WHERE session_id=? AND kind=? AND name=?",
                                     (self.cipher.encrypt(self.cipher.decrypt(value, ctx), ctx), sid, kind, name))
                    count += 1
            for rid, delivery, value in await tx.fetchall("SELECT id, delivery, body FROM webhook_log"):
                if self.cipher.needs_rotation(value):
                    ctx = f"webhook_log.body:{delivery}"
                    await tx.execute("UPDATE webhook_log SET body=? WHERE id=?",
                                     (self.cipher.encrypt(self.cipher.decrypt(value, ctx), ctx), rid))
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
    async def retention_days(self) -> int:
        row = await self.backend.fetchone("SELECT value FROM config WHERE name='retention_days'")
        return int(row[0]) if row else DEFAULT_RETENTION_DAYS

    async def set_retention_days(self, days: int) -> None:
        if not isinstance(days, int) or isinstance(days, bool) or not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
            raise StoreError(f"retention must be a whole number of days from {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS}")
        await self.backend.execute("INSERT INTO config (name, value) VALUES ('retention_days', ?) "
                                   "ON CONFLICT(name) DO UPDATE SET value=excluded.value", (str(days),))

    # -- sessions --------------------------------------------------------
    async def add_session(self, sid: str, start_url: str, *, agent_id: str | None = None, key_id: int | None = None,
                          visitor_id: str | None = None, expires_at: float | None = None,
                          details: dict | None = None) -> SessionRow:
        now = time.time()
        await self.backend.execute(
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

    async def get_session(self, sid: str) -> SessionRow | None:
        row = await self.backend.fetchone(f"SELECT {self._SESSION_COLS} FROM sessions WHERE id=?", (sid,))
        return self._session_row(row) if row else None

    async def list_sessions(self, *, state: str | None = None, agent_id: str | None = None, visitor_id: str | None = None,
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
        return [self._session_row(r) for r in await self.backend.fetchall(sql, (*args, limit))]

    async def count_sessions(self, *, state: str | None = None) -> int:
        if state is None:
            row = await self.backend.fetchone("SELECT count(*) FROM sessions")
        else:
            row = await self.backend.fetchone("SELECT count(*) FROM sessions WHERE state=?", (state,))
        return row[0]

    async def update_session(self, sid: str, *, agent_id: str | None, details: dict) -> None:
        """Record who took a session over (an agent joining a snippet session) and its current details."""
        await self.backend.execute("UPDATE sessions SET agent_id=?, details=? WHERE id=?",
                                   (agent_id, self._enc_json(details, "sessions.details", sid), sid))

    async def end_session(self, sid: str) -> bool:
        """Marks a live session ended; False when it was not live (already ended, or unknown)."""
        async with self.backend.transaction() as tx:
            changed = await tx.execute("UPDATE sessions SET state='ended', ended_at=? WHERE id=? AND state='live'",
                                       (time.time(), sid))
            await tx.execute("DELETE FROM pins WHERE session_id=?", (sid,))
            await tx.execute("DELETE FROM live_state WHERE session_id=?", (sid,))
        return changed > 0

    # -- live state (the jar, aliases and room facts of a live session) ------
    # Synchronous: tandem/live writes through before the call that made a change returns.
    @staticmethod
    def _live_ctx(sid: str, kind: str, name: str) -> str:
        return f"live_state.value:{sid}\x1f{kind}\x1f{name}"

    # the session row is locked against a concurrent end (PostgreSQL; SQLite's writer lock does it)
    def _live_check(self) -> str:
        return "SELECT 1 FROM sessions WHERE id=? AND state='live'" + (" FOR SHARE" if self.dialect == "postgres" else "")

    def live_write(self, sid: str, kind: str, upserts: dict[str, str], removed: Iterable[str] = ()) -> None:
        """Set and delete named values of one kind in one transaction (only for a session that is live)."""
        with self.backend.live_transaction() as tx:
            if tx.fetchone(self._live_check(), (sid,)) is None:
                return
            for name in removed:
                tx.execute("DELETE FROM live_state WHERE session_id=? AND kind=? AND name=?", (sid, kind, name))
            for name, value in upserts.items():
                tx.execute("INSERT INTO live_state (session_id, kind, name, value) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT (session_id, kind, name) DO UPDATE SET value=excluded.value",
                           (sid, kind, name, self.cipher.encrypt(value, self._live_ctx(sid, kind, name))))

    def live_read(self, sid: str, kind: str) -> dict[str, str]:
        """The named values of one kind; a value that does not decrypt (moved from another session,
        damaged) is left out: one lost cookie, not a session that fails on every request."""
        out = {}
        for name, value in self.backend.live_fetchall("SELECT name, value FROM live_state WHERE session_id=? AND kind=?",
                                                      (sid, kind)):
            try:
                out[name] = self.cipher.decrypt(value, self._live_ctx(sid, kind, name))
            except crypto.CryptoError:
                continue
        return out

    def live_claim(self, sid: str, kind: str, name: str, value: str) -> bool:
        """Keep ``name`` once: True when it was not kept yet (and the session is live), False otherwise."""
        with self.backend.live_transaction() as tx:
            if tx.fetchone(self._live_check(), (sid,)) is None:
                return False
            inserted = tx.execute(
                "INSERT INTO live_state (session_id, kind, name, value) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (session_id, kind, name) DO NOTHING",
                (sid, kind, name, self.cipher.encrypt(value, self._live_ctx(sid, kind, name))))
            return inserted == 1

    def live_drop(self, sid: str) -> None:
        with self.backend.live_transaction() as tx:
            tx.execute("DELETE FROM live_state WHERE session_id=?", (sid,))

    def live_sessions(self) -> list[str]:
        """Sessions with live state kept (tests, operators)."""
        return [r[0] for r in self.backend.live_fetchall("SELECT DISTINCT session_id FROM live_state")]

    # -- participants -------------------------------------------------------
    async def add_participant(self, sid: str, pid: str, role: str, kind: str, name: str) -> None:
        async with self.backend.transaction() as tx:
            row = await tx.fetchone("INSERT INTO participants (session_id, pid, role, kind, joined_at) VALUES (?, ?, ?, ?, ?) "
                                    "RETURNING id", (sid, pid, role, kind, time.time()))
            await tx.execute("UPDATE participants SET name=? WHERE id=?", (self._enc(name, "participants.name", row[0]), row[0]))

    async def participants(self, sid: str) -> list[Participant]:
        rows = await self.backend.fetchall(
            "SELECT id, pid, role, kind, name, joined_at FROM participants WHERE session_id=? ORDER BY id", (sid,))
        return [Participant(pid, role, kind, self._dec(name, "participants.name", rid) or "", at)
                for rid, pid, role, kind, name, at in rows]

    # -- invites --------------------------------------------------------------
    _INVITE_COLS = "id, session_id, role, audience, expires_at, single_use, used_at, revoked_at"

    @staticmethod
    def _invite(row) -> Invite:
        return Invite(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7])

    async def add_invite(self, invite_id: str, sid: str, role: str, audience: str, expires_at: float, single_use: bool) -> None:
        await self.backend.execute(
            "INSERT INTO invites (id, session_id, role, audience, created_at, expires_at, single_use) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (invite_id, sid, role, audience, time.time(), expires_at, int(single_use)))

    async def get_invite(self, invite_id: str) -> Invite | None:
        row = await self.backend.fetchone(f"SELECT {self._INVITE_COLS} FROM invites WHERE id=?", (invite_id,))
        return self._invite(row) if row else None

    async def current_invite(self, sid: str, role: str, audience: str) -> Invite | None:
        """The newest reusable invite of that kind still in force (the link the console shows)."""
        row = await self.backend.fetchone(
            f"SELECT {self._INVITE_COLS} FROM invites "
            "WHERE session_id=? AND role=? AND audience=? AND single_use=0 AND revoked_at IS NULL AND expires_at>=? "
            "ORDER BY created_at DESC LIMIT 1", (sid, role, audience, time.time()))
        return self._invite(row) if row else None

    async def use_invite(self, invite_id: str) -> bool:
        """Marks an invite used; for single-use invites only the first call returns True."""
        now = time.time()
        changed = await self.backend.execute(
            "UPDATE invites SET used_at=coalesce(used_at, ?) WHERE id=? AND revoked_at IS NULL AND expires_at>=? "
            "AND (single_use=0 OR used_at IS NULL)", (now, invite_id, now))
        return changed > 0

    async def revoke_invites(self, sid: str, invite_id: str | None = None) -> int:
        if invite_id is None:
            return await self.backend.execute("UPDATE invites SET revoked_at=? WHERE session_id=? AND revoked_at IS NULL",
                                              (time.time(), sid))
        return await self.backend.execute("UPDATE invites SET revoked_at=? WHERE session_id=? AND id=? AND revoked_at IS NULL",
                                          (time.time(), sid, invite_id))

    # -- PINs -------------------------------------------------------------------
    def _pin_digest(self, pin: str) -> str:
        return hmac.new(self._pin_key, pin.encode("ascii"), hashlib.sha256).hexdigest()

    async def new_pin(self, sid: str, role: str, ttl: float, uses: int) -> tuple[str, float]:
        """A fresh PIN for the session (replacing its previous one), unique among unexpired PINs."""
        now = time.time()
        async with self.backend.transaction() as tx:
            await tx.execute("DELETE FROM pins WHERE expires_at<? OR session_id=?", (now, sid))
            for _ in range(50):
                pin = f"{secrets.randbelow(10 ** PIN_DIGITS):0{PIN_DIGITS}d}"
                added = await tx.execute(
                    "INSERT INTO pins (digest, session_id, role, created_at, expires_at, uses_left) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (digest) DO NOTHING", (self._pin_digest(pin), sid, role, now, now + ttl, uses))
                if added:
                    return pin, now + ttl
        raise StoreError("could not find a free PIN; too many live sessions")

    async def redeem_pin(self, pin: str) -> tuple[str, str] | None:
        """(session id, role) for a live PIN, spending one of its uses; None otherwise."""
        if not (len(pin) == PIN_DIGITS and pin.isascii() and pin.isdigit()):
            return None
        row = await self.backend.fetchone(
            "UPDATE pins SET uses_left=uses_left-1 WHERE digest=? AND expires_at>=? AND uses_left>0 RETURNING session_id, role",
            (self._pin_digest(pin), time.time()))
        return (row[0], row[1]) if row else None

    async def has_pin(self, sid: str) -> float | None:
        row = await self.backend.fetchone("SELECT expires_at FROM pins WHERE session_id=? AND expires_at>=? AND uses_left>0",
                                          (sid, time.time()))
        return row[0] if row else None

    async def revoke_pins(self, sid: str) -> int:
        """Forget the session's PIN (nobody can join with it any more)."""
        return await self.backend.execute("DELETE FROM pins WHERE session_id=?", (sid,))

    # -- agents -------------------------------------------------------------------
    _AGENT_COLS = "id, username, name, is_admin, created_at, disabled_at"

    @staticmethod
    def _agent(row) -> Agent:
        return Agent(row[0], row[1], row[2], bool(row[3]), row[4], row[5])

    async def create_agent(self, username: str, name: str, password: str, *, is_admin: bool = False) -> Agent:
        username = username.strip().lower()
        if not username or len(username) > 64 or not all(c.isalnum() or c in "._-@" for c in username):
            raise StoreError("user name: 1–64 letters, digits or . _ - @")
        if not name.strip() or len(name) > 100:
            raise StoreError("name: 1–100 characters")
        check_password_rules(password)
        row = await self.backend.fetchone(
            "INSERT INTO agents (username, name, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (username) DO NOTHING RETURNING id",
            (username, name.strip(), hash_password(password), int(is_admin), time.time()))
        if row is None:
            raise StoreError(f"an agent named {username!r} already exists")
        return await self.get_agent(row[0])

    async def get_agent(self, agent_id: int) -> Agent | None:
        row = await self.backend.fetchone(f"SELECT {self._AGENT_COLS} FROM agents WHERE id=?", (agent_id,))
        return self._agent(row) if row else None

    async def agent_by_username(self, username: str) -> Agent | None:
        row = await self.backend.fetchone(f"SELECT {self._AGENT_COLS} FROM agents WHERE username=?", (username.strip().lower(),))
        return self._agent(row) if row else None

    async def password_hash(self, agent_id: int) -> str | None:
        row = await self.backend.fetchone("SELECT password_hash FROM agents WHERE id=? AND disabled_at IS NULL", (agent_id,))
        return row[0] if row else None

    async def agents(self) -> list[Agent]:
        return [self._agent(r) for r in await self.backend.fetchall(f"SELECT {self._AGENT_COLS} FROM agents ORDER BY username")]

    async def update_agent(self, agent_id: int, *, name: str | None = None, password: str | None = None,
                           is_admin: bool | None = None, disabled: bool | None = None) -> Agent:
        if await self.get_agent(agent_id) is None:
            raise StoreError("no such agent")
        if name is not None and (not name.strip() or len(name) > 100):
            raise StoreError("name: 1–100 characters")
        if password is not None:
            check_password_rules(password)
        new_hash = hash_password(password) if password is not None else None  # slow: outside the transaction
        async with self.backend.transaction() as tx:
            if name is not None:
                await tx.execute("UPDATE agents SET name=? WHERE id=?", (name.strip(), agent_id))
            if new_hash is not None:
                await tx.execute("UPDATE agents SET password_hash=? WHERE id=?", (new_hash, agent_id))
                await tx.execute("DELETE FROM logins WHERE agent_id=?", (agent_id,))
            if is_admin is not None:
                await tx.execute("UPDATE agents SET is_admin=? WHERE id=?", (int(is_admin), agent_id))
            if disabled is not None:
                await tx.execute("UPDATE agents SET disabled_at=? WHERE id=?", (time.time() if disabled else None, agent_id))
                if disabled:
                    await tx.execute("DELETE FROM logins WHERE agent_id=?", (agent_id,))
        return await self.get_agent(agent_id)

    # -- single sign-on (viewer/sso.py) -------------------------------------------------
    async def agent_by_subject(self, subject: str) -> Agent | None:
        """The agent linked to this OpenID subject ("ISSUER SUB"), disabled or not."""
        row = await self.backend.fetchone(f"SELECT {self._AGENT_COLS} FROM agents WHERE oidc_subject=?", (subject,))
        return self._agent(row) if row else None

    async def create_sso_agent(self, username: str, name: str, subject: str, *, is_admin: bool = False) -> Agent:
        """A just-in-time agent for an OpenID subject, with no usable password (``!sso`` is no argon2
        hash). ``username`` already fits the rules (viewer/sso.py picks a free one); StoreError if taken."""
        row = await self.backend.fetchone(
            "INSERT INTO agents (username, name, password_hash, is_admin, created_at, oidc_subject) "
            "VALUES (?, ?, '!sso', ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            (username, name.strip()[:100] or username, int(is_admin), time.time(), subject))
        if row is None:
            raise StoreError(f"an agent named {username!r} (or for this subject) already exists")
        return await self.get_agent(row[0])

    async def local_passwords(self) -> bool:
        """The administrator's choice: may agents sign in with a password? (yes until switched off)"""
        row = await self.backend.fetchone("SELECT value FROM config WHERE name='local_passwords'")
        return row is None or row[0] != "off"

    async def set_local_passwords(self, allowed: bool) -> None:
        await self.backend.execute("INSERT INTO config (name, value) VALUES ('local_passwords', ?) "
                                   "ON CONFLICT(name) DO UPDATE SET value=excluded.value", ("on" if allowed else "off",))

    async def active_admins(self) -> int:
        row = await self.backend.fetchone("SELECT count(*) FROM agents WHERE is_admin=1 AND disabled_at IS NULL")
        return row[0]

    # -- console logins --------------------------------------------------------------
    async def create_login(self, agent_id: int, ttl: float) -> str:
        token = secrets.token_urlsafe(LOGIN_TOKEN_BYTES)
        now = time.time()
        async with self.backend.transaction() as tx:
            await tx.execute("DELETE FROM logins WHERE expires_at<?", (now,))
            await tx.execute("INSERT INTO logins (token_hash, agent_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                             (hash_key(token), agent_id, now, now + ttl))
        return token

    async def agent_for_login(self, token: str) -> Agent | None:
        row = await self.backend.fetchone(
            f"SELECT {', '.join('a.' + c.strip() for c in self._AGENT_COLS.split(','))} FROM logins l JOIN agents a ON a.id=l.agent_id "
            "WHERE l.token_hash=? AND l.expires_at>=? AND a.disabled_at IS NULL", (hash_key(token), time.time()))
        return self._agent(row) if row else None

    async def end_login(self, token: str) -> None:
        await self.backend.execute("DELETE FROM logins WHERE token_hash=?", (hash_key(token),))

    # -- API keys --------------------------------------------------------
    async def has_api_keys(self) -> bool:
        return await self.backend.fetchone("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1") is not None

    async def create_api_key(self, name: str, *, webhook_url: str | None = None, scopes: Iterable[str] = DEFAULT_SCOPES) -> str:
        return (await self.create_api_key_full(name, webhook_url=webhook_url, scopes=scopes))[0]

    async def create_api_key_full(self, name: str, *, webhook_url: str | None = None,
                                  scopes: Iterable[str] = DEFAULT_SCOPES) -> tuple[str, ApiKey, str | None]:
        """(the key, shown once; its record; the webhook secret, shown once, or None).
        ``scopes``: tandem/scopes.py names (ScopeError, a ValueError, for others)."""
        scope_text = _scopes_text(scopes)
        key = "tdm_" + secrets.token_urlsafe(API_KEY_BYTES)
        hook_secret = "whsec_" + secrets.token_urlsafe(WEBHOOK_SECRET_BYTES) if webhook_url else None
        async with self.backend.transaction() as tx:
            row = await tx.fetchone(
                "INSERT INTO api_keys (name, key_hash, created_at, prefix, webhook_url, scopes) VALUES (?, ?, ?, ?, ?, ?) "
                "RETURNING id", (name, hash_key(key), time.time(), key[:8], webhook_url, scope_text))
            if hook_secret:
                await tx.execute("UPDATE api_keys SET webhook_secret=? WHERE id=?",
                                 (self._enc(hook_secret, "api_keys.webhook_secret", row[0]), row[0]))
        return key, await self.get_api_key(row[0]), hook_secret

    _KEY_COLS = "id, name, prefix, created_at, revoked_at, webhook_url, scopes"

    @staticmethod
    def _api_key(row) -> ApiKey:
        return ApiKey(*row[:-1], scopes=_scopes_from_text(row[-1]))

    async def get_api_key(self, key_id: int) -> ApiKey | None:
        row = await self.backend.fetchone(f"SELECT {self._KEY_COLS} FROM api_keys WHERE id=?", (key_id,))
        return self._api_key(row) if row else None

    async def api_keys(self) -> list[ApiKey]:
        return [self._api_key(r) for r in await self.backend.fetchall(f"SELECT {self._KEY_COLS} FROM api_keys ORDER BY id")]

    async def api_key_for(self, key: str) -> ApiKey | None:
        """The record (with its scopes) of a valid, unrevoked key, else None: what the API authenticates with."""
        digest = hash_key(key)
        row = await self.backend.fetchone(f"SELECT {self._KEY_COLS}, key_hash FROM api_keys WHERE key_hash=? AND revoked_at IS NULL",
                                          (digest,))
        return self._api_key(row[:-1]) if row and hmac.compare_digest(digest, row[-1]) else None

    async def set_api_key_scopes(self, key_id: int, scopes: Iterable[str]) -> ApiKey | None:
        """Replace a live key's scopes; None when there is no live key with that id."""
        scope_text = _scopes_text(scopes)
        changed = await self.backend.execute("UPDATE api_keys SET scopes=? WHERE id=? AND revoked_at IS NULL", (scope_text, key_id))
        return await self.get_api_key(key_id) if changed else None

    async def check_api_key(self, key: str) -> int | None:
        """The key's id when it is valid and not revoked, else None."""
        digest = hash_key(key)
        row = await self.backend.fetchone("SELECT id, key_hash FROM api_keys WHERE key_hash=? AND revoked_at IS NULL", (digest,))
        return row[0] if row and hmac.compare_digest(digest, row[1]) else None

    async def revoke_api_key(self, key_id: int) -> bool:
        return await self.backend.execute("UPDATE api_keys SET revoked_at=? WHERE id=? AND revoked_at IS NULL",
                                          (time.time(), key_id)) > 0

    async def webhooks_for(self, key_id: int | None) -> list[tuple[int, str, str]]:
        """(key id, url, secret) to notify: the creating key's hook, or every hook when no key created it."""
        sql = "SELECT id, webhook_url, webhook_secret FROM api_keys WHERE revoked_at IS NULL AND webhook_url IS NOT NULL"
        args: tuple = ()
        if key_id is not None:
            sql += " AND id=?"
            args = (key_id,)
        return [(i, url, self._dec(sec, "api_keys.webhook_secret", i)) for i, url, sec in await self.backend.fetchall(sql, args)]

    # -- webhook delivery log (tandem/events.py) ------------------------------------------
    _ATTEMPT_COLS = "id, at, key_id, delivery, kind, session_id, attempt, status, latency_ms, error"

    async def webhook_record(self, key_id: int, delivery: str, kind: str, session_id: str | None, attempt: int,
                             status: int | None, latency_ms: float, error: str, body: bytes, keep: int) -> None:
        """Log one attempt (its body encrypted); only the newest ``keep`` attempts of the key are kept."""
        async with self.backend.transaction() as tx:
            await tx.execute("INSERT INTO webhook_log (at, key_id, delivery, kind, session_id, attempt, status, latency_ms, error, body) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (time.time(), key_id, delivery, kind, session_id, attempt, status, latency_ms, error,
                              self.cipher.encrypt(body.decode("utf-8"), f"webhook_log.body:{delivery}")))
            await tx.execute("DELETE FROM webhook_log WHERE key_id=? AND id NOT IN "
                             "(SELECT id FROM webhook_log WHERE key_id=? ORDER BY id DESC LIMIT ?)", (key_id, key_id, keep))

    async def webhook_attempts(self, key_id: int | None = None, limit: int = 50) -> list[tuple]:
        """Rows of ``_ATTEMPT_COLS``, newest first."""
        if key_id is None:
            return await self.backend.fetchall(f"SELECT {self._ATTEMPT_COLS} FROM webhook_log ORDER BY id DESC LIMIT ?", (limit,))
        return await self.backend.fetchall(f"SELECT {self._ATTEMPT_COLS} FROM webhook_log WHERE key_id=? ORDER BY id DESC LIMIT ?",
                                           (key_id, limit))

    async def webhook_body(self, attempt_id: int) -> tuple[tuple, bytes] | None:
        """(the attempt's row, its body) or None."""
        row = await self.backend.fetchone(f"SELECT {self._ATTEMPT_COLS}, body FROM webhook_log WHERE id=?", (attempt_id,))
        if row is None:
            return None
        return tuple(row[:10]), self.cipher.decrypt(row[10], f"webhook_log.body:{row[3]}").encode("utf-8")

    async def webhook_state(self, key_id: int) -> tuple[float | None, float | None]:
        """(failing since, switched off at) of a key's hook."""
        row = await self.backend.fetchone("SELECT failing_since, disabled_at FROM webhook_state WHERE key_id=?", (key_id,))
        return (row[0], row[1]) if row else (None, None)

    async def webhook_succeeded(self, key_id: int) -> None:
        await self.backend.execute("UPDATE webhook_state SET failing_since=NULL WHERE key_id=? AND disabled_at IS NULL", (key_id,))

    async def webhook_failed(self, key_id: int, now: float, window: float) -> bool:
        """Note a failed attempt; True when it switched the hook off (failing for ``window`` seconds)."""
        async with self.backend.transaction() as tx:
            await tx.execute("INSERT INTO webhook_state (key_id, failing_since) VALUES (?, ?) "
                             "ON CONFLICT(key_id) DO UPDATE SET failing_since=COALESCE(webhook_state.failing_since, excluded.failing_since)",
                             (key_id, now))
            changed = await tx.execute("UPDATE webhook_state SET disabled_at=? WHERE key_id=? AND disabled_at IS NULL "
                                       "AND failing_since <= ?", (now, key_id, now - window))
        return changed > 0

    async def webhook_enable(self, key_id: int) -> None:
        await self.backend.execute("DELETE FROM webhook_state WHERE key_id=?", (key_id,))

    # -- allowlist -------------------------------------------------------
    async def policy_stamp(self) -> object:
        """Changes whenever the allowlist or masking may have changed, on any node (compare with ==).

        Cheap enough for every request: SQLite asks ``PRAGMA data_version`` (at most every
        ``storedb.DATA_VERSION_EVERY`` seconds: another process's edit is seen within that, this
        node's own at once); PostgreSQL reads a counter its LISTEN connection bumps."""
        return await self.backend.policy_stamp()

    async def allowlist(self) -> list[AllowEntry]:
        return [AllowEntry(p, s, r) for p, s, r in await self.backend.fetchall("SELECT pattern, scope, redirect FROM allowlist ORDER BY pattern")]

    async def allow(self, pattern: str, scope: str = "navigation", redirect: str | None = None) -> AllowEntry:
        """Add or replace an entry. ``pattern`` and ``redirect`` come checked and normalized by the proxy's
        rules (:func:`tandem.policy.allow`): the store only keeps them."""
        if scope not in ("navigation", "all"):
            raise StoreError(f"scope must be 'navigation' or 'all', not {scope!r}")
        async with self.backend.transaction() as tx:
            await tx.execute(
                "INSERT INTO allowlist (pattern, scope, created_at, redirect) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(pattern) DO UPDATE SET scope=excluded.scope, redirect=excluded.redirect",
                (pattern, scope, time.time(), redirect or None),
            )
            await self.backend.policy_changed(tx)
        return AllowEntry(pattern, scope, redirect or None)

    async def disallow(self, pattern: str) -> bool:
        """Remove a (normalized) pattern; False when it was not there."""
        async with self.backend.transaction() as tx:
            removed = await tx.execute("DELETE FROM allowlist WHERE pattern=?", (pattern,))
            await self.backend.policy_changed(tx)
        return removed > 0

    # -- masking -----------------------------------------------------------------
    async def masking(self) -> dict[str, dict[str, list[str]]]:
        """``{pattern: {"mask": [...], "block": [...]}}``."""
        return {p: {"mask": json.loads(m), "block": json.loads(b)}
                for p, m, b in await self.backend.fetchall("SELECT pattern, selectors, blocks FROM masking ORDER BY pattern")}

    async def set_masking(self, pattern: str, mask: Iterable[str], block: Iterable[str] = ()) -> tuple[list[str], list[str]]:
        """Keep the selectors for a host pattern: ``mask`` (values shown as ``*``) and ``block`` (element
        replaced by a placeholder); both empty removes the pattern. Pattern and selectors come checked
        by the recorder's rules (:func:`tandem.policy.set_masking`); repeats are dropped here."""
        masks = list(dict.fromkeys(mask))
        blocks = list(dict.fromkeys(block))
        if len(masks) > MAX_SELECTORS or len(blocks) > MAX_SELECTORS:
            raise StoreError(f"at most {MAX_SELECTORS} selectors of each kind per pattern")
        async with self.backend.transaction() as tx:
            if masks or blocks:
                await tx.execute("INSERT INTO masking (pattern, selectors, blocks, updated_at) VALUES (?, ?, ?, ?) "
                                 "ON CONFLICT(pattern) DO UPDATE SET selectors=excluded.selectors, blocks=excluded.blocks, "
                                 "updated_at=excluded.updated_at", (pattern, json.dumps(masks), json.dumps(blocks), time.time()))
            else:
                await tx.execute("DELETE FROM masking WHERE pattern=?", (pattern,))
            await self.backend.policy_changed(tx)
        return masks, blocks

    # -- visitors (embeddable snippet) ---------------------------------------------
    async def add_visitor(self, visitor_id: str, secret: str, origin: str) -> None:
        now = time.time()
        await self.backend.execute("INSERT INTO visitors (id, secret_hash, origin, created_at, last_seen) VALUES (?, ?, ?, ?, ?)",
                                   (visitor_id, hash_key(secret), origin, now, now))

    async def check_visitor(self, visitor_id: str, secret: str) -> bool:
        row = await self.backend.fetchone("SELECT secret_hash FROM visitors WHERE id=?", (visitor_id,))
        if row is None or not hmac.compare_digest(row[0], hash_key(secret)):
            return False
        await self.backend.execute("UPDATE visitors SET last_seen=? WHERE id=?", (time.time(), visitor_id))
        return True

    async def visitor_exists(self, visitor_id: str) -> bool:
        return await self.backend.fetchone("SELECT 1 FROM visitors WHERE id=?", (visitor_id,)) is not None

    # -- audit -----------------------------------------------------------------------
    async def audit(self, kind: str, *, session_id: str | None = None, actor: str = "", detail: dict | None = None) -> int:
        """Record an audit event (session start/end, joins, control changes, allowlist edits …).
        Returns the session's event count, this one included (0 without a session)."""
        async with self.backend.transaction() as tx:
            if session_id is not None and self.dialect == "postgres":  # one event at a time per session: no two get one count
                await tx.execute("SELECT 1 FROM sessions WHERE id=? FOR UPDATE", (session_id,))
            row = await tx.fetchone("INSERT INTO audit (at, kind, session_id, actor) VALUES (?, ?, ?, ?) RETURNING id",
                                    (time.time(), kind, session_id, actor))
            if detail:
                await tx.execute("UPDATE audit SET detail=? WHERE id=?", (self._enc_json(detail, "audit.detail", row[0]), row[0]))
            if session_id is None:
                return 0
            return (await tx.fetchone("SELECT count(*) FROM audit WHERE session_id=?", (session_id,)))[0]

    async def audit_count(self, session_id: str) -> int:
        """How many events the session has had (webhook sequence numbers: they go on after a restart)."""
        return (await self.backend.fetchone("SELECT count(*) FROM audit WHERE session_id=?", (session_id,)))[0]

    async def audit_events(self, *, session_id: str | None = None, kind: str | None = None, before_id: int | None = None,
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
        rows = await self.backend.fetchall(sql, (*args, min(limit, AUDIT_PAGE)))
        return [AuditEvent(i, at, k, s, a, self._dec_json(d, "audit.detail", i) if d else {}) for i, at, k, s, a, d in rows]

    # -- retention ---------------------------------------------------------------------
    async def purge(self, now: float | None = None) -> dict[str, int]:
        """Delete metadata older than the retention period; one transaction. Returns counts per table."""
        now = time.time() if now is None else now
        cutoff = now - await self.retention_days() * 86400
        async with self.backend.transaction() as tx:
            counts = {
                "sessions": await tx.execute("DELETE FROM sessions WHERE coalesce(ended_at, created_at)<?", (cutoff,)),
                "audit": await tx.execute("DELETE FROM audit WHERE at<?", (cutoff,)),
                "visitors": await tx.execute("DELETE FROM visitors WHERE last_seen<?", (cutoff,)),
                "logins": await tx.execute("DELETE FROM logins WHERE expires_at<?", (now,)),
                "pins": await tx.execute("DELETE FROM pins WHERE expires_at<?", (now,)),
                # a session nobody ended keeps its live state only until it expires
                "live_state": await tx.execute("DELETE FROM live_state WHERE session_id IN "
                                               "(SELECT id FROM sessions WHERE state!='live' OR expires_at<?)", (now,)),
            }
        return counts


async def open_store(data_dir: Path, database_url: str | None = None) -> Store:
    """A store ready to use: SQLite in ``data_dir``, or PostgreSQL at ``database_url`` (the keys stay in ``data_dir``)."""
    return await Store(data_dir, database_url=database_url).open()


PASSWORD_MIN = 10  # NIST SP 800-63B asks for at least 8; a shared support tool gets a little more
PASSWORD_MAX = 256  # bounds the work a sign-in attempt can ask of the KDF


def check_password_rules(password: str) -> None:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise StoreError(f"password: {PASSWORD_MIN} to {PASSWORD_MAX} characters")

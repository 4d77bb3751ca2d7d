"""Co-browsing sessions as the proxy sees them: id, start URL, cookie jar, label aliases.

Metadata lives in the store; the live state (jar, aliases, room facts) lives behind
:mod:`tandem.live` — in process and written through to the store by default, in Redis
with ``--redis-url`` — so a restart or another node finds it again. A session leaves
this process's memory when it ends or sits unused (``SessionRegistry.sweep``); it is
loaded again from the store and the live state on its next request.

Participant credentials are HMAC-signed tokens (no server state), one kind per place:

* ``p.sid.pid.role.exp.mac`` — the control plane's, host-only on ``BASE`` under ``/s/<sid>``;
* ``h.sid.pid.role.label.exp.mac`` — one proxied host's (``LABEL.BASE``), host-only there and
  valid on that host alone;
* ``e.sid.pid.role.label.nonce.credexp.exp.mac`` — an entry ticket: minted by the control plane
  for one host, spent once by that host's ``/__tandem/enter`` within ``TICKET_TTL``, and only
  together with the entry nonce cookie that host set on the same browser (the ticket carries only
  a digest of it: ``nonce_digest``).

How they are carried and read is :mod:`proxy.credentials`' business (see there and
:mod:`proxy.entry`); this module only signs and checks them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Callable

from rewriter import labels
from rewriter.labels import Decoded, Origin
from rewriter.urls import ProxyBase, UrlError, UrlRewriter, split_url
from tandem.live import LiveAliases, LiveBackend, LiveJar, MemoryBackend, SessionLive
from tandem.store import Invite, Store

log = logging.getLogger("tandem.sessions")

CREDENTIAL_TTL = 24 * 3600  # a participant's pass lasts a working day; the session outlives it
INVITE_TTL = 24 * 3600  # invite links stay usable this long unless revoked or used up
SESSION_TTL = 24 * 3600  # a session nobody ends expires with its last invite link
# Invite audiences: "direct" links (agents, API integrators) enter at once; "consent" links
# (customers) show the consent screen first.
DIRECT, CONSENT = "direct", "consent"
IDLE_EVICT = 15 * 60.0  # seconds a session nobody used stays in memory (its live state is kept elsewhere)
COOKIE_PREFIX = "tandem_p_"
TICKET_TTL = 60  # an entry ticket only crosses two redirects; a minute covers a slow phone network


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


VERIFIED_MEMO = 4096  # tokens whose signature was checked, remembered (their expiry is checked every time)
VERIFIED_MAX_LEN = 1024  # longer tokens are checked every time (no token Tandem signs is this long)


class Signer:
    """Signs short dotted payloads with the server secret.

    Every request on a proxied host presents its credential; a token whose signature checked out
    once is remembered (its parts, by the whole token: the MAC included), so the HMAC is computed
    once per credential, not on every request. Only a token whose MAC matched is ever remembered,
    and the expiry is still compared with the clock each time."""

    def __init__(self, secret: bytes):
        self._key = secret
        self._verified: dict[str, tuple[str, ...]] = {}

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest()[:16])

    def sign(self, *parts: str, ttl: int) -> str:
        return self.sign_until(*parts, expires=int(time.time()) + ttl)

    def sign_until(self, *parts: str, expires: int) -> str:
        payload = ".".join((*parts, str(expires)))
        return f"{payload}.{self._mac(payload)}"

    def verify(self, token: str, n_parts: int) -> list[str] | None:
        pieces = self._verified.get(token)
        if pieces is None:
            found = token.split(".")
            if len(found) != n_parts + 2 or not token.isascii():
                return None
            payload, mac = token.rsplit(".", 1)
            if not hmac.compare_digest(mac, self._mac(payload)):
                return None
            pieces = tuple(found)
            if len(token) <= VERIFIED_MAX_LEN:
                if len(self._verified) >= VERIFIED_MEMO:
                    del self._verified[next(iter(self._verified))]  # the oldest remembered
                self._verified[token] = pieces
        elif len(pieces) != n_parts + 2:
            return None
        if not pieces[-2].isdigit() or int(pieces[-2]) < time.time():
            return None
        return list(pieces[:n_parts])


@dataclass
class Session:
    sid: str
    start_url: str
    created_at: float
    ended: bool = False
    live: SessionLive = None  # type: ignore[assignment]  # jar, aliases, room facts (tandem.live); set by the registry
    cache: "ResponseCache" = field(default_factory=lambda: _response_cache())  # what the leader fetched, for followers
    # Set by the control plane at creation, kept in the store (encrypted) across restarts.
    agent_id: str | None = None
    agent_name: str = ""
    branding: dict = field(default_factory=dict)  # naked, retry_url, no_bottom_bar, on_end_url
    permissions: dict = field(default_factory=dict)  # allow_click, allow_type, allow_scroll, allow_draw, allow_agent_redirect
    metadata: dict = field(default_factory=dict)  # the API caller's own data, returned as given
    customer_role: str = "follower"  # the role invite links and PINs for the customer carry
    key_id: int | None = None  # API key that created it: its webhook hears about it
    visitor_id: str | None = None  # snippet visitor who started it
    expires_at: float | None = None
    last_used: float = field(default_factory=time.monotonic)  # for SessionRegistry.sweep

    def __post_init__(self) -> None:
        if self.live is None:  # memory only (an ended session, a test): nothing is kept
            self.live = MemoryBackend().open(self.sid)

    @property
    def jar(self) -> LiveJar:
        return self.live.jar

    @property
    def aliases(self) -> LiveAliases:
        return self.live.aliases

    def register_alias(self, alias: str, origin: Origin) -> None:
        self.live.aliases.register(alias, origin)

    def origin_of(self, decoded: Decoded) -> Origin | None:
        return decoded.origin if decoded.origin is not None else self.live.aliases.get(decoded.alias or "")

    async def resolve(self, decoded: Decoded) -> Origin | None:
        """Like ``origin_of``, asking the live-state backend for an alias made elsewhere (another node, before a restart)."""
        return decoded.origin if decoded.origin is not None else await self.live.aliases.lookup(decoded.alias or "")

    def url_rewriter(self, base: ProxyBase, page_url: str = "") -> UrlRewriter:
        return UrlRewriter(base, self.sid, page_url, on_alias=self.register_alias)


_DETAIL_FIELDS = ("agent_name", "branding", "permissions", "metadata", "customer_role")


def _response_cache():
    from .cache import ResponseCache

    return ResponseCache()


class SessionRegistry:
    """Live sessions of this process: loaded from the store on first use, evicted when ended or idle."""

    def __init__(self, store: Store, base: ProxyBase, live: LiveBackend | None = None):
        self.store = store
        self.base = base
        self.signer = Signer(store.secret())
        self.live_backend = live if live is not None else MemoryBackend(store)
        self._live: dict[str, Session] = {}
        self._drops: set[asyncio.Task] = set()
        self.on_end: Callable[[str], None] = lambda sid: None  # the session ended through this process

    async def create(self, start_url: str, **details) -> Session:
        """``details``: any of the Session fields set at creation (agent_id, agent_name, branding …)."""
        sid = labels.new_sid(secrets.token_bytes(10))
        expires_at = time.time() + SESSION_TTL
        stored = {k: details[k] for k in _DETAIL_FIELDS if k in details}
        row = await self.store.add_session(sid, start_url, agent_id=details.get("agent_id"), key_id=details.get("key_id"),
                                     visitor_id=details.get("visitor_id"), expires_at=expires_at, details=stored)
        session = Session(sid, start_url, row.created_at, expires_at=expires_at,
                          live=self.live_backend.open(sid), **details)
        self._live[sid] = session
        return session

    def cached(self, sid: str) -> Session | None:
        """The live session when this process holds it (synchronous callers: room callbacks; a room's
        session is held while the room is, see ``sweep``); None otherwise."""
        session = self._live.get(sid)
        if session is not None:
            session.last_used = time.monotonic()
        return session

    async def get(self, sid: str) -> Session | None:
        session = self._live.get(sid)
        if session is None:
            row = await self.store.get_session(sid)
            if row is None:
                return None
            # Known from the store (after a restart, or evicted): metadata and the kept live state.
            stored = {k: row.details[k] for k in _DETAIL_FIELDS if k in row.details}
            ended = row.state != "live"
            session = Session(row.id, row.start_url, row.created_at, ended=ended, agent_id=row.agent_id,
                              key_id=row.key_id, visitor_id=row.visitor_id, expires_at=row.expires_at,
                              live=None if ended else self.live_backend.open(sid), **stored)
            if ended:
                return session  # not kept in memory: nothing about an ended session changes
            self._live[sid] = session
        session.last_used = time.monotonic()
        return session

    async def end(self, sid: str) -> bool:
        """Ends the session for everyone; True when this call ended it (False: unknown or already over)."""
        session = await self.get(sid)
        if session is None:
            return False
        was_live = not session.ended
        session.ended = True
        session.live = MemoryBackend().open(sid)  # the jar and aliases are gone for whoever still holds it
        session.cache.clear()
        self._live.pop(sid, None)
        self._drop(sid)
        ended = await self.store.end_session(sid) or was_live
        self.on_end(sid)  # several nodes: the others hear of it (tandem.cluster)
        return ended

    def forget(self, sid: str) -> None:
        """Another node ended the session: the next ``get`` reads it from the store again."""
        session = self._live.pop(sid, None)
        if session is not None:
            session.cache.clear()

    def _drop(self, sid: str) -> None:
        """Forget the session's live state in the backend (a task kept here: Redis needs I/O)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self.live_backend.drop(sid))
            return
        task = loop.create_task(self.live_backend.drop(sid), name=f"live-drop-{sid}")
        self._drops.add(task)
        task.add_done_callback(self._dropped)

    def _dropped(self, task: asyncio.Task) -> None:
        self._drops.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("could not drop a session's live state: %s", task.exception())

    def sweep(self, now: float, in_use: set[str] = frozenset()) -> int:
        """Evict sessions unused for ``IDLE_EVICT`` seconds and not in ``in_use`` (rooms here); the count.

        Nothing is lost: metadata is in the store and the live state in its backend; only
        the followers' response cache goes (it is a cache).
        """
        idle = [sid for sid, s in self._live.items() if now - s.last_used > IDLE_EVICT and sid not in in_use]
        for sid in idle:
            self._live.pop(sid).cache.clear()
        return len(idle)

    def in_memory(self) -> int:
        """Sessions held in memory now."""
        return len(self._live)

    # -- credentials -----------------------------------------------------
    async def invite(self, sid: str, role: str = "leader", *, audience: str = DIRECT, ttl: int = INVITE_TTL,
               single_use: bool = False) -> str:
        """A signed invite token bound to the session and role, recorded so it can be revoked or used up."""
        invite_id = secrets.token_urlsafe(9)
        expires = int(time.time()) + ttl
        await self.store.add_invite(invite_id, sid, role, audience, expires, single_use)
        return self.signer.sign_until("inv", sid, role, invite_id, expires=expires)

    def invite_token(self, invite: Invite) -> str:
        """The token of a recorded invite again (the console shows the live link; nothing secret is stored)."""
        return self.signer.sign_until("inv", invite.session_id, invite.role, invite.id, expires=int(invite.expires_at))

    async def peek_invite(self, sid: str, token: str) -> Invite | None:
        """The invite behind a token when it is signed, unexpired, for this session, not revoked and not used up."""
        parts = self.signer.verify(token, 4)
        if not parts or parts[0] != "inv" or parts[1] != sid:
            return None
        row = await self.store.get_invite(parts[3])
        if row is None or row.session_id != sid or row.role != parts[2] or row.revoked_at is not None:
            return None
        if row.expires_at < time.time() or (row.single_use and row.used_at is not None):
            return None
        return row

    async def use_invite(self, sid: str, token: str) -> Invite | None:
        """Like peek_invite, and spends a single-use invite (only one caller wins it)."""
        row = await self.peek_invite(sid, token)
        if row is None or not await self.store.use_invite(row.id):
            return None
        return row

    async def check_invite(self, sid: str, token: str) -> str | None:
        row = await self.use_invite(sid, token)
        return row.role if row else None

    async def revoke_invites(self, sid: str) -> int:
        return await self.store.revoke_invites(sid)

    def credential(self, sid: str, role: str) -> str:
        """A new participant's control-plane credential (``p`` token)."""
        return self.signer.sign("p", sid, secrets.token_hex(6), role, ttl=CREDENTIAL_TTL)

    def participant(self, sid: str, values: list[str]) -> tuple[str, str] | None:
        """(participant id, role) of the first valid control-plane credential for ``sid`` among cookie values."""
        found = self.credential_of(sid, values)
        return (found[0], found[1]) if found else None

    def credential_of(self, sid: str, values: list[str]) -> tuple[str, str, int] | None:
        """(pid, role, expiry) of the first valid control-plane credential for ``sid``."""
        for value in values:
            parts = self.signer.verify(value, 4)
            if parts and parts[0] == "p" and parts[1] == sid:
                return parts[2], parts[3], int(value.split(".")[-2])
        return None

    def check_credential(self, sid: str, values: list[str]) -> bool:
        return self.participant(sid, values) is not None

    # one proxied host's credential, and the ticket that mints it
    def ticket(self, sid: str, pid: str, role: str, label: str, nonce: str, credential_expires: int) -> str:
        """A single-use entry ticket for host ``label`` of ``sid``, spendable only with the entry
        nonce cookie ``nonce`` (proxy/entry.py), good for ``TICKET_TTL`` seconds."""
        return self.signer.sign("e", sid, pid, role, label, nonce_digest(nonce), str(credential_expires), ttl=TICKET_TTL)

    async def spend_ticket(self, sid: str, label: str, ticket: str, nonces: list[str]) -> tuple[str, str, int, str] | None:
        """(pid, role, credential expiry, nonce) when ``ticket`` is valid for this host, its nonce is
        among ``nonces`` (the entry nonce cookies the request carries) and it is unspent; spends it.
        Spent tickets are kept by the live state (``claim_once``): single use on every node and
        across a restart, for as long as the ticket would be good."""
        parts = self.signer.verify(ticket, 7)
        if not parts or parts[0] != "e" or parts[1] != sid or parts[4] != label or not parts[6].isdigit():
            return None
        matching = [n for n in nonces if nonce_digest(n) == parts[5]]
        if not matching:
            return None
        if not await self.live_backend.claim_once(sid, "ticket:" + parts[5], TICKET_TTL + 1):
            return None
        return parts[2], parts[3], int(parts[6]), matching[0]

    def host_credential(self, sid: str, pid: str, role: str, label: str, expires: int) -> str:
        return self.signer.sign_until("h", sid, pid, role, label, expires=expires)

    def host_participant(self, sid: str, label: str, values: list[str]) -> tuple[str, str] | None:
        """(pid, role) of the first valid credential for host ``label`` of ``sid`` among cookie values."""
        for value in values:
            parts = self.signer.verify(value, 5)
            if parts and parts[0] == "h" and parts[1] == sid and parts[4] == label:
                return parts[2], parts[3]
        return None

    @staticmethod
    def cookie_name(sid: str) -> str:
        return COOKIE_PREFIX + sid


def nonce_digest(nonce: str) -> str:
    """What a ticket carries of its entry nonce: a ticket seen by page code (the site's service
    worker sees the enter URL) does not give away the nonce cookie it needs."""
    return hashlib.sha256(nonce.encode("utf-8", "replace")).hexdigest()[:24]


def cookie_values(headers, name: str) -> list[str]:
    """Every value of cookie ``name`` in request ``headers`` (a tossed duplicate must not hide the real one)."""
    values = []
    for header in headers.getall("Cookie", []):
        for pair in header.split(";"):
            k, _, v = pair.strip().partition("=")
            if k == name:
                values.append(v)
    return values


def upstream_url(base: ProxyBase, session: Session, proxied: str) -> str | None:
    """The upstream URL behind a proxied URL of ``session``; None if it is not one of the session's."""
    try:
        parts = split_url(proxied)
    except UrlError:
        return None
    if parts is None:
        return None
    label = base.label_of_host(parts.origin.host)
    if label is None:
        return None
    try:
        decoded = labels.decode(label)
    except labels.LabelError:
        return None
    if decoded.sid != session.sid:
        return None
    origin = session.origin_of(decoded)
    return origin.serialize() + (parts.rest or "/") if origin else None

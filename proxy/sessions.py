"""Co-browsing sessions as the proxy sees them: id, start URL, cookie jar, label aliases.

Metadata lives in the store; the live state (jar, aliases) lives in memory behind
this small interface so it can move to Redis later without touching the handlers.

Participant credentials are HMAC-signed tokens (no server state): ``sid.pid.role.exp.mac``.
The proxy accepts a request on ``LABEL.BASE`` only with a valid credential for
that label's session, carried in the HttpOnly cookie ``tandem_p_<sid>`` set on
``Domain=BASE`` by the control plane's enter endpoint. Proxied pages cannot read
it (HttpOnly) and a cookie they toss with the same name fails the signature check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field

from rewriter import labels
from rewriter.cookies import CookieJar
from rewriter.labels import Decoded, Origin
from rewriter.urls import ProxyBase, UrlRewriter
from tandem.store import Store

CREDENTIAL_TTL = 24 * 3600  # a participant's pass lasts a working day; the session outlives it
INVITE_TTL = 24 * 3600  # leader links from the API stay usable this long
MAX_ALIASES = 10_000  # per session: bounds memory if a page links to endless odd hosts
COOKIE_PREFIX = "tandem_p_"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


class Signer:
    """Signs short dotted payloads with the server secret."""

    def __init__(self, secret: bytes):
        self._key = secret

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest()[:16])

    def sign(self, *parts: str, ttl: int) -> str:
        payload = ".".join((*parts, str(int(time.time()) + ttl)))
        return f"{payload}.{self._mac(payload)}"

    def verify(self, token: str, n_parts: int) -> list[str] | None:
        pieces = token.split(".")
        if len(pieces) != n_parts + 2 or not token.isascii():
            return None
        payload, mac = token.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        if not pieces[-2].isdigit() or int(pieces[-2]) < time.time():
            return None
        return pieces[:n_parts]


@dataclass
class Session:
    sid: str
    start_url: str
    created_at: float
    ended: bool = False
    jar: CookieJar = field(default_factory=CookieJar)
    aliases: dict[str, Origin] = field(default_factory=dict)

    def register_alias(self, alias: str, origin: Origin) -> None:
        if alias not in self.aliases and len(self.aliases) < MAX_ALIASES:
            self.aliases[alias] = origin

    def origin_of(self, decoded: Decoded) -> Origin | None:
        return decoded.origin if decoded.origin is not None else self.aliases.get(decoded.alias or "")

    def url_rewriter(self, base: ProxyBase, page_url: str = "") -> UrlRewriter:
        return UrlRewriter(base, self.sid, page_url, on_alias=self.register_alias)


class SessionRegistry:
    def __init__(self, store: Store, base: ProxyBase):
        self.store = store
        self.base = base
        self.signer = Signer(store.secret())
        self._live: dict[str, Session] = {}

    def create(self, start_url: str) -> Session:
        sid = labels.new_sid(secrets.token_bytes(10))
        row = self.store.add_session(sid, start_url)
        session = Session(sid, start_url, row.created_at)
        self._live[sid] = session
        return session

    def get(self, sid: str) -> Session | None:
        session = self._live.get(sid)
        if session is None:
            row = self.store.get_session(sid)
            if row is None:
                return None
            # Known from before a restart: metadata survives, the jar starts empty.
            session = Session(row.id, row.start_url, row.created_at, ended=row.state != "live")
            self._live[sid] = session
        return session

    def end(self, sid: str) -> None:
        session = self.get(sid)
        if session is not None:
            session.ended = True
            session.jar.clear()
            self.store.end_session(sid)

    # -- credentials -----------------------------------------------------
    def invite(self, sid: str, role: str = "leader") -> str:
        return self.signer.sign("inv", sid, role, ttl=INVITE_TTL)

    def check_invite(self, sid: str, token: str) -> str | None:
        parts = self.signer.verify(token, 3)
        if not parts or parts[0] != "inv" or parts[1] != sid:
            return None
        return parts[2]

    def credential(self, sid: str, role: str) -> str:
        return self.signer.sign("p", sid, secrets.token_hex(6), role, ttl=CREDENTIAL_TTL)

    def check_credential(self, sid: str, values: list[str]) -> bool:
        for value in values:
            parts = self.signer.verify(value, 4)
            if parts and parts[0] == "p" and parts[1] == sid:
                return True
        return False

    @staticmethod
    def cookie_name(sid: str) -> str:
        return COOKIE_PREFIX + sid

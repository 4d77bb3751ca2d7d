"""Stage 2 of the proxy pipeline: decide. One pure function, one answer with its reason.

:func:`decide` takes :class:`Facts` (what admission established, what the allowlist
and the guard configuration say, and, once the upstream has answered, what the
response *is*) and returns a :class:`Decision`. No I/O, no request object: the rules
are a table (``tests/security/test_pipeline_decide.py``) and read as one.

It is asked twice per proxied request: before the upstream call (``response=None``)
and again when the response headers are in, before a byte goes to the browser.

The rules (also in the README's security section):

* Nothing a client asserts grants anything: ``Sec-Fetch-*``, ``Referer``, ``Origin``
  and method overrides are not facts here. A request's *claim* to be a navigation
  only makes the answer stricter (a navigation needs a listed site; a follower's
  navigation goes to the mirror).
* Allowlist: a navigation needs a listed host. A subresource of an unlisted host is
  allowed unless the tab owner's current page (known to the server: the last page it
  served the tab owner as a top-level document, or the session's start URL) is on an
  entry with scope ``all``. Whatever the request said, a *document* from an unlisted
  host is refused: that is a navigation.
* Guard: private networks opened by ``--allow-private-networks`` are reachable only
  for hosts that are on the allowlist themselves (an empty list lists every host);
  ``private_ok`` tells the exchange which way out to take.
* Follower wall: followers never open the site's WebSockets, never send anything but
  GET/HEAD, never fetch with the session's cookie jar, and get only what *is* an
  image, stylesheet, font or media file (by the response), never a document,
  script, JSON or anything else; and of those only what the mirror uses (``in_mirror``:
  the URL is in the DOM stream the room relayed to followers, or a stylesheet or redirect
  the mirror may load leads to it, sync/resources.py), so a resource of a blocked or
  masked element, which is never serialised, is refused to a follower who guesses it.
* Credential-less requests (``anonymous``, see :mod:`proxy.cors`) are bounded like a
  subresource of the tab owner's page, without the jar, never a WebSocket, never a
  reserved endpoint, never a document of an unlisted host, and only from an origin
  whose host is itself listed (a page of an unlisted host was never served, so such
  an ``Origin`` is forged).
* An upstream ``101 Switching Protocols`` is accepted only for a WebSocket handshake.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import guard
from .guard import IPNetwork

LEADER, FOLLOWER, ANONYMOUS = "leader", "follower", "anonymous"

# What a response is, by its type (or sniffed bytes): see proxy.respond.kind_of.
DOCUMENT, SCRIPT, JSON, STYLE, IMAGE, FONT, MEDIA, OTHER, UPGRADE, REDIRECT = (
    "document", "script", "json", "style", "image", "font", "media", "other", "upgrade", "redirect")
MIRROR_KINDS = frozenset({STYLE, IMAGE, FONT, MEDIA})  # all a mirror ever loads
FOLLOWER_KINDS = MIRROR_KINDS | {REDIRECT}  # a redirect (sent without its body) leads to the next load, decided again
SAFE_METHODS = frozenset({"GET", "HEAD"})

# Reasons (allow or deny); the denials map to ProxyErrors in proxy.handler.
ALLOWED = "allowed"
MIRROR = "follower_to_mirror"
NOT_PARTICIPANT = "not_a_participant"
FOLLOWER_READ_ONLY = "follower_read_only"
FOLLOWER_WALL = "follower_wall"
SITE_NOT_ALLOWED = "site_not_allowed"
SCOPE_ALL = "scope_all"
DOCUMENT_OFF_LIST = "document_off_list"
PRIVATE_ADDRESS = "private_address"
ORIGIN_OFF_LIST = "origin_off_list"
UNEXPECTED_UPGRADE = "unexpected_upgrade"
NOT_IN_MIRROR = "not_in_mirror"


@dataclass(frozen=True)
class Facts:
    role: str  # LEADER, FOLLOWER or ANONYMOUS (proxy.admit)
    method: str
    host: str  # the upstream host
    listed: bool  # the allowlist is open, or an entry matches the host
    page_scope_all: bool = False  # the tab owner's current page is on an entry with scope "all"
    navigation: bool = False  # the request claims to be a navigation
    websocket: bool = False
    private_networks: tuple[IPNetwork, ...] = ()  # --allow-private-networks
    origin_listed: bool = True  # anonymous only: the host of the page that sent it is listed
    claims_mirror_load: bool = True  # followers: the request says it loads an image, style, font or media
    in_mirror: bool = True  # followers: the room relayed this URL to the mirror (sync/resources.py)
    response: str | None = None  # once the upstream answered: what the response is (a kind above)


@dataclass(frozen=True)
class Decision:
    allow: bool
    reason: str
    private_ok: bool = False  # may the exchange reach the private networks that were opened
    use_jar: bool = False  # send and update the session's cookie jar

    @property
    def mirror(self) -> bool:
        return self.reason == MIRROR


_DENIALS: dict[str, Decision] = {}  # the answers are few and immutable: made once, not per request
_ALLOWS = {(private_ok, use_jar): Decision(True, ALLOWED, private_ok=private_ok, use_jar=use_jar)
           for private_ok in (False, True) for use_jar in (False, True)}


def _deny(reason: str) -> Decision:
    found = _DENIALS.get(reason)
    if found is None:
        found = _DENIALS[reason] = Decision(False, reason)
    return found


def decide(f: Facts) -> Decision:
    if f.role not in (LEADER, FOLLOWER, ANONYMOUS):
        return _deny(NOT_PARTICIPANT)
    # who may do what at all
    if f.role == FOLLOWER:
        if f.websocket:
            return _deny(FOLLOWER_READ_ONLY)
        if f.navigation:
            return _deny(MIRROR)
        if f.method not in SAFE_METHODS:
            return _deny(FOLLOWER_READ_ONLY)
        if not f.claims_mirror_load:  # a claim may narrow, never widen: the response decides below
            return _deny(FOLLOWER_WALL)
        if not f.in_mirror:  # a URL the mirror never showed: guessed (a blocked image, a masked src)
            return _deny(NOT_IN_MIRROR)
    if f.role == ANONYMOUS:
        if f.websocket or f.navigation:
            return _deny(NOT_PARTICIPANT)
        if not f.origin_listed:
            return _deny(ORIGIN_OFF_LIST)
    # allowlist
    if not f.listed:
        if f.navigation:
            return _deny(SITE_NOT_ALLOWED)
        if f.page_scope_all:
            return _deny(SCOPE_ALL)
        if f.response == DOCUMENT:
            return _deny(DOCUMENT_OFF_LIST)
    # address guard: opened private networks only for listed hosts
    private_ok = bool(f.private_networks) and f.listed
    address = guard.ip_literal(f.host)
    if address is not None and not guard.address_allowed(address, f.private_networks if private_ok else ()):
        return _deny(PRIVATE_ADDRESS)
    # what came back
    if f.response == UPGRADE and not f.websocket:
        return _deny(UNEXPECTED_UPGRADE)
    if f.role == FOLLOWER and f.response is not None and f.response not in FOLLOWER_KINDS:
        return _deny(FOLLOWER_WALL)
    return _ALLOWS[private_ok, f.role == LEADER]

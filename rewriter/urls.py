"""URL mapping between upstream URLs and proxied URLs. Pure: no I/O.

Every content rewriter gets one :class:`UrlRewriter` and calls
:meth:`UrlRewriter.rewrite` on each raw URL it finds. Only the scheme and
authority of an absolute or protocol-relative URL change (path, query and
fragment are the same upstream and through the proxy), so the rewriter replaces
that one span and leaves every other byte of the value as it was. Relative and
root-relative URLs are left alone: they already resolve against the proxied
page (and a rewritten ``<base href>``) to the right place.

Host handling follows the WHATWG URL standard closely enough for mapping and for
the address guard: leading C0/space is kept, tab and newline are ignored, ``\\``
counts as ``/`` for special schemes, the host is percent-decoded, IDNA-mapped
and lower-cased, and IPv4 in any of the legacy forms (``0x7f.1``,
``2130706433``) is canonicalised.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Callable
from urllib.parse import quote, unquote

import idna

from . import labels
from .labels import DEFAULT_PORTS, Origin

ORIGIN_CACHE_SIZE = 4096  # distinct host[:port] spellings remembered; a page uses a few dozen

# Schemes whose URLs go through the proxy, and the origin scheme each belongs to.
ORIGIN_SCHEME = {"http": "http", "https": "https", "ws": "http", "wss": "https"}

_SCHEME_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9+\-.]*):")
_LEADING_RE = re.compile(r"[\x00-\x20]*")
_TAB_NL = str.maketrans("", "", "\t\n\r")
_AUTH_END_RE = re.compile(r"[/\\?#]")
# WHATWG forbidden host code points, plus C0 controls and DEL.
_FORBIDDEN_HOST_RE = re.compile(r"[\x00-\x20\x7f#/:<>?@\[\\\]^|%]")


# The head of a URL value: leading C0/space, a scheme, any slashes, then the authority up to its
# end. Everything split_url decides (scheme, how many slashes, authority) lies inside it, and the
# rest of the value after it is kept as written, as long as the head holds no tab, LF or CR.
# (The same pattern as rewriter/html/policy.py's URL_HEAD_RE, whose memo relies on the same fact.)
HEAD_RE = re.compile(r"[\x00-\x20]*(?:[a-zA-Z][a-zA-Z0-9+\-.]*:)?[/\\]*[^/\\?#]*")
MAX_HEAD = 512  # longer heads are not remembered (a page's origins are short; this bounds memory)
_INVALID = object()  # the head is refused (UrlError)


class UrlError(ValueError):
    """Not a URL that can be mapped (invalid host or port).

    The only exception :func:`split_url` and :func:`canonical_host` raise, whatever the input
    (property-tested with hypothesis in tests/rewriter/test_urls.py)."""


def _parse_ipv4_number(part: str) -> int | None:
    if part == "":
        return None
    base = 10
    if part[:2].lower() == "0x":
        base, part = 16, part[2:]
    elif len(part) > 1 and part[0] == "0":
        base, part = 8, part[1:]
    if part == "":
        return 0
    try:
        return int(part, base)
    except ValueError:
        return None


def _ends_in_number(host: str) -> bool:
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts = parts[:-1]
    last = parts[-1]
    if last and last.isdigit():
        return True
    return last[:2].lower() == "0x" and all(c in "0123456789abcdefABCDEF" for c in last[2:])


def _parse_ipv4(host: str) -> str:
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts = parts[:-1]
    if len(parts) > 4:
        raise UrlError("invalid IPv4 address")
    nums = []
    for part in parts:
        n = _parse_ipv4_number(part)
        if n is None:
            raise UrlError("invalid IPv4 address")
        nums.append(n)
    if any(n > 255 for n in nums[:-1]) or nums[-1] >= 256 ** (5 - len(nums)):
        raise UrlError("invalid IPv4 address")
    value = nums[-1]
    for i, n in enumerate(nums[:-1]):
        value += n * 256 ** (3 - i)
    return str(ipaddress.IPv4Address(value))


def canonical_host(raw: str) -> str:
    """The WHATWG host of a special URL, as the browser would send it."""
    if raw.startswith("["):
        if not raw.endswith("]"):
            raise UrlError("invalid IPv6 address")
        try:
            return f"[{ipaddress.IPv6Address(raw[1:-1]).compressed}]"
        except ValueError as exc:
            raise UrlError("invalid IPv6 address") from exc
    try:
        host = unquote(raw, errors="strict") if "%" in raw else raw
    except UnicodeDecodeError as exc:  # "%9c": percent-decoded bytes that are not UTF-8
        raise UrlError("host is not UTF-8 after percent-decoding") from exc
    if not host:
        raise UrlError("empty host")
    if host.isascii():
        host = host.lower()
        if "xn--" in host:
            try:
                idna.decode(host)
            except idna.IDNAError as exc:
                raise UrlError("invalid punycode label") from exc
    else:
        try:
            host = idna.encode(host, uts46=True, std3_rules=False, transitional=False).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise UrlError("host cannot be converted to ASCII") from exc
    if _FORBIDDEN_HOST_RE.search(host):
        raise UrlError("forbidden character in host")
    if _ends_in_number(host):
        return _parse_ipv4(host)
    return host


@dataclass(frozen=True, slots=True)
class SplitUrl:
    """An absolute (or protocol-relative) special URL cut into spans of the raw string."""

    lead: str  # leading C0/space, kept as is
    scheme: str  # lower-case: http, https, ws, wss
    userinfo: str  # raw, with the trailing "@", or ""
    origin: Origin
    rest: str  # path, query and fragment exactly as written


def split_url(value: str, page_scheme: str = "https") -> SplitUrl | None:
    """Cut ``value`` into spans, or None if it is not an absolute special URL.

    Relative URLs, other schemes (data:, blob:, mailto:, ...) and fragments give None.
    Raises UrlError for a special URL the browser would reject (bad host or port).

    Only the head of the value (:data:`HEAD_RE`) decides, and the rest after it is kept as
    written, so heads are split once per process (:func:`_split_head`); a head with a tab, LF or
    CR (which the URL parser drops) and every refused URL take :func:`_split_url_full`.
    """
    head = HEAD_RE.match(value).group()
    if len(head) <= MAX_HEAD and not ("\t" in head or "\n" in head or "\r" in head):
        parts = _split_head(head, page_scheme)
        if parts is None:
            return None
        if parts is not _INVALID:
            return SplitUrl(parts.lead, parts.scheme, parts.userinfo, parts.origin, value[len(head):])
    return _split_url_full(value, page_scheme)


@functools.lru_cache(maxsize=ORIGIN_CACHE_SIZE)
def _split_head(head: str, page_scheme: str) -> SplitUrl | None | object:
    """:func:`_split_url_full` of a head (its ``rest`` is then empty); _INVALID for a UrlError."""
    try:
        return _split_url_full(head, page_scheme)
    except UrlError:
        return _INVALID


def _split_url_full(value: str, page_scheme: str = "https") -> SplitUrl | None:
    """:func:`split_url` without the head cache: the reference it must agree with."""
    lead = _LEADING_RE.match(value).group(0)
    raw_body = value[len(lead):]
    body = raw_body.translate(_TAB_NL) if ("\t" in raw_body or "\n" in raw_body or "\r" in raw_body) else raw_body
    m = _SCHEME_RE.match(body)
    if m:
        scheme = m.group(1).lower()
        if scheme not in ORIGIN_SCHEME:
            return None
        after = body[m.end():]
        slashes = len(after) - len(after.lstrip("/\\"))
        if slashes == 0 and scheme == page_scheme:
            return None  # "https:foo" on an https page is a relative URL
        after = after[slashes:]
    elif body[:2] in ("//", "\\\\", "/\\", "\\/"):
        scheme = page_scheme if page_scheme in ORIGIN_SCHEME else "https"
        after = body[2:]
    else:
        return None
    end = _AUTH_END_RE.search(after)
    authority, rest = (after[: end.start()], after[end.start():]) if end else (after, "")
    at = authority.rfind("@")
    userinfo, hostport = (authority[: at + 1], authority[at + 1:]) if at >= 0 else ("", authority)
    try:
        origin = _parse_origin(ORIGIN_SCHEME[scheme], hostport)
    except UrlError:
        raise
    except (ValueError, OverflowError, IndexError) as exc:  # a library refusing it another way
        raise UrlError(f"invalid host: {type(exc).__name__}") from exc
    if body is not raw_body:  # the origin was read without tab/newline; the rest stays exactly as written
        rest = _raw_tail(raw_body, len(body) - len(rest))
    return SplitUrl(lead, scheme, userinfo, origin, rest)


@functools.lru_cache(maxsize=ORIGIN_CACHE_SIZE)
def _parse_origin(origin_scheme: str, hostport: str) -> Origin:
    """The origin of ``host[:port]`` as written; memoised, since a page repeats a few origins many times."""
    if hostport.startswith("["):
        close = hostport.find("]")
        host_raw, port_raw = hostport[: close + 1], hostport[close + 1:]
    else:
        colon = hostport.find(":")
        host_raw, port_raw = (hostport[:colon], hostport[colon:]) if colon >= 0 else (hostport, "")
    if port_raw in ("", ":"):
        port = DEFAULT_PORTS[origin_scheme]
    elif port_raw[0] == ":" and port_raw[1:].isdigit() and port_raw[1:].isascii():
        port = int(port_raw[1:])
        if port > 65535:
            raise UrlError("port out of range")
        if port == 0:
            raise UrlError("port 0")
    else:
        raise UrlError("invalid port")
    return Origin(origin_scheme, canonical_host(host_raw), port)


def _raw_tail(raw: str, consumed: int) -> str:
    """``raw`` after its first ``consumed`` characters that are not tab, LF or CR."""
    seen = 0
    for i, ch in enumerate(raw):
        if seen == consumed:
            return raw[i:]
        if ch not in "\t\n\r":
            seen += 1
    return ""


@dataclass(frozen=True, slots=True)
class ProxyBase:
    """Where Tandem is reached: ``scheme://domain`` with domain like ``tandem.localhost:8080``."""

    scheme: str
    domain: str

    @property
    def hostname(self) -> str:
        return self.domain.rsplit(":", 1)[0] if ":" in self.domain else self.domain

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.domain}"

    def origin_for_label(self, label: str) -> str:
        return f"{self.scheme}://{label}.{self.domain}"

    def label_of_host(self, host: str) -> str | None:
        """The label of a Host header value on a proxied host; None for the control plane or others."""
        host = host.strip().lower().rstrip(".")
        if host.startswith("["):
            return None
        hostname = host.rsplit(":", 1)[0] if ":" in host else host
        suffix = "." + self.hostname
        if not hostname.endswith(suffix):
            return None
        label = hostname[: -len(suffix)]
        return label if label and "." not in label else None

    def is_ours(self, host: str) -> bool:
        if len(host) > MAX_HEAD:  # not a host anyone has: not worth remembering (the cache holds its key)
            return _is_ours.__wrapped__(self.domain, host)
        return _is_ours(self.domain, host)


@functools.lru_cache(maxsize=ORIGIN_CACHE_SIZE)  # asked once per origin of every page
def _is_ours(domain: str, host: str) -> bool:
    hostname = domain.rsplit(":", 1)[0] if ":" in domain else domain
    host = host.lower().rstrip(".")
    return host == hostname or host.endswith("." + hostname)


AliasSink = Callable[[str, Origin], None]

MAX_HEADS = 4096  # heads one shared memo holds (one memo serves every mapper of one session and page scheme)
_UNCACHED = object()
_MISSING = object()

# -- The process-wide head memo -------------------------------------------------------------------
# What a mapper makes of a URL head is a pure function of the head and of (proxy base scheme, proxy
# base domain, session id, page scheme): the split (_split_head) reads the head and the page
# scheme; whether the origin is Tandem's own reads the base's domain; the label reads the session
# id; the proxied origin reads the base's scheme and domain. So the answers are kept per context
# (those four, nothing else), in one dict per context that every mapper of the context reads: a
# fresh mapper per page does not work out again what the session's earlier pages already did. Two
# contexts never share a dict, so no answer (whose label carries the session) reaches another
# session, another proxy base or another page scheme (tests/rewriter/test_urls.py).
# Bounded: MAX_CONTEXTS dicts (least recently asked for dropped), MAX_HEADS heads each, heads of at
# most MAX_SHARED_HEAD characters, and MAX_SHARED_ENTRIES in all (then every context is dropped and
# learning starts again). A mapper keeps its context's dict for its life (one response).
# Entries: the new head (str), None (left as is), _INVALID (refused), or an _Alias for a head whose
# origin needs the alias form: that answer is shared too, but each mapper tells its own ``on_alias``
# the first time it uses it, as it did before the memo was shared.
MAX_CONTEXTS = 256
MAX_SHARED_HEAD = 256
MAX_SHARED_ENTRIES = 16384
_shared_entries = 0  # entries added since the contexts were last dropped (approximate under threads)


@functools.lru_cache(maxsize=MAX_CONTEXTS)
def _context_heads(base_scheme: str, base_domain: str, sid: str, page_scheme: str) -> dict:
    """The shared head memo of one context (see above). Every argument is part of the key."""
    return {}


@functools.lru_cache(maxsize=MAX_CONTEXTS)
def _context_markup(base_scheme: str, base_domain: str, sid: str, page_scheme: str) -> dict:
    """The shared memo the HTML rewriter and its compiled core read plain URLs from, for one
    context (``UrlRewriter.markup_memo``): raw head -> new head, or False. Every argument is part
    of the key, as for _context_heads."""
    return {}


def clear_caches() -> None:
    """Drop every process-wide memo of the mapper (a cold start, for benchmarks and tests)."""
    global _shared_entries
    _context_heads.cache_clear()
    _context_markup.cache_clear()
    _shared_entries = 0
    for cached in (_split_head, _parse_origin, _is_ours, labels.encode, labels.decode):
        cached.cache_clear()


def _remember(heads: dict, head: str, entry: object) -> None:
    """Put a learnt answer in a context's shared memo, within the bounds."""
    global _shared_entries
    if len(head) > MAX_SHARED_HEAD:
        return  # worked out again when asked again (the split of heads up to MAX_HEAD is cached)
    if _shared_entries >= MAX_SHARED_ENTRIES:
        _context_heads.cache_clear()  # every context starts again; live mappers keep their dicts
        _context_markup.cache_clear()
        _shared_entries = 0  # (each within MAX_HEADS) until their response is done
    heads.setdefault(head, entry)  # never replaces an answer a reader may hold (threads)
    _shared_entries += 1


class _Alias:
    """A shared head memo entry whose answer uses an alias label: the new head, and what each
    mapper that uses it must tell its ``on_alias`` (once per mapper, through ``_proxied_origin``)."""

    __slots__ = ("head", "origin", "websocket")

    def __init__(self, head: str, origin: Origin, websocket: bool) -> None:
        self.head, self.origin, self.websocket = head, origin, websocket


# The common head: an http(s) or ws(s) scheme or none (protocol-relative), exactly two slashes, and
# a host that needs nothing of canonical_host but lower-casing: ASCII letters, digits, hyphens and
# dots making LDH parts (labels.LDH_PART), the last starting with a letter (so it is no IPv4
# number), no userinfo, no port (the head ends there), no percent, no ``xn--`` (checked apart).
# Such a head maps to a direct label (or an alias when too long) without splitting and
# canonicalising it the general way; what it gives equals what the general way gives (tested).
_SIMPLE_HEAD_RE = re.compile(r"(?:(https?|wss?):)?//((?:%s\.)*[a-z](?:[a-z0-9-]*[a-z0-9])?)" % labels.LDH_PART)


class UrlRewriter:
    """Maps upstream URLs of one session to proxied URLs.

    ``on_alias(hash, origin)`` is called whenever a URL needed the alias form of
    the label, so the session can resolve it when the browser comes asking.

    ``base``, ``sid`` and ``page_scheme`` are fixed for the mapper's life: what it has learnt, and
    the shared memo it reads, are keyed by them.
    """

    def __init__(self, base: ProxyBase, sid: str, page_url: str = "", on_alias: AliasSink | None = None):
        self._base = base
        self._sid = sid
        self._page_scheme = page_url.split(":", 1)[0].lower() if ":" in page_url else "https"
        self.on_alias = on_alias
        self.rewritten = 0
        self.invalid = 0
        self._proxied: dict[tuple[Origin, bool], str | None] = {}  # None: the origin is Tandem's own
        # What ``rewrite`` made of each URL head (HEAD_RE: leading space, scheme, slashes, authority):
        # the new head, None (left as is), _INVALID (a UrlError) or an _Alias. See ``rewrite``.
        # Shared with every mapper of the same context (see _context_heads) when this is a plain
        # UrlRewriter; a subclass may answer otherwise and keeps its own.
        self._shared = type(self) is UrlRewriter and isinstance(sid, str) and isinstance(page_url, str)
        self._heads: dict[str, object] = (
            _context_heads(base.scheme, base.domain, sid, self._page_scheme) if self._shared else {})
        # For the common head (_SIMPLE_HEAD_RE): what its answer is made of, worked out once.
        self._simple = self._shared and labels.is_sid(sid)
        domain = base.domain
        self._hostname = domain.rsplit(":", 1)[0] if ":" in domain else domain
        self._dot_hostname = "." + self._hostname
        self._rel_scheme = self._page_scheme if self._page_scheme in ORIGIN_SCHEME else "https"

    @property
    def base(self) -> ProxyBase:
        return self._base

    # -- the HTML rewriter's memo of plain URL heads --------------------------------------------
    # The HTML rewriter remembers, per raw head (rewriter/html/policy.py's URL_HEAD_RE: the same
    # pattern as HEAD_RE), the new head or False (a javascript: URL, a refused head), and its core
    # edits URLs from that memo without asking the mapper. Those answers are as pure as this
    # mapper's own (a function of the head and the context), except an alias's: a mapper must tell
    # its on_alias itself. So a plain UrlRewriter hands every rewriter of its context one shared
    # memo, and keeps out of it what is not known to be pure.

    def markup_memo(self) -> dict | None:
        """The shared memo for the HTML rewriters of this mapper's context; None for a mapper
        that keeps its own answers (a subclass): the rewriter keeps a memo of its own then."""
        if not self._shared:
            return None
        return _context_markup(self._base.scheme, self._base.domain, self._sid, self._page_scheme)

    def remember_markup(self, memo: dict, head: str, entry: "str | bool") -> None:
        """Put the HTML rewriter's answer for ``head`` in the shared ``memo`` when it holds for
        every mapper of the context: False (a javascript: URL or a refusal), or a new head this
        mapper worked out without an alias. Else nothing: the URL is mapped the long way each
        time (aliases are rare: labels past the DNS limits)."""
        if entry is not False:
            known = self._heads.get(head, _MISSING)
            if known is _MISSING or known.__class__ is _Alias or known is _INVALID:
                return
        _remember(memo, head, entry)

    @property
    def sid(self) -> str:
        return self._sid

    @property
    def page_scheme(self) -> str:
        return self._page_scheme

    def proxy_origin(self, origin: Origin, websocket: bool = False) -> str:
        label, is_alias = labels.encode(self._sid, origin)
        if is_alias and self.on_alias is not None:
            self.on_alias(label.rsplit("-", 1)[1], origin)
        scheme = self._base.scheme
        if websocket:
            scheme = "wss" if scheme == "https" else "ws"
        return f"{scheme}://{label}.{self._base.domain}"

    def _proxied_origin(self, origin: Origin, websocket: bool) -> str | None:
        key = (origin, websocket)
        try:
            return self._proxied[key]
        except KeyError:
            value = None if self._base.is_ours(origin.host.strip("[]")) else self.proxy_origin(origin, websocket)
            self._proxied[key] = value
            return value

    def rewrite(self, value: str) -> str:
        """The proxied form of a raw URL value; ``value`` itself when nothing changes.

        Only the head of a value (:data:`HEAD_RE`) decides what happens to it, and everything after
        the head is kept as written (see :func:`split_url`), so the answer for each head is
        remembered: ``rewrite(head + tail) == rewrite(head) + tail``. A head with a tab, LF or CR
        (the URL parser drops those) is never remembered; those values take the full path."""
        head = HEAD_RE.match(value).group()
        new = self._heads.get(head, _MISSING)
        if new.__class__ is str:
            self.rewritten += 1
            return new + value[len(head):]  # type: ignore[operator]
        if new is None:
            return value
        return self._rewrite_rest(value, head, new)

    def _rewrite_rest(self, value: str, head: str, new: object) -> str:
        """``rewrite`` for a head not learnt yet, refused, or using an alias."""
        if new is _MISSING:
            new = self._learn(head)
            if new is _UNCACHED:
                return self._rewrite_full(value)
            if new is None:
                return value
        if new is _INVALID:
            self.invalid += 1
            return value
        if new.__class__ is _Alias:
            if (new.origin, new.websocket) not in self._proxied:  # type: ignore[attr-defined]
                self._proxied_origin(new.origin, new.websocket)  # type: ignore[attr-defined]  # tells on_alias
            new = new.head  # type: ignore[attr-defined]
        self.rewritten += 1
        return new + value[len(head):]  # type: ignore[operator]

    def _learn(self, head: str) -> str | None | object:
        """What ``rewrite`` does to ``head`` (remembered), or _UNCACHED when it is not memoisable."""
        if len(head) > MAX_HEAD or "\t" in head or "\n" in head or "\r" in head:
            return _UNCACHED
        heads = self._heads
        if len(heads) >= MAX_HEADS:
            return _UNCACHED
        entry: object = _MISSING
        if self._simple and head.isascii():
            entry = self._learn_simple(head)
        if entry is _MISSING:
            # _rewrite_full(head), without its counting: the head's split is the process-wide one
            parts = _split_head(head, self._page_scheme)
            if parts is None or parts is _INVALID:
                entry = parts
            else:
                websocket = parts.scheme in ("ws", "wss")
                proxied = self._proxied_origin(parts.origin, websocket)  # tells on_alias, if it must
                if proxied is None:
                    entry = None
                else:
                    entry = f"{parts.lead}{_with_userinfo(proxied, parts.userinfo)}"
                    if self._shared and labels.encode(self._sid, parts.origin)[1]:
                        entry = _Alias(entry, parts.origin, websocket)
        if self._shared:
            _remember(heads, head, entry)
        else:
            heads[head] = entry
        return entry.head if entry.__class__ is _Alias else entry  # type: ignore[attr-defined]

    def _learn_simple(self, head: str) -> object:
        """What ``rewrite`` does to a head of the common shape (_SIMPLE_HEAD_RE), or _MISSING when
        it is not one (or its label is an alias): the general way decides then."""
        m = _SIMPLE_HEAD_RE.fullmatch(head.lower())
        if m is None:
            return _MISSING
        scheme, host = m.groups()
        if "xn--" in host:
            return _MISSING  # canonical_host checks the punycode
        if scheme is None:
            scheme = self._rel_scheme
        if host == self._hostname or host.endswith(self._dot_hostname):
            return None  # Tandem's own
        label = labels.direct_label_of_ldh(self._sid, ORIGIN_SCHEME[scheme], host)
        if label is None:
            return _MISSING  # too long: an alias, which the session must hear of
        base_scheme = self._base.scheme
        if scheme[0] == "w":
            base_scheme = "wss" if base_scheme == "https" else "ws"
        return f"{base_scheme}://{label}.{self._base.domain}"

    def _rewrite_full(self, value: str, split: Callable[[str, str], SplitUrl | None] | None = None) -> str:
        """``rewrite`` without the head memo: the reference it must agree with (with
        ``split=_split_url_full``, without the process-wide head cache either)."""
        try:
            parts = (split or split_url)(value, self._page_scheme)
        except UrlError:
            self.invalid += 1
            return value
        if parts is None:
            return value
        proxied = self._proxied_origin(parts.origin, parts.scheme in ("ws", "wss"))
        if proxied is None:
            return value
        self.rewritten += 1
        return f"{parts.lead}{_with_userinfo(proxied, parts.userinfo)}{parts.rest}"

    def to_proxy(self, absolute_url: str) -> str:
        """Like rewrite, for URLs known to be absolute (headers, redirects)."""
        return self.rewrite(absolute_url)


def _with_userinfo(proxied: str, userinfo: str) -> str:
    """The proxied origin with the URL's own ``user:pass@`` put back after its scheme."""
    if not userinfo:
        return proxied
    scheme, rest_of_origin = proxied.split("://", 1)
    return f"{scheme}://{userinfo}{rest_of_origin}"


class IdentityRewriter(UrlRewriter):
    """Maps every URL to itself: output of a content rewriter must then equal its input."""

    def __init__(self) -> None:
        super().__init__(ProxyBase("http", "identity.invalid"), "a" * labels.SID_LEN)

    def rewrite(self, value: str) -> str:
        return value


# -- Subresource integrity marker ---------------------------------------------------------------
# The HTML rewriter (and the runtime) cannot leave ``integrity`` on an element: the browser would
# check the REWRITTEN bytes. The site's integrity metadata rides to the proxy instead, as the last
# parameter of the proxied URL's query; the proxy takes it off (the upstream never sees it), checks
# the upstream bytes (proxy/sri.py) and the runtime takes it off every URL the page reads back.
SRI_PARAM = "__tandem_sri"
_SRI_RE = re.compile(r"[?&]" + SRI_PARAM + r"=([^&#]*)")


def sri_marker(integrity: str) -> str:
    """``__tandem_sri=<metadata>`` for an element's integrity value ("" when it is blank)."""
    value = integrity.strip(" \t\n\f\r")
    return f"{SRI_PARAM}={quote(value, safe='')}" if value else ""


def take_sri_marker(path_qs: str) -> tuple[str, str | None]:
    """(path and query without the marker, the integrity metadata or None). The marker is the
    query's last parameter; a page's own parameter of the same name further left is left alone."""
    q = path_qs.find("?")
    if q < 0:
        return path_qs, None
    found = None
    for found in _SRI_RE.finditer(path_qs, q):
        pass
    if found is None or found.end() != len(path_qs):
        return path_qs, None
    start = found.start()
    return path_qs[:start], unquote(found.group(1))

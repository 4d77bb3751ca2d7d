"""The session's server-side cookie jar (RFC 6265bis, as Chromium behaves). Pure: no I/O.

Theory of operation
-------------------
``Set-Cookie`` from an upstream site never reaches the browser. Each co-browsing
session owns one :class:`CookieJar` that stores upstream cookies keyed by the
*upstream* URLs, and the proxy asks it for the ``Cookie`` header of every upstream
request. The browser runtime serves ``document.cookie`` from the same jar through
:meth:`CookieJar.script_read` / :meth:`CookieJar.script_write` (the "non-HTTP API"
of the RFC: no HttpOnly cookies in, none out).

Parsing follows the draft's algorithm (section 5.6): the string is cut at the
first ``;``, the name-value pair at the first ``=``, attribute names are
case-insensitive and the last one of a kind wins; unknown attributes and
malformed values are ignored rather than rejected. Storage follows section 5.7
step by step; each abort is one ``return None`` in ``CookieJar._make_cookie``
with the step it implements beside it.

Choices where the draft leaves room (all Chromium's):

* **Secure contexts.** ``https`` and ``wss`` are secure; so are loopback hosts
  (``localhost``, ``*.localhost``, ``127.0.0.0/8``, ``[::1]``) on any scheme,
  because Chromium treats them as potentially trustworthy. Secure cookies
  therefore work against test upstreams on ``http://127.0.0.1``.
* **Missing SameSite** ("default") is enforced as Lax, with Chromium's
  "Lax-allowing-unsafe" exemption: for :data:`LAX_ALLOWING_UNSAFE_WINDOW` after
  its creation such a cookie is also sent on a cross-site top-level navigation
  with an unsafe method (a POST back from an identity provider). Pass
  ``lax_allowing_unsafe=False`` to turn it off.
* **Expiry** is capped at :data:`MAX_COOKIE_AGE` (400 days) from now.
* **Domain on an IP host** is accepted only when it equals the host, and the
  cookie becomes host-only. IP hosts never domain-match anything but themselves.
* **Prefixes** are matched case-insensitively (newest draft): ``__Secure-``,
  ``__Host-`` and ``__Http-`` (Secure and HttpOnly, so never settable by script;
  ``__Host-Http-`` combines both rules).
* **Limits** are counted per *site* (registrable domain), as Chromium keys them.
  Eviction takes expired cookies first, then least-recently-used non-Secure,
  then least-recently-used of any kind; the cookie being inserted is never the
  one evicted.
* **URLs that carry no cookies** (other schemes, unparseable) are not an
  error: nothing is stored and nothing is sent.

Nothing expired is ever returned: expired cookies are purged lazily whenever
the clock has passed the earliest expiry in the jar.
"""

from __future__ import annotations

import calendar
import datetime
import functools
import ipaddress
import re
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

from .urls import UrlError, split_url

# --- limits ------------------------------------------------------------------

# Draft 5.6 step 5 / 5.7 step 4: longer name+value pairs are ignored entirely (octets).
MAX_NAME_VALUE_BYTES = 4096
# Draft 5.6 (attributes): a longer attribute value is ignored (octets). Bounds Path and Domain.
MAX_ATTRIBUTE_VALUE_BYTES = 1024
# Draft 5.6.1/5.6.2: expiry is capped at 400 days from now, as browsers do.
MAX_COOKIE_AGE = 400 * 24 * 3600.0
# Chromium's kDomainMaxCookies: cookies kept per site before the oldest go.
MAX_COOKIES_PER_SITE = 180
# Draft section 6.1 suggests at least 3000 in total; one session's jar never needs more.
MAX_COOKIES_TOTAL = 3000
# Chromium's "Lax-allowing-unsafe": cookies without SameSite still go on cross-site
# top-level POST navigations for this long after creation (SSO POST-backs).
LAX_ALLOWING_UNSAFE_WINDOW = 120.0
# Set-Cookie values handled per response: more is an abuse of the jar, not a site's need.
MAX_SET_COOKIE_PER_RESPONSE = 200

# Methods the draft (via RFC 9110) calls "safe".
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
SECURE_SCHEMES = frozenset({"https", "wss"})
SAME_SITE_VALUES = ("strict", "lax", "none")  # anything else is "default"

_WSP = " \t"
# Draft 5.6 step 1: CTLs except HTAB make the whole string ignored.
_CTL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Draft 5.1.1: the delimiters between cookie-date tokens.
_DATE_DELIMS_RE = re.compile(r"[\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+")
_TIME_RE = re.compile(r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[^0-9].*)?", re.DOTALL)
_DAY_RE = re.compile(r"([0-9]{1,2})(?:[^0-9].*)?", re.DOTALL)
_YEAR_RE = re.compile(r"([0-9]{2,4})(?:[^0-9].*)?", re.DOTALL)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MAX_AGE_RE = re.compile(r"-?[0-9]+")
_PORT_RE = re.compile(r":[0-9]*$")


# --- sites -------------------------------------------------------------------

@functools.cache
def _psl() -> PublicSuffixList:
    """The bundled Public Suffix List (ICANN and private sections; never fetched)."""
    return PublicSuffixList()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _is_public_suffix(domain: str) -> bool:
    if not domain or _is_ip(domain):
        return False
    try:
        return bool(_psl().is_public(domain))
    except Exception:  # the list's parser on odd input (empty labels): not a known suffix
        return False


def _host_of(url_or_host: str) -> str:
    if "://" in url_or_host:
        try:
            return (urlsplit(url_or_host).hostname or "").lower()
        except ValueError:
            return ""
    host = url_or_host.strip().lower()
    if host.startswith("["):
        return host[1: host.find("]")] if "]" in host else host[1:]
    if _is_ip(host):
        return host
    return _PORT_RE.sub("", host)


def site_of(url_or_host: str) -> str:
    """The registrable domain (eTLD+1) of a URL or host.

    The host itself for IP addresses, ``localhost``-style single labels and hosts
    that are public suffixes; ``""`` when there is no host.
    """
    host = _host_of(url_or_host).rstrip(".")
    if not host or _is_ip(host):
        return host
    try:
        site = _psl().privatesuffix(host)
    except Exception:  # malformed host the list can't split: it is its own site
        site = None
    return site or host


def _scheme_class(scheme: str) -> str:
    return "https" if scheme in SECURE_SCHEMES else "http"


# --- request context ------------------------------------------------------------

@dataclass(frozen=True)
class RequestContext:
    """How the browser made the request, in upstream terms."""

    method: str = "GET"
    # initiator's site == target's site (upstream registrable domains, scheme-aware:
    # http and https differ under schemeful same-site)
    same_site: bool = True
    top_level_navigation: bool = False

    @classmethod
    def from_urls(cls, target_url: str, initiator_url: str | None, *, method: str = "GET",
                  top_level_navigation: bool = False) -> "RequestContext":
        """Judge same-site from the two upstream URLs; initiator None means a typed navigation."""
        same = True
        if initiator_url is not None:
            target, initiator = _parse(target_url), _parse(initiator_url)
            same = (target is not None and initiator is not None
                    and _scheme_class(target.scheme) == _scheme_class(initiator.scheme)
                    and site_of(target.host) == site_of(initiator.host))
        return cls(method=method.upper(), same_site=same, top_level_navigation=top_level_navigation)


# --- URLs ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Url:
    scheme: str
    host: str  # canonical; IPv6 without brackets
    path: str  # never empty

    @property
    def secure(self) -> bool:
        """A secure protocol, or a loopback host Chromium treats as trustworthy."""
        return self.scheme in SECURE_SCHEMES or _is_loopback(self.host)


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse(url: str) -> _Url | None:
    try:
        parts = split_url(url)
    except (UrlError, ValueError):
        return None
    if parts is None:
        return None
    path = parts.rest.split("?", 1)[0].split("#", 1)[0].replace("\\", "/")
    return _Url(parts.scheme, parts.origin.host.strip("[]"), path or "/")


def default_path(uri_path: str) -> str:
    """Draft 5.1.4: the directory of the request path."""
    if not uri_path.startswith("/") or uri_path.count("/") == 1:
        return "/"
    return uri_path[: uri_path.rfind("/")]


def path_match(request_path: str, cookie_path: str) -> bool:
    """Draft 5.1.4: ``request_path`` is at or below ``cookie_path``."""
    if request_path == cookie_path:
        return True
    return request_path.startswith(cookie_path) and (
        cookie_path.endswith("/") or request_path[len(cookie_path)] == "/")


def domain_match(host: str, domain: str) -> bool:
    """Draft 5.1.3: ``host`` is ``domain`` or a name below it (never for IP addresses)."""
    if host == domain:
        return True
    return host.endswith("." + domain) and bool(domain) and not _is_ip(host)


# --- dates ---------------------------------------------------------------------

def parse_cookie_date(value: str) -> float | None:
    """Draft 5.1.1: the tolerant cookie-date algorithm; seconds since the epoch, or None."""
    hms = day = month = year = None
    for token in _DATE_DELIMS_RE.split(value):
        if not token:
            continue
        if hms is None and (m := _TIME_RE.fullmatch(token)):
            hms = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
        elif day is None and (m := _DAY_RE.fullmatch(token)):
            day = int(m.group(1))
        elif month is None and token[:3].lower() in _MONTHS:
            month = _MONTHS.index(token[:3].lower()) + 1
        elif year is None and (m := _YEAR_RE.fullmatch(token)):
            year = int(m.group(1))
    if hms is None or day is None or month is None or year is None:
        return None
    if 70 <= year <= 99:
        year += 1900
    elif 0 <= year <= 69:
        year += 2000
    hour, minute, second = hms
    if not 1 <= day <= 31 or year < 1601 or hour > 23 or minute > 59 or second > 59:
        return None
    try:
        when = datetime.datetime(year, month, day, hour, minute, second)
    except ValueError:  # 31 April, 29 February of a common year
        return None
    return float(calendar.timegm(when.timetuple()))


# --- parsing -------------------------------------------------------------------

def _octets(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


@dataclass(slots=True)
class SetCookie:
    """A parsed set-cookie-string: name, value and the last valid value of each attribute."""

    name: str
    value: str
    expires: float | None = None
    max_age: int | None = None
    domain: str | None = None
    path: str | None = None  # None: no (valid) Path attribute
    secure: bool = False
    http_only: bool = False
    same_site: str = "default"


def parse_set_cookie(text: str) -> SetCookie | None:
    """Draft 5.6: a set-cookie-string into name, value and attributes; None if ignored."""
    if _CTL_RE.search(text):
        return None
    pair, _, attrs = text.partition(";")
    if "=" in pair:
        name, _, value = pair.partition("=")
    else:
        name, value = "", pair
    name, value = name.strip(_WSP), value.strip(_WSP)
    if _octets(name) + _octets(value) > MAX_NAME_VALUE_BYTES:
        return None
    parsed = SetCookie(name, value)
    for av in attrs.split(";") if attrs else ():
        key, _, val = av.partition("=")
        key, val = key.strip(_WSP).lower(), val.strip(_WSP)
        if _octets(val) > MAX_ATTRIBUTE_VALUE_BYTES:
            continue
        if key == "expires":
            when = parse_cookie_date(val)
            if when is not None:
                parsed.expires = when
        elif key == "max-age":
            if _MAX_AGE_RE.fullmatch(val):
                parsed.max_age = int(val)
        elif key == "domain":
            parsed.domain = val[1:] if val.startswith(".") else val
            parsed.domain = parsed.domain.lower()
        elif key == "path":
            parsed.path = val if val.startswith("/") else None
        elif key == "secure":
            parsed.secure = True
        elif key == "httponly":
            parsed.http_only = True
        elif key == "samesite":
            val = val.lower()
            parsed.same_site = val if val in SAME_SITE_VALUES else "default"
    return parsed


# --- the jar -------------------------------------------------------------------

@dataclass(slots=True)
class Cookie:
    """One stored cookie (draft 5.7's fields)."""

    name: str
    value: str
    domain: str
    path: str
    host_only: bool
    secure: bool
    http_only: bool
    same_site: str  # "strict", "lax", "none" or "default" (no valid attribute)
    expiry: float | None  # None: a session cookie, kept for the jar's life
    creation: float
    last_access: float
    seq: int = field(default=0, compare=False)  # breaks ties between equal creation times
    site: str = field(default="", compare=False, repr=False)  # site_of(domain), for the limits

    @property
    def persistent(self) -> bool:
        return self.expiry is not None

    @property
    def key(self) -> tuple[str, str, bool, str]:
        return (self.name, self.domain, self.host_only, self.path)

    def pair(self) -> str:
        """Draft 5.8.3 step 4: ``name=value``, or just the value when the name is empty."""
        return f"{self.name}={self.value}" if self.name else self.value


def _has_prefix(name: str, prefix: str) -> bool:
    return name[: len(prefix)].lower() == prefix.lower()


class CookieJar:
    """All upstream cookies of one co-browsing session."""

    def __init__(self, *, clock: Callable[[], float] = time.time,
                 lax_allowing_unsafe: bool = True) -> None:
        self._clock = clock
        self._lax_allowing_unsafe = lax_allowing_unsafe
        self._cookies: dict[tuple[str, str, bool, str], Cookie] = {}
        self._site_counts: dict[str, int] = {}
        self._next_expiry = float("inf")
        self._seq = 0

    # -- public API

    def set_from_response(self, url: str, set_cookie_values: Iterable[str],
                          ctx: RequestContext = RequestContext()) -> int:
        """Store the cookies of an upstream response; the number accepted.

        A value that deletes a cookie (expiry in the past) counts as accepted.
        """
        target = _parse(url)
        if target is None:
            return 0
        accepted = 0
        for i, text in enumerate(set_cookie_values):
            if i >= MAX_SET_COOKIE_PER_RESPONSE:
                break
            if self._receive(target, text, ctx, http_api=True):
                accepted += 1
        return accepted

    def cookie_header(self, url: str, ctx: RequestContext = RequestContext()) -> str | None:
        """The ``Cookie`` header for an upstream request to ``url``; None if no cookies."""
        if not self._cookies:  # nothing to send (nor to expire): the URL need not be read
            return None
        target = _parse(url)
        if target is None:
            return None
        return self._cookie_string(target, ctx, http_api=True) or None

    def script_read(self, url: str, ctx: RequestContext = RequestContext()) -> str:
        """``document.cookie`` for a document at ``url``: non-HttpOnly cookies only.

        ``ctx.same_site`` says whether the document's site for cookies is same-site
        with ``url`` (false in a cross-site frame: only SameSite=None cookies show).
        """
        target = _parse(url)
        if target is None:
            return ""
        return self._cookie_string(target, ctx, http_api=False)

    def script_write(self, url: str, cookie_string: str,
                     ctx: RequestContext = RequestContext()) -> bool:
        """``document.cookie = cookie_string`` in a document at ``url``; True if accepted.

        Never sets or replaces an HttpOnly cookie.
        """
        target = _parse(url)
        if target is None:
            return False
        return self._receive(target, cookie_string, ctx, http_api=False)

    def expires_in(self) -> float:
        """Seconds until the next cookie of the jar expires (inf when none will); never more."""
        now = self._clock()
        self._purge_expired(now)
        return self._next_expiry - now

    def clear(self) -> None:
        self._cookies.clear()
        self._site_counts.clear()
        self._next_expiry = float("inf")

    def __len__(self) -> int:
        self._purge_expired(self._clock())
        return len(self._cookies)

    def snapshot(self) -> list[Cookie]:
        """Copies of the live cookies, in insertion order (for debugging and tests)."""
        self._purge_expired(self._clock())
        return [replace(c) for c in self._cookies.values()]

    # -- persistence: the session's live state keeps the jar across restarts and nodes

    def mark(self) -> dict:
        """A cheap token of the jar's contents now, for :meth:`changes_since`."""
        return dict(self._cookies)

    def changes_since(self, mark: dict) -> tuple[dict[str, dict], list[str]]:
        """(records added or replaced, keys removed) since ``mark``, keyed by :func:`record_key`.

        A stored cookie is never changed in place (a new Set-Cookie replaces the object),
        so identity tells what changed; ``last_access`` is not tracked.
        """
        now = self._cookies
        upserts = {record_key(c): to_record(c) for k, c in now.items() if mark.get(k) is not c}
        removed = [record_key(c) for k, c in mark.items() if k not in now]
        return upserts, removed

    def records(self) -> dict[str, dict]:
        """Every stored cookie as a plain JSON-able record, by :func:`record_key`."""
        return {record_key(c): to_record(c) for c in self._cookies.values()}

    def load(self, records: Iterable[dict]) -> int:
        """Replace the contents with ``records`` (from :meth:`records`); malformed ones are skipped."""
        self.clear()
        loaded = 0
        for r in records:
            c = from_record(r)
            if c is not None and c.key not in self._cookies:
                self._add(c)
                self._seq = max(self._seq, c.seq)
                loaded += 1
        self._purge_expired(self._clock())
        return loaded

    # -- storage model (draft 5.7)

    def _receive(self, url: _Url, text: str, ctx: RequestContext, *, http_api: bool) -> bool:
        parsed = parse_set_cookie(text)  # 5.6 steps 1 and 5 (CTLs, sizes)
        if parsed is None:
            return False
        cookie = self._make_cookie(url, parsed, ctx, http_api=http_api)
        if cookie is None:
            return False
        now = cookie.creation
        self._purge_expired(now)
        old = self._cookies.get(cookie.key)
        if old is not None:  # step 23
            if not http_api and old.http_only:
                return False
            cookie.creation, cookie.seq = old.creation, old.seq
            self._remove(old)
        if cookie.expiry is not None and cookie.expiry <= now:
            return True  # stored and at once evicted: a deletion
        self._add(cookie)
        self._enforce_limits(cookie)
        return True

    def _make_cookie(self, url: _Url, p: SetCookie, ctx: RequestContext, *,
                     http_api: bool) -> Cookie | None:
        name, value = p.name, p.value
        if not name and not value:  # step 2
            return None
        now = self._clock()
        # step 6: Max-Age wins over Expires; both capped at MAX_COOKIE_AGE.
        expiry: float | None = None
        if p.max_age is not None:
            expiry = now + min(p.max_age, MAX_COOKIE_AGE) if p.max_age > 0 else now
        elif p.expires is not None:
            expiry = min(p.expires, now + MAX_COOKIE_AGE)
        # steps 7-10: Domain.
        domain_attr = p.domain or ""
        if not domain_attr.isascii():  # step 8
            return None
        if _is_ip(url.host):
            if domain_attr and domain_attr.strip("[]") != url.host:
                return None
            domain_attr = ""
        if domain_attr and _is_public_suffix(domain_attr):  # step 9
            if domain_attr != url.host:
                return None
            domain_attr = ""
        if domain_attr:  # step 10
            if not domain_match(url.host, domain_attr):
                return None
            domain, host_only = domain_attr, False
        else:
            domain, host_only = url.host, True
        path = p.path if p.path is not None else default_path(url.path)  # step 11
        if p.secure and not url.secure:  # steps 12-13
            return None
        if p.http_only and not http_api:  # steps 14-15
            return None
        if not p.secure and not url.secure and self._shadows_secure(name, domain, path):
            return None  # step 16: leave secure cookies alone
        same_site = p.same_site  # step 17
        if same_site != "none" and not ctx.same_site:  # step 18
            if not http_api or not ctx.top_level_navigation:
                return None
        if same_site == "none" and not p.secure:  # step 19
            return None
        if not p.secure and (_has_prefix(name, "__Secure-") or _has_prefix(name, "__Host-")
                             or _has_prefix(name, "__Http-")):
            return None  # step 20 (and the __Http- rule's Secure half)
        if _has_prefix(name, "__Host-") and not (host_only and p.path == "/"):
            return None  # step 21
        if (_has_prefix(name, "__Http-") or _has_prefix(name, "__Host-Http-")) and not p.http_only:
            return None  # __Http- prefix: HttpOnly, hence from HTTP only
        if not name and any(_has_prefix(value, pre) for pre in
                            ("__Secure-", "__Host-", "__Http-")):
            return None  # step 22: a nameless cookie must not look prefixed
        self._seq += 1
        return Cookie(name, value, domain, path, host_only, p.secure, p.http_only, same_site,
                      expiry, now, now, self._seq, site_of(domain))

    def _shadows_secure(self, name: str, domain: str, path: str) -> bool:
        for c in self._cookies.values():
            if (c.secure and c.name == name
                    and (domain_match(c.domain, domain) or domain_match(domain, c.domain))
                    and path_match(path, c.path)):
                return True
        return False

    # -- retrieval (draft 5.8.3)

    def _cookie_string(self, url: _Url, ctx: RequestContext, *, http_api: bool) -> str:
        now = self._clock()
        self._purge_expired(now)
        chosen = [c for c in self._cookies.values()
                  if (url.host == c.domain if c.host_only else domain_match(url.host, c.domain))
                  and path_match(url.path, c.path)
                  and (url.secure or not c.secure)
                  and (http_api or not c.http_only)
                  and self._same_site_allows(c, ctx, now, http_api=http_api)]
        chosen.sort(key=lambda c: (-len(c.path), c.creation, c.seq))
        for c in chosen:
            c.last_access = now
        return "; ".join(c.pair() for c in chosen)

    def _same_site_allows(self, c: Cookie, ctx: RequestContext, now: float, *,
                          http_api: bool) -> bool:
        if c.same_site == "none" or ctx.same_site:
            return True
        if c.same_site == "strict" or not http_api or not ctx.top_level_navigation:
            return False
        if ctx.method.upper() in SAFE_METHODS:
            return True  # Lax (and default-as-Lax) on a cross-site top-level safe navigation
        return (c.same_site == "default" and self._lax_allowing_unsafe
                and now - c.creation <= LAX_ALLOWING_UNSAFE_WINDOW)

    # -- bookkeeping and eviction

    def _add(self, c: Cookie) -> None:
        self._cookies[c.key] = c
        self._site_counts[c.site] = self._site_counts.get(c.site, 0) + 1
        if c.expiry is not None:
            self._next_expiry = min(self._next_expiry, c.expiry)

    def _remove(self, c: Cookie) -> None:
        del self._cookies[c.key]
        left = self._site_counts[c.site] - 1
        if left:
            self._site_counts[c.site] = left
        else:
            del self._site_counts[c.site]

    def _purge_expired(self, now: float) -> None:
        if now < self._next_expiry:
            return
        for c in [c for c in self._cookies.values() if c.expiry is not None and c.expiry <= now]:
            self._remove(c)
        self._next_expiry = min((c.expiry for c in self._cookies.values()
                                 if c.expiry is not None), default=float("inf"))

    def _enforce_limits(self, newest: Cookie) -> None:
        excess = self._site_counts[newest.site] - MAX_COOKIES_PER_SITE
        if excess > 0:
            pool = [c for c in self._cookies.values() if c.site == newest.site]
            self._evict(pool, excess, newest)
        excess = len(self._cookies) - MAX_COOKIES_TOTAL
        if excess > 0:
            self._evict(list(self._cookies.values()), excess, newest)

    def _evict(self, pool: list[Cookie], excess: int, keep: Cookie) -> None:
        """Drop ``excess`` cookies of ``pool``: non-Secure LRU first, then any LRU."""
        if excess <= 0:
            return
        candidates = sorted((c for c in pool if c is not keep),
                            key=lambda c: (c.secure, c.last_access, c.creation, c.seq))
        for c in candidates[:excess]:
            self._remove(c)


# --- records: a stored cookie as plain data (the live-state backends keep these) -----------

_RECORD_FIELDS = ("name", "value", "domain", "path", "host_only", "secure", "http_only", "same_site",
                  "expiry", "creation", "last_access", "seq")


def record_key(c: Cookie) -> str:
    """One string per cookie identity (name, domain, host-only, path): a hash field or row key."""
    return "\x1f".join((c.name, c.domain, "h" if c.host_only else "d", c.path))


def to_record(c: Cookie) -> dict:
    return {f: getattr(c, f) for f in _RECORD_FIELDS}


def from_record(r: object) -> Cookie | None:
    """The cookie a record describes, or None when it is not a well-formed record."""
    if not isinstance(r, dict):
        return None
    try:
        strings = [r[f] for f in ("name", "value", "domain", "path", "same_site")]
        flags = [r[f] for f in ("host_only", "secure", "http_only")]
        times = [r["creation"], r["last_access"]]
        expiry, seq = r["expiry"], r["seq"]
    except KeyError:
        return None
    if (not all(isinstance(s, str) for s in strings) or not all(isinstance(b, bool) for b in flags)
            or not all(isinstance(t, (int, float)) for t in times) or not isinstance(seq, int)
            or not (expiry is None or isinstance(expiry, (int, float)))
            or strings[4] not in (*SAME_SITE_VALUES, "default")):
        return None
    name, value, domain, path, same_site = strings
    return Cookie(name, value, domain, path, flags[0], flags[1], flags[2], same_site,
                  float(expiry) if expiry is not None else None, float(times[0]), float(times[1]), seq,
                  site_of(domain))

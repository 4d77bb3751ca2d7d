"""Domain allowlist: which sites may be co-browsed.

Rules (also in the README):
* An empty list allows every site the address guard allows.
* Otherwise a top-level or frame navigation is allowed only to a host that
  matches an entry: ``example.com`` matches exactly that host, ``*.example.com``
  matches any subdomain of it (not the apex; list both when both are wanted).
* Subresources (images, scripts, XHR …) are free unless the tab owner's page is on
  an entry with scope ``all``: then they too must go to listed hosts. The page is
  what the server knows (the last top-level document it served the tab owner, else
  the session's start URL), never a ``Referer``. Whatever a request claims, a
  *document* from an unlisted host is refused. These rules are applied by
  :func:`proxy.decide.decide`; this module only matches hosts.
* Private networks opened by ``--allow-private-networks`` are reachable only for
  hosts that are on the list themselves (an empty list lists every host).
* An entry may carry a ``redirect`` URL: navigations to hosts it matches are sent
  there instead (through the proxy), e.g. a login domain that must not be
  co-browsed sends people to a help page. The target may not match the entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

NAVIGATION, ALL = "navigation", "all"
_PATTERN_RE = re.compile(r"(\*\.)?([a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)(\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*")


class PatternError(ValueError):
    pass


def normalize_pattern(pattern: str) -> str:
    """Lower-case, strip scheme/port/path people paste by habit, validate."""
    p = pattern.strip().lower()
    p = re.sub(r"^[a-z]+://", "", p).split("/", 1)[0].rstrip(".")
    if ":" in p and not p.startswith("["):
        p = p.split(":", 1)[0]
    if not _PATTERN_RE.fullmatch(p):
        raise PatternError(f"not a host name or *.domain pattern: {pattern!r}")
    return p


MAX_REDIRECT_LENGTH = 2048  # an allowlist redirect is a landing page address, not a data carrier


def check_redirect(pattern: str, redirect: str) -> str:
    """Validate an entry's redirect: absolute http(s), not back into the pattern it redirects."""
    from urllib.parse import urlsplit

    redirect = redirect.strip()
    try:
        parts = urlsplit(redirect)
        host = parts.hostname or ""
    except ValueError as exc:
        raise PatternError(f"redirect is not a valid address: {redirect[:80]!r}") from exc
    if parts.scheme not in ("http", "https") or not host or len(redirect) > MAX_REDIRECT_LENGTH:
        raise PatternError("redirect must be an absolute http:// or https:// address")
    if matches(pattern, host):
        raise PatternError("redirect must not point back into the pattern it redirects (it would loop)")
    return redirect


def matches(pattern: str, host: str) -> bool:
    host = host.lower().rstrip(".")
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


@dataclass(frozen=True)
class Entry:
    pattern: str
    scope: str = NAVIGATION
    redirect: str | None = None


class Allowlist:
    def __init__(self, entries: Iterable[Entry] = ()):
        self.entries = tuple(entries)

    @property
    def open(self) -> bool:
        return not self.entries

    def entry_for(self, host: str) -> Entry | None:
        # The most specific entry wins: exact before wildcard, longer before shorter.
        best = None
        for e in self.entries:
            if matches(e.pattern, host) and (best is None or _specificity(e) > _specificity(best)):
                best = e
        return best

    def allows_navigation(self, host: str) -> bool:
        return self.open or self.entry_for(host) is not None


def _specificity(e: Entry) -> tuple[int, int]:
    return (0 if e.pattern.startswith("*.") else 1, len(e.pattern))

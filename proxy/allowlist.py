"""Domain allowlist: which sites may be co-browsed.

Rules (also in the README):
* An empty list allows every site the address guard allows.
* Otherwise a top-level or frame navigation is allowed only to a host that
  matches an entry: ``example.com`` matches exactly that host, ``*.example.com``
  matches any subdomain of it (not the apex; list both when both are wanted).
* Subresources (images, scripts, XHR …) are free unless the page that asked for
  them is on an entry with scope ``all``: then they too must go to listed hosts.
  The page is known from the request's upstream ``Referer``; a subresource with
  no Referer is held to the strictest entry in force.
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


def matches(pattern: str, host: str) -> bool:
    host = host.lower().rstrip(".")
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


@dataclass(frozen=True)
class Entry:
    pattern: str
    scope: str = NAVIGATION


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

    def allows_subresource(self, host: str, page_host: str | None) -> bool:
        if self.open or self.entry_for(host) is not None:
            return True
        if page_host is None:
            return not any(e.scope == ALL for e in self.entries)
        page_entry = self.entry_for(page_host)
        return page_entry is None or page_entry.scope != ALL


def _specificity(e: Entry) -> tuple[int, int]:
    return (0 if e.pattern.startswith("*.") else 1, len(e.pattern))

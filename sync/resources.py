"""What a mirror may load: the resource URLs present in the DOM stream followers were sent.

The follower wall (proxy/decide.py) serves a follower only images, styles, fonts and media,
and of those only what the mirror actually needs: URLs that appear in the events the room
relayed (attributes of serialised nodes and attribute changes, ``srcset`` candidates,
``url()`` / ``@import`` in style attributes, inlined stylesheets and CSSOM changes), plus
what a stylesheet the mirror may load itself references, or where an allowed URL redirects
(:meth:`MirrorResources.note_refs`).
Blocked elements are never serialised and masked elements' URL attributes are dropped by
the recorder, so their URLs never get in: a follower guessing one is refused.

URLs are kept as the *upstream* URLs the proxy asks for (the recorder writes the site's
own URLs; a proxied one is mapped back with the room's ``to_upstream``), canonical (fragment dropped, dot segments resolved, what a browser would
percent-encode encoded). The set is per page: each full snapshot starts a new generation
and the one before stays for loads still in flight; each generation is bounded.

Pure code: no I/O, no clock.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from rewriter.css import rewrite_css

MAX_URLS = 20_000  # one generation (one page's snapshot and what followed): bounds memory per room
MAX_URL_LENGTH = 8 * 1024
SRCSET_ATTRS = frozenset({"srcset", "imagesrcset"})
_CSS_HINT = re.compile(r"url\(|@import|image-set\(|src\(", re.IGNORECASE)
_SAFE = "%/:=&?~#+!$,;'@()*[]"  # what stays as it is; the rest is percent-encoded as a browser sends it
MAX_IMPORT_DEPTH = 4  # stylesheets importing stylesheets: as deep as real sites go
MAX_DEPTH = 200  # serialised node trees deeper than this are not walked further (rrweb's own limit is lower)


def canonical(url: str) -> str | None:
    """The form two spellings of one resource URL share, or None for what is not an http(s) URL."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        return None
    url = url.strip()
    if not url.lower().startswith(("http://", "https://")):
        return None
    try:
        parts = urlsplit(url)
        path = parts.path or "/"
        if "/." in path:
            path = urlsplit(urljoin("http://x/", path)).path
        return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), quote(path, safe=_SAFE),
                           quote(parts.query, safe=_SAFE), ""))
    except ValueError:
        return None


def _srcset(value: str) -> list[str]:
    out = []
    for candidate in value.split(","):
        words = candidate.strip().split()
        if words:
            out.append(words[0])
    return out


class _Collect:
    """A URL mapper for the CSS rewriter that only writes down what it is shown."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def rewrite(self, url: str, *args: Any, **kw: Any) -> str:
        self.seen.append(url)
        return url


def css_urls(text: str) -> list[str]:
    """Every URL a stylesheet (or a declaration list) references, as written."""
    if not isinstance(text, str) or not _CSS_HINT.search(text):
        return []
    collect = _Collect()
    rewrite_css(text, collect)  # type: ignore[arg-type]  (only .rewrite is used)
    return collect.seen


def event_urls(events: Iterable[Any]) -> list[str]:
    """The resource URLs, as written, in rrweb events (snapshots, mutations, CSSOM changes)."""
    out: list[str] = []

    def attrs(attributes: dict) -> None:
        for name, value in attributes.items():
            if not isinstance(value, str) or not value:
                continue
            if name in SRCSET_ATTRS:
                out.extend(_srcset(value))
            elif name in ("style", "_cssText"):
                out.extend(css_urls(value))
            elif value[:8].lower().startswith(("http://", "https://")):
                out.append(value)

    def walk(obj: Any, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        if isinstance(obj, dict):
            for key, value in obj.items():
                if key == "attributes" and isinstance(value, dict):
                    attrs(value)
                elif isinstance(value, str):
                    if key in ("rule", "value", "textContent", "cssText", "fontSource"):
                        out.extend(css_urls(value))  # CSSOM rules, declarations, <style> text
                elif isinstance(value, (dict, list)):
                    walk(value, depth + 1)
        elif isinstance(obj, list):
            for item in obj:
                if isinstance(item, (dict, list)):
                    walk(item, depth + 1)

    walk(list(events), 0)
    return out


class MirrorResources:
    """The upstream URLs a room's followers may load (see the module docstring)."""

    def __init__(self, to_upstream: Callable[[str], str | None]):
        self.to_upstream = to_upstream
        self.current: set[str] = set()
        self.previous: set[str] = set()
        # stylesheet -> what it references, and back; kept across pages (a follower's browser may
        # have the sheet cached and ask only for its fonts), bounded like a generation
        self.refs_of: dict[str, frozenset[str]] = {}
        self.sheets_of: dict[str, set[str]] = {}
        self._refs = 0

    def _key(self, url: str, base: str | None) -> str | None:
        if not isinstance(url, str):
            return None
        try:
            url = urljoin(base, url.strip()) if base else url.strip()
        except ValueError:
            return None
        plain = canonical(url)
        if plain is None:
            return None
        # the recorder writes the site's own URLs (the runtime shows the page its real address); a
        # proxied URL of this session, should one appear, is mapped back
        upstream = self.to_upstream(plain)
        return canonical(upstream) if upstream else plain

    def new_page(self) -> None:
        """A full snapshot starts: what the page before used stays only until the next one."""
        self.previous, self.current = self.current, set()

    def note_events(self, events: Iterable[Any], base: str | None) -> None:
        """Relayed events; ``base`` (the page's proxied URL) resolves relative URLs in CSSOM changes."""
        for url in event_urls(events):
            if len(self.current) >= MAX_URLS:
                return  # fail closed: past the bound a mirror misses resources, nobody gets more
            key = self._key(url, base)
            if key is not None:
                self.current.add(key)

    def note_refs(self, sheet: str, urls: Iterable[str]) -> None:
        """A resource served to a follower leads to others: a stylesheet (``sheet``: its upstream URL)
        references ``urls`` (as written, :func:`css_urls`), a redirect names its ``Location``. They
        may be loaded whenever ``sheet`` may."""
        sheet_key = canonical(sheet)
        if sheet_key is None or sheet_key in self.refs_of or not self.allows(sheet_key):
            return
        refs = set()
        for url in urls:
            if self._refs + len(refs) >= MAX_URLS:
                break
            try:
                absolute = canonical(urljoin(sheet_key, url.strip()))
            except ValueError:
                continue
            if absolute is None:
                continue
            # the served sheet's URLs are proxied ones (mapped back); relative ones are upstream already
            mapped = self.to_upstream(absolute)
            key = canonical(mapped) if mapped else absolute
            if key is not None:
                refs.add(key)
        self.refs_of[sheet_key] = frozenset(refs)
        self._refs += len(refs)
        for key in refs:
            self.sheets_of.setdefault(key, set()).add(sheet_key)

    def allows(self, upstream_url: str, _depth: int = 0) -> bool:
        key = canonical(upstream_url)
        if key is None:
            return False
        if key in self.current or key in self.previous:
            return True
        if _depth >= MAX_IMPORT_DEPTH:
            return False
        return any(self.allows(sheet, _depth + 1) for sheet in self.sheets_of.get(key, ()))

    def clear(self) -> None:
        self.current, self.previous = set(), set()
        self.refs_of, self.sheets_of, self._refs = {}, {}, 0

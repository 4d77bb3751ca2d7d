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

import json
import re
from functools import lru_cache
from typing import Any, Callable, Iterable
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from rewriter.html.values import srcset_url_spans


MAX_URLS = 20_000  # one generation (one page's snapshot and what followed): bounds memory per room
MAX_URL_LENGTH = 8 * 1024
_CSS_HINT = re.compile(r"url\(|@import", re.IGNORECASE)
_SAFE = "%/:=&?~#+!$,;'@()*[]"  # what stays as it is; the rest is percent-encoded as a browser sends it
MAX_IMPORT_DEPTH = 4  # stylesheets importing stylesheets: as deep as real sites go


# Already canonical: lower-case http(s) scheme and host, no fragment, no dot segment, nothing to encode.
_PLAIN = re.compile(r"https?://[a-z0-9.:\[\]-]+(?:/[A-Za-z0-9_~!$&'()*+,;=:@%?./-]*)?")


@lru_cache(maxsize=32_768)  # the same URLs come back with every snapshot and every follower's load
def canonical(url: str) -> str | None:
    """The form two spellings of one resource URL share, or None for what is not an http(s) URL."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        return None
    if _PLAIN.fullmatch(url) and "/." not in url:
        return url if "/" in url[8:] else url + "/"
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
    """The candidate URLs of a srcset value, by the WHATWG grammar: a URL may hold commas
    (``?resize=1800,1200``); only a comma after it, or after its descriptors, ends a candidate."""
    return [value[a:b] for a, b in srcset_url_spans(value)]


# url(...) with or without quotes, and @import "..." (a regex, not the CSS tokenizer: this runs on every
# style in every snapshot; a spelling it misses only leaves that resource out of the mirror: fail closed)
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^'"()\s]+))\s*\)|@import\s*(?:"([^"]*)"|'([^']*)')""",
                      re.IGNORECASE)


def css_urls(text: str) -> list[str]:
    """Every URL a stylesheet (or a declaration list) references, as written."""
    if not isinstance(text, str) or not _CSS_HINT.search(text):
        return []
    return [next(g for g in m.groups() if g is not None) for m in _CSS_URL.finditer(text)]


# Over the frame's JSON text (encoded once for every follower anyway): a regex pass runs at C speed,
# where walking a 10,000-node snapshot object by object took a quarter of a second of the event loop.
# Each pattern starts with a literal, so the regex engine skips to candidates at C speed.
_ABSOLUTE = re.compile(r'"(https?://(?:[^"\\]|\\.)*)"')  # a JSON string that is an absolute URL
_SRCSET_JSON = re.compile(r'srcset":"((?:[^"\\]|\\.)*)"')  # srcset and imagesrcset values
# url(...) / @import inside a JSON string (CSS's double quotes are \" there); written in lower case, as
# every stylesheet and recorder writes them (another spelling only leaves a resource out: fail closed)
_CSS_URL_JSON = re.compile(r"""url\(\s*(?:\\"((?:[^"\\]|\\[^"])*)\\"|'((?:[^'"\\]|\\[^"])*)'|((?:[^'"\\()\s]|\\[^"])+))\s*\)""")
_CSS_IMPORT_JSON = re.compile(r"""@import\s*(?:\\"((?:[^"\\]|\\[^"])*)\\"|'((?:[^'"\\]|\\[^"])*)')""")


def _unescape(raw: str) -> str | None:
    try:
        return json.loads('"' + raw + '"') if "\\" in raw else raw
    except ValueError:
        return None


def text_urls(text: str) -> list[str]:
    """The resource URLs, as written, in the JSON text of rrweb events: attribute values that are
    absolute URLs, ``srcset`` candidates, and ``url()`` / ``@import`` in any string (style
    attributes, inlined stylesheets, CSSOM rules and declarations)."""
    out: list[str] = []
    for m in _ABSOLUTE.finditer(text):
        if text[m.start() - 1] != "\\":  # not a quote escaped inside another string
            value = _unescape(m.group(1))
            if value:
                out.append(value)
    for m in _SRCSET_JSON.finditer(text):
        value = _unescape(m.group(1))
        if value:
            out.extend(_srcset(value))
    for pattern in (_CSS_URL_JSON, _CSS_IMPORT_JSON):
        for m in pattern.finditer(text):
            value = _unescape(next(g for g in m.groups() if g is not None))
            if value:
                out.append(value)
    return out


def event_urls(events: Iterable[Any]) -> list[str]:
    """:func:`text_urls` of events not encoded yet (tests, tools)."""
    return text_urls(json.dumps(list(events), separators=(",", ":"), ensure_ascii=False))


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
        if url.startswith(("http://", "https://")):  # absolute (what the recorder writes): base plays no part
            base = None
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
        self.note_text(json.dumps(list(events), separators=(",", ":"), ensure_ascii=False), base)

    def note_text(self, text: str, base: str | None) -> None:
        """A relayed frame's JSON text (see :meth:`note_events`)."""
        for url in text_urls(text):
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

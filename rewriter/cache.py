"""Cache of rewritten stylesheets and scripts, keyed by content hash: a big file is rewritten once.

What the output depends on. A rewritten body is a function of the input bytes, its charset, the
kind of rewriting, and the URL mapping, which is fixed by the session id (labels carry it), the
proxy base (scheme and domain) and the page scheme (what a protocol-relative ``//host`` means).
The key is exactly that tuple, with a digest of the input standing for the bytes (rewriter/digest.py).

Per session, not a shared template. The mapped parts could be stored as slots and filled per
session, so one entry served every session; but the rewriters then had to diff against slot
tokens instead of real origins (a different, less byte-faithful output) and alias labels (long
hosts) are registered with the session as a side effect of mapping, which a template would skip.
A session loads the same library on every page, so per-session entries already take the cost away
where it repeats; across sessions each rewrites once.

Bounded: at most :data:`MAX_ENTRIES` entries and :data:`MAX_BYTES` of stored output, least
recently used first out. Bodies under :data:`MIN_BYTES` are not cached (hashing and the lookup
cost about what rewriting them does) and an output equal to its input is stored as a marker, not
a copy. Safe to share between threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

from .digest import digest
from .urls import UrlRewriter

# Entries kept: a session loads tens of distinct scripts and stylesheets; this covers many sessions.
MAX_ENTRIES = 2048
# Stored output bytes: bounds the memory the cache can pin (inputs are not kept, only their hash).
MAX_BYTES = 64 << 20
# Below this a body is rewritten every time: hashing plus a lookup cost about as much.
MIN_BYTES = 4 << 10
# A single output bigger than this is not stored: it would push out many useful entries.
MAX_ENTRY_BYTES = 8 << 20

_SAME = object()  # the output equals the input


def mapping_key(urls: UrlRewriter) -> tuple:
    """What of a URL mapper the output depends on."""
    return (type(urls).__name__, urls.sid, urls.base.scheme, urls.base.domain, urls.page_scheme)


class RewriteCache:
    """LRU of rewritten bodies. ``get_or_rewrite`` is the one entry point."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES, min_bytes: int = MIN_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.min_bytes = min_bytes
        self._entries: OrderedDict[tuple, object] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def stored_bytes(self) -> int:
        return self._bytes

    def key(self, kind: str, data: bytes, urls: UrlRewriter, charset: str | None = None) -> tuple:
        return (kind, digest(data), len(data), (charset or "").lower(), mapping_key(urls))

    def get_or_rewrite(
        self, kind: str, data: bytes, urls: UrlRewriter, rewrite: Callable[[], bytes], charset: str | None = None
    ) -> bytes:
        """The cached output for this input and mapping, or ``rewrite()``'s (then stored)."""
        if len(data) < self.min_bytes:
            return rewrite()
        key = self.key(kind, data, urls, charset)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return data if hit is _SAME else hit  # type: ignore[return-value]
            self.misses += 1
        out = rewrite()
        self._store(key, data, out)
        return out

    def _store(self, key: tuple, data: bytes, out: bytes) -> None:
        value: object = _SAME if out == data else out
        size = 0 if value is _SAME else len(out)
        if size > MAX_ENTRY_BYTES or size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None and old is not _SAME:
                self._bytes -= len(old)  # type: ignore[arg-type]
            self._entries[key] = value
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                if dropped is not _SAME:
                    self._bytes -= len(dropped)  # type: ignore[arg-type]
                self.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

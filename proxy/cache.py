"""The session response cache: what the tab owner fetched, kept for the followers' mirrors.

Followers replay the leader's DOM; their browsers then ask for the same images,
stylesheets and fonts. Those are answered from here, so the origin sees one
request per resource however many people watch (and a follower never re-triggers
a one-time URL, such as a captcha image, that the leader already consumed).

The host of the tab owner's current page is not here: it is the session's live state
(:class:`tandem.live.OwnerPage`), so that every node judges scope ``all`` by it.

Only GET 200 responses of resource types a mirror needs are kept, each bounded,
the whole cache bounded per session, least recently used out first. In memory
only: session content is never stored on disk.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

MAX_ENTRY_BYTES = 4 * 1024 * 1024  # one resource: hero images, font files, large stylesheets fit
MAX_SESSION_BYTES = 48 * 1024 * 1024  # per session: a few pages of a heavy site
KEPT_HEADERS = ("Content-Type", "Content-Encoding", "Cache-Control", "ETag", "Last-Modified",
                "Access-Control-Allow-Origin", "Timing-Allow-Origin", "Vary")
MIRROR_TYPES = ("image/", "font/", "text/css", "application/font", "application/x-font", "application/vnd.ms-fontobject",
                "image/svg+xml")


def mirror_type(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime.startswith(MIRROR_TYPES)


@dataclass
class Entry:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class Collector:
    """Gathers a response body while it streams to the leader; gives up past the entry limit."""

    def __init__(self, cache: "ResponseCache", key: str, status: int, headers: list[tuple[str, str]]):
        self.cache, self.key, self.status, self.headers = cache, key, status, headers
        self.parts: list[bytes] = []
        self.size = 0
        self.dead = False

    def feed(self, chunk: bytes) -> None:
        if self.dead:
            return
        self.size += len(chunk)
        if self.size > MAX_ENTRY_BYTES:
            self.dead, self.parts = True, []
            return
        self.parts.append(chunk)

    def done(self) -> None:
        if not self.dead:
            self.cache.put(self.key, Entry(self.status, self.headers, b"".join(self.parts)))
        self.dead = True


class ResponseCache:
    def __init__(self, max_bytes: int = MAX_SESSION_BYTES):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.follower_fetches = 0  # upstream requests a follower's miss caused (the mirror wanted what the leader never loaded)
        self._inflight: dict[str, asyncio.Future] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: str, entry: Entry) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= len(old.body)
        if len(entry.body) > MAX_ENTRY_BYTES:
            return
        self._entries[key] = entry
        self.bytes += len(entry.body)
        while self.bytes > self.max_bytes and self._entries:
            _, dropped = self._entries.popitem(last=False)
            self.bytes -= len(dropped.body)

    def collector(self, key: str, method: str, status: int, headers) -> Collector | None:
        """A collector when this response is worth keeping for followers, else None."""
        if method != "GET" or status != 200:
            return None
        kept = [(k, v) for k, v in headers if k.title() in KEPT_HEADERS]
        ctype = next((v for k, v in kept if k.title() == "Content-Type"), "")
        if not mirror_type(ctype):
            return None
        return Collector(self, key, status, kept)

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    # -- single flight: N followers missing the same resource cause one upstream fetch -----
    def inflight(self, key: str) -> asyncio.Future | None:
        return self._inflight.get(key)

    def begin(self, key: str) -> asyncio.Future:
        self.follower_fetches += 1
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        return fut

    def finish(self, key: str, fut: asyncio.Future) -> None:
        if self._inflight.get(key) is fut:
            del self._inflight[key]
        if not fut.done():
            fut.set_result(None)

"""The live state of one session, behind a narrow interface: its cookie jar, label aliases and room facts.

Theory of operation
-------------------
Metadata lives in the store; what a *live* session needs from moment to moment lives
here, with two implementations chosen by settings (:func:`tandem.live.open_backend`):

* in-process (the default): plain objects in memory, each change written through to
  the store (encrypted, bound to the session) before the call that made it returns,
  so a restart — even SIGKILL — finds them again; deleted when the session ends.
* Redis (``--redis-url``): the same objects over Redis, shared by every node.

Every object has a few documented methods; nobody reaches into a dict.

* :class:`LiveJar` — the upstream cookies. The jar logic is
  :class:`rewriter.cookies.CookieJar`; a backend only loads it (``_open``) and
  commits what one call changed (``_commit``: cookies added or replaced, keys
  removed). Cookies are stored one field each, so two nodes answering the same
  session at once never lose each other's ``Set-Cookie``.
* :class:`LiveAliases` — label alias → upstream origin (long hosts). ``register``
  is called from inside the (pure, synchronous) rewriters: it is kept at once where
  it was made and written to the backend before the response leaves (``flush``).
* :class:`RoomFacts` — the room's facts a restart must keep: current URL, title,
  leader, control policy, controller and who was there (plain JSON, written on change).
* :class:`OwnerPage` — the host of the top-level page the server last served the tab
  owner, which the allowlist's scope ``all`` rule judges (proxy.handler) on every node.
  Written before that page's first byte leaves; read only when a decision depends on it.

The followers' response cache is not here (proxy/cache.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Iterable

from rewriter.cookies import Cookie, CookieJar, RequestContext
from rewriter.labels import Origin

MAX_ALIASES = 10_000  # per session: bounds memory if a page links to endless odd hosts
MAX_FACTS_BYTES = 64 * 1024  # one room's facts: a hundred participants' names and a long URL fit


class LiveJar(ABC):
    """A session's upstream cookie jar. Every method is one atomic step on the shared jar."""

    @abstractmethod
    async def _open(self) -> CookieJar:
        """The jar as it is now (the backend's copy, or the one kept here)."""

    @abstractmethod
    async def _commit(self, upserts: dict[str, dict], removed: list[str]) -> None:
        """Make one call's changes durable: cookie records added or replaced, keys removed."""

    async def _change(self, apply) -> object:
        jar = await self._open()
        mark = jar.mark()
        result = apply(jar)
        upserts, removed = jar.changes_since(mark)
        if upserts or removed:
            await self._commit(upserts, removed)
        return result

    async def cookie_header(self, url: str, ctx: RequestContext = RequestContext()) -> str | None:
        return (await self._open()).cookie_header(url, ctx)

    async def script_read(self, url: str, ctx: RequestContext = RequestContext()) -> str:
        return (await self._open()).script_read(url, ctx)

    async def script_read_ttl(self, url: str, ctx: RequestContext = RequestContext()) -> tuple[str, float]:
        """``script_read`` and the seconds it stays so unless something writes (a cookie expiring)."""
        jar = await self._open()
        return jar.script_read(url, ctx), jar.expires_in()

    async def set_from_response(self, url: str, set_cookie_values: Iterable[str],
                                ctx: RequestContext = RequestContext()) -> int:
        values = list(set_cookie_values)
        return await self._change(lambda jar: jar.set_from_response(url, values, ctx))  # type: ignore[return-value]

    async def script_write(self, url: str, cookie_string: str, ctx: RequestContext = RequestContext()) -> bool:
        return await self._change(lambda jar: jar.script_write(url, cookie_string, ctx))  # type: ignore[return-value]

    async def cookies(self) -> list[Cookie]:
        return (await self._open()).snapshot()


class LiveAliases(ABC):
    """Label aliases of a session's long hosts: alias → upstream origin."""

    @abstractmethod
    def get(self, alias: str) -> Origin | None:
        """What this process knows (synchronous: the rewriters and the room's URL mapping ask)."""

    @abstractmethod
    def register(self, alias: str, origin: Origin) -> None:
        """Known here at once, durable after the next ``flush`` (an alias never changes its origin)."""

    async def lookup(self, alias: str) -> Origin | None:
        """``get``, then the backend: another node (or this one before a restart) may have made it."""
        return self.get(alias)

    async def flush(self) -> None:
        """Every ``register`` so far is durable."""


class RoomFacts(ABC):
    """The facts of a session's room that outlive the process holding the room."""

    @abstractmethod
    def get(self) -> dict | None:
        """The facts last put (or loaded), or None."""

    @abstractmethod
    def put(self, facts: dict) -> None:
        """Replace the facts (durable after ``flush``; the in-process backend writes through)."""

    async def load(self) -> dict | None:
        """The facts as the backend has them (after a restart, or from another node)."""
        return self.get()

    async def flush(self) -> None:
        """Every ``put`` so far is durable."""

    def writing(self):
        """An awaitable that ends when every ``put`` so far is durable, or None when they already are
        (the in-process backend writes through). The relay holds the frames that tell a change until
        then, so a participant who heard "you control" finds it again after a crash."""
        return None


class OwnerPage(ABC):
    """The host of the top-level document the server last served the tab owner: the page the
    allowlist's scope ``all`` rule judges (never what a request says: ``Referer``, ``Origin``,
    ``Sec-Fetch-*``). ``None`` while no page was served (the session's start URL stands in)."""

    @abstractmethod
    def known(self) -> str | None:
        """What this process last wrote or read (no I/O)."""

    @abstractmethod
    async def put(self, host: str) -> None:
        """The server is serving the tab owner a page on ``host``: every node sees it once this returns."""

    async def current(self) -> str | None:
        """As the backend has it now (another node may have served the last page); ``""`` when one was
        kept that cannot be read (the strictest entry in force then stands for it)."""
        return self.known()


@dataclass
class SessionLive:
    """Everything live about one session, from one backend."""

    sid: str
    jar: LiveJar
    aliases: LiveAliases
    facts: RoomFacts
    page: OwnerPage

    async def flush(self) -> None:
        await self.aliases.flush()
        await self.facts.flush()


class LiveBackend(ABC):
    name: str = ""

    @abstractmethod
    def open(self, sid: str) -> SessionLive:
        """The live state of ``sid`` (what was kept for it, or empty). Cheap: no I/O for Redis."""

    @abstractmethod
    async def drop(self, sid: str) -> None:
        """The session ended: forget everything live about it, everywhere."""

    @abstractmethod
    async def claim_once(self, sid: str, key: str, ttl: int) -> bool:
        """True the first time ``key`` is claimed for ``sid`` within ``ttl`` seconds, False after:
        on every node and across restarts (single-use things, such as spent entry tickets)."""

    async def ready(self) -> bool:
        """True when the backend answers (health checks)."""
        return True

    async def close(self) -> None:
        """Release connections (end of the app)."""

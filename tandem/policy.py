"""The admin policy in force on this node: the allowlist and the masking rules, read from the store.

The proxy and the recorder ask on every page, synchronously, so both are kept here in memory
and read again when :meth:`tandem.store.Store.policy_stamp` changes (an edit on any node:
SQLite's data version, PostgreSQL's NOTIFY). :func:`refresh` runs before each request.
"""

from __future__ import annotations

from aiohttp import web

from proxy.allowlist import Allowlist, Entry, matches

from . import appkeys
from .store import Store, StoreError


class AllowlistSource:
    """The allowlist in force: stored entries plus those given at start."""

    def __init__(self, store: Store, extra: tuple[Entry, ...]):
        self.store = store
        self.extra = extra
        self._current = Allowlist(extra)

    async def load(self) -> None:
        stored = tuple(Entry(e.pattern, e.scope, e.redirect) for e in await self.store.allowlist())
        self._current = Allowlist(stored + self.extra)

    def current(self) -> Allowlist:
        return self._current


class AllowlistView:
    """What handlers see under appkeys.ALLOWLIST: always the current list."""

    def __init__(self, source: AllowlistSource):
        self._source = source

    def __getattr__(self, name):
        return getattr(self._source.current(), name)


class StoredMasking:
    """``appkeys.MASKING`` backed by the store: what the recorder is told to mask on each page.

    Same reading interface as :class:`sync.masking.MaskingPolicy` (``rules_for``, synchronous,
    from memory); the writing methods go to the store and are async.
    """

    def __init__(self, store: Store):
        self.store = store
        self._rules: dict[str, dict[str, list[str]]] = {}

    async def load(self) -> None:
        self._rules = await self.store.masking()

    async def set(self, pattern: str, *, mask=(), block=()):
        from sync.masking import DomainRules, MaskingError, normalize_pattern

        try:
            masks, blocks = await self.store.set_masking(pattern, mask, block)
        except StoreError as exc:
            raise MaskingError(str(exc)) from exc
        await self.load()
        return DomainRules(normalize_pattern(pattern), tuple(masks), tuple(blocks))

    async def remove(self, pattern: str) -> bool:
        had = pattern.strip().lower() in await self.store.masking()
        await self.store.set_masking(pattern, (), ())
        await self.load()
        return had

    def all(self):
        from sync.masking import DomainRules

        return [DomainRules(p, tuple(r["mask"]), tuple(r["block"])) for p, r in self._rules.items()]

    def rules_for(self, host: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        mask: list[str] = []
        block: list[str] = []
        for pattern, rules in self._rules.items():
            if matches(pattern, host):
                mask.extend(s for s in rules["mask"] if s not in mask)
                block.extend(s for s in rules["block"] if s not in block)
        return tuple(mask), tuple(block)


class Policy:
    """Both, re-read together when the store's policy stamp moves."""

    def __init__(self, store: Store, allowlist: AllowlistSource, masking: StoredMasking):
        self.store, self.allowlist, self.masking = store, allowlist, masking
        self._stamp: object = None
        self._loaded = False

    async def refresh(self) -> None:
        stamp = await self.store.policy_stamp()
        if self._loaded and stamp == self._stamp:
            return
        await self.allowlist.load()
        await self.masking.load()
        self._stamp, self._loaded = stamp, True

    def invalidate(self) -> None:
        self._loaded = False


POLICY: web.AppKey[Policy] = web.AppKey("policy", Policy)


@web.middleware
async def refresh_policy(request: web.Request, handler):
    """Every request sees the allowlist and masking as they are now (on any node)."""
    policy = request.app.get(POLICY)
    if policy is None:
        return await handler(request)
    await policy.refresh()
    try:
        return await handler(request)
    finally:  # a request that changed the policy leaves it in force here before it answers
        await policy.refresh()


def setup(app: web.Application, store: Store, extra: tuple[Entry, ...]) -> None:
    source = AllowlistSource(store, extra)
    masking = StoredMasking(store)
    app[POLICY] = Policy(store, source, masking)
    app[appkeys.ALLOWLIST] = AllowlistView(source)
    app[appkeys.MASKING] = masking

    async def first_load(app_: web.Application) -> None:
        await app_[POLICY].refresh()

    app.on_startup.append(first_load)

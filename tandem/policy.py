"""The admin policy: the allowlist and the masking rules — checked here by the proxy's and the
recorder's rules, kept by the store, and the ones in force on this node.

Edits go through :func:`allow`, :func:`disallow` and :func:`set_masking` (the store only keeps
what they hand it: it imports nothing from proxy/, sync/ or viewer/).

The proxy and the recorder ask on every page, synchronously, so both are kept here in memory
and read again when :meth:`tandem.store.Store.policy_stamp` changes (an edit on any node:
SQLite's data version, PostgreSQL's NOTIFY). :func:`refresh` runs before each request.
"""

from __future__ import annotations

from aiohttp import web

from proxy.allowlist import Allowlist, Entry, check_redirect, matches, normalize_pattern

from . import appkeys
from .store import AllowEntry, Store, StoreError


# -- edits (API, admin pages, CLI) ------------------------------------------------------------------
async def allow(store: Store, pattern: str, scope: str = "navigation", redirect: str | None = None) -> AllowEntry:
    """Add or replace an allowlist entry (PatternError for a bad pattern or redirect, StoreError for a bad scope)."""
    pattern = normalize_pattern(pattern)
    if redirect:
        redirect = check_redirect(pattern, redirect)
    return await store.allow(pattern, scope, redirect or None)


async def disallow(store: Store, pattern: str) -> bool:
    return await store.disallow(normalize_pattern(pattern))


async def set_masking(store: Store, pattern: str, mask, block=()) -> tuple[list[str], list[str]]:
    """Selectors for a host pattern, checked by the recorder's rules (StoreError names a bad one)."""
    from sync.masking import MaskingError, check_selector

    def clean(items) -> list[str]:
        out: list[str] = []
        for item in items:
            if not item.strip():
                continue
            try:
                out.append(check_selector(item))
            except MaskingError as exc:
                raise StoreError(str(exc)) from exc
        return out

    return await store.set_masking(normalize_pattern(pattern), clean(mask), clean(block))


def selectors_for(rules: dict[str, dict[str, list[str]]], host: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(mask, block) selectors of every pattern matching ``host`` (exact and wildcard), in pattern order."""
    mask: list[str] = []
    block: list[str] = []
    for pattern, r in rules.items():
        if matches(pattern, host):
            mask.extend(x for x in r["mask"] if x not in mask)
            block.extend(x for x in r["block"] if x not in block)
    return tuple(mask), tuple(block)


async def selectors(store: Store, host: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``selectors_for`` from the store as it is now."""
    return selectors_for(await store.masking(), host)


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
            masks, blocks = await set_masking(self.store, pattern, mask, block)
        except StoreError as exc:
            raise MaskingError(str(exc)) from exc
        await self.load()
        return DomainRules(normalize_pattern(pattern), tuple(masks), tuple(blocks))

    async def remove(self, pattern: str) -> bool:
        had = pattern.strip().lower() in await self.store.masking()
        await set_masking(self.store, pattern, (), ())
        await self.load()
        return had

    def all(self):
        from sync.masking import DomainRules

        return [DomainRules(p, tuple(r["mask"]), tuple(r["block"])) for p, r in self._rules.items()]

    def rules_for(self, host: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return selectors_for(self._rules, host)


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
    if request.app[appkeys.BASE].label_of_host(request.host) is not None:
        return await handler(request)  # a proxied host's request (proxy/) never changes the policy
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

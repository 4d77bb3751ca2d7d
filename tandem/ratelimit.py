"""Rate limits for guessable secrets (PINs, passwords) and anonymous endpoints (snippet, the API).

A fixed-window counter per key: ``hit(key)`` counts one event and says whether the key
is still under its limit; a window starts at the key's first event. The counts live in
a :class:`RateBackend`: in this process by default (:class:`MemoryRates`; memory bounded,
past ``MAX_KEYS`` keys the oldest windows are dropped first), or in Redis with
``--redis-url`` (:class:`RedisRates`), so every node behind a balancer counts against the
same budget — otherwise an attacker spreading guesses over N nodes would get N budgets.
Every call is a coroutine; a Redis that does not answer raises (the request fails, it is
never let through uncounted).
"""

from __future__ import annotations

import ipaddress
import os
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from functools import lru_cache
from typing import Callable

MAX_KEYS = 100_000  # distinct addresses/users tracked at once; ~10 MB at worst
REDIS_PREFIX = "tandem:rl:"


class RateBackend(ABC):
    """Fixed-window counters, shared by whoever shares the backend."""

    name = ""

    @abstractmethod
    async def hit(self, key: str, limit: int, window: float) -> tuple[bool, int, int]:
        """Count one event for ``key`` unless it is at ``limit`` in its window (which starts at its first
        event and lasts ``window`` seconds). (allowed, remaining, whole seconds until the window ends >= 1)."""

    @abstractmethod
    async def peek(self, key: str, window: float) -> tuple[int, int]:
        """(events counted in ``key``'s window, whole seconds until it ends >= 1) without counting one."""

    @abstractmethod
    async def reset(self, key: str) -> None: ...

    async def close(self) -> None:
        """Release connections (end of the app)."""


class MemoryRates(RateBackend):
    name = "memory"

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._counts: OrderedDict[str, tuple[float, int]] = OrderedDict()  # key -> (window start, count)

    def _current(self, key: str, window: float) -> tuple[float, int, float]:
        now = self._clock()
        start, count = self._counts.get(key, (now, 0))
        if now - start >= window:
            start, count = now, 0
        return start, count, now

    @staticmethod
    def _left(start: float, window: float, now: float) -> int:
        return max(1, int(window - (now - start) + 0.999))  # seconds rounded up, as RedisRates (never window + 1)

    async def hit(self, key: str, limit: int, window: float) -> tuple[bool, int, int]:
        start, count, now = self._current(key, window)
        allowed = count < limit
        if allowed:
            count += 1
            self._counts[key] = (start, count)
            self._counts.move_to_end(key)
            while len(self._counts) > MAX_KEYS:
                self._counts.popitem(last=False)
        return allowed, max(0, limit - count), self._left(start, window, now)

    async def peek(self, key: str, window: float) -> tuple[int, int]:
        start, count, now = self._current(key, window)
        return count, self._left(start, window, now)

    async def reset(self, key: str) -> None:
        self._counts.pop(key, None)


_HIT = """
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c >= tonumber(ARGV[1]) then return {0, c, redis.call('PTTL', KEYS[1])} end
c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {1, c, redis.call('PTTL', KEYS[1])}
"""


class RedisRates(RateBackend):
    """One Redis key per counter (``tandem:rl:<key>``), expiring with its window: check-and-count is
    one Lua script, so two nodes counting the same key at once never both let the last one through."""

    name = "redis"

    def __init__(self, url: str):
        import redis.asyncio as aioredis

        self._r = aioredis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0)
        self._hit = self._r.register_script(_HIT)

    @staticmethod
    def _left(pttl: int, window: float) -> int:
        ms = pttl if pttl > 0 else window * 1000
        return max(1, int(ms / 1000 + 0.999))

    async def hit(self, key: str, limit: int, window: float) -> tuple[bool, int, int]:
        allowed, count, pttl = await self._hit(keys=[REDIS_PREFIX + key], args=[limit, max(1, int(window * 1000))])
        return bool(allowed), max(0, limit - int(count)), self._left(int(pttl), window)

    async def peek(self, key: str, window: float) -> tuple[int, int]:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.get(REDIS_PREFIX + key)
            pipe.pttl(REDIS_PREFIX + key)
            count, pttl = await pipe.execute()
        return int(count or 0), self._left(int(pttl), window)

    async def reset(self, key: str) -> None:
        await self._r.delete(REDIS_PREFIX + key)

    async def close(self) -> None:
        await self._r.aclose()


def open_rates(redis_url: str | None) -> RateBackend:
    """Redis when configured (shared by every node), else this process."""
    return RedisRates(redis_url) if redis_url else MemoryRates()


class RateLimiter:
    """One named limit (``limit`` events per ``window`` seconds per key) over a backend."""

    def __init__(self, limit: int, window: float, *, backend: RateBackend | None = None, name: str = ""):
        self.limit = limit
        self.window = window
        self.backend = backend if backend is not None else MemoryRates()
        self.name = name

    def _key(self, key: str) -> str:
        return f"{self.name}:{key}"

    async def blocked(self, key: str) -> bool:
        return (await self.count(key)) >= self.limit

    async def count(self, key: str) -> int:
        """Events counted for ``key`` in its current window."""
        return (await self.backend.peek(self._key(key), self.window))[0]

    async def hit(self, key: str) -> bool:
        """Count one event for ``key``; False when the key was already at its limit."""
        return (await self.backend.hit(self._key(key), self.limit, self.window))[0]

    async def retry_after(self, key: str) -> int:
        return (await self.backend.peek(self._key(key), self.window))[1]

    async def reset(self, key: str) -> None:
        await self.backend.reset(self._key(key))


# PINs: 10^6 values, each live 10 minutes for 3 joins. Wrong guesses are limited per address
# and per network (IPv4 /24, IPv6 /48: where one attacker's cheap addresses sit), never for
# everyone at once: a global lock-out let 100 wrong guesses from anywhere turn away every
# customer with the right PIN. Past PIN_FAILURES_GLOBAL wrong guesses from all addresses
# together the server counts as under attack: then an address gets PIN_FAILURES_UNDER_ATTACK
# wrong guesses per window instead of 10, and an address that has not failed still gets in.
# What an attacker gains: with A addresses spread over N networks, at most min(10·A, 30·N)
# guesses per 10 minutes (min(3·A, 30·N) under attack) — for 1,000 addresses in 1,000
# networks about 3,000 guesses, a 0.3 % chance per live PIN per PIN lifetime, and each hit
# is a consent screen the agent then sees joining under its name. A customer who types a
# PIN at most twice wrong is never turned away by anyone else's guessing.
PIN_FAILURES_PER_ADDRESS = (10, 600.0)
PIN_FAILURES_PER_NETWORK = (30, 600.0)
PIN_FAILURES_GLOBAL = (100, 600.0)  # past this, "under attack": the per-address budget tightens
PIN_FAILURES_UNDER_ATTACK = 3
NETWORK_PREFIX = {4: 24, 6: 48}
# Passwords: per address and per user name, so neither one address nor a spread of them grinds one account.
LOGIN_FAILURES_PER_ADDRESS = (20, 900.0)
LOGIN_FAILURES_PER_USER = (10, 900.0)
# Snippet: anonymous session starts from a site's visitors.
SNIPPET_STARTS_PER_ADDRESS = (10, 600.0)


class Limits:
    """Every limit of the app, over one backend (``open_rates``)."""

    def __init__(self, backend: RateBackend | None = None):
        self.backend = b = backend if backend is not None else MemoryRates()
        self.pin_address = RateLimiter(*PIN_FAILURES_PER_ADDRESS, backend=b, name="pin:address")
        self.pin_network = RateLimiter(*PIN_FAILURES_PER_NETWORK, backend=b, name="pin:network")
        self.pin_global = RateLimiter(*PIN_FAILURES_GLOBAL, backend=b, name="pin:global")  # an alarm, not a lock
        self.login_address = RateLimiter(*LOGIN_FAILURES_PER_ADDRESS, backend=b, name="login:address")
        self.login_user = RateLimiter(*LOGIN_FAILURES_PER_USER, backend=b, name="login:user")
        self.snippet_address = RateLimiter(*SNIPPET_STARTS_PER_ADDRESS, backend=b, name="snippet:address")


TRUSTED_PROXIES_ENV = "TANDEM_TRUSTED_PROXIES"  # CIDRs of TLS terminators whose X-Forwarded-For is believed


@lru_cache(maxsize=1)
def _trusted(value: str) -> tuple:
    nets = []
    for item in value.split(","):
        item = item.strip()
        if item:
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                continue
    return tuple(nets)


def client_address(request) -> str:
    """The address limits are keyed by: the peer, or, when the peer is a trusted proxy
    (``TANDEM_TRUSTED_PROXIES``), the last address it appended to ``X-Forwarded-For``.
    Without this, every customer behind one terminator would share one budget."""
    peer = request.remote or "?"
    nets = _trusted(os.environ.get(TRUSTED_PROXIES_ENV, ""))
    if not nets:
        return peer
    try:
        peer_ip = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if not any(peer_ip in n for n in nets):
        return peer
    forwarded = [a.strip() for h in request.headers.getall("X-Forwarded-For", []) for a in h.split(",") if a.strip()]
    return forwarded[-1] if forwarded else peer


def network_of(address: str) -> str:
    """The network an address is limited with (IPv4 /24, IPv6 /48); the address itself if it is not an IP."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ipaddress.ip_network(f"{ip}/{NETWORK_PREFIX[ip.version]}", strict=False))


async def pin_wait(limits: Limits, address: str) -> int | None:
    """Seconds ``address`` must wait before trying a PIN again; None when it may try now.

    Decided by this address's and its network's own wrong guesses only: others' guessing
    never turns away a right PIN from an address that has not been guessing itself.
    """
    network = network_of(address)
    if await limits.pin_address.blocked(address):
        return await limits.pin_address.retry_after(address)
    if await limits.pin_network.blocked(network):
        return await limits.pin_network.retry_after(network)
    if await limits.pin_global.blocked("*") and await limits.pin_address.count(address) >= PIN_FAILURES_UNDER_ATTACK:
        return await limits.pin_address.retry_after(address)
    return None


async def pin_failed(limits: Limits, address: str) -> None:
    """Count one wrong PIN from ``address``."""
    await limits.pin_address.hit(address)
    await limits.pin_network.hit(network_of(address))
    await limits.pin_global.hit("*")

"""In-process rate limits for guessable secrets (PINs, passwords) and anonymous endpoints (snippet).

A fixed-window counter per key: ``hit(key)`` counts one event and says whether
the key is still under its limit. Memory is bounded: past ``MAX_KEYS`` keys the
oldest windows are dropped first. (Several processes behind a balancer would move
these counters to Redis; the interface stays the same.)
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections import OrderedDict
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Callable

MAX_KEYS = 100_000  # distinct addresses/users tracked at once; ~10 MB at worst


class RateLimiter:
    def __init__(self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._counts: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def _current(self, key: str) -> tuple[float, int]:
        now = self._clock()
        start, count = self._counts.get(key, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        return start, count

    def blocked(self, key: str) -> bool:
        return self._current(key)[1] >= self.limit

    def count(self, key: str) -> int:
        """Events counted for ``key`` in its current window."""
        return self._current(key)[1]

    def hit(self, key: str) -> bool:
        """Count one event for ``key``; False when the key was already at its limit."""
        start, count = self._current(key)
        if count >= self.limit:
            return False
        self._counts[key] = (start, count + 1)
        self._counts.move_to_end(key)
        while len(self._counts) > MAX_KEYS:
            self._counts.popitem(last=False)
        return True

    def retry_after(self, key: str) -> int:
        start, _ = self._current(key)
        return max(1, int(self.window - (self._clock() - start)) + 1)

    def reset(self, key: str) -> None:
        self._counts.pop(key, None)


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


@dataclass
class Limits:
    pin_address: RateLimiter = field(default_factory=lambda: RateLimiter(*PIN_FAILURES_PER_ADDRESS))
    pin_network: RateLimiter = field(default_factory=lambda: RateLimiter(*PIN_FAILURES_PER_NETWORK))
    pin_global: RateLimiter = field(default_factory=lambda: RateLimiter(*PIN_FAILURES_GLOBAL))  # an alarm, not a lock
    login_address: RateLimiter = field(default_factory=lambda: RateLimiter(*LOGIN_FAILURES_PER_ADDRESS))
    login_user: RateLimiter = field(default_factory=lambda: RateLimiter(*LOGIN_FAILURES_PER_USER))
    snippet_address: RateLimiter = field(default_factory=lambda: RateLimiter(*SNIPPET_STARTS_PER_ADDRESS))


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


def pin_wait(limits: Limits, address: str) -> int | None:
    """Seconds ``address`` must wait before trying a PIN again; None when it may try now.

    Decided by this address's and its network's own wrong guesses only: others' guessing
    never turns away a right PIN from an address that has not been guessing itself.
    """
    network = network_of(address)
    if limits.pin_address.blocked(address):
        return limits.pin_address.retry_after(address)
    if limits.pin_network.blocked(network):
        return limits.pin_network.retry_after(network)
    if limits.pin_global.blocked("*") and limits.pin_address.count(address) >= PIN_FAILURES_UNDER_ATTACK:
        return limits.pin_address.retry_after(address)
    return None


def pin_failed(limits: Limits, address: str) -> None:
    """Count one wrong PIN from ``address``."""
    limits.pin_address.hit(address)
    limits.pin_network.hit(network_of(address))
    limits.pin_global.hit("*")

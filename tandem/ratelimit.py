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


# PINs: 10^6 values. Per address, 10 wrong guesses per 10 minutes; all addresses together, 100
# per 10 minutes — so even a botnet gets ~100 guesses in a PIN's 10-minute life, a chance of
# about 1 in 10,000 per live PIN.
PIN_FAILURES_PER_ADDRESS = (10, 600.0)
PIN_FAILURES_GLOBAL = (100, 600.0)
# Passwords: per address and per user name, so neither one address nor a spread of them grinds one account.
LOGIN_FAILURES_PER_ADDRESS = (20, 900.0)
LOGIN_FAILURES_PER_USER = (10, 900.0)
# Snippet: anonymous session starts from a site's visitors.
SNIPPET_STARTS_PER_ADDRESS = (10, 600.0)


@dataclass
class Limits:
    pin_address: RateLimiter = field(default_factory=lambda: RateLimiter(*PIN_FAILURES_PER_ADDRESS))
    pin_global: RateLimiter = field(default_factory=lambda: RateLimiter(*PIN_FAILURES_GLOBAL))
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

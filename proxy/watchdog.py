"""An idle timeout for one proxied exchange that costs one float store per chunk.

aiohttp's ``sock_read`` timeout re-arms a timer on every ``data_received``; on a
fast stream that is a large share of the proxy's CPU (measured in bench/: a
bare pass-through drops from ~1160 to ~1030 req/s on 1 MB bodies with it). This
watchdog instead records the time of the last progress, and one timer per event
loop and timeout (:class:`_Clock`) checks every running watchdog a few times per
timeout: an exchange arms and cancels no timer of its own, a busy stream pays
almost nothing, and a stalled upstream is still cut off after ``timeout`` seconds
of silence (at most a :data:`CHECKS` th of it later).
"""

from __future__ import annotations

import asyncio

CHECKS = 4  # checks per timeout: a silent exchange is cut after between 1 and 1 + 1/CHECKS timeouts


class _Clock:
    """The one timer of every watchdog with the same timeout on one event loop; it ticks only while
    some watchdog runs (and once more after the last stopped)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float):
        self.loop, self.timeout = loop, timeout
        self.watched: set[IdleWatchdog] = set()
        self._handle: asyncio.TimerHandle | None = None

    def watch(self, wd: IdleWatchdog) -> None:
        self.watched.add(wd)
        if self._handle is None:
            self._handle = self.loop.call_later(self.timeout / CHECKS, self._tick)

    def _tick(self) -> None:
        now = self.loop.time()
        for wd in [w for w in self.watched if now - w.last >= w.timeout]:
            self.watched.discard(wd)
            wd._fire()
        if self.watched:
            self._handle = self.loop.call_later(self.timeout / CHECKS, self._tick)
        else:  # idle: the clock goes; the next watchdog makes a new one
            self._handle = None
            if _CLOCKS.get((id(self.loop), self.timeout)) is self:
                del _CLOCKS[id(self.loop), self.timeout]


# (id(loop), timeout) -> its clock; a clock holds its loop, so the id is never another loop's while it is here
_CLOCKS: dict[tuple[int, float], _Clock] = {}


def _clock(loop: asyncio.AbstractEventLoop, timeout: float) -> _Clock:
    key = (id(loop), timeout)
    found = _CLOCKS.get(key)
    if found is None:
        found = _CLOCKS[key] = _Clock(loop, timeout)
    return found


class IdleWatchdog:
    def __init__(self, timeout: float):
        self.timeout = timeout
        self.fired = False
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self.last = self._loop.time()
        self._clock = _clock(self._loop, timeout)
        self._clock.watch(self)

    def progress(self) -> None:
        self.last = self._loop.time()

    def _fire(self) -> None:
        self.fired = True
        if self._task is not None:
            self._task.cancel()

    def stop(self) -> None:
        self._clock.watched.discard(self)

    def absorb(self) -> bool:
        """In an ``except CancelledError``: True (and the cancellation undone) if it was ours."""
        if not self.fired or self._task is None:
            return False
        self._task.uncancel()
        return True

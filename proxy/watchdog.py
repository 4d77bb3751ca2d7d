"""An idle timeout for one proxied exchange that costs one float store per chunk.

aiohttp's ``sock_read`` timeout re-arms a timer on every ``data_received``; on a
fast stream that is a large share of the proxy's CPU (measured in bench/: a
bare pass-through drops from ~1160 to ~1030 req/s on 1 MB bodies with it). This
watchdog instead records the time of the last progress and checks it from one
timer that re-arms only when it fires, so a busy stream pays almost nothing and
a stalled upstream is still cut off after ``timeout`` seconds of silence.
"""

from __future__ import annotations

import asyncio


class IdleWatchdog:
    def __init__(self, timeout: float):
        self.timeout = timeout
        self.fired = False
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self.last = self._loop.time()
        self._handle = self._loop.call_later(timeout, self._check)

    def progress(self) -> None:
        self.last = self._loop.time()

    def _check(self) -> None:
        idle = self._loop.time() - self.last
        if idle >= self.timeout:
            self.fired = True
            if self._task is not None:
                self._task.cancel()
        else:
            self._handle = self._loop.call_later(self.timeout - idle, self._check)

    def stop(self) -> None:
        self._handle.cancel()

    def absorb(self) -> bool:
        """In an ``except CancelledError``: True (and the cancellation undone) if it was ours."""
        if not self.fired or self._task is None:
            return False
        self._task.uncancel()
        return True

"""How long this process stops answering: event-loop stalls and garbage-collection pauses.

Two measures, both read by ``/metrics`` (tandem/metrics.py):

* the event loop's lag: a task asks to wake every ``INTERVAL`` and notes how late it woke. Anything
  that holds the loop (a long callback, a collection, a big allocation, the CPU taken by others)
  shows here: it is what every socket on this node waits out. A late wake-up during which this
  thread itself ran over ``STALL`` of CPU time (``time.thread_time``: its own callbacks and
  collections) is also counted as a *busy* stall: the ones this process can remove; the others
  were the machine (other processes had the CPU);
* garbage collections, timed through :data:`gc.callbacks` (start/stop of each collection), by
  generation: how many, how long in total, the longest.

After start-up the objects alive then (modules, settings, compiled patterns) are moved out of the
collector's sight (:func:`gc.freeze`): full collections then walk only what serving created, not the
whole import graph. Done once per process, by the first app that starts: a server process runs one
app, and a test process that starts hundreds would otherwise pay a full collection (~66 ms at a
test process's heap) per start; what the first app froze stays frozen (start-up objects live for
the process anyway), and later apps' objects are collected as usual.
"""

from __future__ import annotations

import asyncio
import gc
import time

from aiohttp import web

INTERVAL = 0.01  # seconds between the lag probe's wake-ups
STALL = 0.1  # seconds late past which a wake-up counts as a stall (issue 12: no pause over 100 ms)


class PauseMonitor:
    def __init__(self) -> None:
        self.lag_max = 0.0  # seconds: the latest wake-up since start
        self.stalls = 0  # wake-ups later than STALL
        self.busy_stalls = 0  # of those, the ones in which this thread ran over STALL of CPU time
        self.busy_max = 0.0  # seconds: the most CPU time this thread ran during one late wake-up
        self.gc_counts = [0, 0, 0]  # collections by generation
        self.gc_seconds = 0.0  # total time in collections
        self.gc_max = 0.0  # the longest collection (seconds)
        self.gc_max_generation = -1
        self._gc_start = 0.0
        self._task: asyncio.Task | None = None

    # -- garbage collections ------------------------------------------------------------------
    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
            return
        took = time.perf_counter() - self._gc_start
        gen = info.get("generation", 0)
        if 0 <= gen < 3:
            self.gc_counts[gen] += 1
        self.gc_seconds += took
        if took > self.gc_max:
            self.gc_max, self.gc_max_generation = took, gen

    # -- the loop -----------------------------------------------------------------------------
    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            planned = loop.time() + INTERVAL
            cpu = time.thread_time()
            await asyncio.sleep(INTERVAL)
            late = loop.time() - planned
            if late > self.lag_max:
                self.lag_max = late
            if late > STALL:
                self.stalls += 1
                cpu = time.thread_time() - cpu
                if cpu > self.busy_max:
                    self.busy_max = cpu
                if cpu > STALL:
                    self.busy_stalls += 1

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.get_running_loop().create_task(self._probe())

    async def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


PAUSES: web.AppKey[PauseMonitor] = web.AppKey("pauses", PauseMonitor)
_frozen = False  # start-up's objects are frozen once per process (see the module's docstring)


async def running(app: web.Application):
    """cleanup_ctx: measure from start-up to shutdown; freeze what start-up allocated."""
    global _frozen
    monitor = app[PAUSES] = PauseMonitor()
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()  # start-up's objects never change generation again: full collections skip them
    monitor.start()
    yield
    await monitor.stop()

"""Background tasks: created through one helper that keeps a reference, never fire-and-forget.

``app[TASKS].spawn(coro, name=...)`` runs work that must not block the request that
caused it (webhook deliveries). ``periodic()`` runs a job on an interval (the
retention purge). Both live in ``cleanup_ctx``: on shutdown every task is
cancelled and awaited, so none outlives the app or logs into a closed loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Coroutine

from aiohttp import web

log = logging.getLogger("tandem.tasks")

SHUTDOWN_GRACE = 5.0  # seconds cancelled tasks get to finish their cleanup at shutdown


class Tasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()
        self._daemons: set[asyncio.Task] = set()  # run for the app's life (periodic jobs); not waited for by drain()

    def spawn(self, coro: Coroutine, *, name: str, daemon: bool = False) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        (self._daemons if daemon else self._tasks).add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        self._daemons.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float) -> None:
        """Wait until no task is running (tests; graceful stops)."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        tasks = list(self._tasks | self._daemons)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE)


async def periodic(interval: float, job: Callable[[], Awaitable[None]], *, name: str) -> None:
    """Run ``job`` now and then every ``interval`` seconds; a failing run is logged, the next one still runs."""
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("periodic job %s failed", name)
        await asyncio.sleep(interval)


def tasks_ctx(key: web.AppKey[Tasks]):
    async def ctx(app: web.Application):
        tasks = Tasks()
        app[key] = tasks
        yield
        await tasks.close()

    return ctx

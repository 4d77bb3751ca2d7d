"""Server pauses in /metrics (issue 12: "no stop-the-world pause over 100 ms" needs a server-side measure).

A real Tandem app: a callback that holds the event loop shows as a stall, a full collection as a
GC pause, both in the Prometheus scrape the operator (and bench.sync --load) reads.
"""

from __future__ import annotations

import asyncio
import gc
import time

from tests.control.test_metrics import scrape, value


async def test_event_loop_stalls_and_gc_pauses_are_in_metrics(make_tandem):
    t = await make_tandem()
    before = await scrape(t)
    assert value(before, "tandem_event_loop_stalls_total") == 0
    await asyncio.sleep(0.05)  # the probe is running
    time.sleep(0.3)  # a callback that holds the loop for 300 ms
    await asyncio.sleep(0.05)
    gc.collect()  # a full collection
    after = await scrape(t)
    assert value(after, "tandem_event_loop_lag_max_seconds") >= 0.25
    assert value(after, "tandem_event_loop_stalls_total") >= 1
    assert value(after, "tandem_gc_collections_total", generation="2") >= 1
    assert value(after, "tandem_gc_pause_seconds_total") > 0
    assert 0 < value(after, "tandem_gc_pause_max_seconds") <= value(after, "tandem_gc_pause_seconds_total")


async def test_a_stall_of_the_loops_own_work_is_told_from_one_of_the_machine(make_tandem):
    """A late wake-up in which the loop's thread ran on a CPU (its own callbacks) is a busy stall; one in
    which it did not run (here: asleep, as when other processes hold the CPUs) is a stall only. Before,
    /metrics counted both alike, so a load run on a shared machine could not say which were Tandem's."""
    t = await make_tandem()
    before = await scrape(t)
    await asyncio.sleep(0.05)
    time.sleep(0.3)  # the thread holds the loop without running: the machine's kind of stall
    await asyncio.sleep(0.05)
    mid = await scrape(t)
    assert value(mid, "tandem_event_loop_stalls_total") >= value(before, "tandem_event_loop_stalls_total") + 1
    assert value(mid, "tandem_event_loop_busy_stalls_total") == value(before, "tandem_event_loop_busy_stalls_total")
    end = time.thread_time() + 0.3
    while time.thread_time() < end:  # a callback that computes for 300 ms of CPU: the loop's own stall
        pass
    await asyncio.sleep(0.05)
    after = await scrape(t)
    assert value(after, "tandem_event_loop_busy_stalls_total") >= value(mid, "tandem_event_loop_busy_stalls_total") + 1

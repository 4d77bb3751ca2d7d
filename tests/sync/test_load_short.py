"""The short variant of the load run (issue 12; the long one is ``python -m bench.sync --load 50x10 --duration 600``).

A real ``tandem serve --demo`` process, several rooms at once, every tab owner sending events for a few
seconds: no follower misses an event, a late joiner in each busy room gets a snapshot, and the server's
memory does not grow past a bound far above what the buffers hold. Latency figures are the bench's job.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.procs import Children
from bench.sync import load_rooms, start_server

ROOMS = 6
PER_ROOM = 5  # one tab owner, four followers
SECONDS = 4.0
GROWTH_BOUND_MIB = 64  # a few hundred small events in six rooms hold well under a MiB; this catches a leak per event


async def test_many_rooms_lose_nothing_and_late_joiners_get_a_snapshot():
    tmp = Path(tempfile.mkdtemp(prefix="tandem-test-load-"))
    with Children(tmp) as children:
        server = start_server(children, tmp)
        r = await load_rooms(server, ROOMS, PER_ROOM, SECONDS)
    assert r["sent"] >= ROOMS * 10, r["sent"]  # the tab owners did send (about rate x seconds each)
    assert r["expected"] == r["sent"] * (PER_ROOM - 1)
    assert r["lost"] == 0
    assert r["late_with_snapshot"] == ROOMS
    assert (max(r["rss_kib"]) - r["rss_kib"][0]) / 1024 < GROWTH_BOUND_MIB

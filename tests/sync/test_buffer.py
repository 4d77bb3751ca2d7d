"""Replay buffer: snapshot plus events since, exact resume points, byte bounds."""

import pytest

from sync.buffer import ReplayBuffer
from sync.protocol import stream_frame


def ev(n, size=10):
    return {"type": 3, "data": {"source": 0, "texts": [{"id": n, "value": "x" * size}]}}


def snap():
    return [{"type": 4, "data": {"href": "h"}}, {"type": 2, "data": {"node": {}}}]


def filled():
    b = ReplayBuffer()
    b.add(stream_frame(1, snap(), False), True, True)  # seqs 1-2
    b.add(stream_frame(3, [ev(3)], False), False)  # 3
    b.add(stream_frame(4, [ev(4), ev(5)], False), False)  # 4-5
    return b


@pytest.mark.parametrize("seq, expected", [(0, [1, 3, 4]), (2, [3, 4]), (3, [4]), (5, [])])
def test_since_returns_exactly_the_frames_after_a_boundary(seq, expected):
    assert [f.seq for f in filled().since(seq)] == expected


@pytest.mark.parametrize("seq", [1, 4, 6, -5])
def test_since_refuses_points_inside_a_frame_or_outside_the_buffer(seq):
    assert filled().since(seq) is None


def test_events_before_any_snapshot_are_not_kept():
    b = ReplayBuffer()
    b.add(stream_frame(1, [ev(1)], False), False)
    assert not b.ready and b.from_snapshot() == []


def test_past_the_soft_limit_it_wants_a_snapshot_and_past_the_hard_limit_it_drops_everything():
    b = ReplayBuffer(soft_limit=300, hard_limit=1_000)
    b.add(stream_frame(1, snap(), False), True, True)
    results = [b.add(stream_frame(2 + i, [ev(i, 50)], False), False) for i in range(12)]
    assert results[0] == "ok" and "want_snapshot" in results and "dropped" in results
    assert results.index("want_snapshot") < results.index("dropped")
    assert not b.ready and b.bytes == 0
    b.add(stream_frame(50, snap(), False), True, True)
    assert b.ready and b.first_seq == 50


def test_a_large_snapshot_does_not_count_against_the_events_bound():
    b = ReplayBuffer(soft_limit=300, hard_limit=100_000)
    big = [{"type": 4, "data": {"href": "h"}}, {"type": 2, "data": {"node": {"pad": "x" * 5_000}}}]
    assert b.add(stream_frame(1, big, False), True, True) == "ok"
    assert b.add(stream_frame(3, [ev(3)], False), False) == "ok"


def test_buffer_holds_about_the_bytes_it_counts():
    """The bound is in counted bytes, so what is held must be close to it. Frames used to keep the
    parsed events beside their text: 5-8x the counted bytes (a 32 MiB bound pinned ~250 MiB)."""
    import gc
    import json
    import tracemalloc

    def mutation(n):
        return {"type": 3, "timestamp": 1700000000000 + n, "data": {
            "source": 0, "texts": [], "removes": [],
            "attributes": [{"id": n, "attributes": {"class": f"item item-{n}", "style": "color: red"}}],
            "adds": [{"parentId": n, "nextId": None, "node": {"type": 2, "tagName": "div", "attributes": {"id": f"n{n}"},
                                                                "childNodes": [], "id": n + 1}}]}}

    texts = [json.dumps({"t": "ev", "e": [mutation(i * 10 + j) for j in range(10)]}) for i in range(300)]
    gc.collect()
    tracemalloc.start()
    try:
        b = ReplayBuffer(soft_limit=1 << 40, hard_limit=1 << 40)
        b.add(stream_frame(1, snap(), False), True, True)
        seq = 3
        for text in texts:  # as the socket does: parse, hand the events over, keep nothing else
            b.add(stream_frame(seq, json.loads(text)["e"], False), False)
            seq += 10
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 1.5 * b.bytes, f"held {held} bytes for {b.bytes} counted ({held / b.bytes:.1f}x)"
    assert [e["data"]["attributes"][0]["id"] for e in b.from_snapshot()[1].msg["e"]][:2] == [0, 1]

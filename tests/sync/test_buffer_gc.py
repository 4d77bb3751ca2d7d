"""Replay buffers stay out of the garbage collector's walk (issue 12: full collections paused a busy
node for 1.1 s): a buffered frame adds no object the collector tracks, and a replay gives back the
same frames."""

from __future__ import annotations

import gc

from sync.buffer import ReplayBuffer
from sync.protocol import stream_frame


def ev(i: int) -> dict:
    return {"type": 3, "data": {"source": 0, "texts": [{"id": i, "value": f"text {i}"}]}, "timestamp": i}


def test_buffered_frames_are_not_tracked_by_the_collector_and_replay_unchanged():
    buf = ReplayBuffer()
    sent = [stream_frame(1, [{"type": 4, "data": {"href": "http://x/"}}, {"type": 2, "data": {}}], False)]
    buf.add(sent[0], starts_snapshot=True, full=True)
    for i in range(3, 20_003):
        f = stream_frame(i, [ev(i)], ephemeral=i % 10 == 0)
        sent.append(f)
        assert buf.add(f, starts_snapshot=False) == "ok"
    gc.collect()
    before = len(gc.get_objects())
    tracked = sum(1 for kept in buf.frames if gc.is_tracked(kept))
    assert tracked == 0, f"{tracked} of {len(buf.frames)} buffered frames are walked by every full collection"
    # what a joiner and a resuming follower get is what was sent
    replay = buf.from_snapshot()
    assert [(f.text, f.seq, f.last_seq, f.kind) for f in replay] == [(f.text, f.seq, f.last_seq, f.kind) for f in sent]
    assert replay[10].msg == sent[10].msg and replay[8].msg["e"] == [ev(10)]
    assert [f.seq for f in buf.since(19_000)] == list(range(19_001, 20_003))
    del replay
    gc.collect()
    assert len(gc.get_objects()) <= before + 100

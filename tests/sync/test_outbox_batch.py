"""The writer's batches (Outbox.take): consecutive DOM frames leave as one, with the same events and
sequence numbers; nothing else is joined."""

from __future__ import annotations

import json

from sync.outbox import Outbox
from sync.protocol import Frame, stream_frame


def ev(seq: int, *values: str, ephemeral: bool = False) -> Frame:
    return stream_frame(seq, [{"type": 3, "data": {"texts": [{"id": 1, "value": v}]}} for v in values], ephemeral)


def test_consecutive_dom_frames_leave_as_one_frame_with_every_event_in_order():
    box = Outbox()
    for f in (ev(5, "a"), ev(6, "b", "c"), ev(8, "d")):
        box.push(f)
    texts = box.take()
    assert len(texts) == 1
    msg = json.loads(texts[0])
    assert msg["t"] == "ev" and msg["s"] == 5
    assert [e["data"]["texts"][0]["value"] for e in msg["e"]] == ["a", "b", "c", "d"]
    assert len(box) == 0 and box.bytes == 0 and box.lag(100.0) == 0


def test_gaps_control_frames_and_ephemeral_frames_are_not_joined():
    box = Outbox()
    box.push(ev(1, "a"))
    box.push(ev(3, "b"))  # not contiguous (a reset comes between in real life)
    box.push(Frame({"t": "reset"}), force=True)
    box.push(ev(4, "c"))
    box.push(ev(5, "x", ephemeral=True))
    box.push(ev(6, "d"))
    msgs = [json.loads(t) for t in box.take()]
    assert [(m["t"], m.get("s"), len(m.get("e", []))) for m in msgs] == [
        ("ev", 1, 1), ("ev", 3, 1), ("reset", None, 0), ("ev", 4, 1), ("ev", 5, 1), ("ev", 6, 1)]


def test_a_batch_is_bounded_in_bytes_but_takes_at_least_one_frame():
    box = Outbox()
    big = ev(1, "x" * 10_000)
    box.push(big)
    box.push(ev(2, "y"))
    assert len(box.take(max_bytes=100)) == 1  # the big one alone (joined texts stop at the bound)
    assert len(box.take(max_bytes=100)) == 1 and len(box) == 0

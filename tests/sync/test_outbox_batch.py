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


# -- the batches are the ones the first writer made (it joined each frame to the text built so far,
# copying that text again at every frame: quadratic in a follower's backlog) ---------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def reference_take(frames: list[Frame], max_bytes: int) -> tuple[list[str], int]:
    """The texts the first ``Outbox.take`` returned for ``frames`` queued in order, and how many it took."""
    texts: list[str] = []
    size, prev, n = 0, None, 0
    while n < len(frames) and (not texts or size < max_bytes):
        frame = frames[n]
        n += 1
        size += frame.size
        joined = None
        if prev is not None and prev.kind == "stream" and frame.kind == "stream" and prev.last_seq + 1 == frame.seq \
                and frame.count:
            head = '{"t":"ev","s":%d,"e":[' % frame.seq
            text = texts[-1]
            if frame.text.startswith(head) and text.endswith("]}") and not text.endswith("[]}"):
                joined = text[:-2] + "," + frame.text[len(head):]
        if joined is not None:
            texts[-1] = joined
        else:
            texts.append(frame.text)
        prev = frame
    return texts, n


steps = st.lists(st.tuples(st.sampled_from(["next", "next", "next", "gap", "ephemeral", "ctl", "empty"]),
                           st.integers(1, 3), st.integers(0, 40)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(steps, st.sampled_from([1, 200, 2_000, 256 * 1024]))
def test_batches_are_the_same_as_the_first_writers(plan, max_bytes):
    frames: list[Frame] = []
    seq = 1
    for kind, count, pad in plan:
        if kind == "ctl":
            frames.append(Frame({"t": "state", "pad": "p" * pad}))
            continue
        if kind == "gap":
            seq += 2
        values = [] if kind == "empty" else [f"v{seq + i}" + "x" * pad for i in range(count)]
        frames.append(ev(seq, *values, ephemeral=kind == "ephemeral"))
        seq += len(values) or 1
    box = Outbox()
    for f in frames:
        box.push(f, force=True)  # forced: queued as they are (no ephemeral merging), whatever the bounds
    rest = frames
    while rest:
        want, n = reference_take(rest, max_bytes)
        assert box.take(max_bytes) == want
        rest = rest[n:]
    assert len(box) == 0

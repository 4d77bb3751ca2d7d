"""A late joiner's replay comes in blocks (issue 12): the same messages, events and sequence numbers in
the same order as when every buffered frame was sent on its own, but a join allocates a number of
objects that does not grow with the number of buffered frames (50 joiners of busy rooms made
hundreds of thousands of Frame and Send objects and set off full collections of 76-194 ms)."""

from __future__ import annotations

import gc
import json

import pytest

from sync.outbox import Outbox
from sync.room import Room, Send

EPOCH = "e1"


def make_room() -> Room:
    return Room("sid1", epoch=EPOCH, start_url="https://shop.example/",
                to_proxy=lambda url: "http://p.tandem/" + url.split("://", 1)[-1],
                to_upstream=lambda url: "https://" + url.split("http://p.tandem/", 1)[-1])


def snapshot():
    return [{"type": 4, "data": {"href": "http://p.tandem/shop.example/", "width": 800, "height": 600}, "timestamp": 1},
            {"type": 2, "data": {"node": {"type": 0, "childNodes": [], "text": "héllo \u2603"}}, "timestamp": 1}]


def recorded(n: int) -> list[list[dict]]:
    """A leader's ev messages: mutations, with mouse moves and scrolls (ephemeral) between, some batched."""
    msgs = []
    for i in range(n):
        if i % 7 == 3:
            msgs.append([{"type": 3, "data": {"source": 1, "positions": [{"x": i, "y": 2, "id": 1, "timeOffset": 0}]}, "timestamp": i}])
        elif i % 11 == 5:
            msgs.append([{"type": 3, "data": {"source": 3, "id": 4, "x": 0, "y": i}, "timestamp": i},
                         {"type": 3, "data": {"source": 0, "texts": [{"id": i, "value": "a\"b\\c"}]}, "timestamp": i}])
        else:
            msgs.append([{"type": 3, "data": {"source": 0, "adds": [], "removes": [],
                                               "texts": [{"id": i, "value": f"text {i} " + "x" * (i % 50)}]}, "timestamp": i}])
    return msgs


def busy_room(n: int, *, old_path: bool = False) -> Room:
    room = make_room()
    if old_path:  # the replay as it was: one Frame (and one Send) per buffered frame
        buf = room.buffer
        room.buffer.replay = lambda seq=None: buf.from_snapshot() if seq is None else buf.since(seq)
    room.connect(1, "L", may_lead=True, kind="tab", now=0.0)
    room.receive(1, {"t": "ev", "e": snapshot()}, 0.0)
    for events in recorded(n):
        room.receive(1, {"t": "ev", "e": events}, 0.0)
    return room


def wire(outs, conn: int) -> list[str]:
    """What the socket of ``conn`` is sent for these outputs: queued as the relay queues a joiner's
    frames (forced), taken out as the writer takes them."""
    box = Outbox()
    for out in outs:
        if isinstance(out, Send) and conn in out.conns:
            box.push(out.frame, force=True)
    texts = []
    while len(box):
        texts += box.take()
    return texts


def expanded(texts: list[str]) -> list:
    """Each message; an ev message as one (seq, event) per event: how the client applies them."""
    out = []
    for text in texts:
        msg = json.loads(text)
        if msg["t"] == "ev":
            out += [("ev", msg["s"] + i, e) for i, e in enumerate(msg["e"])]
        else:
            out.append(msg)
    return out


@pytest.mark.parametrize("resume", [None, "middle", "stale_epoch", "inside"])
def test_a_late_joiner_gets_the_same_messages_and_events_in_the_same_order_as_frame_by_frame(resume):
    n = 3_000
    new, old = busy_room(n), busy_room(n, old_path=True)
    assert [k[:3] for k in new.buffer.frames] == [k[:3] for k in old.buffer.frames]
    seqs = [k[1] for k in new.buffer.frames]
    point = {"middle": {"epoch": EPOCH, "seq": seqs[1_500] - 1}, "stale_epoch": {"epoch": "other", "seq": 5},
             "inside": {"epoch": EPOCH, "seq": seqs[-1]}}.get(resume)
    if resume == "inside":
        point["seq"] = next(k[1] for k in new.buffer.frames if k[2] > 1)  # within a two-event frame: refused
    got = new.connect(2, "F", may_lead=False, kind="view", now=1.0, resume=point)
    want = old.connect(2, "F", may_lead=False, kind="view", now=1.0, resume=point)
    assert expanded(wire(got, 2)) == expanded(wire(want, 2))
    # the events arrive exactly once each, numbered without a gap up to the room's last
    evs = [seq for m in expanded(wire(got, 2)) if isinstance(m, tuple) for seq in [m[1]]]
    assert evs == list(range(evs[0], new.seq + 1))
    if resume in (None, "stale_epoch", "inside"):
        assert "reset" in [m["t"] for m in expanded(wire(got, 2)) if isinstance(m, dict)] and evs[0] == 1
    else:
        assert "reset" not in [m["t"] for m in expanded(wire(got, 2)) if isinstance(m, dict)]
        assert evs[0] == point["seq"] + 1
    # and what follows the replay continues it
    live = new.receive(1, {"t": "ev", "e": recorded(1)[0]}, 2.0)
    assert expanded(wire(live, 2))[0][1] == new.seq == evs[-1] + 1


def test_replay_blocks_keep_each_frames_text_and_stay_near_the_block_size():
    room = busy_room(5_000)
    blocks = room.buffer.replay()
    frames = room.buffer.from_snapshot()
    assert 1 < len(blocks) < len(frames) / 50
    assert [e for b in blocks for e in b.msg["e"]] == [e for f in frames for e in f.msg["e"]]
    assert blocks[0].seq == 1 and blocks[-1].last_seq == room.seq
    assert all(b.last_seq + 1 == c.seq for b, c in zip(blocks, blocks[1:]))
    assert all(b.kind == "stream" and b.size == len(b.text) < 256 * 1024 + 1_000 for b in blocks)


def join_objects(n: int) -> int:
    """Objects the garbage collector tracks that one late join leaves in its socket's queue."""
    room = busy_room(n)
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        before = len(gc.get_objects())
        outs = room.connect(2, "F", may_lead=False, kind="view", now=1.0)
        box = Outbox()
        for out in outs:
            if isinstance(out, Send) and 2 in out.conns:
                box.push(out.frame, force=True)
        del outs
        after = len(gc.get_objects())
    finally:
        if was:
            gc.enable()
    assert len(box) > 0
    return after - before


def test_a_late_join_allocates_a_number_of_objects_that_does_not_grow_with_the_buffered_frames():
    small, large = join_objects(1_000), join_objects(10_000)
    # frame by frame it was about three objects per buffered frame (Frame, Send, the queue's tuple)
    assert large - small < 100, f"{small} objects for 1,000 buffered frames, {large} for 10,000"

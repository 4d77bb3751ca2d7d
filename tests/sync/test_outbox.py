"""Backpressure for one slow follower: coalesce what may be coalesced, never lose the DOM stream."""

from sync.outbox import Outbox
from sync.protocol import Frame, stream_frame


def ev_move(x):
    return {"type": 3, "data": {"source": 1, "positions": [{"x": x, "y": 0, "id": 1, "timeOffset": 0}]}}


def ev_scroll(node, y):
    return {"type": 3, "data": {"source": 3, "id": node, "x": 0, "y": y}}


def ev_dom(n):
    return {"type": 3, "data": {"source": 0, "texts": [{"id": n, "value": str(n)}], "adds": [], "removes": []}}


def drain(box):
    out = []
    while (f := box.pop()) is not None:
        out.append(f)
    return out


def test_pointer_frames_of_one_participant_replace_each_other():
    box = Outbox()
    for x in range(5):
        box.push(Frame({"t": "ptr", "p": "A", "x": x, "y": 0}, kind="ptr", key="A"))
    box.push(Frame({"t": "ptr", "p": "B", "x": 9, "y": 0}, kind="ptr", key="B"))
    frames = drain(box)
    assert [(f.msg["p"], f.msg["x"]) for f in frames] == [("A", 4), ("B", 9)]
    assert box.bytes == 0


def test_ephemeral_stream_frames_merge_keeping_sequence_numbers_contiguous():
    box = Outbox()
    seq = 1
    for i in range(10):
        box.push(stream_frame(seq, [ev_move(i), ev_scroll(7, i)], ephemeral=True))
        seq += 2
    frames = drain(box)
    assert len(frames) == 1
    f = frames[0]
    assert (f.seq, f.last_seq) == (1, 20)
    assert [e["data"]["source"] for e in f.msg["e"]] == [1, 3]
    assert f.msg["e"][0]["data"]["positions"][0]["x"] == 9 and f.msg["e"][1]["data"]["y"] == 9


def test_scrolls_of_different_elements_are_all_kept():
    box = Outbox()
    box.push(stream_frame(1, [ev_scroll(1, 10)], ephemeral=True))
    box.push(stream_frame(2, [ev_scroll(2, 20)], ephemeral=True))
    box.push(stream_frame(3, [ev_scroll(1, 30)], ephemeral=True))
    (f,) = drain(box)
    assert sorted((e["data"]["id"], e["data"]["y"]) for e in f.msg["e"]) == [(1, 30), (2, 20)]


def test_dom_frames_are_never_merged_dropped_or_reordered():
    box = Outbox()
    box.push(stream_frame(1, [ev_move(1)], ephemeral=True))
    box.push(stream_frame(2, [ev_dom(2)], ephemeral=False))
    box.push(stream_frame(3, [ev_move(3)], ephemeral=True))
    box.push(stream_frame(4, [ev_dom(4)], ephemeral=False))
    frames = drain(box)
    assert [(f.seq, f.last_seq) for f in frames] == [(1, 1), (2, 2), (3, 3), (4, 4)]


def test_a_fast_reader_sees_every_frame_unmerged():
    box = Outbox()
    for i in range(5):
        box.push(stream_frame(i + 1, [ev_move(i)], ephemeral=True))
        assert [f.msg["e"][0]["data"]["positions"][0]["x"] for f in drain(box)] == [i]


def test_past_the_byte_bound_push_reports_the_follower_must_resync():
    box = Outbox(max_bytes=2_000)
    ok = True
    seq = 1
    while ok:
        ok = box.push(stream_frame(seq, [ev_dom(seq)], ephemeral=False))
        seq += 1
    assert box.bytes > 2_000
    box.clear()
    assert box.push(stream_frame(seq, [ev_dom(seq)] * 100, ephemeral=False), force=True)
    assert len(box) == 1


def test_frame_count_bound():
    box = Outbox(max_frames=3)
    results = [box.push(Frame({"t": "state"})) for _ in range(4)]
    assert results == [True, True, True, False]

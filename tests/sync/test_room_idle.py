"""`idle` from the source tab (issue 11: record only while someone watches): its old snapshot is stale."""

from __future__ import annotations

from tests.sync.test_room import Harness, full, meta, mutation, types


def test_idle_source_drops_its_stale_snapshot_so_a_joiner_waits_for_a_fresh_one():
    h = Harness()
    h.tab()
    h.stream([meta(), full("old page")])
    h.stream([mutation(1)])
    outs = h.send(1, {"t": "idle"})
    assert not h.room.buffer.ready
    assert any(m.get("streaming") is False for m in [o.frame.msg for o in outs if hasattr(o, "frame")])
    # A joiner gets a reset and nothing stale; the next snapshot reaches it.
    outs = h.view(2, "F")
    assert types(outs, 2)[:2] == ["welcome", "reset"]
    assert not h.events_seen(outs, 2)
    outs = h.stream([meta(), full("page now")])
    assert [e["data"].get("node", {}).get("text") for e in h.events_seen(outs, 2) if e["type"] == 2] == ["page now"]


def test_idle_from_a_tab_that_is_not_the_source_changes_nothing():
    h = Harness()
    h.tab(conn=1)
    h.stream([meta(), full()])
    h.tab(conn=9)  # another tab of the tab owner becomes the source
    h.stream([meta(), full("second tab")], conn=9)
    assert h.send(1, {"t": "idle"}) == []
    assert h.room.buffer.ready

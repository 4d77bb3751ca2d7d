"""Chat in the room (pure state machine): who hears what, limits, history for joiners, nothing kept elsewhere."""

from __future__ import annotations

import json

from sync import protocol as P
from sync.room import Close, Room, Send
from tests.sync.test_room import make_room


def frames(outs, conn=None, t=None):
    """The messages of ``outs`` sent to ``conn`` (any, if None), of type ``t`` (any, if None)."""
    got = []
    for o in outs:
        if isinstance(o, Send) and (conn is None or conn in o.conns):
            m = o.frame.msg
            if t is None or m["t"] == t:
                got.append(m)
    return got


def three(room: Room, now=0.0):
    """A tab owner (tab connection, conn 1) and two followers (views 2 and 3)."""
    room.connect(1, "lead", may_lead=True, kind="tab", now=now, name="Ada")
    room.connect(2, "f1", may_lead=False, kind="view", now=now, name="Bob")
    room.connect(3, "f2", may_lead=False, kind="view", now=now, name="Cy")


def test_a_message_reaches_everyone_with_the_admitted_name():
    room = make_room()
    three(room)
    out = room.receive(2, {"t": "chat", "text": "hello <b>all</b>"}, 1.0)
    for conn in (1, 2, 3):  # the sender too: its own copy is the confirmation, in the room's order
        assert frames(out, conn, "chat") == [{"t": "chat", "id": 1, "p": "f1", "name": "Bob", "text": "hello <b>all</b>"}]


def test_names_are_the_admitted_ones_not_what_the_message_says():
    room = make_room()
    room.connect(1, "lead", may_lead=True, kind="tab", now=0, name="Ada")
    room.connect(2, "f1", may_lead=False, kind="view", now=0, name="Eve (tab owner)")
    out = room.receive(2, {"t": "chat", "text": "hi", "name": "Ada", "p": "lead"}, 1.0)
    [m] = frames(out, 1, "chat")
    assert (m["p"], m["name"]) == ("f1", "Eve")


def test_too_long_is_refused_with_a_clear_message_and_reaches_nobody():
    room = make_room()
    three(room)
    out = room.receive(2, {"t": "chat", "text": "x" * (P.MAX_CHAT + 1)}, 1.0)
    assert frames(out, t="chat") == []
    [err] = frames(out, 2, "error")
    assert err["code"] == "chat_too_long" and str(P.MAX_CHAT) in err["message"]
    assert frames(room.receive(2, {"t": "chat", "text": "x" * P.MAX_CHAT}, 2.0), 3, "chat")  # the limit itself passes


def test_rate_per_participant():
    room = make_room()
    three(room)
    now = 10.0
    for i in range(P.CHAT_BURST):
        assert frames(room.receive(2, {"t": "chat", "text": f"m{i}"}, now), 1, "chat")
    out = room.receive(2, {"t": "chat", "text": "one too many"}, now)
    [err] = frames(out, 2, "error")
    assert err["code"] == "chat_rate" and "too fast" in err["message"]
    assert frames(out, 1, "chat") == []
    # someone else is not slowed down by Bob
    assert frames(room.receive(3, {"t": "chat", "text": "me too"}, now), 1, "chat")
    # a second later Bob may send one more, and only one
    assert frames(room.receive(2, {"t": "chat", "text": "again"}, now + 1.0), 1, "chat")
    assert frames(room.receive(2, {"t": "chat", "text": "again"}, now + 1.0), 2, "error")
    # a pause refills the burst
    for i in range(P.CHAT_BURST):
        assert frames(room.receive(2, {"t": "chat", "text": f"n{i}"}, now + 60), 1, "chat")


def test_refused_messages_do_not_count_against_the_rate_when_malformed():
    room = make_room()
    three(room)
    for _ in range(20):
        assert frames(room.receive(2, {"t": "chat", "text": 5}, 1.0), 2, "error")[0]["code"] == "bad_message"
        assert frames(room.receive(2, {"t": "chat", "text": " \n\u200b\u202e "}, 1.0), 2, "error")[0]["code"] == "chat_empty"
    assert frames(room.receive(2, {"t": "chat", "text": "fine"}, 1.0), 1, "chat")


def test_text_is_cleaned_of_controls_and_bidi_overrides_but_kept_verbatim_otherwise():
    room = make_room()
    three(room)
    hostile = '<img src=x onerror="alert(1)"> javascript:alert(2) \u202eevil\u202c\x00\x1b[31m  \r\nline 2'
    [m] = frames(room.receive(2, {"t": "chat", "text": hostile}, 1.0), 1, "chat")
    assert m["text"] == '<img src=x onerror="alert(1)"> javascript:alert(2) evil[31m\nline 2'
    many = "\n".join(str(i) for i in range(40))
    [m] = frames(room.receive(3, {"t": "chat", "text": many}, 1.0), 1, "chat")
    assert m["text"].count("\n") == P.MAX_CHAT_LINES - 1


def test_lone_surrogate_does_not_break_the_frame():
    room = make_room()
    three(room)
    [m] = frames(room.receive(2, {"t": "chat", "text": "half \ud83d emoji"}, 1.0), 1, "chat")
    out = [o for o in room.receive(3, {"t": "chat", "text": "ok \ud83d"}, 1.0) if isinstance(o, Send)]
    for o in out:
        o.frame.text.encode("utf-8")  # encodable: the room's sockets can send it


def test_a_joiner_gets_the_last_messages_and_a_reconnect_the_same_ids():
    room = make_room()
    three(room)
    for i in range(P.CHAT_HISTORY + 7):
        room.receive(2 + i % 2, {"t": "chat", "text": f"m{i}"}, 100.0 * i)
    out = room.connect(4, "late", may_lead=False, kind="view", now=10_000, name="Dee")
    got = frames(out, 4, "chat")
    assert [m["text"] for m in got] == [f"m{i}" for i in range(7, P.CHAT_HISTORY + 7)]
    assert [m["id"] for m in got] == list(range(8, P.CHAT_HISTORY + 8))
    # the tab owner's panel comes back after a page load: the same messages, the same ids
    room.disconnect(1, 10_001)
    again = frames(room.connect(5, "lead", may_lead=True, kind="tab", now=10_002), 5, "chat")
    assert [m["id"] for m in again] == [m["id"] for m in got]
    welcome_first = [o.frame.msg["t"] for o in room.connect(6, "f1", may_lead=False, kind="view", now=10_003)
                     if isinstance(o, Send) and 6 in o.conns]
    assert welcome_first[0] == "welcome" and "chat" in welcome_first


def test_a_follower_started_over_gets_the_chat_again():
    room = make_room()
    three(room)
    room.receive(2, {"t": "chat", "text": "before the overflow"}, 1.0)
    out = room.resync(3, fresh=True)
    assert [m["text"] for m in frames(out, 3, "chat")] == ["before the overflow"]


def test_chat_is_not_in_the_facts_that_outlive_the_room():
    room = make_room()
    three(room)
    room.receive(2, {"t": "chat", "text": "secret order 12345"}, 1.0)
    assert "12345" not in json.dumps(room.facts())
    assert "12345" not in json.dumps(room.state())
    restored = make_room()
    restored.restore(room.facts(), 2.0)
    out = restored.connect(9, "f1", may_lead=False, kind="view", now=3.0)
    assert frames(out, 9, "chat") == []
    assert not any("12345" in f.text for f in room.buffer.from_snapshot())


def test_leaving_then_chatting_is_ignored():
    room = make_room()
    three(room)
    out = room.receive(2, {"t": "leave"}, 1.0)
    assert any(isinstance(o, Close) for o in out)
    assert room.receive(2, {"t": "chat", "text": "ghost"}, 2.0) == []

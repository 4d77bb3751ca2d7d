"""The room state machine, fed calls and read back, without a network or an event loop."""

from __future__ import annotations

import pytest

from sync.buffer import ReplayBuffer
from sync.protocol import MAX_CONTROL_MESSAGE
from sync.room import HEARTBEAT_TIMEOUT, PRESENCE_GRACE, Close, Room, Send

START = "https://shop.example/"


def make_room(**kw) -> Room:
    kw.setdefault("epoch", "e1")
    kw.setdefault("start_url", START)
    kw.setdefault("to_proxy", lambda url: "http://p.tandem/" + url.split("://", 1)[-1])
    kw.setdefault("to_upstream", lambda url: "https://" + url.split("http://p.tandem/", 1)[-1])
    return Room("sid1", **kw)


def meta(href="http://p.tandem/shop.example/"):
    return {"type": 4, "data": {"href": href, "width": 800, "height": 600}, "timestamp": 1}


def full(text="hello"):
    return {"type": 2, "data": {"node": {"type": 0, "childNodes": [], "text": text}}, "timestamp": 1}


def mutation(n=0):
    return {"type": 3, "data": {"source": 0, "adds": [], "removes": [], "texts": [{"id": n, "value": f"t{n}"}]}, "timestamp": 1}


def move(x):
    return {"type": 3, "data": {"source": 1, "positions": [{"x": x, "y": 0, "id": 1, "timeOffset": 0}]}, "timestamp": 1}


def scroll(node, y):
    return {"type": 3, "data": {"source": 3, "id": node, "x": 0, "y": y}, "timestamp": 1}


def to(outs, conn):
    """The messages sent to one connection, in order."""
    return [o.frame.msg for o in outs if isinstance(o, Send) and conn in o.conns]


def types(outs, conn):
    return [m["t"] for m in to(outs, conn)]


class Harness:
    """A room plus shorthand for the calls a test makes. Connection ids: 1 leader tab, 2.. followers."""

    def __init__(self, **kw):
        self.room = make_room(**kw)
        self.now = 0.0

    def tab(self, conn=1, pid="L"):
        return self.room.connect(conn, pid, may_lead=True, kind="tab", now=self.now)

    def view(self, conn, pid, resume=None, may_lead=False):
        return self.room.connect(conn, pid, may_lead=may_lead, kind="view", now=self.now, resume=resume)

    def send(self, conn, msg, size=0):
        return self.room.receive(conn, msg, self.now, size)

    def stream(self, events, conn=1):
        return self.send(conn, {"t": "ev", "e": events})

    def events_seen(self, outs, conn):
        return [e for m in to(outs, conn) if m["t"] == "ev" for e in m["e"]]


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_first_leader_credential_leads_and_its_tab_is_asked_for_a_snapshot(h):
    outs = h.tab()
    assert to(outs, 1)[0]["t"] == "welcome" and to(outs, 1)[0]["role"] == "leader"
    assert "snapshot" in types(outs, 1)
    assert h.room.source == 1


def test_follower_joining_before_any_snapshot_waits_then_gets_the_stream(h):
    h.tab()
    outs = h.view(2, "F")
    assert types(outs, 2)[:2] == ["welcome", "reset"]
    assert not h.events_seen(outs, 2)
    outs = h.stream([meta(), full()])
    assert [e["type"] for e in h.events_seen(outs, 2)] == [4, 2]
    outs = h.stream([mutation(1)])
    assert to(outs, 2)[-1]["s"] == 3


def test_events_before_a_snapshot_are_not_sent_to_unsynced_followers(h):
    h.tab()
    h.view(2, "F")
    outs = h.stream([mutation(1)])
    assert not h.events_seen(outs, 2)


def test_late_joiner_gets_snapshot_and_every_event_since_in_order(h):
    h.tab()
    h.stream([meta(), full()])
    h.stream([mutation(1), mutation(2)])
    h.stream([move(5)])
    outs = h.view(3, "G")
    seen = h.events_seen(outs, 3)
    assert [e["type"] for e in seen] == [4, 2, 3, 3, 3]
    assert types(outs, 3)[1] == "reset"


def test_new_snapshot_restarts_the_buffer(h):
    h.tab()
    h.stream([meta(), full("one"), mutation(1)])
    h.stream([meta("http://p.tandem/shop.example/two"), full("two")])
    outs = h.view(2, "F")
    seen = h.events_seen(outs, 2)
    assert [e["type"] for e in seen] == [4, 2]
    assert seen[1]["data"]["node"]["text"] == "two"
    assert h.room.state()["url"] == "https://shop.example/two"


@pytest.mark.parametrize("cut", [0, 1, 2, 3])
def test_resume_gets_exactly_the_missing_events(h, cut):
    """Reconnecting after any frame boundary: no duplicate, no gap."""
    h.tab()
    h.view(2, "F")
    batches = [[meta(), full()], [mutation(1)], [mutation(2), mutation(3)], [move(1)]]
    seen_before: list[int] = []
    for i, b in enumerate(batches):
        outs = h.stream(b)
        if i <= cut:
            seen_before += [m["s"] + k for m in to(outs, 2) if m["t"] == "ev" for k in range(len(m["e"]))]
    h.room.disconnect(2, h.now)
    outs = h.view(4, "F", resume={"epoch": "e1", "seq": max(seen_before)})
    assert "reset" not in types(outs, 4)
    resumed = [m["s"] + k for m in to(outs, 4) if m["t"] == "ev" for k in range(len(m["e"]))]
    assert seen_before + resumed == list(range(1, h.room.seq + 1))


def test_resume_from_another_epoch_or_too_old_starts_over(h):
    h.tab()
    h.stream([meta(), full()])
    h.view(2, "F")
    outs = h.view(3, "F2", resume={"epoch": "other", "seq": 2})
    assert types(outs, 3)[1] == "reset"
    h.stream([meta(), full()])
    outs = h.view(4, "F3", resume={"epoch": "e1", "seq": 1})  # before the current snapshot's start
    assert types(outs, 4)[1] == "reset"


def test_only_the_source_tab_streams(h):
    h.tab()
    h.view(2, "F")
    h.stream([meta(), full()])
    outs = h.send(2, {"t": "ev", "e": [mutation(1)]})
    assert outs == []
    assert h.room.seq == 2


def test_a_second_leader_tab_becomes_source_and_pauses_the_first(h):
    h.tab(1)
    outs = h.tab(5)
    assert "paused" in types(outs, 1)
    assert "snapshot" in types(outs, 5)
    assert h.room.source == 5
    outs = h.send(1, {"t": "active"})
    assert h.room.source == 1 and "paused" in types(outs, 5)


def test_leader_tab_reconnect_within_grace_is_not_a_departure(h):
    h.tab()
    h.view(2, "F")
    h.room.disconnect(1, h.now)
    h.now += PRESENCE_GRACE / 2
    h.room.tick(h.now)
    h.tab(6)
    h.now += PRESENCE_GRACE
    outs = h.room.tick(h.now)
    assert outs == []
    assert h.room.participants["L"].present


def test_presence_away_after_grace_and_control_returns(h):
    h.tab()
    h.view(2, "F")
    h.send(2, {"t": "control", "a": "request"})
    h.send(1, {"t": "control", "a": "grant", "p": "F"})
    assert h.room.controller == "F"
    h.room.disconnect(2, h.now)
    h.now += PRESENCE_GRACE + 0.1
    outs = h.room.tick(h.now)
    state = to(outs, 1)[-1]
    assert state["t"] == "state" and state["controller"] is None
    assert [p["present"] for p in state["participants"] if p["id"] == "F"] == [False]


def test_silent_connection_is_closed_after_heartbeat_timeout(h):
    h.tab()
    h.view(2, "F")
    h.now += HEARTBEAT_TIMEOUT / 2
    h.send(1, {"t": "ping"})
    h.now += HEARTBEAT_TIMEOUT / 2 + 1
    outs = h.room.tick(h.now)
    closes = [o for o in outs if isinstance(o, Close)]
    assert [c.conn for c in closes] == [2]


# -- control ----------------------------------------------------------------------------------
def test_input_without_control_is_refused_and_never_reaches_the_tab(h):
    h.tab()
    h.view(2, "F")
    outs = h.send(2, {"t": "input", "i": {"kind": "click", "x": 1, "y": 2}})
    assert to(outs, 2)[0]["code"] == "no_control"
    assert to(outs, 1) == []


def test_request_grant_input_revoke(h):
    h.tab()
    h.view(2, "F")
    outs = h.send(2, {"t": "control", "a": "request"})
    assert to(outs, 1)[-1]["requests"] == ["F"]
    h.send(1, {"t": "control", "a": "grant", "p": "F"})
    outs = h.send(2, {"t": "input", "i": {"kind": "text", "text": "hi"}})
    assert to(outs, 1) == [{"t": "input", "p": "F", "i": {"kind": "text", "text": "hi"}}]
    h.send(1, {"t": "control", "a": "revoke"})
    outs = h.send(2, {"t": "input", "i": {"kind": "text", "text": "more"}})
    assert to(outs, 2)[0]["code"] == "no_control" and to(outs, 1) == []


def test_one_controller_at_a_time_and_leader_takes_back(h):
    h.tab()
    h.view(2, "F")
    h.view(3, "G")
    h.send(1, {"t": "control", "a": "grant", "p": "F"})
    h.send(1, {"t": "control", "a": "grant", "p": "G"})
    assert h.room.controller == "G"
    assert to(h.send(2, {"t": "input", "i": {"kind": "key", "key": "a"}}), 2)[0]["code"] == "no_control"
    h.send(1, {"t": "control", "a": "take"})
    assert h.room.controller is None


@pytest.mark.parametrize("action", ["grant", "revoke", "deny"])
def test_followers_cannot_decide_control(h, action):
    h.tab()
    h.view(2, "F")
    h.view(3, "G")
    outs = h.send(2, {"t": "control", "a": action, "p": "F"})
    assert to(outs, 2)[0]["code"] == "not_leader"
    assert h.room.controller is None


def test_policies(h):
    h.tab()
    h.view(2, "F")
    h.send(1, {"t": "policy", "control": "free"})
    h.send(2, {"t": "control", "a": "take"})
    assert h.room.controller == "F"
    h.send(1, {"t": "policy", "control": "none"})
    assert h.room.controller is None
    assert to(h.send(2, {"t": "control", "a": "request"}), 2)[0]["code"] == "not_allowed"
    assert to(h.send(2, {"t": "policy", "control": "free"}), 2)[0]["code"] == "not_leader"


@pytest.mark.parametrize("i, code", [
    ({"kind": "launch"}, "bad_input"),
    ({"kind": "click"}, "bad_input"),
    ({"kind": "text", "text": "x" * 20_000}, "bad_input"),
    ({"kind": "nav", "action": "go", "url": "javascript:alert(1)"}, "bad_url"),
])
def test_malformed_input_is_refused(i, code):
    h = Harness(to_proxy=lambda url: None)
    h.tab()
    h.view(2, "F")
    h.send(1, {"t": "control", "a": "grant", "p": "F"})
    outs = h.send(2, {"t": "input", "i": i})
    assert to(outs, 2)[0]["code"] == code and to(outs, 1) == []


def test_go_to_url_is_mapped_to_the_proxy(h):
    h.tab()
    h.view(2, "F")
    h.send(1, {"t": "control", "a": "grant", "p": "F"})
    outs = h.send(2, {"t": "input", "i": {"kind": "nav", "action": "go", "url": "https://other.example/x"}})
    assert to(outs, 1)[0]["i"]["url"] == "http://p.tandem/other.example/x"


def test_notice_from_the_tab_reaches_the_controller(h):
    h.tab()
    h.view(2, "F")
    h.send(1, {"t": "control", "a": "grant", "p": "F"})
    outs = h.send(1, {"t": "notice", "code": "file_input", "text": "Only the tab owner can choose files."})
    assert to(outs, 2) == [{"t": "notice", "code": "file_input", "text": "Only the tab owner can choose files."}]


# -- hand-over ----------------------------------------------------------------------------------
def test_hand_over_moves_leadership_and_the_new_leader_loads_the_current_url(h):
    h.tab()
    h.view(2, "F")
    h.stream([meta("http://p.tandem/shop.example/account"), full()])
    h.send(1, {"t": "control", "a": "grant", "p": "F"})
    outs = h.send(1, {"t": "lead", "p": "F"})
    assert {"t": "role", "role": "leader", "url": "http://p.tandem/shop.example/account"} in to(outs, 2)
    assert {"t": "role", "role": "follower"} in to(outs, 1)
    assert h.room.leader == "F" and h.room.controller is None and h.room.source is None
    assert h.room.role_of("L") == "follower"
    # the old leader's tab can no longer stream; the new leader's tab can
    h.room.disconnect(1, h.now)
    assert h.stream([mutation(1)], conn=1) == []
    outs = h.room.connect(7, "F", may_lead=False, kind="tab", now=h.now)
    assert "snapshot" in types(outs, 7)
    assert h.room.source == 7


def test_only_the_leader_hands_over_and_only_to_someone_here(h):
    h.tab()
    h.view(2, "F")
    assert to(h.send(2, {"t": "lead", "p": "F"}), 2)[0]["code"] == "not_leader"
    assert to(h.send(1, {"t": "lead", "p": "nobody"}), 1)[0]["code"] == "bad_target"


def test_claim_only_when_the_leader_is_away(h):
    h.tab()
    h.view(2, "F")
    assert to(h.send(2, {"t": "claim"}), 2)[0]["code"] == "not_allowed"
    h.room.disconnect(1, h.now)
    h.now += PRESENCE_GRACE + 1
    h.room.tick(h.now)
    outs = h.send(2, {"t": "claim"})
    assert h.room.leader == "F"
    assert to(outs, 2)[0] == {"t": "role", "role": "leader", "url": "http://p.tandem/shop.example/"}


def test_returning_host_takes_the_tab_back_when_nobody_leads(h):
    h.tab()
    h.send(1, {"t": "leave"})
    assert h.room.leader is None
    h.view(2, "F")
    outs = h.room.connect(3, "L2", may_lead=True, kind="view", now=h.now)
    assert h.room.leader == "L2"
    assert to(outs, 3)[-2]["t"] == "role" or to(outs, 3)[1]["t"] == "role"


# -- pointers, names, bad input ---------------------------------------------------------------
def test_pointers_go_to_everyone_else(h):
    h.tab()
    h.view(2, "F")
    h.view(3, "G")
    outs = h.send(2, {"t": "ptr", "x": 10.26, "y": 20})
    assert to(outs, 1) == [{"t": "ptr", "p": "F", "x": 10.3, "y": 20, "d": False}]
    assert to(outs, 3) == to(outs, 1) and to(outs, 2) == []


def test_pointer_moves_are_rate_limited_per_participant_but_hiding_always_passes(h):
    from sync.room import POINTER_INTERVAL

    h.tab()
    h.view(2, "F")
    relayed = 0
    for k in range(60):  # one second of a 60 Hz mouse
        h.now = k / 60
        relayed += len(to(h.send(2, {"t": "ptr", "x": k, "y": 0}), 1))
    assert 25 <= relayed <= round(1 / POINTER_INTERVAL) + 1
    assert to(h.send(2, {"t": "ptr", "hide": True}), 1) == [{"t": "ptr", "p": "F", "hide": True}]


def test_names_are_cleaned_and_bounded_and_not_changed_on_the_socket(h):
    h.tab()
    h.room.connect(2, "F", may_lead=False, kind="view", now=h.now, name="  Ada \n Lovelace " + "x" * 100)
    assert h.room.participants["F"].name.startswith("Ada Lovelace") and len(h.room.participants["F"].name) == 40
    # names are the ones admitted with (issue 10 #17): a name message is refused
    assert to(h.send(2, {"t": "name", "name": "Ada (tab owner)"}), 2)[0]["code"] == "not_allowed"
    assert h.room.participants["F"].name.startswith("Ada Lovelace")


@pytest.mark.parametrize("msg", [[], {"t": 3}, {"t": "nope"}, {"t": "__init__"}, {"t": "ev", "e": "x"}])
def test_bad_messages_get_an_error_not_an_exception(h, msg):
    h.tab()
    outs = h.send(1, msg)
    assert to(outs, 1)[0]["t"] == "error"


_UNHASHABLE = ([], ["take"], {}, {"a": 1})


@pytest.mark.parametrize("value", _UNHASHABLE)
def test_a_list_or_object_where_a_word_belongs_is_an_error_not_an_exception(h, value):
    """Every field checked against a set of words (control.a, policy.control, input.i.kind,
    input.i.action) refuses a list or an object with an error frame: ``[] in frozenset()`` raises
    (found by the fuzz suite: {"t": "control", "a": []} took the room down)."""
    h.tab()
    h.view(2, "F")
    h.stream([meta(), full()])
    for sender, msg in ((2, {"t": "control", "a": value}), (1, {"t": "policy", "control": value}),
                        (2, {"t": "input", "i": {"kind": value}}),
                        (2, {"t": "input", "i": {"kind": "nav", "action": value}})):
        if msg["t"] == "input":
            h.send(2, {"t": "control", "a": "request"})
            h.send(1, {"t": "control", "a": "grant", "p": "F"})
        sent = to(h.send(sender, msg), sender)
        assert sent and sent[0]["t"] == "error" and sent[0]["code"] in ("bad_message", "bad_input"), (msg, sent)


@pytest.mark.parametrize("value", _UNHASHABLE)
def test_restored_facts_with_a_list_or_object_are_ignored(value):
    room = make_room()
    room.restore({"people": [["L", "Lee", True]], "policy": value, "leader": value, "controller": value}, 0.0)
    assert room.policy == "ask" and room.leader is None and room.controller is None


def test_control_messages_are_size_limited(h):
    h.tab()
    h.view(2, "F")
    outs = h.send(2, {"t": "ptr", "x": 1, "y": 1}, size=MAX_CONTROL_MESSAGE + 1)
    assert to(outs, 2)[0]["code"] == "too_large"


def test_buffer_overflow_asks_the_leader_for_a_fresh_snapshot():
    h = Harness(buffer=ReplayBuffer(soft_limit=2_000, hard_limit=100_000))
    h.tab()
    h.stream([meta(), full()])
    asked = 0
    for i in range(40):
        outs = h.stream([mutation(i)])
        asked += types(outs, 1).count("snapshot")
    assert asked == 1  # asked once, not on every frame while waiting
    h.stream([meta(), full()])
    for i in range(40):
        outs = h.stream([mutation(i)])
        asked += types(outs, 1).count("snapshot")
    assert asked == 2


def test_buffer_past_hard_limit_is_dropped_and_joiners_wait_for_the_next_snapshot():
    h = Harness(buffer=ReplayBuffer(soft_limit=1_000, hard_limit=3_000))
    h.tab()
    h.stream([meta(), full()])
    for i in range(60):
        h.stream([mutation(i)])
    assert not h.room.buffer.ready
    outs = h.view(2, "F")
    assert not h.events_seen(outs, 2)
    outs = h.stream([meta(), full()])
    assert [e["type"] for e in h.events_seen(outs, 2)] == [4, 2]


def test_participant_limit():
    from sync.room import MAX_PARTICIPANTS

    h = Harness()
    h.tab()
    for n in range(MAX_PARTICIPANTS - 1):
        h.view(10 + n, f"F{n}")
    outs = h.view(9999, "one-too-many")
    assert isinstance(outs[0], Close) and outs[0].code == "room_full"


def test_session_permissions_gate_what_a_controller_may_do():
    perms = {"allow_type": False, "allow_draw": False}
    h = Harness(permissions=lambda: perms)
    h.tab()
    h.view(2, "F")
    h.send(1, {"t": "control", "a": "grant", "p": "F"})
    outs = h.send(2, {"t": "input", "i": {"kind": "text", "text": "x"}})
    assert to(outs, 2)[0]["code"] == "not_permitted" and to(outs, 1) == []
    outs = h.send(2, {"t": "input", "i": {"kind": "click", "x": 1, "y": 1}})
    assert to(outs, 1)[0]["t"] == "input"
    outs = h.send(2, {"t": "ptr", "x": 1, "y": 1, "d": True})
    assert to(outs, 1)[0]["d"] is False  # the pointer still shows; the drawing does not
    perms["allow_type"] = True  # changed live by the control plane
    assert to(h.send(2, {"t": "input", "i": {"kind": "key", "key": "a"}}), 1)[0]["t"] == "input"


def test_an_error_page_at_the_tab_owner_is_shown_to_everyone_until_the_next_page():
    h = Harness()
    h.tab()
    h.view(2, "F")
    h.stream([meta(), full()])
    assert h.room.report_error("F", "site_not_allowed", "t", "m", "http://p.tandem/x.example/") == []  # only the leader's
    outs = h.room.report_error("L", "site_not_allowed", "This site is not available", "Not on the list.",
                               "http://p.tandem/x.example/")
    assert to(outs, 2)[0]["error"] == {"code": "site_not_allowed", "title": "This site is not available",
                                       "message": "Not on the list.", "url": "https://x.example/"}
    h.room.disconnect(1, h.now)  # the error page has no panel
    h.now += PRESENCE_GRACE * 3
    h.room.tick(h.now)
    assert h.room.participants["L"].present  # still there, looking at the error page
    h.tab(5)
    outs = h.stream([meta(), full()], conn=5)
    assert to(outs, 2)[-1]["t"] == "ev" and h.room.state()["error"] is None


def _continuous(msgs) -> list[str]:
    """Problems in what one follower saw: every ev follows the previous one's last seq, unless a
    reset came between (after which the stream starts again at a snapshot)."""
    problems, last, fresh = [], None, True
    for m in msgs:
        if m["t"] == "reset":
            last, fresh = None, True
        elif m["t"] == "ev":
            if fresh:
                if m["e"][0]["type"] != 4:
                    problems.append(f"after a reset the stream went on at {m['s']} without a snapshot")
            elif m["s"] != last + 1:
                problems.append(f"skipped from {last} to {m['s']} without a reset")
            last, fresh = m["s"] + m.get("n", len(m["e"])) - 1, False
    return problems


def test_hand_over_and_back_never_skips_sequence_numbers_without_a_reset(h):
    """Before: a follower's view stayed marked 'synced' while its owner led (it got no events),
    and after the hand-back it was sent the stream from where it stood, with a gap."""
    seen = {2: [], 3: []}

    def keep(outs):
        for conn in seen:
            seen[conn] += to(outs, conn)
        return outs

    keep(h.tab())
    keep(h.view(2, "F"))
    keep(h.view(3, "L", may_lead=True))
    keep(h.stream([meta(), full()]))
    keep(h.stream([mutation(1), mutation(2)]))
    keep(h.send(1, {"t": "lead", "p": "F"}))
    keep(h.room.connect(7, "F", may_lead=False, kind="tab", now=h.now))
    keep(h.stream([meta(), full("F's page")], conn=7))
    keep(h.stream([mutation(3), mutation(4)], conn=7))
    keep(h.send(7, {"t": "lead", "p": "L"}))
    keep(h.send(1, {"t": "active"}))
    keep(h.stream([mutation(5)]))  # the tab records on before its snapshot is taken
    keep(h.stream([meta(), full("L's page again")]))
    keep(h.stream([mutation(6)]))
    for conn, msgs in seen.items():
        assert _continuous(msgs) == [], (conn, [(m["t"], m.get("s")) for m in msgs])
    texts = [e["data"]["texts"][0]["value"] for m in seen[2] if m["t"] == "ev" for e in m["e"] if e["type"] == 3]
    assert texts[-1] == "t6" and "t5" not in texts  # t5 came from L's tab before its snapshot: not for F's page

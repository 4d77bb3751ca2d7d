"""LocalRelay around rooms: what an empty room keeps, and rooms started again from kept facts."""

from __future__ import annotations

import time

from sync import relay as R
from sync.relay import LocalRelay
from sync.room import Room
from tests.sync.helpers import full, meta, mutation


class Sink:
    def __init__(self):
        self.frames = []

    def deliver(self, frame, *, force=False):
        self.frames.append(frame)
        return True

    def close(self, code, reason):
        pass


class Facts:
    def __init__(self, facts=None):
        self.facts, self.puts = facts, 0

    def get(self):
        return self.facts

    def put(self, facts):
        self.facts, self.puts = facts, self.puts + 1

    async def load(self):
        return self.facts


def streaming_room(relay: LocalRelay) -> tuple[int, int]:
    tab = relay.attach("s", Sink(), pid="L", may_lead=True, kind="tab", name="", resume=None, now=0)
    view = relay.attach("s", Sink(), pid="F", may_lead=False, kind="view", name="", resume=None, now=0)
    relay.submit("s", tab, {"t": "ev", "e": [meta(), full(1000)]}, 0, 0)
    relay.submit("s", tab, {"t": "ev", "e": [mutation(1)]}, 0, 0)
    return tab, view


def test_an_empty_room_drops_its_buffer_soon_and_is_forgotten_later():
    """Idle rooms used to keep their replay buffer (megabytes) for 6 hours."""
    relay = LocalRelay(lambda sid, epoch: Room(sid, epoch=epoch))
    tab, view = streaming_room(relay)
    relay.detach("s", tab, 1)
    relay.detach("s", view, 1)
    relay.tick(2)
    assert relay.rooms["s"].buffer.ready  # a reconnect right away still resumes
    relay.tick(2 + R.BUFFER_IDLE_TTL + 1)
    assert "s" in relay.rooms and not relay.rooms["s"].buffer.ready and relay.rooms["s"].buffer.bytes == 0
    relay.tick(2 + R.ROOM_IDLE_TTL + 1)
    assert "s" not in relay.rooms


def test_facts_are_kept_on_change_and_a_room_starts_from_them():
    kept = Facts()
    relay = LocalRelay(lambda sid, epoch: Room(sid, epoch=epoch), lambda sid: kept)
    tab, view = streaming_room(relay)
    puts = kept.puts
    for n in range(50):  # the DOM stream changes no fact: no write per event
        relay.submit("s", tab, {"t": "ev", "e": [mutation(n)]}, 0, 0)
    assert kept.puts == puts
    relay.submit("s", tab, {"t": "policy", "control": "free"}, 0, 0)
    relay.submit("s", view, {"t": "control", "a": "take"}, 0, 0)
    assert kept.facts["policy"] == "free" and kept.facts["controller"] == "F" and kept.facts["leader"] == "L"

    # another process (after a restart) knows the roles before anyone reconnects
    again = LocalRelay(lambda sid, epoch: Room(sid, epoch=epoch), lambda sid: kept)
    assert again.role_of("s", "L") == "leader" and again.role_of("s", "F") == "follower"
    assert again.role_of("s", "stranger") == "follower"  # someone else leads (issue 10: no credential's word over the room's)
    room = again.rooms["s"]
    assert room.controller == "F" and room.policy == "free"
    # whoever does not come back within the presence grace shows as away and gives up control
    again.tick(time.monotonic() + 100)  # the relay restores on the monotonic clock the socket shell uses
    assert room.controller is None and not room.participants["F"].present


class Stuck:
    """A follower that reads nothing for now: what it would get waits in its outbox."""

    def __init__(self):
        from sync.outbox import Outbox

        self.outbox = Outbox()
        self.now = 0.0

    def deliver(self, frame, *, force=False):
        ok = self.outbox.push(frame, force=force, now=self.now)
        if not ok:
            self.outbox.clear()
        return ok

    def close(self, code, reason):
        pass

    def queued(self):
        out = []
        while (f := self.outbox.pop()) is not None:
            out.append(f.msg)
        return out


def test_late_joiner_in_a_busy_room_gets_its_welcome_and_the_snapshot():
    """Before: a joiner whose replay was bigger than its outbox bound (4 MiB) lost everything
    queued (its welcome too), got a reset and events with no snapshot, and every such join made
    the leader take a fresh snapshot for the whole room."""
    relay = LocalRelay(lambda sid, epoch: Room(sid, epoch=epoch))
    tab_sink = Sink()
    tab = relay.attach("s", tab_sink, pid="L", may_lead=True, kind="tab", name="", resume=None, now=0)
    relay.submit("s", tab, {"t": "ev", "e": [meta(), full(1_000_000)]}, 0, 0)
    for n in range(600):  # ~5 MiB of changes since the snapshot: under the soft limit, over one outbox
        relay.submit("s", tab, {"t": "ev", "e": [mutation(n) | {"pad": "x" * 9000}]}, 0, 0)
    assert relay.rooms["s"].buffer.bytes > 5_000_000
    asked = [f.msg["t"] for f in tab_sink.frames].count("snapshot")
    joiner = Stuck()
    relay.attach("s", joiner, pid="G", may_lead=False, kind="view", name="", resume=None, now=0)
    got = joiner.queued()
    assert got[0]["t"] == "welcome" and "reset" in [m["t"] for m in got[:3]]
    evs = [m for m in got if m["t"] == "ev"]
    assert evs[0]["e"][0]["type"] == 4  # the snapshot, then every change since (in blocks: issue 12)
    assert [e.get("data", {}).get("texts", [{}])[0].get("id") for m in evs for e in m["e"]][2:] == list(range(600))
    assert [f.msg["t"] for f in tab_sink.frames].count("snapshot") == asked  # no fresh snapshot for the room
    # and live frames after the replay are held against the bound as usual
    relay.submit("s", tab, {"t": "ev", "e": [mutation(9999)]}, 0, 0)
    assert [m["t"] for m in joiner.queued()] == ["ev"]


def test_a_follower_behind_by_time_is_resynchronised_and_the_others_are_not():
    """Before: lag was bounded by bytes only; a follower fed slowly stayed minutes behind."""
    from sync.outbox import MAX_LAG

    relay = LocalRelay(lambda sid, epoch: Room(sid, epoch=epoch))
    tab_sink, fast, slow = Sink(), Sink(), Stuck()
    tab = relay.attach("s", tab_sink, pid="L", may_lead=True, kind="tab", name="", resume=None, now=0)
    relay.attach("s", fast, pid="F", may_lead=False, kind="view", name="", resume=None, now=0)
    relay.attach("s", slow, pid="S", may_lead=False, kind="view", name="", resume=None, now=0)
    relay.submit("s", tab, {"t": "ev", "e": [meta(), full(10)]}, 0, 0)
    slow.queued()  # it read its welcome and the snapshot, then stops reading
    for n in range(int(MAX_LAG * 10) + 20):  # 10 small events a second: a few KiB, far under any byte bound
        slow.now = n / 10
        relay.submit("s", tab, {"t": "ev", "e": [mutation(n)]}, 0, slow.now)
    got = [m["t"] for m in slow.queued()]
    assert "reset" in got and len(got) < MAX_LAG * 10 + 10  # started over within the bound
    assert [f.msg["t"] for f in tab_sink.frames].count("snapshot") == 2  # one fresh snapshot asked for
    assert len([f for f in fast.frames if f.msg["t"] == "ev"]) == int(MAX_LAG * 10) + 21  # the fast one: every frame

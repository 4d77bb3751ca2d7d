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
    assert again.role_of("s", "stranger") is None
    room = again.rooms["s"]
    assert room.controller == "F" and room.policy == "free"
    # whoever does not come back within the presence grace shows as away and gives up control
    again.tick(time.monotonic() + 100)  # the relay restores on the monotonic clock the socket shell uses
    assert room.controller is None and not room.participants["F"].present

"""A room's frames that tell a change go out only once Redis holds the change.

Found by `tests/test_restart.py`'s SIGKILL case on a loaded machine: the follower heard "you control",
the process was killed, and the new process did not know it: the Redis write of the room's facts had
been queued before the frame, but nothing waited for Redis to have it. Here a real Redis is paused
(SIGSTOP) while a follower takes control: the frame must wait, and the frames after it keep their order.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal

from sync.relay import LocalRelay
from sync.room import Room
from tandem import crypto
from tandem.live.redisstate import RedisBackend
from tests.servers.redis import RedisServer
from tests.sync.helpers import full, meta, mutation
from tests.sync.test_relay import Sink

PAUSE = 0.4  # seconds Redis is stopped for (under its 2 s command timeout)


def _msgs(sink: Sink) -> list[dict]:
    return [f.msg if hasattr(f, "msg") else json.loads(f.text) for f in sink.frames]


def _controller_is(sink: Sink, pid: str) -> bool:
    return any(m.get("t") == "state" and m.get("controller") == pid for m in _msgs(sink))


async def test_control_is_told_only_after_redis_has_it_and_later_frames_keep_their_order(tmp_path):
    with RedisServer(tmp_path / "redis") as server:
        cipher = crypto.Cipher([secrets.token_bytes(32)])
        backend = RedisBackend(server.url, cipher)
        try:
            facts = backend.open("s").facts
            relay = LocalRelay(lambda sid, epoch: Room(sid, epoch=epoch), lambda sid: facts)
            tab_sink, view_sink = Sink(), Sink()
            tab = relay.attach("s", tab_sink, pid="L", may_lead=True, kind="tab", name="", resume=None, now=0)
            view = relay.attach("s", view_sink, pid="F", may_lead=False, kind="view", name="", resume=None, now=0)
            relay.submit("s", tab, {"t": "ev", "e": [meta(), full(1000)]}, 0, 0)
            relay.submit("s", tab, {"t": "policy", "control": "free"}, 0, 0)
            for _ in range(200):  # every write so far is in Redis and every held frame sent
                await facts.flush()
                if facts.writing() is None and not relay._awaiting_facts:
                    break
                await asyncio.sleep(0.01)
            assert not _controller_is(view_sink, "F")

            os.kill(server.proc.pid, signal.SIGSTOP)
            try:
                relay.submit("s", view, {"t": "control", "a": "take"}, 0, 0)
                relay.submit("s", tab, {"t": "ev", "e": [mutation(7)]}, 0, 0)
                await asyncio.sleep(PAUSE)
                # Redis cannot have it yet: nobody may have heard it
                assert not _controller_is(view_sink, "F"), _msgs(view_sink)[-3:]
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)

            for _ in range(500):
                if _controller_is(view_sink, "F"):
                    break
                await asyncio.sleep(0.01)
            assert _controller_is(view_sink, "F")
            # a new process (another node, or after a SIGKILL) finds what the follower was told
            again = RedisBackend(server.url, cipher)
            try:
                kept = await again.open("s").facts.load()
                assert kept["controller"] == "F"
            finally:
                await again.close()
            # and the frames held behind the change went out after it, in order
            msgs = _msgs(view_sink)
            told = next(i for i, m in enumerate(msgs) if m.get("t") == "state" and m.get("controller") == "F")
            later = [i for i, m in enumerate(msgs) if m.get("t") == "ev" and '"t7"' in json.dumps(m)]
            assert later and later[-1] > told, [m.get("t") for m in msgs]
        finally:
            await backend.close()

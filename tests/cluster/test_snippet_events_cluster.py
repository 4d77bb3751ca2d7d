"""Pushed snippet events across nodes: a stream on one node hears an event recorded on another at once.

Two whole Tandem apps in one process, sharing a real Redis (``--redis-url``) and a real PostgreSQL
store (``--database-url``), as two nodes behind a balancer would. The snippet's stream is opened on
node B; the events are recorded on node A (a follower admitted there, ``events.emit`` there). Without
the cluster notice (``events.ANNOUNCE`` -> the relay's ``evt`` message -> ``events.heard`` on every
node) node B finds them only at its next keepalive look (``push.KEEPALIVE``, 15 s), so the timeout
here (well under it) fails; with the notice they arrive at once.
"""

from __future__ import annotations

import pytest

from proxy.allowlist import Entry
from tandem import appkeys, events
from tests.control.test_snippet import SITE, register, start
from tests.control.test_snippet_events import Stream, join_agent, listen
from tests.servers.postgres import postgres_server  # noqa: F401 - fixture
from viewer.snippet import push

HEARD = 5.0  # seconds: generous for a loaded machine, and still well under the keepalive look


async def test_a_stream_on_one_node_hears_events_recorded_on_another(make_tandem, redis_server, postgres_server, tmp_path):
    assert HEARD < push.KEEPALIVE  # otherwise the keepalive look alone would pass this test
    database = postgres_server.new_database()
    common = dict(redis_url=redis_server.url, database_url=database, data_dir=tmp_path / "shared",
                  extra_allow=(Entry("shop.example"),))
    a = await make_tandem(**common)  # the first creates the keys and the schema
    b = await make_tandem(**common)
    _, v, _ = await register(a)
    _, s = await start(a, v)
    sid = s["session_id"]

    sse = Stream(await listen(b, v))  # the snippet's stream lands on node B
    assert sse.resp.status == 200
    name, _, data = await sse.event()
    assert name == "ready" and data["session_id"] == sid

    await join_agent(a, sid, "Ann")  # admitted through node A: the audit row is written there
    name, first_id, data = await sse.event(timeout=HEARD)
    assert (name, data["name"], data["session_id"]) == ("viewer_joined", "Ann", sid)

    session = await a.app[appkeys.SESSIONS].get(sid)
    await events.emit(a.app, "control.changed", session, actor="Ann", detail={"from": None, "to": "p1", "to_name": "Ann"})
    name, second_id, data = await sse.event(timeout=HEARD)
    assert name == "control_changed" and data["control"]["to_name"] == "Ann"
    assert int(second_id.split(".")[1]) > int(first_id.split(".")[1])
    sse.resp.close()

"""Chat over the real session socket (ws.py, the relay, the room): three participants, the limits
answered to the sender only, a late joiner's history, and a hostile frame that cannot break the room."""

from __future__ import annotations

import json

from sync import protocol as P
from tests.sync.helpers import join, recv, socket
from tests.sync.test_socket import started


async def test_chat_between_three_over_the_socket(make_tandem, upstream):
    t, s = await started(make_tandem, upstream)
    tab = await socket(t, t.client, s.sid, kind="tab")  # the tab owner's panel
    me = (await recv(tab, "welcome"))["you"]
    bob_client, eve_client = await join(t, s.sid), await join(t, s.sid)
    bob = await socket(t, bob_client, s.sid)
    bob_id = (await recv(bob, "welcome"))["you"]
    eve = await socket(t, eve_client, s.sid)
    await recv(eve, "welcome")

    await bob.send_str(json.dumps({"t": "chat", "text": "<script>alert(1)</script> hi"}))
    for ws in (tab, bob, eve):
        m = await recv(ws, "chat")
        assert (m["p"], m["text"], m["id"]) == (bob_id, "<script>alert(1)</script> hi", 1)
    await tab.send_str(json.dumps({"t": "chat", "text": "hello Bob"}))
    for ws in (bob, eve):
        m = await recv(ws, "chat")
        assert (m["p"], m["text"]) == (me, "hello Bob")

    # too long: an error to the sender, nothing to the others
    await eve.send_str(json.dumps({"t": "chat", "text": "z" * (P.MAX_CHAT + 1)}))
    while True:
        msg = json.loads((await eve.receive()).data)
        if msg["t"] == "error":
            assert msg["code"] == "chat_too_long"
            break
    # a flood: some pass, then chat_rate; the room and everyone's sockets go on
    for i in range(P.CHAT_BURST + 3):
        await bob.send_str(json.dumps({"t": "chat", "text": f"flood {i}"}))
    codes = []
    while "chat_rate" not in codes:
        msg = json.loads((await bob.receive(timeout=5)).data)
        codes.append(msg.get("code") or msg["t"])
    await tab.send_str(json.dumps({"t": "chat", "text": "still here \ud83d"}))  # half an emoji: repaired, sent
    got = await recv(eve, "chat")
    while not got["text"].startswith("still here"):
        got = await recv(eve, "chat")
    assert got["text"] == "still here \ufffd"

    # a late joiner gets the live room's messages, numbered as everyone saw them
    late_client = await join(t, s.sid)
    late = await socket(t, late_client, s.sid)
    await recv(late, "welcome")
    first = await recv(late, "chat")
    assert (first["id"], first["text"]) == (1, "<script>alert(1)</script> hi")
    for ws in (tab, bob, eve, late):
        await ws.close()
    for c in (bob_client, eve_client, late_client):
        await c.close()

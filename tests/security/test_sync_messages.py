"""What a hostile page (or a participant's own client) can send on the session socket.

Over real loopback WebSockets against a real Tandem. Findings of issue 10:
#9 (a page sets the session's URL to ``javascript:``), #17 (a participant names itself
"Ada (tab owner)"), #18 (hand-over sends the new tab owner anywhere), #22 (one unpaired
surrogate freezes a room).
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web

from tandem import appkeys
from tests.harness import client_session
from tests.sync.helpers import full, meta, mutation, recv, socket


async def _started(make_tandem, upstream):
    async def home(request):
        return web.Response(text="<html><body>hi</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", home)
    origin = await upstream(app)
    t = await make_tandem()
    s = await t.session(origin + "/")
    return t, s, origin


async def _participant(t, sid: str, role: str = "follower", name: str = "") -> aiohttp.ClientSession:
    from urllib.parse import quote

    token = await t.app[appkeys.SESSIONS].invite(sid, role)
    client = client_session(cookie_jar=aiohttp.CookieJar())
    r = await client.get(f"{t.url}/s/{sid}/enter?t={token}&name={quote(name)}", allow_redirects=False)
    assert r.status in (302, 303), await r.text()
    return client


async def _frames(ws, seconds: float = 0.5) -> list[dict]:
    out = []
    try:
        while True:
            msg = await asyncio.wait_for(ws.receive(), seconds)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            out.append(json.loads(msg.data))
    except asyncio.TimeoutError:
        pass
    return out


async def test_finding_22_an_unpaired_surrogate_does_not_freeze_the_room(make_tandem, upstream):
    t, s, origin = await _started(make_tandem, upstream)
    href = s.url(origin + "/")
    tab = await socket(t, t.client, s.sid, kind="tab")
    await recv(tab, "snapshot")
    fclient = await _participant(t, s.sid)
    try:
        view = await socket(t, fclient, s.sid)
        await recv(view, "reset")
        # JSON escapes that decode to a lone high surrogate: DOM text, an attribute, a title
        text = json.dumps({"t": "ev", "e": [meta(href), full()]})
        await tab.send_str(text)
        assert (await recv(view, "ev"))["s"] == 1
        poisoned = '{"t":"ev","e":[{"type":3,"data":{"source":0,"texts":[{"id":1,"value":"cut \\ud83d here"}],' \
                   '"adds":[],"removes":[],"attributes":[{"id":2,"attributes":{"title":"\\udc00"}}]},"timestamp":2}]}'
        await tab.send_str(poisoned)
        got = await recv(view, "ev")
        assert got["e"][0]["data"]["texts"][0]["value"] == "cut \ufffd here"
        await tab.send_str('{"t":"page","url":%s,"title":"a \\ud800 title"}' % json.dumps(href))
        state = await recv(view, "state")
        assert state["title"] == "a \ufffd title"
        # and the room goes on: the next event still arrives, the socket is open
        await tab.send_str(json.dumps({"t": "ev", "e": [mutation(7)]}))
        got = await recv(view, "ev")
        assert got["e"][0]["data"]["texts"][0]["value"] == "t7"
        assert not view.closed and not tab.closed
    finally:
        await fclient.close()


@pytest.mark.parametrize("frame", ['{"t":"ev","e":[{"type":3,"data":{"x":NaN}}]}', '{"t":"ping","x":Infinity}',
                                   '{"t":"ev","e":' + "[" * 5000 + "]" * 5000 + "}", '{"t":"ptr","x":1e999,"y":1}'])
async def test_finding_22_frames_that_are_not_json_are_refused_and_the_socket_stays_up(make_tandem, upstream, frame):
    t, s, origin = await _started(make_tandem, upstream)
    tab = await socket(t, t.client, s.sid, kind="tab")
    await recv(tab, "snapshot")
    await tab.send_str(frame)
    frames = await _frames(tab, 1.0)
    assert any(f["t"] == "error" for f in frames), frames
    await tab.send_str(json.dumps({"t": "ping"}))
    await tab.send_str(json.dumps({"t": "ev", "e": [meta(s.url(origin + "/")), full()]}))
    await asyncio.sleep(0.2)
    assert not tab.closed


@pytest.mark.parametrize("name,shown", [("Ada (tab owner)", "Ada"), ("Ada\u202e(renwo bat)\u202c", "Ada(renwo bat)"),
                                        ("Ada \uff08Tab Owner\uff09", "Ada"), ("Bob [Agent]", "Bob"),
                                        ("Zoé (Zoe)", "Zoé (Zoe)"), ("\u200b(host)", None)])
async def test_finding_17_participants_cannot_name_themselves_a_role(make_tandem, upstream, name, shown):
    t, s, _ = await _started(make_tandem, upstream)
    client = await _participant(t, s.sid, name=name)
    try:
        view = await socket(t, client, s.sid)
        welcome = await recv(view, "welcome")
        me = next(p for p in welcome["state"]["participants"] if p["id"] == welcome["you"])
        if shown is None:
            assert me["name"] in ("Agent", "Customer")  # the default for an empty name
        else:
            assert me["name"] == shown
        # neither the hello nor a name message changes it afterwards
        await view.send_str(json.dumps({"t": "name", "name": "Ada (tab owner)"}))
        assert any(f["t"] == "error" and f["code"] == "not_allowed" for f in await _frames(view))
        again = await socket(t, client, s.sid, kind="view")
        await again.send_str(json.dumps({"t": "hello", "kind": "view", "name": "Boss (tab owner)"}))
        welcome = await recv(again, "welcome")
        me2 = next(p for p in welcome["state"]["participants"] if p["id"] == welcome["you"])
        assert me2["name"] == me["name"]
    finally:
        await client.close()


BAD_PAGE_URLS = ["javascript:alert(document.domain)", "JAVASCRIPT:alert(1)", " javascript:alert(1)", "\tjavascript:alert(1)",
                 "data:text/html,<script>alert(1)</script>", "https://evil.example/", "http://127.0.0.1:9/",
                 "vbscript:x", "about:blank", "/relative", ""]


@pytest.mark.parametrize("bad", BAD_PAGE_URLS)
async def test_finding_9_18_page_urls_the_room_is_told_must_be_this_sessions(make_tandem, upstream, bad):
    """A page (or a hijacked panel) reports a URL: javascript:, or an address outside the session; then the tab is
    handed over. The URL the room shows and the one the new tab owner is sent to stay proxied URLs of this session."""
    t, s, origin = await _started(make_tandem, upstream)
    good = s.url(origin + "/")
    tab = await socket(t, t.client, s.sid, kind="tab")
    await recv(tab, "snapshot")
    await tab.send_str(json.dumps({"t": "ev", "e": [meta(bad), full()]}))  # the snapshot's href
    await tab.send_str(json.dumps({"t": "page", "url": bad, "title": "x"}))
    fclient = await _participant(t, s.sid, "follower", "Fay")
    other = await _participant(t, s.sid, "leader", "Lee")  # may lead: a hand-over target
    try:
        view = await socket(t, other, s.sid)
        welcome = await recv(view, "welcome")
        assert welcome["state"]["url"].startswith(origin)
        await tab.send_str(json.dumps({"t": "lead", "p": welcome["you"]}))
        role = await recv(view, "role")
        assert role["role"] == "leader"
        assert role["url"] == good, role
    finally:
        await fclient.close()
        await other.close()


async def test_finding_18_hand_over_goes_to_the_page_shown_when_it_is_ours(make_tandem, upstream):
    t, s, origin = await _started(make_tandem, upstream)
    page = s.url(origin + "/somewhere?x=1")
    tab = await socket(t, t.client, s.sid, kind="tab")
    await recv(tab, "snapshot")
    await tab.send_str(json.dumps({"t": "ev", "e": [meta(page), full()]}))
    other = await _participant(t, s.sid, "leader", "Lee")
    try:
        view = await socket(t, other, s.sid)
        welcome = await recv(view, "welcome")
        await tab.send_str(json.dumps({"t": "lead", "p": welcome["you"]}))
        assert (await recv(view, "role"))["url"] == page
    finally:
        await other.close()


@pytest.mark.parametrize("event", [{"type": 3, "data": {"source": []}}, {"type": 3, "data": {"source": {}}},
                                   {"type": 3, "data": {"source": 3, "id": [1]}}, {"type": 3, "data": {"source": 3, "id": {"a": 1}}}])
def test_found_by_fuzzing_unhashable_event_fields_do_not_break_the_room(event):
    """tests/fuzz found it: a stream event whose ``source`` (or scroll ``id``) is a list raised TypeError in the room."""
    from sync.room import Room, Send

    room = Room("sid1", epoch="e1", to_proxy=lambda u: None, to_upstream=lambda u: None)
    room.connect(1, "L", may_lead=True, kind="tab", now=0.0)
    room.connect(2, "F", may_lead=False, kind="view", now=0.0)
    outs = room.receive(1, {"t": "ev", "e": [{"type": 4, "data": {"href": "x"}}, {"type": 2, "data": {}}]}, 0.1)
    outs += room.receive(1, {"t": "ev", "e": [event, event]}, 0.2)
    assert any(isinstance(o, Send) and 2 in o.conns for o in outs)

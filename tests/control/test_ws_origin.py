"""The session WebSocket (the sync layer's endpoint) refuses foreign Origins, even with a valid credential."""

import aiohttp
import pytest


@pytest.mark.parametrize("origin", ["http://{sid}-h9-example-com.{domain}", "http://evil.example", "null", None])
async def test_session_socket_refuses_foreign_origin(make_tandem, origin):
    t = await make_tandem()
    s = await t.session("http://127.0.0.1:9/")  # entered: the participant credential rides along
    headers = {"Origin": origin.format(sid=s.sid, domain=t.base.domain)} if origin else {}
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await t.client.ws_connect(f"{t.url}/s/{s.sid}/ws", headers=headers)
    assert err.value.status == 403


async def test_session_socket_accepts_base_origin(make_tandem):
    t = await make_tandem()
    s = await t.session("http://127.0.0.1:9/")
    ws = await t.client.ws_connect(f"{t.url}/s/{s.sid}/ws", headers={"Origin": t.url})
    await ws.close()

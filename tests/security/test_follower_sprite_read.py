"""The session page reads SVG sprites as the follower (viewer/mirror/sprites.js): what that opens.

Browsers refuse an external ``<use>`` reference across origins, so the session page (on ``BASE``)
fetches a sprite the mirror names from its proxied host with the follower's credential and copies
the symbol. That read is a ``fetch``: ``Sec-Fetch-Dest: empty``, CORS, with credentials. It is
accepted only from the control plane's origin and only for what the follower wall gives a
follower anyway (an image, a stylesheet, a font or media the mirror was sent); the answer lets
that origin alone read it. Nothing else a follower could not load before becomes readable.
"""

from __future__ import annotations

from tests.security.test_pipeline_attacks import PNG, SECRET, _setup
from tests.sync.helpers import join, mirror_shows


def _read(origin: str) -> dict:
    return {"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-site", "Origin": origin}


async def test_the_session_page_reads_what_the_follower_may_load_and_nothing_else(make_tandem, upstream):
    t, s, origin, seen = await _setup(make_tandem, upstream)
    await (await t.client.post(s.url(origin + "/login"), data=b"")).read()
    follower = await join(t, s.sid)
    tab = await mirror_shows(t, t.client, s.sid, origin + "/avatar.png", origin + "/account", origin + "/api")
    try:
        r = await follower.get(s.url(origin + "/avatar.png"), headers=_read(t.url))
        assert r.status == 200 and await r.read() == PNG
        assert r.headers["Access-Control-Allow-Origin"] == t.url
        assert r.headers["Access-Control-Allow-Credentials"] == "true"
        # a document and JSON the mirror names are refused, read or not
        for path in ("/account", "/api"):
            r = await follower.get(s.url(origin + path), headers=_read(t.url))
            body = await r.text()
            assert r.status == 403 and "follower_wall" in body and SECRET not in body, (path, r.status)
            assert r.headers.get("Access-Control-Allow-Credentials") is None
        # an image the mirror was never sent
        r = await follower.get(s.url(origin + "/moved.png"), headers=_read(t.url))
        assert r.status == 403 and "follower_wall" in await r.text()
        # a fetch from anywhere but the control plane (a proxied page, no Origin) claims nothing
        proxied_origin = s.url(origin + "/").rstrip("/")
        for headers in (_read(proxied_origin), {k: v for k, v in _read(t.url).items() if k != "Origin"}):
            r = await follower.get(s.url(origin + "/avatar.png"), headers=headers)
            assert r.status == 403 and "follower_wall" in await r.text(), headers
            assert r.headers.get("Access-Control-Allow-Origin") != t.url
        assert all("leader-secret-cookie" not in x["cookie"] for x in seen if x["path"] != "/login")
    finally:
        await tab.close()
        await follower.close()

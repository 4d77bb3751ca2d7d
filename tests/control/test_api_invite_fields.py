"""The fields of ``POST /api/v1/sessions/{id}/invites`` do what the API says (an API field that is
accepted and ignored is a defect): ``expires_in`` is when the link stops working, ``role`` the
role it admits, ``consent`` whether it passes the consent screen. Real Tandem, real HTTP; the
clock of the session registry is moved forward to pass the expiry."""

import time as real_time

import proxy.sessions
from tests.harness import client_session, participant_jar

URL = "http://127.0.0.1:9/start"


class _Later:
    """The time module, ``seconds`` ahead."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def time(self) -> float:
        return real_time.time() + self.seconds

    def __getattr__(self, name):
        return getattr(real_time, name)


async def test_expires_in_role_and_consent_of_an_invite(make_tandem, monkeypatch):
    t = await make_tandem()
    r = await t.api("POST", "/api/v1/sessions", json={"url": URL})
    sid = (await r.json())["session_id"]
    r = await t.api("POST", f"/api/v1/sessions/{sid}/invites", json={"role": "leader", "consent": False, "expires_in": 120})
    inv = await r.json()
    assert r.status == 201 and inv["url"].startswith(f"{t.url}/s/{sid}/enter?t=")  # consent false: straight in
    assert abs(inv["expires_at"] - (real_time.time() + 120)) < 5
    r = await t.api("POST", f"/api/v1/sessions/{sid}/invites", json={"role": "follower", "expires_in": 3600})
    consent = (await r.json())["url"]
    assert consent.startswith(f"{t.url}/s/{sid}/join?t=")  # consent true (the default): the consent screen first

    # 119 s later it still works and admits as the role asked for; 121 s later it no longer does
    monkeypatch.setattr(proxy.sessions, "time", _Later(119))
    client = client_session(cookie_jar=participant_jar(t.app))
    try:
        r = await client.get(inv["url"], allow_redirects=False)
        assert r.status == 303, await r.text()
    finally:
        await client.close()
    [p] = (await (await t.api("GET", f"/api/v1/sessions/{sid}")).json())["participants"]
    assert p["role"] == "leader"
    monkeypatch.setattr(proxy.sessions, "time", _Later(121))
    client = client_session(cookie_jar=participant_jar(t.app))
    try:
        r = await client.get(inv["url"], allow_redirects=False)
        assert r.status in (403, 410), r.status
        assert (await client.get(consent, allow_redirects=False)).status == 200  # the hour-long one still works
    finally:
        await client.close()

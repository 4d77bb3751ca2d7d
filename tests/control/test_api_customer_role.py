"""``customer_role`` of ``POST /api/v1/sessions`` does what the API says: the customer who comes in
through the ``invite_url`` or types the ``pin`` is admitted in that role (an API field that is
accepted and ignored is a defect). Real Tandem, real HTTP, a participant's own cookie jar."""

import pytest

from tests.harness import client_session, participant_jar

URL = "http://127.0.0.1:9/start"


async def admitted_role(t, sid: str, path: str, form: dict) -> tuple[str, str]:
    """(role, kind) of the participant that a new browser becomes by posting ``form`` to ``path``."""
    client = client_session(cookie_jar=participant_jar(t.app))
    try:
        r = await client.post(t.url + path, data=form, headers={"Origin": t.url}, allow_redirects=False)
        assert r.status == 303, await r.text()
        if path == "/join":  # the PIN leads to the consent screen, then the same join as an invite link
            consent = r.headers["Location"]
            assert f"/s/{sid}/join?t=" in consent
            token = consent.split("t=", 1)[1]
            r = await client.post(f"{t.url}/s/{sid}/join", data={"t": token, "name": "Carla"}, headers={"Origin": t.url},
                                  allow_redirects=False)
            assert r.status == 303, await r.text()
    finally:
        await client.close()
    r = await t.api("GET", f"/api/v1/sessions/{sid}")
    [p] = [p for p in (await r.json())["participants"] if p["name"] == "Carla"]
    return p["role"], p["kind"]


@pytest.mark.parametrize("role", ["leader", "follower"])
async def test_customer_role_is_the_role_of_the_invite_link_and_the_pin(make_tandem, role):
    t = await make_tandem()
    for way in ("invite", "pin"):
        r = await t.api("POST", "/api/v1/sessions", json={"url": URL, "customer_role": role})
        body = await r.json()
        assert r.status == 201, body
        sid = body["session_id"]
        if way == "invite":
            token = body["invite_url"].split("t=", 1)[1]
            got = await admitted_role(t, sid, f"/s/{sid}/join", {"t": token, "name": "Carla"})
        else:
            got = await admitted_role(t, sid, "/join", {"pin": body["pin"]})
        assert got == (role, "customer"), (way, got)

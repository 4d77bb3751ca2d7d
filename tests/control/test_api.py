"""REST API /api/v1: sessions CRUD and filters, invites, PINs, visitors, allowlist, masking, agents, keys, settings,
audit, OpenAPI; validation errors name the offending fields."""

import json

import pytest
from aiohttp import web

from proxy.allowlist import Entry
from tandem import appkeys, policy
from tests.control.helpers import sqlite_bytes
from tests.harness import ADMIN_KEY

NAV = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Accept": "text/html"}
URL = "http://127.0.0.1:9/start"


async def call(t, method, path, key=ADMIN_KEY, **kw):
    headers = {"Authorization": f"Bearer {key}", **kw.pop("headers", {})}
    r = await t.api(method, "/api/v1" + path, headers=headers, **kw)
    body = await r.json() if r.content_type == "application/json" else None
    return r.status, body


async def test_create_full_session_and_read_it_back(make_tandem):
    t = await make_tandem()
    status, body = await call(t, "POST", "/sessions", json={
        "url": URL, "agent": {"id": "crm-7", "name": "Ada Agent"},
        "branding": {"naked": True, "no_bottom_bar": True, "on_end_url": "https://example.com/thanks", "retry_url": None},
        "permissions": {"allow_click": False, "allow_type": True, "allow_scroll": True, "allow_draw": False, "allow_agent_redirect": False},
        "metadata": {"ticket": 42, "tags": ["vip"]}, "customer_role": "leader"})
    assert status == 201, body
    assert set(body) >= {"session_id", "leader_url", "follower_url", "invite_url", "pin", "expires_at"}
    assert len(body["pin"]) == 6 and body["expires_at"] > body["created_at"]
    sid = body["session_id"]
    status, got = await call(t, "GET", f"/sessions/{sid}")
    assert status == 200
    assert got["agent"] == {"id": "crm-7", "name": "Ada Agent"} and got["state"] == "live" and got["customer_role"] == "leader"
    assert got["branding"]["on_end_url"] == "https://example.com/thanks" and got["permissions"]["allow_click"] is False
    assert got["metadata"] == {"ticket": 42, "tags": ["vip"]} and got["participants"] == []
    session = await t.app[appkeys.SESSIONS].get(sid)  # the session page reads branding from the Session
    assert session.branding["naked"] is True and session.permissions["allow_draw"] is False
    # entering as leader records a participant
    r = await t.client.get(body["leader_url"] + "&name=Ada", allow_redirects=False)
    assert r.status == 303
    status, got = await call(t, "GET", f"/sessions/{sid}")
    assert [(p["role"], p["kind"], p["name"]) for p in got["participants"]] == [("leader", "agent", "Ada")]


async def test_list_filters_and_delete_ends_for_everyone(make_tandem, upstream):
    origin = await upstream(web.Application())
    t = await make_tandem()
    ids = []
    for agent in ("a1", "a2", "a1"):
        status, body = await call(t, "POST", "/sessions", json={"url": origin + "/", "agent": {"id": agent}})
        ids.append(body["session_id"])
    status, listed = await call(t, "GET", "/sessions?agent=a1")
    assert sorted(s["session_id"] for s in listed["sessions"]) == sorted([ids[0], ids[2]])
    s = await t.session(origin + "/")  # entered: its credential is in the client's jar
    status, ended = await call(t, "DELETE", f"/sessions/{s.sid}")
    assert status == 200 and ended["state"] == "ended" and ended["ended_at"]
    r = await t.client.get(s.url(origin + "/"), headers=NAV)
    assert r.status == 410
    r = await t.client.get(s.leader_url, allow_redirects=False)
    assert r.status == 410
    status, live = await call(t, "GET", "/sessions?state=live")
    assert s.sid not in {x["session_id"] for x in live["sessions"]}
    status, done = await call(t, "GET", "/sessions?state=ended")
    assert [x["session_id"] for x in done["sessions"]] == [s.sid]
    status, page = await call(t, "GET", "/sessions?limit=2")
    assert len(page["sessions"]) == 2 and page["next_before"]
    status, rest = await call(t, "GET", f"/sessions?limit=2&before={page['next_before']}")
    assert len(rest["sessions"]) == 2
    assert (await call(t, "DELETE", "/sessions/nosuchsession"))[0] == 404
    for q in ("state=gone", "limit=0", "limit=x", "before=yesterday"):
        status, err = await call(t, "GET", f"/sessions?{q}")
        assert status == 422 and err["error"]["code"] == "invalid_query", q


@pytest.mark.parametrize("body, status, code, words", [
    ({"url": URL, "colour": 1}, 400, "unknown_fields", ["colour"]),
    ({"url": URL, "branding": {"naked": True, "logo": "x"}}, 400, "unknown_fields", ["branding.logo"]),
    ({"url": URL, "agent": {"id": "a", "email": "x"}, "extra": 1}, 400, "unknown_fields", ["agent.email", "extra"]),
    ({"url": URL, "permissions": {"allow_click": "yes"}}, 422, "invalid_body", ["permissions.allow_click"]),
    ({"url": URL, "branding": {"on_end_url": "javascript:alert(1)"}}, 422, "invalid_body", ["on_end_url"]),
    ({"url": URL, "customer_role": "boss"}, 422, "invalid_body", ["customer_role"]),
    ({"url": URL, "metadata": {"blob": "x" * 20000}}, 422, "invalid_body", ["metadata"]),
    ({"url": URL, "agent": {"id": ""}}, 422, "invalid_body", ["agent.id"]),
])
async def test_session_body_validation_names_fields(make_tandem, body, status, code, words):
    t = await make_tandem()
    got_status, got = await call(t, "POST", "/sessions", json=body)
    assert got_status == status and got["error"]["code"] == code
    for w in words:
        assert w in got["error"]["message"]


async def test_oversized_and_malformed_bodies(make_tandem):
    t = await make_tandem()
    status, got = await call(t, "POST", "/allowlist", data=json.dumps({"pattern": "a.example", "pad": "x" * 70000}),
                             headers={"Content-Type": "application/json"})
    assert status == 413 and got["error"]["code"] == "body_too_large"
    status, got = await call(t, "POST", "/agents", data=b"[]", headers={"Content-Type": "application/json"})
    assert status == 400 and got["error"]["code"] == "invalid_body"


async def test_invites_single_use_and_revocation(make_tandem):
    t = await make_tandem()
    _, s = await call(t, "POST", "/sessions", json={"url": URL})
    sid = s["session_id"]
    status, inv = await call(t, "POST", f"/sessions/{sid}/invites", json={"role": "follower", "consent": False, "single_use": True})
    assert status == 201 and "/enter?t=" in inv["url"]
    assert (await t.client.get(inv["url"], allow_redirects=False)).status == 303
    assert (await t.client.get(inv["url"], allow_redirects=False)).status == 403  # used up
    status, got = await call(t, "DELETE", f"/sessions/{sid}/invites")
    assert status == 200 and got["revoked"] >= 3
    for url in (s["leader_url"], s["follower_url"], s["invite_url"]):
        assert (await t.client.get(url, allow_redirects=False)).status == 403, url
    status, pin = await call(t, "POST", f"/sessions/{sid}/pin")
    assert status == 201 and len(pin["pin"]) == 6
    status, err = await call(t, "POST", f"/sessions/{sid}/invites", json={"expires_in": 5})
    assert status == 422 and "expires_in" in err["error"]["message"]


async def test_allowlist_crud_takes_effect_at_once(make_tandem, upstream):
    origin = await upstream(web.Application())
    t = await make_tandem()
    s = await t.session(origin + "/")
    other = origin.replace("127.0.0.1", "localhost")
    status, e = await call(t, "POST", "/allowlist", json={"pattern": "127.0.0.1", "scope": "all"})
    assert status == 201 and e == {"pattern": "127.0.0.1", "scope": "all", "redirect": None}
    r = await t.client.get(s.url(other + "/"), headers=NAV)
    assert r.status == 403 and "site_not_allowed" in await r.text()
    status, e = await call(t, "POST", "/allowlist", json={"pattern": "*.example.com", "redirect": "https://help.example.org/no"})
    assert status == 201 and e["redirect"] == "https://help.example.org/no"
    status, listed = await call(t, "GET", "/allowlist")
    assert [x["pattern"] for x in listed["entries"]] == ["*.example.com", "127.0.0.1"]
    for body in ({"pattern": "not a host"}, {"pattern": "*.x.example", "redirect": "https://a.x.example/"}, {"pattern": "a.example", "scope": "some"}):
        status, err = await call(t, "POST", "/allowlist", json=body)
        assert status in (422,), (body, err)
    assert (await call(t, "DELETE", "/allowlist/127.0.0.1"))[0] == 204
    assert (await call(t, "DELETE", "/allowlist/127.0.0.1"))[0] == 404
    assert (await call(t, "DELETE", "/allowlist/*.example.com"))[0] == 204
    r = await t.client.get(s.url(other + "/"), headers=NAV)
    assert r.status != 403
    kinds = [e["kind"] for e in (await call(t, "GET", "/audit?kind=allowlist.added"))[1]["events"]]
    assert kinds == ["allowlist.added", "allowlist.added"]


async def test_allowlist_redirect_sends_navigations_elsewhere(make_tandem, upstream):
    origin = await upstream(web.Application())
    t = await make_tandem(extra_allow=(Entry("127.0.0.1"),))
    await call(t, "POST", "/allowlist", json={"pattern": "localhost", "redirect": origin + "/help?from=login"})
    s = await t.session(origin + "/")
    r = await t.client.get(s.url(origin.replace("127.0.0.1", "localhost") + "/login"), headers=NAV, allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == s.url(origin + "/help?from=login")


async def test_masking_selectors_round_trip(make_tandem):
    t = await make_tandem()
    status, got = await call(t, "PUT", "/masking/*.bank.example", json={"selectors": ["#ssn", " .acct "]})
    assert status == 200 and got["selectors"] == ["#ssn", ".acct"] and got["block"] == []
    assert (await policy.selectors(t.app[appkeys.STORE], "www.bank.example"))[0] == ("#ssn", ".acct")
    status, got = await call(t, "PUT", "/masking/*.bank.example", json={"selectors": ["#ssn"], "block": [".statement"]})
    status, got = await call(t, "GET", "/masking")
    assert got["masking"] == {"*.bank.example": {"mask": ["#ssn"], "block": [".statement"]}}
    # the session layer reads them through appkeys.MASKING
    assert t.app[appkeys.MASKING].rules_for("www.bank.example") == (("#ssn",), (".statement",))
    status, err = await call(t, "PUT", "/masking/bank.example", json={"selectors": ["a{}"]})
    assert status == 422


async def test_agents_crud(make_tandem):
    t = await make_tandem()
    status, a = await call(t, "POST", "/agents", json={"username": "Bea", "name": "Bea B", "password": "long enough pw"})
    assert status == 201 and a["username"] == "bea" and "password" not in a and not a["is_admin"]
    assert (await call(t, "POST", "/agents", json={"username": "bea", "name": "x", "password": "long enough pw"}))[0] == 409
    status, err = await call(t, "POST", "/agents", json={"username": "c", "name": "x", "password": "short"})
    assert status == 422 and "password" in err["error"]["message"]
    status, a2 = await call(t, "PATCH", f"/agents/{a['id']}", json={"is_admin": True, "name": "Bea Admin"})
    assert a2["is_admin"] and a2["name"] == "Bea Admin"
    assert (await call(t, "DELETE", f"/agents/{a['id']}"))[0] == 204
    status, got = await call(t, "GET", f"/agents/{a['id']}")
    assert got["disabled"] is True
    assert (await call(t, "GET", "/agents/999"))[0] == 404
    status, listed = await call(t, "GET", "/agents")
    assert [x["username"] for x in listed["agents"]] == ["bea"]


async def test_api_keys_are_shown_once_and_never_read_back(make_tandem, tmp_path):
    t = await make_tandem()
    status, created = await call(t, "POST", "/keys", json={"name": "admin A"})
    assert status == 201 and created["key"].startswith("tdm_")
    key_a = created["key"]
    # a second admin's key can list keys, but never see A's secret, by any endpoint
    _, other = await call(t, "POST", "/keys", json={"name": "admin B", "scopes": ["admin"]})
    status, listed = await call(t, "GET", "/keys", key=other["key"])
    assert status == 200 and {k["name"] for k in listed["keys"]} == {"admin A", "admin B"}
    assert key_a not in json.dumps(listed) and "key" not in listed["keys"][0]
    assert (await call(t, "GET", f"/keys/{created['id']}", key=other["key"]))[0] in (404, 405)
    dump = json.dumps([await call(t, "GET", p, key=other["key"]) for p in ("/keys", "/audit", "/settings", "/agents")])
    assert key_a not in dump and key_a[4:] not in dump
    raw = await sqlite_bytes(t.app[appkeys.STORE], t.settings.data_dir)
    assert key_a.encode() not in raw and key_a[4:].encode() not in raw
    # the key works until revoked
    assert (await call(t, "GET", "/sessions", key=key_a))[0] == 200
    assert (await call(t, "DELETE", f"/keys/{created['id']}", key=other["key"]))[0] == 204
    status, err = await call(t, "GET", "/sessions", key=key_a)
    assert status == 401 and err["error"]["code"] == "unauthorized"


async def test_settings_and_audit(make_tandem):
    t = await make_tandem()
    assert (await call(t, "GET", "/settings"))[1] == {"retention_days": 30}
    assert (await call(t, "PATCH", "/settings", json={"retention_days": 7}))[1] == {"retention_days": 7}
    for bad in (0, 5000, "7"):
        status, err = await call(t, "PATCH", "/settings", json={"retention_days": bad})
        assert status == 422 and "retention_days" in err["error"]["message"]
    _, s = await call(t, "POST", "/sessions", json={"url": URL})
    await t.client.get(s["leader_url"], allow_redirects=False)
    await call(t, "DELETE", f"/sessions/{s['session_id']}")
    status, got = await call(t, "GET", f"/audit?session_id={s['session_id']}")
    assert [e["kind"] for e in got["events"]] == ["session.ended", "participant.joined", "session.started"]
    assert got["events"][2]["detail"]["url"] == URL and got["events"][2]["actor"] == "admin-key"
    assert (await call(t, "GET", "/audit?before_id=x"))[0] == 422


async def test_openapi_document_describes_every_route(make_tandem):
    from viewer.api import ROUTES

    from openapi_spec_validator import validate

    t = await make_tandem()
    r = await t.client.get(t.url + "/api/v1/openapi.json")
    doc = await r.json()
    assert r.status == 200 and doc["openapi"].startswith("3.")
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema
    assert doc["servers"] == [{"url": t.url + "/api/v1"}]
    for route in ROUTES:
        op = doc["paths"][route.path][route.method.lower()]
        assert op["summary"] and str(route.status) in op["responses"]
    schemas = doc["components"]["schemas"]

    def refs(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    yield v
                else:
                    yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    for ref in refs(doc):
        kind, _, name = ref.removeprefix("#/components/").partition("/")
        assert ref.startswith("#/components/") and name in doc["components"][kind], ref
    assert schemas["SessionCreate"]["additionalProperties"] is False
    assert "url" in schemas["SessionCreate"]["required"]
    # the documented response shapes are what the handlers return
    _, created = await call(t, "POST", "/sessions", json={"url": URL})
    assert set(created) == set(schemas["SessionCreated"]["properties"])
    _, got = await call(t, "GET", f"/sessions/{created['session_id']}")
    assert set(got) == set(schemas["SessionOut"]["properties"])
    assert set(schemas["Permissions"]["properties"]) == {"allow_click", "allow_type", "allow_scroll", "allow_draw", "allow_agent_redirect"}


async def test_every_endpoint_needs_a_key(make_tandem):
    from viewer.api import ROUTES

    t = await make_tandem()
    for route in ROUTES:
        path = route.path.replace("{sid}", "x").replace("{visitor}", "v").replace("{pattern}", "p").replace("{agent_id}", "1").replace("{key_id}", "1")
        r = await t.client.request(route.method, t.url + "/api/v1" + path, json={})
        assert r.status == 401, (route.method, path)
        assert (await r.json())["error"]["code"] == "unauthorized"


async def test_the_control_plane_answers_favicon_requests_without_a_404(make_tandem):
    """Browsers ask every page's origin for /favicon.ico; the session page's console showed the 404."""
    t = await make_tandem()
    r = await t.api("GET", "/favicon.ico")
    assert r.status == 204 and "max-age" in r.headers["Cache-Control"] and await r.read() == b""

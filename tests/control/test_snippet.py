"""Snippet endpoints: who may start sessions (allowlisted site origins only), cookies carried into the jar,
visitor secret for state/PIN/end, CORS, and the watch link an agent follows."""

from aiohttp import web

from proxy.allowlist import Entry
from tandem import appkeys

from .helpers import CSRF_RE

SITE = "http://shop.example:8000"


async def register(t, origin=SITE):
    r = await t.client.post(t.url + "/snippet/v1/visitors", json={}, headers={"Origin": origin})
    return r.status, await r.json(), r


async def start(t, v, *, url=SITE + "/cart?x=1", origin=SITE, cookies="cart=3; theme=dark", **extra):
    body = {"visitor_id": v["visitor_id"], "url": url, "cookies": cookies, **extra}
    r = await t.client.post(t.url + "/snippet/v1/sessions", json=body,
                            headers={"Origin": origin, "X-Tandem-Visitor": f"{v['visitor_id']}.{v['secret']}"})
    return r.status, await r.json()


async def test_only_allowlisted_sites_may_register(make_tandem):
    t = await make_tandem()
    status, body, _ = await register(t)
    assert status == 403 and body["error"]["code"] == "site_not_allowed"  # empty allowlist: no snippet sites
    t = await make_tandem(extra_allow=(Entry("shop.example"),))
    for origin in ("http://evil.example", f"http://abcdefghjkmn-h9-shop-example.{t.base.domain}", "null", ""):
        status, body, _ = await register(t, origin)
        assert status == 403, origin
    status, v, r = await register(t)
    assert status == 201 and v["visitor_id"].startswith("v_") and len(v["secret"]) >= 32
    assert r.headers["Access-Control-Allow-Origin"] == SITE and "Access-Control-Allow-Credentials" not in r.headers


async def test_start_carries_cookies_and_binds_the_visitor(make_tandem):
    t = await make_tandem(extra_allow=(Entry("shop.example"),))
    _, v, _ = await register(t)
    status, s = await start(t, v, name="Zoé")
    assert status == 201, s
    session = await t.app[appkeys.SESSIONS].get(s["session_id"])
    assert session.visitor_id == v["visitor_id"] and session.customer_role == "leader"
    assert s["cookies_carried"] == 2
    assert await session.jar.script_read(SITE + "/") == "cart=3; theme=dark"
    assert s["watch_url"] == f"{t.url}/console/watch/{v['visitor_id']}" and len(s["pin"]) == 6
    r = await t.client.get(s["leader_url"], allow_redirects=False)
    assert r.status == 303
    assert (await t.app[appkeys.STORE].participants(s["session_id"]))[0].name == "Zoé"
    # a second start ends the first session
    _, s2 = await start(t, v)
    assert (await t.app[appkeys.SESSIONS].get(s["session_id"])).ended and not (await t.app[appkeys.SESSIONS].get(s2["session_id"])).ended


async def test_start_is_refused_for_other_pages_and_wrong_secrets(make_tandem):
    t = await make_tandem(extra_allow=(Entry("shop.example"), Entry("other.example")))
    _, v, _ = await register(t)
    status, body = await start(t, v, url="http://other.example/")
    assert status == 422 and "the page it runs on" in body["error"]["message"]
    status, body = await start(t, {**v, "secret": "wrong"})
    assert status == 401
    status, body = await start(t, v, extra_field=1)
    assert status == 400 and "extra_field" in body["error"]["message"]
    status, body = await start(t, v, cookies="x" * 40000)
    assert status in (413, 422)


async def test_state_pin_end_with_the_visitor_secret(make_tandem, console):
    t = await make_tandem(extra_allow=(Entry("shop.example"),))
    _, v, _ = await register(t)
    hdr = {"X-Tandem-Visitor": f"{v['visitor_id']}.{v['secret']}", "Origin": SITE}
    base = f"{t.url}/snippet/v1/visitors/{v['visitor_id']}"
    r = await t.client.get(base + "/state", headers=hdr)
    assert (await r.json()) == {"session": None}
    r = await t.client.post(base + "/pin", json={}, headers=hdr)
    assert r.status == 409
    _, s = await start(t, v)
    r = await t.client.post(base + "/pin", json={}, headers=hdr)
    pin = (await r.json())["pin"]
    # the agent joins with the PIN the customer reads out; the snippet sees a viewer
    c = await console(t)
    r, _ = await c.post("/console/join-pin", {"pin": pin})
    assert r.status == 303 and r.headers["Location"].startswith("http://" + s["session_id"])
    state = await (await t.client.get(base + "/state", headers=hdr)).json()
    assert state["session"]["agents"] == 1 and state["session"]["state"] == "live"
    assert (await t.app[appkeys.STORE].get_session(s["session_id"])).agent_id == "ann"  # now on ann's dashboard
    assert s["session_id"] in (await c.get("/console"))[1]
    for bad in ({"X-Tandem-Visitor": f"{v['visitor_id']}.nope"}, {"X-Tandem-Visitor": "v_other.x"}, {}):
        r = await t.client.get(base + "/state", headers=bad)
        assert r.status == 401
    r = await t.client.post(base + "/end", json={}, headers=hdr)
    assert r.status == 200 and (await t.app[appkeys.SESSIONS].get(s["session_id"])).ended
    state = await (await t.client.get(base + "/state", headers=hdr)).json()
    assert state["session"]["state"] == "ended"


async def test_preflight_and_snippet_file(make_tandem):
    t = await make_tandem()
    r = await t.client.options(t.url + "/snippet/v1/sessions", headers={
        "Origin": SITE, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-tandem-visitor"})
    assert r.status == 204 and "X-Tandem-Visitor" in r.headers["Access-Control-Allow-Headers"]
    r = await t.client.get(t.url + "/tandem.js")
    assert r.status == 200 and r.content_type == "text/javascript" and "startSession" in await r.text()
    assert r.headers["Cross-Origin-Resource-Policy"] == "cross-origin"


async def test_watch_link_and_api_watch_url(make_tandem, console):
    t = await make_tandem(extra_allow=(Entry("shop.example"),))
    _, v, _ = await register(t)
    vid = v["visitor_id"]
    r = await t.api("POST", f"/api/v1/visitors/{vid}/watch_url", json={})
    assert r.status == 409 and (await r.json())["error"]["code"] == "no_live_session"
    r = await t.api("POST", "/api/v1/visitors/v_nobodynobodynob/watch_url", json={})
    assert r.status == 404
    c = await console(t)
    resp, text = await c.get(f"/console/watch/{vid}")
    assert resp.status == 200 and "Waiting for the customer" in text and resp.headers["Refresh"] == "5"
    _, s = await start(t, v)
    resp, text = await c.get(f"/console/watch/{vid}")
    assert "Join and watch" in text
    r, _ = await c.post(f"/console/sessions/{s['session_id']}/watch")
    assert r.status == 303 and f"tandem_p_{s['session_id']}=" in r.headers["Set-Cookie"]
    # the integrator's agent gets a follower link through the API
    r = await t.api("POST", f"/api/v1/visitors/{vid}/watch_url",
                    json={"agent": {"id": "crm-1", "name": "Ada"}, "permissions": {"allow_click": False}})
    body = await r.json()
    assert r.status == 200 and body["session_id"] == s["session_id"] and "/enter?t=" in body["watch_url"]
    session = await t.app[appkeys.SESSIONS].get(s["session_id"])
    assert session.agent_name == "Ada" and session.permissions["allow_click"] is False
    got = await (await t.api("GET", f"/api/v1/sessions/{s['session_id']}")).json()  # persisted, not just in memory
    assert got["agent"] == {"id": "crm-1", "name": "Ada"} and got["permissions"]["allow_click"] is False
    assert (await t.client.get(body["watch_url"], allow_redirects=False)).status == 303

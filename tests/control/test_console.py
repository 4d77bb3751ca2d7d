"""Console and admin pages end to end over HTTP: start a session, invite, PIN, consent, end; admin edits;
ownership; the retention job."""

import re
import time
from html import unescape

from aiohttp import web

from proxy.allowlist import Entry
from tandem import appkeys, policy
from tandem.retention import run_once

NAV = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Accept": "text/html"}


def field(text, id_):
    m = re.search(rf'id={id_} readonly value="([^"]+)"', text)
    return unescape(m.group(1)) if m else None


async def test_agent_session_lifecycle(make_tandem, upstream, console):
    origin = await upstream(web.Application())
    t = await make_tandem(extra_allow=(Entry("127.0.0.1"),))
    c = await console(t)
    r, text = await c.get("/console")
    assert r.status == 200 and "Co-browse a page" in text and "No live sessions" in text
    r, _ = await c.post("/console/sessions", {"url": origin + "/start", "lead": "agent"})
    assert r.status == 303
    detail = r.headers["Location"]
    sid = detail.split("/console/sessions/")[1].split("?")[0]
    pin = detail.split("pin=")[1]
    r, text = await c.get(detail)
    invite = field(text, "invite")
    assert invite.startswith(f"{t.url}/s/{sid}/join?t=") and f'<span class=pin id=pin>{pin}</span>' in text
    # reloading shows the same invite link (reconstructed, not re-issued)
    r, text2 = await c.get(f"/console/sessions/{sid}")
    assert field(text2, "invite") == invite and "shown only once" in text2
    # the customer: consent page names the agent, then joins as follower
    r = await t.client.get(invite)
    page = await r.text()
    assert "Ann invites you" in page and "Passwords, payment card details" in page
    token = invite.split("t=")[1]
    r = await t.client.post(f"{t.url}/s/{sid}/join", data={"t": token, "name": "Carla"}, headers={"Origin": t.url}, allow_redirects=False)
    assert r.status == 303
    r, text = await c.get(f"/console/sessions/{sid}")
    assert "Carla — customer, follower" in text
    # the agent opens the session as leader
    r, _ = await c.post(f"/console/sessions/{sid}/open", {"role": "leader"})
    assert r.status == 303 and f"tandem_p_{sid}=" in r.headers["Set-Cookie"]
    # a new PIN, then withdrawal of links and PIN
    r, _ = await c.post(f"/console/sessions/{sid}/pin")
    new_pin = r.headers["Location"].split("pin=")[1]
    assert new_pin.isdigit() and len(new_pin) == 6
    r, _ = await c.post(f"/console/sessions/{sid}/revoke")
    assert (await t.client.get(invite)).status == 403
    assert await t.app[appkeys.STORE].redeem_pin(new_pin) is None
    # the dashboard lists it; ending it ends it for the customer too
    r, text = await c.get("/console")
    assert f"/console/sessions/{sid}" in text
    r, _ = await c.post(f"/console/sessions/{sid}/end")
    assert r.status == 303
    assert (await t.client.get((await t.app[appkeys.SESSIONS].get(sid)).url_rewriter(t.base).to_proxy(origin + "/"), headers=NAV)).status == 410
    r, text = await c.get(f"/console/sessions/{sid}")
    assert "Session ended" in text
    kinds = [e.kind for e in await t.app[appkeys.STORE].audit_events(session_id=sid)]
    assert kinds[0] == "session.ended" and kinds.count("participant.joined") == 2 and kinds[-1] == "session.started"


async def test_bad_url_is_explained(make_tandem, console):
    t = await make_tandem(extra_allow=(Entry("shop.example"),))
    c = await console(t)
    for url, words in (("ftp://x", "absolute http"), ("http://other.example/", "not on the allowlist")):
        r, _ = await c.post("/console/sessions", {"url": url})
        r, text = await c.get(r.headers["Location"])
        assert words in unescape(text), url


async def test_agents_see_only_their_sessions(make_tandem, console):
    t = await make_tandem()
    ann = await console(t, "ann")
    bob = await console(t, "bob")
    r, _ = await ann.post("/console/sessions", {"url": "http://127.0.0.1:9/"})
    sid = r.headers["Location"].split("/console/sessions/")[1].split("?")[0]
    r, text = await bob.get("/console")
    assert sid not in text
    r, _ = await bob.get(f"/console/sessions/{sid}")
    assert r.status == 404
    r, _ = await bob.post(f"/console/sessions/{sid}/end")
    assert r.status == 404 and not (await t.app[appkeys.SESSIONS].get(sid)).ended
    boss = await console(t, "boss", admin=True)
    r, text = await boss.get("/console")
    assert sid in text and "All live sessions" in text


async def test_admin_pages(make_tandem, console):
    t = await make_tandem()
    agent = await console(t, "ann")
    r, _ = await agent.get("/admin")
    assert r.status == 403
    r, _ = await agent.post("/admin/allowlist", {"pattern": "x.example"})
    assert r.status == 403 and await t.app[appkeys.STORE].allowlist() == []
    c = await console(t, "root", admin=True)
    r, text = await c.get("/admin")
    assert r.status == 200 and "ann" in text and "root" in text
    r, _ = await c.post("/admin/agents", {"username": "cleo", "name": "Cleo", "password": "a long password", "is_admin": "1"})
    assert "added" in unescape((await c.get(r.headers["Location"]))[1])
    assert (await t.app[appkeys.STORE].agent_by_username("cleo")).is_admin
    r, _ = await c.post("/admin/agents", {"username": "dan", "name": "Dan", "password": "short"})
    assert "password" in unescape((await c.get(r.headers["Location"]))[1])
    ann = await t.app[appkeys.STORE].agent_by_username("ann")
    r, _ = await c.post(f"/admin/agents/{ann.id}/toggle")
    assert (await t.app[appkeys.STORE].agent_by_username("ann")).disabled_at is not None
    # keys: shown once on the creating page, listed by prefix only afterwards
    r, text = await c.post("/admin/keys", {"name": "CRM", "webhook_url": "https://hooks.example/tandem", "scope-sessions:write": "1"})
    assert r.status == 201
    key = field(text, "newkey")
    assert key.startswith("tdm_") and field(text, "newsecret").startswith("whsec_")
    r, text = await c.get("/admin/keys")
    assert key not in text and key[:8] in text
    assert await t.app[appkeys.STORE].check_api_key(key)
    # allowlist with scope and redirect; masking; retention; audit
    r, _ = await c.post("/admin/allowlist", {"pattern": "*.Bank.example", "scope": "all", "redirect": "https://help.example/"})
    assert [(e.pattern, e.scope, e.redirect) for e in await t.app[appkeys.STORE].allowlist()] == [("*.bank.example", "all", "https://help.example/")]
    assert t.app[appkeys.ALLOWLIST].entry_for("www.bank.example").scope == "all"
    r, _ = await c.post("/admin/allowlist", {"pattern": "bad host!"})
    assert "not a host" in unescape((await c.get(r.headers["Location"]))[1])
    r, _ = await c.post("/admin/masking", {"pattern": "*.bank.example", "selectors": "#ssn\r\n.acct\r\n"})
    assert (await policy.selectors(t.app[appkeys.STORE], "www.bank.example"))[0] == ("#ssn", ".acct")
    r, _ = await c.post("/admin/settings", {"retention_days": "14"})
    assert await t.app[appkeys.STORE].retention_days() == 14
    r, _ = await c.post("/admin/settings", {"retention_days": "0"})
    assert await t.app[appkeys.STORE].retention_days() == 14
    r, _ = await c.post("/admin/allowlist/remove", {"pattern": "*.bank.example"})
    assert await t.app[appkeys.STORE].allowlist() == []
    r, text = await c.get("/admin/audit")
    for kind in ("agent.created", "agent.disabled", "key.created", "allowlist.added", "allowlist.removed", "masking.set", "settings.retention"):
        assert kind in text, kind
    r, text = await c.get("/admin/audit?kind=key.created")
    assert "allowlist.added" not in text and "key.created" in text


async def test_retention_job_ends_expired_sessions_and_purges(make_tandem):
    t = await make_tandem()
    sessions, store = t.app[appkeys.SESSIONS], t.app[appkeys.STORE]
    live = await sessions.create("http://127.0.0.1:9/")
    old = await sessions.create("http://127.0.0.1:9/")
    store.db.execute("UPDATE sessions SET expires_at=? WHERE id=?", (time.time() - 1, live.sid))
    await sessions.end(old.sid)
    store.db.execute("UPDATE sessions SET created_at=?, ended_at=? WHERE id=?", (time.time() - 40 * 86400, time.time() - 39 * 86400, old.sid))
    counts = await run_once(t.app)
    assert counts["expired_sessions"] == 1 and counts["sessions"] == 1
    assert (await sessions.get(live.sid)).ended
    assert await store.get_session(old.sid) is None
    assert [e.actor for e in await store.audit_events(kind="session.ended", session_id=live.sid)] == ["expiry"]


async def test_pages_are_framable_only_by_base_and_need_no_inline_script(make_tandem, console):
    t = await make_tandem()
    c = await console(t, "root", admin=True)
    for path in ("/console", "/admin", "/admin/keys", "/admin/allowlist", "/admin/masking", "/admin/settings", "/admin/audit"):
        r, text = await c.get(path)
        csp = r.headers["Content-Security-Policy"]
        assert "frame-ancestors 'self'" in csp and "'unsafe-inline'" not in csp.split("style-src")[0], path
        assert "<script>" not in text, path
        assert r.headers["Cache-Control"] == "no-store"
    for path in ("/join", "/console/login"):
        r = await t.client.get(t.url + path)
        assert "script-src" not in r.headers["Content-Security-Policy"]

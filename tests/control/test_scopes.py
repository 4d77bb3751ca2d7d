"""API key scopes: every route of the app is either declared in the OpenAPI document with the one scope
it needs (and enforced: 401 without a key, 403 JSON with a key lacking the scope, through with a key
holding only that scope), or answers the same with and without a key (it is not a key-authenticated
route). Keys are created with scopes through the API, shown with them, changed, and keys made before
scopes existed keep what they could do."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from urllib.parse import urlsplit

import aiohttp
import pytest

from tandem.scopes import SCOPES
from tests.harness import ADMIN_KEY

METRICS_TOKEN = "test-metrics-token-0123456789"
PARAM = re.compile(r"\{[^}]+\}")
BODY_METHODS = {"POST", "PUT", "PATCH"}
# Answers that are not about keys at all must look the same with a key as without one.
WAIT = aiohttp.ClientTimeout(total=15)


async def call(t, method, path, key=ADMIN_KEY, **kw):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    r = await t.api(method, "/api/v1" + path, headers=headers, **kw)
    body = await r.json() if r.content_type == "application/json" else None
    return r.status, body


async def make_key(t, *scopes, name="k"):
    status, body = await call(t, "POST", "/keys", json={"name": name, "scopes": list(scopes)})
    assert status == 201, body
    assert body["scopes"] == [s for s in SCOPES if s in scopes]
    return body


def documented(doc) -> dict[tuple[str, str], dict]:
    """(METHOD, path on the server) -> operation, for every operation of the document."""
    out = {}
    for path, item in doc["paths"].items():
        servers = item.get("servers") or doc["servers"]
        prefix = urlsplit(servers[0]["url"]).path.rstrip("/")
        for method, op in item.items():
            if method in ("get", "put", "post", "delete", "patch", "head", "options"):
                out[(method.upper(), prefix + path)] = op
    return out


async def send(t, method, path, key=None):
    """One request to the control plane: (status, error code or None). The body is read only when it is JSON."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    kw = {"json": {}} if method in BODY_METHODS else {}
    async with t.client.request(method, t.url + path, headers=headers, allow_redirects=False, timeout=WAIT, **kw) as r:
        code = None
        if r.content_type == "application/json":
            body = await r.json()
            code = body.get("error", {}).get("code") if isinstance(body, dict) and isinstance(body.get("error"), dict) else None
            if r.status >= 400:
                assert isinstance(body["error"].get("message"), str) and body["error"]["message"], (method, path, body)
        return r.status, code


async def test_every_route_of_the_app_declares_its_scope_and_gets_it_enforced(make_tandem):
    from openapi_spec_validator import validate

    from proxy.handler import ProxiedHosts

    t = await make_tandem(api_rate_per_address=0, api_rate_per_key=0, metrics_token=METRICS_TOKEN)
    r = await t.client.get(t.url + "/api/v1/openapi.json")
    doc = await r.json()
    validate(doc)
    ops = documented(doc)
    # one key per scope, and one per scope holding every other scope but that one
    only = {s: (await make_key(t, s, name=f"only {s}"))["key"] for s in SCOPES}
    without = {s: (await make_key(t, *[x for x in SCOPES if x != s], name=f"without {s}"))["key"] for s in SCOPES}

    seen: set[tuple[str, str]] = set()
    checked = 0
    for route in t.app.router.routes():
        if isinstance(route.resource, ProxiedHosts):
            continue  # every path on a proxied host (LABEL.BASE) is the proxy's, never a control-plane route
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("formatter") or info.get("path") or (info.get("prefix", "") + "/{filename}")
        method = route.method
        if method == "HEAD":
            continue  # aiohttp's automatic HEAD beside each GET: the GET is what is checked
        if method == "*":
            assert template == "/api/v1/{tail}", f"a catch-all route outside the API's 404: {template}"
            status, code = await send(t, "GET", "/api/v1/no/such/endpoint", key=ADMIN_KEY)
            assert (status, code) == (404, "not_found")
            continue
        op = ops.get((method, template))
        path = PARAM.sub("999999", template)
        if op is None:
            # not in the document: it must not be an API endpoint, nor act on an API key
            assert not template.startswith("/api/"), f"{method} {template} is under /api but not in the OpenAPI document"
            bare = await send(t, method, path)
            keyed = await send(t, method, path, key=ADMIN_KEY)
            # (the snippet's visitor endpoints answer 401 without their own visitor secret: with or without a key)
            assert keyed == bare, f"{method} {template} answers differently with an API key ({keyed} vs {bare}): declare its scope"
            continue
        seen.add((method, template))
        if any("visitorSecret" in req for req in op.get("security", [])):  # the snippet's visitor credential, not a key
            assert await send(t, method, path) == (401, "unauthorized") == await send(t, method, path, key=ADMIN_KEY)
            continue
        assert "security" in op, f"{method} {template}: no security requirement in the OpenAPI document"
        if op["security"] == []:
            assert template == "/api/v1/openapi.json", f"{method} {template} is declared public"
            assert (await send(t, method, path))[0] == 200
            continue
        bearer = [req["bearer"] for req in op["security"] if "bearer" in req]
        assert len(bearer) == 1 and len(bearer[0]) == 1, f"{method} {template}: exactly one scope, got {op['security']}"
        scope = bearer[0][0]
        assert scope in SCOPES, f"{method} {template}: unknown scope {scope}"
        assert await send(t, method, path) == (401, "unauthorized"), f"{method} {template} without a key"
        denied = await send(t, method, path, key=without[scope])
        assert denied == (403, "insufficient_scope"), f"{method} {template} with a key lacking {scope}: {denied}"
        allowed = await send(t, method, path, key=only[scope])
        assert allowed[0] != 401 and allowed[1] != "insufficient_scope", f"{method} {template} with only {scope}: {allowed}"
        if template == "/metrics":
            assert allowed[0] == 200
            assert (await send(t, method, path, key=METRICS_TOKEN))[0] == 200
            assert {"metricsToken": []} in op["security"]
        checked += 1
    assert set(ops) <= seen | {("GET", "/api/v1/openapi.json")}, f"documented but not served: {set(ops) - seen}"
    assert checked >= 25  # every REST route and /metrics


async def test_scopes_are_chosen_shown_and_changed_through_the_api(make_tandem):
    t = await make_tandem()
    reader = await make_key(t, "sessions:read", name="dashboard")
    assert (await call(t, "GET", "/sessions", key=reader["key"]))[0] == 200
    status, err = await call(t, "POST", "/sessions", key=reader["key"], json={"url": "http://127.0.0.1:9/"})
    assert status == 403 and err["error"]["code"] == "insufficient_scope" and "sessions:write" in err["error"]["message"]
    # left out: the session scopes, never admin
    status, plain = await call(t, "POST", "/keys", json={"name": "crm"})
    assert status == 201 and plain["scopes"] == ["sessions:read", "sessions:write"]
    assert (await call(t, "GET", "/audit", key=plain["key"]))[0] == 403
    # order and repeats do not matter; unknown or no scopes are refused
    assert (await make_key(t, "admin", "sessions:read", name="ops"))["scopes"] == ["sessions:read", "admin"]
    for bad in (["sessions:delete"], [], ["*"], "admin", [1]):
        status, err = await call(t, "POST", "/keys", json={"name": "bad", "scopes": bad})
        assert status == 422 and err["error"]["code"] == "invalid_body" and "scopes" in err["error"]["message"], (bad, err)
    # listed with their scopes, and the audit log says what a key was given
    _, listed = await call(t, "GET", "/keys")
    by_name = {k["name"]: k["scopes"] for k in listed["keys"]}
    assert by_name["dashboard"] == ["sessions:read"] and by_name["crm"] == ["sessions:read", "sessions:write"]
    _, audit = await call(t, "GET", "/audit?kind=key.created")
    assert {"id": reader["id"], "name": "dashboard", "scopes": ["sessions:read"]} in [e["detail"] for e in audit["events"]]
    # changed: the key can do the new thing at once, and no longer the old one
    status, changed = await call(t, "PATCH", f"/keys/{reader['id']}", json={"scopes": ["admin"]})
    assert status == 200 and changed["scopes"] == ["admin"]
    assert (await call(t, "GET", "/audit", key=reader["key"]))[0] == 200
    assert (await call(t, "GET", "/sessions", key=reader["key"]))[0] == 403
    assert (await call(t, "PATCH", f"/keys/{reader['id']}", json={"scopes": ["root"]}))[0] == 422
    assert (await call(t, "DELETE", f"/keys/{reader['id']}"))[0] == 204
    assert (await call(t, "PATCH", f"/keys/{reader['id']}", json={"scopes": ["admin"]}))[0] == 404
    # a key without admin cannot give itself more
    status, err = await call(t, "PATCH", f"/keys/{plain['id']}", key=plain["key"], json={"scopes": ["admin"]})
    assert status == 403 and err["error"]["code"] == "insufficient_scope"


async def test_keys_made_before_scopes_keep_what_they_could_do(make_tandem, tmp_path):
    """A database at the schema before scopes, with a key in it: after the upgrade the key still does everything."""
    from tandem.store import hash_key

    try:
        from tandem.storedb import migrations

        steps = [sql for _, _, sql in migrations()]
    except ImportError:  # the store before its migrations moved to tandem/migrations/*.sql
        from tandem.store import MIGRATIONS as steps
    before = next(i for i, sql in enumerate(steps) if "ADD COLUMN scopes" in sql)
    data = tmp_path / "old" / "data"
    data.mkdir(parents=True)
    db = sqlite3.connect(data / "tandem.db")
    for sql in steps[:before]:
        db.executescript(sql)
    key = "tdm_an-old-key-made-before-scopes-000000"
    db.execute("INSERT INTO api_keys (name, key_hash, created_at, prefix) VALUES ('old', ?, 0, ?)", (hash_key(key), key[:8]))
    db.execute(f"PRAGMA user_version={before}")
    db.commit()
    db.close()
    t = await make_tandem(data_dir=data)
    for method, path in (("GET", "/sessions"), ("GET", "/audit"), ("GET", "/keys"), ("POST", "/sessions/nosuch/pin")):
        status, body = await call(t, method, path, key=key)
        assert status not in (401, 403), (method, path, body)
    _, listed = await call(t, "GET", "/keys")
    assert [k["scopes"] for k in listed["keys"] if k["name"] == "old"] == [list(SCOPES)]


@pytest.mark.parametrize("scopes", [("sessions:read",), ("sessions:write",)])
async def test_metrics_need_the_admin_scope_or_the_token(make_tandem, scopes):
    t = await make_tandem(metrics_token=METRICS_TOKEN)
    k = await make_key(t, *scopes)
    for key, want in ((k["key"], 403), (ADMIN_KEY, 200), (METRICS_TOKEN, 200), (None, 401)):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        r = await t.client.get(t.url + "/metrics", headers=headers)
        assert r.status == want, (key, await r.text())
        if want != 200:
            assert (await r.json())["error"]["code"] in ("insufficient_scope", "unauthorized")
    # a token is not an API key
    assert (await call(t, "GET", "/sessions", key=METRICS_TOKEN))[0] == 401


async def test_scope_check_does_not_hang_on_slow_bodies(make_tandem):
    """403 comes before the body is read: a key lacking the scope cannot make the server wait for a body."""
    t = await make_tandem()
    k = await make_key(t, "sessions:read")
    where = urlsplit(t.url)
    reader, writer = await asyncio.open_connection("127.0.0.1", where.port)
    writer.write((f"POST /api/v1/sessions HTTP/1.1\r\nHost: {where.netloc}\r\nAuthorization: Bearer {k['key']}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{").encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 403"), head
    writer.close()


async def test_admin_page_creates_keys_with_the_scopes_ticked_and_changes_them(make_tandem, console):
    from html import unescape

    from tests.control.helpers import PASSWORD

    t = await make_tandem()
    status, _ = await call(t, "POST", "/agents", json={"username": "root", "name": "Root", "password": PASSWORD, "is_admin": True})
    assert status == 201
    c = await console(t, "root", login=False)
    await c.login("root")
    r, text = await c.get("/admin/keys")
    boxes = dict(re.findall(r'<input type=checkbox id="new-([a-z:]+)" name="scope-\1" value=1( checked)?>', text))
    assert boxes == {"sessions:read": " checked", "sessions:write": " checked", "admin": ""}, boxes
    # nothing ticked: refused, nothing made
    r, _ = await c.post("/admin/keys", {"name": "Nothing"})
    assert r.status == 303 and "at least one scope" in unescape((await c.get(r.headers["Location"]))[1])
    # admin only
    r, text = await c.post("/admin/keys", {"name": "Ops", "scope-admin": "1"})
    assert r.status == 201, text
    key = unescape(re.search(r'id=newkey readonly value="([^"]+)"', text).group(1))
    assert "API key “Ops” (admin)" in unescape(text)
    assert (await call(t, "GET", "/audit", key=key))[0] == 200
    assert (await call(t, "GET", "/sessions", key=key))[0] == 403
    _, listed = await call(t, "GET", "/keys")
    assert [k["name"] for k in listed["keys"]] == ["Ops"]
    ops = listed["keys"][0]
    r, text = await c.get("/admin/keys")
    row = re.search(r"<tr><td[^>]*>Ops</td>.*?</tr>", text).group(0)
    assert "<code>admin</code>" in row and f'action="/admin/keys/{ops["id"]}/scopes"' in row
    # changed in the page: the key's power follows at once
    r, _ = await c.post(f"/admin/keys/{ops['id']}/scopes", {"scope-sessions:read": "1"})
    assert r.status == 303 and "now has: sessions:read" in unescape((await c.get(r.headers["Location"]))[1])
    assert (await call(t, "GET", "/sessions", key=key))[0] == 200
    assert (await call(t, "GET", "/audit", key=key))[0] == 403
    r, _ = await c.post(f"/admin/keys/{ops['id']}/scopes", {})
    assert "at least one scope" in unescape((await c.get(r.headers["Location"]))[1])
    assert (await call(t, "GET", "/sessions", key=key))[0] == 200  # unchanged
    _, audit = await call(t, "GET", "/audit?kind=key.scopes")
    assert [e["detail"] for e in audit["events"]] == [{"id": ops["id"], "scopes": ["sessions:read"]}]
    # the same form without the CSRF token, or from another origin, changes nothing
    r, _ = await c.post(f"/admin/keys/{ops['id']}/scopes", {"scope-admin": "1"}, csrf=False)
    assert r.status in (400, 403)
    assert (await call(t, "GET", "/audit", key=key))[0] == 403


async def test_the_key_generated_on_first_start_holds_every_scope(tmp_path):
    """Without TANDEM_ADMIN_KEY, `tandem serve` makes the admin key itself: it must be able to do everything."""
    import os
    import subprocess
    import sys

    from tests.harness import client_session, free_socket

    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {k: v for k, v in os.environ.items() if k != "TANDEM_ADMIN_KEY"}
    proc = subprocess.Popen([sys.executable, "-m", "tandem.cli", "serve", "--port", str(port), "--data-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines: list[str] = []
        while not any("Allowlist" in line for line in lines):
            line = await asyncio.to_thread(proc.stdout.readline)
            assert line, "".join(lines)
            lines.append(line)
        key = "".join(lines).split("stored hashed): ", 1)[1].split()[0]
        async with client_session() as client:
            base = f"http://tandem.localhost:{port}/api/v1"
            r = await client.get(base + "/keys", headers={"Authorization": f"Bearer {key}"})
            assert r.status == 200
            assert [k["scopes"] for k in (await r.json())["keys"]] == [list(SCOPES)]
            r = await client.get(base + "/sessions", headers={"Authorization": f"Bearer {key}"})
            assert r.status == 200
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)


async def test_admin_keys_page_shows_the_rate_limits_in_force(make_tandem, console):
    from html import unescape

    from tests.control.helpers import PASSWORD

    t = await make_tandem(api_rate_per_address=42, api_rate_per_key=0)
    status, _ = await call(t, "POST", "/agents", json={"username": "root", "name": "Root", "password": PASSWORD, "is_admin": True})
    assert status == 201
    c = await console(t, "root", login=False)
    await c.login("root")
    _, text = await c.get("/admin/keys")
    text = unescape(re.sub(r"<[^>]+>", "", text))
    assert "42 requests a minute from one address" in text
    assert "no limit with one key" in text

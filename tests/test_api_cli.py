"""Control plane: the minimal session API and the CLI, with their error shapes."""

import os
import subprocess
import sys

import pytest

from tests.harness import ADMIN_KEY


async def test_create_session_shape(make_tandem):
    t = await make_tandem()
    r = await t.api("POST", "/api/v1/sessions", json={"url": "http://127.0.0.1:9/start?x=1"})
    body = await r.json()
    assert r.status == 201
    assert {"session_id", "leader_url", "follower_url", "invite_url", "pin", "expires_at", "created_at"} <= set(body)
    assert body["leader_url"].startswith(f"{t.url}/s/{body['session_id']}/enter?t=")


@pytest.mark.parametrize("headers, status, code", [
    ({}, 401, "unauthorized"),
    ({"Authorization": "Bearer wrong"}, 401, "unauthorized"),
    ({"Authorization": "Basic eDp5"}, 401, "unauthorized"),
])
async def test_api_auth(make_tandem, headers, status, code):
    t = await make_tandem()
    r = await t.api("POST", "/api/v1/sessions", json={"url": "http://127.0.0.1:9/"}, headers=headers)
    assert r.status == status
    assert (await r.json())["error"]["code"] == code


@pytest.mark.parametrize("kwargs, status, code", [
    ({"json": {"url": "http://127.0.0.1:9/", "colour": "red"}}, 400, "unknown_fields"),
    ({"json": {}}, 422, "invalid_url"),
    ({"json": {"url": 5}}, 422, "invalid_url"),
    ({"json": {"url": "ftp://example.com/"}}, 422, "invalid_url"),
    ({"json": {"url": "/relative"}}, 422, "invalid_url"),
    ({"json": {"url": "http://exa mple.com/"}}, 422, "invalid_url"),
    ({"json": {"url": "http://example.com:99999/"}}, 422, "invalid_url"),
    ({"json": {"url": "http://x.tandem.localhost/"}}, 422, "invalid_url"),
    ({"json": ["http://example.com/"]}, 400, "invalid_body"),
    ({"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "invalid_json"),
    ({"data": b"url=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415, "unsupported_media_type"),
    ({"data": b"{" + b" " * (2 * 1024 * 1024) + b"}", "headers": {"Content-Type": "application/json"}}, 413, "body_too_large"),
], ids=lambda v: str(v)[:50])
async def test_api_rejects_bad_input(make_tandem, kwargs, status, code):
    t = await make_tandem()
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", **kwargs.pop("headers", {})}
    r = await t.api("POST", "/api/v1/sessions", headers=headers, **kwargs)
    assert r.status == status
    body = await r.json()
    assert body["error"]["code"] == code and body["error"]["message"]


async def test_unknown_api_path_is_json_404(make_tandem):
    t = await make_tandem()
    r = await t.api("GET", "/api/v1/nothing")
    assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"


async def test_enter_rejects_bad_tokens(make_tandem):
    t = await make_tandem()
    s = await t.session("http://127.0.0.1:9/", enter=False)
    good_token = s.leader_url.split("t=", 1)[1]
    other = await t.session("http://127.0.0.1:9/", enter=False)
    for url, status in [
        (f"{t.url}/s/{s.sid}/enter?t=forged", 403),
        (f"{t.url}/s/{other.sid}/enter?t={good_token}", 403),  # another session's token
        (f"{t.url}/s/aaaaaaaaaaaa/enter?t={good_token}", 404),
    ]:
        r = await t.client.get(url, allow_redirects=False)
        assert r.status == status, url
        assert "<h1>" in await r.text()


async def test_enter_sets_httponly_host_only_cookie_for_the_session_path(make_tandem):
    t = await make_tandem()
    s = await t.session("http://127.0.0.1:9/", enter=False)
    r = await t.client.get(s.leader_url, allow_redirects=False)
    cookie = r.headers["Set-Cookie"]
    assert f"tandem_p_{s.sid}=" in cookie
    # host-only on BASE (no Domain: never sent to *.BASE) and only under this session's paths
    assert "HttpOnly" in cookie and "Domain" not in cookie and f"Path=/s/{s.sid};" in cookie and "SameSite=Lax" in cookie
    # on to the start page, whose host gets its own credential through the entry hand-off (proxy/entry.py)
    assert r.headers["Location"] == s.url("http://127.0.0.1:9/")


async def test_control_plane_pages_are_clear(make_tandem):
    t = await make_tandem()
    r = await t.client.get(t.url + "/no/such/page")
    assert r.status == 404 and "<h1>" in await r.text()
    r = await t.client.get(t.url + "/")
    assert r.status == 200 and "Tandem" in await r.text()


def run_cli(*args, data_dir, env=None):
    return subprocess.run([sys.executable, "-m", "tandem.cli", *args, "--data-dir", str(data_dir)] if args[0] == "serve"
                          else [sys.executable, "-m", "tandem.cli", args[0], "--data-dir", str(data_dir), *args[1:]],
                          capture_output=True, text=True, timeout=30, env={**os.environ, **(env or {})})


def test_cli_allowlist_round_trip(tmp_path):
    r = run_cli("allowlist", "list", data_dir=tmp_path)
    assert r.returncode == 0 and "empty" in r.stdout
    r = run_cli("allowlist", "add", "https://Shop.Example.com/path", data_dir=tmp_path)
    assert r.returncode == 0 and "shop.example.com" in r.stdout
    r = run_cli("allowlist", "add", "*.cdn.example", "--scope", "all", data_dir=tmp_path)
    assert r.returncode == 0
    r = run_cli("allowlist", "list", data_dir=tmp_path)
    assert r.stdout.splitlines() == ["*.cdn.example\tall", "shop.example.com\tnavigation"]
    r = run_cli("allowlist", "remove", "shop.example.com", data_dir=tmp_path)
    assert r.returncode == 0


@pytest.mark.parametrize("args", [
    ("allowlist", "add", "not a host!"),
    ("allowlist", "remove", "never.added.example"),
    ("serve", "--port", "0"),
    ("serve", "--allow-private-networks", "bogus"),
])
def test_cli_errors_are_one_line(tmp_path, args):
    r = run_cli(*args, data_dir=tmp_path)
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("tandem: ")
    assert "Traceback" not in r.stderr


def test_serve_prints_url_and_admin_key_once(tmp_path):
    from tests.harness import free_socket

    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    outputs = []
    for _ in range(2):
        proc = subprocess.Popen([sys.executable, "-m", "tandem.cli", "serve", "--port", str(port), "--data-dir", str(tmp_path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={k: v for k, v in os.environ.items() if k != "TANDEM_ADMIN_KEY"})
        try:
            lines = []
            while not any("Allowlist" in line for line in lines):
                line = proc.stdout.readline()
                if not line:
                    break
                lines.append(line)
            outputs.append("".join(lines))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    assert f"Open http://tandem.localhost:{port}/" in outputs[0]
    assert "Admin API key (shown once" in outputs[0]
    assert "Admin API key" not in outputs[1]
    key = outputs[0].split("stored hashed): ", 1)[1].split()[0]
    assert key.encode() not in (tmp_path / "tandem.db").read_bytes()

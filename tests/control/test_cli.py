"""CLI: agents (password from stdin, never echoed or stored plain), metadata key rotation, one-line errors."""

import os
import subprocess
import sys

import pytest

from tandem import crypto
from tandem.store import Store


def tandem(*args, data_dir, stdin="", env=None):
    cmd = [sys.executable, "-m", "tandem.cli", args[0], "--data-dir", str(data_dir), *args[1:]]
    environ = {k: v for k, v in os.environ.items() if k not in (crypto.KEY_ENV, "TANDEM_AGENT_PASSWORD")}
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60, env={**environ, **(env or {})})


async def test_agent_create_list_disable(tmp_path):
    r = tandem("agent", "create", "Ann", "--name", "Ann Agent", "--admin", "--password-stdin", data_dir=tmp_path,
               stdin="correct horse battery\n")
    assert r.returncode == 0 and "created admin ann" in r.stdout
    assert "correct horse" not in r.stdout + r.stderr
    r = tandem("agent", "list", data_dir=tmp_path)
    assert r.stdout.split("\t")[1:4] == ["ann", "Ann Agent", "admin"]
    r = tandem("agent", "disable", "ann", data_dir=tmp_path)
    assert r.returncode == 0
    s = Store(tmp_path)
    assert (await s.agent_by_username("ann")).disabled_at is not None
    assert b"correct horse" not in (tmp_path / "tandem.db").read_bytes()


@pytest.mark.parametrize("args, stdin", [
    (("agent", "create", "bob", "--password-stdin"), "short\n"),
    (("agent", "create", "bad name!", "--password-stdin"), "long enough password\n"),
    (("agent", "create", "bob"), ""),  # no tty, no env, no --password-stdin
    (("agent", "disable", "nobody"), ""),
])
def test_agent_errors_are_one_line(tmp_path, args, stdin):
    r = tandem(*args, data_dir=tmp_path, stdin=stdin)
    assert r.returncode != 0 and r.stderr.startswith("tandem: ") and len(r.stderr.strip().splitlines()) == 1


async def test_keys_rotate_reencrypts_and_drops_the_old_key(tmp_path):
    s = Store(tmp_path)
    await s.add_session("aaaaaaaaaaaa", "https://a.example/private", details={"agent_name": "Z"})
    old = s.cipher.current
    await s.close()
    r = tandem("keys", "rotate", data_dir=tmp_path)
    assert r.returncode == 0 and "re-encrypted 2 value(s)" in r.stdout
    keys = crypto.parse_keys((tmp_path / crypto.KEY_FILE).read_text(), "file")
    assert len(keys) == 1 and crypto.key_id(keys[0]) != old
    s = Store(tmp_path)
    assert (await s.get_session("aaaaaaaaaaaa")).start_url == "https://a.example/private"
    r = tandem("keys", "status", data_dir=tmp_path)
    assert "current" in r.stdout and old not in r.stdout


def test_keys_from_env_are_rotated_by_reencrypt(tmp_path):
    k1, k2 = crypto.new_key(), crypto.new_key()
    r = tandem("agent", "create", "ann", "--password-stdin", data_dir=tmp_path, stdin="correct horse battery\n", env={crypto.KEY_ENV: k1})
    r = tandem("keys", "rotate", data_dir=tmp_path, env={crypto.KEY_ENV: k1})
    assert r.returncode != 0 and "reencrypt" in r.stderr
    r = tandem("keys", "reencrypt", data_dir=tmp_path, env={crypto.KEY_ENV: f"{k2},{k1}"})
    assert r.returncode == 0
    r = tandem("keys", "status", data_dir=tmp_path, env={crypto.KEY_ENV: "garbage"})
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1

"""Every live-state test runs against each backend: in process (with the store keeping it) and a real Redis.

The Redis is a throwaway ``redis-server`` (Debian package; ``make backend-deps``) on a free loopback
port with its files in a temp dir, one per test module, emptied between tests and stopped after.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from tandem.live import MemoryBackend
from tandem.store import Store
from tests.harness import free_socket
from tests.servers.postgres import postgres_server  # noqa: F401 - fixture

REDIS_START_TIMEOUT = 10.0  # seconds for redis-server to accept connections


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed: run `make backend-deps` (Debian package redis-server)")
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), "--save", "",
                             "--appendonly", "no", "--protected-mode", "yes"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        import redis

        client = redis.Redis(port=port)
        deadline = time.monotonic() + REDIS_START_TIMEOUT
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request, tmp_path):
    """The store the in-process backend keeps its state in: SQLite, and a real PostgreSQL
    (tests/servers/postgres.py; a fresh database per test)."""
    from tandem.store import open_store

    url = request.getfixturevalue("postgres_server").new_database() if request.param == "postgres" else None
    s = await open_store(tmp_path / "data", url)
    yield s
    await s.close()


async def new_session(store: Store) -> str:
    from rewriter import labels
    import secrets

    sid = labels.new_sid(secrets.token_bytes(10))
    await store.add_session(sid, "https://shop.example/", expires_at=time.time() + 3600)
    return sid


@pytest.fixture(params=["memory", "redis"])
async def backend(request, store):
    """``(make, store)``: ``make()`` is a backend as one node (or one process life) sees it."""
    made = []
    if request.param == "memory":
        def make():
            return MemoryBackend(store)
    else:
        if store.dialect == "postgres":
            pytest.skip("the Redis backend keeps nothing in the store (its cipher only): tested once, with SQLite")
        url = request.getfixturevalue("redis_url")
        from tandem.live.redisstate import RedisBackend

        def make():
            b = RedisBackend(url, store.cipher)
            made.append(b)
            return b
        flusher = make()
        await flusher._r.flushdb()
    yield make
    for b in made:
        await b.close()

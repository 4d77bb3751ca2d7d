"""A throwaway PostgreSQL server (Debian package ``postgresql``; ``make cluster-deps``) on a free loopback port.

    with PostgresServer(tmp_path) as pg:          # initdb in tmp_path, postgres on 127.0.0.1:PORT
        url = pg.new_database()                   # "postgresql://tandem@127.0.0.1:PORT/t1": empty, its own
        ...

The binaries are Debian's (``/usr/lib/postgresql/<version>/bin``: initdb and postgres are not on
PATH there). PostgreSQL refuses to run as root, so as root the data directory is given to the
``postgres`` user the package creates and the server runs as that user (``runuser``). Trust
authentication on loopback only; ``fsync=off`` (a test server: durability is not what is tested).
``available()`` says why the tests skip when the package is absent.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.harness import free_socket

START_TIMEOUT = 20.0  # seconds for initdb + the first connection (initdb takes ~2 s here)
USER = "tandem"  # the database superuser initdb creates (trust auth on loopback)


def bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    exe = shutil.which("postgres")
    return Path(exe).parent if exe else None


def available() -> str | None:
    """None when a server can be started, else the reason (for pytest.skip)."""
    d = bin_dir()
    if d is None or not (d / "initdb").exists():
        return "PostgreSQL is not installed: run `make cluster-deps` (Debian package postgresql)"
    return None


class PostgresServer:
    def __init__(self, workdir: Path, *, port: int | None = None):
        if port is None:
            sock = free_socket()
            port = sock.getsockname()[1]
            sock.close()
        self.port = port
        self.workdir = Path(workdir)
        self.data = self.workdir / "pgdata"
        self.sockets = self.workdir / "pgsock"
        self.proc: subprocess.Popen | None = None
        self._names = itertools.count(1)
        self.run_as = "postgres" if os.geteuid() == 0 else None  # PostgreSQL refuses to run as root

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def _as_user(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *cmd] if self.run_as else cmd

    def start(self) -> "PostgresServer":
        reason = available()
        if reason:
            raise RuntimeError(reason)
        bins = bin_dir()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        if self.run_as:
            for path in (self.workdir, self.sockets):
                shutil.chown(path, self.run_as)
        if not (self.data / "PG_VERSION").exists():
            subprocess.run(self._as_user([str(bins / "initdb"), "-D", str(self.data), "-U", USER, "-A", "trust", "--no-sync",
                                          "-E", "UTF8", "--locale", "C"]),
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        log = open(self.workdir / "postgres.log", "ab")
        self.proc = subprocess.Popen(self._as_user([str(bins / "postgres"), "-D", str(self.data), "-p", str(self.port),
                                                    "-k", str(self.sockets), "-c", "listen_addresses=127.0.0.1",
                                                    "-c", "fsync=off", "-c", "synchronous_commit=off",
                                                    "-c", "full_page_writes=off", "-c", "max_connections=200"]),
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait()
        return self

    def _wait(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    tail = (self.workdir / "postgres.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"postgres did not start on port {self.port}:\n{tail}")
                time.sleep(0.1)

    def new_database(self) -> str:
        """A new empty database on this server; its URL."""
        import psycopg

        name = f"t{next(self._names)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """Fast shutdown (open connections are closed), through pg_ctl: runuser does not pass signals on."""
        if self.proc is not None and self.proc.poll() is None:
            subprocess.run(self._as_user([str(bin_dir() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port and data (what a node sees when PostgreSQL restarts)."""
        self.stop()
        self.start()

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- pytest fixtures (import them into a test module or conftest) --------------------------------------
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the test session (skipped, with the reason, when the package is absent)."""
    import tempfile

    reason = available()
    if reason:
        pytest.skip(reason)
    workdir = Path(tempfile.mkdtemp(prefix="tandem-pg-"))  # not under pytest's root-only tmp: the server runs as postgres
    server = PostgresServer(workdir).start()
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgres"])
async def make_store(request, tmp_path):
    """``s = await make_store()``: a ready Store on each backend (PostgreSQL: a fresh database per test).
    ``make_store(data_dir)`` opens another Store on the same database (a restart, or a second node)."""
    from tandem.store import open_store

    url = request.getfixturevalue("postgres_server").new_database() if request.param == "postgres" else None
    stores = []

    async def make(data_dir: Path | None = None):
        s = await open_store(data_dir or tmp_path / "data", url)
        stores.append(s)
        return s

    make.database_url = url
    yield make
    for s in stores:
        await s.close()

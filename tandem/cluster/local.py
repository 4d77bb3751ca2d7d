"""``make cluster``: a whole cluster on this machine — Redis, PostgreSQL, three nodes, HAProxy in front.

    python -m tandem.cluster.local [--nodes 3] [--port 8090] [--data-dir ./tandem-cluster]

Starts, each on loopback: ``redis-server`` (append-only file in the data directory, so a
Redis restart keeps the jars), PostgreSQL (a database cluster in the data directory, when
this Tandem's store takes ``--database-url``; otherwise the nodes share one SQLite data
directory, which works on one machine only), the demo shop to co-browse, N ``tandem serve``
nodes and HAProxy (:mod:`tandem.cluster.deploy`: round-robin, no stickiness, /readyz
checks). Prints the address and the admin API key, and stops everything on Ctrl-C.
It is the deployment of the README's "Deployment (a cluster)" on one machine, for trying
things out (kill a node, restart Redis) — not a production supervisor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tandem.cluster.deploy import haproxy_config
from tandem.settings import OPTIONS

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0  # seconds for any one process to answer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise SystemExit(f"{what} did not start (see {log}):\n{tail}")
            time.sleep(0.1)


def need(exe: str, package: str) -> str:
    path = shutil.which(exe) or (f"/usr/lib/postgresql/15/bin/{exe}" if os.path.exists(f"/usr/lib/postgresql/15/bin/{exe}") else None)
    if path is None:
        raise SystemExit(f"{exe} is not installed: run `make cluster-deps` (Debian package {package})")
    return path


class Local:
    def __init__(self, data: Path, nodes: int, port: int):
        self.data = data.resolve()
        self.count = nodes
        self.port = port
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.pg_dir: Path | None = None

    def spawn(self, name: str, cmd: list[str], *, env=None, user: str | None = None) -> tuple[subprocess.Popen, Path]:
        log = self.data / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        if user is not None and os.geteuid() == 0:
            cmd = ["runuser", "-u", user, "--", *cmd]
        with open(log, "ab") as fh:
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    cwd=ROOT, start_new_session=True)
        self.procs.append((name, proc))
        return proc, log

    def redis(self) -> str:
        port = free_port()
        workdir = self.data / "redis"
        workdir.mkdir(parents=True, exist_ok=True)
        proc, log = self.spawn("redis", [need("redis-server", "redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                                         "--dir", str(workdir), "--appendonly", "yes", "--save", ""])
        wait_port(port, proc, "redis-server", log)
        return f"redis://127.0.0.1:{port}/0"

    def postgres(self) -> str | None:
        if not any(o.name == "database_url" for o in OPTIONS):
            print("store: this Tandem has no --database-url yet; the nodes share one SQLite data directory")
            return None
        port = free_port()
        pg = self.data / "postgres"
        sock = self.data / "pgsock"
        sock.mkdir(parents=True, exist_ok=True)
        user = "postgres" if os.geteuid() == 0 else None  # PostgreSQL refuses to run as root
        if user:
            shutil.chown(self.data, user)
            shutil.chown(sock, user)
        if not (pg / "PG_VERSION").exists():
            init = ["runuser", "-u", user, "--"] if user else []
            subprocess.run([*init, need("initdb", "postgresql"), "-D", str(pg), "-U", "tandem", "-A", "trust",
                            "--no-sync"], check=True, stdout=subprocess.DEVNULL)
        proc, log = self.spawn("postgres", [need("postgres", "postgresql"), "-D", str(pg), "-p", str(port), "-k", str(sock),
                                            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"], user=user)
        wait_port(port, proc, "postgres", log)
        time.sleep(0.5)
        subprocess.run([need("createdb", "postgresql"), "-h", "127.0.0.1", "-p", str(port), "-U", "tandem", "tandem"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return f"postgresql://tandem@127.0.0.1:{port}/tandem"

    async def demo(self):
        from demosite import start_demo

        return await start_demo("127.0.0.1")

    def node(self, i: int, args: list[str], env: dict) -> int:
        port = free_port()
        cmd = [sys.executable, "-m", "tandem.cli", "serve", "--port", str(port), *args]
        proc, log = self.spawn(f"node{i}", cmd, env=env)
        wait_port(port, proc, f"node {i}", log)
        return port

    def haproxy(self, nodes: list[int]) -> None:
        cfg = self.data / "haproxy.cfg"
        from tandem.listen import twins  # the browser asks tandem.localhost: [::1] first

        cfg.write_text(haproxy_config(self.port, [("127.0.0.1", p) for p in nodes], log=False,
                                      also=twins("127.0.0.1", "tandem.localhost")))
        proc, log = self.spawn("haproxy", [need("haproxy", "haproxy"), "-db", "-f", str(cfg)])
        wait_port(self.port, proc, "haproxy", log)

    def stop(self) -> None:
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--port", type=int, default=8090, help="the balancer's port (the public address)")
    ap.add_argument("--data-dir", type=Path, default=Path("./tandem-cluster"))
    args = ap.parse_args()
    local = Local(args.data_dir, args.nodes, args.port)
    local.data.mkdir(parents=True, exist_ok=True)
    key_file = local.data / "admin-key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(24))
        key_file.chmod(0o600)
    admin_key = key_file.read_text().strip()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    demo = None
    try:
        redis_url = local.redis()
        database_url = local.postgres()
        demo = await local.demo()
        base = f"tandem.localhost:{args.port}"
        common = ["--redis-url", redis_url, "--base-domain", base, "--data-dir", str(local.data / "node-data")]
        if database_url:
            common += ["--database-url", database_url]
        for host in demo.hosts:
            common += ["--allow-domain", host]
        env = {**os.environ, "TANDEM_ADMIN_KEY": admin_key, "PYTHONUNBUFFERED": "1"}
        ports = [local.node(1, common, env)]  # the first creates the keys and the schema; then the others
        ports += [local.node(i, common, env) for i in range(2, args.nodes + 1)]
        local.haproxy(ports)
        print(f"""
Tandem cluster: {args.nodes} nodes behind HAProxy, Redis {redis_url}, store {database_url or 'shared SQLite'}
  open          http://{base}/
  admin API key {admin_key}   (also in {key_file})
  try           curl -s -H 'Authorization: Bearer {admin_key}' -H 'Content-Type: application/json' \\
                  -d '{{"url": "{demo.shop}/"}}' http://{base}/api/v1/sessions
  nodes         {', '.join(f'127.0.0.1:{p}' for p in ports)} (logs in {local.data / 'logs'})
Ctrl-C stops everything.""", flush=True)
        await stop.wait()
    finally:
        local.stop()
        if demo is not None:
            await demo.close()


if __name__ == "__main__":
    asyncio.run(main())

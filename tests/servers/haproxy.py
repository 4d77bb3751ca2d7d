"""A throwaway HAProxy (Debian package ``haproxy``; ``make cluster-deps``) in front of some nodes.

    with HAProxy(tmp_path, [("127.0.0.1", 8001), ...]) as lb:   # lb.port, lb.requests()
        ...

The configuration is :func:`tandem.cluster.deploy.haproxy_config` (round-robin, no
stickiness, health checks on /readyz). Every request is logged as it is answered
(``option logasap``): :meth:`requests` says which node served what.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tandem.cluster.deploy import haproxy_config
from tests.harness import free_socket

START_TIMEOUT = 10.0


@dataclass(frozen=True)
class Logged:
    server: str  # "n1", "n2", ...
    status: str
    method: str
    host: str
    uri: str


class HAProxy:
    def __init__(self, workdir: Path, nodes: list[tuple[str, int]], *, port: int | None = None):
        if shutil.which("haproxy") is None:
            raise RuntimeError("haproxy is not installed: run `make cluster-deps` (Debian package haproxy)")
        if port is None:
            sock = free_socket()
            port = sock.getsockname()[1]
            sock.close()
        self.port = port
        self.nodes = nodes
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cfg = self.workdir / "haproxy.cfg"
        self.log = self.workdir / "haproxy.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "HAProxy":
        from tandem.listen import twins  # browsers reach it as tandem.localhost: [::1] first

        self.cfg.write_text(haproxy_config(self.port, self.nodes, also=twins("127.0.0.1", "tandem.localhost")))
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen([shutil.which("haproxy"), "-db", "-f", str(self.cfg)], stdout=fh,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"haproxy did not start:\n{self.log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def requests(self) -> list[Logged]:
        """Every request logged so far: which server answered it."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            parts = line.split(" ", 4)
            if len(parts) == 5 and parts[0].startswith("nodes/"):
                out.append(Logged(parts[0].split("/", 1)[1], parts[1], parts[2], parts[3].strip("{}"), parts[4]))
        return out

    def __enter__(self) -> "HAProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

"""A throwaway ``redis-server`` (Debian package ``redis-server``; ``make backend-deps``) on a free loopback port.

    with RedisServer(tmp_path) as r:   # r.url == "redis://127.0.0.1:PORT/0"
        ...
    r.restart()  # stop and start again on the same port (what a node sees when Redis restarts)
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from tests.harness import free_socket

START_TIMEOUT = 10.0  # seconds for redis-server to accept connections


def redis_exe() -> str:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed: run `make backend-deps` (Debian package redis-server)")
    return exe


class RedisServer:
    def __init__(self, workdir: Path, *, port: int | None = None):
        if port is None:
            sock = free_socket()
            port = sock.getsockname()[1]
            sock.close()
        self.port = port
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen([redis_exe(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                                      str(self.workdir), "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        import redis

        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(f"redis-server did not start on port {self.port}")
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

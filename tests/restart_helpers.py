"""A real ``tandem serve`` child process that can be stopped (SIGTERM, SIGKILL) and started again
on the same port and data directory, and a browser-like HTTP client for it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.harness import ADMIN_KEY, client_session, free_socket

READY_TIMEOUT = 90.0  # seconds for a child to answer its first request (imports take long on a loaded machine)
STOP_TIMEOUT = 10.0  # seconds a SIGTERMed child may take to finish
NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "none",
            "Accept": "text/html"}


class TandemProcess:
    def __init__(self, data_dir: Path, *, allow: tuple[str, ...] = (), extra_args: tuple[str, ...] = ()):
        sock = free_socket()
        self.port = sock.getsockname()[1]
        sock.close()
        self.data_dir = data_dir
        self.allow = allow
        self.extra_args = extra_args
        self.url = f"http://tandem.localhost:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = data_dir.parent / f"tandem-{self.port}.log"
        self.starts = 0

    async def start(self) -> None:
        cmd = [sys.executable, "-m", "tandem.cli", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir),
               "--allow-private-networks", "loopback", *[a for d in self.allow for a in ("--allow-domain", d)],
               *self.extra_args]
        env = {**os.environ, "TANDEM_ADMIN_KEY": ADMIN_KEY, "PYTHONUNBUFFERED": "1"}
        self.starts += 1
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                         cwd=Path(__file__).resolve().parents[1])
        async with client_session() as probe:
            deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError(f"tandem exited ({self.proc.returncode}):\n{self.tail()}")
                try:
                    async with probe.get(self.url + "/", timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status < 500:
                            return
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    self.proc.kill()  # never leave a half-started child behind
                    self.proc.wait()
                    raise AssertionError(f"tandem did not start:\n{self.tail()}")
                await asyncio.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the child (by its own pid) and wait for it; its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"tandem did not stop on {signal.Signals(sig).name}:\n{self.tail()}")

    async def restart(self, sig: int) -> None:
        self.stop(sig)
        await self.start()

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    async def api(self, client: aiohttp.ClientSession, method: str, path: str, **kw) -> tuple[int, dict]:
        async with client.request(method, self.url + "/api/v1" + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                                  **kw) as r:
            return r.status, json.loads(await r.text() or "{}")


def browser() -> aiohttp.ClientSession:
    """A client with its own cookie jar that resolves *.localhost to loopback, as Chromium does."""
    return client_session(cookie_jar=aiohttp.CookieJar(unsafe=True))

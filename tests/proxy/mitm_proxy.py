"""A real mitmdump (mitmproxy) on an ephemeral loopback port, and its flow log, for the egress tests.

``make mitm`` (a prerequisite of ``make test``) installs mitmproxy in ``.venv-mitm``; tests
marked ``needs_mitmdump`` skip, saying so, only when that is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MITMDUMP = Path(os.environ.get("TANDEM_TEST_MITMDUMP", REPO / ".venv-mitm" / "bin" / "mitmdump"))
ADDON = Path(__file__).with_name("mitm_flowlog.py")
START_TIMEOUT = 60.0  # mitmdump imports a lot; on a busy 2-core machine a cold start takes seconds
STOP_TIMEOUT = 10.0

needs_mitmdump = pytest.mark.skipif(
    not MITMDUMP.exists(), reason=f"needs mitmproxy's mitmdump at {MITMDUMP} (run `make mitm`; `make test` does)")


class MitmProxy:
    """``mode`` is mitmproxy's (``regular`` or ``socks5``); ``proxyauth`` like ``user:pass``."""

    def __init__(self, workdir: Path, *, mode: str = "regular", proxyauth: str | None = None, options: tuple[str, ...] = ()):
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.mode = mode
        self.proxyauth = proxyauth
        self.options = options
        self.flowlog = workdir / "flows.jsonl"
        self.confdir = workdir / "conf"  # its own CA, never ~/.mitmproxy
        self.port = 0
        self._proc: subprocess.Popen | None = None

    def start(self) -> "MitmProxy":
        args = [str(MITMDUMP), "-q", "--mode", self.mode, "--listen-host", "127.0.0.1", "--listen-port", "0",
                "-s", str(ADDON), "--set", f"confdir={self.confdir}",
                "--set", "stream_large_bodies=1m"]  # stream big bodies through, as a corporate proxy does
        if self.proxyauth:
            args += ["--set", f"proxyauth={self.proxyauth}"]
        for opt in self.options:
            args += ["--set", opt]
        self._log = open(self.workdir / "mitmdump.out", "wb")
        self._proc = subprocess.Popen(args, env=dict(os.environ, TANDEM_FLOWLOG=str(self.flowlog)),
                                      stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            listening = self.records("listening")
            if listening:
                self.port = listening[0]["port"]
                return self
            if self._proc.poll() is not None:
                break
            time.sleep(0.05)
        out = (self.workdir / "mitmdump.out").read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"mitmdump did not start: {out}")

    @property
    def url(self) -> str:
        scheme = "socks5" if self.mode == "socks5" else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def ca_pem(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    def records(self, event: str | None = None, contains: str = "") -> list[dict]:
        if not self.flowlog.exists():
            return []
        out = []
        for line in self.flowlog.read_text().splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            if (event is None or rec["event"] == event) and contains in json.dumps(rec):
                out.append(rec)
        return out

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if getattr(self, "_log", None) is not None:
            self._log.close()

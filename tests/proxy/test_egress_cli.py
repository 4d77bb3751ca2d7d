"""`tandem serve --upstream-proxy…`: bad values end in one line and exit 2; the start-up line hides credentials."""

import os
import subprocess
import sys

import pytest

from tests.harness import free_socket

SECRET = "hunter2-proxy-secret"
START_TIMEOUT = 30  # seconds for `tandem serve` to print its start-up lines


def serve(*args, env=None, data_dir):
    return subprocess.run([sys.executable, "-m", "tandem.cli", "serve", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=START_TIMEOUT, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("args,env,message", [
    (["--upstream-proxy", f"https://alice:{SECRET}@proxy:3128"], {}, "TLS to the proxy (https://) is not supported"),
    (["--upstream-proxy", f"ftp://alice:{SECRET}@proxy"], {}, "scheme must be http, socks5 or socks5h"),
    (["--upstream-proxy", f"http://alice:{SECRET}@proxy:99999"], {}, "bad port"),
    (["--upstream-proxy", "http://proxy:3128", "--upstream-proxy-bypass", "10.0.0.0/99"], {}, "bypass entry '10.0.0.0/99'"),
    (["--upstream-proxy-bypass", "example.com"], {}, "--upstream-proxy-bypass needs --upstream-proxy"),
    (["--upstream-proxy", "env"], {"https_proxy": "", "HTTPS_PROXY": "", "http_proxy": "", "HTTP_PROXY": "", "all_proxy": "", "ALL_PROXY": ""},
     "none of https_proxy"),
    (["--upstream-proxy", "env"], {"https_proxy": f"socks4://alice:{SECRET}@p:1080"}, "https_proxy: socks4://***@p:1080"),
    ([], {"TANDEM_UPSTREAM_PROXY": f"https://alice:{SECRET}@proxy:3128"}, "not supported"),
    (["--upstream-ca", "/nonexistent/ca.pem"], {}, "--upstream-ca: cannot load CA certificates"),
])
def test_bad_values_one_line_exit_2(tmp_path, args, env, message):
    r = serve(*args, env=env, data_dir=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("tandem: ") and message in r.stderr, r.stderr
    assert SECRET not in r.stderr and "Traceback" not in r.stderr


def test_start_up_line_names_the_proxy_without_credentials(tmp_path):
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "TANDEM_UPSTREAM_PROXY": f"http://alice:{SECRET}@proxy.corp.example:3128",
           "TANDEM_UPSTREAM_PROXY_BYPASS": ".corp.example,10.0.0.0/8"}
    proc = subprocess.Popen([sys.executable, "-m", "tandem.cli", "serve", "--port", str(port), "--data-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Upstream proxy:"):
                break
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=START_TIMEOUT)
    out = "".join(lines)
    assert "Upstream proxy: http://proxy.corp.example:3128 (bypass: .corp.example 10.0.0.0/8)\n" in out, out + err
    assert SECRET not in out + err and "alice" not in out + err

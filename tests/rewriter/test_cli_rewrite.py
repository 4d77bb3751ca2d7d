"""`tandem rewrite {html,css,js,manifest}` as a person runs it: a subprocess, bytes in, bytes out."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SID = "abcdefgh2345"


def tandem(*args: str, data: bytes = b"") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TANDEM_BASE_DOMAIN", None)
    return subprocess.run(
        [sys.executable, "-m", "tandem.cli", "rewrite", *args], input=data, capture_output=True, timeout=60, env=env, cwd=ROOT,
    )


def proxied(host: str, scheme: str = "s") -> bytes:
    return f"http://{SID}-{scheme}-{host.replace('.', '-')}.tandem.localhost:8080".encode()


def test_html_prints_what_the_proxy_sends():
    r = tandem("html", "--url", "https://example.com/page", "--session", SID,
               data=b'<head><title>t</title><a href="https://a.com/x">x</a><script>import("//b.com/m.js")</script>')
    assert r.returncode == 0, r.stderr
    assert r.stdout == (b'<head><script src="/__tandem/runtime.js?v=cli"></script><title>t</title><a href="'
                        + proxied("a.com") + b'/x">x</a><script>import("' + proxied("b.com") + b'/m.js")</script>')
    assert r.stderr == b""


def test_css_js_manifest_and_base_domain():
    r = tandem("css", "--url", "http://example.com/", "--session", SID, "--base-domain", "co.example.org",
               "--public-scheme", "https", data=b"a{background:url(//img.net/a.png)}")
    assert r.returncode == 0 and r.stdout == f"a{{background:url(https://{SID}-h-img-net.co.example.org/a.png)}}".encode()
    r = tandem("js", "--url", "https://example.com/", "--session", SID, data=b'export * from "https://a.com/m.js";\n')
    assert r.returncode == 0 and r.stdout == b'export * from "' + proxied("a.com") + b'/m.js";\n'
    r = tandem("manifest", "--url", "https://example.com/", "--session", SID,
               data=b'{"start_url": "https://example.com/app", "icons": [{"src": "/i.png"}]}')
    assert r.returncode == 0 and r.stdout == b'{"start_url": "' + proxied("example.com") + b'/app", "icons": [{"src": "/i.png"}]}'


def test_stats_go_to_stderr_only():
    r = tandem("html", "--url", "https://example.com/", "--stats", data=b'<a href="https://a.com/">')
    assert r.returncode == 0 and b"rewritten=1" in r.stderr and b"rewritten" not in r.stdout


@pytest.mark.parametrize("kind", ["html", "css", "js", "manifest"])
def test_binary_and_non_utf8_input_pass_through(kind):
    """Random bytes, latin-1 text and a UTF-16 document: no crash, output as the rewriter decides."""
    blob = bytes(range(256)) * 8 + "<a href='http://a.com/'>é".encode("utf-16")
    r = tandem(kind, "--url", "https://example.com/", data=blob)
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    if kind != "html":  # the HTML rewriter scans binary as latin-1 text and may map a URL in it
        assert r.stdout == blob
    r = tandem(kind, "--url", "https://example.com/", data=b"caf\xe9 \xff\xfe url(http://a.com/\xe9) import('http://a.com/\xe9')")
    assert r.returncode == 0 and r.stderr == b""


@pytest.mark.parametrize("args, message", [
    (["html", "--url", "ftp://example.com/"], b"--url must be an absolute http:// or https:// URL"),
    (["html", "--url", "/relative"], b"--url must be an absolute http:// or https:// URL"),
    (["html", "--url", "https://exa mple.com/"], b"--url: "),
    (["js", "--url", "https://example.com/", "--session", "UPPER"], b"--session must be 12 characters"),
    (["css", "--url", "https://example.com/", "--base-domain", "a/b"], b"--base-domain must be a host name"),
])
def test_errors_are_one_line_and_non_zero(args, message):
    r = tandem(*args, data=b"x")
    assert r.returncode == 2
    assert r.stdout == b""
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tandem: ") and message.decode() in lines[0], r.stderr


def test_unknown_kind_is_a_usage_error():
    r = tandem("xml", "--url", "https://example.com/")
    assert r.returncode == 2 and b"Traceback" not in r.stderr


def test_version_names_the_html_core(capsys):
    """``tandem --version`` says which HTML core rewrites pages (the README tells how to read it)."""
    from rewriter.html import core
    from tandem.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("tandem ") and core.describe() in out

"""``tandem rewrite {html,css,js,manifest}``: what the proxy would send for a body, for people debugging a site.

Reads the upstream body from standard input as bytes (any encoding, binary too: the rewriters
never raise, they pass what they cannot read through) and writes the rewritten body to standard
output, built exactly as the proxy builds it for the given page URL, session and base domain. The
injection is the runtime's script tag; what the proxy adds per participant (the co-browse
recorder) is left out.
"""

from __future__ import annotations

import argparse
import os
import sys

from rewriter.labels import SID_ALPHABET, SID_LEN
from rewriter.urls import ProxyBase, UrlError, UrlRewriter, split_url

KINDS = ("html", "css", "js", "manifest")
DEFAULT_SESSION = "a" * SID_LEN
# Bodies bigger than this are refused: the whole body is held in memory (the proxy streams HTML
# and limits the others with max_rewrite_body; a debugging command has no reason to go further).
MAX_INPUT = 512 << 20


def add_parser(sub) -> None:
    r = sub.add_parser("rewrite", help="rewrite a body read from stdin as the proxy would (for debugging a site)")
    r.add_argument("kind", choices=KINDS, help="what the body is")
    r.add_argument("--url", required=True, help="the upstream URL the body came from (http or https)")
    r.add_argument("--session", default=DEFAULT_SESSION,
                   help=f"session id the labels carry ({SID_LEN} characters of a-z2-7; default {DEFAULT_SESSION})")
    r.add_argument("--base-domain", default=os.environ.get("TANDEM_BASE_DOMAIN", "tandem.localhost:8080"),
                   help="public domain of the Tandem server (env TANDEM_BASE_DOMAIN; default tandem.localhost:8080)")
    r.add_argument("--public-scheme", choices=("http", "https"), default="http", help="scheme browsers use to reach Tandem")
    r.add_argument("--charset", default=None, help="the charset of the upstream Content-Type, if it named one")
    r.add_argument("--xml", action="store_true", help="html only: the body is XHTML or SVG (served as XML)")
    r.add_argument("--stats", action="store_true", help="print what was rewritten to stderr")


def run(args, fail) -> None:
    """Rewrite stdin to stdout; ``fail(message, code)`` ends with one line on stderr."""
    try:
        parts = split_url(args.url)
    except UrlError as exc:
        fail(f"--url: {exc}", 2)
    if parts is None or parts.scheme not in ("http", "https") or not args.url.strip().lower().startswith(("http:", "https:")):
        fail("--url must be an absolute http:// or https:// URL", 2)
    sid = args.session
    if len(sid) != SID_LEN or any(c not in SID_ALPHABET for c in sid):
        fail(f"--session must be {SID_LEN} characters of a-z and 2-7", 2)
    domain = args.base_domain.strip().lower().rstrip(".")
    if not domain or "/" in domain or " " in domain:
        fail("--base-domain must be a host name, optionally with :port", 2)
    data = sys.stdin.buffer.read(MAX_INPUT + 1)
    if len(data) > MAX_INPUT:
        fail(f"input is over {MAX_INPUT >> 20} MiB", 1)
    urls = UrlRewriter(ProxyBase(args.public_scheme, domain), sid, page_url=args.url.strip())
    out, stats = rewrite(args.kind, data, urls, args.charset, args.xml)
    try:
        sys.stdout.buffer.write(out)
        sys.stdout.buffer.flush()
    except BrokenPipeError:  # `| head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    if args.stats:
        print(" ".join(f"{k}={v}" for k, v in stats.items()), file=sys.stderr)


def rewrite(kind: str, data: bytes, urls: UrlRewriter, charset: str | None, xml: bool) -> tuple[bytes, dict]:
    from proxy.handler import INJECT_TEMPLATE
    from rewriter import css as css_mod, js as js_mod, manifest as manifest_mod
    from rewriter.css import CssRewriter, rewrite_css_bytes
    from rewriter.html import HtmlRewriter
    from rewriter.js import js_rewriter, rewrite_js_bytes
    from rewriter.manifest import rewrite_manifest

    if kind == "html":
        rw = HtmlRewriter(urls, inject=INJECT_TEMPLATE.format(version="cli"), charset=charset,
                          css=CssRewriter(urls), js=js_rewriter(urls), xml=xml)
        out = rw.feed(data) + rw.close()
        stats = {k: v for k, v in rw.stats.items() if v}
    elif kind == "css":
        counts = css_mod.CssStats()
        out = rewrite_css_bytes(data, urls, charset, stats=counts)
        stats = _fields(counts)
    elif kind == "js":
        out = rewrite_js_bytes(data, urls, charset)
        stats = _fields(js_mod.stats)
    else:
        counts = manifest_mod.ManifestStats()
        out = rewrite_manifest(data, urls, stats=counts)
        stats = _fields(counts)
    stats["urls_rewritten"] = urls.rewritten
    stats["changed"] = int(out != data)
    return out, stats


def _fields(obj) -> dict:
    return {k: getattr(obj, k) for k in obj.__slots__ if getattr(obj, k)}

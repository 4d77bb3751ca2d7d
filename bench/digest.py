"""The memo keys' two hashes (rewriter/digest.py), side by side on this machine.

``python -m bench.digest`` hashes random bytes of several lengths with SHA-256 and with BLAKE3 (16
bytes of each, as the memos keep) and prints microseconds a call, best of ``--rounds``, and BLAKE3's
speed as a multiple of SHA-256's, measured in the same run: where the ratio passes 1 is where
``rewriter.digest.LONG`` belongs. It also prints the bytes the memos hash in one pass over the
corpus pages (``../shared/corpus/pages``, as bench.rewriters rewrites them) and what the two hashes
and ``digest`` cost on exactly those texts. Nothing here is a test: timings are not asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import sys
import time

from blake3 import blake3

REPO = pathlib.Path(__file__).resolve().parents[1]
PAGES = REPO / ".." / "shared" / "corpus" / "pages"
SIZES = (256, 1024, 2048, 4096, 8192, 65536, 600_000)


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:16]


def _b3(data: bytes) -> bytes:
    return blake3(data).digest(16)


def _best(fn, items: list[bytes], rounds: int) -> float:
    """Best CPU seconds of one pass of ``fn`` over ``items``."""
    best = float("inf")
    for _ in range(rounds):
        t = time.process_time()
        for data in items:
            fn(data)
        best = min(best, time.process_time() - t)
    return best


def _corpus_texts() -> list[bytes]:
    """Every text the memos hash in one pass of the HTML rewriter over the corpus pages."""
    sys.path.insert(0, str(REPO))
    from rewriter import digest as mod
    from rewriter.css import CssRewriter
    from rewriter.html import HtmlRewriter
    from rewriter.js import js_rewriter
    from rewriter.urls import ProxyBase, UrlRewriter

    seen: list[bytes] = []
    real = mod.digest

    def record(data: bytes) -> bytes:
        seen.append(bytes(data))
        return real(data)

    import rewriter.jslocation as jsl

    mod.digest = record  # what digest_text (the CSS memo's key) calls
    jsl.digest = record  # jslocation holds its own name for it
    try:
        base = ProxyBase("http", "tandem.localhost:8080")
        for path in sorted(PAGES.glob("*.html")):
            urls = UrlRewriter(base, "abcdefgh2345", page_url="https://example.com/")
            rw = HtmlRewriter(urls, inject="", css=CssRewriter(urls), js=js_rewriter(urls))
            rw.feed(path.read_bytes())
            rw.close()
    finally:
        mod.digest = real
        jsl.digest = real
    return seen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.digest", description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    from rewriter.digest import LONG, digest

    print(f"load average before: {os.getloadavg()[0]:.2f}; rewriter.digest.LONG = {LONG} bytes")
    print(f"{'bytes':>9} {'SHA-256 us':>11} {'BLAKE3 us':>10} {'BLAKE3 speed / SHA-256':>23}")
    for size in SIZES:
        items = [os.urandom(size) for _ in range(max(4, 4_000_000 // size))]
        sha = _best(_sha, items, args.rounds) / len(items)
        b3 = _best(_b3, items, args.rounds) / len(items)
        print(f"{size:>9,} {sha * 1e6:>11.2f} {b3 * 1e6:>10.2f} {sha / b3:>22.2f}x")
    if not PAGES.is_dir():
        print(f"corpus pass skipped: {PAGES} is absent")
        return 0
    texts = _corpus_texts()
    total = sum(map(len, texts))
    sha = _best(_sha, texts, args.rounds)
    b3 = _best(_b3, texts, args.rounds)
    mixed = _best(digest, texts, args.rounds)
    print(f"corpus pass: {len(texts)} texts, {total:,} bytes hashed; SHA-256 alone {sha * 1e3:.2f} ms, "
          f"BLAKE3 alone {b3 * 1e3:.2f} ms, digest (both by length) {mixed * 1e3:.2f} ms "
          f"({sha / mixed:.2f}x SHA-256's speed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

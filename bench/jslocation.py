"""What the scoped ``location`` rewrite (rewriter/jslocation.py) costs, on the corpus' real scripts.

``python -m bench.jslocation`` prints, for the 25 npm scripts and every inline script of the 146
saved pages: how many hold a candidate (and so are parsed for it), the reads rewritten, and the time
of the JS rewriter as it is (import specifiers only) next to the time with the location pass (a
parse for every script with a candidate, then the edits), in the same run. Median of 3 rounds.
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

from rewriter import js, jslocation
from rewriter.urls import ProxyBase, UrlRewriter

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
SCRIPT_RE = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script", re.S | re.I)


def scripts() -> list[tuple[str, bytes]]:
    out = [(str(p.relative_to(CORPUS)), p.read_bytes()) for p in sorted((CORPUS / "js").rglob("*.js"))]
    for page in sorted((CORPUS / "pages").rglob("*.htm*")):
        for k, m in enumerate(SCRIPT_RE.finditer(page.read_bytes())):
            if m.group(1).strip():
                out.append((f"{page.name}#{k}", m.group(1)))
    return out


def timed(items, urls, mode: str) -> float:
    """Median of 3 rounds of the JS rewriter over ``items``: ``off`` without the location pass,
    ``cold`` with it and its memo emptied before each round, ``warm`` with the memo kept."""
    real = jslocation.read_edits
    rounds = []
    try:
        if mode == "off":
            jslocation.read_edits = lambda *a, **k: []
        for _ in range(3):
            if mode == "cold":
                jslocation._memo.clear()
            t = time.perf_counter()
            for _, data in items:
                js._rewrite_utf8(data, urls)
            rounds.append(time.perf_counter() - t)
    finally:
        jslocation.read_edits = real
    return statistics.median(rounds)


def main() -> None:
    if not CORPUS.exists():
        print(f"corpus not found at {CORPUS}: skipped")
        return
    urls = UrlRewriter(ProxyBase("http", "tandem.localhost:8080"), "abcdefgh2345", page_url="https://example.com/")
    items = scripts()
    for label, group in (("npm scripts", [i for i in items if "#" not in i[0]]), ("inline scripts", [i for i in items if "#" in i[0]])):
        size = sum(len(d) for _, d in group)
        hit = [(n, d) for n, d in group if jslocation.candidates(d)]
        reads = 0
        for _, d in hit:
            tree = js._parse(d)
            if tree is not None and not tree.root_node.has_error:
                reads += len(jslocation.location_edits(tree.root_node, d)) // 2  # location, postMessage, import()
        base = timed(group, urls, "off")
        cold = timed(group, urls, "cold")
        warm = timed(group, urls, "warm")
        print(f"{label}: {len(group)} scripts, {size / 1e6:.2f} MB; {len(hit)} with a candidate "
              f"({sum(len(d) for _, d in hit) / 1e6:.2f} MB parsed for it), {reads} places rewritten")
        print(f"  JS rewriter without the location pass: {base * 1000:.1f} ms; with it, first sight: "
              f"{cold * 1000:.1f} ms (x{cold / base:.2f}, +{(cold - base) * 1000 / max(size / 1e6, 1e-9):.0f} ms per MB "
              f"of script); seen before (memo): {warm * 1000:.1f} ms (x{warm / base:.2f})")


if __name__ == "__main__":
    main()

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


def with_location(data: bytes, urls) -> bytes:
    out = js._rewrite_utf8(data, urls)
    if not jslocation.candidates(out) or len(out) > js.MAX_PARSE:
        return out
    tree = js._parse(out)
    if tree is None or tree.root_node.has_error:
        return out
    edits = jslocation.location_edits(tree.root_node, out)
    return js._apply(out, edits) if edits else out


def timed(fn, items, urls) -> float:
    rounds = []
    for _ in range(3):
        t = time.perf_counter()
        for _, data in items:
            fn(data, urls)
        rounds.append(time.perf_counter() - t)
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
                reads += len(jslocation.location_edits(tree.root_node, d)) // 2
        base = timed(js._rewrite_utf8, group, urls)
        full = timed(with_location, group, urls)
        print(f"{label}: {len(group)} scripts, {size / 1e6:.2f} MB; {len(hit)} with a candidate "
              f"({sum(len(d) for _, d in hit) / 1e6:.2f} MB parsed for it), {reads} reads rewritten")
        print(f"  JS rewriter as is: {base * 1000:.1f} ms; with the location pass: {full * 1000:.1f} ms "
              f"(x{full / base if base else float('nan'):.2f}, +{(full - base) * 1000:.1f} ms, "
              f"+{(full - base) * 1000 / max(size / 1e6, 1e-9):.1f} ms per MB)")


if __name__ == "__main__":
    main()

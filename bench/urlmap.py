"""The URL mapper alone (``rewriter.urls.UrlRewriter.rewrite``), on the URLs the corpus holds.

``python -m bench.urlmap`` first rewrites ``../shared/corpus`` (146 pages as bench.rewriters does,
the stylesheets, the scripts) with a mapper that records every value it is asked to map, per
document. Then it replays those values through the mapper alone, one fresh mapper per document
(as the proxy makes one per response), and prints CPU microseconds per URL for:

* cold: the process's caches (split heads, origins, labels, shared head memo) emptied before
  the pass: each host is seen for the first time in the process somewhere in the pass;
* first sight: a fresh mapper per document, the process's caches warm (a host seen on other
  pages, or in an earlier pass);
* repeat: the same mappers asked again for the same values.

Times are CPU seconds (``time.process_time``) of this process, best of ``--rounds`` (the machine is
shared). The load average is printed with the figures. Output: the figures and, with ``--json``,
a JSON line. Nothing here is a test: timings are not asserted.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import pathlib
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
CORPUS = REPO / ".." / "shared" / "corpus"
CHUNK = 64 * 1024
SID = "abcdefgh2345"
PAGE = "https://example.com/"


def record() -> list[list[str]]:
    """Per document of the corpus, the values its mapper was asked to map, in order."""
    from rewriter.css import rewrite_css, rewrite_css_bytes
    from rewriter.html import HtmlRewriter
    from rewriter.js import js_rewriter, rewrite_js_bytes
    from rewriter.urls import ProxyBase, UrlRewriter

    base = ProxyBase("http", "tandem.localhost:8080")
    docs: list[list[str]] = []

    class Recording(UrlRewriter):
        def rewrite(self, value: str) -> str:
            self.asked.append(value)
            return super().rewrite(value)

    def mapper() -> Recording:
        m = Recording(base, SID, page_url=PAGE)
        m.asked = []
        return m

    for p in sorted((CORPUS / "pages").glob("*.html")):
        data = p.read_bytes()
        urls = mapper()
        rw = HtmlRewriter(urls, inject="<script></script>", css=lambda t, u=urls: rewrite_css(t, u), js=js_rewriter(urls))
        for i in range(0, len(data), CHUNK):
            rw.feed(data[i: i + CHUNK])
        rw.close()
        docs.append(urls.asked)
    for p in sorted((CORPUS / "css").rglob("*.css")):
        urls = mapper()
        rewrite_css_bytes(p.read_bytes(), urls)
        docs.append(urls.asked)
    for p in sorted((CORPUS / "js").rglob("*.js")):
        urls = mapper()
        rewrite_js_bytes(p.read_bytes(), urls)
        docs.append(urls.asked)
    return docs


def clear_caches() -> None:
    """Empty every process-wide cache of the mapper and the label codec."""
    from rewriter import labels, urls

    for mod in (urls, labels):
        for v in vars(mod).values():
            if isinstance(v, functools._lru_cache_wrapper):
                v.cache_clear()
    clear = getattr(urls, "clear_caches", None)
    if clear is not None:
        clear()


def run(docs: list[list[str]], rounds: int) -> dict:
    from rewriter.urls import ProxyBase, UrlRewriter

    base = ProxyBase("http", "tandem.localhost:8080")
    n = sum(map(len, docs))

    def pass_(mappers: list | None) -> tuple[float, list]:
        made = mappers if mappers is not None else [UrlRewriter(base, SID, page_url=PAGE) for _ in docs]
        t0 = time.process_time()
        for urls, values in zip(made, docs):
            rewrite = urls.rewrite
            for v in values:
                rewrite(v)
        return time.process_time() - t0, made

    cold, first, repeat = [], [], []
    for _ in range(rounds):
        clear_caches()
        cold.append(pass_(None)[0])
        t, made = pass_(None)
        first.append(t)
        repeat.append(pass_(made)[0])
    heads = len({v[:80] for d in docs for v in d})
    return {"urls": n, "docs": len(docs), "distinct_prefixes": heads,
            "cold_us": min(cold) / n * 1e6, "first_us": min(first) / n * 1e6, "repeat_us": min(repeat) / n * 1e6}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.urlmap", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=7, help="passes of each kind; the best is reported (default 7)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if not (CORPUS / "pages").is_dir():
        print(f"bench.urlmap: skipped: the corpus {CORPUS.resolve()} is absent (see shared/corpus/README.md)")
        return 0
    sys.path.insert(0, str(REPO))
    docs = record()
    r = run(docs, max(1, args.rounds))
    load = os.getloadavg()
    print(f"mapper alone: {r['urls']} URLs asked over {r['docs']} documents (best of {args.rounds}, CPU time; "
          f"load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})")
    print(f"  cold (process caches emptied)     {r['cold_us']:6.2f} us/URL")
    print(f"  first sight (fresh mapper, warm)  {r['first_us']:6.2f} us/URL")
    print(f"  repeat (same mapper)              {r['repeat_us']:6.2f} us/URL")
    if args.json:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The CSS vectors as <style> elements of a streamed page: whole, split at every offset, byte by byte.
Also the issue's floor: at least 250 table vectors across HTML, CSS and JS, each run three ways."""

from __future__ import annotations

import pytest

from rewriter.css import rewrite_css
from rewriter.html import HtmlRewriter

from . import test_css as C
from . import test_html as H
from . import test_html_ext as X
from . import test_js as J

STYLE_SAFE = [v for v in C.VECTORS if "</style" not in v[1].lower()]


def _page(css_text: str) -> bytes:
    return f"<p>a</p><style>{css_text}</style><i>b</i>".encode("utf-8")


def _run(src: bytes, cuts) -> bytes:
    urls = C.make_urls()
    rw = HtmlRewriter(urls, css=lambda t: rewrite_css(t, urls))
    out, prev = [], 0
    for c in list(cuts) + [len(src)]:
        out.append(rw.feed(src[prev:c]))
        prev = c
    out.append(rw.close())
    return b"".join(out)


@pytest.mark.parametrize("source,expected", [v[1:] for v in STYLE_SAFE], ids=[v[0] for v in STYLE_SAFE])
def test_style_element_split_everywhere(source, expected):
    src, want = _page(source), _page(C._fill(expected))
    assert _run(src, []) == want
    for cut in range(1, len(src)):
        assert _run(src, [cut]) == want, f"split at {cut}"


@pytest.mark.parametrize("source,expected", [v[1:] for v in STYLE_SAFE[::6]], ids=[v[0] for v in STYLE_SAFE[::6]])
def test_style_element_byte_by_byte(source, expected):
    src = _page(source)
    assert _run(src, range(1, len(src))) == _page(C._fill(expected))


def test_at_least_250_vectors_run_three_ways():
    counts = {"html": len(H.VECTORS) + len(X.VECTORS), "css": len(STYLE_SAFE), "js": len(J.VECTORS)}
    assert sum(counts.values()) >= 250, counts
    assert len(STYLE_SAFE) >= len(C.VECTORS) - 2  # nearly every CSS vector also runs streamed

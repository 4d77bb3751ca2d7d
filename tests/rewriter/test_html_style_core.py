"""Style values edited by the core from the memo of URL heads (core._style_edit, F_CSS_URLS): with the
real CSS rewriter on the page's own mapper (rewriter/css.py's CssRewriter), a style value whose URLs
are plain url() values is rewritten without calling the CSS rewriter, exactly as the CSS rewriter
rewrites it; anything else still goes to the CSS rewriter."""

from __future__ import annotations

import random

import pytest

from rewriter import urls as urls_mod
from rewriter.css import CssRewriter, rewrite_css
from rewriter.html import HtmlRewriter
from rewriter.urls import ProxyBase, UrlRewriter
from tests.rewriter.test_html_core_scan import STYLE_PIECES, URLS

BASE = ProxyBase("http", "tandem.localhost:8080")
SID = "abcdefgh2345"


@pytest.fixture(autouse=True)
def _cold():
    urls_mod.clear_caches()
    yield
    urls_mod.clear_caches()


class _Counting(CssRewriter):
    __slots__ = ("calls",)

    def __init__(self, urls):
        super().__init__(urls)
        self.calls = []

    def __call__(self, text):
        self.calls.append(text)
        return super().__call__(text)


def _rewrite(page: bytes, css_of, chunk: int | None = None) -> tuple[bytes, object]:
    urls = UrlRewriter(BASE, SID, page_url="https://shop.example/p/")
    css = css_of(urls)
    rw = HtmlRewriter(urls, inject="", css=css)
    if chunk is None:
        out = rw.feed(page)
    else:
        out = b"".join(rw.feed(page[i: i + chunk]) for i in range(0, len(page), chunk))
    return out + rw.close(), css


PLAIN = (b'<!doctype html><html><head><title>t</title></head><body>'
         b'<div style="background-image:url(https://cdn.example/a.jpg)">a</div>'
         b"<div style='b:url( \"https://cdn.example/b.jpg\" ) no-repeat;c:url(//img.example/c.png)'>b</div>"
         b'<a href="/x" style=background:url(https://cdn.example/d.png)>d</a>'
         b'<span style="u:url(/relative.png);color:rgba(1,2,3)">e</span></body></html>')


def test_plain_url_values_are_edited_by_the_core_as_the_css_rewriter_edits_them(html_core):
    got, css = _rewrite(PLAIN, _Counting)
    want, _ = _rewrite(PLAIN, lambda urls: (lambda t: rewrite_css(t, urls)))  # not CssRewriter: the CSS rewriter reads each
    assert got == want
    assert b"https://cdn.example" not in got and b"//img.example/c.png" not in got
    # both cores' walks edit them from the memo (learning each head once): none reaches the CSS rewriter
    assert css.calls == [], css.calls


def test_what_the_core_leaves_still_reaches_the_css_rewriter(html_core):
    page = (b'<div style="content:\'url(https://cdn.example/s)\'">s</div>'
            b'<div style="b:image-set(\'https://cdn.example/i.png\' 1x)">i</div>'
            b'<div style="b:url(https://cdn.example/a.png?x=1&amp;y=2)">r</div>'
            b'<div style="/* c */b:url(https://cdn.example/c.png)">c</div>')
    got, css = _rewrite(page, _Counting)
    want, _ = _rewrite(page, lambda urls: (lambda t: rewrite_css(t, urls)))
    assert got == want
    assert len(css.calls) == 4


def test_generated_style_values_rewrite_the_same_either_way(html_core):
    rnd = random.Random(20261206)
    for _ in range(300):
        parts = []
        for _ in range(rnd.randrange(1, 6)):
            style = "".join(rnd.choice(URLS) if rnd.random() < 0.4 else rnd.choice(STYLE_PIECES)
                            for _ in range(rnd.randrange(1, 8)))
            q = rnd.choice(['"', "'"])
            parts.append(f"<div style={q}{style.replace(q, '')}{q}>x</div>")
        page = ("<html><body>" + "".join(parts) + "</body></html>").encode("latin-1")
        want, _ = _rewrite(page, lambda urls: (lambda t: rewrite_css(t, urls)))
        for chunk in (None, 7, 64):
            got, _ = _rewrite(page, CssRewriter, chunk)
            assert got == want, page

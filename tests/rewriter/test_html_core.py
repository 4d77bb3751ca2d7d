"""The compiled HTML core against its pure-Python reference (rewriter/html/core.py): the same walk,
position for position, on the corpus pages (cut anywhere) and on generated markup."""

from __future__ import annotations

import pathlib
import random
import re

import pytest
from hypothesis import given, settings, strategies as st

from rewriter.html import core

CORPUS = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "pages"
FLAGS = [0, core.F_JS | core.F_CSS | core.F_ACTIVE, core.F_CSS, core.F_JS]

needs_c = pytest.mark.skipif("c" not in core.CORES, reason="the compiled core was not built (no C compiler)")


# URL heads as HtmlRewriter._plain_url remembers them (head -> new head; False: javascript:)
MEMO = {
    "http://a.com": "http://p-a.proxy", "https://a.com": "http://p-sa.proxy", "//a.com": "http://p-a.proxy",
    "http://a": "http://p-x.proxy", "http://same": "http://same", "javascript:go()": False, "": "",
    "\x01http://a": "\x01http://p-x.proxy", "HTTP://A.COM": "http://p-a.proxy",
}


def both(buf: str, pos: int, flags: int, memo: dict | None = None) -> None:
    got = core.skip_c(buf, pos, flags, memo)
    assert got == core.skip_python(buf, pos, flags, memo), (buf[pos: pos + 200], flags, memo is not None)
    if memo is None:
        foreign = core.skip_foreign_c(buf, pos, flags)
        assert foreign == core.skip_foreign_python(buf, pos, flags), (buf[pos: pos + 200], flags, "foreign")
    if got[2]:  # edits are in order, inside the walked-over text, and only change plain URL values
        at = pos
        for a, b, text in got[2]:
            assert at <= a < b <= got[0]
            at = b


@needs_c
def test_corpus_pages_from_many_tags_cut_anywhere():
    if not CORPUS.is_dir():
        pytest.skip(f"corpus {CORPUS} is absent (see shared/corpus/README.md)")
    rnd = random.Random(7)
    for page in sorted(CORPUS.glob("*.html")):
        text = page.read_bytes().decode("latin-1")
        starts = [m.start() for m in re.finditer("<", text)]
        for i in rnd.sample(starts, min(200, len(starts))):
            # from a tag, over a window cut anywhere (so incomplete tokens at its end too)
            window = text[i: i + rnd.randrange(1, 8192)]
            both(window, 0, rnd.choice(FLAGS))
            both(window, 0, rnd.choice(FLAGS), _page_memo(window))


def _page_memo(text: str) -> dict:
    """Every plain URL head of the page remembered (half of them mapped), as a rewriter would."""
    from rewriter.html.policy import URL_HEAD_RE

    memo: dict = {}
    for k, m in enumerate(re.finditer("(?:href|src|action|poster)=[\"']?([^\"' >]*)", text)):
        head = m.group(1)[: URL_HEAD_RE.match(m.group(1)).end()]
        memo[head] = head if k % 2 else "http://mapped.example"
    return memo


_PIECES = st.sampled_from([
    "<a href=/x>", "<a HREF='http://a.com/'>", '<img src="//a.com/i" alt=x>', "<p class=x>", "</p>", "</a >",
    "<div style='color:red'>", '<div style="background:url(x)">', "<b onclick=go()>", "<i data-u='http://a'>",
    "<i data-u='&#104;ttp'>", "<i data-x=''>", "<a integrity=x>", "<link nonce=n>", "<img srcset='a 1x'>",
    "<a ping=x>", "<script>", "<svg>", "<meta charset=x>", "<!-- c -->", "<!-->", "<!--->", "<!-- --!>", "<!--",
    "<!doctype html>", "<?x>", "</>", "< p>", "<3", "<", ">", "'", '"', "=", "/", " ", "\n", "\t", "x", "&amp;",
    "<a href>", "<a href=>", "<a href= >", "<a =x>", "<a/b=c/>", "<a b='>'>", '<a b="', "<a b=c", "<A\x00b=1>",
    "<a href=\x01http://a>", "<a href=' /x'>", "<a href='/\\x'>", "<a href=a:b>", "<a href=a/b:c>", "<a href=#x>",
    "<a xlink:href=http://a>", "<x-y on=1>", "<a ONX=1>", "\xe9", "<a href=\xe9>",
    "<a href=http://a.com/x>", "<a href='https://a.com/y?z#w' class=c>", '<img src="//a.com/i.png">',
    "<a href=http://b.com/>", "<a href=http://a.com/ href=http://a.com/2>", "<a href=/r HREF=http://a.com/>",
    "<a href=javascript:go()>", "<a href=http://same/p>", "<a href=''>", '<a href="http://a.com&amp;/">',
    "<a href='http://a.com/&amp;'>", "<a href=http://a.com/\tx>", "<a href=\x01http://a/>", "<a HREF=HTTP://A.COM>",
    "<a href=http://a.com/\xe9>", "<form action=https://a.com/f>", "<a href=http://a.com/ style=color:red>",
    "<a href=http://a.com/ onclick=x()>", "<a src=http://a>",
    "<g>", "<G >", "<g/>", "<g a/>", "<g a />", "<g a=b/>", "<g a='b'/>", "<g/ />", "<g a/ >", "<path d='M0'/>",
    "<foreignObject>", "<desc>", "<mi>", "<annotation-xml encoding=text/html>", "<font color=red>", "<div>",
    "<![CDATA[x]]>", "</g>", "<svg>", "<math>", "<title>", "<g style='fill:url(#a)'>", "<use xlink:href=#a>",
])


@needs_c
@given(st.lists(_PIECES, max_size=25).map("".join), st.integers(min_value=0, max_value=400), st.sampled_from(FLAGS))
@settings(max_examples=1000, deadline=None)
def test_generated_markup(text, pos, flags):
    both(text, min(pos, len(text)), flags)
    both(text, min(pos, len(text)), flags, MEMO)


@needs_c
def test_memo_edits_plain_urls_only():
    """Remembered heads are rewritten by the core; anything else stops it where the rewriter must look."""
    text = "<p><a href='https://a.com/x?y' id=1><img src=//a.com/i.png><a href=http://new.example/>"
    for skip in (core.skip_c, core.skip_python):
        pos, tags, edits = skip(text, 0, 0, MEMO)
        assert text[pos:].startswith("<a href=http://new.example/>")  # not remembered: Python maps it
        assert tags == 3
        assert edits == [(11, 30, "'http://p-sa.proxy/x?y'"), (45, 58, "http://p-a.proxy/i.png")]
        assert skip(text, 0, 0, None) == (3, 1, None)  # without a memo: stops at the first absolute URL
        dup = "<a href=/r href=http://a.com/>"
        assert skip(dup, 0, 0, MEMO)[0] == 0  # a repeated URL attribute: the rewriter decides


def test_memo_edits_plain_http_data_values():
    """data-* values that are a whole absolute http(s) URL as written are rewritten from the memo by
    both cores; a reference, a head not remembered, or a repeated data-* name stops the walk."""
    text = '<p data-src="https://a.com/x.jpg" data-n=3><i data-u=HTTP://A.COM/y><b data-v="http://a.com/&amp;">'
    cores = [core.skip_python] + ([core.skip_c] if "c" in core.CORES else [])
    for skip in cores:
        pos, tags, edits = skip(text, 0, 0, MEMO)
        assert text[pos:].startswith("<b data-v=")  # a character reference: the rewriter decodes it
        assert tags == 2
        a, u = text.index('"https://a.com/x.jpg"'), text.index("HTTP://A.COM/y")
        assert edits == [(a, a + 21, '"http://p-sa.proxy/x.jpg"'), (u, u + 14, "http://p-a.proxy/y")]
        assert skip('<p data-x="https://new.example/">', 0, 0, MEMO)[0] == 0  # not remembered
        assert skip('<p data-x=a data-X="http://a.com/">', 0, 0, MEMO)[0] == 0  # the first wins: Python
        assert skip('<p data-x="http://a.com/">', 0, 0, None)[0] == 0  # no memo: Python maps it


def test_rewriter_maps_data_values_as_the_core_does():
    """The rewriter's own path for such a value fills the memo and gives the core's edit."""
    from rewriter.html import rewrite_html
    from rewriter.urls import ProxyBase, UrlRewriter

    page = b'<p data-a="https://a.com/1.jpg"></p><p data-a="https://a.com/2.jpg" data-a="https://a.com/3"></p>'
    outs = set()
    for name in core.CORES:
        previous = core.NAME
        core.use(name)
        try:
            urls = UrlRewriter(ProxyBase("http", "t.localhost:8080"), "abcdefgh2345", page_url="https://x.com/")
            outs.add(rewrite_html(page, urls))
        finally:
            core.use(previous)
    assert len(outs) == 1
    out = outs.pop()
    assert out.count(b"t.localhost:8080/1.jpg") == 1 and out.count(b"t.localhost:8080/2.jpg") == 1
    assert b'data-a="https://a.com/3"' in out  # a repeated attribute is left as it is


@needs_c
def test_foreign_walk_opens_plain_elements_only():
    """In SVG the core walks over start tags that only open another element, and names them."""
    text = "<g><path d='M0 0'/><g A=1>t<!-- c --><G></g><g>"
    for walk in (core.skip_foreign_c, core.skip_foreign_python):
        assert walk(text, 0, 0) == (text.index("</g>"), 4, ["g", "g", "g"])
        assert walk("<g><desc>", 0, 0) == (3, 1, ["g"])  # an integration point: the tree builder decides
        assert walk("<g><p>", 0, 0) == (3, 1, ["g"])  # a breakout tag leaves foreign content
        assert walk("<g><a href=http://a.com/>", 0, 0) == (3, 1, ["g"])  # a URL to map: the rewriter maps it
        assert walk("<g><![CDATA[<x>]]>", 0, 0) == (3, 1, ["g"])


def test_no_named_reference_reads_as_h():
    """Both cores and the rewriter leave data-* values starting with "&" and a letter alone: no named
    character reference decodes to text starting with "h", so such a value is never an http URL."""
    from html.entities import html5

    assert not any(text[:1] in "hH" for text in html5.values())
    for walk in core.CORES.values():
        assert walk("<i data-x='&quot;{}&quot;'><b>", 0, core.F_JS, None) == (len("<i data-x='&quot;{}&quot;'><b>"), 2, None)
        assert walk("<i data-x='&#104;ttp://a/'>", 0, 0, None)[0] == 0


def test_describe_names_the_core():
    assert core.describe().startswith("HTML core: ")
    assert ("compiled" in core.describe()) == (core.NAME == "c")


# --- character references: _core.decode_refs against entities.decode_refs_python ---------------

_REF_PIECES = st.sampled_from([
    "&", "&amp;", "&quot;", "&quot", "&amp", "&ampx", "&amp=", "&notin;", "&notit;", "&not", "&noti",
    "&nGt;", "&#", "&#x", "&#X41;", "&#x41", "&#65", "&#0;", "&#x80;", "&#x81;", "&#150;", "&#xD800;",
    "&#x110000;", "&#0000000065;", "&#x000000000041;", "&#99999999999;", "&lt", "&lt;", "&LT", "&GT;",
    "&eacute", "&eacute;", "&Eacute;x", "&copy=", "&copy2", "&zzzz;", ";", "=", "a", "Z", "9", "#", "x",
    "\0", "\u00e9", "\u30b0", "\U0001f600", " ", '"', "'",
])


def _decoders_agree(raw: str) -> None:
    from rewriter.html import entities

    for want in (False, True):
        assert core.DECODERS["c"](raw, want) == entities.decode_refs_python(raw, want), (raw, want)


@needs_c
@given(st.lists(_REF_PIECES, max_size=30).map("".join))
@settings(max_examples=2000, deadline=None)
def test_compiled_reference_decoder_matches_the_reference(raw):
    _decoders_agree(raw)


@needs_c
def test_compiled_reference_decoder_on_corpus_values():
    from rewriter.html.tokenizer import ATTR_RE

    if not CORPUS.is_dir():
        pytest.skip("corpus not present (../shared/corpus)")
    seen = 0
    for path in sorted(CORPUS.glob("*.html")):
        text = path.read_bytes().decode("latin-1")
        for m in re.finditer(r"=\s*(\"[^\"]*&[^\"]*\"|'[^']*&[^']*')", text):
            _decoders_agree(m.group(1)[1:-1])
            seen += 1
    assert seen > 1000

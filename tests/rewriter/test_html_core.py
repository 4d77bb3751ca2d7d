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
FLAGS = [0, core.F_JS | core.F_CSS | core.F_ACTIVE, core.F_CSS, core.F_JS,
         core.F_JS | core.F_CSS | core.F_ACTIVE | core.F_JS_WORDS | core.F_UTF8 | core.F_RAW_WALK,
         core.F_JS | core.F_CSS | core.F_ACTIVE | core.F_JS_WORDS | core.F_RAW_WALK | core.F_KEEP_NONCE,
         core.F_JS | core.F_CSS | core.F_ACTIVE | core.F_JS_WORDS | core.F_UTF8 | core.F_RAW_WALK | core.F_CSS_URLS,
         core.F_CSS | core.F_CSS_URLS,
         core.F_JS | core.F_CSS | core.F_ACTIVE | core.F_JS_WORDS | core.F_UTF8 | core.F_CSS_URLS | core.F_CODEC_LOCKED]

needs_c = pytest.mark.skipif("c" not in core.CORES, reason="the compiled core was not built (no C compiler)")


# URL heads as HtmlRewriter._plain_url remembers them (head -> new head; False: javascript:)
MEMO = {
    "http://a.com": "http://p-a.proxy", "https://a.com": "http://p-sa.proxy", "//a.com": "http://p-a.proxy",
    "http://a": "http://p-x.proxy", "http://same": "http://same", "javascript:go()": False, "": "",
    "\x01http://a": "\x01http://p-x.proxy", "HTTP://A.COM": "http://p-a.proxy",
}


def both(buf: str, pos: int, flags: int, memo: dict | None = None) -> None:
    """The compiled walk gives what the reference gives."""
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
    if memo is not None:  # heads the memo lacks learnt on the way: the same calls, the same walk
        walks = []
        for skip in (core.skip_c, core.skip_python):
            mine, calls = dict(memo), []
            walks.append((skip(buf, pos, flags, mine, _learner(mine, calls)), calls, mine))
        assert walks[0] == walks[1], (buf[pos: pos + 200], flags)


def _learner(memo: dict, calls: list):
    """A learn(url, head_end) that fills ``memo`` as a mapper might (mapped, kept, refused) and logs its calls."""
    def learn(url: str, end: int) -> None:
        calls.append((url, end))
        head = url[:end]
        memo[head] = False if "javascript" in head.lower() else head if len(head) % 3 == 0 else "http://l.proxy"
    return learn


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
    "<meta name=a content=b>", "<meta http-equiv=refresh content='0;url=http://a.com/'>", "<META CharSet=x>",
    "</title>", "</TITLE >", "<noscript>", "</noscript>", "<textarea>", "</textarea/>", "<iframe src=/f>",
    "<iframe srcdoc=x>", "</iframe>", "<xmp>", "</xmp", "<script>", "<script src=/s.js>", "</script>",
    "</SCRIPT\t", "<script src=http://a.com/s.js></script>", "<style>", "</style>", "<base href=/>",
    "<img srcset='/a.jpg 1x, http://a.com/b.jpg 2x'>", "<img srcset=http://a.com/a,http://a.com/b>",
    "<img srcset='http://a.com/b?x&amp;y 1x, /c?d&amp;e 2x'>", "<img srcset='http://a.com/b&amp 1x'>",
    "<img srcset='http://a.com&amp;.x/ 1x'>", "<img srcset='http://a.com/&#44;http://a.com/ 1x'>",
    "<i data-u='http://a.com/?x&amp;y'>", "<i data-u='http://a.com/?x&amp'>", "<i data-u='http://a.com&amp;/'>",
    "<img srcset='http://a.com/a 1x,  //a.com/b (x,y), http://same/c'>", "<img srcset='http://new.example/a'>",
    "<img srcset=' , ,'>", "<img srcset='http://a.com/&amp; 1x'>", "<img srcset=>", "<img srcset>",
    "<link imagesrcset='http://a.com/a 1x' srcset=/b>", "<img srcset=/a srcset=http://a.com/b>",
    "<div style='color:rgb(1,2,3)'>", "<div style='background:URL(x)'>", "<div style='font:&quot;A&quot;'>",
    "<div style='x:src(a)'>", "<div style='x:-webkit-image-set(a)'>", "<div style='&lpar;'>", "<div style='\\75rl(x)'>",
    "<div style=width:calc(1px+2%)>", "<i data-x='http://a b'>", "<i data-x=\"http://a.com/\xe9\">",
    "<i data-x=https://>", "<i data-x='HTTPS://a.com/\x00'>", "<svg/>", "</svg>", "</math>", "</G>", "<svg a=b/ >", "<math>", "<div style=>",
    "<script type=module>", "<script type='text/plain'>", "<script type=importmap>", "<script language=x>",
    "<script type=&#116;>", "<!--<script>", "-->", "import", "location", "a()", "<style>", "p{color:red}",
    "url(x)", "@import", "<b onclick='go()'>", "<b onclick=location>", "<b onclick='&#108;'>", "<i nonce=x>",
    "<title>", "</title>", "<desc>t</desc>", "<mi>", "</mi>", "<mo>x</mo>", "<foreignObject>", "<annotation-xml>",
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
        pos, tags, edits, urls = skip(text, 0, 0, MEMO)
        assert text[pos:].startswith("<a href=http://new.example/>")  # not remembered: Python maps it
        assert tags == 3 and urls == 2
        assert edits == [(11, 30, "'http://p-sa.proxy/x?y'"), (45, 58, "http://p-a.proxy/i.png")]
        assert skip(text, 0, 0, None) == (3, 1, None, 0)  # without a memo: stops at the first absolute URL
        dup = "<a href=/r href=http://a.com/>"
        assert skip(dup, 0, 0, MEMO)[0] == 0  # a repeated URL attribute: the rewriter decides


def test_memo_edits_plain_http_data_values():
    """data-* values that are a whole absolute http(s) URL as written are rewritten from the memo by
    both cores, "&amp;" in the tail kept as written; any other reference, one in the head, a head
    not remembered, or a repeated data-* name stops the walk."""
    text = ('<p data-src="https://a.com/x.jpg" data-n=3><i data-u=HTTP://A.COM/y><b data-v="http://a.com/?a&amp;b">'
            '<s data-w="http://a.com/&#38;">')
    cores = [core.skip_python] + ([core.skip_c] if "c" in core.CORES else [])
    for skip in cores:
        pos, tags, edits, _ = skip(text, 0, 0, MEMO)
        assert text[pos:].startswith("<s data-w=")  # a reference other than "&amp;": the rewriter decodes it
        assert tags == 3
        a, u = text.index('"https://a.com/x.jpg"'), text.index("HTTP://A.COM/y")
        v = text.index('"http://a.com/?a&amp;b"')
        assert edits == [(a, a + 21, '"http://p-sa.proxy/x.jpg"'), (u, u + 14, "http://p-a.proxy/y"),
                         (v, v + 23, '"http://p-a.proxy/?a&amp;b"')]
        assert skip('<p data-x="http://a.com&amp;.evil/">', 0, 0, MEMO)[0] == 0  # in the head: Python
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
        assert walk("<i data-x='&quot;{}&quot;'><b>", 0, core.F_JS, None) == (len("<i data-x='&quot;{}&quot;'><b>"), 2, None, 0)
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
    # the compiled decoder's own names (COMMON_REFS) and characters either side of its 1-byte path
    "&nbsp;", "&nbsp", "&copy;", "&reg;", "&apos;", "&apos", "&quot;x", "&#xFF;", "&#x100;", "&#255", "&#256;",
    "&hellip;", "&mdash;",
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


# --- start tags the core walks over since 2026-12-05 (issue 14) ---------------------------------------

CORES = [core.skip_python] + ([core.skip_c] if "c" in core.CORES else [])
ALL = core.F_JS | core.F_CSS | core.F_ACTIVE


@pytest.mark.parametrize("skip", CORES)
def test_meta_and_raw_text_elements_are_walked_over(skip):
    """A <meta> that declares nothing (no http-equiv, no charset) changes nothing, and the text of
    title, textarea, noscript, noembed, noframes, xmp and an iframe without srcdoc is passed
    through: the core walks over them to their end tag."""
    text = ("<meta name=viewport content='width=1'><title>a<b>c</title><noscript><img src=http://x.com/>"
            "</noscript ><textarea>&lt;</TEXTAREA/><iframe src=/f>x</iframe><p>")
    assert skip(text, 0, ALL, MEMO)[:2] == (len(text), 6)
    for stop in ("<meta http-equiv=refresh content='0;url=http://a.com/'>", "<meta charset=utf-8>",
                 "<META HTTP-EQUIV=Content-Security-Policy content=x>", "<title>no end in this chunk",
                 "<title>x</titl", "<iframe srcdoc='<p>'></iframe>", "<style>p{}</style>", "<svg><desc>x<b></desc></svg>",
                 "<base href=/>", "<object data=http://a.com/></object>", "<plaintext>"):
        assert skip("<p>" + stop, 0, ALL, MEMO)[:2] == (3, 1), stop


@pytest.mark.parametrize("skip", CORES)
def test_scripts_without_text_are_walked_over(skip):
    """A <script> whose end tag follows at once has nothing to rewrite: walked over, its src mapped
    from the memo; one with text (or not yet ended in the buffer) stops the walk."""
    text = "<script src=/a.js></script><script async src=https://a.com/b.js></SCRIPT ><p>"
    pos, tags, edits, urls = skip(text, 0, ALL, MEMO)
    assert (pos, tags, urls) == (len(text), 3, 1)
    assert edits == [(text.index("https://a.com"), text.index("></SCRIPT"), "http://p-sa.proxy/b.js")]
    for stop in ("<script>x()</script>", "<script src=/a.js> </script>", "<script src=/a.js></script",
                 "<script src=/a.js></scriptx>", "<script integrity=sha256-x src=/a.js></script>"):
        assert skip("<p>" + stop, 0, ALL, MEMO)[:2] == (3, 1), stop


@pytest.mark.parametrize("skip", CORES)
def test_style_values_without_a_url_function_are_walked_over(skip):
    for plain in ("color:rgb(1,2,3);width:calc(1px + 2%)", "font-family:&quot;A B&quot;, &#39;C&#39;",
                  "transform:translate(1px)", "a:b&amp;c"):
        assert skip(f"<p style='{plain}'><b>", 0, ALL, MEMO)[:2] == (len(plain) + 15, 2), plain
    for wanted in ("background:URL(x)", "x:src(a)", "x:-webkit-image-set('a' 1x)", "x:image-set(a)",
                   "@import 'x'", "\\75rl(x)", "&lpar;", "&#40;", "font:caf\xe9", "a:&quot"):
        assert skip(f"<p style='{wanted}'>", 0, ALL, MEMO)[:2] == (0, 0), wanted
    assert skip("<p style='background:url(x)'>", 0, 0, MEMO)[:2] == (len("<p style='background:url(x)'>"), 1)


@pytest.mark.parametrize("skip", CORES)
def test_srcset_edits_from_the_memo(skip):
    """srcset values whose URLs are relative or plain with a remembered head are rewritten by the
    core (one edit for the value, as the rewriter makes it, and the number of URLs it maps)."""
    text = "<img srcset='/a.jpg 1x, https://a.com/b.jpg 2x, //a.com/c (x,y), http://same/d' src=/e><p>"
    pos, tags, edits, urls = skip(text, 0, ALL, MEMO)
    assert (pos, tags, urls) == (len(text), 2, 2)
    vs = text.index("'")
    assert edits == [(vs, text.index(" src="),
                      "'/a.jpg 1x, http://p-sa.proxy/b.jpg 2x, http://p-a.proxy/c (x,y), http://same/d'")]
    unquoted = "<source srcset=http://a.com/a,http://a.com/b>"  # one URL: a comma ends one only before whitespace
    assert skip(unquoted, 0, ALL, MEMO)[2:] == ([(15, 44, "http://p-a.proxy/a,http://a.com/b")], 1)
    assert skip("<img srcset='/a 1x, b.jpg'>", 0, ALL, MEMO) == (27, 1, None, 0)
    amp = "<img srcset='http://a.com/x?a=1&amp;b=2 1x, /y?c&amp;d 2x'>"  # "&amp;" outside the heads: kept
    assert skip(amp, 0, ALL, MEMO)[2:] == ([(12, len(amp) - 1, "'http://p-a.proxy/x?a=1&amp;b=2 1x, /y?c&amp;d 2x'")], 1)
    for stop in ("<img srcset='http://new.example/a'>", "<img srcset='http://a.com/&#38; 1x'>",
                 "<img srcset='http://a.com/x&amp;&#44;http://b.com/ 1x'>", "<img srcset='http://a&amp;.com/ 1x'>",
                 "<img srcset=/a srcset=/b>", "<img srcset='javascript:go()'>", "<img srcset='/\xe9'>"):
        assert skip(stop, 0, ALL, MEMO)[:2] == (0, 0), stop
    assert skip("<img srcset=/a>", 0, ALL, None)[:2] == (0, 0)  # no memo: the rewriter maps it
    weird = dict(MEMO, **{"http://q": "http://x&y", "http://r": "http://x y"})
    assert skip("<img srcset='http://q/'>", 0, ALL, weird)[:2] == (0, 0)  # would be escaped
    assert skip("<img srcset=http://r/>", 0, ALL, weird)[:2] == (0, 0)  # would need quotes
    assert skip("<img srcset='http://r/'>", 0, ALL, weird)[2] == [(12, 23, "'http://x y/'")]


@pytest.mark.parametrize("skip", CORES)
def test_data_values_that_are_not_whole_urls_are_walked_over(skip):
    """A data-* value starting "http" that is not a whole absolute URL as written is never rewritten."""
    text = "<i data-a='http://a b' data-b=\"https://\" data-c=http data-d='http://x.example/'>"
    assert skip(text, 0, 0, None)[:2] == (0, 0)  # data-d: a URL to map (no memo: the rewriter maps it)
    assert skip(text[: text.index(" data-d")] + ">", 0, 0, None)[:2] == (text.index(" data-d") + 1, 1)


def _rewrite_each_way(page: bytes) -> set:
    """(output, stats, URLs mapped, URLs refused) from each core, and from the rewriter alone (no memo for the core)."""
    from rewriter.html import HtmlRewriter
    from rewriter.urls import ProxyBase, UrlRewriter

    got = set()
    previous = core.NAME
    try:
        for name in core.CORES:
            for memo in (True, False):
                core.use(name)
                urls = UrlRewriter(ProxyBase("http", "t.localhost:8080"), "abcdefgh2345", page_url="https://x.com/")
                rw = HtmlRewriter(urls, css=lambda t: t, js=lambda t: t)
                if not memo:
                    rw._core_memo = lambda: None
                out = rw.feed(page) + rw.close()
                got.add((out, tuple(sorted(rw.stats.items())), urls.rewritten, urls.invalid))
    finally:
        core.use(previous)
    return got


def test_rewriter_counts_as_the_core_edits():
    """Pages whose srcset, script and meta tags the core walks over: the same output and counts
    (attributes rewritten, URLs mapped, URLs refused) from both cores and from the rewriter alone."""
    page = (b"<head><meta charset=utf-8><title>t</title></head><p><img src=https://a.com/1.jpg "
            b"srcset='https://a.com/1.jpg 1x, https://b.com/2.jpg 2x'><img srcset='https://b.com/3.jpg 1x, "
            b"https://a.com/4.jpg 2x, /5.jpg 3x'><script src=https://a.com/s.js></script><meta name=x content=y>"
            b"<a href=http://a.com:99999/x>1</a><a href=http://a.com:99999/y>2</a>"
            b"<img srcset='http://a.com:99999/z 1x'><img srcset='http://a.com:99999/z 1x'>")
    got = _rewrite_each_way(page)
    assert len(got) == 1, got
    out, stats, mapped, refused = got.pop()
    assert out.count(b"t.localhost:8080/") == 6 and mapped == 6
    assert refused == 4  # a head the mapper refuses is counted at each use, as for any other URL


@needs_c
@given(st.lists(_PIECES, max_size=25).map("".join))
@settings(max_examples=300, deadline=None)
def test_generated_pages_rewrite_the_same_each_way(text):
    got = _rewrite_each_way(("<p>" + text).encode("latin-1"))
    assert len(got) == 1


_CSS_PIECES = st.sampled_from([
    "color:red", ";", " ", "rgb(1,2,3)", "calc(1px + 2px)", "url(", "URL(", "uRl (", "src(", "image-set(",
    "-webkit-image-set(", ")", "'", '"', "&quot;", "&amp;", "&#39;", "&#x22;", "&lpar;", "&#40;", "&", "@",
    "@import", "\\", "\\75rl(", "\\41", "/*", "*/", "http://a.com/x", "//a.com/y", "x", "u", "rl", "(",
    "myurl(", "a-src(", "image", "-set(", "\n", "\xe9", "font-family", ":", "{", "}",
])


@given(st.lists(_CSS_PIECES, max_size=20).map("".join))
@settings(max_examples=2000, deadline=None)
def test_style_values_left_alone_have_no_url(raw):
    """core.style_wanted is False only where the CSS rewriter changes nothing (rewriter/css.py)."""
    from rewriter.css import rewrite_css
    from rewriter.html.entities import decode_attr_value
    from rewriter.urls import ProxyBase, UrlRewriter

    if core.style_wanted(raw):
        return
    value = decode_attr_value(raw, False)[0]
    urls = UrlRewriter(ProxyBase("http", "t.localhost:8080"), "abcdefgh2345", page_url="https://x.com/")
    assert rewrite_css(value, urls) == value


@pytest.mark.parametrize("skip", CORES)
def test_svg_and_math_subtrees_are_walked_over(skip):
    """An <svg> or <math> whose contents need nothing but the simulator's stack of element names
    (foreign start tags, end tags closing the innermost open element of their name, text, comments)
    is walked over whole, to the end tag that closes it, plain URLs edited from the memo."""
    text = ("<svg viewBox='0 0 1 1'><g><path d='M0'/><G>x<!-- c --></g></p><use href=https://a.com/i#x /></g></SVG>"
            "<math><mrow><mn2>1</mn2></mrow></math><svg/><p>")
    pos, tags, edits, urls = skip(text, 0, ALL, MEMO)
    assert (pos, tags, urls) == (len(text), 10, 1)
    assert edits == [(text.index("https"), text.index(" />"), "http://p-sa.proxy/i#x")]
    for stop in ("<svg><desc><b>x</b></desc></svg>", "<svg><g><p>x</g></svg>", "<svg><![CDATA[x]]></svg>",
                 "<svg><style>x</style></svg>", "<svg><g></svg", "<svg><g>", "<math><mi>x<mo>y</mo></mi></math>",
                 "<svg><title/>x</svg>", "<svg><title>x</titl", "<svg><title>x</desc></svg>", "<math><title>x</title></math>",
                 "<svg><mi>x</mi></svg>", "<svg><title href=http://new.example/>x</title></svg>",
                 "<svg><image href=http://new.example/x /></svg>", "<svg><font color=red></svg>",
                 "<svg>" + "<g>" * 64 + "</svg>"):
        assert skip("<p>" + stop, 0, ALL, MEMO)[:2] == (3, 1), stop
    deep = "<svg>" + "<g>" * 63 + "</g>" * 63 + "</svg>"
    assert skip(deep, 0, ALL, MEMO)[:2] == (len(deep), 64)
    # an integration point holding only text, closed by its own end tag, changes nothing on the stack
    points = ("<svg><title lang=en>A &amp; b</TITLE ><g><desc>d</desc><foreignObject>f</foreignobject></g></svg>"
              "<math><mi>x</mi><mo>+</mo><mtext>t</mtext></math><p>")
    assert skip(points, 0, ALL, MEMO)[:2] == (len(points), 10)


@pytest.mark.parametrize("skip", CORES)
def test_heads_the_memo_lacks_are_learnt(skip):
    """With ``learn``, a head the memo lacks does not stop the walk: learn(url, head_end) is asked
    once (it fills the memo) and the walk goes on from its answer; False (a javascript: URL, a
    refused head) still stops it; an error in learn is the caller's."""
    memo, calls = {}, []
    text = ("<a href=https://n.example/1><img srcset='https://n.example/2 1x, https://m.example/3 2x'>"
            "<a href=https://n.example/4><a href=javascript:go()><p>")
    pos, tags, edits, urls = skip(text, 0, ALL, memo, _learner(memo, calls))
    assert text[pos:].startswith("<a href=javascript:") and tags == 3 and urls == 4
    assert calls == [("https://n.example/1", 17), ("https://m.example/3", 17), ("javascript:go()", 15)]
    assert [t for _, _, t in edits] == ["http://l.proxy/1", "'http://l.proxy/2 1x, http://l.proxy/3 2x'",
                                        "http://l.proxy/4"]
    assert skip(text, 0, ALL, None, _learner({}, calls))[:2] == (0, 0)  # no memo: nothing to learn into

    def broken(url, end):
        raise ZeroDivisionError
    with pytest.raises(ZeroDivisionError):
        skip("<p><a href=https://x.example/>", 0, ALL, {}, broken)


# --- script and style text, handlers and nonces the core walks over (issue 14, second pass) ------------

WORDS = ALL | core.F_JS_WORDS | core.F_UTF8 | core.F_RAW_WALK


@pytest.mark.parametrize("skip", CORES)
def test_scripts_without_the_js_words_are_walked_over(skip):
    """With the real JS rewriter (F_JS_WORDS), a classic or module script whose text holds none of
    its trigger words is passed through unchanged: the core walks over it to its end tag, through
    the escaped states of script data. So does any data block; an import map, speculation rules,
    a word, a reference in its type, text past the buffer or (not UTF-8) past ASCII stop it."""
    walked = ["<script>var a = 1; f('</scrip');</script>", "<script type=module>a()</script>",
              "<script type=' Text/JavaScript '>b()</script>", "<script language=javascript1.5>c</script>",
              "<script type>d</script>", "<script type='' language=vbscript>e</script>",
              "<script><!--<script>x</script>y--></script>", "<script><!-- a --></script>",
              "<script><!--<script></script>--></script>", "<script>\xe9\xe8</script>",
              "<script type=application/ld+json>{\"u\": \"import https://a.com/\"}</script>",
              "<script type=text/template><a href=http://a.com/>location</a></script>",
              "<script language=' javascript'>import('x')</script>"]  # "text/ javascript": a data block
    for text in walked:
        assert skip(text + "<p>", 0, WORDS, MEMO)[:2] == (len(text) + 3, 2), text
    stops = ["<script>import('https://a.com/x')</script>", "<script>Array.from(x)</script>",
             "<script>location.host</script>", "<script type=importmap>{}</script>",
             "<script type=speculationrules>{}</script>", "<script type='&#116;ext/plain'>x</script>",
             "<script type='text/plain\x00'>x</script>", "<script>a()", "<script>a()</script",
             "<script><!--<script></script>x</script", "<script><!--<script></script>x"]
    for text in stops:
        assert skip("<p>" + text, 0, WORDS, MEMO)[:2] == (3, 1), text
    assert skip("<p><script>\xe9</script>", 0, WORDS & ~core.F_UTF8, MEMO)[:2] == (3, 1)
    assert skip("<p><script>a()</script>", 0, ALL, MEMO)[:2] == (3, 1)  # not the real JS rewriter
    assert skip("<p><script>a()</script>", 0, WORDS & ~core.F_RAW_WALK, MEMO)[:2] == (3, 1)  # a tight budget
    text = "<script>import('https://a.com/x')</script>"
    assert skip(text, 0, 0, MEMO)[:2] == (len(text), 1)  # no JS rewriter: passed through


@pytest.mark.parametrize("skip", CORES)
def test_style_elements_without_a_url_function_are_walked_over(skip):
    """<style> text with no url(), src(), image-set(), @import or backslash has no URL: walked over."""
    for plain in ("p{color:red}", "@media (min-width:1px){a{transform:rotate(1deg)}}", "a{b:c}/* <p> */",
                  "@font-face{font-family:x}", "\xe9{}"):
        text = f"<style>{plain}</style>"
        assert skip(text + "<p>", 0, WORDS, MEMO)[:2] == (len(text) + 3, 2), plain
    for wanted in ("a{background:URL(x)}", "@IMPORT 'x';", "a{b:-webkit-image-set('a' 1x)}", "a{b:src(x)}",
                   "a{b:\\75rl(x)}", "p{}"):
        text = f"<p><style>{wanted}</style>" if wanted != "p{}" else "<p><style>p{}</styl"
        assert skip(text, 0, WORDS, MEMO)[:2] == (3, 1), wanted
    text = "<style>a{background:url(http://a.com/x)}</style>"
    assert skip(text, 0, WORDS & ~core.F_CSS, MEMO)[:2] == (len(text), 1)  # no CSS rewriter
    assert skip("<p><style>p{}</style>", 0, WORDS & ~core.F_RAW_WALK, MEMO)[:2] == (3, 1)


@pytest.mark.parametrize("skip", CORES)
def test_handlers_without_the_js_words_and_kept_nonces_are_walked_over(skip):
    """A handler attribute without the JS rewriter's words (nor a reference that could spell one)
    stays as it is; so does a nonce while the page's CSP is kept (F_KEEP_NONCE)."""
    text = "<b onclick='go(1)' onload onx='' nonce=abc>"
    assert skip(text, 0, WORDS, MEMO)[:2] == (0, 0)  # the nonce is dropped
    assert skip(text, 0, WORDS | core.F_KEEP_NONCE, MEMO)[:2] == (len(text), 1)
    assert skip(text, 0, (ALL | core.F_KEEP_NONCE), MEMO)[:2] == (0, 0)  # not the real JS rewriter
    for stop in ("<b onclick='location.reload()'>", "<b onclick='&#108;ocation.reload()'>",
                 "<b onclick=x onclick=import('a')>", "<b integrity=x>"):
        assert skip(stop, 0, WORDS | core.F_KEEP_NONCE, MEMO)[:2] == (0, 0), stop


def test_the_js_words_are_the_js_rewriters():
    """The core's words are the ones rewriter/js.py checks: a text with none of them passes it."""
    from rewriter import js
    from rewriter.urls import ProxyBase, UrlRewriter

    assert js.JsRewriter.trigger_words == core.JS_TRIGGER_WORDS == js.TRIGGER_WORDS
    urls = UrlRewriter(ProxyBase("http", "t.localhost:8080"), "abcdefgh2345", page_url="https://x.com/")
    for word in core.JS_TRIGGER_WORDS:
        assert js._has_trigger(f"a {word} b") and js._has_trigger(f"a {word} b".encode())
    assert not js._has_trigger("Import From Location")
    text = 'var s = "https://a.com/x.js"; fetch(s); window.top.Location'
    assert js.JsRewriter(urls)(text) == text


_CSS_TEXT_PIECES = st.sampled_from([
    "a", "{", "}", ":", ";", " ", "\n", "(", ")", "url", "URL", "src", "image-set", "-webkit-", "@",
    "@import", "@media", "@namespace", "\\", "'", '"', "http://a.com/x", "//a.com/y", "/*", "*/", "u", "rl",
    "i", "mport", "\xe9", "calc(1px)", "image", "-set",
])


@given(st.lists(_CSS_TEXT_PIECES, max_size=20).map("".join))
@settings(max_examples=2000, deadline=None)
def test_style_text_left_alone_has_no_url(raw):
    """core.css_text_wanted is False only where the CSS rewriter changes nothing (rewriter/css.py)."""
    from rewriter.css import rewrite_css
    from rewriter.urls import ProxyBase, UrlRewriter

    if core.css_text_wanted(raw):
        return
    urls = UrlRewriter(ProxyBase("http", "t.localhost:8080"), "abcdefgh2345", page_url="https://x.com/")
    assert rewrite_css(raw, urls) == raw


_REAL_PIECES = st.sampled_from([
    "<script>", "</script>", "<script type=module>", "<script type=importmap>", "<script type=text/x-tmpl>",
    "<script language=vbscript>", "<!--", "-->", "<script >", "</SCRIPT>", "import('https://a.com/m.js')",
    "import x from 'https://a.com/y.js';", "location.href", "a()", "var u='https://a.com/'", "\xe9", "<style>",
    "</style>", "p{color:red}", "a{background:url(http://a.com/i.png)}", "@import 'http://a.com/s.css';",
    "@media x{}", "<b onclick='go()'>", "<b onclick='location.reload()'>", "<b onclick='&#108;ocation'>",
    "<i nonce=n>", "<a href=http://a.com/>", "<a href='javascript:location.href'>", "<p>", " ", "x",
])


def _rewrite_real_each_way(page: bytes, chunk: int) -> set:
    """Output and counts of the rewriter as the proxy configures it (real JS and CSS rewriters, CSP
    and SRI hooks), from each core, whole and in chunks."""
    from rewriter.css import rewrite_css
    from rewriter.html import HtmlRewriter
    from rewriter.js import js_rewriter
    from rewriter.urls import ProxyBase, UrlRewriter, sri_marker

    got = set()
    previous = core.NAME
    try:
        for name in core.CORES:
            for size in (len(page) or 1, chunk):
                core.use(name)
                urls = UrlRewriter(ProxyBase("http", "t.localhost:8080"), "abcdefgh2345", page_url="https://x.com/")
                rw = HtmlRewriter(urls, css=lambda t: rewrite_css(t, urls), js=js_rewriter(urls))
                rw.csp, rw.sri = (lambda policy: policy + "; x"), sri_marker
                out = b"".join(rw.feed(page[i: i + size]) for i in range(0, len(page), size)) + rw.close()
                got.add((out, tuple(sorted(rw.stats.items())), urls.rewritten, urls.invalid))
    finally:
        core.use(previous)
    return got


@needs_c
@given(st.lists(_REAL_PIECES, max_size=25).map("".join), st.integers(min_value=1, max_value=40))
@settings(max_examples=300, deadline=None)
def test_generated_pages_with_the_real_rewriters_rewrite_the_same_each_way(text, chunk):
    assert len(_rewrite_real_each_way(("<head></head><p>" + text).encode("latin-1"), chunk)) == 1


@pytest.mark.parametrize("skip", CORES)
def test_javascript_urls_and_referenced_values_the_rewriters_leave_are_walked_over(skip):
    """A javascript: URL whose script has none of the JS rewriter's words (and no "%" or reference
    that could spell one), a handler whose references read as no letter, and a data-* value starting
    with a numeric reference that does not read as "h" change nothing: walked over."""
    text = ("<a href='javascript:void(0)'>x</a><a href=' JavaScript:go(1)' onclick='f(&apos;a&apos;, &#x30AB;)'>"
            "<i data-label='&#x30AE;&#x30D5;' data-x='&#72;'><p>")
    # data-x: "&#72;" reads "H": the rewriter decodes it (not a URL as written)
    assert skip(text, 0, WORDS, MEMO)[:2] == (text.index("<i "), 2)
    text = text.replace(" data-x='&#72;'", "")
    assert skip(text, 0, WORDS, MEMO)[:2] == (len(text), 4)
    for stop in ("<a href='javascript:location.reload()'>", "<a href='javascript:%6Cocation'>",
                 "<a href='javascript:&#108;ocation'>", "<a href=javascript:x onclick='&#x6C;ocation'>",
                 "<b onclick='&fjlig;'>", "<i data-u='&#x68;ttp://a.com/'>", "<i data-u='&#;'>"):
        assert skip(stop, 0, WORDS, MEMO)[:2] == (0, 0), stop
    assert skip("<a href='javascript:a()'>", 0, ALL, MEMO)[:2] == (0, 0)  # not the real JS rewriter
    assert skip("<a href='javascript:a()'><p>", 0, core.F_CSS, MEMO)[:2] == (28, 2)  # no JS rewriter: stays


_HANDLER_PIECES = st.sampled_from([
    "a", "(", ")", "'", " ", ";", "&", "#", "x", "6", "C", "c", "l", "o", "&amp;", "&apos;", "&quot;", "&#108;",
    "&#x6C;", "&#X6c", "&#0000108;", "&#x30AB;", "&#99999999999;", "&fjlig;", "&fj", "location", "ocation", "imp",
    "ort", "import", "from", "f", "rom", "export", "postMessage", "&lt;", "&nbsp", "&#", "&#x", ".", "href",
])


@given(st.lists(_HANDLER_PIECES, max_size=16).map("".join))
@settings(max_examples=2000, deadline=None)
def test_handlers_left_alone_are_left_by_the_js_rewriter(raw):
    """Where the core says a handler value (as written) needs no look, the JS rewriter leaves its
    decoded text as it is; the compiled and reference cores agree on every value."""
    from rewriter.html.entities import decode_attr_value
    from rewriter.js import JsRewriter
    from rewriter.urls import ProxyBase, UrlRewriter

    tag = "<b onclick='%s'>" % raw.replace("'", "")
    for skip in CORES:
        assert skip(tag, 0, WORDS, MEMO)[:2] == CORES[0](tag, 0, WORDS, MEMO)[:2]
    if core.js_text_wanted(raw, WORDS) or core.ref_letter(raw):
        return
    urls = UrlRewriter(ProxyBase("http", "t.localhost:8080"), "abcdefgh2345", page_url="https://x.com/")
    value = decode_attr_value(raw, False)[0]
    assert JsRewriter(urls)(value) == value

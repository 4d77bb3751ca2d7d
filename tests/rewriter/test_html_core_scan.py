"""The compiled core's scanning steps against the reference, where they could differ from it:
names and values read 16 characters a step (runs ending anywhere in or across a step, control
characters that are no whitespace, NUL, bytes past ASCII), tag and attribute names looked up in
hash tables (lower-cased as two words: exactly 15, 16, 17 characters, words with a character more
or less, upper case), value characters asked once per value, the memo read through a per-call
cache. Every input is also cut at every position (a chunk may end anywhere)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from rewriter.html import core
from tests.rewriter.test_html_core import FLAGS, MEMO, both

needs_c = pytest.mark.skipif("c" not in core.CORES, reason="the compiled core was not built (no C compiler)")

# the names the core looks up, and near misses
NAMES = ["href", "src", "action", "formaction", "poster", "background", "cite", "longdesc", "manifest", "codebase",
         "xlink:href", "icon", "lowsrc", "dynsrc", "srcset", "imagesrcset", "ping", "style", "integrity", "nonce",
         "type", "language", "http-equiv", "charset", "srcdoc", "onclick", "on", "o", "data-", "data-u", "dat",
         "hre", "hrefs", "srcsetx", "imagesrcsets", "xlink:hre", "class", "id", "a" * 15, "a" * 16, "a" * 17,
         "data-" + "x" * 20, "on" + "x" * 20, "HREF", "Src", "SrcSet", "DATA-U", "ON", "Nonce", "h\x00ref", "\x00",
         "o\x00n", "da\x00ta-u", "hr\xc5f", "\xc8REF", "http-equiV", "b\x0bc", "b\x01", "=x"]
TAGS = ["a", "img", "div", "meta", "base", "object", "plaintext", "script", "style", "svg", "math", "iframe",
        "title", "textarea", "xmp", "noembed", "noframes", "noscript", "font", "g", "foreignobject", "desc", "mi",
        "annotation-xml", "scrip", "scripts", "SCRIPT", "Svg", "x" * 15, "x" * 16, "noscrip\x00", "i\xc6rame",
        "foreignObject", "annotation-xmlx"]
URLS = ["http://a.com/x", "https://a.com/", "//a.com/y", "HTTP://A.COM", "http://same/p", "http://a", "/rel",
        "javascript:go()", "http://new.example/z", "http://a.com/&amp;", "http://a.com/\te", "http://a.com/\xe9",
        "http://a.com/%41", "http://a.com/\x00", "http://a.com/'q'", "http://a.com/<", "http://a.com/\x0bv"]


def _pad(rnd: random.Random) -> str:
    """A run of a length around the 16-character steps (and past the 64 looked at in line)."""
    n = rnd.choice([0, 1, 2, 7, 14, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 80, 130])
    return "".join(rnd.choice("xY-_:.9\xe9") for _ in range(n))


# style values around what the core edits from the memo (url() with plain heads) and what it leaves
# to the rewriter (strings, comments, escapes, other URL functions, bad urls, "#url(")
STYLE_PIECES = ["url(", "URL(", "url( ", "url('", 'url("', "')", '")', ")", " )", "\t)", "(", "'", '"', "#url(",
                "xurl(", "-url(", "src(", "image-set(", "-webkit-image-set(", "rgba(1,2,3)", "/*", "*/", "\\", "@",
                "&amp;", ";", ":", " ", "\n", "\x01", "background:", "--x:", "var(--y,"]


# <meta http-equiv> values: the ones the rewriter acts on, near misses, and ones a reference could spell
META_EQUIVS = ["refresh", "Refresh", "REFRESH ", "refres", "content-security-policy", "Content-Security-Policy",
               "content-security-policy-report-only", "content-security-polic", "content-type", "X-UA-Compatible",
               "&#114;efresh", "refresh\x00", "", "content-language"]


def _style(rnd: random.Random) -> str:
    out = []
    for _ in range(rnd.randrange(1, 7)):
        r = rnd.random()
        out.append(rnd.choice(URLS) if r < 0.35 else rnd.choice(STYLE_PIECES) if r < 0.9 else _pad(rnd))
    return "".join(out)


def _value(rnd: random.Random) -> str:
    v = rnd.choice([rnd.choice(URLS) + _pad(rnd), _pad(rnd), rnd.choice(URLS), "a 1x, " + rnd.choice(URLS) + " 2x",
                    "color:red" + _pad(rnd), "url(x)", "location" + _pad(rnd), "&#104;ttp://a", "x\x0by", "\x01\x1f",
                    "background:url(" + rnd.choice(URLS) + ")", "b:url('" + rnd.choice(URLS) + "') no-repeat",
                    _style(rnd), _style(rnd), rnd.choice(META_EQUIVS)])
    q = rnd.choice(['"', "'", ""])
    if not q:
        v = v.replace(" ", "").replace(">", "") or "v"
    return q + v + q


def _tag(rnd: random.Random) -> str:
    name = rnd.choice(TAGS)
    out = ["<", name]
    for _ in range(rnd.randrange(0, 6)):
        out.append(rnd.choice([" ", "  ", "\n", "\t", "\x0c", "/", " \x0b", " \x01"]))
        attr = rnd.choice(NAMES) + rnd.choice(["", "", _pad(rnd)])
        out.append(attr)
        r = rnd.random()
        if r < 0.8:
            out.append(rnd.choice(["=", " = ", "\n=\t"]) + _value(rnd))
    out.append(rnd.choice([">", "/>", " >", "", "\x0b>"]))
    return "".join(out)


def _page(rnd: random.Random) -> str:
    parts = []
    for _ in range(rnd.randrange(1, 12)):
        r = rnd.random()
        if r < 0.6:
            parts.append(_tag(rnd))
        elif r < 0.7:
            parts.append("</" + rnd.choice(TAGS) + rnd.choice([">", " >", "\x0b>"]))
        elif r < 0.8:
            parts.append("<!--" + _pad(rnd) + rnd.choice(["-->", "--!>", "-", ""]))
        else:
            parts.append(_pad(rnd) + rnd.choice(["", "<", "< ", "<3"]))
    return "".join(parts)


def _memo() -> dict:
    return dict(MEMO, **{"//a.com": "http://p-a.proxy", "http://new.example": "http://p-n.proxy"})


@needs_c
def test_generated_tags_around_the_scan_steps_cut_everywhere():
    rnd = random.Random(20261206)
    for _ in range(250):
        text = _page(rnd)
        flags = rnd.choice(FLAGS)
        for end in range(len(text) + 1):  # a chunk ending anywhere
            both(text[:end], 0, flags, _memo() if end % 2 else None)
        for pos in range(0, len(text), 7):
            both(text, pos, flags, _memo())


@needs_c
@given(st.lists(st.sampled_from(NAMES + TAGS + URLS + ["<", ">", "=", "'", '"', " ", "\x0b", "\x00", "</", "<!--",
                                                       "-->", "x" * 15, "y" * 16, "z" * 17]),
                max_size=40).map("".join), st.sampled_from(FLAGS))
@settings(max_examples=1500, deadline=None)
def test_generated_fragments(text, flags):
    both(text, 0, flags)
    both(text, 0, flags, _memo())
    both("<a " + text, 0, flags, _memo())


@needs_c
def test_a_head_seen_again_after_learning_reads_the_memo_anew():
    # the cache of memo entries a call has read is emptied whenever learn runs: learning may
    # change the memo (here it rewrites an entry already read) and the walk must see that
    text = "<a href=http://a.com/1><a href=http://b.com/2><a href=http://a.com/3>"
    got = []
    for skip in (core.skip_c, core.skip_python):
        memo = {"http://a.com": "http://p-a.proxy"}

        def learn(url: str, end: int, memo=memo) -> None:
            memo[url[:end]] = "http://p-b.proxy"
            memo["http://a.com"] = "http://changed.proxy"

        got.append(skip(text, 0, 0, memo, learn))
    assert got[0] == got[1]
    assert [t for _, _, t in got[0][2]] == ["http://p-a.proxy/1", "http://p-b.proxy/2", "http://changed.proxy/3"]


WORD_FLAGS = core.F_JS | core.F_CSS | core.F_ACTIVE | core.F_JS_WORDS | core.F_UTF8 | core.F_RAW_WALK
JS_NEAR = ["import", "from", "location", "export", "postMessage", "sourceMappingURL", "impor", "mport", "fro", "rom",
           "locatio", "ocation", "xport", "expor", "postmessage", "PostMessage", "sourceMappingUR", "ourceMappingURL",
           "o", "or", "om", "oc", "os", "ou", "imp", "ex", "pos", "so", "fr", "l"]
CSS_NEAR = ["url(", "URL(", "ur(", "rl(", "src(", "sRc(", "image-set(", "-webkit-image-set(", "mage-set(", "@import",
            "@IMPORT", "@impor", "@", "\\", "(", "u", "url", "x(", "&#40;"]


@needs_c
def test_script_and_style_text_words_at_every_offset():
    # the words are looked for from one "o" to the next (script) and from one "\\", "@" or "("
    # to the next, 16 characters a step (style): each word and near miss at every offset of a
    # text around those steps, at its start and at its end
    for words, tag, attrs in ((JS_NEAR, "script", ""), (JS_NEAR, "script", " type=module"), (CSS_NEAR, "style", "")):
        for word in words:
            for before in range(0, 70, 3):
                for after in (0, 1, 15, 16, 17, 40):
                    text = "a" * before + word + "b" * after
                    both(f"<{tag}{attrs}>{text}</{tag}><p>", 0, WORD_FLAGS)
                    both(f"<b onclick='{text}'><p>", 0, WORD_FLAGS)
                    both(f"<a href='javascript:{text}'><p>", 0, WORD_FLAGS)


@needs_c
def test_many_heads_in_one_walk():
    # more heads than the per-call cache holds (64 slots, a newer head takes its slot), each seen
    # several times, remembered or learnt
    rnd = random.Random(5)
    heads = [f"http://h{k}.example" for k in range(300)]
    memo = {h: (h if k % 3 == 0 else f"http://p{k}.proxy") for k, h in enumerate(heads[:200])}
    tags = [f"<a href={rnd.choice(heads)}/{k} data-u='{rnd.choice(heads)}/x'>" for k in range(600)]
    text = "".join(tags)
    for flags in FLAGS:
        both(text, 0, flags, dict(memo))


# -- text_end: the end of a raw text element's or a script's text -----------------------------------
TEXT_PIECES = ["x", "<", "</", "<!--", "-->", "--", "-", "<script", "</script", "<SCRIPT", "</ScRiPt", "</script>",
               "</script ", "</script/", "</script\t", "</scripts>", "<script>", "</style>", "</STYLE ", "</styl",
               "</style", "</title>", "</textarea\n", "\xe9", "\x00", ">", " ", "<!-->", "<!--<script>", "--!>"]


def _text_end_reference(buf: str, pos: int, name: str) -> int:
    """The tokenizer's own searches: core.script_data_end, or tokenizer.end_tag_re."""
    from rewriter.html.tokenizer import end_tag_re

    if name == "script":
        return core.script_data_end(buf, pos)
    m = end_tag_re(name).search(buf, pos)
    return m.start() if m else -1


@needs_c
@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(TEXT_PIECES), max_size=14), st.sampled_from(["script", "style", "title", "textarea",
                                                                             "xmp", "noscript", "iframe"]),
       st.integers(0, 4))
def test_text_end_finds_what_the_tokenizers_regular_expressions_find(pieces, name, pos):
    buf = "".join(pieces)
    pos = min(pos, len(buf))
    assert core.TEXT_ENDS["c"](buf, pos, name) == _text_end_reference(buf, pos, name)
    for cut in range(pos, len(buf) + 1):  # a chunk may end anywhere
        assert core.TEXT_ENDS["c"](buf[:cut], pos, name) == _text_end_reference(buf[:cut], pos, name)


@needs_c
def test_text_end_leaves_a_wide_string_to_the_regular_expressions():
    assert core.TEXT_ENDS["c"]("\u20ac</script>", 0, "script") == -2
    assert core.TEXT_ENDS["c"]("a</style>", 0, "style") == 1
    with pytest.raises(ValueError):
        core.TEXT_ENDS["c"]("abc", 4, "style")


# -- style values: url() heads from the memo (F_CSS_URLS) --------------------------------------------
@needs_c
@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(STYLE_PIECES + URLS + ["x", "a.png", "//a.com/z", "http://a.com"]), max_size=12)
       .map("".join), st.sampled_from(['"', "'", ""]))
def test_style_values_are_walked_as_the_reference_walks_them(style, quote):
    if not quote:
        style = style.replace(" ", "").replace(">", "").replace("'", "").replace('"', "") or "x"
    elif quote in style:
        style = style.replace(quote, "")
    for flags in (core.F_CSS | core.F_CSS_URLS, core.F_JS | core.F_CSS | core.F_ACTIVE | core.F_CSS_URLS):
        both(f"<div style={quote}{style}{quote}><p>", 0, flags, _memo())
        both(f"<div style={quote}{style}{quote}><p>", 0, flags)


def test_style_edit_reads_urls_as_the_css_rewriter_does():
    memo = {"https://a.com": "http://p-a.proxy", "//a.com": "http://p-a.proxy", "http://b.com": False}
    edit = core._style_edit
    assert edit('"background:url(https://a.com/x.png) no-repeat"', memo) == (
        '"background:url(http://p-a.proxy/x.png) no-repeat"', 1)
    assert edit("'a:url( \"https://a.com/y\" );b:url(//a.com/z)'", memo) == (
        "'a:url( \"http://p-a.proxy/y\" );b:url(http://p-a.proxy/z)'", 2)
    assert edit('"c:rgba(1,2,3);u:url(/rel.png)"', memo) is True  # relative: nothing to change
    for given_up in ('"x:#url(https://a.com)"',  # a hash token, not url()
                     "'content:\"url(https://a.com)\"'",  # a string outside url()
                     '"u:url(https://a.com/ x)"',  # a bad url
                     '"u:url(https://a.com/\x01)"',  # a control character in the URL
                     '"/**/u:url(https://a.com/)"', '"u:url(https://a.com/\\41)"', '"u:url(https://a.com/&amp;x)"',
                     '"s:src(https://a.com/)"', '"i:image-set(\'https://a.com/\' 1x)"',
                     '"u:url(http://b.com/)"',  # a head the mapper refused
                     '"u:url(https://c.com/)"'):  # a head not remembered (no learn)
        assert edit(given_up, memo) is False, given_up


# -- the compiled text checks: <style> text that may hold a URL, scripts with a trigger word ---------
@needs_c
@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(JS_NEAR + CSS_NEAR + ["x" * 15, "y" * 16, " ", "\n", "\xe9", "\x00", "o"]), max_size=20)
       .map("".join))
def test_compiled_text_checks_answer_as_the_references(text):
    from rewriter import js

    assert core.CSS_WANTED["c"](text) == core.css_text_wanted(text)
    reference = any(w in text for w in js.TRIGGER_WORDS)
    assert core.JS_WORDS["c"](text) == reference
    assert core.JS_WORDS["c"](text.encode("latin-1")) == reference
    assert core.JS_WORDS["c"]("\u20ac" + text) is None  # a wide str: the caller's own searches


@needs_c
def test_meta_with_the_charset_settled_is_walked_over_unless_it_acts():
    locked = core.F_JS | core.F_CSS | core.F_ACTIVE | core.F_CODEC_LOCKED
    for equiv in META_EQUIVS:
        for q in ('"', "'"):
            for extra in ("", " charset=utf-8", " http-equiv=refresh", " content='0;url=http://a.com/'"):
                text = f"<meta http-equiv={q}{equiv}{q}{extra}><p>"
                for flags in (locked, locked & ~core.F_CODEC_LOCKED):
                    both(text, 0, flags, _memo())
                    both(text, 0, flags)
    walked = core.skip_python('<meta http-equiv="X-UA-Compatible" content="IE=edge"><meta charset=utf-8><p>', 0,
                              locked, _memo())
    assert walked[1] == 3  # all three start tags walked over
    for acts in ('<meta http-equiv="refresh" content="0;url=/x">', '<meta http-equiv="&#114;efresh">',
                 '<meta http-equiv="Content-Security-Policy" content="default-src \'self\'">'):
        assert core.skip_python(acts + "<p>", 0, locked, _memo())[1] == 0, acts
    assert core.skip_python("<meta charset=utf-8><p>", 0, locked & ~core.F_CODEC_LOCKED, _memo())[1] == 0

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


def both(buf: str, pos: int, flags: int) -> None:
    assert core.skip_c(buf, pos, flags) == core.skip_python(buf, pos, flags), (buf[pos: pos + 200], flags)


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
            both(text[i: i + rnd.randrange(1, 8192)], 0, rnd.choice(FLAGS))


_PIECES = st.sampled_from([
    "<a href=/x>", "<a HREF='http://a.com/'>", '<img src="//a.com/i" alt=x>', "<p class=x>", "</p>", "</a >",
    "<div style='color:red'>", '<div style="background:url(x)">', "<b onclick=go()>", "<i data-u='http://a'>",
    "<i data-u='&#104;ttp'>", "<i data-x=''>", "<a integrity=x>", "<link nonce=n>", "<img srcset='a 1x'>",
    "<a ping=x>", "<script>", "<svg>", "<meta charset=x>", "<!-- c -->", "<!-->", "<!--->", "<!-- --!>", "<!--",
    "<!doctype html>", "<?x>", "</>", "< p>", "<3", "<", ">", "'", '"', "=", "/", " ", "\n", "\t", "x", "&amp;",
    "<a href>", "<a href=>", "<a href= >", "<a =x>", "<a/b=c/>", "<a b='>'>", '<a b="', "<a b=c", "<A\x00b=1>",
    "<a href=\x01http://a>", "<a href=' /x'>", "<a href='/\\x'>", "<a href=a:b>", "<a href=a/b:c>", "<a href=#x>",
    "<a xlink:href=http://a>", "<x-y on=1>", "<a ONX=1>", "\xe9", "<a href=\xe9>",
])


@needs_c
@given(st.lists(_PIECES, max_size=25).map("".join), st.integers(min_value=0, max_value=400), st.sampled_from(FLAGS))
@settings(max_examples=1000, deadline=None)
def test_generated_markup(text, pos, flags):
    both(text, min(pos, len(text)), flags)


def test_describe_names_the_core():
    assert core.describe().startswith("HTML core: ")
    assert ("compiled" in core.describe()) == (core.NAME == "c")

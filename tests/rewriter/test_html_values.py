"""Attribute values decoded in pieces and edits spliced back (rewriter/html/entities.py, values.py):
the short ways give exactly what the long ways give, with either reference decoder, and a long
value full of references is read about once, not three times (issue 14)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from rewriter.html import core, entities
from rewriter.html.entities import decode_attr_value, decode_value
from rewriter.html.values import splice
from rewriter.urls import ProxyBase, UrlRewriter

PIECES = st.sampled_from([
    "&", "&amp;", "&quot;", "&quot", "&amp", "&ampx", "&amp=", "&notin;", "&notit;", "&not", "&noti",
    "&nGt;", "&NotEqualTilde;", "&#", "&#x", "&#X41;", "&#x41", "&#65", "&#0;", "&#x80;", "&lt", "&lt;",
    "&eacute", "&copy=", "&copy2", "&zzzz;", ";", "=", "a", "Z", "9", "#", "x", "in", "t;", "\0",
    "\u00e9", " ", '"', "'", "abc", "http://a.com/", "&#34;", "&#39;", "&apos;", "&gt;", "&amp;quot;", "&quot;",
    "&lt;", "&amp;", "&amp;",
])
DECODERS = [name for name in ("python", "c") if name in core.CORES]


@pytest.fixture(params=DECODERS)
def decoder(request):
    previous = core.NAME
    core.use(request.param)
    yield request.param
    core.use(previous)


def _each_decoder(check, *args) -> None:
    previous = core.NAME
    try:
        for name in DECODERS:
            core.use(name)
            check(*args)
    finally:
        core.use(previous)


def _pieces_read_as_the_whole(raw: str) -> None:
    value, pos = decode_value(raw)
    whole, full = decode_attr_value(raw, True)
    assert value == whole
    if pos is None:
        assert value == raw
        return
    full = full or list(range(len(raw) + 1))  # no reference decoded (a NUL): the same offsets
    assert [pos[k] for k in range(len(value) + 1)] == full


@given(st.lists(PIECES, max_size=60).map("".join), st.integers(1, 12))
@settings(max_examples=600, deadline=None)
def test_values_decoded_in_pieces_read_as_decoded_whole(raw, piece):
    # tiny pieces, so that every kind of reference meets a cut
    old = entities._PIECE
    entities._PIECE = piece
    try:
        _each_decoder(_pieces_read_as_the_whole, raw)
    finally:
        entities._PIECE = old


def _splices_agree(raw: str, quote: str, edits: list) -> None:
    value, pos = decode_value(raw)
    assert splice(raw, value, pos, edits, quote) == splice(raw, value, pos, edits, quote, check_all=True), (
        raw, edits)


@given(
    st.lists(PIECES, max_size=30).map("".join),
    st.sampled_from(['"', "'", ""]),
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 8), st.lists(PIECES, max_size=3).map("".join)),
             max_size=4),
)
@settings(max_examples=1000, deadline=None)
def test_splice_knows_when_an_insertion_cannot_make_a_reference(raw, quote, spans):
    value = decode_attr_value(raw, False)[0]
    edits = []
    for a, length, text in spans:
        a = min(a, len(value))
        edits.append((a, min(len(value), a + length), text))
    _each_decoder(_splices_agree, raw, quote, edits)


@pytest.mark.parametrize("raw, edits", [  # edits in decoded offsets
    ("&not", [(1, 1, "in;")]),  # "&notin;" would be made: the raw must keep reading as "\u00acin;"
    ("&amp", [(1, 1, ";")]),
    ("&#6", [(1, 1, "5;")]),
    ("&no tin;", [(3, 4, "")]),  # a deletion joins "&no" and "tin;"
    ("&no tin;", [(2, 3, ""), (3, 4, "")]),
    ("a&b c", [(5, 5, "&lt;")]),
    ("&amp;not", [(5, 5, "in;")]),
])
def test_splice_never_makes_a_reference(decoder, raw, edits):
    value, pos = decode_value(raw)
    new = splice(raw, value, pos, edits, '"')
    expect = value
    for a, b, text in sorted(edits, reverse=True):
        expect = expect[:a] + text + expect[b:]
    assert decode_attr_value(new[1:-1], False)[0] == expect


def test_a_long_srcdoc_is_decoded_about_once(decoder, monkeypatch):
    """An iframe srcdoc of 150 KB with thousands of "&quot;" (a corpus page has ten): its text is
    decoded for the inner rewriter, and only the pieces its edits fall in are read again for
    positions; the new text is not decoded again to check the splice."""
    from rewriter.html import rewrite_html

    inner = "".join(f'<p class=&quot;c{i}&quot;>text {i} &amp; more</p>' for i in range(3000))
    inner += '<a href=&quot;https://a.example/x&quot;>x</a>'
    page = f'<iframe srcdoc="{inner}"></iframe>'.encode()
    read = [0]
    real = entities.decode_refs

    def counting(raw, want=False):
        read[0] += len(raw)
        return real(raw, want)

    monkeypatch.setattr(entities, "decode_refs", counting)
    urls = UrlRewriter(ProxyBase("http", "tandem.localhost:8080"), "abcdefgh2345", page_url="https://example.com/")
    out = rewrite_html(page, urls)
    assert b"https://a.example/x" not in out and out.count(b"&quot;") == inner.count("&quot;")
    assert read[0] < 1.3 * len(inner), (read[0], len(inner))


def _javascript_url_body_reference(value: str):
    i, n = 0, len(value)
    while i < n and value[i] <= " ":
        i += 1
    for want in "javascript:":
        while i < n and value[i] in "\t\n\r":
            i += 1
        if i >= n or value[i].lower() != want:
            return None
        i += 1
    return i


@given(st.lists(st.sampled_from(["j", "J", "ava", "AVA", "script", "SCRIPT", ":", "\t", "\n", " ", "\x01", "h",
                                 "\u0130", "\u212a", "x", "//a.com/"]), max_size=12).map("".join))
@settings(max_examples=500, deadline=None)
def test_javascript_urls_are_told_as_the_url_parser_reads_a_scheme(value):
    from rewriter.html.values import javascript_url_body

    assert javascript_url_body(value) == _javascript_url_body_reference(value)


def test_javascript_urls_start_with_any_character_that_reads_as_j():
    from rewriter.html.values import javascript_url_body

    for c in range(0x3000):
        value = chr(c) + "avascript:x"
        assert javascript_url_body(value) == _javascript_url_body_reference(value), hex(c)


# --- the inner document's edit log, tightened (values.tight_log) ------------------------------------

_LOG_TEXT = st.lists(st.sampled_from(["a", "b", "\u00e9", "\u00e8", "\u20ac", "\U0001f600", "<", "x"]), max_size=12).map("".join)


def _apply(data: bytes, log) -> bytes:
    out, at = [], 0
    for a, b, text in log:
        out += [data[at:a], text.encode("latin-1")]
        at = b
    return b"".join(out) + data[at:]


@given(_LOG_TEXT, st.lists(st.tuples(st.integers(0, 40), st.integers(0, 6), _LOG_TEXT), max_size=6))
@settings(max_examples=1500, deadline=None)
def test_a_tight_log_makes_the_same_bytes_on_character_boundaries(text, raw_edits):
    from rewriter.html.values import tight_log

    data = text.encode("utf-8")
    bounds = sorted({len(text[:k].encode("utf-8")) for k in range(len(text) + 1)})  # character starts
    log, at = [], 0
    for start, length, new in raw_edits:  # in order, not overlapping, on character boundaries
        a = next((p for p in bounds if p >= max(at, start % (len(data) + 1))), None)
        if a is None:
            break
        b = next(p for p in bounds if p >= min(len(data), a + length))
        log.append((a, b, new.encode("utf-8").decode("latin-1")))
        at = b
    tight = tight_log(log, data)
    assert _apply(data, tight) == _apply(data, log)
    for a, b, new in tight:
        assert a in bounds and b in bounds and data[a:b].decode("latin-1") != new
        new.encode("latin-1").decode("utf-8")  # whole characters


def test_a_srcdoc_script_written_back_unchanged_is_no_edit(monkeypatch):
    """The inner rewriter holds a script and writes it back (a delete, then the same text
    inserted): no edit reaches the srcdoc value, so its 100 KB are not escaped and spliced again;
    a change next to a two-byte character keeps the character whole."""
    from rewriter.html import HtmlRewriter, values
    from rewriter.js import js_rewriter

    def rewrite_html(page, urls):
        rw = HtmlRewriter(urls, js=js_rewriter(urls))
        return rw.feed(page) + rw.close()

    seen = []
    real = values.escape if hasattr(values, "escape") else None
    script = "var s = '\u00e9';" + "x = 1;" * 20000 + " import('https://a.com/\u00e9');"
    page = f'<iframe srcdoc="<script>{script.replace(chr(39), "&#39;")}</script>"></iframe>'.encode()
    urls = UrlRewriter(ProxyBase("http", "tandem.localhost:8080"), "abcdefgh2345", page_url="https://example.com/")
    if real is not None:
        monkeypatch.setattr(values, "escape", lambda t, q: (seen.append(len(t)), real(t, q))[1])
    out = rewrite_html(page, urls).decode()
    assert "x = 1;" * 20000 in out and "var s = &#39;\u00e9&#39;;" in out
    assert "import(&#39;http://abcdefgh2345-s-a-com.tandem.localhost:8080/\u00e9&#39;)" in out
    assert max(seen, default=0) < 1000, seen  # only the changed bit was escaped
    plain = page.replace(b"import(&#39;https://a.com/", b"import(&#39;/")  # nothing to change
    assert rewrite_html(plain, UrlRewriter(ProxyBase("http", "tandem.localhost:8080"), "abcdefgh2345",
                                           page_url="https://example.com/")) == plain

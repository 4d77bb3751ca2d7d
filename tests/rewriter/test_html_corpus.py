"""HTML rewriter against the shared corpus: html5lib tokenizer vectors and 146 saved real pages.

* html5lib: the start tags (names, attributes, decoded values, first duplicate wins)
  our tokenizer sees must be exactly the ones the vectors expect, in every initial
  state, fed whole and one character at a time.
* pages, identity mapper: output byte-identical to input, whole and in chunks.
* pages, real mapper: every absolute URL in a URL attribute points at the proxy, and
  the output differs from the input only at URL origins, removed integrity/nonce
  attributes, neutralised CSP metas and the one injection.
"""

from __future__ import annotations

import itertools
import json
import pathlib
import random
import re

import pytest

from rewriter import jslocation
from rewriter.html import HtmlRewriter, iter_start_tags, refresh_url_span, rewrite_html, srcset_url_spans
from rewriter.urls import IdentityRewriter, ProxyBase, UrlError, UrlRewriter, split_url

# every test runs once per HTML core (compiled and pure Python): same bytes from both
pytestmark = pytest.mark.usefixtures("html_core")

CORPUS = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
TOKENIZER = CORPUS / "html5lib-tokenizer"
PAGES = CORPUS / "pages"
INJECT = b'<script src="/__tandem/runtime.js"></script>'
PROXY_DOMAIN = "tandem.localhost:8080"


def need(path: pathlib.Path) -> None:
    if not path.is_dir():
        pytest.skip(f"corpus folder {path} is absent (it lives beside the repo, see shared/corpus/README.md)")


def make_urls() -> UrlRewriter:
    return UrlRewriter(ProxyBase("http", PROXY_DOMAIN), "abcdefgh2345", page_url="https://example.com/")


# --- html5lib tokenizer vectors --------------------------------------------------------

# Known failures: none today. An entry is (file, description) -> reason; it turns the
# test into an xfail for that vector so a regression elsewhere still shows.
KNOWN_TOKENIZER_FAILURES: dict[tuple[str, str], str] = {}

_U_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _unescape(text: str) -> str:
    """doubleEscaped vectors: one more level of \\uHHHH (surrogate pairs joined, lone ones kept)."""
    text = _U_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    try:
        return text.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        return text


def _tokenizer_files() -> list[str]:
    if not TOKENIZER.is_dir():
        return ["(absent)"]
    # xmlViolation.test expects infoset coercion (its key is not "tests"): skipped, see README
    return sorted(p.name for p in TOKENIZER.glob("*.test") if p.name != "xmlViolation.test")


def _expected_start_tags(test: dict) -> list[tuple[str, list[tuple[str, str]]]]:
    out = []
    for tok in test["output"]:
        if tok[0] != "StartTag":
            continue
        name, attrs = tok[1], tok[2]
        if test.get("doubleEscaped"):
            name = _unescape(name)
            attrs = {_unescape(k): _unescape(v) for k, v in attrs.items()}
        out.append((name, sorted(attrs.items())))
    return out


@pytest.mark.parametrize("filename", _tokenizer_files())
def test_html5lib_start_tags(filename):
    need(TOKENIZER)
    tests = json.loads((TOKENIZER / filename).read_text(encoding="utf-8"))["tests"]
    runs = passed = 0
    failures = []
    for test in tests:
        text = test["input"]
        if test.get("doubleEscaped"):
            text = _unescape(text)
        # input stream preprocessing happens before the tokenizer: CR LF and CR become LF
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        want = _expected_start_tags(test)
        for state in test.get("initialStates", ["Data state"]):
            runs += 1
            results = [
                [(n, sorted(a)) for n, a in iter_start_tags(text, state, test.get("lastStartTag"), chunk)]
                for chunk in (0, 1)
            ]
            if all(r == want for r in results):
                passed += 1
            elif (filename, test["description"]) not in KNOWN_TOKENIZER_FAILURES:
                failures.append((test["description"], state, text[:80], want, results[0]))
    print(f"{filename}: {passed}/{runs} runs match")
    assert not failures, failures[:5]


# --- pages -------------------------------------------------------------------------------


def _pages() -> list[str]:
    if not PAGES.is_dir():
        return ["(absent)"]
    return sorted(p.name for p in PAGES.glob("*.html"))


def _read(name: str) -> bytes:
    need(PAGES)
    return (PAGES / name).read_bytes()


def _feed(rw: HtmlRewriter, data: bytes, sizes) -> bytes:
    out = []
    i = 0
    for size in sizes:
        if i >= len(data):
            break
        out.append(rw.feed(data[i: i + size]))
        i += size
    if i < len(data):
        out.append(rw.feed(data[i:]))
    out.append(rw.close())
    return b"".join(out)


def _fixed(size: int):
    while True:
        yield size


def _random(seed: str):
    rnd = random.Random(seed)
    while True:
        yield rnd.choice((1, 2, 3, 5, 8, 13, 64, 500, 4096, 20000))


# Feeding 7 bytes at a time costs ~1 µs per call per chunk; the pages up to this size
# (87 of 146, 6.8 MB) keep that under two seconds.
SMALL_PAGE = 150_000
# byte-by-byte runs only on the smallest pages (a 6 KB page is 6,000 calls)
BYTE_PAGES = ("hundeverein-kreisunna.de.html", "jvndb.jvn.jp.html", "wordsmith.org.maudlin.html")


@pytest.mark.parametrize("name", _pages())
def test_identity_is_byte_exact(name):
    data = _read(name)
    rw = HtmlRewriter(IdentityRewriter())
    assert rw.feed(data) + rw.close() == data
    assert _feed(HtmlRewriter(IdentityRewriter()), data, _fixed(4096)) == data
    assert _feed(HtmlRewriter(IdentityRewriter()), data, _random(name)) == data
    if len(data) <= SMALL_PAGE:
        assert _feed(HtmlRewriter(IdentityRewriter()), data, _fixed(7)) == data


@pytest.mark.parametrize("name", BYTE_PAGES)
def test_identity_byte_by_byte(name):
    data = _read(name)
    assert _feed(HtmlRewriter(IdentityRewriter()), data, _fixed(1)) == data


# --- real mapper: every URL proxied, nothing else changed -----------------------------------

_URL_ATTRS = {"href", "src", "action", "formaction", "poster", "background", "xlink:href"}


def _unproxied_urls(out: bytes) -> list[str]:
    """Absolute URLs in URL attributes of ``out`` that do not point at the proxy."""
    bad = []
    for tag, attrs in iter_start_tags(out.decode("latin-1"), tree=True):
        values = []
        for attr, value in attrs:
            if attr in _URL_ATTRS or (attr == "data" and tag == "object"):
                values.append(value)
            elif attr in ("srcset", "imagesrcset"):
                values.extend(value[a:b] for a, b in srcset_url_spans(value))
        if tag == "meta" and ("http-equiv", "refresh") in [(a, v.lower()) for a, v in attrs]:
            content = dict(attrs).get("content", "")
            span = refresh_url_span(content)
            if span:
                values.append(content[span[0]: span[1]])
        for value in values:
            try:
                parts = split_url(value)
            except UrlError:
                continue  # the browser rejects it too; left alone on purpose
            if parts is None:
                continue
            host = parts.origin.host
            if not (host.endswith("." + PROXY_DOMAIN.split(":")[0]) and parts.origin.port == 8080):
                bad.append(f"<{tag}> {value[:120]!r}")
    return bad


_PROXIED = re.compile(rb"(?:https?|wss?)://(?:[^@/\s\"'<>]*@)?[a-z2-7]{12}-[a-z0-9-]+\.tandem\.localhost:8080")
_AUTHORITY = re.compile(rb"[\t\n\f\r ]*(?:[a-zA-Z][a-zA-Z0-9+.\-]*:)?[/\\]{2}[^/\\?#\s\"'<>]*")
_DROPPED = re.compile(
    rb"[\t\n\f\r /]*(?i:integrity|nonce)(?:[\t\n\f\r ]*=[\t\n\f\r ]*(?:&quot;.*?&quot;|\"[^\"]*\"|'[^']*'|[^\t\n\f\r >&]*))?"
)
_CSP = re.compile(rb"(?i:content-security-policy(?:-report-only)?)")
_CSP_OUT = b"x-tandem-removed-csp"
INJECT_IN_SRCDOC = INJECT.replace(b'"', b"&quot;")
_ORIGINAL_ATTR = re.compile(rb" data-tandem-o-[a-z0-9_:.\-]+=(?:\"[^\"]*\"|'[^']*'|[^\t\n\f\r >]*)|data-tandem-o-(?=integrity|nonce)", re.I)


def _inserted_original(out: bytes, j: int) -> tuple[int, int] | None:
    """(how far the match started before j, its end) for an inserted original-value attribute at j."""
    for m in _ORIGINAL_ATTR.finditer(out, max(0, j - 64)):
        if m.start() > j:
            return None
        if j < m.end():
            return j - m.start(), m.end()
    return None
LOOKBACK = 256  # a URL origin is never longer than this: where to look for the start of a mismatch


def _common(a: bytes, i: int, b: bytes, j: int) -> int:
    """Length of the common prefix of a[i:] and b[j:]."""
    n = min(len(a) - i, len(b) - j)
    k = 0
    step = 4096
    while k < n:
        s = min(step, n - k)
        if a[i + k: i + k + s] == b[j + k: j + k + s]:
            k += s
            step *= 2
            continue
        if s <= 8:
            while a[i + k] == b[j + k]:
                k += 1
            return k
        step = s // 2
    return k


SYNC = 64  # bytes that must agree after a dropped attribute for the alignment to count


def _skip_dropped(src: bytes, i: int, out: bytes, j: int) -> tuple[int, int] | None:
    """Positions after a removed integrity/nonce attribute, if one explains the mismatch.

    The common prefix may have run into the separator before the attribute (or into
    its name), so the attribute can start a little before ``i``.
    """
    for start in range(i, max(0, i - LOOKBACK), -1):
        d = _DROPPED.match(src, start)
        if not d or d.end() <= i:
            continue
        jj = j - (i - start)
        tail = src[d.end(): d.end() + SYNC]
        if out.startswith(tail, jj):
            return d.end(), jj
        if out.startswith(b" " + tail, jj):  # replaced by one space: it was glued to the next attribute
            return d.end(), jj + 1
    return None


_JS_HOOKS = (jslocation.LOCATION_FN, jslocation.TARGET_FN, jslocation.URL_FN, jslocation.UP_FN)


def classify_diff(src: bytes, out: bytes) -> list[str]:
    """Walk input and output together; every difference must be one of the allowed kinds."""
    problems = []
    i = j = 0
    hooks = 0  # run-time hooks of rewriter/jslocation.py opened and not yet closed
    while True:
        k = _common(src, i, out, j)
        i, j = i + k, j + k
        if i >= len(src) and j >= len(out):
            return problems
        # a proxied origin in the output that covers position j
        m = None
        for cand in _PROXIED.finditer(out, max(0, j - LOOKBACK), j + LOOKBACK):
            if cand.start() > j:
                break
            if cand.end() > j:
                m = cand
                break
        if m is not None:
            start = i - (j - m.start())
            a = _AUTHORITY.match(src, start)
            if a and a.end() > i:
                i, j = a.end(), m.end()
                continue
        dropped = _skip_dropped(src, i, out, j)
        if dropped is not None:
            i, j = dropped
            continue
        o = _inserted_original(out, j)
        if o is not None:  # keep_original: a data-tandem-o-* attribute (or its prefix) was inserted
            back, end = o
            i, j = i - back, end
            continue
        k = out.find(INJECT_IN_SRCDOC, max(0, j - len(INJECT_IN_SRCDOC)), j + len(INJECT_IN_SRCDOC))
        if 0 <= k <= j:  # the runtime injected into an iframe srcdoc document (the prefix may match)
            i, j = i - (j - k), k + len(INJECT_IN_SRCDOC)
            continue
        hook = next(((k, p) for p in _JS_HOOKS for k in [out.find(p, max(0, j - len(p)), j + len(p))] if 0 <= k <= j), None)
        if hook is not None:  # a location read, postMessage target or import() sent through the runtime
            k, p = hook
            i, j, hooks = i - (j - k), k + len(p), hooks + 1
            continue
        if hooks and out[j: j + 1] == b")":  # ... and its closing parenthesis
            j, hooks = j + 1, hooks - 1
            continue
        c = _CSP.match(src, i)
        if c and out.startswith(_CSP_OUT, j):
            i, j = c.end(), j + len(_CSP_OUT)
            continue
        problems.append(f"at input {i}: {src[max(0, i - 60): i + 60]!r} -> {out[max(0, j - 60): j + 60]!r}")
        return problems


@pytest.mark.parametrize("name", _pages())
def test_real_mapper(name):
    data = _read(name)
    rw = HtmlRewriter(make_urls(), inject=INJECT.decode())
    out = rw.feed(data) + rw.close()
    assert _feed(HtmlRewriter(make_urls(), inject=INJECT.decode()), data, _random(name)) == out

    assert out.count(INJECT) == data.count(INJECT) + 1
    at = out.find(INJECT)
    before, after = out[:at], out[at + len(INJECT):]
    first = [n for n, _ in itertools.islice(iter_start_tags(data.decode("latin-1"), tree=True), 2)]
    first = first[1:] if first[:1] == ["html"] else first
    if first[:1] == ["head"]:  # right after <head ...>
        assert re.search(rb"<head(?:[\t\n\f\r /][^>]*)?>$", before, re.I), before[-200:]
    else:  # before the first other start tag (or the first text)
        assert re.match(rb"<%s[\t\n\f\r />]|[^<\t\n\f\r ]" % first[0].encode(), after, re.I), after[:200]

    bad = _unproxied_urls(out)
    assert not bad, bad[:10]
    problems = classify_diff(data, before + after)
    assert not problems, problems
    assert rw.stats["rewritten"] > 0 or b"://" not in data


def test_classifier_catches_stray_changes():
    """The diff classifier itself: allowed differences pass, anything else is reported."""
    src = b'<p>a &amp; b</p><a href="https://a.com/x?q=1&amp;r=2">x</a><script integrity="sha" src=/s.js></script>'
    out = rewrite_html(src, make_urls())
    assert out != src and classify_diff(src, out) == []
    assert classify_diff(src, out.replace(b"a &amp; b", b"a & b"))  # text changed
    assert classify_diff(src, out.replace(b"q=1&amp;r=2", b"q=1&r=2"))  # query changed
    assert classify_diff(src, out.replace(b"src=/s.js", b"src=/t.js"))


@pytest.mark.parametrize("name", _pages()[::3])
def test_keep_original_and_scripts(name):
    """keep_original on, CSS and JS rewriters on: still only URL origins, removed or renamed
    attributes, inserted data-tandem-o-* originals and the injection differ; chunking does not matter."""
    from rewriter.css import rewrite_css
    from rewriter.js import js_rewriter

    data = _read(name)

    def make() -> HtmlRewriter:
        urls = make_urls()
        return HtmlRewriter(urls, inject=INJECT.decode(), css=lambda t: rewrite_css(t, urls), js=js_rewriter(urls),
                            keep_original=True)

    out = _feed(make(), data, _fixed(1 << 30))
    assert _feed(make(), data, _random(name)) == out
    at = out.find(INJECT)
    problems = classify_diff(data, out[:at] + out[at + len(INJECT):])
    assert not problems, problems
    rw = make()
    rw.feed(data)
    rw.close()
    if rw.stats["rewritten"]:
        assert b"data-tandem-o-" in out


@pytest.mark.parametrize("name", _pages())
def test_proxy_configuration_same_from_each_core(name, monkeypatch):
    """As the proxy configures the rewriter (CSS, JS, CSP and SRI hooks, the URL-head memo the core
    edits from): the same output from both cores, whole and in random chunks. Run once, in the
    compiled core's turn (the pure-Python core's turn has no other core to compare with)."""
    from rewriter import js as js_module
    from rewriter.css import rewrite_css
    from rewriter.html import core
    from rewriter.js import js_rewriter
    from rewriter.urls import sri_marker

    if core.NAME != "c":
        pytest.skip("compared in the compiled core's turn")
    monkeypatch.setattr(js_module, "PARSE_SECONDS", 1e6)  # no parse times out on a loaded machine
    data = _read(name)

    def make() -> HtmlRewriter:
        urls = make_urls()
        rw = HtmlRewriter(urls, inject=INJECT.decode(), css=lambda t: rewrite_css(t, urls), js=js_rewriter(urls))
        rw.csp, rw.sri = (lambda policy: policy + "; x"), sri_marker
        return rw

    outs = set()
    try:
        for core_name in core.CORES:
            core.use(core_name)
            outs.add(_feed(make(), data, _fixed(1 << 30)))
            outs.add(_feed(make(), data, _random(name)))
    finally:
        core.use("c")
    assert len(outs) == 1

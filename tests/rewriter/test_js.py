"""JS rewriter: vectors (whole, as an inline script fed at every split and byte by byte), node's
parser as the oracle that outputs still parse, the npm JS corpus, hostile input, properties."""

from __future__ import annotations

import json
import pathlib
import random
import shutil
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from rewriter import js as J
from rewriter import jslocation
from rewriter.html import HtmlRewriter
from rewriter.js import decode_js_string, js_rewriter, rewrite_js, rewrite_js_bytes
from rewriter.urls import IdentityRewriter, ProxyBase, UrlRewriter

SID = "abcdefgh2345"
A = f"http://{SID}-s-a-com.tandem.localhost:8080"  # https://a.com and //a.com
AH = f"http://{SID}-h-a-com.tandem.localhost:8080"  # http://a.com
CORPUS = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "js"
NODE = shutil.which("node")


def make_urls() -> UrlRewriter:
    return UrlRewriter(ProxyBase("http", "tandem.localhost:8080"), SID, page_url="https://example.com/")


def _fill(s: str) -> str:
    return s.replace("{A}", A).replace("{AH}", AH)


# (id, source, expected or None for unchanged, module?) -- module: the vector is only valid as a module
VECTORS = [
    # static imports and exports
    ("import-default", 'import x from "https://a.com/x.js";', 'import x from "{A}/x.js";', True),
    ("import-named", "import {a, b as c} from 'https://a.com/m.js'", "import {a, b as c} from '{A}/m.js'", True),
    ("import-namespace", 'import * as ns from "//a.com/m.js"', 'import * as ns from "{A}/m.js"', True),
    ("import-side-effect", 'import "https://a.com/polyfill.js";', 'import "{A}/polyfill.js";', True),
    ("import-default-and-named", 'import d, {e} from "http://a.com/m.js"', 'import d, {e} from "{AH}/m.js"', True),
    ("import-minified", 'import{a}from"https://a.com/m.js";import"https://a.com/n.js"', 'import{a}from"{A}/m.js";import"{A}/n.js"', True),
    ("import-attributes", 'import data from "https://a.com/d.json" with { type: "json" };', 'import data from "{A}/d.json" with { type: "json" };', True),
    ("import-comment-before-source", 'import x from /* c */ "https://a.com/x.js"', 'import x from /* c */ "{A}/x.js"', True),
    ("import-line-comment-before-source", 'import x from // c\n"https://a.com/x.js"', 'import x from // c\n"{A}/x.js"', True),
    ("import-newlines", 'import {\n  a,\n  b\n} from\n  "https://a.com/m.js"', 'import {\n  a,\n  b\n} from\n  "{A}/m.js"', True),
    ("export-star", 'export * from "https://a.com/m.js";', 'export * from "{A}/m.js";', True),
    ("export-star-as", "export * as ns from 'https://a.com/m.js';", "export * as ns from '{A}/m.js';", True),
    ("export-named-from", 'export { a, b as c } from "https://a.com/m.js";', 'export { a, b as c } from "{A}/m.js";', True),
    ("export-local-untouched", 'const u = "https://a.com/"; export { u };', None, True),
    ("export-default-string-untouched", 'export default "https://a.com/x.js";', None, True),
    ("relative-specifiers", 'import a from "./a.js"; import b from "../b.js"; import c from "/c.js";', None, True),
    ("bare-specifiers", 'import React from "react"; import x from "lodash/x";', None, True),
    ("data-blob-specifiers", 'import a from "data:text/javascript,export default 1"; import("blob:https://a.com/x")', None, True),
    ("already-proxied", 'import a from "{A}/x.js"', None, True),
    ("uppercase-scheme-host", 'import a from "HTTPS://A.COM/X.js"', 'import a from "{A}/X.js"', True),
    ("userinfo", 'import a from "https://u:p@a.com/x.js"', f'import a from "http://u:p@{SID}-s-a-com.tandem.localhost:8080/x.js"', True),
    ("port", 'import a from "https://a.com:8443/x.js"', f'import a from "http://{SID}-s8443-a-com.tandem.localhost:8080/x.js"', True),
    ("invalid-host-untouched", 'import a from "https://a b.com/x.js"', None, True),
    # dynamic import()
    ("dynamic", 'import("https://a.com/x.js").then(m => m.run())', 'import("{A}/x.js").then(m => m.run())', False),
    ("dynamic-single-quoted", "const m = await import('//a.com/x.js')", "const m = await import('{A}/x.js')", True),
    ("dynamic-template-literal", "import(`https://a.com/x.js`)", "import(`{A}/x.js`)", False),
    # expressions are known at run time: the runtime maps them (rewriter/jslocation.py)
    ("dynamic-template-substitution", "import(`https://a.com/${name}.js`)", "import((globalThis[Symbol.for(\"tandem.url\")]||String)(`https://a.com/${name}.js`))", False),
    ("dynamic-variable", "const u = 'https://a.com/x.js'; import(u)", "const u = 'https://a.com/x.js'; import((globalThis[Symbol.for(\"tandem.url\")]||String)(u))", False),
    ("dynamic-concatenation", "import('https://a.com/' + name)", "import((globalThis[Symbol.for(\"tandem.url\")]||String)('https://a.com/' + name))", False),
    ("dynamic-options", 'import("https://a.com/d.json", { with: { type: "json" } })', 'import("{A}/d.json", { with: { type: "json" } })', False),
    ("dynamic-spaces-comments", 'import /* a */ ( // b\n "https://a.com/x.js" )', 'import /* a */ ( // b\n "{A}/x.js" )', False),
    ("dynamic-in-arrow", "const load = () => import('https://a.com/x.js');", "const load = () => import('{A}/x.js');", False),
    ("dynamic-nbsp-before-paren", 'import\u00a0("https://a.com/x.js")', 'import\u00a0("{A}/x.js")', False),
    ("dynamic-escaped-slashes", 'import("https:\\/\\/a.com\\/x.js")', 'import("http://' + f'{SID}-s-a-com.tandem.localhost:8080' + '\\/x.js")', False),
    ("dynamic-hex-escape", 'import("\\x68ttps://a.com/x")', 'import("\\x68ttp://' + f'{SID}-s-a-com.tandem.localhost:8080' + '/x")', False),
    ("dynamic-unicode-escape-host", 'import("https://\\u0061.com/x")', 'import("{A}/x")', False),
    ("dynamic-line-continuation", 'import("https://a.com/\\\nx.js")', 'import("{A}/\\\nx.js")', False),
    ("import-meta-upstream", "const u = new URL('./x.js', import.meta.url)", "const u = new URL('./x.js', (globalThis[Symbol.for(\"tandem.up\")]||String)(import.meta.url))", True),
    ("member-import-untouched", 'loader.import("https://a.com/x.js"); obj.from("https://a.com/")', None, False),
    ("method-named-import", 'class L { import(u) { return u } } new L().import("https://a.com/x")', None, False),
    # importScripts
    ("importScripts", 'importScripts("https://a.com/w.js");', 'importScripts("{A}/w.js");', False),
    ("importScripts-many", "importScripts('https://a.com/1.js', './2.js', '//a.com/3.js')", "importScripts('{A}/1.js', './2.js', '{A}/3.js')", False),
    ("importScripts-member", 'self.importScripts("https://a.com/w.js")', 'self.importScripts("{A}/w.js")', False),
    ("importScripts-after-expression", 'importScripts(base + "x.js", "https://a.com/y.js")', 'importScripts(base + "x.js", "{A}/y.js")', False),
    ("importScripts-typeof-untouched", 'if (typeof importScripts === "function") { x = "https://a.com/" }', None, False),
    ("importScripts-as-property-name", 'o = { importScripts: "https://a.com/w.js" }', None, False),
    # source maps
    ("sourcemap", "x();\n//# sourceMappingURL=https://a.com/x.js.map", "x();\n//# sourceMappingURL={A}/x.js.map", False),
    ("sourcemap-legacy-at", "x();\n//@ sourceMappingURL=//a.com/x.map", "x();\n//@ sourceMappingURL={A}/x.map", False),
    ("sourcemap-block-comment", "x();\n/*# sourceMappingURL=https://a.com/x.map */", "x();\n/*# sourceMappingURL={A}/x.map */", False),
    ("sourcemap-relative", "x();\n//# sourceMappingURL=x.js.map", None, False),
    ("sourcemap-data", "x();\n//# sourceMappingURL=data:application/json;base64,e30=", None, False),
    ("sourcemap-in-string-untouched", 'x = "//# sourceMappingURL=https://a.com/x.map";', None, False),
    ("sourcemap-in-template-untouched", "x = `\n//# sourceMappingURL=https://a.com/x.map\n`;", None, False),
    # look-alikes that are not specifiers
    ("string-mentions-import", "s = 'import x from \"https://a.com/x.js\"';", None, False),
    ("comment-mentions-import", "// import('https://a.com/x.js')\n/* export * from 'https://a.com/y' */ f()", None, False),
    ("regex-with-import", "r = /import(\"https:\\/\\/a.com\\/\")/g; r.test(s)", None, False),
    ("template-mentions-import", "t = `import(\"https://a.com/x\")`", None, False),
    ("identifier-import-prefix", 'importer("https://a.com/x"); reimport("https://a.com/y")', None, False),
    ("from-as-identifier", 'const from = "https://a.com/"; f(from)', None, False),
    ("division-not-regex", 'a = b / 2; import("https://a.com/x") / 1', 'a = b / 2; import("{A}/x") / 1', False),
    ("html-comment-classic", '<!-- hide\nimport("https://a.com/x.js")\n//-->', '<!-- hide\nimport("{A}/x.js")\n//-->', False),
    # broken scripts pass through unchanged
    ("syntax-error-passes-through", 'import("https://a.com/x.js"); function (', None, False),
    ("unterminated-string", 'import("https://a.com/x.js', None, False),
    ("unicode-around", 'const é = "ü"; import("https://a.com/ä.js")', 'const é = "ü"; import("{A}/ä.js")', False),
    ("crlf-lines", 'a();\r\nimport("https://a.com/x.js");\r\n', 'a();\r\nimport("{A}/x.js");\r\n', False),
    ("bom-start", '\ufeffimport("https://a.com/x.js")', '\ufeffimport("{A}/x.js")', False),
    ("empty", "", None, False),
    ("no-trigger-words", "var a = 'https://a.com/x.js'; fetch(a)", None, False),
]
IDS = [v[0] for v in VECTORS]
assert len(set(IDS)) == len(IDS), "ids must be unique"


def _expected(v) -> str:
    return _fill(v[1]) if v[2] is None else _fill(v[2])


@pytest.mark.parametrize("vec", VECTORS, ids=IDS)
def test_whole(vec):
    src = _fill(vec[1])
    assert rewrite_js(src, make_urls()) == _expected(vec)
    assert rewrite_js_bytes(src.encode(), make_urls()) == _expected(vec).encode()
    # the identity mapper changes no URL; the run-time hooks of rewriter/jslocation.py still go in
    assert rewrite_js(src, IdentityRewriter()) == J._apply(src.encode(), jslocation.read_edits(src.encode(), parse=J._parse)).decode()


def _inline(vec) -> tuple[bytes, bytes]:
    kind = ' type="module"' if vec[3] else ""
    src = f"<p>x</p><script{kind}>{_fill(vec[1])}</script><a href=/r>"
    want = f"<p>x</p><script{kind}>{_expected(vec)}</script><a href=/r>"
    return src.encode(), want.encode()


def _html(src: bytes, cuts) -> bytes:
    urls = make_urls()
    rw = HtmlRewriter(urls, js=js_rewriter(urls))
    out, prev = [], 0
    for c in list(cuts) + [len(src)]:
        out.append(rw.feed(src[prev:c]))
        prev = c
    out.append(rw.close())
    return b"".join(out)


@pytest.mark.parametrize("vec", VECTORS, ids=IDS)
def test_inline_script_split_everywhere(vec):
    src, want = _inline(vec)
    assert _html(src, []) == want
    for cut in range(1, len(src)):
        assert _html(src, [cut]) == want, f"split at {cut}"


@pytest.mark.parametrize("vec", VECTORS[::5], ids=IDS[::5])
def test_inline_script_byte_by_byte(vec):
    src, want = _inline(vec)
    assert _html(src, range(1, len(src))) == want


@pytest.mark.parametrize("vec", VECTORS, ids=IDS)
def test_inline_script_random_chunks(vec):
    src, want = _inline(vec)
    rnd = random.Random(vec[0])
    cuts = sorted(rnd.sample(range(1, len(src)), min(6, len(src) - 1)))
    assert _html(src, cuts) == want


def test_unparsable_is_counted():
    before = J.stats.unparsable
    src = 'import("https://a.com/x.js"); function ('
    assert rewrite_js(src, make_urls()) == src
    assert J.stats.unparsable == before + 1


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_outputs_parse_in_node(tmp_path):
    """Every rewritten vector that node accepts before is accepted after (classic or module)."""
    cases = []
    for v in VECTORS:
        if v[2] is not None:
            cases.append({"id": v[0], "module": v[3], "before": _fill(v[1]), "after": _expected(v)})
    script = tmp_path / "check.mjs"
    script.write_text(
        "import vm from 'node:vm'; import fs from 'node:fs';\n"
        "const cases = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')); const out = {};\n"
        "for (const c of cases) { const ok = s => { try { c.module ? new vm.SourceTextModule(s) : new vm.Script(s); return true }"
        " catch (e) { return String(e) } }; out[c.id] = [ok(c.before), ok(c.after)] }\n"
        "console.log(JSON.stringify(out));\n"
    )
    data = tmp_path / "cases.json"
    data.write_text(json.dumps(cases))
    r = subprocess.run([NODE, "--experimental-vm-modules", "--no-warnings", str(script), str(data)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout)
    assert len(results) >= 35
    for cid, (before, after) in results.items():
        assert after is True or before is not True, f"{cid}: parsed before, not after: {after}"


# --- decoding string literals -------------------------------------------------------------------


@pytest.mark.parametrize("raw, value", [
    ("abc", "abc"),
    ("a\\nb\\tc", "a\nb\tc"),
    ("\\x41\\u0042\\u{43}\\u{1F600}", "ABC\U0001F600"),
    ("\\0\\1\\101\\400", "\x00\x01A\x200"),
    ("\\8\\9\\q\\'\\\"", "89q'\""),
    ("a\\\nb\\\r\nc\\\u2028d", "abcd"),
    ("\\u{110000}", "\ufffd"),
])
def test_decode_js_string(raw, value):
    assert decode_js_string(raw)[0] == value


def test_decode_template_crlf():
    value, starts = decode_js_string("a\r\nb\rc", template=True)
    assert value == "a\nb\nc"
    assert starts == [0, 1, 3, 4, 5, 6]


# --- corpus -------------------------------------------------------------------------------------------


def _corpus() -> list[str]:
    if not CORPUS.is_dir():
        return ["(absent)"]
    return sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.js"))


def _read(name: str) -> bytes:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus folder {CORPUS} is absent (see shared/corpus/README.md)")
    return (CORPUS / name).read_bytes()


ESM = {"bootstrap-5.3.9/bootstrap.esm.js", "htmx.org-4.0.1/htmx.esm.js", "vue-3.5.45/vue.esm-browser.prod.js",
       "axios-1.21.1/axios.min.js"}
PROBE_HEAD = b'import "https://cdn.example.com/dep.js";\n'
PROBE_TAIL = b'\n;import("https://cdn.example.com/late.js");\n//# sourceMappingURL=https://cdn.example.com/x.js.map\n'
CDN = f"http://{SID}-s-cdn-example-com.tandem.localhost:8080".encode()


@pytest.mark.parametrize("name", _corpus())
def test_corpus_identity_and_real_mapper(name):
    data = _read(name)
    # the libraries name no absolute specifier; their location reads go through the runtime (jslocation)
    want = J._apply(data, jslocation.read_edits(data, parse=J._parse))
    assert rewrite_js_bytes(data, IdentityRewriter()) == want
    assert rewrite_js_bytes(data, make_urls()) == want


@pytest.mark.parametrize("name", _corpus())
def test_corpus_forced_parse_changes_only_url_spans(name, tmp_path):
    """With absolute specifiers added at both ends the whole file is parsed and rewritten: only the
    three URL origins change, and node still parses the result."""
    data = _read(name)
    module = name in ESM
    src = (PROBE_HEAD if module else b"") + data + PROBE_TAIL
    before = J.stats.parsed
    out = rewrite_js_bytes(src, make_urls())
    assert J.stats.parsed == before + 1, "the grammar rejected a real library"
    want = J._apply(src, jslocation.read_edits(src, parse=J._parse)).replace(b"https://cdn.example.com", CDN)
    assert out == want
    if NODE is not None:
        path = tmp_path / ("x.mjs" if module else "x.js")
        path.write_bytes(out)
        r = subprocess.run([NODE, "--check", str(path)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr[-2000:]


def test_corpus_location_false_positives_untouched():
    """leaflet says only 'geolocation', Font Awesome only 'location-dot': nothing to change either way."""
    for name in ("leaflet-1.9.4/leaflet.js", "fortawesome-fontawesome-free-7.3.1/all.min.js"):
        data = _read(name)
        assert rewrite_js_bytes(data, make_urls()) == data


# --- hostile input ---------------------------------------------------------------------------------


def test_deep_nesting_does_not_crash():
    """100,000 unclosed "{a:" overflow an 8 MiB C stack in tree-sitter's error recovery: parsed on the
    big-stack thread, the broken script passes through unchanged (before the fix: a segfault)."""
    src = b'import("https://a.com/x.js");' + b"{a:" * 100_000
    before = J.stats.unparsable + J.stats.timeouts
    assert rewrite_js_bytes(src, make_urls()) == src
    assert J.stats.unparsable + J.stats.timeouts == before + 1


def test_too_big_passes_through(monkeypatch):
    monkeypatch.setattr(J, "MAX_PARSE", 1000)
    src = b'import("https://a.com/x.js");' + b" " * 1000
    before = J.stats.too_big
    assert rewrite_js_bytes(src, make_urls()) == src
    assert J.stats.too_big == before + 1


def test_charsets():
    urls = make_urls()
    latin = 'var s = "café"; import("https://a.com/é.js")'.encode("cp1252")
    assert rewrite_js_bytes(latin, urls, "windows-1252") == f'var s = "café"; import("{A}/é.js")'.encode("cp1252")
    utf16 = 'import("https://a.com/x.js")'.encode("utf-16")
    assert rewrite_js_bytes(utf16, urls) == utf16
    bom = b"\xef\xbb\xbf" + b'import("https://a.com/x.js")'
    assert rewrite_js_bytes(bom, urls) == b"\xef\xbb\xbf" + f'import("{A}/x.js")'.encode()
    bad = b'import("https://a.com/\xff\xfe.js") // \xc3'
    assert rewrite_js_bytes(bad, urls) == f'import("{A}/'.encode() + b'\xff\xfe.js") // \xc3'


# --- properties ------------------------------------------------------------------------------------

JSISH = st.lists(st.sampled_from([
    "import", "export", " ", "\n", "(", ")", "{", "}", "[", "]", ";", ",", "*", "from", "'", '"', "`", "${", "/", "//",
    "/*", "*/", "\\", "https://a.com/x.js", "//b.com/", "./r.js", "x", "=", "importScripts", "self.", "a.b",
    "//# sourceMappingURL=https://c.com/m", "<!--", "-->", "\u2028", "é", "as", "with", "{type:'json'}",
]), max_size=30).map("".join)


def _grammar_ok(text: str) -> bool:
    tree = J._parse(text.encode("utf-8", "surrogatepass"))
    return tree is not None and not tree.root_node.has_error


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSISH, st.text(max_size=200)))
def test_never_raises_identity_exact_and_stays_valid(text):
    failed = J.stats.failed
    assert rewrite_js(text, IdentityRewriter()) == text
    out = rewrite_js(text, make_urls())
    assert J.stats.failed == failed
    if out != text:
        assert _grammar_ok(text) and _grammar_ok(out)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes(data):
    failed = J.stats.failed
    assert rewrite_js_bytes(data, IdentityRewriter()) == data
    rewrite_js_bytes(data, make_urls(), "utf-8")
    rewrite_js_bytes(data, make_urls(), "shift_jis")
    assert J.stats.failed == failed


def test_many_imports_fail_closed_in_linear_time():
    """Finding #15: a 6.5 MB script with 200,000 import() calls took 17.6 s and 300 MiB. Past
    MAX_IMPORT_WORDS the script is refused (RewriteBudgetExceeded), from every entry point, and an
    HTML page holding it fails closed; below it the same shape is still rewritten."""
    from rewriter.errors import RewriteBudgetExceeded

    many = b"".join(b'import("https://a%d.com/x.js");\n' % i for i in range(J.MAX_IMPORT_WORDS + 1))
    urls = make_urls()
    with pytest.raises(RewriteBudgetExceeded):
        rewrite_js_bytes(many, urls)
    with pytest.raises(RewriteBudgetExceeded):
        rewrite_js(many.decode(), urls)
    with pytest.raises(RewriteBudgetExceeded):
        js_rewriter(urls).rewrite_bytes(many)
    rw = HtmlRewriter(urls, js=js_rewriter(urls))
    with pytest.raises(RewriteBudgetExceeded):
        rw.feed(b"<script>" + many + b"</script>")
        rw.close()
    few = b"".join(b'import("https://a%d.com/x.js");\n' % i for i in range(50))
    assert b"https://a" not in rewrite_js_bytes(few, urls)


def test_runs_of_comments_are_read_one_way(tmp_path):
    """bootstrap.esm.js never finished rewriting: the pre-check regexes read a comment as ``/\\*.*?\\*/``
    (and ``//.*?`` to a line end), so a run of n comments after a keyword could also be read as
    fewer, longer comments, and a match that then failed tried all 2^n readings. Every context a
    comment run can follow, with 60 comments and no match after them: the rewrite must finish (run
    in a child process, so the old behaviour fails on the timeout instead of hanging the suite)."""
    runs = [b"/* c */ " * 60, b"// c\n" * 60, b"/** x * y **/\n" * 60]
    heads = [b"from ", b"import ", b"import(", b"importScripts", b"} = ", b"x = String(", b"a + ", b"a == ",
             b"location", b"location.", b"x.postMessage"]
    src = b"\n".join(h + r + b"0;" for h in heads for r in runs)
    path = tmp_path / "comments.js"
    path.write_bytes(src)
    code = ("import sys; from rewriter.js import rewrite_js_bytes; from tests.rewriter.test_js import make_urls; "
            "out = rewrite_js_bytes(open(sys.argv[1], 'rb').read(), make_urls()); print(len(out))")
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60,
                       cwd=pathlib.Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stderr[-2000:]
    assert int(r.stdout) >= len(src)


# --- the parse's analysis is remembered by content ---------------------------------------------------

MEMO_SRC = (b'import a from "https://cdn.example.com/a.js";\nimport("https://cdn.example.com/b.js");\n'
            b'importScripts("https://w.example/w.js");\nx = location.host + `${y}`;\n'
            b'//# sourceMappingURL=https://cdn.example.com/a.js.map\n')


def test_a_script_is_parsed_once_whatever_the_mapper(monkeypatch):
    """Which literals are specifiers, where the source map comments and the location reads are:
    the same for every mapper, so a script is parsed once; each mapper still maps its own URLs."""
    calls = []
    real = J._parse
    monkeypatch.setattr(J, "_parse", lambda data: calls.append(len(data)) or real(data))
    src = MEMO_SRC + b"// parsed once\n"
    other = UrlRewriter(ProxyBase("https", "other.example"), "zzzzzzzz2345", page_url="https://shop.example/")
    first, second = rewrite_js_bytes(src, make_urls()), rewrite_js_bytes(src, other)
    assert calls == [len(src)]
    J._analyses.clear()
    jslocation._memo.clear()
    assert (rewrite_js_bytes(src, make_urls()), rewrite_js_bytes(src, other)) == (first, second)
    assert b"abcdefgh2345-s-cdn-example-com" in first and b"zzzzzzzz2345-s-cdn-example-com.other.example" in second
    assert first.count(b"tandem.localhost") == 4 and jslocation.LOCATION_FN in first


@pytest.mark.parametrize("name", CORPUS_FILES if (CORPUS_FILES := sorted(
    str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.js"))) else ["absent"])
def test_remembered_analysis_rewrites_as_a_fresh_parse(name, monkeypatch):
    """Corpus scripts, each with a specifier and a source map added so that every one is parsed:
    the second rewrite (from the remembered analysis) equals the first (from the parse)."""
    if name == "absent":
        pytest.skip("shared/corpus/js is not beside the repo")
    monkeypatch.setattr(J, "PARSE_SECONDS", 1e6)  # no parse times out on a loaded machine
    data = _read(name) + b'\n;import("https://cdn.example.com/late.js");\n//# sourceMappingURL=https://cdn.example.com/x.map\n'
    J._analyses.clear()
    fresh = rewrite_js_bytes(data, make_urls())
    assert fresh != data
    assert rewrite_js_bytes(data, make_urls()) == fresh


_PLACE_PIECES = st.sampled_from([
    "import", "from", "export", " ", "\n", "(", ")", "'", '"', "`", "https://a.com/x.js", "./y.js", "react",
    "\\u0068ttps://a.com/z.js", "\\", "${a}", "importScripts", "//# sourceMappingURL=", "https://a.com/m.map",
    "/* c */", "x", ";", "re", "Array.", "\r",
])


@given(st.lists(_PLACE_PIECES, max_size=20).map("".join))
@settings(max_examples=1000, deadline=None)
def test_remembered_places_ask_the_mapper_as_the_scan_does(text):
    """_worth over the places remembered by content (_places_of) answers as _worth_parsing, with the
    same questions to the mapper (its counts are the same)."""
    data = text.encode("utf-8", "surrogateescape")
    a, b = make_urls(), make_urls()
    assert J._worth(J._find_places(data), a) == J._worth_parsing(data, b)
    assert (a.rewritten, a.invalid) == (b.rewritten, b.invalid)


def test_remembered_places_on_the_corpus():
    if not CORPUS.is_dir():
        pytest.skip(f"corpus {CORPUS} is absent (see shared/corpus/README.md)")
    for name in _corpus():
        for d in (_read(name), PROBE_HEAD + _read(name) + PROBE_TAIL):
            a, b = make_urls(), make_urls()
            assert J._worth(J._places_of(d, J._key(d)), a) == J._worth_parsing(d, b), name
            assert (a.rewritten, a.invalid) == (b.rewritten, b.invalid), name


def test_parse_budget_is_cpu_time_not_the_wall_clock(monkeypatch):
    """A busy machine must not change the output: the parse budget counts the parsing thread's CPU
    time. Here another thread holds the GIL in a busy loop while a script is parsed; every progress
    call of the parse waits for the GIL, so the parse takes far longer than its budget by the wall
    clock, while its own CPU time stays small. Before the fix (a wall-clock deadline) the parse was
    cancelled and the script passed through unrewritten, with its absolute import() unproxied."""
    import threading
    import time

    monkeypatch.setattr(J, "PARSE_SECONDS", 0.25)  # far above this parse's CPU time (~10-50 ms)
    monkeypatch.setattr(J, "PARSE_SECONDS_PER_MB", 0.0)
    body = b"".join(b"function f%d(a){return a.map(function(x){return x*%d+1;});}\n" % (k, k) for k in range(5000))
    src = body + b'import("https://cdn.example.com/late.js");\n'
    expected_url = b"abcdefgh2345-s-cdn-example-com"
    stop = threading.Event()

    def hog():
        while not stop.is_set():
            pass

    J._analyses.clear()
    J._places.clear()
    t = threading.Thread(target=hog, daemon=True)
    t.start()
    try:
        start = time.monotonic()
        out = rewrite_js_bytes(src, make_urls())
        wall = time.monotonic() - start
    finally:
        stop.set()
        t.join()
    J._analyses.clear()
    if wall <= 0.25:
        pytest.skip(f"the parse took {wall:.2f} s of wall time: the GIL hog did not slow it past the budget here")
    assert expected_url in out, "the script passed through unrewritten: the budget ran out on the wall clock"


@pytest.mark.parametrize("pad", [0, 100_000], ids=["this-thread", "big-stack-thread"])
def test_a_cancelled_parse_leaves_the_next_script_rewritten(pad, monkeypatch):
    """tree-sitter resumes a cancelled parse at the parser's next call unless it is reset. A script
    whose parse ran out of budget (hostile input) made the next script parsed on the same thread --
    another page's, another session's -- come out "unparsable" and pass through unrewritten, its
    absolute import() unproxied. Both parse threads: the caller's and the big-stack worker's."""
    hostile = b'import("https://a.com/x.js");' + b"{a:" * 20_000 + b" " * pad
    good = b"var x = 1;\n" + b" " * pad + b'import("https://cdn.example.com/late.js");\n'
    J._analyses.clear()
    monkeypatch.setattr(J, "PARSE_SECONDS", 0.0)
    monkeypatch.setattr(J, "PARSE_SECONDS_PER_MB", 0.0)
    before = J.stats.timeouts
    assert rewrite_js_bytes(hostile, make_urls()) == hostile
    assert J.stats.timeouts == before + 1  # cancelled: the case this test is about
    monkeypatch.setattr(J, "PARSE_SECONDS", 1e6)
    out = rewrite_js_bytes(good, make_urls())
    assert b"abcdefgh2345-s-cdn-example-com" in out, "the script after a cancelled parse passed through"
    J._analyses.clear()

"""The scoped location-read rewrite (rewriter/jslocation.py), through the JS rewriter that applies it."""

import pytest

from rewriter import jslocation
from rewriter.js import rewrite_js
from rewriter.urls import ProxyBase, UrlRewriter

F = jslocation.LOCATION_FN.decode()


@pytest.fixture
def urls():
    return UrlRewriter(ProxyBase("http", "tandem.localhost:8080"), "abcdefgh2345", page_url="https://shop.example/")


@pytest.mark.parametrize("src, out", [
    ("a = location.host;", f"a = {F}location).host;"),
    ("a = window.location.href;", f"a = {F}window.location).href;"),
    ("a = document.location.origin + x;", f"a = {F}document.location).origin + x;"),
    ("ws = 'ws://localhost:' + location.port;", f"ws = 'ws://localhost:' + {F}location).port;"),
    ("a = top.location?.hostname;", f"a = {F}top.location)?.hostname;"),
    ("a = location.toString();", f"a = {F}location).toString();"),
    ("a = f().contentWindow.location.protocol;", f"a = {F}f().contentWindow.location).protocol;"),
    ("a = location /* c */ . host;", f"a = {F}location) /* c */ . host;"),
])
def test_reads_go_through_the_runtime(urls, src, out):
    assert rewrite_js(src, urls) == out


@pytest.mark.parametrize("src", [
    "location.href = '/next';",  # writes navigate: the Navigation API hook handles them
    "window.location.host += 'x';",
    "location.port++;",
    "delete location.hash;",
    "a = location.pathname + location.search + location.hash;",  # the same either way
    "a = 'location.href';",  # in a string
    "// location.href\n/* location.host */ x = 1;",  # in comments
    "a = `location.origin`;",  # in a template
    "a = /location.host/.test(s);",  # in a regex
    "a = mylocation.host;",  # another name
    "a = location.hostx;",
    "a = location[\"host\"];",  # computed: not covered
    "const {assign} = location;",  # destructuring a method: the view has none
    "let {host, ...rest} = location;",  # or the rest
    "const {host} = other;",
    "a = location.href; b = (",  # does not parse: passed through
])
def test_left_alone(urls, src):
    assert rewrite_js(src, urls) == src


def test_local_variable_named_location_still_works(urls):
    # react-dom and routers have their own `location`: the runtime's function hands it back unchanged
    src = "function f(location) { return location.href; }"
    assert rewrite_js(src, urls) == f"function f(location) {{ return {F}location).href; }}"


def test_import_specifiers_and_location_reads_in_one_script(urls):
    src = 'import x from "https://cdn.example/x.js"; a = location.host;'
    out = rewrite_js(src, urls)
    assert "https://" not in out and "cdn-example" in out
    assert f"{F}location).host" in out


def test_no_candidate_no_parse_and_memo(urls, monkeypatch):
    assert not jslocation.candidates(b"var a = 1; locationX.host; location = 2;")
    calls = []
    src = b"a = location.host; /* memo */"
    first = jslocation.read_edits(src, parse=lambda d: calls.append(d) or None)
    assert first == [] and len(calls) == 1  # no tree (timed out): nothing rewritten, and not remembered
    from rewriter.js import _parse
    assert len(jslocation.read_edits(src, parse=_parse)) == 2
    assert jslocation.read_edits(src, parse=lambda d: calls.append(d)) == jslocation.read_edits(src)  # remembered now
    assert len(calls) == 1
    jslocation._memo.clear()


T = jslocation.TARGET_FN.decode()


@pytest.mark.parametrize("src, out", [
    ("frame.contentWindow.postMessage(m, 'https://a.example');", f"frame.contentWindow.postMessage(m, {T}'https://a.example'));"),
    ("parent.postMessage({a: 1}, origin, [port]);", f"parent.postMessage({{a: 1}}, {T}origin), [port]);"),
    ("w.postMessage(m, {targetOrigin: o});", f"w.postMessage(m, {T}{{targetOrigin: o}}));"),
])
def test_post_message_targets_go_through_the_runtime(urls, src, out):
    assert rewrite_js(src, urls) == out


@pytest.mark.parametrize("src", ["w.postMessage(m);", "postMessage(m, o);", "w.postMessage(...args);", "a = 'x.postMessage(m, o)';"])
def test_post_message_left_alone(urls, src):
    assert rewrite_js(src, urls) == src


U = jslocation.URL_FN.decode()


@pytest.mark.parametrize("src, out", [
    ("m = await import(`${cdn}/x.js`);", f"m = await import({U}`${{cdn}}/x.js`));"),
    ("import(spec).then(f);", f"import({U}spec)).then(f);"),
])
def test_dynamic_import_expressions_go_through_the_runtime(urls, src, out):
    assert rewrite_js(src, urls) == out


@pytest.mark.parametrize("src", ["import('./a.js');", "import(`./b.js`);", "x.import(a);", "a = 'import(b)';"])
def test_dynamic_import_literals_and_others_left_to_js(urls, src):
    assert jslocation.URL_FN.decode() not in rewrite_js(src, urls)


def test_import_meta_url(urls):
    up = jslocation.UP_FN.decode()
    assert rewrite_js("u = new URL('./a', import.meta.url);", urls) == f"u = new URL('./a', {up}import.meta.url));"
    assert rewrite_js("u = import.meta.resolve('./x');", urls) == f"u = {up}import.meta.resolve('./x'));"
    assert rewrite_js("u = import.meta . resolve ('./x');", urls) == f"u = {up}import.meta . resolve ('./x'));"
    assert rewrite_js("u = import.meta.resolve;", urls) == "u = import.meta.resolve;"


@pytest.mark.parametrize("src, out", [
    ("a = String(location);", f"a = String({F}location));"),
    ("a = location + '';", f"a = {F}location) + '';"),
    ("a = '' + window.location;", f"a = '' + {F}window.location);"),
    ("a = `at ${document.location}`;", f"a = `at ${{{F}document.location)}}`;"),
    ("u = new URL(location);", f"u = new URL({F}location));"),
    ("a = location == u;", f"a = {F}location) == u;"),
    ("a = u != window.location;", f"a = u != {F}window.location);"),
])
def test_location_as_a_string(urls, src, out):
    assert rewrite_js(src, urls) == out


@pytest.mark.parametrize("src", ["f(location);", "a = location;", "a = location === b;", "a = b !== top.location;", "location = '/x';", "a = location - 1;"])
def test_location_as_a_value_left_alone(urls, src):
    assert rewrite_js(src, urls) == src


@pytest.mark.parametrize("src, out", [
    ("const {host} = location;", f"const {{host}} = {F}location);"),
    ("const {host: h, port = 80, pathname} = window.location;", f"const {{host: h, port = 80, pathname}} = {F}window.location);"),
    ("({href, hash} = document.location);", f"({{href, hash}} = {F}document.location));"),
])
def test_destructuring_reads_the_view(urls, src, out):
    assert rewrite_js(src, urls) == out


# --- the pre-check's as-string regex, against the form it replaced ---------------------------------

import re  # noqa: E402

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_OLD_AS_STRING_RE = re.compile(  # the original form (a lookbehind and sets first: tried at every position)
    rb"(?:String|URL)" + jslocation._SPACE + rb"\(" + jslocation._SPACE + jslocation._L + jslocation._SPACE
    + rb"[),]|\+" + jslocation._SPACE + jslocation._L + rb"(?![\w$])|"
    rb"location" + jslocation._SPACE + rb"(?:\+|[!=]=(?!=))|(?<![!=])[!=]=" + jslocation._SPACE + jslocation._L
    + rb"(?![\w$])|\$\{" + jslocation._SPACE + jslocation._L + jslocation._SPACE + rb"\}", re.S)
_PIECES = st.sampled_from([b"location", b"String", b"URL", b"(", b")", b",", b"+", b"=", b"!", b"==", b"!=", b"===",
                           b"!==", b"${", b"}", b".", b"a", b"$", b" ", b"\n", b"/*", b"*/", b"*", b"/", b"x.", b"_"])


@given(st.lists(_PIECES, max_size=16).map(b"".join))
@settings(max_examples=4000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_as_string_regex_finds_what_the_old_form_found(data):
    old, new = _OLD_AS_STRING_RE.search(data), jslocation._AS_STRING_RE.search(data)
    assert (old and old.start()) == (new and new.start())


def test_scripts_without_a_candidate_do_not_push_parsed_edits_out(monkeypatch):
    """Scripts without a candidate are remembered apart: however many pass, a parsed script's
    edits stay remembered (it is not parsed again)."""
    from rewriter.js import _parse

    monkeypatch.setattr(jslocation, "MEMO_ENTRIES", 2)
    monkeypatch.setattr(jslocation, "_memo", jslocation.OrderedDict())
    monkeypatch.setattr(jslocation, "_no_candidates", jslocation.OrderedDict(), raising=False)
    src = b"var h = location.host;"
    assert len(jslocation.read_edits(src, parse=_parse)) == 2
    for k in range(10):
        assert jslocation.read_edits(b"var x = %d;" % k, parse=_parse) == []
    calls = []
    assert len(jslocation.read_edits(src, parse=lambda d: calls.append(d))) == 2 and calls == []
    assert jslocation.read_edits(b"var x = 3;", parse=lambda d: calls.append(d)) == [] and calls == []

"""HTML rewriter, the parts that hand content to other rewriters: inline scripts by type, import maps,
speculation rules, on* handlers, javascript: URLs, iframe srcdoc, keep_original, XML documents.
Each vector runs whole, split in two at every offset, and (every fourth) byte by byte."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from rewriter.css import rewrite_css
from rewriter.html import HtmlRewriter, javascript_url_body, percent_decode_ascii
from rewriter.js import js_rewriter
from rewriter.urls import IdentityRewriter, ProxyBase, UrlRewriter

# every test runs once per HTML core (compiled and pure Python): same bytes from both
pytestmark = pytest.mark.usefixtures("html_core")

SID = "abcdefgh2345"
INJ = '<script src="/rt.js"></script>'
XINJ = '<script xmlns="http://www.w3.org/1999/xhtml" src="/rt.js"></script>'


def make_urls() -> UrlRewriter:
    return UrlRewriter(ProxyBase("http", "tandem.localhost:8080"), SID, page_url="https://example.com/")


def s(host: str) -> str:
    return f"http://{SID}-s-{host.replace('.', '-')}.tandem.localhost:8080"


A = s("a.com")


def make(identity: bool = False, **opts) -> HtmlRewriter:
    urls = IdentityRewriter() if identity else make_urls()
    return HtmlRewriter(urls, css=lambda t: rewrite_css(t, urls), js=js_rewriter(urls), **opts)


def V(id: str, src: str, want: str | None = None, **opts):
    return pytest.param(src.encode(), (src if want is None else want).encode(), opts, id=id)


VECTORS = [
    # --- inline scripts by type --------------------------------------------------------
    V("script-classic", '<script>import("https://a.com/x.js")</script>', f'<script>import("{A}/x.js")</script>'),
    V("script-type-text-javascript", '<script type="text/javascript">import("https://a.com/x")</script>', f'<script type="text/javascript">import("{A}/x")</script>'),
    V("script-type-case-and-space", '<script type=" Application/JavaScript ">import("https://a.com/x")</script>', f'<script type=" Application/JavaScript ">import("{A}/x")</script>'),
    V("script-type-empty", '<script type="">import("https://a.com/x")</script>', f'<script type="">import("{A}/x")</script>'),
    V("script-type-no-value", '<script type>import("https://a.com/x")</script>', f'<script type>import("{A}/x")</script>'),
    V("script-legacy-js-types", '<script type=text/jscript>import("https://a.com/1")</script><script type=application/x-javascript>import("https://a.com/2")</script>', f'<script type=text/jscript>import("{A}/1")</script><script type=application/x-javascript>import("{A}/2")</script>'),
    V("script-language-javascript", '<script language="JavaScript1.2">import("https://a.com/x")</script>', f'<script language="JavaScript1.2">import("{A}/x")</script>'),
    V("script-language-vbscript-untouched", '<script language=vbscript>import("https://a.com/x")</script>'),
    V("script-type-with-params-is-data", '<script type="text/javascript; charset=utf-8">import("https://a.com/x")</script>'),
    V("script-module", '<script type=module>import {a} from "https://a.com/m.js"; export * from "//a.com/n.js"</script>', f'<script type=module>import {{a}} from "{A}/m.js"; export * from "{A}/n.js"</script>'),
    V("script-module-uppercase", '<SCRIPT TYPE="MODULE">import "https://a.com/m.js"</SCRIPT>', f'<SCRIPT TYPE="MODULE">import "{A}/m.js"</SCRIPT>'),
    V("script-ld-json-untouched", '<script type="application/ld+json">{"@id": "https://a.com/", "url": "https://a.com/x"}</script>'),
    V("script-template-untouched", '<script type="text/template"><a href="https://a.com/">import("https://a.com/x")</a></script>'),
    V("script-json-untouched", '<script type=application/json>{"u":"https://a.com/"}</script>'),
    V("script-no-urls-untouched", "<script>var a = 1 < 2 && b > c; document.write('<p>')</script>"),
    V("script-with-src-and-body", '<script src="https://a.com/a.js">import("https://a.com/x")</script>', f'<script src="{A}/a.js">import("{A}/x")</script>'),
    V("script-escaped-comment", '<script><!--\nimport("https://a.com/x")\n//--></script>', f'<script><!--\nimport("{A}/x")\n//--></script>'),
    V("script-html-comment-line-is-a-comment", '<script><!--<script>import("https://a.com/x")</script>--></script><a href="https://a.com/">', f'<script><!--<script>import("https://a.com/x")</script>--></script><a href="{A}/">'),
    V("script-broken-passes-through", '<script>import("https://a.com/x"); function (</script>'),
    V("script-unclosed-at-eof", '<script>import("https://a.com/x")', f'<script>import("{A}/x")'),
    # known limitation: an SVG <script> inside HTML is foreign content (markup, entities): not collected
    V("script-in-svg-not-rewritten", '<svg><script>import("https://a.com/x")</script></svg>'),
    V("script-then-tags-rewritten", '<script>x()</script><img src="https://a.com/i.png">', f'<script>x()</script><img src="{A}/i.png">'),
    V("script-non-ascii", '<script>var s = "é"; import("https://a.com/ü.js")</script>', f'<script>var s = "é"; import("{A}/ü.js")</script>'),
    # --- import maps and speculation rules ------------------------------------------------------
    V("importmap", '<script type="importmap">{"imports": {"vue": "https://a.com/vue.js", "app": "./app.js"}}</script>', f'<script type="importmap">{{"imports": {{"vue": "{A}/vue.js", "app": "./app.js"}}}}</script>'),
    V("importmap-scopes-and-url-keys", '<script type=importmap>{"imports":{"https://a.com/x.js":"/x.js"},"scopes":{"https://a.com/":{"d":"//a.com/d.js"}}}</script>', f'<script type=importmap>{{"imports":{{"{A}/x.js":"/x.js"}},"scopes":{{"{A}/":{{"d":"{A}/d.js"}}}}}}</script>'),
    V("importmap-integrity-renamed", '<script type=importmap>{"imports":{},"integrity":{"https://a.com/x.js":"sha384-x"}}</script>', f'<script type=importmap>{{"imports":{{}},"x-tandem-removed-integrity":{{"{A}/x.js":"sha384-x"}}}}</script>'),
    V("importmap-whitespace-kept", '<script type="importmap">\n{\n  "imports" :\t{ "a" : "https://a.com/a.js" }\n}\n</script>', f'<script type="importmap">\n{{\n  "imports" :\t{{ "a" : "{A}/a.js" }}\n}}\n</script>'),
    V("importmap-invalid-json-untouched", '<script type=importmap>{"imports": {"a": "https://a.com/a.js",}}</script>'),
    V("importmap-escapes", '<script type=importmap>{"imports":{"a":"https:\\/\\/a.com\\/a.js"}}</script>', f'<script type=importmap>{{"imports":{{"a":"http://{SID}-s-a-com.tandem.localhost:8080\\/a.js"}}}}</script>'),
    V("speculationrules", '<script type=speculationrules>{"prerender":[{"source":"list","urls":["https://a.com/next","/rel"]}]}</script>', f'<script type=speculationrules>{{"prerender":[{{"source":"list","urls":["{A}/next","/rel"]}}]}}</script>'),
    # --- handlers and javascript: URLs -------------------------------------------------------
    V("onclick", '<button onclick="import(&quot;https://a.com/m.js&quot;).then(m=>m.go())">', f'<button onclick="import(&quot;{A}/m.js&quot;).then(m=>m.go())">'),
    V("onload-single-quotes", "<img src=/i.png onload='import(\"//a.com/x\")'>", f"<img src=/i.png onload='import(\"{A}/x\")'>"),
    V("onerror-unquoted-no-url", "<img onerror=alert(1)>"),
    V("handler-broken-untouched", '<a onclick="import(&quot;https://a.com/x&quot;) (">'),
    V("javascript-url", '<a href="javascript:import(\'https://a.com/x.js\')">', f'<a href="javascript:import(\'{A}/x.js\')">'),
    V("javascript-url-percent", '<a href="javascript:import(%22https://a.com/x%22)">', f'<a href="javascript:import(%22{A}/x%22)">'),
    V("javascript-url-case-and-space", '<a href=" JavaScript:import(\'https://a.com/x\')">', f'<a href=" JavaScript:import(\'{A}/x\')">'),
    V("javascript-url-plain-untouched", '<a href="javascript:void(0)">x</a><form action="javascript:go()">'),
    V("javascript-url-with-http-in-string-untouched", "<a href=\"javascript:location='https://a.com/'\">"),
    # --- srcdoc ------------------------------------------------------------------------------
    V("srcdoc", '<iframe srcdoc="<a href=&quot;https://a.com/&quot;>x</a>"></iframe>', f'<iframe srcdoc="<a href=&quot;{A}/&quot;>x</a>"></iframe>'),
    V("srcdoc-injected", "<iframe srcdoc='<p>hi'></iframe>", f"{INJ}<iframe srcdoc='{INJ}<p>hi'></iframe>", inject=INJ),
    V("srcdoc-nested", '<iframe srcdoc="<iframe srcdoc=&quot;<img src=&amp;quot;https://a.com/i&amp;quot;>&quot;></iframe>"></iframe>', f'<iframe srcdoc="<iframe srcdoc=&quot;<img src=&amp;quot;{A}/i&amp;quot;>&quot;></iframe>"></iframe>'),
    V("srcdoc-script-and-style", "<iframe srcdoc=\"<style>p{background:url(https://a.com/b.png)}</style><script>import('https://a.com/x')</script>\">", f"<iframe srcdoc=\"<style>p{{background:url({A}/b.png)}}</style><script>import('{A}/x')</script>\">"),
    V("srcdoc-on-div-untouched", '<div srcdoc="<a href=https://a.com/>"></div>'),
    V("srcdoc-nonce-removed", '<iframe srcdoc="<script nonce=&quot;n&quot; src=&quot;/a.js&quot;></script>"></iframe>', '<iframe srcdoc="<script src=&quot;/a.js&quot;></script>"></iframe>'),
    # --- keep_original ------------------------------------------------------------------------
    V("keep-original-href", '<a href="https://a.com/x">', f'<a href="{A}/x" data-tandem-o-href="https://a.com/x">', keep_original=True),
    V("keep-original-unquoted", "<img src=https://a.com/i.png alt=x>", f"<img src={A}/i.png data-tandem-o-src=https://a.com/i.png alt=x>", keep_original=True),
    V("keep-original-srcset-style", "<img srcset='//a.com/1.png 1x' style=\"background:url(https://a.com/b)\">", f"<img srcset='{A}/1.png 1x' data-tandem-o-srcset='//a.com/1.png 1x' style=\"background:url({A}/b)\" data-tandem-o-style=\"background:url(https://a.com/b)\">", keep_original=True),
    V("keep-original-xlink", '<svg><use xlink:href="https://a.com/s.svg#i"/></svg>', f'<svg><use xlink:href="{A}/s.svg#i" data-tandem-o-xlink_href="https://a.com/s.svg#i"/></svg>', keep_original=True),
    V("keep-original-dropped-attributes", '<script integrity="sha384-x" nonce=n src=/a.js></script>', '<script data-tandem-o-integrity="sha384-x" data-tandem-o-nonce=n src=/a.js></script>', keep_original=True),
    V("keep-original-untouched-values", '<a href="/rel">x</a>', keep_original=True),
    # --- XML documents ------------------------------------------------------------------------
    V("xml-svg-document", '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><image xlink:href="https://a.com/i.png"/></svg>', f'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">{XINJ}<image xlink:href="{A}/i.png"/></svg>', xml=True, inject=INJ),
    V("xml-xhtml-head", '<?xml version="1.0"?><!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml"><head><title>t</title></head><body><a href="https://a.com/">x</a></body></html>', f'<?xml version="1.0"?><!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml"><head>{INJ}<title>t</title></head><body><a href="{A}/">x</a></body></html>', xml=True, inject=INJ),
    V("xml-self-closing-script", '<html xmlns="http://www.w3.org/1999/xhtml"><head><script src="https://a.com/a.js"/><link href="https://a.com/s.css"/></head></html>', f'<html xmlns="http://www.w3.org/1999/xhtml"><head><script src="{A}/a.js"/><link href="{A}/s.css"/></head></html>', xml=True),
    V("xml-title-textarea-are-markup", '<root><title><a href="https://a.com/"/></title><textarea><img src="https://a.com/i"/></textarea></root>', f'<root><title><a href="{A}/"/></title><textarea><img src="{A}/i"/></textarea></root>', xml=True),
    V("xml-cdata-hides-markup", '<root><![CDATA[<a href="https://a.com/">]]><a href="https://a.com/"/></root>', f'<root><![CDATA[<a href="https://a.com/">]]><a href="{A}/"/></root>', xml=True),
    V("xml-script-cdata", '<svg xmlns="http://www.w3.org/2000/svg"><script>//<![CDATA[\nimport("https://a.com/x")\n//]]></script></svg>', f'<svg xmlns="http://www.w3.org/2000/svg"><script>//<![CDATA[\nimport("{A}/x")\n//]]></script></svg>', xml=True),
    V("xml-no-inject-at-eof-or-text", "<?xml version='1.0'?>\n<!-- c -->\n", xml=True, inject=INJ),
    V("xml-empty-root-no-inject", "<svg xmlns='http://www.w3.org/2000/svg'/>", xml=True, inject=INJ),
    V("html-mode-self-closing-script-swallows", '<script src="/a.js"/><a href="https://a.com/">', '<script src="/a.js"/><a href="https://a.com/">'),
]


def run(src: bytes, opts: dict, cuts) -> bytes:
    rw = make(**opts)
    out, prev = [], 0
    for c in list(cuts) + [len(src)]:
        out.append(rw.feed(src[prev:c]))
        prev = c
    out.append(rw.close())
    return b"".join(out)


@pytest.mark.parametrize("src, want, opts", VECTORS)
def test_whole(src, want, opts):
    assert run(src, dict(opts), []) == want
    assert run(src, dict(opts, identity=True, inject=""), []) == src


@pytest.mark.parametrize("src, want, opts", VECTORS)
def test_split_in_two_everywhere(src, want, opts):
    for cut in range(1, len(src)):
        assert run(src, dict(opts), [cut]) == want, f"split at {cut}"


@pytest.mark.parametrize("src, want, opts", VECTORS[::4])
def test_byte_by_byte(src, want, opts):
    assert run(src, dict(opts), range(1, len(src))) == want


def test_stats_for_scripts():
    rw = make()
    rw.feed(b'<script>import("https://a.com/x")</script><script type=importmap>{"imports":{"a":"//a.com/a"}}</script>'
            b'<script type="application/ld+json">{"u":"https://a.com/"}</script>')
    rw.close()
    assert rw.stats["js_blocks"] == 2 and rw.stats["js_skipped"] == 0


def test_big_inline_script_fails_closed(monkeypatch):
    """Passed through, its import() would reach the real site: the document is refused instead."""
    from rewriter.errors import RewriteBudgetExceeded
    from rewriter.html import limits

    monkeypatch.setattr(limits, "MAX_SCRIPT", 1000)
    body = 'import("https://a.com/x");' + "/*" + "x" * 2000 + "*/"
    src = f"<script>{body}</script><a href=https://a.com/>".encode()
    with pytest.raises(RewriteBudgetExceeded):
        run(src, {}, list(range(100, len(src), 100)))


def test_srcdoc_depth_is_bounded():
    """Past MAX_SRCDOC_DEPTH the document is refused (left as it was, the innermost URL would leak)."""
    from rewriter.errors import RewriteBudgetExceeded
    from rewriter.html import limits

    inner = '<a href="https://a.com/">'
    for depth in range(limits.MAX_SRCDOC_DEPTH + 2):
        inner = f'<iframe srcdoc="{inner.replace("&", "&amp;").replace(chr(34), "&quot;")}"></iframe>'
        if depth < limits.MAX_SRCDOC_DEPTH:
            assert "https://a.com/" not in run(inner.encode(), {}, []).decode()
        else:
            with pytest.raises(RewriteBudgetExceeded):
                run(inner.encode(), {}, [])


@pytest.mark.parametrize("value, at", [
    ("javascript:x", 11), ("  JAVASCRIPT:x", 13), ("java\tscript:x", 12), ("\x01javascript:", 12),
    ("javascript", None), ("javascripts:x", None), ("https://a.com/", None), ("", None),
])
def test_javascript_url_body(value, at):
    assert javascript_url_body(value) == at


def test_percent_decode_ascii():
    text, starts = percent_decode_ascii("a%22b%C3%A9%7")
    assert text == 'a"b%C3%A9%7'
    assert starts[:4] == [0, 1, 4, 5] and starts[-1] == 13 and len(starts) == len(text) + 1


HTMLISH = st.lists(st.sampled_from([
    "<script>", "<script type=module>", "<script type=importmap>", "</script>", "import(", '"https://a.com/x"', "'//b.com/'",
    "<iframe srcdoc=\"", "&quot;", '">', "<a href=", "onclick=", "javascript:", "%22", "{", "}", '"imports"', ":", ",",
    "<!--", "-->", " ", "\n", "<svg>", "</svg>", "x", "é",
]), max_size=30).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.one_of(HTMLISH, st.text(max_size=120)), st.data(), st.booleans())
def test_chunking_does_not_matter(text, draw, xml):
    data = text.encode("utf-8")
    opts = {"inject": INJ, "xml": xml, "keep_original": True}
    whole = run(data, opts, [])
    cuts = sorted(set(draw.draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=6))))
    assert run(data, opts, [c for c in cuts if c < len(data)]) == whole
    assert run(data, dict(opts, identity=True, inject=""), []) == data


def test_big_srcdoc_keeps_its_escapes():
    """Only what the inner document's rewriting changed changes: a 60 KB srcdoc keeps every
    reference spelled as it was (&lt; &#39; &amp;quot;), whatever the chunking."""
    filler = "<p title=&#39;x&#39;>a &amp;lt;b&amp;gt; &#x263A;</p>" * 1000
    src = (f'<iframe srcdoc="<a href=&quot;https://a.com/x&quot;>{filler}'
           f'<img src=&quot;//a.com/i&quot;>é"></iframe>').encode()
    want = (f'<iframe srcdoc="{INJ.replace(chr(34), "&quot;")}<a href=&quot;{A}/x&quot;>{filler}'
            f'<img src=&quot;{A}/i&quot;>é"></iframe>').encode()
    assert run(src, {"inject": INJ}, []).endswith(want)
    assert run(src, {"inject": INJ}, range(997, len(src), 997)) == run(src, {"inject": INJ}, [])

"""Differential check of the HTML rewriter with an independent parser (lxml's libxml2 HTML parser):
on every corpus page, with each core, what a browser would load from the rewritten page goes
through the proxy, and what a person reads is the same text as the original."""

from __future__ import annotations

import pathlib
import re

import pytest

lxml_html = pytest.importorskip("lxml.html", reason="lxml is a test dependency (pip install -e '.[test]')")

from rewriter.css import rewrite_css  # noqa: E402
from rewriter.html import HtmlRewriter, srcset_url_spans  # noqa: E402
from rewriter.js import js_rewriter  # noqa: E402
from rewriter.urls import ProxyBase, UrlError, UrlRewriter, split_url  # noqa: E402

pytestmark = pytest.mark.usefixtures("html_core")

PAGES = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "pages"
DOMAIN = "tandem.localhost:8080"
URL_ATTRS = ("href", "src", "action", "formaction", "poster", "background", "cite", "longdesc", "manifest",
             "codebase", "xlink:href", "icon", "lowsrc", "dynsrc")
LIST_ATTRS = ("srcset", "imagesrcset")
HIDDEN = ("script", "style", "noscript", "template", "title", "head")


def _pages() -> list[str]:
    return sorted(p.name for p in PAGES.glob("*.html")) if PAGES.is_dir() else []


def _rewrite(data: bytes) -> bytes:
    urls = UrlRewriter(ProxyBase("http", DOMAIN), "abcdefgh2345", page_url="https://example.com/")
    rw = HtmlRewriter(urls, inject='<script src="/__tandem/runtime.js"></script>',
                      css=lambda t: rewrite_css(t, urls), js=js_rewriter(urls))
    return b"".join([rw.feed(data[i: i + 65536]) for i in range(0, len(data), 65536)] + [rw.close()])


def _leaks(value: str) -> bool:
    """True if a browser would load this URL value from somewhere other than the proxy."""
    try:
        parts = split_url(value, "https")
    except UrlError:
        return False  # the browser cannot load it either
    if parts is None:
        return False  # relative, or not http(s)/ws(s)
    host = parts.origin.host
    return not (host == DOMAIN.split(":")[0] or host.endswith("." + DOMAIN.split(":")[0]))


def _inside_hidden_template(el) -> bool:
    return any(a.tag in ("noscript", "template") for a in el.iterancestors() if isinstance(a.tag, str))


def _unproxied(doc) -> list[str]:
    found = []
    for el in doc.iter():
        if not isinstance(el.tag, str) or el.tag in ("noscript", "template") or _inside_hidden_template(el):
            continue
        for name, value in el.attrib.items():
            name = name.lower()
            if name in URL_ATTRS or (name == "data" and el.tag == "object"):
                if _leaks(value):
                    found.append(f"<{el.tag} {name}={value[:80]!r}>")
            elif name in LIST_ATTRS or name == "ping":
                spans = srcset_url_spans(value) if name != "ping" else [m.span() for m in re.finditer(r"\S+", value)]
                for s, e in spans:
                    if _leaks(value[s:e]):
                        found.append(f"<{el.tag} {name}=..{value[s:e][:80]!r}..>")
    return found


def _visible_text(doc) -> str:
    """The text a person reads: everything outside script, style, noscript, template and head."""
    body = doc.find(".//body")
    parts: list[str] = []

    def walk(el, hidden: bool) -> None:
        hidden = hidden or (isinstance(el.tag, str) and el.tag in HIDDEN)
        if not hidden and isinstance(el.tag, str):
            parts.append(el.text or "")
        for child in el:
            walk(child, hidden)
            if not hidden:
                parts.append(child.tail or "")

    walk(body if body is not None else doc, False)
    return " ".join(" ".join(parts).split())


def _parse(data: bytes):
    return lxml_html.document_fromstring(data)


@pytest.mark.skipif(not _pages(), reason="corpus pages are absent (see shared/corpus/README.md)")
@pytest.mark.parametrize("name", _pages())
def test_rewritten_page_loads_only_through_the_proxy(name):
    data = (PAGES / name).read_bytes()
    out = _rewrite(data)
    before, after = _parse(data), _parse(out)
    assert _unproxied(after) == [], "URL attributes left pointing at the real site"
    assert _visible_text(after) == _visible_text(before), "the visible text changed"


def test_the_check_sees_a_leak():
    """The check itself: an unproxied absolute URL and a changed text are both caught."""
    doc = _parse(b'<p>a<img src="https://cdn.example.com/x.png" srcset="/a 1x, //cdn.example.com/b 2x"></p>')
    assert len(_unproxied(doc)) == 2
    assert _visible_text(_parse(b"<p>a <b>b</b></p>")) != _visible_text(_parse(b"<p>a <b>c</b></p>"))

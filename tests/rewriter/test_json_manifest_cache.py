"""JSON URL editing (import maps, speculation rules), web app manifests, and the rewrite cache."""

from __future__ import annotations

import json
import threading

import pytest
from hypothesis import given, settings, strategies as st

from rewriter import manifest as M
from rewriter.cache import RewriteCache, mapping_key
from rewriter.css import rewrite_css_bytes
from rewriter.jsonurls import rewrite_importmap, rewrite_json_urls, scan_strings
from rewriter.js import rewrite_js_bytes
from rewriter.manifest import rewrite_manifest
from rewriter.urls import IdentityRewriter, ProxyBase, UrlRewriter

SID = "abcdefgh2345"
A = f"http://{SID}-s-a-com.tandem.localhost:8080"


def make_urls(sid: str = SID, page: str = "https://example.com/", domain: str = "tandem.localhost:8080") -> UrlRewriter:
    return UrlRewriter(ProxyBase("http", domain), sid, page_url=page)


# --- the JSON scanner ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ['{"a": [1, "x", {"b": null}]}', ' "s" ', "[]", "{}", '{"a\\"b": "c\\u0041"}', "-1.5e3", "true"])
def test_scan_accepts_json(text):
    assert scan_strings(text) is not None


@pytest.mark.parametrize("text", ['{"a": 1,}', "[1 2]", "{a: 1}", "'x'", '{"a": "\n"}', "01", "", '{"a":1} x', "[" * 600 + "]" * 600])
def test_scan_rejects_what_json_rejects(text):
    assert scan_strings(text) is None


def test_scan_paths():
    toks = scan_strings('{"imports": {"a": "x"}, "l": ["y", {"k": "z"}]}')
    assert [(path, is_key) for path, is_key, _a, _b in toks] == [
        ((), True), (("imports",), True), (("imports", "a"), False), ((), True), (("l", 0), False),
        (("l", 1), True), (("l", 1, "k"), False),
    ]


def test_only_selected_paths_change():
    text = '{"imports": {"a": "https://a.com/a.js"}, "other": "https://a.com/x", "list": ["https://a.com/y"]}'
    out = rewrite_json_urls(text, make_urls(), values=[("imports", "*"), ("list", "*")])
    assert out == f'{{"imports": {{"a": "{A}/a.js"}}, "other": "https://a.com/x", "list": ["{A}/y"]}}'


def test_escaped_values_keep_their_escapes():
    text = '{"imports": {"a": "https:\\u002f\\u002fa.com\\u002fa.js"}}'
    out = rewrite_importmap(text, make_urls())
    assert json.loads(out)["imports"]["a"] == f"{A}/a.js"
    assert out.endswith('\\u002fa.js"}}')  # the path kept its escape


def test_importmap_identity_and_invalid():
    text = '{"imports":{"a":"https://a.com/a.js"}}'
    assert rewrite_importmap(text, IdentityRewriter()) is text
    assert rewrite_importmap("not json https://a.com/", make_urls()) == "not json https://a.com/"


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10),
              st.sampled_from(["https://a.com/x", "//a.com/y", "./rel", "https:\u2028//a.com/", "http://a.com/\"q\""])),
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.sampled_from(["imports", "scopes", "integrity", "https://a.com/k", "x"]), c, max_size=4)),
    max_leaves=20,
), st.booleans())
def test_importmap_stays_json_with_the_same_shape(value, ascii_only):
    text = json.dumps(value, ensure_ascii=ascii_only, indent=1)
    out = rewrite_importmap(text, make_urls())
    parsed = json.loads(out)  # still JSON
    assert isinstance(parsed, type(value))
    assert rewrite_importmap(text, IdentityRewriter()) == text


# --- manifests ---------------------------------------------------------------------------------------

MANIFEST = """{
  "name": "Shop",
  "start_url": "https://a.com/?source=pwa",
  "scope": "https://a.com/",
  "id": "/app",
  "icons": [{"src": "https://a.com/i/192.png", "sizes": "192x192"}, {"src": "/i/512.png"}],
  "screenshots": [{"src": "//a.com/s.png"}],
  "shortcuts": [{"name": "Cart", "url": "https://a.com/cart", "icons": [{"src": "https://a.com/c.png"}]}],
  "share_target": {"action": "https://a.com/share", "method": "GET"},
  "protocol_handlers": [{"protocol": "web+shop", "url": "https://a.com/p?u=%s"}],
  "related_applications": [{"platform": "play", "url": "https://play.google.com/store/apps/details?id=x"}],
  "description": "see https://a.com/about"
}"""


def test_manifest_members():
    out = rewrite_manifest(MANIFEST.encode(), make_urls()).decode()
    got = json.loads(out)
    assert got["start_url"] == f"{A}/?source=pwa" and got["scope"] == f"{A}/" and got["id"] == "/app"
    assert [i["src"] for i in got["icons"]] == [f"{A}/i/192.png", "/i/512.png"]
    assert got["screenshots"][0]["src"] == f"{A}/s.png"
    assert got["shortcuts"][0]["url"] == f"{A}/cart" and got["shortcuts"][0]["icons"][0]["src"] == f"{A}/c.png"
    assert got["share_target"]["action"] == f"{A}/share" and got["protocol_handlers"][0]["url"] == f"{A}/p?u=%s"
    assert got["related_applications"][0]["url"].startswith("https://play.google.com/")  # store listing: left alone
    assert got["description"] == "see https://a.com/about"
    # nothing but the URL origins changed
    assert out.replace(A, "https://a.com").replace("https://a.com/s.png", "//a.com/s.png") == MANIFEST


@pytest.mark.parametrize("data", [b"", b"not json", b"\xff\xfe{}", "{\"start_url\": \"https://a.com/\"}".encode("utf-16"), b"{" * 1000])
def test_manifest_garbage_passes_through(data):
    counts = M.ManifestStats()
    assert rewrite_manifest(data, make_urls(), stats=counts) == data
    assert counts.failed == 0


def test_manifest_counters_belong_to_the_caller():
    """No process-wide counters: each caller counts its own manifests (issue 14)."""
    assert not hasattr(M, "stats")
    counts = M.ManifestStats()
    rewrite_manifest(b'{"start_url": "https://a.com/"}', make_urls(), stats=counts)
    rewrite_manifest(b"not json", make_urls(), stats=counts)
    assert (counts.rewritten, counts.not_json, counts.failed) == (1, 1, 0)


def test_manifest_bom_kept():
    data = b'\xef\xbb\xbf{"start_url": "https://a.com/"}'
    assert rewrite_manifest(data, make_urls()) == b'\xef\xbb\xbf{"start_url": "' + A.encode() + b'/"}'


# --- cache ---------------------------------------------------------------------------------------------

BIG_CSS = b"a{background:url(https://a.com/x.png)}\n" + b"/* padding */\n" * 500


def test_cache_rewrites_once_per_mapping():
    cache = RewriteCache()
    calls = []
    urls = make_urls()

    def rw():
        calls.append(1)
        return rewrite_css_bytes(BIG_CSS, urls)

    first = cache.get_or_rewrite("css", BIG_CSS, urls, rw)
    second = cache.get_or_rewrite("css", BIG_CSS, make_urls(), rw)  # another mapper, same mapping
    assert first == second and len(calls) == 1 and cache.hits == 1 and cache.misses == 1
    assert A.encode() in first


@pytest.mark.parametrize("other", [
    make_urls(sid="bbbbbbbbbbbb"),  # another session: other labels
    make_urls(domain="co.example.org"),  # another base domain
    make_urls(page="http://example.com/"),  # page scheme decides what //host means
])
def test_cache_key_separates_what_the_output_depends_on(other):
    cache = RewriteCache()
    src = b"a{background:url(//a.com/x.png)}" + b" " * 5000
    a = cache.get_or_rewrite("css", src, make_urls(), lambda: rewrite_css_bytes(src, make_urls()))
    b = cache.get_or_rewrite("css", src, other, lambda: rewrite_css_bytes(src, other))
    assert a != b and cache.misses == 2
    assert b == rewrite_css_bytes(src, other)


def test_cache_key_separates_kind_and_charset():
    cache = RewriteCache()
    src = b'import("https://a.com/x.js");' + b" " * 5000
    urls = make_urls()
    js = cache.get_or_rewrite("js", src, urls, lambda: rewrite_js_bytes(src, urls))
    css = cache.get_or_rewrite("css", src, urls, lambda: rewrite_css_bytes(src, urls))
    assert js != css and cache.misses == 2
    cache.get_or_rewrite("js", src, urls, lambda: b"other", charset="latin-1")
    assert cache.misses == 3


def test_cache_bounds_and_lru_order():
    cache = RewriteCache(max_entries=3, max_bytes=10_000, min_bytes=1)
    urls = make_urls()
    for i in range(3):
        cache.get_or_rewrite("css", bytes([i]) * 10, urls, lambda i=i: b"out%d" % i)
    cache.get_or_rewrite("css", bytes([0]) * 10, urls, lambda: b"never")  # touch entry 0: most recent
    cache.get_or_rewrite("css", bytes([3]) * 10, urls, lambda: b"out3")  # evicts entry 1, the oldest
    assert len(cache) == 3 and cache.evictions == 1
    assert cache.get_or_rewrite("css", bytes([0]) * 10, urls, lambda: b"miss") == b"out0"
    assert cache.get_or_rewrite("css", bytes([1]) * 10, urls, lambda: b"again") == b"again"
    big = cache.get_or_rewrite("css", b"x" * 20, urls, lambda: b"y" * 9_000)  # pushes the rest out by bytes
    assert big == b"y" * 9_000 and cache.stored_bytes <= 10_000


def test_cache_unchanged_output_stored_as_marker():
    cache = RewriteCache(min_bytes=1)
    src = b"p{color:red}" * 1000
    urls = make_urls()
    assert cache.get_or_rewrite("css", src, urls, lambda: rewrite_css_bytes(src, urls)) == src
    assert cache.stored_bytes == 0
    assert cache.get_or_rewrite("css", src, urls, lambda: b"not called") == src


def test_cache_small_bodies_not_cached():
    cache = RewriteCache()
    cache.get_or_rewrite("css", b"p{}", make_urls(), lambda: b"p{}")
    assert len(cache) == 0


def test_cache_threads():
    cache = RewriteCache(max_entries=50, min_bytes=1)
    urls = make_urls()
    errors = []

    def work(n):
        try:
            for i in range(200):
                key = bytes([i % 70]) * 8
                assert cache.get_or_rewrite("css", key, urls, lambda key=key: key + b"!") == key + b"!"
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(cache) <= 50


def test_mapping_key_of_identity_differs():
    assert mapping_key(IdentityRewriter()) != mapping_key(make_urls())

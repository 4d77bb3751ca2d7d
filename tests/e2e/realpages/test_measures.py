"""The suite's own yardsticks, without a browser: word similarity, which errors are Tandem's, the
direct-vs-proxied comparison, and the remapping of a saved page's URLs onto loopback origins."""

from __future__ import annotations

from .cobrowse import comparable_errors, is_tandem, similarity, word_diff
from .server import remap, stand_in

PAGES, CDN = "http://realpages.localhost:9", "http://realcdn.localhost:9"


def test_similarity_is_multiset_overlap_over_the_longer_side():
    assert similarity([], []) == 1.0
    assert similarity(["a"], []) == 0.0
    assert similarity("a b c d".split(), "d c b a".split()) == 1.0  # order does not matter
    assert similarity("a a b".split(), "a b".split()) == 2 / 3  # counts do
    words = [f"w{i}" for i in range(100)]
    assert similarity(words, words[:99]) == 0.99
    assert similarity(words, words[:98]) < 0.99
    assert word_diff("a a b".split(), "a c".split()) == {"only_page": ["a", "b"], "only_mirror": ["c"]}


def test_errors_naming_tandems_scripts_are_tandems():
    ours = {"kind": "pageerror", "text": "TypeError: Illegal invocation",
            "stack": "TypeError: Illegal invocation\n    at http://x-h1-site.tandem.localhost:8080/__tandem/record.js:1:200"}
    theirs = {"kind": "pageerror", "text": "ReferenceError: jQuery is not defined", "stack": "at http://site/page.html:20:5"}
    console = {"kind": "console", "text": "Failed to load resource: 404", "stack": "http://x.tandem.localhost/__tandem/runtime.js:0"}
    assert is_tandem(ours) and is_tandem(console) and not is_tandem(theirs)


def test_page_errors_compare_without_urls_numbers_resource_failures_or_tandems_own():
    direct = [{"kind": "pageerror", "text": "ReferenceError: jQuery is not defined at http://realpages.localhost:9/p.html:12", "stack": ""},
              {"kind": "console", "text": "Failed to load resource: net::ERR_NAME_NOT_RESOLVED", "stack": ""}]
    proxied = [{"kind": "pageerror", "text": "ReferenceError: jQuery is not defined at http://abc-h9-realpages-localhost.tandem.localhost:8/p.html:13", "stack": ""},
               {"kind": "console", "text": "Failed to load resource: the server responded with a status of 403", "stack": ""},
               {"kind": "pageerror", "text": "TypeError: boom", "stack": "at /__tandem/runtime.js:1:1"}]
    assert comparable_errors(direct) == comparable_errors(proxied) == {"pageerror: ReferenceError: jQuery is not defined at <url>"}
    proxied += [  # resources that fail differently through the proxy, but fail both ways
        {"kind": "console", "text": "Not allowed to load local resource: blob:http://realpages.localhost:9/5c2e", "stack": ""},
        {"kind": "console", "text": "Access to XMLHttpRequest at 'http://x-h-api-mixpanel-com.tandem.localhost:8/track' from origin "
                                    "'http://x-h9-realpages-localhost.tandem.localhost:8' has been blocked by CORS policy: No 'Access-Control-Allow-Origin'", "stack": ""}]
    assert comparable_errors(direct) == comparable_errors(proxied)
    proxied.append({"kind": "pageerror", "text": "TypeError: x is null", "stack": ""})
    assert comparable_errors(proxied) - comparable_errors(direct) == {"pageerror: TypeError: x is null"}


def test_remap_points_every_absolute_url_at_loopback_and_keeps_the_rest():
    page = (b'<link rel="canonical" href="https://www.site.example/article">'
            b'<img src="https://img.cdn-host.example/a.png?x=1" srcset="//img.cdn-host.example/b.png 2x">'
            b'<a href="https://www.site.example/other">same site</a><a href="/relative">rel</a>'
            b'<script>var u = "https:\\/\\/api.site.example\\/v1"; var ns = "http://www.w3.org/2000/svg";'
            b' var own = "http://realcdn.localhost:9/x";</script>'
            b'<p>caf\xe9 \xa9 bytes that are not UTF-8 stay</p>')
    out = remap(page, PAGES, CDN)
    assert b'href="http://realpages.localhost:9/article"' in out
    assert b'src="http://realcdn.localhost:9/img.cdn-host.example/a.png?x=1"' in out
    assert b'srcset="http://realcdn.localhost:9/img.cdn-host.example/b.png 2x"' in out
    assert b'href="http://realpages.localhost:9/other"' in out and b'href="/relative"' in out
    assert b'"http:\\/\\/realcdn.localhost:9\\/api.site.example\\/v1"' in out
    assert b"http://www.w3.org/2000/svg" in out and b'"http://realcdn.localhost:9/x"' in out
    assert b"caf\xe9 \xa9 bytes" in out
    assert b"example" not in out.replace(b"realcdn.localhost:9/img.cdn-host.example", b"").replace(
        b"realcdn.localhost:9\\/api.site.example", b"")


def test_stand_ins_by_extension_and_accept():
    assert stand_in("/a/b.png", "*/*").content_type == "image/png"
    assert stand_in("/a/b.css", "*/*").content_type == "text/css"
    assert stand_in("/a/b.js?v=1", "*/*").content_type == "text/javascript"
    assert stand_in("/pixel", "image/avif,image/webp,*/*").content_type == "image/png"
    assert stand_in("/font.woff2", "*/*").status == 404

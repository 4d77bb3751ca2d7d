"""URL mapper: only scheme and authority change; everything else stays exactly as written."""

import re

import pytest

from rewriter.urls import ProxyBase, UrlError, UrlRewriter, _split_url_full, canonical_host, split_url

BASE = ProxyBase("http", "tandem.localhost:8080")
SID = "abcdefgh2345"
P = f"http://{SID}-s-example-com.tandem.localhost:8080"
PH = f"http://{SID}-h-example-com.tandem.localhost:8080"


def rw(value, page="https://page.test/"):
    return UrlRewriter(BASE, SID, page).rewrite(value)


@pytest.mark.parametrize("value, expected", [
    ("https://example.com/a?b#c", P + "/a?b#c"),
    ("https://example.com", P),
    ("HTTPS://EXAMPLE.COM/Path", P + "/Path"),
    ("http://example.com/", PH + "/"),
    ("http://example.com:80/", PH + "/"),
    ("https://example.com:443/x", P + "/x"),
    ("https://example.com:/x", P + "/x"),
    ("https://example.com:8443/", f"http://{SID}-s8443-example-com.tandem.localhost:8080/"),
    ("//example.com/x", P + "/x"),
    ("\\\\example.com/x", P + "/x"),
    ("https:\\\\example.com\\x", P + "\\x"),
    ("https:example.com/x", "https:example.com/x"),  # relative on an https page
    ("http:example.com/x", PH + "/x"),  # other scheme: authority after any slashes
    ("  https://example.com/p ", "  " + P + "/p "),
    ("https://user:pw@example.com/", f"http://user:pw@{SID}-s-example-com.tandem.localhost:8080/"),
    ("https://ex%61mple.com/", P + "/"),
    ("https://example.com./", f"http://{SID}-a-" ),  # trailing dot: not LDH, alias form (prefix checked below)
    ("wss://example.com/socket", f"ws://{SID}-s-example-com.tandem.localhost:8080/socket"),
    ("ws://example.com/socket", f"ws://{SID}-h-example-com.tandem.localhost:8080/socket"),
    ("https://ex\nample.com/a?b=1\n&c=2", P + "/a?b=1\n&c=2"),  # tab/newline ignored in the origin, kept after it
    ("ht\ttps://example.com/x\ty", P + "/x\ty"),
    ("https://example.com/\n\n", P + "/\n\n"),
    ("/root/relative", "/root/relative"),
    ("relative.html", "relative.html"),
    ("?q=1", "?q=1"),
    ("#frag", "#frag"),
    ("", ""),
    ("data:text/html,<a href=https://example.com>", "data:text/html,<a href=https://example.com>"),
    ("blob:https://example.com/uuid", "blob:https://example.com/uuid"),
    ("about:blank", "about:blank"),
    ("mailto:a@example.com", "mailto:a@example.com"),
    ("tel:+123", "tel:+123"),
    ("javascript:void(0)", "javascript:void(0)"),
    ("https://exa mple.com/", "https://exa mple.com/"),  # invalid host: left alone
    ("https://example.com:99999/", "https://example.com:99999/"),
    ("https://example.com:8x/", "https://example.com:8x/"),
    (P + "/already", P + "/already"),  # already proxied
    ("http://tandem.localhost:8080/api", "http://tandem.localhost:8080/api"),  # the control plane
    ("https://bücher.example/", f"http://{SID}-s-xn----bcher--kva-example.tandem.localhost:8080/"),
], ids=repr)
def test_rewrite(value, expected):
    out = rw(value)
    if expected.endswith("-a-"):
        assert out.startswith(expected) and out.endswith(".tandem.localhost:8080/")
    else:
        assert out == expected


@pytest.mark.parametrize("host, expected", [
    ("EXAMPLE.com", "example.com"), ("0x7f.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"), ("[::FFFF:127.0.0.1]", "[::ffff:7f00:1]"), ("[0:0::1]", "[::1]"), ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("BÜCHER.example", "xn--bcher-kva.example"), ("under_score.example", "under_score.example"),
])
def test_canonical_host(host, expected):
    assert canonical_host(host) == expected


@pytest.mark.parametrize("host", ["", "a b", "a<b", "256.0.0.1", "1.2.3.4.5", "[::1", "[zz::1]", "xn--zz-!.com", "a%00b", "0x100000000"])
def test_canonical_host_rejects(host):
    with pytest.raises(UrlError):
        canonical_host(host)


def test_split_keeps_raw_spans():
    parts = split_url(" https://u@Example.com:8443/p?q#f", "https")
    assert (parts.lead, parts.scheme, parts.userinfo, parts.rest) == (" ", "https", "u@", "/p?q#f")
    assert parts.origin.serialize() == "https://example.com:8443"


def test_alias_registered_for_unencodable_hosts():
    seen = {}
    u = UrlRewriter(BASE, SID, "https://page.test/", on_alias=lambda h, o: seen.setdefault(h, o))
    out = u.rewrite("http://[::1]:8080/x")
    assert len(seen) == 1
    (alias, origin), = seen.items()
    assert origin.serialize() == "http://[::1]:8080" and f"{SID}-a-{alias}." in out and out.endswith("/x")


# --- malformed URLs: UrlError and nothing else (finding #23) ----------------------------------

from hypothesis import HealthCheck, example, given, settings, strategies as st  # noqa: E402

_URL_PIECES = st.sampled_from([
    "http://", "https://", "//", "ws:", "\\\\", "%", "%9c", "%ff", "%c3", "%a9", "%00", "%25", "[", "]", "::", ":",
    "@", ".", "xn--", "0x", "1", "255", "99999999999", "é", "\u0130", "\ud800", "\u200d", "\x00", "\t", "\n", " ",
    "/", "?", "#", "a", "Ü", "\u3002", "\uff0e", "%e3%80%82", "ß", "\u0301", "--", "xn--zz", "[::1]",
])
_URLS = st.one_of(
    st.lists(_URL_PIECES, max_size=12).map("".join),
    st.text(max_size=40).map(lambda t: "http://" + t),
    st.text(max_size=40),
)


@pytest.mark.parametrize("value", ["http://%9c/", "https://%ff%fe/x", "//%c3/", "http://a%9cb.com/", "ws://%e0%80/"])
def test_undecodable_percent_host_is_a_url_error(value):
    """The host percent-decodes to bytes that are not UTF-8: a UnicodeDecodeError escaped before."""
    with pytest.raises(UrlError):
        split_url(value)
    assert rw(value) == value  # the mapper leaves what the browser cannot load either


@given(_URLS, st.sampled_from(["https", "http", "ftp"]))
@example("http://%9c/", "https")
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_split_url_raises_only_url_error(value, page_scheme):
    try:
        parts = split_url(value, page_scheme)
    except UrlError:
        return
    if parts is not None:
        assert value.endswith(parts.rest) or "\t" in value or "\n" in value or "\r" in value


@given(_URLS)
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mapper_never_raises(value):
    out = UrlRewriter(BASE, SID, "https://page.test/").rewrite(value)
    assert isinstance(out, str)


# --- the head memo: rewrite(head + tail) == rewrite(head) + tail ---------------------------------

_TAILS = st.lists(st.sampled_from(["/", "?", "#", "a", "\t", "\n", "\r", "@", ":", "\\", "x.js", "%2f", " "]),
                  max_size=6).map("".join)


@given(st.lists(st.tuples(_URLS, _TAILS), min_size=1, max_size=8), st.sampled_from(["https", "http", "ftp"]))
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_head_memo_agrees_with_the_full_path(pairs, page_scheme):
    """Every value, through the memo (which sees the same heads again with other tails), maps
    exactly as the unmemoised path maps it, with the same counts and the same aliases."""
    seen_memo, seen_full = [], []
    memo = UrlRewriter(BASE, SID, f"{page_scheme}://page.test/", on_alias=lambda h, o: seen_memo.append(h))
    full = UrlRewriter(BASE, SID, f"{page_scheme}://page.test/", on_alias=lambda h, o: seen_full.append(h))
    for head, tail in pairs + [(h, t[::-1] + "/z") for h, t in pairs]:
        value = head + tail
        assert memo.rewrite(value) == full._rewrite_full(value, _split_url_full), value
    assert (memo.rewritten, memo.invalid, seen_memo) == (full.rewritten, full.invalid, seen_full)


def test_head_memo_keeps_each_tail_and_counts_each_value():
    u = UrlRewriter(BASE, SID, "https://page.test/")
    assert u.rewrite("https://example.com/a") == P + "/a"
    assert u.rewrite("https://example.com?b\tc") == P + "?b\tc"
    assert u.rewrite("https://example.com") == P
    assert u.rewrite("https://exa\tmple.com/d") == P + "/d"  # a tab in the head: the full path
    assert u.rewrite("https://bad host/x") == "https://bad host/x"
    assert u.rewrite("https://bad host/y") == "https://bad host/y"
    assert (u.rewritten, u.invalid) == (4, 2)


@given(_URLS, _TAILS, st.sampled_from(["https", "http", "ftp", ""]))
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_split_url_head_cache_agrees_with_the_full_split(head, tail, page_scheme):
    """split_url (heads split once per process) gives what the uncached split gives, or the same error."""
    for value in (head, head + tail, tail + head):
        try:
            want = _split_url_full(value, page_scheme)
        except UrlError as exc:
            with pytest.raises(UrlError, match=re.escape(str(exc))):
                split_url(value, page_scheme)
            continue
        assert split_url(value, page_scheme) == want


# --- the process-wide head memo: shared by the mappers of one context, never across contexts ------

from rewriter import urls as urls_mod  # noqa: E402

_CONTEXT_URLS = [
    "https://example.com/a", "http://example.com/b", "//cdn.example.com/c", "http:example.com/d",
    "https:example.com/e", "wss://example.com/f", "ws://example.com/g", "https://EXAMPLE.com:8443/h",
    "https://u:p@example.com/i", "http://[::1]:8080/j", "https://tandem.localhost:8080/k",
    "https://x.tandem.localhost/l", "https://other.test/m", "//other.test/n", "https://bad host/o",
]
_CONTEXTS = [  # (proxy base, session, page URL): each differs from the first in one thing
    (BASE, SID, "https://page.test/"),
    (BASE, "zyxwvuts7654", "https://page.test/"),
    (ProxyBase("https", "tandem.localhost:8080"), SID, "https://page.test/"),
    (ProxyBase("http", "other.test"), SID, "https://page.test/"),
    (BASE, SID, "http://page.test/"),
    (BASE, SID, "ws://page.test/"),
]


def _reference(base, sid, page, value):
    """What the mapper must answer: the full path, no memo of any kind (no shared one either)."""
    seen = []
    out = UrlRewriter(base, sid, page, on_alias=lambda h, o: seen.append(h))._rewrite_full(value, _split_url_full)
    return out, seen


def test_shared_memo_never_answers_for_another_context():
    """Mappers of different sessions, proxy bases or page schemes, asked the same URLs in turn,
    each get their own answer: the shared memo is keyed by all of those. (Fails when the key
    drops any of them: the second context would get the first one's labels.)"""
    urls_mod.clear_caches()
    for rounds in range(2):  # the second round: every context's memo is filled
        for base, sid, page in _CONTEXTS:
            seen = []
            mapper = UrlRewriter(base, sid, page, on_alias=lambda h, o: seen.append(h))
            for value in _CONTEXT_URLS:
                want, want_seen = _reference(base, sid, page, value)
                assert mapper.rewrite(value) == want, (base, sid, page, value)
            assert len(seen) == 1  # the one alias ([::1]:8080), told to this mapper's session
    answers = {(b, s, p): UrlRewriter(b, s, p).rewrite("https://example.com/") for b, s, p in _CONTEXTS}
    assert answers[_CONTEXTS[1]].startswith("http://zyxwvuts7654-s-example-com.")
    assert len({answers[c] for c in _CONTEXTS[:4]}) == 4  # session and proxy base show in the answer
    assert UrlRewriter(BASE, "zyxwvuts7654", "https://page.test/").rewrite("//cdn.example.com/") != \
        UrlRewriter(BASE, SID, "https://page.test/").rewrite("//cdn.example.com/")


def test_shared_alias_answer_is_told_to_every_mapper():
    """A head whose origin needs an alias: the second mapper of the same session reuses the answer
    and still registers the alias with its own sink (once); a failing sink fails that URL again."""
    urls_mod.clear_caches()
    first, second = [], []
    assert UrlRewriter(BASE, SID, "https://p.test/", on_alias=lambda h, o: first.append((h, o))).rewrite(
        "http://[::1]:8080/x").endswith("/x")
    m = UrlRewriter(BASE, SID, "https://p.test/", on_alias=lambda h, o: second.append((h, o)))
    out = m.rewrite("http://[::1]:8080/y")
    m.rewrite("http://[::1]:8080/z")
    assert second == first and len(first) == 1 and f"{SID}-a-{first[0][0]}." in out

    def broken(h, o):
        raise RuntimeError("alias store down")

    b = UrlRewriter(BASE, SID, "https://p.test/", on_alias=broken)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            b.rewrite("http://[::1]:8080/w")
    assert b.rewritten == 0


def test_shared_memo_is_bounded(monkeypatch):
    """At most MAX_SHARED_ENTRIES answers over every context, MAX_HEADS per context; a head longer
    than MAX_SHARED_HEAD is not kept. Every answer stays what the full path gives."""
    urls_mod.clear_caches()
    monkeypatch.setattr(urls_mod, "MAX_SHARED_ENTRIES", 100)
    sids = [SID[:-1] + c for c in "234567"] + ["zyxwvuts765" + c for c in "ab"]
    for sid in sids:
        mapper = UrlRewriter(BASE, sid, "https://p.test/")
        for n in range(40):
            value = f"https://h{n}.example/x"
            assert mapper.rewrite(value) == _reference(BASE, sid, "https://p.test/", value)[0]
        held = sum(len(urls_mod._context_heads(BASE.scheme, BASE.domain, s, "https")) for s in sids)
        assert held <= 100
    long_head = "https://" + "a" * 300 + ".example"
    mapper = UrlRewriter(BASE, SID, "https://p.test/")
    assert mapper.rewrite(long_head + "/x") == _reference(BASE, SID, "https://p.test/", long_head + "/x")[0]
    assert long_head not in mapper._heads


_LDHISH = st.text(alphabet="abcXYZ019-.", min_size=1, max_size=70)


@given(st.sampled_from(["https://", "http://", "//", "wss://", "ws://", "HTTPS://", "https:"]),
       st.one_of(_LDHISH, st.sampled_from(["xn--bcher-kva.example", "xn--zz.example", "1.2.3.4", "0x7f.1", "a.0x1f",
                                           "\u212aelvin.com", "tandem.localhost", "a.tandem.localhost", "tandem.localhost.",
                                           "a" * 49 + ".com", "a" * 50 + ".com", "a-.com", "a..b", "-a.b"])),
       st.sampled_from(["", "/", "/x?y", "?q", "#f", ":8080/", "\\x"]),
       st.sampled_from(["https", "http", "ftp", "ws"]))
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_common_head_path_agrees_with_the_full_path(prefix, host, tail, page_scheme):
    """The shortcut for ``scheme://ldh-host`` heads gives what splitting and canonicalising the
    general way gives, with the same counts and aliases, near and on its edges (IPv4 numbers,
    punycode, non-ASCII letters that case-fold to ASCII, Tandem's own hosts, label length)."""
    value = prefix + host + tail
    page = f"{page_scheme}://page.test/"
    seen = []
    mapper = UrlRewriter(BASE, SID, page, on_alias=lambda h, o: seen.append(h))
    for _ in range(2):  # learnt, then from the memo
        want, want_seen = _reference(BASE, SID, page, value)
        assert mapper.rewrite(value) == want, value
    assert seen == want_seen

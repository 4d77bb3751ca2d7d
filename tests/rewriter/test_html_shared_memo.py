"""The HTML rewriter's memo of plain URL heads, shared by every rewriter of one mapper context
(UrlRewriter.markup_memo): a page learns nothing its session's earlier pages learnt, maps exactly
as a rewriter with nothing remembered does, tells its own session of every alias, and never sees
another session's, proxy base's or page scheme's answers."""

from __future__ import annotations

import pytest

from rewriter import urls as urls_mod
from rewriter.html import HtmlRewriter, core
from rewriter.urls import ProxyBase, UrlRewriter

BASE = ProxyBase("http", "tandem.localhost:8080")
SID = "abcdefgh2345"
PAGE = (
    b'<!doctype html><html><head><title>t</title></head><body>'
    b'<a href="https://shop.example/a">a</a><img src="https://cdn.example/i.png">'
    b'<a href="https://shop.example/b?x=1">b</a><a href="javascript:location.href=1">j</a>'
    b'<img srcset="https://cdn.example/1.png 1x, https://img.example/2.png 2x">'
    b'<a href="http://[::1]:8080/alias">alias</a><a href="https://bad host.example/">bad</a>'
    b'<a href="https://tandem.localhost:8080/own">own</a></body></html>'
)


def _rewrite(page: bytes, mapper: UrlRewriter) -> bytes:
    rw = HtmlRewriter(mapper, inject="")
    return rw.feed(page) + rw.close()


@pytest.fixture(autouse=True)
def _cold():
    urls_mod.clear_caches()
    yield
    urls_mod.clear_caches()


@pytest.fixture(params=sorted(core.CORES))
def each_core(request):
    previous = core.NAME
    core.use(request.param)
    yield request.param
    core.use(previous)


class _Own(UrlRewriter):
    """A subclass: keeps its answers to itself (no shared memo), the reference here."""


def _count_mapper_calls(monkeypatch) -> list[str]:
    """Every value handed to UrlRewriter.rewrite from now on (subclasses included)."""
    asked: list[str] = []
    real = UrlRewriter.rewrite

    def counting(self, value):
        asked.append(value)
        return real(self, value)

    monkeypatch.setattr(UrlRewriter, "rewrite", counting)
    return asked


def test_a_later_page_learns_nothing_an_earlier_page_learnt(each_core, monkeypatch):
    first = UrlRewriter(BASE, SID, "https://shop.example/")
    out1 = _rewrite(PAGE, first)
    asked = _count_mapper_calls(monkeypatch)
    second = UrlRewriter(BASE, SID, "https://shop.example/")
    out2 = _rewrite(PAGE, second)
    assert out2 == out1
    # only the alias's URL (kept out of the shared memo) and the refused head go to the mapper again
    assert all("[::1]" in v or "bad host" in v for v in asked), asked
    assert (second.rewritten, second.invalid) == (first.rewritten, first.invalid)


def test_shared_memo_maps_as_a_rewriter_that_remembers_nothing(each_core):
    seen_shared, seen_own = [], []
    for n in range(3):  # the first page fills the memo, the others read it
        shared = UrlRewriter(BASE, SID, "https://shop.example/", on_alias=lambda h, o: seen_shared.append((n, h)))
        own = _Own(BASE, SID, "https://shop.example/", on_alias=lambda h, o: seen_own.append((n, h)))
        assert own.markup_memo() is None and shared.markup_memo() is not None
        assert _rewrite(PAGE, shared) == _rewrite(PAGE, own)
        assert (shared.rewritten, shared.invalid) == (own.rewritten, own.invalid)
    # every page's mapper told its own session of the alias, not only the first page's
    assert [n for n, _ in seen_shared] == [0, 1, 2] and seen_shared == seen_own


def test_contexts_do_not_share_answers(each_core):
    """Another session, proxy base or page scheme has a memo of its own: no label of one session
    reaches another's page."""
    a = UrlRewriter(BASE, SID, "https://shop.example/")
    out_a = _rewrite(PAGE, a)
    other_sid = "zyxwvuts2345"
    b = UrlRewriter(BASE, other_sid, "https://shop.example/")
    out_b = _rewrite(PAGE, b)
    assert SID.encode() in out_a and SID.encode() not in out_b and other_sid.encode() in out_b
    c = UrlRewriter(ProxyBase("https", "co.example.net"), SID, "https://shop.example/")
    out_c = _rewrite(PAGE, c)
    assert b"tandem.localhost" not in out_c.replace(b"https://tandem.localhost:8080/own", b"")
    for mapper in (b, c, UrlRewriter(BASE, SID, "http://shop.example/")):
        assert mapper.markup_memo() is not a.markup_memo()


def test_the_shared_memo_is_dropped_with_the_mapper_memos(each_core, monkeypatch):
    """Past MAX_SHARED_ENTRIES (answers of every context together) every context starts again: a
    new mapper gets a new memo (the live rewriters keep theirs, each within MAX_URL_MEMO)."""
    monkeypatch.setattr(urls_mod, "MAX_SHARED_ENTRIES", 4)
    a = UrlRewriter(BASE, SID, "https://shop.example/")
    held = a.markup_memo()
    _rewrite(PAGE, a)
    b = UrlRewriter(BASE, SID, "https://shop.example/")
    assert b.markup_memo() is not held
    assert _rewrite(PAGE, b) == _rewrite(PAGE, _Own(BASE, SID, "https://shop.example/"))


def test_a_full_shared_memo_leaves_each_page_a_memo_of_its_own(each_core, monkeypatch):
    """Once a session's shared memo holds MAX_URL_MEMO heads, a page learns the rest into a memo of
    its own: each new head goes to the mapper about once per page, not once per URL."""
    from rewriter.html import limits

    monkeypatch.setattr(limits, "MAX_URL_MEMO", 3)
    hosts = [f"h{i}.example" for i in range(6)]  # 3 for the shared memo, 3 for the page's own
    page = "".join(f'<a href="https://{h}/{k}">x</a>' for k in range(4) for h in hosts).encode()
    asked = _count_mapper_calls(monkeypatch)
    for _ in range(2):
        asked.clear()
        mapper = UrlRewriter(BASE, SID, "https://shop.example/")
        out = _rewrite(page, mapper)
        per_host = {h: sum(f"//{h}/" in v for v in asked) for h in hosts}
        assert max(per_host.values()) <= 2, per_host  # learnt, then read once more by the rewriter
        assert out == _rewrite(page, _Own(BASE, SID, "https://shop.example/"))
        assert len(mapper.markup_memo()) == 3

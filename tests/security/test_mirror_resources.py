"""Issue 10 #6: what the room lets followers load (sync/resources.py, Room.mirror_allows), without a browser.

The real-Chromium check is tests/security/test_follower_mirror_only.py; these pin the extraction
and the bounds: every place an rrweb event carries a resource URL, nothing else, stylesheets'
and redirects' references only through an allowed one, one page's set dropped two pages later.
"""

from __future__ import annotations

from sync import resources
from sync.resources import MirrorResources, canonical, event_urls
from sync.room import Room

SITE = "https://shop.example"
PROXIED = "http://sid-h1-shop-example.tandem.localhost"


def to_upstream(url: str) -> str | None:
    return SITE + url[len(PROXIED):] if url.startswith(PROXIED) else None


def snapshot(*nodes) -> dict:
    return {"type": 2, "data": {"node": {"type": 0, "id": 1, "childNodes": list(nodes)}}, "timestamp": 1}


def el(tag: str, **attrs) -> dict:
    return {"type": 2, "id": 5, "tagName": tag, "attributes": attrs, "childNodes": []}


def test_every_place_an_event_carries_a_resource_url():
    events = [
        snapshot(el("img", src=SITE + "/a.png", alt="x"), el("img", srcset=f"{SITE}/b.png 1x, {SITE}/c.png 2x"),
                 el("div", style=f"background: url('{SITE}/d.png')"),
                 el("style", _cssText=f"@import url({SITE}/e.css); .x {{ background: url({SITE}/f.png) }}"),
                 el("video", poster=SITE + "/g.jpg"), el("a", href="mailto:x@example.com"),
                 {"type": 3, "id": 9, "textContent": "text mentioning https://shop.example/not-a-load.png"}),
        {"type": 3, "data": {"source": 0, "adds": [{"parentId": 1, "node": el("img", src=SITE + "/h.png")}],
                             "attributes": [{"id": 5, "attributes": {"src": SITE + "/i.png"}}], "texts": [], "removes": []}},
        {"type": 3, "data": {"source": 8, "id": 3, "adds": [{"rule": f".y {{ background: url({SITE}/j.png) }}"}]}},
        {"type": 3, "data": {"source": 13, "id": 3, "set": {"property": "background", "value": f"url({SITE}/k.png)"}}},
    ]
    found = set(event_urls(events))
    assert {SITE + f"/{n}" for n in ("a.png", "b.png", "c.png", "d.png", "e.css", "f.png", "g.jpg", "h.png", "i.png",
                                     "j.png", "k.png")} <= found
    assert not [u for u in found if "not-a-load" in u or u.startswith("mailto:")]


def test_only_relayed_urls_and_what_allowed_sheets_and_redirects_lead_to():
    m = MirrorResources(to_upstream)
    m.note_events([snapshot(el("img", src=SITE + "/shown.png"), el("link", rel="stylesheet", href=SITE + "/s.css"),
                            el("img", src=SITE + "/moved.png"))], PROXIED + "/page")
    assert m.allows(SITE + "/shown.png") and m.allows(SITE + "/s.css")
    assert not m.allows(SITE + "/blocked.png")
    # a stylesheet the mirror may load: what it references (rewritten to proxied URLs, or relative)
    m.note_refs(SITE + "/s.css", [PROXIED + "/font.woff2", "img/bg.png"])
    assert m.allows(SITE + "/font.woff2") and m.allows(SITE + "/img/bg.png")
    # a redirect of an allowed image: where it goes
    m.note_refs(SITE + "/moved.png", [SITE + "/target.png"])
    assert m.allows(SITE + "/target.png")
    # a stylesheet (or redirect) the mirror never used grants nothing
    m.note_refs(SITE + "/other.css", [SITE + "/blocked.png"])
    m.note_refs(SITE + "/blocked-redirect", [SITE + "/blocked2.png"])
    assert not m.allows(SITE + "/blocked.png") and not m.allows(SITE + "/blocked2.png")


def test_spellings_of_one_url_match_and_pages_age_out():
    m = MirrorResources(to_upstream)
    m.note_events([snapshot(el("img", src=SITE + "/dir/../a b.png#frag"))], None)
    assert m.allows(SITE + "/a%20b.png") and canonical("HTTPS://Shop.Example/a b.png") == SITE + "/a%20b.png"
    m.new_page()
    assert m.allows(SITE + "/a%20b.png")  # loads of the page before may still be in flight
    m.new_page()
    assert not m.allows(SITE + "/a%20b.png")


def test_bounded_per_page(monkeypatch):
    monkeypatch.setattr(resources, "MAX_URLS", 10)
    m = MirrorResources(to_upstream)
    m.note_events([snapshot(*[el("img", src=f"{SITE}/{i}.png") for i in range(50)])], None)
    assert len(m.current) == 10 and not m.allows(SITE + "/49.png")


def test_the_room_keeps_what_it_relays():
    room = Room("sid", epoch="e", to_upstream=to_upstream)
    room.connect(1, "leader", may_lead=True, kind="tab", now=0)
    meta = {"type": 4, "data": {"href": PROXIED + "/page", "width": 1, "height": 1}, "timestamp": 1}
    room.receive(1, {"t": "ev", "e": [meta, snapshot(el("img", src=SITE + "/shown.png"))]}, 1)
    assert room.mirror_allows(SITE + "/shown.png") and not room.mirror_allows(SITE + "/guessed.png")
    # a CSSOM rule with a relative URL resolves against the page
    room.receive(1, {"t": "ev", "e": [{"type": 3, "data": {"source": 8, "id": 1, "adds": [
        {"rule": ".z { background: url(rel/z.png) }"}]}, "timestamp": 2}]}, 2)
    assert room.mirror_allows(SITE + "/rel/z.png")


def test_srcset_urls_with_commas_are_whole_candidates():
    # rollingstone.com: "...?resize=1800,1200 1800w, ...?resize=900,600 900w" (a naive split on commas
    # allowed "...?resize=1800" and the image broke in the mirror)
    big, small = SITE + "/p.jpg?resize=1800,1200", SITE + "/p.jpg?resize=900,600"
    m = MirrorResources(to_upstream)
    m.note_events([snapshot(el("img", srcset=f"{big} 1800w, {small} 900w,{SITE}/q.png"))], PROXIED + "/page")
    assert m.allows(big) and m.allows(small) and m.allows(SITE + "/q.png")
    assert not m.allows(SITE + "/p.jpg?resize=1800")

"""The proxy's decision (proxy/decide.py) as a table: role x request/response facts x allowlist -> allow/deny + reason.

Findings of issue 10 each row names: #5 (allowlist bypass by request headers, private
networks for unlisted hosts), #6 (follower wall by what the response is, and only what the mirror
uses), #14 (101 to a
plain request), #21 (credential-less requests bounded). Claims (``navigation``,
``claims_mirror_load``) may only narrow: no row grants anything because of one.
"""

import pytest

from proxy.decide import (ALLOWED, DOCUMENT, DOCUMENT_OFF_LIST, FOLLOWER_READ_ONLY, FOLLOWER_WALL, FONT, IMAGE, JSON,
                          MEDIA, MIRROR, NOT_IN_MIRROR, NOT_PARTICIPANT, ORIGIN_OFF_LIST, OTHER, PRIVATE_ADDRESS, REDIRECT, SCOPE_ALL, SCRIPT,
                          SITE_NOT_ALLOWED, STYLE, UNEXPECTED_UPGRADE, UPGRADE, Facts, decide)
from proxy.guard import LOOPBACK_ONLY, parse_networks

L, F, A = "leader", "follower", "anonymous"
PUB, LOOP, TEN = "example.com", "127.0.0.1", "10.0.0.5"
ALLP = parse_networks("all")

# (id, facts, allow, reason, private_ok, use_jar)
ROWS = [
    # leader: the allowlist
    ("leader-nav-listed", dict(role=L, method="GET", host=PUB, listed=True, navigation=True), True, ALLOWED, False, True),
    ("leader-nav-unlisted", dict(role=L, method="GET", host=PUB, listed=False, navigation=True), False, SITE_NOT_ALLOWED, False, False),
    ("leader-sub-unlisted-nav-scope", dict(role=L, method="GET", host=PUB, listed=False), True, ALLOWED, False, True),
    ("leader-sub-unlisted-image", dict(role=L, method="GET", host=PUB, listed=False, response=IMAGE), True, ALLOWED, False, True),
    ("leader-sub-unlisted-script", dict(role=L, method="GET", host=PUB, listed=False, response=SCRIPT), True, ALLOWED, False, True),
    # #5: 'no-cors' / a subresource claim does not make an unlisted document servable
    ("leader-nocors-unlisted-document", dict(role=L, method="GET", host=PUB, listed=False, response=DOCUMENT), False, DOCUMENT_OFF_LIST, False, False),
    # #5: scope all is decided by the server-known page, not a Referer
    ("leader-sub-unlisted-page-scope-all", dict(role=L, method="GET", host=PUB, listed=False, page_scope_all=True), False, SCOPE_ALL, False, False),
    ("leader-sub-listed-page-scope-all", dict(role=L, method="GET", host=PUB, listed=True, page_scope_all=True), True, ALLOWED, False, True),
    ("leader-post-listed", dict(role=L, method="POST", host=PUB, listed=True), True, ALLOWED, False, True),
    ("leader-ws-listed", dict(role=L, method="GET", host=PUB, listed=True, websocket=True, response=UPGRADE), True, ALLOWED, False, True),
    # #5: private networks only for listed hosts
    ("leader-loopback-listed-opened", dict(role=L, method="GET", host=LOOP, listed=True, private_networks=LOOPBACK_ONLY), True, ALLOWED, True, True),
    ("leader-loopback-unlisted-opened", dict(role=L, method="GET", host=LOOP, listed=False, private_networks=LOOPBACK_ONLY), False, PRIVATE_ADDRESS, False, False),
    ("leader-ten-unlisted-all-opened", dict(role=L, method="GET", host=TEN, listed=False, private_networks=ALLP), False, PRIVATE_ADDRESS, False, False),
    ("leader-ten-listed-loopback-only", dict(role=L, method="GET", host=TEN, listed=True, private_networks=LOOPBACK_ONLY), False, PRIVATE_ADDRESS, False, False),
    ("leader-loopback-not-opened", dict(role=L, method="GET", host=LOOP, listed=True), False, PRIVATE_ADDRESS, False, False),
    ("leader-v6-embedded-loopback", dict(role=L, method="GET", host="[::ffff:0:127.0.0.1]", listed=True), False, PRIVATE_ADDRESS, False, False),
    ("leader-name-unlisted-opened", dict(role=L, method="GET", host="intranet.example", listed=False, private_networks=ALLP), True, ALLOWED, False, True),
    ("leader-name-listed-opened", dict(role=L, method="GET", host="intranet.example", listed=True, private_networks=ALLP), True, ALLOWED, True, True),
    # #14: a protocol switch only for a WebSocket handshake
    ("leader-101-to-plain-get", dict(role=L, method="GET", host=PUB, listed=True, response=UPGRADE), False, UNEXPECTED_UPGRADE, False, False),
    # #6: the follower wall, by what the response is
    ("follower-image", dict(role=F, method="GET", host=PUB, listed=True, response=IMAGE), True, ALLOWED, False, False),
    ("follower-style", dict(role=F, method="GET", host=PUB, listed=True, response=STYLE), True, ALLOWED, False, False),
    ("follower-font", dict(role=F, method="GET", host=PUB, listed=True, response=FONT), True, ALLOWED, False, False),
    ("follower-media", dict(role=F, method="GET", host=PUB, listed=True, response=MEDIA), True, ALLOWED, False, False),
    ("follower-says-image-gets-document", dict(role=F, method="GET", host=PUB, listed=True, response=DOCUMENT), False, FOLLOWER_WALL, False, False),
    ("follower-says-image-gets-json", dict(role=F, method="GET", host=PUB, listed=True, response=JSON), False, FOLLOWER_WALL, False, False),
    ("follower-says-style-gets-script", dict(role=F, method="GET", host=PUB, listed=True, response=SCRIPT), False, FOLLOWER_WALL, False, False),
    ("follower-redirect", dict(role=F, method="GET", host=PUB, listed=True, response=REDIRECT), True, ALLOWED, False, False),
    ("leader-unlisted-redirect", dict(role=L, method="GET", host=PUB, listed=False, response=REDIRECT), True, ALLOWED, False, True),
    ("follower-gets-other", dict(role=F, method="GET", host=PUB, listed=True, response=OTHER), False, FOLLOWER_WALL, False, False),
    ("follower-before-response", dict(role=F, method="GET", host=PUB, listed=True), True, ALLOWED, False, False),
    # #6: only what the mirror uses: a guessed URL (a blocked element's image, a masked src) is refused
    ("follower-image-not-in-mirror", dict(role=F, method="GET", host=PUB, listed=True, in_mirror=False, response=IMAGE), False, NOT_IN_MIRROR, False, False),
    ("follower-before-response-not-in-mirror", dict(role=F, method="GET", host=PUB, listed=True, in_mirror=False), False, NOT_IN_MIRROR, False, False),
    ("leader-not-in-mirror", dict(role=L, method="GET", host=PUB, listed=True, in_mirror=False, response=IMAGE), True, ALLOWED, False, True),
    ("follower-no-mirror-claim", dict(role=F, method="GET", host=PUB, listed=True, claims_mirror_load=False), False, FOLLOWER_WALL, False, False),
    ("follower-navigation", dict(role=F, method="GET", host=PUB, listed=True, navigation=True), False, MIRROR, False, False),
    ("follower-post", dict(role=F, method="POST", host=PUB, listed=True), False, FOLLOWER_READ_ONLY, False, False),
    ("follower-websocket", dict(role=F, method="GET", host=PUB, listed=True, websocket=True), False, FOLLOWER_READ_ONLY, False, False),
    ("follower-image-unlisted-scope-all", dict(role=F, method="GET", host=PUB, listed=False, page_scope_all=True, response=IMAGE), False, SCOPE_ALL, False, False),
    ("follower-loopback-listed", dict(role=F, method="GET", host=LOOP, listed=True, private_networks=LOOPBACK_ONLY, response=IMAGE), True, ALLOWED, True, False),
    # #21: credential-less requests: bounded, never the jar
    ("anon-cors-listed-json", dict(role=A, method="GET", host=PUB, listed=True, response=JSON), True, ALLOWED, False, False),
    ("anon-put-listed", dict(role=A, method="PUT", host=PUB, listed=True), True, ALLOWED, False, False),
    ("anon-unlisted-scope-all", dict(role=A, method="POST", host=PUB, listed=False, page_scope_all=True), False, SCOPE_ALL, False, False),
    ("anon-unlisted-document", dict(role=A, method="GET", host=PUB, listed=False, response=DOCUMENT), False, DOCUMENT_OFF_LIST, False, False),
    ("anon-origin-off-list", dict(role=A, method="GET", host=PUB, listed=True, origin_listed=False), False, ORIGIN_OFF_LIST, False, False),
    ("anon-loopback-unlisted", dict(role=A, method="GET", host=LOOP, listed=False, private_networks=LOOPBACK_ONLY), False, PRIVATE_ADDRESS, False, False),
    ("anon-navigation", dict(role=A, method="GET", host=PUB, listed=True, navigation=True), False, NOT_PARTICIPANT, False, False),
    ("anon-websocket", dict(role=A, method="GET", host=PUB, listed=True, websocket=True), False, NOT_PARTICIPANT, False, False),
    ("unknown-role", dict(role="admin", method="GET", host=PUB, listed=True), False, NOT_PARTICIPANT, False, False),
]


@pytest.mark.parametrize("facts, allow, reason, private_ok, use_jar", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_decide_table(facts, allow, reason, private_ok, use_jar):
    d = decide(Facts(**facts))
    assert (d.allow, d.reason) == (allow, reason)
    if allow:
        assert (d.private_ok, d.use_jar) == (private_ok, use_jar)


def test_claims_only_narrow():
    """What a request claims (a navigation; a mirror's image/style/font/media load) can only make the
    answer stricter: for every row and every response, if the stricter claim is allowed, so is the looser one."""
    for _, facts, *_ in ROWS:
        for response in (None, DOCUMENT, SCRIPT, JSON, STYLE, IMAGE, FONT, MEDIA, OTHER, UPGRADE, REDIRECT):
            base = {**facts, "response": response}
            strict = decide(Facts(**{**base, "navigation": True, "claims_mirror_load": False}))
            loose = decide(Facts(**{**base, "navigation": False, "claims_mirror_load": True}))
            assert not strict.allow or loose.allow, (base, strict, loose)

"""Bad input to the control plane gets a clear 4xx, never a 500, a traceback or an open redirect.

Findings of issue 10: #10 (open redirect through ``next``), #13 (deep JSON, NaN/Infinity in
metadata, over-long ``before_id``), #24 (1,000-deep JSON on the snippet and the API).
"""

import json

import pytest

from proxy.allowlist import Entry
from tandem import appkeys

from .helpers import add_agent

URL = "http://127.0.0.1:9/start"
SITE = "http://shop.example:8000"

# What a browser turns into another host: tabs/newlines are stripped anywhere in a URL, a
# backslash reads as a slash, and a scheme or authority anywhere at the start leaves the site.
HOSTILE_NEXT = [
    "%2F%09%2Fevil.example", "%2F%0A%2Fevil.example", "%2F%0D%2Fevil.example", "%2F%0D%0A%2Fevil.example",
    "%09%2F%2Fevil.example", "%2F%2Fevil.example", "%2F%5Cevil.example", "%5C%5Cevil.example",
    "%2F%5C%2Fevil.example", "%2F%20%2Fevil.example", "https%3A%2F%2Fevil.example", "%2F%2F%2Fevil.example",
    "javascript%3Aalert(1)", "%2F%C2%A0%2Fevil.example", "%2F%E3%80%80%2Fevil.example", "%2Fx%0Aevil",
    "%2F%00%2Fevil.example", "%2F%7F%2Fevil.example", "%2F" + "a" * 5000,
]


def _lands_on_base(t, location: str) -> bool:
    """Where a browser goes from BASE with this Location: must be BASE itself."""
    from urllib.parse import urljoin, urlsplit

    assert location.isascii() and not any(c in location for c in "\t\r\n\\")
    return urlsplit(urljoin(t.url + "/console/login", location)).netloc == urlsplit(t.url).netloc


@pytest.mark.parametrize("nxt", HOSTILE_NEXT)
async def test_finding_10_login_next_never_leaves_the_site(make_tandem, console, nxt):
    t = await make_tandem()
    await add_agent(t)
    c = await console(t, login=False)
    # signing in with a hostile next
    r, text = await c.post(f"/console/login?next={nxt}", {"username": "ann", "password": "correct horse battery"},
                           csrf=False)
    assert r.status == 303, text
    assert _lands_on_base(t, r.headers["Location"]), r.headers["Location"]
    # already signed in: GET /console/login?next= redirects at once
    r, _ = await c.get(f"/console/login?next={nxt}")
    assert r.status == 303 and _lands_on_base(t, r.headers["Location"]), r.headers["Location"]
    assert "evil" not in r.headers["Location"]


async def test_finding_10_plain_next_paths_still_work(make_tandem, console):
    t = await make_tandem()
    await add_agent(t)
    c = await console(t, login=False)
    r, _ = await c.post("/console/login?next=%2Fadmin%2Faudit%3Fkind%3Dx", {"username": "ann", "password": "correct horse battery"},
                        csrf=False)
    assert r.headers["Location"] == "/admin/audit?kind=x"


def _deep(n: int) -> str:
    return '{"a":' * n + "1" + "}" * n


async def _api_post(t, path: str, raw: str):
    return await t.client.post(t.url + path, data=raw.encode("utf-8", "surrogatepass"), headers={
        "Authorization": "Bearer " + t.app[appkeys.SETTINGS].admin_key, "Content-Type": "application/json"})


async def _error(r, status_class=4):
    assert r.status // 100 == status_class, (r.status, await r.text())
    body = await r.json()
    assert set(body) == {"error"} and isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
    return body["error"]


@pytest.mark.parametrize("depth", [40, 1000, 100_000])
async def test_finding_13_24_deep_json_on_the_api_is_a_400(make_tandem, depth):
    t = await make_tandem()
    raw = '{"url": "' + URL + '", "metadata": ' + _deep(depth) + "}" if depth < 20000 else "[" * depth + "]" * depth
    r = await _api_post(t, "/api/v1/sessions", raw[: 64 * 1024])
    err = await _error(r)
    assert err["code"] in ("too_deep", "invalid_json", "body_too_large")
    assert await t.app[appkeys.STORE].list_sessions() == []


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999", '"\\ud800"', '{"\\udfff": 1}'])
async def test_finding_13_metadata_that_is_not_json_is_refused(make_tandem, value):
    t = await make_tandem()
    r = await _api_post(t, "/api/v1/sessions", '{"url": "%s", "metadata": {"x": %s}}' % (URL, value))
    err = await _error(r)
    assert err["code"] == "invalid_json"
    assert await t.app[appkeys.STORE].list_sessions() == []
    # and what is stored always comes back as strict JSON
    r = await _api_post(t, "/api/v1/sessions", '{"url": "%s", "metadata": {"x": 1.5, "y": "\\ud83d\\ude00"}}' % URL)
    assert r.status == 201
    r = await t.api("GET", "/api/v1/sessions")
    text = await r.text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in API output"))


@pytest.mark.parametrize("before", ["9" * 5000, "9" * 30, "²", "１２", "-1", "1.5", ""])
async def test_finding_13_bad_before_id_is_a_422_on_the_api_and_ignored_by_the_admin_page(make_tandem, console, before):
    t = await make_tandem()
    from urllib.parse import quote

    r = await t.api("GET", "/api/v1/audit?before_id=" + quote(before))
    err = await _error(r)
    assert err["code"] == "invalid_query"
    c = await console(t, "root", admin=True)
    r, text = await c.get("/admin/audit?before=" + quote(before))
    assert r.status in (200, 400), text
    assert "Traceback" not in text
    r = await t.api("GET", "/api/v1/audit?limit=" + quote(before))
    assert (await _error(r))["code"] == "invalid_query"


@pytest.mark.parametrize("raw", [_deep(1000), "[" * 1000 + "]" * 1000, '{"x": NaN}', '{"visitor_id": "\\udc00"}',
                                 b'{"x": "\xff"}'])
async def test_finding_24_deep_or_invalid_json_on_the_snippet_is_a_400(make_tandem, raw):
    t = await make_tandem(extra_allow=(Entry("shop.example"),))
    for path in ("/snippet/v1/visitors", "/snippet/v1/sessions"):
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
        r = await t.client.post(t.url + path, data=data,
                                headers={"Origin": SITE, "Content-Type": "application/json"})
        err = await _error(r)
        assert err["code"] in ("too_deep", "invalid_json", "invalid_body"), err

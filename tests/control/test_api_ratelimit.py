"""Rate limits on the REST API and /metrics: per client address and per API key, 429 JSON with Retry-After
past either, and RateLimit-Limit / -Remaining / -Reset / -Policy on every answer (the IETF draft's fields)."""

from __future__ import annotations

import pytest

from tandem import settings as S
from tests.harness import ADMIN_KEY

RATE = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


async def call(t, method, path, key=ADMIN_KEY, headers=None, **kw):
    h = {"Authorization": f"Bearer {key}"} if key else {}
    h.update(headers or {})
    r = await t.client.request(method, t.url + path, headers=h, allow_redirects=False, **kw)
    body = await r.json() if r.content_type == "application/json" else await r.read()
    return r, body


def quota(r) -> tuple[int, int, int]:
    limit, remaining, reset = (int(r.headers[h]) for h in RATE)
    assert 1 <= reset <= 60, reset
    return limit, remaining, reset


async def new_key(t, *scopes):
    r, body = await call(t, "POST", "/api/v1/keys", json={"name": "k", "scopes": list(scopes) or ["sessions:read"]})
    assert r.status == 201, body
    return body["key"]


async def test_every_answer_carries_the_rate_limit_fields(make_tandem):
    t = await make_tandem(api_rate_per_address=50, api_rate_per_key=20, metrics_token="metrics-token-0123456789")
    # a good request: the key's quota (20) is nearer to running out than the address's (50)
    r, _ = await call(t, "GET", "/api/v1/sessions")
    assert r.status == 200 and quota(r)[:2] == (20, 19)
    assert r.headers["RateLimit-Policy"] == '50;w=60;comment="per address", 20;w=60;comment="per key"'
    # errors too: no key, a bad key, unreadable JSON, no such endpoint, a bad field; the document; metrics by token
    answers = [
        await call(t, "GET", "/api/v1/sessions", key=None),
        await call(t, "GET", "/api/v1/sessions", key="tdm_not-a-key"),
        await call(t, "POST", "/api/v1/sessions", data=b"{", headers={"Content-Type": "application/json"}),
        await call(t, "GET", "/api/v1/no/such/thing"),
        await call(t, "POST", "/api/v1/sessions", json={"url": 5}),
        await call(t, "GET", "/api/v1/openapi.json", key=None),
        await call(t, "GET", "/metrics", key="metrics-token-0123456789"),
    ]
    statuses = [r.status for r, _ in answers]
    assert statuses == [401, 401, 400, 404, 422, 200, 200], statuses
    for r, body in answers:
        assert all(h in r.headers for h in RATE), (r.status, r.url, dict(r.headers))
        if r.status >= 400:
            assert set(body["error"]) == {"code", "message"}
    # every one of them counted against the address: 1 + 7 so far; keyed ones against the admin key too
    r, _ = await call(t, "GET", "/api/v1/openapi.json", key=None)
    assert quota(r)[:2] == (50, 41)
    # pages for people are not the API: no fields there
    r = await t.client.get(t.url + "/console/login")
    assert "RateLimit-Limit" not in r.headers


async def test_past_a_keys_quota_it_gets_429_and_other_keys_do_not(make_tandem):
    t = await make_tandem(api_rate_per_address=100, api_rate_per_key=3)
    key, other = await new_key(t), await new_key(t)  # (the admin key made them: 2 of its own 3)
    seen = []
    for _ in range(3):
        r, _ = await call(t, "GET", "/api/v1/sessions", key=key)
        assert r.status == 200
        seen.append(quota(r)[1])
    assert seen == [2, 1, 0]
    r, body = await call(t, "GET", "/api/v1/sessions", key=key)
    assert r.status == 429 and body["error"]["code"] == "rate_limited" and "API key" in body["error"]["message"]
    assert quota(r)[:2] == (3, 0)
    assert 1 <= int(r.headers["Retry-After"]) <= 60 and r.headers["Retry-After"] == r.headers["RateLimit-Reset"]
    # another key has its own quota; the address is far from its limit
    r, _ = await call(t, "GET", "/api/v1/sessions", key=other)
    assert r.status == 200 and quota(r)[:2] == (3, 2)


async def test_a_refused_request_does_nothing(make_tandem):
    t = await make_tandem(api_rate_per_address=100, api_rate_per_key=2)
    other = await new_key(t, "admin")  # the admin key's first request of 2
    r, _ = await call(t, "GET", "/api/v1/audit")
    assert r.status == 200 and quota(r)[1] == 0
    r, body = await call(t, "POST", "/api/v1/agents", json={"username": "zed", "name": "Zed", "password": "correct horse battery"})
    assert r.status == 429, body
    r, body = await call(t, "GET", "/api/v1/agents", key=other)
    assert r.status == 200 and body["agents"] == []


async def test_past_an_addresss_quota_every_request_from_it_gets_429(make_tandem, monkeypatch):
    monkeypatch.setenv("TANDEM_TRUSTED_PROXIES", "127.0.0.1/32")  # a TLS terminator on loopback hands us the client
    t = await make_tandem(api_rate_per_address=3, api_rate_per_key=100)
    guesser = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(3):  # bad keys count: guessing is limited like everything else
        r, _ = await call(t, "GET", "/api/v1/sessions", key="tdm_guess", headers=guesser)
        assert r.status == 401
    r, body = await call(t, "GET", "/api/v1/sessions", headers=guesser)  # even with a good key now
    assert r.status == 429 and body["error"]["code"] == "rate_limited" and "address" in body["error"]["message"]
    assert quota(r)[:2] == (3, 0) and int(r.headers["Retry-After"]) >= 1
    r, _ = await call(t, "GET", "/metrics", headers=guesser)
    assert r.status == 429
    # another client behind the same terminator has its own budget
    r, _ = await call(t, "GET", "/api/v1/sessions", headers={"X-Forwarded-For": "198.51.100.20"})
    assert r.status == 200 and quota(r)[:2] == (3, 2)


async def test_zero_turns_a_limit_off(make_tandem):
    t = await make_tandem(api_rate_per_address=0, api_rate_per_key=2)
    for _ in range(2):
        r, _ = await call(t, "GET", "/api/v1/sessions")
        assert r.status == 200 and quota(r)[0] == 2 and r.headers["RateLimit-Policy"] == '2;w=60;comment="per key"'
    assert (await call(t, "GET", "/api/v1/sessions"))[0].status == 429
    r, _ = await call(t, "GET", "/api/v1/sessions", key=None)
    assert r.status == 401 and "RateLimit-Limit" not in r.headers  # no address quota to report
    t2 = await make_tandem(api_rate_per_address=0, api_rate_per_key=0)
    for _ in range(30):
        r, _ = await call(t2, "GET", "/api/v1/sessions")
        assert r.status == 200 and "RateLimit-Limit" not in r.headers


async def test_the_window_starts_again():
    """The in-process counter the API uses, on a clock the test moves: a quota comes back when its minute is over."""
    from tandem.ratelimit import MemoryRates

    now = [1000.0]
    c = MemoryRates(clock=lambda: now[0])
    assert await c.hit("api:key:k", 2, 60) == (True, 1, 60)
    assert await c.hit("api:key:k", 2, 60) == (True, 0, 60)
    now[0] += 30.5
    assert await c.hit("api:key:k", 2, 60) == (False, 0, 30)
    assert await c.hit("api:key:other", 2, 60) == (True, 1, 60)
    now[0] += 29.5
    assert await c.hit("api:key:k", 2, 60) == (True, 1, 60)


@pytest.mark.parametrize("text", ["-1", "ten", "1.5", "2000000"])
def test_settings_refuse_nonsense(text):
    with pytest.raises(S.SettingsError, match="--api-rate-per-key"):
        S.load({"api_rate_per_key": text}, {})
    with pytest.raises(S.SettingsError, match="TANDEM_API_RATE_PER_ADDRESS"):
        S.load({}, {"TANDEM_API_RATE_PER_ADDRESS": text})


def test_settings_defaults_and_environment():
    d = S.load({}, {})
    assert (d.api_rate_per_address, d.api_rate_per_key) == (300, 600)
    e = S.load({}, {"TANDEM_API_RATE_PER_ADDRESS": "100", "TANDEM_API_RATE_PER_KEY": "0"})
    assert (e.api_rate_per_address, e.api_rate_per_key) == (100, 0)


@pytest.fixture
def redis_url(tmp_path):
    from tests.servers.redis import RedisServer

    with RedisServer(tmp_path / "redis") as server:
        yield server.url


async def test_two_nodes_with_one_redis_share_the_quotas(make_tandem, redis_url):
    """Behind a balancer, a key's requests spread over the nodes still meet one quota (not one per node)."""
    one = await make_tandem(redis_url=redis_url, api_rate_per_address=100, api_rate_per_key=4)
    two = await make_tandem(redis_url=redis_url, api_rate_per_address=100, api_rate_per_key=4)
    remaining = []
    for node in (one, two, one, two):
        r, _ = await call(node, "GET", "/api/v1/audit")
        assert r.status == 200
        remaining.append(quota(r)[1])
    assert remaining == [3, 2, 1, 0]
    for node in (one, two):
        r, body = await call(node, "GET", "/api/v1/audit")
        assert r.status == 429 and body["error"]["code"] == "rate_limited"

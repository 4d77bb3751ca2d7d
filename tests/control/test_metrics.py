"""GET /metrics: Prometheus text format, per-app registry, behind an API key or the metrics token.

Real traffic through a real Tandem and a real upstream on loopback; the scrape is parsed with
prometheus_client's own parser and the numbers are checked to have moved as the traffic says.
"""

import asyncio

from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from tandem import appkeys
from tests.harness import ADMIN_KEY, free_socket

NAV = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "none", "Accept": "text/html"}
SUB = {"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "style", "Sec-Fetch-Site": "same-origin"}
PAGE = "<!doctype html><html><head><title>m</title><link rel=stylesheet href=/s.css></head><body><p>hello</p></body></html>"
CSS = "body { background: url(/bg.png) } " * 50


def site():
    app = web.Application()
    async def page(request):
        return web.Response(text=PAGE, content_type="text/html")

    async def css(request):
        return web.Response(text=CSS, content_type="text/css")

    app.router.add_get("/", page)
    app.router.add_get("/s.css", css)
    return app


async def scrape(t, token=ADMIN_KEY) -> dict:
    r = await t.client.get(t.url + "/metrics", headers={"Authorization": f"Bearer {token}"})
    text = await r.text()
    assert r.status == 200, text
    assert r.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_move_with_real_traffic(make_tandem, upstream):
    origin = await upstream(site())
    t = await make_tandem()
    before = await scrape(t)
    assert value(before, "tandem_live_sessions") == 0
    assert value(before, "tandem_page_load_seconds_count") == 0

    s = await t.session(origin + "/")
    for _ in range(3):
        r = await t.client.get(s.url(origin + "/"), headers=NAV)
        body = await r.read()
        assert r.status == 200 and b"hello" in body
    r = await t.client.get(s.url(origin + "/s.css"), headers=SUB)
    css = await r.read()
    assert r.status == 200

    # an upstream that refuses the connection: counted by its code
    dead = free_socket()
    dead_port = dead.getsockname()[1]
    dead.close()
    r = await t.client.get(s.url(f"http://127.0.0.1:{dead_port}/"), headers=NAV)
    await r.read()
    assert r.status == 502

    after = await scrape(t)
    assert value(after, "tandem_live_sessions") == 1
    assert value(after, "tandem_page_load_seconds_count") == 3
    assert value(after, "tandem_page_load_seconds_sum") > 0
    assert value(after, "tandem_rewrite_seconds_count", kind="html") == 3
    assert value(after, "tandem_rewrite_seconds_count", kind="css") == 1
    assert value(after, "tandem_upstream_errors_total", code="connection_refused") == 1
    assert value(after, "tandem_proxy_bytes_in_total") >= 3 * len(PAGE) + len(CSS)
    assert value(after, "tandem_proxy_bytes_out_total") >= 3 * len(PAGE) + len(css)
    assert value(after, "tandem_proxied_requests_total", status="2xx") >= 4
    assert value(after, "tandem_store_seconds_count", op="audit") > value(before, "tandem_store_seconds_count", op="audit")
    for name in ("tandem_participants", "tandem_rooms", "tandem_relay_lag_seconds", "tandem_webhook_deliveries_total",
                 "tandem_webhook_failures_total"):
        assert (name, ()) in after, name

    await t.api("DELETE", f"/api/v1/sessions/{s.sid}")
    ended = await scrape(t)
    assert value(ended, "tandem_live_sessions") == 0


async def test_webhook_deliveries_and_failures_counted(make_tandem, upstream):
    calls = {"n": 0}

    async def hook(request):
        calls["n"] += 1
        return web.Response(status=204 if request.headers["Tandem-Event"] != "session.ended" else 500)

    app = web.Application()
    app.router.add_post("/hook", hook)
    origin = await upstream(app)
    t = await make_tandem()

    t.app[appkeys.WEBHOOKS].backoff = (0.01,)  # one quick retry, then dropped
    r = await t.api("POST", "/api/v1/keys", json={"name": "crm", "webhook_url": origin + "/hook"})
    key = (await r.json())["key"]
    r = await t.api("POST", "/api/v1/sessions", json={"url": "http://127.0.0.1:9/"}, headers={"Authorization": f"Bearer {key}"})
    sid = (await r.json())["session_id"]
    await t.api("DELETE", f"/api/v1/sessions/{sid}", headers={"Authorization": f"Bearer {key}"})
    async with asyncio.timeout(10):
        while t.app[appkeys.WEBHOOKS].failed < 1:
            await asyncio.sleep(0.02)
    m = await scrape(t)
    assert value(m, "tandem_webhook_deliveries_total") == 1  # session.started
    assert value(m, "tandem_webhook_failures_total") == 1  # session.ended, dropped
    assert value(m, "tandem_webhook_attempts_failed_total") == 2  # the first attempt and its retry


async def test_scrape_needs_a_key_or_the_metrics_token(make_tandem):
    t = await make_tandem(metrics_token="scrape-token-abcdef")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic scrape-token-abcdef"}):
        r = await t.client.get(t.url + "/metrics", headers=headers)
        body = await r.json()
        assert r.status == 401 and body["error"]["code"] == "unauthorized", body
        assert "wrong" not in str(body)
    await scrape(t, "scrape-token-abcdef")
    await scrape(t, ADMIN_KEY)
    # the metrics token is not an API key
    r = await t.client.get(t.url + "/api/v1/sessions", headers={"Authorization": "Bearer scrape-token-abcdef"})
    assert r.status == 401


async def test_each_app_has_its_own_registry(make_tandem, upstream):
    origin = await upstream(site())
    a = await make_tandem()
    b = await make_tandem()
    s = await a.session(origin + "/")
    r = await a.client.get(s.url(origin + "/"), headers=NAV)
    await r.read()
    assert value(await scrape(a), "tandem_page_load_seconds_count") == 1
    assert value(await scrape(b), "tandem_page_load_seconds_count") == 0


async def test_rooms_participants_and_relay_lag_from_real_sockets(make_tandem, upstream):
    from tests.sync.helpers import join, recv, socket

    origin = await upstream(site())
    t = await make_tandem()
    s = await t.session(origin + "/")
    tab = await socket(t, t.client, s.sid, kind="tab")
    await recv(tab, "welcome")
    fclient = await join(t, s.sid)
    try:
        view = await socket(t, fclient, s.sid)
        await recv(view, "welcome")
        m = await scrape(t)
        assert value(m, "tandem_rooms") == 1
        assert value(m, "tandem_participants") == 2
        assert 0 <= value(m, "tandem_relay_lag_seconds") < 5
        await view.close()
        await tab.close()
    finally:
        await fclient.close()

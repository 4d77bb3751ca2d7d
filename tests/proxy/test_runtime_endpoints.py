"""Reserved endpoints the browser runtime needs (worker wrappers, alias labels) and the
cookieless CORS rule between origins of one session (proxy/cors.py), against real loopback
servers."""

import json

from aiohttp import web

from tandem import appkeys
from tests.harness import client_session

CORS_GET = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty", "Sec-Fetch-Site": "same-site"}


def _echo_app():
    seen = []

    async def echo(request):
        seen.append({"cookie": request.headers.get("Cookie"), "origin": request.headers.get("Origin"),
                     "method": request.method})
        resp = web.json_response({"ok": True}, headers={"Access-Control-Allow-Origin": "*"})
        resp.set_cookie("planted", "1")
        return resp

    async def set_cookie(request):
        resp = web.Response(text="ok")
        resp.set_cookie("sess", "secret")
        return resp

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/login", set_cookie)
    return app, seen


async def test_worker_wrapper_loads_the_runtime_then_the_script(make_tandem, upstream):
    t = await make_tandem()
    origin = await upstream(web.Application())
    s = await t.session(origin + "/")
    proxied = s.url(origin)
    src = proxied + "/js/w.js?x=1"
    async with client_session() as anon:  # no credential needed: the wrapper only names same-origin scripts
        r = await anon.get(proxied + "/__tandem/worker.js", params={"src": src, "t": "classic", "v": "x"})
        body = await r.text()
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/javascript")
        version = t.app[appkeys.RUNTIME_VERSION]  # the server's, whatever v= the page asked for
        assert body.startswith(f'importScripts("/__tandem/runtime.js?v={version}");')
        assert f"importScripts({json.dumps(src)});" in body
        r = await anon.get(proxied + "/__tandem/sw.js", params={"src": src, "t": "module"})
        body = await r.text()
        assert r.headers["Service-Worker-Allowed"] == "/"
        assert body.startswith('import "/__tandem/runtime.js?v=') and f"import {json.dumps(src)};" in body
        r = await anon.get(proxied + "/__tandem/worker.js", params={"src": "blob:" + proxied + "/uuid"})
        assert r.status == 200
        for bad in ("http://evil.example/w.js", s.url("http://other.example") + "/w.js", "", "javascript:alert(1)"):
            r = await anon.get(proxied + "/__tandem/worker.js", params={"src": bad})
            assert r.status == 400, bad
            assert "bad_worker_src" in await r.text()


async def test_alias_labels_are_made_registered_and_looked_up(make_tandem, upstream):
    t = await make_tandem()
    origin = await upstream(web.Application())
    s = await t.session(origin + "/")
    proxied = s.url(origin)
    long_origin = "https://" + "x" * 60 + ".example.com"
    r = await t.client.post(proxied + "/__tandem/alias", data=long_origin)
    label = await r.text()
    assert r.status == 200 and label.startswith(s.sid + "-a-")
    assert s.url(long_origin + "/p") == f"http://{label}.{t.base.domain}/p"  # the server's own mapping agrees
    r = await t.client.get(proxied + "/__tandem/alias", params={"hash": label.rsplit("-", 1)[1]})
    assert r.status == 200 and await r.text() == long_origin
    r = await t.client.post(proxied + "/__tandem/alias", data="https://example.com")
    assert await r.text() == f"{s.sid}-s-example-com"  # a direct label needs no registration
    for bad in ("not a url", "https://example.com/path", "ftp://example.com", "https://u@example.com", "x" * 5000):
        r = await t.client.post(proxied + "/__tandem/alias", data=bad)
        assert r.status == 400, bad
    r = await t.client.get(proxied + "/__tandem/alias", params={"hash": "a" * 16})
    assert r.status == 404
    async with client_session() as anon:
        r = await anon.post(proxied + "/__tandem/alias", data=long_origin)
        assert r.status == 403


async def test_cookieless_cors_between_origins_of_a_session(make_tandem, upstream):
    """fetch() across two proxied origins carries no credential: it is forwarded, without the jar."""
    app, seen = _echo_app()
    t = await make_tandem()
    origin = await upstream(app)
    other = origin.replace("127.0.0.1", "localhost")
    s = await t.session(origin + "/")
    proxied, proxied_other = s.url(origin), s.url(other)
    await t.client.get(proxied + "/login")  # the jar now holds sess=secret for this upstream
    async with client_session() as anon:
        headers = {**CORS_GET, "Origin": proxied_other}
        r = await anon.get(proxied + "/echo", headers=headers)
        assert r.status == 200 and r.headers["Access-Control-Allow-Origin"] == "*"
        assert seen[-1]["cookie"] is None  # the session's cookies never go out without a credential
        assert seen[-1]["origin"] == other  # the upstream sees the upstream origin
        r = await anon.options(proxied + "/echo", headers={**headers, "Access-Control-Request-Method": "PUT"})
        assert r.status == 200 and seen[-1]["method"] == "OPTIONS"
        # refused: no Origin, the same origin, another session's origin, a navigation, not ours
        other_session = await t.session(origin + "/")
        for bad in ({**CORS_GET}, {**CORS_GET, "Origin": proxied}, {**CORS_GET, "Origin": other_session.url(other)},
                    {**CORS_GET, "Origin": proxied_other, "Sec-Fetch-Mode": "navigate"},
                    {**CORS_GET, "Origin": "http://evil.example"}, {**CORS_GET, "Origin": "null"}):
            r = await anon.get(proxied + "/echo", headers=bad)
            assert r.status == 403, bad
    # a Set-Cookie in the cookieless response did not reach the jar
    r = await t.client.get(proxied + "/echo")
    assert "planted" not in (seen[-1]["cookie"] or "") and "sess=secret" in seen[-1]["cookie"]

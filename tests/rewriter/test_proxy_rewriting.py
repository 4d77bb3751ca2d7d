"""The proxy's use of the rewriters, against a real upstream on loopback: scripts (classic and
module MIME types, gzip, charset), web app manifests, XHTML and SVG documents, SVG as an image,
the content-hash cache, HEAD and big bodies."""

from __future__ import annotations

import gzip

from aiohttp import web

from proxy import handler

NAV = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "none", "Accept": "text/html"}
SCRIPT = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "script", "Sec-Fetch-Site": "same-origin"}
IMAGE = {"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image", "Sec-Fetch-Site": "same-origin"}
MANIFEST = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "manifest", "Sec-Fetch-Site": "same-origin"}

BIG_JS = b"/* padding */\n" * 10_000  # over the cache's MIN_BYTES and the proxy's OFFLOAD_BYTES


def upstream_app(other: str) -> web.Application:
    app = web.Application()
    app["hits"] = {}

    def count(name: str) -> None:
        app["hits"][name] = app["hits"].get(name, 0) + 1

    async def module(_r):
        count("module")
        body = f'import x from "{other}/dep.js";\nexport const y = import("{other}/lazy.js");\n'.encode()
        return web.Response(body=body, content_type="text/javascript")

    async def big(_r):
        count("big")
        return web.Response(body=f'import("{other}/x.js");\n'.encode() + BIG_JS, content_type="application/javascript")

    async def gz(_r):
        body = gzip.compress(f'importScripts("{other}/w.js");'.encode())
        return web.Response(body=body, headers={"Content-Type": "application/javascript; charset=utf-8",
                                                 "Content-Encoding": "gzip"})

    async def latin(_r):
        body = f'var s = "café"; import("{other}/é.js")'.encode("latin-1")
        return web.Response(body=body, headers={"Content-Type": "text/javascript; charset=iso-8859-1"})

    async def manifest(_r):
        return web.Response(text=f'{{"start_url": "{other}/app", "icons": [{{"src": "{other}/i.png"}}]}}',
                            content_type="application/manifest+json")

    async def json_manifest(_r):
        return web.Response(text=f'{{"start_url": "{other}/app"}}', content_type="application/json")

    async def xhtml(_r):
        body = ('<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><head>'
                f'<title>x</title><script src="{other}/a.js"/></head><body><a href="{other}/p">p</a></body></html>')
        return web.Response(text=body, content_type="application/xhtml+xml")

    async def svg(_r):
        body = (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
                f'<image xlink:href="{other}/i.png" width="1" height="1"/></svg>')
        return web.Response(text=body, content_type="image/svg+xml")

    for path, fn in (("/module.mjs", module), ("/big.js", big), ("/gz.js", gz), ("/latin.js", latin),
                     ("/site.webmanifest", manifest), ("/manifest.json", json_manifest), ("/doc.xhtml", xhtml),
                     ("/pic.svg", svg)):
        app.router.add_get(path, fn)
    return app


async def _setup(make_tandem, upstream):
    other = "https://cdn.example.com"
    app = upstream_app(other)
    origin = await upstream(app)
    t = await make_tandem()
    s = await t.session(origin + "/")
    return app, t, s, origin, s.url(other)


async def test_scripts_are_rewritten(make_tandem, upstream):
    app, t, s, origin, cdn = await _setup(make_tandem, upstream)
    r = await t.client.get(s.url(origin + "/module.mjs"), headers=SCRIPT)
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/javascript")
    body = await r.text()
    assert body == f'import x from "{cdn}/dep.js";\nexport const y = import("{cdn}/lazy.js");\n'
    assert int(r.headers["Content-Length"]) == len(body.encode())

    r = await t.client.get(s.url(origin + "/gz.js"), headers=SCRIPT)
    assert await r.text() == f'importScripts("{cdn}/w.js");'
    assert "Content-Encoding" not in r.headers  # decoded to rewrite, sent plain

    r = await t.client.get(s.url(origin + "/latin.js"), headers=SCRIPT)
    assert await r.read() == f'var s = "café"; import("{cdn}/é.js")'.encode("latin-1")


async def test_big_script_rewritten_once_per_session_from_the_cache(make_tandem, upstream):
    app, t, s, origin, cdn = await _setup(make_tandem, upstream)
    handler.REWRITE_CACHE.clear()
    hits = handler.REWRITE_CACHE.hits
    bodies = []
    for _ in range(3):
        r = await t.client.get(s.url(origin + "/big.js"), headers=SCRIPT)
        bodies.append(await r.read())
    assert bodies[0] == f'import("{cdn}/x.js");\n'.encode() + BIG_JS
    assert bodies[0] == bodies[1] == bodies[2]
    assert app["hits"]["big"] == 3  # the upstream is still asked every time (no response cache here)
    assert handler.REWRITE_CACHE.hits == hits + 2


async def test_manifests(make_tandem, upstream):
    app, t, s, origin, cdn = await _setup(make_tandem, upstream)
    r = await t.client.get(s.url(origin + "/site.webmanifest"), headers=MANIFEST)
    assert await r.text() == f'{{"start_url": "{cdn}/app", "icons": [{{"src": "{cdn}/i.png"}}]}}'
    # application/json is a manifest only when the browser fetches it as one
    r = await t.client.get(s.url(origin + "/manifest.json"), headers=MANIFEST)
    assert await r.text() == f'{{"start_url": "{cdn}/app"}}'
    r = await t.client.get(s.url(origin + "/manifest.json"), headers=SCRIPT)
    assert await r.text() == '{"start_url": "https://cdn.example.com/app"}'


async def test_xhtml_and_svg_documents(make_tandem, upstream):
    app, t, s, origin, cdn = await _setup(make_tandem, upstream)
    r = await t.client.get(s.url(origin + "/doc.xhtml"), headers=NAV)
    body = await r.text()
    assert f'<script src="{cdn}/a.js"/>' in body and f'<a href="{cdn}/p">' in body
    head = body.index("<head>") + len("<head>")
    assert body[head:].startswith('<script src="/__tandem/runtime.js?v=')
    assert 'defer=""' in body or "defer " not in body  # injected markup is well-formed XML

    r = await t.client.get(s.url(origin + "/pic.svg"), headers=NAV)
    body = await r.text()
    assert f'xlink:href="{cdn}/i.png"' in body
    assert '<script xmlns="http://www.w3.org/1999/xhtml" src="/__tandem/runtime.js?v=' in body

    r = await t.client.get(s.url(origin + "/pic.svg"), headers=IMAGE)  # as an image: untouched
    assert await r.text() == (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
                              f'<image xlink:href="https://cdn.example.com/i.png" width="1" height="1"/></svg>')


async def test_head_of_a_script_promises_no_length(make_tandem, upstream):
    app, t, s, origin, cdn = await _setup(make_tandem, upstream)
    r = await t.client.head(s.url(origin + "/module.mjs"), headers=SCRIPT)
    upstream_length = len(f'import x from "https://cdn.example.com/dep.js";\nexport const y = import("https://cdn.example.com/lazy.js");\n')
    assert r.status == 200
    assert r.headers.get("Content-Length") != str(upstream_length)  # the rewritten body's length differs

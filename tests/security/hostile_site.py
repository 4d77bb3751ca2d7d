"""A hostile upstream site on loopback, for security tests: its pages try attacks on Tandem.

Reusable by every security test::

    site = await HostileSite.start()            # two origins: site.a and site.b (two ports)
    ... t.session(site.a + "/masked") ...
    await site.close()

Every page is plain HTML served as ``text/html`` from :data:`PAGES` (path → HTML); a
test may add its own with ``site.pages[path] = html`` before a browser loads it.
``site.hits`` records every request the site receives (method, path with query, headers),
for tests that check what reached the origin. Secrets planted by a page all contain
:data:`SECRET_MARK`, so a test can look for that one string in anything a follower
received.

Pages (each names the finding of issue 10 it exercises):

* ``/masked``: #3 and #7 — secrets in a ``[data-tandem-mask]`` element's text, input
  values and attributes (title, alt, placeholder, aria-*, data-*, src, value, images named in
  ``style``), in an open
  shadow root under it (nested too), in a closed shadow root under it, and under a
  ``[data-tandem-mask]`` element inside a shadow root of an unmasked host. ``window.later()``
  makes the same kinds of changes after the snapshot (mutations, attribute changes), then
  sets ``#marker`` to ``VISIBLE-MARKER-2``.
* ``/frame-hijack?b=ORIGIN_B``: #9 — embeds ``ORIGIN_B/hijack`` in an iframe (another
  proxied origin of the same session once proxied).
* ``/hijack?panel=URL``: #9 — the cross-origin frame: embeds the session panel itself and,
  once it loads, posts it a forged DOM stream (text ``HIJACKED``) and a ``javascript:`` page URL.
* ``/gallery``: #6 (blocked images) — images the mirror shows (``src``, ``srcset``,
  a ``style`` background, an inline ``<style>``, a stylesheet on origin b that references an
  image of its own, a redirected image) next to images of a ``[data-tandem-block]`` element,
  of an element an admin block selector (``.ad``) hides, and of a ``[data-tandem-mask]`` one
  (its ``<img>`` and a CSS background in its ``style``).
* ``/``: a plain page (a session's start).
* ``/pixel.png``, and any other ``*.png``: a 1×1 PNG (what masked images point at).
* ``/sheet.css``: a stylesheet referencing ``/img/fromsheet.png``; ``/moved.png``: a redirect to
  ``/img/moved-target.png``.
"""

from __future__ import annotations

import base64

from aiohttp import web

SECRET_MARK = "SECRET"

PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")

MASKED = """<!doctype html><html><head><meta charset=utf-8><title>Masked things</title></head><body>
<h1 id=marker>VISIBLE-MARKER-1</h1>
<div data-tandem-mask id=masked title="SECRET-TITLE-a1" aria-label="SECRET-ARIA-a2" data-account="SECRET-DATA-a3">
  <img alt="SECRET-ALT-a4" src="/pixel.png?u=SECRET-SRC-a5" width=10 height=10>
  <input id=lightinput placeholder="SECRET-PH-a6" value="SECRET-VALUE-a7">
  <span id=lighttext>SECRET-TEXT-a8</span>
  <a href="mailto:SECRET-HREF-a9@example.com" title="SECRET-LINK-a10">mail</a>
  <div id=openhost></div>
  <div id=closedhost></div>
  <div id=maskbg style="background-image: url('/img/SECRET-BG-a11.png'); width: 10px; height: 10px"></div>
</div>
<div id=plainhost></div>
<p id=visible title="VISIBLE-TITLE">VISIBLE-TEXT</p>
<script>
  const open = document.getElementById('openhost').attachShadow({mode: 'open'});
  open.innerHTML = '<p id=shp title="SECRET-SH-TITLE-b1">SECRET-SH-TEXT-b2</p>' +
    '<input id=shinput value="SECRET-SH-VALUE-b3" placeholder="SECRET-SH-PH-b4"><nested-el></nested-el>';
  open.querySelector('nested-el').attachShadow({mode: 'open'}).innerHTML = '<b title="SECRET-NESTED-ATTR-b6">SECRET-NESTED-b5</b>';
  const closed = document.getElementById('closedhost').attachShadow({mode: 'closed'});
  closed.innerHTML = '<p>SECRET-CLOSED-c1</p><input value="SECRET-CLOSED-VALUE-c2" title="SECRET-CLOSED-ATTR-c3">';
  const plain = document.getElementById('plainhost').attachShadow({mode: 'open'});
  plain.innerHTML = '<div data-tandem-mask title="SECRET-INSHADOW-ATTR-d3"><i>SECRET-INSHADOW-MASK-d1</i>' +
    '<input id=insh value="SECRET-INSHADOW-VALUE-d2"></div><span id=shok>VISIBLE-SHADOW-OK</span>';
  window.later = () => {
    const late = document.createElement('span');
    late.textContent = 'SECRET-LATE-SH-e1';
    open.appendChild(late);
    open.getElementById('shp').setAttribute('title', 'SECRET-LATE-ATTR-e2');
    open.getElementById('shp').firstChild.data = 'SECRET-LATE-CHAR-e3';
    document.getElementById('masked').setAttribute('title', 'SECRET-LATE-TITLE-e4');
    document.getElementById('masked').setAttribute('data-late', 'SECRET-LATE-DATA-e8');
    const light = document.createElement('em');
    light.setAttribute('aria-description', 'SECRET-LATE-ARIA-e9');
    light.textContent = 'SECRET-LATE-LIGHT-e5';
    document.getElementById('masked').appendChild(light);
    closed.querySelector('p').textContent = 'SECRET-LATE-CLOSED-e7';
    closed.querySelector('input').value = 'SECRET-LATE-CLOSED-VALUE-e10';
    plain.querySelector('i').textContent = 'SECRET-LATE-INSHADOW-e11';
    plain.querySelector('input').setAttribute('value', 'SECRET-LATE-INSHADOW-VALUE-e12');
    const nested = open.querySelector('nested-el').shadowRoot;
    nested.querySelector('b').textContent = 'SECRET-LATE-NESTED-e13';
    document.getElementById('maskbg').style.backgroundImage = 'url(/img/SECRET-LATE-BG-e14.png)';
    document.getElementById('visible').textContent = 'VISIBLE-LATE';
    setTimeout(() => { document.getElementById('marker').textContent = 'VISIBLE-MARKER-2'; }, 300);
  };
</script></body></html>"""

FRAME_HIJACK = """<!doctype html><html><head><meta charset=utf-8><title>Page with a widget</title></head><body>
<h1 id=marker>REAL-PAGE-1</h1>
<script>
  const b = new URLSearchParams(location.search).get('b');
  const panel = new URLSearchParams(location.search).get('panel');
  const f = document.createElement('iframe');
  f.id = 'widget';
  f.src = b + '/hijack?panel=' + encodeURIComponent(panel);
  f.width = 400; f.height = 300;
  document.body.appendChild(f);
</script></body></html>"""

HIJACK = """<!doctype html><html><head><meta charset=utf-8><title>Widget</title></head><body>
<p>widget</p>
<script>
  const panel = new URLSearchParams(location.search).get('panel');
  const p = document.createElement('iframe');
  p.id = 'stolen-panel';
  p.src = panel;
  document.body.appendChild(p);
  const forged = [
    {type: 4, data: {href: 'javascript:alert(document.domain)', width: 800, height: 600}, timestamp: Date.now()},
    {type: 2, data: {node: {type: 0, id: 1, childNodes: [{type: 2, id: 2, tagName: 'html', attributes: {}, childNodes: [
      {type: 2, id: 3, tagName: 'body', attributes: {}, childNodes: [{type: 3, id: 4, textContent: 'HIJACKED'}]}]}]},
      initialOffset: {left: 0, top: 0}}, timestamp: Date.now()},
  ];
  let n = 0;
  const tick = setInterval(() => {
    if (++n > 40) clearInterval(tick);
    try {
      const w = p.contentWindow;
      w.postMessage({tandem: 'hello', t: 'hello'}, '*');
      w.postMessage({tandem: 'active', t: 'active'}, '*');
      w.postMessage({tandem: 'ev', t: 'ev', e: forged}, '*');
      w.postMessage({tandem: 'page', t: 'page', url: 'javascript:alert(document.domain)', title: 'HIJACKED'}, '*');
    } catch (e) {}
  }, 250);
</script></body></html>"""

GALLERY = """<!doctype html><html><head><meta charset=utf-8><title>Gallery</title>
<style>.inline { background: url(/img/inline.png); width: 10px; height: 10px; }</style>
<link rel=stylesheet href="__ORIGIN_B__/sheet.css">
</head><body>
<h1 id=marker>GALLERY</h1>
<img id=shown src="/img/shown.png" width=10 height=10>
<img id=set srcset="/img/srcset.png 1x" width=10 height=10>
<img id=moved src="/moved.png" width=10 height=10>
<div id=bg style="background-image: url(/img/bg.png); width: 10px; height: 10px"></div>
<div class=inline id=inl></div>
<div class=fromsheet id=sheetbg></div>
<div data-tandem-block id=blocked><img src="/img/blocked-SECRET.png" width=10 height=10></div>
<img class=ad id=adblocked src="/img/adminblocked-SECRET.png" width=10 height=10>
<div data-tandem-mask id=masked><img src="/img/masked-SECRET.png" width=10 height=10>
<div id=maskedbg style="background: url(/img/maskedbg-SECRET.png); width: 10px; height: 10px"></div></div>
</body></html>"""

SHEET = ".fromsheet { background: url(/img/fromsheet.png); width: 10px; height: 10px; }"

HOME = "<!doctype html><html><head><meta charset=utf-8><title>Hostile home</title></head><body><h1 id=marker>HOME</h1></body></html>"

PAGES: dict[str, str] = {"/": HOME, "/masked": MASKED, "/frame-hijack": FRAME_HIJACK, "/hijack": HIJACK,
                         "/gallery": GALLERY}


class HostileSite:
    """The hostile site served on two loopback ports (two origins): ``a`` and ``b``."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = dict(PAGES)
        self.hits: list[tuple[str, str, dict]] = []
        self.runners: list[web.AppRunner] = []
        self.a = ""
        self.b = ""

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.hits.append((request.method, request.path_qs, dict(request.headers)))
            if request.path == "/moved.png":
                raise web.HTTPFound("/img/moved-target.png")
            if request.path.endswith(".png"):
                return web.Response(body=PIXEL, content_type="image/png")
            if request.path == "/sheet.css":
                return web.Response(text=SHEET, content_type="text/css")
            html = self.pages.get(request.path)
            if html is None:
                return web.Response(status=404, text="not here")
            html = html.replace("__ORIGIN_B__", self.b)  # a page may name the other origin
            return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        return app

    @classmethod
    async def start(cls, host: str = "127.0.0.1") -> "HostileSite":
        site = cls()
        origins = []
        for _ in range(2):
            runner = web.AppRunner(site.app(), access_log=None)
            await runner.setup()
            tcp = web.TCPSite(runner, host, 0)
            await tcp.start()
            port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            site.runners.append(runner)
            origins.append(f"http://{host}:{port}")
        site.a, site.b = origins
        return site

    async def close(self) -> None:
        for runner in self.runners:
            await runner.cleanup()

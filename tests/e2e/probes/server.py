"""The probe origins: two small aiohttp apps the probe pages live on and talk to.

``probe.localhost:P1`` serves the probe pages (``/p/<name>``) and ``probe2.localhost:P2``
is the second, cross-origin site. Both serve the same helpers (JSON with CORS, images,
scripts, workers, an SSE stream, a WebSocket echo, cookie setters, landing pages) and
remember every request they get, so a probe can ask ``/hits?k=KEY`` whether a request
it made really arrived (through Tandem in the proxied run, directly in the direct run).
"""

from __future__ import annotations

import base64
import json
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import WSMsgType, web

PAGES = Path(__file__).parent / "pages"
HOST1, HOST2 = "probe.localhost", "probe2.localhost"
MAX_RECORDED = 100_000  # requests remembered per origin: far above one suite run

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4" fill="red"/></svg>'
WAV = (b"RIFF" + (36 + 8).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
       + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")
       + (8000).to_bytes(4, "little") + (1).to_bytes(2, "little") + (8).to_bytes(2, "little")
       + b"data" + (8).to_bytes(4, "little") + b"\x80" * 8)
CORS = {"Access-Control-Allow-Origin": "*"}
META_RE = re.compile(r'<meta name="probe(?:-xfail)?" content="([^"]*)">')

# Scripts the probes load; %(o)s / %(o2)s are this and the other origin.
SCRIPTS = {
    "script.js": "window.__scripts = window.__scripts || {}; window.__scripts[new URL(document.currentScript.src).searchParams.get('k')] = true;",
    "mod.js": "export default 42;",
    "thrower.js": "window.throwFromScript = function () { throw new Error('boom'); };",
    "lib.js": "self.libLoaded = (self.libLoaded || 0) + 1;",
    "worker.js": """
onmessage = async (e) => {
  const out = {};
  try {
    const r = await fetch(e.data.url);
    out.json = await r.json();
    out.responseUrl = r.url;
  } catch (err) { out.error = String(err); }
  out.location = self.location.href;
  out.origin = self.origin;
  if (e.data.importAbs) { importScripts(e.data.importAbs); importScripts("lib.js"); out.lib = self.libLoaded; }
  postMessage(out);
};""",
    "module-worker.js": """
import value from "./mod.js";
onmessage = async (e) => {
  const out = { value };
  try { const r = await fetch(e.data.url); out.json = await r.json(); } catch (err) { out.error = String(err); }
  out.location = self.location.href;
  postMessage(out);
};""",
    "shared.js": """
onconnect = (c) => {
  const port = c.ports[0];
  port.onmessage = async (e) => {
    const out = {};
    try { const r = await fetch(e.data.url); out.json = await r.json(); } catch (err) { out.error = String(err); }
    out.location = self.location.href;
    port.postMessage(out);
  };
};""",
    "sw.js": """
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));
self.addEventListener("message", async (e) => {
  const out = { scope: self.registration.scope, location: self.location.href };
  try { const r = await fetch(e.data.url); out.json = await r.json(); } catch (err) { out.error = String(err); }
  e.source.postMessage(out);
});
self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (url.pathname.endsWith("/virtual")) {
    e.respondWith(new Response(JSON.stringify({ virtual: true, url: e.request.url }), { headers: { "Content-Type": "application/json" } }));
  }
});""",
    "reads-worker.js": """
const reads = () => ({
  href: self.location.href, origin: self.location.origin, host: location.host, hostname: location.hostname,
  port: location.port, protocol: location.protocol, pathname: location.pathname, search: location.search,
  string: String(self.location), selfOrigin: self.origin, resolved: new URL("x/y", self.location).href,
  isSecure: self.isSecureContext,
});
const answer = async (reply) => {
  const out = reads();
  try { const r = await fetch("/data.json?k=" + new URL(location.href).searchParams.get("k")); out.responseUrl = r.url; out.from = (await r.json()).from; } catch (err) { out.fetchError = String(err); }
  try { const r = new Request("rel"); out.requestUrl = r.url; } catch (err) { out.requestError = String(err); }
  try { importScripts("lib.js"); out.lib = self.libLoaded; } catch (err) { out.importError = String(err); }
  reply(out);
};
if (typeof onconnect !== "undefined" || self.constructor.name === "SharedWorkerGlobalScope") {
  onconnect = (c) => { const port = c.ports[0]; answer((o) => port.postMessage(o)); };
} else {
  onmessage = (e) => {
    if (e.data === "throw") { setTimeout(() => { throw new Error("worker boom"); }); return; }
    answer((o) => postMessage(o));
  };
}""",
    "meta.js": "export const url = import.meta.url; export const rel = new URL('./mod.js', import.meta.url).href; export const dyn = () => import('./mod.js');",
    "worklet.js": "class P extends AudioWorkletProcessor { process() { return false; } } registerProcessor('p-' + Math.random(), P);",
}

LANDING = """<!doctype html><title>landing</title><script>
const msg = { landing: new URLSearchParams(location.search).get("k"), url: document.URL, method: %(method)s };
(window.opener || window.parent).postMessage(msg, "*");
</script>"""
FRAME = """<!doctype html><title>frame</title><body>frame<script>
addEventListener("message", (e) => e.source.postMessage({ echo: e.data, origin: e.origin }, "*"));
parent.postMessage({ hello: "frame", url: document.URL }, "*");
const k = new URLSearchParams(location.search).get("k");
if (k === "to-parent") {
  parent.postMessage({ targeted: true }, new URLSearchParams(location.search).get("target"));
  parent.postMessage({ afterTargeted: true }, "*");
}
</script></body>"""
SANDBOXED = """<!doctype html><script>
const k = new URLSearchParams(location.search).get("k");
fetch("%(o2)s/data.json?k=" + k).then((r) => r.json()).then((j) => parent.postMessage({ sandboxed: j.k }, "*"),
  (err) => parent.postMessage({ sandboxed: "error: " + err }, "*"));
</script>"""
REFERRER = """<!doctype html><script>parent.postMessage({ referrer: document.referrer }, "*");</script>"""
COOKIE_FRAME = """<!doctype html><script>document.cookie = "fromframe=" + new URLSearchParams(location.search).get("v") + "; path=/"; parent.postMessage({ cookieSet: true }, "*");</script>"""


@dataclass
class ProbeOrigin:
    name: str
    origin: str = ""
    other: str = ""
    nonce: str = ""  # part of every probe key; changed per run so runs never count each other's hits
    # a probe's own nonce, where runs overlap (the direct run of one probe beside the proxied run of another)
    nonces: dict[str, str] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)

    def key(self, name: str) -> str:
        """The key (``k=``) of probe ``name``'s current run."""
        return f"{name}-{self.nonces.get(name, self.nonce)}"

    def hits(self, key: str) -> int:
        return sum(1 for r in self.requests if r["k"] == key)


def _record(state: ProbeOrigin):
    @web.middleware
    async def middleware(request: web.Request, handler):
        if len(state.requests) < MAX_RECORDED and request.path != "/hits":
            state.requests.append({"k": request.query.get("k"), "path": request.path, "method": request.method,
                                   "host": request.host})
        return await handler(request)

    return middleware


def create_probe_app(state: ProbeOrigin) -> web.Application:
    app = web.Application(middlewares=[_record(state)])
    r = app.router

    async def page(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        path = PAGES / f"{name}.html"
        if not re.fullmatch(r"[a-z0-9-]+", name) or not path.exists():
            raise web.HTTPNotFound(text="no such probe")
        config = json.dumps({"o": state.origin, "o2": state.other, "k": state.key(name), "name": name})
        meta = f"<meta name=\"probe-config\" content='{config}'>"
        text = path.read_text()
        text = text.replace("<!doctype html>", "<!doctype html>" + meta, 1)
        # placeholders for markup that needs the origins before any script runs
        text = text.replace("%O2%", state.other).replace("%O%", state.origin).replace("%K%", state.key(name))
        charset = re.search(r'<meta name="probe-charset" content="([^"]*)">', text)
        if charset:  # the page in another encoding (UTF-16 with a BOM, ...), labelled in the header
            enc = charset.group(1)
            return web.Response(body=text.encode(enc), headers={"Content-Type": f"text/html; charset={enc.replace('-sig', '')}"})
        return web.Response(text=text, content_type="text/html")

    async def harness(request):
        return web.FileResponse(Path(__file__).parent / "harness.js", headers={"Content-Type": "text/javascript; charset=utf-8"})

    async def script(request):
        name = request.match_info["script"]
        if name not in SCRIPTS:
            raise web.HTTPNotFound()
        return web.Response(text=SCRIPTS[name], content_type="text/javascript", headers=CORS)

    async def data(request):
        return web.json_response({"ok": True, "from": state.name, "k": request.query.get("k")}, headers=CORS)

    async def echo(request):
        body = await request.text() if request.can_read_body else ""
        return web.json_response({"method": request.method, "origin": request.headers.get("Origin"),
                                  "referer": request.headers.get("Referer"), "cookie": request.headers.get("Cookie"),
                                  "host": request.headers.get("Host"),
                                  "body": body, "query": dict(request.query)}, headers=CORS)

    async def redirect(request):
        raise web.HTTPFound(request.query["to"], headers=CORS)

    async def image(request):
        return web.Response(body=PNG, content_type="image/png", headers=CORS)

    async def svg(request):
        return web.Response(body=SVG, content_type="image/svg+xml", headers=CORS)

    async def style(request):
        color = request.query.get("color", "rgb(1, 2, 3)")
        return web.Response(text=f".probe-styled {{ color: {color}; }}", content_type="text/css", headers=CORS)

    async def body(request):  # the page's own bytes (query b) as type t: probes that need known bytes (SRI)
        types = {"js": "text/javascript", "css": "text/css", "json": "application/json"}
        return web.Response(text=request.query.get("b", ""), content_type=types.get(request.query.get("t"), "text/plain"),
                            headers=CORS)

    async def font(request):
        return web.Response(body=b"\0" * 64, content_type="font/woff2", headers=CORS)

    async def wav(request):
        return web.Response(body=WAV, content_type="audio/wav", headers=CORS)

    async def sse(request):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", **CORS})
        await resp.prepare(request)
        await resp.write(b"data: hello\n\n")
        await resp.write_eof()
        return resp

    async def ws(request):
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            if msg.type == WSMsgType.TEXT:
                await sock.send_str("echo:" + msg.data)
        return sock

    async def beacon(request):
        await request.read()
        return web.Response(status=204, headers=CORS)

    async def set_cookie(request):
        origin = request.headers.get("Origin")
        cors = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true"} if origin else CORS
        resp = web.json_response({"set": True}, headers=cors)
        resp.set_cookie(request.query.get("name", "c"), request.query.get("value", "1"), path="/")
        return resp

    async def link(request):
        # URL-carrying response headers: what the page reads from them must be the site's URLs
        other = state.other
        return web.json_response({"ok": True}, headers={
            **CORS, "Access-Control-Expose-Headers": "Link, Content-Location, Refresh, X-Plain",
            "Link": f'<{other}/next?p=2>; rel="next", </prev?p=0>; rel="prev", <{state.origin}/style.css>; rel=preload; as=style',
            "Content-Location": f"{state.origin}/canonical.json",
            "Refresh": f"30; url={other}/later",
            "X-Plain": f"{other}/not-a-url-header"})

    async def cookie_echo(request):
        return web.json_response({"cookie": request.headers.get("Cookie")}, headers={
            "Access-Control-Allow-Origin": request.headers.get("Origin") or "*", "Access-Control-Allow-Credentials": "true"})

    async def hits(request):
        return web.json_response({"hits": state.hits(request.query.get("k", ""))}, headers=CORS)

    def html(body: str):
        async def handler(request):
            values = {"method": json.dumps(request.method), "o2": state.other}
            return web.Response(text=body % values, content_type="text/html")
        return handler

    r.add_get("/p/{name}", page)
    r.add_get("/harness.js", harness)
    r.add_get("/js/{script}", script)
    r.add_get("/sw-scope/sw.js", sw_script)
    r.add_get("/data.json", data)
    r.add_route("*", "/echo", echo)
    r.add_get("/redirect", redirect)
    r.add_get("/img.png", image)
    r.add_get("/img.svg", svg)
    r.add_get("/style.css", style)
    r.add_get("/font.woff2", font)
    r.add_get("/body", body)
    r.add_get("/a.wav", wav)
    r.add_get("/sse", sse)
    r.add_get("/ws", ws)
    r.add_post("/beacon", beacon)
    r.add_get("/set-cookie", set_cookie)
    r.add_get("/hits", hits)
    r.add_get("/link", link)
    r.add_get("/cookie-echo", cookie_echo)
    r.add_route("*", "/landing.html", html(LANDING))
    r.add_get("/frame.html", html(FRAME))
    r.add_get("/referrer.html", html(REFERRER))
    r.add_get("/sandboxed.html", html(SANDBOXED))
    r.add_get("/cookie-frame.html", html(COOKIE_FRAME))
    r.add_get("/blank.html", html("<!doctype html><title>blank</title><body></body>"))
    r.add_get("/sw-scope/{sub}/page.html", html("<!doctype html><title>in scope</title><body></body>"))
    return app


async def sw_script(request: web.Request) -> web.Response:
    return web.Response(text=SCRIPTS["sw.js"], content_type="text/javascript")


def bind() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def start_probe_origins(nonce: str = "") -> tuple[ProbeOrigin, ProbeOrigin, list[web.AppRunner]]:
    s1, s2 = bind(), bind()
    one = ProbeOrigin(HOST1, f"http://{HOST1}:{s1.getsockname()[1]}")
    two = ProbeOrigin(HOST2, f"http://{HOST2}:{s2.getsockname()[1]}")
    one.other, two.other = two.origin, one.origin
    one.nonce = two.nonce = nonce
    runners = []
    for state, sock in ((one, s1), (two, s2)):
        runner = web.AppRunner(create_probe_app(state), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        runners.append(runner)
    return one, two, runners


def probe_names() -> list[str]:
    return sorted(p.stem for p in PAGES.glob("*.html"))


def probe_meta(name: str) -> tuple[str, str | None]:
    """(what it checks, expected-failure reason or None) from the page's meta tags."""
    text = (PAGES / f"{name}.html").read_text()
    what = re.search(r'<meta name="probe" content="([^"]*)">', text)
    xfail = re.search(r'<meta name="probe-xfail" content="([^"]*)">', text)
    return (what.group(1) if what else name), (xfail.group(1) if xfail else None)


def probe_timeout_ms(name: str, default: int) -> int:
    """A page's own wait for its result (``<meta name="probe-timeout" content="seconds">``), or the default."""
    m = re.search(r'<meta name="probe-timeout" content="(\d+)">', (PAGES / f"{name}.html").read_text())
    return int(m.group(1)) * 1000 if m else default

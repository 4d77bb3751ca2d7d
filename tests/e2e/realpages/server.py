"""Loopback origins for the real-page suite: saved real pages, their "CDN", and the framework apps.

One aiohttp app on one ephemeral port answers for three host names (Chromium and Tandem's
test resolver send every ``*.localhost`` name to 127.0.0.1, so each name is its own origin):

* ``realpages.localhost`` serves ``../shared/corpus/pages/<file>`` at ``/<file>``. Every absolute
  or protocol-relative URL in the page is remapped, in the served bytes, onto a loopback origin:
  the page's own host (from ``<link rel=canonical>`` / ``og:url``) onto ``realpages.localhost``,
  every other host onto the stand-in CDN as ``http://realcdn.localhost:PORT/<host>/<path>`` -- so
  the page stays a multi-origin site and nothing goes to the internet. Any other path on this
  origin is a stand-in resource (the corpus holds the HTML only).
* ``realcdn.localhost`` answers every path with a stand-in resource chosen by the path's extension
  (or the ``Accept`` header): a 1x1 PNG or a small SVG for images, an empty stylesheet or script,
  ``{}`` for JSON, a tiny HTML page for frames, and 404 for anything else (fonts, media).
* ``apps.localhost`` serves the built framework apps (``apps/dist/<name>/``); ``{{CDN}}`` in
  their HTML is replaced with the stand-in CDN's origin, where their shared stylesheet lives.

Only ASCII-compatible bytes are remapped (the corpus has no UTF-16 page); everything else in a page
is served byte for byte, with no charset in the Content-Type so the page's own declaration decides,
as for a saved file.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

HERE = Path(__file__).resolve().parent
CORPUS_PAGES = HERE.parents[2] / ".." / "shared" / "corpus" / "pages"
APPS_DIST = HERE / "apps" / "dist"
APPS_COMMON = HERE / "apps" / "common"

PAGES_HOST = "realpages.localhost"
CDN_HOST = "realcdn.localhost"
APPS_HOST = "apps.localhost"
HOSTS = (PAGES_HOST, CDN_HOST, APPS_HOST)

# Namespace URIs name no resource, and inline scripts pass them to createElementNS: left alone.
NAMESPACE_HOSTS = frozenset({b"www.w3.org", b"w3.org"})
# An absolute (scheme) or protocol-relative URL's host, ended by something that cannot be part of it;
# also as JSON/JS strings write it, with escaped slashes (https:\/\/host\/...).
_URL_RE = re.compile(rb"(?:https?:)?(//|\\/\\/)((?:[a-z0-9_-]+\.)+[a-z]{2,})(?=[:/\"'\s?#)>\\<,;]|$)", re.I)
_CANONICAL_RE = (
    re.compile(rb"<link\b[^>]*\brel\s*=\s*[\"']?canonical[^>]*>", re.I),
    re.compile(rb"<meta\b[^>]*\bproperty\s*=\s*[\"']?og:url[^>]*>", re.I),
)
_HREF_HOST_RE = re.compile(rb"(?:href|content|value)\s*=\s*[\"']?(?:https?:)?//([a-z0-9_.-]+)", re.I)

PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8ffff3f0005fe02fea7d6a0a00000000049454e44ae426082")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><rect width="16" height="16" fill="#ccc"/></svg>'
STAND_IN_HTML = b"<!doctype html><meta charset=utf-8><title>stand-in</title><p>stand-in frame</p>"
STAND_IN_CACHE = "public, max-age=3600"  # stand-ins never change; a CDN would let them be cached

_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".ico", ".bmp"}
_KINDS = {".css": (b"/* stand-in stylesheet */\n", "text/css"),
          ".js": (b"/* stand-in script */\n", "text/javascript"),
          ".mjs": (b"/* stand-in script */\n", "text/javascript"),
          ".json": (b"{}", "application/json"),
          ".svg": (SVG, "image/svg+xml"),
          ".html": (STAND_IN_HTML, "text/html"),
          ".htm": (STAND_IN_HTML, "text/html"),
          ".php": (STAND_IN_HTML, "text/html")}


def corpus_available() -> bool:
    return CORPUS_PAGES.is_dir() and any(CORPUS_PAGES.glob("*.html"))


def corpus_files() -> list[str]:
    """Every saved page's file name, sorted (empty when ../shared is absent)."""
    if not CORPUS_PAGES.is_dir():
        return []
    return sorted(p.name for p in CORPUS_PAGES.glob("*.html"))


def own_host(body: bytes) -> bytes | None:
    """The page's own host, from its canonical link or og:url, when it names one."""
    for pattern in _CANONICAL_RE:
        tag = pattern.search(body)
        if tag:
            m = _HREF_HOST_RE.search(tag.group(0))
            if m:
                return m.group(1).lower()
    return None


def remap(body: bytes, pages_origin: str, cdn_origin: str) -> bytes:
    """Point every absolute and protocol-relative URL in ``body`` at a loopback origin."""
    home = own_host(body)
    pages, cdn = pages_origin.encode(), cdn_origin.encode()

    def sub(m: re.Match) -> bytes:
        host = m.group(2).lower()
        if host in NAMESPACE_HOSTS or host.endswith(b".localhost"):
            return m.group(0)
        if m.group(1) == b"//":
            return pages if host == home else cdn + b"/" + host
        return (pages if host == home else cdn + b"/" + host).replace(b"/", b"\\/")

    return _URL_RE.sub(sub, body)


def stand_in(path: str, accept: str) -> web.StreamResponse:
    ext = Path(path.split("?", 1)[0]).suffix.lower()
    if ext in _IMAGE_EXT or (not ext and accept.startswith("image/")):
        body, ctype = PNG_1X1, "image/png"
    elif ext in _KINDS:
        body, ctype = _KINDS[ext]
    elif not ext and "text/css" in accept:
        body, ctype = _KINDS[".css"]
    elif not ext and "text/html" in accept:
        body, ctype = STAND_IN_HTML, "text/html"
    else:
        return web.Response(status=404, text="no stand-in for this resource", headers={"Cache-Control": STAND_IN_CACHE})
    return web.Response(body=body, headers={"Content-Type": ctype, "Cache-Control": STAND_IN_CACHE,
                                            "Access-Control-Allow-Origin": "*"})


@dataclass
class RealPagesSite:
    port: int
    runner: web.AppRunner
    hosts: tuple[str, ...] = HOSTS
    requests: list[tuple[str, str]] = field(default_factory=list)

    @property
    def pages(self) -> str:
        return f"http://{PAGES_HOST}:{self.port}"

    @property
    def cdn(self) -> str:
        return f"http://{CDN_HOST}:{self.port}"

    @property
    def apps(self) -> str:
        return f"http://{APPS_HOST}:{self.port}"

    def page_url(self, name: str) -> str:
        return f"{self.pages}/{name}"

    def app_url(self, name: str) -> str:
        return f"{self.apps}/{name}/"

    async def close(self) -> None:
        await self.runner.cleanup()


def _app(site_box: list[RealPagesSite]) -> web.Application:
    cache: dict[str, bytes] = {}

    async def handle(request: web.Request) -> web.StreamResponse:
        site = site_box[0]
        host = (request.host or "").split(":", 1)[0].lower()
        path = request.path
        site.requests.append((host, request.path_qs))
        if host == PAGES_HOST:
            name = path.lstrip("/")
            if "/" not in name and name.endswith(".html") and (CORPUS_PAGES / name).is_file():
                if name not in cache:
                    cache[name] = remap((CORPUS_PAGES / name).read_bytes(), site.pages, site.cdn)
                return web.Response(body=cache[name], headers={"Content-Type": "text/html", "Cache-Control": "no-cache"})
            return stand_in(path, request.headers.get("Accept", ""))
        if host == CDN_HOST:
            if path == "/apps/todo.css":
                return web.Response(body=(APPS_COMMON / "todo.css").read_bytes(),
                                    headers={"Content-Type": "text/css", "Access-Control-Allow-Origin": "*"})
            return stand_in(path, request.headers.get("Accept", ""))
        if host == APPS_HOST:
            if path == "/favicon.ico":
                return stand_in(path, "")
            parts = [p for p in path.split("/") if p]
            if not parts or any(p.startswith(".") for p in parts):
                raise web.HTTPNotFound()
            target = APPS_DIST.joinpath(*parts)
            if path.endswith("/"):
                target = target / "index.html"
            if not target.is_file() or APPS_DIST.resolve() not in target.resolve().parents:
                raise web.HTTPNotFound()
            body = target.read_bytes()
            if target.suffix == ".html":
                body = body.replace(b"{{CDN}}", site.cdn.encode())
                return web.Response(body=body, headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache"})
            ctype = {".js": "text/javascript", ".css": "text/css", ".map": "application/json"}.get(target.suffix, "application/octet-stream")
            return web.Response(body=body, headers={"Content-Type": ctype, "Cache-Control": "no-cache"})
        raise web.HTTPMisdirectedRequest(text=f"unknown host {host!r}")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app


async def start_realpages() -> RealPagesSite:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    box: list[RealPagesSite] = []
    runner = web.AppRunner(_app(box), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    box.append(RealPagesSite(sock.getsockname()[1], runner))
    return box[0]

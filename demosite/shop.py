"""The shop origin (`shop.localhost`): server-rendered pages, a JSON API, a WebSocket chat.

`create_shop_app(origins, stats)` builds the aiohttp application; handlers are thin: they read
the request, change `ShopState`, and hand data to `pages` for HTML.
"""

from __future__ import annotations

import importlib.resources
import json
import weakref

from aiohttp import WSCloseCode, WSMsgType, web

from . import controlled, pages, spa
from .catalog import FEATURED_IDS, PRODUCTS, Product, get_product, search
from .download import handle_download
from .origins import ORIGINS_KEY, Origins
from .stats import STATS_KEY, Handler, RequestStats
from .state import ShopState, check_password, new_token

SESSION_COOKIE = "demo_session"  # HttpOnly: scripts never see it
USER_COOKIE = "demo_user"  # readable by page JS, shown on /account
CART_COOKIE = "demo_cart"  # HttpOnly: anonymous cart id

WS_SUBPROTOCOL = "demo-chat"
WS_WELCOME = "welcome to the demo chat"

# Largest WebSocket message the echo accepts: chat lines and test payloads are far smaller.
MAX_WS_MESSAGE_BYTES = 1024 * 1024

# Largest body /api/echo reads: it only ever echoes small JSON documents.
MAX_ECHO_BODY_BYTES = 64 * 1024

# Longest accepted search query, so a query string cannot make every search expensive.
MAX_QUERY_CHARS = 100

# Forms (login, cart) are tiny; anything larger is not one of ours.
MAX_FORM_BYTES = 16 * 1024

STATE_KEY = web.AppKey("demosite_shop_state", ShopState)
SOCKETS_KEY = web.AppKey("demosite_shop_sockets", weakref.WeakSet)

_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css"}


# --- helpers ---------------------------------------------------------------------------------

def _origins(request: web.Request) -> Origins:
    return request.app[ORIGINS_KEY]


def _state(request: web.Request) -> ShopState:
    return request.app[STATE_KEY]


def _session_token(request: web.Request) -> str | None:
    token = request.cookies.get(SESSION_COOKIE)
    return token if _state(request).user_for(token) else None


def _cart_key(request: web.Request) -> str | None:
    token = _session_token(request)
    if token:
        return "s:" + token
    anon = request.cookies.get(CART_COOKIE)
    return "a:" + anon if anon else None


def _viewer(request: web.Request) -> pages.Viewer:
    state = _state(request)
    username = state.user_for(request.cookies.get(SESSION_COOKIE))
    count = sum(state.cart(_cart_key(request)).values())
    return pages.Viewer(username=username, cart_count=count)


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def _error_page(request: web.Request, status: int, heading: str, message: str) -> web.Response:
    return _html(pages.error(_origins(request), _viewer(request), heading=heading, message=message),
                 status=status)


def _json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _safe_next(value: str | None, default: str = "/account") -> str:
    """Only same-site paths: `/x` but never `//host` or `/\\host` (an open redirect)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    return value


async def _read_form(request: web.Request) -> dict[str, str]:
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM_BYTES,
                                            actual_size=request.content_length)
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


# --- pages -----------------------------------------------------------------------------------

async def home(request: web.Request) -> web.Response:
    featured = [p for p in PRODUCTS if p.id in FEATURED_IDS]
    return _html(pages.home(_origins(request), _viewer(request), featured))


async def products(request: web.Request) -> web.Response:
    query = request.query.get("q", "")[:MAX_QUERY_CHARS]
    return _html(pages.products(_origins(request), _viewer(request), query, search(query)))


async def product_detail(request: web.Request) -> web.Response:
    try:
        item = get_product(int(request.match_info["id"]))
    except ValueError:
        item = None
    if item is None:
        return _error_page(request, 404, "Product not found",
                           "That product does not exist. Have a look at the full list instead.")
    return _html(pages.product(_origins(request), _viewer(request), item))


async def login_form(request: web.Request) -> web.Response:
    next_path = _safe_next(request.query.get("next"))
    return _html(pages.login(_origins(request), _viewer(request), next_path=next_path))


async def login_submit(request: web.Request) -> web.Response:
    form = await _read_form(request)
    username = form.get("username", "").strip()
    password = form.get("password", "")
    next_path = _safe_next(form.get("next") or request.query.get("next"))
    if not check_password(username, password):
        body = pages.login(_origins(request), _viewer(request), next_path=next_path,
                           username=username, error="Wrong username or password.")
        return _html(body, status=401)
    state = _state(request)
    state.close_session(request.cookies.get(SESSION_COOKIE))
    token = state.open_session(username)
    anon = request.cookies.get(CART_COOKIE)
    if anon:
        state.merge("a:" + anon, "s:" + token)
    response = _see_other(next_path)
    response.set_cookie(SESSION_COOKIE, token, path="/", httponly=True, samesite="Lax")
    response.set_cookie(USER_COOKIE, username, path="/")
    if anon:
        response.del_cookie(CART_COOKIE, path="/")
    return response


async def logout(request: web.Request) -> web.Response:
    _state(request).close_session(request.cookies.get(SESSION_COOKIE))
    response = _see_other("/")
    response.del_cookie(SESSION_COOKIE, path="/")
    response.del_cookie(USER_COOKIE, path="/")
    return response


async def account(request: web.Request) -> web.Response:
    viewer = _viewer(request)
    if viewer.username is None:
        return _see_other("/login?next=/account")
    return _html(pages.account(_origins(request), viewer))


async def cart_page(request: web.Request) -> web.Response:
    lines = []
    for product_id, qty in _state(request).cart(_cart_key(request)).items():
        item = get_product(product_id)
        if item is not None:
            lines.append((item, qty))
    return _html(pages.cart(_origins(request), _viewer(request), lines))


def _form_product(form: dict[str, str]) -> Product | None:
    try:
        return get_product(int(form.get("product_id", "")))
    except ValueError:
        return None


async def cart_add(request: web.Request) -> web.Response:
    form = await _read_form(request)
    item = _form_product(form)
    try:
        quantity = int(form.get("quantity") or "1")
    except ValueError:
        quantity = 0
    if item is None or not 1 <= quantity <= pages.MAX_QUANTITY_PER_LINE:
        return _error_page(request, 400, "Could not add to cart",
                           f"Pick an existing product and a quantity from 1 to "
                           f"{pages.MAX_QUANTITY_PER_LINE}.")
    response = _see_other("/cart")
    key = _cart_key(request)
    if key is None:
        anon = new_token()
        response.set_cookie(CART_COOKIE, anon, path="/", httponly=True, samesite="Lax")
        key = "a:" + anon
    _state(request).add(key, item.id, quantity)
    return response


async def cart_remove(request: web.Request) -> web.Response:
    form = await _read_form(request)
    item = _form_product(form)
    key = _cart_key(request)
    if item is not None and key is not None:
        _state(request).remove(key, item.id)
    return _see_other("/cart")


async def api_demo(request: web.Request) -> web.Response:
    return _html(pages.api_demo(_origins(request), _viewer(request)))


async def chat(request: web.Request) -> web.Response:
    return _html(pages.chat(_origins(request), _viewer(request)))


async def about(request: web.Request) -> web.Response:
    return _html(pages.about(_origins(request), _viewer(request)))


async def redirect_chain(request: web.Request) -> web.Response:
    return web.Response(status=302, headers={"Location": "/redirect-2"})


async def redirect_2(request: web.Request) -> web.Response:
    return web.Response(status=301, headers={"Location": f"{_origins(request).shop}/products"})


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    suffix = name[name.rfind("."):] if "." in name else ""
    resource = importlib.resources.files(__package__) / "static" / name
    if "/" in name or suffix not in _STATIC_TYPES or not resource.is_file():
        raise web.HTTPNotFound()
    return web.Response(body=resource.read_bytes(), content_type=_STATIC_TYPES[suffix],
                        charset="utf-8", headers={"Cache-Control": "no-cache"})


# --- JSON API --------------------------------------------------------------------------------

async def api_products(request: web.Request) -> web.Response:
    query = request.query.get("q", "")[:MAX_QUERY_CHARS]
    found = search(query)
    cdn = _origins(request).cdn
    return web.json_response({"query": query, "count": len(found),
                              "products": [p.as_json(cdn) for p in found]})


async def api_echo(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_ECHO_BODY_BYTES:
        return _json_error(413, "body_too_large", f"at most {MAX_ECHO_BODY_BYTES} bytes")
    raw = await request.content.read(MAX_ECHO_BODY_BYTES + 1)
    if len(raw) > MAX_ECHO_BODY_BYTES:
        return _json_error(413, "body_too_large", f"at most {MAX_ECHO_BODY_BYTES} bytes")
    text = raw.decode("utf-8", errors="replace")
    parsed: object = None
    if request.content_type == "application/json" and raw:
        try:
            parsed = json.loads(text)
        except ValueError:
            return _json_error(400, "bad_json", "the body is not valid JSON")
    return web.json_response({
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "content_type": request.headers.get("Content-Type"),
        "json": parsed,
        "body": None if parsed is not None else text,
        "cookie_names": sorted(request.cookies.keys()),
        "origin": request.headers.get("Origin"),
        "referer": request.headers.get("Referer"),
        "host": request.headers.get("Host"),
    })


async def demo_stats(request: web.Request) -> web.Response:
    stats: RequestStats = request.app[STATS_KEY]
    if request.method == "DELETE":
        stats.reset()
    return web.json_response({"total": stats.total(), "requests": stats.as_json()})


# --- WebSocket -------------------------------------------------------------------------------

async def ws_echo(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(protocols=(WS_SUBPROTOCOL,), max_msg_size=MAX_WS_MESSAGE_BYTES)
    if not ws.can_prepare(request).ok:
        return _error_page(request, 400, "WebSocket only",
                           "This address is the chat's WebSocket; open /chat instead.")
    await ws.prepare(request)
    sockets = request.app[SOCKETS_KEY]
    sockets.add(ws)
    try:
        await ws.send_str(WS_WELCOME)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str("echo: " + msg.data)
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
    finally:
        sockets.discard(ws)
    return ws


async def _close_sockets(app: web.Application) -> None:
    for ws in list(app[SOCKETS_KEY]):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


# --- errors ----------------------------------------------------------------------------------

@web.middleware
async def _error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Raised 4xx errors become a page (or JSON under /api/), never aiohttp's plain text."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if request.path.startswith("/api/"):
            return _json_error(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
        messages = {404: "There is no page at this address.",
                    405: "This address does not accept that kind of request."}
        return _error_page(request, exc.status, exc.reason,
                           messages.get(exc.status, "The request could not be handled."))


def create_shop_app(origins: Origins, stats: RequestStats) -> web.Application:
    app = web.Application(middlewares=[stats.middleware(origins.shop), _error_pages],
                          client_max_size=MAX_FORM_BYTES)
    app[ORIGINS_KEY] = origins
    app[STATS_KEY] = stats
    app[STATE_KEY] = ShopState()
    app[SOCKETS_KEY] = weakref.WeakSet()
    app.on_shutdown.append(_close_sockets)
    controlled.setup(app)  # React page with controlled inputs (co-browsing control tests)
    spa.setup(app)  # single-page app (React, pushState routes, import(), service worker) at /spa/
    r = app.router
    r.add_get("/", home)
    r.add_get("/products", products)
    r.add_get("/products/{id}", product_detail)
    r.add_get("/login", login_form)
    r.add_post("/login", login_submit)
    r.add_post("/logout", logout)
    r.add_get("/account", account)
    r.add_get("/cart", cart_page)
    r.add_post("/cart/add", cart_add)
    r.add_post("/cart/remove", cart_remove)
    r.add_get("/api-demo", api_demo)
    r.add_get("/chat", chat)
    r.add_get("/about", about)
    r.add_get("/download/{size}", handle_download)
    r.add_get("/redirect-chain", redirect_chain)
    r.add_get("/redirect-2", redirect_2)
    r.add_get("/static/{name}", static_file)
    r.add_get("/api/products", api_products)
    r.add_route("POST", "/api/echo", api_echo)
    r.add_route("GET", "/api/echo", api_echo)
    r.add_get("/__demo/stats", demo_stats)
    r.add_route("DELETE", "/__demo/stats", demo_stats)
    r.add_get("/ws/echo", ws_echo)
    return app

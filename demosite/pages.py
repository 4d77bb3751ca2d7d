"""HTML for the shop's pages: templates plus small fragments, no request handling here.

Every piece of data is escaped with `html.escape` at the point it enters markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from .catalog import PRODUCTS, Product, format_price
from .origins import Origins
from .templates import render

# The largest quantity one cart line may hold; keeps totals and form input sane.
MAX_QUANTITY_PER_LINE = 99


@dataclass(frozen=True)
class Viewer:
    """What the header needs to know about the visitor."""

    username: str | None
    cart_count: int


# (href kind, path, label): "rel" links are root-relative, "abs" ones use the shop's origin,
# so both kinds pass through the proxy's URL rewriting.
_NAV = (
    ("rel", "/", "Home"),
    ("rel", "/products", "Products"),
    ("rel", "/api-demo", "API demo"),
    ("rel", "/chat", "Chat"),
    ("rel", "/spa/", "App"),
    ("abs", "/about", "About"),
)


def _nav(origins: Origins, current: str, viewer: Viewer) -> str:
    items = []
    for kind, path, label in _NAV:
        href = origins.shop + path if kind == "abs" else path
        active = ' aria-current="page"' if current == path else ""
        items.append(f'      <a href="{escape(href)}"{active}>{escape(label)}</a>')
    if viewer.username is None:
        active = ' aria-current="page"' if current == "/login" else ""
        items.append(f'      <a href="/login" id="nav-login"{active}>Sign in</a>')
    else:
        active = ' aria-current="page"' if current == "/account" else ""
        items.append(
            f'      <a href="/account" id="nav-account" title="Signed in as {escape(viewer.username)}"'
            f'{active}>Account</a>'
        )
        items.append(
            '      <form method="post" action="/logout">'
            '<button class="linklike" type="submit" id="nav-logout">Sign out</button></form>'
        )
    active = ' aria-current="page"' if current == "/cart" else ""
    items.append(
        f'      <a class="cart-link" href="/cart"{active}>Cart '
        f'<span class="badge" id="cart-count">{viewer.cart_count}</span></a>'
    )
    return "\n".join(items)


def layout(origins: Origins, viewer: Viewer, *, title: str, page: str, current: str,
           body: str) -> str:
    return render(
        "layout.html",
        title=escape(title),
        page=escape(page),
        cdn=escape(origins.cdn),
        shop=escape(origins.shop),
        shop_pr=escape(origins.shop_protocol_relative),
        nav=_nav(origins, current, viewer),
        body=body,
    )


def _srcset(origins: Origins, product: Product) -> str:
    base = f"{origins.cdn}/img/product-{product.id}"
    return escape(f"{base}.svg 1x, {base}@2x.svg 2x")


def product_card(origins: Origins, product: Product) -> str:
    pid = product.id
    name = escape(product.name)
    return (
        f'<article class="card" data-product-id="{pid}">\n'
        f'  <a class="card-media" href="/products/{pid}">'
        f'<img src="{escape(origins.cdn)}/img/product-{pid}.svg" '
        f'srcset="{_srcset(origins, product)}" alt="{name}" width="400" height="300"></a>\n'
        f'  <div class="card-body">\n'
        f'    <h3><a href="/products/{pid}">{name}</a></h3>\n'
        f'    <p class="muted">{escape(product.blurb)}</p>\n'
        f'    <div class="card-foot">\n'
        f'      <span class="price">{escape(product.price)}</span>\n'
        f'      <form method="post" action="/cart/add">'
        f'<input type="hidden" name="product_id" value="{pid}">'
        f'<input type="hidden" name="quantity" value="1">'
        f'<button class="btn small" type="submit">Add to cart</button></form>\n'
        f"    </div>\n"
        f"  </div>\n"
        f"</article>"
    )


def home(origins: Origins, viewer: Viewer, featured: list[Product]) -> str:
    body = render(
        "home.html",
        cdn=escape(origins.cdn),
        shop=escape(origins.shop),
        shop_pr=escape(origins.shop_protocol_relative),
        cards="\n".join(product_card(origins, p) for p in featured),
    )
    return layout(origins, viewer, title="Home", page="home", current="/", body=body)


def products(origins: Origins, viewer: Viewer, query: str, found: list[Product]) -> str:
    if query:
        summary = (f'<p class="muted" id="search-summary">{len(found)} of {len(PRODUCTS)} '
                   f"products match &ldquo;{escape(query)}&rdquo;. "
                   f'<a href="/products">Show all</a></p>')
    else:
        summary = ""
    cards = "\n".join(product_card(origins, p) for p in found)
    if not found:
        cards = '<p class="muted">Nothing matches. Try &ldquo;tea&rdquo; or &ldquo;wool&rdquo;.</p>'
    body = render("products.html", query=escape(query), summary=summary, cards=cards)
    return layout(origins, viewer, title="Products", page="products", current="/products",
                  body=body)


def product(origins: Origins, viewer: Viewer, item: Product) -> str:
    body = render(
        "product.html",
        id=item.id,
        cdn=escape(origins.cdn),
        name=escape(item.name),
        price=escape(item.price),
        blurb=escape(item.blurb),
        max_qty=MAX_QUANTITY_PER_LINE,
    )
    return layout(origins, viewer, title=item.name, page="product", current="", body=body)


def login(origins: Origins, viewer: Viewer, *, next_path: str, username: str = "",
          error: str = "") -> str:
    error_html = f'<p class="notice error" id="login-error">{escape(error)}</p>' if error else ""
    body = render("login.html", next=escape(next_path), username=escape(username),
                  error=error_html)
    return layout(origins, viewer, title="Sign in", page="login", current="/login", body=body)


def account(origins: Origins, viewer: Viewer) -> str:
    body = render("account.html", username=escape(viewer.username or ""),
                  cart_count=viewer.cart_count)
    return layout(origins, viewer, title="Account", page="account", current="/account",
                  body=body)


def cart(origins: Origins, viewer: Viewer, lines: list[tuple[Product, int]]) -> str:
    if not lines:
        content = ('<p class="muted" id="cart-empty">Your cart is empty.</p>'
                   '<p><a class="btn" href="/products">Browse products</a></p>')
    else:
        rows = []
        total = 0
        for item, qty in lines:
            subtotal = item.price_cents * qty
            total += subtotal
            rows.append(
                f'<tr data-product-id="{item.id}">'
                f'<td><img src="{escape(origins.cdn)}/img/product-{item.id}.svg" alt=""></td>'
                f'<td><a href="/products/{item.id}">{escape(item.name)}</a></td>'
                f'<td class="num qty-cell">{qty}</td>'
                f'<td class="num">{escape(item.price)}</td>'
                f'<td class="num">{escape(format_price(subtotal))}</td>'
                f'<td class="num"><form method="post" action="/cart/remove">'
                f'<input type="hidden" name="product_id" value="{item.id}">'
                f'<button class="btn danger small" type="submit">Remove</button></form></td>'
                f"</tr>"
            )
        content = (
            '<table class="cart"><thead><tr><th></th><th>Product</th><th class="num">Qty</th>'
            '<th class="num">Price</th><th class="num">Subtotal</th><th></th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>'
            f'<div class="cart-total"><span class="muted">Total</span>'
            f'<strong id="cart-total">{escape(format_price(total))}</strong></div>'
        )
    body = render("cart.html", content=content)
    return layout(origins, viewer, title="Cart", page="cart", current="/cart", body=body)


def api_demo(origins: Origins, viewer: Viewer) -> str:
    return layout(origins, viewer, title="API demo", page="api-demo", current="/api-demo",
                  body=render("api_demo.html"))


def chat(origins: Origins, viewer: Viewer) -> str:
    return layout(origins, viewer, title="Chat", page="chat", current="/chat",
                  body=render("chat.html"))


def about(origins: Origins, viewer: Viewer) -> str:
    body = render(
        "about.html",
        cdn_host=escape(origins.cdn.split("://", 1)[1]),
        widgets_host=escape(origins.widgets.split("://", 1)[1]),
        widgets=escape(origins.widgets),
        shop_pr=escape(origins.shop_protocol_relative),
    )
    return layout(origins, viewer, title="About", page="about", current="/about", body=body)


def error(origins: Origins, viewer: Viewer, *, heading: str, message: str) -> str:
    body = render("error.html", heading=escape(heading), message=escape(message))
    return layout(origins, viewer, title=heading, page="error", current="", body=body)


def widget(origins: Origins, count: int) -> str:
    return render("widget.html", widgets=escape(origins.widgets), shop=escape(origins.shop),
                  count=count)

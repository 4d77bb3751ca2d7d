"""Generated artwork for the CDN: product pictures, logo, backgrounds, icons (SVG text).

Nothing is vendored: every image is a few lines of SVG built from the catalogue, so the demo
ships without binary assets.
"""

from __future__ import annotations

from html import escape

from .catalog import Product

# Product pictures are 4:3; "@2x" variants double the intrinsic size for srcset.
PRODUCT_W, PRODUCT_H = 400, 300

_SHAPES = {
    "circle": '<circle cx="200" cy="128" r="72" fill="{c}"/>',
    "square": '<rect x="132" y="60" width="136" height="136" rx="18" fill="{c}"/>',
    "triangle": '<polygon points="200,52 282,200 118,200" fill="{c}" stroke="{c}" '
                'stroke-width="14" stroke-linejoin="round"/>',
    "diamond": '<polygon points="200,48 282,128 200,208 118,128" fill="{c}" stroke="{c}" '
               'stroke-width="10" stroke-linejoin="round"/>',
    "ring": '<circle cx="200" cy="128" r="62" fill="none" stroke="{c}" stroke-width="28"/>',
    "wave": '<path d="M104 128 q24 -56 48 0 t48 0 t48 0 t48 0" fill="none" stroke="{c}" '
            'stroke-width="20" stroke-linecap="round"/>',
}


def product_svg(product: Product, scale: int = 1) -> str:
    shape = _SHAPES.get(product.shape, _SHAPES["circle"]).format(c=product.color)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{PRODUCT_W * scale}" '
        f'height="{PRODUCT_H * scale}" viewBox="0 0 {PRODUCT_W} {PRODUCT_H}" role="img" '
        f'aria-label="{escape(product.name)}">'
        f'<rect width="{PRODUCT_W}" height="{PRODUCT_H}" fill="{product.color}" fill-opacity="0.12"/>'
        f'<circle cx="340" cy="40" r="90" fill="{product.color}" fill-opacity="0.08"/>'
        f"{shape}"
        f'<text x="200" y="262" text-anchor="middle" font-family="system-ui, -apple-system, '
        f'Segoe UI, sans-serif" font-size="26" font-weight="600" fill="#1d2433">'
        f"{escape(product.name)}</text></svg>"
    )


LOGO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
    '<rect width="64" height="64" rx="16" fill="#4f46e5"/>'
    '<circle cx="25" cy="34" r="13" fill="none" stroke="#fff" stroke-width="5"/>'
    '<circle cx="41" cy="34" r="13" fill="none" stroke="#fbbf24" stroke-width="5"/>'
    '<path d="M25 21 L33 12 L41 21" fill="none" stroke="#fff" stroke-width="4" '
    'stroke-linecap="round" stroke-linejoin="round"/></svg>'
)

BG_PATTERN_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24">'
    '<circle cx="2" cy="2" r="1.2" fill="#1d2433" fill-opacity="0.07"/></svg>'
)

HERO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="420" viewBox="0 0 1200 420" '
    'preserveAspectRatio="xMidYMid slice">'
    '<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">'
    '<stop offset="0" stop-color="#4f46e5"/><stop offset="1" stop-color="#7c3aed"/>'
    '</linearGradient></defs>'
    '<rect width="1200" height="420" fill="url(#g)"/>'
    '<circle cx="1010" cy="90" r="190" fill="#fff" fill-opacity="0.08"/>'
    '<circle cx="880" cy="360" r="120" fill="#fbbf24" fill-opacity="0.25"/>'
    '<circle cx="1130" cy="330" r="60" fill="#fff" fill-opacity="0.12"/>'
    '<path d="M0 360 C 300 300, 500 420, 800 350 S 1100 300, 1200 330 L1200 420 L0 420 Z" '
    'fill="#fff" fill-opacity="0.07"/></svg>'
)

PROMO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" viewBox="0 0 40 40">'
    '<rect width="40" height="40" fill="#fef3c7"/>'
    '<path d="M-10 50 L50 -10 M-10 30 L30 -10 M10 50 L50 10" stroke="#fde68a" stroke-width="8"/>'
    "</svg>"
)

CART_ICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24" '
    'fill="none" stroke="#1d2433" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">'
    '<path d="M3 4h2l2.4 10.2a1.5 1.5 0 0 0 1.5 1.1h8.4a1.5 1.5 0 0 0 1.5-1.1L21 7H6.2"/>'
    '<circle cx="9.5" cy="19.5" r="1.5"/><circle cx="17" cy="19.5" r="1.5"/></svg>'
)

# name (without ".svg") → SVG text; product pictures are looked up separately.
STATIC_SVGS = {
    "logo": LOGO_SVG,
    "bg-pattern": BG_PATTERN_SVG,
    "hero": HERO_SVG,
    "promo": PROMO_SVG,
    "icon-cart": CART_ICON_SVG,
}

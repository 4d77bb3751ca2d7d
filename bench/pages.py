"""Deterministic bench resources: a realistic ~50 KB HTML page and a 1 MB binary.

The page is shaped like a real article/shop page: a head with stylesheets,
preloads, scripts and an inline style with ``url()``; a nav; many absolute links
to the upstream origin and to a couple of third-party hosts; images with
``srcset``; inline event handlers and plain text. Everything comes from a fixed
seed, so every run benchmarks the same bytes.
"""

from __future__ import annotations

import random

HTML_TARGET_SIZE = 50 * 1024  # the "50 KB HTML page"
BLOB_SIZE = 1024 * 1024  # the "1 MB binary"
SEED = 20240611  # fixed: same page, same blob, every run

WORDS = (
    "support customer account order basket delivery invoice payment profile settings "
    "help question answer product review price discount shipping return policy contact "
    "service window browser session screen share agent follow control page link image"
).split()


def _sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def html_page(origin: str, size: int = HTML_TARGET_SIZE) -> bytes:
    """The page as UTF-8 bytes, about ``size`` bytes long; ``origin`` is the upstream's own origin."""
    rng = random.Random(SEED)
    cdn = "http://cdn.bench-static.test"
    third = "https://widgets.bench-partner.test"
    head = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Bench shop: order history</title>
<link rel="stylesheet" href="{origin}/static/site.css?v=3">
<link rel="stylesheet" href="{cdn}/fonts/inter.css">
<link rel="preload" as="image" href="/static/hero.webp">
<link rel="icon" href="{origin}/favicon.ico">
<link rel="canonical" href="{origin}/account/orders">
<script src="{origin}/static/app.js" defer></script>
<script src="{third}/embed/v2/loader.js" async></script>
<script>window.__config = {{"api": "{origin}/api/v1", "cdn": "{cdn}"}};</script>
<style>
  body {{ font-family: Inter, sans-serif; background: url("{origin}/static/bg.png") repeat-x; }}
  .hero {{ background-image: url({cdn}/img/hero-large.jpg); }}
  .icon-cart {{ background: url('/static/icons/cart.svg') no-repeat; }}
  @font-face {{ font-family: Inter; src: url({cdn}/fonts/inter.woff2) format("woff2"); }}
</style>
</head>
<body class="account">
<header>
<nav>
"""
    parts = [head]
    for i in range(12):
        parts.append(f'<a href="{origin}/category/{i}" class="nav-item">{rng.choice(WORDS).title()}</a>\n')
    parts.append("</nav>\n</header>\n<main>\n")
    used = sum(len(p) for p in parts)
    tail = f"""</main>
<footer>
<p><a href="{origin}/legal/privacy">Privacy</a> · <a href="{origin}/legal/terms">Terms</a> ·
<a href="{third}/status">Status</a></p>
<form action="{origin}/newsletter" method="post"><input name="email" type="email"><button>Subscribe</button></form>
</footer>
<script>document.querySelectorAll('a').forEach(function (a) {{ a.dataset.seen = '1'; }});</script>
</body>
</html>
"""
    n = 0
    while used + len(tail) < size:
        pid = rng.randrange(10_000, 99_999)
        img = f"{cdn}/img/p{pid}"
        block = (
            f'<article class="product" id="p{pid}" style="background-image: url(/static/tiles/{n % 7}.png)">\n'
            f'<a href="{origin}/product/{pid}?ref=list&amp;pos={n}"><img src="{img}-320.jpg" '
            f'srcset="{img}-320.jpg 320w, {img}-640.jpg 640w, {img}-1280.jpg 1280w" '
            f'sizes="(max-width: 600px) 100vw, 320px" alt="{rng.choice(WORDS)}" loading="lazy"></a>\n'
            f'<h2><a href="{origin}/product/{pid}">{_sentence(rng, 4)}</a></h2>\n'
            f"<p>{_sentence(rng, 18)} {_sentence(rng, 12)}</p>\n"
            f'<p class="price">€{rng.randrange(1, 500)}.{rng.randrange(0, 99):02d} '
            f'<a href="/cart/add?id={pid}" onclick="return addToCart({pid})">Add to basket</a> '
            f'<a href="{third}/share?u={pid}" target="_blank" rel="noopener">Share</a></p>\n'
            "</article>\n"
        )
        parts.append(block)
        used += len(block)
        n += 1
    parts.append(tail)
    return "".join(parts).encode("utf-8")


def blob(size: int = BLOB_SIZE) -> bytes:
    """``size`` pseudo-random (incompressible) bytes."""
    return random.Random(SEED).randbytes(size)

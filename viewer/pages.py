"""Server-rendered pages of the control plane and the proxy's error pages.

Plain templates with every dynamic value escaped; inline CSS only, so nothing a
proxied site does can restyle them.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

_STYLE = """
:root{color-scheme:light dark;--fg:#1d2330;--muted:#5b6475;--bg:#f6f7fb;--card:#fff;--accent:#3657d6;--bad:#b3261e}
@media (prefers-color-scheme:dark){:root{--fg:#e6e8ef;--muted:#a3aabb;--bg:#12151c;--card:#1b2030;--accent:#8aa2ff;--bad:#ff8a80}}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
main{max-width:40rem;margin:8vh auto;padding:0 1.25rem}
.card{background:var(--card);border-radius:14px;padding:2rem;box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.5rem;margin:0 0 .75rem}p{margin:.5rem 0}.muted{color:var(--muted);font-size:.9rem}
.brand{font-weight:700;letter-spacing:.02em;color:var(--accent);margin-bottom:1.25rem;display:block;text-decoration:none}
.code{font-family:ui-monospace,monospace;font-size:.85rem;color:var(--muted)}
.status{display:inline-block;font-weight:600;color:var(--bad);margin-bottom:.5rem}
button,.button{font:inherit;background:var(--accent);color:#fff;border:0;border-radius:8px;padding:.6rem 1.1rem;cursor:pointer;text-decoration:none;display:inline-block}
button:focus-visible,.button:focus-visible,a:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
ul{padding-left:1.2rem}code{font-family:ui-monospace,monospace}
"""


# No script on these pages. form-action is left open on purpose: it also governs the redirects
# after a POST, and the demo start button must end on a proxied host (LABEL.BASE).
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'self'"


def page(title: str, body_html: str, *, status: int = 200, base_url: str = "") -> web.Response:
    home = f'<a class="brand" href="{escape(base_url or "/")}">Tandem</a>'
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · Tandem</title><style>{_STYLE}</style></head>"
        f"<body><main>{home}<div class=card>{body_html}</div></main></body></html>"
    )
    return web.Response(
        text=html,
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "X-Frame-Options": "SAMEORIGIN", "Referrer-Policy": "same-origin", "Content-Security-Policy": CSP},
    )


def error_page(status: int, title: str, message: str, *, code: str, detail: str = "", base_url: str = "") -> web.Response:
    body = (
        f'<span class=status>Error {status}</span><h1>{escape(title)}</h1><p>{escape(message)}</p>'
        + (f"<p class=muted>{escape(detail)}</p>" if detail else "")
        + f'<p class=code>code: {escape(code)}</p>'
    )
    return page(title, body, status=status, base_url=base_url)

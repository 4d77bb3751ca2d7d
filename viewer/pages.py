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
.brand{font-weight:700;letter-spacing:.02em;color:var(--accent);margin-bottom:1.25rem;display:inline-block;text-decoration:none}
.code{font-family:ui-monospace,monospace;font-size:.85rem;color:var(--muted)}
.status{display:inline-block;font-weight:600;color:var(--bad);margin-bottom:.5rem}
button,.button{font:inherit;background:var(--accent);color:#fff;border:0;border-radius:8px;padding:.6rem 1.1rem;cursor:pointer;text-decoration:none;display:inline-block}
button:focus-visible,.button:focus-visible,a:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
ul{padding-left:1.2rem}code{font-family:ui-monospace,monospace}
main.wide{max-width:64rem;margin-top:3vh}
nav.top{display:flex;flex-wrap:wrap;gap:.25rem 1rem;align-items:center;margin-bottom:1rem}
nav.top .brand{margin:0 auto 0 0}nav.top a{color:var(--fg)}nav.top a[aria-current]{font-weight:700;color:var(--accent)}
nav.top form{margin:0}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input,select,textarea{font:inherit;width:100%;padding:.55rem .7rem;border:1px solid #8a93a6;border-radius:8px;background:var(--card);color:var(--fg)}
input[type=checkbox],input[type=radio]{width:auto;margin-right:.4rem}
input:focus-visible,select:focus-visible,textarea:focus-visible{outline:3px solid var(--accent);outline-offset:1px}
fieldset{border:1px solid #8a93a6;border-radius:8px;margin:.75rem 0;padding:.5rem .9rem}
fieldset label{font-weight:400;display:flex;align-items:center;margin:.3rem 0}
.hint{color:var(--muted);font-size:.85rem;margin:.2rem 0 0}
.row{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin-top:.9rem}
button.secondary,.button.secondary{background:transparent;color:var(--accent);border:1px solid var(--accent)}
button.danger{background:var(--bad)}
.notice{border-left:4px solid var(--accent);padding:.5rem .8rem;margin:.75rem 0;background:rgba(54,87,214,.08)}
.notice.bad{border-color:var(--bad);background:rgba(179,38,30,.08)}
.secret{font-family:ui-monospace,monospace;font-size:.95rem;word-break:break-all;background:var(--bg);padding:.5rem .7rem;border-radius:8px;display:block}
pre.secret{white-space:pre-wrap;overflow-wrap:anywhere}
.pin{font-family:ui-monospace,monospace;font-size:2rem;letter-spacing:.3em;font-weight:700}
section{margin-top:1.5rem}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
.table{width:100%;overflow-x:auto;position:relative}table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid rgba(128,128,128,.25);vertical-align:top}
td form{display:inline}td button{padding:.3rem .7rem;font-size:.85rem}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:480px){.card{padding:1.1rem}main{margin-top:2vh;padding:0 .6rem}.pin{font-size:1.6rem}}
"""


# No script on these pages. form-action is left open on purpose: it also governs the redirects
# after a POST, and the demo start button must end on a proxied host (LABEL.BASE).
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'self'"


# Pages that need a little behaviour (copy buttons) load our own bundled script, nothing inline.
CSP_WITH_SCRIPT = CSP.replace("default-src 'none';", "default-src 'none'; script-src 'self'; connect-src 'self';")


def page(title: str, body_html: str, *, status: int = 200, base_url: str = "", nav_html: str = "",
         scripts: tuple[str, ...] = (), wide: bool = False, headers: dict | None = None) -> web.Response:
    home = f'<a class="brand" href="{escape(base_url or "/")}">Tandem</a>'
    top = f'<nav class=top aria-label="Main">{home}{nav_html}</nav>' if nav_html else home
    tags = "".join(f'<script src="{escape(src)}" defer></script>' for src in scripts)
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · Tandem</title><style>{_STYLE}</style>{tags}</head>"
        f"<body><main{' class=wide' if wide else ''}>{top}<div class=card>{body_html}</div></main></body></html>"
    )
    return web.Response(
        text=html,
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "X-Frame-Options": "SAMEORIGIN", "Referrer-Policy": "same-origin",
                 "Content-Security-Policy": CSP_WITH_SCRIPT if scripts else CSP, **(headers or {})},
    )


def error_page(status: int, title: str, message: str, *, code: str, detail: str = "", base_url: str = "",
               retry_url: str | None = None) -> web.Response:
    """``retry_url``: the session's branding.retry_url (checked at the API), offered to whoever cannot join."""
    body = (
        f'<span class=status>Error {status}</span><h1>{escape(title)}</h1><p>{escape(message)}</p>'
        + (f"<p class=muted>{escape(detail)}</p>" if detail else "")
        + (f'<p><a class="button retry" href="{escape(retry_url)}" rel="noopener noreferrer">Try again</a></p>' if retry_url else "")
        + f'<p class=code>code: {escape(code)}</p>'
    )
    return page(title, body, status=status, base_url=base_url)

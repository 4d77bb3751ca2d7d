"""Admin pages at ``BASE/admin``: agents, API keys, allowlist, masking, retention, audit log.

Only agents with the admin flag. Same protections as the console (``__Host-`` sign-in
cookie, same-origin POSTs with a CSRF token from the page). Secrets are shown once:
a new API key (and its webhook secret) appears on the page that answers the
creating POST, which is never cached, and is stored only as a hash.
"""

from __future__ import annotations

import re
import time
from html import escape
from urllib.parse import quote

from aiohttp import web

from proxy.allowlist import PatternError
from tandem import appkeys, events, policy
from tandem import scopes as sc
from tandem.store import MAX_RETENTION_DAYS, MIN_RETENTION_DAYS, StoreError

from .console import CONSOLE_SCRIPT, Signed, require, require_post
from .jsonbody import parse_int
from .pages import page

SECTIONS = (("/admin", "Agents"), ("/admin/keys", "API keys"), ("/admin/allowlist", "Allowlist"),
            ("/admin/masking", "Masking"), ("/admin/settings", "Retention"), ("/admin/sso", "Sign-in"), ("/admin/audit", "Audit log"),
            ("/admin/webhooks", "Webhooks"))  # the last one: viewer/webhooks_admin.py


async def _admin(request: web.Request) -> Signed:
    s = await require(request)
    if not s.agent.is_admin:
        raise web.HTTPForbidden(reason="Administrators only")
    return s


async def _admin_post(request: web.Request) -> tuple[Signed, dict[str, str]]:
    s, form = await require_post(request)
    if not s.agent.is_admin:
        raise web.HTTPForbidden(reason="Administrators only")
    return s, form


def _time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts)) if ts else "—"


# Narrow screens: a table's rows stacked, each cell led by its column's name, instead of columns
# out of sight to the side (a phone at 360 px showed three of the delivery log's five). Text marked
# bad (a hook switched off, a failed attempt) in the error colour.
NARROW_TABLES = (
    "<style>strong.bad,span.bad{color:var(--bad)}"
    "@media (max-width:600px){.table table,.table tbody,.table tr,.table td{display:block;width:auto}"
    ".table thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}"
    ".table tr{border-bottom:1px solid rgba(128,128,128,.25);padding:.4rem 0}"
    # the name floats into the cell's left padding; flow-root keeps a name of two lines inside its row
    ".table td{display:flow-root;border:0;padding:.2rem .25rem .2rem 7.2rem;overflow-wrap:anywhere}"
    ".table td::before{content:attr(data-label);float:left;width:6.6rem;margin-left:-6.95rem;font-weight:600}"
    '.table td[data-label=""]{padding-left:.25rem}.table td[data-label=""]::before{content:none}}</style>'
)


def _render(request: web.Request, s: Signed, current: str, title: str, body: str, *, status: int = 200,
            scripts: tuple[str, ...] = ()) -> web.Response:
    msg, err = request.query.get("ok", ""), request.query.get("error", "")
    notice = (f'<p class=notice role=status>{escape(msg)}</p>' if msg else "") + (
        f'<p class="notice bad" role=alert>{escape(err)}</p>' if err else "")
    tabs = "".join(f'<a href="{h}"{" aria-current=page" if h == current else ""}>{label}</a>' for h, label in SECTIONS)
    html = (f'{NARROW_TABLES}<nav class=top aria-label="Admin sections" style="margin-bottom:1rem">{tabs}</nav>'
            f'<h1>{escape(title)}</h1>{notice}{body}')
    return page(f"Admin · {title}", html, nav_html=s.nav("/admin"), wide=True, status=status, scripts=scripts)


def _back(path: str, *, ok: str = "", error: str = "") -> web.HTTPSeeOther:
    q = f"?ok={quote(ok)}" if ok else f"?error={quote(error)}" if error else ""
    return web.HTTPSeeOther(path + q)


def _table(caption: str, headers: list[str], rows: list[list[str]], empty: str) -> str:
    """A table; on a narrow screen each row is stacked, every cell led by its column's name
    (``data-label``, see :data:`NARROW_TABLES`), so no column is out of sight."""
    if not rows:
        return f"<p class=muted>{escape(empty)}</p>"
    head = "".join(f"<th scope=col>{h}</th>" for h in headers)
    labels = ["" if "sr-only" in h else re.sub(r"<[^>]*>", "", h) for h in headers]
    body = "".join("<tr>" + "".join(f'<td data-label="{escape(label)}">{c}</td>' for label, c in zip(labels, row)) + "</tr>"
                   for row in rows)
    return f"<div class=table><table><caption class=sr-only>{escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


# -- agents ------------------------------------------------------------------------------------
async def agents_page(request: web.Request) -> web.Response:
    s = await _admin(request)
    rows = []
    for a in await request.app[appkeys.STORE].agents():
        action = ""
        if a.id != s.agent.id:
            label = "Enable" if a.disabled_at else "Disable"
            action = (f'<form method=post action="/admin/agents/{a.id}/toggle">{s.hidden()}'
                      f'<button type=submit class=secondary aria-label="{label} {escape(a.username)}">{label}</button></form>')
        rows.append([escape(a.username), escape(a.name), "admin" if a.is_admin else "agent",
                     "disabled" if a.disabled_at else "active", _time(a.created_at), action])
    body = (
        _table("Agents", ["User name", "Name", "Role", "State", "Created (UTC)", '<span class=sr-only>Actions</span>'], rows, "No agents yet.")
        + '<h2>Add an agent</h2>'
        f'<form method=post action="/admin/agents">{s.hidden()}'
        '<label for=username>User name</label><input id=username name=username required maxlength=64 autocomplete=off>'
        '<label for=name>Display name</label><input id=name name=name required maxlength=100 aria-describedby=name-hint>'
        '<p id=name-hint class=hint>Customers see this name on the consent screen.</p>'
        '<label for=password>Password</label><input id=password name=password type=password required minlength=10 '
        'autocomplete=new-password aria-describedby=pw-hint><p id=pw-hint class=hint>At least 10 characters. Stored as an argon2id hash.</p>'
        '<fieldset><legend>Role</legend><label><input type=checkbox name=is_admin value=1> Administrator (can use these pages)</label></fieldset>'
        '<div class=row><button type=submit>Add agent</button></div></form>'
    )
    return _render(request, s, "/admin", "Agents", body)


async def agents_create(request: web.Request) -> web.Response:
    s, form = await _admin_post(request)
    try:
        a = await request.app[appkeys.STORE].create_agent(form.get("username", ""), form.get("name", ""), form.get("password", ""),
                                                    is_admin=form.get("is_admin") == "1")
    except StoreError as exc:
        raise _back("/admin", error=str(exc))
    await events.emit(request.app, "agent.created", None, actor=s.agent.username, detail={"username": a.username})
    raise _back("/admin", ok=f"Agent {a.username} added.")


async def agents_toggle(request: web.Request) -> web.Response:
    s, _ = await _admin_post(request)
    store = request.app[appkeys.STORE]
    raw = request.match_info["agent_id"]
    agent = await store.get_agent(int(raw)) if raw.isdigit() else None
    if agent is None or agent.id == s.agent.id:
        raise _back("/admin", error="You can't change that agent here.")
    agent = await store.update_agent(agent.id, disabled=agent.disabled_at is None)
    await events.emit(request.app, "agent.disabled" if agent.disabled_at else "agent.enabled", None, actor=s.agent.username,
                detail={"username": agent.username})
    raise _back("/admin", ok=f"Agent {agent.username} {'disabled' if agent.disabled_at else 'enabled'}.")


# -- API keys ------------------------------------------------------------------------------------
def _scope_boxes(prefix: str, checked: tuple[str, ...], *, hints: bool) -> str:
    """One checkbox per scope, named ``scope-<scope>`` (a form posts each ticked one)."""
    out = []
    for name in sc.SCOPES:
        hint = f' <span class=hint>— {escape(sc.DESCRIPTIONS[name])}</span>' if hints else ""
        # one flex item for the text, so the name and its hint wrap as a sentence on narrow screens
        out.append(f'<label><input type=checkbox id="{prefix}-{name}" name="scope-{name}" value=1'
                   f'{" checked" if name in checked else ""}><span><code>{name}</code>{hint}</span></label>')
    return "".join(out)


def _form_scopes(form: dict[str, str]) -> tuple[str, ...]:
    return tuple(name for name in sc.SCOPES if form.get(f"scope-{name}") == "1")


async def _keys_body(request: web.Request, s: Signed, created: str = "") -> str:
    rows = []
    for k in await request.app[appkeys.STORE].api_keys():
        shown = ", ".join(f"<code>{x}</code>" for x in k.scopes) or "<span class=muted>none</span>"
        if k.revoked_at:
            action, scopes_cell = "", shown
        else:
            action = (f'<form method=post action="/admin/keys/{k.id}/revoke">{s.hidden()}'
                      f'<button type=submit class=danger aria-label="Revoke key {escape(k.name)}">Revoke</button></form>')
            scopes_cell = (f'{shown}<details><summary aria-label="Change the scopes of key {escape(k.name)}">Change</summary>'
                           f'<form method=post action="/admin/keys/{k.id}/scopes">{s.hidden()}'
                           f'<fieldset><legend class=sr-only>Scopes of key {escape(k.name)}</legend>'
                           f'{_scope_boxes(f"k{k.id}", k.scopes, hints=False)}</fieldset>'
                           '<button type=submit class=secondary>Save scopes</button></form></details>')
        rows.append([escape(k.name), f"<code>{escape(k.prefix)}…</code>", scopes_cell, escape(k.webhook_url or "—"),
                     "revoked" if k.revoked_at else "active", _time(k.created_at), action])
    return (
        created
        + _table("API keys", ["Name", "Key", "Scopes", "Webhook", "State", "Created (UTC)", '<span class=sr-only>Actions</span>'], rows,
                 "No API keys yet.")
        + "<h2>Create a key</h2>"
        f'<form method=post action="/admin/keys">{s.hidden()}'
        '<label for=kname>Name</label><input id=kname name=name required maxlength=100 placeholder="CRM integration">'
        '<fieldset aria-describedby=scopes-hint><legend>Scopes</legend>'
        f'{_scope_boxes("new", sc.DEFAULT_SCOPES, hints=True)}</fieldset>'
        '<p id=scopes-hint class=hint>What the key may do; the API answers 403 for anything else. '
        'Give <code>admin</code> only to tools that manage Tandem itself.</p>'
        '<label for=hook>Webhook URL (optional)</label><input id=hook name=webhook_url type=url aria-describedby=hook-hint>'
        '<p id=hook-hint class=hint>Receives session.started, session.ended, participant.joined, participant.left, control.changed and leader.changed, signed with HMAC-SHA256 (see Webhooks for the delivery log).</p>'
        '<div class=row><button type=submit>Create key</button></div></form>'
        + _rate_limits(request.app[appkeys.SETTINGS])
        + _metrics_access(request.app[appkeys.SETTINGS])
    )


def _rate_limits(settings) -> str:
    """The API rate limits in force (settings, not editable here: every node must agree on them)."""
    def one(n: int, who: str) -> str:
        return f"{n} requests a minute {who}" if n > 0 else f"no limit {who}"
    return ("<h2>Rate limits</h2><p class=hint>In force on the REST API and <code>/metrics</code>: "
            f"{one(settings.api_rate_per_address, 'from one address')}, "
            f"{one(settings.api_rate_per_key, 'with one key')} (all nodes together). "
            "Past a limit the API answers 429 with <code>Retry-After</code>; every answer carries "
            "<code>RateLimit-Limit</code>, <code>RateLimit-Remaining</code> and <code>RateLimit-Reset</code>. "
            "Set with <code>--api-rate-per-address</code> and <code>--api-rate-per-key</code> (0 switches one off).</p>")


def _metrics_access(settings) -> str:
    """Who may read ``GET /metrics``: keys with the admin scope, and the metrics token when one is set."""
    token = ("the metrics token (<code>TANDEM_METRICS_TOKEN</code>, set), which reads nothing else" if settings.metrics_token
             else "no metrics token: set <code>TANDEM_METRICS_TOKEN</code> to give a scraper access without an API key")
    return ("<h2>Metrics</h2><p class=hint><code>GET /metrics</code> (Prometheus text format) is read with a key holding "
            f"the <code>admin</code> scope; {token}.</p>")


async def keys_page(request: web.Request) -> web.Response:
    s = await _admin(request)
    return _render(request, s, "/admin/keys", "API keys", await _keys_body(request, s))


async def keys_create(request: web.Request) -> web.Response:
    s, form = await _admin_post(request)
    name = form.get("name", "").strip()[:100]
    hook = form.get("webhook_url", "").strip() or None
    if not name:
        raise _back("/admin/keys", error="Give the key a name.")
    scopes = _form_scopes(form)
    if not scopes:
        raise _back("/admin/keys", error="Tick at least one scope.")
    if hook:
        from .api import _http_url

        try:
            _http_url(hook)
        except ValueError as exc:
            raise _back("/admin/keys", error=f"Webhook URL {exc}.")
    key, record, secret = await request.app[appkeys.STORE].create_api_key_full(name, webhook_url=hook, scopes=scopes)
    await events.emit(request.app, "key.created", None, actor=s.agent.username,
                      detail={"id": record.id, "name": name, "scopes": list(record.scopes)})
    created = (
        '<div class=notice role=status><p><strong>Copy the key now: it is shown only this once.</strong></p>'
        f'<label for=newkey>API key “{escape(name)}” ({escape(", ".join(record.scopes))})</label><input id=newkey readonly value="{escape(key)}">'
        '<div class=row><button type=button class=secondary data-copy=newkey>Copy key</button><span role=status class=hint data-copy-status></span></div>'
        + (f'<label for=newsecret>Webhook signing secret</label><input id=newsecret readonly value="{escape(secret)}">' if secret else "")
        + "</div>"
    )
    return _render(request, s, "/admin/keys", "API keys", await _keys_body(request, s, created), status=201, scripts=(CONSOLE_SCRIPT,))


async def keys_revoke(request: web.Request) -> web.Response:
    s, _ = await _admin_post(request)
    raw = request.match_info["key_id"]
    if not raw.isdigit() or not await request.app[appkeys.STORE].revoke_api_key(int(raw)):
        raise _back("/admin/keys", error="No live key with that id.")
    await events.emit(request.app, "key.revoked", None, actor=s.agent.username, detail={"id": int(raw)})
    raise _back("/admin/keys", ok="Key revoked.")


async def keys_scopes(request: web.Request) -> web.Response:
    s, form = await _admin_post(request)
    raw = request.match_info["key_id"]
    scopes = _form_scopes(form)
    if not scopes:
        raise _back("/admin/keys", error="Tick at least one scope (or revoke the key).")
    record = await request.app[appkeys.STORE].set_api_key_scopes(int(raw), scopes) if raw.isdigit() else None
    if record is None:
        raise _back("/admin/keys", error="No live key with that id.")
    await events.emit(request.app, "key.scopes", None, actor=s.agent.username, detail={"id": record.id, "scopes": list(record.scopes)})
    raise _back("/admin/keys", ok=f"Key {record.name} now has: {', '.join(record.scopes)}.")


# -- allowlist -----------------------------------------------------------------------------------------
async def allowlist_page(request: web.Request) -> web.Response:
    s = await _admin(request)
    entries = await request.app[appkeys.STORE].allowlist()
    extra = [e for e in request.app[appkeys.ALLOWLIST].entries if e.pattern not in {x.pattern for x in entries}]
    rows = [[f"<code>{escape(e.pattern)}</code>", "all requests" if e.scope == "all" else "navigation", escape(e.redirect or "—"),
             f'<form method=post action="/admin/allowlist/remove">{s.hidden()}<input type=hidden name=pattern value="{escape(e.pattern)}">'
             f'<button type=submit class=danger aria-label="Remove {escape(e.pattern)}">Remove</button></form>'] for e in entries]
    rows += [[f"<code>{escape(e.pattern)}</code>", e.scope, "—", "<span class=muted>from the command line</span>"] for e in extra]
    open_note = ("<p class=notice>The allowlist is empty: <strong>every public site</strong> may be co-browsed. "
                 "Add an entry to restrict co-browsing to listed sites.</p>" if not entries and not extra else "")
    body = (
        open_note
        + _table("Allowed sites", ["Pattern", "Scope", "Redirect", '<span class=sr-only>Actions</span>'], rows, "No entries.")
        + "<h2>Add a site</h2>"
        f'<form method=post action="/admin/allowlist">{s.hidden()}'
        '<label for=pattern>Host or pattern</label><input id=pattern name=pattern required placeholder="shop.example.com or *.example.com" '
        'aria-describedby=pattern-hint><p id=pattern-hint class=hint><code>example.com</code> matches that host only; '
        '<code>*.example.com</code> matches its subdomains (not the apex).</p>'
        '<fieldset><legend>Scope</legend>'
        '<label><input type=radio name=scope value=navigation checked> Navigation: its pages may load resources from anywhere</label>'
        '<label><input type=radio name=scope value=all> All requests: its pages may load only from listed sites</label></fieldset>'
        '<label for=redirect>Redirect (optional)</label><input id=redirect name=redirect type=url aria-describedby=redirect-hint>'
        '<p id=redirect-hint class=hint>Navigations to matching hosts go to this address instead.</p>'
        '<div class=row><button type=submit>Add site</button></div></form>'
    )
    return _render(request, s, "/admin/allowlist", "Allowlist", body)


async def allowlist_add(request: web.Request) -> web.Response:
    s, form = await _admin_post(request)
    try:
        e = await policy.allow(request.app[appkeys.STORE], form.get("pattern", ""), form.get("scope", "navigation"), form.get("redirect", "").strip() or None)
    except (PatternError, StoreError) as exc:
        raise _back("/admin/allowlist", error=str(exc))
    await events.emit(request.app, "allowlist.added", None, actor=s.agent.username,
                detail={"pattern": e.pattern, "scope": e.scope, "redirect": e.redirect})
    raise _back("/admin/allowlist", ok=f"{e.pattern} added.")


async def allowlist_remove(request: web.Request) -> web.Response:
    s, form = await _admin_post(request)
    pattern = form.get("pattern", "")
    try:
        removed = await policy.disallow(request.app[appkeys.STORE], pattern)
    except PatternError as exc:
        raise _back("/admin/allowlist", error=str(exc))
    if not removed:
        raise _back("/admin/allowlist", error=f"{pattern} is not on the list.")
    await events.emit(request.app, "allowlist.removed", None, actor=s.agent.username, detail={"pattern": pattern})
    raise _back("/admin/allowlist", ok=f"{pattern} removed.")


# -- masking ---------------------------------------------------------------------------------------------
async def masking_page(request: web.Request) -> web.Response:
    s = await _admin(request)
    masking = await request.app[appkeys.STORE].masking()
    rows = [[f"<code>{escape(p)}</code>", "<br>".join(f"<code>{escape(x)}</code>" for x in r["mask"]) or "—",
             "<br>".join(f"<code>{escape(x)}</code>" for x in r["block"]) or "—"] for p, r in masking.items()]
    body = (
        "<p>Passwords, payment card fields (<code>autocomplete=cc-*</code>) and elements marked "
        "<code>data-tandem-mask</code> are always masked. Add CSS selectors for other private fields per site.</p>"
        + _table("Masking selectors", ["Pattern", "Masked (shown as *)", "Hidden (placeholder)"], rows, "No extra selectors.")
        + "<h2>Set selectors for a site</h2>"
        f'<form method=post action="/admin/masking">{s.hidden()}'
        '<label for=mpattern>Host or pattern</label><input id=mpattern name=pattern required placeholder="*.bank.example">'
        '<label for=selectors>Selectors, one per line</label><textarea id=selectors name=selectors rows=4 aria-describedby=sel-hint '
        'placeholder="#ssn&#10;.account-number"></textarea>'
        '<p id=sel-hint class=hint>Their values are shown as *. Replaces the list for that pattern.</p>'
        '<label for=blocks>Hide entirely, one per line (optional)</label><textarea id=blocks name=block rows=3 aria-describedby=block-hint '
        'placeholder=".statement-table"></textarea>'
        '<p id=block-hint class=hint>The element is replaced by an empty box of the same size. Leave both empty to remove the pattern.</p>'
        '<div class=row><button type=submit>Save</button></div></form>'
    )
    return _render(request, s, "/admin/masking", "Masking", body)


async def masking_set(request: web.Request) -> web.Response:
    s, form = await _admin_post(request)
    pattern = form.get("pattern", "")
    try:
        sel, block = await policy.set_masking(request.app[appkeys.STORE], pattern, form.get("selectors", "").splitlines(), form.get("block", "").splitlines())
    except (PatternError, StoreError) as exc:
        raise _back("/admin/masking", error=str(exc))
    await events.emit(request.app, "masking.set", None, actor=s.agent.username, detail={"pattern": pattern, "selectors": sel, "block": block})
    raise _back("/admin/masking", ok=f"Saved {len(sel) + len(block)} selector(s) for {pattern}.")


# -- retention ---------------------------------------------------------------------------------------------
async def settings_page(request: web.Request) -> web.Response:
    s = await _admin(request)
    days = await request.app[appkeys.STORE].retention_days()
    body = (
        "<p>Session metadata (who, when, which addresses, events) is kept encrypted and deleted after this period. "
        "Session content is never stored.</p>"
        f'<form method=post action="/admin/settings">{s.hidden()}'
        f'<label for=days>Keep metadata for (days)</label><input id=days name=retention_days type=number min={MIN_RETENTION_DAYS} '
        f'max={MAX_RETENTION_DAYS} value={days} required style="max-width:10rem">'
        '<div class=row><button type=submit>Save</button></div></form>'
    )
    return _render(request, s, "/admin/settings", "Retention", body)


async def settings_set(request: web.Request) -> web.Response:
    s, form = await _admin_post(request)
    raw = form.get("retention_days", "").strip()
    try:
        await request.app[appkeys.STORE].set_retention_days(int(raw) if raw.isdigit() else -1)
    except StoreError as exc:
        raise _back("/admin/settings", error=str(exc))
    await events.emit(request.app, "settings.retention", None, actor=s.agent.username, detail={"retention_days": int(raw)})
    raise _back("/admin/settings", ok=f"Metadata is now kept for {raw} days.")


def _detail(detail: dict) -> str:
    def show(v):
        if v is None or v == [] or v == "":
            return "—"
        return ", ".join(map(str, v)) if isinstance(v, list) else str(v)

    return "; ".join(f"{k}: {show(v)}" for k, v in detail.items())[:300]


# -- audit ---------------------------------------------------------------------------------------------------
async def audit_page(request: web.Request) -> web.Response:
    s = await _admin(request)
    kind = request.query.get("kind") or None
    before = request.query.get("before")
    rows_ = await request.app[appkeys.STORE].audit_events(kind=kind, before_id=parse_int(before, 1))
    rows = [[_time(e.at), f"<code>{escape(e.kind)}</code>", escape(e.session_id or ""), escape(e.actor),
             escape(_detail(e.detail))] for e in rows_]
    more = (f'<p><a href="/admin/audit?before={rows_[-1].id}{"&kind=" + quote(kind) if kind else ""}">Older events</a></p>'
            if len(rows_) >= 200 else "")
    body = (
        '<form method=get action="/admin/audit" class=row><label for=kind class=sr-only>Event kind</label>'
        f'<input id=kind name=kind placeholder="Filter by kind, e.g. session.started" value="{escape(kind or "")}" style="max-width:22rem">'
        '<button type=submit class=secondary>Filter</button></form>'
        + _table("Audit events", ["When (UTC)", "Event", "Session", "By", "Details"], rows, "No events.")
        + more
    )
    return _render(request, s, "/admin/audit", "Audit log", body)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin", agents_page)
    r.add_post("/admin/agents", agents_create)
    r.add_post("/admin/agents/{agent_id}/toggle", agents_toggle)
    r.add_get("/admin/keys", keys_page)
    r.add_post("/admin/keys", keys_create)
    r.add_post("/admin/keys/{key_id}/revoke", keys_revoke)
    r.add_post("/admin/keys/{key_id}/scopes", keys_scopes)
    r.add_get("/admin/allowlist", allowlist_page)
    r.add_post("/admin/allowlist", allowlist_add)
    r.add_post("/admin/allowlist/remove", allowlist_remove)
    r.add_get("/admin/masking", masking_page)
    r.add_post("/admin/masking", masking_set)
    r.add_get("/admin/settings", settings_page)
    r.add_post("/admin/settings", settings_set)
    r.add_get("/admin/audit", audit_page)

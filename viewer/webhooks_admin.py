"""Admin page at ``BASE/admin/webhooks``: each key's hook (on, failing, switched off), the delivery
log (last attempts: event, status, latency) with "Send again", and "Switch on again".

Same protections as the other admin pages (viewer/admin.py): administrators only, same-origin
POSTs with the page's CSRF token. Nothing here shows a body or a secret.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

from tandem import appkeys, events

from .admin import _admin, _admin_post, _back, _render, _table, _time

PAGE = "/admin/webhooks"
LOG_ROWS = 50  # attempts shown


def _state_text(state: events.HookState) -> str:
    if state.disabled_at is not None:
        return (f'<strong class=bad>Switched off</strong> at {_time(state.disabled_at)} UTC: every attempt failed since '
                f'{_time(state.failing_since)} UTC')
    if state.failing_since is not None:
        return f"Failing since {_time(state.failing_since)} UTC"
    return "On"


async def webhooks_page(request: web.Request) -> web.Response:
    s = await _admin(request)
    store = request.app[appkeys.STORE]
    log = request.app[appkeys.WEBHOOKS].log_for(store)
    hooks = []
    for k in await store.api_keys():
        if not k.webhook_url or k.revoked_at:
            continue
        state = await log.state(k.id)
        action = "" if state.disabled_at is None and state.failing_since is None else (
            f'<form method=post action="{PAGE}/{k.id}/enable">{s.hidden()}'
            f'<button type=submit aria-label="Switch on the webhook of {escape(k.name)}">Switch on again</button></form>')
        hooks.append(f'<li><strong>{escape(k.name)}</strong> → <code style="word-break:break-all">{escape(k.webhook_url)}</code>'
                     f"<br>{_state_text(state)}{action}</li>")
    names = {k.id: k.name for k in await store.api_keys()}
    rows = []
    for a in await log.attempts(limit=LOG_ROWS):
        result = f"HTTP {a.status}" if a.status is not None else escape(a.error or "no answer")
        ok = a.status is not None and 200 <= a.status < 300
        resend = (f'<form method=post action="{PAGE}/attempts/{a.id}/resend">{s.hidden()}'
                  f'<button type=submit class=secondary aria-label="Send {escape(a.kind)} {escape(a.delivery)} again">'
                  "Send again</button></form>")
        rows.append([_time(a.at), f"{escape(a.kind)}<br><small>{escape(names.get(a.key_id, str(a.key_id)))} · "
                     f"<code>{escape(a.session_id or '—')}</code></small>",
                     f"<code>{escape(a.delivery)}</code><br><small>attempt {a.attempt}</small>",
                     ("" if ok else "<span class=bad>") + result + ("" if ok else "</span>") + f"<br><small>{a.latency_ms:.0f} ms</small>",
                     resend])
    body = (
        "<p class=hint>A hook whose every attempt fails for a day is switched off; switch it on again here once the "
        "receiver is fixed.</p>"
        + (f'<ul class=hooks style="padding-left:1.2rem;display:grid;gap:.6rem">{"".join(hooks)}</ul>' if hooks
           else "<p class=muted>No key has a webhook.</p>")
        + "<h2>Delivery log</h2>"
        + _table("Delivery attempts, newest first", ["When (UTC)", "Event", "Delivery", "Result",
                                                     '<span class=sr-only>Actions</span>'], rows, "No deliveries yet.")
    )
    return _render(request, s, PAGE, "Webhooks", body)


async def webhooks_enable(request: web.Request) -> web.Response:
    s, _ = await _admin_post(request)
    raw = request.match_info["key_id"]
    store = request.app[appkeys.STORE]
    key = await store.get_api_key(int(raw)) if raw.isdigit() else None
    if key is None or key.revoked_at or not key.webhook_url:
        raise _back(PAGE, error="No live key with a webhook has that id.")
    await request.app[appkeys.WEBHOOKS].log_for(store).enable(key.id)
    await events.emit(request.app, "webhook.enabled", None, actor=s.agent.username, detail={"key_id": key.id})
    raise _back(PAGE, ok=f"The webhook of {key.name} is on again.")


async def webhooks_resend(request: web.Request) -> web.Response:
    s, _ = await _admin_post(request)
    raw = request.match_info["attempt_id"]
    attempt = await events.resend(request.app, int(raw)) if raw.isdigit() else None
    if attempt is None:
        raise _back(PAGE, error="That delivery cannot be sent again (its key is revoked or has no webhook now).")
    await events.emit(request.app, "webhook.resent", None, actor=s.agent.username,
                detail={"delivery": attempt.delivery, "key_id": attempt.key_id})
    raise _back(PAGE, ok=f"{attempt.kind} {attempt.delivery} sent again; its result appears in the log.")


def setup(app: web.Application) -> None:
    app.router.add_get(PAGE, webhooks_page)
    app.router.add_post(PAGE + "/{key_id}/enable", webhooks_enable)
    app.router.add_post(PAGE + "/attempts/{attempt_id}/resend", webhooks_resend)

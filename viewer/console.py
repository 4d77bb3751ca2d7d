"""Agent console at ``BASE/console``: sign in, co-browse a URL, invite link and PIN, live sessions.

Trust. Proxied sites run on ``LABEL.BASE``, same-site with this console, so:
* the sign-in cookie is ``__Host-tandem_agent`` (Secure, Path=/, no Domain, HttpOnly,
  SameSite=Strict): a ``LABEL.BASE`` page can neither read it nor toss a cookie with
  that name onto ``BASE`` (browsers refuse a ``Domain`` on ``__Host-`` cookies). Chromium
  treats ``http://*.localhost`` as secure, so the prefix works in development too; on
  plain ``http`` anywhere else browsers drop Secure cookies, so there the cookie is a
  host-only ``tandem_agent`` and every value sent is checked (a tossed duplicate can't
  hide the real one — but use https);
* every state-changing request is a POST that must carry ``Origin: BASE`` (and
  ``Sec-Fetch-Site: same-origin`` when the browser sends it) and a CSRF token derived
  from the sign-in token, which lives in the page, never in a cookie.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from html import escape
from urllib.parse import quote

from aiohttp import web

from proxy.sessions import CONSENT, Session, cookie_values
from tandem import appkeys, events
from tandem.ratelimit import client_address, pin_failed, pin_wait
from tandem.store import Agent, verify_password

from . import sso
from .pages import error_page, page
from .safeurl import safe_next
from .routes import ApiError, PageResponse, admit, create_session, enter_url, new_pin, save_session_details, validate_start_url

LOGIN_TTL = 12 * 3600  # one working day signed in; then sign in again
MAX_FORM = 16 * 1024  # console forms are a few short fields
AGENT_SESSIONS_SHOWN = 50  # live sessions listed on the dashboard
ROLES = ("leader", "follower")
CONSOLE_SCRIPT = "/static/build/console.js"


# -- sign-in cookie and CSRF -----------------------------------------------------------
def cookie_name(request: web.Request) -> str:
    base = request.app[appkeys.BASE]
    host = base.hostname
    secure_context = base.scheme == "https" or host == "localhost" or host.endswith(".localhost")
    return "__Host-tandem_agent" if secure_context else "tandem_agent"


async def current_agent(request: web.Request) -> tuple[Agent, str] | None:
    store = request.app[appkeys.STORE]
    for token in cookie_values(request.headers, cookie_name(request)):
        agent = await store.agent_for_login(token)
        if agent is not None:
            return agent, token
    return None


def csrf_token(request: web.Request, login_token: str) -> str:
    secret = request.app[appkeys.SESSIONS].signer._key
    return hmac.new(secret, b"csrf:" + login_token.encode(), hashlib.sha256).hexdigest()[:32]


def same_origin(request: web.Request) -> bool:
    """A POST from BASE's own pages: Origin is BASE and, when sent, Sec-Fetch-Site is same-origin."""
    if request.headers.get("Origin") != request.app[appkeys.BASE].url:
        return False
    site = request.headers.get("Sec-Fetch-Site")
    return site is None or site == "same-origin"


def refused() -> web.Response:
    return error_page(403, "Request refused", "This form only works from Tandem's own pages. Reload the page and try again.",
                      code="bad_origin")


async def read_form(request: web.Request) -> dict[str, str]:
    if request.content_length is not None and request.content_length > MAX_FORM:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM, actual_size=request.content_length)
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


class Signed:
    """The signed-in agent for a request, with the CSRF token its pages carry."""

    def __init__(self, request: web.Request, agent: Agent, token: str):
        self.request, self.agent, self.token = request, agent, token
        self.csrf = csrf_token(request, token)

    def hidden(self) -> str:
        return f'<input type=hidden name=csrf value="{self.csrf}">'

    def nav(self, current: str) -> str:
        links = [("/console", "Sessions")]
        if self.agent.is_admin:
            links.append(("/admin", "Admin"))
        items = "".join(
            f'<a href="{href}"{" aria-current=page" if href == current else ""}>{label}</a>' for href, label in links)
        return (f"{items}<span class=muted>{escape(self.agent.name)}</span>"
                f'<form method=post action="/console/logout">{self.hidden()}<button class=secondary type=submit>Sign out</button></form>')


async def signed_in(request: web.Request) -> Signed | None:
    found = await current_agent(request)
    return Signed(request, *found) if found else None


async def require(request: web.Request) -> Signed:
    s = await signed_in(request)
    if s is None:
        raise web.HTTPSeeOther("/console/login?next=" + quote(request.path_qs, safe=""))
    return s


async def require_post(request: web.Request) -> tuple[Signed, dict[str, str]]:
    """Signed-in agent, same-origin POST, valid CSRF token; or an error page raised."""
    if not same_origin(request):
        raise PageResponse(refused())
    s = await signed_in(request)
    if s is None:
        raise web.HTTPSeeOther("/console/login")
    form = await read_form(request)
    if not hmac.compare_digest(form.get("csrf", ""), s.csrf):
        raise PageResponse(refused())
    return s, form


# -- sign in / out -------------------------------------------------------------------------
def login_page(request: web.Request, *, error: str = "", username: str = "", status: int = 200,
               passwords: bool = True) -> web.Response:
    nxt = safe_next(request.query.get("next"))
    notice = f'<p class="notice bad" role=alert>{escape(error)}</p>' if error else ""
    sso_button = sso.sign_in_button(request)  # single sign-on (viewer/sso.py), when configured
    form = (
        f'<form method=post action="/console/login?next={escape(quote(nxt, safe=""))}">'
        f'<label for=username>User name</label><input id=username name=username autocomplete=username required value="{escape(username)}"{"" if sso_button else " autofocus"}>'
        '<label for=password>Password</label><input id=password name=password type=password autocomplete=current-password required>'
        f'<div class=row><button type=submit{" class=secondary" if sso_button else ""}>Sign in{" with a password" if sso_button else ""}</button></div></form>'
    ) if passwords else ("" if sso_button else "<p>Password sign-in is switched off. Ask an administrator.</p>")
    body = (
        "<h1>Agent sign-in</h1>"
        "<p class=muted>Agents are created by an administrator. Customers don't need an account: "
        'they use the invite link or the PIN at <a href="/join">/join</a>.</p>'
        f"{notice}{sso_button}"
        + ('<p class="muted or">or</p>' if sso_button and passwords else "") + form
    )
    return page("Sign in", body, status=status)


async def login_get(request: web.Request) -> web.Response:
    if await signed_in(request) is not None:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return login_page(request, passwords=await sso.passwords_allowed(request.app))


async def login_post(request: web.Request) -> web.Response:
    if not same_origin(request):
        return refused()
    if not await sso.passwords_allowed(request.app):
        return login_page(request, error="Password sign-in is switched off by the administrator.", passwords=False, status=403)
    form = await read_form(request)
    username = form.get("username", "").strip().lower()[:64]
    password = form.get("password", "")[:256]
    limits = request.app[appkeys.LIMITS]
    address = client_address(request)
    if await limits.login_address.blocked(address) or await limits.login_user.blocked(username):
        return login_page(request, error="Too many failed attempts. Wait a few minutes and try again.", username=username, status=429)
    store = request.app[appkeys.STORE]
    agent = await store.agent_by_username(username)
    pw_hash = await store.password_hash(agent.id) if agent is not None and agent.active else None
    ok = await asyncio.get_running_loop().run_in_executor(None, verify_password, pw_hash, password)
    if not ok or agent is None:
        await limits.login_address.hit(address)
        await limits.login_user.hit(username)
        await store.audit("agent.login_failed", actor=username, detail={"address": address})
        return login_page(request, error="That user name and password don't match.", username=username, status=401)
    await limits.login_user.reset(username)
    token = await store.create_login(agent.id, LOGIN_TTL)
    await store.audit("agent.login", actor=agent.username, detail={"address": address})
    resp = web.HTTPSeeOther(safe_next(request.query.get("next")))
    name = cookie_name(request)
    resp.set_cookie(name, token, path="/", max_age=LOGIN_TTL, httponly=True, samesite="Strict",
                    secure=name.startswith("__Host-"))
    raise resp


async def logout(request: web.Request) -> web.Response:
    s, _ = await require_post(request)
    await request.app[appkeys.STORE].end_login(s.token)
    resp = web.HTTPSeeOther("/console/login")
    name = cookie_name(request)
    # A __Host- cookie is only replaced by one that is Secure too: without it the browser keeps the old one.
    resp.del_cookie(name, path="/", secure=name.startswith("__Host-"), httponly=True, samesite="Strict")
    raise resp


# -- dashboard --------------------------------------------------------------------------------
def _time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts)) if ts else "—"


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).hostname or url
    except ValueError:
        return url


async def _my_sessions(request: web.Request, s: Signed) -> list:
    store = request.app[appkeys.STORE]
    return await store.list_sessions(state="live", agent_id=None if s.agent.is_admin else s.agent.username, limit=AGENT_SESSIONS_SHOWN)


async def dashboard(request: web.Request) -> web.Response:
    s = await require(request)
    error = request.query.get("error", "")
    rows = await _my_sessions(request, s)
    sessions_html = (
        "<div class=table><table><caption class=sr-only>Your live sessions</caption><thead><tr><th scope=col>Started</th><th scope=col>Site</th>"
        "<th scope=col>Agent</th><th scope=col>Customer</th><th scope=col><span class=sr-only>Actions</span></th></tr></thead><tbody>"
        + "".join(
            f"<tr><td>{_time(r.created_at)}</td><td>{escape(_host(r.start_url))}</td><td>{escape(r.details.get('agent_name') or r.agent_id or '—')}</td>"
            f"<td>{'leads' if r.details.get('customer_role') == 'leader' else 'follows'}</td>"
            f'<td><a class="button secondary" href="/console/sessions/{escape(r.id)}">Open</a></td></tr>'
            for r in rows)
        + "</tbody></table></div>"
        if rows else "<p class=muted>No live sessions. Start one above.</p>"
    )
    notice = f'<p class="notice bad" role=alert>{escape(error)}</p>' if error else ""
    body = (
        "<h1>Co-browse a page</h1>"
        f"{notice}"
        f'<form method=post action="/console/sessions">{s.hidden()}'
        '<label for=url>Web address</label><input id=url name=url type=url inputmode=url required placeholder="https://www.example.com/checkout" '
        'aria-describedby=url-hint><p id=url-hint class=hint>The customer and you will see this page through Tandem.</p>'
        '<fieldset><legend>Who opens the page (leads)?</legend>'
        '<label><input type=radio name=lead value=agent checked> I lead; the customer follows and can be given control</label>'
        '<label><input type=radio name=lead value=customer> The customer leads; I watch and can ask for control</label></fieldset>'
        '<div class=row><button type=submit>Start session</button></div></form>'
        '<section aria-labelledby=pin-h><h2 id=pin-h>Join with a customer\'s PIN</h2>'
        f'<form method=post action="/console/join-pin" class=row>{s.hidden()}'
        '<label for=agent-pin class=sr-only>PIN</label><input id=agent-pin name=pin inputmode=numeric pattern="[0-9]{6}" maxlength=6 '
        'autocomplete=off placeholder="6-digit PIN" style="max-width:12rem" required><button type=submit class=secondary>Join</button></form></section>'
        f'<section aria-labelledby=live-h><h2 id=live-h>{"All live sessions" if s.agent.is_admin else "Your live sessions"}</h2>{sessions_html}</section>'
    )
    return page("Console", body, nav_html=s.nav("/console"), wide=True)


async def start(request: web.Request) -> web.Response:
    s, form = await require_post(request)
    try:
        url = validate_start_url(request, form.get("url", ""))
    except ApiError as exc:
        raise web.HTTPSeeOther("/console?error=" + quote(exc.message))
    customer_role = "leader" if form.get("lead") == "customer" else "follower"
    info = await create_session(request, url, agent_id=s.agent.username, agent_name=s.agent.name, customer_role=customer_role,
                          actor=s.agent.username)
    raise web.HTTPSeeOther(f"/console/sessions/{info['session_id']}?pin={info['pin']}")


async def _own_session(request: web.Request, s: Signed) -> Session:
    sid = request.match_info["sid"]
    session = await request.app[appkeys.SESSIONS].get(sid)
    if session is None or (not s.agent.is_admin and session.agent_id != s.agent.username):
        raise web.HTTPNotFound(reason="No such session")
    return session


def _agent_role(session: Session) -> str:
    return "leader" if session.customer_role == "follower" else "follower"


async def customer_invite(request: web.Request, session: Session) -> str:
    sessions = request.app[appkeys.SESSIONS]
    inv = await request.app[appkeys.STORE].current_invite(session.sid, session.customer_role, CONSENT)
    if inv is None:
        return await enter_url(request, session.sid, session.customer_role, audience=CONSENT)
    return f"{request.app[appkeys.BASE].url}/s/{session.sid}/join?t={sessions.invite_token(inv)}"


async def session_detail(request: web.Request) -> web.Response:
    s = await require(request)
    session = await _own_session(request, s)
    store = request.app[appkeys.STORE]
    if session.ended:
        body = (f"<h1>Session ended</h1><p>The session on {escape(_host(session.start_url))} is over.</p>"
                '<div class=row><a class=button href="/console">Back to sessions</a></div>')
        return page("Session ended", body, nav_html=s.nav(""), wide=True)
    flash = request.query.get("pin", "")
    pin_line = (f'<p><span class=pin id=pin>{escape(flash)}</span></p>' if flash.isdigit() else "")
    pin_exp = await store.has_pin(session.sid)
    pin_block = (
        pin_line + (f"<p class=hint>Valid until {_time(pin_exp)}. The customer types it at "
                    f'<a href="/join">{escape(request.app[appkeys.BASE].url)}/join</a>.</p>' if pin_exp else "<p class=hint>No PIN in force.</p>")
    )
    if not flash.isdigit() and pin_exp:
        pin_block = "<p class=hint>A PIN is in force (it is shown only once, when made). Make a new one to read it out again.</p>" + pin_block
    invite = await customer_invite(request, session)
    people = await store.participants(session.sid)
    people_html = ("<ul>" + "".join(f"<li>{escape(p.name)} — {escape(p.kind)}, {escape(p.role)}, joined {_time(p.joined_at)}</li>" for p in people)
                   + "</ul>") if people else "<p class=muted>Nobody has joined yet.</p>"
    role = _agent_role(session)
    body = (
        f"<h1>Session on {escape(_host(session.start_url))}</h1>"
        f"<p class=muted>Started {_time(session.created_at)} · the customer {'leads' if session.customer_role == 'leader' else 'follows'} · "
        f'<span class=code>{escape(session.sid)}</span></p>'
        '<section aria-labelledby=inv-h><h2 id=inv-h>Invite the customer</h2>'
        '<label for=invite>Invite link</label>'
        f'<input id=invite readonly value="{escape(invite)}" aria-describedby=invite-hint>'
        '<p id=invite-hint class=hint>Send this link by chat or email. The customer sees who invites them and what you will see, then joins.</p>'
        '<div class=row><button type=button class=secondary data-copy=invite>Copy invite link</button><span role=status class=hint data-copy-status></span></div>'
        f'<h2 id=pin-h>PIN</h2>{pin_block}'
        '<div class=row>'
        f'<form method=post action="/console/sessions/{session.sid}/pin">{s.hidden()}<button type=submit class=secondary>Make a new PIN</button></form>'
        f'<form method=post action="/console/sessions/{session.sid}/revoke">{s.hidden()}'
        '<button type=submit class=secondary>Withdraw invite links and PIN</button></form></div></section>'
        f'<section aria-labelledby=p-h><h2 id=p-h>Participants</h2>{people_html}</section>'
        '<section aria-labelledby=act-h><h2 id=act-h>Session</h2><div class=row>'
        f'<form method=post action="/console/sessions/{session.sid}/open">{s.hidden()}<input type=hidden name=role value={role}>'
        f'<button type=submit>Open session ({"you lead" if role == "leader" else "you follow"})</button></form>'
        f'<form method=post action="/console/sessions/{session.sid}/end">{s.hidden()}<button type=submit class=danger>End session</button></form>'
        "</div></section>"
    )
    return page("Session", body, nav_html=s.nav(""), scripts=(CONSOLE_SCRIPT,), wide=True)


async def session_pin(request: web.Request) -> web.Response:
    s, _ = await require_post(request)
    session = await _own_session(request, s)
    if session.ended:
        raise web.HTTPSeeOther(f"/console/sessions/{session.sid}")
    pin, _exp = await new_pin(request, session)
    await events.emit(request.app, "pin.created", session, actor=s.agent.username)
    raise web.HTTPSeeOther(f"/console/sessions/{session.sid}?pin={pin}")


async def session_revoke(request: web.Request) -> web.Response:
    s, _ = await require_post(request)
    session = await _own_session(request, s)
    n = await request.app[appkeys.SESSIONS].revoke_invites(session.sid)
    await request.app[appkeys.STORE].revoke_pins(session.sid)
    await events.emit(request.app, "invites.revoked", session, actor=s.agent.username, detail={"count": n})
    raise web.HTTPSeeOther(f"/console/sessions/{session.sid}")


async def session_end(request: web.Request) -> web.Response:
    s, _ = await require_post(request)
    session = await _own_session(request, s)
    await end_session(request, session, actor=s.agent.username)
    raise web.HTTPSeeOther("/console")


async def end_session(request: web.Request, session: Session, *, actor: str) -> bool:
    """Ends the session for everyone (the sync layer tells participants) and records it once."""
    if await request.app[appkeys.SESSIONS].end(session.sid):
        await request.app[appkeys.STORE].revoke_invites(session.sid)
        await events.emit(request.app, "session.ended", session, actor=actor)
        return True
    return False


async def session_open(request: web.Request) -> web.Response:
    s, form = await require_post(request)
    session = await _own_session(request, s)
    if session.ended:
        raise web.HTTPSeeOther(f"/console/sessions/{session.sid}")
    role = form.get("role") if form.get("role") in ROLES else _agent_role(session)
    return await admit(request, session, role, kind="agent", name=s.agent.name)


async def join_pin(request: web.Request) -> web.Response:
    """An agent joins with the PIN a customer reads out (sessions the customer started from the snippet)."""
    s, form = await require_post(request)
    limits = request.app[appkeys.LIMITS]
    address = client_address(request)
    if await pin_wait(limits, address) is not None:
        raise web.HTTPSeeOther("/console?error=" + quote("Too many wrong PINs. Wait a few minutes."))
    found = await request.app[appkeys.STORE].redeem_pin(form.get("pin", "").strip())
    session = await request.app[appkeys.SESSIONS].get(found[0]) if found else None
    if session is None or session.ended:
        await pin_failed(limits, address)
        raise web.HTTPSeeOther("/console?error=" + quote("That PIN is not valid or has expired."))
    await _claim(request, session, s)
    return await admit(request, session, found[1], kind="agent", name=s.agent.name)


async def watch(request: web.Request) -> web.Response:
    """``getWatchLink`` target: a signed-in agent joins the visitor's live session (after one click: no GET side effects)."""
    s = await require(request)
    visitor = request.match_info["visitor"]
    store = request.app[appkeys.STORE]
    live = await store.list_sessions(state="live", visitor_id=visitor, limit=1) if await store.visitor_exists(visitor) else []
    if not live:
        body = ("<h1>Waiting for the customer</h1><p>The customer has not started a co-browsing session from the site yet. "
                "This page checks again every few seconds.</p>")
        return page("Watch", body, nav_html=s.nav(""), headers={"Refresh": "5"})
    row = live[0]
    body = (f"<h1>Join the customer</h1><p>The customer is on {escape(_host(row.start_url))} and started a session at {_time(row.created_at)}.</p>"
            f'<form method=post action="/console/sessions/{escape(row.id)}/watch">{s.hidden()}<button type=submit>Join and watch</button></form>')
    return page("Watch", body, nav_html=s.nav(""))


async def watch_join(request: web.Request) -> web.Response:
    s, _ = await require_post(request)
    session = await request.app[appkeys.SESSIONS].get(request.match_info["sid"])
    if session is None or session.ended or session.visitor_id is None:
        raise web.HTTPNotFound(reason="No such session")
    await _claim(request, session, s)
    return await admit(request, session, "follower", kind="agent", name=s.agent.name)


async def _claim(request: web.Request, session: Session, s: Signed) -> None:
    """An agent joining a session nobody owns (started from the snippet) becomes its agent."""
    if session.agent_id is None:
        session.agent_id, session.agent_name = s.agent.username, s.agent.name
        await save_session_details(request, session)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/console/login", login_get)
    r.add_post("/console/login", login_post)
    r.add_post("/console/logout", logout)
    r.add_get("/console", dashboard)
    r.add_post("/console/sessions", start)
    r.add_post("/console/join-pin", join_pin)
    r.add_get("/console/sessions/{sid}", session_detail)
    r.add_post("/console/sessions/{sid}/pin", session_pin)
    r.add_post("/console/sessions/{sid}/revoke", session_revoke)
    r.add_post("/console/sessions/{sid}/end", session_end)
    r.add_post("/console/sessions/{sid}/open", session_open)
    r.add_post("/console/sessions/{sid}/watch", watch_join)
    r.add_get("/console/watch/{visitor}", watch)

"""Customer join flow: ``BASE/join`` (type a PIN) and the consent screen of an invite link.

A PIN is a 6-digit stand-in for an invite link, good for 10 minutes and a few joins.
Guessing is throttled per address and per network, never for everyone at once (:mod:`tandem.ratelimit`);
a right PIN is exchanged for a single-use, short-lived consent invite, so the
consent screen always works from a signed token.

The consent screen (``GET /s/{sid}/join?t=``) has no side effects; joining is a POST
from this origin carrying the token in the form, never an ambient cookie.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

from aiohttp import web

from proxy.sessions import CONSENT, Session
from tandem import appkeys
from tandem.ratelimit import client_address, pin_failed, pin_wait

from .console import read_form, refused, same_origin
from .pages import page
from .routes import admit, enter_url, invalid_invite_page, session_or_page

PIN_INVITE_TTL = 10 * 60  # the invite a PIN turns into: enough to read the consent screen


def pin_page(*, error: str = "", status: int = 200, headers: dict | None = None) -> web.Response:
    notice = f'<p class="notice bad" role=alert id=pin-error>{escape(error)}</p>' if error else ""
    described = ' aria-describedby="pin-hint pin-error" aria-invalid=true' if error else ' aria-describedby=pin-hint'
    body = (
        "<h1>Join a co-browsing session</h1>"
        "<p>Type the 6-digit PIN the support agent gave you.</p>"
        f"{notice}"
        '<form method=post action="/join">'
        f'<label for=pin>PIN</label><input id=pin name=pin inputmode=numeric autocomplete=one-time-code pattern="[0-9 ]{{6,7}}" '
        f'maxlength=7 required autofocus class=pin{described}>'
        '<p id=pin-hint class=hint>Next you will see who is inviting you and what they will see, before anything is shared.</p>'
        '<div class=row><button type=submit>Continue</button></div></form>'
    )
    return page("Join", body, status=status, headers=headers)


async def join_get(request: web.Request) -> web.Response:
    return pin_page()


async def join_post(request: web.Request) -> web.Response:
    if not same_origin(request):
        return refused()
    limits = request.app[appkeys.LIMITS]
    address = client_address(request)
    wait = await pin_wait(limits, address)
    if wait is not None:
        return pin_page(error="Too many wrong PINs. Wait a few minutes, or ask the agent for the invite link.", status=429,
                        headers={"Retry-After": str(wait)})
    form = await read_form(request)
    pin = "".join(form.get("pin", "").split())
    found = await request.app[appkeys.STORE].redeem_pin(pin)
    session = await request.app[appkeys.SESSIONS].get(found[0]) if found else None
    if session is None or session.ended:
        await pin_failed(limits, address)
        return pin_page(error="That PIN is not valid or has expired. Check the digits or ask for a new PIN.", status=400)
    raise web.HTTPSeeOther(await enter_url(request, session.sid, found[1], audience=CONSENT, single_use=True, ttl=PIN_INVITE_TTL))


def _what_agent_sees(session: Session, role: str, host: str, masked: int) -> str:
    if role == "leader":
        seen = (f"<li>The pages you open in this tab on <strong>{escape(host)}</strong> and the sites it links to, "
                "as you see them, while the session lasts.</li>"
                "<li>Where you point, click and scroll. The agent can point and draw; they can click or type only if you give them control.</li>")
    else:
        seen = ("<li>You will see the agent's page and their pointer. The agent sees your pointer and drawings.</li>"
                "<li>You can be given control to click and type on the agent's page.</li>")
    kinds = ["passwords", "payment card details", "fields the site marks as private"]
    if masked:
        kinds.append(f"{masked} more kind{'s' if masked != 1 else ''} of field set by this server's administrator")
    listed = ", ".join(kinds[:-1]) + " and " + kinds[-1]
    return (
        f"<ul>{seen}</ul>"
        "<h2>Never shown to the agent</h2>"
        f"<p>{listed[0].upper() + listed[1:]} are masked: what you type there never leaves your browser.</p>"
        "<p class=muted>Nothing is recorded. Chat messages are seen only by the people in this session, "
        "are not stored, and are gone when it ends. You can leave at any time by closing the tab.</p>"
    )


async def consent_get(request: web.Request) -> web.Response:
    sid = request.match_info["sid"]
    session = await session_or_page(request, sid)
    if isinstance(session, web.Response):
        return session
    token = request.query.get("t", "")
    invite = await request.app[appkeys.SESSIONS].peek_invite(sid, token)
    if invite is None:
        return invalid_invite_page(session)
    host = urlsplit(session.start_url).hostname or session.start_url
    masked = len(request.app[appkeys.MASKING].rules_for(host)[0])
    who = escape(session.agent_name) if session.agent_name else "A support agent"
    body = (
        f"<h1>{who} invites you to browse together</h1>"
        f"<p>You are joining a co-browsing session on <strong>{escape(host)}</strong> through this Tandem server.</p>"
        "<h2>What the agent will see</h2>"
        f"{_what_agent_sees(session, invite.role, host, masked)}"
        f'<form method=post action="/s/{escape(sid)}/join"><input type=hidden name=t value="{escape(token)}">'
        '<label for=name>Your name (optional, shown to the agent)</label><input id=name name=name maxlength=60 autocomplete=given-name>'
        '<div class=row><button type=submit>Join the session</button><a class="button secondary" href="/">Not now</a></div></form>'
    )
    # Referrer-Policy stays same-origin: with no-referrer, Chromium sends "Origin: null" on the form POST.
    return page("Join the session", body)


async def consent_post(request: web.Request) -> web.Response:
    if not same_origin(request):
        return refused()
    sid = request.match_info["sid"]
    session = await session_or_page(request, sid)
    if isinstance(session, web.Response):
        return session
    form = await read_form(request)
    invite = await request.app[appkeys.SESSIONS].use_invite(sid, form.get("t", ""))
    if invite is None:
        return invalid_invite_page(session)
    return await admit(request, session, invite.role, kind="customer", name=form.get("name", ""))


def setup(app: web.Application) -> None:
    app.router.add_get("/join", join_get)
    app.router.add_post("/join", join_post)
    app.router.add_get("/s/{sid}/join", consent_get)
    app.router.add_post("/s/{sid}/join", consent_post)

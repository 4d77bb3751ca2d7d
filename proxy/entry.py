"""Entry hand-off: how a proxied host gets its own, host-only participant credential.

A participant's credential lives on the control plane (host-only on ``BASE``, path
``/s/<sid>``). A proxied host ``LABEL.BASE`` of that session gets its own credential
in three redirects, without a page ever seeing one:

1. A GET or POST navigation or no-cors request reaches ``LABEL.BASE`` without a valid
   credential: :func:`hand_off` sets a random, host-only HttpOnly *entry nonce* cookie
   (``tandem_n_<N>``, path ``/__tandem/enter``, ``TICKET_TTL``) and answers
   ``302 BASE/s/<sid>/pass?to=<the URL>&n=<N>``.
2. The control plane (``viewer.routes.pass_``) reads the participant's credential there,
   checks ``to`` is a host of the *same* session, and answers
   ``302 LABEL.BASE/__tandem/enter?ticket=…&to=<path>`` with :func:`ticket_location`.
   The ticket is signed, bound to that one host and to ``N``, single-use, and lives ``TICKET_TTL``.
3. :func:`reserved` (``enter``) on ``LABEL.BASE`` spends the ticket only together with the
   nonce cookie it is bound to, sets the host-only HttpOnly credential and answers ``302 <path>``.

The ticket only ever travels in ``Location`` headers of redirects: never in a body, a
page's URL (redirects leave no history entry; the document's URL is the final one) nor a
``Referer`` (a redirected request keeps its initiator's referrer). The one piece of page
code that can see the enter URL is the site's own service worker on that host (a redirected
navigation is a fetch event there); a ticket it copies is useless anywhere but in the
browser that holds the matching nonce cookie, which no script can read. Requests that cannot follow a
hand-off — CORS fetches, which also cannot say whether they carry credentials, WebSocket
handshakes, other methods — arrive credential-less and are answered as such by the proxy
pipeline; the runtime can warm a host first with a no-cors request to ``/__tandem/hello``.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import quote

from aiohttp import web

from rewriter import labels
from tandem import appkeys

from . import credentials
from .sessions import TICKET_TTL

ENTER_PATH = "/__tandem/enter"
HELLO_PATH = "/__tandem/hello"  # a no-cors GET here only makes sure this host holds a credential
HAND_OFF_MODES = frozenset({"navigate", "nested-navigate", "no-cors"})  # requests that follow redirects with cookies
# POST too (a form posting to a host not entered yet, a beacon): 307 keeps method and body on every hop
HAND_OFF_METHODS = frozenset({"GET", "HEAD", "POST"})
MAX_TO = 16 * 1024  # the path carried through the hand-off; the request line limit is 32 KB
NO_STORE = {"Cache-Control": "no-store"}  # a redirect URL never becomes a Referer: the site keeps its own


def wants_hand_off(request: web.BaseRequest) -> bool:
    """A credential-less request the browser will follow through the hand-off, cookies included."""
    if request.method not in HAND_OFF_METHODS or request.headers.get("Upgrade"):
        return False
    mode = request.headers.get("Sec-Fetch-Mode")
    return mode is None or mode in HAND_OFF_MODES


NONCE_PREFIX = credentials.ENTRY_NONCE_PREFIX  # + the nonce: a cookie per hand-off; parallel ones never collide


def hand_off(request: web.BaseRequest, sid: str) -> web.Response:
    """Step 1: send the browser to the control plane for a ticket for this host."""
    base = request.app[appkeys.BASE]
    here = f"{base.scheme}://{request.host}{request.raw_path}"
    nonce = secrets.token_hex(8)
    location = f"{base.url}/s/{sid}/pass?to={quote(here, safe='')}&n={nonce}"
    resp = web.Response(status=redirect_status(request), headers={"Location": location, **NO_STORE})
    resp.set_cookie(NONCE_PREFIX + nonce, "1", path=ENTER_PATH, max_age=TICKET_TTL, httponly=True,
                    secure=base.scheme == "https", samesite="Lax")
    return resp


def redirect_status(request: web.BaseRequest) -> int:
    """307 for a POST (the browser sends the same body again), 302 otherwise."""
    return 307 if request.method == "POST" else 302


def is_nonce(value: str) -> bool:
    return len(value) == 16 and all(c in "0123456789abcdef" for c in value)


class NotThisSession(ValueError):
    """``to`` is not a proxied URL of the session asking."""


def ticket_location(request: web.BaseRequest, sid: str, to: str, nonce: str) -> str:
    """Step 2 (on the control plane): where to send a participant of ``sid`` wanting ``to``.

    Raises :class:`NotThisSession` unless ``to`` is a URL on a proxied host of ``sid`` (and
    ``nonce`` one of ours), and :class:`PermissionError` when the caller holds no credential of
    ``sid`` here.
    """
    if not is_nonce(nonce):
        raise NotThisSession("no entry nonce")
    app = request.app
    base = app[appkeys.BASE]
    label, host, path = _split_proxied(base, to)
    try:
        decoded = labels.decode(label)
    except labels.LabelError as exc:
        raise NotThisSession("malformed label") from exc
    if decoded.sid != sid:  # (an alias label another node made is the session's too: no look-up needed)
        raise NotThisSession("another session's host")
    who = credentials.control_credential(request, sid)
    if who is None:
        raise PermissionError("not a participant")
    pid, role, expires = who
    ticket = app[appkeys.SESSIONS].ticket(sid, pid, role, label, nonce, expires)
    return f"{base.scheme}://{host}{ENTER_PATH}?ticket={ticket}&to={quote(path, safe='')}"


def _split_proxied(base, url: str) -> tuple[str, str, str]:
    """(label, host[:port], path?query) of a URL on a proxied host of this Tandem, written plainly."""
    prefix = base.scheme + "://"
    if len(url) > MAX_TO or not url.lower().startswith(prefix) or not url.isprintable() or "\\" in url:
        raise NotThisSession("not a proxied URL")
    rest = url[len(prefix):]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    host, path = rest[:cut].lower(), rest[cut:].split("#", 1)[0]
    label = base.label_of_host(host)
    if label is None or "@" in host or host != f"{label}.{base.domain}".lower():
        raise NotThisSession("not a proxied host")
    if not path.startswith("/"):
        path = "/" + path
    return label, host, _safe_path(path)


def _safe_path(path: str) -> str:
    """A same-host path to redirect to: never ``//host`` or ``/\\host`` (another site)."""
    if not path.startswith("/") or path.startswith("//") or path.startswith("/\\") or not path.isprintable():
        return "/"
    return path


async def reserved(request: web.Request, sid: str, name: str) -> web.StreamResponse | None:
    """``/__tandem/enter`` and ``/__tandem/hello`` on a proxied host of ``sid``; None for other names."""
    if name == "enter" and request.method in HAND_OFF_METHODS:
        return await _enter(request, sid)
    if name == "hello" and request.method in ("GET", "HEAD"):
        if credentials.participant(request, sid) is None and wants_hand_off(request):
            return hand_off(request, sid)
        return web.Response(status=204, headers=NO_STORE)
    return None


async def _enter(request: web.Request, sid: str) -> web.Response:
    """Step 3 (on ``LABEL.BASE``): spend the ticket, set this host's credential, go on to ``to``."""
    app = request.app
    base = app[appkeys.BASE]
    label = base.label_of_host(request.host or "")
    to = _safe_path(request.query.get("to", "/"))
    ticket = request.query.get("ticket", "")
    nonces = [name[len(NONCE_PREFIX):] for name in request.cookies if name.startswith(NONCE_PREFIX)]
    spent = await app[appkeys.SESSIONS].spend_ticket(sid, label, ticket, nonces) if label else None
    if spent is None:
        # Spent, expired or forged: no credential. A navigation starts a fresh hand-off (a
        # participant gets in, anyone else is told to join first); nothing else is said.
        if wants_hand_off(request):
            return web.Response(status=redirect_status(request), headers={"Location": to, **NO_STORE})
        return web.Response(status=403, text="not_a_participant\n", headers=NO_STORE)
    pid, role, expires, nonce = spent
    resp = web.Response(status=redirect_status(request), headers={"Location": to, **NO_STORE})
    resp.del_cookie(NONCE_PREFIX + nonce, path=ENTER_PATH)
    credential = app[appkeys.SESSIONS].host_credential(sid, pid, role, label, expires)
    credentials.set_host_cookie(resp, base, credential, int(expires - time.time()))
    return resp

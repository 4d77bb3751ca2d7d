"""How a request on a proxied host (or the control plane) proves it is a participant.

The one place that reads a participant credential from a request. Every stage of the
proxy pipeline and every control-plane page asks here; none parses cookies itself.

Where credentials live (the rule: a credential of one session is never sent to, nor
readable from, a host of another session):

* On the control plane, ``tandem_p_<sid>``: host-only on ``BASE`` (no ``Domain``), path
  ``/s/<sid>``, HttpOnly, SameSite=Lax. The browser sends it to that session's pages,
  panel, socket and entry hand-off on ``BASE`` and nowhere else: not to ``*.BASE``, not to
  other sessions' paths.
* On each proxied host ``LABEL.BASE``, ``HOST_COOKIE``: host-only there, HttpOnly, valid
  on that host alone (the label is signed into it). A host gets it through the entry
  hand-off (:mod:`proxy.entry`), never from a page.

Cookies a page plants (``document.cookie``, ``cookieStore``, ``Domain=BASE``) never change
the answer: only a value with a valid signature for this session, this host and this
place counts; everything else is ignored, and on a proxied host every cookie that is not
Tandem's own is junk (the site's real cookies live in the server-side jar), which
:func:`junk_expiry` asks the browser to drop.
"""

from __future__ import annotations

import functools

from aiohttp import web

from tandem import appkeys

from .sessions import COOKIE_PREFIX, CREDENTIAL_TTL, cookie_values

HOST_COOKIE = "tandem_h"  # a proxied host's own credential (``__Host-`` prefixed over https)
ENTRY_NONCE_PREFIX = "tandem_n_"  # proxy.entry.NONCE_PREFIX: the hand-off's own short-lived cookies
MAX_JUNK_EXPIRED = 40  # junk cookies asked to go per response: ~8 KB of Set-Cookie at most; more go next time


def host_cookie_name(base) -> str:
    """``__Host-`` over https: the browser then refuses any ``Domain=`` or non-``/`` copy of it."""
    return "__Host-" + HOST_COOKIE if base.scheme == "https" else HOST_COOKIE


def control_cookie_name(sid: str) -> str:
    return COOKIE_PREFIX + sid


def control_cookie_path(sid: str) -> str:
    return f"/s/{sid}"


PROXIED_LABEL: web.RequestKey[str] = web.RequestKey("tandem.proxy.label", str)


def proxied_label(request: web.BaseRequest) -> str | None:
    """The label of the request's host when it is a proxied host (``LABEL.BASE``), else None. The router's
    entry for proxied hosts (:class:`proxy.handler.ProxiedHosts`) finds it first and keeps it on the
    request; every later reader of the same request takes it from there."""
    label = request.get(PROXIED_LABEL)
    if label is None:
        label = request.app[appkeys.BASE].label_of_host(request.host or "")
    return label


def participant(request: web.BaseRequest, sid: str) -> tuple[str, str] | None:
    """(participant id, credential role) of the caller for session ``sid``, or None.

    On a proxied host only that host's own credential counts; on the control plane only
    the session's control-plane credential; anywhere else nothing does.
    """
    app = request.app
    base = app[appkeys.BASE]
    sessions = app[appkeys.SESSIONS]
    host = request.host or ""
    label = proxied_label(request)
    if label is not None:
        return sessions.host_participant(sid, label, cookie_values(request.headers, host_cookie_name(base)))
    if _is_control_plane(base, host):
        return sessions.participant(sid, cookie_values(request.headers, control_cookie_name(sid)))
    return None


def control_credential(request: web.BaseRequest, sid: str) -> tuple[str, str, int] | None:
    """(pid, role, expiry) of the control-plane credential for ``sid`` (the entry hand-off mints from it)."""
    base = request.app[appkeys.BASE]
    if not _is_control_plane(base, request.host or ""):
        return None
    return request.app[appkeys.SESSIONS].credential_of(sid, cookie_values(request.headers, control_cookie_name(sid)))


def _is_control_plane(base, host: str) -> bool:
    return host.strip().lower().rstrip(".") in (base.domain.lower(), base.hostname.lower())


def set_control_cookie(resp: web.StreamResponse, base, sid: str, credential: str) -> None:
    resp.set_cookie(control_cookie_name(sid), credential, path=control_cookie_path(sid), max_age=CREDENTIAL_TTL,
                    httponly=True, secure=base.scheme == "https", samesite="Lax")


def set_host_cookie(resp: web.StreamResponse, base, credential: str, max_age: int) -> None:
    resp.set_cookie(host_cookie_name(base), credential, path="/", max_age=max(0, max_age), httponly=True,
                    secure=base.scheme == "https", samesite="Lax")


def junk_expiry(request: web.BaseRequest) -> tuple[str, ...]:
    """``Set-Cookie`` values dropping the cookies a browser sent this host that are not Tandem's.

    On a proxied host every cookie but the host credential is junk; on the control plane
    every cookie but Tandem's own names (``own``: the agent sign-in, the session
    credentials). A page can plant them on its own host or on ``Domain=BASE``; an expiry is
    sent for both forms at ``Path=/`` (where ``cookieStore`` puts them). A cookie with
    Tandem's own name but a value that is not a valid credential is dropped in its
    ``Domain=BASE`` form only, so the real host-only one stays.
    """
    base = request.app[appkeys.BASE]
    host = request.host or ""
    on_proxy = proxied_label(request) is not None
    if not on_proxy and not _is_control_plane(base, host):
        return ()
    headers = tuple(request.headers.getall("Cookie", ()))
    if sum(map(len, headers)) > JUNK_MEMO_BYTES:  # a cookie bomb, say: worked out, not remembered
        return _junk_expiry.__wrapped__(headers, on_proxy, host_cookie_name(base), base.hostname)
    return _junk_expiry(headers, on_proxy, host_cookie_name(base), base.hostname)


JUNK_MEMO_BYTES = 4096  # Cookie headers up to this are remembered (a participant's credential and a few more)


@functools.lru_cache(maxsize=256)  # pure: the same Cookie header comes with every request of a participant
def _junk_expiry(headers: tuple[str, ...], on_proxy: bool, own_name: str, hostname: str) -> tuple[str, ...]:
    names: list[str] = []
    seen: set[str] = set()
    own_copies = 0
    for header in headers:
        for pair in header.split(";"):
            name = pair.strip().partition("=")[0].strip()
            if on_proxy and name == own_name:
                own_copies += 1
                continue
            if on_proxy and name.startswith(ENTRY_NONCE_PREFIX):  # an entry under way (proxy/entry.py)
                continue
            if not _token(name) or name in seen:
                continue
            seen.add(name)
            if on_proxy or not _control_plane_own(name):
                names.append(name)
    out: list[str] = []
    for name in names[:MAX_JUNK_EXPIRED]:
        out.append(_expire(name, None))
        out.append(_expire(name, hostname))
    if own_copies > 1:  # Tandem's name planted beside the real one: only a Domain=BASE copy can be planted
        out.append(_expire(own_name, hostname))
    return tuple(out)


def _control_plane_own(name: str) -> bool:
    """Cookies Tandem sets on ``BASE`` itself: session credentials and the agent's sign-in."""
    return name.startswith(COOKIE_PREFIX) or name in ("tandem_agent", "__Host-tandem_agent")


_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"


def _token(name: str) -> bool:
    """A cookie name we can name back in a Set-Cookie (RFC 6265 token); others cannot be expired by name."""
    return bool(name) and len(name) <= 256 and all(c in _TCHAR for c in name)


def _expire(name: str, domain: str | None) -> str:
    return f"{name}=; Path=/; Max-Age=0; Expires={EPOCH}" + (f"; Domain={domain}" if domain else "")

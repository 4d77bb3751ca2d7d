"""How a request on a proxied host (or the control plane) proves it is a participant.

The one place that reads a participant credential from a request. Every stage of the
proxy pipeline and every control-plane page asks here; none parses cookies itself.
How the credential is carried (which cookie, on which hosts) is this module's business.
"""

from __future__ import annotations

from aiohttp import web

from tandem import appkeys

from .sessions import cookie_values


def participant(request: web.BaseRequest, sid: str) -> tuple[str, str] | None:
    """(participant id, credential role) of the caller for session ``sid``, or None."""
    sessions = request.app[appkeys.SESSIONS]
    return sessions.participant(sid, cookie_values(request.headers, sessions.cookie_name(sid)))

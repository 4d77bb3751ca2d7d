"""API key scopes: what a key may do. Each REST endpoint needs exactly one (viewer/api.py ROUTES).

* ``sessions:read``  — read sessions (list, one session with its participants);
* ``sessions:write`` — start and end sessions, invite links, PINs, watch links for snippet visitors;
* ``admin``          — everything else: agents, API keys, allowlist, masking, retention, audit log,
  and ``GET /metrics``.

Scopes are independent: ``admin`` does not include the session scopes (a key that manages the
allowlist need not start sessions). ``TANDEM_ADMIN_KEY`` holds all three.

Keys made before scopes existed keep what they could do: the migration gives them all three.
A key created without naming its scopes gets :data:`DEFAULT_SCOPES` (sessions only), never
``admin``.
"""

from __future__ import annotations

from typing import Iterable

SESSIONS_READ = "sessions:read"
SESSIONS_WRITE = "sessions:write"
ADMIN = "admin"
SCOPES: tuple[str, ...] = (SESSIONS_READ, SESSIONS_WRITE, ADMIN)  # in the order they are shown
ALL_SCOPES: frozenset[str] = frozenset(SCOPES)
DEFAULT_SCOPES: tuple[str, ...] = (SESSIONS_READ, SESSIONS_WRITE)
DESCRIPTIONS = {
    SESSIONS_READ: "list sessions and read one with its participants",
    SESSIONS_WRITE: "start and end sessions, make invite links, PINs and watch links",
    ADMIN: "agents, API keys, allowlist, masking, retention, audit log and metrics",
}


class ScopeError(ValueError):
    """A scope name that is not one of :data:`SCOPES`."""


def normalize(scopes: Iterable[str]) -> tuple[str, ...]:
    """The scopes in :data:`SCOPES` order, each once; ScopeError names any unknown one."""
    given = [s.strip() for s in scopes]
    unknown = sorted({s for s in given if s not in ALL_SCOPES})
    if unknown:
        raise ScopeError(f"unknown scope(s): {', '.join(unknown)} (known: {', '.join(SCOPES)})")
    return tuple(s for s in SCOPES if s in given)


def to_text(scopes: Iterable[str]) -> str:
    """How the store keeps them: space-separated (the OAuth ``scope`` form)."""
    return " ".join(normalize(scopes))


def from_text(text: str | None) -> tuple[str, ...]:
    """The stored text back to scopes; unknown words (a newer version's scopes) are dropped, never granted."""
    return tuple(s for s in SCOPES if s in (text or "").split())

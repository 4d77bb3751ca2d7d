"""The shop's server-side state: sign-in sessions and carts, in memory, bounded.

A cart belongs to a signed-in session (key "s:<demo_session>") or to an anonymous visitor
(key "a:<demo_cart>"). Signing in moves the anonymous cart into the session's cart.
"""

from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict

from .pages import MAX_QUANTITY_PER_LINE

# The demo is public on a developer's machine; cap remembered sessions and carts so a loop of
# requests cannot grow memory without end. The oldest entries are forgotten first.
MAX_SESSIONS = 10_000
MAX_CARTS = 10_000

# The single demo account; the credentials are printed on the login page.
USERS = {"demo": "demo123"}

# Random tokens: 24 bytes → 32 URL-safe characters, unguessable.
TOKEN_BYTES = 24


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def check_password(username: str, password: str) -> bool:
    expected = USERS.get(username)
    if expected is None:
        return False
    return hmac.compare_digest(expected.encode(), password.encode())


class ShopState:
    def __init__(self) -> None:
        self._sessions: OrderedDict[str, str] = OrderedDict()
        self._carts: OrderedDict[str, dict[int, int]] = OrderedDict()

    # sessions
    def open_session(self, username: str) -> str:
        token = new_token()
        self._sessions[token] = username
        while len(self._sessions) > MAX_SESSIONS:
            old, _ = self._sessions.popitem(last=False)
            self._carts.pop("s:" + old, None)
        return token

    def user_for(self, token: str | None) -> str | None:
        if not token:
            return None
        return self._sessions.get(token)

    def close_session(self, token: str | None) -> None:
        if token and self._sessions.pop(token, None) is not None:
            self._carts.pop("s:" + token, None)

    # carts
    def cart(self, key: str | None) -> dict[int, int]:
        """A copy of the cart's lines, product id → quantity, in insertion order."""
        if key is None:
            return {}
        return dict(self._carts.get(key, {}))

    def add(self, key: str, product_id: int, quantity: int) -> None:
        lines = self._carts.setdefault(key, {})
        self._carts.move_to_end(key)
        lines[product_id] = min(MAX_QUANTITY_PER_LINE, lines.get(product_id, 0) + quantity)
        while len(self._carts) > MAX_CARTS:
            self._carts.popitem(last=False)

    def remove(self, key: str, product_id: int) -> None:
        lines = self._carts.get(key)
        if lines is not None:
            lines.pop(product_id, None)

    def merge(self, from_key: str, into_key: str) -> None:
        lines = self._carts.pop(from_key, None)
        for product_id, quantity in (lines or {}).items():
            self.add(into_key, product_id, quantity)

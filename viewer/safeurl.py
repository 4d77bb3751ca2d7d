"""Where a ``next`` (return-to) parameter may send a browser: one rule for every redirect Tandem makes.

Only a path on this server: it starts with exactly one ``/``, and nothing in it can make a
browser read it as another host. Browsers strip tabs and newlines anywhere in a URL and
read ``\\`` as ``/`` in http(s) URLs, so ``/\\t/evil.example`` or ``/\\evil.example`` would
become ``//evil.example`` (a network-path reference) — every ASCII control character,
whitespace and backslash is refused, as is anything :func:`urllib.parse.urlsplit` reads a
scheme or host in. Anything refused becomes the fallback, never an error.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_NEXT = 2048  # characters of a return-to path; longer ones are not paths Tandem makes


def safe_next(value: object, fallback: str = "/console") -> str:
    """``value`` if it is a path on this server that no browser reads as another origin, else ``fallback``."""
    if not isinstance(value, str) or not value or len(value) > MAX_NEXT:
        return fallback
    if value[0] != "/" or value[1:2] in ("/", "\\"):
        return fallback
    if not value.isascii() or any(ord(c) < 0x21 or ord(c) == 0x7F or c == "\\" for c in value):
        return fallback  # non-ASCII too: Tandem's own paths are percent-encoded, and a header must be ASCII
    try:
        parts = urlsplit(value)
    except ValueError:
        return fallback
    if parts.scheme or parts.netloc:
        return fallback
    return value

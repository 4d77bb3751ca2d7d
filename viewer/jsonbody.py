"""Reading what clients send to the control plane: JSON bodies and whole-number query parameters.

Every JSON endpoint (REST API, snippet) reads its body with :func:`read_json`, and every
integer query parameter goes through :func:`query_int`. Both answer bad input with an
:class:`~viewer.routes.ApiError` (a 4xx ``{"error": {"code", "message"}}``), never a 500:
the body is bounded in bytes, parsed by :func:`tandem.safejson.loads` (depth limit,
no NaN/Infinity, no unpaired surrogates, UTF-8 only) and must be an object; a query
integer is ASCII digits, at most :data:`MAX_INT_DIGITS` of them, within its range.
"""

from __future__ import annotations

from aiohttp import web

from tandem import safejson
from tandem.httpserver import read_capped

from .routes import ApiError

MAX_INT_DIGITS = 18  # fits SQLite's 64-bit integers with room to spare; ids and limits are far shorter
ID_MAX = 2**63 - 1  # largest SQLite integer: the upper bound for row ids


async def read_json(request: web.Request, *, max_bytes: int, require_type: bool = True, empty: str | None = None) -> dict:
    """The request's JSON object body. ``empty``: the text to parse when the body is empty (None: refuse)."""
    if require_type and request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send a JSON body with Content-Type: application/json.")
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, "body_too_large", f"The body is larger than {max_bytes} bytes.")
    raw = await read_capped(request, max_bytes)
    if len(raw) > max_bytes:
        raise ApiError(413, "body_too_large", f"The body is larger than {max_bytes} bytes.")
    if not raw and empty is not None:
        raw = empty.encode()
    try:
        body = safejson.loads(raw)
    except safejson.JsonError as exc:
        raise ApiError(400, exc.code, exc.message) from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "The body must be a JSON object.")
    return body


def parse_int(raw: str | None, lo: int = 0, hi: int = ID_MAX) -> int | None:
    """``raw`` as a whole number in [lo, hi]; None when it is not one (non-ASCII digits, too long, out of range)."""
    if raw is None or not raw or len(raw) > MAX_INT_DIGITS or not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if lo <= value <= hi else None


def query_int(request: web.Request, name: str, default: int | None, lo: int = 0, hi: int = ID_MAX) -> int | None:
    """The query parameter ``name`` as a whole number in [lo, hi], ``default`` when absent; 422 otherwise."""
    raw = request.query.get(name)
    if raw is None:
        return default
    value = parse_int(raw, lo, hi)
    if value is None:
        raise ApiError(422, "invalid_query", f"'{name}' must be a whole number from {lo} to {hi}.")
    return value

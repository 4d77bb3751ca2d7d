"""One JSON reader for everything Tandem accepts from outside (API bodies, the snippet, session sockets).

``json.loads`` alone lets four kinds of input through that later break something:

* nesting deep enough that parsing (or, worse, re-encoding later, deeper in the stack)
  raises ``RecursionError`` — a 500 and a traceback instead of a 400;
* ``NaN``, ``Infinity`` and ``-Infinity`` (and ``1e999``, which Python reads as infinity),
  which Python accepts but JSON does not: stored,
  they are later sent back as invalid JSON;
* unpaired UTF-16 surrogates (``"\\ud800"``), which Python keeps in ``str`` but no UTF-8
  encoder accepts: a database write, a WebSocket send or a webhook fails far from here;
* bytes that are not UTF-8.

:func:`loads` refuses all four with a :class:`JsonError` carrying a stable ``code`` and a
message fit to show (it never echoes the input). :func:`well_formed` repairs text that may
hold lone surrogates (each becomes U+FFFD) for places that must pass text on rather than
refuse it. Pure, stdlib only: the API, the snippet and ``sync/`` all use it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

MAX_DEPTH = 32  # nesting of an API or control message: real ones have 3 or 4 levels
# Levels of Python stack kept free when parsing, so that anything that parsed can also be
# encoded again further down the call stack (json's C code counts nesting against the
# interpreter's recursion limit, shared with the Python frames below the call).
HEADROOM = 64


class JsonError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _no_constant(name: str):
    raise JsonError("invalid_json", f"{name} is not a JSON number.")


def _finite(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise JsonError("invalid_json", "A number in the JSON is too large to represent.")
    return value


def _nest(n: int, fn):
    return _nest(n - 1, fn) if n > 0 else fn()


# One decoder for every call (json.loads with hooks builds a decoder and its scanner each time).
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)
SHORT = 4096  # characters: a text this short has its brackets counted (C speed) instead of the stack padded


def _depth() -> int:
    """Python frames on the stack now (what counts against the recursion limit besides C recursion)."""
    n, frame = 0, sys._getframe(1)
    while frame is not None:
        n += 1
        frame = frame.f_back
    return n


def _shallow(data: str) -> bool:
    """Whether ``data`` cannot nest deep enough to come near the recursion limit with :data:`HEADROOM`
    levels to spare (its nesting is at most its count of brackets): then it is parsed without first
    padding the stack with HEADROOM frames, which a small message (the DOM stream's one-event frames)
    paid again at every message."""
    if len(data) > SHORT:
        return False
    brackets = data.count("[") + data.count("{")
    return brackets + HEADROOM + _depth() + 8 < sys.getrecursionlimit()


def _too_deep(obj: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` levels (iterative: no recursion of its own)."""
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))
    return False


def _has_lone_surrogate(obj: Any) -> bool:
    stack = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if not _encodable(value):
                return True
        elif isinstance(value, dict):
            for k, v in value.items():
                if not _encodable(k):
                    return True
                stack.append(v)
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def loads(data: bytes | str, *, max_depth: int | None = MAX_DEPTH, check_strings: bool = True) -> Any:
    """Parse ``data`` or raise :class:`JsonError` (``invalid_json`` or ``too_deep``).

    ``max_depth=None`` skips the depth walk (the DOM stream: megabytes, legitimately deep);
    input nested past what the interpreter can parse with :data:`HEADROOM` levels to spare
    is still refused as ``too_deep``. ``check_strings=False`` skips the surrogate walk
    (the caller repairs text on the way out instead, see :func:`well_formed`).
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise JsonError("invalid_json", "The body is not UTF-8 text.") from None
    try:
        obj = _DECODER.decode(data) if _shallow(data) else _nest(HEADROOM, lambda: _DECODER.decode(data))
    except JsonError:
        raise
    except RecursionError:
        raise JsonError("too_deep", "The JSON is nested too deeply.") from None
    except ValueError as exc:  # JSONDecodeError; its message names only a position, never the input
        raise JsonError("invalid_json", f"The body is not valid JSON: {exc}") from None
    if max_depth is not None and _too_deep(obj, max_depth):
        raise JsonError("too_deep", f"The JSON is nested more than {max_depth} levels deep.")
    if check_strings and _has_lone_surrogate(obj):
        raise JsonError("invalid_json", "The JSON holds an unpaired UTF-16 surrogate (\\ud800-\\udfff).")
    return obj


def well_formed(text: str) -> str:
    """``text`` with every unpaired surrogate replaced by U+FFFD (unchanged, and cheap, when there is none)."""
    if _encodable(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def repair(obj: Any) -> Any:
    """``obj`` (parsed JSON, changed in place) with every string and key made well-formed (:func:`well_formed`)."""
    if isinstance(obj, str):
        return well_formed(obj)
    stack = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for k in [k for k in value if not _encodable(k)]:
                value[well_formed(k)] = value.pop(k)
            for k, v in value.items():
                if isinstance(v, str):
                    if not _encodable(v):
                        value[k] = well_formed(v)
                elif isinstance(v, (dict, list)):
                    stack.append(v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, str):
                    if not _encodable(v):
                        value[i] = well_formed(v)
                elif isinstance(v, (dict, list)):
                    stack.append(v)
    return obj

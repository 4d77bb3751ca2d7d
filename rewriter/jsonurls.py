"""URLs inside JSON documents (import maps, speculation rules, web app manifests), edited in place.

A small JSON scanner (RFC 8259) walks the text once and reports every string token with its path
from the root (object keys and array indices) and whether it is a key. A policy -- a tuple of path
patterns, ``"*"`` matching any key or index -- says which strings are URLs; each of those is decoded,
handed to the URL mapper, and only the part the mapper changed is replaced (escaped for JSON).
Every other byte -- whitespace, key order, number spelling, escapes -- stays as it was. Text that is
not valid JSON is returned unchanged (the browser would reject it too).
"""

from __future__ import annotations

import json
import re
from typing import Iterable

from .js import decode_js_string
from .urls import IdentityRewriter, UrlRewriter

# Nesting beyond this is refused (returned unchanged): the scanner keeps one path entry per level,
# and no import map or manifest comes near it.
MAX_DEPTH = 512

Path = tuple
Pattern = tuple  # like a Path, with "*" for any key or index

_WS_RE = re.compile(r"[ \t\n\r]*")
_STRING_RE = re.compile(r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"')
_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_LITERALS = ("true", "false", "null")


class _Invalid(Exception):
    pass


def scan_strings(text: str) -> list[tuple[Path, bool, int, int]] | None:
    """Every string token: (path, is_key, start, end) with the quotes inside [start, end).

    A key's path is the path of its object. None if ``text`` is not one JSON value.
    """
    out: list[tuple[Path, bool, int, int]] = []
    try:
        end = _value(text, _WS_RE.match(text, 0).end(), (), out)
    except (_Invalid, IndexError, RecursionError):
        return None
    if _WS_RE.match(text, end).end() != len(text):
        return None
    return out


def _value(text: str, i: int, path: Path, out: list) -> int:
    if len(path) > MAX_DEPTH:
        raise _Invalid
    c = text[i]
    if c == '"':
        m = _STRING_RE.match(text, i)
        if m is None:
            raise _Invalid
        out.append((path, False, i, m.end()))
        return m.end()
    if c == "{":
        i = _WS_RE.match(text, i + 1).end()
        if text[i] == "}":
            return i + 1
        while True:
            m = _STRING_RE.match(text, i)
            if m is None:
                raise _Invalid
            out.append((path, True, i, m.end()))
            key = json.loads(m.group())
            i = _WS_RE.match(text, m.end()).end()
            if text[i] != ":":
                raise _Invalid
            i = _value(text, _WS_RE.match(text, i + 1).end(), path + (key,), out)
            i = _WS_RE.match(text, i).end()
            if text[i] == "}":
                return i + 1
            if text[i] != ",":
                raise _Invalid
            i = _WS_RE.match(text, i + 1).end()
    if c == "[":
        i = _WS_RE.match(text, i + 1).end()
        if text[i] == "]":
            return i + 1
        k = 0
        while True:
            i = _value(text, i, path + (k,), out)
            k += 1
            i = _WS_RE.match(text, i).end()
            if text[i] == "]":
                return i + 1
            if text[i] != ",":
                raise _Invalid
            i = _WS_RE.match(text, i + 1).end()
    m = _NUMBER_RE.match(text, i)
    if m:
        return m.end()
    for lit in _LITERALS:
        if text.startswith(lit, i):
            return i + len(lit)
    raise _Invalid


def matches(path: Path, pattern: Pattern) -> bool:
    return len(path) == len(pattern) and all(p == "*" or p == q for p, q in zip(pattern, path))


def _escape(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def string_edit(raw: str, urls: UrlRewriter) -> tuple[int, int, str] | None:
    """The edit of a string token (quotes included) that maps its URL, in token coordinates.

    Only the middle that changed is replaced; the raw text of the common prefix and suffix keeps
    its escapes (JSON's escapes are a subset of JavaScript's, so the JS decoder maps positions).
    """
    body = raw[1:-1]
    if "\\" in body:
        value, starts = decode_js_string(body)
    else:
        value, starts = body, None
    new = urls.rewrite(value)
    if new == value:
        return None
    lim = min(len(value), len(new))
    s = 0
    while s < lim and value[-1 - s] == new[-1 - s]:
        s += 1
    p = 0
    while p < lim - s and value[p] == new[p]:
        p += 1
    middle = _escape(new[p: len(new) - s])
    if starts is None:
        return 1 + p, 1 + len(value) - s, middle
    a, b = starts[p], starts[len(value) - s]
    if json.loads('"' + body[:a] + middle + body[b:] + '"') != new:  # an escape merged at the edge
        return 1, len(raw) - 1, _escape(new)
    return 1 + a, 1 + b, middle


def rewrite_json_urls(
    text: str,
    urls: UrlRewriter,
    values: Iterable[Pattern] = (),
    keys: Iterable[Pattern] = (),
    renames: dict[Pattern, str] | None = None,
) -> str:
    """Map the URLs at the string values matching ``values`` and the keys of objects matching ``keys``.

    ``renames`` maps the path of an object key (its object's path plus the key) to a new key name:
    how a member that would break rewritten content is neutralised without removing bytes around it.
    Returns ``text`` itself when nothing changes or the text is not JSON.
    """
    tokens = scan_strings(text)
    if not tokens:
        return text
    values, keys = tuple(values), tuple(keys)
    renames = {} if isinstance(urls, IdentityRewriter) else (renames or {})  # identity: byte for byte
    edits: list[tuple[int, int, str]] = []
    for path, is_key, a, b in tokens:
        if is_key:
            if renames:
                name = json.loads(text[a:b])
                new_name = next((v for pat, v in renames.items() if matches(path + (name,), pat)), None)
                if new_name is not None:
                    edits.append((a + 1, b - 1, _escape(new_name)))
                    continue
            wanted = any(matches(path, pat) for pat in keys)
        else:
            wanted = any(matches(path, pat) for pat in values)
        if not wanted:
            continue
        e = string_edit(text[a:b], urls)
        if e is not None:
            edits.append((a + e[0], a + e[1], e[2]))
    if not edits:
        return text
    out = []
    at = 0
    for s, e, t in sorted(edits):
        out.append(text[at:s])
        out.append(t)
        at = e
    out.append(text[at:])
    return "".join(out)


# --- policies ------------------------------------------------------------------------------------

# Import maps: specifier -> URL in "imports" and each scope; scope prefixes and URL-like specifier
# keys are URLs too (a rewritten `import "https://a/x.js"` must still find its entry). "integrity"
# hashes would not match rewritten modules: the member is renamed, so browsers ignore it.
IMPORTMAP_VALUES = (("imports", "*"), ("scopes", "*", "*"))
IMPORTMAP_KEYS = (("imports",), ("scopes",), ("scopes", "*"), ("integrity",))
IMPORTMAP_RENAMES = {("integrity",): "x-tandem-removed-integrity"}

# Speculation rules: list rules name URLs to prefetch or prerender.
SPECULATION_VALUES = (("prefetch", "*", "urls", "*"), ("prerender", "*", "urls", "*"))


def rewrite_importmap(text: str, urls: UrlRewriter) -> str:
    return rewrite_json_urls(text, urls, IMPORTMAP_VALUES, IMPORTMAP_KEYS, IMPORTMAP_RENAMES)


def rewrite_speculation_rules(text: str, urls: UrlRewriter) -> str:
    return rewrite_json_urls(text, urls, SPECULATION_VALUES)

"""Character references in attribute values, as the WHATWG tokenizer reads them.

:func:`decode_attr_value` gives the value a browser sees and, when asked, where each decoded
character starts in the raw text, so an edit made on the value can be spliced back into the raw
bytes with every untouched reference kept as written (values.py).
"""

from __future__ import annotations

import bisect
import operator
import re
from typing import Callable
from html.entities import html5 as _HTML5

_MAX_ENTITY = max(len(k) for k in _HTML5)
# Numeric references to C1 controls mean the windows-1252 character (WHATWG table).
_C1 = {
    0x80: "\u20ac", 0x82: "\u201a", 0x83: "\u0192", 0x84: "\u201e", 0x85: "\u2026", 0x86: "\u2020",
    0x87: "\u2021", 0x88: "\u02c6", 0x89: "\u2030", 0x8A: "\u0160", 0x8B: "\u2039", 0x8C: "\u0152",
    0x8E: "\u017d", 0x91: "\u2018", 0x92: "\u2019", 0x93: "\u201c", 0x94: "\u201d", 0x95: "\u2022",
    0x96: "\u2013", 0x97: "\u2014", 0x98: "\u02dc", 0x99: "\u2122", 0x9A: "\u0161", 0x9B: "\u203a",
    0x9C: "\u0153", 0x9E: "\u017e", 0x9F: "\u0178",
}


def _codepoint(digits: str, base: int) -> str:
    digits = digits.lstrip("0")
    if len(digits) > 8:  # certainly past U+10FFFF; also keeps int() away from huge strings
        return "\ufffd"
    n = int(digits, base) if digits else 0
    if n == 0 or n > 0x10FFFF or 0xD800 <= n <= 0xDFFF:
        return "\ufffd"
    if 0x80 <= n <= 0x9F:
        return _C1.get(n, chr(n))
    return chr(n)


_REF_SUB_RE = re.compile("&(?:#[xX]([0-9a-fA-F]+);?|#([0-9]+);?|([A-Za-z0-9]+;?))")


def _ref_parts(m: re.Match[str]) -> tuple[str | None, int]:
    """(what the reference at ``m`` reads as, how many characters of the match it uses), or
    (None, 0) when the match is literal text (the rules of decode_attr_value)."""
    if m.group(1) is not None:
        return _codepoint(m.group(1), 16), len(m.group(0))
    if m.group(2) is not None:
        return _codepoint(m.group(2), 10), len(m.group(0))
    run = m.group(3)
    if run[-1] == ";":  # the usual "&quot;": the whole run is the name
        text = _HTML5.get(run)
        if text is not None:
            return text, len(run) + 1
    for length in range(min(len(run), _MAX_ENTITY), 0, -1):
        name = run[:length]
        if name in _HTML5:
            nxt = run[length: length + 1] or m.string[m.end(): m.end() + 1]
            # a legacy reference without ";" is literal when followed by "=" or an alphanumeric
            if name[-1] != ";" and nxt and (nxt == "=" or (nxt.isascii() and nxt.isalnum())):
                return None, 0
            return _HTML5[name], length + 1
    return None, 0


def decode_refs_python(raw: str, want_refs: bool = False) -> tuple[str, "list[tuple[int, int, int, int]] | None"]:
    """The value of ``raw`` with every reference decoded (NUL as U+FFFD) and, when asked, each
    decoded reference as (decoded start, decoded length, raw start, raw length). The reference
    implementation of ``_core.decode_refs`` (same results, tests compare them)."""
    out: list[str] = []
    refs: list[tuple[int, int, int, int]] | None = [] if want_refs else None
    d = prev = 0
    for m in _REF_SUB_RE.finditer(raw):
        text, used = _ref_parts(m)
        if text is None:
            continue
        out.append(raw[prev: m.start()])
        d += m.start() - prev
        if refs is not None:
            refs.append((d, len(text), m.start(), used))
        out.append(text)
        d += len(text)
        prev = m.start() + used
    out.append(raw[prev:])
    value = "".join(out)
    return (value.replace("\0", "\ufffd") if "\0" in value else value), refs


# The decoder in use: the compiled one of rewriter.html._core (core.use switches it) or the reference.
decode_refs: Callable[[str, bool], "tuple[str, list[tuple[int, int, int, int]] | None]"] = decode_refs_python


_decoded_start = operator.itemgetter(0)
# A long value is decoded in pieces of about this many characters, each starting at an "&": a
# reference never spans one (it is "&" and what follows up to the next non-alphanumeric, and a
# legacy reference's next character, when it is the next piece's "&" or nothing, reads alike), so
# the value is the pieces' values joined, and Positions reads the references of a piece only when
# asked for a position in it (an iframe srcdoc of 150 KB holds thousands of "&quot;").
_PIECE = 8192


class Positions:
    """``pos[k]`` of decode_attr_value for a few ``k``, from the references alone: no list with one
    entry per character (values can be megabytes: an iframe srcdoc), and only those of the pieces
    (:func:`decode_value`) the positions asked for fall in."""

    __slots__ = ("_raw", "_rstarts", "_dstarts", "_refs")

    def __init__(
        self, raw: str, refs: "list[tuple[int, int, int, int]] | None" = None,
        pieces: "tuple[list[int], list[int]] | None" = None,
    ) -> None:
        self._raw = raw
        # raw and decoded start of each piece; per piece (decoded start, decoded length, raw start,
        # raw length) of each reference, piece-relative, read on first use
        self._rstarts, self._dstarts = pieces if pieces is not None else ([0], [0])
        self._refs: list = [refs] + [None] * (len(self._rstarts) - 1)

    def __getitem__(self, k: int) -> int:
        p = bisect.bisect_right(self._dstarts, k) - 1
        r0 = self._rstarts[p]
        refs = self._refs[p]
        if refs is None:
            end = self._rstarts[p + 1] if p + 1 < len(self._rstarts) else len(self._raw)
            refs = self._refs[p] = decode_refs(self._raw[r0:end], True)[1]
        k -= self._dstarts[p]
        i = bisect.bisect_right(refs, k, key=_decoded_start) - 1
        if i < 0:
            return r0 + k
        ds, dl, rs, rl = refs[i]
        if k < ds + dl:
            return r0 + rs if k == ds else -1
        return r0 + rs + rl + (k - ds - dl)


# Whole references that read as one ASCII character, the ones a long value (HTML in a srcdoc)
# is mostly made of; "&amp;" last: replacing the others makes no "&", so none is made.
_SIMPLE_REFS = (("&quot;", '"'), ("&#34;", '"'), ("&#39;", "'"), ("&apos;", "'"), ("&lt;", "<"), ("&gt;", ">"),
                ("&amp;", "&"))


def _only_simple_refs(raw: str) -> bool:
    """Does every "&" of ``raw`` start one of :data:`_SIMPLE_REFS` (and is there no NUL)? Then
    replacing them reads ``raw`` as decode_refs does, at the speed of str.replace. (Each holds one
    "&", at its start: no two overlap, so the counts add up only when each "&" starts one.)"""
    left = raw.count("&")
    for ref, _ in _SIMPLE_REFS:
        left -= raw.count(ref)
        if not left:
            return "\0" not in raw
    return False


def decode_value(raw: str) -> tuple[str, Positions | None]:
    """``decode_attr_value(raw, False)[0]`` and, when that differs from ``raw``, its positions
    (:class:`Positions`, read lazily); a long value is decoded piece by piece (:data:`_PIECE`)."""
    if "&" not in raw:
        if "\0" in raw:
            return raw.replace("\0", "\ufffd"), Positions(raw, [])
        return raw, None
    n = len(raw)
    if n <= _PIECE:
        value = decode_refs(raw, False)[0]
        return value, (None if value == raw else Positions(raw))
    rstarts: list[int] = []
    dstarts: list[int] = []
    parts: list[str] = []
    # str.replace beats the reference decoder on such a value; the compiled one beats both
    simple = decode_refs is decode_refs_python and _only_simple_refs(raw)
    at = d = 0
    while at < n:
        cut = raw.find("&", at + _PIECE) if at + _PIECE < n else -1
        end = n if cut < 0 else cut
        if simple:
            part = raw[at:end]
            for ref, char in _SIMPLE_REFS:
                part = part.replace(ref, char)
        else:
            part = decode_refs(raw[at:end], False)[0]
        rstarts.append(at)
        dstarts.append(d)
        parts.append(part)
        d += len(part)
        at = end
    value = "".join(parts)
    return value, (None if value == raw else Positions(raw, None, (rstarts, dstarts)))


def decode_attr_value(raw: str, want_pos: bool = True) -> tuple[str, list[int] | None]:
    """Decode character references as in an attribute value; NUL becomes U+FFFD.

    Returns the value and a position map: ``pos[k]`` is the raw offset where decoded
    character ``k`` starts, ``-1`` inside a reference that decoded to two characters,
    and ``pos[len(value)] == len(raw)``. The map is None when no reference was
    decoded (then offsets are the same in both), and when ``want_pos`` is false.
    """
    if "&" not in raw:
        return (raw.replace("\0", "\ufffd") if "\0" in raw else raw), None
    value, refs = decode_refs(raw, want_pos)
    if not refs:
        return value, None
    pos: list[int] = []
    at = 0  # raw offset of the next literal character
    for ds, dl, rs, rl in refs:
        pos.extend(range(at, rs))
        pos.append(rs)
        pos.extend([-1] * (dl - 1))
        at = rs + rl
    pos.extend(range(at, len(raw) + 1))
    return value, pos


def escape(text: str, quote: str) -> str:
    text = text.replace("&", "&amp;")
    if quote == '"':
        return text.replace('"', "&quot;")
    if quote == "'":
        return text.replace("'", "&#39;")
    return text



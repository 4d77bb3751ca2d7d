"""Attribute value helpers: the grammars inside values (srcset, refresh, javascript: URLs) and the
splice that writes edits made on a decoded value back into its raw text.

An *edit* is ``(start, end, replacement)``; every helper here is pure and works on text.
"""

from __future__ import annotations

import difflib
import re

from . import limits
from .entities import Positions, decode_attr_value, escape

_WS = "\t\n\f\r "
_PERCENT_RE = re.compile("%([0-7][0-9a-fA-F])")
# Characters that would end or re-open an unquoted value if we inserted them.
_UNQUOTED_ENDS = re.compile("[\\t\\n\\f\\r >]")
Edit = tuple[int, int, str]  # (start, end, replacement) in some coordinate space


def splice(raw: str, value: str, pos: "list[int] | Positions | None", edits: list[Edit], quote: str,
           *, check_all: bool = False) -> str | None:
    """Apply ``edits`` made on the decoded ``value`` to the ``raw`` value text.

    ``quote`` is the value's quote character ("" if unquoted). Only the edited spans
    change; inserted text is escaped for the quoting. Returns the new value text
    *with* its quotes (an unquoted value that now needs quotes gets double quotes),
    or None if nothing changes.

    The new raw text must read as the new value: an insertion next to the text of a reference
    could make another one (:func:`_edits_closed` tells where it cannot; else the whole new text
    is decoded, always with ``check_all``).
    """
    parts: list[str] = []
    new_value: list[str] = []
    r_at = d_at = 0
    n_at = 0  # length of the new raw text so far
    starts: list[int] = []  # where each inserted text starts in the new raw text
    needs_quotes = False
    nul = False
    for a, b, text in sorted(edits):
        if a < d_at:  # overlapping edits: keep the first
            continue
        if pos is None:
            ra, rb = a, b
        else:  # an edit boundary inside a two-character reference takes the whole reference
            a0, b0 = a, b
            while pos[a] < 0:
                a -= 1
            while pos[b] < 0:
                b += 1
            text = value[a:a0] + text + value[b0:b]
            ra, rb = pos[a], pos[b]
        new_value.append(value[d_at:a])
        new_value.append(text)
        parts.append(raw[r_at:ra])
        esc = escape(text, quote)
        parts.append(esc)
        n_at += ra - r_at
        starts.append(n_at)
        n_at += len(esc)
        if not quote and _UNQUOTED_ENDS.search(text):
            needs_quotes = True
        if "\0" in text:
            nul = True
        r_at, d_at = rb, b
    parts.append(raw[r_at:])
    new_value.append(value[d_at:])
    new_raw = "".join(parts)
    new_val = "".join(new_value)
    if new_val == value:
        return None
    if not quote and (needs_quotes or not new_raw or new_raw[0] in "\"'"):
        needs_quotes = True
    elif "&" in new_raw and (check_all or nul or not _edits_closed(new_raw, starts)):
        if decode_attr_value(new_raw, False)[0] != new_val:  # an insertion formed a reference
            needs_quotes = True
    if needs_quotes:  # give up on keeping bytes: escape the whole new value
        q = quote or '"'
        return q + escape(new_val, q) + q
    return quote + new_raw + quote


# A character no reference's text holds before its end: a reference is "&" and then only
# letters, digits and "#" (a final ";" ends it).
_REF_ENDED_RE = re.compile("[^A-Za-z0-9#]")


def _edits_closed(new_raw: str, starts: list[int]) -> bool:
    """True when the new raw text surely reads as the new value: no text before an inserted one
    (at each of ``starts``) can be part of a reference that reads on into it.

    References are local: one starts at an "&" and holds no other, and nothing after it but its
    own characters (and, for a legacy one, the next: "=", a letter or a digit) decides how it
    reads. The raw text between edits reads as it did (edits start and end where decoded
    characters do), inserted text reads as itself (escape: its "&" are "&amp;"), and after an
    inserted text the raw reads as before (a reference started in it is a whole "&amp;"). So only
    the last "&" before an insertion matters, and only when nothing between them ends its reference.
    """
    lo = 0
    for na in starts:
        j = new_raw.rfind("&", lo, na)
        if j >= 0 and not _REF_ENDED_RE.search(new_raw, j + 1, na):
            return False
        lo = na  # no "&" from here to the next insertion: what held here holds there
    return True


def common_prefix(a: str, b: str) -> int:
    """Length of the common prefix, by bisection on slices (C speed, log steps)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def tight_log(log: list[Edit], data: bytes) -> list[Edit]:
    """A rewriter's edit log of the UTF-8 bytes ``data`` (texts as latin-1 strings of bytes) with
    adjacent edits made one and each cut to what it changes, on character boundaries: a held
    script or style written back as it was (a delete, then the same text inserted) is no edit."""
    joined: list[Edit] = []
    for a, b, text in log:
        if joined and joined[-1][1] == a:
            pa, _, pt = joined.pop()
            a, text = pa, pt + text
        joined.append((a, b, text))
    out: list[Edit] = []
    for a, b, text in joined:
        for ea, eb, _ in diff(data[a:b].decode("latin-1"), text, a):  # none when written back as it was
            # a UTF-8 continuation byte at either end: widen to the whole character
            while ea > a and ea < len(data) and 0x80 <= data[ea] < 0xC0:
                ea -= 1
            while eb < b and eb < len(data) and 0x80 <= data[eb] < 0xC0:
                eb += 1
            out.append((ea, eb, text[ea - a: len(text) - (b - eb)]))
    return out


def diff(old: str, new: str, offset: int = 0) -> list[Edit]:
    """The single edit turning ``old`` into ``new``: common prefix and suffix are kept."""
    if old == new:
        return []
    p = common_prefix(old, new)
    s = common_prefix(old[p:][::-1], new[p:][::-1])
    return [(offset + p, offset + len(old) - s, new[p: len(new) - s])]


def diff_url(old: str, new: str, offset: int = 0) -> list[Edit]:
    """Like :func:`_diff` for a URL and its rewritten form.

    ``UrlRewriter.rewrite`` drops tab, CR and LF from the part it keeps (the URL
    parser ignores them); matching from the end skips them in ``old`` so they stay
    in the output and only the origin span changes.
    """
    if old == new:
        return []
    if "\t" not in old and "\n" not in old and "\r" not in old:
        return diff(old, new, offset)
    p = common_prefix(old, new)
    i, j = len(old), len(new)
    while i > p and j > p:
        if old[i - 1] == new[j - 1]:
            i -= 1
            j -= 1
        elif old[i - 1] in "\t\n\r":
            i -= 1
        else:
            break
    return [(offset + p, offset + i, new[p:j])]


# Tokens for diff_many: runs between CSS/JS punctuation and whitespace, and each such character.
# A rewritten URL stays one token (none of these characters is in a URL's origin or in the
# proxy's origin that replaces it), so a rewrite that only maps URLs keeps the token count.
_DIFF_TOKEN_RE = re.compile("[^\\t\\n\\f\\r \"'(),;{}]+|[\\t\\n\\f\\r \"'(),;{}]")


def diff_many(old: str, new: str) -> list[Edit]:
    """Edits turning ``old`` into ``new`` that keep every unchanged run (for CSS and scripts).

    Both texts are cut into tokens (:data:`_DIFF_TOKEN_RE`). When the counts agree -- the CSS
    rewriter only replaced URLs -- token k of ``old`` pairs with token k of ``new`` (linear), and
    each pair that differs gives one edit of its changed middle (:func:`diff`). Otherwise (a script
    rewrite that inserted tokens) the token sequences are matched (difflib, on tokens, not
    characters) and each changed run of tokens gives one edit of its changed middle.
    """
    if old == new:
        return []
    if len(old) > limits.MAX_STYLE_ATTR_DIFF or len(new) > limits.MAX_STYLE_ATTR_DIFF:
        return diff(old, new)
    a = _DIFF_TOKEN_RE.findall(old)
    b = _DIFF_TOKEN_RE.findall(new)
    edits: list[Edit] = []
    if len(a) == len(b):
        x = 0
        for ta, tb in zip(a, b):
            if ta != tb:
                edits.extend(diff(ta, tb, x))
            x += len(ta)
        return edits
    a_at = [0]
    for t in a:
        a_at.append(a_at[-1] + len(t))
    b_at = [0]
    for t in b:
        b_at.append(b_at[-1] + len(t))
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op != "equal":
            edits.extend(diff(old[a_at[i1]: a_at[i2]], new[b_at[j1]: b_at[j2]], a_at[i1]))
    return edits


# --- value grammars ------------------------------------------------------------


def srcset_url_spans(value: str) -> list[tuple[int, int]]:
    """Spans of the URLs in a srcset value (WHATWG "parse a srcset attribute")."""
    spans = []
    n = len(value)
    i = 0
    while True:
        while i < n and (value[i] in _WS or value[i] == ","):
            i += 1
        if i >= n:
            return spans
        start = i
        while i < n and value[i] not in _WS:
            i += 1
        end = i
        if value[end - 1] == ",":
            while value[end - 1] == ",":
                end -= 1
            spans.append((start, end))
            continue
        spans.append((start, end))
        in_parens = False
        while i < n:  # descriptors run to the next comma outside parentheses
            c = value[i]
            i += 1
            if in_parens:
                in_parens = c != ")"
            elif c == "(":
                in_parens = True
            elif c == ",":
                break


def refresh_url_span(value: str) -> tuple[int, int] | None:
    """Span of the URL in a <meta http-equiv=refresh> content value (WHATWG declarative refresh)."""
    n = len(value)
    i = 0
    while i < n and value[i] in _WS:
        i += 1
    start = i
    while i < n and value[i] in "0123456789":
        i += 1
    if i == start and (i >= n or value[i] != "."):
        return None
    while i < n and (value[i] in "0123456789."):
        i += 1
    if i < n:
        if value[i] not in ";," and value[i] not in _WS:
            return None
        while i < n and value[i] in _WS:
            i += 1
        if i < n and value[i] in ";,":
            i += 1
        while i < n and value[i] in _WS:
            i += 1
    if i >= n:
        return None
    url_start = i
    if value[i: i + 3].lower() == "url":
        j = i + 3
        while j < n and value[j] in _WS:
            j += 1
        if j >= n or value[j] != "=":
            return url_start, n
        j += 1
        while j < n and value[j] in _WS:
            j += 1
        i = j
    if i < n and value[i] in "\"'":
        end = value.find(value[i], i + 1)
        return i + 1, (n if end < 0 else end)
    return i, n




def javascript_url_body(value: str) -> int | None:
    """Where the script of a ``javascript:`` URL starts in ``value``, or None if it is not one.

    As the URL parser reads a scheme: leading C0 controls and spaces skipped, tab and newline
    ignored anywhere, letters in any case.
    """
    c = value[:1]
    if c > " " and c != "j" and c != "J":  # the usual URL: only "J" lower-cases to "j"
        return None
    i, n = 0, len(value)
    while i < n and value[i] <= " ":
        i += 1
    for want in "javascript:":
        while i < n and value[i] in "\t\n\r":
            i += 1
        if i >= n or value[i].lower() != want:
            return None
        i += 1
    return i


def percent_decode_ascii(raw: str) -> tuple[str, list[int]]:
    """``raw`` with %XX escapes of ASCII characters decoded, and where each character starts.

    The browser percent-decodes a javascript: URL into bytes before running it; escapes of
    non-ASCII bytes are kept as they are here, which cannot change where a string literal starts.
    """
    out: list[str] = []
    starts: list[int] = []
    prev = 0
    for m in _PERCENT_RE.finditer(raw):
        out.append(raw[prev: m.start()])
        starts.extend(range(prev, m.start()))
        out.append(chr(int(m.group(1), 16)))
        starts.append(m.start())
        prev = m.end()
    out.append(raw[prev:])
    starts.extend(range(prev, len(raw) + 1))
    return "".join(out), starts


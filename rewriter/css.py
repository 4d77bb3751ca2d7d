"""CSS rewriter: maps every URL in a stylesheet or a ``style`` attribute through the URL mapper.

Theory of operation
-------------------
The scanner follows the tokenizer of CSS Syntax Level 3 exactly as far as it must to know where
the URLs are, and no further: it builds no tokens. A compiled regex jumps from one spot that can
matter to the next -- a comment start, a quote, a backslash, ``@import`` / ``@namespace``,
``url(`` / ``src(`` / ``image-set(`` -- and everything in between is copied unchanged. At each
spot one small routine consumes one construct the way the tokenizer would:

* comments ``/* ... */`` are skipped (to the end when unterminated);
* strings honour escapes and line continuations; an unescaped newline makes a bad-string, whose
  content is never a URL;
* ``url(`` followed (after whitespace) by a quote is a function and its string is the URL;
  otherwise it is a url token: whitespace trimmed, escapes decoded, and a quote, ``(``, a control
  character or whitespace inside makes it a bad-url, which is skipped to its ``)`` untouched;
* the string after ``@import`` and the bare strings at the top level of ``image-set()`` /
  ``-webkit-image-set()`` are URLs (not those inside a nested ``type("...")`` or block, so
  nesting is tracked while inside one); a string anywhere else is not. ``@namespace`` URLs name a
  namespace and are never fetched, so they are skipped;
* a backslash outside a string starts (or continues) an identifier with escapes; it is decoded so
  that ``u\\72l(`` is still ``url(`` and ``\\41 url(`` is not.

Each URL is decoded (CSS escapes, and in byte mode the stylesheet's charset) and handed to
:meth:`UrlRewriter.rewrite`. The mapper changes only the scheme and authority, so only the part
of the raw span that decodes to what changed is replaced, escaped for its quoting; the raw text
of the common prefix and suffix (path, query, fragment) keeps its original bytes, escapes
included. Nothing outside URL spans changes.

Bytes are handled without loss: ASCII-compatible charsets are scanned as latin-1 (one byte, one
character; CSS syntax is ASCII) and encoded back the same way; a URL value with non-ASCII bytes is
decoded with the real charset before mapping. Charsets whose multi-byte characters can contain
ASCII bytes (Shift_JIS, GBK, Big5, ISO-2022-*) are decoded for real, and only when they
round-trip exactly. UTF-16/32 content passes through unchanged.

The rewriter never raises: on anything unexpected it returns its input unchanged and counts it in
the caller's :class:`CssStats`, if the caller passes one (``stats=``). The scan (where a text's
URLs are, and how each is quoted) asks no mapper, so it is remembered by content: the only
process-wide state is that bounded memo (a digest of each text and its URL offsets, no text;
see ``SCAN_ENTRIES``). Mapping, and so every output, is done afresh by each call's own mapper.
"""

from __future__ import annotations

import codecs
import re
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass

from .digest import digest_text
from .errors import RewriteBudgetExceeded, RewriteError
from .urls import UrlRewriter

# Only the first 1024 bytes may hold the @charset rule (CSS Syntax 3, "determine the fallback
# encoding"); anything later is not a charset declaration.
CHARSET_SCAN_BYTES = 1024
# URLs per stylesheet (or style attribute). Each costs a mapper call and a splice; a hostile page can
# put 300,000 url() in one 10 MB style attribute (10 s of CPU). Real stylesheets have a few dozen (the
# corpus' most: 25 in bootstrap.css); past this the document is refused (RewriteBudgetExceeded).
MAX_URLS = 10_000

# Charsets whose multi-byte characters use bytes in the ASCII range (e.g. a Shift_JIS trail byte
# 0x5C reads as a backslash): scanning them as latin-1 could misread the syntax, so they are
# decoded with the real codec (if the bytes round-trip exactly). Python codec names.
ASCII_TRAIL_CODECS = frozenset({
    "shift_jis", "cp932", "shift_jis_2004", "shift_jisx0213",
    "gbk", "gb18030", "hz",
    "big5", "big5hkscs", "cp950",
    "johab",
    "iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_2004", "iso2022_jp_3",
    "iso2022_jp_ext", "iso2022_kr",
    "utf-7",
})

# Byte-order marks, longest first (UTF-32LE starts with the UTF-16LE mark).
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(slots=True)
class CssStats:
    """Counters of the caller (``stats=``): how often the rewriter passed content through unchanged, and why."""

    failed: int = 0  # an unexpected exception: the input was returned unchanged
    unscannable: int = 0  # a charset we cannot scan (UTF-16/32, non-round-tripping bytes)
    url_errors: int = 0  # the URL mapper raised for one URL: that URL was left as it was


_NAME = r"A-Za-z0-9_\-\x80-\U0010FFFF"  # CSS name code points (non-ASCII included)
_ESCAPE = r"\\(?:[0-9A-Fa-f]{1,6}(?:\r\n|[ \t\n\r\f])?|[^\n\r\f]|\Z)"  # a valid escape

_FUNCTIONS = ("-webkit-image-set", "image-set", "url", "src")  # longest first
_IMAGE_SETS = ("image-set", "-webkit-image-set")


def _ci(word: str) -> str:
    """A regex for ``word``, ASCII case-insensitive (without re.I, which would cost speed)."""
    return "".join("[%s%s]" % (c.lower(), c.upper()) if c.isalpha() else re.escape(c) for c in word)


# The spots worth stopping at outside strings and comments. Every alternative starts with one
# literal character, so the regex engine can skip ahead at C speed. A function is found at its
# "(": it must follow one of our names, which must start a token -- not follow a name code point
# (that would make it the tail of another identifier or a number's unit), "#" (hash) or "@".
# Function and at-rule names are ASCII case-insensitive.
_SPOT = r"/\*|\"|'|\\|@(?:%s|%s)(?![%s\\])|\((?:%s)" % (
    _ci("import"),
    _ci("namespace"),
    _NAME,
    "|".join(r"(?<=%s\()(?<![%s#@]%s\()" % (_ci(f), _NAME, _ci(f)) for f in _FUNCTIONS),
)
_MAIN_RE = re.compile(_SPOT)
_AT_NAMES = r"%s|%s" % (_ci("import"), _ci("namespace"))
_FUNCTION_AT = "|".join(r"(?<=%s\()(?<![%s#@]%s\()" % (_ci(f), _NAME, _ci(f)) for f in _FUNCTIONS)
_IN_SET_RE = re.compile(_SPOT + r"|\(|\)|\[|\]|\{|\}")  # inside image-set(): track nesting
_SET = "image-set"
_CLOSER = {"[": "]", "{": "}"}

_WS_RE = re.compile(r"[ \t\n\r\f]*")
_HEX_RE = re.compile(r"[0-9A-Fa-f]{1,6}(?:\r\n|[ \t\n\r\f])?")
# A string's body after its quote, in one match: plain runs and escapes (a hex escape eats one
# whitespace, even a newline; a backslash before a newline is a line continuation), up to the
# closing quote (group 1), an unescaped newline (bad-string) or the end. No backtracking: every
# stop has an alternative that ends the match.
_STRING_RE = {
    q: re.compile(
        r"(?:[^%s\\\n\r\f]+|\\(?:[0-9A-Fa-f]{1,6}(?:\r\n|[ \t\n\r\f])?|\r\n|[\s\S]|\Z))*(%s|)" % (q, q)
    )
    for q in "\"'"
}
# Outside image-set(), everything up to the next backslash, @import / @namespace or function of
# ours, in one match: plain runs, whole strings (as _STRING_RE reads them; outside image-set() and
# @import a string is never a URL), whole comments (to the end when unterminated), and the "/", "@"
# and "(" that start none of those. Each alternative starts with its own character, so no input
# can be read two ways, and the loop runs in C instead of once per string and comment.
_SKIP_RE = re.compile(
    r"(?:[^\"'/\\@(]++"
    + "".join(
        r"|%s(?:[^%s\\\n\r\f]++|\\(?:[0-9A-Fa-f]{1,6}(?:\r\n|[ \t\n\r\f])?|\r\n|[\s\S]|\Z))*+%s?" % (q, q, q)
        for q in "\"'"
    )
    + r"|/\*(?:[^*]*+\*++(?:[^/*][^*]*+\*++)*+/|[\s\S]*+)"
    + r"|/(?!\*)|@(?!(?:%s)(?![%s\\]))|\((?!%s))*+" % (_AT_NAMES, _NAME, _FUNCTION_AT)
)
_AT_RE = re.compile(r"@(%s)(?![%s\\])" % (_AT_NAMES, _NAME))
# Inside an unquoted url token: where the plain run of URL characters stops.
_URL_STOP_RE = re.compile(r"[)\"'(\\ \t\n\r\f\x01-\x08\x0b\x0e-\x1f\x7f]")
_BAD_URL_STOP_RE = re.compile(r"[)\\]")
_IDENT_RE = re.compile(r"(?:[%s]|%s)*" % (_NAME, _ESCAPE))
_IDENT_START_RE = re.compile(r"--|-?(?:[A-Za-z_\x80-\U0010FFFF]|\\(?![\n\r\f]))")
NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_DECODE_RE = re.compile(
    r"\\(?:([0-9A-Fa-f]{1,6})(?:\r\n|[ \t\n\r\f])?|(\r\n|[\n\r\f])|(.)|\Z)|(\r\n|[\r\f])|\x00", re.S
)
_CHARSET_RE = re.compile(rb'@charset "([^";]*)";')

_NEWLINES = "\n\r\f"
_NEWLINE_PREFIXES = tuple(_NEWLINES)
_WHITESPACE = " \t\n\r\f"
_MUST_ESCAPE_UNQUOTED = frozenset("\"'()\\")
# Characters that _escape must look at (non-ASCII too, for the charset), per quoting.
_NEEDS_ESCAPE = {
    None: re.compile(r"[\"'()\\\x00-\x20\x7f-\U0010ffff]"),
    '"': re.compile(r'["\\\n\r\f\x80-\U0010ffff]'),
    "'": re.compile(r"['\\\n\r\f\x80-\U0010ffff]"),
}


def _skip_comment(text: str, pos: int) -> int:
    """``pos`` is at ``/*``; the index after the comment."""
    end = text.find("*/", pos + 2)
    return len(text) if end < 0 else end + 2


def _skip_ws_comments(text: str, pos: int) -> int:
    while True:
        pos = _WS_RE.match(text, pos).end()
        if not text.startswith("/*", pos):
            return pos
        pos = _skip_comment(text, pos)


def _after_escape(text: str, pos: int) -> int:
    """``pos`` is at a backslash that starts a valid escape or line continuation; the index after it."""
    k = pos + 1
    if k >= len(text):
        return k
    c = text[k]
    if c == "\r":
        return k + 2 if text.startswith("\n", k + 1) else k + 1
    if c in "\n\f":
        return k + 1
    m = _HEX_RE.match(text, k)
    return m.end() if m else k + 1


def _scan_string(text: str, pos: int) -> tuple[int, int, bool]:
    """``pos`` is at a quote. Returns (content end, token end, good); bad-strings are not good."""
    m = _STRING_RE[text[pos]].match(text, pos + 1)
    end = m.end()
    if m.group(1):
        return end - 1, end, True
    if end < len(text):
        return end, end, False  # bad-string: an unescaped newline, which is not part of it
    return end, end, True  # EOF ends the string (a parse error, still a string)


def _skip_bad_url(text: str, pos: int) -> int:
    """Bad-url recovery: consume up to and including ``)``, stepping over valid escapes."""
    while True:
        m = _BAD_URL_STOP_RE.search(text, pos)
        if m is None:
            return len(text)
        j = m.start()
        if text[j] == ")":
            return j + 1
        nxt = text[j + 1: j + 2]
        pos = j + 1 if nxt and nxt in _NEWLINES else _after_escape(text, j)


def _scan_url_token(text: str, pos: int) -> tuple[int, int, int]:
    """``pos`` is after ``url(`` and its whitespace (no quote follows).

    Returns (value start, value end, token end); value end is -1 for a bad-url.
    """
    n = len(text)
    i = pos
    while True:
        m = _URL_STOP_RE.search(text, i)
        if m is None:
            return pos, n, n  # EOF ends the token
        j = m.start()
        c = text[j]
        if c == ")":
            return pos, j, j + 1
        if c in _WHITESPACE:
            k = _WS_RE.match(text, j).end()
            if k >= n:
                return pos, j, n
            if text[k] == ")":
                return pos, j, k + 1
        elif c == "\\" and not text.startswith(_NEWLINE_PREFIXES, j + 1):
            i = _after_escape(text, j)
            continue
        return pos, -1, _skip_bad_url(text, j)


def _hex_escape(c: str) -> str:
    return "\\%x " % ord(c)


def _decode(raw: str, in_string: bool, codec: str | None) -> tuple[str, list[int]]:
    """Unescape a URL's raw span. Returns the value and, per value character, where its raw
    segment starts, plus ``len(raw)`` at the end: ``raw[starts[j]:]`` decodes to ``value[j:]``.

    With ``codec``, ``raw`` is latin-1 text standing for bytes in that charset: plain runs are
    decoded with it (undecodable bytes become lone surrogates, as ``surrogateescape`` does).
    """
    out: list[str] = []
    starts: list[int] = []
    seg = 0  # where the next value character's raw segment starts

    def plain(a: int, b: int) -> None:
        nonlocal seg
        if a >= b:
            return
        run = raw[a:b]
        if codec is None or run.isascii():
            out.append(run)
            starts.append(seg)
            starts.extend(range(a + 1, b))
        else:
            pos = a
            for ch in run.encode("latin-1").decode(codec, "surrogateescape"):
                out.append(ch)
                starts.append(seg if pos == a else pos)
                pos += len(ch.encode(codec, "surrogateescape"))
        seg = b

    prev = 0
    for m in _DECODE_RE.finditer(raw):
        plain(prev, m.start())
        hexa, cont, char, newline = m.groups()
        if hexa is not None:
            cp = int(hexa, 16)
            ch = "\ufffd" if cp == 0 or 0xD800 <= cp <= 0xDFFF or cp > 0x10FFFF else chr(cp)
        elif cont is not None:
            ch = ""  # a line continuation: nothing (a url token never holds one)
        elif char is not None:
            ch = char
        elif newline is not None:
            ch = "\n"
        elif m.group() == "\\":
            ch = "" if in_string else "\ufffd"  # backslash before EOF
        else:
            ch = "\ufffd"  # NUL
        if ch:
            out.append(ch)
            starts.append(seg)
            seg = m.end()
        prev = m.end()
    plain(prev, len(raw))
    starts.append(len(raw))
    return "".join(out), starts


def _escape(value: str, quote: str | None, codec: str | None) -> str:
    """Write ``value`` so that it reads back as itself inside the given quoting (None: unquoted url)."""
    if not _NEEDS_ESCAPE[quote].search(value):
        return value  # the usual case: a proxied origin
    out = []
    for c in value:
        o = ord(c)
        if o < 0x80:
            if c == "\\" or c == quote or (quote is None and c in _MUST_ESCAPE_UNQUOTED):
                out.append("\\" + c)
            elif c in _NEWLINES or (quote is None and (o <= 0x20 or o == 0x7F)):
                out.append(_hex_escape(c))
            else:
                out.append(c)
        elif codec is None:
            out.append(c)
        else:
            try:
                out.append(c.encode(codec, "surrogateescape").decode("latin-1"))
            except UnicodeError:
                out.append(_hex_escape(c))
    return "".join(out)


def _common_prefix(a: str, b: str, limit: int) -> int:
    """Length of the longest common prefix, at most ``limit``."""
    lo, hi = 0, max(limit, 0)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str) -> int:
    """Length of the longest common suffix (binary search over C-speed slice compares)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid:] == b[len(b) - mid:]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _ident_value(raw: str) -> str:
    """An identifier's name, unescaped and lower-cased (for comparing with ASCII names)."""
    return (_decode(raw, False, None)[0] if "\\" in raw else raw).lower()


def _function_name(text: str, pos: int, floor: int) -> str | None:
    """Which of our functions the ``(`` at ``pos`` opens, if any. The name must lie at or after
    ``floor``: text before it was consumed as part of another token (``\\41 url(`` is one ident)."""
    before = text[max(0, pos - len(_FUNCTIONS[0]) - 1): pos].lower()
    for name in _FUNCTIONS:
        if before.endswith(name):
            if pos - len(name) < floor:
                return None
            k = len(before) - len(name) - 1
            if k < 0 or not (before[k] in NAME_CHARS or before[k] in "#@" or before[k] >= "\x80"):
                return name
            return None
    return None


class _Scanner:
    """One pass over one text: where its URLs are. It asks no mapper, so what it finds depends on
    the text alone (and is remembered by content: :func:`_spans_of`)."""

    def __init__(self, text: str) -> None:
        self.text = text
        # Each URL's raw span text[start:end] and its quoting (_QUOTING), three numbers a URL.
        self.spans = array("q")
        # Inside image-set(): the closer each open function or block waits for, innermost last;
        # _SET marks an image-set() itself (its bare strings are URLs). Empty outside image-set().
        self.blocks: list[str] = []

    # -- one URL ----------------------------------------------------------------------------
    def url(self, a: int, b: int, quote: str | None) -> None:
        """The URL whose raw span is text[a:b], inside the given quoting."""
        if b <= a:
            return  # an empty URL: nothing to map
        if len(self.spans) >= 3 * MAX_URLS:
            raise _OverBudget
        self.spans.extend((a, b, _QUOTING[quote]))

    def string_url(self, pos: int) -> int:
        """``pos`` at a quote of a string that is a URL; returns the index after the string."""
        end, after, good = _scan_string(self.text, pos)
        if good:
            self.url(pos + 1, end, self.text[pos])
        return after

    # -- constructs -------------------------------------------------------------------------
    def function(self, name: str, pos: int) -> int:
        """``pos`` after ``name(``; returns where scanning resumes."""
        text = self.text
        if name in _IMAGE_SETS:
            self.blocks.append(_SET)
            return pos
        # url( allows only whitespace before its string (a comment there is url token text);
        # src( is an ordinary function, so comments may come first.
        q = (_WS_RE.match(text, pos).end() if name == "url" else _skip_ws_comments(text, pos))
        if q < len(text) and text[q] in "\"'":
            if self.blocks:
                self.blocks.append(")")  # url("...") is a function: its ")" comes later
            return self.string_url(q)
        if name != "url":
            if self.blocks:
                self.blocks.append(")")  # src(<not a string>): an ordinary function
            return pos
        start, end, after = _scan_url_token(text, q)
        if end >= 0:
            self.url(start, end, None)
        return after

    def at_rule(self, name: str, pos: int) -> int:
        """``pos`` after ``@import`` or ``@namespace``."""
        text = self.text
        q = _skip_ws_comments(text, pos)
        if name == "import":
            if q < len(text) and text[q] in "\"'":
                return self.string_url(q)
            return q  # url(...) or garbage: the main loop sees it
        # @namespace [prefix] (string | url): a name, not a resource; skip it untouched.
        end = self.namespace_name(q)
        if end is None:
            after = _IDENT_RE.match(text, q).end() if _IDENT_START_RE.match(text, q) else q
            if after > q and not text.startswith("(", after):
                end = self.namespace_name(_skip_ws_comments(text, after))
        return q if end is None else end

    def namespace_name(self, q: int) -> int | None:
        """The end of a string or url() at ``q``, or None if there is neither."""
        text = self.text
        if q < len(text) and text[q] in "\"'":
            return _scan_string(text, q)[1]
        end = _IDENT_RE.match(text, q).end()
        if not text.startswith("(", end) or _ident_value(text[q:end]) != "url":
            return None
        q = _WS_RE.match(text, end + 1).end()
        if q < len(text) and text[q] in "\"'":
            if self.blocks:
                self.blocks.append(")")  # url("...") is a function: its ")" comes later
            return _scan_string(text, q)[1]
        return _scan_url_token(text, q)[2]

    def escaped_ident(self, pos: int, floor: int) -> int:
        """``pos`` at a backslash outside strings: an identifier with escapes (or a stray ``\\``)."""
        text = self.text
        if text.startswith(_NEWLINE_PREFIXES, pos + 1):
            return pos + 1  # not an escape: a delim token
        start = pos
        while start > floor and (text[start - 1] in NAME_CHARS or text[start - 1] >= "\x80"):
            start -= 1
        end = _IDENT_RE.match(text, pos).end()
        before = text[start - 1] if start > 0 else ""
        # The name matters only after "@" (an at-rule) or before "(" (a function): only then is it
        # decoded (escaped class names, ".md\:flex", are most of the backslashes in real CSS).
        if before == "@":
            name = _ident_value(text[start:end])
            if name in ("import", "namespace"):
                return self.at_rule(name, end)
        elif before != "#" and text.startswith("(", end):
            name = _ident_value(text[start:end])
            if name in _FUNCTIONS:
                return self.function(name, end + 1)
        return end

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> array:
        """The spans of every URL in the text, in order (raises _OverBudget past MAX_URLS)."""
        text = self.text
        n = len(text)
        pos = 0
        while pos < n:
            if not self.blocks:  # the usual case: stop only where a URL can start
                j = _SKIP_RE.match(text, pos).end()
                if j >= n:
                    break
                c = text[j]
                if c == "\\":
                    pos = self.escaped_ident(j, pos)
                elif c == "@":
                    m = _AT_RE.match(text, j)
                    pos = self.at_rule(m.group(1).lower(), m.end())
                else:  # "(" after one of our function names
                    name = _function_name(text, j, pos)
                    pos = j + 1 if name is None else self.function(name, j + 1)
                continue
            m = _IN_SET_RE.search(text, pos)
            if m is None:
                break
            j = m.start()
            c = text[j]
            if c == "/":
                pos = _skip_comment(text, j)
            elif c == '"' or c == "'":
                if self.blocks and self.blocks[-1] is _SET:
                    pos = self.string_url(j)  # a bare string in image-set() is a URL
                else:
                    pos = _scan_string(text, j)[1]
            elif c == "\\":
                pos = self.escaped_ident(j, pos)
            elif c == "@":
                pos = self.at_rule(m.group()[1:].lower(), m.end())
            elif c == "(":
                name = _function_name(text, j, pos)
                if name is None:
                    if self.blocks:
                        self.blocks.append(")")  # inside image-set(): another function or a "("
                    pos = m.end()
                else:
                    pos = self.function(name, m.end())
            elif c == "[" or c == "{":
                self.blocks.append(_CLOSER[c])
                pos = m.end()
            elif c == ")" or c == "]" or c == "}":
                top = self.blocks[-1]
                if top == c or (top is _SET and c == ")"):
                    self.blocks.pop()
                pos = m.end()  # a closer that closes nothing open is just a token
        return self.spans


class _OverBudget(Exception):
    """The scan found more than MAX_URLS URLs (it stops there)."""


_QUOTING = {None: 0, '"': 1, "'": 2}
_QUOTES = (None, '"', "'")

# Where a text's URLs are depends on the text alone, so the scan is remembered by content, as
# rewriter/js.py remembers its scripts' analyses: a stylesheet, <style> text or style value seen
# before (on any page, in any session) costs a hash, and only its URLs are mapped again, by the
# page's own mapper. An entry holds a digest of the text (rewriter/digest.py) and the URL spans' offsets and
# quoting (three integers a URL), no text; the memo is bounded in entries and in spans.
SCAN_ENTRIES = 4096
SCAN_ITEMS = 1000  # a text with more URLs than this is not remembered
SCAN_SPANS = 100_000  # URLs remembered over all entries (about 24 bytes each)
_scans: "OrderedDict[bytes, array]" = OrderedDict()
_scans_lock = threading.Lock()
_scans_held = [0]  # URLs held by _scans (three numbers each)


def clear_memo() -> None:
    """Forget every remembered scan (a cold start, for benchmarks and tests)."""
    with _scans_lock:
        _scans.clear()
        _scans_held[0] = 0


_digest = digest_text  # what the memo remembers a text by (rewriter/digest.py)


def _spans_of(text: str) -> tuple[array, bool]:
    """The URL spans of ``text`` (_Scanner.run), remembered; True when the scan stopped at MAX_URLS."""
    key = _digest(text)
    with _scans_lock:
        found = _scans.get(key)
        if found is not None:
            _scans.move_to_end(key)
            return found, False
    scanner = _Scanner(text)
    try:
        spans = scanner.run()
    except _OverBudget:
        return scanner.spans, True
    if len(spans) <= 3 * SCAN_ITEMS:
        with _scans_lock:
            if key not in _scans:
                _scans[key] = spans
                _scans_held[0] += len(spans) // 3
                while len(_scans) > SCAN_ENTRIES or _scans_held[0] > SCAN_SPANS:
                    _scans_held[0] -= len(_scans.popitem(last=False)[1]) // 3
    return spans, False


def _map(text: str, spans: array, over: bool, urls: UrlRewriter, codec: str | None,
         stats: CssStats | None) -> str:
    """``text`` with the URL at each span mapped through ``urls`` (``codec``: the text is latin-1
    standing for bytes in that charset). ``over``: the scan stopped at MAX_URLS; the document is
    refused after those were mapped."""
    out: list[str] = []
    copied = 0  # text[:copied] is already in out
    for i in range(0, len(spans), 3):
        a = spans[i]
        raw = text[a: spans[i + 1]]
        quote = _QUOTES[spans[i + 2]]
        slow = "\\" in raw or "\x00" in raw or (codec is not None and not raw.isascii())
        if slow:
            value, starts = _decode(raw, quote is not None, codec)
        else:
            value, starts = raw, None
        try:
            new = urls.rewrite(value)
        except Exception:  # noqa: BLE001 - one bad URL must not lose the stylesheet
            if stats is not None:
                stats.url_errors += 1
            continue
        if new == value:
            continue
        # Replace only the middle that changed; the raw text of the common prefix and suffix stays.
        keep = _common_suffix(new, value)
        pre = _common_prefix(new, value, min(len(new), len(value)) - keep)
        cut = len(value) - keep
        middle = _escape(new[pre: len(new) - keep], quote, codec)
        if starts is None:
            raw_pre, raw_cut = pre, cut
        else:
            raw_pre, raw_cut = starts[pre], starts[cut]
            # An escape kept at the edge of the middle could merge with it (``\74`` + ``a``):
            # check by decoding, and if it reads differently write the whole URL anew.
            if _decode(raw[:raw_pre] + middle + raw[raw_cut:], quote is not None, codec)[0] != new:
                middle, raw_pre, raw_cut = _escape(new, quote, codec), 0, len(raw)
        out.append(text[copied: a + raw_pre])
        out.append(middle)
        copied = a + raw_cut
    if over:
        raise RewriteBudgetExceeded(f"a stylesheet with more than {MAX_URLS} URLs")
    if not out:
        return text
    out.append(text[copied:])
    return "".join(out)


def rewrite_css(text: str, urls: UrlRewriter, stats: CssStats | None = None) -> str:
    """Map every URL in a stylesheet, or in a declaration list such as a ``style`` attribute."""
    return _rewrite(text, urls, None, stats)


class CssRewriter:
    """``rewrite_css`` bound to one mapper: the ``css`` callable of the HTML rewriter.

    ``mapper`` tells the HTML rewriter that every URL of a style value is mapped through this mapper
    and nothing else changes, so its core may edit plain url() values from the memo of URL heads
    it keeps for that mapper (rewriter/html/core.py, F_CSS_URLS)."""

    __slots__ = ("mapper",)

    def __init__(self, urls: UrlRewriter) -> None:
        self.mapper = urls

    def __call__(self, text: str) -> str:
        return rewrite_css(text, self.mapper)


def _rewrite(text: str, urls: UrlRewriter, codec: str | None, stats: CssStats | None) -> str:
    if "(" not in text and "@" not in text and "\\" not in text:
        return text  # no function, no at-rule and no escape that could spell one: no URL (most style attributes)
    try:
        spans, over = _spans_of(text)
        return _map(text, spans, over, urls, codec, stats)
    except RewriteError:  # over a budget: the caller fails closed
        raise
    except Exception:  # noqa: BLE001 - rewriters never raise into a response
        if stats is not None:
            stats.failed += 1
        return text


# Where the Encoding Standard gives a label to a superset of what Python's codec of that name
# decodes, use the superset's codec, so that its extra characters are read as the browser does.
_WHATWG_CODECS = {
    "gb2312": "gbk",
    "shift_jis": "cp932",
    "big5": "big5hkscs",
    "euc_kr": "cp949",
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
}


def _codec_name(label: str) -> str | None:
    try:
        name = codecs.lookup(label.strip()).name
    except (LookupError, ValueError):
        return None
    return _WHATWG_CODECS.get(name, name)


def sniff_charset(data: bytes, charset: str | None = None) -> tuple[str, int]:
    """The stylesheet's charset (Python codec name) and the length of its BOM.

    Order as in CSS Syntax 3: BOM, then the transport ``charset``, then ``@charset "...";`` at
    the very start (where UTF-16 means UTF-8: a file that reads as ASCII is not UTF-16), then UTF-8.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name, len(bom)
    if charset:
        name = _codec_name(charset)
        if name is not None:
            return name, 0
    m = _CHARSET_RE.match(data, 0, CHARSET_SCAN_BYTES)
    if m:
        name = _codec_name(m.group(1).decode("latin-1"))
        if name is not None:
            return ("utf-8" if name.startswith("utf-16") else name), 0
    return "utf-8", 0


def rewrite_css_bytes(data: bytes, urls: UrlRewriter, charset: str | None = None,
                      stats: CssStats | None = None) -> bytes:
    """Map every URL in a stylesheet given as bytes; every other byte is returned as it came."""
    if stats is None:
        stats = CssStats()  # counted, then forgotten: the caller did not ask
    try:
        codec, bom = sniff_charset(data, charset)
        if codec.startswith(("utf-16", "utf-32")):
            stats.unscannable += 1
            return data
        body = data[bom:]
        if codec in ASCII_TRAIL_CODECS:
            try:
                text = body.decode(codec, "surrogateescape")
                same = text.encode(codec, "surrogateescape") == body
            except UnicodeError:  # stateful codecs can fail on truncated escape sequences
                same = False
            if not same:
                stats.unscannable += 1
                return data
            out = _rewrite(text, urls, None, stats)
            return data if out is text else data[:bom] + out.encode(codec, "surrogateescape")
        text = body.decode("latin-1")
        out = _rewrite(text, urls, codec, stats)
        return data if out is text else data[:bom] + out.encode("latin-1")
    except RewriteError:  # over a budget: the caller fails closed
        raise
    except Exception:  # noqa: BLE001 - rewriters never raise into a response
        stats.failed += 1
        return data

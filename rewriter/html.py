"""Streaming HTML rewriter: every URL a page can reach comes back through the proxy.

Theory of operation
-------------------
The proxy streams an upstream HTML body through :class:`HtmlRewriter`. Nothing is
parsed into a tree and nothing is re-serialised: the rewriter *finds* the few
spans that must change (URL attribute values, ``style`` attributes and
``<style>`` contents, a few security attributes, the place to inject the
runtime) and emits every other byte exactly as it came.

Bytes and characters. HTML syntax is ASCII, and every encoding we rewrite keeps
the ASCII bytes that matter (``< > / = " ' & - ! ?``, whitespace) meaning ASCII:
multi-byte sequences of UTF-8, EUC-*, GBK/GB18030, Big5 and Shift_JIS never use
those bytes (Shift_JIS and Big5 trail bytes can be letters, digits or ``\\``,
which only matter inside names, where they are harmless). So the body is decoded
as latin-1 (one byte, one character, lossless), tokenized as text and encoded
back as latin-1. Only an attribute value or a stylesheet that is actually
rewritten is decoded with the document's charset. UTF-16/32 (by BOM or label) and
the ISO-2022 family are not ASCII-compatible: those bodies pass through untouched
and ``stats["passed_through"]`` says so.

Tokenizing. The states and their boundaries follow the WHATWG tokenizer: start
and end tags with attributes (double-, single- and un-quoted values, ``/`` between
attributes), comments (``<!-->``, ``<!--->``, ``--!>``), bogus comments (``<?``,
``</ ...``, ``<!...``), DOCTYPE, CDATA (in SVG/MathML only), and the text states
that tags switch to: RAWTEXT (style, xmp, iframe, noembed, noframes, noscript),
RCDATA (title, textarea), script data with its escape states, and PLAINTEXT.
Which state a start tag switches to is a tree-builder decision; we keep just
enough of it (a stack of open SVG/MathML elements) to know when we are in
foreign content, where none of those switches happen.

Streaming. ``feed`` processes as much as it can and holds back only what could be
the start of an unfinished token: an incomplete tag (up to ``MAX_TAG``), a few
characters that may begin an end tag or a comment terminator, and the contents
of a ``<style>`` element or a script while it is collected for the CSS or JS
rewriter (up to ``MAX_STYLE`` / ``MAX_SCRIPT``). Every decision depends on the
text, never on where the chunks split, so the output is the same however the
body arrives. Output is copy-through: unchanged text is written as whole runs
between the few places that change (``_replace`` / ``_insert``), never token by
token; the same calls can log every change (``_edit_log``), which is how an
``iframe srcdoc`` document, rewritten by an inner rewriter, is spliced back
exactly.

What goes to other rewriters: ``style`` attributes and ``<style>`` (the ``css``
callable); inline scripts by their type as the HTML standard decides it --
classic and module scripts, ``on*`` handler attributes and ``javascript:`` URLs
to the ``js`` callable, import maps and speculation rules as JSON
(rewriter/jsonurls.py), data blocks (JSON-LD, templates) never.

``keep_original`` inserts ``data-tandem-o-<attr>`` (``:`` written ``_``) with the
site's own value after every rewritten attribute, and renames removed ones
(``data-tandem-o-integrity``) instead of dropping them. ``xml`` reads XHTML and
SVG documents: every element is markup (no raw text but script/style), CDATA
anywhere, self-closing tags close, the injection goes inside the root element
and is made well-formed.

Policy is data: :data:`REWRITE_TABLE` maps tag -> attribute -> kind.
"""

from __future__ import annotations

import bisect
import codecs
import difflib
import re
from functools import lru_cache
from html.entities import html5 as _HTML5
from typing import Callable, Iterable, Iterator

from .jsonurls import rewrite_importmap, rewrite_speculation_rules
from .urls import IdentityRewriter, UrlRewriter

# --- limits -----------------------------------------------------------------

# A start or end tag longer than this is not markup we can trust (real pages stay far
# below: the biggest tags in the corpus are inline SVG paths of ~100 KB). Holding more
# would let one page pin memory; past it the "<" is emitted as text and scanning goes on.
MAX_TAG = 1 << 20
# <style> contents are collected whole for the CSS rewriter (it needs the full text to
# tokenize); a bigger element is passed through unrewritten rather than held in memory.
MAX_STYLE = 4 << 20
# Inline <script> contents are collected whole for the JS rewriter (a parser needs the whole
# script); a bigger one is passed through unrewritten rather than held in memory.
MAX_SCRIPT = 4 << 20
# Plain URL values remembered per document with what the mapper made of them (a page repeats
# its links; the mapper's side effects, alias registration, happen on the first one).
MAX_URL_MEMO = 4096
# iframe srcdoc documents are rewritten recursively; deeper nesting than this is left as it is
# (each level re-escapes the one inside it, real pages nest one level, rarely two).
MAX_SRCDOC_DEPTH = 4
# A UTF-8 BOM is 3 bytes, a UTF-16 BOM 2: this many bytes decide the encoding.
BOM_SNIFF = 3
# Rewritten CSS in a style="" attribute is diffed against the original to keep the
# unchanged bytes; beyond this size a single prefix/suffix splice is used (the diff is
# quadratic in the worst case).
MAX_STYLE_ATTR_DIFF = 4096

# --- policy -----------------------------------------------------------------

URL = "url"  # the value is one URL
URL_LIST = "url-list"  # space-separated URLs (ping)
SRCSET = "srcset"  # image candidate list
CSS = "css"  # a CSS declaration list
DROP = "drop"  # remove the attribute: it would block rewritten resources
DATA_URL = "data-url"  # data-*: rewritten only when the whole value is an absolute http(s) URL
SRCDOC = "srcdoc"  # an HTML document: rewritten recursively, injection included
JS = "js"  # event handler attributes (on*): a classic script body

_ANY_TAG: dict[str, str] = {
    "href": URL,
    "src": URL,
    "action": URL,
    "formaction": URL,
    "poster": URL,
    "background": URL,
    "cite": URL,
    "longdesc": URL,
    "manifest": URL,
    "codebase": URL,
    "xlink:href": URL,
    "icon": URL,
    "lowsrc": URL,
    "dynsrc": URL,
    "ping": URL_LIST,
    "srcset": SRCSET,
    "imagesrcset": SRCSET,
    "style": CSS,
    # Subresource integrity would fail on rewritten CSS/JS; a nonce would be checked
    # against a CSP we remove anyway and only leaks into the runtime's view of the page.
    "integrity": DROP,
    "nonce": DROP,
}
REWRITE_TABLE: dict[str, dict[str, str]] = {
    "*": _ANY_TAG,
    "object": {"data": URL},
    "iframe": {"srcdoc": SRCDOC},
}
# Attributes named on* are event handlers (kind JS) on every element.
ORIGINAL_PREFIX = "data-tandem-o-"  # keep_original: the site's own value of a rewritten attribute

# <script type> (WHATWG "prepare the script element"): what its contents are.
CLASSIC, MODULE, IMPORTMAP, SPECULATION = "classic", "module", "importmap", "speculationrules"
_JS_MIME = frozenset(
    "application/ecmascript application/javascript application/x-ecmascript application/x-javascript "
    "text/ecmascript text/javascript text/javascript1.0 text/javascript1.1 text/javascript1.2 "
    "text/javascript1.3 text/javascript1.4 text/javascript1.5 text/jscript text/livescript "
    "text/x-ecmascript text/x-javascript".split()
)
_PERCENT_RE = re.compile("%([0-7][0-9a-fA-F])")
# A URL value that can only be relative (no scheme before the first / ? #, not //, no character
# reference or tab/newline that could hide one): the mapper would return it unchanged.
_RELATIVE_URL_RE = re.compile(
    "[\\x00-\\x20]*(?:/(?![/\\\\\\t\\n\\r&])|[#?.]|[A-Za-z0-9_~%+-][^:/?#&\\t\\n\\r]*(?:[/?#]|$)|$)"
)
# The scheme, slashes and authority at the start of a URL (where the mapper looks).
_URL_HEAD_RE = re.compile("[\\x00-\\x20]*(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?[/\\\\]*[^/\\\\?#]*")
_INJECT_SCRIPT_RE = re.compile("<script(?=[\\t\\n\\f\\r />])(?![^>]*\\bxmlns=)")
# tag -> merged table, so each tag costs one lookup
_TABLE_FOR: dict[str, dict[str, str]] = {
    tag: {**_ANY_TAG, **extra} for tag, extra in REWRITE_TABLE.items() if tag != "*"
}

# The value a neutralised <meta http-equiv=Content-Security-Policy> gets: the element
# stays (byte offsets of everything else are kept, the policy text stays readable for
# debugging) but no browser knows this http-equiv.
CSP_REPLACEMENT = "x-tandem-removed-csp"
_CSP_NAMES = ("content-security-policy", "content-security-policy-report-only")

# --- tokenizer tables -------------------------------------------------------

DATA, RAWTEXT, RCDATA, SCRIPT, SCRIPT_ESC, SCRIPT_DESC, PLAINTEXT, COMMENT, BOGUS, CDATA = range(10)
# States of the end-of-tag scanner that follows a held, incomplete tag chunk by chunk
# (tag name, before attribute name, attribute name, after it, before value, values).
TS_NAME, TS_SEP, TS_ATTR, TS_AFTER_ATTR, TS_BEFORE_VALUE, TS_DQ, TS_SQ, TS_UNQ = range(8)

_RAWTEXT_TAGS = frozenset(("style", "xmp", "iframe", "noembed", "noframes", "noscript"))
_RCDATA_TAGS = frozenset(("title", "textarea"))
# Start tags that end foreign content (WHATWG "parsing tokens in foreign content").
_BREAKOUT = frozenset(
    "b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr i img "
    "li listing menu meta nobr ol p pre ruby s small span strong strike sub sup table tt u ul var".split()
)
_SVG_HTML_POINTS = frozenset(("foreignobject", "desc", "title"))
_MATH_TEXT_POINTS = frozenset(("mi", "mo", "mn", "ms", "mtext"))
# Start tags whose attributes the tree builder or the meta/base logic reads: a dictionary is built.
_ATTR_DICT_TAGS = frozenset(("meta", "base", "script", "style", "svg", "math", "font"))
# Start tags with tree-builder effects outside foreign content (state switches, foreign roots).
_TREE_NAMES = _RAWTEXT_TAGS | _RCDATA_TAGS | frozenset(("script", "plaintext", "svg", "math"))
# End tags that make the parser create <head> implicitly (so the runtime goes first).
_IMPLY_HEAD_END = frozenset(("head", "body", "html", "br"))

_WS = "\t\n\f\r "
_W = "[\\t\\n\\f\\r ]"
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

# One attribute, as the tokenizer walks it from the "before attribute name" state:
# separators (whitespace and "/"), a name (its first character may be "="), and an
# optional "=" value. Everything is possessive: the match is the deterministic parse,
# so a failure can only mean the input ends inside the tag.
def _attr_pattern(group: str) -> str:
    return (
        f"[\\t\\n\\f\\r /]*+({group}[^\\t\\n\\f\\r />][^\\t\\n\\f\\r />=]*+){_W}*+"
        f"(?:={_W}*+({group}\"[^\"]*+\"|'[^']*+'|(?![\"'])[^\\t\\n\\f\\r >]*+)|(?!=))"
    )


_ATTR_RE = re.compile(_attr_pattern(""))
_TAG_RE = re.compile(
    "<(/?)([A-Za-z][^\\t\\n\\f\\r />]*+)"
    f"((?:{_attr_pattern('?:')})*+)"
    "[\\t\\n\\f\\r /]*+>"
)
_COMMENT_END_RE = re.compile("--!?>")
_NON_WS_RE = re.compile("[^\\t\\n\\f\\r ]")
_WS_TOKEN_RE = re.compile("[^\\t\\n\\f\\r ]+")
_ABS_HTTP_RE = re.compile("[hH][tT][tT][pP][sS]?://[^\\t\\n\\f\\r \"'<>]+")
_META_CHARSET_RE = re.compile("charset[\\t\\n\\f\\r ]*=[\\t\\n\\f\\r ]*([\"']?)([^\\t\\n\\f\\r ;\"']+)", re.I)


def _ci(word: str) -> str:
    """A case-insensitive pattern for an ASCII word (re.I would also match U+017F for 's')."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() and c.isascii() else re.escape(c) for c in word)


@lru_cache(maxsize=64)
def _end_tag_re(name: str) -> re.Pattern[str]:
    return re.compile(f"</{_ci(name)}[\\t\\n\\f\\r />]")


@lru_cache(maxsize=16)
def _script_res(name: str) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """Patterns of the script data states: plain, escaped (<!--), double escaped (<!--<script>)."""
    end = f"</{_ci(name)}[\\t\\n\\f\\r />]"
    script = _ci("script")
    return (
        re.compile(f"<!--|{end}"),
        re.compile(f"-->|{end}|<{script}[\\t\\n\\f\\r />]"),
        re.compile(f"-->|</{script}[\\t\\n\\f\\r />]"),
    )


# --- character references in attribute values -------------------------------

_CHARREF_RE = re.compile("&(?:#[xX]([0-9a-fA-F]+);?|#([0-9]+);?|([A-Za-z0-9]+))?")
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


def _ref_text(m: re.Match[str]) -> str:
    text, used = _ref_parts(m)
    return m.group(0) if text is None else text + m.group(0)[used:]


class _Positions:
    """``pos[k]`` of decode_attr_value for a few ``k``, from the references alone: no list with one
    entry per character (values can be megabytes: an iframe srcdoc)."""

    __slots__ = ("refs", "starts")

    def __init__(self, raw: str) -> None:
        refs = []  # (decoded start, decoded length, raw start, raw length) of each reference
        d = prev = 0
        for m in _REF_SUB_RE.finditer(raw):
            text, used = _ref_parts(m)
            if text is None:
                continue
            d += m.start() - prev
            refs.append((d, len(text), m.start(), used))
            d += len(text)
            prev = m.start() + used
        self.refs = refs
        self.starts = [r[0] for r in refs]

    def __getitem__(self, k: int) -> int:
        i = bisect.bisect_right(self.starts, k) - 1
        if i < 0:
            return k
        ds, dl, rs, rl = self.refs[i]
        if k < ds + dl:
            return rs if k == ds else -1
        return rs + rl + (k - ds - dl)


def decode_attr_value(raw: str, want_pos: bool = True) -> tuple[str, list[int] | None]:
    """Decode character references as in an attribute value; NUL becomes U+FFFD.

    Returns the value and a position map: ``pos[k]`` is the raw offset where decoded
    character ``k`` starts, ``-1`` inside a reference that decoded to two characters,
    and ``pos[len(value)] == len(raw)``. The map is None when no reference was
    decoded (then offsets are the same in both), and when ``want_pos`` is false.
    """
    if "&" not in raw:
        return (raw.replace("\0", "\ufffd") if "\0" in raw else raw), None
    if not want_pos:
        value = _REF_SUB_RE.sub(_ref_text, raw)
        return (value.replace("\0", "\ufffd") if "\0" in value else value), None
    out: list[str] = []
    pos: list[int] = []
    i = 0
    changed = False
    n = len(raw)
    while True:
        j = raw.find("&", i)
        if j < 0:
            j = n
        if j > i:
            out.append(raw[i:j])
            if want_pos:
                pos.extend(range(i, j))
        if j >= n:
            break
        m = _CHARREF_RE.match(raw, j)
        text = None
        end = m.end()
        if m.group(1) is not None:
            text = _codepoint(m.group(1), 16)
        elif m.group(2) is not None:
            text = _codepoint(m.group(2), 10)
        elif m.group(3) is not None:
            run = m.group(3)
            limit = min(len(run) + (1 if raw.startswith(";", m.end()) else 0), _MAX_ENTITY)
            for length in range(limit, 0, -1):
                name = raw[j + 1: j + 1 + length]
                if name in _HTML5:
                    end = j + 1 + length
                    nxt = raw[end: end + 1]
                    # attribute-value rule: a legacy reference without ";" is literal
                    # when followed by "=" or an alphanumeric
                    if name[-1] != ";" and nxt and (nxt == "=" or (nxt.isascii() and nxt.isalnum())):
                        break
                    text = _HTML5[name]
                    break
        if text is None:
            out.append(raw[j:end])
            if want_pos:
                pos.extend(range(j, end))
        else:
            changed = True
            out.append(text)
            if want_pos:
                pos.append(j)
                pos.extend([-1] * (len(text) - 1))
        i = end
    value = "".join(out)
    if "\0" in value:
        value = value.replace("\0", "\ufffd")
    pos.append(n)
    return value, (pos if changed and want_pos else None)


def _escape(text: str, quote: str) -> str:
    text = text.replace("&", "&amp;")
    if quote == '"':
        return text.replace('"', "&quot;")
    if quote == "'":
        return text.replace("'", "&#39;")
    return text


# Characters that would end or re-open an unquoted value if we inserted them.
_UNQUOTED_ENDS = re.compile("[\\t\\n\\f\\r >]")
Edit = tuple[int, int, str]  # (start, end, replacement) in some coordinate space


def _splice(raw: str, value: str, pos: "list[int] | _Positions | None", edits: list[Edit], quote: str) -> str | None:
    """Apply ``edits`` made on the decoded ``value`` to the ``raw`` value text.

    ``quote`` is the value's quote character ("" if unquoted). Only the edited spans
    change; inserted text is escaped for the quoting. Returns the new value text
    *with* its quotes (an unquoted value that now needs quotes gets double quotes),
    or None if nothing changes.
    """
    parts: list[str] = []
    new_value: list[str] = []
    r_at = d_at = 0
    needs_quotes = False
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
        parts.append(_escape(text, quote))
        if not quote and _UNQUOTED_ENDS.search(text):
            needs_quotes = True
        r_at, d_at = rb, b
    parts.append(raw[r_at:])
    new_value.append(value[d_at:])
    new_raw = "".join(parts)
    new_val = "".join(new_value)
    if new_val == value:
        return None
    if not quote and (needs_quotes or not new_raw or new_raw[0] in "\"'"):
        needs_quotes = True
    elif "&" in new_raw and decode_attr_value(new_raw, False)[0] != new_val:  # an insertion formed a reference
        needs_quotes = True
    if needs_quotes:  # give up on keeping bytes: escape the whole new value
        q = quote or '"'
        return q + _escape(new_val, q) + q
    return quote + new_raw + quote


def _common_prefix(a: str, b: str) -> int:
    """Length of the common prefix, by bisection on slices (C speed, log steps)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _diff(old: str, new: str, offset: int = 0) -> list[Edit]:
    """The single edit turning ``old`` into ``new``: common prefix and suffix are kept."""
    if old == new:
        return []
    p = _common_prefix(old, new)
    s = _common_prefix(old[p:][::-1], new[p:][::-1])
    return [(offset + p, offset + len(old) - s, new[p: len(new) - s])]


def _diff_url(old: str, new: str, offset: int = 0) -> list[Edit]:
    """Like :func:`_diff` for a URL and its rewritten form.

    ``UrlRewriter.rewrite`` drops tab, CR and LF from the part it keeps (the URL
    parser ignores them); matching from the end skips them in ``old`` so they stay
    in the output and only the origin span changes.
    """
    if old == new:
        return []
    if "\t" not in old and "\n" not in old and "\r" not in old:
        return _diff(old, new, offset)
    p = _common_prefix(old, new)
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


def _diff_many(old: str, new: str) -> list[Edit]:
    """Edits turning ``old`` into ``new`` that keep every unchanged run (for CSS)."""
    if old == new:
        return []
    if len(old) > MAX_STYLE_ATTR_DIFF or len(new) > MAX_STYLE_ATTR_DIFF:
        return _diff(old, new)
    sm = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return [(i1, i2, new[j1:j2]) for op, i1, i2, j1, j2 in sm.get_opcodes() if op != "equal"]


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


def xml_safe_markup(text: str) -> str:
    """HTML markup made well-formed enough for an XML document: valueless attributes get ="".

    For the injected tags (``<script defer src=...>``), which the XML parser would otherwise reject
    and with them the whole document.
    """
    def tag(m: re.Match[str]) -> str:
        if m.group(1) or m.start(3) == m.end(3):
            return m.group(0)
        out, at = [], m.start(3)
        for am in _ATTR_RE.finditer(m.string, m.start(3), m.end(3)):
            if am.group(2) is None:
                out.append(m.string[at: am.end(1)] + '=""')
                at = am.end(1)
        out.append(m.string[at: m.end()])
        return m.string[m.start(): m.start(3)] + "".join(out)

    return _TAG_RE.sub(tag, text)


def javascript_url_body(value: str) -> int | None:
    """Where the script of a ``javascript:`` URL starts in ``value``, or None if it is not one.

    As the URL parser reads a scheme: leading C0 controls and spaces skipped, tab and newline
    ignored anywhere, letters in any case.
    """
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


# --- charsets ------------------------------------------------------------------

# WHATWG labels whose bytes are not ASCII-compatible: such bodies pass through.
_PASS_LABELS = frozenset(
    "utf-16 utf-16le utf-16be unicodefffe unicodefeff unicode ucs-2 csunicode iso-10646-ucs-2 "
    "utf-32 utf-32le utf-32be iso-2022-jp csiso2022jp iso-2022-kr csiso2022kr iso-2022-cn "
    "iso-2022-cn-ext hz-gb-2312 replacement".split()
)
# WHATWG label -> Python codec, where Python's own lookup would pick a different table.
_CODEC_OF_LABEL = {
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "l1": "cp1252",
    "ascii": "cp1252", "us-ascii": "cp1252", "iso_8859-1": "cp1252", "x-user-defined": "cp1252",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "ms_kanji": "cp932", "windows-31j": "cp932", "csshiftjis": "cp932",
    "euc-kr": "cp949", "ks_c_5601-1987": "cp949", "gb2312": "gbk", "x-gbk": "gbk",
    "big5": "big5hkscs", "iso-8859-9": "cp1254", "latin5": "cp1254", "tis-620": "cp874",
    "iso-8859-11": "cp874",
}


def resolve_charset(label: str | None) -> tuple[str | None, bool]:
    """(Python codec or None if unknown, passes_through) for an encoding label."""
    if not label:
        return None, False
    label = label.strip().strip("\"'").lower()
    if label in _PASS_LABELS:
        return None, True
    codec = _CODEC_OF_LABEL.get(label, label)
    try:
        name = codecs.lookup(codec).name
    except LookupError:
        return None, False
    if name.startswith(("utf-16", "utf-32", "iso2022")):
        return None, True
    return name, False


# --- the rewriter ----------------------------------------------------------------


class _Foreign:
    """An open SVG/MathML element; ``html`` when its contents are parsed as HTML."""

    __slots__ = ("name", "html")

    def __init__(self, name: str, html: bool) -> None:
        self.name = name
        self.html = html


RewriteHook = Callable[[str, str, str, str], "str | None"]


class HtmlRewriter:
    """Rewrite one HTML body as it streams: ``feed`` chunks, then ``close``.

    ``inject`` goes first in <head>; ``css`` rewrites stylesheet text (style
    attributes and <style> contents); ``charset`` is the Content-Type label, if
    any (a BOM wins over it). After ``close``, ``stats`` counts what was done and
    ``base_href`` holds the first <base href> value seen (upstream form).

    ``on_rewrite(tag, attr, old_raw, new_raw)`` may be set to learn of each
    rewritten attribute; if it returns text, that text is inserted right after the
    attribute (e.g. a ``data-tandem-orig-*`` attribute), so the hook decides.

    With an :class:`IdentityRewriter` nothing at all changes (no attribute is
    dropped, no CSP neutralised): the output equals the input.
    """

    def __init__(
        self,
        urls: UrlRewriter,
        *,
        inject: str = "",
        charset: str | None = None,
        css: Callable[[str], str] | None = None,
        js: Callable[[str], str] | None = None,
        keep_original: bool = False,
        xml: bool = False,
    ) -> None:
        self.urls = urls
        self.css = css
        self.js = js
        self.keep_original = keep_original
        self.xml = xml
        self.on_rewrite: RewriteHook | None = None
        self.base_href: str | None = None
        self.stats: dict[str, int] = {
            "rewritten": 0,  # attribute values changed (URL, srcset, refresh, style)
            "removed": 0,  # integrity / nonce attributes dropped
            "csp_neutralised": 0,
            "css_blocks": 0,  # <style> elements whose text the css callable changed
            "css_skipped": 0,  # <style> too big or not decodable: passed through
            "js_blocks": 0,  # inline scripts (classic, module, import map, speculation rules) changed
            "js_skipped": 0,  # inline scripts too big or not decodable: passed through
            "oversized_tags": 0,  # tags over MAX_TAG, emitted as text
            "start_tags": 0,
            "injected": 0,
            "passed_through": 0,  # 1 when the body (or its rest) was passed through (UTF-16 ...)
            "errors": 0,  # internal errors: from there on the body passed through unchanged
            "bytes_in": 0,
            "bytes_out": 0,
        }
        self._active = not isinstance(urls, IdentityRewriter)
        self._inject_src = inject
        self._inject_pending = bool(inject)
        self._label = charset
        self._codec: str | None = None
        self._codec_locked = False  # transport charset or BOM: a <meta charset> cannot override
        self._mode = "sniff"  # sniff -> rewrite | pass
        self._head = b""
        self._pend: list[str] = []
        self._pend_len = 0
        self._wait_gt = False  # holding an incomplete tag: nothing to do until its ">" arrives
        self._ts = TS_NAME  # where the end-of-tag scanner is in that tag
        self._out: list[str] = []
        # Copy-through: unchanged input is never copied token by token. _run's buffer is _buf, and
        # _buf[:_copied] is already in _out; a change (an edit, an insertion, a held-back script)
        # first flushes the unchanged text up to where it applies.
        self._buf = ""
        self._copied = 0
        self._abs = 0  # input offset (in characters after the BOM) of _buf[0]
        self._memo: dict[str, str] = {}  # plain URL value -> mapped value (pages repeat their links)
        # When a list: every change as (start, end, text) in input offsets (srcdoc uses it).
        self._edit_log: list[Edit] | None = None
        self._state = DATA
        self._end_re: re.Pattern[str] | None = None
        self._script_re: tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]] | None = None
        self._hold = 0
        self._parts: list[str] | None = None  # contents of a <style>/<script> being collected
        self._parts_len = 0
        self._parts_kind = ""  # "css", or a script kind (CLASSIC, MODULE, IMPORTMAP, SPECULATION)
        self._xml_root = ""  # XML mode: name of the root element once seen
        self._depth = 0  # srcdoc nesting level of this document
        self._foreign: list[_Foreign] = []
        self._tree = True  # False: bare tokenizer (html5lib vectors), no tree-builder effects
        self._tag_sink: Callable[[tuple[str, list[tuple[str, str]]]], None] | None = None
        self._closed = False

    # -- byte level --------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        if self._closed:
            raise ValueError("feed() after close()")
        self.stats["bytes_in"] += len(data)
        if self._mode == "sniff":
            self._head += data
            if len(self._head) < BOM_SNIFF:
                return b""
            data, self._head = self._head, b""
            out = self._start(data)
        elif self._mode == "pass":
            out = bytes(data)
        else:
            out = self._text(data.decode("latin-1"), final=False)
        self.stats["bytes_out"] += len(out)
        return out

    def close(self) -> bytes:
        if self._closed:
            return b""
        out = b""
        if self._mode == "sniff":
            data, self._head = self._head, b""
            out = self._start(data)
        if self._mode == "rewrite":
            out += self._text("", final=True)
        self._closed = True
        self.stats["bytes_out"] += len(out)
        return out

    def _start(self, data: bytes) -> bytes:
        """Decide the encoding from the first bytes, then process them."""
        bom = b""
        if data.startswith(codecs.BOM_UTF8):
            bom, self._codec, self._codec_locked = codecs.BOM_UTF8, "utf-8", True
        elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            self._mode = "pass"
        else:
            codec, passes = resolve_charset(self._label)
            if passes:
                self._mode = "pass"
            elif codec:
                self._codec, self._codec_locked = codec, True
        if self._mode == "pass":
            self.stats["passed_through"] = 1
            return data
        self._mode = "rewrite"
        return bom + self._text(data[len(bom):].decode("latin-1"), final=False)

    def _text(self, text: str, final: bool) -> bytes:
        css, n_css = self._parts, len(self._parts or ())
        pend, n_pend = self._pend, len(self._pend)
        try:
            return self._process(text, final).encode("latin-1")
        except Exception:  # a bug must not break the page: the rest passes through as it came
            self.stats["errors"] += 1
            self._mode = "pass"
            self._out = []
            self._buf, self._copied = "", 0
            held = "".join(css[:n_css]) if css else ""
            return (held + "".join(pend[:n_pend]) + text).encode("latin-1")

    def _process(self, text: str, final: bool) -> str:
        if self._wait_gt and not final:
            # only the new text is scanned: a long tag arriving in small pieces costs linear time
            if self._tag_scan(text) < 0 and self._pend_len + len(text) < MAX_TAG:
                self._pend.append(text)
                self._pend_len += len(text)
                return ""
        if self._pend:
            self._pend.append(text)
            text = "".join(self._pend)
        self._pend = []
        self._pend_len = 0
        self._wait_gt = False
        self._run(text, final)
        if self._wait_gt:  # _data left an incomplete tag at the start of _pend
            held = self._pend[0]
            self._ts = TS_NAME
            self._tag_scan(held[3:] if held[1] == "/" else held[2:])
        if final and self._inject_pending and not self.xml:  # XML: nothing may follow the root
            self._inject_now(None)
        out = "".join(self._out)
        self._out = []
        return out

    def _tag_scan(self, text: str) -> int:
        """Advance the end-of-tag scanner over ``text``; the index after the tag's ">" or -1.

        The same grammar as ``_TAG_RE``, one character at a time, so a held tag is
        scanned once however it is chunked. Runs only on held, incomplete tags.
        """
        st = self._ts
        i = 0
        n = len(text)
        while i < n:
            if st == TS_DQ or st == TS_SQ:
                j = text.find('"' if st == TS_DQ else "'", i)
                if j < 0:
                    break
                st, i = TS_SEP, j + 1  # after a quoted value: like before an attribute name
                continue
            c = text[i]
            i += 1
            if c == ">":  # ends the tag in every state outside a quoted value
                self._ts = TS_SEP
                return i
            if st == TS_NAME:
                if c in _WS or c == "/":
                    st = TS_SEP
            elif st == TS_SEP:
                if c not in _WS and c != "/":
                    st = TS_ATTR
            elif st == TS_ATTR:
                if c in _WS:
                    st = TS_AFTER_ATTR
                elif c == "/":
                    st = TS_SEP
                elif c == "=":
                    st = TS_BEFORE_VALUE
            elif st == TS_AFTER_ATTR:
                if c == "=":
                    st = TS_BEFORE_VALUE
                elif c == "/":
                    st = TS_SEP
                elif c not in _WS:
                    st = TS_ATTR
            elif st == TS_BEFORE_VALUE:
                if c == '"':
                    st = TS_DQ
                elif c == "'":
                    st = TS_SQ
                elif c not in _WS:
                    st = TS_UNQ
            elif c in _WS:  # TS_UNQ
                st = TS_SEP
        self._ts = st
        return -1

    # -- the state machine ------------------------------------------------------

    def _flush_to(self, pos: int) -> None:
        """Output the unchanged input up to ``pos``."""
        if pos > self._copied:
            self._out.append(self._buf[self._copied: pos])
            self._copied = pos

    def _replace(self, a: int, b: int, text: str) -> None:
        """Output ``text`` instead of _buf[a:b]."""
        self._flush_to(a)
        if text:
            self._out.append(text)
        self._copied = b
        if self._edit_log is not None:
            self._edit_log.append((self._abs + a, self._abs + b, text))

    def _insert(self, text: str) -> None:
        """Output ``text`` where the output has got to (after _buf[:_copied])."""
        self._out.append(text)
        if self._edit_log is not None:
            at = self._abs + self._copied
            self._edit_log.append((at, at, text))

    def _run(self, buf: str, final: bool) -> None:
        self._buf, self._copied = buf, 0
        pos = 0
        n = len(buf)
        while True:
            st = self._state
            if st == DATA:
                pos, go = self._data(buf, pos, final)
            elif st == RAWTEXT or st == RCDATA:
                pos, go = self._raw(buf, pos, final)
            elif st == SCRIPT or st == SCRIPT_ESC or st == SCRIPT_DESC:
                pos, go = self._script(buf, pos, final)
            elif st == COMMENT:
                pos, go = self._until(buf, pos, final, _COMMENT_END_RE, 3)
            elif st == BOGUS:
                pos, go = self._until_char(buf, pos, final, ">")
            elif st == CDATA:
                pos, go = self._until_char(buf, pos, final, "]]>")
            else:  # PLAINTEXT: the rest of the document is text
                pos, go = n, False
            if not go:
                break
        if pos < n and not final:
            self._pend = [buf[pos:]]
            self._pend_len = n - pos
        end = n if final else pos
        self._flush_to(end)  # at EOF nothing is held (by construction): never lose bytes
        self._buf, self._copied = "", 0
        self._abs += end

    def _emit_text(self, buf: str, a: int, b: int) -> None:
        """Text between tags: copied through; while the injection waits, text content places it."""
        if a >= b or not self._inject_pending or self.xml:
            return
        m = _NON_WS_RE.search(buf, a, b)
        if m:  # text content makes the parser open <head> (and <body>): runtime first
            self._inject_now(m.start())

    def _inject_now(self, pos: int | None) -> None:
        """Insert the injection before buffer position ``pos`` (None: at the end of the output)."""
        self._inject_pending = False
        text = self._inject_src
        if self.xml:
            text = xml_safe_markup(text)
            if self._xml_root != "html":  # e.g. an SVG document: scripts must be XHTML's to load by src
                text = _INJECT_SCRIPT_RE.sub('<script xmlns="http://www.w3.org/1999/xhtml"', text)
        if not text.isascii():
            text = text.encode(self._codec or "utf-8", "xmlcharrefreplace").decode("latin-1")
        if pos is not None:
            self._flush_to(pos)
        self._insert(text)
        self.stats["injected"] = 1

    def _data(self, buf: str, pos: int, final: bool) -> tuple[int, bool]:
        n = len(buf)
        while True:
            i = buf.find("<", pos)
            if i < 0:
                if self._inject_pending:
                    self._emit_text(buf, pos, n)
                return n, False
            if self._inject_pending:
                self._emit_text(buf, pos, i)
            pos = i
            if i + 1 >= n:
                if final:
                    if self._inject_pending:
                        self._emit_text(buf, i, n)
                    return n, False
                return i, False
            c = buf[i + 1]
            if c in _LETTERS or (c == "/" and i + 2 < n and buf[i + 2] in _LETTERS):
                m = _TAG_RE.match(buf, i, i + MAX_TAG)
                if m is None:
                    if n - i >= MAX_TAG:  # give up on this tag: its "<" is text
                        self.stats["oversized_tags"] += 1
                        if self._inject_pending:
                            self._emit_text(buf, i, i + 1)
                        pos = i + 1
                        continue
                    if final:  # EOF in a tag: the parser drops it; the bytes stay
                        return n, False
                    self._wait_gt = True
                    return i, False
                pos = m.end()
                if m.group(1):
                    if self._inject_pending or self._foreign:
                        self._end_tag(m)
                    continue
                if self._start_tag(buf, m):
                    return pos, True
                continue
            if c == "/":
                if i + 2 >= n:
                    if final:
                        if self._inject_pending:
                            self._emit_text(buf, i, n)
                        return n, False
                    return i, False
                if buf[i + 2] == ">":  # "</>" is dropped by the parser
                    pos = i + 3
                    continue
                self._state = BOGUS
                return i + 2, True
            if c == "!":
                rest = buf[i + 2: i + 9]
                if len(rest) < 7 and not final and _undecided(rest):
                    return i, False
                if rest.startswith("--"):
                    j = i + 4
                    if n - j < 2 and not final:
                        return i, False
                    if buf.startswith(">", j):  # <!-->
                        pos = j + 1
                        continue
                    if buf.startswith("->", j):  # <!--->
                        pos = j + 2
                        continue
                    self._state = COMMENT
                    return j, True
                if rest.lower() == "doctype":
                    self._state = BOGUS
                    return i + 9, True
                if rest == "[CDATA[" and self._cdata_allowed():
                    self._state = CDATA
                    return i + 9, True
                self._state = BOGUS
                return i + 2, True
            if c == "?":
                self._state = BOGUS
                return i + 2, True
            if self._inject_pending:
                self._emit_text(buf, i, i + 1)
            pos = i + 1

    def _cdata_allowed(self) -> bool:
        return self.xml or (bool(self._foreign) and not self._foreign[-1].html)

    def _until_char(self, buf: str, pos: int, final: bool, end: str) -> tuple[int, bool]:
        j = buf.find(end, pos)
        if j >= 0:
            self._state = DATA
            return j + len(end), True
        hold = len(buf) if final else max(pos, len(buf) - len(end) + 1)
        return hold, False

    def _until(self, buf: str, pos: int, final: bool, rx: re.Pattern[str], keep: int) -> tuple[int, bool]:
        m = rx.search(buf, pos)
        if m:
            self._state = DATA
            return m.end(), True
        hold = len(buf) if final else max(pos, len(buf) - keep)
        return hold, False

    def _enter(self, state: int, name: str) -> None:
        self._state = state
        if state == SCRIPT:
            self._script_re = _script_res(name)
        else:
            self._end_re = _end_tag_re(name)
        self._hold = len(name) + 8

    def _raw(self, buf: str, pos: int, final: bool) -> tuple[int, bool]:
        m = self._end_re.search(buf, pos) if self._end_re is not None else None
        if m:
            self._raw_text(buf, pos, m.start(), True)
            self._state = DATA
            return m.start(), True
        hold = len(buf) if final else self._hold_from(buf, pos, False)
        self._raw_text(buf, pos, hold, final)
        return hold, False

    def _hold_from(self, buf: str, pos: int, dashes: bool) -> int:
        """Where an end tag (or "<!--" / "-->" in script data) may start in the unmatched tail."""
        n = len(buf)
        lo = max(pos, n - self._hold)
        k = buf.rfind("<", lo)
        hold = n if k < 0 else k
        if dashes:
            j = n
            while j > lo and j > n - 2 and buf[j - 1] == "-":
                j -= 1
            hold = min(hold, j)
        return hold

    def _raw_text(self, buf: str, a: int, b: int, last: bool) -> None:
        """buf[a:b] is text of a raw text element or a script: copied through, or collected."""
        parts = self._parts
        if parts is None:
            return
        if b > a:
            self._replace(a, b, "")  # held back: written (rewritten) when the element ends
            parts.append(buf[a:b])
            self._parts_len += b - a
        limit = MAX_STYLE if self._parts_kind == "css" else MAX_SCRIPT
        if self._parts_len > limit:  # too big to hold: pass it through
            self.stats["css_skipped" if self._parts_kind == "css" else "js_skipped"] += 1
            self._insert("".join(parts))
            self._parts = None
            return
        if last:
            self._parts = None
            raw = "".join(parts)
            if self._parts_kind == "css":
                self._insert(self._rewrite_css(raw))
            else:
                self._insert(self._rewrite_script(raw, self._parts_kind))

    def _rewrite_script(self, raw: str, kind: str) -> str:
        if not raw:
            return raw
        as_bytes = getattr(self.js, "rewrite_bytes", None)
        if as_bytes is not None and kind in (CLASSIC, MODULE) and self._codec in (None, "utf-8"):
            data = raw.encode("latin-1")  # the page's own bytes: UTF-8, as the JS rewriter reads them
            try:
                out = as_bytes(data)
            except Exception:  # a rewriter never raises into a response
                self.stats["js_skipped"] += 1
                return raw
            if out is data or out == data:
                return raw
            self.stats["js_blocks"] += 1
            return out.decode("latin-1")
        text = self._to_unicode(raw)
        if text is None:
            self.stats["js_skipped"] += 1
            return raw
        try:
            if kind == IMPORTMAP:
                new = rewrite_importmap(text, self.urls)
            elif kind == SPECULATION:
                new = rewrite_speculation_rules(text, self.urls)
            else:
                new = self.js(text)
        except Exception:  # a rewriter never raises into a response
            self.stats["js_skipped"] += 1
            return raw
        if new == text:
            return raw
        back = self._from_unicode(new)
        if back is None:
            self.stats["js_skipped"] += 1
            return raw
        self.stats["js_blocks"] += 1
        return back

    def _rewrite_css(self, raw: str) -> str:
        if not raw or ("(" not in raw and "@" not in raw):  # no function, no at-rule: no URL
            return raw
        text = self._to_unicode(raw)
        if text is None:
            self.stats["css_skipped"] += 1
            return raw
        try:
            new = self.css(text)
        except Exception:  # a rewriter never raises into a response
            self.stats["css_skipped"] += 1
            return raw
        if new == text:
            return raw
        back = self._from_unicode(new)
        if back is None:
            self.stats["css_skipped"] += 1
            return raw
        self.stats["css_blocks"] += 1
        return back

    def _script(self, buf: str, pos: int, final: bool) -> tuple[int, bool]:
        st = self._state
        plain, esc, desc = self._script_re
        rx = plain if st == SCRIPT else esc if st == SCRIPT_ESC else desc
        m = rx.search(buf, pos)
        if m:
            tok = m.group(0)
            if tok == "-->":
                nxt, state = m.end(), SCRIPT
            elif tok == "<!--":  # stay before the dashes: "<!-->" closes at once
                nxt, state = m.start() + 2, SCRIPT_ESC
            elif st == SCRIPT_DESC:
                nxt, state = m.end(), SCRIPT_ESC
            elif tok[1] == "/":
                nxt, state = m.start(), DATA
            else:
                nxt, state = m.end(), SCRIPT_DESC
            self._state = state
            self._raw_text(buf, pos, nxt, state == DATA)
            return nxt, True
        hold = len(buf) if final else self._hold_from(buf, pos, st != SCRIPT)
        self._raw_text(buf, pos, hold, final)
        return hold, False

    # -- tags ---------------------------------------------------------------

    def _end_tag(self, m: re.Match[str]) -> None:
        name = m.group(2)
        if not name.islower():
            name = name.translate(_ASCII_LOWER)
        if self._inject_pending and name in _IMPLY_HEAD_END and not self.xml:
            self._inject_now(m.start())
        if self._foreign:
            for k in range(len(self._foreign) - 1, -1, -1):
                if self._foreign[k].name == name:
                    del self._foreign[k:]
                    break

    def _start_tag(self, buf: str, m: re.Match[str]) -> bool:
        """Emit a start tag (rewritten if need be); True if the tokenizer state changed."""
        self.stats["start_tags"] += 1
        name = m.group(2)
        if not name.islower():
            name = name.translate(_ASCII_LOWER)
        a_start, a_end = m.span(3)
        attrs: dict[str, re.Match[str]] = {}
        if a_start < a_end and self._tag_sink is None and not self._foreign and name not in _ATTR_DICT_TAGS:
            # the common case: no tree-builder decision needs the attributes, only the table does
            edits = self._table_edits(buf, name, a_start, a_end)
            a_start = a_end
        else:
            edits = None
        if a_start < a_end:
            for am in _ATTR_RE.finditer(buf, a_start, a_end):
                an = am.group(1)
                if not an.islower():
                    an = an.translate(_ASCII_LOWER)
                if an not in attrs:  # duplicates: the first one wins
                    attrs[an] = am
        if self._tag_sink is not None:
            self._tag_sink((name.replace("\0", "\ufffd"), [
                (an.replace("\0", "\ufffd"), decode_attr_value(_unquote(am.group(2)))[0])
                for an, am in attrs.items()
            ]))
        if attrs:
            edits = self._attr_edits(buf, name, attrs)
        after = False  # inject right after this tag
        if self._inject_pending and name != "html":
            if name == "head" or (self.xml and not self._xml_root):  # XML: inside the root element
                if buf[m.end() - 2] == "/" and name != "head":
                    self._inject_pending = False  # an empty root: nowhere to put it
                else:
                    after = True
            else:
                self._inject_now(m.start())
        if edits:
            for s, e, text in sorted(edits):
                self._replace(s, e, text)
        if after:
            self._inject_now(m.end())
        if self.xml and not self._xml_root:
            self._xml_root = name
        if self._state != DATA:  # a <meta charset> of a non-ASCII-compatible encoding
            return True
        if self._foreign or name in _TREE_NAMES:
            return self._tree and self._tree_effects(name, attrs, m)
        return False

    def _tree_effects(self, name: str, attrs: dict[str, re.Match[str]], m: re.Match[str]) -> bool:
        foreign = self._foreign
        tail = m.string[m.end(3): m.end() - 1]
        self_closing = tail.endswith("/")
        if self.xml:  # XML: every element is markup; only script and style contents are collected
            if self_closing or name not in ("script", "style"):
                return False
            self._enter(RAWTEXT, name)
            self._collect_for(name, attrs)
            return True
        if foreign:
            top = foreign[-1]
            if not top.html or (top.name in _MATH_TEXT_POINTS and name in ("mglyph", "malignmark")):
                if name in _BREAKOUT or (name == "font" and ("color" in attrs or "face" in attrs or "size" in attrs)):
                    while foreign and not foreign[-1].html:
                        foreign.pop()
                else:
                    if not self_closing:
                        foreign.append(_Foreign(name, self._integration_point(name, attrs)))
                    return False
        if name == "svg" or name == "math":
            if not self_closing:
                foreign.append(_Foreign(name, False))
            return False
        if name == "script":
            self._enter(SCRIPT, name)
            self._collect_for(name, attrs)
            return True
        if name in _RAWTEXT_TAGS:
            self._enter(RAWTEXT, name)
            if name == "style":
                self._collect_for(name, attrs)
            return True
        if name in _RCDATA_TAGS:
            self._enter(RCDATA, name)
            return True
        if name == "plaintext":
            self._state = PLAINTEXT
            return True
        return False

    def _collect_for(self, name: str, attrs: dict[str, re.Match[str]]) -> None:
        """Start collecting the contents of a <style> or <script> that has something to rewrite."""
        if not self._active:
            return
        if name == "style":
            kind = "css" if self.css is not None else ""
        else:
            kind = self._script_kind(attrs)
            if kind in (CLASSIC, MODULE) and self.js is None:
                kind = ""
        if kind:
            self._parts, self._parts_len, self._parts_kind = [], 0, kind

    def _script_kind(self, attrs: dict[str, re.Match[str]]) -> str:
        """What a <script>'s contents are, as the WHATWG "prepare the script element" decides."""
        t = attrs.get("type")
        lang = attrs.get("language")
        tv = None if t is None else decode_attr_value(_unquote(t.group(2)))[0]
        if tv == "" or (t is None and (lang is None or not _unquote(lang.group(2)))):
            kind = "text/javascript"
        elif t is None:
            kind = "text/" + decode_attr_value(_unquote(lang.group(2)))[0]
        else:
            kind = tv
        kind = kind.strip(_WS).translate(_ASCII_LOWER)
        if kind in _JS_MIME:
            return CLASSIC
        if kind in (MODULE, IMPORTMAP, SPECULATION):
            return kind
        return ""  # a data block (JSON-LD, templates, ...): never touched

    def _integration_point(self, name: str, attrs: dict[str, re.Match[str]]) -> bool:
        parent = self._foreign[-1].name if self._foreign else ""
        in_svg = any(f.name == "svg" for f in self._foreign)
        in_math = any(f.name == "math" for f in self._foreign)
        if name in _SVG_HTML_POINTS and in_svg and parent != "annotation-xml":
            return True
        if name in _MATH_TEXT_POINTS and in_math:
            return True
        if name == "annotation-xml" and "encoding" in attrs:
            enc = decode_attr_value(_unquote(attrs["encoding"].group(2)))[0].translate(_ASCII_LOWER)
            return enc in ("text/html", "application/xhtml+xml")
        return False

    # -- attributes -----------------------------------------------------------

    def _attr_edits(self, buf: str, tag: str, attrs: dict[str, re.Match[str]]) -> list[Edit]:
        table = _TABLE_FOR.get(tag, _ANY_TAG)
        edits: list[Edit] = []
        for an, am in attrs.items():
            kind = table.get(an)
            if kind is None:
                kind = self._prefix_kind(an, am)
                if kind is None:
                    continue
            self._attr_edit(buf, tag, an, am, kind, edits)
        if tag == "meta":
            edits.extend(self._meta(buf, attrs))
        return edits

    def _table_edits(self, buf: str, tag: str, a_start: int, a_end: int) -> list[Edit]:
        """Like _attr_edits, straight from the attribute text: no dictionary of every attribute,
        only the names the table knows are remembered (the first of duplicates wins)."""
        table = _TABLE_FOR.get(tag, _ANY_TAG)
        edits: list[Edit] = []
        seen: set[str] | None = None
        for am in _ATTR_RE.finditer(buf, a_start, a_end):
            an = am.group(1)
            if not an.islower():
                an = an.translate(_ASCII_LOWER)
            kind = table.get(an)
            if kind is None:
                kind = self._prefix_kind(an, am)
                if kind is None:
                    continue
            if seen is None:
                seen = {an}
            elif an in seen:
                continue
            else:
                seen.add(an)
            self._attr_edit(buf, tag, an, am, kind, edits)
        return edits

    def _prefix_kind(self, an: str, am: re.Match[str]) -> str | None:
        if an.startswith("data-") and am.group(2):
            return DATA_URL
        if an.startswith("on") and self.js is not None and self._active:
            return JS
        return None

    def _attr_edit(self, buf: str, tag: str, an: str, am: re.Match[str], kind: str, edits: list[Edit]) -> None:
        if kind == DROP:
            if self._active:
                if self.keep_original:  # the name only: the value stays readable to the runtime
                    edits.append((am.start(1), am.start(1), ORIGINAL_PREFIX))
                else:
                    edits.append(self._drop(buf, am))
                self.stats["removed"] += 1
            return
        if kind == CSS and (self.css is None or not self._active):
            return
        if am.group(2) is None:
            return
        if tag == "base" and an == "href" and self.base_href is None:
            self.base_href = decode_attr_value(self._value(am)[0])[0]
        edit = self._rewrite_value(am, kind, tag, an)
        if edit is not None:
            edits.append(edit)

    def _drop(self, buf: str, am: re.Match[str]) -> Edit:
        start, end = am.span()
        if end < len(buf) and buf[end] not in _WS and buf[end] != ">":
            return start, end, " "  # keep the next attribute from joining the previous one
        return start, end, ""

    @staticmethod
    def _value(am: re.Match[str]) -> tuple[str, str]:
        """(raw value without quotes, quote) of an attribute that has a value."""
        v = am.group(2)
        q = v[:1]
        if q == '"' or q == "'":
            return v[1:-1], q
        return v, ""

    def _rewrite_value(self, am: re.Match[str], kind: str, tag: str, attr: str) -> Edit | None:
        if kind == URL:
            v = am.group(2)
            if _RELATIVE_URL_RE.match(v, 1 if v[0] in "\"'" else 0):  # fast path: nothing to map
                return None
            fast = self._plain_url(am, v, tag, attr)
            if fast is not False:
                return fast
            edit_fn = self._url_edits
        elif kind == SRCSET:
            edit_fn = self._srcset_edits
        elif kind == URL_LIST:
            edit_fn = self._list_edits
        elif kind == CSS:
            v = am.group(2)
            if "(" not in v and "@" not in v and "&" not in v:  # no url(), no @import: nothing to map
                return None
            edit_fn = self._css_edits
        elif kind == JS:
            edit_fn = self._js_edits
        elif kind == SRCDOC:
            if not self._active or self._depth >= MAX_SRCDOC_DEPTH:
                return None
            edit_fn = self._srcdoc_edits
        else:  # DATA_URL: only a whole absolute http(s) URL; most data-* values are not (fast path)
            v = am.group(2)
            head = v[1:5] if v[0] in "\"'" else v[:4]
            if head[:1] != "&" and head.lower() != "http":
                return None
            edit_fn = self._data_url_edits
        return self._edit_value(am, edit_fn, tag, attr)

    def _edit_value(self, am: re.Match[str], edit_fn: Callable[[str], list[Edit]], tag: str, attr: str) -> Edit | None:
        """Decode the value, let ``edit_fn`` edit it, splice the edits into the raw text.

        Returns an edit of the buffer replacing the value (quotes included), or None.
        """
        raw, quote = self._value(am)
        u = self._to_unicode(raw)
        if u is None:
            return None
        value, _ = decode_attr_value(u, False)
        try:
            edits = edit_fn(value)
        except Exception:  # a rewriter never raises into a response
            return None
        if not edits:
            return None
        pos = None
        if value != u:  # references were decoded: offsets differ after the first "&"
            amp = u.find("&")
            if amp < 0 or max(e for _, e, _ in edits) > amp:
                pos = _Positions(u)
        new = _splice(u, value, pos, edits, quote)
        if new is None:
            return None
        new = self._from_unicode(new)
        if new is None:
            return None
        return self._finish(am, new, tag, attr)

    def _finish(self, am: re.Match[str], new: str, tag: str, attr: str) -> Edit:
        """The edit replacing an attribute's value (quotes included) with ``new``; hooks applied."""
        self.stats["rewritten"] += 1
        vs, ve = am.span(2)
        if self.keep_original:
            new += f" {ORIGINAL_PREFIX}{attr.replace(':', '_')}={am.group(2)}"
        if self.on_rewrite is not None:
            extra = self.on_rewrite(tag, attr, am.group(2), new)
            if extra:
                new += extra
        return vs, ve, new

    def _plain_url(self, am: re.Match[str], v: str, tag: str, attr: str) -> Edit | None | bool:
        """Fast path for a plain URL value: ASCII, no tab/newline/NUL, no character reference up to
        the end of its authority. Then the raw text reads as itself where the mapper looks, and the
        mapper's output (origin replaced, the rest as given) is the new raw value. False: not plain."""
        q = v[0] if v[0] in "\"'" else ""
        raw = v[1:-1] if q else v
        if not raw.isascii() or "\t" in raw or "\n" in raw or "\r" in raw or "\0" in raw:
            return False
        amp = raw.find("&")
        if amp >= 0 and amp < _URL_HEAD_RE.match(raw).end():
            return False
        new = self._memo.get(raw)
        if new is not None and new != raw:
            self.urls.rewritten += 1  # the mapper's count stays the number of URLs mapped
        elif new is None:
            if javascript_url_body(raw) is not None:
                return False
            new = self.urls.rewrite(raw)
            if len(self._memo) < MAX_URL_MEMO:
                self._memo[raw] = new
        if new == raw:
            return None
        return self._finish(am, q + new + q, tag, attr)

    def _url_edits(self, value: str) -> list[Edit]:
        body = javascript_url_body(value)
        if body is not None:
            return self._javascript_url_edits(value, body) if self.js is not None and self._active else []
        return _diff_url(value, self.urls.rewrite(value))

    def _javascript_url_edits(self, value: str, at: int) -> list[Edit]:
        """A javascript: URL: its body is percent-decoded script (ASCII escapes decoded here)."""
        raw = value[at:]
        if "%" not in raw:
            return [(at + a, at + b, t) for a, b, t in _diff_many(raw, self.js(raw))]
        code, starts = percent_decode_ascii(raw)
        new = self.js(code)
        if new == code:
            return []
        edits = []
        for a, b, t in _diff_many(code, new):
            edits.append((at + starts[a], at + starts[b], t.replace("%", "%25")))
        return edits

    def _js_edits(self, value: str) -> list[Edit]:
        return _diff_many(value, self.js(value))

    def _srcdoc_edits(self, value: str) -> list[Edit]:
        inner = HtmlRewriter(
            self.urls, inject=self._inject_src, charset="utf-8", css=self.css, js=self.js,
            keep_original=self.keep_original,
        )
        inner._depth = self._depth + 1
        inner.on_rewrite = self.on_rewrite
        inner._edit_log = []
        data = value.encode("utf-8", "surrogateescape")
        out = inner.feed(data) + inner.close()
        if out == data:
            return []
        if inner.stats["errors"] or inner.stats["passed_through"] or data.startswith(codecs.BOM_UTF8):
            return _diff_many(value, out.decode("utf-8", "surrogateescape"))
        # the inner rewriter's own log: exactly what changed, in UTF-8 byte offsets of ``data``
        edits: list[Edit] = []
        byte_at = char_at = 0
        for a, b, text in inner._edit_log:
            ca = char_at + len(data[byte_at:a].decode("utf-8", "surrogateescape"))
            cb = ca + len(data[a:b].decode("utf-8", "surrogateescape"))
            byte_at, char_at = b, cb
            text = text.encode("latin-1").decode("utf-8", "surrogateescape")
            if edits and edits[-1][0] == edits[-1][1] == ca and a == b:  # two insertions at one place
                edits[-1] = (ca, ca, edits[-1][2] + text)
            else:
                edits.append((ca, cb, text))
        return edits

    def _srcset_edits(self, value: str) -> list[Edit]:
        edits = []
        for s, e in srcset_url_spans(value):
            edits.extend(_diff_url(value[s:e], self.urls.rewrite(value[s:e]), s))
        return edits

    def _list_edits(self, value: str) -> list[Edit]:
        edits = []
        for t in _WS_TOKEN_RE.finditer(value):
            edits.extend(_diff_url(t.group(), self.urls.rewrite(t.group()), t.start()))
        return edits

    def _css_edits(self, value: str) -> list[Edit]:
        return _diff_many(value, self.css(value))

    def _data_url_edits(self, value: str) -> list[Edit]:
        if not _ABS_HTTP_RE.fullmatch(value):
            return []
        return _diff_url(value, self.urls.rewrite(value))

    def _meta(self, buf: str, attrs: dict[str, re.Match[str]]) -> list[Edit]:
        edits: list[Edit] = []
        he = attrs.get("http-equiv")
        content = attrs.get("content")
        if content is not None and content.group(2) is None:
            content = None
        equiv = ""
        if he is not None and he.group(2):
            equiv = decode_attr_value(self._value(he)[0])[0].translate(_ASCII_LOWER)
        if equiv == "refresh" and content is not None:
            def refresh(value: str) -> list[Edit]:
                span = refresh_url_span(value)
                if span is None:
                    return []
                s, e = span
                return _diff_url(value[s:e], self.urls.rewrite(value[s:e]), s)

            edit = self._edit_value(content, refresh, "meta", "content")
            if edit is not None:
                edits.append(edit)
        elif equiv in _CSP_NAMES and self._active:
            vs, ve = he.span(2)
            quote = self._value(he)[1]
            edits.append((vs, ve, quote + CSP_REPLACEMENT + quote))
            self.stats["csp_neutralised"] += 1
        if not self._codec_locked:
            label = None
            if "charset" in attrs and attrs["charset"].group(2):
                label = decode_attr_value(self._value(attrs["charset"])[0])[0]
            elif equiv == "content-type" and content is not None:
                cm = _META_CHARSET_RE.search(decode_attr_value(self._value(content)[0])[0])
                label = cm.group(2) if cm else None
            if label:
                self._codec_locked = True
                low = label.strip().lower()
                if low.startswith(("utf-16", "utf-32")):  # a meta cannot say UTF-16: it means UTF-8
                    low = "utf-8"
                codec, passes = resolve_charset(low)
                self._codec = codec
                if passes:  # bytes from here on are not ASCII-compatible: hands off
                    self._state = PLAINTEXT
                    self.stats["passed_through"] = 1
        return edits

    # -- charset conversion of the spans we rewrite ------------------------------

    def _to_unicode(self, s: str) -> str | None:
        if s.isascii():
            return s
        codec = self._codec or "utf-8"
        b = s.encode("latin-1")
        try:
            u = b.decode(codec, "surrogateescape")
            if codec != "utf-8" and u.encode(codec, "surrogateescape") != b:
                return None  # this codec would not give the same bytes back
        except (UnicodeError, LookupError):
            return None
        return u

    def _from_unicode(self, u: str) -> str | None:
        if u.isascii():
            return u
        try:
            return u.encode(self._codec or "utf-8", "surrogateescape").decode("latin-1")
        except (UnicodeError, LookupError):
            return None


def _unquote(raw: str | None) -> str:
    if not raw:
        return ""
    if raw[0] in "\"'":
        return raw[1:-1]
    return raw


def _undecided(rest: str) -> bool:
    """True while the characters after "<!" could still become "--", DOCTYPE or [CDATA[."""
    return (
        (len(rest) < 2 and "--".startswith(rest))
        or "doctype".startswith(rest.lower())
        or "[CDATA[".startswith(rest)
    )


def rewrite_html(data: bytes, urls: UrlRewriter, **kw) -> bytes:
    """Rewrite a whole document (see :class:`HtmlRewriter` for the keywords)."""
    rw = HtmlRewriter(urls, **kw)
    return rw.feed(data) + rw.close()


_STATE_NAMES = {
    "data state": DATA,
    "plaintext state": PLAINTEXT,
    "rcdata state": RCDATA,
    "rawtext state": RAWTEXT,
    "script data state": SCRIPT,
    "cdata section state": CDATA,
}


def iter_start_tags(
    text: str,
    state: str = "Data state",
    last_start_tag: str | None = None,
    chunk: int = 0,
    *,
    tree: bool = False,
) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """The start tags the tokenizer sees in ``text``: (name, [(attr, value), ...]).

    Names are lower-cased, values decoded, duplicates dropped. By default there is no
    tree builder: a <script> start tag does not switch states (this is what the
    html5lib tokenizer vectors describe); ``tree=True`` gives the rewriter's view, with
    raw text elements and foreign content. ``state`` is an html5lib initial state name;
    ``last_start_tag`` names the appropriate end tag for the text states. ``chunk`` > 0
    feeds the text in pieces of that size.
    """
    rw = HtmlRewriter(IdentityRewriter())
    rw._tree = tree
    tags: list[tuple[str, list[tuple[str, str]]]] = []
    rw._tag_sink = tags.append
    rw._mode = "rewrite"
    st = _STATE_NAMES[state.lower()]
    if st in (RCDATA, RAWTEXT, SCRIPT):
        rw._enter(st, last_start_tag or "\0no end tag\0")
    else:
        rw._state = st
    pieces: Iterable[str] = [text] if chunk <= 0 else (text[i: i + chunk] for i in range(0, len(text), chunk))
    for piece in pieces:
        rw._process(piece, final=False)
        yield from tags
        tags.clear()
    rw._process("", final=True)
    yield from tags

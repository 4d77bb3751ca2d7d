"""JavaScript rewriter: the URLs a script hands to the browser's own loaders go through the proxy.

Theory of operation
-------------------
A proxied page lives on its own origin (``LABEL.BASE``), so relative URLs, ``fetch``, XHR,
``location`` and friends already resolve to the proxy or are covered by the runtime. What the
runtime cannot reach are the module loaders, which are syntax, not functions it could wrap:

* static ``import ... from "URL"`` / ``import "URL"`` and ``export ... from "URL"``;
* dynamic ``import("URL")`` (and a template literal without substitutions);
* ``importScripts("URL", ...)`` in workers (also as ``self.importScripts``);
* the ``//# sourceMappingURL=URL`` comment (and ``/*# ... */``, and the legacy ``//@``).

Only those string literals are touched, and only the part the URL mapper changes (the scheme and
authority of an absolute URL): bare (``"react"``) and relative (``"./a.js"``) specifiers, ``data:``
and ``blob:`` stay as they are, and so does every other byte of the script.

Parsing. The places are found with a real parser, tree-sitter's JavaScript grammar (C, on PyPI):
a string is a specifier only where the grammar says so, never inside a comment, a regex, a
template or another string. A script the grammar cannot parse passes through unchanged and is
counted (:data:`stats`). Before parsing, a substring test skips every script that cannot hold any
of the places (no ``import``, ``export`` or ``sourceMappingURL``): most scripts are never parsed.
Keywords cannot be written with escapes, so the test is exact for them; an identifier
``importScripts`` written with a ``\\u`` escape is the one form it misses (the runtime wraps
``importScripts`` in workers anyway). What a parse finds (which literals are specifiers, where the
source map comments and the location reads are) depends on the script's bytes alone, so it is
remembered by content (:func:`_analyse`) and each mapper only maps its own URLs into it.

Hostile input. tree-sitter's error recovery recurses once per open bracket on some broken input
(``{a:`` repeated 100,000 times overflows an 8 MiB C stack) and can be superlinear. So scripts
over :data:`INLINE_PARSE_MAX` are parsed on one worker thread with a big stack, a script over
:data:`MAX_PARSE` is not parsed at all, and a parse that runs past its time budget is cancelled
(the script then passes through, counted). The budget is far above what any real script needs
(the 1.2 MB react-dom development build parses in ~0.1 s), so it decides only for broken input.

Bytes. UTF-8 (the default for scripts) is parsed as bytes, so offsets need no conversion and
invalid sequences pass through as they are. Other ASCII-compatible charsets are decoded, rewritten
as text and encoded back, only when that round-trips exactly; UTF-16/32 pass through, counted.
The rewriter never raises.
"""

from __future__ import annotations

import codecs
import queue
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from . import jslocation
from .errors import RewriteBudgetExceeded, RewriteError
from .urls import UrlRewriter

# --- limits -------------------------------------------------------------------------------

# Scripts bigger than this are not parsed (passed through, counted): a parse holds the whole tree
# in memory (~10x the source) and the stack/time safety below is sized for it. Real bundles stay
# below (the corpus' biggest is 1.6 MB; big web apps ship 2-6 MB chunks).
MAX_PARSE = 8 << 20
# Scripts up to this size parse on the caller's thread: even the worst nesting that fits in it
# (about 22,000 levels of "{a:") stays far inside the 8 MiB default stack.
INLINE_PARSE_MAX = 64 << 10
# Stack of the thread that parses bigger scripts. Broken input costs ~100 bytes of C stack per
# nesting level in tree-sitter's error recovery: MAX_PARSE of "{a:" is 2.8 M levels, ~280 MiB.
# Only touched pages are committed, so this is address space, not memory.
PARSE_STACK = 512 << 20
# Time budget of one parse (CPU seconds of the parsing thread): the base plus this much per MiB. Real scripts parse at 5-20 MB/s on
# one core; only broken input (whose error recovery can go superlinear) comes near it.
PARSE_SECONDS = 2.0
PARSE_SECONDS_PER_MB = 2.0
# Places a specifier can be (the words "import" and "export") per script. Each costs a regex match,
# a mapper call and, once parsed, a tree query and an edit: 200,000 of them took 17.6 s (finding
# #15). Real bundles have a few hundred at most (the corpus: 190 in the 609 KB vue.global.js); a
# script over this is refused (RewriteBudgetExceeded: the document fails closed), counted first
# with bytes.count, so the refusal itself costs C speed.
MAX_IMPORT_WORDS = 5_000
# Bytes handed to tree-sitter per read callback.
READ_CHUNK = 256 << 10

# --- counters ------------------------------------------------------------------------------


@dataclass(slots=True)
class JsStats:
    """Process-wide counters of what the JS rewriter did and why it passed scripts through."""

    skipped: int = 0  # no trigger word: nothing to look for, not parsed
    parsed: int = 0  # parsed without error
    unparsable: int = 0  # the grammar found a syntax error: passed through unchanged
    too_big: int = 0  # over MAX_PARSE: passed through unchanged
    timeouts: int = 0  # parse cancelled past its budget: passed through unchanged
    unscannable: int = 0  # charset we do not rewrite (UTF-16/32, bytes that do not round-trip)
    failed: int = 0  # an unexpected internal error: passed through unchanged
    specifiers: int = 0  # string literals rewritten (import/export/import()/importScripts)
    source_maps: int = 0  # sourceMappingURL comments rewritten


stats = JsStats()

# --- the parser ---------------------------------------------------------------------------------

# The pre-check: where a specifier can be. A keyword, then whitespace and comments, then a quote.
# JS whitespace includes NBSP, BOM, U+1680, U+2000-U+200A, U+2028/9, U+202F, U+205F and U+3000
# (UTF-8 here); keywords cannot contain escapes. ``\\b`` before the keyword only lets through more.
_JS_SPACE = rb"(?:[\t\n\v\f\r ]|\xc2\xa0|\xef\xbb\xbf|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]|\xe2\x81\x9f|\xe3\x80\x80)"
# Each comment can be read one way only (a block comment holds no "*/", a line comment no line
# end): with ".*?" a run of comments could also be read as fewer, longer ones, and a failing match
# tried every reading (2^n for n comments).
_JS_COMMENT = rb"(?:/\*[^*]*\*+(?:[^/*][^*]*\*+)*/|//(?:(?!\xe2\x80[\xa8\xa9])[^\n\r])*(?:[\n\r]|\xe2\x80[\xa8\xa9]))"
_GAP = rb"(?:" + _JS_SPACE + rb"|" + _JS_COMMENT + rb")*"
# Each starts with its keyword as a literal, so the regex engine can jump to it (an alternation
# of keywords would be tried at every position); the word boundary before it is checked by hand.
_FROM_RE = re.compile(rb"from" + _GAP + rb"([\"'])", re.S)
_IMPORT_RE = re.compile(rb"import" + _GAP + rb"(?:([\"'])|\(" + _GAP + rb"([\"'`]))", re.S)
_IMPORT_SCRIPTS_RE = re.compile(rb"importScripts" + _GAP + rb"\(", re.S)
_IDENT_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$")

# Predicates (#eq?) would run in Python on every call: importScripts is found by its bytes instead.
_QUERY_SRC = """
(import_statement source: (string) @spec)
(export_statement source: (string) @spec)
(call_expression function: (import) arguments: (arguments) @dynamic)
"""
_IMPORT_SCRIPTS = b"importScripts"
_SOURCE_MAP_RE = re.compile(rb"(?://|/\*)[#@][ \t]*sourceMappingURL=([^\s'\"*]*)")

_language = None
_query = None
_local = threading.local()


def _setup():
    global _language, _query
    if _query is None:
        import tree_sitter_javascript
        from tree_sitter import Language, Query

        _language = Language(tree_sitter_javascript.language())
        _query = Query(_language, _QUERY_SRC)
    return _language, _query


def _parser():
    p = getattr(_local, "parser", None)
    if p is None:
        from tree_sitter import Parser

        p = _local.parser = Parser(_setup()[0])
    return p


class _Cancelled(Exception):
    pass


def _parse_here(data: bytes):
    """Parse on this thread; None when the time budget ran out."""
    budget = PARSE_SECONDS + PARSE_SECONDS_PER_MB * len(data) / (1 << 20)
    # The budget is this thread's CPU time, not the wall clock: on a busy machine (other processes
    # on the cores, other threads holding the GIL at every progress call) a wall-clock budget ran
    # out on ordinary scripts, which then passed through unrewritten: the output depended on load.
    deadline = time.thread_time() + budget

    def read(offset: int, _point) -> bytes:
        return data[offset: offset + READ_CHUNK]

    def progress(*_args) -> bool:
        return time.thread_time() > deadline

    parser = _parser()
    try:
        return parser.parse(read, progress_callback=progress)
    except ValueError:  # tree-sitter's "Parsing failed" when the progress callback cancelled it
        # A cancelled parser resumes the cancelled parse at its next call (tree-sitter keeps its
        # state for that): without a reset, the next script parsed on this thread -- any page's,
        # any session's -- came out "unparsable" and passed through unrewritten.
        parser.reset()
        if time.thread_time() > deadline:
            return None
        raise


class _BigStackWorker:
    """One thread with a big stack that parses the scripts too big for the caller's stack."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            old = threading.stack_size()
            threading.stack_size(PARSE_STACK)
            try:
                t = threading.Thread(target=self._run, name="tandem-js-parse", daemon=True)
                t.start()
            finally:
                threading.stack_size(old)
            self._thread = t

    def _run(self) -> None:
        while True:
            data, done, box = self._jobs.get()
            try:
                box.append(("ok", _parse_here(data)))
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                box.append(("err", exc))
            done.set()

    def parse(self, data: bytes):
        self._start()
        done = threading.Event()
        box: list = []
        self._jobs.put((data, done, box))
        done.wait()
        kind, value = box[0]
        if kind == "err":
            raise value
        return value


_worker = _BigStackWorker()


def _parse(data: bytes):
    if len(data) <= INLINE_PARSE_MAX:
        return _parse_here(data)
    return _worker.parse(data)


# --- string literals ------------------------------------------------------------------------------

_ESCAPE_RE = re.compile(
    r"\\(?:x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})|u\{([0-9A-Fa-f]+)\}|([0-7]{1,3})|(\r\n|[\n\r\u2028\u2029])|(.))",
    re.S,
)
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}


def decode_js_string(raw: str, template: bool = False) -> tuple[str, list[int]]:
    """The value of a string literal's body (quotes removed) and where each character starts.

    ``starts[k]`` is the raw offset of decoded character ``k``; ``starts[len(value)] == len(raw)``.
    Legacy octal escapes are read as in sloppy mode. In a template, a raw CR or CRLF reads as LF.
    """
    out: list[str] = []
    starts: list[int] = []
    prev = 0
    for m in _ESCAPE_RE.finditer(raw):
        for k in range(prev, m.start()):
            out.append(raw[k])
            starts.append(k)
        hexa, u4, ubrace, octal, cont, char = m.groups()
        if hexa is not None:
            ch = chr(int(hexa, 16))
        elif u4 is not None:
            ch = chr(int(u4, 16))
        elif ubrace is not None:
            n = int(ubrace[-8:], 16) if len(ubrace.lstrip("0")) <= 6 else 0x110000
            ch = chr(n) if n <= 0x10FFFF else "\ufffd"
        elif octal is not None:
            n = int(octal, 8)
            if n > 0xFF:  # \400 is \40 then "0"
                ch = chr(int(octal[:2], 8))
                out.append(ch)
                starts.append(m.start())
                out.append(octal[2])
                starts.append(m.start() + 3)
                prev = m.end()
                continue
            ch = chr(n)
        elif cont is not None:
            ch = ""  # a line continuation
        else:
            ch = _SIMPLE.get(char, char)
        if ch:
            out.append(ch)
            starts.append(m.start())
        prev = m.end()
    for k in range(prev, len(raw)):
        if template and raw[k] == "\r":
            if raw.startswith("\n", k + 1):
                continue  # CRLF: the LF stands for both
            out.append("\n")
        else:
            out.append(raw[k])
        starts.append(k)
    starts.append(len(raw))
    # a CRLF pair skipped above: the LF's start is the CR's
    if template and "\r\n" in raw:
        starts = _fix_crlf_starts(raw, starts)
    return "".join(out), starts


def _fix_crlf_starts(raw: str, starts: list[int]) -> list[int]:
    return [s - 1 if 0 < s < len(raw) and raw[s] == "\n" and raw[s - 1] == "\r" else s for s in starts]


def _escape_js(text: str, quote: str) -> str:
    """``text`` written so that it reads back as itself inside the given quote."""
    if not any(c in text for c in ("\\", quote, "\n", "\r", "\u2028", "\u2029", "$")):
        return text
    out = []
    for c in text:
        if c == "\\" or c == quote:
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c in "\u2028\u2029":
            out.append("\\u%04x" % ord(c))
        elif c == "$" and quote == "`":
            out.append("\\$")
        else:
            out.append(c)
    return "".join(out)


def _common_prefix(a: str, b: str, limit: int) -> int:
    n = 0
    while n < limit and a[n] == b[n]:
        n += 1
    return n


def _common_suffix(a: str, b: str, limit: int) -> int:
    n = 0
    while n < limit and a[len(a) - 1 - n] == b[len(b) - 1 - n]:
        n += 1
    return n


def literal_edit(raw: str, quote: str, urls: UrlRewriter, template: bool = False) -> tuple[int, int, str] | None:
    """The edit (start, end, text) of a literal's raw body that maps its URL, or None."""
    if "\\" in raw or (template and "\r" in raw):
        value, starts = decode_js_string(raw, template)
    else:
        value, starts = raw, None
    new = urls.rewrite(value)
    if new == value:
        return None
    keep = _common_suffix(value, new, min(len(value), len(new)))
    pre = _common_prefix(value, new, min(len(value), len(new)) - keep)
    cut = len(value) - keep
    middle = _escape_js(new[pre: len(new) - keep], quote)
    if starts is None:
        return pre, cut, middle
    a, b = starts[pre], starts[cut]
    rebuilt = raw[:a] + middle + raw[b:]
    if decode_js_string(rebuilt, template)[0] != new:  # an escape at the edge merged: write it all anew
        return 0, len(raw), _escape_js(new, quote)
    return a, b, middle


# --- finding the places ---------------------------------------------------------------------------

Edit = tuple[int, int, bytes]


def _literal_nodes(root, data: bytes) -> list:
    _, query = _setup()
    from tree_sitter import QueryCursor

    caps = QueryCursor(query).captures(root)
    nodes = list(caps.get("spec", ()))
    for args in caps.get("dynamic", ()):  # import(specifier, options): the first argument only
        first = next((c for c in args.named_children if c.type not in ("comment", "html_comment")), None)
        if first is not None and first.type in ("string", "template_string"):
            nodes.append(first)
    at = data.find(_IMPORT_SCRIPTS)
    while at >= 0:
        nodes.extend(_import_scripts_args(root, at))
        at = data.find(_IMPORT_SCRIPTS, at + 1)
    return nodes


def _import_scripts_args(root, at: int) -> list:
    """The literal arguments of ``importScripts(...)`` / ``x.importScripts(...)`` named at ``at``."""
    name = root.descendant_for_byte_range(at, at + len(_IMPORT_SCRIPTS))
    if name is None or name.start_byte != at or name.end_byte != at + len(_IMPORT_SCRIPTS):
        return []
    callee = name
    if name.type == "property_identifier":
        callee = name.parent
        if callee is None or callee.type != "member_expression" or callee.child_by_field_name("property") != name:
            return []
    elif name.type != "identifier":
        return []
    call = callee.parent
    if call is None or call.type != "call_expression" or call.child_by_field_name("function") != callee:
        return []
    args = call.child_by_field_name("arguments")
    if args is None:
        return []
    return [c for c in args.named_children if c.type in ("string", "template_string")]


def _literal_span(node) -> tuple[int, int, bool] | None:
    """(start byte, end byte, is a template) of a literal node; None for a template with a substitution."""
    if node.type == "template_string":
        if any(c.type == "template_substitution" for c in node.named_children):
            return None  # import(`${base}/x.js`): not a literal
        return node.start_byte, node.end_byte, True
    return node.start_byte, node.end_byte, False


def _span_edit(span: tuple[int, int, bool], data: bytes, urls: UrlRewriter) -> Edit | None:
    start, end, template = span
    quote = "`" if template else chr(data[start])
    a, b = start + 1, end - 1
    if b < a or data[b: b + 1] != quote.encode():
        return None  # an unterminated literal (error recovery): leave it
    raw = data[a:b].decode("utf-8", "surrogateescape")
    e = literal_edit(raw, quote, urls, template)
    if e is None:
        return None
    s, t, text = e
    sb = a + len(raw[:s].encode("utf-8", "surrogateescape"))
    tb = a + len(raw[:t].encode("utf-8", "surrogateescape"))
    return sb, tb, text.encode("utf-8", "surrogateescape")


def _source_map_spans(data: bytes, root) -> list[tuple[int, int]]:
    """The URL span of each ``sourceMappingURL`` comment the tree confirms is a comment."""
    spans = []
    for m in _SOURCE_MAP_RE.finditer(data):
        node = root.descendant_for_byte_range(m.start(), m.start() + 1)
        if node is None or node.type != "comment" or node.start_byte != m.start():
            continue
        spans.append(m.span(1))
    return spans


def _source_map_edits(data: bytes, spans: list[tuple[int, int]], urls: UrlRewriter) -> list[Edit]:
    edits = []
    for s, e in spans:
        raw = data[s:e].decode("utf-8", "surrogateescape")
        new = urls.rewrite(raw)
        if new != raw:
            edits.append((s, e, new.encode("utf-8", "surrogateescape")))
            stats.source_maps += 1
    return edits


@dataclass(frozen=True, slots=True)
class _Analysis:
    """What the parse of a script tells, independent of any mapping: remembered by content."""

    location: list  # rewriter/jslocation.py's edits
    literals: list  # (start, end, is template) of each specifier literal, in the tree's order
    source_maps: list  # (start, end) of each sourceMappingURL comment's URL


# Scripts whose analysis is remembered (a few offsets each): a script worth parsing is parsed once
# per process, not once per page or per session (inline bundles repeat on every page of a site).
ANALYSIS_ENTRIES = 4096
ANALYSIS_ITEMS = 1000  # an analysis with more places than this is not remembered (bounds the memory)
_analyses: "OrderedDict[bytes, _Analysis | None]" = OrderedDict()  # None: the grammar found an error
_analyses_lock = threading.Lock()


_key = jslocation.content_key  # what the caches below remember a script by: a digest of its bytes


def _analyse(data: bytes, key: bytes | None = None) -> _Analysis | None | bool:
    """The analysis of a script (None: unparsable; False: the parse ran out of time, not remembered)."""
    if key is None:
        key = _key(data)
    with _analyses_lock:
        if key in _analyses:
            _analyses.move_to_end(key)
            return _analyses[key]
    tree = _parse(data)
    if tree is None:
        return False
    root = tree.root_node
    if root.has_error:
        found = None
    else:
        spans = [_literal_span(node) for node in _literal_nodes(root, data)]
        found = _Analysis(list(jslocation.read_edits(data, root=root, max_parse=MAX_PARSE, key=key)),
                          [sp for sp in spans if sp is not None],
                          _source_map_spans(data, root) if b"sourceMappingURL" in data else [])
    if found is not None and len(found.location) + len(found.literals) + len(found.source_maps) > ANALYSIS_ITEMS:
        return found
    with _analyses_lock:
        _analyses[key] = found
        while len(_analyses) > ANALYSIS_ENTRIES:
            _analyses.popitem(last=False)
    return found


def _apply(data: bytes, edits: list[Edit]) -> bytes:
    out = []
    at = 0
    for s, e, text in sorted(edits):
        if s < at:
            continue
        out.append(data[at:s])
        out.append(text)
        at = e
    out.append(data[at:])
    return b"".join(out)


_LITERAL_END = {ord('"'): re.compile(rb'["\\\n\r]'), ord("'"): re.compile(rb"['\\\n\r]"), ord("`"): re.compile(rb"[`\\$]")}


def _literal_at(data: bytes, q: int) -> tuple[str, bool] | None:
    """The raw body of the string or template literal whose quote is at ``q`` (None: not one)."""
    quote = data[q]
    rx = _LITERAL_END[quote]
    i = q + 1
    while True:
        m = rx.search(data, i)
        if m is None:
            return None
        c = data[m.start()]
        if c == quote:
            return data[q + 1: m.start()].decode("utf-8", "surrogateescape"), quote == 0x60
        if c == 0x5C:  # backslash: skip the escaped character
            i = m.start() + 2
        elif c == 0x24:  # "$": a substitution makes it no literal
            if data.startswith(b"{", m.start() + 1):
                return None
            i = m.start() + 1
        else:  # a line break ends a string literal: not one
            return None


@dataclass(frozen=True, slots=True)
class _Places:
    """What _worth_parsing reads from a script before it asks the mapper: remembered by content."""

    values: tuple  # the value of each literal after a "from" / "import", in the order they are asked
    import_scripts: bool  # an importScripts( call (a literal may follow other arguments)
    source_maps: tuple  # the URL of each sourceMappingURL comment, in order


PLACES_ENTRIES = 4096
_places: "OrderedDict[bytes, _Places]" = OrderedDict()
_places_lock = threading.Lock()


def _find_places(data: bytes) -> _Places:
    """The places _worth_parsing asks the mapper about (the same scan, without the mapper)."""
    values = []
    for rx in (_FROM_RE, _IMPORT_RE):
        for m in rx.finditer(data):
            if m.start() and data[m.start() - 1] in _IDENT_BYTES:
                continue
            q = next(m.start(k) for k in range(1, (m.re.groups or 0) + 1) if m.group(k) is not None)
            lit = _literal_at(data, q)
            if lit is None:
                continue
            raw, template = lit
            values.append(decode_js_string(raw, template)[0] if ("\\" in raw or "\r" in raw) else raw)
    import_scripts = b"importScripts" in data and _IMPORT_SCRIPTS_RE.search(data) is not None
    maps = []
    if b"sourceMappingURL" in data:
        maps = [sm.group(1).decode("utf-8", "surrogateescape") for sm in _SOURCE_MAP_RE.finditer(data)]
    return _Places(tuple(values), import_scripts, tuple(maps))


def _remembered_places(key: bytes) -> _Places | None:
    with _places_lock:
        found = _places.get(key)
        if found is not None:
            _places.move_to_end(key)
        return found


def _places_of(data: bytes, key: bytes) -> _Places:
    found = _remembered_places(key)
    return found if found is not None else _find_places_remembered(data, key)


def _find_places_remembered(data: bytes, key: bytes) -> _Places:
    found = _find_places(data)
    if len(found.values) + len(found.source_maps) <= ANALYSIS_ITEMS:
        with _places_lock:
            _places[key] = found
            while len(_places) > PLACES_ENTRIES:
                _places.popitem(last=False)
    return found


def _worth(places: _Places, urls: UrlRewriter) -> bool:
    """_worth_parsing from the remembered places: the same questions to the mapper, in the same order."""
    for value in places.values:
        if urls.rewrite(value) != value:
            return True
    if places.import_scripts:
        return True
    for raw in places.source_maps:
        if urls.rewrite(raw) != raw:
            return True
    return False


def _worth_parsing(data: bytes, urls: UrlRewriter) -> bool:
    """True if some place a specifier could be holds a URL the mapper changes.

    Exact in one direction: every real specifier is matched by _FROM_RE or _IMPORT_RE, every
    importScripts call by _IMPORT_SCRIPTS_RE and every source map comment by _SOURCE_MAP_RE, so a
    False here means the parse would find nothing to change. (The reference of _worth over
    _places_of, which the rewriter uses: the scan is remembered by content.)
    """
    for rx in (_FROM_RE, _IMPORT_RE):
        for m in rx.finditer(data):
            if m.start() and data[m.start() - 1] in _IDENT_BYTES:
                continue  # part of a longer name (reimport, Array.from is fine: "." is no name byte)
            q = next(m.start(k) for k in range(1, (m.re.groups or 0) + 1) if m.group(k) is not None)
            lit = _literal_at(data, q)
            if lit is None:
                continue
            raw, template = lit
            value = decode_js_string(raw, template)[0] if ("\\" in raw or "\r" in raw) else raw
            if urls.rewrite(value) != value:
                return True
    if b"importScripts" in data and _IMPORT_SCRIPTS_RE.search(data):
        return True  # importScripts(...): a literal may follow other arguments; parse
    if b"sourceMappingURL" in data:
        for sm in _SOURCE_MAP_RE.finditer(data):
            raw = sm.group(1).decode("utf-8", "surrogateescape")
            if urls.rewrite(raw) != raw:
                return True
    return False


# The words _has_trigger looks for (the HTML core reads them: rewriter/html/core.py JS_TRIGGER_WORDS).
TRIGGER_WORDS = ("import", "from", "location", "export", "postMessage", "sourceMappingURL")


def _has_trigger(data: bytes | str) -> bool:
    """False when the script holds none of the words every check of _rewrite_utf8 starts from (the
    budget, specifiers, source maps, jslocation's candidates): then it is passed through as they
    would conclude, at once (most handler attributes and inline scripts). The words are ASCII, so a
    text holds one exactly when its UTF-8 bytes do. With the compiled HTML core, its one-pass search
    answers (8x the six substring searches below on the corpus' scripts)."""
    fast = _html_core.ACTIVE_JS_WORDS
    if fast is not None:
        found = fast(data)
        if found is not None:
            return found
    if isinstance(data, str):
        return ("import" in data or "from" in data or "location" in data or "export" in data
                or "postMessage" in data or "sourceMappingURL" in data)
    return (b"import" in data or b"from" in data or b"location" in data or b"export" in data
            or b"postMessage" in data or b"sourceMappingURL" in data)


def _rewrite_utf8(data: bytes, urls: UrlRewriter) -> bytes:
    """Rewrite UTF-8 (or ASCII-superset-as-is) bytes; ``data`` itself when nothing changes."""
    if not _has_trigger(data):
        stats.skipped += 1
        return data
    key = _key(data)
    places = _remembered_places(key)  # remembered: within the budget below
    if places is None:
        # each word is 6 bytes: a shorter script cannot hold more than the budget (no need to count)
        if len(data) > 6 * MAX_IMPORT_WORDS:
            words = data.count(b"import") + data.count(b"export")
            if words > MAX_IMPORT_WORDS:
                stats.too_big += 1
                raise RewriteBudgetExceeded(
                    f"a script with {words} import/export words (budget {MAX_IMPORT_WORDS})")
        places = _find_places_remembered(data, key)
    if not _worth(places, urls):
        stats.skipped += 1
        # location reads (rewriter/jslocation.py): parsed only when the script has a candidate
        loc = jslocation.read_edits(data, parse=_parse, max_parse=MAX_PARSE, key=key)
        return _apply(data, loc) if loc else data
    if len(data) > MAX_PARSE:
        stats.too_big += 1
        return data
    found = _analyse(data, key)
    if found is False:
        stats.timeouts += 1
        return data
    if found is None:
        stats.unparsable += 1
        return data
    stats.parsed += 1
    edits: list[Edit] = list(found.location)
    for span in found.literals:
        e = _span_edit(span, data, urls)
        if e is not None:
            edits.append(e)
            stats.specifiers += 1
    if found.source_maps:
        edits.extend(_source_map_edits(data, found.source_maps, urls))
    return _apply(data, edits) if edits else data


# --- public API -----------------------------------------------------------------------------------


def rewrite_js(text: str, urls: UrlRewriter) -> str:
    """Rewrite script text (an inline script, a handler attribute); ``text`` itself if unchanged."""
    try:
        if not _has_trigger(text):  # as _rewrite_utf8 would conclude, without encoding it first
            stats.skipped += 1
            return text
        try:
            data, errors = text.encode("utf-8", "surrogateescape"), "surrogateescape"
        except UnicodeEncodeError:
            data, errors = text.encode("utf-8", "surrogatepass"), "surrogatepass"
        out = _rewrite_utf8(data, urls)
        return text if out is data else out.decode("utf-8", errors)
    except RewriteError:  # over a budget: the caller fails closed
        raise
    except Exception:  # noqa: BLE001 - rewriters never raise into a response
        stats.failed += 1
        return text


class JsRewriter:
    """``rewrite_js`` bound to one mapper: the ``js`` callable of the HTML rewriter.

    ``rewrite_bytes`` takes UTF-8 bytes (what an inline script of a UTF-8 page is), sparing the
    HTML rewriter a decode and an encode per script.
    """

    __slots__ = ("urls",)
    # a text with none of these words is returned unchanged (the HTML core walks over such
    # scripts and handlers without a call)
    trigger_words = TRIGGER_WORDS

    def __init__(self, urls: UrlRewriter) -> None:
        self.urls = urls

    def __call__(self, text: str) -> str:
        return rewrite_js(text, self.urls)

    def rewrite_bytes(self, data: bytes) -> bytes:
        try:
            return _rewrite_utf8(data, self.urls)
        except RewriteError:  # over a budget: the caller fails closed
            raise
        except Exception:  # noqa: BLE001 - rewriters never raise into a response
            stats.failed += 1
            return data


def js_rewriter(urls: UrlRewriter) -> Callable[[str], str]:
    return JsRewriter(urls)


_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        return codecs.lookup(charset.strip().strip("\"'")).name
    except (LookupError, ValueError):
        return None


def rewrite_js_bytes(data: bytes, urls: UrlRewriter, charset: str | None = None) -> bytes:
    """Rewrite a script body as it came from upstream; ``data`` itself if nothing changes.

    Encoding as the browser decides it for a script: a BOM, then the transport ``charset``, then
    UTF-8 (the page's own charset is not known here; scripts are almost always UTF-8 or ASCII).
    """
    try:
        for bom, name in _BOMS:
            if data.startswith(bom):
                if name != "utf-8":
                    stats.unscannable += 1
                    return data
                body = data[len(bom):]
                out = _rewrite_utf8(body, urls)
                return data if out is body else bom + out
        codec = _codec(charset)
        if codec is None or codec == "utf-8" or data.isascii():
            return _rewrite_utf8(data, urls)
        if codec.startswith(("utf-16", "utf-32")):
            stats.unscannable += 1
            return data
        try:
            text = data.decode(codec)
            same = text.encode(codec) == data
        except (UnicodeError, LookupError):
            same = False
        if not same:
            stats.unscannable += 1
            return data
        new = rewrite_js(text, urls)
        if new is text:
            return data
        try:
            return new.encode(codec)
        except UnicodeError:
            stats.unscannable += 1
            return data
    except RewriteError:  # over a budget: the caller fails closed
        raise
    except Exception:  # noqa: BLE001 - rewriters never raise into a response
        stats.failed += 1
        return data


# Last: the HTML package imports this module (rewriter/jsonurls.py's decode_js_string) as it loads.
from .html import core as _html_core  # noqa: E402 - its compiled search for TRIGGER_WORDS (_has_trigger)

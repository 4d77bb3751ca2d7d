"""The HTML tokenizer: finds tags, comments and the ends of raw text in a stream of latin-1 text.

The states and their boundaries follow the WHATWG tokenizer: start and end tags with attributes
(double-, single- and un-quoted values, ``/`` between attributes), comments (``<!-->``, ``<!--->``,
``--!>``), bogus comments (``<?``, ``</ ...``, ``<!...``), DOCTYPE, CDATA (where the tree builder
allows it), and the text states that tags switch to: RAWTEXT, RCDATA, script data with its escape
states, and PLAINTEXT. Each state has one scanning method; :meth:`Tokenizer._run` dispatches on
the state through a table (:attr:`Tokenizer._scanners`), never through an if-chain.

A whole tag is matched by one possessive regular expression (:data:`TAG_RE`), which is the
deterministic parse: it fails only when the input ends inside the tag. The scan for the next tag
is the hot loop; :mod:`rewriter.html.core` may replace it with compiled code (``_data``).

Output is copy-through: unchanged text is written as whole runs between the few places that
change (:meth:`_replace` / :meth:`_insert`), never token by token. ``_edit_log`` can record every
change in input offsets.

Streaming: ``_process`` scans as much as it can and holds back only what could be the start of an
unfinished token: an incomplete tag (up to ``limits.MAX_TAG``) or a few characters that may begin
an end tag or a comment terminator. Every decision depends on the text, never on where the chunks
split.

Subclasses supply the events: ``_start_tag(buf, m) -> bool`` (True when the state changed),
``_end_tag(m)``, ``_emit_text(buf, a, b)`` (only while ``_inject_pending``: text that places the
injection), ``_raw_text(buf, a, b, last)`` and ``_cdata_allowed()``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from . import limits
from ..errors import RewriteBudgetExceeded

DATA, RAWTEXT, RCDATA, SCRIPT, SCRIPT_ESC, SCRIPT_DESC, PLAINTEXT, COMMENT, BOGUS, CDATA = range(10)
# States of the end-of-tag scanner that follows a held, incomplete tag chunk by chunk
# (tag name, before attribute name, attribute name, after it, before value, values).
TS_NAME, TS_SEP, TS_ATTR, TS_AFTER_ATTR, TS_BEFORE_VALUE, TS_DQ, TS_SQ, TS_UNQ = range(8)

STATE_NAMES = {
    "data state": DATA,
    "plaintext state": PLAINTEXT,
    "rcdata state": RCDATA,
    "rawtext state": RAWTEXT,
    "script data state": SCRIPT,
    "cdata section state": CDATA,
}

WS = "\t\n\f\r "
_W = "[\\t\\n\\f\\r ]"
LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


# One attribute, as the tokenizer walks it from the "before attribute name" state:
# separators (whitespace and "/"), a name (its first character may be "="), and an
# optional "=" value. Everything is possessive: the match is the deterministic parse,
# so a failure can only mean the input ends inside the tag.
def _attr_pattern(group: str) -> str:
    return (
        f"[\\t\\n\\f\\r /]*+({group}[^\\t\\n\\f\\r />][^\\t\\n\\f\\r />=]*+){_W}*+"
        f"(?:={_W}*+({group}\"[^\"]*+\"|'[^']*+'|(?![\"'])[^\\t\\n\\f\\r >]*+)|(?!=))"
    )


ATTR_RE = re.compile(_attr_pattern(""))
TAG_RE = re.compile(
    "<(/?)([A-Za-z][^\\t\\n\\f\\r />]*+)"
    f"((?:{_attr_pattern('?:')})*+)"
    "[\\t\\n\\f\\r /]*+>"
)
COMMENT_END_RE = re.compile("--!?>")
NON_WS_RE = re.compile("[^\\t\\n\\f\\r ]")
WS_TOKEN_RE = re.compile("[^\\t\\n\\f\\r ]+")
ABS_HTTP_RE = re.compile("[hH][tT][tT][pP][sS]?://[^\\t\\n\\f\\r \"'<>]+")


def _ci(word: str) -> str:
    """A case-insensitive pattern for an ASCII word (re.I would also match U+017F for 's')."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() and c.isascii() else re.escape(c) for c in word)


@lru_cache(maxsize=64)
def end_tag_re(name: str) -> re.Pattern[str]:
    return re.compile(f"</{_ci(name)}[\\t\\n\\f\\r />]")


@lru_cache(maxsize=16)
def script_res(name: str) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """Patterns of the script data states: plain, escaped (<!--), double escaped (<!--<script>)."""
    end = f"</{_ci(name)}[\\t\\n\\f\\r />]"
    script = _ci("script")
    return (
        re.compile(f"<!--|{end}"),
        re.compile(f"-->|{end}|<{script}[\\t\\n\\f\\r />]"),
        re.compile(f"-->|</{script}[\\t\\n\\f\\r />]"),
    )



def _undecided(rest: str) -> bool:
    """True while the characters after "<!" could still become "--", DOCTYPE or [CDATA[."""
    return (
        (len(rest) < 2 and "--".startswith(rest))
        or "doctype".startswith(rest.lower())
        or "[CDATA[".startswith(rest)
    )


# The end-of-tag scanner as a table: per state, the characters that can change it (searched for
# with one regex) and the state each one leads to.
_TAG_SCAN_STOP = {
    TS_NAME: re.compile("[\\t\\n\\f\\r />]"),
    TS_SEP: re.compile("[^\\t\\n\\f\\r /]"),
    TS_ATTR: re.compile("[\\t\\n\\f\\r /=>]"),
    TS_AFTER_ATTR: re.compile("[^\\t\\n\\f\\r ]"),
    TS_BEFORE_VALUE: re.compile("[^\\t\\n\\f\\r ]"),
    TS_DQ: re.compile('"'),
    TS_SQ: re.compile("'"),
    TS_UNQ: re.compile("[\\t\\n\\f\\r >]"),
}
_TAG_SCAN_NEXT = {
    TS_NAME: lambda c: TS_SEP,
    TS_SEP: lambda c: TS_ATTR,
    TS_ATTR: lambda c: TS_BEFORE_VALUE if c == "=" else TS_SEP if c == "/" else TS_AFTER_ATTR,
    TS_AFTER_ATTR: lambda c: TS_BEFORE_VALUE if c == "=" else TS_SEP if c == "/" else TS_ATTR,
    TS_BEFORE_VALUE: lambda c: TS_DQ if c == '"' else TS_SQ if c == "'" else TS_UNQ,
    TS_DQ: lambda c: TS_SEP,  # after a quoted value: like before an attribute name
    TS_SQ: lambda c: TS_SEP,
    TS_UNQ: lambda c: TS_SEP,
}


# From the "before attribute name" state (TS_SEP): whole attributes, each one only when the text
# shows that it is complete (a closing quote; an unquoted value or a name followed by a character
# that ends it, and a name by one that is not "="), so where the match ends the scanner is again
# before an attribute name. One C-speed match instead of a Python step per attribute: a megabyte
# of attributes held in an unfinished tag costs what the characters cost.
_WHOLE_ATTRS_RE = re.compile(
    f"(?:[\\t\\n\\f\\r /]*+[^\\t\\n\\f\\r />][^\\t\\n\\f\\r />=]*+{_W}*+"
    f"(?:={_W}*+(?:\"[^\"]*+\"|'[^']*+'|(?![\"'])[^\\t\\n\\f\\r >]*+(?=[\\t\\n\\f\\r >]))|(?=[^=])))*+"
)


class Tokenizer:
    """The scanning half of the rewriter: states, held input and copy-through output."""

    def __init__(self) -> None:
        self._pend: list[str] = []
        self._pend_len = 0
        self._wait_gt = False  # holding an incomplete tag: nothing to do until its ">" arrives
        self._ts = TS_NAME  # where the end-of-tag scanner is in that tag
        self._out: list[str] = []
        # Copy-through: _run's buffer is _buf, and _buf[:_copied] is already in _out; a change (an
        # edit, an insertion, a held-back script) first flushes the unchanged text up to where it applies.
        self._buf = ""
        self._copied = 0
        self._abs = 0  # input offset (in characters after the BOM) of _buf[0]
        # When a list: every change as (start, end, text) in input offsets (srcdoc uses it).
        self._edit_log: list[tuple[int, int, str]] | None = None
        self._state = DATA
        self._end_re: re.Pattern[str] | None = None
        self._script_re: tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]] | None = None
        self._hold = 0
        self._inject_pending = False  # report text runs (_emit_text): the injection waits for one
        self._foreign: list = []  # open foreign elements (the tree-builder simulator's stack)
        # core.skip(buf, pos, flags, memo), when the subclass enables it: walks over unchanged tokens
        self._skip = None
        self._skip_foreign = None
        # core.ACTIVE_TEXT_END (the compiled core's text_end), when the subclass enables it: finds the
        # end tag of a raw text element or script before the regular expressions below look
        self._text_end = None
        self._text_name: str | None = None  # the element _raw / _script is in, for _text_end
        self._skip_flags = 0
        self._core_learn = None  # learn(url, head_end): fills the memo for a head it lacks (core.py)
        self._skipped_tags = 0  # start tags (walked over by the core, or seen) not yet counted in stats
        # state -> scanning method; each returns (position, go on)
        self._scanners = (
            self._data, self._raw, self._raw, self._script, self._script, self._script,
            self._plaintext, self._comment, self._bogus, self._cdata,
        )

    def _process(self, text: str, final: bool) -> str:
        if self._wait_gt and not final:
            # only the new text is scanned: a long tag arriving in small pieces costs linear time
            if self._tag_scan(text) < 0 and self._pend_len + len(text) < limits.MAX_TAG:
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
        if final:
            self._at_eof()
        out = "".join(self._out)
        self._out = []
        return out

    def _tag_scan(self, text: str) -> int:
        """Advance the end-of-tag scanner over ``text``; the index after the tag's ">" or -1.

        The same grammar as ``TAG_RE``, so a held tag is scanned once however it is chunked.
        Each state skips the run of characters that keeps it in one regex search
        (:data:`_TAG_SCAN`), so a megabyte-long name or value costs C speed, not a Python loop;
        before an attribute name, whole attributes are skipped in one match (:data:`_WHOLE_ATTRS_RE`),
        so a million attributes do too. Runs only on held, incomplete tags.
        """
        st = self._ts
        i = 0
        n = len(text)
        while i < n:
            if st == TS_SEP:
                i = _WHOLE_ATTRS_RE.match(text, i).end()
            m = _TAG_SCAN_STOP[st].search(text, i)
            if m is None:
                break
            c = m.group()
            i = m.end()
            if c == ">" and st != TS_DQ and st != TS_SQ:  # ends the tag outside a quoted value
                self._ts = TS_SEP
                return i
            if st == TS_AFTER_ATTR and c != "=" and c != "/":  # the next name starts: from "before
                st, i = TS_SEP, m.start()  # attribute name", where whole attributes go at once
                continue
            st = _TAG_SCAN_NEXT[st](c)
        self._ts = st
        return -1

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
            pos, go = self._scanners[self._state](buf, pos, final)
            if not go:
                break
        if pos < n and not final:
            self._pend = [buf[pos:]]
            self._pend_len = n - pos
        end = n if final else pos
        self._flush_to(end)  # at EOF nothing is held (by construction): never lose bytes
        self._buf, self._copied = "", 0
        self._abs += end


    def _data(self, buf: str, pos: int, final: bool) -> tuple[int, bool]:
        n = len(buf)
        skip = self._skip
        while True:
            if skip is not None and not self._inject_pending and not self._foreign:
                # the core walks over every token that stays as it is, or changes only by a
                # remembered URL head (core.py)
                pos, tags, edits, urls = skip(buf, pos, self._skip_flags, self._core_memo(), self._core_learn)
                if tags:
                    self._skipped_tags += tags
                if edits:
                    self._core_edits(edits, urls)
            elif skip is not None and not self._inject_pending and not self._foreign[-1].html:
                # in SVG/MathML: start tags that only open another foreign element (core.py)
                pos, tags, pushed = self._skip_foreign(buf, pos, self._skip_flags)
                if tags:
                    self._skipped_tags += tags
                if pushed:
                    self._push_foreign(pushed)
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
            if c in LETTERS or (c == "/" and i + 2 < n and buf[i + 2] in LETTERS):
                m = TAG_RE.match(buf, i, i + limits.MAX_TAG)
                if m is None:
                    if n - i >= limits.MAX_TAG:  # the browser would read a tag we cannot: fail closed
                        raise RewriteBudgetExceeded(f"a tag longer than {limits.MAX_TAG} bytes")
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


    def _plaintext(self, buf: str, pos: int, final: bool) -> tuple[int, bool]:
        return len(buf), False  # the rest of the document is text

    def _comment(self, buf: str, pos: int, final: bool) -> tuple[int, bool]:
        return self._until(buf, pos, final, COMMENT_END_RE, 3)

    def _bogus(self, buf: str, pos: int, final: bool) -> tuple[int, bool]:
        return self._until_char(buf, pos, final, ">")

    def _cdata(self, buf: str, pos: int, final: bool) -> tuple[int, bool]:
        return self._until_char(buf, pos, final, "]]>")

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

    # -- events, supplied by the subclass ---------------------------------------

    def _start_tag(self, buf: str, m: re.Match[str]) -> bool:
        return False

    def _end_tag(self, m: re.Match[str]) -> None:
        pass

    def _emit_text(self, buf: str, a: int, b: int) -> None:
        pass

    def _core_memo(self) -> dict | None:
        return None

    def _push_foreign(self, names: list[str]) -> None:
        pass

    def _core_edits(self, edits: list[tuple[int, int, str]], urls: int) -> None:
        for a, b, text in edits:
            self._replace(a, b, text)

    def _raw_text(self, buf: str, a: int, b: int, last: bool) -> None:
        pass

    def _cdata_allowed(self) -> bool:
        return False

    def _at_eof(self) -> None:
        pass

    def _enter(self, state: int, name: str) -> None:
        self._state = state
        if state == SCRIPT:
            self._script_re = script_res(name)
        else:
            self._end_re = end_tag_re(name)
        self._hold = len(name) + 8
        # text_end reads "script" as script data (escaped states); a raw text element of that name,
        # or a name it cannot take, is left to the regular expressions
        self._text_name = name if name.isascii() and (name == "script") == (state == SCRIPT) else None

    def _raw(self, buf: str, pos: int, final: bool) -> tuple[int, bool]:
        if self._text_end is not None and self._text_name is not None and self._edit_log is None:
            end = self._text_end(buf, pos, self._text_name)  # the compiled search, where it can
            if end >= 0:
                self._raw_text(buf, pos, end, True)
                self._state = DATA
                return end, True
            if end == -1:  # not in buf: what the search below would find
                hold = len(buf) if final else self._hold_from(buf, pos, False)
                self._raw_text(buf, pos, hold, final)
                return hold, False
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


    def _script(self, buf: str, pos: int, final: bool) -> tuple[int, bool]:
        st = self._state
        if st == SCRIPT and self._text_end is not None and self._text_name is not None and self._edit_log is None:
            # the compiled search through the escaped states: when the end tag is in buf, the
            # script's text is one piece (the loop below gives it in pieces, state by state)
            end = self._text_end(buf, pos, self._text_name)
            if end >= 0:
                self._state = DATA
                self._raw_text(buf, pos, end, True)
                return end, True
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

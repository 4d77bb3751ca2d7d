"""The hot loop of the HTML rewriter, compiled where it can be, with its pure-Python reference.

Most of a page is markup the rewriter leaves exactly as it is: text, comments, end tags, and start
tags none of whose attributes the policy table cares about (or whose URLs are relative). The
rewriter spends its time proving that, one token at a time. ``skip(buf, pos, flags, memo)`` does
it for a whole run at once: from ``pos`` in the data state it walks over such tokens and returns
``(position of the first "<" Python must look at, or len(buf); start tags walked over; edits)``.

Most of the rest are start tags whose only change is the origin of a plain absolute URL
(``<a href="https://site/x">``). Given ``memo``, the rewriter's dictionary of URL heads (scheme and
authority, ``policy.URL_HEAD_RE``) to what the mapper made of them, the walk goes over those too
when every such head is remembered, and ``edits`` lists the new values as ``(start, end, text)``
(None when there are none): what ``HtmlRewriter._plain_url`` would produce for them. The same holds
for a ``data-*`` value that is a whole absolute http(s) URL as written (no character reference, no
character ``tokenizer.ABS_HTTP_RE`` excludes). A head not yet remembered, a duplicate URL or
``data-*`` attribute, or any other attribute to rewrite stops the walk.

The core also decodes character references in attribute values (``decode_refs``: the value, and
where each reference sits for splicing edits back), the work of ``entities.decode_refs_python``;
:func:`use` switches both at once.

Two implementations with one contract:

* :func:`skip_python`: the reference, written with the tokenizer's own regular expressions
  (``TAG_RE``, ``ATTR_RE``) and the policy's (``RELATIVE_URL_RE``);
* ``_core.skip``: the same walk in C (``_core.c``), built by ``pip install`` with the system
  compiler; where there is none, the build skips it and :data:`ACTIVE` is the reference.

Both are conservative: a token is walked over only when the rewriter would produce no edit and no
state change for it; anything else (a tag the tree builder cares about, an attribute that might
change, an incomplete token) stops the walk, and the full Python tokenizer takes over. So output
never depends on which core ran: the tests run every vector, corpus page and chunk split through
both, and compare them with each other on random input.

Inside SVG and MathML every start tag goes through the tree-builder simulator, so ``skip`` stops
at once there. ``skip_foreign(buf, pos, flags)`` is its counterpart for foreign content whose
current element is not an HTML integration point: it walks over text, comments and start tags that
only open another foreign element, and returns ``(position, start tags walked over, names of the
elements they opened)`` for the rewriter to push (a deep ``<svg><g><g>...`` costs C speed, not a
Python call per tag). It stops at end tags, at tags that may leave foreign content or open an
integration point (:data:`FOREIGN_STOP`), and wherever ``skip`` would stop.

``TANDEM_HTML_CORE=python`` in the environment forces the reference.
"""

from __future__ import annotations

import functools
import os
from html.entities import html5
from typing import Callable

from . import entities
from .policy import RELATIVE_URL_RE, URL_HEAD_RE
from .tokenizer import ABS_HTTP_RE, ASCII_LOWER, ATTR_RE, COMMENT_END_RE, LETTERS, TAG_RE

F_JS = 1  # on* attributes go to the JS rewriter
F_CSS = 2  # style attributes go to the CSS rewriter
F_ACTIVE = 4  # integrity / nonce are dropped
LONG_TAG = 1 << 16  # longer tags are left to the tokenizer (which enforces MAX_TAG)
MAX_TAG_EDITS = 16  # a tag with more data-* attributes than this is left to the rewriter (_core.c)

# policy.ATTR_DICT_TAGS | treebuilder.TREE_NAMES | tags with their own table rows (object, iframe)
TREE_TAGS = frozenset(
    "meta base script style svg math font title textarea xmp iframe noembed noframes noscript plaintext object".split()
)
URL_ATTRS = frozenset(
    "href src action formaction poster background cite longdesc manifest codebase xlink:href icon lowsrc dynsrc".split()
)
LIST_ATTRS = frozenset(("ping", "srcset", "imagesrcset"))
# treebuilder._BREAKOUT, "font", and the integration points (decided by the tree-builder simulator)
FOREIGN_STOP = frozenset(
    "b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr i img li listing menu "
    "meta nobr ol p pre ruby s small span strong strike sub sup table tt u ul var font foreignobject desc title "
    "mi mo mn ms mtext annotation-xml mglyph malignmark".split()
)
DROP_ATTRS = frozenset(("integrity", "nonce"))

Skip = Callable[[str, int, int, "dict | None"], "tuple[int, int, list | None]"]
Edit = tuple[int, int, str]


def _attr_wanted(name: str, value: str | None, flags: int) -> bool:
    if name in URL_ATTRS:
        if not value:
            return False
        return RELATIVE_URL_RE.match(value, 1 if value[0] in "\"'" else 0) is None
    if name in LIST_ATTRS:
        return value is not None
    if name == "style":
        return bool(flags & F_CSS) and value is not None and ("(" in value or "@" in value or "&" in value)
    if name in DROP_ATTRS:
        return bool(flags & F_ACTIVE)
    if name.startswith("data-"):
        if not value:
            return False
        head = value[1:5] if value[0] in "\"'" else value[:4]
        if head[:1] == "&":  # a named reference never decodes to "h": only "&#..." may
            return head[1:2] not in LETTERS
        return head.lower() == "http"
    if name.startswith("on"):
        return bool(flags & F_JS)
    return False


def plain_url(value: str) -> "tuple[str, str, int] | None":
    """(quote, raw value, end of its head) of a URL attribute value as written (quotes included)
    when it is plain: ASCII, no tab/newline/CR/NUL, no character reference in its head
    (``policy.URL_HEAD_RE``: scheme, slashes, authority); None otherwise. Where a value is plain,
    its raw text reads as itself as far as the mapper looks (HtmlRewriter._plain_url, the walk)."""
    q = value[0] if value[0] in "\"'" else ""
    raw = value[1:-1] if q else value
    if not raw.isascii() or "\t" in raw or "\n" in raw or "\r" in raw or "\0" in raw:
        return None
    end = URL_HEAD_RE.match(raw).end()
    if "&" in raw[:end]:
        return None
    return q, raw, end


def _plain_url_edit(value: str, memo: dict) -> "Edit | bool":
    """The edit of a URL value (quotes included) from the memo; True: nothing to change; False: stop."""
    plain = plain_url(value)
    if plain is None:
        return False
    q, raw, end = plain
    head = raw[:end]
    new_head = memo.get(head)
    if type(new_head) is not str:  # not remembered, or False (a javascript: URL)
        return False
    if new_head == head:
        return True
    return q + new_head + raw[end:] + q


def skip_python(buf: str, pos: int, flags: int, memo: dict | None = None) -> tuple[int, int, list | None]:
    """The reference walk (see the module docstring for the contract)."""
    n = len(buf)
    tags = 0
    edits: list[Edit] | None = None
    while True:
        i = buf.find("<", pos)
        if i < 0:
            return n, tags, edits
        pos = i
        if i + 1 >= n:
            return i, tags, edits
        c = buf[i + 1]
        if c in LETTERS:
            m = TAG_RE.match(buf, i, i + LONG_TAG)
            if m is None:
                return i, tags, edits
            if m.group(2).translate(ASCII_LOWER) in TREE_TAGS:
                return i, tags, edits
            mine: list[Edit] = []
            seen: set[str] = set()
            data_seen: set[str] = set()
            for am in ATTR_RE.finditer(buf, m.start(3), m.end(3)):
                name = am.group(1).translate(ASCII_LOWER)
                if memo is not None and name.startswith("data-"):
                    if name in data_seen or len(data_seen) >= MAX_TAG_EDITS:
                        return i, tags, edits  # the first of duplicates wins: the rewriter decides
                    data_seen.add(name)
                    if _attr_wanted(name, am.group(2), flags):
                        v = am.group(2)
                        q = 1 if v[0] in "\"'" else 0
                        if "&" in v or not ABS_HTTP_RE.fullmatch(v, q, len(v) - q):
                            return i, tags, edits
                        edit = _plain_url_edit(v, memo)
                        if edit is False:
                            return i, tags, edits
                        if edit is not True:
                            mine.append((am.start(2), am.end(2), edit))
                elif memo is not None and name in URL_ATTRS:
                    if name in seen:  # the first of duplicates wins: the rewriter decides
                        return i, tags, edits
                    seen.add(name)
                    if _attr_wanted(name, am.group(2), flags):
                        edit = _plain_url_edit(am.group(2), memo)
                        if edit is False:
                            return i, tags, edits
                        if edit is not True:
                            mine.append((am.start(2), am.end(2), edit))
                elif _attr_wanted(name, am.group(2), flags):
                    return i, tags, edits
            if mine:
                if edits is None:
                    edits = []
                edits.extend(mine)
            tags += 1
            pos = m.end()
        elif c == "/":
            if i + 2 >= n or buf[i + 2] not in LETTERS:
                return i, tags, edits
            m = TAG_RE.match(buf, i, i + LONG_TAG)
            if m is None:
                return i, tags, edits
            pos = m.end()
        elif c == "!":
            k = _comment_end(buf, i, n)
            if k < 0:
                return i, tags, edits
            pos = k
        elif c == "?":
            return i, tags, edits
        else:
            pos = i + 1


def skip_foreign_python(buf: str, pos: int, flags: int) -> tuple[int, int, list[str]]:
    """The reference walk in foreign content (see the module docstring)."""
    n = len(buf)
    tags = 0
    pushed: list[str] = []
    while True:
        i = buf.find("<", pos)
        if i < 0:
            return n, tags, pushed
        pos = i
        if i + 1 >= n:
            return i, tags, pushed
        c = buf[i + 1]
        if c in LETTERS:
            m = TAG_RE.match(buf, i, i + LONG_TAG)
            if m is None:
                return i, tags, pushed
            name = m.group(2).translate(ASCII_LOWER)
            if name in TREE_TAGS or name in FOREIGN_STOP:
                return i, tags, pushed
            for am in ATTR_RE.finditer(buf, m.start(3), m.end(3)):
                if _attr_wanted(am.group(1).translate(ASCII_LOWER), am.group(2), flags):
                    return i, tags, pushed
            if not buf[m.end(3): m.end() - 1].endswith("/"):  # as HtmlRewriter._tree_effects reads it
                pushed.append(name)
            tags += 1
            pos = m.end()
        elif c == "!":
            k = _comment_end(buf, i, n)
            if k < 0:
                return i, tags, pushed
            pos = k
        elif c == "/" or c == "?":
            return i, tags, pushed
        else:
            pos = i + 1


def _comment_end(buf: str, i: int, n: int) -> int:
    """The index after the comment whose "<!" is at ``i`` ("<!-->", "<!--->", or up to the first
    "-->" / "--!>"), or -1 when it is not one or ends past ``n`` (the tokenizer decides)."""
    if i + 5 >= n or not buf.startswith("--", i + 2):
        return -1
    j = i + 4
    if buf[j] == ">":
        return j + 1
    if buf.startswith("->", j):
        return j + 2
    m = COMMENT_END_RE.search(buf, j)
    return m.end() if m else -1


try:
    from ._core import (  # type: ignore[import-not-found]
        decode_refs as decode_refs_c, skip as skip_c, skip_foreign as skip_foreign_c,
    )
except ImportError:  # built without a compiler (or an old build): the reference runs
    skip_c = skip_foreign_c = decode_refs_c = None

CORES: dict[str, Skip] = {"python": skip_python}
FOREIGN: dict[str, Callable] = {"python": skip_foreign_python}
DECODERS: dict[str, Callable] = {"python": entities.decode_refs_python}
if skip_c is not None:
    CORES["c"] = skip_c
    FOREIGN["c"] = skip_foreign_c
    DECODERS["c"] = functools.partial(decode_refs_c, html5)



def use(name: str) -> None:
    """Select the core for rewriters created from now on ("c" or "python"; tests run both), and
    the character reference decoder (entities.decode_refs) at once."""
    global NAME, ACTIVE, ACTIVE_FOREIGN
    ACTIVE = CORES[name]
    ACTIVE_FOREIGN = FOREIGN[name]
    entities.decode_refs = DECODERS[name]
    NAME = name


NAME = ""
ACTIVE: Skip = skip_python
ACTIVE_FOREIGN: Callable = skip_foreign_python
use("c" if skip_c is not None and os.environ.get("TANDEM_HTML_CORE", "") != "python" else "python")


def describe() -> str:
    """One line for ``tandem --version`` and the README: which core rewrites HTML."""
    if NAME == "c":
        return "HTML core: compiled (C extension rewriter.html._core)"
    why = "forced by TANDEM_HTML_CORE=python" if skip_c is not None else "no compiled extension was built"
    return f"HTML core: pure Python ({why})"

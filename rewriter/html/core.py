"""The hot loop of the HTML rewriter, compiled where it can be, with its pure-Python reference.

Most of a page is markup the rewriter leaves exactly as it is: text, comments, end tags, and start
tags none of whose attributes the policy table cares about (or whose URLs are relative). The
rewriter spends its time proving that, one token at a time. ``skip(buf, pos, flags)`` does it for
a whole run at once: from ``pos`` in the data state it walks over such tokens and returns
``(position of the first "<" Python must look at, or len(buf); start tags walked over)``.

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

``TANDEM_HTML_CORE=python`` in the environment forces the reference.
"""

from __future__ import annotations

import os
from typing import Callable

from .policy import RELATIVE_URL_RE
from .tokenizer import ASCII_LOWER, ATTR_RE, LETTERS, TAG_RE

F_JS = 1  # on* attributes go to the JS rewriter
F_CSS = 2  # style attributes go to the CSS rewriter
F_ACTIVE = 4  # integrity / nonce are dropped
LONG_TAG = 1 << 16  # longer tags are left to the tokenizer (which enforces MAX_TAG)

# policy.ATTR_DICT_TAGS | treebuilder.TREE_NAMES | tags with their own table rows (object, iframe)
TREE_TAGS = frozenset(
    "meta base script style svg math font title textarea xmp iframe noembed noframes noscript plaintext object".split()
)
URL_ATTRS = frozenset(
    "href src action formaction poster background cite longdesc manifest codebase xlink:href icon lowsrc dynsrc".split()
)
LIST_ATTRS = frozenset(("ping", "srcset", "imagesrcset"))
DROP_ATTRS = frozenset(("integrity", "nonce"))

Skip = Callable[[str, int, int], "tuple[int, int]"]


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
        return head[:1] == "&" or head.lower() == "http"
    if name.startswith("on"):
        return bool(flags & F_JS)
    return False


def skip_python(buf: str, pos: int, flags: int) -> tuple[int, int]:
    """The reference walk (see the module docstring for the contract)."""
    n = len(buf)
    tags = 0
    while True:
        i = buf.find("<", pos)
        if i < 0:
            return n, tags
        pos = i
        if i + 1 >= n:
            return i, tags
        c = buf[i + 1]
        if c in LETTERS:
            m = TAG_RE.match(buf, i, i + LONG_TAG)
            if m is None:
                return i, tags
            if m.group(2).translate(ASCII_LOWER) in TREE_TAGS:
                return i, tags
            for am in ATTR_RE.finditer(buf, m.start(3), m.end(3)):
                if _attr_wanted(am.group(1).translate(ASCII_LOWER), am.group(2), flags):
                    return i, tags
            tags += 1
            pos = m.end()
        elif c == "/":
            if i + 2 >= n or buf[i + 2] not in LETTERS:
                return i, tags
            m = TAG_RE.match(buf, i, i + LONG_TAG)
            if m is None:
                return i, tags
            pos = m.end()
        elif c == "!":
            if i + 5 >= n or not buf.startswith("--", i + 2):
                return i, tags
            j = i + 4
            if buf[j] == ">":
                pos = j + 1
                continue
            if buf.startswith("->", j):
                pos = j + 2
                continue
            k = _comment_end(buf, j)
            if k < 0:
                return i, tags
            pos = k
        elif c == "?":
            return i, tags
        else:
            pos = i + 1


def _comment_end(buf: str, j: int) -> int:
    from .tokenizer import COMMENT_END_RE

    m = COMMENT_END_RE.search(buf, j)
    return m.end() if m else -1


try:
    from ._core import skip as skip_c  # type: ignore[import-not-found]
except ImportError:  # built without a compiler: the reference runs
    skip_c = None

CORES: dict[str, Skip] = {"python": skip_python}
if skip_c is not None:
    CORES["c"] = skip_c

NAME = "c" if skip_c is not None and os.environ.get("TANDEM_HTML_CORE", "") != "python" else "python"
ACTIVE: Skip = CORES[NAME]


def use(name: str) -> None:
    """Select the core for rewriters created from now on ("c" or "python"; tests run both)."""
    global NAME, ACTIVE
    ACTIVE = CORES[name]
    NAME = name


def describe() -> str:
    """One line for ``tandem --version`` and the README: which core rewrites HTML."""
    if NAME == "c":
        return "HTML core: compiled (C extension rewriter.html._core)"
    why = "forced by TANDEM_HTML_CORE=python" if skip_c is not None else "no compiled extension was built"
    return f"HTML core: pure Python ({why})"

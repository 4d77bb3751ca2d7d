"""The hot loop of the HTML rewriter, compiled where it can be, with its pure-Python reference.

Most of a page is markup the rewriter leaves exactly as it is: text, comments, end tags, and start
tags none of whose attributes the policy table cares about (or whose URLs are relative). The
rewriter spends its time proving that, one token at a time. ``skip(buf, pos, flags, memo)`` does
it for a whole run at once: from ``pos`` in the data state it walks over such tokens and returns
``(position of the first "<" Python must look at, or len(buf); start tags walked over; edits;
URLs the edits map)``.

Most of the rest are start tags whose only change is the origin of a plain absolute URL
(``<a href="https://site/x">``). Given ``memo``, the rewriter's dictionary of URL heads (scheme and
authority, ``policy.URL_HEAD_RE``) to what the mapper made of them, the walk goes over those too
when every such head is remembered, and ``edits`` lists the new values as ``(start, end, text)``
(None when there are none): what ``HtmlRewriter._plain_url`` would produce for them. The same holds
for a ``data-*`` value that is a whole absolute http(s) URL as written (no character reference, no
character ``tokenizer.ABS_HTTP_RE`` excludes), and for a ``srcset`` / ``imagesrcset`` whose every
candidate URL is relative or plain with a remembered head (one edit for the value, as
``HtmlRewriter._srcset_edits`` makes it; it may map several URLs, hence the count). A duplicate
URL, srcset or ``data-*`` attribute, or any other attribute to rewrite stops the walk; so does a
head not yet remembered, unless ``skip(buf, pos, flags, memo, learn)`` is given ``learn``: then
``learn(url, head_end)`` is called to fill the memo (``HtmlRewriter._learn_url``: the mapper's
answer for that head, counted by whoever makes the edit) and the walk goes on. Only URLs the
rewriter maps anyway are learnt: those of complete start tags the walk reaches.

Attributes that cannot change are walked over without a look at the mapper: a ``style`` value
with no URL function in it (:func:`style_wanted`), a ``data-*`` value starting "http" that is not
a whole absolute URL as written. So are start tags whose effect is known without the tree builder
(:data:`SKIP_STOP` names those where it is not): a ``<meta>`` without ``http-equiv`` or ``charset``,
an RCDATA / RAWTEXT element whose text is passed through (:data:`RAW_TAGS`, walked over to its end
tag when that is in the buffer), a ``<script>`` whose end tag follows at once (no text to rewrite).

The core also decodes character references in attribute values (``decode_refs``: the value, and
where each reference sits for splicing edits back), the work of ``entities.decode_refs_python``;
:func:`use` switches both at once.

Two implementations with one contract:

* :func:`skip_python`: the reference, written with the tokenizer's own regular expressions
  (``TAG_RE``, ``ATTR_RE``) and the policy's (``RELATIVE_URL_RE``);
* ``_core.skip``: the same walk in C (``_core.c``), built by ``pip install`` with the system
  compiler; where there is none, the build skips it and :data:`ACTIVE` is the reference.

Both are conservative: a token is walked over only when the rewriter would make no edit but the
memo's and no lasting state change for it; anything else (a tag the tree builder cares about, an
attribute that might change, an incomplete token) stops the walk, and the full Python tokenizer
takes over. So output never depends on which core ran: the tests run every vector, corpus page
and chunk split through both, and compare them with each other on random input.

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
import re
from html.entities import html5
from typing import Callable

from . import entities
from .policy import RELATIVE_URL_RE, URL_HEAD_RE
from .tokenizer import ABS_HTTP_RE, ASCII_LOWER, ATTR_RE, COMMENT_END_RE, LETTERS, TAG_RE, WS, end_tag_re
from .values import srcset_url_spans

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
SRCSET_ATTRS = ("srcset", "imagesrcset")
# What skip() does with the start tags in TREE_TAGS (the rest are walked over like any other):
# it stops at these (the rewriter reads their attributes, collects their text, or the tree builder
# changes more than the tokenizer state) ...
SKIP_STOP = frozenset(("base", "style", "object", "plaintext"))
# <svg> and <math> are walked over with all they contain when that needs nothing but a stack of
# element names (no deeper than this; see _foreign_tree).
MAX_FOREIGN_DEPTH = 64
# ... walks over these RCDATA / RAWTEXT elements to their end tag (their text is passed through),
# and over a <script> whose end tag follows at once (no text to rewrite) ...
RAW_TAGS = frozenset(("title", "textarea", "xmp", "iframe", "noembed", "noframes", "noscript"))
# ... and stops at these attributes of these tags (<meta> otherwise changes nothing; nor does a
# <font> outside foreign content, where skip() never runs).
TAG_STOP_ATTRS = {"meta": ("http-equiv", "charset"), "iframe": ("srcdoc",)}
# Character references a style value may hold and still be left alone: each reads as a quote or "&".
_STYLE_REF_RE = re.compile("&(?:quot|amp|apos|#39|#34|#x27|#x22);")
# The CSS functions a URL can be in (rewriter/css.py: url(), src(), image-set(), -webkit-image-set()).
_CSS_URL_FUNCTION_RE = re.compile("(?:[uU][rR][lL]|[sS][rR][cC]|[iI][mM][aA][gG][eE]-[sS][eE][tT])\\(")
MAX_SRCSET_URLS = 32  # a srcset with more mapped URLs than this is left to the rewriter (_core.c)
_UNQUOTED_UNSAFE = frozenset(WS + ">")


def style_wanted(raw: str) -> bool:
    """May the CSS rewriter change the style value ``raw`` (as written, quotes excluded)? A URL in
    CSS is only in url(), src(), image-set() and @import, and an escape can spell any of them: a
    value that is ASCII, has none of those names right before a "(", no "@", no backslash and no
    character reference but the few that read as a quote or "&" (:data:`_STYLE_REF_RE`) has none."""
    if not raw.isascii() or "@" in raw or "\\" in raw:
        return True
    if "&" in raw and "&" in _STYLE_REF_RE.sub("", raw):
        return True
    return "(" in raw and _CSS_URL_FUNCTION_RE.search(raw) is not None
# treebuilder._BREAKOUT, "font", and the integration points (decided by the tree-builder simulator)
FOREIGN_STOP = frozenset(
    "b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr i img li listing menu "
    "meta nobr ol p pre ruby s small span strong strike sub sup table tt u ul var font foreignobject desc title "
    "mi mo mn ms mtext annotation-xml mglyph malignmark".split()
)
DROP_ATTRS = frozenset(("integrity", "nonce"))

Skip = Callable[..., "tuple[int, int, list | None, int]"]
Edit = tuple[int, int, str]


def _attr_wanted(name: str, value: str | None, flags: int) -> bool:
    if name in URL_ATTRS:
        if not value:
            return False
        return RELATIVE_URL_RE.match(value, 1 if value[0] in "\"'" else 0) is None
    if name in LIST_ATTRS:
        return value is not None
    if name == "style":
        return bool(flags & F_CSS) and bool(value) and style_wanted(_unquoted(value))
    if name in DROP_ATTRS:
        return bool(flags & F_ACTIVE)
    if name.startswith("data-"):
        if not value:
            return False
        raw = _unquoted(value)
        if raw[:1] == "&":  # a named reference never decodes to "h": only "&#..." may
            return raw[1:2] not in LETTERS
        if raw[:4].lower() != "http":
            return False
        if "&" in raw or not raw.isascii():  # decoded (references, the page's charset): the rewriter reads it
            return True
        return ABS_HTTP_RE.fullmatch(raw) is not None  # as written is as read: else never rewritten
    if name.startswith("on"):
        return bool(flags & F_JS)
    return False


def _unquoted(value: str) -> str:
    return value[1:-1] if value[0] in "\"'" else value


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


def _memo_head(memo: dict, learn: Callable | None, url: str, end: int) -> object:
    """memo[url[:end]]; a head the memo lacks is learnt first (``learn(url, end)``), when there is
    ``learn``. None: not remembered."""
    head = url[:end]
    if learn is not None and head not in memo:
        learn(url, end)
    return memo.get(head)


def _plain_url_edit(value: str, memo: dict, learn: Callable | None = None) -> "Edit | bool":
    """The edit of a URL value (quotes included) from the memo; True: nothing to change; False: stop."""
    plain = plain_url(value)
    if plain is None:
        return False
    q, raw, end = plain
    head = raw[:end]
    new_head = _memo_head(memo, learn, raw, end)
    if type(new_head) is not str:  # not remembered, or False (a javascript: URL)
        return False
    if new_head == head:
        return True
    return q + new_head + raw[end:] + q


def _srcset_edit(value: str, memo: dict, learn: Callable | None = None) -> "tuple[str, int] | bool":
    """A srcset value (quotes included) as HtmlRewriter._srcset_edits rewrites it when every
    candidate URL is relative or plain with a remembered head: (new value, URLs mapped); True:
    nothing to change; False: the rewriter must look (a reference, a byte past ASCII, a NUL, a
    head not remembered, a mapped head that values.splice would escape or quote)."""
    q = value[0] if value[0] in "\"'" else ""
    raw = value[1:-1] if q else value
    if not raw.isascii() or "\0" in raw or "&" in raw:
        return False
    out: list[str] = []
    at = mapped = 0
    for s, e in srcset_url_spans(raw):
        url = raw[s:e]
        if RELATIVE_URL_RE.match(url):
            continue
        end = URL_HEAD_RE.match(url).end()
        new_head = _memo_head(memo, learn, url, end)
        if type(new_head) is not str or not new_head.isascii():
            return False
        if new_head == url[:end]:
            continue
        if mapped >= MAX_SRCSET_URLS or "&" in new_head or "\"" in new_head or "'" in new_head:
            return False
        if not q and any(c in _UNQUOTED_UNSAFE for c in new_head):
            return False
        out.append(raw[at:s])
        out.append(new_head)
        at = s + end
        mapped += 1
    if not mapped:
        return True
    out.append(raw[at:])
    return q + "".join(out) + q, mapped


def _tag_edits(buf: str, m: "re.Match[str]", flags: int, memo: dict | None, learn: Callable | None,
               stop_attrs: tuple = ()) -> "tuple[list[Edit], int] | None":
    """The memo's edits of the start tag ``m`` and the URLs they map, or None when the rewriter
    must look at it (an attribute to rewrite that the memo cannot, a duplicate, too many edits)."""
    mine: list[Edit] = []
    mapped = 0
    seen: set[str] = set()
    data_seen: set[str] = set()
    for am in ATTR_RE.finditer(buf, m.start(3), m.end(3)):
        name = am.group(1).translate(ASCII_LOWER)
        if name in stop_attrs:
            return None
        if memo is not None and name in SRCSET_ATTRS:
            if name in seen:  # the first of duplicates wins: the rewriter decides
                return None
            seen.add(name)
            if am.group(2):  # none, or empty: the rewriter leaves it
                got = _srcset_edit(am.group(2), memo, learn)
                if got is False:
                    return None
                if got is not True:
                    mine.append((am.start(2), am.end(2), got[0]))
                    mapped += got[1]
        elif memo is not None and name.startswith("data-"):
            if name in data_seen or len(data_seen) >= MAX_TAG_EDITS:
                return None  # the first of duplicates wins: the rewriter decides
            data_seen.add(name)
            if _attr_wanted(name, am.group(2), flags):
                v = am.group(2)
                q = 1 if v[0] in "\"'" else 0
                if "&" in v or not ABS_HTTP_RE.fullmatch(v, q, len(v) - q):
                    return None
                edit = _plain_url_edit(v, memo, learn)
                if edit is False:
                    return None
                if edit is not True:
                    mine.append((am.start(2), am.end(2), edit))
                    mapped += 1
        elif memo is not None and name in URL_ATTRS:
            if name in seen:  # the first of duplicates wins: the rewriter decides
                return None
            seen.add(name)
            if _attr_wanted(name, am.group(2), flags):
                edit = _plain_url_edit(am.group(2), memo, learn)
                if edit is False:
                    return None
                if edit is not True:
                    mine.append((am.start(2), am.end(2), edit))
                    mapped += 1
        elif _attr_wanted(name, am.group(2), flags):
            return None
    if len(mine) > MAX_TAG_EDITS:
        return None
    return mine, mapped


def _self_closing(m: "re.Match[str]") -> bool:
    """A "/" right before the tag's ">", outside any value (as HtmlRewriter._tree_effects reads it)."""
    return m.string[m.end(3): m.end() - 1].endswith("/")


def _foreign_tree(buf: str, pos: int, flags: int, memo: dict | None, learn: Callable | None,
                  root: str) -> "tuple[int, list[Edit], int, int] | None":
    """The reference of _core.c's foreign_tree: the subtree under the <svg> or <math> whose start
    tag ended at ``pos``, as the tree-builder simulator follows it. (index after the end tag that
    closes the root, edits, URLs they map, start tags), or None when Python must decide."""
    n = len(buf)
    stack = [root]
    edits: list[Edit] = []
    urls = tags = 0
    while True:
        i = buf.find("<", pos)
        if i < 0 or i + 1 >= n:
            return None
        c = buf[i + 1]
        if c in LETTERS:
            m = TAG_RE.match(buf, i, i + LONG_TAG)
            if m is None:
                return None
            name = m.group(2).translate(ASCII_LOWER)
            if name in TREE_TAGS or name in FOREIGN_STOP:
                return None
            got = _tag_edits(buf, m, flags, memo, learn)
            if got is None:
                return None
            edits.extend(got[0])
            urls += got[1]
            tags += 1
            if not _self_closing(m):
                if len(stack) >= MAX_FOREIGN_DEPTH:
                    return None
                stack.append(name)
            pos = m.end()
        elif c == "/":
            if i + 2 >= n or buf[i + 2] not in LETTERS:
                return None
            m = TAG_RE.match(buf, i, i + LONG_TAG)
            if m is None:
                return None
            name = m.group(2).translate(ASCII_LOWER)
            for d in range(len(stack) - 1, -1, -1):  # TreeBuilderSimulator.end_tag
                if stack[d] == name:
                    del stack[d:]
                    break
            if not stack:
                return m.end(), edits, urls, tags
            pos = m.end()
        elif c == "!":
            k = _comment_end(buf, i, n)
            if k < 0:
                return None
            pos = k
        elif c == "?":
            return None
        else:
            pos = i + 1


def skip_python(buf: str, pos: int, flags: int, memo: dict | None = None,
                learn: Callable | None = None) -> tuple[int, int, list | None, int]:
    """The reference walk (see the module docstring for the contract)."""
    if memo is None:
        learn = None
    n = len(buf)
    tags = urls = 0
    edits: list[Edit] | None = None
    while True:
        i = buf.find("<", pos)
        if i < 0:
            return n, tags, edits, urls
        pos = i
        if i + 1 >= n:
            return i, tags, edits, urls
        c = buf[i + 1]
        if c in LETTERS:
            m = TAG_RE.match(buf, i, i + LONG_TAG)
            if m is None:
                return i, tags, edits, urls
            tag = m.group(2).translate(ASCII_LOWER)
            if tag in SKIP_STOP:
                return i, tags, edits, urls
            got = _tag_edits(buf, m, flags, memo, learn, TAG_STOP_ATTRS.get(tag, ()))
            if got is None:
                return i, tags, edits, urls
            mine, mapped = got
            after = m.end()
            if tag in RAW_TAGS or tag == "script":  # on to the end tag (a <script>: only right after)
                end = end_tag_re(tag)
                em = end.match(buf, after) if tag == "script" else end.search(buf, after)
                if em is None:
                    return i, tags, edits, urls
                after = em.start()
            elif (tag == "svg" or tag == "math") and not _self_closing(m):
                tree = _foreign_tree(buf, after, flags, memo, learn, tag)
                if tree is None:
                    return i, tags, edits, urls
                after, inner, inner_urls, inner_tags = tree
                mine = mine + inner
                mapped += inner_urls
                tags += inner_tags
            if mine:
                if edits is None:
                    edits = []
                edits.extend(mine)
            urls += mapped
            tags += 1
            pos = after
        elif c == "/":
            if i + 2 >= n or buf[i + 2] not in LETTERS:
                return i, tags, edits, urls
            m = TAG_RE.match(buf, i, i + LONG_TAG)
            if m is None:
                return i, tags, edits, urls
            pos = m.end()
        elif c == "!":
            k = _comment_end(buf, i, n)
            if k < 0:
                return i, tags, edits, urls
            pos = k
        elif c == "?":
            return i, tags, edits, urls
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
            if not _self_closing(m):
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

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
for a ``data-*`` value that is a whole absolute http(s) URL as written (no character reference but
"&amp;", none in its head, no character ``tokenizer.ABS_HTTP_RE`` excludes), and for a ``srcset`` /
``imagesrcset`` whose every candidate URL is relative or plain with a remembered head (references:
"&amp;" alone, outside the heads: :func:`only_amp`; one edit for the value, as
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

Script and style text, handlers and nonces the rewriter would pass unchanged are walked over too,
as far as the flags tell what its callables do: a ``<script>`` data block (``type`` as written names
no script, :func:`_script_end`), or a classic or module script without any of the JS rewriter's
trigger words (:data:`JS_TRIGGER_WORDS`: rewriter/js.py passes such text at once; only with
:data:`F_JS_WORDS`, which the rewriter sets for the real JS rewriter), read as the rewriter reads it
(ASCII, or a UTF-8 document: :data:`F_UTF8`); a ``<style>`` whose text has no URL function, no
``@import`` and no backslash (:func:`css_text_wanted`, the rewriter's own pre-check); an ``on*``
handler without those words or a reference that reads as a letter (:func:`ref_letter`); a
``javascript:`` URL whose script has none of them (no ``%`` or reference either); a ``data-*``
value starting with a numeric reference that does not read as "h"; a ``nonce`` while the page's CSP is kept
(:data:`F_KEEP_NONCE`). Text is read only up to :data:`RAW_WALK_MAX`, and only while the
rewriter's budgets are at least that (:data:`F_RAW_WALK`). An import map or speculation rules, a
``type`` with a character reference, or script data whose end is not in the buffer stop the walk.

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

from ..css import NAME_CHARS as CSS_NAME_CHARS  # the CSS rewriter's name characters (ASCII)
from . import entities
from .policy import CSP_NAMES, IMPORTMAP, RELATIVE_URL_RE, SPECULATION, URL_HEAD_RE, script_kind
from .tokenizer import ABS_HTTP_RE, ASCII_LOWER, ATTR_RE, COMMENT_END_RE, LETTERS, TAG_RE, WS, end_tag_re, script_res
from .values import javascript_url_body, srcset_url_spans

F_JS = 1  # on* attributes go to the JS rewriter
F_CSS = 2  # style attributes go to the CSS rewriter
F_ACTIVE = 4  # integrity / nonce are dropped
F_JS_WORDS = 8  # the JS rewriter passes a script without any of JS_TRIGGER_WORDS unchanged (rewriter/js.py)
F_UTF8 = 16  # the document's charset is UTF-8 (or not yet known): inline scripts go to the JS rewriter as bytes
F_KEEP_NONCE = 32  # nonce attributes stay (the page's CSP is kept in force)
F_RAW_WALK = 64  # <script> / <style> text up to RAW_WALK_MAX may be read (within the rewriter's budgets)
# The CSS rewriter maps each URL of a style value through the rewriter's own mapper and changes
# nothing else (rewriter/css.py's CssRewriter): a style value whose URLs are plain url() values with
# remembered heads is edited from the memo (_style_edit).
F_CSS_URLS = 128
# The document's charset is settled (the transport's label, a BOM, or an earlier <meta>): a <meta
# charset> changes nothing, nor does a <meta http-equiv> but refresh and CSP (meta_harmless).
F_CODEC_LOCKED = 256
# The words rewriter/js.py's pre-check looks for (JsRewriter.trigger_words): a script or handler
# with none of them is passed through unchanged (case-sensitive, ASCII).
JS_TRIGGER_WORDS = ("import", "from", "location", "export", "postMessage", "sourceMappingURL")
# <script> / <style> text the walk reads for those words or URL functions: longer text is left to
# the rewriter (which enforces limits.MAX_SCRIPT / MAX_STYLE; the rewriter lets the walk read raw
# text only while both are at least this).
RAW_WALK_MAX = 1 << 20
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
SKIP_STOP = frozenset(("base", "object", "plaintext"))
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
MAX_STYLE_URLS = 32  # a style value with more URLs than this is left to the rewriter (_core.c)
# Characters a mapped head may hold to be spliced into a style value as it is: none needs a CSS
# escape in a string or a url token, nor a character reference, in any attribute quoting.
_STYLE_HEAD_SAFE_RE = re.compile("[A-Za-z0-9.:/_\\[\\]-]*")
# What a URL-bearing style value may not hold for _style_edit to read it as the CSS rewriter does:
# a character reference, an escape, an at-rule, a comment, NUL, a byte past ASCII (checked apart).
_STYLE_BAIL_RE = re.compile("[&\\\\@\x00]|/\\*")


# What in <style> text can hold a URL (rewriter/css.py): url(), src(), image-set() (also as
# -webkit-image-set()), @import, and a backslash (an escape can spell any of them).
_CSS_TEXT_URL_RE = re.compile(
    "\\\\|@[iI][mM][pP][oO][rR][tT]|(?:[uU][rR][lL]|[sS][rR][cC]|[iI][mM][aA][gG][eE]-[sS][eE][tT])\\(")


def css_text_wanted(raw: str) -> bool:
    """May the CSS rewriter change the <style> text ``raw`` (the page's bytes as latin-1)? Not
    without one of those (ASCII) in it: the characters of any ASCII-compatible charset that read
    as ASCII are the ASCII bytes themselves, so the decoded text has none either. (As
    ``_CSS_TEXT_URL_RE.search(raw) is not None``, with substring searches: no latin-1 character
    but an ASCII capital lower-cases to ASCII, and lower-casing keeps every length.)"""
    if "\\" in raw:
        return True
    low = raw.lower()
    return "url(" in low or "src(" in low or "image-set(" in low or "@import" in low


def js_text_wanted(raw: str, flags: int) -> bool:
    """May the JS rewriter change the script text or handler value ``raw`` (as written)? Only
    when it is the real one (F_JS_WORDS) is a text without its trigger words known to pass."""
    if not flags & F_JS_WORDS:
        return True
    return any(w in raw for w in JS_TRIGGER_WORDS)


_NUMERIC_REF_RE = re.compile("&#(?:[xX]([0-9A-Fa-f]+)|([0-9]+))")


def _numeric_ref(m: "re.Match[str]") -> int:
    return int(m.group(1), 16) if m.group(1) is not None else int(m.group(2))


def ref_letter(raw: str) -> bool:
    """May a character reference in ``raw`` read as an ASCII letter? A numeric one whose number
    is a letter's, or ``&fjlig;`` (the one named reference that reads as letters: "fj"). Any other
    reference reads as something that is no part of a word, so the decoded text holds a word
    (:data:`JS_TRIGGER_WORDS`) only where ``raw`` does."""
    if "&fjlig" in raw:
        return True
    for m in _NUMERIC_REF_RE.finditer(raw):
        v = _numeric_ref(m)
        if 65 <= v <= 90 or 97 <= v <= 122:
            return True
    return False


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
        if RELATIVE_URL_RE.match(value, 1 if value[0] in "\"'" else 0) is not None:
            return False
        raw = _unquoted(value)
        body = javascript_url_body(raw)
        if body is None:
            return True
        # a javascript: URL: its script goes to the JS rewriter (none: the value stays)
        if not flags & F_JS:
            return False
        if not flags & F_JS_WORDS or "&" in raw or "%" in raw:  # decoded, percent-decoded: the rewriter reads it
            return True
        return js_text_wanted(raw[body:], flags)
    if name in LIST_ATTRS:
        return value is not None
    if name == "style":
        return bool(flags & F_CSS) and bool(value) and style_wanted(_unquoted(value))
    if name in DROP_ATTRS:
        return bool(flags & F_ACTIVE) and not (name == "nonce" and flags & F_KEEP_NONCE)
    if name.startswith("data-"):
        if not value:
            return False
        raw = _unquoted(value)
        if raw[:1] == "&":  # a named reference never decodes to "h": only "&#..." may
            if raw[1:2] in LETTERS:
                return False
            m = _NUMERIC_REF_RE.match(raw)
            return m is None or _numeric_ref(m) in (0x48, 0x68)
        if raw[:4].lower() != "http":
            return False
        if "&" in raw or not raw.isascii():  # decoded (references, the page's charset): the rewriter reads it
            return True
        return ABS_HTTP_RE.fullmatch(raw) is not None  # as written is as read: else never rewritten
    if name.startswith("on"):  # a handler: no value, or one without the JS rewriter's words, stays
        if not flags & F_JS:
            return False
        if not flags & F_JS_WORDS:
            return True
        if not value:
            return False
        raw = _unquoted(value)
        return js_text_wanted(raw, flags) or ref_letter(raw)  # a reference may spell a word
    return False


def _unquoted(value: str) -> str:
    return value[1:-1] if value[0] in "\"'" else value


def only_amp(raw: str) -> bool:
    """Does every "&" of ``raw`` start "&amp;"? Then it reads as written with each "&amp;" as "&":
    no space, comma or quote appears and none goes, so a srcset's candidates, and whether a
    ``data-*`` value is a whole absolute URL (``ABS_HTTP_RE``), are the same in both; and the
    mapper, changing only a URL's head (which must hold no "&"), keeps the rest as written."""
    return "&" not in raw or raw.count("&") == raw.count("&amp;")


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


def _changed_head(memo: dict, learn: Callable | None, url: str) -> "tuple[int, str] | bool":
    """(end of the URL's head, the head it maps to) when the memo maps it to another; True: the
    mapper leaves it (relative, or mapped to itself); False: the rewriter must look (a reference in
    the head, which the mapper reads decoded; not remembered; refused; a head past ASCII)."""
    if RELATIVE_URL_RE.match(url):
        return True
    end = URL_HEAD_RE.match(url).end()
    if "&" in url[:end]:
        return False
    new_head = _memo_head(memo, learn, url, end)
    if type(new_head) is not str or not new_head.isascii():
        return False
    return True if new_head == url[:end] else (end, new_head)


def _splice_heads(q: str, raw: str, heads: "list[tuple[int, int, str]]") -> "tuple[str, int] | bool":
    """``raw`` with each (start, end, new head) in place of raw[start:end], quoted with ``q`` as it
    was: (new value, heads spliced); True when there are none (nothing to change)."""
    if not heads:
        return True
    out: list[str] = []
    at = 0
    for start, end, new_head in heads:
        out.append(raw[at:start])
        out.append(new_head)
        at = end
    out.append(raw[at:])
    return q + "".join(out) + q, len(heads)


def _srcset_edit(value: str, memo: dict, learn: Callable | None = None) -> "tuple[str, int] | bool":
    """A srcset value (quotes included) as HtmlRewriter._srcset_edits rewrites it when every
    candidate URL is relative or plain with a remembered head: (new value, URLs mapped); True:
    nothing to change; False: the rewriter must look (a reference, a byte past ASCII, a NUL, a
    head not remembered, a mapped head that values.splice would escape or quote)."""
    q = value[0] if value[0] in "\"'" else ""
    raw = value[1:-1] if q else value
    if not raw.isascii() or "\0" in raw or not only_amp(raw):
        return False
    heads: list[tuple[int, int, str]] = []
    for s, e in srcset_url_spans(raw):
        got = _changed_head(memo, learn, raw[s:e])
        if got is True:
            continue
        if got is False:
            return False
        end, new_head = got
        if len(heads) >= MAX_SRCSET_URLS or "&" in new_head or "\"" in new_head or "'" in new_head:
            return False
        if not q and any(c in _UNQUOTED_UNSAFE for c in new_head):
            return False
        heads.append((s, s + end, new_head))
    return _splice_heads(q, raw, heads)


def _style_edit(value: str, memo: dict, learn: Callable | None = None) -> "tuple[str, int] | bool":
    """A style value (quotes included) as HtmlRewriter._css_edits rewrites it, when the CSS rewriter
    (rewriter/css.py) would find its URLs only in url() and each is relative or plain with a
    remembered head: (new value, URLs mapped); True: nothing to change; False: the rewriter must look.

    It reads the value as written, so it gives up on whatever makes that differ from what the CSS
    rewriter reads, or makes its reading harder than a url() scan: a character reference, an escape,
    NUL, a byte past ASCII, "@", a comment, a string outside url() (a quote), src() or image-set(), a
    url( that is not a url() function ("#url(", a longer name), an unquoted url with a quote or "("
    in it (a bad url), a URL with a control character, more than MAX_STYLE_URLS URLs, a head not
    remembered or one that would need escaping."""
    q = value[0] if value[0] in "\"'" else ""
    raw = value[1:-1] if q else value
    if not raw.isascii() or _STYLE_BAIL_RE.search(raw):
        return False
    heads: list[tuple[int, int, str]] = []
    found = 0
    k, n = 0, len(raw)
    while k < n:
        c = raw[k]
        if c == '"' or c == "'":
            return False  # a string outside url(): the CSS rewriter reads it
        if c != "(":
            k += 1
            continue
        i = k
        while i > 0 and raw[i - 1] in CSS_NAME_CHARS:
            i -= 1
        name = raw[i:k].lower()
        if name in ("src", "image-set", "-webkit-image-set") or (name == "url" and i > 0 and raw[i - 1] == "#"):
            return False
        k += 1
        if name != "url":
            continue
        while k < n and raw[k] in WS:
            k += 1
        if k < n and raw[k] in "\"'":  # url("..."): the string is the URL
            quote = raw[k]
            end = raw.find(quote, k + 1)
            if end < 0:
                return False
            s, e, k = k + 1, end, end + 1
        else:  # a url token: up to whitespace or ")", then only whitespace before the ")"
            s = k
            while k < n and raw[k] not in WS and raw[k] not in ")\"'(":
                k += 1
            e = k
            while k < n and raw[k] in WS:
                k += 1
            if k >= n or raw[k] != ")":
                return False  # a bad url, or one the value ends in: the rewriter decides
            k += 1
        url = raw[s:e]
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
            return False
        found += 1
        if found > MAX_STYLE_URLS:
            return False
        got = _changed_head(memo, learn, url)
        if got is True:
            continue
        if got is False or _STYLE_HEAD_SAFE_RE.fullmatch(got[1]) is None:
            return False
        heads.append((s, s + got[0], got[1]))
    return _splice_heads(q, raw, heads)


def meta_harmless(value: str | None) -> bool:
    """Does a <meta http-equiv> with this value (as written, quotes included; None: no value) change
    nothing once the charset is settled (HtmlRewriter._meta acts on "refresh" and the CSP names)? A
    character reference or NUL could decode to one of them: then the rewriter reads it."""
    if not value:
        return True
    raw = _unquoted(value)
    if "&" in raw or "\0" in raw:
        return False
    low = raw.translate(ASCII_LOWER)
    return low != "refresh" and low not in CSP_NAMES


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
            # <meta>: with the charset settled, its charset and a harmless first http-equiv change
            # nothing (a later http-equiv is ignored: the first of duplicates wins)
            if not (flags & F_CODEC_LOCKED and (name == "charset" or (
                    name == "http-equiv" and ("http-equiv" in seen or meta_harmless(am.group(2)))))):
                return None
            seen.add(name)
            continue
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
                if not only_amp(v) or not ABS_HTTP_RE.fullmatch(v, q, len(v) - q):
                    return None
                edit = _plain_url_edit(v, memo, learn)
                if edit is False:
                    return None
                if edit is not True:
                    mine.append((am.start(2), am.end(2), edit))
                    mapped += 1
        elif memo is not None and (name in URL_ATTRS or (name == "style" and flags & F_CSS_URLS)):
            if name in seen:  # the first of duplicates wins: the rewriter decides
                return None
            seen.add(name)
            if _attr_wanted(name, am.group(2), flags):
                style = name == "style"
                got = _style_edit(am.group(2), memo, learn) if style else _plain_url_edit(am.group(2), memo, learn)
                if got is False:
                    return None
                if got is not True:
                    text, count = got if style else (got, 1)
                    mine.append((am.start(2), am.end(2), text))
                    mapped += count
        elif _attr_wanted(name, am.group(2), flags):
            return None
    if len(mine) > MAX_TAG_EDITS:
        return None
    return mine, mapped


def _self_closing(m: "re.Match[str]") -> bool:
    """A "/" right before the tag's ">", outside any value (as HtmlRewriter._tree_effects reads it)."""
    return m.string[m.end(3): m.end() - 1].endswith("/")


# Integration points (treebuilder._SVG_HTML_POINTS under <svg>, not below an "annotation-xml";
# _MATH_TEXT_POINTS under <math>) the walk goes over when they hold nothing but text.
SVG_POINTS = frozenset(("title", "desc", "foreignobject"))
MATH_POINTS = frozenset(("mi", "mo", "mn", "ms", "mtext"))


def _point_end(buf: str, pos: int, name: str) -> int:
    """The index after the end tag of ``name`` when the next "<" from ``pos`` starts it (text only
    in between), or -1."""
    j = buf.find("<", pos)
    if j < 0:
        return -1
    m = TAG_RE.match(buf, j, j + LONG_TAG)
    if m is None or not m.group(1) or m.group(2).translate(ASCII_LOWER) != name:
        return -1
    return m.end()


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
            point = name in (SVG_POINTS if root == "svg" else MATH_POINTS) and stack[-1] != "annotation-xml"
            if not point and (name in TREE_TAGS or name in FOREIGN_STOP):
                return None
            got = _tag_edits(buf, m, flags, memo, learn)
            if got is None:
                return None
            after = m.end()
            if point:  # an integration point holding nothing but text: opened, then closed by its end tag
                after = -1 if _self_closing(m) else _point_end(buf, after, name)
                if after < 0:
                    return None
            edits.extend(got[0])
            urls += got[1]
            tags += 1
            if not point and not _self_closing(m):
                if len(stack) >= MAX_FOREIGN_DEPTH:
                    return None
                stack.append(name)
            pos = after
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
            if tag in RAW_TAGS or tag == "style":  # on to the end tag
                em = end_tag_re(tag).search(buf, after)
                if em is None:
                    return i, tags, edits, urls
                if tag == "style" and flags & F_CSS and (not flags & F_RAW_WALK or em.start() - after > RAW_WALK_MAX
                                                         or css_text_wanted(buf[after: em.start()])):
                    return i, tags, edits, urls
                after = em.start()
            elif tag == "script":
                end = _script_end(buf, m, flags)
                if end < 0:
                    return i, tags, edits, urls
                after = end
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


def _script_kind(buf: str, m: "re.Match[str]") -> str | None:
    """policy.script_kind of the <script> start tag ``m`` from its first ``type`` and ``language``
    attributes as written; None when a value holds a character reference or a NUL (decoded: the
    rewriter reads it)."""
    got: dict[str, str] = {}
    for am in ATTR_RE.finditer(buf, m.start(3), m.end(3)):
        name = am.group(1).translate(ASCII_LOWER)
        if (name == "type" or name == "language") and name not in got:
            v = am.group(2)
            raw = "" if v is None else _unquoted(v) if v else ""
            if "&" in raw or "\0" in raw:
                return None
            got[name] = raw
    return script_kind(got.get("type"), got.get("language"))


def script_data_end(buf: str, pos: int) -> int:
    """Where the script data starting at ``pos`` ends: the "<" of its "</script" end tag, through
    the escaped states as Tokenizer._script follows them; -1 when that is not in ``buf``."""
    plain, esc, desc = script_res("script")
    st = 0  # 0: script data, 1: escaped, 2: double escaped
    while True:
        m = (plain if st == 0 else esc if st == 1 else desc).search(buf, pos)
        if m is None:
            return -1
        tok = m.group(0)
        if tok == "-->":
            pos, st = m.end(), 0
        elif tok == "<!--":
            pos, st = m.start() + 2, 1
        elif st == 2:
            pos, st = m.end(), 1
        elif tok[1] == "/":
            return m.start()
        else:
            pos, st = m.end(), 2


def _script_end(buf: str, m: "re.Match[str]", flags: int) -> int:
    """Where the text of the <script> whose start tag is ``m`` ends, when the rewriter would pass
    it through: empty, a data block, or (the JS rewriter the real one) a classic or module script
    without its trigger words, read as the rewriter reads it (ASCII, or a UTF-8 document). -1:
    the rewriter must look (an import map, speculation rules, a script with a word, ...)."""
    after = m.end()
    if end_tag_re("script").match(buf, after):
        return after
    kind = _script_kind(buf, m)
    if kind is None or kind == IMPORTMAP or kind == SPECULATION:
        return -1
    end = script_data_end(buf, after)
    if end < 0 or not kind or not flags & F_JS:
        return end
    if not flags & F_JS_WORDS or not flags & F_RAW_WALK or end - after > RAW_WALK_MAX:
        return -1
    text = buf[after:end]
    if not flags & F_UTF8 and not text.isascii():
        return -1
    return -1 if js_text_wanted(text, flags) else end


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


def splice_python(buf: str, at: int, edits: list) -> str:
    """buf[at:] up to the end of the last edit, each (start, end, text) applied (in order)."""
    out = []
    for a, b, text in edits:
        out.append(buf[at:a])
        out.append(text)
        at = b
    return "".join(out)


try:
    from ._core import (  # type: ignore[import-not-found]
        decode_refs as decode_refs_c, skip as skip_c, skip_foreign as skip_foreign_c, splice as splice_c,
        css_text_wanted as css_text_wanted_c, js_words as js_words_c, text_end as text_end_c,
    )
except ImportError:  # built without a compiler (or an old build): the reference runs
    skip_c = skip_foreign_c = decode_refs_c = splice_c = text_end_c = css_text_wanted_c = js_words_c = None

CORES: dict[str, Skip] = {"python": skip_python}
FOREIGN: dict[str, Callable] = {"python": skip_foreign_python}
DECODERS: dict[str, Callable] = {"python": entities.decode_refs_python}
SPLICERS: dict[str, Callable] = {"python": splice_python}
# The end of a raw text element's or a script's text (text_end in _core.c); the pure-Python core has
# none: the tokenizer's own regular expressions are the reference it is checked against.
TEXT_ENDS: dict[str, Callable | None] = {"python": None}


def _css_wanted_c(raw: str) -> bool:
    """css_text_wanted in C (one pass, 16 characters a step; None for a wide str: the reference)."""
    got = css_text_wanted_c(raw)
    return css_text_wanted(raw) if got is None else got


# Whether <style> text may hold a URL (css_text_wanted), and whether a script holds one of the JS
# rewriter's trigger words (rewriter/js.py's _has_trigger asks; None: its own substring searches).
CSS_WANTED: dict[str, Callable] = {"python": css_text_wanted}
JS_WORDS: dict[str, Callable | None] = {"python": None}
if skip_c is not None:
    CORES["c"] = skip_c
    FOREIGN["c"] = skip_foreign_c
    DECODERS["c"] = functools.partial(decode_refs_c, html5)
    SPLICERS["c"] = splice_c
    TEXT_ENDS["c"] = text_end_c
    CSS_WANTED["c"] = _css_wanted_c
    JS_WORDS["c"] = js_words_c  # bytes or a 1-byte str; None for a wide str (the caller's searches then)



def use(name: str) -> None:
    """Select the core for rewriters created from now on ("c" or "python"; tests run both), and
    the character reference decoder (entities.decode_refs) at once."""
    global NAME, ACTIVE, ACTIVE_FOREIGN, ACTIVE_SPLICE, ACTIVE_TEXT_END, ACTIVE_CSS_WANTED, ACTIVE_JS_WORDS
    ACTIVE = CORES[name]
    ACTIVE_CSS_WANTED = CSS_WANTED[name]
    ACTIVE_JS_WORDS = JS_WORDS[name]
    ACTIVE_FOREIGN = FOREIGN[name]
    ACTIVE_SPLICE = SPLICERS[name]
    ACTIVE_TEXT_END = TEXT_ENDS[name]
    entities.decode_refs = DECODERS[name]
    NAME = name


NAME = ""
ACTIVE: Skip = skip_python
ACTIVE_FOREIGN: Callable = skip_foreign_python
ACTIVE_SPLICE: Callable = splice_python
ACTIVE_TEXT_END: Callable | None = None
ACTIVE_CSS_WANTED: Callable = css_text_wanted
ACTIVE_JS_WORDS: Callable | None = None
use("c" if skip_c is not None and os.environ.get("TANDEM_HTML_CORE", "") != "python" else "python")


def describe() -> str:
    """One line for ``tandem --version`` and the README: which core rewrites HTML."""
    if NAME == "c":
        return "HTML core: compiled (C extension rewriter.html._core)"
    why = "forced by TANDEM_HTML_CORE=python" if skip_c is not None else "no compiled extension was built"
    return f"HTML core: pure Python ({why})"

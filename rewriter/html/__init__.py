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
rewritten is decoded with the document's charset. UTF-16 (by BOM or label) and
ISO-2022-JP are not ASCII-compatible: those bodies are decoded as they stream,
rewritten as UTF-8 and encoded back (``stats["transcoded"]``); the WHATWG
"replacement" labels (ISO-2022-KR/CN, HZ) show nothing in a browser and pass as
they are. Unknown or malformed labels mean the default.

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

Failing closed: over a budget (``limits``) or on an internal error, ``feed``/``close``
raise :class:`rewriter.errors.RewriteError`; the caller serves an error instead.

The package, one concern per module:

==================  ===========================================================
``tokenizer``       states, dispatched through a table; tag regexes; held input
``treebuilder``     the tree-builder decisions the tokenizer depends on
``policy``          tag -> attribute -> kind; what a <script> contains
``charset``         encoding detection, transcoding, span conversions
``entities``        character references in attribute values
``values``          srcset, refresh, javascript: URLs; splicing edits back
``core``            the compiled scan of the hot loop, or its Python reference
``rewriter``        :class:`HtmlRewriter`, which ties them together
``limits``          every size limit, with its reason
==================  ===========================================================
"""

from __future__ import annotations

from .charset import resolve_charset
from .entities import decode_attr_value
from .limits import MAX_SCRIPT, MAX_SRCDOC_DEPTH, MAX_STYLE, MAX_TAG, MAX_URL_MEMO
from .policy import CSP_REPLACEMENT, ORIGINAL_PREFIX, REWRITE_TABLE
from .rewriter import HtmlRewriter, iter_start_tags, rewrite_html, xml_safe_markup
from .tokenizer import TAG_RE
from .values import javascript_url_body, percent_decode_ascii, refresh_url_span, srcset_url_spans

__all__ = [
    "CSP_REPLACEMENT", "HtmlRewriter", "MAX_SCRIPT", "MAX_SRCDOC_DEPTH", "MAX_STYLE", "MAX_TAG", "MAX_URL_MEMO",
    "ORIGINAL_PREFIX", "REWRITE_TABLE", "TAG_RE", "decode_attr_value", "iter_start_tags", "javascript_url_body",
    "percent_decode_ascii", "refresh_url_span", "resolve_charset", "rewrite_html", "srcset_url_spans",
    "xml_safe_markup",
]

"""Policy as data: which attribute of which element holds what, and what a <script> contains.

:data:`REWRITE_TABLE` maps tag -> attribute -> kind; attributes named ``on*`` are event handlers
(kind :data:`JS`) on every element, ``data-*`` are :data:`DATA_URL`. The rewriter looks a tag's
merged table up once (:func:`table_for`) and each attribute name once in it.
"""

from __future__ import annotations

import re

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
# A URL value that can only be relative (no scheme before the first / ? #, not //, no character
# reference or tab/newline that could hide one): the mapper would return it unchanged.
RELATIVE_URL_RE = re.compile(
    "[\\x00-\\x20]*(?:/(?![/\\\\\\t\\n\\r&])|[#?.]|[A-Za-z0-9_~%+-][^:/?#&\\t\\n\\r]*(?:[/?#]|$)|$)"
)
# The scheme, slashes and authority at the start of a URL (where the mapper looks).
URL_HEAD_RE = re.compile("[\\x00-\\x20]*(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?[/\\\\]*[^/\\\\?#]*")
# tag -> merged table, so each tag costs one lookup
_TABLE_FOR: dict[str, dict[str, str]] = {
    tag: {**_ANY_TAG, **extra} for tag, extra in REWRITE_TABLE.items() if tag != "*"
}

# The value a neutralised <meta http-equiv=Content-Security-Policy> gets: the element
# stays (byte offsets of everything else are kept, the policy text stays readable for
# debugging) but no browser knows this http-equiv.
CSP_REPLACEMENT = "x-tandem-removed-csp"
CSP_NAMES = ("content-security-policy", "content-security-policy-report-only")
# Subresource integrity (W3C SRI): the elements whose fetch it governs and the attribute with the URL.
SRI_URL_ATTR = {"script": "src", "link": "href"}
SRI_LINK_RELS = frozenset(("stylesheet", "preload", "modulepreload"))
# Start tags whose attributes the tree builder or the meta/base logic reads: a dictionary is built.
ATTR_DICT_TAGS = frozenset(("meta", "base", "script", "style", "svg", "math", "font"))
# End tags that make the parser create <head> implicitly (so the runtime goes first).
IMPLY_HEAD_END = frozenset(("head", "body", "html", "br"))
_WS = "\t\n\f\r "
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def table_for(tag: str) -> dict[str, str]:
    """attribute -> kind for one (lower-case) tag name."""
    return _TABLE_FOR.get(tag, _ANY_TAG)


def script_kind(type_value: str | None, language_value: str | None) -> str:
    """What a <script>'s contents are, as the WHATWG "prepare the script element" decides.

    ``type_value`` / ``language_value`` are the decoded attribute values (None: absent).
    Returns CLASSIC, MODULE, IMPORTMAP, SPECULATION, or "" for a data block (never touched).
    """
    if type_value == "" or (type_value is None and not language_value):
        kind = "text/javascript"
    elif type_value is None:
        kind = "text/" + language_value
    else:
        kind = type_value
    kind = kind.strip(_WS).translate(_ASCII_LOWER)
    if kind in _JS_MIME:
        return CLASSIC
    if kind in (MODULE, IMPORTMAP, SPECULATION):
        return kind
    return ""

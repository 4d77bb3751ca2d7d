"""Tree-builder simulator: the few tree-construction decisions the tokenizer depends on.

Which state a start tag switches the tokenizer to (RAWTEXT for <style>, script data for <script>,
...) is decided by the tree builder, not the tokenizer, and it does not happen in foreign content
(SVG, MathML), where ``<![CDATA[`` is allowed instead. This module keeps just enough of the tree
builder to make those decisions: a stack of the open foreign elements and the rules that leave
foreign content (a "breakout" start tag) or re-enter HTML (integration points). lol-html keeps the
same feedback loop apart from its lexer (``tree_builder_simulator.rs``).

Pure: names and attribute values in, a tokenizer state (or None) out.
"""

from __future__ import annotations

from typing import Callable, Mapping

from .tokenizer import PLAINTEXT, RAWTEXT, RCDATA, SCRIPT

RAWTEXT_TAGS = frozenset(("style", "xmp", "iframe", "noembed", "noframes", "noscript"))
RCDATA_TAGS = frozenset(("title", "textarea"))
# Start tags that end foreign content (WHATWG "parsing tokens in foreign content").
_BREAKOUT = frozenset(
    "b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr i img "
    "li listing menu meta nobr ol p pre ruby s small span strong strike sub sup table tt u ul var".split()
)
_SVG_HTML_POINTS = frozenset(("foreignobject", "desc", "title"))
_MATH_TEXT_POINTS = frozenset(("mi", "mo", "mn", "ms", "mtext"))
# Start tags with tree-builder effects outside foreign content (state switches, foreign roots).
TREE_NAMES = RAWTEXT_TAGS | RCDATA_TAGS | frozenset(("script", "plaintext", "svg", "math"))

# attribute name -> decoded value, for the attributes of one start tag (read lazily)
AttrValue = Callable[[str], "str | None"]


class Foreign:
    """An open SVG/MathML element; ``html`` when its contents are parsed as HTML. ``in_svg`` /
    ``in_math``: it or an element below it on the stack is <svg> / <math> (kept per entry, so the
    question costs O(1) however deep the nesting)."""

    __slots__ = ("name", "html", "in_svg", "in_math")

    def __init__(self, name: str, html: bool, below: "Foreign | None" = None) -> None:
        self.name = name
        self.html = html
        self.in_svg = name == "svg" or (below is not None and below.in_svg)
        self.in_math = name == "math" or (below is not None and below.in_math)


class TreeBuilderSimulator:
    """Follows start and end tags; says which tokenizer state a start tag switches to.

    ``foreign`` is the stack of open foreign elements (empty: HTML content). ``xml``: every
    element is markup, only <script> and <style> have raw text.
    """

    __slots__ = ("foreign", "xml", "_open")

    def __init__(self, xml: bool = False) -> None:
        self.foreign: list[Foreign] = []
        self.xml = xml
        self._open: dict[str, int] = {}  # name -> how many are on the stack (end tags cost O(1) amortised)

    def _push(self, name: str, html: bool) -> None:
        self.foreign.append(Foreign(name, html, self.foreign[-1] if self.foreign else None))
        self._open[name] = self._open.get(name, 0) + 1

    def push_foreign(self, names: list[str]) -> None:
        """Open one foreign element per name, none an integration point nor <svg>/<math>, below a
        current element that is not an HTML integration point (what core.skip_foreign walked over)."""
        foreign, opened = self.foreign, self._open
        below = foreign[-1]
        for name in names:
            below = Foreign(name, False, below)
            foreign.append(below)
            opened[name] = opened.get(name, 0) + 1

    def _pop_to(self, k: int) -> None:
        """Remove foreign[k:] (each element is removed once: linear over the document)."""
        for f in self.foreign[k:]:
            self._open[f.name] -= 1
        del self.foreign[k:]

    def cdata_allowed(self) -> bool:
        return self.xml or (bool(self.foreign) and not self.foreign[-1].html)

    def end_tag(self, name: str) -> None:
        if not self._open.get(name):  # not open: nothing to search (no O(depth) scan per stray end tag)
            return
        foreign = self.foreign
        for k in range(len(foreign) - 1, -1, -1):
            if foreign[k].name == name:
                self._pop_to(k)
                break

    def start_tag(self, name: str, attrs: Mapping[str, object], value: AttrValue, self_closing: bool) -> int | None:
        """The state the tokenizer switches to after this start tag (None: it stays in data).

        ``attrs`` holds the tag's attribute names; ``value(name)`` decodes one of them.
        """
        foreign = self.foreign
        if self.xml:
            if self_closing or name not in ("script", "style"):
                return None
            return RAWTEXT
        if foreign:
            top = foreign[-1]
            if not top.html or (top.name in _MATH_TEXT_POINTS and name in ("mglyph", "malignmark")):
                if name in _BREAKOUT or (name == "font" and ("color" in attrs or "face" in attrs or "size" in attrs)):
                    k = len(foreign)
                    while k and not foreign[k - 1].html:
                        k -= 1
                    self._pop_to(k)
                else:
                    if not self_closing:
                        self._push(name, self._integration_point(name, attrs, value))
                    return None
        if name == "svg" or name == "math":
            if not self_closing:
                self._push(name, False)
            return None
        if name == "script":
            return SCRIPT
        if name in RAWTEXT_TAGS:
            return RAWTEXT
        if name in RCDATA_TAGS:
            return RCDATA
        if name == "plaintext":
            return PLAINTEXT
        return None

    def _integration_point(self, name: str, attrs: Mapping[str, object], value: AttrValue) -> bool:
        top = self.foreign[-1] if self.foreign else None
        parent = top.name if top is not None else ""
        in_svg = top is not None and top.in_svg
        in_math = top is not None and top.in_math
        if name in _SVG_HTML_POINTS and in_svg and parent != "annotation-xml":
            return True
        if name in _MATH_TEXT_POINTS and in_math:
            return True
        if name == "annotation-xml" and "encoding" in attrs:
            enc = (value("encoding") or "").translate(_ASCII_LOWER)
            return enc in ("text/html", "application/xhtml+xml")
        return False


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

"""Limits of the HTML rewriter: each a named constant with its reason.

Read through the module (``limits.MAX_TAG``), never copied, so one value holds everywhere.
"""

from __future__ import annotations

# A start or end tag longer than this is refused (the document fails closed: emitted as text,
# the browser would still read it as a tag, its URLs unproxied). Real pages stay far below
# (the corpus' biggest tags are inline SVG paths of ~100 KB; data: URIs of big images reach a
# few MB); an incomplete tag is held in memory while it arrives, so this bounds what one page pins.
MAX_TAG = 16 << 20
# <style> contents are collected whole for the CSS rewriter (it needs the full text to
# tokenize); a bigger element fails the document (passed through, its URLs would leak).
MAX_STYLE = 4 << 20
# Inline <script> contents are collected whole for the JS rewriter (a parser needs the whole
# script); a bigger one fails the document (passed through, its import()s would leak).
MAX_SCRIPT = 4 << 20
# Heads (scheme and authority) of plain URL values remembered per document with what the mapper
# made of them (a page repeats a few origins; the mapper's side effects, alias registration,
# happen on the first one).
MAX_URL_MEMO = 4096
# iframe srcdoc documents are rewritten recursively; deeper nesting than this fails the document
# (each level re-escapes the one inside it, real pages nest one level, rarely two).
MAX_SRCDOC_DEPTH = 4

# Rewritten CSS in a style="" attribute is diffed against the original to keep the
# unchanged bytes; beyond this size a single prefix/suffix splice is used (the diff is
# quadratic in the worst case).
MAX_STYLE_ATTR_DIFF = 4096

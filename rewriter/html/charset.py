"""Charset detection for HTML bodies, and the conversions of the few spans that are rewritten.

The tokenizer reads bytes as latin-1 (see the package docstring): only a value or a stylesheet that
changes is decoded with the document's codec and encoded back, and only when that round-trips.
Which codec: a BOM, then the transport label, then a ``<meta charset>`` within the document
(WHATWG "encoding sniffing", without the 1024-byte prescan: a meta takes effect where it is met).
"""

from __future__ import annotations

import codecs
import re

# A UTF-8 BOM is 3 bytes, a UTF-16 BOM 2: this many bytes decide the encoding.
BOM_SNIFF = 3
META_CHARSET_RE = re.compile("charset[\\t\\n\\f\\r ]*=[\\t\\n\\f\\r ]*([\"']?)([^\\t\\n\\f\\r ;\"']+)", re.I)

# How a body in a given encoding is handled (the second item of :func:`resolve_charset`):
ASCII_COMPATIBLE = ""  # tokenized as latin-1 in place: the bytes HTML syntax uses mean ASCII
TRANSCODE = "transcode"  # UTF-16 and ISO-2022-JP: decoded, rewritten as UTF-8, encoded back
BLANK = "blank"  # the WHATWG "replacement" encoding: the browser shows one U+FFFD, loads nothing

# WHATWG labels of the "replacement" encoding: the document decodes to a single U+FFFD.
_BLANK_LABELS = frozenset(
    "csiso2022kr hz-gb-2312 iso-2022-cn iso-2022-cn-ext iso-2022-kr replacement".split()
)
# WHATWG label -> Python codec, where Python's own lookup would pick a different table (or none).
_CODEC_OF_LABEL = {
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "l1": "cp1252",
    "ascii": "cp1252", "us-ascii": "cp1252", "iso_8859-1": "cp1252", "x-user-defined": "cp1252",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "ms_kanji": "cp932", "windows-31j": "cp932", "csshiftjis": "cp932",
    "euc-kr": "cp949", "ks_c_5601-1987": "cp949", "gb2312": "gbk", "x-gbk": "gbk",
    "big5": "big5hkscs", "iso-8859-9": "cp1254", "latin5": "cp1254", "tis-620": "cp874",
    "iso-8859-11": "cp874", "windows-874": "cp874", "dos-874": "cp874", "x-mac-cyrillic": "mac-cyrillic",
    "x-mac-ukrainian": "mac-cyrillic", "iso-8859-8-i": "iso8859-8", "csiso88598i": "iso8859-8",
    "logical": "iso8859-8",
    # WHATWG: "utf-16" and "unicode" labels mean little-endian
    "utf-16": "utf-16-le", "unicode": "utf-16-le", "ucs-2": "utf-16-le", "csunicode": "utf-16-le",
    "iso-10646-ucs-2": "utf-16-le", "unicodefeff": "utf-16-le", "unicodefffe": "utf-16-be",
}
# The Python codecs (by their canonical name) of the WHATWG encodings. Any other codec Python
# knows (utf-7, utf-32, rot13, base64, zlib, ...) is no HTML encoding: the label is unknown.
_WHATWG_CODECS = frozenset(
    "utf-8 utf-16-le utf-16-be cp866 iso8859-2 iso8859-3 iso8859-4 iso8859-5 iso8859-6 iso8859-7 "
    "iso8859-8 iso8859-10 iso8859-13 iso8859-14 iso8859-15 iso8859-16 koi8-r koi8-u mac-roman "
    "cp874 cp1250 cp1251 cp1252 cp1253 cp1254 cp1255 cp1256 cp1257 cp1258 mac-cyrillic gbk gb18030 "
    "big5hkscs euc_jp iso2022_jp cp932 cp949".split()
)
_TRANSCODED = frozenset(("utf-16-le", "utf-16-be", "iso2022_jp"))


def resolve_charset(label: str | None) -> tuple[str | None, str]:
    """(Python codec or None if the label is unknown, how the body is handled) for a label.

    Any string is safe here (a hostile Content-Type): an unknown or malformed label is None,
    and the document is then read with the default (UTF-8 for the spans that change).
    """
    if not label:
        return None, ASCII_COMPATIBLE
    label = label.strip("\t\n\f\r \"'").lower()
    if label in _BLANK_LABELS:
        return None, BLANK
    codec = _CODEC_OF_LABEL.get(label, label)
    if not codec.isascii() or "\0" in codec:
        return None, ASCII_COMPATIBLE
    try:
        name = codecs.lookup(codec).name
    except (LookupError, ValueError):
        return None, ASCII_COMPATIBLE
    if name not in _WHATWG_CODECS:
        return None, ASCII_COMPATIBLE
    return name, (TRANSCODE if name in _TRANSCODED else ASCII_COMPATIBLE)


def to_unicode(s: str, codec: str | None) -> str | None:
    """A span of latin-1 text (the page's bytes) decoded with ``codec``; None if it does not round-trip."""
    if s.isascii():
        return s
    codec = codec or "utf-8"
    b = s.encode("latin-1")
    try:
        u = b.decode(codec, "surrogateescape")
        if codec != "utf-8" and u.encode(codec, "surrogateescape") != b:
            return None  # this codec would not give the same bytes back
    except (UnicodeError, LookupError):
        return None
    return u


def from_unicode(u: str, codec: str | None) -> str | None:
    """Text encoded with ``codec`` back to latin-1 text (the page's bytes); None if it cannot be."""
    if u.isascii():
        return u
    try:
        return u.encode(codec or "utf-8", "surrogateescape").decode("latin-1")
    except (UnicodeError, LookupError):
        return None

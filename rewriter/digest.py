"""What the rewriters' memos remember a text by: 16 bytes of a collision-resistant digest.

The memos (CSS URL spans, a script's places and location reads, rewritten resources) are shared by
every page and every session of the process, so the key must not let one text pass for another: a
hostile page that found two scripts or stylesheets with one key could have the edits of the first
applied to the second (URLs left unproxied). Both functions here are cryptographic hashes, and the
first 16 bytes of either leave 2^64 work for a collision.

Which one is speed only: SHA-256 (with the CPU's SHA extensions) is the faster for short texts,
BLAKE3 (SIMD over 1 KiB chunks) for long ones: 2.4 against 6.0 us at 8 KiB, 103 against 402 us at
600 KiB on the development machine (``bench/digest.py`` prints both on yours). Most inline styles
and handlers are short; most of the bytes hashed are in long scripts and stylesheets.
"""

from __future__ import annotations

import hashlib

from blake3 import blake3

# From this many bytes BLAKE3 is the faster of the two (measured: level at about 2 KiB).
LONG = 2048


def digest(data: bytes) -> bytes:
    """The memo key of ``data``: SHA-256 below LONG bytes, BLAKE3 from there (16 bytes of either)."""
    if len(data) < LONG:
        return hashlib.sha256(data).digest()[:16]
    return blake3(data).digest(16)


def digest_text(text: str) -> bytes:
    """:func:`digest` of a text's code points (UTF-8; lone surrogates, which surrogateescape makes of
    undecodable bytes, as themselves)."""
    return digest(text.encode("ascii") if text.isascii() else text.encode("utf-8", "surrogatepass"))

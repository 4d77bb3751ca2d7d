"""The memo key (rewriter/digest.py): 16 bytes of SHA-256 below LONG bytes, of BLAKE3 from there."""

import hashlib

from blake3 import blake3

from rewriter import digest as d


def test_each_length_uses_its_hash():
    short = b"a" * (d.LONG - 1)
    long = b"a" * d.LONG
    assert d.digest(short) == hashlib.sha256(short).digest()[:16]
    assert d.digest(long) == blake3(long).digest(16)
    assert len(d.digest(b"")) == len(d.digest(long)) == 16


def test_texts_differing_in_one_byte_get_different_keys_on_both_sides_of_the_switch():
    keys = set()
    texts = []
    for n in (1, d.LONG - 1, d.LONG, d.LONG + 1, 1 << 20):
        for k in (0, n // 2, n - 1):
            body = bytearray(b"x" * n)
            body[k] = ord("y")
            texts.append(bytes(body))
        texts.append(b"x" * n)
    for t in texts:
        keys.add(d.digest(t))
    assert len(keys) == len(set(texts))


def test_a_text_and_its_utf8_bytes_share_a_key():
    text = "a { background: url(caf\u00e9.png) }" * 200  # past LONG as UTF-8
    assert d.digest_text(text) == d.digest(text.encode("utf-8"))
    lone = "x\udc80" * 10  # a lone surrogate (surrogateescape's undecodable byte) is hashed as itself
    assert d.digest_text(lone) == d.digest(lone.encode("utf-8", "surrogatepass"))
    assert d.digest_text(lone) != d.digest_text("x\udc81" * 10)

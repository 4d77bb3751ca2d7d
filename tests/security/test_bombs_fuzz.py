"""Fuzzing the respond stage's parsers (issue 10): the budgeted decoder, the response-kind and charset
tables, the guard's literal parser and the decision. Arbitrary input, a deadline per input: nothing but
the documented refusal escapes, and nothing exceeds its budget. Profiles as in tests/fuzz/strategies.py.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib

import brotli
from hypothesis import given, strategies as st

from proxy import guard
from proxy.decide import Facts, decide
from proxy.decoding import Decoder
from proxy.errors import EncodingRefused
from proxy.respond import charset_of, kind_of, usable_charset
from tests.fuzz.strategies import HOSTS, ODD, fuzz

ENCODINGS = ["gzip", "x-gzip", "deflate", "br", "identity", "", "compress", "zstd", "gzip, br", "br, gzip", "gzip,gzip",
             "gzip, gzip, gzip", " GZIP ", "br;q=1", ",", "gzip,"]
SMALL_BUDGET = 256 * 1024


def _compress(data: bytes, enc: str) -> bytes:
    for name in [p.strip().lower() for p in enc.split(",") if p.strip()]:
        if name in ("gzip", "x-gzip"):
            data = gzip.compress(data)
        elif name == "deflate":
            data = zlib.compress(data)
        elif name == "br":
            data = brotli.compress(data)
    return data


async def _decode(enc: str, chunks: list[bytes]) -> int:
    d = Decoder(enc, max_bytes=SMALL_BUDGET)
    n = 0
    for chunk in chunks:
        async for out in d.feed(chunk):
            n += len(out)
    async for out in d.finish():
        n += len(out)
    return n


_LOOP = asyncio.new_event_loop()  # one loop for every input: the decoder is what is measured, not loop set-up


def _run(enc: str, chunks: list[bytes]) -> int | None:
    try:
        return _LOOP.run_until_complete(_decode(enc, chunks))
    except EncodingRefused:
        return None


@fuzz(1500)
@given(st.sampled_from(ENCODINGS), st.lists(st.binary(max_size=2048), max_size=6))
def test_decoder_on_garbage_refuses_or_decodes_within_budget(enc, chunks):
    try:
        n = _run(enc, chunks)
    except (zlib.error, brotli.error) as exc:  # a corrupt stream must also be a refusal
        raise AssertionError(f"{type(exc).__name__} escaped") from exc
    assert n is None or n <= SMALL_BUDGET


@fuzz(600)
@given(st.sampled_from(["gzip", "deflate", "br", "gzip, br"]), st.binary(max_size=4096), st.integers(1, 64),
       st.integers(0, 64))
def test_decoder_round_trips_and_any_cut_is_refused(enc, data, step, cut):
    packed = _compress(data, enc)
    chunks = [packed[i:i + step] for i in range(0, len(packed), step)]
    if len(data) <= SMALL_BUDGET:
        assert _run(enc, chunks) == len(data)
    if 0 < cut < len(packed):
        truncated = packed[:-cut]
        assert _run(enc, [truncated]) is None


@fuzz(1000)
@given(st.integers(100, 599), st.text(max_size=80) | st.sampled_from(ODD + ["text/html", "image/png", "a/b+json"]),
       st.binary(max_size=64))
def test_kind_and_charset_never_raise(status, content_type, head):
    assert isinstance(kind_of(status, content_type, head, location=status == 302), str)
    label = charset_of(content_type)
    name = usable_charset(label)
    assert name is None or isinstance(name, str)


@fuzz(800)
@given(st.sampled_from(HOSTS) | st.text(max_size=60) | st.from_regex(r"\[[0-9a-fA-F:.%]{0,45}\]", fullmatch=True)
       | st.from_regex(r"(0x[0-9a-f]{1,8}|[0-9]{1,10})(\.(0x[0-9a-f]{1,4}|[0-9]{1,5})){0,3}", fullmatch=True))
def test_guard_literal_parser_never_raises_and_blocks_what_it_parses_as_private(host):
    address = guard.ip_literal(host)
    try:
        guard.check_host(host)
        blocked = False
    except guard.AddressBlocked:
        blocked = True
    if address is None:
        assert not blocked
    else:
        assert blocked == (not guard.address_allowed(address))


@fuzz(1000)
@given(st.sampled_from(["leader", "follower", "anonymous", "x"]), st.sampled_from(["GET", "HEAD", "POST", "PUT"]),
       st.sampled_from(HOSTS) | st.text(max_size=30), st.booleans(), st.booleans(), st.booleans(), st.booleans(),
       st.booleans(), st.sampled_from([None, "document", "script", "json", "style", "image", "font", "media", "other",
                                       "upgrade", "redirect"]))
def test_decide_is_total_and_never_grants_the_jar_to_others(role, method, host, listed, scope_all, nav, ws, mirror, response):
    d = decide(Facts(role=role, method=method, host=host, listed=listed, page_scope_all=scope_all, navigation=nav,
                     websocket=ws, claims_mirror_load=mirror, response=response, private_networks=guard.LOOPBACK_ONLY))
    assert isinstance(d.reason, str)
    if d.allow:
        assert d.use_jar == (role == "leader")
        assert not d.private_ok or listed
        if role == "follower":
            assert response in (None, "style", "image", "font", "media", "redirect") and method in ("GET", "HEAD")

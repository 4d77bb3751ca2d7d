"""Issue 10 #11, the "no stall over 50 ms" rule for decompression (proxy/decoding.py), as behaviour, not timings.

Timings are in bench/bombs.py (longest event-loop stall and CPU stretch per bomb, against plain
and gzip pages in the same run). Here: every slice the decoder hands out is bounded in output
bytes, the event loop gets a turn between slices, and a bomb is refused after a bounded amount
of work: its budget is counted against the compressed bytes the decoder has *consumed*, so a
gzip or deflate bomb that arrives in one chunk is refused after about a megabyte of
output, as a brotli one is, not after 200 times everything that arrived (52 MB of inflating
and rewriting before).
"""

from __future__ import annotations

import asyncio
import gzip
import random
import zlib

import brotli
import pytest

from proxy import decoding
from proxy.decoding import SLICE, Decoder
from proxy.errors import EncodingRefused

ZEROS = b"<p>" + b"\0" * (16 * 1024 * 1024)
BOMBS = {
    "gzip": lambda: gzip.compress(ZEROS, 9),
    "deflate": lambda: zlib.compress(ZEROS, 9),
    "br": lambda: brotli.compress(ZEROS, quality=5),
}


async def _drain(decoder: Decoder, body: bytes, chunk: int | None = None) -> list[int]:
    sizes: list[int] = []
    pieces = [body] if chunk is None else [body[i:i + chunk] for i in range(0, len(body), chunk)]
    for piece in pieces:
        async for out in decoder.feed(piece):
            sizes.append(len(out))
    async for out in decoder.finish():
        sizes.append(len(out))
    return sizes


@pytest.mark.parametrize("encoding", sorted(BOMBS))
async def test_a_bomb_is_refused_after_bounded_work_in_bounded_slices(encoding):
    body = BOMBS[encoding]()
    assert len(body) > 1000 or encoding == "br"  # gzip/deflate: the whole bomb arrives as one big chunk
    sizes: list[int] = []
    decoder = Decoder(encoding)
    with pytest.raises(EncodingRefused):
        async for out in decoder.feed(body):
            sizes.append(len(out))
    assert sizes and max(sizes) <= SLICE
    # refused within a slice of the ratio grace: the work done is bounded by output, not by what arrived
    assert sum(sizes) <= decoding.RATIO_GRACE + SLICE, sum(sizes)


async def test_the_event_loop_runs_between_slices():
    """A large, ordinary gzip body: between any two slices the decoder hands out, other tasks run."""
    rng = random.Random(7)
    words = [bytes(rng.choice(b"abcdefghij") for _ in range(rng.randint(2, 9))) for _ in range(500)]
    page = b" ".join(rng.choice(words) for _ in range(400_000))  # ~2.4 MB of text, ~3x smaller gzipped
    body = gzip.compress(page, 6)
    turns = 0
    stop = False

    async def other():
        nonlocal turns
        while not stop:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    await asyncio.sleep(0)
    start = turns
    sizes = await _drain(Decoder("gzip"), body)
    ran = turns - start
    stop = True
    await task
    assert sum(sizes) == len(page)
    assert max(sizes) <= SLICE and len(sizes) > 30
    assert ran >= len(sizes) - 1, (ran, len(sizes))  # a turn for the others after (nearly) every slice

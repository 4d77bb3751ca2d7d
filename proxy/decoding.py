"""Content-Encoding decoding with a budget: the bodies Tandem must read to rewrite them.

A compressed body is attacker-sized: 421 bytes of brotli can expand to 256 MB. Every
body the proxy decodes goes through :class:`Decoder`, which

* decodes in slices of at most :data:`SLICE` bytes of output, and gives the event loop
  a turn between slices (no single step runs long, whatever the input);
* counts what each stage produces: past :data:`MAX_DECODED_BYTES` in all, or past
  :data:`MAX_RATIO` times the input that stage has *consumed* once :data:`RATIO_GRACE` is
  out, it stops with :class:`~proxy.errors.EncodingRefused`. Consumed, not received: a
  260 KB gzip bomb arrives in one chunk, but the first megabyte of zeros comes out of its
  first kilobyte, so it is refused after ~1 MB of work, not after 200 x 260 KB = 52 MB;
* handles stacked encodings (``Content-Encoding: gzip, br``) up to :data:`MAX_LAYERS`,
  each with the same budget, and refuses encodings it does not know;
* checks at the end that every stage saw a complete stream: a truncated gzip or brotli
  body is an error, never a complete-looking page.

Bodies passed through undecoded (images, downloads) are not touched: the browser
decodes them under its own limits, exactly as it would without Tandem.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import AsyncIterator, Iterator

import brotli

from .errors import EncodingRefused

SLICE = 64 * 1024  # output bytes per step: a few hundred microseconds of inflate, then the loop runs
MAX_DECODED_BYTES = 64 * 1024 * 1024  # a rewritten body larger than this is not a web page anyone reads
MAX_RATIO = 200  # output per input byte; real HTML/CSS/JS compresses 3-30x, bombs 1000x and far more
RATIO_GRACE = 1024 * 1024  # small bodies may be as repetitive as they like
MAX_LAYERS = 2  # "gzip, br" occurs in the wild; deeper stacks are only ever an attack


class _Identity:
    consumed = 0  # input bytes this stage has used (the ratio budget is counted against it)

    def push(self, data: bytes) -> Iterator[bytes]:
        self.consumed += len(data)
        if data:
            yield data

    def finish(self) -> Iterator[bytes]:
        return iter(())


class _Zlib:
    """gzip, or deflate (zlib-wrapped as RFC 9110 says, or raw as some servers send)."""

    def __init__(self, gzip: bool):
        self._gzip = gzip
        self.consumed = 0
        self._d: zlib._Decompress | None = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None

    def push(self, data: bytes) -> Iterator[bytes]:
        if self._d is None:
            if not data:
                return
            self._d = zlib.decompressobj(zlib.MAX_WBITS if (data[0] & 0x0F) == 8 else -zlib.MAX_WBITS)
        d = self._d
        buf = data
        while not d.eof:
            out = d.decompress(buf, SLICE)
            self.consumed += len(buf) - len(d.unconsumed_tail)
            buf = d.unconsumed_tail
            if out:
                yield out
            if not buf and len(out) < SLICE:  # input used up and no output held back
                break

    def finish(self) -> Iterator[bytes]:
        if self._d is None:
            raise EncodingRefused("The site sent an empty compressed body.")
        out = self._d.flush()
        if out:  # flush() has no length limit: it only ever holds what decompress() left in its window
            yield out
        if not self._d.eof:
            raise EncodingRefused("The site's compressed response ended before its end (truncated).")


def _sliced(out: bytes) -> Iterator[bytes]:
    """Brotli's output limit is a hint (it hands out up to ~1.5x): cut to SLICE, so every slice is bounded."""
    for i in range(0, len(out), SLICE):
        yield out[i:i + SLICE]


class _Brotli:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()
        self.consumed = 0  # brotli takes all it is given (what it holds back is not counted apart)

    def push(self, data: bytes) -> Iterator[bytes]:
        self.consumed += len(data)
        if self._d.is_finished():
            return
        out = self._d.process(data, output_buffer_limit=SLICE)
        yield from _sliced(out)
        while not self._d.can_accept_more_data():
            out = self._d.process(b"", output_buffer_limit=SLICE)
            if not out:
                break
            yield from _sliced(out)

    def finish(self) -> Iterator[bytes]:
        if not self._d.is_finished():
            raise EncodingRefused("The site's compressed response ended before its end (truncated).")
        return iter(())


def _stage(name: str):
    if name in ("", "identity"):
        return _Identity()
    if name in ("gzip", "x-gzip"):
        return _Zlib(gzip=True)
    if name == "deflate":
        return _Zlib(gzip=False)
    if name == "br":
        return _Brotli()
    raise EncodingRefused(f"The site used a compression Tandem does not read ({name[:40]!r}).")


def parse_encodings(header: str) -> list[str]:
    """``Content-Encoding`` as a list, in the order they were applied."""
    return [p.strip().lower() for p in header.split(",") if p.strip() and p.strip().lower() != "identity"]


def can_decode(header: str) -> bool:
    try:
        Decoder(header)
    except EncodingRefused:
        return False
    return True


class Decoder:
    """Decodes one body: ``async for out in d.feed(chunk)``, then ``async for out in d.finish()``."""

    def __init__(self, content_encoding: str, *, max_bytes: int = MAX_DECODED_BYTES, max_ratio: int = MAX_RATIO):
        names = parse_encodings(content_encoding)
        if len(names) > MAX_LAYERS:
            raise EncodingRefused(f"The site stacked {len(names)} compressions; Tandem reads at most {MAX_LAYERS}.")
        self._stages = [_stage(n) for n in reversed(names)]  # undo the last one applied first
        self.max_bytes, self.max_ratio = max_bytes, max_ratio
        self.bytes_in = 0
        self._produced = [0] * len(self._stages)

    def _count(self, i: int, n: int) -> None:
        self._produced[i] += n
        total = self._produced[i]
        if total > self.max_bytes:
            raise EncodingRefused(f"The site's response expands past {self.max_bytes // (1024 * 1024)} MB.")
        if total > RATIO_GRACE and total > self.max_ratio * max(self._stages[i].consumed, 1):
            raise EncodingRefused(f"The site's response expands more than {self.max_ratio} times (a compression bomb).")

    def _through(self, i: int, data: bytes, final: bool) -> Iterator[bytes]:
        """Push ``data`` into stage ``i`` (and what comes out into the next ones); ``final``: then finish them."""
        if i == len(self._stages):
            if data:
                yield data
            return
        stage = self._stages[i]
        try:
            for out in stage.push(data):
                self._count(i, len(out))
                yield from self._through(i + 1, out, False)
            if final:
                for out in stage.finish():
                    self._count(i, len(out))
                    yield from self._through(i + 1, out, False)
                yield from self._through(i + 1, b"", True)
        except (zlib.error, brotli.error) as exc:
            raise EncodingRefused("The site's compressed response is corrupt.") from exc

    async def feed(self, chunk: bytes) -> AsyncIterator[bytes]:
        self.bytes_in += len(chunk)
        for out in self._through(0, chunk, False):
            yield out
            await asyncio.sleep(0)  # one slice at a time: other requests run in between

    async def finish(self) -> AsyncIterator[bytes]:
        for out in self._through(0, b"", True):
            yield out
            await asyncio.sleep(0)

"""Replay buffer: the latest full snapshot and every stream frame since, bounded in bytes.

A late joiner gets ``from_snapshot()``; a reconnecting follower that saw up to
sequence number ``n`` gets ``since(n)`` — exactly the frames after ``n``, or None
when ``n`` is older than the buffer (it then starts over from the snapshot).
The room sends them as :meth:`ReplayBuffer.replay` gives them: the same events, consecutive
event frames joined into blocks of about ``BLOCK_BYTES`` (a few objects per joiner, not a few per
buffered frame: 50 joiners of a busy room made 600,000 and set off full collections).

Bounds: past ``soft_limit`` bytes the buffer asks for a fresh snapshot (the leader
takes one and the buffer restarts small); past ``hard_limit`` before one arrives
it gives up its contents, and late joiners wait for the next snapshot rather
than get an inconsistent view.
"""

from __future__ import annotations

from collections import deque
from itertools import islice

from .protocol import Frame

# One buffered frame: (text, first seq, count, kind). Tuples of strings and ints drop out of the
# garbage collector's sight after its first look at them; Frame objects (and the parsed messages an
# ephemeral one keeps) would stay tracked, and a busy node holds hundreds of thousands of buffered
# frames: every full collection walked them all (a stop-the-world pause of about a second).
# Frames are made again only for a joiner's replay.
_Kept = tuple[str, int, int, str]


def _keep(frame: Frame) -> _Kept:
    return (frame.text, frame.seq, frame.count, frame.kind)


def _frame(kept: _Kept) -> Frame:
    f = Frame.__new__(Frame)
    f.text, f._seq, f._count, f.kind = kept
    f.key = None
    f._msg = None  # decoded from the text again when asked (an ephemeral frame being merged)
    return f

BLOCK_BYTES = 256 * 1024  # a replay block's text at most (past it by one frame): the outbox's batch size
SOFT_LIMIT = 8 * 1024 * 1024  # events since the snapshot: replaying more than this to a joiner is slower than a new snapshot
HARD_LIMIT = 32 * 1024 * 1024  # per room: memory a misbehaving page can pin before the buffer is dropped


class ReplayBuffer:
    def __init__(self, soft_limit: int = SOFT_LIMIT, hard_limit: int = HARD_LIMIT):
        self.soft_limit = soft_limit
        self.hard_limit = hard_limit
        self.frames: deque[_Kept] = deque()
        self.bytes = 0
        self.snapshot_bytes = 0

    @property
    def ready(self) -> bool:
        """True when the buffer starts with a snapshot a joiner can build a view from."""
        return bool(self.frames)

    @property
    def first_seq(self) -> int | None:
        return self.frames[0][1] if self.frames else None

    @property
    def last_seq(self) -> int | None:
        if not self.frames:
            return None
        _text, seq, count, _kind = self.frames[-1]
        return seq + count - 1

    def add(self, frame: Frame, starts_snapshot: bool, full: bool = False) -> str:
        """Append a frame. Returns ``ok``, ``want_snapshot`` (past the soft limit) or ``dropped``.

        ``starts_snapshot``: the frame opens with the Meta event of a new snapshot.
        ``full``: it carries a FullSnapshot (counted as snapshot, not as events since).
        """
        if starts_snapshot:
            self.frames.clear()
            self.bytes = 0
        elif not self.frames:
            return "ok"  # nothing to build on: this frame is useless to a joiner
        self.frames.append(_keep(frame))
        self.bytes += frame.size
        if starts_snapshot:
            self.snapshot_bytes = 0
        if starts_snapshot or full:
            self.snapshot_bytes += frame.size
        if self.bytes > self.hard_limit:
            self.clear()
            return "dropped"
        if self.bytes - self.snapshot_bytes > self.soft_limit:
            return "want_snapshot"
        return "ok"

    def clear(self) -> None:
        self.frames.clear()
        self.bytes = 0
        self.snapshot_bytes = 0

    def from_snapshot(self) -> list[Frame]:
        return [_frame(k) for k in self.frames]

    def since(self, seq: int) -> list[Frame] | None:
        """Frames after ``seq``, or None when ``seq`` is not a point this buffer can continue from."""
        if not self.frames:
            return None
        if seq == self.last_seq:
            return []
        if seq < self.frames[0][1] - 1 or seq > self.last_seq:
            return None
        out: list[Frame] = []
        for kept in self.frames:
            first, count = kept[1], kept[2]
            if first > seq:
                out.append(_frame(kept))
            elif first + count - 1 > seq:
                return None  # seq falls inside a frame: not a boundary this follower can have stopped at
        return out

    def replay(self, seq: int | None = None) -> list[Frame] | None:
        """What a joiner is sent: ``from_snapshot()`` (``seq`` None) or ``since(seq)`` (None when that is
        None), with runs of consecutive event frames joined into one frame each of up to about
        ``BLOCK_BYTES`` — the same events with the same sequence numbers in the same order, as
        :meth:`sync.outbox.Outbox.take` would join them on the way out anyway. One Frame per block,
        not per buffered frame: a late joiner of a room with thousands of buffered frames allocates a
        few dozen objects, and the collector's young generations do not fill up (issue 12)."""
        if seq is None:
            return _blocks(self.frames)
        if not self.frames:
            return None
        last = self.last_seq
        if seq == last:
            return []
        if seq < self.frames[0][1] - 1 or seq > last:
            return None
        start = 0
        for start, kept in enumerate(self.frames):
            first, count = kept[1], kept[2]
            if first > seq:
                break
            if first + count - 1 > seq:
                return None  # inside a frame: not a boundary this follower can have stopped at
        return _blocks(islice(self.frames, start, None))


def _blocks(kept_frames, limit: int = BLOCK_BYTES) -> list[Frame]:
    """Runs of buffered frames as blocks: an event frame (``{"t":"ev","s":N,"e":[...]}``, stream or
    ephemeral) that goes on where the block before ends joins it while the block is under ``limit``;
    any other frame starts a block. A block of one frame is that frame; a joined one (:class:`_Block`)
    holds its frames in one list and makes its text when it is written. Strings and ints only in the
    loop: nothing the garbage collector tracks is made per frame."""
    out: list[Frame] = []
    members: list[_Kept] = []  # the block being built
    first = count = size = length = 0
    kind = ""
    open_ = False  # the block so far can take more events
    for kept in kept_frames:
        text, seq, n, k = kept
        if open_ and size < limit and n and seq == first + count and k in _EV_KINDS:
            head = len(_HEAD % seq)
            if text.startswith(_HEAD % seq) and text.endswith("]}"):
                members.append(kept)
                count += n
                size += len(text)
                length += len(text) - head - 1  # its events and a comma
                if k == "stream":
                    kind = "stream"
                continue
        if members:
            out.append(_block(members, first, count, kind, length))
        members = [kept]
        first, count, kind = seq, n, k
        size = length = len(text)
        open_ = (k in _EV_KINDS and n > 0 and text.startswith(_HEAD % seq) and text.endswith("]}")
                 and not text.endswith("[]}"))
    if members:
        out.append(_block(members, first, count, kind, length))
    return out


_EV_KINDS = ("stream", "ephemeral")
_HEAD = '{"t":"ev","s":%d,"e":['  # how sync.protocol.stream_frame encodes an unmerged event frame


def _block(members: list[_Kept], first: int, count: int, kind: str, length: int) -> Frame:
    if len(members) == 1:
        return _frame(members[0])
    f = _Block.__new__(_Block)
    f._members, f._text, f._length = members, None, length
    f._seq, f._count, f.kind, f.key, f._msg = first, count, kind, None, None
    return f


class _Block(Frame):
    """Consecutive buffered event frames sent as one: ``{"t":"ev","s":first,"e":[all their events]}``.

    Its text is made when first asked (the writer takes it out of the outbox), not when the joiner is
    queued: a joiner's queue holds references to the buffer's texts, as it did frame by frame, not a
    copy of megabytes of replay."""

    __slots__ = ("_members", "_text", "_length")

    @property
    def text(self) -> str:
        if self._text is None:
            m = self._members
            self._text = (m[0][0][:-2] + ","
                          + ",".join(t[len(_HEAD % s):-2] for t, s, _n, _k in islice(m, 1, None)) + "]}")
        return self._text

    @property
    def size(self) -> int:
        return self._length

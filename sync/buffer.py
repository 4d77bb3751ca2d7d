"""Replay buffer: the latest full snapshot and every stream frame since, bounded in bytes.

A late joiner gets ``from_snapshot()``; a reconnecting follower that saw up to
sequence number ``n`` gets ``since(n)`` — exactly the frames after ``n``, or None
when ``n`` is older than the buffer (it then starts over from the snapshot).

Bounds: past ``soft_limit`` bytes the buffer asks for a fresh snapshot (the leader
takes one and the buffer restarts small); past ``hard_limit`` before one arrives
it gives up its contents, and late joiners wait for the next snapshot rather
than get an inconsistent view.
"""

from __future__ import annotations

from collections import deque

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

"""One participant's queue of frames not yet written to its socket, with backpressure rules.

A follower that reads slower than the leader produces must never slow anyone else,
and must never see a DOM stream with holes. So, while frames wait here:

* pointer frames of the same participant replace each other (only the latest matters);
* consecutive ephemeral stream frames (mouse moves, scrolls, viewport) merge into one
  that keeps only the latest of each and covers the same sequence numbers;
* DOM frames are never dropped or reordered. Past ``max_bytes`` of queued stream the
  outbox gives up (``push`` returns False): the caller empties it and resynchronises
  the follower from a fresh snapshot.

Pure: no asyncio. The WebSocket shell pairs it with an event and a writer task.
"""

from __future__ import annotations

from collections import deque

from .protocol import Frame, merge_ephemeral

MAX_QUEUED_BYTES = 4 * 1024 * 1024  # stream waiting for one follower; past it a fresh snapshot is cheaper
MAX_QUEUED_FRAMES = 5_000  # frames of any kind; bounds memory for a peer that stopped reading


class Outbox:
    def __init__(self, max_bytes: int = MAX_QUEUED_BYTES, max_frames: int = MAX_QUEUED_FRAMES):
        self.max_bytes = max_bytes
        self.max_frames = max_frames
        self._q: deque[Frame] = deque()
        self.bytes = 0
        self.coalesced = 0  # frames merged or replaced, for stats and tests

    def __len__(self) -> int:
        return len(self._q)

    def push(self, frame: Frame, *, force: bool = False) -> bool:
        """Queue a frame. False means the follower is too far behind and must be resynchronised."""
        q = self._q
        if frame.kind == "ptr" and q:
            for i, old in enumerate(q):
                if old.kind == "ptr" and old.key == frame.key:
                    q[i] = frame
                    self.bytes += frame.size - old.size
                    self.coalesced += 1
                    return True
        if frame.kind == "ephemeral" and q and q[-1].kind == "ephemeral" and q[-1].last_seq + 1 == frame.seq:
            old = q.pop()
            merged = merge_ephemeral(old, frame)
            q.append(merged)
            self.bytes += merged.size - old.size
            self.coalesced += 1
            return True
        q.append(frame)
        self.bytes += frame.size
        if force:
            return True
        return self.bytes <= self.max_bytes and len(q) <= self.max_frames

    def pop(self) -> Frame | None:
        if not self._q:
            return None
        frame = self._q.popleft()
        self.bytes -= frame.size
        return frame

    def clear(self) -> None:
        self._q.clear()
        self.bytes = 0

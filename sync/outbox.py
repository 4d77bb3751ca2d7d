"""One participant's queue of frames not yet written to its socket, with backpressure rules.

A follower that reads slower than the leader produces must never slow anyone else,
and must never see a DOM stream with holes. So, while frames wait here:

* pointer frames of the same participant replace each other (only the latest matters);
* consecutive ephemeral stream frames (mouse moves, scrolls, viewport) merge into one
  that keeps only the latest of each and covers the same sequence numbers;
* DOM frames are never dropped or reordered. The outbox gives up (``push`` returns
  False) when the follower is too far behind — by size (``max_bytes`` of queued
  frames) or by time (the oldest queued frame has waited ``max_lag`` seconds): the
  caller empties it and resynchronises the follower from a fresh snapshot.

Forced frames (what a joiner or a resynchronised follower must get to start: its
welcome, reset and replay) are always queued and not held against the bounds while
they wait: a joiner in a busy room gets its megabytes of replay, not a reset.

The time bound only sees what waits here, so the socket shell keeps the kernel's
send buffer small: otherwise megabytes hide there and a slow follower falls minutes
behind before anything here notices.

The writer takes what is queued in batches (:meth:`Outbox.take`): consecutive DOM frames are
joined into one, so a follower that fell behind catches up in a few large writes.

Pure: no asyncio, no clock (``now`` is passed in). The WebSocket shell pairs it with
an event and a writer task.
"""

from __future__ import annotations

from collections import deque

from .protocol import Frame, merge_ephemeral

MAX_QUEUED_BYTES = 4 * 1024 * 1024  # stream waiting for one follower; past it a fresh snapshot is cheaper
MAX_QUEUED_FRAMES = 5_000  # frames of any kind; bounds memory for a peer that stopped reading
BATCH_BYTES = 256 * 1024  # frames joined into one write at most (a snapshot is one frame, whatever its size)
MAX_LAG = 5.0  # seconds a frame may wait for a follower; later than that the mirror is stale: start it over


class Outbox:
    def __init__(self, max_bytes: int = MAX_QUEUED_BYTES, max_frames: int = MAX_QUEUED_FRAMES,
                 max_lag: float = MAX_LAG):
        self.max_bytes = max_bytes
        self.max_frames = max_frames
        self.max_lag = max_lag
        self._q: deque[tuple[Frame, bool]] = deque()  # (frame, forced)
        self._since: deque[float] = deque()  # when each unforced frame still queued was pushed, oldest first
        self.bytes = 0
        self._forced_bytes = 0
        self._forced_frames = 0
        self.coalesced = 0  # frames merged or replaced, for stats and tests

    def __len__(self) -> int:
        return len(self._q)

    def lag(self, now: float) -> float:
        """Seconds the oldest unforced frame has been waiting (0 when none waits)."""
        return now - self._since[0] if self._since else 0.0

    def push(self, frame: Frame, *, force: bool = False, now: float = 0.0) -> bool:
        """Queue a frame. False means the follower is too far behind and must be resynchronised."""
        q = self._q
        if not force and frame.kind == "ptr" and q:
            for i, (old, forced) in enumerate(q):
                if old.kind == "ptr" and old.key == frame.key and not forced:
                    q[i] = (frame, False)
                    self.bytes += frame.size - old.size
                    self.coalesced += 1
                    return self._within(now)
        if (not force and frame.kind == "ephemeral" and q and q[-1][0].kind == "ephemeral" and not q[-1][1]
                and q[-1][0].last_seq + 1 == frame.seq):
            old = q.pop()[0]
            merged = merge_ephemeral(old, frame)
            q.append((merged, False))
            self.bytes += merged.size - old.size
            self.coalesced += 1
            return self._within(now)
        q.append((frame, force))
        self.bytes += frame.size
        if force:
            self._forced_bytes += frame.size
            self._forced_frames += 1
            return True
        self._since.append(now)
        return self._within(now)

    def _within(self, now: float) -> bool:
        return (self.bytes - self._forced_bytes <= self.max_bytes
                and len(self._q) - self._forced_frames <= self.max_frames
                and self.lag(now) <= self.max_lag)

    def pop(self) -> Frame | None:
        if not self._q:
            return None
        frame, forced = self._q.popleft()
        self.bytes -= frame.size
        if forced:
            self._forced_bytes -= frame.size
            self._forced_frames -= 1
        elif self._since:
            self._since.popleft()
        return frame

    def take(self, max_bytes: int = BATCH_BYTES) -> list[str]:
        """Everything queued, as the texts to write now, oldest first (at least one frame, then up to
        about ``max_bytes``). Consecutive DOM frames become one frame of all their events (the same
        sequence numbers, nothing dropped): a follower that is behind gets one message, one
        compression and one write per batch instead of one per event."""
        texts: list[str] = []
        parts: list[str] = []  # the frame being built: its first frame's text, then the events of each one joined
        size = 0
        prev: Frame | None = None
        while self._q and (not (texts or parts) or size < max_bytes):
            frame = self.pop()
            size += len(frame.text)
            events = _continues(prev, frame) if parts else None
            if events is not None:
                parts.append(events)
            else:
                if parts:
                    texts.append(_joined(parts))
                parts = [frame.text]
            prev = frame
        if parts:
            texts.append(_joined(parts))
        return texts

    def clear(self) -> None:
        self._q.clear()
        self._since.clear()
        self.bytes = self._forced_bytes = self._forced_frames = 0


def _continues(prev: Frame, frame: Frame) -> str | None:
    """``frame``'s events (the text between ``[`` and ``]}``) when it can be joined to the DOM frame that
    ends with ``prev``: both are DOM stream frames, ``frame`` goes on where ``prev`` ends, and both hold
    events; else None. Works on the texts as :func:`sync.protocol.stream_frame` encodes them:
    ``{"t":"ev","s":N,"e":[...]}``."""
    if prev.kind != "stream" or frame.kind != "stream" or prev.last_seq + 1 != frame.seq or not frame.count:
        return None
    text, last = frame.text, prev.text
    head = '{"t":"ev","s":%d,"e":[' % frame.seq
    if not (text.startswith(head) and text.endswith("]}") and last.endswith("]}") and not last.endswith("[]}")):
        return None
    return text[len(head):-2]


def _joined(parts: list[str]) -> str:
    """One frame's text from ``parts`` (see :meth:`Outbox.take`), copied once: joining each frame to the
    text built so far copied that text again every time (a follower 1,000 small frames behind: 1,000
    copies of up to 256 KiB, in one turn of the event loop)."""
    if len(parts) == 1:
        return parts[0]
    return parts[0][:-2] + "," + ",".join(parts[1:]) + "]}"

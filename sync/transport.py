"""The seam between rooms and the nodes that hold their connections: what a transport does, and its wire format.

With one process (the default) there is no transport: :class:`sync.relay.LocalRelay`
hands a room's frames straight to the sockets. With several nodes, each room has one
*owner* node — the only place its (pure) :class:`sync.room.Room` runs — and a
participant's socket may sit on any node. A :class:`Transport` carries, in order:

* from a node holding a connection to the room's owner: ``attach``, ``msg``, ``detach``,
  ``overflow`` (that node's outbox for the connection overflowed) and ``err`` (a page error);
* from the owner to the node holding the connections: ``send`` (one frame for some of
  that node's connections) and ``close``;
* to every node: ``end`` (the session ended).

Ownership is a lease in the shared backend (``claim``, ``renew``, ``owners``,
``release``): a node that dies loses its rooms (a live node may take a room whose owner
is dead, before the lease runs out), and the nodes still holding those rooms'
connections close them with "going away" so the pages reconnect and a live node takes
the room over from its kept facts. Fencing: what an owner sends for a room
(``send(..., fence=sid)``) leaves only while it still holds that room's lease, and
``valid`` turns False when this node may have been presumed dead (its rooms start over).

A message is one header (compact JSON, one line) and, for ``send`` and ``msg``, the
frame's own text after a newline: a megabyte snapshot is never escaped into JSON again.
Pure: no I/O here (the Redis transport is :mod:`tandem.cluster.redis_transport`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, Awaitable, Callable

from .protocol import Frame

NODE_SHIFT = 32  # a connection id is (node number << NODE_SHIFT) | a counter on that node


def node_of(conn: int) -> int:
    """The node number that holds connection ``conn``."""
    return conn >> NODE_SHIFT


def encode(header: dict[str, Any], body: str | None = None) -> bytes:
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=True)
    return (head if body is None else head + "\n" + body).encode("utf-8")


def decode(data: bytes) -> tuple[dict[str, Any], str | None]:
    """The header and the body of a message (ValueError when it is not one)."""
    text = data.decode("utf-8")
    head, sep, body = text.partition("\n")
    header = json.loads(head)
    if not isinstance(header, dict) or not isinstance(header.get("o"), str):
        raise ValueError("not a relay message")
    return header, (body if sep else None)


def frame_header(frame: Frame) -> dict[str, Any]:
    """What a receiving node needs, beside the text, to queue ``frame`` as the owner would."""
    head: dict[str, Any] = {"k": frame.kind}
    if frame.key is not None:
        head["y"] = frame.key
    if frame.kind in ("stream", "ephemeral"):
        head["q"], head["m"] = frame.seq, frame.count
    return head


def frame_from(header: dict[str, Any], text: str) -> Frame:
    """The frame again, its text as the owner encoded it (a stream frame is not parsed at all)."""
    kind = header.get("k", "ctl")
    if kind == "stream":
        frame = Frame.__new__(Frame)
        frame.kind, frame.key, frame.text, frame._msg = kind, header.get("y"), text, None
        frame._seq, frame._count = header["q"], header["m"]
        return frame
    return Frame(json.loads(text), kind=kind, key=header.get("y"))


Handler = Callable[[dict[str, Any], "str | None"], Awaitable[None]]


class Transport(ABC):
    """Ordered delivery between nodes, and room ownership leases. ``node`` is this node's number."""

    node: int

    @abstractmethod
    async def start(self, handler: Handler, on_lost: Callable[[], None]) -> None:
        """Start receiving: ``handler(header, body)`` for each message to this node or to all, in order;
        ``on_lost()`` when messages may have been missed (the connection to the backend dropped)."""

    @abstractmethod
    def send(self, node: int, header: dict[str, Any], body: str | None = None, *, fence: str | None = None) -> None:
        """Queue a message for ``node`` (0: every node). Messages leave in the order queued.
        ``fence``: a room this node owns; the message leaves only while it still holds that lease."""

    @abstractmethod
    def barrier(self, wait: Callable[[], Awaitable[None]]) -> None:
        """Messages queued after this call leave only once ``wait()`` has finished (a room's facts
        are written before the frames that follow their change)."""

    @abstractmethod
    async def flush(self) -> None:
        """Everything queued so far has reached the backend."""

    @abstractmethod
    async def claim(self, sid: str) -> int:
        """The owner of ``sid``'s room: this node if nobody holds the lease (it takes it now)."""

    @abstractmethod
    async def owners(self, sids: list[str]) -> dict[str, int | None]:
        """Who holds each room's lease now (None: nobody)."""

    @abstractmethod
    async def renew(self, sids: list[str]) -> list[str]:
        """Extend this node's leases; returns the rooms whose lease it no longer holds."""

    @abstractmethod
    async def release(self, sids: list[str]) -> None:
        """Give up leases (a room forgotten, the node stopping)."""

    @abstractmethod
    async def ready(self) -> bool:
        """True while the backend answers and messages flow."""

    def lease_of(self, sid: str) -> str | None:
        """The lease this node holds on ``sid``'s room (a new value: a new term of the room)."""
        return None

    @property
    def valid(self) -> bool:
        """Nobody can have taken this node's rooms since it last checked (False once after a lapse)."""
        return True

    async def retire(self) -> None:
        """This node is stopping: its rooms may be taken at once."""

    @abstractmethod
    async def close(self) -> None: ...

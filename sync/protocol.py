"""The session WebSocket's wire format: JSON text frames, one object each, keyed by ``t``.

Client → server
  hello    {kind: "tab"|"view", name?, resume?: {epoch, seq}}   first frame of a connection
  ev       {e: [rrweb events]}            the leader's active tab: the DOM stream
  page     {url, title}                   the leader's tab: it is showing this (proxied) URL
  active   {}                             a leader tab became visible: make it the stream source
  idle     {}                             the source tab records nothing (nobody watches): its old snapshot is stale
  ptr      {x, y, d?, hide?}              my pointer over the page (page viewport pixels; d = drawing)
  input    {i: {kind, ...}}               control input for the leader's page (controller only)
  control  {a: request|release|grant|deny|revoke|take, p?}
  lead     {p}                            the leader hands the tab over to participant p
  claim    {}                             take the tab over when the leader has gone
  policy   {control: ask|free|none}       the leader sets who may take control
  name     {name}
  notice   {p?, code, text}               the leader's tab tells someone why an input was refused
  chat     {text}                         a chat message to everyone in the session (see clean_chat)
  resync   {}                             a follower lost track: send a fresh snapshot
  ping     {}
  leave    {}

Server → client
  welcome  {you, role, epoch, state}
  state    {participants, leader, controller, requests, policy, url, title, streaming}
  reset    {}                             drop the mirror: a snapshot follows
  ev       {s, e}                         events numbered s, s+1, … (numbering is per room)
  ptr      {p, x, y, d?, hide?}
  input    {p, i}                         to the leader's tab
  snapshot {}                             to the leader's tab: send a full snapshot
  paused   {}                             to a leader tab that is not the stream source
  role     {role, url?}                   your role changed; a new leader loads url
  notice   {code, text}
  chat     {id, p, name, text}            a chat message; ids count up per room; a joiner first gets the last CHAT_HISTORY
  error    {code, message}
  bye      {code, message}                the server is closing this connection
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from tandem.safejson import well_formed

# -- limits ---------------------------------------------------------------------------------
MAX_STREAM_MESSAGE = 16 * 1024 * 1024  # one frame from the leader: a full snapshot of a heavy page fits
MAX_CONTROL_MESSAGE = 64 * 1024  # any other frame: pointers, clicks, a pasted paragraph of text
MAX_NAME = 40  # characters of a display name
MAX_TEXT_INPUT = 10_000  # characters typed or pasted in one input message
MAX_URL = 8 * 1024  # a go-to-URL request; same bound as start URLs
MAX_TITLE = 300  # page title shown to participants
# Chat: short messages between the people in a session, kept only by the live room (never stored).
MAX_CHAT = 1000  # characters of one chat message: a few sentences, a pasted address or order number
MAX_CHAT_LINES = 20  # line breaks kept in one message (more are folded into spaces)
CHAT_HISTORY = 50  # messages a joiner (or a tab owner's panel after a page load) gets from the live room
CHAT_BURST = 5  # messages one participant may send in a row ...
CHAT_PER_SECOND = 1.0  # ... then this many a second: a person types slower; a script cannot flood the room

# -- rrweb event kinds (rrweb's EventType / IncrementalSource numbering) ----------------------
EV_FULL_SNAPSHOT = 2
EV_INCREMENTAL = 3
EV_META = 4
SRC_MOUSE_MOVE = 1
SRC_SCROLL = 3
SRC_VIEWPORT = 4
SRC_TOUCH_MOVE = 6
# Where only the latest value matters: a slow follower may skip to it.
EPHEMERAL_SOURCES = frozenset({SRC_MOUSE_MOVE, SRC_SCROLL, SRC_VIEWPORT, SRC_TOUCH_MOVE})

INPUT_KINDS = frozenset({
    "click", "dblclick", "contextmenu", "wheel", "key", "text", "select", "check", "nav", "focus",
})
# Session permissions (set at creation, changeable live by the control plane) that gate what a
# controlling follower may do; missing means allowed.
INPUT_PERMISSION = {
    "click": "allow_click", "dblclick": "allow_click", "contextmenu": "allow_click", "select": "allow_click",
    "check": "allow_click", "focus": "allow_click", "text": "allow_type", "key": "allow_type",
    "wheel": "allow_scroll", "nav": "allow_agent_redirect",
}
DRAW_PERMISSION = "allow_draw"
NAV_ACTIONS = frozenset({"back", "forward", "reload", "go"})
CONTROL_ACTIONS = frozenset({"request", "release", "grant", "deny", "revoke", "take"})
POLICIES = ("ask", "free", "none")  # ask: the leader grants; free: anyone may take; none: only the leader acts


def one_of(value: Any, choices: Any) -> bool:
    """Is ``value`` (from a client's JSON, or from the live state) one of the string ``choices``?
    A list or object is no choice: ``[] in frozenset(...)`` would raise (unhashable), not answer."""
    return isinstance(value, str) and value in choices


def encode(msg: dict[str, Any]) -> str:
    """The frame's text: compact JSON, always well-formed Unicode.

    Text from pages may hold unpaired UTF-16 surrogates (an emoji cut in half, or put there on
    purpose); ``ensure_ascii=False`` keeps them raw and no UTF-8 encoder accepts them, so a
    frame holding one would fail at every send. Each one becomes U+FFFD here, before the
    frame is queued anywhere. Never NaN or Infinity either (``allow_nan=False``): numbers come
    from :func:`tandem.safejson.loads`, which refuses them.
    """
    return well_formed(json.dumps(msg, separators=(",", ":"), ensure_ascii=False, allow_nan=False))


# -- participant names ------------------------------------------------------------------------
# Words that name a role, a status or Tandem itself: a name may not wear them in brackets
# ("Ada (tab owner)"), which is how the interface shows roles.
RESERVED_NAME_WORDS = ("tab owner", "owner", "leader", "host", "agent", "admin", "administrator", "support",
                       "tandem", "you", "me", "control", "controller", "in control", "watching", "follower",
                       "moderator", "staff", "system", "official", "verified", "guest")
_BRACKETS = "()[]{}<>\uff08\uff09\uff3b\uff3d\u3010\u3011\u300c\u300d\u2039\u203a\u00ab\u00bb"
_BRACKETED = re.compile(r"[(\[{<\u3010\u300c\u2039\u00ab]([^)\]}>\u3011\u300d\u203a\u00bb]*)[)\]}>\u3011\u300d\u203a\u00bb]?")
_RESERVED = re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(RESERVED_NAME_WORDS, key=len, reverse=True)) + r")\b",
                       re.IGNORECASE)


def clean_name(name: Any, limit: int = MAX_NAME) -> str:
    """A display name that cannot pass for a role or rearrange the text around it.

    NFKC-normalised (full-width brackets and letters become plain ones); control, format
    (bidi overrides, zero-width joiners), private-use, unassigned and surrogate code points
    dropped; whitespace collapsed; any bracketed part that names a role ("(tab owner)",
    "[Agent]") removed along with stray brackets; at most ``limit`` characters.
    """
    if not isinstance(name, str):
        return ""
    dropped = ("Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp")
    name = "".join(c for c in name[: limit * 8] if unicodedata.category(c) != "Cs")
    name = unicodedata.normalize("NFKC", name)
    name = "".join(" " if c.isspace() else c for c in name if c.isspace() or unicodedata.category(c) not in dropped)
    for _ in range(4):  # nested or repeated brackets: until nothing changes
        cleaned = _BRACKETED.sub(lambda m: " " if _RESERVED.search(m.group(1)) else m.group(0), name)
        if cleaned == name:
            break
        name = cleaned
    unbalanced = any(name.count(a) != name.count(b) for a, b in zip(_BRACKETS[::2], _BRACKETS[1::2]))
    if unbalanced or any(_RESERVED.search(m.group(1)) for m in _BRACKETED.finditer(name)):
        name = "".join(c for c in name if c not in _BRACKETS)
    name = " ".join(name.split()).strip(" -:|·,")
    return name[:limit].strip()


_CHAT_DROPPED = ("Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp")  # controls, bidi overrides, zero-width, unassigned


def clean_chat(text: Any) -> str | None:
    """A chat message as it will be shown (always as text, never as markup), or None when it is empty.

    NFC-normalised; control and format characters (bidi overrides that reorder what is shown
    around them, zero-width characters) dropped, line breaks and tabs kept as such (at most
    ``MAX_CHAT_LINES`` lines); trailing and leading whitespace stripped. Callers check the
    length first (``MAX_CHAT``), so a refused message is never silently cut.
    """
    if not isinstance(text, str):
        return None
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = "".join(c for c in text if c in "\n\t\u200d" or unicodedata.category(c) not in _CHAT_DROPPED)  # ZWJ: emoji sequences
    lines = text.strip().split("\n")
    if len(lines) > MAX_CHAT_LINES:
        lines = lines[: MAX_CHAT_LINES - 1] + [" ".join(lines[MAX_CHAT_LINES - 1:])]
    text = "\n".join(line.rstrip() for line in lines).strip()
    return text or None


def is_ephemeral(event: Any) -> bool:
    if not isinstance(event, dict) or event.get("type") != EV_INCREMENTAL:
        return False
    data = event.get("data")
    source = data.get("source") if isinstance(data, dict) else None
    return type(source) is int and source in EPHEMERAL_SOURCES  # a page may send any JSON here (a list is unhashable)


def ephemeral_key(event: dict) -> tuple:
    """Events with the same key supersede each other (the latest pointer, scroll of one element)."""
    data = event["data"]
    source = data.get("source")
    if source == SRC_SCROLL:
        node = data.get("id")
        return (source, node if type(node) in (int, str) else None)
    return (source,)


class Frame:
    """One server → client message, encoded once and shared by every recipient.

    ``kind``: ``stream`` (DOM events, never dropped), ``ephemeral`` (stream events a slow
    follower may skip to the latest of), ``ptr`` (coalesced per ``key``) or ``ctl``.

    A ``stream`` frame keeps only its text (and its sequence numbers): the parsed events
    take several times the bytes of their encoding (measured 8x for rrweb mutations), and
    the replay buffer holds megabytes of these. ``msg`` decodes the text again when asked
    (tests, tools). Other kinds keep the message: ephemeral ones are merged, all are small.
    """

    __slots__ = ("_msg", "kind", "key", "text", "_seq", "_count")

    def __init__(self, msg: dict[str, Any], kind: str = "ctl", key: Any = None):
        self.kind = kind
        self.key = key
        self.text = encode(msg)
        if "s" in msg:
            self._seq = msg["s"]
            self._count = msg.get("n", len(msg.get("e", ())))
        self._msg = None if kind == "stream" else msg

    @property
    def msg(self) -> dict[str, Any]:
        return self._msg if self._msg is not None else json.loads(self.text)

    @property
    def size(self) -> int:
        return len(self.text)

    @property
    def seq(self) -> int:
        return self._seq

    @property
    def count(self) -> int:
        """How many sequence numbers this stream frame covers (a merged frame carries ``n``)."""
        return self._count

    @property
    def last_seq(self) -> int:
        return self._seq + self._count - 1

    def __repr__(self) -> str:
        return f"Frame({self.kind}, {self.text[:80]!r})"


def stream_frame(first_seq: int, events: list, ephemeral: bool) -> Frame:
    return Frame({"t": "ev", "s": first_seq, "e": events}, kind="ephemeral" if ephemeral else "stream")


def merge_ephemeral(a: Frame, b: Frame) -> Frame:
    """Two consecutive ephemeral batches as one: the same sequence range, only the latest of each key.

    Sequence numbers stay contiguous (the merged frame covers a.seq … b.last_seq), so the
    follower sees no gap; it just skips intermediate pointer and scroll positions.
    """
    events = a.msg["e"] + b.msg["e"]
    latest: dict[tuple, int] = {}
    for i, ev in enumerate(events):
        latest[ephemeral_key(ev)] = i
    kept = [events[i] for i in sorted(latest.values())]
    return Frame({"t": "ev", "s": a.seq, "n": a.count + b.count, "e": kept}, kind="ephemeral")


def error(code: str, message: str) -> Frame:
    return Frame({"t": "error", "code": code, "message": message})

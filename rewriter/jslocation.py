"""Scoped rewrite of the ``location`` reads the browser runtime cannot reach.

Why. ``window.location`` and ``document.location`` are ``[LegacyUnforgeable]``: no script can
redefine them or their properties, so a proxied page reading ``location.host`` gets Tandem's host
(``LABEL.BASE:8080``), not the site's. Most code only compares or displays it, but code that builds
URLs from it (``"ws://localhost:" + location.port``, ``location.protocol + "//" + location.host``)
goes somewhere else, and a site's origin checks (``location.origin === "https://shop.example"``)
fail. ``document.URL``, ``baseURI``, ``window.origin`` and the rest are accessors the runtime wraps;
only ``Location`` needs the source.

What. Only member reads whose property names a part of the origin or the whole URL are touched:
``X.href``, ``.origin``, ``.host``, ``.hostname``, ``.port``, ``.protocol``, ``.ancestorOrigins`` and
``.toString``, where
``X`` is the identifier ``location`` or any ``<expr>.location`` (``window.location``,
``document.location``, ``top.location``, ``frame.contentWindow.location``). ``X`` becomes
``(globalThis[Symbol.for("tandem.location")]||Object)(X)``: the runtime's function returns a
read-only view with the site's values when its argument is a real ``Location``, and the argument
itself otherwise. So no scope analysis is needed: react-dom's local ``location`` variable, a
router's ``location`` object or ``props.location.pathname`` pass through the function unchanged
(and ``pathname``/``search``/``hash`` are not touched at all: they read the same either way).
Without the runtime (``||Object``) the expression is what it was. Writes (``location.href = u``,
``location.port += ...``, ``delete``) are left alone: the Navigation API hook sends navigations
through the proxy already.

How. A substring/regex pre-check finds ``location . prop`` candidates; a script without one is
not parsed for this. Candidates are confirmed on the tree-sitter tree that ``rewriter/js.py``
builds (the same parse serves the import specifiers): the name must be an ``identifier`` or the
``property`` of a ``member_expression``, never inside a string, comment, template or regex.

The same pass covers one more thing the runtime cannot: ``w.postMessage(msg, targetOrigin)`` where
``w`` is a cross-origin window (a frame, the parent, an opener). That ``postMessage`` belongs to the
other page's realm, so the caller's runtime never sees the upstream origin the site names, and the
browser drops the message (the target is on a proxied origin). The second argument of every
``X.postMessage(a, b)`` call becomes ``(globalThis[Symbol.for("tandem.target")]||Object)(b)``: the
runtime maps an origin string (or an options object's ``targetOrigin``) to its proxied origin and
returns anything else as it is (a worker's or a port's transfer list).

And one more: ``import(expr)`` whose specifier is not a literal (``import(`${cdn}/x.js`)``, a
variable). ``rewriter/js.py`` maps literal specifiers; an expression is only known at run time, and
``import()`` is syntax, so the runtime has nothing to wrap: the request would leave the proxy. The
argument becomes ``(globalThis[Symbol.for("tandem.url")]||String)(expr)``: the runtime maps an
absolute URL to its proxied form and leaves relative and bare specifiers as they are.

Last, ``import.meta.url`` (a module's own URL, proxied as loaded) becomes
``(globalThis[Symbol.for("tandem.up")]||String)(import.meta.url)``: the site's URL; so does the
result of ``import.meta.resolve(x)`` (resolved against the proxied URL).

The Location converted to a string is a read of its href too: ``String(location)``,
``new URL(location)``, ``location + ""``, ``"" + document.location``, ```${location}``` and a loose
comparison (``location == url``, ``!=``) get the same function around the location expression (the
view's ``toString`` is the site's href). ``===`` is left alone: it compares identity.

The price, for the page: ``Function.prototype.toString`` of a rewritten function would show the
inserted calls; the runtime takes them out again (viewer/runtime/native.js ``unrewrite``).

Destructuring (``const {host, pathname} = location``, ``({href} = document.location)``) reads the
view too when every name it takes is one the view has (the origin parts, ``href``, ``pathname``,
``search``, ``hash``): a pattern that also takes a method (``assign``) or the rest is left alone.

Not covered (runtime or nothing): computed members (``location["host"]``), code built at
run time (``eval``, ``new Function``, inline handlers are covered: they go through the JS rewriter).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Callable

from .digest import digest

# The runtime's function (viewer/runtime/identity.js): a view of a Location with the site's values.
LOCATION_FN = b'(globalThis[Symbol.for("tandem.location")]||Object)('
PROPS = frozenset((b"href", b"origin", b"host", b"hostname", b"port", b"protocol", b"toString", b"ancestorOrigins"))

# A block comment matched one way only ("*/" cannot be inside one): with ".*?" a run of comments
# could also be read as fewer, longer ones, and a failing match tried every reading (2^n).
_BLOCK_COMMENT = rb"/\*[^*]*\*+(?:[^/*][^*]*\*+)*/"
_SPACE = rb"(?:\s|" + _BLOCK_COMMENT + rb")*"
_CANDIDATE_RE = re.compile(
    rb"location" + _SPACE + rb"(?:\?\.|\.)" + _SPACE + rb"(href|origin|hostname|host|port|protocol|toString|ancestorOrigins)(?![\w$])",
    re.S,
)
TARGET_FN = b'(globalThis[Symbol.for("tandem.target")]||Object)('
URL_FN = b'(globalThis[Symbol.for("tandem.url")]||String)('
UP_FN = b'(globalThis[Symbol.for("tandem.up")]||String)('
_META_RE = re.compile(rb"import" + _SPACE + rb"\." + _SPACE + rb"meta" + _SPACE + rb"\." + _SPACE + rb"url(?![\w$])")
_RESOLVE_RE = re.compile(rb"import" + _SPACE + rb"\." + _SPACE + rb"meta" + _SPACE + rb"\." + _SPACE + rb"resolve" + _SPACE + rb"\(")
_IMPORT_CALL_RE = re.compile(rb"import" + _SPACE + rb"\(")
_LOCATION_WORD_RE = re.compile(rb"location(?![\w$])")
# the Location used as a string: String(L), new URL(L), L + x, x + L, `${L}` (L: location or X.location)
_L = rb"(?:[\w$]+" + _SPACE + rb"\." + _SPACE + rb")*location"
# Every alternative starts with a literal character (``(?<![!=])[!=]=`` is written as ``!(?<![!=]!)=`` and
# ``=(?<![!=]=)=``, ``(?:String|URL)`` as two alternatives), so the regex engine skips to those characters in
# C; with a set or a lookbehind first it tried every position (10 MB/s on minified scripts, most of the
# pre-check's time). Same matches: tests/rewriter/test_jslocation.py compares it with the old form.
_AS_STRING_RE = re.compile(
    rb"String" + _SPACE + rb"\(" + _SPACE + _L + _SPACE + rb"[),]|"
    rb"URL" + _SPACE + rb"\(" + _SPACE + _L + _SPACE + rb"[),]|"
    rb"\+" + _SPACE + _L + rb"(?![\w$])|"
    rb"location" + _SPACE + rb"(?:\+|[!=]=(?!=))|"
    rb"!(?<![!=]!)=" + _SPACE + _L + rb"(?![\w$])|"
    rb"=(?<![!=]=)=" + _SPACE + _L + rb"(?![\w$])|"
    rb"\$\{" + _SPACE + _L + _SPACE + rb"\}", re.S)
# a destructuring pattern whose value is a location: `} = location`, `} = X.location`
_DESTRUCTURE_RE = re.compile(rb"\}" + _SPACE + rb"=" + _SPACE + _L + rb"(?![\w$])", re.S)
# what the runtime's view answers (viewer/runtime/identity.js)
VIEW_PROPS = PROPS | {b"pathname", b"search", b"hash"}
_POST_RE = re.compile(rb"postMessage" + _SPACE + rb"\(")  # the "." before it is checked on the tree
_IDENT_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$")
_WRITE_PARENTS = {"assignment_expression", "augmented_assignment_expression"}

Edit = tuple[int, int, bytes]


def candidates(data: bytes) -> bool:
    """True when ``data`` may read a location property (cheap; decides whether to parse)."""
    if b"postMessage" in data and _POST_RE.search(data):
        return True
    if b"import" in data and (_IMPORT_CALL_RE.search(data) or _META_RE.search(data) or _RESOLVE_RE.search(data)):
        return True
    if b"location" not in data:
        return False
    for m in _CANDIDATE_RE.finditer(data):  # the cheapest first (a literal start); the result is their "or"
        if not (m.start() and data[m.start() - 1] in _IDENT_BYTES):
            return True
    return bool(_DESTRUCTURE_RE.search(data) or _AS_STRING_RE.search(data))


def _is_write(member) -> bool:
    parent = member.parent
    if parent is None:
        return False
    if parent.type in _WRITE_PARENTS and parent.child_by_field_name("left") == member:
        return True
    if parent.type == "update_expression":
        return True
    if parent.type == "unary_expression" and parent.child(0) is not None and parent.child(0).type == "delete":
        return True
    return False


def _word_node(root, data: bytes, at: int):
    """The tree's node for the 8-byte word ``location`` found at ``at``, or None when the match is
    only part of a longer name or no node spans exactly that word."""
    if at and data[at - 1] in _IDENT_BYTES:
        return None
    name = root.descendant_for_byte_range(at, at + 8)
    if name is None or name.start_byte != at or name.end_byte != at + 8:
        return None
    return name


def location_edits(root, data: bytes) -> list[Edit]:
    """Insertions that send each location read of the tree through the runtime's function."""
    edits: list[Edit] = []
    done: set[int] = set()
    for m in _CANDIDATE_RE.finditer(data):
        name = _word_node(root, data, m.start())
        if name is None:
            continue
        if name.type == "identifier":
            obj = name
        elif name.type == "property_identifier":
            obj = name.parent
            if obj is None or obj.type != "member_expression" or obj.child_by_field_name("property") != name:
                continue
        else:
            continue
        outer = obj.parent
        if outer is None or outer.type != "member_expression" or outer.child_by_field_name("object") != obj:
            continue
        prop = outer.child_by_field_name("property")
        if prop is None or prop.type != "property_identifier" or data[prop.start_byte:prop.end_byte] not in PROPS:
            continue
        if _is_write(outer) or obj.start_byte in done:
            continue
        done.add(obj.start_byte)
        edits.append((obj.start_byte, obj.start_byte, LOCATION_FN))
        edits.append((obj.end_byte, obj.end_byte, b")"))
    edits.extend(_as_string_edits(root, data, done))
    edits.extend(_destructure_edits(root, data, done))
    if b"postMessage" in data:
        edits.extend(_target_edits(root, data))
    if b"import" in data:
        edits.extend(_import_edits(root, data))
        edits.extend(_meta_edits(root, data))
    return edits


def _meta_edits(root, data: bytes) -> list[Edit]:
    """Each ``import.meta.url`` read, through the runtime's upstream mapping."""
    edits: list[Edit] = []
    for m in _META_RE.finditer(data):
        node = root.descendant_for_byte_range(m.end() - 3, m.end())
        member = node.parent if node is not None and node.type == "property_identifier" else None
        if member is None or member.type != "member_expression" or member.start_byte != m.start() or _is_write(member):
            continue
        obj = member.child_by_field_name("object")
        if obj is None or obj.type != "meta_property":
            continue
        edits.append((member.start_byte, member.start_byte, UP_FN))
        edits.append((member.end_byte, member.end_byte, b")"))
    for m in _RESOLVE_RE.finditer(data):
        # import.meta.resolve(x): the resolved URL is the proxied one; the site's is read back
        at = data.rfind(b"resolve", m.start(), m.end())
        node = root.descendant_for_byte_range(at, at + 7)
        member = node.parent if node is not None and node.type == "property_identifier" else None
        call = member.parent if member is not None else None
        if member is None or member.type != "member_expression" or member.start_byte != m.start() \
                or call is None or call.type != "call_expression" or call.child_by_field_name("function") != member:
            continue
        obj = member.child_by_field_name("object")
        if obj is None or obj.type != "meta_property":
            continue
        edits.append((call.start_byte, call.start_byte, UP_FN))
        edits.append((call.end_byte, call.end_byte, b")"))
    return edits


def _import_edits(root, data: bytes) -> list[Edit]:
    """The specifier of each ``import(expr)`` whose specifier is not a literal."""
    edits: list[Edit] = []
    for m in _IMPORT_CALL_RE.finditer(data):
        kw = root.descendant_for_byte_range(m.start(), m.start() + 6)
        if kw is not None and not kw.is_named and kw.parent is not None and kw.parent.type == "import":
            kw = kw.parent  # the keyword token inside the named `import` node
        if kw is None or kw.type != "import" or kw.start_byte != m.start():
            continue
        call = kw.parent
        if call is None or call.type != "call_expression" or call.child_by_field_name("function") != kw:
            continue
        args = call.child_by_field_name("arguments")
        real = [c for c in args.named_children if c.type not in ("comment", "html_comment")] if args is not None else []
        if not real or real[0].type in ("string", "spread_element"):
            continue
        first = real[0]
        if first.type == "template_string" and not any(c.type == "template_substitution" for c in first.named_children):
            continue  # a literal: rewriter/js.py maps it
        edits.append((first.start_byte, first.start_byte, URL_FN))
        edits.append((first.end_byte, first.end_byte, b")"))
    return edits


def _location_objects(root, data: bytes, done: set[int]):
    """Each ``location`` / ``X.location`` expression node not wrapped yet, with its parent."""
    for m in _LOCATION_WORD_RE.finditer(data):
        name = _word_node(root, data, m.start())
        if name is None:
            continue
        if name.type == "identifier":
            obj = name
        elif name.type == "property_identifier" and name.parent is not None and name.parent.type == "member_expression" \
                and name.parent.child_by_field_name("property") == name:
            obj = name.parent
        else:
            continue
        if obj.parent is not None and obj.start_byte not in done:
            yield obj, obj.parent


def _as_string_edits(root, data: bytes, done: set[int]) -> list[Edit]:
    """``location`` / ``X.location`` converted to a string (see the top of this file)."""
    edits: list[Edit] = []
    for obj, parent in _location_objects(root, data, done):
        wrap = False
        if parent.type == "template_substitution":
            wrap = True
        elif parent.type == "binary_expression":
            op = parent.child_by_field_name("operator")
            # + concatenates its string; == and != compare it with a string (a view is never ===)
            wrap = op is not None and op.type in ("+", "==", "!=")
        elif parent.type == "arguments":
            call = parent.parent
            callee = call.child_by_field_name("function" if call.type == "call_expression" else "constructor") \
                if call is not None and call.type in ("call_expression", "new_expression") else None
            first = next((c for c in parent.named_children if c.type not in ("comment", "html_comment")), None)
            wrap = callee is not None and callee.type == "identifier" and data[callee.start_byte:callee.end_byte] in (b"String", b"URL") \
                and first == obj
        if wrap:
            done.add(obj.start_byte)
            edits.append((obj.start_byte, obj.start_byte, LOCATION_FN))
            edits.append((obj.end_byte, obj.end_byte, b")"))
    return edits


def _pattern_keys(pattern, data: bytes) -> list[bytes] | None:
    """The property names an object pattern takes, or None when it has a rest or a computed key."""
    keys = []
    for c in pattern.named_children:
        if c.type == "object_assignment_pattern":
            c = c.child_by_field_name("left")
        if c is None:
            return None
        if c.type == "shorthand_property_identifier_pattern":
            keys.append(data[c.start_byte:c.end_byte])
        elif c.type == "pair_pattern":
            key = c.child_by_field_name("key")
            if key is None or key.type != "property_identifier":
                return None
            keys.append(data[key.start_byte:key.end_byte])
        elif c.type not in ("comment", "html_comment"):
            return None
    return keys


def _destructure_edits(root, data: bytes, done: set[int]) -> list[Edit]:
    """``const {host} = location`` and ``({href} = X.location)``: the value through the view."""
    edits: list[Edit] = []
    if not _DESTRUCTURE_RE.search(data):
        return edits
    for obj, parent in _location_objects(root, data, done):
        if parent.type == "variable_declarator" and parent.child_by_field_name("value") == obj:
            pattern = parent.child_by_field_name("name")
        elif parent.type == "assignment_expression" and parent.child_by_field_name("right") == obj:
            pattern = parent.child_by_field_name("left")
        else:
            continue
        if pattern is None or pattern.type != "object_pattern":
            continue
        keys = _pattern_keys(pattern, data)
        if not keys or any(k not in VIEW_PROPS for k in keys):
            continue
        done.add(obj.start_byte)
        edits.append((obj.start_byte, obj.start_byte, LOCATION_FN))
        edits.append((obj.end_byte, obj.end_byte, b")"))
    return edits


def _target_edits(root, data: bytes) -> list[Edit]:
    """The second argument of each ``X.postMessage(a, b)`` call, through the runtime's target mapper."""
    edits: list[Edit] = []
    at = data.find(b"postMessage")
    while at >= 0:
        name = root.descendant_for_byte_range(at, at + 11)
        at = data.find(b"postMessage", at + 1)
        if name is None or name.type != "property_identifier" or name.end_byte - name.start_byte != 11:
            continue
        member = name.parent
        if member is None or member.type != "member_expression" or member.child_by_field_name("property") != name:
            continue
        call = member.parent
        if call is None or call.type != "call_expression" or call.child_by_field_name("function") != member:
            continue
        args = call.child_by_field_name("arguments")
        if args is None or args.type != "arguments":
            continue
        real = [c for c in args.named_children if c.type not in ("comment", "html_comment")]
        if len(real) < 2 or real[1].type == "spread_element" or real[0].type == "spread_element":
            continue
        b = real[1]
        edits.append((b.start_byte, b.start_byte, TARGET_FN))
        edits.append((b.end_byte, b.end_byte, b")"))
    return edits


# --- memo: the edits depend on the script's bytes alone (no session, no mapping) -----------------

# Scripts whose edits are remembered: a session loads tens of distinct scripts, inline ones repeat
# on every page of a site; the entries are small (a few offsets).
MEMO_ENTRIES = 4096
_memo: "OrderedDict[bytes, list[Edit]]" = OrderedDict()
_memo_lock = threading.Lock()
# Scripts seen without a candidate (their digests only): the candidate scan is not run again.
NO_CANDIDATE_ENTRIES = 8192


def content_key(data: bytes) -> bytes:
    """What the memos of scripts remember one by (rewriter/digest.py: every inline script with a
    trigger word is hashed once per page)."""
    return digest(data)
_no_candidates: "OrderedDict[bytes, None]" = OrderedDict()


def read_edits(data: bytes, root=None, parse: Callable | None = None, max_parse: int = 8 << 20,
               key: bytes | None = None) -> list[Edit]:
    """The location-read edits of a script: from its tree when the caller has one (``root``),
    else parsed with ``parse`` (rewriter/js.py's budgeted parser) when the script has a candidate.
    A script that does not parse cleanly gets none. Memoised by content (``key``: the caller's
    :func:`content_key` of ``data``); scripts without a candidate are remembered apart."""
    if len(data) > max_parse:
        return []
    if key is None:
        key = content_key(data)
    with _memo_lock:
        hit = _memo.get(key)
        if hit is not None:
            _memo.move_to_end(key)
            return hit
        if key in _no_candidates:
            _no_candidates.move_to_end(key)
            return []
    if not candidates(data):
        with _memo_lock:  # kept apart: scripts without a candidate never push a parse's edits out
            _no_candidates[key] = None
            while len(_no_candidates) > NO_CANDIDATE_ENTRIES:
                _no_candidates.popitem(last=False)
        return []
    if root is None:
        tree = parse(data) if parse is not None else None
        if tree is None:
            return []  # no parser, or out of time (a loaded machine): not remembered, tried again next time
        root = tree.root_node if not tree.root_node.has_error else None
    edits = location_edits(root, data) if root is not None else []
    _remember(key, edits)
    return edits


def _remember(key: bytes, edits: list[Edit]) -> None:
    with _memo_lock:
        _memo[key] = edits
        while len(_memo) > MEMO_ENTRIES:
            _memo.popitem(last=False)

"""What clients send Tandem directly, fuzzed: the session-socket protocol (frames, the room), the API's
JSON reader, names, return-to URLs and integer query values. No exception escapes; every frame a
room sends is strict JSON in well-formed UTF-8 (issue 10 #22, #13, #24)."""

from __future__ import annotations

import copy
import json

from hypothesis import given, strategies as st

from sync import protocol as P
from sync.room import Close, Room, Send
from sync.ws import _parse
from tandem import safejson
from viewer.jsonbody import parse_int
from viewer.safeurl import safe_next

from .strategies import MUTATION_RANDOMS, fuzz, odd_text, run, urls, variants

rnds = MUTATION_RANDOMS

# JSON-ish values with the awkward parts: lone surrogates, huge and odd numbers, deep nesting
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=20), odd_text)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=4)), max_leaves=20)
TYPES = ["hello", "ev", "page", "active", "ptr", "input", "control", "lead", "claim", "policy", "name", "notice", "chat",
         "resync", "ping", "leave", "nope", "__init__", "_on_ev", ""]
KEYS = ["e", "url", "title", "x", "y", "d", "hide", "i", "a", "p", "control", "name", "code", "text", "kind", "resume"]
message = st.builds(lambda t, extra: {"t": t, **extra}, st.one_of(st.sampled_from(TYPES), st.text(max_size=6)),
                    st.dictionaries(st.sampled_from(KEYS), st.one_of(values, urls), max_size=4))
event = st.fixed_dictionaries({"type": st.integers(min_value=0, max_value=6),
                               "data": st.dictionaries(st.sampled_from(["source", "href", "id", "node", "texts", "x"]), values,
                                                       max_size=3)})
input_msg = st.fixed_dictionaries({"kind": st.sampled_from(sorted(P.INPUT_KINDS) + ["x"]),
                                   "x": st.one_of(st.integers(), st.floats()), "y": st.integers(),
                                   "text": odd_text, "key": odd_text, "action": st.sampled_from(sorted(P.NAV_ACTIONS) + ["x"]),
                                   "url": urls})


def _mapper_room() -> Room:
    return Room("sid1", epoch="e1", start_url="https://shop.example/",
                to_proxy=lambda url: "http://sid1-s-shop-example.tandem.test/" + url.split("://", 1)[-1] if "://" in url else None,
                to_upstream=lambda url: "https://" + url.split(".tandem.test/", 1)[-1] if ".tandem.test/" in url else None)


def _check(outs) -> None:
    for o in outs:
        if isinstance(o, Send):
            o.frame.text.encode("utf-8")  # a frame that cannot be sent would stall the room
            json.loads(o.frame.text, parse_constant=lambda c: (_ for _ in ()).throw(AssertionError(c)))
        else:
            assert isinstance(o, Close)


SCRIPT_VARIANTS = 7  # reshuffles run per generated script: generating one costs milliseconds, replaying it microseconds


def scripts(script, rnd, k: int = SCRIPT_VARIANTS):
    """``script`` and ``k`` reshuffles of it: messages reordered, repeated, dropped, sent by another
    connection, or given another type with the same fields (each a fresh copy: a room may keep what
    it was sent)."""
    yield copy.deepcopy(script)
    for _ in range(k):
        s = list(script)
        for _ in range(rnd.randint(1, 3)):
            op = rnd.randrange(5)
            if not s:
                break
            i = rnd.randrange(len(s))
            conn, msg = s[i]
            if op == 0:
                rnd.shuffle(s)
            elif op == 1:
                s.insert(rnd.randint(0, len(s)), s[i])
            elif op == 2:
                del s[i]
            elif op == 3:
                s[i] = (rnd.randint(1, 4), msg)
            else:
                s[i] = (conn, {**(msg if isinstance(msg, dict) else {"x": msg}), "t": rnd.choice(TYPES)})
        yield copy.deepcopy(s)


def _play(script) -> None:
    room = _mapper_room()
    now = 0.0
    _check(room.connect(1, "L", may_lead=True, kind="tab", now=now, name="Lee \ud800(tab owner)"))
    _check(room.connect(2, "F", may_lead=False, kind="view", now=now, name=""))
    _check(room.connect(3, "G", may_lead=True, kind="view", now=now))
    _check(room.connect(4, "F", may_lead=False, kind="tab", now=now))
    for conn, msg in script:
        now += 0.05
        _check(run("room", room.receive, conn, msg, now, len(str(msg))))
        assert room.current_url() is None or room.is_ours(room.current_url())
    _check(room.tick(now + 100))


@fuzz(100)
@given(st.lists(st.tuples(st.integers(min_value=1, max_value=4),
                          st.one_of(message, st.builds(lambda e: {"t": "ev", "e": e}, st.lists(event, max_size=4)),
                                    st.builds(lambda i: {"t": "input", "i": i}, input_msg), values)), max_size=9), rnds)
def test_room_takes_any_message(script, rnd):
    for s in scripts(script, rnd):
        try:
            _play(s)
        except BaseException as exc:
            exc.add_note(f"script: {s!r:.2000}")
            raise


def _frame(text):
    obj = _parse(text)
    assert obj is None or isinstance(obj, (dict, str))
    if isinstance(obj, dict):
        P.Frame({"t": "echo", "x": obj}).text.encode("utf-8")


@fuzz(400)
@given(st.one_of(st.text(max_size=200), odd_text, values.map(lambda v: json.dumps(v)), message.map(json.dumps),
                 st.builds(lambda n, c: c[0] * n + c[1] * n, st.integers(0, 3000), st.sampled_from(["[]", "{}"]))), rnds)
def test_socket_frame_parser(seed, rnd):
    for text in variants(seed, rnd):
        run("socket_frames", _frame, text)


def _json(data):
    try:
        obj = safejson.loads(data)
    except safejson.JsonError as exc:
        assert exc.code in ("invalid_json", "too_deep") and isinstance(exc.message, str)
        return
    text = json.dumps(obj, allow_nan=False, ensure_ascii=False)  # what we stored can always be sent back as JSON
    text.encode("utf-8")


@fuzz(500)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
                 values.map(lambda v: json.dumps(v).encode()),
                 st.builds(lambda n: ('{"a":' * n + "1" + "}" * n).encode(), st.integers(0, 2000)),
                 st.sampled_from([b"NaN", b"[Infinity]", b"[-Infinity]", b"1e999", b'"\\ud800"', b"[1e-999]", b"-0", b"\xef\xbb\xbf{}"])),
       rnds)
def test_api_json_reader(seed, rnd):
    for data in variants(seed, rnd):
        run("api_json", _json, data)


def _name(name):
    cleaned = P.clean_name(name)
    assert len(cleaned) <= P.MAX_NAME
    cleaned.encode("utf-8")
    low = cleaned.lower()
    for word in ("(tab owner)", "(host)", "(agent)", "[agent]", "(leader)"):
        assert word not in low


def _next(value):
    from urllib.parse import urljoin, urlsplit

    out = safe_next(value)
    assert out == "/console" or out == value
    assert urlsplit(urljoin("https://tandem.example/console/login", out)).netloc == "tandem.example"
    assert out.isascii() and not any(c in out for c in "\t\r\n\\ ")


def _int(raw):
    v = parse_int(raw, 1)
    assert v is None or (isinstance(v, int) and 1 <= v <= 2**63 - 1)


@fuzz(300)
@given(st.one_of(st.text(max_size=120), odd_text, st.sampled_from(["Ada (tab owner)", "Bob [Agent]", "Cy (host)"])), rnds)
def test_names(seed, rnd):
    for name in variants(seed, rnd):
        run("names", _name, name)


@fuzz(300)
@given(st.one_of(urls, odd_text, st.text(max_size=60), st.sampled_from(["/console", "/admin/audit?x=1"])), rnds)
def test_return_to_urls(seed, rnd):
    for value in variants(seed, rnd):
        run("return_to", _next, value)


@fuzz(150)
@given(st.one_of(st.text(max_size=30), st.integers().map(str)), rnds)
def test_query_integers(seed, rnd):
    for raw in variants(seed, rnd):
        run("query_int", _int, raw)

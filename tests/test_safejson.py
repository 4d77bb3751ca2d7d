"""tandem.safejson: the short-text path (brackets counted, no padded stack) refuses and accepts exactly
what the padded parse does, wherever on the stack it is called from."""

from __future__ import annotations

import json
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem import safejson

values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)),
                      lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)),
                      max_leaves=30)


def padded(data: str):
    """The reference: always parse with HEADROOM frames below (what loads did for every text)."""
    try:
        return ("ok", safejson._nest(safejson.HEADROOM, lambda: safejson._DECODER.decode(data)))
    except safejson.JsonError as exc:
        return ("error", exc.code)
    except RecursionError:
        return ("error", "too_deep")
    except ValueError:
        return ("error", "invalid_json")


def fast(data: str):
    try:
        return ("ok", safejson.loads(data, max_depth=None, check_strings=False))
    except safejson.JsonError as exc:
        return ("error", exc.code)


def at_depth(n: int, fn):
    return at_depth(n - 1, fn) if n > 0 else fn()


@settings(max_examples=200, deadline=None)
@given(st.one_of(values.map(json.dumps), st.text(max_size=40), st.integers(0, 600).map(lambda n: "[" * n + "]" * n)),
       st.sampled_from([0, 300, 700, 850]))
def test_short_path_agrees_with_padded_parse(data, depth):
    if depth + 100 > sys.getrecursionlimit():
        pytest.skip("recursion limit lowered")
    assert at_depth(depth, lambda: fast(data)) == at_depth(depth, lambda: padded(data))


def test_deep_short_text_refused_near_the_limit():
    # 300 brackets fit in a short text; called with little stack left, the padded parse would fail: so does this
    data = "[" * 300 + "]" * 300
    limit = sys.getrecursionlimit()
    assert at_depth(limit - 400, lambda: fast(data)) == ("error", "too_deep")
    assert fast(data)[0] == "ok"

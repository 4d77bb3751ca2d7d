"""LABEL codec: the shared vectors (also read by tests/js/labels.test.mjs) and round-trip properties."""

import json
import pathlib

import pytest
from hypothesis import given, strategies as st

from rewriter import labels
from rewriter.labels import LabelError, Origin

VECTORS = json.loads((pathlib.Path(__file__).parents[1] / "vectors" / "labels.json").read_text())


@pytest.mark.parametrize("v", VECTORS["valid"], ids=lambda v: v["origin"])
def test_vector_encodes(v):
    origin = Origin(v["scheme"], v["host"], v["port"])
    assert origin.serialize() == v["origin"]
    assert labels.encode(v["sid"], origin) == (v["label"], v["alias"])
    assert len(v["label"]) <= labels.MAX_LABEL


@pytest.mark.parametrize("v", VECTORS["valid"], ids=lambda v: v["origin"])
def test_vector_decodes(v):
    d = labels.decode(v["label"])
    assert d.sid == v["sid"]
    if v["alias"]:
        assert d.origin is None and d.alias == labels.alias_hash(Origin(v["scheme"], v["host"], v["port"]))
    else:
        assert d.origin == Origin(v["scheme"], v["host"], v["port"]) and d.alias is None


@pytest.mark.parametrize("label", VECTORS["invalid"])
def test_invalid_labels_rejected(label):
    with pytest.raises(LabelError):
        labels.decode(label)


@pytest.mark.parametrize("v", VECTORS["decode_case_insensitive"], ids=lambda v: v["label"])
def test_decode_ignores_case(v):
    assert labels.decode(v["label"]).origin.serialize() == v["origin"]


sids = st.text(alphabet=labels.SID_ALPHABET, min_size=labels.SID_LEN, max_size=labels.SID_LEN)
ldh_part = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
any_host = st.one_of(
    st.lists(ldh_part, min_size=1, max_size=5).map(".".join),
    st.text(alphabet="abcxyz019-._", min_size=1, max_size=80),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a.compressed}]"),
)
origins = st.builds(Origin, st.sampled_from(["http", "https"]), any_host, st.integers(1, 65535))


@given(sids, origins)
def test_round_trip(sid, origin):
    label, is_alias = labels.encode(sid, origin)
    assert len(label) <= labels.MAX_LABEL
    assert label == label.lower() and not label.startswith("xn--")
    assert all(c.isalnum() or c == "-" for c in label) and label[0] != "-" and label[-1] != "-"
    d = labels.decode(label)
    assert d.sid == sid
    if is_alias:
        assert d.alias == labels.alias_hash(origin)
    else:
        assert d.origin == origin


@given(sids, origins, origins)
def test_distinct_origins_get_distinct_labels(sid, a, b):
    if a != b:
        assert labels.encode(sid, a)[0] != labels.encode(sid, b)[0]


@given(st.text(max_size=70))
def test_decode_never_raises_anything_but_label_error(text):
    try:
        labels.decode(text)
    except LabelError:
        pass


@given(sids, st.sampled_from(["http", "https"]),
       st.one_of(st.lists(ldh_part, min_size=1, max_size=6).map(".".join),
                 st.text(alphabet="ab09-.", min_size=1, max_size=70).filter(labels._LDH_HOST_RE.fullmatch)))
def test_direct_label_of_ldh_host_is_direct_label(sid, scheme, host):
    """The URL mapper's shortcut for an LDH host on the default port: the same label (or None)."""
    assert labels.direct_label_of_ldh(sid, scheme, host) == labels.direct_label(sid, Origin(scheme, host, labels.DEFAULT_PORTS[scheme]))

"""The LABEL codec: one DNS label that names (session, upstream origin).

Theory of operation
-------------------
A proxied origin lives at ``LABEL.BASE``. The label must be reversible, fit the
63-character DNS label limit, survive the browser's host canonicalisation (lower
case, no ``xn--`` prefix that it would try to decode as punycode) and round-trip
for every host, port and scheme. Two forms::

    direct:  <sid> "-" <kind> [<port>] "-" <host_enc>
    alias:   <sid> "-a-" <hash>

* ``sid``: the session key, 12 characters of ``[a-z2-7]`` (fixed length, so the
  label never starts with ``xn--``).
* ``kind``: ``h`` (http) or ``s`` (https); ``port`` is given only when it is not
  the scheme's default, as decimal without leading zeros.
* ``host_enc``: the host with ``-`` doubled and ``.`` turned into ``-``. Only
  LDH hosts (every dot-separated part matches ``[a-z0-9]([a-z0-9-]*[a-z0-9])?``)
  are encoded directly: in them a dot is never next to a hyphen, so an odd run
  of hyphens in ``host_enc`` is always one dot and an even run is half as many
  hyphens.
* Everything else (IPv6 literals, underscores, labels with edge hyphens, long
  hosts that would overflow 63 characters) uses the alias form: ``hash`` is the
  first 16 base32 characters of SHA-256 over the serialised origin. The session
  keeps a table hash -> origin (see ``proxy.sessions``); the codec itself is pure.

The JS twin lives in ``viewer/runtime/labels.js``; both are tested against
``tests/vectors/labels.json``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from dataclasses import dataclass

SID_LEN = 12  # 60 random bits: unique enough for an id that is not a secret
HASH_LEN = 16  # 80 bits of SHA-256: collisions within one session are not a concern
MAX_LABEL = 63  # RFC 1035 label limit
SID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
DEFAULT_PORTS = {"http": 80, "https": 443}
_KIND_OF_SCHEME = {"http": "h", "https": "s"}
_SCHEME_OF_KIND = {v: k for k, v in _KIND_OF_SCHEME.items()}

_SID_RE = re.compile(r"[a-z2-7]{%d}" % SID_LEN)
LDH_PART = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"  # one part of a host the direct form encodes (a regex)
LDH_HOST = r"%s(?:\.%s)*" % (LDH_PART, LDH_PART)
_LDH_HOST_RE = re.compile(LDH_HOST)
_DIRECT_RE = re.compile(r"([a-z2-7]{%d})-([hs])([1-9][0-9]{0,4})?-([a-z0-9-]+)" % SID_LEN)
_ALIAS_RE = re.compile(r"([a-z2-7]{%d})-a-([a-z2-7]{%d})" % (SID_LEN, HASH_LEN))


class LabelError(ValueError):
    """The label is not one this codec produces."""


@dataclass(frozen=True, slots=True)
class Origin:
    """An upstream origin in canonical form: lower-case scheme and host, IPv6 in brackets."""

    scheme: str
    host: str
    port: int

    def __post_init__(self) -> None:
        if self.scheme not in DEFAULT_PORTS:
            raise ValueError(f"unsupported scheme {self.scheme!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"port out of range: {self.port}")
        if not self.host:
            raise ValueError("empty host")

    @property
    def default_port(self) -> bool:
        return DEFAULT_PORTS[self.scheme] == self.port

    @property
    def netloc(self) -> str:
        return self.host if self.default_port else f"{self.host}:{self.port}"

    def serialize(self) -> str:
        return f"{self.scheme}://{self.netloc}"

    def __str__(self) -> str:
        return self.serialize()


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded label: either a direct origin or an alias hash to look up."""

    sid: str
    origin: Origin | None
    alias: str | None


def new_sid(random_bytes: bytes) -> str:
    """A session key from at least 8 random bytes."""
    if len(random_bytes) < 8:
        raise ValueError("need 8 random bytes")
    return base64.b32encode(random_bytes).decode("ascii").lower()[:SID_LEN]


def is_sid(value: str) -> bool:
    return bool(_SID_RE.fullmatch(value))


def alias_hash(origin: Origin) -> str:
    digest = hashlib.sha256(origin.serialize().encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:HASH_LEN]


def _encode_host(host: str) -> str:
    return host.replace("-", "--").replace(".", "-")


def _decode_host(enc: str) -> str:
    out: list[str] = []
    for run in re.split(r"(-+)", enc):
        if not run.startswith("-"):
            out.append(run)
        elif len(run) == 1:
            out.append(".")
        elif len(run) % 2 == 0:
            out.append("-" * (len(run) // 2))
        else:
            raise LabelError("ambiguous hyphen run")
    return "".join(out)


def direct_label(sid: str, origin: Origin) -> str | None:
    """The direct form of the label, or None when the origin needs an alias."""
    if not _LDH_HOST_RE.fullmatch(origin.host):
        return None
    port = "" if origin.default_port else str(origin.port)
    label = f"{sid}-{_KIND_OF_SCHEME[origin.scheme]}{port}-{_encode_host(origin.host)}"
    return label if len(label) <= MAX_LABEL else None


def direct_label_of_ldh(sid: str, scheme: str, host: str) -> str | None:
    """:func:`direct_label` of ``Origin(scheme, host, default port)`` for a ``host`` the caller
    already knows to be LDH (:data:`LDH_HOST`), without building the Origin: the URL mapper's
    path for the common ``https://host`` head. None when the label would be too long (an alias)."""
    label = f"{sid}-{_KIND_OF_SCHEME[scheme]}-{_encode_host(host)}"
    return label if len(label) <= MAX_LABEL else None


@functools.lru_cache(maxsize=4096)  # pure; every page's mapper asks again for the same few origins
def encode(sid: str, origin: Origin) -> tuple[str, bool]:
    """Return (label, is_alias). An alias label must be registered with the session."""
    if not is_sid(sid):
        raise ValueError(f"bad session key {sid!r}")
    label = direct_label(sid, origin)
    if label is not None:
        return label, False
    return f"{sid}-a-{alias_hash(origin)}", True


@functools.lru_cache(maxsize=4096)  # pure; asked on every request (the Host's label), refusals are not kept
def decode(label: str) -> Decoded:
    """Inverse of :func:`encode`. Raises LabelError for anything encode would not produce."""
    label = label.lower()
    if len(label) > MAX_LABEL:
        raise LabelError("label too long")
    m = _ALIAS_RE.fullmatch(label)
    if m:
        return Decoded(m.group(1), None, m.group(2))
    m = _DIRECT_RE.fullmatch(label)
    if not m:
        raise LabelError("not a Tandem label")
    sid, kind, port_s, enc = m.groups()
    scheme = _SCHEME_OF_KIND[kind]
    port = int(port_s) if port_s else DEFAULT_PORTS[scheme]
    if port_s and (port > 65535 or port == DEFAULT_PORTS[scheme]):
        raise LabelError("non-canonical port")
    host = _decode_host(enc)
    if not _LDH_HOST_RE.fullmatch(host):
        raise LabelError("host is not in direct form")
    origin = Origin(scheme, host, port)
    if direct_label(sid, origin) != label:  # canonical form only: one label per origin
        raise LabelError("non-canonical label")
    return Decoded(sid, origin, None)

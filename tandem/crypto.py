"""Metadata encryption at rest: AES-256-GCM with a small key ring.

Theory of operation. Every encrypted column value is the text
``v1.<kid>.<base64url(nonce || ciphertext+tag)>``: ``kid`` names the key (the first
8 hex digits of its SHA-256), the 96-bit nonce is random per value, and the
associated data binds the value to where it is stored (``"sessions.details:<id>"``),
so a value copied into another row or column fails to decrypt.

Keys come from ``TANDEM_METADATA_KEY`` (comma-separated base64url keys, the first
one encrypts, all decrypt) or else from ``<data dir>/metadata.key`` (one key per
line, same rule), created with one fresh key on first use. Rotation (README,
"Key rotation"): put a new key first, re-encrypt every value, then drop the old
key; ``tandem keys rotate`` does the three steps for the file.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM standard nonce; random nonces are safe far past any store's row count
VERSION = "v1"
KEY_ENV = "TANDEM_METADATA_KEY"
KEY_FILE = "metadata.key"


class CryptoError(Exception):
    """A key is missing or malformed, or a value does not decrypt with any key in the ring."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def new_key() -> str:
    return _b64(secrets.token_bytes(KEY_BYTES))


def parse_keys(text: str, where: str) -> list[bytes]:
    keys = []
    for item in text.replace("\n", ",").split(","):
        item = item.strip()
        if not item or item.startswith("#"):
            continue
        try:
            key = _unb64(item)
        except (ValueError, TypeError) as exc:
            raise CryptoError(f"{where}: a key is not valid base64url") from exc
        if len(key) != KEY_BYTES:
            raise CryptoError(f"{where}: every key must be {KEY_BYTES} bytes (base64url), got {len(key)}")
        keys.append(key)
    if not keys:
        raise CryptoError(f"{where}: no key found")
    return keys


def create_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a new owner-only (0600) file; if the file already exists, leave it as it is.

    Exclusive create, so two processes starting at once never both write: the loser keeps the winner's.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def load_keys(data_dir: Path) -> tuple[list[bytes], str]:
    """The key ring and where it came from (``env`` or the key file's path)."""
    env = os.environ.get(KEY_ENV)
    if env:
        return parse_keys(env, KEY_ENV), "env"
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        create_private_file(path, (new_key() + "\n").encode("ascii"))
    return parse_keys(path.read_text(), str(path)), str(path)


def write_key_file(path: Path, keys: list[str]) -> None:
    """Replace the key file atomically (a crash leaves the old file or the new, never half)."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("".join(k + "\n" for k in keys))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Cipher:
    def __init__(self, keys: list[bytes]):
        if not keys:
            raise CryptoError("no metadata key")
        self.keys = list(keys)
        self._ring = {key_id(k): AESGCM(k) for k in keys}
        self.current = key_id(keys[0])

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        ct = self._ring[self.current].encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return f"{VERSION}.{self.current}.{_b64(nonce + ct)}"

    def decrypt(self, value: str, context: str) -> str:
        parts = value.split(".")
        if len(parts) != 3 or parts[0] != VERSION:
            raise CryptoError("not an encrypted value")
        aead = self._ring.get(parts[1])
        if aead is None:
            raise CryptoError(f"value encrypted with key {parts[1]}, which is not in the key ring")
        try:
            raw = _unb64(parts[2])
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8")).decode("utf-8")
        except (InvalidTag, ValueError) as exc:
            raise CryptoError("value does not decrypt (damaged, or moved from another row)") from exc

    def needs_rotation(self, value: str) -> bool:
        return is_encrypted(value) and value.split(".")[1] != self.current


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(VERSION + ".") and value.count(".") == 2

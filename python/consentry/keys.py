"""Ed25519 key files, as ``consentry keygen`` writes them (``spec/keys.md``).

A key file is the PEM of a PKCS#8 ``OneAsymmetricKey`` holding the 32-byte
seed. Version 1 files (what ``consentry keygen`` and the web app write) and
version 2 files (with the public key, whose public key must be the one the
seed derives) are read; anything else is refused.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .errors import KeyFileError

__all__ = ["Key", "load_key", "generate_key", "key_id"]

# spec/keys.md §1: the 16 bytes before the seed in a version 1 file.
_V1_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
# A version 2 file: SEQUENCE, version 1, the same algorithm and seed, then
# [1] publicKey (IMPLICIT BIT STRING, no unused bits, 32 bytes).
_V2_PREFIX = bytes.fromhex("3051020101300506032b657004220420")
_V2_PUBLIC = bytes.fromhex("812100")
_PEM_BEGIN = "-----BEGIN PRIVATE KEY-----"
_PEM_END = "-----END PRIVATE KEY-----"


def key_id(public_key: bytes) -> str:
    """The API's id of a 32-byte public key: ``ed25519:<hex>``."""
    return "ed25519:" + public_key.hex()


@dataclass(frozen=True)
class Key:
    """An Ed25519 private key and its public key id.

    ``id`` is what the registry calls the key (``ed25519:<64 hex>``).
    ``private`` is a :class:`cryptography` key, for signing.
    """

    private: Ed25519PrivateKey
    id: str

    @classmethod
    def from_seed(cls, seed: bytes) -> Key:
        """The key of a 32-byte RFC 8032 seed."""
        if len(seed) != 32:
            raise KeyFileError(f"an Ed25519 seed is 32 bytes, not {len(seed)}")
        private = Ed25519PrivateKey.from_private_bytes(seed)
        return cls(private, key_id(private.public_key().public_bytes_raw()))

    @property
    def public_bytes(self) -> bytes:
        """The 32-byte public key."""
        return bytes.fromhex(self.id.removeprefix("ed25519:"))

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self.private.sign(message)

    def pem(self) -> str:
        """The key file's text: version 1, as ``consentry keygen`` writes it."""
        seed = self.private.private_bytes_raw()
        der = base64.b64encode(_V1_PREFIX + seed).decode("ascii")
        return f"{_PEM_BEGIN}\n{der}\n{_PEM_END}\n"

    def __repr__(self) -> str:  # never print the seed
        return f"Key({self.id})"


def _parse_pem(text: str, where: str) -> bytes:
    refusal = f"{where} is not an Ed25519 PKCS#8 PEM key"
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) < 3 or lines[0] != _PEM_BEGIN or lines[-1] != _PEM_END:
        raise KeyFileError(refusal + " (expected a '-----BEGIN PRIVATE KEY-----' block)")
    try:
        return base64.b64decode("".join(lines[1:-1]), validate=True)
    except (binascii.Error, ValueError) as e:
        raise KeyFileError(f"{refusal} (bad base64: {e})") from None


def load_key(path: str | os.PathLike[str]) -> Key:
    """Reads a key file written by ``consentry keygen`` (or the web app's
    backup, or :func:`generate_key`).

    Raises :class:`KeyFileError` for encrypted keys, other algorithms, raw
    seeds, damaged files, and version 2 files whose public key is not the
    seed's.
    """
    where = str(path)
    try:
        text = Path(path).read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise KeyFileError(f"{where} is not an Ed25519 PKCS#8 PEM key (not ASCII text)") from None
    der = _parse_pem(text, where)
    if len(der) == 48 and der.startswith(_V1_PREFIX):
        return Key.from_seed(der[16:])
    if len(der) == 83 and der.startswith(_V2_PREFIX) and der[48:51] == _V2_PUBLIC:
        key = Key.from_seed(der[16:48])
        if key.public_bytes != der[51:]:
            raise KeyFileError(
                f"{where}: the public key in the file is not the one its private key derives"
            )
        return key
    raise KeyFileError(f"{where} is not an Ed25519 PKCS#8 PEM key")


def generate_key(path: str | os.PathLike[str]) -> Key:
    """Creates a new key and writes it to ``path`` (mode 0600), in the format
    ``consentry keygen`` writes. Never overwrites a file."""
    key = Key.from_seed(os.urandom(32))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key.pem())
    return key

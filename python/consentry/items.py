"""What can be checked or registered, and turning it into what is sent.

An *item* is one work: a hash string, a file path, the bytes of a file, or
a decoded PIL image. Preparing an item computes its BLAKE3 hash (from the
bytes, exactly as ``consentry`` does), for near matching its ISCC
Image-Codes (:mod:`consentry.fingerprint`, equal to the CLI's), and for a
check the consent signals inside its bytes (:mod:`consentry.signals`),
from the same read of the file.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3

from .errors import ItemError
from .signals import FileSignals, read, sidecar_of

__all__ = ["Prepared", "parse_hash", "hash_text", "prepare", "code_body"]

# Files whose name does not say they are images are tried as images only
# below this size (`consentry check` does the same).
UNNAMED_MAX_BYTES = 16 * 1024 * 1024


def parse_hash(text: str) -> bytes | None:
    """The 32 bytes of a work hash written ``blake3:<hex>``, ``1e20<hex>``
    (the ISCC form) or as 64 bare hex digits; ``None`` for anything else.
    Hex must be lower-case, as the registry writes it."""
    n = len(text)
    if n == 71 and text.startswith("blake3:"):
        body = text[7:]
    elif n == 68 and text.startswith("1e20"):
        body = text[4:]
    elif n == 64:
        body = text
    else:
        return None
    try:
        digest = bytes.fromhex(body)
    except ValueError:
        return None
    # fromhex also takes upper case and spaces: only the exact spelling counts.
    return digest if len(digest) == 32 and digest.hex() == body else None


def hash_text(digest: bytes) -> str:
    """The registry's spelling of a work hash: ``blake3:<hex>``."""
    return "blake3:" + digest.hex()


def code_body(code: str) -> bytes:
    """The body of an ISCC Image-Code (its digest without the 2-byte
    header), as receipts digest it (``spec/receipt.md`` §4.3)."""
    text = code.removeprefix("ISCC:")
    raw = base64.b32decode(text + "=" * (-len(text) % 8))
    return raw[2:]


@dataclass(frozen=True, slots=True)
class Prepared:
    """An item ready to send: its hash (``None`` for a PIL image, which has
    no file bytes), the codes sent with it, why it has none when it should
    have (``note``), and the consent signals read from its bytes
    (``signals``: ``None`` when they were not looked for, or there are no
    bytes). The signals stay on this side: they are never sent."""

    index: int
    item: Any
    hash: bytes | None
    codes: tuple[str, ...] = ()
    note: str | None = None
    signals: FileSignals | None = None


def _is_pil_image(item: object) -> bool:
    module = type(item).__module__
    return module.startswith("PIL.") and hasattr(item, "getbands")


def _codes(data: Any, named_image: bool | None, views: bool) -> tuple[tuple[str, ...], str | None]:
    """The codes of image data (a check's, or with ``views`` all those a
    registration signs), and a note when an image (or a file named as one)
    could not be fingerprinted. Bytes that are no image at all get no codes
    and no note, as in ``consentry check``."""
    from . import fingerprint

    try:
        codes = fingerprint.image_codes(data, views=True) if views else fingerprint.check_codes(data)
        return tuple(codes), None
    except fingerprint.FingerprintError as e:
        if e.kind == "not-an-image" and not named_image:
            return (), None
        return (), str(e)


def _signals(data: bytes, limit: int, sidecar_from: Path | None = None) -> FileSignals:
    """The signals of bytes read whole (with the ``.c2pa`` sidecar beside
    ``sidecar_from``), or, from ``limit`` on (where ``consentry check``
    streams a file rather than reading it whole), only a note saying they
    were not read, as the CLI reports it: the same file gives the same
    report from either."""
    if len(data) >= limit:
        return FileSignals(notes=[f"metadata not read: the file is larger than {limit >> 20} MiB"])
    sidecar, note = sidecar_of(sidecar_from) if sidecar_from is not None else (None, None)
    found = read(data, sidecar)
    if note is not None:
        found.note(note)
    return found


def prepare(index: int, item: Any, near: bool, *, views: bool = False, signals: bool = False) -> Prepared:
    """Hashes (and with ``near``, fingerprints) one item: the codes a check
    sends, or with ``views`` all those a registration signs. With
    ``signals``, the consent signals inside the item's bytes are read too
    (a path's ``.c2pa`` sidecar included); a hash or a PIL image has no
    bytes, so no signals.

    Raises :class:`ItemError` when the item is of no usable kind, names a
    file that cannot be read, or is a PIL image in an exact-only check.
    A Hugging Face image value (``{"bytes": ..., "path": ...}``, what
    ``datasets.Image(decode=False)`` gives) counts as its bytes, else its
    path.
    """
    if isinstance(item, Mapping) and ("bytes" in item or "path" in item):
        inner = item.get("bytes")
        if inner is None:
            inner = item.get("path")
        if inner is None or isinstance(inner, Mapping):
            raise ItemError(index, item, "an image value with neither bytes nor a path")
        p = prepare(index, inner, near, views=views, signals=signals)
        return Prepared(index, item, p.hash, p.codes, p.note, p.signals)
    if isinstance(item, str):
        # `blake3:<hex>` is always a hash; a bare hex name is a file when
        # one of that name exists (files named after a digest are common).
        if item.startswith("blake3:") or not os.path.isfile(item):
            digest = parse_hash(item)
            if digest is not None:
                return Prepared(index, item, digest)
        if not os.path.isfile(item):
            raise ItemError(index, item, "neither a work hash (blake3:<64 hex>) nor an existing file")
        item_path: Path | None = Path(item)
    elif isinstance(item, os.PathLike):
        item_path = Path(item)
    else:
        item_path = None
    if item_path is not None:
        try:
            data = item_path.read_bytes()
        except OSError as e:
            raise ItemError(index, item, f"cannot read the file: {e.strerror or e}") from None
        digest = blake3.blake3(data).digest()
        if not near:
            found = _signals(data, UNNAMED_MAX_BYTES, item_path) if signals else None
            return Prepared(index, item, digest, signals=found)
        from .fingerprint import MAX_FILE_BYTES, is_image_name

        named = is_image_name(item_path.name)
        # Read whole as the CLI reads it: images up to the fingerprinting
        # limit, other files below 16 MiB.
        found = _signals(data, MAX_FILE_BYTES if named else UNNAMED_MAX_BYTES, item_path) if signals else None
        # As `consentry check`: files named as images are fingerprinted up to
        # 256 MiB; other files are tried when they are small enough to be one.
        if named and len(data) > MAX_FILE_BYTES:
            return Prepared(index, item, digest, (), "not fingerprinted: the file is larger than 256 MiB", found)
        if not named and len(data) > UNNAMED_MAX_BYTES:
            return Prepared(index, item, digest, signals=found)
        codes, note = _codes(data, named, views)
        return Prepared(index, item, digest, codes, note, found)
    if isinstance(item, (bytes, bytearray, memoryview)):
        data = bytes(item)
        digest = blake3.blake3(data).digest()
        if not near:
            found = _signals(data, UNNAMED_MAX_BYTES) if signals else None
            return Prepared(index, item, digest, signals=found)
        from .fingerprint import MAX_FILE_BYTES

        # Bytes are tried as an image in a near check: read as one.
        found = _signals(data, MAX_FILE_BYTES) if signals else None
        codes, note = _codes(data, None, views)
        return Prepared(index, item, digest, codes, note, found)
    if _is_pil_image(item):
        if not near:
            raise ItemError(index, item, "a decoded image has no file bytes to hash; check it with near=True")
        codes, note = _codes(item, True, views)
        if not codes:
            raise ItemError(index, item, f"the image cannot be fingerprinted: {note}")
        return Prepared(index, item, None, codes)
    raise ItemError(
        index, item,
        f"a {type(item).__name__} is not an item: give a hash string, a path, bytes or a PIL image",
    )

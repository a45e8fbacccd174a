"""Verify Consentry check receipts without trusting the registry.

A check receipt (``spec/receipt.md``) is the registry's signed statement of
what a dataset builder asked (a digest of the hashes, or for near-matching
checks the items), against which checkpoint of the transparency log
(``spec/log.md``), and what it answered (a digest of the answers). This
module is an independent implementation of those two documents:

- :func:`verify_receipt` does everything that needs no network (§5 steps
  1-3 of ``spec/receipt.md``): the envelope and its strict Ed25519
  signature, the exact payload shape, the checkpoint note signed by the
  pinned log key, and, when given, the digests of the hashes (or items)
  asked and of the answers received;
- :func:`verify_log_contains` and :func:`verify_receipt_entries` check what
  the log's public endpoints return against a receipt (§5 step 4): that the
  log still holds the receipt's tree, and that entries hash to its root;
- :func:`verify_inclusion`, :func:`verify_consistency`,
  :func:`open_checkpoint`, :func:`merkle_root` and :func:`leaf_hash` are
  the RFC 9162 and C2SP building blocks, usable on their own.

Nothing here speaks HTTP: fetch the checkpoint, proofs and entries however
you like, then hand them over. Every failure raises :class:`ReceiptError`,
which names the step that failed and why.

Recomputing the answers themselves from the log's entries (§3, §4.3 and
§5 step 5), and auditing those entries (``spec/log.md`` §7), is not done
here: it needs the full statement and key-event semantics.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from types import EllipsisType
from typing import Any

import blake3

from .dsse import DsseError, check_public_key, load_json, verify, verify_strict
from .errors import ConsentryError

__all__ = [
    "RECEIPT_PAYLOAD_TYPE",
    "ReceiptError",
    "VerifierKey",
    "Checkpoint",
    "StatusCounts",
    "Matching",
    "MatchCounts",
    "Receipt",
    "verify_receipt",
    "parse_verifier_key",
    "open_checkpoint",
    "leaf_hash",
    "merkle_root",
    "verify_inclusion",
    "verify_consistency",
    "verify_log_contains",
    "verify_receipt_entries",
    "hashes_digest",
    "items_digest",
    "answers_digest",
    "near_answers_digest",
]

RECEIPT_PAYLOAD_TYPE = "application/vnd.consentry.check-receipt.v1+json"
"""The DSSE payload type of every check receipt, version 1 or 2."""

_PURPOSES = ("train-ai", "train-genai", "ai-use", "search", "tdm")
_STATUS_BYTES = {"allowed": b"a", "disallowed": b"d", "unknown": b"u"}
_MATCH_BYTES = {"exact": b"e", "near": b"n", None: b"-"}
_ISCC_IMAGE = "iscc-image-v0"
# spec/receipt.md §4.3: near answers keep the 16 nearest works.
_MAX_MATCHED_WORKS = 16
_U64_MAX = 2**64 - 1
_EMPTY_ROOT = hashlib.sha256(b"").digest()

# Every pattern is ASCII-only on purpose: Python's \d would accept other
# Unicode digits.
_HEX64 = re.compile(r"[0-9a-f]{64}")
_BUILDER = re.compile(r"b_[0-9a-f]{32}")
_CONTENT_HASH = re.compile(r"(?:blake3:|1e20)([0-9a-f]{64})")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")
_TIMESTAMP = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?Z")
# spec/statement.md §5.7: the latest instant whose Unix nanoseconds fit an i64.
_LATEST_NS = 2**63 - 1
_ISCC_BASE32 = re.compile(r"ISCC:([A-Z2-7]+)")
_EM_DASH_SPACE = "\u2014 "


class ReceiptError(ConsentryError, ValueError):
    """A receipt, checkpoint, proof, hash list or answer list that does not verify.

    ``step`` names what failed, ``reason`` says how. Steps:
    ``verifier-key`` (the pinned key text), ``envelope`` (DSSE shape,
    base64, payload type), ``signature`` (the registry's signature),
    ``payload`` (JSON rules and exact shape), ``checkpoint`` (the signed
    note), ``as-of`` (the expected instant), ``hashes`` (the list asked),
    ``answers`` (the answers received), ``inclusion``, ``consistency``
    (Merkle proofs) and ``log`` (what the log's endpoints returned).
    """

    def __init__(self, step: str, reason: str) -> None:
        self.step = step
        self.reason = reason
        super().__init__(f"{step}: {reason}")


@dataclass(frozen=True)
class VerifierKey:
    """A log's verifier key (``spec/log.md`` §4.1), parsed and checked.

    ``name`` is the log's origin, ``key_id`` the 4-byte C2SP key id and
    ``public_key`` the registry's 32-byte Ed25519 key, which signs both the
    checkpoints and the check receipts.
    """

    name: str
    key_id: bytes
    public_key: bytes


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint whose signed note verified: the log ``origin``, the tree
    ``size`` and 32-byte ``root``, and the ``note`` text it came from."""

    origin: str
    size: int
    root: bytes
    note: str = field(repr=False)


@dataclass(frozen=True)
class StatusCounts:
    """How many answers have each status; they sum to the number of hashes."""

    allowed: int
    disallowed: int
    unknown: int


@dataclass(frozen=True)
class Matching:
    """The near-matching rule a version 2 receipt records (§4.3): codes are
    near when their first ``bits`` bits differ in at most ``max_distance``."""

    algorithm: str
    bits: int
    max_distance: int


@dataclass(frozen=True)
class MatchCounts:
    """How many items of a version 2 check matched exactly and nearly."""

    exact: int
    near: int


@dataclass(frozen=True)
class Receipt:
    """A check receipt whose signature, shape and checkpoint verified.

    The fields are the payload's members (``spec/receipt.md`` §2):
    timestamps as written (``as_of`` is ``None`` when the question was
    about the checkpoint's state), ``hash_count`` the number of hashes or
    items asked, the two digests as hex. ``matching`` and ``matched`` are
    set for version 2 (near-matching) receipts only. ``payload`` is the
    exact signed payload bytes.
    """

    version: int
    log: str
    builder: str
    purpose: str
    as_of: str | None
    issued_at: str
    checkpoint: Checkpoint
    hash_count: int
    hashes_blake3: str
    answers_blake3: str
    counts: StatusCounts
    matching: Matching | None
    matched: MatchCounts | None
    payload: bytes = field(repr=False)


@dataclass(frozen=True)
class _Item:
    """What was asked about one work: its hash and the bodies of its ISCC codes."""

    hash: bytes | None
    codes: tuple[bytes, ...]


@dataclass(frozen=True)
class _Answer:
    """One answer as the digests see it (§4.2, §4.3)."""

    hash: bytes | None
    status: str
    statements: tuple[bytes, ...]
    match: str | None
    matched: tuple[tuple[bytes, int], ...]


# --------------------------------------------------------------- primitives


def _standard_base64(text: Any, what: str, step: str) -> bytes:
    """Decode standard, padded, canonical base64 (``spec/log.md`` §1), the
    only spelling the log formats use: every value has one spelling, so
    comparing texts compares values."""
    if not isinstance(text, str):
        raise ReceiptError(step, f"{what} is not a string")
    try:
        decoded = base64.b64decode(text, validate=True)
    except ValueError:
        raise ReceiptError(step, f"{what} is not standard padded base64") from None
    if base64.b64encode(decoded).decode("ascii") != text:
        raise ReceiptError(step, f"{what} is not canonical standard padded base64")
    return decoded


def _hash32(value: Any, what: str, step: str) -> bytes:
    """A 32-byte hash given as bytes or as 64 lowercase hex digits (the
    log endpoints' JSON writes hashes in hex)."""
    if isinstance(value, (bytes, bytearray)):
        if len(value) != 32:
            raise ReceiptError(step, f"{what} is {len(value)} bytes, not 32")
        return bytes(value)
    if isinstance(value, str) and _HEX64.fullmatch(value):
        return bytes.fromhex(value)
    raise ReceiptError(step, f"{what} is neither 32 bytes nor 64 lowercase hex digits")


def _content_hash(value: Any, what: str, step: str) -> bytes:
    """A work's 32 BLAKE3 bytes, given as bytes, ``blake3:<hex>`` or the
    ISCC datahash form ``1e20<hex>`` (spec/receipt.md §1)."""
    if isinstance(value, (bytes, bytearray)):
        if len(value) != 32:
            raise ReceiptError(step, f"{what} is {len(value)} bytes, not 32")
        return bytes(value)
    if isinstance(value, str) and (match := _CONTENT_HASH.fullmatch(value)):
        return bytes.fromhex(match.group(1))
    raise ReceiptError(step, f"{what} is not a hash ('blake3:' or '1e20' and 64 lowercase hex digits)")


def _timestamp_ns(text: Any, what: str, step: str) -> int:
    """Unix nanoseconds of a timestamp in the profile of spec/statement.md §5.7.

    RFC 3339 with upper-case ``T`` and ``Z``, up to 9 fraction digits, a
    real calendar date, no leap second, between 1970 and
    2262-04-11T23:47:16.854775807Z.
    """
    match = _TIMESTAMP.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ReceiptError(step, f"{what} {text!r} is not an RFC 3339 UTC timestamp")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = match.group(7) or ""
    if not 1970 <= year <= 2262 or not 1 <= month <= 12:
        raise ReceiptError(step, f"{what} {text!r} is out of range")
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise ReceiptError(step, f"{what} {text!r} is not a calendar date")
    if hour > 23 or minute > 59 or second > 59:
        raise ReceiptError(step, f"{what} {text!r} is not a time of day")
    seconds = calendar.timegm((year, month, day, hour, minute, second))
    nanos = seconds * 1_000_000_000 + int(fraction.ljust(9, "0"))
    if nanos > _LATEST_NS:
        raise ReceiptError(step, f"{what} {text!r} is after 2262-04-11T23:47:16.854775807Z")
    return nanos


def _iscc_image_body(value: Any, what: str, step: str) -> bytes:
    """The body (digest without its 2-byte header) of an ISCC Image-Code in
    canonical text form: ``ISCC:`` and upper-case unpadded base32 of a
    Content-Code, SubType Image, version 0, of 64 to 256 bits
    (``docs/matching.md``)."""
    match = _ISCC_BASE32.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ReceiptError(step, f"{what} {value!r} is not 'ISCC:' and upper-case base32")
    text = match.group(1)
    try:
        code = base64.b32decode(text + "=" * (-len(text) % 8))
    except ValueError:
        raise ReceiptError(step, f"{what} {value!r} is not valid base32") from None
    if base64.b32encode(code).decode("ascii").rstrip("=") != text:
        raise ReceiptError(step, f"{what} {value!r} is not canonical base32")
    # Header nibbles: main type 2 (Content), subtype 1 (Image), version 0,
    # then the length nibble n for a body of (n + 1) * 32 bits.
    if len(code) < 2 or code[0] != 0x21 or code[1] >> 4 != 0:
        raise ReceiptError(step, f"{what} {value!r} is not an ISCC Image-Code v0")
    body_bits = ((code[1] & 0x0F) + 1) * 32
    body = code[2:]
    if not 64 <= body_bits <= 256 or len(body) * 8 != body_bits:
        raise ReceiptError(step, f"{what} {value!r} does not have a body of 64 to 256 bits as its header says")
    return body


# ------------------------------------------------------------- JSON shapes


def _members(obj: Any, what: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> Mapping[str, Any]:
    """Require a JSON object with all of ``required``, possibly some of
    ``optional``, and nothing else (spec/receipt.md §2: exact member sets)."""
    if not isinstance(obj, dict):
        raise ReceiptError("payload", f"{what} is not a JSON object")
    for name in obj:
        if name not in required and name not in optional:
            raise ReceiptError("payload", f"{what} has an unknown member {name!r}")
    for name in required:
        if name not in obj:
            raise ReceiptError("payload", f"{what} lacks the member {name!r}")
    return obj


def _integer(value: Any, what: str, step: str, maximum: int = _U64_MAX) -> int:
    """A JSON integer written without fraction or exponent, 0 to ``maximum``.

    ``type(...) is int`` leaves out ``true``/``false`` and the floats the
    strict parser keeps for ``1.0``, ``1e0`` and ``-0``.
    """
    if type(value) is not int:
        raise ReceiptError(step, f"{what} is {value!r}, not an integer without fraction or exponent")
    if not 0 <= value <= maximum:
        raise ReceiptError(step, f"{what} is {value}, outside 0 to {maximum}")
    return value


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ReceiptError("payload", f"{what} is not a string")
    return value


def _hex_digest(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise ReceiptError("payload", f"{what} is not 64 lowercase hex digits")
    return value


# ------------------------------------------------------ signed checkpoints


def parse_verifier_key(text: str) -> VerifierKey:
    """Parse a log verifier key ``<origin>+<hex key id>+<base64(0x01 ‖ key)>``.

    As ``spec/log.md`` §4.1 says: split at the first two ``+`` (the base64
    may contain ``+``), require the key id to be the first 4 bytes of
    ``SHA-256(origin ‖ 0x0A ‖ 0x01 ‖ key)``, and the key an accepted
    Ed25519 key (canonical, not of small order). Raises
    :class:`ReceiptError` (step ``verifier-key``).
    """
    step = "verifier-key"
    if not isinstance(text, str):
        raise ReceiptError(step, "the verifier key is not a string")
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise ReceiptError(step, "the verifier key is not '<origin>+<key id>+<key>'")
    name, key_id_hex, key_text = parts
    if not name or any(char.isspace() for char in name):
        raise ReceiptError(step, f"the verifier key's name {name!r} is empty or contains spaces")
    if not _KEY_ID_HEX.fullmatch(key_id_hex):
        raise ReceiptError(step, f"the verifier key's id {key_id_hex!r} is not 8 lowercase hex digits")
    material = _standard_base64(key_text, "the verifier key's key", step)
    if len(material) != 33 or material[0] != 0x01:
        raise ReceiptError(step, "the verifier key's key is not 0x01 and a 32-byte Ed25519 key")
    public_key = material[1:]
    try:
        check_public_key(public_key)
    except DsseError as exc:
        raise ReceiptError(step, exc.reason) from None
    key_id = bytes.fromhex(key_id_hex)
    if hashlib.sha256(name.encode("utf-8") + b"\n\x01" + public_key).digest()[:4] != key_id:
        raise ReceiptError(step, "the verifier key's id does not match its name and key")
    return VerifierKey(name, key_id, public_key)


def _verifier_key(verifier_key: str | VerifierKey) -> VerifierKey:
    return verifier_key if isinstance(verifier_key, VerifierKey) else parse_verifier_key(verifier_key)


def open_checkpoint(note: str, verifier_key: str | VerifierKey) -> Checkpoint:
    """Verify a signed checkpoint note and return its checkpoint.

    The note (``spec/log.md`` §4.1, C2SP ``signed-note``) is its text up to
    the last blank line, then signature lines ``— <name> <base64(key id ‖
    signature)>``. The note is accepted only when a line with the verifier
    key's name and id holds a strict Ed25519 signature of the text; a line
    with that name and id that does not verify rejects it, and lines of
    other keys are ignored. The text must be exactly the three checkpoint
    lines: origin (the key's name), size in decimal without leading zeros,
    and root in base64. Raises :class:`ReceiptError` (step ``checkpoint``).
    """
    step = "checkpoint"
    key = _verifier_key(verifier_key)
    if not isinstance(note, str):
        raise ReceiptError(step, "the note is not a string")
    split = note.rfind("\n\n")
    if split < 0:
        raise ReceiptError(step, "the note has no blank line before its signatures")
    text, signature_block = note[: split + 1], note[split + 2 :]
    if not signature_block.endswith("\n"):
        raise ReceiptError(step, "the note's signature lines do not end with a newline")
    verified = False
    for line in signature_block[:-1].split("\n"):
        if not line.startswith(_EM_DASH_SPACE):
            raise ReceiptError(step, f"note line {line!r} is not a signature line")
        parts = line[len(_EM_DASH_SPACE) :].split(" ")
        if len(parts) != 2 or not parts[0]:
            raise ReceiptError(step, f"note signature line {line!r} is not '— <name> <signature>'")
        name, signature_text = parts
        signature = _standard_base64(signature_text, "a note signature", step)
        if len(signature) < 5:
            raise ReceiptError(step, "a note signature is shorter than a key id and a signature")
        if name != key.name or signature[:4] != key.key_id:
            continue
        try:
            verify_strict(key.public_key, text.encode("utf-8"), signature[4:])
        except DsseError as exc:
            raise ReceiptError(step, f"the note's signature by {key.name} does not verify: {exc.reason}") from None
        verified = True
    if not verified:
        raise ReceiptError(step, f"the note has no signature by the key {key.name}+{key.key_id.hex()}")
    lines = text.split("\n")
    if len(lines) != 4:
        raise ReceiptError(step, f"the checkpoint has {len(lines) - 1} lines, not 3")
    origin, size_text, root_text, _ = lines
    if origin != key.name:
        raise ReceiptError(step, f"the checkpoint's origin {origin!r} is not the key's name {key.name!r}")
    if not _DECIMAL.fullmatch(size_text) or int(size_text) > _U64_MAX:
        raise ReceiptError(step, f"the checkpoint's size {size_text!r} is not a decimal u64 without leading zeros")
    root = _standard_base64(root_text, "the checkpoint's root", step)
    if len(root) != 32:
        raise ReceiptError(step, f"the checkpoint's root is {len(root)} bytes, not 32")
    return Checkpoint(origin, int(size_text), root, note)


# --------------------------------------------------------- the Merkle tree


def leaf_hash(entry: bytes) -> bytes:
    """``SHA-256(0x00 ‖ entry)``, the RFC 9162 leaf hash of a log entry."""
    return hashlib.sha256(b"\x00" + entry).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The RFC 9162 Merkle Tree Hash of leaf hashes, in log order.

    ``SHA-256("")`` for no leaves. Computed in one pass as the right fold
    of the perfect subtrees the size decomposes into (largest first),
    which is the same tree as the recursive definition of
    ``spec/log.md`` §3.1 without its slicing.
    """
    # subtrees[i] = (leaf count, hash) of complete subtrees, sizes strictly
    # decreasing, like the bits of a binary counter.
    subtrees: list[tuple[int, bytes]] = []
    for leaf in leaf_hashes:
        size, node = 1, leaf
        while subtrees and subtrees[-1][0] == size:
            left_size, left = subtrees.pop()
            size, node = left_size + size, _node_hash(left, node)
        subtrees.append((size, node))
    if not subtrees:
        return _EMPTY_ROOT
    root = subtrees[-1][1]
    for _, left in reversed(subtrees[:-1]):
        root = _node_hash(left, root)
    return root


def _proof_hashes(proof: Sequence[bytes | str], step: str) -> list[bytes]:
    if isinstance(proof, (str, bytes)):
        raise ReceiptError(step, "the proof is a single value, not a list of hashes")
    return [_hash32(node, f"proof hash {i}", step) for i, node in enumerate(proof)]


def verify_inclusion(
    index: int,
    tree_size: int,
    leaf: bytes | str,
    proof: Sequence[bytes | str],
    root: bytes | str,
) -> None:
    """Verify an RFC 9162 inclusion proof (``spec/log.md`` §3.2).

    ``leaf`` is the entry's leaf hash (:func:`leaf_hash`), ``proof`` the
    audit path from the leaf's sibling up, ``root`` the root of the tree of
    ``tree_size`` (from a verified checkpoint: the proof alone does not fix
    the size). Hashes are bytes or 64 lowercase hex digits, as
    ``GET /v1/log/proof/inclusion`` returns them. Raises
    :class:`ReceiptError` (step ``inclusion``).
    """
    step = "inclusion"
    path = _proof_hashes(proof, step)
    node = _hash32(leaf, "leaf hash", step)
    expected = _hash32(root, "root", step)
    if not 0 <= index < tree_size:
        raise ReceiptError(step, f"index {index} is not in a tree of size {tree_size}")
    position, last = index, tree_size - 1
    for sibling in path:
        if last == 0:
            raise ReceiptError(step, "the proof is longer than the path to the root")
        if position % 2 == 1 or position == last:
            node = _node_hash(sibling, node)
            if position % 2 == 0:
                # A right-edge node with no sibling at this level: climb
                # until it is a right child (or the root's level).
                while position % 2 == 0 and position != 0:
                    position >>= 1
                    last >>= 1
        else:
            node = _node_hash(node, sibling)
        position >>= 1
        last >>= 1
    if last != 0:
        raise ReceiptError(step, "the proof is shorter than the path to the root")
    if node != expected:
        raise ReceiptError(step, f"the proof of entry {index} does not lead to the root of size {tree_size}")


def verify_consistency(
    old_size: int,
    old_root: bytes | str,
    new_size: int,
    new_root: bytes | str,
    proof: Sequence[bytes | str],
) -> None:
    """Verify an RFC 9162 consistency proof (``spec/log.md`` §3.3).

    Shows that the tree of ``new_size`` with ``new_root`` extends the tree
    of ``old_size`` with ``old_root``, i.e. the log only grew. Equal sizes
    are consistent iff the roots are equal, and the empty tree (whose root
    is ``SHA-256("")``) with every tree; both take an empty proof. Hashes
    are bytes or 64 lowercase hex digits, as
    ``GET /v1/log/proof/consistency`` returns them. Raises
    :class:`ReceiptError` (step ``consistency``).
    """
    step = "consistency"
    path = _proof_hashes(proof, step)
    old = _hash32(old_root, "old root", step)
    new = _hash32(new_root, "new root", step)
    if not 0 <= old_size <= new_size:
        raise ReceiptError(step, f"old size {old_size} is not between 0 and the new size {new_size}")
    if old_size == 0 or old_size == new_size:
        if path:
            raise ReceiptError(step, f"the proof from size {old_size} to {new_size} must be empty")
        if old_size == 0 and old != _EMPTY_ROOT:
            raise ReceiptError(step, "the old root is not the root of the empty tree")
        if old_size == new_size and old != new:
            raise ReceiptError(step, f"two different roots for size {old_size}")
        return
    if not path:
        raise ReceiptError(step, f"the proof from size {old_size} to {new_size} is empty")
    if old_size & (old_size - 1) == 0:
        # The old tree is a complete subtree: its root is the proof's
        # implicit first node.
        path = [old, *path]
    position, last = old_size - 1, new_size - 1
    while position % 2 == 1:
        position >>= 1
        last >>= 1
    old_node = new_node = path[0]
    for sibling in path[1:]:
        if last == 0:
            raise ReceiptError(step, "the proof is longer than the path to the root")
        if position % 2 == 1 or position == last:
            old_node = _node_hash(sibling, old_node)
            new_node = _node_hash(sibling, new_node)
            if position % 2 == 0:
                while position % 2 == 0 and position != 0:
                    position >>= 1
                    last >>= 1
        else:
            new_node = _node_hash(new_node, sibling)
        position >>= 1
        last >>= 1
    if last != 0:
        raise ReceiptError(step, "the proof is shorter than the path to the root")
    if old_node != old:
        raise ReceiptError(step, f"the proof does not lead to the old root of size {old_size}")
    if new_node != new:
        raise ReceiptError(step, f"the proof does not lead to the new root of size {new_size}")


# ------------------------------------------------------------------ digests


def _item(value: Any, index: int, step: str) -> _Item:
    """One element of a hash or item list: a hash (bytes, ``blake3:`` or
    ``1e20`` text), or an object with ``hash`` and/or ``fingerprints``
    (as in a check request's ``items``, or a report line, whose
    ``fingerprints`` are the code texts). Other members are ignored so
    that answers and report lines can serve as the list."""
    what = f"item {index}"
    if not isinstance(value, Mapping):
        return _Item(_content_hash(value, what, step), ())
    raw_hash = value.get("hash")
    item_hash = None if raw_hash is None else _content_hash(raw_hash, f"{what} hash", step)
    fingerprints = value.get("fingerprints", [])
    if not isinstance(fingerprints, list):
        raise ReceiptError(step, f"{what} fingerprints are not a list")
    codes = []
    for position, fingerprint in enumerate(fingerprints):
        code_what = f"{what} fingerprint {position}"
        if isinstance(fingerprint, Mapping):
            if set(fingerprint) != {"algorithm", "value"}:
                raise ReceiptError(step, f"{code_what} is not an object with exactly 'algorithm' and 'value'")
            if fingerprint["algorithm"] != _ISCC_IMAGE:
                raise ReceiptError(step, f"{code_what} algorithm is {fingerprint['algorithm']!r}, not {_ISCC_IMAGE!r}")
            fingerprint = fingerprint["value"]
        codes.append(_iscc_image_body(fingerprint, code_what, step))
    if len(codes) > 255:
        raise ReceiptError(step, f"{what} has {len(codes)} codes, more than an item record can count")
    if item_hash is None and not codes:
        raise ReceiptError(step, f"{what} has neither a hash nor fingerprints")
    return _Item(item_hash, tuple(codes))


def _items(values: Sequence[Any], step: str) -> list[_Item]:
    if isinstance(values, (str, bytes, Mapping)):
        raise ReceiptError(step, "expected a list of hashes or items, not a single value")
    return [_item(value, index, step) for index, value in enumerate(values)]


def _hashes_digest(items: Sequence[_Item]) -> str:
    digest = blake3.blake3()
    for item in items:
        if item.hash is None or item.codes:
            raise ReceiptError("hashes", "a version 1 check asks about hashes only, without fingerprints")
        digest.update(item.hash)
    return digest.hexdigest()


def _items_digest(items: Sequence[_Item]) -> str:
    digest = blake3.blake3()
    for item in items:
        record = bytearray(b"\x00" if item.hash is None else b"\x01" + item.hash)
        record.append(len(item.codes))
        for body in item.codes:
            record.append(len(body))
            record += body
        digest.update(record)
    return digest.hexdigest()


def hashes_digest(hashes: Sequence[bytes | str | Mapping[str, Any]]) -> str:
    """``hashes.blake3`` of a version 1 check (spec/receipt.md §4.1).

    BLAKE3 of the 32-byte hashes in the order asked (repeats included),
    as hex. Elements are hashes (bytes, ``blake3:<hex>`` or ``1e20<hex>``)
    or request items with a ``hash`` and no fingerprints.
    """
    return _hashes_digest(_items(hashes, "hashes"))


def items_digest(items: Sequence[bytes | str | Mapping[str, Any]]) -> str:
    """``hashes.blake3`` of a version 2 (near-matching) check (§4.3).

    BLAKE3 of the item records (hash flag, hash, code count, then each
    code's body length and body), as hex. Elements are request items
    (``hash`` and/or ``fingerprints`` of ``iscc-image-v0`` codes, as
    objects or code texts) or bare hashes.
    """
    return _items_digest(_items(items, "hashes"))


def _statement_ids(value: Any, what: str) -> tuple[bytes, ...]:
    if not isinstance(value, list):
        raise ReceiptError("answers", f"{what} statements are not a list")
    ids = []
    for position, text in enumerate(value):
        if not isinstance(text, str) or not _HEX64.fullmatch(text):
            raise ReceiptError("answers", f"{what} statement {position} is not 64 lowercase hex digits")
        ids.append(bytes.fromhex(text))
    if any(a >= b for a, b in pairwise(ids)):
        raise ReceiptError("answers", f"{what} statements are not in strictly ascending order")
    return tuple(ids)


def _answer(value: Any, index: int, near: bool) -> _Answer:
    """Read one answer as the check endpoints and reports write it.

    ``statements`` may be absent: the API leaves it out for a work no
    statement names. Absent ``match``/``matched`` mean no match. Members
    the digests do not cover are ignored.
    """
    what = f"answer {index}"
    if not isinstance(value, Mapping):
        raise ReceiptError("answers", f"{what} is not an object")
    raw_hash = value.get("hash")
    if raw_hash is None and not near:
        raise ReceiptError("answers", f"{what} has no hash")
    answer_hash = None if raw_hash is None else _content_hash(raw_hash, f"{what} hash", "answers")
    status = value.get("status")
    if status not in _STATUS_BYTES:
        raise ReceiptError("answers", f"{what} status {status!r} is not allowed, disallowed or unknown")
    statements = _statement_ids(value.get("statements", []), what)
    if status != "unknown" and not statements:
        raise ReceiptError(
            "answers", f"{what} is {status} but lists no statements (compact answers cannot be verified)"
        )
    match = value.get("match") if near else None
    if match not in _MATCH_BYTES:
        raise ReceiptError("answers", f"{what} match {match!r} is not exact, near or null")
    matched_values = value.get("matched", []) if near else []
    if not isinstance(matched_values, list):
        raise ReceiptError("answers", f"{what} matched is not a list")
    if len(matched_values) > _MAX_MATCHED_WORKS:
        raise ReceiptError(
            "answers", f"{what} lists {len(matched_values)} matched works, more than {_MAX_MATCHED_WORKS}"
        )
    matched = []
    for position, work in enumerate(matched_values):
        work_what = f"{what} matched work {position}"
        if not isinstance(work, Mapping) or set(work) != {"hash", "distance"}:
            raise ReceiptError("answers", f"{work_what} is not an object with exactly 'hash' and 'distance'")
        matched.append(
            (
                _content_hash(work["hash"], f"{work_what} hash", "answers"),
                _integer(work["distance"], f"{work_what} distance", "answers", maximum=255),
            )
        )
    return _Answer(answer_hash, status, statements, match, tuple(matched))


def _answers(values: Sequence[Any], near: bool) -> list[_Answer]:
    if isinstance(values, (str, bytes, Mapping)):
        raise ReceiptError("answers", "expected a list of answers, not a single value")
    return [_answer(value, index, near) for index, value in enumerate(values)]


def _status_and_statements(answer: _Answer) -> bytes:
    return _STATUS_BYTES[answer.status] + len(answer.statements).to_bytes(4, "big") + b"".join(answer.statements)


def _answers_digest(answers: Sequence[_Answer]) -> str:
    digest = blake3.blake3()
    for answer in answers:
        assert answer.hash is not None  # _answer refuses hashless version 1 answers
        digest.update(answer.hash + _status_and_statements(answer))
    return digest.hexdigest()


def _near_answers_digest(answers: Sequence[_Answer]) -> str:
    digest = blake3.blake3()
    for answer in answers:
        record = bytearray(_MATCH_BYTES[answer.match])
        record.append(len(answer.matched))
        for work_hash, distance in answer.matched:
            record += work_hash
            record.append(distance)
        digest.update(bytes(record) + _status_and_statements(answer))
    return digest.hexdigest()


def answers_digest(answers: Sequence[Mapping[str, Any]]) -> str:
    """``answers.blake3`` of a version 1 check (spec/receipt.md §4.2).

    BLAKE3 of, per answer: its hash, its status byte, the number of
    statements (u32 big-endian) and the 32-byte statement ids, as hex.
    Answers are objects with ``hash``, ``status`` and ``statements`` (hex
    ids, ascending), as the check endpoints return them.
    """
    return _answers_digest(_answers(answers, near=False))


def near_answers_digest(answers: Sequence[Mapping[str, Any]]) -> str:
    """``answers.blake3`` of a version 2 (near-matching) check (§4.3).

    BLAKE3 of, per answer: the match byte, the matched works (hash and
    distance), then status and statements as in version 1, as hex.
    Answers are objects with ``match``, ``matched``, ``status`` and
    ``statements``, as the check endpoints return them.
    """
    return _near_answers_digest(_answers(answers, near=True))


# ---------------------------------------------------------------- receipts


def _open_envelope(envelope: Mapping[str, Any] | str | bytes, key: VerifierKey) -> bytes:
    """The payload bytes, once the envelope and the registry's signature check out."""
    try:
        return verify(envelope, key.public_key, payload_type=RECEIPT_PAYLOAD_TYPE)
    except DsseError as exc:
        step = "signature" if exc.slug in ("invalid-key", "key-mismatch", "bad-signature") else "envelope"
        raise ReceiptError(step, exc.reason) from None


_V1_MEMBERS = ("version", "log", "builder", "purpose", "issued_at", "checkpoint", "hashes", "answers", "counts")
_V2_MEMBERS = (*_V1_MEMBERS, "matching", "matched")


def _parse_payload(payload: bytes, key: VerifierKey) -> Receipt:
    """Check the payload's exact shape and its checkpoint (spec/receipt.md §2, §4.3)."""
    try:
        obj = load_json(payload)
    except DsseError as exc:
        raise ReceiptError("payload", exc.reason) from None
    if not isinstance(obj, dict):
        raise ReceiptError("payload", "the payload is not a JSON object")
    if "version" not in obj:
        raise ReceiptError("payload", "the payload lacks the member 'version'")
    version = _integer(obj["version"], "version", "payload")
    if version not in (1, 2):
        raise ReceiptError("payload", f"version is {version}, not 1 or 2")
    _members(obj, "the payload", _V1_MEMBERS if version == 1 else _V2_MEMBERS, optional=("as_of",))

    log = _string(obj["log"], "log")
    builder = _string(obj["builder"], "builder")
    if not _BUILDER.fullmatch(builder):
        raise ReceiptError("payload", f"builder {builder!r} is not 'b_' and 32 lowercase hex digits")
    purpose = _string(obj["purpose"], "purpose")
    if purpose not in _PURPOSES:
        raise ReceiptError("payload", f"purpose {purpose!r} is not one of {', '.join(_PURPOSES)}")
    as_of = obj.get("as_of")
    if "as_of" in obj:
        _timestamp_ns(as_of, "as_of", "payload")
    issued_at = obj["issued_at"]
    _timestamp_ns(issued_at, "issued_at", "payload")

    checkpoint_obj = _members(obj["checkpoint"], "checkpoint", ("size", "root", "note"))
    size = _integer(checkpoint_obj["size"], "checkpoint.size", "payload")
    root = _standard_base64(checkpoint_obj["root"], "checkpoint.root", "payload")
    if len(root) != 32:
        raise ReceiptError("payload", f"checkpoint.root is {len(root)} bytes, not 32")
    note = _string(checkpoint_obj["note"], "checkpoint.note")

    hashes_obj = _members(obj["hashes"], "hashes", ("count", "blake3"))
    hash_count = _integer(hashes_obj["count"], "hashes.count", "payload")
    hashes_blake3 = _hex_digest(hashes_obj["blake3"], "hashes.blake3")
    answers_blake3 = _hex_digest(_members(obj["answers"], "answers", ("blake3",))["blake3"], "answers.blake3")
    counts_obj = _members(obj["counts"], "counts", ("allowed", "disallowed", "unknown"))
    counts = StatusCounts(
        *(_integer(counts_obj[name], f"counts.{name}", "payload") for name in ("allowed", "disallowed", "unknown"))
    )
    counted = counts.allowed + counts.disallowed + counts.unknown
    if counted != hash_count:
        raise ReceiptError("payload", f"counts sum to {counted}, not hashes.count {hash_count}")

    matching = matched = None
    if version == 2:
        matching_obj = _members(obj["matching"], "matching", ("algorithm", "bits", "max_distance"))
        matching = Matching(
            _string(matching_obj["algorithm"], "matching.algorithm"),
            _integer(matching_obj["bits"], "matching.bits", "payload"),
            # Distances between 64-bit prefixes are 0 to 64.
            _integer(matching_obj["max_distance"], "matching.max_distance", "payload", maximum=64),
        )
        if matching.algorithm != _ISCC_IMAGE:
            raise ReceiptError("payload", f"matching.algorithm is {matching.algorithm!r}, not {_ISCC_IMAGE!r}")
        if matching.bits != 64:
            raise ReceiptError("payload", f"matching.bits is {matching.bits}, not 64")
        matched_obj = _members(obj["matched"], "matched", ("exact", "near"))
        matched = MatchCounts(
            _integer(matched_obj["exact"], "matched.exact", "payload"),
            _integer(matched_obj["near"], "matched.near", "payload"),
        )
        if matched.exact + matched.near > hash_count:
            raise ReceiptError(
                "payload", f"matched counts sum to {matched.exact + matched.near}, more than hashes.count {hash_count}"
            )

    if log != key.name:
        raise ReceiptError("payload", f"log {log!r} is not the verifier key's name {key.name!r}")
    # open_checkpoint requires the note's origin to be the key's name, so
    # it is also the receipt's log.
    checkpoint = open_checkpoint(note, key)
    if checkpoint.size != size:
        raise ReceiptError("checkpoint", f"the note's size {checkpoint.size} is not checkpoint.size {size}")
    if checkpoint.root != root:
        raise ReceiptError("checkpoint", "the note's root is not checkpoint.root")
    return Receipt(
        version=version,
        log=log,
        builder=builder,
        purpose=purpose,
        as_of=as_of,
        issued_at=issued_at,
        checkpoint=checkpoint,
        hash_count=hash_count,
        hashes_blake3=hashes_blake3,
        answers_blake3=answers_blake3,
        counts=counts,
        matching=matching,
        matched=matched,
        payload=payload,
    )


def _check_items(receipt: Receipt, values: Sequence[Any], derived: bool) -> list[_Item]:
    """§5 step 2: the list's count and digest are the receipt's.

    ``derived`` says the list is the answers themselves, which for version 2
    hold the codes asked only in report lines: a failure then says so.
    """
    try:
        items = _items(values, "hashes")
        if len(items) != receipt.hash_count:
            raise ReceiptError("hashes", f"{len(items)} hashes or items given, the receipt counts {receipt.hash_count}")
        digest = _hashes_digest(items) if receipt.version == 1 else _items_digest(items)
        if digest != receipt.hashes_blake3:
            raise ReceiptError("hashes", f"the list's digest is {digest}, the receipt signed {receipt.hashes_blake3}")
    except ReceiptError as exc:
        if not derived:
            raise
        raise ReceiptError(
            "hashes",
            f"{exc.reason} (the list was rebuilt from the answers' hash and fingerprints members;"
            " pass the check's hashes or items as hashes=)",
        ) from None
    return items


def _check_answer_matches(receipt: Receipt, index: int, answer: _Answer, item: _Item) -> None:
    """§4.3 constraints on one near-matching answer, which the digest binds
    so a registry that broke them has signed the proof of it."""
    assert receipt.matching is not None
    what = f"answer {index}"
    if answer.match is None:
        if answer.matched or answer.statements or answer.status != "unknown":
            raise ReceiptError("answers", f"{what} matched nothing but is not unknown without works and statements")
    elif answer.match == "exact":
        if item.hash is None or answer.matched != ((item.hash, 0),):
            raise ReceiptError("answers", f"{what} is an exact match but does not list the item's hash at distance 0")
    else:
        if not item.codes:
            raise ReceiptError("answers", f"{what} is a near match but item {index} has no codes")
        if not answer.matched:
            raise ReceiptError("answers", f"{what} is a near match without matched works")
        threshold = receipt.matching.max_distance
        for _, distance in answer.matched:
            if distance > threshold:
                raise ReceiptError("answers", f"{what} matches a work at distance {distance}, beyond {threshold}")
        order = [(distance, work_hash) for work_hash, distance in answer.matched]
        if any(a >= b for a, b in pairwise(order)):
            raise ReceiptError("answers", f"{what} matched works are not in strictly increasing (distance, hash) order")


def _check_answers(receipt: Receipt, answers: Sequence[_Answer], items: Sequence[_Item]) -> None:
    """§5 step 3: answers to the list in order, their counts and digest."""
    if len(answers) != receipt.hash_count:
        raise ReceiptError("answers", f"{len(answers)} answers given, the receipt counts {receipt.hash_count}")
    for index, (answer, item) in enumerate(zip(answers, items, strict=True)):
        if answer.hash != item.hash:
            raise ReceiptError("answers", f"answer {index} is about another hash than item {index}")
        if receipt.version == 2:
            _check_answer_matches(receipt, index, answer, item)
    counts = StatusCounts(*(sum(a.status == s for a in answers) for s in ("allowed", "disallowed", "unknown")))
    if counts != receipt.counts:
        raise ReceiptError("answers", f"the answers count {counts}, the receipt signed {receipt.counts}")
    if receipt.version == 2:
        matched = MatchCounts(sum(a.match == "exact" for a in answers), sum(a.match == "near" for a in answers))
        if matched != receipt.matched:
            raise ReceiptError("answers", f"the answers count {matched}, the receipt signed {receipt.matched}")
        digest = _near_answers_digest(answers)
    else:
        digest = _answers_digest(answers)
    if digest != receipt.answers_blake3:
        raise ReceiptError("answers", f"the answers' digest is {digest}, the receipt signed {receipt.answers_blake3}")


def verify_receipt(
    envelope: Mapping[str, Any] | str | bytes,
    verifier_key: str | VerifierKey,
    *,
    hashes: Sequence[bytes | str | Mapping[str, Any]] | None = None,
    answers: Sequence[Mapping[str, Any]] | None = None,
    as_of: str | None | EllipsisType = ...,
) -> Receipt:
    """Verify a check receipt offline (``spec/receipt.md`` §5 steps 1-3).

    ``envelope`` is the receipt's DSSE envelope, parsed or as JSON text.
    ``verifier_key`` is the log's verifier key as published at
    ``GET /v1/log`` (``<origin>+<key id>+<key>``); pin it rather than
    fetching it from the registry you are checking.

    Always checked (the receipt is *well-formed*, §2 and §4.3): the
    envelope's object form and base64; its payload type; exactly one
    signature, by the verifier key's Ed25519 key, verified strictly over
    PAE; the payload's JSON rules and exact members and forms; ``log``
    the key's name; the checkpoint note signed by that key, with that
    origin, size and root; the counts summing to ``hashes.count``.

    ``hashes``, the list asked in order: hashes (32 bytes, ``blake3:<hex>``
    or ``1e20<hex>``) or request items; for a version 2 receipt, items with
    their ``hash`` and/or ``fingerprints`` (the codes sent). Its length and
    digest must be the receipt's.

    ``answers``, the answers received in order, as the check endpoints
    return them (``hash``, ``status``, ``statements``; for version 2 also
    ``match`` and ``matched``): answers to the list, with the receipt's
    counts and digest, and for version 2 consistent with §4.3 (an exact
    match lists the item's hash at distance 0, near matches are within the
    threshold, nearest first). Without ``hashes``, the list is taken from
    the answers themselves (for version 2 that needs each answer's
    ``fingerprints``, as ``consentry check --report`` writes them).
    Matching digests show the answers are the ones the registry signed,
    not that they were right: that takes the log (§5 steps 4-5).

    ``as_of``, when given, is the instant the question was about (``None``
    for the checkpoint's state); the receipt's must be the same instant.

    Returns the receipt's fields; raises :class:`ReceiptError` naming the
    first check that failed.
    """
    key = _verifier_key(verifier_key)
    receipt = _parse_payload(_open_envelope(envelope, key), key)
    if as_of is not ...:
        if as_of is None or receipt.as_of is None:
            if as_of != receipt.as_of:
                raise ReceiptError("as-of", f"the receipt's as_of is {receipt.as_of!r}, not {as_of!r}")
        elif _timestamp_ns(as_of, "the expected as_of", "as-of") != _timestamp_ns(receipt.as_of, "as_of", "payload"):
            raise ReceiptError("as-of", f"the receipt's as_of {receipt.as_of} is not {as_of}")
    parsed_answers = None if answers is None else _answers(answers, near=receipt.version == 2)
    if hashes is not None:
        items = _check_items(receipt, hashes, derived=False)
    elif answers is not None:
        items = _check_items(receipt, answers, derived=True)
    if parsed_answers is not None:
        _check_answers(receipt, parsed_answers, items)
    return receipt


# -------------------------------------------------------- the log, online


def verify_log_contains(
    receipt: Receipt,
    latest_note: str,
    consistency_proof: Sequence[bytes | str],
    verifier_key: str | VerifierKey,
) -> Checkpoint:
    """Check that the log still holds a receipt's tree (§5 step 4, first part).

    ``latest_note`` is the log's latest checkpoint (``GET
    /v1/log/checkpoint``) and ``consistency_proof`` the ``path`` of ``GET
    /v1/log/proof/consistency?old_size=N&new_size=M`` for the receipt's
    size N and the latest size M (empty when N is 0 or M). The latest
    checkpoint must verify with the pinned key and be no smaller than the
    receipt's, and the proof must lead from the receipt's root to it: a
    receipt whose checkpoint the log does not contain (another root at
    size N, or a size beyond the log) fails here. Returns the latest
    checkpoint; raises :class:`ReceiptError` (steps ``checkpoint``,
    ``log`` or ``consistency``).
    """
    latest = open_checkpoint(latest_note, verifier_key)
    if latest.origin != receipt.log:
        raise ReceiptError("log", f"the latest checkpoint is of log {latest.origin!r}, not {receipt.log!r}")
    size = receipt.checkpoint.size
    if latest.size < size:
        raise ReceiptError("log", f"the log has {latest.size} entries, fewer than the receipt's {size}")
    verify_consistency(size, receipt.checkpoint.root, latest.size, latest.root, consistency_proof)
    return latest


def verify_receipt_entries(receipt: Receipt, entries: Sequence[bytes]) -> None:
    """Check that log entries 0 to N-1 hash to a receipt's root (§5 step 4, last part).

    ``entries`` are the raw entry bytes (``spec/log.md`` §2), e.g. the
    base64-decoded ``entry`` of ``GET /v1/log/entries``, in log order.
    Auditing them (signatures, key rules, ``spec/log.md`` §7) is a separate
    matter. Raises :class:`ReceiptError` (step ``log``).
    """
    if len(entries) != receipt.checkpoint.size:
        raise ReceiptError("log", f"{len(entries)} entries given, the receipt's tree has {receipt.checkpoint.size}")
    if merkle_root([leaf_hash(entry) for entry in entries]) != receipt.checkpoint.root:
        raise ReceiptError("log", "the entries do not hash to the receipt's root")

"""DSSE envelopes as Consentry signs and verifies them.

Everything here follows ``spec/statement.md``: the envelope's object form
(§3.1), PAE (§3.5), the base64 rules (§3.3), accepted public keys (§2) and
*strict* Ed25519 verification (§4.1), plus the JSON parsing rules every
signed payload obeys (§5.1).

Strictness is the point. ``cryptography`` (OpenSSL) verifies Ed25519 with
the plain RFC 8032 rule, which accepts small-order keys and small-order
``R`` values; with a small-order key a signature can be forged for any
message. :func:`verify_strict` adds the checks the spec requires on top of
it, so a signature verifies here exactly when ``ed25519-dalek``'s
``verify_strict`` (the registry's rule) accepts it.

Errors are :class:`DsseError`, whose ``slug`` is the problem slug the
registry would report for the same fault (``spec/statement.md`` §1).
"""

from __future__ import annotations

import base64
import json
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from .errors import ConsentryError
from .keys import key_id

__all__ = [
    "DsseError",
    "Signature",
    "pae",
    "sign",
    "decode_base64",
    "decode_envelope",
    "parse_key_id",
    "check_public_key",
    "verify_strict",
    "verify",
    "load_json",
]

# Curve25519 constants (RFC 8032 §5.1): the field prime, the group order,
# the Edwards curve constant d and a square root of -1 modulo p.
_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)

# The eight canonical encodings of the points of order 1, 2, 4 and 8
# (spec/statement.md §2, condition 3).
_SMALL_ORDER_ENCODINGS = frozenset(
    bytes.fromhex(h)
    for h in (
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    )
)

_KEY_ID = re.compile(r"ed25519:([0-9a-f]{64})")
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_STANDARD_ONLY = frozenset("+/")
_URL_SAFE_ONLY = frozenset("-_")
_URL_TO_STANDARD = str.maketrans("-_", "+/")

# spec/statement.md §5.1: arrays and objects nest at most 127 levels.
_MAX_JSON_DEPTH = 127
_DOUBLE_MAX = int(sys.float_info.max)


class DsseError(ConsentryError, ValueError):
    """An envelope, key, signature or payload text that the spec refuses.

    ``slug`` names the fault as the registry would (``malformed-json``,
    ``malformed-envelope``, ``wrong-payload-type``, ``bad-base64``,
    ``invalid-key``, ``bad-signature`` or ``invalid-payload``); the message
    says precisely what is wrong.
    """

    def __init__(self, slug: str, reason: str) -> None:
        self.slug = slug
        self.reason = reason
        super().__init__(f"{reason} ({slug})")


@dataclass(frozen=True)
class Signature:
    """One signature of an envelope: the signer's key id, as written, and
    the decoded signature bytes (whose length is not checked yet: a wrong
    length is a verification failure, ``bad-signature``)."""

    keyid: str
    sig: bytes


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE pre-authentication encoding (spec/statement.md §3.5).

    ``"DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload``, lengths
    in bytes, in decimal. This is what a signature covers, which binds the
    payload type to the signature.
    """
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


def sign(payload_type: str, payload: bytes, private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """An envelope (object form) carrying ``payload`` with one signature.

    The signature is Ed25519 over ``pae(payload_type, payload)``; its
    ``keyid`` is ``ed25519:<hex of the public key>``. Base64 is standard and
    padded, as the registry writes it.
    """
    public_key = private_key.public_key().public_bytes_raw()
    signature = private_key.sign(pae(payload_type, payload))
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": key_id(public_key), "sig": base64.b64encode(signature).decode("ascii")}],
    }


def decode_base64(text: str) -> bytes:
    """Decode ``payload`` or ``sig`` text by the rules of spec/statement.md §3.3.

    Standard or URL-safe alphabet (not mixed), padding optional and never
    excessive, no whitespace, and the text must be the canonical encoding of
    its bytes (unused bits of the last character zero), so that each byte
    string has exactly one accepted spelling per alphabet and padding.
    Raises :class:`DsseError` (``bad-base64``).
    """
    data = text.rstrip("=")
    padding = len(text) - len(data)
    for char in data:
        if char not in _ALNUM and char not in _STANDARD_ONLY and char not in _URL_SAFE_ONLY:
            raise DsseError("bad-base64", f"character {char!r} is not base64")
    if _STANDARD_ONLY.intersection(data) and _URL_SAFE_ONLY.intersection(data):
        raise DsseError("bad-base64", "base64 mixes the standard and URL-safe alphabets")
    remainder = len(data) % 4
    if remainder == 1:
        raise DsseError("bad-base64", "base64 length leaves a single dangling character")
    missing = (4 - remainder) % 4
    if padding > missing:
        raise DsseError("bad-base64", "base64 has more '=' padding than its length calls for")
    standard = data.translate(_URL_TO_STANDARD)
    decoded = base64.b64decode(standard + "=" * missing, validate=True)
    if base64.b64encode(decoded).decode("ascii").rstrip("=") != standard:
        raise DsseError("bad-base64", "base64 is not canonical (unused bits of its last character are set)")
    return decoded


def _decodes_canonically(encoding: bytes) -> bool:
    """Whether 32 bytes are the canonical encoding of a curve point.

    RFC 8032 §5.1.3 decoding with both canonicity conditions enforced:
    ``y < p``, and ``x = 0`` never paired with sign bit 1. Implemented here
    because OpenSSL gives no way to ask.
    """
    y = int.from_bytes(encoding, "little") & ((1 << 255) - 1)
    sign_bit = encoding[31] >> 7
    if y >= _P:
        return False
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x_squared = u * pow(v, _P - 2, _P) % _P
    if x_squared == 0:
        return sign_bit == 0
    x = pow(x_squared, (_P + 3) // 8, _P)
    if (x * x - x_squared) % _P != 0:
        x = x * _SQRT_M1 % _P
    return (x * x - x_squared) % _P == 0


def check_public_key(public_key: bytes) -> None:
    """Require an *accepted* public key (spec/statement.md §2, conditions 2 and 3).

    32 bytes, the canonical encoding of a curve point, not of small order.
    Raises :class:`DsseError` (``invalid-key``). A small-order key would let
    anyone forge signatures that verify under it.
    """
    if len(public_key) != 32:
        raise DsseError("invalid-key", f"an Ed25519 public key is 32 bytes, not {len(public_key)}")
    if not _decodes_canonically(public_key):
        raise DsseError("invalid-key", "public key is not the canonical encoding of a curve point")
    if public_key in _SMALL_ORDER_ENCODINGS:
        raise DsseError("invalid-key", "public key is a point of small order")


def parse_key_id(keyid: str) -> bytes:
    """The 32-byte public key of an ``ed25519:<64 lowercase hex>`` key id.

    The key must be accepted (:func:`check_public_key`); raises
    :class:`DsseError` (``invalid-key``) otherwise.
    """
    match = _KEY_ID.fullmatch(keyid)
    if match is None:
        raise DsseError("invalid-key", f"key id {keyid!r} is not 'ed25519:' and 64 lowercase hex digits")
    public_key = bytes.fromhex(match.group(1))
    check_public_key(public_key)
    return public_key


def verify_strict(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Verify an Ed25519 signature by the strict rule of spec/statement.md §4.1.

    On top of OpenSSL's cofactorless check (``S < L`` and ``[S]B = R + [k]A``
    with ``R`` compared byte for byte), refuses keys that are not accepted
    (§2) and a small-order ``R``. Raises :class:`DsseError`: ``invalid-key``
    for the key, ``bad-signature`` for the signature.
    """
    check_public_key(public_key)
    if len(signature) != 64:
        raise DsseError("bad-signature", f"an Ed25519 signature is 64 bytes, not {len(signature)}")
    r_encoding, s_encoding = signature[:32], signature[32:]
    if int.from_bytes(s_encoding, "little") >= _L:
        raise DsseError("bad-signature", "signature scalar S is not reduced modulo L")
    if r_encoding in _SMALL_ORDER_ENCODINGS:
        raise DsseError("bad-signature", "signature point R is of small order")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        raise DsseError("bad-signature", "signature does not verify") from None


def _envelope_object(envelope: Mapping[str, Any] | str | bytes) -> Mapping[str, Any]:
    """The envelope as a mapping, parsing JSON text (duplicates refused)."""
    if isinstance(envelope, (str, bytes)):
        try:
            envelope = load_json(envelope)
        except DsseError as exc:
            raise DsseError("malformed-json", f"envelope is not JSON: {exc.reason}") from None
    if not isinstance(envelope, Mapping):
        raise DsseError("malformed-json", "envelope is not a JSON object")
    return envelope


def _exact_strings(obj: Mapping[str, Any], names: tuple[str, ...], what: str) -> None:
    """Require ``obj`` to have exactly the members ``names``, all strings."""
    for name in obj:
        if name not in names:
            raise DsseError("malformed-json", f"{what} has an unknown member {name!r}")
    for name in names:
        if name not in obj:
            raise DsseError("malformed-json", f"{what} lacks the member {name!r}")
        if not isinstance(obj[name], str):
            raise DsseError("malformed-json", f"{what} member {name!r} is not a string")


def _envelope_shape(envelope: Mapping[str, Any] | str | bytes) -> tuple[str, str, list[tuple[str, str]]]:
    """The envelope's strings, once its object form is checked (spec/statement.md §3.1).

    Returns ``payloadType``, the ``payload`` text and ``(keyid, sig text)``
    pairs, nothing decoded yet, so callers can apply the spec's check order.
    """
    obj = _envelope_object(envelope)
    for name in obj:
        if name not in ("payloadType", "payload", "signatures"):
            raise DsseError("malformed-json", f"envelope has an unknown member {name!r}")
    for name in ("payloadType", "payload"):
        if not isinstance(obj.get(name), str):
            raise DsseError("malformed-json", f"envelope member {name!r} is missing or not a string")
    signatures = obj.get("signatures")
    if not isinstance(signatures, list):
        raise DsseError("malformed-json", "envelope member 'signatures' is missing or not an array")
    pairs = []
    for index, signature in enumerate(signatures):
        what = f"signature {index}"
        if not isinstance(signature, Mapping):
            raise DsseError("malformed-json", f"{what} is not a JSON object")
        _exact_strings(signature, ("keyid", "sig"), what)
        pairs.append((signature["keyid"], signature["sig"]))
    return obj["payloadType"], obj["payload"], pairs


def decode_envelope(envelope: Mapping[str, Any] | str | bytes) -> tuple[str, bytes, list[Signature]]:
    """Decode an envelope in the object form of spec/statement.md §3.1.

    ``envelope`` is the parsed object or its JSON text (text is parsed with
    duplicate members refused). Checks the exact member sets and types
    (``malformed-json``) and decodes ``payload`` and every ``sig`` by the
    base64 rules of §3.3 (``bad-base64``). Verifies nothing: see
    :func:`verify`. Returns ``(payload_type, payload_bytes, signatures)``.
    """
    payload_type, payload_text, pairs = _envelope_shape(envelope)
    payload = decode_base64(payload_text)
    signatures = [Signature(keyid, decode_base64(sig_text)) for keyid, sig_text in pairs]
    return payload_type, payload, signatures


def verify(
    envelope: Mapping[str, Any] | str | bytes,
    public_key: bytes,
    *,
    payload_type: str | None = None,
) -> bytes:
    """Verify a single-signature envelope signed by ``public_key``; return its payload bytes.

    In the order of spec/statement.md §4.2: the object form (§3.1); exactly
    one signature (``malformed-envelope``); when ``payload_type`` is given,
    ``payloadType`` equal to it byte for byte (``wrong-payload-type``); the
    payload's base64; the signature's ``keyid`` an accepted key
    (``invalid-key``) and the one of ``public_key`` (``key-mismatch``); the
    signature's base64; and strict verification over PAE (§4.1,
    ``bad-signature``). The payload is returned exactly as signed, never
    re-serialised. Envelopes with two signatures (key events) are checked
    with :func:`decode_envelope` and :func:`verify_strict` per signer.
    """
    envelope_type, payload_text, pairs = _envelope_shape(envelope)
    if len(pairs) != 1:
        raise DsseError("malformed-envelope", f"envelope has {len(pairs)} signatures, not exactly one")
    if payload_type is not None and envelope_type != payload_type:
        raise DsseError("wrong-payload-type", f"payload type is {envelope_type!r}, not {payload_type!r}")
    payload = decode_base64(payload_text)
    keyid, sig_text = pairs[0]
    signer = parse_key_id(keyid)
    if signer != public_key:
        raise DsseError("key-mismatch", f"signature keyid {keyid} is not {key_id(public_key)}")
    verify_strict(signer, pae(envelope_type, payload), decode_base64(sig_text))
    return payload


def _refuse_constant(name: str) -> Any:
    raise DsseError("invalid-payload", f"JSON has the non-standard constant {name}")


def _parse_float(text: str) -> float:
    """A JSON number with a fraction or exponent, kept as a float so that
    typed checks refuse it where an integer is due; out-of-range
    magnitudes (``1e400``) are refused outright (spec/statement.md §5.1)."""
    value = float(text)
    if math.isinf(value):
        raise DsseError("invalid-payload", f"JSON number {text} exceeds the double range")
    return value


def _parse_int(text: str) -> int | float:
    """A JSON number without fraction or exponent. ``-0`` is not an integer
    (spec/statement.md §5.1): it becomes the float ``-0.0`` so that typed
    checks refuse it."""
    if text == "-0":
        return -0.0
    # Python refuses to parse integers of more than 4300 digits; anything
    # past 309 digits is beyond the double range anyway.
    digits = text.lstrip("-")
    if len(digits) > 309 or int(digits) > _DOUBLE_MAX:
        raise DsseError("invalid-payload", "JSON integer exceeds the double range")
    return int(text)


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for name, value in pairs:
        if name in obj:
            raise DsseError("invalid-payload", f"JSON object has the member {name!r} twice")
        obj[name] = value
    return obj


def _check_tree(value: Any, depth: int) -> None:
    """Refuse nesting beyond 127 levels and strings holding an unpaired
    surrogate, which Python's parser lets through from ``\\u`` escapes."""
    if depth > _MAX_JSON_DEPTH:
        raise DsseError("invalid-payload", f"JSON nests deeper than {_MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        if any("\ud800" <= char <= "\udfff" for char in value):
            raise DsseError("invalid-payload", "JSON string has an unpaired surrogate escape")
    elif isinstance(value, list):
        for element in value:
            _check_tree(element, depth + 1)
    elif isinstance(value, dict):
        for name, element in value.items():
            _check_tree(name, depth)
            _check_tree(element, depth + 1)


def load_json(text: str | bytes) -> Any:
    """Parse one JSON text by the rules of spec/statement.md §5.1.

    Bytes must be UTF-8 without a byte order mark. Duplicate members,
    ``NaN``/``Infinity``, numbers beyond the double range, unpaired
    surrogate escapes, unescaped control characters and nesting beyond 127
    levels are refused with :class:`DsseError` (``invalid-payload``).
    Numbers with a fraction or exponent, and ``-0``, come back as floats,
    so a check for ``type(v) is int`` refuses them where an integer is due.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DsseError("invalid-payload", f"JSON is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if text.startswith("\ufeff"):
        raise DsseError("invalid-payload", "JSON starts with a byte order mark")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_refuse_duplicates,
            parse_constant=_refuse_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise DsseError("invalid-payload", f"JSON does not parse: {exc.msg} at {where}") from None
    except RecursionError:
        raise DsseError("invalid-payload", f"JSON nests deeper than {_MAX_JSON_DEPTH} levels") from None
    _check_tree(value, 1)
    return value

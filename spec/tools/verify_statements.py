#!/usr/bin/env python3
"""Independent verifier for Consentry statement test vectors.

Written from spec/statement.md alone (section numbers below refer to it).
Reads spec/vectors/statements.json (or the path given as the first
argument), decides each vector by the envelope checks of §4.2 steps 1-6
(which need no registry state), and compares the decision with the vector's
`valid` flag and, for invalid vectors, with the problem slug at the end of
its `reason`. Payloads are held to the canonical form of §5.9: records are
objects, enumerated values strings, optional members omitted (never null),
`terms`/`fingerprints` never empty, hashes `blake3:` only, `free` terms bare;
only a Timestamp's fraction may be zero-padded. Self-tests of these payload
rules run before the vectors.

Requires Python 3.11+ and the `cryptography` package (for the Ed25519
equation check of §4.1 step 5); everything else is implemented here.

Usage: python3 spec/tools/verify_statements.py [vectors.json]
Exit status: 0 when every vector agrees, 1 otherwise.
"""

from __future__ import annotations

import base64
import calendar
import datetime
import json
import math
import re
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

STATEMENT_TYPE = "application/vnd.consentry.statement.v1+json"


class Rejected(Exception):
    """A document refused with a problem slug (§1)."""

    def __init__(self, slug: str, detail: str):
        super().__init__(f"{slug}: {detail}")
        self.slug = slug
        self.detail = detail


class Invalid(ValueError):
    """The payload is not a valid statement (§5): `invalid-payload`."""


# ---------------------------------------------------------------------------
# §2 Keys and key ids

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

SMALL_ORDER = frozenset(
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

KEY_ID_RE = re.compile(r"ed25519:([0-9a-f]{64})")


def decode_point(enc: bytes) -> tuple[int, int] | None:
    """RFC 8032 §5.1.3 point decoding with both canonicity checks enforced."""
    if len(enc) != 32:
        return None
    n = int.from_bytes(enc, "little")
    sign = n >> 255
    y = n & ((1 << 255) - 1)
    if y >= P:
        return None  # non-canonical y
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x = (u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P)) % P
    vxx = (v * x * x) % P
    if vxx == u:
        pass
    elif vxx == (-u) % P:
        x = (x * SQRT_M1) % P
    else:
        return None  # not on the curve
    if x == 0 and sign == 1:
        return None  # "negative zero"
    if x & 1 != sign:
        x = P - x
    return x, y


def encode_point(pt: tuple[int, int]) -> bytes:
    x, y = pt
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def point_add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, P - 2, P) % P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P
    return x3, y3


def accept_key(key_id: object) -> bytes:
    """§2: returns A, or raises Rejected('invalid-key')."""
    m = KEY_ID_RE.fullmatch(key_id) if isinstance(key_id, str) else None
    if m is None:
        raise Rejected("invalid-key", "a key id is `ed25519:` followed by 64 lowercase hex digits")
    a = bytes.fromhex(m.group(1))
    if decode_point(a) is None:
        raise Rejected("invalid-key", "not the canonical encoding of a curve point")
    if a in SMALL_ORDER:
        raise Rejected("invalid-key", "the key has small order")
    return a


# ---------------------------------------------------------------------------
# §3.3 Base64, §3.5 PAE

B64_STANDARD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
B64_URL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
URL_TO_STANDARD = str.maketrans("-_", "+/")


def decode_base64(text: object) -> bytes | None:
    """§3.3: standard or URL-safe alphabet, padding optional, canonical bits."""
    if not isinstance(text, str):
        return None
    data = text.rstrip("=")
    pads = len(text) - len(data)
    n = len(data)
    if n % 4 == 1 or pads > (4 - n % 4) % 4:
        return None
    for alphabet in (B64_STANDARD, B64_URL_SAFE):
        if all(c in alphabet for c in data):
            std = data.translate(URL_TO_STANDARD)
            raw = base64.b64decode(std + "=" * ((4 - n % 4) % 4), validate=True)
            if base64.b64encode(raw).decode("ascii").rstrip("=") != std:
                return None  # non-zero unused bits in the last character
            return raw
    return None


def pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


# ---------------------------------------------------------------------------
# §4.1 Strict Ed25519 verification


def verify_strict(a: bytes, message: bytes, sig: bytes) -> str | None:
    """Returns None when the signature is valid, else why not."""
    r, s = sig[:32], int.from_bytes(sig[32:], "little")
    if s >= L:  # step 1
        return "S is not a canonical scalar (S >= L)"
    if r in SMALL_ORDER:  # step 2 (a non-canonical R fails step 5)
        return "R has small order"
    if a in SMALL_ORDER:  # step 3 (also guaranteed by accept_key)
        return "the key has small order"
    try:  # steps 4 and 5: cofactorless, R compared as bytes
        Ed25519PublicKey.from_public_bytes(a).verify(sig, message)
    except InvalidSignature:
        return "[S]B != R + [k]A"
    return None


# ---------------------------------------------------------------------------
# §5.1 JSON parsing rules

MAX_DEPTH = 127


class Obj:
    """A JSON object as its list of (name, value) pairs, duplicates kept."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, object]]):
        self.pairs = pairs


def _finite(text: str) -> float:
    f = float(text)
    if math.isinf(f):
        raise Invalid(f"number {text[:20]}… is out of range")
    return f


def _parse_int(text: str) -> int | float:
    # Integers are integers only without fraction/exponent, not "-0", and
    # within [-2^63, 2^64); anything else is a (finite) float.
    if text == "-0":
        return -0.0
    if len(text) > 21:
        return _finite(text)
    n = int(text)
    return n if -(2**63) <= n < 2**64 else _finite(text)


def _parse_constant(text: str) -> float:
    raise Invalid(f"{text} is not JSON")


def parse_json(data: bytes) -> object:
    try:
        text = data.decode("utf-8")
        value = json.loads(
            text,
            object_pairs_hook=Obj,
            parse_int=_parse_int,
            parse_float=_finite,
            parse_constant=_parse_constant,
        )
    except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError, Invalid
        raise Invalid(f"payload is not JSON: {e}") from None
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _no_surrogates(item)
        elif isinstance(item, (list, Obj)):
            depth += 1
            if depth > MAX_DEPTH:
                raise Invalid("payload nests deeper than 127 levels")
            if isinstance(item, Obj):
                for k, v in item.pairs:
                    _no_surrogates(k)
                    stack.append((v, depth))
            else:
                stack.extend((v, depth) for v in item)
    return value


def _no_surrogates(s: str) -> None:
    if any("\ud800" <= c <= "\udfff" for c in s):
        raise Invalid("a string contains an unpaired surrogate escape")


# Typed readers. Each takes a parsed JSON value and returns a Python value or
# raises Invalid.

REQUIRED = object()
OMITTED = object()  # an optional member that is absent (§5.9: never null)


def string(v: object) -> str:
    if type(v) is not str:
        raise Invalid(f"expected a string, got {_kind(v)}")
    return v


def uint(bits: int):
    def read(v: object) -> int:
        if type(v) is not int or not 0 <= v < 2**bits:
            raise Invalid(f"expected an integer 0 <= n < 2^{bits}, got {_kind(v)}")
        return v

    return read


def array(reader, non_empty: bool = False):
    """An array; `non_empty` for the list members that are omitted when empty
    (`terms`, `fingerprints`: `[]` is not canonical, §5.9 item 4)."""

    def read(v: object) -> list:
        if not isinstance(v, list):
            raise Invalid(f"expected an array, got {_kind(v)}")
        if non_empty and not v:
            raise Invalid("an empty list is omitted, not written as [] (canonical form)")
        return [reader(x) for x in v]

    return read


def record(name: str, fields: list[tuple[str, object, object]]):
    """An object with fixed members (§5.1). Only the object form is read: an
    array is not canonical (§5.9 item 1). A member whose default is not
    REQUIRED is optional: it is either present with a value its reader accepts
    (null is not one, §5.9 item 3) or omitted, and then reads as the default."""
    by_name = {f[0]: f for f in fields}

    def read(v: object) -> dict:
        if not isinstance(v, Obj):
            raise Invalid(f"{name}: expected an object, got {_kind(v)} (records are objects)")
        out: dict = {}
        for key, val in v.pairs:
            if key not in by_name:
                raise Invalid(f"{name}: unknown field `{key}`")
            if key in out:
                raise Invalid(f"{name}: duplicate field `{key}`")
            if val is None:
                raise Invalid(f"{name}: `{key}` is null (omit an absent member)")
            out[key] = by_name[key][1](val)
        for fname, _, default in fields:
            if fname not in out:
                if default is REQUIRED:
                    raise Invalid(f"{name}: missing field `{fname}`")
                out[fname] = list(default) if isinstance(default, list) else default
        return out

    return read


def one_of(names: tuple[str, ...]):
    """An enumerated value: one of `names`, as a JSON string only (§5.9 item 2)."""

    def read(v: object) -> str:
        if type(v) is str and v in names:
            return v
        raise Invalid(f"expected the string {' or '.join(names)}, got {_kind(v)}")

    return read


def _kind(v: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", Obj: "an object", type(None): "null"}.get(type(v), "?")


# ---------------------------------------------------------------------------
# §5.7 Timestamps, §5.8 content hashes

TIMESTAMP_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?Z"
)
MAX_NANOS = 2**63 - 1
EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


def timestamp(v: object) -> int:
    """§5.7: `YYYY-MM-DDTHH:MM:SS[.F]Z`, 1-9 fraction digits, no leap second,
    1970..2262. Returns Unix nanoseconds (the instant; §5.9 compares
    timestamps as instants, so a zero-padded fraction is accepted)."""
    s = string(v)
    m = TIMESTAMP_RE.fullmatch(s)
    if m is None:
        raise Invalid(f"`{s[:80]}` is not YYYY-MM-DDTHH:MM:SS[.F]Z (T and Z upper-case, 1-9 fraction digits)")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction = m.group(7)
    if not 1970 <= year <= 2262:
        raise Invalid(f"`{s}` is outside 1970..2262")
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise Invalid(f"`{s}` is not a calendar date")
    if hour > 23 or minute > 59 or second > 59:
        raise Invalid(f"`{s}` is not a time of day (no leap second)")
    nanos = int((fraction or "0").ljust(9, "0"))
    days = datetime.date(year, month, day).toordinal() - EPOCH_ORDINAL
    total = ((days * 86400 + hour * 3600 + minute * 60 + second) * 10**9) + nanos
    if not 0 <= total <= MAX_NANOS:
        raise Invalid(f"`{s}` is outside 1970-01-01T00:00:00Z..2262-04-11T23:47:16.854775807Z")
    return total


HEX64_RE = re.compile(r"[0-9a-f]{64}")


def content_hash(v: object) -> bytes:
    """§5.8: in payloads only `blake3:<Hex64>` (the ISCC `1e20` form is not
    canonical, §5.9 item 5)."""
    s = string(v)
    if s.startswith("blake3:") and HEX64_RE.fullmatch(s[len("blake3:"):]):
        return bytes.fromhex(s[len("blake3:"):])
    raise Invalid(f"`{s[:80]}` is not blake3:<64 lowercase hex>")


# ---------------------------------------------------------------------------
# §5.2-§5.6 Statement payload

CATEGORIES = ("train-ai", "train-genai", "ai-use", "search", "tdm")
PREFERENCE = one_of(("allowed", "disallowed"))
SHORTHAND = one_of(("opt-in", "opt-out"))
PER_CATEGORY = record("consent", [(c, PREFERENCE, None) for c in CATEGORIES])

MONEY = record("money", [("amount_minor", uint(64), REQUIRED), ("currency", string, REQUIRED)])
TERM_FIELDS = {
    "free": [],
    "attribution": [("credit", string, REQUIRED)],
    "flat-fee": [("amount", MONEY, REQUIRED)],
    "revenue-share": [("minimum", MONEY, None)],
}
TERM_RECORDS = {kind: record(f"`{kind}` term", fields) for kind, fields in TERM_FIELDS.items()}

FINGERPRINT = record("fingerprint", [("algorithm", string, REQUIRED), ("value", string, REQUIRED)])
WORK = record(
    "work",
    [
        ("hash", content_hash, REQUIRED),
        ("media_type", string, None),
        ("title", string, None),
        ("published_at", timestamp, None),
        ("fingerprints", array(FINGERPRINT, non_empty=True), []),
    ],
)


def consent(v: object):
    try:
        return ("shorthand", SHORTHAND(v))
    except Invalid:
        pass
    try:
        return ("per-category", PER_CATEGORY(v))
    except Invalid as e:
        raise Invalid(f"consent is neither \"opt-in\", \"opt-out\" nor a per-category object ({e})") from None


def term(v: object) -> dict:
    """§5.5: an object with a `kind` and that kind's members only (a `free`
    term has none besides `kind`, §5.9 item 6); never an array (item 1)."""
    if not isinstance(v, Obj):
        raise Invalid(f"term: expected an object, got {_kind(v)} (records are objects)")
    tags = [val for key, val in v.pairs if key == "kind"]
    if not tags:
        raise Invalid("term: missing field `kind`")
    if len(tags) > 1:
        raise Invalid("term: duplicate field `kind`")
    kind = _term_kind(tags[0])
    out = TERM_RECORDS[kind](Obj([(k, x) for k, x in v.pairs if k != "kind"]))
    out["kind"] = kind
    return out


def _term_kind(v: object) -> str:
    if type(v) is not str or v not in TERM_FIELDS:
        raise Invalid(f"term kind must be one of {', '.join(TERM_FIELDS)}")
    return v


STATEMENT = record(
    "statement",
    [
        ("version", uint(32), REQUIRED),
        ("key", string, REQUIRED),
        ("works", array(WORK), REQUIRED),
        ("consent", consent, REQUIRED),
        ("terms", array(term, non_empty=True), []),
        ("issued_at", timestamp, REQUIRED),
    ],
)

MEDIA_TYPE_RE = re.compile(r"[A-Za-z0-9!#$&\-^_.+]{1,127}/[A-Za-z0-9!#$&\-^_.+]{1,127}")
WHITE_SPACE = (
    "\u0009\u000a\u000b\u000c\u000d\u0020\u0085\u00a0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB
    BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK
    DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL
    HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD
    KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC
    SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES
    VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
    """.split()
)
MAX_AMOUNT_MINOR = 10**15


def expand_consent(decl) -> dict:
    """§5.4: one value per category (None = unknown), nesting applied."""
    form, value = decl
    if form == "shorthand":
        pref = "allowed" if value == "opt-in" else "disallowed"
        values = {c: pref for c in CATEGORIES}
    else:
        values = dict(value)
        if all(values[c] is None for c in CATEGORIES):
            raise Invalid("consent declares no category")
    parent, child = values["train-ai"], values["train-genai"]
    if parent == "disallowed" and child == "allowed":
        raise Invalid("consent allows train-genai while disallowing train-ai")
    if parent is not None and child is None:
        values["train-genai"] = parent
    return values


def check_money(m: dict) -> None:
    if m["currency"] not in ISO_4217:
        raise Invalid(f"`{m['currency']}` is not an accepted ISO 4217 code")
    if not 1 <= m["amount_minor"] <= MAX_AMOUNT_MINOR:
        raise Invalid("amount_minor must be 1 to 10^15")


def check_terms(terms: list[dict]) -> None:
    seen: list[str] = []
    for t in terms:
        kind = t["kind"]
        if kind in seen:
            raise Invalid(f"terms list `{kind}` more than once")
        seen.append(kind)
        if kind == "attribution":
            if not t["credit"].strip(WHITE_SPACE):
                raise Invalid("attribution needs a non-empty credit line")
            if len(t["credit"]) > 512:
                raise Invalid("credit line longer than 512 characters")
            if "\0" in t["credit"]:
                raise Invalid("credit line contains U+0000")
        elif kind == "flat-fee":
            check_money(t["amount"])
        elif kind == "revenue-share" and t["minimum"] is not None:
            check_money(t["minimum"])
    if "free" in seen and ("flat-fee" in seen or "revenue-share" in seen):
        raise Invalid("`free` cannot be combined with `flat-fee` or `revenue-share`")


def validate_statement(payload: bytes) -> dict:
    """§5: parses and checks a statement payload; raises Invalid."""
    if len(payload) > 60_000:
        raise Invalid("a payload is at most 60000 bytes")
    st = STATEMENT(parse_json(payload))
    if st["version"] != 1:
        raise Invalid(f"version {st['version']} is not 1")
    works = st["works"]
    if not 1 <= len(works) <= 500:
        raise Invalid("a statement names 1 to 500 works")
    hashes = [w["hash"] for w in works]
    if len(set(hashes)) != len(hashes):
        raise Invalid("a work is listed twice")
    for w in works:
        if w["title"] is not None and len(w["title"]) > 512:
            raise Invalid("title longer than 512 characters")
        if w["title"] is not None and "\0" in w["title"]:
            raise Invalid("title contains U+0000")
        if w["media_type"] is not None and not MEDIA_TYPE_RE.fullmatch(w["media_type"]):
            raise Invalid(f"`{w['media_type']}` is not a media type")
        if len(w["fingerprints"]) > 8:
            raise Invalid("more than 8 fingerprints")
        for fp in w["fingerprints"]:
            if not 1 <= len(fp["algorithm"].encode()) <= 64 or not 1 <= len(fp["value"].encode()) <= 1024:
                raise Invalid("fingerprint algorithm must be 1-64 bytes and value 1-1024 bytes")
    values = expand_consent(st["consent"])
    check_terms(st["terms"])
    if st["terms"] and "allowed" not in values.values():
        raise Invalid("terms apply to allowed uses, and this statement allows none")
    st["expanded"] = values
    return st


# ---------------------------------------------------------------------------
# §4.2 Statement envelope, steps 1-6 (no registry state)


def check_envelope(payload_type: str, payload_b64: str, signatures: list[tuple[str, str]]) -> dict:
    """Returns the validated statement or raises Rejected."""
    if len(signatures) != 1:  # 1: before anything else, even the payload type
        raise Rejected("malformed-envelope", f"a statement carries exactly one signature, got {len(signatures)}")
    if payload_type != STATEMENT_TYPE:  # 2
        raise Rejected("wrong-payload-type", f"payloadType `{payload_type[:80]}`")
    payload = decode_base64(payload_b64)  # 3
    if payload is None:
        raise Rejected("bad-base64", "payload is not valid base64")
    message = pae(payload_type, payload)
    keyid, sig_b64 = signatures[0]  # 4
    a = accept_key(keyid)  # 4.1
    sig = decode_base64(sig_b64)  # 4.2
    if sig is None:
        raise Rejected("bad-base64", "signature is not valid base64")
    if len(sig) != 64:  # 4.3
        raise Rejected("bad-signature", f"signature is {len(sig)} bytes, not 64")
    failure = verify_strict(a, message, sig)  # 4.4
    if failure is not None:
        raise Rejected("bad-signature", f"the signature does not verify: {failure}")
    try:  # 5
        statement = validate_statement(payload)
    except Invalid as e:
        raise Rejected("invalid-payload", str(e)) from None
    if statement["key"] != keyid:  # 6
        raise Rejected("key-mismatch", "the payload's key is not the signing key")
    return statement


def check_vector(v: dict) -> tuple[bool, str | None, str]:
    """Returns (accepted, slug, what was found)."""
    keyid = "ed25519:" + v["public_key_hex"]
    try:
        st = check_envelope(v["payload_type"], v["payload_b64"], [(keyid, v["signature_b64"])])
    except Rejected as r:
        return False, r.slug, f"{r.slug}: {r.detail}"
    n = len(st["works"])
    return True, None, f"accepted ({n} work{'s' if n != 1 else ''})"


# ---------------------------------------------------------------------------


def self_test() -> list[str]:
    failures = []
    want = b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    if pae("http://example.com/HelloWorld", b"hello world") != want:
        failures.append("PAE does not reproduce the DSSE specification's example")
    # The small-order list is exactly the eight points P with [8]P = identity.
    for enc in SMALL_ORDER:
        pt = decode_point(enc)
        if pt is None:
            failures.append(f"small-order encoding {enc.hex()} does not decode canonically")
            continue
        for _ in range(3):
            pt = point_add(pt, pt)
        if pt != (0, 1):
            failures.append(f"{enc.hex()} is not of small order")
    if len(SMALL_ORDER) != 8:
        failures.append("the small-order list does not have 8 entries")
    base = decode_point(bytes.fromhex("58" + "66" * 31))
    if base is None or encode_point(base) != bytes.fromhex("58" + "66" * 31):
        failures.append("base point does not round-trip")
    if decode_base64("JLEt") != bytes.fromhex("24b12d") or decode_base64("QR==") is not None:
        failures.append("base64 rules")
    failures += _timestamp_self_test()
    failures += _payload_self_test()
    failures += _envelope_self_test()
    return failures


def _timestamp_self_test() -> list[str]:
    """§5.7: the accepted profile and its edges."""
    failures = []
    good = {
        "1970-01-01T00:00:00Z": 0,
        "2026-01-31T12:00:00.5Z": 1_769_860_800_500_000_000,
        "2026-01-31T12:00:00.500Z": 1_769_860_800_500_000_000,
        "2026-01-31T12:00:00.123456789Z": 1_769_860_800_123_456_789,
        "2024-02-29T23:59:59Z": 1_709_251_199_000_000_000,
        "2262-04-11T23:47:16.854775807Z": 2**63 - 1,
    }
    for text, nanos in good.items():
        try:
            got = timestamp(text)
        except Invalid as e:
            failures.append(f"timestamp {text} refused: {e}")
            continue
        if got != nanos:
            failures.append(f"timestamp {text} read as {got}, expected {nanos}")
    for text in (
        "2026-01-31 12:00:00Z",
        "2026-01-31t12:00:00Z",
        "2026-01-31X12:00:00Z",
        "2026-01-31T12:00:00z",
        "2026-01-31T12:00:00+00:00",
        "2026-01-31T12:00:00.1234567891Z",
        "2026-01-31T12:00:00.Z",
        "2026-01-31T23:59:60Z",
        "2016-12-31T23:59:60Z",
        "2026-01-31T12:00Z",
        "+2026-01-31T12:00:00Z",
        "2025-02-29T00:00:00Z",
        "2026-01-31T24:00:00Z",
        "1969-12-31T23:59:59Z",
        "2262-04-11T23:47:16.854775808Z",
        "2263-01-01T00:00:00Z",
    ):
        try:
            timestamp(text)
        except Invalid:
            continue
        failures.append(f"timestamp {text} accepted")
    return failures


def _payload_self_test() -> list[str]:
    """§5 and §5.9: canonical payloads pass, other spellings of the same
    statement are refused."""
    h = "blake3:" + "ab" * 32
    k = "ed25519:" + "00" * 32
    base = f'"version":1,"key":"{k}","consent":"opt-in","issued_at":"2026-01-01T00:00:00Z"'
    one = f'"works":[{{"hash":"{h}"}}]'
    good = [
        "{" + base + "," + one + "}",
        # member order and whitespace are free; a zero-padded fraction is the same instant
        f'{{ "issued_at" : "2026-01-01T00:00:00.500Z", "works":[{{"hash":"{h}"}}], "consent":"opt-out", "key":"{k}", "version":1 }}',
        "{" + base + "," + one + ',"terms":[{"kind":"free"},{"kind":"attribution","credit":"Ana"}]}',
        "{" + base + "," + one + ',"terms":[{"kind":"revenue-share"}]}',
        "{" + base.replace('"opt-in"', '{"train-ai":"allowed","tdm":"disallowed"}') + "," + one + "}",
        "{" + base + f',"works":[{{"hash":"{h}","title":"","published_at":"2020-01-01T00:00:00.000Z",'
        '"fingerprints":[{"algorithm":"iscc","value":"x"}]}]}',
    ]
    bad = [
        # §5.9 item 1: records as arrays
        f'[1,"{k}",[["{h}"]],"opt-out",[],"2026-01-01T00:00:00Z"]',
        "{" + base + f',"works":[["{h}"]]}}',
        "{" + base + "," + one + ',"terms":[["free"]]}',
        "{" + base + "," + one + ',"terms":[["attribution","Ana"]]}',
        # item 2: enumerations as single-member objects
        "{" + base.replace('"opt-in"', '{"opt-out":null}') + "," + one + "}",
        "{" + base.replace('"opt-in"', '{"train-ai":{"allowed":null}}') + "," + one + "}",
        # item 3: null for an optional member
        "{" + base + f',"works":[{{"hash":"{h}","title":null}}]}}',
        "{" + base + f',"works":[{{"hash":"{h}","published_at":null}}]}}',
        "{" + base.replace('"opt-in"', '{"train-ai":"allowed","tdm":null}') + "," + one + "}",
        "{" + base + "," + one + ',"terms":[{"kind":"revenue-share","minimum":null}]}',
        "{" + base + "," + one + ',"terms":null}',
        # item 4: empty lists
        "{" + base + "," + one + ',"terms":[]}',
        "{" + base + f',"works":[{{"hash":"{h}","fingerprints":[]}}]}}',
        # item 5: the ISCC form of a hash
        "{" + base + f',"works":[{{"hash":"1e20{"ab" * 32}"}}]}}',
        # item 6: members beside `kind` in a free term
        "{" + base + "," + one + ',"terms":[{"kind":"free","note":"x"}]}',
        "{" + base + "," + one + ',"terms":[{"kind":"free","kind":"free"}]}',
        # §5.7 timestamps
        "{" + base.replace("T00:00:00Z", " 00:00:00Z") + "," + one + "}",
        "{" + base.replace("2026-01-01T00:00:00Z", "2016-12-31T23:59:60Z") + "," + one + "}",
        "{" + base.replace("00:00:00Z", "00:00:00.0000000001Z") + "," + one + "}",
        # other §5 rules, unchanged
        "{" + base + "," + one + ',"terms":[{"kind":"free"},{"kind":"flat-fee","amount":{"amount_minor":5,"currency":"EUR"}}]}',
        "{" + base.replace('"opt-in"', "{}") + "," + one + "}",
        "{" + base + ',"works":[]}',
        "{" + base + "," + one + ',"version":1}',
    ]
    failures = []
    for text in good:
        try:
            validate_statement(text.encode())
        except Invalid as e:
            failures.append(f"payload refused: {text[:100]}: {e}")
    for text in bad:
        try:
            validate_statement(text.encode())
        except Invalid:
            continue
        failures.append(f"payload accepted: {text[:120]}")
    return failures


def _envelope_self_test() -> list[str]:
    """§4.2 step 1: the signature count is checked before anything else."""
    failures = []
    key = "ed25519:" + "00" * 32  # not even an accepted key: must not matter
    for sigs in ([], [(key, "AA"), (key, "AA")]):
        try:
            check_envelope("application/json", "!", sigs)
        except Rejected as r:
            if r.slug != "malformed-envelope":
                failures.append(f"{len(sigs)} signatures gave {r.slug}, expected malformed-envelope")
        else:
            failures.append(f"{len(sigs)} signatures accepted")
    return failures


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "vectors" / "statements.json"
    failures = self_test()
    for f in failures:
        print(f"SELF-TEST FAILED  {f}")
    if not failures:
        print("self-test ok  DSSE PAE example, small-order list, base64 rules, timestamps, canonical payloads, signature count")
    doc = json.loads(path.read_text(encoding="utf-8"))
    passed = failed = 0
    for v in doc["vectors"]:
        accepted, slug, found = check_vector(v)
        expected_slug = None
        if not v["valid"]:
            m = re.search(r"\(([a-z0-9-]+)\)\s*$", v.get("reason", ""))
            expected_slug = m.group(1) if m else None
        agree = accepted == v["valid"] and (expected_slug is None or slug == expected_slug)
        if agree:
            passed += 1
        else:
            failed += 1
        expectation = "" if agree else f"  [vector: valid={v['valid']}, reason={v.get('reason', '')!r}]"
        print(f"{'ok' if agree else 'MISMATCH':8}  {v['description']}  ->  {found}{expectation}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

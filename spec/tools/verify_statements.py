#!/usr/bin/env python3
"""Independent verifier for Consentry statement test vectors.

Written from spec/statement.md alone (section numbers below refer to it).
Reads spec/vectors/statements.json (or the path given as the first
argument), decides each vector by the envelope checks of §4.2 steps 1-7, and
compares the decision with the vector's `valid` flag and, for invalid
vectors, with the problem slug at the end of its `reason`.

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


def optional(reader):
    """Nullable optional member: null reads as absent (None)."""
    return lambda v: None if v is None else reader(v)


def array(reader):
    def read(v: object) -> list:
        if not isinstance(v, list):
            raise Invalid(f"expected an array, got {_kind(v)}")
        return [reader(x) for x in v]

    return read


def record(name: str, fields: list[tuple[str, object, object]]):
    """An object with fixed members; also the positional form of §5.9 item 1."""
    by_name = {f[0]: f for f in fields}

    def read(v: object) -> dict:
        out: dict = {}
        if isinstance(v, Obj):
            for key, val in v.pairs:
                if key not in by_name:
                    raise Invalid(f"{name}: unknown field `{key}`")
                if key in out:
                    raise Invalid(f"{name}: duplicate field `{key}`")
                out[key] = by_name[key][1](val)
            for fname, _, default in fields:
                if fname not in out:
                    if default is REQUIRED:
                        raise Invalid(f"{name}: missing field `{fname}`")
                    out[fname] = list(default) if isinstance(default, list) else default
            return out
        if isinstance(v, list):
            if len(v) > len(fields):
                raise Invalid(f"{name}: {len(v)} elements, at most {len(fields)}")
            for i, (fname, reader, default) in enumerate(fields):
                if i < len(v):
                    out[fname] = reader(v[i])
                elif default is REQUIRED:
                    raise Invalid(f"{name}: missing element {i} (`{fname}`)")
                else:
                    out[fname] = list(default) if isinstance(default, list) else default
            return out
        raise Invalid(f"{name}: expected an object, got {_kind(v)}")

    return read


def one_of(names: tuple[str, ...]):
    """An enumerated string; also `{"<name>": null}` (§5.9 item 2)."""

    def read(v: object) -> str:
        if type(v) is str and v in names:
            return v
        if isinstance(v, Obj) and len(v.pairs) == 1:
            key, val = v.pairs[0]
            if key in names and val is None:
                return key
        raise Invalid(f"expected one of {', '.join(names)}")

    return read


def _kind(v: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", Obj: "an object", type(None): "null"}.get(type(v), "?")


# ---------------------------------------------------------------------------
# §5.7 Timestamps, §5.8 content hashes

TIMESTAMP_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[\x00-\x7f]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?Z"
)
MAX_NANOS = 2**63 - 1
EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


def timestamp(v: object) -> int:
    """Returns Unix nanoseconds."""
    s = string(v)
    m = TIMESTAMP_RE.fullmatch(s)
    if m is None:
        raise Invalid(f"`{s}` is not an RFC 3339 UTC timestamp ending in Z")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction = m.group(7)
    if not 1970 <= year <= 2262:
        raise Invalid(f"`{s}` is outside 1970..2262")
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise Invalid(f"`{s}` is not a calendar date")
    last_day = calendar.monthrange(year, month)[1]
    if hour > 23 or minute > 59:
        raise Invalid(f"`{s}` is not a time of day")
    if second == 60:
        if (hour, minute, day) != (23, 59, last_day):
            raise Invalid(f"`{s}`: second 60 only at 23:59:60 on the last day of a month")
        second, nanos = 59, 999_999_999
    elif second > 59:
        raise Invalid(f"`{s}` is not a time of day")
    else:
        nanos = int((fraction or "0")[:9].ljust(9, "0"))
    days = datetime.date(year, month, day).toordinal() - EPOCH_ORDINAL
    total = ((days * 86400 + hour * 3600 + minute * 60 + second) * 10**9) + nanos
    if not 0 <= total <= MAX_NANOS:
        raise Invalid(f"`{s}` is outside 1970-01-01T00:00:00Z..2262-04-11T23:47:16.854775807Z")
    return total


HEX64_RE = re.compile(r"[0-9a-f]{64}")


def content_hash(v: object) -> bytes:
    s = string(v)
    for prefix in ("blake3:", "1e20"):
        if s.startswith(prefix) and HEX64_RE.fullmatch(s[len(prefix):]):
            return bytes.fromhex(s[len(prefix):])
    raise Invalid(f"`{s[:80]}` is not blake3:<64 lowercase hex> or 1e20<64 lowercase hex>")


# ---------------------------------------------------------------------------
# §5.2-§5.6 Statement payload

CATEGORIES = ("train-ai", "train-genai", "ai-use", "search", "tdm")
PREFERENCE = optional(one_of(("allowed", "disallowed")))
SHORTHAND = one_of(("opt-in", "opt-out"))
PER_CATEGORY = record("consent", [(c, PREFERENCE, None) for c in CATEGORIES])

MONEY = record("money", [("amount_minor", uint(64), REQUIRED), ("currency", string, REQUIRED)])
TERM_FIELDS = {
    "free": [],
    "attribution": [("credit", string, REQUIRED)],
    "flat-fee": [("amount", MONEY, REQUIRED)],
    "revenue-share": [("minimum", optional(MONEY), None)],
}
TERM_RECORDS = {kind: record(f"`{kind}` term", fields) for kind, fields in TERM_FIELDS.items()}

FINGERPRINT = record("fingerprint", [("algorithm", string, REQUIRED), ("value", string, REQUIRED)])
WORK = record(
    "work",
    [
        ("hash", content_hash, REQUIRED),
        ("media_type", optional(string), None),
        ("title", optional(string), None),
        ("published_at", optional(timestamp), None),
        ("fingerprints", array(FINGERPRINT), []),
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
    if isinstance(v, Obj):
        tags = [val for key, val in v.pairs if key == "kind"]
        if not tags:
            raise Invalid("term: missing field `kind`")
        if len(tags) > 1:
            raise Invalid("term: duplicate field `kind`")
        kind = _term_kind(tags[0])
        if kind == "free":
            return {"kind": "free"}  # other members ignored (§5.9 item 4)
        out = TERM_RECORDS[kind](Obj([(k, x) for k, x in v.pairs if k != "kind"]))
    elif isinstance(v, list):  # §5.9 item 3
        if not v:
            raise Invalid("term: missing field `kind`")
        kind = _term_kind(v[0])
        if kind == "free":
            if len(v) > 1:
                raise Invalid("term `free` has no members")
            return {"kind": "free"}
        out = TERM_RECORDS[kind](v[1:])
    else:
        raise Invalid(f"term: expected an object, got {_kind(v)}")
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
        ("terms", array(term), []),
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
        elif kind == "flat-fee":
            check_money(t["amount"])
        elif kind == "revenue-share" and t["minimum"] is not None:
            check_money(t["minimum"])
    if "free" in seen and ("flat-fee" in seen or "revenue-share" in seen):
        raise Invalid("`free` cannot be combined with `flat-fee` or `revenue-share`")


def validate_statement(payload: bytes) -> dict:
    """§5: parses and checks a statement payload; raises Invalid."""
    st = STATEMENT(parse_json(payload))
    if st["version"] != 1:
        raise Invalid(f"version {st['version']} is not 1")
    works = st["works"]
    if not 1 <= len(works) <= 10_000:
        raise Invalid("a statement names 1 to 10000 works")
    hashes = [w["hash"] for w in works]
    if len(set(hashes)) != len(hashes):
        raise Invalid("a work is listed twice")
    for w in works:
        if w["title"] is not None and len(w["title"]) > 512:
            raise Invalid("title longer than 512 characters")
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
# §4.2 Statement envelope, steps 1-7


def check_envelope(payload_type: str, payload_b64: str, signatures: list[tuple[str, str]]) -> dict:
    """Returns the validated statement or raises Rejected."""
    if payload_type != STATEMENT_TYPE:  # 1
        raise Rejected("wrong-payload-type", f"payloadType `{payload_type[:80]}`")
    if not 1 <= len(signatures) <= 2:  # 2
        raise Rejected("malformed-envelope", f"{len(signatures)} signatures")
    payload = decode_base64(payload_b64)  # 3
    if payload is None:
        raise Rejected("bad-base64", "payload is not valid base64")
    message = pae(payload_type, payload)
    seen: list[str] = []
    for keyid, sig_b64 in signatures:  # 4
        a = accept_key(keyid)  # 4.1
        if keyid in seen:  # 4.2
            raise Rejected("malformed-envelope", f"{keyid} signs twice")
        seen.append(keyid)
        sig = decode_base64(sig_b64)  # 4.3
        if sig is None:
            raise Rejected("bad-base64", "signature is not valid base64")
        if len(sig) != 64:  # 4.4
            raise Rejected("bad-signature", f"signature is {len(sig)} bytes, not 64")
        failure = verify_strict(a, message, sig)  # 4.5
        if failure is not None:
            raise Rejected("bad-signature", f"the signature does not verify: {failure}")
    if len(signatures) != 1:  # 5
        raise Rejected("malformed-envelope", "a statement carries exactly one signature")
    try:  # 6
        statement = validate_statement(payload)
    except Invalid as e:
        raise Rejected("invalid-payload", str(e)) from None
    if statement["key"] != signatures[0][0]:  # 7
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
    return failures


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "vectors" / "statements.json"
    failures = self_test()
    for f in failures:
        print(f"SELF-TEST FAILED  {f}")
    if not failures:
        print("self-test ok  DSSE PAE example, small-order list, base64 rules")
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

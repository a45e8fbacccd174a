#!/usr/bin/env python3
"""Independent verifier for the Consentry check-receipt test vectors.

Written from spec/receipt.md alone, plus the sections of spec/log.md and
spec/statement.md it refers to: the log entry format (log.md §2), the RFC 9162
tree (log.md §3.1), signed checkpoints and verifier keys (log.md §4.1), key
ids (statement.md §2), DSSE envelopes, base64 and PAE (statement.md §3),
strict Ed25519 (statement.md §4.1), statement, registration and key event
payloads (statement.md §5-§7), and effective consent (statement.md §10).
Section numbers below refer to spec/receipt.md unless marked otherwise.

Reads spec/vectors/receipts.json and spec/vectors/log.json (or the paths
given as the first and second arguments; shapes in receipt.md §6 and log.md
§8) and, for every check of receipts.json:

  1. receipt     the DSSE envelope (§2): payload type, one signature whose
                 keyid is the log's key (the key of `verifier_key`), strict
                 Ed25519 over PAE(payloadType, payload bytes); the payload is
                 well-formed: exactly the members of §2, version 1, `log` is
                 the verifier key's origin, the checkpoint note verifies with
                 the verifier key (log.md §4.1) and its origin/size/root are
                 the payload's, the counts sum to hashes.count;
  2. root        the RFC 9162 root of the first `tree_size` entries of
                 log.json equals the receipt's checkpoint root;
  3. answers     replaying the log's entries, the answers in the view
                 V(tree_size, as_of) (§3, statement.md §10, §5.4) equal the
                 vector's; hashes_blake3 and answers_blake3 (§4) recomputed
                 equal both the vector's fields and the receipt's; the counts
                 recomputed equal the receipt's;
  4. negatives   a flipped signature bit, an altered answers digest and a
                 checkpoint root swapped for another size's root each make
                 the receipt fail (at the signature); a changed status
                 changes the answers digest; and check #2 (1-based) asked
                 without its as_of gives different answers.

It also self-tests PAE, BLAKE3(""), and the strict Ed25519 rules (S + L,
small-order R, small-order and non-canonical keys, a foreign keyid), and
checks that every entry of log.json decodes, verifies and parses.

Where the spec is silent, this script assumes (see ASSUMPTION below):
  - the receipt payload follows statement.md §5.1's JSON rules (no duplicate,
    unknown or null members; integers without fraction or exponent), and the
    nested objects `checkpoint`, `hashes`, `answers`, `counts` have exactly
    their listed members;
  - `builder`, `purpose`, `issued_at`, `as_of` and the two digests are
    checked for syntax although §2's definition of well-formed omits them;
  - the envelope's `payload` and `sig` are decoded per statement.md §3.3;
    `checkpoint.root` is standard padded base64 (log.md §1);
  - the log is an audited one (log.md §7): §3 is applied without re-running
    the audit rules, except that a statement's signer must be its `key` and
    a key some registration or add/rotate event in V added.

Requires Python 3.11+, `cryptography` (Ed25519 equation) and `blake3`
(PyPI package `blake3`); everything else is implemented here.

Usage: python3 spec/tools/verify_receipts.py [receipts.json [log.json]]
Prints one line per check (`ok` or `FAIL`) and a final line
`N passed, M failed`. Exit status 1 when anything failed.
"""

from __future__ import annotations

import base64
import calendar
import datetime
import hashlib
import json
import re
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

try:
    import blake3 as _blake3
except ImportError:  # pragma: no cover
    sys.exit("verify_receipts.py needs the `blake3` package: python3 -m pip install --quiet blake3")

RECEIPT_TYPE = "application/vnd.consentry.check-receipt.v1+json"  # §2
ARTIST_TYPE = "application/vnd.consentry.artist.v1+json"
KEY_EVENT_TYPE = "application/vnd.consentry.key-event.v1+json"
STATEMENT_TYPE = "application/vnd.consentry.statement.v1+json"
PAYOUT_RECORD_TYPE = "application/vnd.consentry.payout-record.v1+json"
KIND_TYPES = {1: ARTIST_TYPE, 2: KEY_EVENT_TYPE, 3: STATEMENT_TYPE, 4: PAYOUT_RECORD_TYPE}  # log.md §2, statement.md §3.2

CATEGORIES = ("train-ai", "train-genai", "ai-use", "search", "tdm")  # statement.md §5.3
STATUS_BYTE = {"allowed": b"a", "disallowed": b"d", "unknown": b"u"}  # §4.2


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def blake3_256(data: bytes) -> bytes:
    return _blake3.blake3(data).digest()


EMPTY_ROOT = sha256(b"")


# ---------------------------------------------------------------------------
# Result bookkeeping


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, name: str, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"ok    {name}")
        else:
            self.failed += 1
            print(f"FAIL  {name}{': ' + detail if detail else ''}")
        return ok


# ---------------------------------------------------------------------------
# statement.md §2 keys, §4.1 strict Ed25519, §3.5 PAE

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
HEX64_RE = re.compile(r"[0-9a-f]{64}")


def point_is_canonical(enc: bytes) -> bool:
    """RFC 8032 §5.1.3 decoding with both canonicity conditions enforced."""
    if len(enc) != 32:
        return False
    n = int.from_bytes(enc, "little")
    sign, y = n >> 255, n & ((1 << 255) - 1)
    if y >= P:
        return False
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = (u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P)) % P
    vxx = (v * x * x) % P
    if vxx == (-u) % P and vxx != u:
        x = (x * SQRT_M1) % P
    elif vxx != u:
        return False
    return not (x == 0 and sign == 1)


def key_problem(a: bytes) -> str | None:
    """statement.md §2 conditions 2 and 3."""
    if len(a) != 32:
        return f"key is {len(a)} bytes, not 32"
    if not point_is_canonical(a):
        return "key is not the canonical encoding of a curve point"
    if a in SMALL_ORDER:
        return "key has small order"
    return None


def verify_strict(a: bytes, message: bytes, sig: bytes) -> str | None:
    """statement.md §4.1; None when valid, else why not."""
    problem = key_problem(a)  # step 3 (and §2)
    if problem:
        return problem
    if len(sig) != 64:
        return f"signature is {len(sig)} bytes, not 64"
    if int.from_bytes(sig[32:], "little") >= L:  # step 1
        return "S is not a canonical scalar (S >= L)"
    if sig[:32] in SMALL_ORDER:  # step 2
        return "R has small order"
    try:  # steps 4 and 5: OpenSSL's cofactorless check, R compared as bytes
        Ed25519PublicKey.from_public_bytes(a).verify(sig, message)
    except InvalidSignature:
        return "[S]B != R + [k]A"
    return None


def pae(payload_type: bytes, payload: bytes) -> bytes:
    """statement.md §3.5."""
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(payload), payload)


# ---------------------------------------------------------------------------
# Base64: standard padded (log.md §1) and DSSE's lenient rule (statement.md §3.3)

STD_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
URL_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64_std(text: object) -> bytes | None:
    """Standard base64 with padding (RFC 4648 §4), canonical."""
    if not isinstance(text, str):
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def b64_dsse(text: object) -> bytes | None:
    """statement.md §3.3: either alphabet, optional (or partial) padding,
    canonical trailing bits, nothing else."""
    if not isinstance(text, str):
        return None
    data = text.rstrip("=")
    pad = len(text) - len(data)
    n = len(data)
    if n % 4 == 1 or pad > (4 - n % 4) % 4:
        return None
    for alphabet, alt in ((STD_ALPHABET, b"+/"), (URL_ALPHABET, b"-_")):
        if not set(data) <= alphabet:
            continue
        raw = base64.b64decode(data + "=" * ((4 - n % 4) % 4), altchars=alt, validate=True)
        if base64.b64encode(raw, altchars=alt).decode("ascii").rstrip("=") == data:
            return raw  # canonical: the unused bits of the last character are zero
        return None
    return None


# ---------------------------------------------------------------------------
# JSON (statement.md §5.1 rules, applied to the receipt payload too; see the
# assumption noted at parse_receipt_payload)


class Invalid(ValueError):
    pass


class Obj:
    """A JSON object as its (name, value) pairs, duplicates kept."""

    __slots__ = ("pairs",)

    def __init__(self, pairs):
        self.pairs = pairs


def _parse_int(text: str):
    return -0.0 if text == "-0" else int(text)  # -0 is not an integer


def _parse_float(text: str) -> float:
    f = float(text)
    if f in (float("inf"), float("-inf")):
        raise Invalid(f"number {text[:20]} exceeds the double range")
    return f


def _parse_constant(text: str):
    raise Invalid(f"{text} is not JSON")


def parse_json(data: bytes) -> object:
    try:
        text = data.decode("utf-8")
        if text.startswith("\ufeff"):
            raise Invalid("byte order mark")
        value = json.loads(text, object_pairs_hook=Obj, parse_int=_parse_int,
                           parse_float=_parse_float, parse_constant=_parse_constant)
    except (ValueError, RecursionError) as e:
        raise Invalid(f"not JSON: {e}") from None
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if any("\ud800" <= c <= "\udfff" for c in item):
                raise Invalid("unpaired surrogate")
        elif isinstance(item, (list, Obj)):
            depth += 1
            if depth > 127:
                raise Invalid("nested deeper than 127 levels")
            items = [x for kv in item.pairs for x in kv] if isinstance(item, Obj) else item
            stack.extend((v, depth) for v in items)
    return value


def members(v: object, what: str, required: set[str], optional: set[str] = frozenset()) -> dict:
    """A record: an object with no unknown, duplicate or null members and
    every required member present."""
    if not isinstance(v, Obj):
        raise Invalid(f"{what} is not a JSON object")
    out: dict = {}
    for k, val in v.pairs:
        if k not in required and k not in optional:
            raise Invalid(f"{what}: unknown member `{k}`")
        if k in out:
            raise Invalid(f"{what}: duplicate member `{k}`")
        if val is None:
            raise Invalid(f"{what}: `{k}` is null")
        out[k] = val
    missing = required - out.keys()
    if missing:
        raise Invalid(f"{what}: missing {', '.join(sorted(missing))}")
    return out


def string(v: object, what: str) -> str:
    if type(v) is not str:
        raise Invalid(f"{what} is not a string")
    return v


def integer(v: object, what: str, lo: int = 0, hi: int = 2**64) -> int:
    if type(v) is not int or not lo <= v < hi:
        raise Invalid(f"{what} is not an integer {lo} <= n < {hi}")
    return v


TIMESTAMP_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?Z"
)
EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


def timestamp(v: object, what: str) -> int:
    """statement.md §5.7; unix nanoseconds."""
    s = string(v, what)
    m = TIMESTAMP_RE.fullmatch(s)
    if m is None:
        raise Invalid(f"{what} `{s[:60]}` is not YYYY-MM-DDTHH:MM:SS[.F]Z")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if not 1970 <= year <= 2262:
        raise Invalid(f"{what} `{s}` is outside 1970..2262")
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise Invalid(f"{what} `{s}` is not a calendar date")
    if hour > 23 or minute > 59 or second > 59:
        raise Invalid(f"{what} `{s}` is not a time of day")
    days = datetime.date(year, month, day).toordinal() - EPOCH_ORDINAL
    nanos = (days * 86400 + hour * 3600 + minute * 60 + second) * 10**9 + int((m.group(7) or "0").ljust(9, "0"))
    if nanos > 2**63 - 1:
        raise Invalid(f"{what} `{s}` is after 2262-04-11T23:47:16.854775807Z")
    return nanos


# ---------------------------------------------------------------------------
# log.md §2 entries, §3.1 tree


class Entry:
    __slots__ = ("index", "raw", "kind", "received_at", "payload_type", "signatures", "payload")

    def __init__(self, index, raw, kind, received_at, payload_type, signatures, payload):
        self.index = index
        self.raw = raw
        self.kind = kind
        self.received_at = received_at
        self.payload_type = payload_type
        self.signatures = signatures  # [(32-byte key, 64-byte signature)]
        self.payload = payload


def decode_entry(index: int, raw: bytes) -> Entry:
    """log.md §2, strictly."""
    pos = 0

    def take(n: int, what: str) -> bytes:
        nonlocal pos
        if pos + n > len(raw):
            raise Invalid(f"truncated in {what}")
        out = raw[pos : pos + n]
        pos += n
        return out

    if len(raw) > 65_535:
        raise Invalid(f"entry is {len(raw)} bytes, over 65535")
    if take(1, "version")[0] != 0x01:
        raise Invalid("version is not 0x01")
    kind = take(1, "kind")[0]
    if kind not in KIND_TYPES:
        raise Invalid(f"kind 0x{kind:02x} is not 0x01 to 0x04")
    received_at = int.from_bytes(take(8, "received_at"), "big")
    payload_type = take(take(1, "type_len")[0], "payload_type")
    if payload_type != KIND_TYPES[kind].encode("ascii"):
        raise Invalid(f"payload type `{payload_type[:60]!r}` is not the one of kind {kind}")
    sig_count = take(1, "sig_count")[0]
    if sig_count not in (1, 2):
        raise Invalid(f"sig_count is {sig_count}, not 1 or 2")
    signatures = [(take(32, "key"), take(64, "signature")) for _ in range(sig_count)]
    payload = take(int.from_bytes(take(2, "payload_len"), "big"), "payload")
    if pos != len(raw):
        raise Invalid(f"{len(raw) - pos} trailing bytes after the payload")
    return Entry(index, raw, kind, received_at, payload_type, signatures, payload)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def mth(leaves: list[bytes]) -> bytes:
    """log.md §3.1 over leaf hashes."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


# ---------------------------------------------------------------------------
# log.md §4.1 verifier keys and checkpoints


class Verifier:
    __slots__ = ("name", "key_id", "public_key")

    def __init__(self, name: str, key_id: bytes, public_key: bytes):
        self.name, self.key_id, self.public_key = name, key_id, public_key


def parse_verifier_key(text: str) -> Verifier:
    parts = text.split("+", 2)
    if len(parts) != 3 or not parts[0]:
        raise Invalid("verifier key is not `<origin>+<key id>+<key>`")
    name, id_hex, key_b64 = parts
    if not re.fullmatch(r"[0-9a-f]{8}", id_hex):
        raise Invalid(f"key id `{id_hex}` is not 8 hex digits")
    blob = b64_std(key_b64)
    if blob is None or len(blob) != 33 or blob[0] != 0x01:
        raise Invalid("key part is not base64 of 0x01 || 32-byte key")
    problem = key_problem(blob[1:])
    if problem:
        raise Invalid(problem)
    want = sha256(name.encode("utf-8") + b"\x0a\x01" + blob[1:])[:4]
    if bytes.fromhex(id_hex) != want:
        raise Invalid(f"key id {id_hex} != {want.hex()}")
    return Verifier(name, want, blob[1:])


def open_checkpoint(note: str, verifier: Verifier) -> tuple[str, int, bytes]:
    """Verifies a checkpoint note; returns (origin, size, root)."""
    if not note.endswith("\n"):
        raise Invalid("note does not end with a newline")
    split = note.rfind("\n\n")  # the text ends at the last blank line
    if split < 0:
        raise Invalid("no blank line between text and signatures")
    text, sig_block = note[: split + 1], note[split + 2 :]
    lines = text[:-1].split("\n")
    if len(lines) != 3:
        raise Invalid(f"checkpoint text has {len(lines)} lines, not 3")
    origin, size_text, root_text = lines
    if not origin or not re.fullmatch(r"0|[1-9][0-9]*", size_text):
        raise Invalid("bad origin or size line")
    root = b64_std(root_text)
    if root is None or len(root) != 32:
        raise Invalid("root line is not base64 of 32 bytes")
    verified = False
    for line in sig_block[:-1].split("\n") if sig_block else []:
        if not line.startswith("\u2014 "):
            raise Invalid("signature line does not start with an em dash and a space")
        rest = line[2:].split(" ")
        if len(rest) != 2:
            raise Invalid("signature line is not `— <name> <base64>`")
        blob = b64_std(rest[1])
        if blob is None or len(blob) < 5:
            raise Invalid("signature is not base64 of key id || signature")
        if rest[0] != verifier.name or blob[:4] != verifier.key_id:
            continue
        problem = verify_strict(verifier.public_key, text.encode("utf-8"), blob[4:])
        if problem:
            raise Invalid(f"checkpoint signature does not verify: {problem}")
        verified = True
    if not verified:
        raise Invalid("no signature line by the verifier key")
    return origin, int(size_text), root


# ---------------------------------------------------------------------------
# §2 the receipt envelope and payload


class ReceiptError(ValueError):
    def __init__(self, step: str, detail: str):
        super().__init__(f"{step}: {detail}")
        self.step = step
        self.detail = detail


def parse_envelope(env: object) -> tuple[str, bytes, str, bytes]:
    """statement.md §3.1 shape; returns (payloadType, payload bytes, keyid, sig)."""
    try:
        m = members(env if isinstance(env, Obj) else to_obj(env), "envelope", {"payloadType", "payload", "signatures"})
        ptype = string(m["payloadType"], "payloadType")
        sigs = m["signatures"]
        if type(sigs) is not list:
            raise Invalid("signatures is not an array")
        if len(sigs) != 1:
            raise Invalid(f"{len(sigs)} signatures, not exactly one")
        s = members(sigs[0], "signature", {"keyid", "sig"})
        keyid, sig_text = string(s["keyid"], "keyid"), string(s["sig"], "sig")
    except Invalid as e:
        raise ReceiptError("envelope", str(e)) from None
    payload = b64_dsse(string(m["payload"], "payload"))
    if payload is None:
        raise ReceiptError("envelope", "payload is not valid base64 (statement.md §3.3)")
    sig = b64_dsse(sig_text)
    if sig is None:
        raise ReceiptError("envelope", "sig is not valid base64 (statement.md §3.3)")
    return ptype, payload, keyid, sig


def to_obj(v: object) -> object:
    """A json.load()ed value back as Obj trees (for envelopes read from the
    vectors file with plain dicts)."""
    if isinstance(v, dict):
        return Obj([(k, to_obj(x)) for k, x in v.items()])
    if isinstance(v, list):
        return [to_obj(x) for x in v]
    return v


BUILDER_RE = re.compile(r"b_[0-9a-f]{32}")


def parse_receipt_payload(payload: bytes) -> dict:
    """§2 table. ASSUMPTION (spec silent): the JSON rules of statement.md §5.1
    apply (no duplicate/unknown/null members, integers without fraction);
    nested objects have exactly the listed members too; builder, purpose,
    timestamps and digests are checked for syntax."""
    m = members(parse_json(payload), "receipt payload",
                {"version", "log", "builder", "purpose", "issued_at", "checkpoint", "hashes", "answers", "counts"},
                {"as_of", "matching", "matched"})
    out: dict = {}
    out["version"] = integer(m["version"], "version", 0, 2**32)
    if out["version"] not in (1, 2):
        raise Invalid(f"version is {m['version']}, not 1 or 2")
    # §4.3: version 2 (near matching) has `matching` and `matched`, version 1 neither.
    if (out["version"] == 2) != ("matching" in m) or ("matching" in m) != ("matched" in m):
        raise Invalid("`matching` and `matched` are present exactly in version 2")
    if out["version"] == 2:
        mm = members(m["matching"], "matching", {"algorithm", "bits", "max_distance"})
        if string(mm["algorithm"], "matching.algorithm") != "iscc-image-v0" or integer(mm["bits"], "matching.bits") != 64:
            raise Invalid("matching is not iscc-image-v0 over 64 bits")
        out["max_distance"] = integer(mm["max_distance"], "matching.max_distance", 0, 64)
        md = members(m["matched"], "matched", {"exact", "near"})
        out["matched"] = {k: integer(md[k], f"matched.{k}") for k in ("exact", "near")}
    out["log"] = string(m["log"], "log")
    out["builder"] = string(m["builder"], "builder")
    if not BUILDER_RE.fullmatch(out["builder"]):
        raise Invalid(f"builder `{out['builder'][:60]}` is not b_ + 32 hex")
    out["purpose"] = string(m["purpose"], "purpose")
    if out["purpose"] not in CATEGORIES:
        raise Invalid(f"purpose `{out['purpose'][:60]}` is not a category")
    out["as_of"] = timestamp(m["as_of"], "as_of") if "as_of" in m else None
    out["as_of_text"] = m.get("as_of")
    out["issued_at"] = timestamp(m["issued_at"], "issued_at")
    cp = members(m["checkpoint"], "checkpoint", {"size", "root", "note"})
    out["size"] = integer(cp["size"], "checkpoint.size")
    out["root"] = b64_std(string(cp["root"], "checkpoint.root"))
    if out["root"] is None or len(out["root"]) != 32:
        raise Invalid("checkpoint.root is not base64 of 32 bytes")
    out["note"] = string(cp["note"], "checkpoint.note")
    h = members(m["hashes"], "hashes", {"count", "blake3"})
    out["count"] = integer(h["count"], "hashes.count")
    out["hashes_blake3"] = string(h["blake3"], "hashes.blake3")
    a = members(m["answers"], "answers", {"blake3"})
    out["answers_blake3"] = string(a["blake3"], "answers.blake3")
    for name in ("hashes_blake3", "answers_blake3"):
        if not HEX64_RE.fullmatch(out[name]):
            raise Invalid(f"{name} is not 64 lowercase hex digits")
    c = members(m["counts"], "counts", {"allowed", "disallowed", "unknown"})
    out["counts"] = {k: integer(c[k], f"counts.{k}") for k in ("allowed", "disallowed", "unknown")}
    return out


def verify_receipt(env: object, verifier: Verifier, skip_signature: bool = False) -> dict:
    """§2 (and §5 step 1): the receipt is well-formed for the verifier key.
    Raises ReceiptError naming the failing step."""
    ptype, payload, keyid, sig = parse_envelope(env)
    if ptype != RECEIPT_TYPE:
        raise ReceiptError("envelope", f"payloadType `{ptype[:80]}` is not `{RECEIPT_TYPE}`")
    if keyid != "ed25519:" + verifier.public_key.hex():
        raise ReceiptError("envelope", f"keyid {keyid[:80]} is not the log's key")
    if not skip_signature:
        problem = verify_strict(verifier.public_key, pae(ptype.encode("utf-8"), payload), sig)
        if problem:
            raise ReceiptError("signature", problem)
    try:
        r = parse_receipt_payload(payload)
    except Invalid as e:
        raise ReceiptError("payload", str(e)) from None
    if r["log"] != verifier.name:
        raise ReceiptError("payload", f"log `{r['log'][:80]}` is not the verifier key's origin `{verifier.name}`")
    try:
        origin, size, root = open_checkpoint(r["note"], verifier)
    except Invalid as e:
        raise ReceiptError("checkpoint", str(e)) from None
    if origin != r["log"] or size != r["size"] or root != r["root"]:
        raise ReceiptError("checkpoint", f"note is ({origin}, {size}, {root.hex()}), payload says "
                                         f"({r['log']}, {r['size']}, {r['root'].hex()})")
    if sum(r["counts"].values()) != r["count"]:
        raise ReceiptError("counts", f"counts {r['counts']} do not sum to hashes.count {r['count']}")
    r["payload_bytes"] = payload
    return r


# ---------------------------------------------------------------------------
# Payloads of the log (statement.md §5-§7), as far as §3 needs them


def parse_registration(payload: bytes) -> str:
    """statement.md §6; returns the key id."""
    m = members(parse_json(payload), "registration", {"version", "key", "display_name", "issued_at"})
    if integer(m["version"], "version", 0, 2**32) != 1:
        raise Invalid("version is not 1")
    string(m["display_name"], "display_name")
    timestamp(m["issued_at"], "issued_at")
    return string(m["key"], "key")


def parse_key_event(payload: bytes) -> dict:
    """statement.md §7."""
    m = members(parse_json(payload), "key event", {"version", "artist", "action", "key", "issued_at"},
                {"replaces", "effective_at"})
    if integer(m["version"], "version", 0, 2**32) != 1:
        raise Invalid("version is not 1")
    action = string(m["action"], "action")
    if action not in ("add", "rotate", "revoke"):
        raise Invalid(f"action `{action[:40]}` is not add, rotate or revoke")
    ev = {
        "artist": string(m["artist"], "artist"),
        "action": action,
        "key": string(m["key"], "key"),
        "replaces": string(m["replaces"], "replaces") if "replaces" in m else None,
        "effective_at": timestamp(m["effective_at"], "effective_at") if "effective_at" in m else None,
    }
    timestamp(m["issued_at"], "issued_at")
    if (action == "rotate") != (ev["replaces"] is not None):
        raise Invalid("replaces present iff rotate")
    if action != "revoke" and ev["effective_at"] is not None:
        raise Invalid("effective_at with add or rotate")
    return ev


def expand_consent(v: object) -> dict[str, str | None]:
    """statement.md §5.4: one value per category, None = unknown."""
    if v == "opt-in":
        return {c: "allowed" for c in CATEGORIES}
    if v == "opt-out":
        return {c: "disallowed" for c in CATEGORIES}
    if isinstance(v, str):
        raise Invalid(f"consent `{v[:40]}` is not opt-in or opt-out")
    m = members(v, "consent", set(), set(CATEGORIES))
    if not m:
        raise Invalid("consent object is empty")
    out: dict[str, str | None] = {c: None for c in CATEGORIES}
    for c, pref in m.items():
        if pref not in ("allowed", "disallowed"):
            raise Invalid(f"consent.{c} is not allowed or disallowed")
        out[c] = pref
    if out["train-ai"] == "disallowed" and out["train-genai"] == "allowed":
        raise Invalid("train-ai disallowed with train-genai allowed")
    if out["train-ai"] is not None and out["train-genai"] is None:
        out["train-genai"] = out["train-ai"]
    return out


def content_hash(text: object, what: str) -> bytes:
    """statement.md §5.8: `blake3:<Hex64>` only."""
    s = string(text, what)
    if not s.startswith("blake3:") or not HEX64_RE.fullmatch(s[7:]):
        raise Invalid(f"{what} `{s[:80]}` is not blake3:<Hex64>")
    return bytes.fromhex(s[7:])


def image_code(text: object, what: str) -> bytes:
    """docs/matching.md: `ISCC:` + upper-case base32 (RFC 4648, no padding)
    of a 2-byte header (MainType CONTENT 2, SubType IMAGE 1, version 0, a
    length index) and a body of 64 to 256 bits; returns the body."""
    if type(text) is not str or not text.startswith("ISCC:"):
        raise Invalid(f"{what}: not ISCC: and a code")
    code = text[5:]
    if not code or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in code):
        raise Invalid(f"{what}: not upper-case base32")
    raw = base64.b32decode(code + "=" * (-len(code) % 8))
    if base64.b32encode(raw).decode("ascii").rstrip("=") != code:
        raise Invalid(f"{what}: not in canonical form")
    if len(raw) < 10 or raw[0] != 0x21 or raw[1] >> 4 != 0:
        raise Invalid(f"{what}: not an ISCC Image-Code v0")
    body = raw[2:2 + 4 * ((raw[1] & 0x0F) + 1)]
    if not 8 <= len(body) <= 32 or len(raw) != 2 + len(body):
        raise Invalid(f"{what}: body length does not match its header")
    return body


def featureless(body: bytes) -> bool:
    """A 64-bit word of the body with fewer than 8 bits set (§4.3)."""
    return any(bin(int.from_bytes(body[i:i + 8], "big")).count("1") < 8 for i in range(0, len(body) - 7, 8))


def parse_statement(payload: bytes) -> dict:
    """statement.md §5.2 (the members §3 and §10 use are checked in full; the
    others only for type)."""
    m = members(parse_json(payload), "statement", {"version", "key", "works", "consent", "issued_at"}, {"terms"})
    if integer(m["version"], "version", 0, 2**32) != 1:
        raise Invalid("version is not 1")
    works = m["works"]
    if type(works) is not list or not 1 <= len(works) <= 500:
        raise Invalid("works is not an array of 1 to 500 elements")
    hashes = []
    codes = []  # (work hash, first 64 bits) of every iscc-image-v0 fingerprint (§4.3)
    for i, w in enumerate(works):
        wm = members(w, f"works[{i}]", {"hash"}, {"media_type", "title", "published_at", "fingerprints"})
        hashes.append(content_hash(wm["hash"], f"works[{i}].hash"))
        for j, fp in enumerate(wm.get("fingerprints", [])):
            fm = members(fp, f"works[{i}].fingerprints[{j}]", {"algorithm", "value"})
            if fm["algorithm"] == "iscc-image-v0":
                codes.append((hashes[-1], image_code(fm["value"], f"works[{i}].fingerprints[{j}]")))
    if len(set(hashes)) != len(hashes):
        raise Invalid("a content hash occurs twice")
    if "terms" in m and (type(m["terms"]) is not list or not m["terms"]):
        raise Invalid("terms is not a non-empty array")
    return {
        "key": string(m["key"], "key"),
        "works": hashes,
        "codes": codes,
        "consent": expand_consent(m["consent"]),
        "issued_at": timestamp(m["issued_at"], "issued_at"),
    }


def load_log(entries_b64: list[str]) -> list[tuple[Entry, object]]:
    """Decodes every entry (log.md §2), verifies its signatures (strict, over
    PAE) and parses its payload. Raises Invalid naming the entry."""
    out = []
    for i, text in enumerate(entries_b64):
        raw = b64_std(text)
        if raw is None:
            raise Invalid(f"entry {i} is not standard padded base64")
        try:
            e = decode_entry(i, raw)
            for j, (key, sig) in enumerate(e.signatures):
                problem = verify_strict(key, pae(e.payload_type, e.payload), sig)
                if problem:
                    raise Invalid(f"signature {j}: {problem}")
            # A payout record (kind 4) does not bear on consent (receipt.md §3).
            parsed = {1: parse_registration, 2: parse_key_event, 3: parse_statement, 4: lambda _: None}[e.kind](e.payload)
        except Invalid as ex:
            raise Invalid(f"entry {i}: {ex}") from None
        out.append((e, parsed))
    return out


# ---------------------------------------------------------------------------
# §3 answers in the view V(N, T)


def view(log: list[tuple[Entry, object]], n: int, t: int | None) -> list[tuple[Entry, object]]:
    """Entries with index < N and receipt time <= T (T None = +inf)."""
    if n > len(log):
        raise Invalid(f"tree size {n} is beyond the log ({len(log)} entries)")
    v = [(e, p) for e, p in log[:n] if t is None or e.received_at <= t]
    if [e.index for e, _ in v] != list(range(len(v))):
        raise Invalid("the view is not a prefix of the log (receipt times do not grow with the index)")
    return v


def answers_in_view(log, n: int, t: int | None, purpose: str, hashes: list[bytes]) -> list[dict]:
    """§3: status for `purpose` and the ascending ids of the current
    statements, per hash, in V(n, t)."""
    current, _, _ = state_in_view(log, n, t)
    return [answer_of(current, h, purpose) for h in hashes]


def answer_of(current, h: bytes, purpose: str) -> dict:
    cur = current.get(h, {}).values()
    prefs = {c[2][purpose] for c in cur}
    status = "disallowed" if "disallowed" in prefs else "allowed" if "allowed" in prefs else "unknown"
    return {"hash": h, "status": status, "statements": sorted(c[1] for c in cur)}


def near_answers_in_view(log, n: int, t: int | None, purpose: str, items: list[dict], max_distance: int) -> list[dict]:
    """§4.3: per item, how it matched (exact, near, none), the matched works
    with their distances, the status and the statements."""
    current, named, codes = state_in_view(log, n, t)
    out = []
    for item in items:
        h = item["hash"]
        if h is not None and h in named:
            a = answer_of(current, h, purpose)
            out.append({**a, "match": "exact", "matched": [(h, 0)]})
            continue
        best: dict[bytes, int] = {}
        for q in item["codes"]:
            if featureless(q):
                continue
            qv = int.from_bytes(q[:8], "big")
            for work, c in codes:
                d = bin(qv ^ c).count("1")
                if d <= max_distance and d < best.get(work, 65):
                    best[work] = d
        matched = sorted(best.items(), key=lambda wd: (wd[1], wd[0]))[:16]
        if not matched:
            out.append({"hash": h, "status": "unknown", "statements": [], "match": None, "matched": []})
            continue
        answers = [answer_of(current, w, purpose) for w, _ in matched]
        statuses = {a["status"] for a in answers}
        status = "disallowed" if "disallowed" in statuses else "allowed" if "allowed" in statuses else "unknown"
        sids = sorted({sid for a in answers for sid in a["statements"]})
        out.append({"hash": h, "status": status, "statements": sids, "match": "near", "matched": matched})
    return out


def state_in_view(log, n: int, t: int | None):
    """§3 steps 1-2 in V(n, t): per work, the current statement of each
    artist; the works any statement in V names; and (§4.3) the counting
    image codes that are not featureless, as (work, first 64 bits)."""
    v = view(log, n, t)
    key_artist: dict[str, str] = {}  # step 1: key id -> artist id
    revoked: dict[str, int] = {}  # step 1: revocation time in V

    def revoke(key: str, when: int):
        revoked[key] = min(when, revoked.get(key, when))

    statements = []
    for e, p in v:
        if e.kind == 1:
            key_artist[p] = sha256(e.payload).hex()
        elif e.kind == 2:
            if p["action"] in ("add", "rotate"):
                key_artist[p["key"]] = p["artist"]
                if p["action"] == "rotate":
                    revoke(p["replaces"], e.received_at)
            else:
                revoke(p["key"], p["effective_at"] if p["effective_at"] is not None else e.received_at)
        elif e.kind == 3:
            signer = "ed25519:" + e.signatures[0][0].hex()
            if len(e.signatures) != 1 or p["key"] != signer:
                raise Invalid(f"entry {e.index}: statement key is not its single signer")
            statements.append((e, p, signer))

    # Step 2: counting statements; per work and artist the current one.
    current: dict[bytes, dict[str, tuple]] = {}
    named: set[bytes] = set()
    codes: list[tuple[bytes, int]] = []
    for e, p, key in statements:
        named.update(p["works"])
        if key not in key_artist:
            raise Invalid(f"entry {e.index}: statement signed by {key}, which no registration or key event in V added")
        if key in revoked and not e.received_at < revoked[key]:
            continue  # does not count
        codes.extend((w, int.from_bytes(body[:8], "big")) for w, body in p["codes"] if not featureless(body))
        artist = key_artist[key]
        rank = (p["issued_at"], e.index)
        for w in p["works"]:
            best = current.setdefault(w, {}).get(artist)
            if best is None or rank > best[0]:
                current[w][artist] = (rank, sha256(e.payload), p["consent"])

    return current, named, codes


# ---------------------------------------------------------------------------
# §4 digests


def hashes_digest(hashes: list[bytes]) -> str:
    return blake3_256(b"".join(hashes)).hex()


MATCH_BYTE = {"exact": b"e", "near": b"n", None: b"-"}


def items_digest(items: list[dict]) -> str:
    """§4.3 item records."""
    out = bytearray()
    for it in items:
        out += (b"\x01" + it["hash"]) if it["hash"] is not None else b"\x00"
        out += bytes([len(it["codes"])])
        for body in it["codes"]:
            out += bytes([len(body)]) + body
    return blake3_256(bytes(out)).hex()


def near_answers_digest(answers: list[dict]) -> str:
    """§4.3 answer records."""
    out = bytearray()
    for a in answers:
        out += MATCH_BYTE[a["match"]] + bytes([len(a["matched"])])
        for w, d in a["matched"]:
            out += w + bytes([d])
        out += STATUS_BYTE[a["status"]] + len(a["statements"]).to_bytes(4, "big")
        for sid in a["statements"]:
            out += sid
    return blake3_256(bytes(out)).hex()


def answers_digest(answers: list[dict]) -> str:
    out = bytearray()
    for a in answers:
        out += a["hash"] + STATUS_BYTE[a["status"]] + len(a["statements"]).to_bytes(4, "big")
        for sid in a["statements"]:
            out += sid
    return blake3_256(bytes(out)).hex()


def count_statuses(answers: list[dict]) -> dict[str, int]:
    return {s: sum(a["status"] == s for a in answers) for s in ("allowed", "disallowed", "unknown")}


def vector_answers(items: list[dict]) -> list[dict]:
    """The vector's answers in the internal form (bytes)."""
    out = []
    for a in items:
        sids = [bytes.fromhex(s) for s in a["statements"]]
        if any(len(s) != 32 for s in sids) or a["status"] not in STATUS_BYTE:
            raise Invalid("malformed answer in the vector")
        out.append({"hash": content_hash(a["hash"], "answer hash"), "status": a["status"], "statements": sids})
    return out


def show(answers: list[dict]) -> str:
    return "; ".join(f"{a['hash'].hex()[:8]} {a['status']} [{','.join(s.hex()[:8] for s in a['statements'])}]"
                     for a in answers)


# ---------------------------------------------------------------------------
# Tampering helpers for the negative checks


def with_payload(env: dict, payload: bytes) -> dict:
    out = json.loads(json.dumps(env))
    out["payload"] = base64.b64encode(payload).decode("ascii")
    return out


def fails(env: dict, verifier: Verifier, **kw) -> ReceiptError | None:
    try:
        verify_receipt(env, verifier, **kw)
    except ReceiptError as e:
        return e
    return None


# ---------------------------------------------------------------------------


def self_test(rep: Report, rdoc: dict, verifier: Verifier) -> None:
    rep.check(pae(b"http://example.com/HelloWorld", b"hello world") == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world",
              "self-test: PAE reproduces the DSSE example (statement.md §3.5)")
    rep.check(hashes_digest([]) == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
              "self-test: BLAKE3 of the empty string (digest of no hashes, §4.1)")
    rep.check(EMPTY_ROOT.hex().startswith("e3b0c442"), "self-test: MTH({}) = SHA-256(\"\") (log.md §3.1)")
    # Strict Ed25519 (statement.md §4.1) on the first receipt's signature.
    env = rdoc["checks"][0]["receipt"] if rdoc["checks"] else None
    if env is None:
        rep.check(False, "self-test: receipts.json has a check")
        return
    ptype, payload, _, sig = parse_envelope(env)
    msg = pae(ptype.encode(), payload)
    s_plus_l = sig[:32] + (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little")
    rep.check(verify_strict(verifier.public_key, msg, sig) is None
              and verify_strict(verifier.public_key, msg, s_plus_l) == "S is not a canonical scalar (S >= L)",
              "self-test: strict Ed25519 refuses the receipt signature with S + L (non-canonical S)")
    rep.check(all(verify_strict(verifier.public_key, msg, r + sig[32:]) == "R has small order" for r in SMALL_ORDER),
              "self-test: strict Ed25519 refuses the 8 small-order encodings of R")
    y_plus_p = (1 + P).to_bytes(32, "little")  # a non-canonical encoding of the identity (y = 1)
    neg_zero = (1 | 1 << 255).to_bytes(32, "little")  # x = 0 with sign bit 1
    rep.check(all(key_problem(k) == "key has small order" for k in SMALL_ORDER)
              and key_problem(y_plus_p) is not None and key_problem(neg_zero) is not None
              and key_problem(verifier.public_key) is None,
              "self-test: keys of small order and non-canonical key encodings are refused (statement.md §2)")
    other = json.loads(json.dumps(env))
    # The key of statement.md §3.6's worked example: a valid key, not the log's.
    other["signatures"][0]["keyid"] = "ed25519:d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737"
    err = fails(other, verifier)
    rep.check(err is not None and err.step == "envelope",
              "self-test: a receipt whose keyid is another key is refused (§2: the key must be the log's)", str(err))


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent.parent / "vectors"
    receipts_path = Path(argv[1]) if len(argv) > 1 else here / "receipts.json"
    log_path = Path(argv[2]) if len(argv) > 2 else here / "log.json"
    rdoc = json.loads(receipts_path.read_text(encoding="utf-8"))
    ldoc = json.loads(log_path.read_text(encoding="utf-8"))
    rep = Report()

    # The pinned verifier key, and the log it belongs to.
    try:
        verifier = parse_verifier_key(rdoc["verifier_key"])
    except Invalid as e:
        rep.check(False, "verifier key parses (log.md §4.1)", str(e))
        print(f"{rep.passed} passed, {rep.failed} failed")
        return 1
    self_test(rep, rdoc, verifier)
    rep.check(verifier.name == rdoc["origin"] and rdoc["origin"] == ldoc["origin"]
              and rdoc["verifier_key"] == ldoc["verifier_key"],
              "verifier key parses, its key id matches, its name is the origin; same origin and key as log.json (§6)",
              f"receipts: {rdoc['origin']} {rdoc['verifier_key']}, log: {ldoc['origin']} {ldoc['verifier_key']}")
    try:
        log = load_log(ldoc["entries_b64"])
        rep.check(True, f"log.json: all {len(log)} entries decode (log.md §2), their signatures verify "
                        "strictly over PAE, their payloads parse")
    except Invalid as e:
        rep.check(False, "log.json: entries decode, verify and parse", str(e))
        print(f"{rep.passed} passed, {rep.failed} failed")
        return 1
    leaves = [sha256(b"\x00" + e.raw) for e, _ in log]

    for ci, c in enumerate(rdoc["checks"]):
        desc = str(c.get("description", "")) if isinstance(c, dict) else ""
        name = f"check #{ci + 1} ({desc[:48]}…)" if len(desc) > 48 else f"check #{ci + 1} ({desc})"
        try:
            run_check(rep, ci, name, c, verifier, log, leaves)
        except (Invalid, KeyError, TypeError, ValueError, AttributeError) as e:
            rep.check(False, f"{name}: the vector is usable", f"{type(e).__name__}: {e}")

    if len(rdoc["checks"]) < 2:
        rep.check(False, "check #2 exists (for the as_of negative check)")

    print(f"{rep.passed} passed, {rep.failed} failed")
    return 1 if rep.failed else 0


def run_check(rep: Report, ci: int, name: str, c: dict, verifier: Verifier, log, leaves: list[bytes]) -> None:
    """Checks 1-4 of the module docstring for one check of receipts.json."""
    env = c["receipt"]

    # 1. The receipt is well-formed (§2, §5 step 1).
    try:
        r = verify_receipt(env, verifier)
        rep.check(True, f"{name}: receipt signature verifies (strict Ed25519 over PAE, registry key) and payload is well-formed (§2)")
    except ReceiptError as e:
        rep.check(False, f"{name}: receipt is well-formed (§2)", str(e))
        return
    if c.get("match") == "near":
        run_near_check(rep, name, c, r, log, leaves)
        return
    # The question of the vector is the receipt's.
    as_of = timestamp(c["as_of"], "as_of") if c["as_of"] is not None else None
    rep.check(r["purpose"] == c["purpose"] and r["as_of"] == as_of and r["as_of_text"] == c["as_of"]
              and r["size"] == c["tree_size"] and r["count"] == len(c["hashes"]),
              f"{name}: receipt's purpose, as_of, checkpoint size and hashes.count are the question's",
              f"receipt {r['purpose']} {r['as_of_text']} {r['size']} {r['count']}, vector {c['purpose']} {c['as_of']} "
              f"{c['tree_size']} {len(c['hashes'])}")

    # 2. The root of the first tree_size entries.
    n = c["tree_size"]
    if not rep.check(0 <= n <= len(log) and mth(leaves[:n]) == r["root"],
                     f"{name}: RFC 9162 root of the first {n} entries of log.json equals the receipt's checkpoint root",
                     f"log has {len(log)} entries" if not 0 <= n <= len(log) else
                     f"computed {mth(leaves[:n]).hex()}, receipt {r['root'].hex()}"):
        return

    # 3. Answers, digests, counts.
    hashes = [content_hash(h, "hash") for h in c["hashes"]]
    try:
        mine = answers_in_view(log, n, as_of, c["purpose"], hashes)
    except Invalid as e:
        rep.check(False, f"{name}: answers recomputed in V({n}, {c['as_of']})", str(e))
        return
    theirs = vector_answers(c["answers"])
    rep.check(mine == theirs, f"{name}: {len(mine)} answers recomputed in V({n}, {c['as_of'] or '+inf'}) equal the vector's (§3)",
              f"\n  computed {show(mine)}\n  vector   {show(theirs)}")
    hd = hashes_digest(hashes)
    rep.check(hd == c["hashes_blake3"] == r["hashes_blake3"], f"{name}: hashes.blake3 recomputed (§4.1) = vector = receipt",
              f"computed {hd}, vector {c['hashes_blake3']}, receipt {r['hashes_blake3']}")
    ad = answers_digest(mine)
    rep.check(ad == c["answers_blake3"] == r["answers_blake3"], f"{name}: answers.blake3 recomputed (§4.2) = vector = receipt",
              f"computed {ad}, vector {c['answers_blake3']}, receipt {r['answers_blake3']}")
    counts = count_statuses(mine)
    rep.check(counts == r["counts"], f"{name}: counts recomputed = receipt's {r['counts']}", f"computed {counts}")

    # 4. Negative checks.
    # 4a. One bit of the signature flipped.
    bad = json.loads(json.dumps(env))
    sig = bytearray(b64_dsse(bad["signatures"][0]["sig"]))
    sig[ci % 64] ^= 1 << (ci % 8)
    bad["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode("ascii")
    err = fails(bad, verifier)
    rep.check(err is not None and err.step == "signature", f"{name}: negative: a signature with bit {ci % 8} of byte {ci % 64} flipped fails at the signature",
              "it verifies" if err is None else f"failed elsewhere: {err}")

    # 4b. One hex digit of the answers digest changed, payload re-encoded.
    payload = r["payload_bytes"]
    marker = b'"answers":{"blake3":"'
    found = payload.find(marker)
    at = found + len(marker)
    digit = payload[at : at + 1]
    changed = payload[:at] + (b"0" if digit != b"0" else b"1") + payload[at + 1 :]
    bad = with_payload(env, changed)
    err = fails(bad, verifier)
    ok = err is not None and err.step == "signature"
    # Without the signature check the altered payload is well-formed, and
    # only the answers digest then tells it apart.
    try:
        unsigned = verify_receipt(bad, verifier, skip_signature=True)
        ok &= unsigned["answers_blake3"] != ad
    except ReceiptError as e:
        ok = False
        err = e
    rep.check(ok and found >= 0, f"{name}: negative: answers.blake3 with one hex digit changed fails at the signature",
              "it verifies" if err is None else str(err))

    # 4c. Checkpoint root swapped for the root of another size (in the
    # `root` member and in the note), nothing re-signed.
    other = n - 1 if n > 1 else n + 1
    other_root = mth(leaves[:other])
    old_b64, new_b64 = base64.b64encode(r["root"]).decode(), base64.b64encode(other_root).decode()
    changed = payload.replace(old_b64.encode(), new_b64.encode())
    bad = with_payload(env, changed)
    err = fails(bad, verifier)
    ok = err is not None and err.step == "signature" and changed != payload
    unsigned_err = fails(bad, verifier, skip_signature=True)  # the note does not verify either
    ok &= unsigned_err is not None and unsigned_err.step == "checkpoint"
    rep.check(ok, f"{name}: negative: checkpoint root swapped for the root of size {other} fails at the signature "
                  "(and, unsigned, at the checkpoint note)",
              f"signed: {err}; unsigned: {unsigned_err}")

    # 4d. One status changed gives a different answers digest.
    altered = [dict(a) for a in mine]
    j = ci % len(altered) if altered else 0
    if altered:
        altered[j]["status"] = {"allowed": "disallowed", "disallowed": "unknown", "unknown": "allowed"}[altered[j]["status"]]
    rep.check(bool(altered) and answers_digest(altered) != ad,
              f"{name}: negative: answer {j} with its status changed gives a different answers.blake3")

    # 4e. The view: check #2 asked without its as_of gives different answers.
    if ci == 1:
        now = answers_in_view(log, n, None, c["purpose"], hashes)
        diff = [k for k, (a, b) in enumerate(zip(now, theirs)) if a != b]
        rep.check(as_of is not None and bool(diff) and answers_digest(now) != ad,
                  f"{name}: negative: the same question without as_of gives different answers (hashes {diff})",
                  "the check has no as_of" if as_of is None else "same answers with and without as_of")

def run_near_check(rep: Report, name: str, c: dict, r: dict, log, leaves: list[bytes]) -> None:
    """§4.3: a near-matching check: a version 2 receipt whose item and
    answer digests are recomputed from the log."""
    as_of = timestamp(c["as_of"], "as_of") if c["as_of"] is not None else None
    items = []
    for i, it in enumerate(c["items"]):
        if type(it) is not dict or not set(it) <= {"hash", "fingerprints"}:
            raise Invalid(f"items[{i}] is not an object with `hash` and/or `fingerprints`")
        if any(f.get("algorithm") != "iscc-image-v0" for f in it.get("fingerprints", [])):
            raise Invalid(f"items[{i}]: a fingerprint is not iscc-image-v0")
        items.append({
            "hash": content_hash(it["hash"], f"items[{i}].hash") if "hash" in it else None,
            "codes": [image_code(f["value"], f"items[{i}]") for f in it.get("fingerprints", [])],
        })
    rep.check(r["version"] == 2 and r["purpose"] == c["purpose"] and r["as_of"] == as_of and r["size"] == c["tree_size"]
              and r["count"] == len(items),
              f"{name}: a version 2 receipt (§4.3) for the question's purpose, as_of, checkpoint size and item count")
    n = c["tree_size"]
    if not rep.check(0 <= n <= len(log) and mth(leaves[:n]) == r["root"],
                     f"{name}: RFC 9162 root of the first {n} entries of log.json equals the receipt's checkpoint root"):
        return
    mine = near_answers_in_view(log, n, as_of, c["purpose"], items, r["max_distance"])
    theirs = [{"hash": content_hash(a["hash"], "hash") if a["hash"] is not None else None,
               "status": a["status"], "statements": [bytes.fromhex(x) for x in a["statements"]],
               "match": a["match"], "matched": [(content_hash(m["hash"], "matched"), m["distance"]) for m in a["matched"]]}
              for a in c["answers"]]
    rep.check(mine == theirs, f"{name}: {len(mine)} near-matching answers recomputed in V({n}, {c['as_of'] or '+inf'}) "
                              f"with max_distance {r['max_distance']} equal the vector's (§4.3)",
              f"\n  computed {mine}\n  vector   {theirs}")
    hd = items_digest(items)
    rep.check(hd == c["hashes_blake3"] == r["hashes_blake3"], f"{name}: item records digest recomputed (§4.3) = vector = receipt",
              f"computed {hd}, receipt {r['hashes_blake3']}")
    ad = near_answers_digest(mine)
    rep.check(ad == c["answers_blake3"] == r["answers_blake3"], f"{name}: answer records digest recomputed (§4.3) = vector = receipt",
              f"computed {ad}, receipt {r['answers_blake3']}")
    counts = count_statuses(mine)
    matched = {"exact": sum(a["match"] == "exact" for a in mine), "near": sum(a["match"] == "near" for a in mine)}
    rep.check(counts == r["counts"] and matched == r["matched"], f"{name}: counts {counts} and matched {matched} recomputed = receipt's")
    # Negative: one distance changed gives a different answers digest.
    altered = [dict(a) for a in mine]
    k = next((i for i, a in enumerate(altered) if a["match"] == "near"), None)
    if k is not None:
        altered[k]["matched"] = [(w, d + 2) for w, d in altered[k]["matched"]]
    rep.check(k is not None and near_answers_digest(altered) != ad,
              f"{name}: negative: a near answer with its distances changed gives a different answers digest")


if __name__ == "__main__":
    sys.exit(main(sys.argv))

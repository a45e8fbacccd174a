#!/usr/bin/env python3
"""Independent verifier for the Consentry transparency-log test vectors.

Written from spec/log.md alone (plus the parts of spec/statement.md it
refers to: key ids §2, payload types §3.2, PAE §3.5, strict Ed25519 §4.1,
timestamps §5.7, JSON rules §5.1/§5.9, registration §6, key event §7,
document id §8). Section numbers below refer to spec/log.md unless marked
"statement.md".

Reads spec/vectors/log.json (or the path given as the first argument; shape
in log.md §8) and checks:

  1. entries    every entry decodes strictly as §2 and its leaf hash is
                SHA-256(0x00 || entry) (§2);
  2. roots      roots_hex[k] is the RFC 9162 MTH (§3.1, computed here
                recursively) of the first k+1 entries;
  3. inclusion  every inclusion proof verifies (§3.2) against
                roots_hex[tree_size-1] and the leaf hash computed from the
                entry, equals the RFC 9162 PATH computed here, and fails when
                any one of its hashes has a bit flipped;
  4. consistency every consistency proof verifies (§3.3) against the two
                roots, equals the RFC 9162 PROOF computed here, and fails
                when any one of its hashes has a bit flipped;
  5. checkpoints every note parses (§4.1), opens with its verifier key
                (parsed by splitting at the first two '+', key id checked),
                names the vectors' origin, and its size/root match the log;
                sizes strictly increase (§4.2);
  6. signatures every entry signature verifies with strict Ed25519 over
                PAE(payload_type, payload) (statement.md §3.5, §4.1);
  7. audit      the replay of §7 (format, order, registrations, key events,
                statements, payout records, final root) holds for every entry;
  8. payouts    each payout statement (spec/payouts.md §7) is signed by the
                log's key, its id is the SHA-256 of its payload, and the
                payout record at its log index names it.

Requires Python 3.11+ and the `cryptography` package (Ed25519 equation);
everything else is implemented here.

Usage: python3 spec/tools/verify_log.py [-v] [log.json]
Prints one line per failed check (with -v, one per check) and a final line
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

ARTIST_TYPE = "application/vnd.consentry.artist.v1+json"
KEY_EVENT_TYPE = "application/vnd.consentry.key-event.v1+json"
STATEMENT_TYPE = "application/vnd.consentry.statement.v1+json"
PAYOUT_RECORD_TYPE = "application/vnd.consentry.payout-record.v1+json"
PAYOUT_STATEMENT_TYPE = "application/vnd.consentry.payout-statement.v1+json"
KIND_TYPES = {1: ARTIST_TYPE, 2: KEY_EVENT_TYPE, 3: STATEMENT_TYPE, 4: PAYOUT_RECORD_TYPE}  # §2, statement.md §3.2
KIND_NAMES = {1: "artist registration", 2: "key event", 3: "statement", 4: "payout record"}

MAX_ENTRY = 65_535  # §2
MAX_PAYLOAD = 60_000  # §2 (registry refuses larger payloads)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


EMPTY_ROOT = sha256(b"")


# ---------------------------------------------------------------------------
# Result bookkeeping


class Report:
    def __init__(self, verbose: bool):
        self.verbose = verbose
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, name: str, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            if self.verbose:
                print(f"ok    {name}")
        else:
            self.failed += 1
            print(f"FAIL  {name}{': ' + detail if detail else ''}")
        return ok


# ---------------------------------------------------------------------------
# statement.md §2 keys, §4.1 strict Ed25519

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
    """RFC 8032 §5.1.3 decoding with both canonicity conditions enforced."""
    if len(enc) != 32:
        return None
    n = int.from_bytes(enc, "little")
    sign = n >> 255
    y = n & ((1 << 255) - 1)
    if y >= P:
        return None
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x = (u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P)) % P
    vxx = (v * x * x) % P
    if vxx == u:
        pass
    elif vxx == (-u) % P:
        x = (x * SQRT_M1) % P
    else:
        return None
    if x == 0 and sign == 1:
        return None
    if x & 1 != sign:
        x = P - x
    return x, y


def key_problem(a: bytes) -> str | None:
    """statement.md §2 conditions 2 and 3 on a raw 32-byte key."""
    if len(a) != 32:
        return f"key is {len(a)} bytes, not 32"
    if decode_point(a) is None:
        return "key is not the canonical encoding of a curve point"
    if a in SMALL_ORDER:
        return "key has small order"
    return None


def key_id(a: bytes) -> str:
    return "ed25519:" + a.hex()


def verify_strict(a: bytes, message: bytes, sig: bytes) -> str | None:
    """statement.md §4.1. Returns None when valid, else why not."""
    problem = key_problem(a)  # step 3 (and §2)
    if problem:
        return problem
    if len(sig) != 64:
        return f"signature is {len(sig)} bytes, not 64"
    r, s = sig[:32], int.from_bytes(sig[32:], "little")
    if s >= L:  # step 1
        return "S is not a canonical scalar (S >= L)"
    if r in SMALL_ORDER:  # step 2
        return "R has small order"
    try:  # steps 4, 5 (cofactorless; R compared as bytes)
        Ed25519PublicKey.from_public_bytes(a).verify(sig, message)
    except InvalidSignature:
        return "[S]B != R + [k]A"
    return None


def pae(payload_type: bytes, payload: bytes) -> bytes:
    """statement.md §3.5."""
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(payload), payload)


# ---------------------------------------------------------------------------
# Encodings (§1)

HEX32_RE = re.compile(r"[0-9a-f]{64}")


def hex32(text: object) -> bytes | None:
    """A 32-byte hash as lowercase hex."""
    if isinstance(text, str) and HEX32_RE.fullmatch(text):
        return bytes.fromhex(text)
    return None


def b64_std(text: object) -> bytes | None:
    """Standard base64 with padding (RFC 4648 §4), canonical."""
    if not isinstance(text, str):
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        return None
    if base64.b64encode(raw).decode("ascii") != text:
        return None
    return raw


# ---------------------------------------------------------------------------
# §2 Entries


class Entry:
    __slots__ = ("raw", "kind", "received_at", "payload_type", "signatures", "payload")

    def __init__(self, raw, kind, received_at, payload_type, signatures, payload):
        self.raw = raw
        self.kind = kind
        self.received_at = received_at
        self.payload_type = payload_type  # bytes (ASCII)
        self.signatures = signatures  # list of (key 32 bytes, sig 64 bytes)
        self.payload = payload


class Malformed(ValueError):
    pass


def decode_entry(raw: bytes) -> Entry:
    """§2, strictly: version, kind, lengths, sig count, no trailing bytes."""
    pos = 0

    def take(n: int, what: str) -> bytes:
        nonlocal pos
        if pos + n > len(raw):
            raise Malformed(f"truncated in {what} (needs {n} bytes at offset {pos}, entry is {len(raw)})")
        out = raw[pos : pos + n]
        pos += n
        return out

    if len(raw) > MAX_ENTRY:
        raise Malformed(f"entry is {len(raw)} bytes, over {MAX_ENTRY}")
    version = take(1, "version")[0]
    if version != 0x01:
        raise Malformed(f"version is 0x{version:02x}, not 0x01")
    kind = take(1, "kind")[0]
    if kind not in KIND_TYPES:
        raise Malformed(f"kind is 0x{kind:02x}, not 0x01 to 0x04")
    received_at = int.from_bytes(take(8, "received_at"), "big")
    type_len = take(1, "type_len")[0]
    payload_type = take(type_len, "payload_type")
    if not payload_type.isascii():
        raise Malformed("payload type is not ASCII")
    sig_count = take(1, "sig_count")[0]
    if sig_count not in (1, 2):
        raise Malformed(f"sig_count is {sig_count}, not 1 or 2")
    signatures = []
    for i in range(sig_count):
        key = take(32, f"signature {i} key")
        sig = take(64, f"signature {i}")
        signatures.append((key, sig))
    payload_len = int.from_bytes(take(2, "payload_len"), "big")
    payload = take(payload_len, "payload")
    if pos != len(raw):
        raise Malformed(f"{len(raw) - pos} trailing bytes after the payload")
    return Entry(raw, kind, received_at, payload_type, signatures, payload)


def leaf_hash(entry: bytes) -> bytes:
    return sha256(b"\x00" + entry)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


# ---------------------------------------------------------------------------
# §3 The tree (RFC 9162 §2.1), computed from the definitions


def largest_pow2_below(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    """§3.1 over leaf hashes."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = largest_pow2_below(n)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def audit_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n])."""
    n = len(leaves)
    if n <= 1:
        return []
    k = largest_pow2_below(n)
    if m < k:
        return audit_path(m, leaves[:k]) + [mth(leaves[k:])]
    return audit_path(m - k, leaves[k:]) + [mth(leaves[:k])]


def consistency_proof(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(m, D[n]) for 0 < m < n."""

    def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
        n = len(d)
        if m == n:
            return [] if b else [mth(d)]
        k = largest_pow2_below(n)
        if m <= k:
            return subproof(m, d[:k], b) + [mth(d[k:])]
        return subproof(m - k, d[k:], False) + [mth(d[:k])]

    return subproof(m, leaves, True)


def verify_inclusion(index: int, tree_size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """§3.2, verbatim."""
    if index >= tree_size:
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, path: list[bytes]) -> bool:
    """§3.3, verbatim (including the old == new and old == 0 cases)."""
    if old > new:
        return False
    if old == new:
        return not path and old_root == new_root
    if old == 0:
        return not path
    if not path:
        return False
    if old & (old - 1) == 0:
        path = [old_root] + path
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


def tamperings(path: list[bytes]):
    """Every copy of `path` with one bit of one hash flipped (one per hash)."""
    for j in range(len(path)):
        h = bytearray(path[j])
        h[j % 32] ^= 1 << (j % 8)
        yield j, path[:j] + [bytes(h)] + path[j + 1 :]


# ---------------------------------------------------------------------------
# §4.1 Checkpoints (C2SP signed-note + tlog-checkpoint)


class Verifier:
    __slots__ = ("name", "key_id", "public_key")

    def __init__(self, name: str, key_id: bytes, public_key: bytes):
        self.name = name
        self.key_id = key_id
        self.public_key = public_key


def note_key_id(name: str, public_key: bytes) -> bytes:
    return sha256(name.encode("utf-8") + b"\x0a" + b"\x01" + public_key)[:4]


def parse_verifier_key(text: str) -> Verifier:
    """`<origin>+<hex(key_id)>+<base64(0x01 || public_key)>`, split at the
    first two '+'."""
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise ValueError("verifier key does not have three '+'-separated parts")
    name, id_hex, key_b64 = parts
    if not name:
        raise ValueError("verifier key has an empty name")
    if not re.fullmatch(r"[0-9a-f]{8}", id_hex):
        raise ValueError(f"key id `{id_hex}` is not 8 lowercase hex digits")
    blob = b64_std(key_b64)
    if blob is None:
        raise ValueError("key part is not standard padded base64")
    if len(blob) != 33 or blob[0] != 0x01:
        raise ValueError("key part is not 0x01 followed by a 32-byte Ed25519 key")
    public_key = blob[1:]
    problem = key_problem(public_key)
    if problem:
        raise ValueError(problem)
    kid = bytes.fromhex(id_hex)
    want = note_key_id(name, public_key)
    if kid != want:
        raise ValueError(f"key id {id_hex} != SHA-256(name || 0x0A || 0x01 || key)[:4] = {want.hex()}")
    return Verifier(name, kid, public_key)


SIZE_RE = re.compile(r"0|[1-9][0-9]*")


def open_checkpoint(note: str, verifier: Verifier) -> tuple[str, int, bytes]:
    """Parses and verifies a checkpoint note; returns (origin, size, root)."""
    if not note.endswith("\n"):
        raise ValueError("note does not end with a newline")
    split = note.find("\n\n")
    if split < 0:
        raise ValueError("no blank line between text and signatures")
    text = note[: split + 1]
    sig_block = note[split + 2 :]
    lines = text[:-1].split("\n")
    if len(lines) != 3:
        raise ValueError(f"text has {len(lines)} lines, expected 3 (origin, size, root; no extensions)")
    origin, size_text, root_text = lines
    if not origin:
        raise ValueError("empty origin")
    if not SIZE_RE.fullmatch(size_text):
        raise ValueError(f"size `{size_text}` is not decimal without leading zeros")
    size = int(size_text)
    root = b64_std(root_text)
    if root is None or len(root) != 32:
        raise ValueError(f"root `{root_text}` is not standard padded base64 of 32 bytes")
    message = text.encode("utf-8")

    sig_lines = sig_block[:-1].split("\n") if sig_block else []
    if not sig_lines:
        raise ValueError("no signature lines")
    verified = False
    for line in sig_lines:
        if not line.startswith("\u2014 "):
            raise ValueError(f"signature line `{line[:60]}` does not start with an em dash and a space")
        rest = line[2:].split(" ")
        if len(rest) != 2 or not rest[0]:
            raise ValueError(f"signature line `{line[:60]}` is not `— <name> <base64>`")
        name, blob_b64 = rest
        blob = b64_std(blob_b64)
        if blob is None or len(blob) < 5:
            raise ValueError(f"signature of `{name}` is not standard padded base64 of key id || signature")
        if name != verifier.name or blob[:4] != verifier.key_id:
            continue  # other signers are ignored
        problem = verify_strict(verifier.public_key, message, blob[4:])
        if problem:
            raise ValueError(f"signature by the verifier key does not verify: {problem}")
        verified = True
    if not verified:
        raise ValueError("no signature line with the verifier key's name and key id")
    return origin, size, root


# ---------------------------------------------------------------------------
# Payloads: statement.md §5.1 JSON rules, §5.7 timestamps, §6, §7


class Invalid(ValueError):
    pass


class Obj:
    """A JSON object as its (name, value) pairs, duplicates kept."""

    __slots__ = ("pairs",)

    def __init__(self, pairs):
        self.pairs = pairs


def _parse_int(text: str):
    if text == "-0":
        return -0.0  # not an integer
    return int(text)


def _parse_float(text: str) -> float:
    f = float(text)
    if f in (float("inf"), float("-inf")):
        raise Invalid(f"number {text[:20]} exceeds the double range")
    return f


def _parse_constant(text: str):
    raise Invalid(f"{text} is not JSON")


def parse_json(data: bytes) -> object:
    """statement.md §5.1: UTF-8 without BOM, valid escapes, no lone
    surrogates, finite numbers, depth <= 127."""
    try:
        text = data.decode("utf-8")
        if text.startswith("\ufeff"):
            raise Invalid("byte order mark")
        value = json.loads(
            text,
            object_pairs_hook=Obj,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
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
            if isinstance(item, Obj):
                for k, v in item.pairs:
                    stack.append((k, depth))
                    stack.append((v, depth))
            else:
                stack.extend((v, depth) for v in item)
    return value


def members(v: object, what: str, required: set[str], optional: set[str]) -> dict:
    """A record: an object, no unknown, duplicate or null members, required
    members present (statement.md §5.1, §5.9)."""
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


def version_one(v: object) -> None:
    if type(v) is not int or not 0 <= v < 2**32:
        raise Invalid("version is not an integer 0 <= n < 2^32")
    if v != 1:
        raise Invalid(f"version is {v}, not 1")


TIMESTAMP_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?Z"
)
EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


def timestamp(v: object, what: str) -> int:
    """statement.md §5.7; returns unix nanoseconds."""
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


WHITE_SPACE = (
    "\u0009\u000a\u000b\u000c\u000d\u0020\u0085\u00a0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def parse_registration(payload: bytes) -> dict:
    """statement.md §6."""
    m = members(parse_json(payload), "registration", {"version", "key", "display_name", "issued_at"}, set())
    version_one(m["version"])
    out = {"key": string(m["key"], "key")}
    name = string(m["display_name"], "display_name")
    if not name.strip(WHITE_SPACE):
        raise Invalid("display_name is empty after trimming")
    if "\0" in name:
        raise Invalid("display_name contains U+0000")
    if len(name) > 512:
        raise Invalid("display_name is longer than 512 characters")
    out["display_name"] = name
    out["issued_at"] = timestamp(m["issued_at"], "issued_at")
    return out


HEX64_RE = re.compile(r"[0-9a-f]{64}")
BUILDER_RE = re.compile(r"b_[0-9a-f]{32}")
RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def parse_payout_record(payload: bytes) -> dict:
    """§2 kind 4 (payouts.md §8)."""
    m = members(parse_json(payload), "payout record", {"version", "statement", "builder", "run_id", "issued_at"}, set())
    version_one(m["version"])
    out = {k: string(m[k], k) for k in ("statement", "builder", "run_id")}
    if not HEX64_RE.fullmatch(out["statement"]):
        raise Invalid("statement is not 64 lowercase hex digits")
    if not BUILDER_RE.fullmatch(out["builder"]):
        raise Invalid("builder is not b_ and 32 lowercase hex digits")
    if not RUN_ID_RE.fullmatch(out["run_id"]):
        raise Invalid("run_id is not 1-128 of A-Z a-z 0-9 . _ : -, starting with a letter or digit")
    out["issued_at"] = timestamp(m["issued_at"], "issued_at")
    return out


def parse_key_event(payload: bytes) -> dict:
    """statement.md §7."""
    m = members(
        parse_json(payload),
        "key event",
        {"version", "artist", "action", "key", "issued_at"},
        {"replaces", "effective_at"},
    )
    version_one(m["version"])
    action = m["action"]
    if type(action) is not str or action not in ("add", "rotate", "revoke"):
        raise Invalid("action is not the string add, rotate or revoke")
    out = {
        "artist": string(m["artist"], "artist"),
        "action": action,
        "key": string(m["key"], "key"),
        "issued_at": timestamp(m["issued_at"], "issued_at"),
        "replaces": string(m["replaces"], "replaces") if "replaces" in m else None,
        "effective_at": timestamp(m["effective_at"], "effective_at") if "effective_at" in m else None,
    }
    if action == "rotate" and out["replaces"] is None:
        raise Invalid("rotate without replaces")
    if action != "rotate" and out["replaces"] is not None:
        raise Invalid(f"{action} with replaces")
    if action != "revoke" and out["effective_at"] is not None:
        raise Invalid(f"{action} with effective_at")
    if out["replaces"] is not None and out["replaces"] == out["key"]:
        raise Invalid("replaces equals key")
    return out


def statement_key(payload: bytes) -> str:
    """The `key` member of a statement payload (log.md §7 rule 6 needs only
    that; the full statement rules are checked by verify_statements.py)."""
    v = parse_json(payload)
    if not isinstance(v, Obj):
        raise Invalid("statement is not a JSON object")
    keys = [val for k, val in v.pairs if k == "key"]
    if len(keys) != 1:
        raise Invalid("statement has no `key` member, or more than one")
    return string(keys[0], "key")


# ---------------------------------------------------------------------------
# §7 Auditing


class Key:
    __slots__ = ("artist", "added", "revoked")

    def __init__(self, artist: str, added: int):
        self.artist = artist
        self.added = added
        self.revoked: int | None = None

    def active_at(self, t: int) -> bool:
        return self.revoked is None or t < self.revoked


class Auditor:
    """The state of §7: keys (artist, added time, revocation time), artists,
    previous receipt time. Keys are keyed by their key id text."""

    def __init__(self, log_key: str | None):
        self.log_key = log_key  # key id of the log's verifier key (rule 9)
        self.keys: dict[str, Key] = {}
        self.artists: set[str] = set()
        self.prev_t: int | None = None

    def apply(self, entry: Entry) -> list[tuple[str, str]]:
        """Checks one entry (rules 1, 2, 4-6; rule 3 is check 6) and applies
        its effect. Returns the violated rules as (rule, detail)."""
        problems: list[tuple[str, str]] = []
        t = entry.received_at
        # 1. Format (decoding was done by the caller).
        want_type = KIND_TYPES[entry.kind].encode("ascii")
        if entry.payload_type != want_type:
            problems.append(("1 format", f"payload type `{entry.payload_type.decode('ascii', 'replace')}` is not the one of kind {entry.kind} (`{want_type.decode()}`)"))
        if len(entry.payload) > MAX_PAYLOAD:
            problems.append(("1 format", f"payload is {len(entry.payload)} bytes, over {MAX_PAYLOAD}"))
        signer_keys = [k for k, _ in entry.signatures]
        if len(set(signer_keys)) != len(signer_keys):
            problems.append(("1 format", "a key signs the envelope twice (statement.md §3.4)"))
        # 2. Order.
        if self.prev_t is not None and not t > self.prev_t:
            problems.append(("2 order", f"received_at {t} is not after the previous entry's {self.prev_t}"))
        self.prev_t = t if self.prev_t is None else max(t, self.prev_t)
        signers = [key_id(k) for k in signer_keys]
        doc_id = sha256(entry.payload).hex()
        try:
            if entry.kind == 1:
                problems += self._registration(entry, t, signers, doc_id)
            elif entry.kind == 2:
                problems += self._key_event(entry, t, signers)
            elif entry.kind == 3:
                problems += self._statement(entry, t, signers)
            else:
                problems += self._payout_record(entry, signers)
        except Invalid as e:
            rule = {1: "4 registration", 2: "5 key event", 3: "6 statement", 4: "9 payout record"}[entry.kind]
            problems.append((rule, f"payload does not parse: {e}"))
        return problems

    def _registration(self, entry, t, signers, doc_id):
        problems = []
        rule = "4 registration"
        if len(signers) != 1:
            problems.append((rule, f"{len(signers)} signers, expected exactly one"))
        reg = parse_registration(entry.payload)
        if reg["key"] not in signers or len(signers) != 1:
            problems.append((rule, f"payload key {reg['key']} is not the signer"))
        if reg["key"] in self.keys:
            problems.append((rule, f"key {reg['key']} was registered before"))
        if doc_id in self.artists:
            problems.append((rule, f"artist {doc_id} already exists"))
        if not problems:
            self.artists.add(doc_id)
            self.keys[reg["key"]] = Key(doc_id, t)
        return problems

    def _key_event(self, entry, t, signers):
        problems = []
        rule = "5 key event"
        ev = parse_key_event(entry.payload)
        artist, action, key = ev["artist"], ev["action"], ev["key"]
        if artist not in self.artists:
            return [(rule, f"artist {artist} does not exist")]

        def active_of_artist(k: str) -> bool:
            rec = self.keys.get(k)
            return rec is not None and rec.artist == artist and rec.active_at(t)

        for s in signers:
            if active_of_artist(s):
                continue
            if action in ("add", "rotate") and s == key:
                continue
            problems.append((rule, f"signer {s} is neither an active key of the artist at t{' nor the event key' if action != 'revoke' else ''}"))
        if action in ("add", "rotate"):
            if not KEY_ID_RE.fullmatch(key) or key_problem(bytes.fromhex(key[8:])):
                problems.append((rule, f"key `{key[:80]}` is not an accepted key id"))
            if key not in signers:
                problems.append((rule, f"{action}: the new key {key} did not sign"))
            if key in self.keys:
                problems.append((rule, f"{action}: key {key} was registered before"))
            if action == "rotate":
                replaces = ev["replaces"]
                if not active_of_artist(replaces):
                    problems.append((rule, f"rotate: replaces {replaces} is not an active key of the artist at t"))
                if replaces not in signers:
                    problems.append((rule, f"rotate: replaces {replaces} did not sign"))
            else:
                if not any(s != key for s in signers):
                    problems.append((rule, "add: no signer other than the new key"))
            if not problems:
                self.keys[key] = Key(artist, t)
                if action == "rotate":
                    self.keys[ev["replaces"]].revoked = t
        else:  # revoke
            rec = self.keys.get(key)
            if rec is None or rec.artist != artist:
                return problems + [(rule, f"revoke: key {key} does not belong to the artist")]
            e = ev["effective_at"] if ev["effective_at"] is not None else t
            if e < rec.added:
                problems.append((rule, f"revoke: E={e} is before the key's added time {rec.added}"))
            if rec.revoked is not None and not e < rec.revoked:
                problems.append((rule, f"revoke: E={e} is not before the existing revocation time {rec.revoked}"))
            if not problems:
                rec.revoked = e
        return problems

    def _statement(self, entry, t, signers):
        problems = []
        rule = "6 statement"
        if len(signers) != 1:
            problems.append((rule, f"{len(signers)} signers, expected exactly one"))
        key = statement_key(entry.payload)
        if key not in signers:
            problems.append((rule, f"payload key {key} is not the signer's key id"))
        for s in signers:
            rec = self.keys.get(s)
            if rec is None:
                problems.append((rule, f"signing key {s} was never registered"))
            elif not rec.active_at(t):
                problems.append((rule, f"signing key {s} is not active at t={t} (revoked at {rec.revoked})"))
        return problems


    def _payout_record(self, entry, signers):
        rule = "9 payout record"
        parse_payout_record(entry.payload)
        if len(signers) != 1 or signers[0] != self.log_key:
            return [(rule, f"signed by {signers}, not by exactly the log's key {self.log_key}")]
        return []


# ---------------------------------------------------------------------------
# Self-tests of the worked examples in the specs


def self_test(rep: Report) -> None:
    rep.check(
        pae(b"http://example.com/HelloWorld", b"hello world") == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world",
        "self-test: PAE reproduces the DSSE example (statement.md §3.5)",
    )
    rep.check(
        EMPTY_ROOT.hex().startswith("e3b0c442") and EMPTY_ROOT.hex().endswith("7852b855"),
        "self-test: MTH({}) = e3b0c442…7852b855 (§3.1)",
    )
    t = timestamp("2026-03-01T12:00:00Z", "example")
    prefix = b"\x01\x01" + t.to_bytes(8, "big") + bytes([len(ARTIST_TYPE)]) + ARTIST_TYPE.encode()[:3]
    rep.check(
        t == 1_772_366_400_000_000_000 and prefix.hex() == "01011898b5d9b3d68000" + "28617070",
        "self-test: §2 example entry prefix 01 01 18 98 b5 d9 b3 d6 80 00 28 61 70 70",
        f"got {prefix.hex()} (t={t})",
    )
    rep.check(
        1 + 1 + 8 + 1 + len(ARTIST_TYPE) + 1 + 96 + 2 == 150,
        "self-test: §2 registration entry overhead is 150 bytes",
    )
    # The proof algorithms accept the RFC 9162 proofs computed here for all
    # small trees and refuse a wrong index, a shortened or lengthened path and
    # a wrong root. (A wrong tree_size alone is not always refused: sizes
    # whose trees have the same shape along the path give the same result;
    # the size is bound by the root, which commits to it.)
    leaves = [sha256(bytes([i])) for i in range(20)]
    ok = True
    for n in range(1, 21):
        root = mth(leaves[:n])
        for i in range(n):
            path = audit_path(i, leaves[:n])
            ok &= verify_inclusion(i, n, leaves[i], path, root)
            ok &= not verify_inclusion(i, n, leaves[i], path + [root], root)
            if n > 1:
                ok &= not verify_inclusion((i + 1) % n, n, leaves[i], path, root)
        for m in range(1, n):
            proof = consistency_proof(m, leaves[:n])
            ok &= verify_consistency(m, n, mth(leaves[:m]), root, proof)
            ok &= not verify_consistency(m, n, mth(leaves[:m]), root, proof[:-1])
            ok &= not verify_consistency(m, n, mth(leaves[:m]), root, proof + [root])
            ok &= not verify_consistency(m, n, mth(leaves[:m]), mth(leaves[: n - 1]), proof)
    rep.check(ok, "self-test: §3.2/§3.3 algorithms accept RFC 9162 proofs of trees 1..20 and refuse altered ones")


# ---------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    verbose = "-v" in argv[1:]
    args = [a for a in argv[1:] if a != "-v"]
    path = Path(args[0]) if args else Path(__file__).resolve().parent.parent / "vectors" / "log.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    rep = Report(verbose)
    self_test(rep)

    origin = doc["origin"]
    entries_b64 = doc["entries_b64"]
    n = len(entries_b64)

    # 1. Entries and leaf hashes.
    raws: list[bytes] = []
    entries: list[Entry | None] = []
    for i, text in enumerate(entries_b64):
        raw = b64_std(text)
        if not rep.check(raw is not None, f"entry {i}: standard padded base64"):
            raw = base64.b64decode(text)  # best effort, to go on
        raws.append(raw)
        try:
            e = decode_entry(raw)
            rep.check(True, f"entry {i}: decodes per §2 ({KIND_NAMES[e.kind]})")
        except Malformed as ex:
            e = None
            rep.check(False, f"entry {i}: decodes per §2", str(ex))
        entries.append(e)
    leaves = [leaf_hash(r) for r in raws]
    given_leaves = doc["leaf_hashes_hex"]
    rep.check(len(given_leaves) == n, "leaf_hashes_hex has one hash per entry", f"{len(given_leaves)} vs {n}")
    for i, h in enumerate(given_leaves[:n]):
        rep.check(hex32(h) == leaves[i], f"entry {i}: leaf hash = SHA-256(0x00 || entry)", f"vector {h}, computed {leaves[i].hex()}")

    # 2. Roots.
    roots_hex = doc["roots_hex"]
    rep.check(len(roots_hex) == n, "roots_hex has one root per size 1..n", f"{len(roots_hex)} vs {n}")
    my_roots = [mth(leaves[: k + 1]) for k in range(n)]
    for k, h in enumerate(roots_hex[:n]):
        rep.check(hex32(h) == my_roots[k], f"root of size {k + 1} = MTH of the first {k + 1} entries",
                  f"vector {h}, computed {my_roots[k].hex()}")

    def root_of(size: int) -> bytes | None:
        """The root of `size` as given by the vectors (roots_hex)."""
        if size == 0:
            return EMPTY_ROOT
        if 1 <= size <= len(roots_hex):
            return hex32(roots_hex[size - 1])
        return None

    # 3. Inclusion proofs.
    for p in doc["inclusion_proofs"]:
        i, size = p["index"], p["tree_size"]
        name = f"inclusion proof index={i} tree_size={size}"
        path = [hex32(h) for h in p["path_hex"]]
        root = root_of(size)
        if not rep.check(None not in path and root is not None and 0 <= i < n,
                         f"{name}: well-formed", "bad hex, or index/size outside the log"):
            continue
        rep.check(verify_inclusion(i, size, leaves[i], path, root), f"{name}: verifies (§3.2)")
        if size <= n:
            rep.check(path == audit_path(i, leaves[:size]), f"{name}: is the RFC 9162 audit path")
        if path:
            bad = [j for j, t in tamperings(path) if verify_inclusion(i, size, leaves[i], t, root)]
            rep.check(not bad, f"{name}: fails with a bit flipped in any one hash", f"still verifies with hash {bad} flipped")

    # 4. Consistency proofs.
    for p in doc["consistency_proofs"]:
        m, size = p["old_size"], p["new_size"]
        name = f"consistency proof {m} -> {size}"
        path = [hex32(h) for h in p["path_hex"]]
        old_root, new_root = root_of(m), root_of(size)
        if not rep.check(None not in path and old_root is not None and new_root is not None and 0 <= m <= size,
                         f"{name}: well-formed", "bad hex, or sizes outside the log"):
            continue
        rep.check(verify_consistency(m, size, old_root, new_root, path), f"{name}: verifies (§3.3)")
        if 0 < m < size <= n:
            rep.check(path == consistency_proof(m, leaves[:size]), f"{name}: is the RFC 9162 consistency proof")
        if path:
            bad = [j for j, t in tamperings(path) if verify_consistency(m, size, old_root, new_root, t)]
            rep.check(not bad, f"{name}: fails with a bit flipped in any one hash", f"still verifies with hash {bad} flipped")

    # 5. Checkpoints.
    pinned = None
    try:
        pinned = parse_verifier_key(doc["verifier_key"])
        rep.check(pinned.name == origin, "verifier key: parses, key id matches, name is the origin",
                  f"name `{pinned.name}` != origin `{origin}`")
    except ValueError as ex:
        rep.check(False, "verifier key: parses, key id matches", str(ex))
    sizes: list[int] = []
    latest: tuple[int, bytes] | None = None
    for c, cp in enumerate(doc["checkpoints"]):
        name = f"checkpoint {c}"
        try:
            verifier = parse_verifier_key(cp["verifier_key"])
        except ValueError as ex:
            rep.check(False, f"{name}: verifier key parses, key id matches", str(ex))
            continue
        rep.check(True, f"{name}: verifier key parses, key id matches")
        rep.check(cp["verifier_key"] == doc["verifier_key"], f"{name}: verifier key is the log's verifier key")
        try:
            cp_origin, size, root = open_checkpoint(cp["note"], verifier)
        except ValueError as ex:
            rep.check(False, f"{name}: note parses and its signature verifies (§4.1)", str(ex))
            continue
        rep.check(True, f"{name}: note parses and its signature verifies (§4.1)")
        if pinned is not None and verifier.public_key != pinned.public_key:
            # Must also open with the pinned key (§7: before anything else).
            try:
                open_checkpoint(cp["note"], pinned)
            except ValueError as ex:
                rep.check(False, f"{name}: opens with the pinned verifier key", str(ex))
        rep.check(cp_origin == origin, f"{name}: origin is `{origin}`", f"origin `{cp_origin}`")
        want = root_of(size) if size <= n else None
        rep.check(want is not None and root == want, f"{name}: size {size} and root match the log",
                  "size beyond the log" if want is None else f"root {root.hex()} != {want.hex()}")
        sizes.append(size)
        latest = (size, root)
    rep.check(all(a < b for a, b in zip(sizes, sizes[1:])), "checkpoints are signed in strictly increasing size (§4.2)",
              f"sizes {sizes}")

    # 6. Entry signatures.
    for i, e in enumerate(entries):
        if e is None:
            continue
        message = pae(e.payload_type, e.payload)
        for j, (key, sig) in enumerate(e.signatures):
            problem = verify_strict(key, message, sig)
            rep.check(problem is None, f"entry {i}: signature {j} by {key_id(key)[:20]}… verifies (strict Ed25519 over PAE)",
                      problem or "")

    # 7. Audit (§7).
    auditor = Auditor(key_id(pinned.public_key) if pinned is not None else None)
    for i, e in enumerate(entries):
        if e is None:
            rep.check(False, f"audit entry {i}: rule 1 format", "the entry does not decode")
            continue
        problems = auditor.apply(e)
        for rule, detail in problems:
            rep.check(False, f"audit entry {i} ({KIND_NAMES[e.kind]}): rule {rule}", detail)
        if not problems:
            rep.check(True, f"audit entry {i} ({KIND_NAMES[e.kind]}): rules 1, 2, 4-6, 9")
    if latest is None:
        rep.check(False, "audit: rule 7 root", "no checkpoint opened")
    else:
        size, root = latest
        rep.check(size == n and mth(leaves) == root, "audit: rule 7 entries count and recomputed root equal the latest checkpoint",
                  f"checkpoint size {size} root {root.hex()}, log has {n} entries, root {mth(leaves).hex()}")

    # 8. Payout statements (payouts.md §7-§8): each is a DSSE envelope signed
    # by the log's key, and the payout record at its log index names it.
    for s_i, ps in enumerate(doc.get("payout_statements", [])):
        name = f"payout statement {s_i}"
        env = ps["envelope"]
        payload = b64_std(env["payload"])
        at = ps["log_index"]
        if not rep.check(payload is not None and env["payloadType"] == PAYOUT_STATEMENT_TYPE and len(env["signatures"]) == 1,
                         f"{name}: one signature, payload type {PAYOUT_STATEMENT_TYPE}"):
            continue
        sig = b64_std(env["signatures"][0]["sig"])
        keyid = env["signatures"][0]["keyid"]
        rep.check(pinned is not None and keyid == key_id(pinned.public_key) and sig is not None
                  and verify_strict(pinned.public_key, pae(PAYOUT_STATEMENT_TYPE.encode(), payload), sig) is None,
                  f"{name}: signed by the log's key (strict Ed25519 over PAE)")
        sid = sha256(payload).hex()
        rep.check(sid == ps["statement_id"], f"{name}: id is SHA-256 of the payload")
        e = entries[at] if 0 <= at < n else None
        rec = None
        if e is not None and e.kind == 4:
            try:
                rec = parse_payout_record(e.payload)
            except Invalid:
                rec = None
        rep.check(rec is not None and rec["statement"] == sid, f"{name}: the payout record at entry {at} names it")
        st = json.loads(payload)
        view = st.get("view") if isinstance(st, dict) else None
        rep.check(isinstance(st, dict) and st.get("log") == origin and isinstance(view, dict)
                  and isinstance(view.get("size"), int) and view["size"] <= at
                  and rec is not None and st.get("builder") == rec["builder"] and st.get("run_id") == rec["run_id"],
                  f"{name}: names this log, its record's builder and run, and a view no later than its record")

    print(f"{rep.passed} passed, {rep.failed} failed")
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Tests of consentry.receipt and consentry.dsse against the spec's vectors.

``spec/vectors/receipts.json`` and ``spec/vectors/log.json`` hold only
things that verify; what must be refused is derived from them here by
tampering, and by re-signing altered payloads with a throw-away key that
stands in for the registry's (its checkpoints cover the vector log's real
roots). ``spec/vectors/statements.json`` exercises the strict Ed25519 rule.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consentry import dsse
from consentry.receipt import (
    RECEIPT_PAYLOAD_TYPE,
    ReceiptError,
    answers_digest,
    hashes_digest,
    items_digest,
    leaf_hash,
    merkle_root,
    near_answers_digest,
    open_checkpoint,
    parse_verifier_key,
    verify_consistency,
    verify_inclusion,
    verify_log_contains,
    verify_receipt,
    verify_receipt_entries,
)

VECTORS = Path(__file__).resolve().parents[2] / "spec" / "vectors"
RECEIPTS = json.loads((VECTORS / "receipts.json").read_text("utf-8"))
LOG = json.loads((VECTORS / "log.json").read_text("utf-8"))
STATEMENTS = json.loads((VECTORS / "statements.json").read_text("utf-8"))

CHECKS = RECEIPTS["checks"]
VERIFIER_KEY = RECEIPTS["verifier_key"]
ENTRIES = [base64.b64decode(e) for e in LOG["entries_b64"]]
LEAVES = [bytes.fromhex(h) for h in LOG["leaf_hashes_hex"]]
EMPTY_ROOT = hashlib.sha256(b"").digest()


def root_of(size: int) -> bytes:
    """The vector log's root at ``size`` (``roots_hex`` starts at size 1)."""
    return EMPTY_ROOT if size == 0 else bytes.fromhex(LOG["roots_hex"][size - 1])


def question(check: dict[str, Any]) -> list[Any]:
    """What a check asked: its hashes, or for near matching its items."""
    return check["items"] if check.get("match") == "near" else check["hashes"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def iscc(code: bytes) -> str:
    """The canonical text of an ISCC code: ``ISCC:`` and unpadded base32."""
    return "ISCC:" + base64.b32encode(code).decode("ascii").rstrip("=")


def noncanonical(text: str) -> str:
    """The same padded base64 with an unused bit of its last data character set."""
    data = text.rstrip("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(data[-1]) ^ 1]
    return data[:-1] + last + text[len(data) :]


def refused(step: str, reason: str, call, *args, **kwargs) -> None:
    """Assert that ``call`` raises a ReceiptError of ``step`` whose reason contains ``reason``."""
    with pytest.raises(ReceiptError) as caught:
        call(*args, **kwargs)
    assert caught.value.step == step, caught.value
    assert reason in caught.value.reason, caught.value


def receipt_refused(step: str, reason: str, envelope: Any, **kwargs: Any) -> None:
    """Assert that ``verify_receipt`` with the vectors' key refuses as :func:`refused` says."""
    refused(step, reason, verify_receipt, envelope, VERIFIER_KEY, **kwargs)


# ------------------------------------------------------ receipts.json


def test_receipt_vector_file_is_not_empty():
    assert len(CHECKS) == 7
    assert sum(c.get("match") == "near" for c in CHECKS) == 2
    assert RECEIPTS["verifier_key"] == LOG["verifier_key"]
    assert parse_verifier_key(VERIFIER_KEY).name == RECEIPTS["origin"]


def test_every_receipt_vector_verifies_with_its_hashes_and_answers():
    checked = 0
    for check in CHECKS:
        near = check.get("match") == "near"
        receipt = verify_receipt(
            check["receipt"],
            VERIFIER_KEY,
            hashes=question(check),
            answers=check["answers"],
            as_of=check["as_of"],
        )
        assert receipt.version == (2 if near else 1)
        assert receipt.log == RECEIPTS["origin"]
        assert receipt.purpose == check["purpose"]
        assert receipt.as_of == check["as_of"]
        assert receipt.checkpoint.size == check["tree_size"]
        assert receipt.checkpoint.root == root_of(check["tree_size"])
        assert receipt.hash_count == len(question(check)) == len(check["answers"])
        assert receipt.hashes_blake3 == check["hashes_blake3"]
        assert receipt.answers_blake3 == check["answers_blake3"]
        statuses = [a["status"] for a in check["answers"]]
        assert (receipt.counts.allowed, receipt.counts.disallowed, receipt.counts.unknown) == (
            statuses.count("allowed"),
            statuses.count("disallowed"),
            statuses.count("unknown"),
        )
        assert (receipt.matching is not None) == near == (receipt.matched is not None)
        assert receipt.payload == base64.b64decode(check["receipt"]["payload"])
        checked += 1
    assert checked == len(CHECKS) > 0


def test_digest_functions_reproduce_every_vector():
    checked = 0
    for check in CHECKS:
        if check.get("match") == "near":
            assert items_digest(check["items"]) == check["hashes_blake3"]
            assert near_answers_digest(check["answers"]) == check["answers_blake3"]
        else:
            assert hashes_digest(check["hashes"]) == check["hashes_blake3"]
            assert answers_digest(check["answers"]) == check["answers_blake3"]
        checked += 1
    assert checked == len(CHECKS)


def test_receipts_verify_as_json_text_and_offline_parts_alone():
    for check in CHECKS:
        text = json.dumps(check["receipt"])
        assert verify_receipt(text, VERIFIER_KEY) == verify_receipt(text.encode("utf-8"), VERIFIER_KEY)
        verify_receipt(check["receipt"], parse_verifier_key(VERIFIER_KEY), hashes=question(check))


def test_hash_forms_bytes_and_iscc_datahash_are_the_same_hashes():
    check = CHECKS[0]
    as_bytes = [bytes.fromhex(h.removeprefix("blake3:")) for h in check["hashes"]]
    as_iscc = ["1e20" + h.removeprefix("blake3:") for h in check["hashes"]]
    for hashes in (as_bytes, as_iscc, [{"hash": h} for h in check["hashes"]]):
        verify_receipt(check["receipt"], VERIFIER_KEY, hashes=hashes, answers=check["answers"])


def test_answers_alone_serve_as_the_list():
    for check in CHECKS:
        if check.get("match") == "near":
            # Answers as the API writes them lack the codes asked: the
            # items cannot be rebuilt from them ...
            receipt_refused("hashes", "pass the check's hashes or items", check["receipt"], answers=check["answers"])
            # ... while report lines carry them (as code texts).
            report = [
                {**answer, "fingerprints": [f["value"] for f in item.get("fingerprints", [])]}
                for answer, item in zip(check["answers"], check["items"], strict=True)
            ]
            verify_receipt(check["receipt"], VERIFIER_KEY, answers=report)
        else:
            verify_receipt(check["receipt"], VERIFIER_KEY, answers=check["answers"])


def test_as_of_is_compared_as_an_instant():
    check = CHECKS[3]
    assert check["as_of"] == "2026-03-01T12:13:00Z"
    verify_receipt(check["receipt"], VERIFIER_KEY, as_of="2026-03-01T12:13:00.000000000Z")
    receipt_refused("as-of", "is not", check["receipt"], as_of="2026-03-01T12:13:00.000000001Z")
    receipt_refused("as-of", "not None", check["receipt"], as_of=None)
    receipt_refused("as-of", "not an RFC 3339", check["receipt"], as_of="2026-03-01 12:13:00Z")
    assert CHECKS[0]["as_of"] is None
    receipt_refused("as-of", "is None", CHECKS[0]["receipt"], as_of="2026-03-01T12:13:00Z")


def test_receipts_match_the_log_they_name():
    """§5 step 4 with the vector log standing in for the endpoints."""
    latest = LOG["checkpoints"][-1]["note"]
    assert open_checkpoint(latest, VERIFIER_KEY).size == len(ENTRIES)
    checked = 0
    for check in CHECKS:
        receipt = verify_receipt(check["receipt"], VERIFIER_KEY)
        size = receipt.checkpoint.size
        verify_receipt_entries(receipt, ENTRIES[:size])
        proof = consistency_proof(LEAVES, size, len(LEAVES))
        assert verify_log_contains(receipt, latest, proof, VERIFIER_KEY).root == root_of(len(LEAVES))
        if size < len(ENTRIES):
            refused("log", "entries given", verify_receipt_entries, receipt, ENTRIES[: size + 1])
            altered = [*ENTRIES[: size - 1], ENTRIES[size - 1] + b"\x00"]
            refused("log", "do not hash", verify_receipt_entries, receipt, altered)
        earlier = LOG["checkpoints"][1]["note"]  # size 1
        refused("log", "fewer than", verify_log_contains, receipt, earlier, [], VERIFIER_KEY)
        if proof:
            broken = [proof[0][::-1], *proof[1:]]
            refused("consistency", "does not lead", verify_log_contains, receipt, latest, broken, VERIFIER_KEY)
        checked += 1
    assert checked == len(CHECKS)


# Tampering with the vector receipts themselves (no key needed).


def mutated_envelope(check: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The check's receipt envelope with some members replaced."""
    envelope = copy.deepcopy(check["receipt"])
    envelope.update(changes)
    return envelope


def mutated_signature(check: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The check's receipt envelope with some members of its signature replaced."""
    signature = check["receipt"]["signatures"][0]
    return mutated_envelope(check, signatures=[{**signature, **changes}])


def test_tampered_envelopes_are_refused():
    check = CHECKS[0]
    envelope = check["receipt"]
    payload = base64.b64decode(envelope["payload"])
    signature = envelope["signatures"][0]
    sig = base64.b64decode(signature["sig"])
    altered_payload = payload.replace(b'"count":14', b'"count":15')
    cases = [
        ("signature", "does not verify", mutated_envelope(check, payload=b64(altered_payload))),
        ("signature", "does not verify", mutated_signature(check, sig=b64(sig[:-1] + bytes([sig[-1] ^ 1])))),
        ("signature", "64 bytes", mutated_signature(check, sig=b64(sig[:63]))),
        ("signature", "is not 'ed25519:'", mutated_signature(check, keyid=signature["keyid"].upper())),
        ("envelope", "not exactly one", mutated_envelope(check, signatures=[signature, signature])),
        ("envelope", "not exactly one", mutated_envelope(check, signatures=[])),
        ("envelope", "payload type", mutated_envelope(check, payloadType=RECEIPT_PAYLOAD_TYPE.replace("v1", "v2"))),
        ("envelope", "unknown member", mutated_envelope(check, extra="x")),
        ("envelope", "not a string", mutated_envelope(check, payload=None)),
        ("envelope", "unknown member", mutated_signature(check, x="")),
        ("envelope", "base64", mutated_envelope(check, payload=envelope["payload"] + "=")),
        ("envelope", "base64", mutated_envelope(check, payload=" " + envelope["payload"])),
        ("envelope", "base64", mutated_signature(check, sig=noncanonical(signature["sig"]))),
    ]
    for step, reason, altered in cases:
        receipt_refused(step, reason, altered)
    receipt_refused("envelope", "twice", json.dumps(envelope)[:-1] + ', "payload": "e30="}')
    receipt_refused("envelope", "not a JSON object", [envelope["payloadType"], envelope["payload"]])
    # The array form of an envelope is registry leniency, not for receipts.
    assert len(cases) == 13


def test_other_base64_spellings_of_the_same_bytes_verify():
    """spec/statement.md §3.3: URL-safe, unpadded and partially padded
    base64 carry the same bytes, hence the same signature."""
    check = CHECKS[0]
    signature = check["receipt"]["signatures"][0]
    url_safe = signature["sig"].translate(str.maketrans("+/", "-_"))
    assert url_safe != signature["sig"] and url_safe.endswith("==")
    for sig in (url_safe, url_safe[:-1], url_safe[:-2], signature["sig"][:-2]):
        verify_receipt(mutated_signature(check, sig=sig), VERIFIER_KEY)
    receipt_refused("envelope", "mixes", mutated_signature(check, sig=signature["sig"].replace("/", "_", 1)))


def test_another_key_is_refused():
    other = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    origin = RECEIPTS["origin"]
    refused("signature", "is not ed25519:", verify_receipt, CHECKS[0]["receipt"], verifier_key_text(origin, other))
    wrong_id = VERIFIER_KEY.replace("+84e452b1+", "+84e452b2+")
    refused("verifier-key", "does not match", verify_receipt, CHECKS[0]["receipt"], wrong_id)
    refused("verifier-key", "not '<origin>", verify_receipt, CHECKS[0]["receipt"], origin)
    # A small-order key, with the key id that goes with it.
    weak = bytes.fromhex("01" + "00" * 31)
    weak_id = hashlib.sha256(origin.encode() + b"\n\x01" + weak).digest()[:4].hex()
    weak_key = f"{origin}+{weak_id}+" + b64(b"\x01" + weak)
    refused("verifier-key", "small order", verify_receipt, CHECKS[0]["receipt"], weak_key)


def test_wrong_hashes_are_refused():
    for check in CHECKS:
        asked = question(check)
        receipt_refused("hashes", "the receipt counts", check["receipt"], hashes=asked[:-1])
        receipt_refused("hashes", "the receipt counts", check["receipt"], hashes=[*asked, asked[0]])
        receipt_refused("hashes", "the list's digest", check["receipt"], hashes=[asked[1], asked[0], *asked[2:]])
    v1 = CHECKS[0]["hashes"]
    receipt_refused("hashes", "not a hash", CHECKS[0]["receipt"], hashes=[v1[0].upper(), *v1[1:]])
    receipt_refused("hashes", "not a hash", CHECKS[0]["receipt"], hashes=[v1[0][:-1], *v1[1:]])
    with_codes = [{"hash": v1[0], "fingerprints": ["ISCC:EEA5HJMWYNNGSPEV"]}, *v1[1:]]
    receipt_refused("hashes", "without fingerprints", CHECKS[0]["receipt"], hashes=with_codes)
    receipt_refused("hashes", "a single value", CHECKS[0]["receipt"], hashes=v1[0])


def test_wrong_items_are_refused():
    check = CHECKS[5]
    items = check["items"]
    code_only = items[1]
    assert "hash" not in code_only
    value = code_only["fingerprints"][0]["value"]
    # A 96-bit code is 14 bytes, 23 base32 characters with 3 unused bits.
    code_96 = iscc(b"\x21\x02" + bytes(range(1, 13)))
    assert len(code_96) == len("ISCC:") + 23 and code_96[-1] == "A"
    cases = [
        ("the list's digest", {"fingerprints": [{"algorithm": "iscc-image-v0", "value": value[:-1] + "W"}]}),
        ("the list's digest", {"fingerprints": [code_96]}),
        ("the list's digest", {"hash": items[0]["hash"], **code_only}),
        ("exactly 'algorithm' and 'value'", {"fingerprints": [{"algorithm": "iscc-image-v0", "value": value, "x": 1}]}),
        ("not 'iscc-image-v0'", {"fingerprints": [{"algorithm": "iscc-content-image", "value": value}]}),
        ("not 'ISCC:'", {"fingerprints": [value.lower()]}),
        ("not an ISCC Image-Code v0", {"fingerprints": [iscc(b"\x11\x01" + bytes(8))]}),  # a Meta-Code
        ("as its header says", {"fingerprints": [iscc(b"\x21\x02" + bytes(8))]}),  # 96 bits announced, 64 given
        ("not canonical base32", {"fingerprints": [code_96[:-1] + "B"]}),
        ("neither a hash nor fingerprints", {"fingerprints": []}),
    ]
    for reason, replacement in cases:
        altered = [items[0], replacement, *items[2:]]
        receipt_refused("hashes", reason, check["receipt"], hashes=altered)
    assert len(cases) == 10


def test_wrong_answers_are_refused():
    check = CHECKS[0]
    answers = check["answers"]
    assert answers[0]["status"] == "disallowed" and len(answers[0]["statements"]) == 2
    assert answers[12]["status"] == "unknown" and answers[12]["statements"] == []
    first = answers[0]
    cases = [
        ("the answers' digest", 6, {**answers[6], "statements": []}),
        ("the receipt signed", 0, {**first, "status": "allowed"}),
        ("strictly ascending", 0, {**first, "statements": first["statements"][::-1]}),
        ("lists no statements", 0, {**first, "statements": []}),
        ("about another hash", 0, {**first, "hash": answers[1]["hash"]}),
        ("has no hash", 0, {k: v for k, v in first.items() if k != "hash"}),
        ("not allowed, disallowed or unknown", 0, {**first, "status": "Disallowed"}),
        ("not 64 lowercase hex", 0, {**first, "statements": [first["statements"][0].upper()]}),
        ("the answers' digest", 12, {**answers[12], "statements": [first["statements"][0]]}),
    ]
    for reason, index, replacement in cases:
        altered = [*answers[:index], replacement, *answers[index + 1 :]]
        receipt_refused("answers", reason, check["receipt"], hashes=check["hashes"], answers=altered)
    receipt_refused("answers", "answers given", check["receipt"], hashes=check["hashes"], answers=answers[:-1])
    # Unregistered works may omit "statements", as the API does.
    omitted = [*answers[:12], {k: v for k, v in answers[12].items() if k != "statements"}, answers[13]]
    verify_receipt(check["receipt"], VERIFIER_KEY, hashes=check["hashes"], answers=omitted)
    assert len(cases) == 9


def test_wrong_near_answers_are_refused():
    check = CHECKS[5]
    answers = check["answers"]
    exact, near, dispute, none = answers[0], answers[1], answers[2], answers[3]
    assert (exact["match"], near["match"], dispute["match"], none["match"]) == ("exact", "near", "near", None)
    assert len(dispute["matched"]) == 2
    cases = [
        ("the answers' digest", 1, {**near, "matched": [{**near["matched"][0], "distance": 0}]}),
        ("the receipt signed", 1, {**near, "status": "allowed"}),
        ("the receipt signed", 2, {**dispute, "status": "unknown"}),
        ("does not list the item's hash", 0, {**exact, "matched": [{**exact["matched"][0], "distance": 1}]}),
        ("beyond 6", 1, {**near, "matched": [{**near["matched"][0], "distance": 8}]}),
        ("not in strictly increasing", 2, {**dispute, "matched": dispute["matched"][::-1]}),
        ("without matched works", 1, {**near, "matched": []}),
        ("more than 16", 1, {**near, "matched": [near["matched"][0]] * 17}),
        ("matched nothing", 3, {**none, "status": "disallowed", "statements": near["statements"]}),
        ("not exact, near or null", 3, {**none, "match": "none"}),
        ("exactly 'hash' and 'distance'", 1, {**near, "matched": [{**near["matched"][0], "x": 1}]}),
        ("not an integer", 1, {**near, "matched": [{**near["matched"][0], "distance": 2.0}]}),
        ("has no codes", 0, {**exact, "match": "near", "matched": [{**exact["matched"][0], "distance": 1}]}),
    ]
    for reason, index, replacement in cases:
        altered = [*answers[:index], replacement, *answers[index + 1 :]]
        receipt_refused("answers", reason, check["receipt"], hashes=check["items"], answers=altered)
    assert len(cases) == 13


# Payloads re-signed by a stand-in registry key, to exercise every shape rule.

STAND_IN = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"stand-in registry key").digest())


def verifier_key_text(origin: str, private_key: Ed25519PrivateKey) -> str:
    public = private_key.public_key().public_bytes_raw()
    key_id = hashlib.sha256(origin.encode() + b"\n\x01" + public).digest()[:4]
    material = b64(b"\x01" + public)
    return f"{origin}+{key_id.hex()}+{material}"


def signed_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    public = private_key.public_key().public_bytes_raw()
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    signature = private_key.sign(text.encode("utf-8"))
    return f"{text}\n\u2014 {name} {b64(key_id + signature)}\n"


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{b64(root)}\n"


ORIGIN = RECEIPTS["origin"]
STAND_IN_KEY = verifier_key_text(ORIGIN, STAND_IN)
CHECKPOINT_19 = checkpoint_text(ORIGIN, 19, root_of(19))
REGISTRY_NOTE_19 = json.loads(base64.b64decode(CHECKS[0]["receipt"]["payload"]))["checkpoint"]["note"]


def stand_in_note(text: str, name: str = ORIGIN) -> str:
    return signed_note(text, name, STAND_IN)


def base_payload(index: int = 0) -> dict[str, Any]:
    """Vector ``index``'s payload with its note signed by the stand-in key."""
    payload = json.loads(base64.b64decode(CHECKS[index]["receipt"]["payload"]))
    size = payload["checkpoint"]["size"]
    payload["checkpoint"]["note"] = stand_in_note(checkpoint_text(ORIGIN, size, root_of(size)))
    return payload


def signed(payload: dict[str, Any] | bytes) -> dict[str, Any]:
    if isinstance(payload, dict):
        payload = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return dsse.sign(RECEIPT_PAYLOAD_TYPE, payload, STAND_IN)


def test_stand_in_receipts_verify():
    for index, check in enumerate(CHECKS):
        envelope = signed(base_payload(index))
        receipt = verify_receipt(envelope, STAND_IN_KEY, hashes=question(check), answers=check["answers"])
        assert receipt.answers_blake3 == check["answers_blake3"]


def edit(path: str, value: Any, index: int = 0) -> dict[str, Any]:
    """Vector ``index``'s stand-in payload with member ``path`` (dotted) set,
    or removed when ``value`` is ``...``."""
    payload = base_payload(index)
    *parents, last = path.split(".")
    target = payload
    for name in parents:
        target = target[name]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return payload


SHAPE_CASES = [
    # (reason, payload)
    ("lacks the member 'builder'", edit("builder", ...)),
    ("lacks the member 'version'", edit("version", ...)),
    ("unknown member 'extra'", edit("extra", 1)),
    ("unknown member 'matching'", edit("matching", {"algorithm": "iscc-image-v0", "bits": 64, "max_distance": 6})),
    ("lacks the member 'matched'", edit("matched", ..., index=5)),
    ("version is 3", edit("version", 3)),
    ("version is True", edit("version", True)),
    ("version is '1'", edit("version", "1")),
    ("as_of None is not", edit("as_of", None)),
    ("not 'b_'", edit("builder", "b_00112233445566778899AABBCCDDEEFF")),
    ("not 'b_'", edit("builder", "b_00112233445566778899aabbccddeef")),
    ("purpose 'train'", edit("purpose", "train")),
    ("not a string", edit("log", 1)),
    ("not the verifier key's name", edit("log", "other.example/log")),
    ("is not an RFC 3339", edit("issued_at", "2026-03-02t12:00:00Z")),
    ("is not an RFC 3339", edit("issued_at", "2026-03-02T12:00:00+00:00")),
    ("is not an RFC 3339", edit("issued_at", "2026-03-02T12:00:00.1234567890Z")),
    ("is not an RFC 3339", edit("issued_at", "2026-03-02T12:00:00.Z")),
    ("is not an RFC 3339", edit("issued_at", "2026-03-02T12:00Z")),
    ("is not an RFC 3339", edit("issued_at", "+2026-03-02T12:00:00Z")),
    ("is not an RFC 3339", edit("as_of", "2026-03-02T12:00:00z")),
    ("not a time of day", edit("issued_at", "2026-03-02T23:59:60Z")),
    ("not a calendar date", edit("issued_at", "2026-02-29T12:00:00Z")),
    ("out of range", edit("issued_at", "1969-12-31T23:59:59Z")),
    ("after 2262", edit("issued_at", "2262-04-11T23:47:16.854775808Z")),
    ("not a JSON object", edit("checkpoint", [19])),
    ("checkpoint lacks the member 'note'", edit("checkpoint.note", ...)),
    ("checkpoint.size is -1", edit("checkpoint.size", -1)),
    ("checkpoint.size is 19.0", edit("checkpoint.size", 19.0)),
    ("outside 0 to", edit("hashes.count", 2**64)),
    ("not standard padded base64", edit("checkpoint.root", b64(root_of(19)).rstrip("="))),
    ("not canonical standard padded base64", edit("checkpoint.root", noncanonical(b64(root_of(19))))),
    ("not standard padded base64", edit("checkpoint.root", b64(root_of(19)).replace("+", "-"))),
    ("checkpoint.root is 31 bytes", edit("checkpoint.root", b64(root_of(19)[:31]))),
    ("hashes.blake3 is not 64 lowercase hex", edit("hashes.blake3", CHECKS[0]["hashes_blake3"].upper())),
    ("answers has an unknown member", edit("answers.count", 14)),
    ("counts sum to 15", edit("counts.unknown", 6)),
    ("not 'iscc-image-v0'", edit("matching.algorithm", "iscc-image-v1", index=5)),
    ("matching.bits is 128", edit("matching.bits", 128, index=5)),
    ("outside 0 to 64", edit("matching.max_distance", 65, index=5)),
    ("more than hashes.count", edit("matched.near", 6, index=5)),
    # The checkpoint note is the stand-in's, but says something else.
    ("the note's size 18", edit("checkpoint.note", stand_in_note(checkpoint_text(ORIGIN, 18, root_of(19))))),
    ("the note's root", edit("checkpoint.note", stand_in_note(checkpoint_text(ORIGIN, 19, root_of(18))))),
    ("the checkpoint's origin", edit("checkpoint.note", stand_in_note(CHECKPOINT_19.replace(ORIGIN, "x.example/log")))),
    ("no signature by the key", edit("checkpoint.note", stand_in_note(CHECKPOINT_19, name="x.example/log"))),
    # The registry's genuine note, where the stand-in key is pinned.
    ("no signature by the key", edit("checkpoint.note", REGISTRY_NOTE_19)),
    ("does not verify", edit("checkpoint.note", stand_in_note(CHECKPOINT_19).replace("\n19\n", "\n20\n"))),
    ("has 4 lines, not 3", edit("checkpoint.note", stand_in_note(CHECKPOINT_19 + "extension\n"))),
    ("not a decimal u64", edit("checkpoint.note", stand_in_note(CHECKPOINT_19.replace("\n19\n", "\n019\n")))),
    ("no blank line", edit("checkpoint.note", CHECKPOINT_19)),
    ("is not a signature line", edit("checkpoint.note", stand_in_note(CHECKPOINT_19).replace("\u2014", "-"))),
]


def test_every_shape_rule_is_enforced():
    checked = 0
    for reason, payload in SHAPE_CASES:
        with pytest.raises(ReceiptError) as caught:
            verify_receipt(signed(payload), STAND_IN_KEY)
        assert caught.value.step in ("payload", "checkpoint"), (reason, caught.value)
        assert reason in str(caught.value), (reason, caught.value)
        checked += 1
    assert checked == len(SHAPE_CASES) == 51


def test_notes_ignore_signatures_of_other_keys():
    text = checkpoint_text(ORIGIN, 19, root_of(19))
    other = Ed25519PrivateKey.from_private_bytes(bytes(32))
    note = signed_note(text, "witness.example", other)
    note += signed_note(text, ORIGIN, STAND_IN).removeprefix(text + "\n")
    assert note.count("\u2014") == 2
    verify_receipt(signed(edit("checkpoint.note", note)), STAND_IN_KEY)


def payload_text(replace_from: str, replace_to: str) -> bytes:
    text = json.dumps(base_payload(), separators=(",", ":"), ensure_ascii=False)
    assert replace_from in text
    return text.replace(replace_from, replace_to, 1).encode("utf-8")


JSON_TEXT_CASES = [
    ("twice", payload_text('"version":1,', '"version":1,"version":1,')),
    ("not an integer", payload_text('"version":1,', '"version":1.0,')),
    ("not an integer", payload_text('"version":1,', '"version":1e0,')),
    ("not an integer", payload_text('"allowed":3', '"allowed":-0')),
    ("non-standard constant NaN", payload_text('"allowed":3', '"allowed":NaN')),
    ("exceeds the double range", payload_text('"allowed":3', '"allowed":1e400')),
    ("exceeds the double range", payload_text('"allowed":3', '"allowed":' + "9" * 400)),
    ("unpaired surrogate", payload_text('"purpose":"train-ai"', '"purpose":"\\ud800"')),
    ("byte order mark", b"\xef\xbb\xbf" + payload_text("{", "{")),
    # "ÿ" encoded in UTF-8, then cut down to a lone 0xff byte.
    ("not UTF-8", payload_text('"purpose":"train-ai"', '"purpose":"train-ai\xff"').replace(b"\xc3\xbf", b"\xff")),
    ("does not parse", payload_text("}}", "}},")),
    ("does not parse", payload_text('"purpose":"train-ai"', '"purpose":"train\x01ai"')),
    ("does not parse", payload_text("{", "{\x0c")),
]


def test_payload_json_rules_are_enforced():
    checked = 0
    for reason, payload in JSON_TEXT_CASES:
        refused("payload", reason, verify_receipt, signed(payload), STAND_IN_KEY)
        checked += 1
    assert checked == len(JSON_TEXT_CASES) == 13
    # Escapes, whitespace and member order are free; names are unescaped.
    relaxed = payload_text('"version":1,', ' \n"versio\\u006e" : 1 ,')
    assert verify_receipt(signed(relaxed), STAND_IN_KEY).version == 1
    deep = payload_text('"allowed":3', '"allowed":' + "[" * 200 + "]" * 200)
    refused("payload", "deeper than 127", verify_receipt, signed(deep), STAND_IN_KEY)


# ------------------------------------------------------------ log.json


def consistency_proof(leaves: list[bytes], old: int, new: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(m, D[n]), to build proofs log.json lacks;
    checked against log.json's own proofs below."""

    def subproof(m: int, start: int, n: int, complete: bool) -> list[bytes]:
        if m == n:
            return [] if complete else [merkle_root(leaves[start : start + n])]
        k = 1 << ((n - 1).bit_length() - 1)
        if m <= k:
            return subproof(m, start, k, complete) + [merkle_root(leaves[start + k : start + n])]
        return subproof(m - k, start + k, n - k, False) + [merkle_root(leaves[start : start + k])]

    return [] if old in (0, new) else subproof(old, 0, new, True)


def test_log_vector_file_is_not_empty():
    assert len(ENTRIES) == len(LEAVES) == len(LOG["roots_hex"]) == 24
    assert len(LOG["inclusion_proofs"]) == 32
    assert len(LOG["consistency_proofs"]) == 11
    assert len(LOG["checkpoints"]) == 5


def test_leaf_hashes_and_roots():
    assert [leaf_hash(e) for e in ENTRIES] == LEAVES
    for size in range(len(LEAVES) + 1):
        assert merkle_root(LEAVES[:size]) == root_of(size)
    assert merkle_root([]) == EMPTY_ROOT


def test_inclusion_proofs():
    checked = 0
    for vector in LOG["inclusion_proofs"]:
        index, size, path = vector["index"], vector["tree_size"], vector["path_hex"]
        root = root_of(size)
        verify_inclusion(index, size, LEAVES[index], path, root)
        verify_inclusion(index, size, LEAVES[index].hex(), [bytes.fromhex(p) for p in path], root.hex())
        other_leaf = LEAVES[(index + 1) % size] if size > 1 else EMPTY_ROOT
        refused("inclusion", "does not lead", verify_inclusion, index, size, other_leaf, path, root)
        refused("inclusion", "does not lead", verify_inclusion, index, size, LEAVES[index], path, root_of(size - 1))
        refused("inclusion", "is not in a tree", verify_inclusion, size, size, LEAVES[index], path, root)
        longer = [*path, path[0] if path else LEAVES[0]]
        refused("inclusion", "longer than", verify_inclusion, index, size, LEAVES[index], longer, root)
        if path:
            refused("inclusion", "shorter than", verify_inclusion, index, size, LEAVES[index], path[:-1], root)
            flipped = [path[0][:-1] + ("0" if path[0][-1] != "0" else "1"), *path[1:]]
            refused("inclusion", "does not lead", verify_inclusion, index, size, LEAVES[index], flipped, root)
        if index + 1 < size:
            # Another position: a path of another length, or other turns.
            refused("inclusion", "", verify_inclusion, index + 1, size, LEAVES[index], path, root)
        checked += 1
    assert checked == len(LOG["inclusion_proofs"]) == 32
    refused("inclusion", "nor 64 lowercase hex", verify_inclusion, 0, 1, LEAVES[0], ["AB" * 32], LEAVES[0])
    refused("inclusion", "not a list", verify_inclusion, 0, 1, LEAVES[0], LEAVES[0], LEAVES[0])


def test_consistency_proofs():
    checked = 0
    for vector in LOG["consistency_proofs"]:
        old, new, path = vector["old_size"], vector["new_size"], vector["path_hex"]
        assert [p.hex() for p in consistency_proof(LEAVES, old, new)] == path
        verify_consistency(old, root_of(old), new, root_of(new), path)
        # With a power-of-two old size the old root is the proof's first
        # node, so a wrong one shows as a wrong new root.
        wrong_old_root = root_of(old - 1) if old > 1 else EMPTY_ROOT
        refused("consistency", "does not lead", verify_consistency, old, wrong_old_root, new, root_of(new), path)
        refused("consistency", "new root", verify_consistency, old, root_of(old), new, root_of(new - 1), path)
        refused("consistency", "is empty", verify_consistency, old, root_of(old), new, root_of(new), [])
        # A path of the wrong length fails on its length or on its hashes.
        refused("consistency", "", verify_consistency, old, root_of(old), new, root_of(new), path[:-1])
        refused("consistency", "", verify_consistency, old, root_of(old), new, root_of(new), [*path, path[0]])
        refused("consistency", "not between", verify_consistency, new, root_of(new), old, root_of(old), path)
        checked += 1
    assert checked == len(LOG["consistency_proofs"]) == 11
    # Every pair of sizes, with proofs built as RFC 9162 says.
    pairs = 0
    for new in range(len(LEAVES) + 1):
        for old in range(new + 1):
            verify_consistency(old, root_of(old), new, root_of(new), consistency_proof(LEAVES, old, new))
            pairs += 1
    assert pairs == 325
    refused("consistency", "two different roots", verify_consistency, 5, root_of(5), 5, root_of(6), [])
    refused("consistency", "must be empty", verify_consistency, 5, root_of(5), 5, root_of(5), [LEAVES[0]])
    refused("consistency", "empty tree", verify_consistency, 0, root_of(1), 1, root_of(1), [])


def test_checkpoints():
    checked = 0
    for vector in LOG["checkpoints"]:
        checkpoint = open_checkpoint(vector["note"], vector["verifier_key"])
        assert checkpoint.origin == LOG["origin"]
        assert checkpoint.root == root_of(checkpoint.size)
        assert checkpoint.note == vector["note"]
        text, _, signature_line = vector["note"].partition("\n\n")
        grown = vector["note"].replace(f"\n{checkpoint.size}\n", f"\n{checkpoint.size + 1}\n")
        refused("checkpoint", "does not verify", open_checkpoint, grown, VERIFIER_KEY)
        refused("checkpoint", "no signature by the key", open_checkpoint, vector["note"], STAND_IN_KEY)
        signature = base64.b64decode(signature_line.split(" ")[-1])
        bad = b64(signature[:4] + bytes([signature[4] ^ 1]) + signature[5:])
        forged = f"{text}\n\n\u2014 {LOG['origin']} {bad}\n"
        refused("checkpoint", "does not verify", open_checkpoint, forged, VERIFIER_KEY)
        refused("checkpoint", "do not end with a newline", open_checkpoint, vector["note"].rstrip("\n"), VERIFIER_KEY)
        checked += 1
    assert checked == len(LOG["checkpoints"]) == 5


def decode_entry(entry: bytes) -> tuple[str, list[tuple[bytes, bytes]], bytes]:
    """payload type, (key, signature) pairs and payload of an entry (spec/log.md §2)."""
    type_len = entry[10]
    payload_type = entry[11 : 11 + type_len].decode("ascii")
    at = 11 + type_len
    count = entry[at]
    at += 1
    signatures = []
    for _ in range(count):
        signatures.append((entry[at : at + 32], entry[at + 32 : at + 96]))
        at += 96
    payload_len = int.from_bytes(entry[at : at + 2], "big")
    payload = entry[at + 2 :]
    assert len(payload) == payload_len
    return payload_type, signatures, payload


def test_entry_signatures_verify_strictly():
    checked = 0
    for entry in ENTRIES:
        payload_type, signatures, payload = decode_entry(entry)
        for public_key, signature in signatures:
            dsse.verify_strict(public_key, dsse.pae(payload_type, payload), signature)
            with pytest.raises(dsse.DsseError):
                dsse.verify_strict(public_key, dsse.pae(payload_type, payload + b" "), signature)
            checked += 1
    assert checked >= len(ENTRIES) == 24


def test_payout_statements_are_signed_by_the_log_key():
    registry = parse_verifier_key(LOG["verifier_key"]).public_key
    checked = 0
    for vector in LOG["payout_statements"]:
        envelope = vector["envelope"]
        payload = dsse.verify(envelope, registry, payload_type=envelope["payloadType"])
        assert hashlib.sha256(payload).hexdigest() == vector["statement_id"]
        checked += 1
    assert checked == len(LOG["payout_statements"]) == 1


# ------------------------------------------------- DSSE and strict Ed25519


def statement_envelope(vector: dict[str, Any]) -> dict[str, Any]:
    return {
        "payloadType": vector["payload_type"],
        "payload": vector["payload_b64"],
        "signatures": [{"keyid": "ed25519:" + vector["public_key_hex"], "sig": vector["signature_b64"]}],
    }


def test_statement_vectors_decide_the_envelope_layer():
    """Steps 1-4 of spec/statement.md §4.2 (envelope and signature) are
    dsse.verify's; vectors refused later (payload, key-mismatch) pass it."""
    statement_type = "application/vnd.consentry.statement.v1+json"
    checked = 0
    for vector in STATEMENTS["vectors"]:
        slug = vector["reason"].rsplit("(", 1)[-1].rstrip(")") if vector["reason"] else ""
        envelope = statement_envelope(vector)
        public_key = bytes.fromhex(vector["public_key_hex"])
        if vector["valid"] or slug in ("invalid-payload", "key-mismatch"):
            payload = dsse.verify(envelope, public_key, payload_type=statement_type)
            assert payload == base64.b64decode(vector["payload_b64"])
        else:
            with pytest.raises(dsse.DsseError) as caught:
                dsse.verify(envelope, public_key, payload_type=statement_type)
            assert caught.value.slug == slug, (vector["description"], caught.value)
        checked += 1
    assert checked == len(STATEMENTS["vectors"]) == 20


def test_pae_matches_the_spec_examples():
    example = dsse.pae("http://example.com/HelloWorld", b"hello world")
    assert example == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    first = STATEMENTS["vectors"][0]
    payload = base64.b64decode(first["payload_b64"])
    assert len(payload) == 242
    message = dsse.pae(first["payload_type"], payload)
    assert message.startswith(b'DSSEv1 43 application/vnd.consentry.statement.v1+json 242 {"consent"')
    assert len(message) == 300


def test_sign_round_trip_and_signature_malleability():
    payload = b'{"a":1}'
    envelope = dsse.sign("application/x-test", payload, STAND_IN)
    public = STAND_IN.public_key().public_bytes_raw()
    assert envelope["signatures"][0]["keyid"] == "ed25519:" + public.hex()
    assert dsse.verify(envelope, public, payload_type="application/x-test") == payload
    assert dsse.decode_envelope(json.dumps(envelope)) == (
        "application/x-test",
        payload,
        [dsse.Signature("ed25519:" + public.hex(), base64.b64decode(envelope["signatures"][0]["sig"]))],
    )
    with pytest.raises(dsse.DsseError) as caught:
        dsse.verify(envelope, public, payload_type="application/x-other")
    assert caught.value.slug == "wrong-payload-type"
    # S + L is the same scalar mod L: plain verification may accept it, strict must not.
    signature = base64.b64decode(envelope["signatures"][0]["sig"])
    s = int.from_bytes(signature[32:], "little") + 2**252 + 27742317777372353535851937790883648493
    malleated = signature[:32] + s.to_bytes(32, "little")
    with pytest.raises(dsse.DsseError, match="not reduced modulo L"):
        dsse.verify_strict(public, dsse.pae("application/x-test", payload), malleated)
    other = Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key().public_bytes_raw()
    with pytest.raises(dsse.DsseError) as caught:
        dsse.verify(envelope, other)
    assert caught.value.slug == "key-mismatch"


def test_key_acceptance():
    # A non-canonical encoding of the identity: y = 1 + p.
    p = 2**255 - 19
    for key, reason in (
        ((1 + p).to_bytes(32, "little"), "not the canonical encoding"),
        (bytes.fromhex("01" + "00" * 30 + "80"), "not the canonical encoding"),  # x = 0 with sign bit 1
        (bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), "small order"),
        ((2).to_bytes(32, "little"), "not the canonical encoding"),  # y = 2 is not on the curve
        (bytes(31), "32 bytes"),
    ):
        with pytest.raises(dsse.DsseError, match=reason):
            dsse.check_public_key(key)
    dsse.check_public_key(STAND_IN.public_key().public_bytes_raw())
    with pytest.raises(dsse.DsseError, match="64 lowercase hex"):
        dsse.parse_key_id("ED25519:" + "00" * 32)


@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        ("", b""),
        ("AAEC", b"\x00\x01\x02"),
        ("-_8", b"\xfb\xff"),
        ("-_8=", b"\xfb\xff"),
        ("+/8=", b"\xfb\xff"),
        ("AA", b"\x00"),
        ("AA=", b"\x00"),  # a partial pad is accepted
        ("AA==", b"\x00"),
    ],
)
def test_base64_accepted(text: str, decoded: bytes):
    assert dsse.decode_base64(text) == decoded


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("+_8=", "mixes"),
        ("A", "dangling"),
        ("AA===", "more '=' padding"),
        ("AAEC=", "more '=' padding"),
        ("AB==", "not canonical"),
        ("AA==AA", "not base64"),
        ("AA A", "not base64"),
        ("AA\n", "not base64"),
        ("ÀA==", "not base64"),
    ],
)
def test_base64_refused(text: str, reason: str):
    with pytest.raises(dsse.DsseError, match=reason) as caught:
        dsse.decode_base64(text)
    assert caught.value.slug == "bad-base64"

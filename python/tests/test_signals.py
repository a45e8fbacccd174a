"""In-file consent signals (``spec/signals.md``): every vector of
``spec/vectors/signals.json``; the XMP reader in each form a property takes
and on damaged, huge and hostile packets; real C2PA files signed with
``c2pa-python`` under a certificate chain OpenSSL issues; and, through a
live registry on both backends, a folder of registered and unregistered
works whose files refuse or allow: the client's answers, ``python -m
consentry`` (against the Rust CLI's report of the same folder) and the
integrations keep only what every signal allows, ``signals=False`` reads
no file, and the receipt stays the registry's.
"""

from __future__ import annotations

import csv
import http.server
import io
import itertools
import json
import os
import random
import subprocess
import sys
import tarfile
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import blake3
import c2pa
import datasets
import pytest
from conftest import ROOT, encode, picture
from PIL import Image

import consentry
from consentry import signals
from consentry.answers import Answer
from consentry.items import prepare
from consentry.signals import FileSignals, Finding, decide, read

VECTORS = json.loads((ROOT / "spec" / "vectors" / "signals.json").read_text())
ALL_OUT = {c: "disallowed" for c in signals.CATEGORIES}
ALL_IN = {c: "allowed" for c in signals.CATEGORIES}
NO_FETCH = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}


# ----------------------------------------------------------------- vectors


def _reading(vector: dict) -> dict:
    vocabulary = vector["vocabulary"]
    if vocabulary == "cawg":
        category = signals.cawg_entry_category(vector["key"])
        if category is None:
            return {}
        return signals.from_signal([(category, signals.cawg_use(vector["value"]))])
    read_one = {"iptc": signals.iptc_data_mining, "tdmrep": signals.tdmrep_reservation,
                "aipref": signals.content_usage}[vocabulary]
    return read_one(vector["value"])


@pytest.mark.parametrize("vector", VECTORS["readings"],
                         ids=[f"{v['vocabulary']}:{v.get('key', '')}:{v['value']}" for v in VECTORS["readings"]])
def test_reading_vectors(vector):
    if vector.get("error"):
        with pytest.raises(signals.Unrecognised):
            _reading(vector)
    else:
        assert _reading(vector) == vector["consent"], vector.get("description")


@pytest.mark.parametrize("vector", VECTORS["exports"], ids=[str(i) for i in range(len(VECTORS["exports"]))])
def test_export_vectors(vector):
    consent = vector["consent"]
    assert signals.to_content_usage(consent) == vector["content_usage"]
    assert signals.to_iptc_data_mining(consent) == vector["iptc_data_mining"]
    assert signals.to_tdmrep_reservation(consent) == vector["tdm-reservation"]
    assert {"label": signals.CAWG_LABEL, "data": signals.to_cawg_assertion(consent)} == vector["cawg_assertion"]


@pytest.mark.parametrize("vector", VECTORS["decide"], ids=[v["description"] for v in VECTORS["decide"]])
def test_decide_vectors(vector):
    got = decide(vector["purpose"], vector["registry"], vector["file_signals"])
    assert got == (vector["combined"], vector["decided_by"])


def _every_statement_consent() -> list[dict]:
    """Every consent a statement can have: each category allowed,
    disallowed or unknown, nesting holding."""
    out = []
    for values in itertools.product((None, "allowed", "disallowed"), repeat=5):
        consent = {c: v for c, v in zip(signals.CATEGORIES, values) if v is not None}
        if signals.from_signal(consent.items()) == consent:
            out.append(consent)
    return out


def test_exports_read_back_never_allow_more():
    consents = _every_statement_consent()
    # Of the 9 train-ai/train-genai pairs, nesting leaves 6 as they are.
    assert len(consents) == 6 * 3 ** 3
    for consent in consents:
        cawg = signals.to_cawg_assertion(consent)["entries"]
        back = signals.from_signal((signals.cawg_entry_category(k), signals.cawg_use(e["use"]))
                                   for k, e in cawg.items())
        assert back == {c: v for c, v in consent.items() if c != "search"}, consent
        usage = signals.to_content_usage(consent)
        back = signals.content_usage(usage) if usage else {}
        assert back == {c: v for c, v in consent.items() if c != "tdm"}, consent
        tdm = signals.to_tdmrep_reservation(consent)
        for read_back in (signals.iptc_data_mining(signals.to_iptc_data_mining(consent)),
                          signals.tdmrep_reservation(str(tdm)) if tdm is not None else {}):
            for c, v in read_back.items():
                if v == "allowed":
                    assert consent.get(c) == "allowed", (c, consent)
                else:
                    assert consent.get(c) == "disallowed" or "disallowed" in (
                        consent.get(t) for t in ("train-ai", "train-genai", "ai-use", "tdm")), (c, consent)


def test_nesting_of_signals_and_their_combination():
    assert signals.from_signal([("train-genai", "allowed"), ("train-ai", "disallowed")]) == {
        "train-ai": "disallowed", "train-genai": "disallowed"}
    assert signals.from_signal([("train-ai", "allowed")]) == {"train-ai": "allowed", "train-genai": "allowed"}
    assert signals.from_signal([("tdm", "allowed"), ("tdm", "disallowed"), ("tdm", "allowed")]) == {
        "tdm": "disallowed"}
    assert signals.combine([{"search": "allowed"}, {"search": "disallowed", "tdm": "allowed"}, {}]) == {
        "search": "disallowed", "tdm": "allowed"}
    # A file that allows everything still allows nothing the registry does not.
    assert decide("tdm", "unknown", [ALL_IN, ALL_IN]) == ("unknown", "none")
    with pytest.raises(ValueError, match="unknown purpose"):
        decide("training", "allowed", [])
    with pytest.raises(ValueError, match="allowed, disallowed or unknown"):
        decide("tdm", "maybe", [])


@pytest.mark.parametrize("value, consent", [
    ("train-ai=(n y), search=y", {"search": "allowed"}),          # an inner list is no token
    ('train-ai="n", search=n', {"search": "disallowed"}),          # a string is no token
    ("train-ai, search=y", {"search": "allowed"}),                  # a bare key is boolean true
    ("train-ai=n;why=\"ask\";q=0.5, search=:c2VhcmNo:, tdm=n", {"train-ai": "disallowed",
                                                                 "train-genai": "disallowed"}),
    ("ai-use=@1700000000, x=%\"caf%c3%a9\", train-genai=n", {"train-genai": "disallowed"}),
    ("  train-genai=y ,\tsearch=n  ", {"train-genai": "allowed", "search": "disallowed"}),
    ("", {}),
])
def test_content_usage_reads_only_y_and_n_tokens(value, consent):
    assert signals.content_usage(value) == consent


@pytest.mark.parametrize("value", ["train-ai=n,", "Train-AI=n", "train-ai=n;", "train-ai=ñ", "a=1.2345",
                                   "a=:!!:", 'a=%"caf%C3%A9"', "a=(n", "a=?2", "a=@1.5", "train-ai=n search=y",
                                   "a=1234567890123456"])
def test_content_usage_refuses_what_is_no_dictionary(value):
    with pytest.raises(signals.Unrecognised, match="Content-Usage"):
        signals.content_usage(value)


# ---------------------------------------------------------------------- XMP


def packet(body: str, description: bool = True) -> str:
    """An XMP packet; ``body`` goes in an ``rdf:Description`` with the PLUS
    and TDMRep prefixes bound (or alone, ``description=False``)."""
    inner = (f'<rdf:Description rdf:about="" xmlns:plus="{signals.PLUS_NS}" xmlns:tdm="{signals.TDMREP_NS}" '
             f'{body}/>' if description else body)
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'{inner}</rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def dmi(key: str) -> str:
    return packet(f'plus:DataMining="{signals.PLUS_VOCAB}{key}"')


def with_xmp(jpeg: bytes, xmp: str) -> bytes:
    """A JPEG with an XMP packet in an APP1 segment after SOI, as Photoshop
    and ExifTool write it."""
    payload = b"http://ns.adobe.com/xap/1.0/\0" + xmp.encode("utf-8")
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def png_with_xmp(png: bytes, xmp: str) -> bytes:
    """A PNG with an ``iTXt`` chunk ``XML:com.adobe.xmp`` after IHDR."""
    data = b"iTXt" + b"XML:com.adobe.xmp\0\0\0\0\0" + xmp.encode("utf-8")
    chunk = (len(data) - 4).to_bytes(4, "big") + data + zlib.crc32(data).to_bytes(4, "big")
    return png[:33] + chunk + png[33:]


def jpeg(seed: int) -> bytes:
    return encode(picture(seed), "JPEG", quality=88)


PROHIBITED = f"{signals.PLUS_VOCAB}DMI-PROHIBITED"


@pytest.mark.parametrize("body, description", [
    (f'plus:DataMining="{PROHIBITED}"', True),
    (f'<rdf:Description xmlns:p="{signals.PLUS_NS}"><p:DataMining>\n  {PROHIBITED}\n</p:DataMining>'
     "</rdf:Description>", False),
    (f'<rdf:Description xmlns:iptc="{signals.PLUS_NS}"><iptc:DataMining rdf:resource="{PROHIBITED}"/>'
     "</rdf:Description>", False),
    (f'<rdf:Description xmlns:plus="{signals.PLUS_NS}"><plus:DataMining><rdf:Alt>'
     f'<rdf:li xml:lang="x-default">{PROHIBITED}</rdf:li></rdf:Alt></plus:DataMining></rdf:Description>', False),
], ids=["attribute", "element text", "rdf:resource", "inside rdf:Alt"])
def test_xmp_property_forms(body, description):
    found = read(with_xmp(jpeg(1), packet(body, description)))
    assert found.notes == []
    assert found.findings == [Finding("xmp", "plus:DataMining", PROHIBITED, ALL_OUT)]
    assert found.findings[0].to_json() == {"source": "xmp", "property": "plus:DataMining", "value": PROHIBITED,
                                           "consent": ALL_OUT}


def test_xmp_tdmrep_iptc_and_several_packets():
    found = read(with_xmp(jpeg(2), packet(
        'plus:DataMining="DMI-ALLOWED" tdm:reservation="1" tdm:policy=" https://ana.example/policy.json "')))
    assert [(f.property, f.value) for f in found.findings] == [
        ("plus:DataMining", "DMI-ALLOWED"), ("tdm:reservation", "1 (tdm:policy https://ana.example/policy.json)")]
    assert found.findings[1].consent == {c: "disallowed" for c in ("train-ai", "train-genai", "ai-use", "tdm")}
    assert decide("train-genai", "unknown", found.consents()) == ("disallowed", "file")
    assert decide("search", "allowed", found.consents()) == ("allowed", "registry")
    # DMI-UNSPECIFIED is a finding that says nothing; a reservation of 0 allows.
    two = png_with_xmp(encode(picture(3)), dmi("DMI-UNSPECIFIED")) + packet('tdm:reservation="0"').encode()
    found = read(two)
    assert [(f.value, f.consent) for f in found.findings] == [
        (f"{signals.PLUS_VOCAB}DMI-UNSPECIFIED", {}),
        ("0", {c: "allowed" for c in ("train-ai", "train-genai", "ai-use", "tdm")})]
    assert decide("train-ai", "unknown", found.consents()) == ("unknown", "none")


def test_xmp_values_outside_the_vocabularies_are_noted():
    found = read(packet('plus:DataMining="DMI-SOMETIMES" tdm:reservation="2"').encode())
    assert found.findings == []
    assert found.notes == ['plus:DataMining: "DMI-SOMETIMES" is not a PLUS Data Mining value',
                           'tdm:reservation: tdm-reservation is "2", not 0 or 1']


def test_xmp_damage_gives_notes_never_exceptions():
    good = dmi("DMI-PROHIBITED-AIMLTRAINING").encode()

    def notes(data: bytes) -> list[str]:
        return read(data).notes

    assert read(b"plain bytes") == FileSignals()
    assert notes(b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF></x:xmpmeta>')[0].startswith(
        "an XMP packet is malformed: ")
    assert notes(good + b"<x:xmpmeta never closed") == ["an XMP packet is not closed: not read"]
    assert notes(b"\xff\xd8" + good.replace(b"DMI-", b"DMI-\xff")) == ["an XMP packet is not UTF-8: not read"]
    # A huge packet is skipped; the next one still counts.
    huge = packet(f'x="{"y" * signals.MAX_XMP_BYTES}"').encode()
    found = read(huge + good)
    assert len(found.notes) == 1 and "is larger than 1024 KiB: not read" in found.notes[0]
    assert [f.value for f in found.findings] == [f"{signals.PLUS_VOCAB}DMI-PROHIBITED-AIMLTRAINING"]
    # Four packets are read; a fifth is not (and a repeated finding is listed once).
    found = read(good * 5)
    assert len(found.findings) == 1 and found.notes == ["more than 4 XMP packets: the rest not read"]
    # An entity bomb is refused before any parser sees it.
    bomb = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            + "".join(f'<!ENTITY {n} "{("&" + p + ";") * 10}">' for p, n in zip("abcdefgh", "bcdefghi"))
            + f']><rdf:RDF xmlns:rdf="{signals.RDF_NS}"><rdf:Description xmlns:plus="{signals.PLUS_NS}" '
            'plus:DataMining="&i;"/></rdf:RDF></x:xmpmeta>').encode()
    started = time.monotonic()
    assert notes(bomb) == ["an XMP packet declares a DTD or entities: not read"]
    assert time.monotonic() - started < 1
    assert notes(good.replace(b"DMI-PROHIBITED-AIMLTRAINING", b"&undefined;"))[0].startswith(
        "an XMP packet is malformed: undefined entity")


def test_huge_packet_note_names_its_size():
    big = packet(f'plus:DataMining="DMI-PROHIBITED" x="{"y" * (2 << 20)}"').encode()
    start = big.index(b"<x:xmpmeta")
    size = big.index(b"</x:xmpmeta>") + len(b"</x:xmpmeta>") - start
    assert read(big).notes == [f"an XMP packet of {size} bytes is larger than 1024 KiB: not read"]


def test_mangled_metadata_never_raises():
    rng = random.Random(7)
    base = [with_xmp(jpeg(4), dmi("DMI-PROHIBITED")),
            with_xmp(jpeg(5), packet(f'<rdf:Description xmlns:t="{signals.TDMREP_NS}"><t:reservation>1'
                                     "</t:reservation></rdf:Description>", False))]
    for _ in range(300):
        data = bytearray(rng.choice(base))
        for _ in range(rng.randrange(1, 6)):
            at = rng.randrange(len(data))
            op = rng.randrange(3)
            if op == 0:
                data[at] = rng.randrange(256)
            elif op == 1:
                del data[at:at + rng.randrange(1, 40)]
            else:
                data[at:at] = rng.choice([b"<", b"&", b"\"", b"<x:xmpmeta", b"</x:xmpmeta>", b"c2pa", b"\xff"])
        found = read(bytes(data))  # never raises
        assert isinstance(found, FileSignals)
        assert all(f.source == "xmp" for f in found.findings)


# --------------------------------------------------------------------- C2PA


@dataclass
class Chain:
    """An artist's key and the certificate chain a test CA issued for it."""

    dir: Path
    chain: bytes
    key: bytes

    def signer(self) -> c2pa.Signer:
        return c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ED25519, self.chain, self.key, None))


def _openssl(folder: Path, *args: str) -> None:
    r = subprocess.run(["openssl", *args], cwd=folder, capture_output=True, text=True)
    assert r.returncode == 0, f"openssl {args}: {r.stderr}"


@pytest.fixture(scope="session")
def chain(tmp_path_factory) -> Chain:
    """The profile C2PA requires of a signer (as tests/api/signals_cli.rs
    makes it): an Ed25519 CA, and a leaf for the artist's key with
    digitalSignature, emailProtection and both key identifiers. A
    self-signed leaf is refused by C2PA."""
    d = tmp_path_factory.mktemp("c2pa-chain")
    (d / "c2pa.cnf").write_text(
        "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"
        "[leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=emailProtection\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n")
    _openssl(d, "genpkey", "-algorithm", "ed25519", "-out", "ca.key")
    _openssl(d, "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=Test Artists CA/O=Consentry tests",
             "-days", "30", "-config", "c2pa.cnf", "-extensions", "ca", "-out", "ca.pem")
    _openssl(d, "genpkey", "-algorithm", "ed25519", "-out", "ana.key")
    _openssl(d, "req", "-new", "-key", "ana.key", "-subj", "/CN=Ana/O=Ana's studio", "-out", "ana.csr")
    _openssl(d, "x509", "-req", "-in", "ana.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-days", "30",
             "-extfile", "c2pa.cnf", "-extensions", "leaf", "-set_serial", "7", "-out", "ana.pem")
    return Chain(d, (d / "ana.pem").read_bytes() + (d / "ca.pem").read_bytes(), (d / "ana.key").read_bytes())


def sign(chain: Chain, data: bytes, media_type: str, assertions: list[dict], *,
         remote_url: str | None = None, embed: bool = True) -> tuple[bytes, bytes]:
    """``data`` with a C2PA manifest (intent edit, ``data`` its parent, as
    ``consentry embed`` writes it) holding ``assertions``; returns the
    signed asset and the manifest store. With ``remote_url`` the manifest
    is not embedded: the asset only points at it (a sidecar's case); with
    ``embed=False`` it is not embedded at all (the store is the sidecar)."""
    manifest = {"claim_generator_info": [{"name": "consentry-python-tests", "version": "1"}],
                "assertions": assertions}
    builder = c2pa.Builder(manifest, context=c2pa.Context.from_dict(NO_FETCH))
    builder.set_intent(c2pa.C2paBuilderIntent.EDIT)
    if remote_url is not None or not embed:
        builder.set_no_embed()
    if remote_url is not None:
        builder.set_remote_url(remote_url)
    out = io.BytesIO()
    store = builder.sign(chain.signer(), media_type, io.BytesIO(data), out)
    return out.getvalue(), store


def training_mining(consent: dict, label: str = signals.CAWG_LABEL) -> dict:
    return {"label": label, "data": signals.to_cawg_assertion(consent)}


def test_c2pa_not_allowed_and_allowed(chain):
    signed, _ = sign(chain, jpeg(10), "image/jpeg", [training_mining(ALL_OUT)])
    found = read(signed)
    assert found.notes == []
    # The entries as the manifest store lists them (by key), each with the
    # manifest's validation and signer.
    assert [(f.source, f.property, f.value, f.signature, f.signer) for f in found.findings] == [
        ("c2pa", f"cawg.training-mining/cawg.{name}", "notAllowed", "valid", "Ana, issued by Ana's studio")
        for name in ("ai_generative_training", "ai_inference", "ai_training", "data_mining")]
    by = {f.property.rsplit("/", 1)[1]: f.consent for f in found.findings}
    assert by["cawg.ai_training"] == {"train-ai": "disallowed", "train-genai": "disallowed"}
    assert by["cawg.data_mining"] == {"tdm": "disallowed"}
    assert decide("train-genai", "unknown", found.consents()) == ("disallowed", "file")
    assert decide("search", "unknown", found.consents()) == ("unknown", "none")
    assert found.findings[0].to_json()["signature"] == "valid"

    png = encode(picture(11))
    signed, _ = sign(chain, png, "image/png", [training_mining(ALL_IN)])
    found = read(signed)
    assert {f.value for f in found.findings} == {"allowed"} and len(found.findings) == 4
    assert decide("train-genai", "unknown", found.consents()) == ("unknown", "none")
    assert decide("train-genai", "allowed", found.consents()) == ("allowed", "registry")


def test_c2pa_tampered_after_signing_still_refuses(chain):
    signed, _ = sign(chain, jpeg(12), "image/jpeg", [training_mining(ALL_OUT)])
    tampered = bytearray(signed)
    tampered[-40] ^= 0x55
    found = read(bytes(tampered))
    assert len(found.findings) == 4
    signature = found.findings[0].signature
    assert signature.startswith("invalid: ") and "assertion.dataHash.mismatch" in signature.split(": ", 1)[1]
    assert decide("train-genai", "allowed", found.consents()) == ("disallowed", "file")


def test_c2pa_legacy_label_constraints_custom_and_unknown_entries(chain):
    entries = {"c2pa.ai_generative_training": {"use": "constrained", "constraint_info": "ask Ana first"},
               "c2pa.ai_inference": {"use": "maybe"},
               "com.example.my_use": {"use": "notAllowed"},
               "c2pa.data_mining": {"use": "allowed"}}
    signed, _ = sign(chain, jpeg(13), "image/jpeg", [{"label": signals.C2PA_LEGACY_LABEL, "data": {"entries": entries}},
                                                     {"label": signals.CAWG_LABEL, "data": {"note": "no entries"}}])
    found = read(signed)
    assert [(f.property, f.value, f.consent) for f in found.findings] == [
        ("c2pa.training-mining/c2pa.ai_generative_training", "constrained (ask Ana first)",
         {"train-genai": "disallowed"}),
        ("c2pa.training-mining/c2pa.data_mining", "allowed", {"tdm": "allowed"})]
    assert found.notes == [
        'c2pa.training-mining c2pa.ai_inference: `use` is "maybe", not allowed, notAllowed or constrained',
        "a cawg.training-mining assertion without entries"]


def test_c2pa_only_the_active_manifest_counts(chain):
    refused, _ = sign(chain, jpeg(14), "image/jpeg", [training_mining(ALL_OUT)])
    assert read(refused).findings
    # Edited and signed again without the assertion: the refusal is the
    # ingredient's, which describes another asset.
    edited, _ = sign(chain, refused, "image/jpeg", [])
    assert read(edited) == FileSignals()


def test_c2pa_sidecar_and_no_network(chain, tmp_path):
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/art.c2pa"
        asset, store = sign(chain, jpeg(15), "image/jpeg", [training_mining(ALL_OUT)], remote_url=url)
        # The manifest is remote: not fetched, and the note says why.
        found = read(asset)
        assert found.findings == [] and len(found.notes) == 1
        assert found.notes[0].startswith("a C2PA manifest could not be read: ") and url in found.notes[0]
        # Beside the file, as c2patool writes it, the store is read (apart
        # from the file's own reference, still noted).
        found = read(asset, store)
        assert len(found.findings) == 4 and {f.signature for f in found.findings} == {"valid"}
        assert {f.source for f in found.findings} == {"c2pa-sidecar"}
        assert len(found.notes) == 1 and url in found.notes[0]
        (tmp_path / "art.jpg").write_bytes(asset)
        (tmp_path / "art.c2pa").write_bytes(store)
        for near in (True, False):
            p = prepare(0, tmp_path / "art.jpg", near, signals=True)
            assert p.signals is not None and len(p.signals.findings) == 4
        # A sidecar is a work of its own too, not another's sidecar.
        assert prepare(0, tmp_path / "art.c2pa", False, signals=True).signals == FileSignals()
        (tmp_path / "notes.txt").write_text("text")
        (tmp_path / "notes.c2pa").write_bytes(store)
        assert prepare(0, tmp_path / "notes.txt", False, signals=True).signals.notes == [
            "a .c2pa manifest beside a file that is not a JPEG, PNG, WebP, GIF or TIFF: not read"]
    finally:
        server.shutdown()
    assert hits == [], "nothing is fetched from the network"


def test_c2pa_damage_gives_notes():
    assert read(b"\xff\xd8\xff" + b"c2pa" * 50).notes[0].startswith("a C2PA manifest could not be read: ")
    assert read(b"some text that mentions c2pa") == FileSignals()
    # A JPEG that mentions c2pa without holding a manifest: nothing to say.
    j = jpeg(16)
    assert read(j[:2] + b"\xff\xfe\x00\x08c2pa!" + j[2:]) == FileSignals()
    assert read(j, b"not a manifest store").notes == ["the .c2pa sidecar could not be read: Verify: invalid JUMBF header"]
    # A JUMBF box labelled c2pa that holds no manifest store: a note.
    box = (b"\xff\xeb\x00\x20JP\x00\x01\x00\x00\x00\x01\x00\x00\x00\x18jumbc2pa\x00\x11\x00\x10\x80\x00"
           .ljust(0x22, b"\0"))
    for whole in (b"", b"\xff\xfe\x00\x04hi"):
        assert read(b"\xff\xd8" + box + whole + b"\xff\xd9") == FileSignals(
            notes=["a JUMBF box names C2PA but holds no manifest store the C2PA reader accepts"])


def test_c2pa_embedded_manifest_and_sidecar_are_read_apart(chain, tmp_path):
    # A file whose own manifest refuses, and a sidecar beside it saying
    # "allowed": both are read, and the refusal stands.
    refused, _ = sign(chain, jpeg(17), "image/jpeg", [training_mining(ALL_OUT)])
    _, store = sign(chain, refused, "image/jpeg", [training_mining(ALL_IN)], embed=False)
    found = read(refused, store)
    assert found.notes == []
    assert sorted({(f.source, f.value) for f in found.findings}) == [("c2pa", "notAllowed"),
                                                                     ("c2pa-sidecar", "allowed")]
    assert len(found.findings) == 8
    assert {f.signature for f in found.findings if f.source == "c2pa"} == {"valid"}
    # The SDK binds a no-embed store to the asset without its embedded
    # store, so beside these bytes the sidecar's hash does not match.
    assert all(f.signature.startswith("invalid") for f in found.findings if f.source == "c2pa-sidecar")
    assert decide("train-genai", "allowed", found.consents()) == ("disallowed", "file")
    assert decide("tdm", "unknown", found.consents()) == ("disallowed", "file")
    assert [f.to_json()["source"] for f in found.findings][-1] == "c2pa-sidecar"
    # The same from a folder: <name>.c2pa beside <name>.<ext>.
    (tmp_path / "both.jpg").write_bytes(refused)
    (tmp_path / "both.c2pa").write_bytes(store)
    p = prepare(0, tmp_path / "both.jpg", False, signals=True)
    assert p.signals == found
    # A sidecar that holds no manifest store, beside a file with its own.
    found = read(refused, b"")
    assert {f.source for f in found.findings} == {"c2pa"} and len(found.notes) == 1
    assert found.notes[0].startswith("the .c2pa sidecar could not be read: ")


def test_sidecar_names_too_large_and_unreadable_are_notes(tmp_path, monkeypatch):
    art = tmp_path / "art.JPG"
    art.write_bytes(jpeg(18))
    assert signals.sidecar_of(art) == (None, None)
    # Only <name>.c2pa, the extension in lower case, is a sidecar.
    (tmp_path / "art.C2PA").write_bytes(b"store")
    if not (tmp_path / "art.c2pa").exists():  # a case-sensitive file system
        assert signals.sidecar_of(art) == (None, None)
        # art.C2PA is a work of its own, whose sidecar is art.c2pa.
        (tmp_path / "art.c2pa").write_bytes(b"store")
        assert signals.sidecar_of(tmp_path / "art.C2PA") == (b"store", None)
        (tmp_path / "art.C2PA").unlink()
    (tmp_path / "art.c2pa").write_bytes(b"store")
    assert signals.sidecar_of(art) == (b"store", None)
    assert signals.sidecar_of(tmp_path / "art.c2pa") == (None, None)
    # 16 MiB or more: not read, a note.
    with open(tmp_path / "art.c2pa", "wb") as f:
        f.truncate(16 * 1024 * 1024)
    too_large = "the .c2pa sidecar is larger than 16 MiB: not read"
    assert signals.sidecar_of(art) == (None, too_large)
    p = prepare(0, art, False, signals=True)
    assert p.signals == FileSignals(notes=[too_large])
    with open(tmp_path / "art.c2pa", "wb") as f:
        f.truncate(16 * 1024 * 1024 - 1)
    data, note = signals.sidecar_of(art)
    assert note is None and len(data) == 16 * 1024 * 1024 - 1
    # A sidecar that cannot be opened or read: a note, never an exception.
    (tmp_path / "art.c2pa").unlink()
    (tmp_path / "art.c2pa").symlink_to(tmp_path / "art.c2pa")
    data, note = signals.sidecar_of(art)
    assert data is None and note.startswith("the .c2pa sidecar could not be read: ") and "(os error" in note
    assert prepare(0, art, True, signals=True).signals.notes == [note]
    (tmp_path / "art.c2pa").unlink()
    (tmp_path / "art.c2pa").write_bytes(b"store")

    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    denied_note = "the .c2pa sidecar could not be read: Permission denied (os error 13)"
    assert signals.sidecar_of(art) == (None, denied_note)
    monkeypatch.undo()
    # A folder named like a sidecar is none.
    (tmp_path / "art.c2pa").unlink()
    (tmp_path / "art.c2pa").mkdir()
    assert signals.sidecar_of(art) == (None, None)


def test_findings_past_the_cap_keep_their_refusals():
    s = FileSignals()
    for i in range(40):
        s.add(Finding("xmp", f"p{i}", "v" * 1000, {"tdm": "disallowed" if i == 39 else "allowed"}))
    assert len(s.findings) == signals.MAX_FINDINGS + 1
    rest = s.findings[signals.MAX_FINDINGS]
    assert rest == Finding("xmp", "more than 32 signals: the rest combined", "8", {"tdm": "disallowed"})
    assert s.findings[0].value == "v" * 256 + "\u2026"
    assert signals.combine(s.consents())["tdm"] == "disallowed"
    # A repeat of a listed finding is dropped, past the cap too.
    s.add(Finding("xmp", "p0", "v" * 1000, {"tdm": "disallowed"}))
    assert rest == s.findings[signals.MAX_FINDINGS]
    for i in range(20):
        s.note(f"note {i % 10}")
    assert s.notes == [f"note {i}" for i in range(signals.MAX_NOTES)]
    s = FileSignals()
    s.note("n" * 300)
    s.add(Finding("c2pa", "x" * 300, "v", {}, "s" * 300, "a" * 300))
    assert s.notes == ["n" * 256 + "\u2026"]
    f = s.findings[0]
    assert (f.property, f.signature, f.signer) == ("x" * 256 + "\u2026", "s" * 256 + "\u2026", "a" * 256 + "\u2026")


def test_repeated_signals_are_listed_once_and_long_values_clipped():
    policy = "p" * 500_000
    body = (f'<rdf:Description xmlns:tdm="{signals.TDMREP_NS}" tdm:policy="{policy}"/>'
            + f'<rdf:Description xmlns:tdm="{signals.TDMREP_NS}" tdm:reservation="1"/>' * 1000)
    found = read(packet(body, False).encode())
    assert len(found.findings) == 1, "one finding for a thousand equal ones"
    assert len(found.findings[0].value) == signals.MAX_TEXT + 1 and found.findings[0].value.endswith("\u2026")
    assert found.findings[0].value.startswith("1 (tdm:policy ppp")


def test_xmp_packets_after_damage_are_still_read():
    refusal = dmi("DMI-PROHIBITED").encode()
    # Scanning goes on after a packet too large to read.
    found = read(packet(" " * signals.MAX_XMP_BYTES, False).encode() + refusal)
    assert "larger than" in found.notes[0] and len(found.notes) == 1
    assert [f.value for f in found.findings] == [PROHIBITED], "the next packet is read"
    # Four packets are read, the fifth is not.
    empty = packet("", False).encode()
    found = read(empty * 3 + refusal + empty * 2)
    assert found.notes == ["more than 4 XMP packets: the rest not read"]
    assert [f.value for f in found.findings] == [PROHIBITED], "the fourth packet is read"
    found = read(empty * 4 + refusal)
    assert found.findings == [] and found.notes == ["more than 4 XMP packets: the rest not read"]
    # A stray opening tag does not swallow the packet after it.
    found = read(b"caption: <x:xmpmeta is how XMP starts " + refusal)
    assert [f.value for f in found.findings] == [PROHIBITED]
    assert found.notes == ["an XMP opening tag without its end, before a packet: ignored"]
    assert read(b"plain bytes") == FileSignals()


# ---------------------------------------------------- items and answers


def test_prepare_reads_signals_from_bytes_paths_and_image_values(tmp_path):
    data = with_xmp(jpeg(20), dmi("DMI-PROHIBITED"))
    path = tmp_path / "a.jpg"
    path.write_bytes(data)
    hash_text = "blake3:" + blake3.blake3(data).hexdigest()
    for item in (data, bytearray(data), path, str(path), {"bytes": data, "path": "x.jpg"},
                 {"bytes": None, "path": str(path)}):
        for near in (True, False):
            p = prepare(0, item, near, signals=True)
            assert p.signals is not None and [f.value for f in p.signals.findings] == [PROHIBITED], (item, near)
            assert prepare(0, item, near).signals is None
    assert prepare(0, hash_text, False, signals=True).signals is None
    assert prepare(0, Image.open(io.BytesIO(data)), True, signals=True).signals is None


def test_a_file_too_large_to_read_whole_gets_a_note(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(dmi("DMI-PROHIBITED").encode() + bytes(16 * 1024 * 1024))
    p = prepare(0, path, False, signals=True)
    assert p.signals == FileSignals(notes=["metadata not read: the file is larger than 16 MiB"])


def test_answer_keeps_the_registry_status_and_combines():
    refusal = FileSignals([Finding("xmp", "plus:DataMining", "DMI-PROHIBITED", ALL_OUT)], ["a note"])
    raw = {"hash": "blake3:" + "ab" * 32, "status": "allowed", "statements": ["cd" * 32], "decided_by": ["cd" * 32]}
    a = Answer("x.jpg", raw, file_signals=refusal, purpose="train-genai")
    assert (a.status, a.allowed, a.combined, a.combined_by) == ("allowed", True, "disallowed", "file")
    assert a.decided_by == ("cd" * 32,), "the registry's deciding statements are as sent"
    assert not a.permits(unknown=True)
    assert a.signals == (refusal.findings[0],) and a.signal_notes == ("a note",)
    row = a.row()
    assert (row["status"], row["combined"], row["decided_by"]) == ("allowed", "disallowed", "file")
    assert row["signals"] == [{"source": "xmp", "property": "plus:DataMining", "value": "DMI-PROHIBITED",
                               "consent": ALL_OUT}]
    assert row["signal_notes"] == ["a note"]
    assert "combined='disallowed'" in repr(a)
    plain = Answer("h", {**raw, "status": "unknown"})
    assert (plain.signals, plain.signal_notes, plain.combined, plain.combined_by) == (None, (), "unknown", "none")
    assert plain.permits(unknown=True)
    with pytest.raises(ValueError, match="purpose"):
        Answer("x", raw, file_signals=refusal)


# --------------------------------------------------- through a registry


@dataclass
class Folder:
    """The live tests' works in one folder, by name, and what is expected
    of each for train-genai: ``(status, combined, decided_by)``."""

    dir: Path
    files: dict[str, Path]
    builder: consentry.Registry

    def data(self, name: str) -> bytes:
        return self.files[name].read_bytes()


# name -> (registry's status, combined, decided_by) for train-genai.
EXPECTED = {
    "a-registered-in.png": ("allowed", "allowed", "registry"),
    "b-registered-out.png": ("disallowed", "disallowed", "registry"),
    "c-c2pa-not-allowed.jpg": ("unknown", "disallowed", "file"),
    "d-iptc-prohibited.jpg": ("unknown", "disallowed", "file"),
    "e-registered-in-refused.jpg": ("allowed", "disallowed", "file"),
    "f-plain.jpg": ("unknown", "unknown", "none"),
    "g-c2pa-allowed.jpg": ("unknown", "unknown", "none"),
    "h-c2pa-tampered.jpg": ("unknown", "disallowed", "file"),
    "i-registered-out-refused.jpg": ("disallowed", "disallowed", "registry+file"),
    "j-broken-xmp.jpg": ("unknown", "unknown", "none"),
    "k-huge-xmp.png": ("unknown", "unknown", "none"),
    "l-registered-in-c2pa-allowed.jpg": ("allowed", "allowed", "registry"),
}
ALLOWED_BY_ALL = {n for n, e in EXPECTED.items() if e[1] == "allowed"}
UNKNOWN_TO_ALL = {n for n, e in EXPECTED.items() if e[1] == "unknown"}
SUMMARY = ("in-file signals: 7 works carry consent signals (2 with unreadable metadata: see the report's "
           "`signal_notes`); 5 refused by their files (1 the registry allows, 3 it does not know, 1 it refuses too); with them: "
           "2 allowed, 6 disallowed, 4 unknown")


@pytest.fixture
def folder(tmp_path, artist, builder, chain) -> Folder:
    """Registered works (opt-in, opt-out; some with a file that refuses or
    allows) and unregistered ones whose files refuse through C2PA or XMP,
    allow, are tampered with or carry damaged or huge metadata."""
    d = tmp_path / "data"
    d.mkdir()
    # Fixed seeds: random pictures can be near copies of one another (their
    # image codes within the matching threshold), which would make a work
    # these tests take as unregistered match a registered one.
    seed = iter(random.Random(20261207).sample(range(1, 1 << 30), 20))
    files = {
        "a-registered-in.png": encode(picture(next(seed))),
        "b-registered-out.png": encode(picture(next(seed))),
        "c-c2pa-not-allowed.jpg": sign(chain, jpeg(next(seed)), "image/jpeg", [training_mining(ALL_OUT)])[0],
        "d-iptc-prohibited.jpg": with_xmp(jpeg(next(seed)), dmi("DMI-PROHIBITED")),
        "e-registered-in-refused.jpg": with_xmp(jpeg(next(seed)), dmi("DMI-PROHIBITED-GENAIMLTRAINING")),
        "f-plain.jpg": jpeg(next(seed)),
        "g-c2pa-allowed.jpg": sign(chain, jpeg(next(seed)), "image/jpeg", [training_mining(ALL_IN)])[0],
        "i-registered-out-refused.jpg": with_xmp(jpeg(next(seed)), packet(
            'tdm:reservation="1" tdm:policy="https://ana.example/policy.json"')),
        "j-broken-xmp.jpg": with_xmp(jpeg(next(seed)), '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>'),
        "k-huge-xmp.png": png_with_xmp(encode(picture(next(seed))), packet(
            f'plus:DataMining="DMI-PROHIBITED" x="{"y" * (2 << 20)}"')),
        "l-registered-in-c2pa-allowed.jpg": sign(chain, jpeg(next(seed)), "image/jpeg",
                                                 [training_mining(ALL_IN)])[0],
    }
    tampered = bytearray(files["c-c2pa-not-allowed.jpg"])
    tampered[-40] ^= 0x55
    files["h-c2pa-tampered.jpg"] = bytes(tampered)
    paths = {}
    for name, data in files.items():
        paths[name] = d / name
        paths[name].write_bytes(data)
    artist.register([paths[n] for n in ("a-registered-in.png", "e-registered-in-refused.jpg",
                                        "l-registered-in-c2pa-allowed.jpg")], "opt-in")
    artist.register([paths[n] for n in ("b-registered-out.png", "i-registered-out-refused.jpg")], "opt-out")
    return Folder(d, dict(sorted(paths.items())), builder)


def _by_name(answers) -> dict[str, Answer]:
    return {Path(a.item).name: a for a in answers}


def _assert_expected(answers: dict[str, Answer]) -> None:
    for name, expected in EXPECTED.items():
        a = answers[name]
        assert (a.status, a.combined, a.combined_by) == expected, name


def test_check_combines_the_registry_and_the_files(folder):
    for near in (True, False):
        run = folder.builder.check(list(folder.files.values()), "train-genai", near=near)
        in_order = run.answers()
        answers = _by_name(in_order)
        _assert_expected(answers)
        assert {n for n, a in answers.items() if a.permits(unknown=False)} == ALLOWED_BY_ALL
        assert {n for n, a in answers.items() if a.permits(unknown=True)} == ALLOWED_BY_ALL | UNKNOWN_TO_ALL
        # The receipt is the registry's: its counts, and the answers it signs.
        receipt = consentry.verify_receipt(run.receipt, folder.builder.verifier_key,
                                           answers=[{**a.raw, "fingerprints": list(a.codes)} for a in in_order])
        assert (receipt.counts.allowed, receipt.counts.disallowed, receipt.counts.unknown) == (3, 2, 7)
    c = answers["c-c2pa-not-allowed.jpg"]
    genai = next(f for f in c.signals if f.property == "cawg.training-mining/cawg.ai_generative_training")
    assert (genai.source, genai.value, genai.signature, genai.signer) == (
        "c2pa", "notAllowed", "valid", "Ana, issued by Ana's studio")
    assert len(c.signals) == 4
    assert answers["h-c2pa-tampered.jpg"].signals[0].signature.startswith("invalid: ")
    assert [f.value for f in answers["g-c2pa-allowed.jpg"].signals] == ["allowed"] * 4
    d = answers["d-iptc-prohibited.jpg"].signals[0]
    assert (d.source, d.property, d.signature) == ("xmp", "plus:DataMining", None)
    assert answers["i-registered-out-refused.jpg"].signals[0].value == "1 (tdm:policy https://ana.example/policy.json)"
    assert answers["j-broken-xmp.jpg"].signal_notes == ("an XMP packet is not closed: not read",)
    assert "larger than 1024 KiB" in answers["k-huge-xmp.png"].signal_notes[0]
    assert answers["f-plain.jpg"].signals == ()
    # Another purpose: the CAWG and IPTC refusals cover tdm, the TDMRep one too.
    answers = _by_name(folder.builder.check(list(folder.files.values()), "search"))
    assert answers["c-c2pa-not-allowed.jpg"].combined == "unknown", "CAWG has no search entry"
    assert answers["d-iptc-prohibited.jpg"].combined == "disallowed", "DMI-PROHIBITED refuses search too"
    assert (answers["e-registered-in-refused.jpg"].combined, answers["i-registered-out-refused.jpg"].combined_by) \
        == ("allowed", "registry"), "neither a genai refusal nor TDMRep speaks of search"


def test_signals_false_reads_no_file_and_hashes_have_none(folder):
    run = folder.builder.check(list(folder.files.values()), "train-genai", signals=False)
    answers = _by_name(run)
    for name, (status, _, _) in EXPECTED.items():
        a = answers[name]
        assert (a.status, a.combined, a.signals, a.signal_notes) == (status, status, None, ()), name
        assert a.combined_by == ("none" if status == "unknown" else "registry")
    assert {n for n, a in answers.items() if a.permits(unknown=True)} == {
        n for n, e in EXPECTED.items() if e[0] != "disallowed"}
    hashes = ["blake3:" + blake3.blake3(folder.data(n)).hexdigest() for n in folder.files]
    for a, name in zip(folder.builder.check(hashes, "train-genai"), folder.files):
        assert a.signals is None and a.combined == a.status == EXPECTED[name][0]


def test_tables_carry_the_signals(folder):
    df = folder.builder.check(list(folder.files.values()), "train-genai").to_pandas()
    rows = {Path(r["item"]).name: r for r in df.to_dict("records")}
    for name, (status, combined, by) in EXPECTED.items():
        assert (rows[name]["status"], rows[name]["combined"], rows[name]["decided_by"]) == (status, combined, by)
    assert rows["d-iptc-prohibited.jpg"]["signals"][0]["consent"] == ALL_OUT
    assert list(rows["j-broken-xmp.jpg"]["signal_notes"]) == ["an XMP packet is not closed: not read"]
    table = folder.builder.check(list(folder.files.values()), "train-genai").to_arrow()
    assert {"combined", "decided_by", "signals", "signal_notes"} <= set(table.column_names)
    rows = {Path(r["item"]).name: r for r in table.to_pylist()}
    assert json.loads(rows["c-c2pa-not-allowed.jpg"]["signals"])[0]["signature"] == "valid"
    assert rows["e-registered-in-refused.jpg"]["combined"] == "disallowed"
    off = folder.builder.check(list(folder.files.values()), "train-genai", signals=False).to_arrow()
    assert str(off.schema.field("signals").type) == "string" and off.column("signals").null_count == len(EXPECTED)


# ------------------------------------------------------- the command line


def cli(*args: str, cwd: Path, url: str) -> str:
    env = dict(os.environ, CONSENTRY_URL=url)
    r = subprocess.run([sys.executable, "-m", "consentry", *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def report(path: Path) -> dict[str, dict]:
    return {row["label"]: row for row in map(json.loads, path.read_text().splitlines())}


def test_cli_check_report_filter_and_registry_only(folder, server, tmp_path):
    key = ["--purpose", "train-genai", "--key", str(folder.builder.key_file)]
    out = cli("check", "data", *key, "--report", "r.jsonl", "--receipt", "r.json", cwd=tmp_path, url=server.url)
    assert out.startswith("12 works for train-genai: 3 allowed, 2 disallowed, 7 unknown"), out
    assert SUMMARY in out.splitlines(), out
    rows = report(tmp_path / "r.jsonl")
    for name, (status, combined, by) in EXPECTED.items():
        assert (rows[name]["status"], rows[name]["combined"], rows[name]["decided_by"]) == (status, combined, by)
    assert rows["f-plain.jpg"]["signals"] == [] and rows["f-plain.jpg"]["signal_notes"] == []
    assert rows["c-c2pa-not-allowed.jpg"]["signals"][0]["signer"] == "Ana, issued by Ana's studio"
    assert "signature" not in rows["d-iptc-prohibited.jpg"]["signals"][0]
    # The report's answers are the registry's: the receipt verifies with them,
    # here and with the Rust CLI.
    receipt = json.loads((tmp_path / "r.json").read_text())
    consentry.verify_receipt(receipt, folder.builder.verifier_key, answers=list(rows.values()))
    server.cli("verify-receipt", str(tmp_path / "r.json"), "--verifier-key", folder.builder.verifier_key,
               "--answers", str(tmp_path / "r.jsonl"))
    # CSV: the findings as a JSON array, the notes joined.
    cli("check", "data", *key, "--report", "r.csv", "--receipt", "c.json", cwd=tmp_path, url=server.url)
    with open(tmp_path / "r.csv", newline="") as f:
        csv_rows = {r["label"]: r for r in csv.DictReader(f)}
    assert json.loads(csv_rows["e-registered-in-refused.jpg"]["signals"]) == rows["e-registered-in-refused.jpg"][
        "signals"]
    assert csv_rows["j-broken-xmp.jpg"]["signal_notes"] == "an XMP packet is not closed: not read"
    assert (csv_rows["h-c2pa-tampered.jpg"]["combined"], csv_rows["h-c2pa-tampered.jpg"]["decided_by"]) == (
        "disallowed", "file")
    # filter keeps what every signal allows (and unknowns, when asked).
    out = cli("filter", "data", *key, "--unknown", "allow", "--out", "kept", "--receipt", "f.json", cwd=tmp_path,
              url=server.url)
    assert "kept 6 of 12 works (6 dropped)" in out, out
    assert {p.name for p in (tmp_path / "kept").iterdir()} == ALLOWED_BY_ALL | UNKNOWN_TO_ALL
    cli("filter", "data", *key, "--out", "strict", "--receipt", "s.json", cwd=tmp_path, url=server.url)
    assert {p.name for p in (tmp_path / "strict").iterdir()} == ALLOWED_BY_ALL
    # --signals registry-only: no file is read.
    out = cli("check", "data", *key, "--signals", "registry-only", "--report", "o.jsonl", "--receipt", "o.json",
              cwd=tmp_path, url=server.url)
    assert "in-file signals" not in out
    rows = report(tmp_path / "o.jsonl")
    for name, (status, _, _) in EXPECTED.items():
        assert (rows[name]["combined"], rows[name]["signals"], rows[name]["signal_notes"]) == (status, None, [])
    cli("filter", "data", *key, "--signals", "registry-only", "--out", "all", "--receipt", "a.json", cwd=tmp_path,
        url=server.url)
    assert {p.name for p in (tmp_path / "all").iterdir()} == {n for n, e in EXPECTED.items() if e[0] == "allowed"}


def test_cli_reports_what_the_rust_cli_reports(folder, server, tmp_path):
    key = ["--purpose", "train-genai", "--key", str(folder.builder.key_file)]
    cli("check", "data", *key, "--report", "py.jsonl", "--receipt", "py.json", cwd=tmp_path, url=server.url)
    r = server.cli("check", "data", *key, "--report", "rs.jsonl", "--receipt", "rs.json", cwd=tmp_path)
    assert SUMMARY in r.stdout.splitlines(), r.stdout
    py, rs = report(tmp_path / "py.jsonl"), report(tmp_path / "rs.jsonl")
    assert py.keys() == rs.keys() == EXPECTED.keys()
    for name in EXPECTED:
        for column in ("status", "combined", "decided_by", "signals", "signal_notes"):
            assert py[name][column] == rs[name][column], (name, column)
    # The CSV forms too, to the byte.
    cli("check", "data", *key, "--report", "py.csv", "--receipt", "pyc.json", cwd=tmp_path, url=server.url)
    server.cli("check", "data", *key, "--report", "rs.csv", "--receipt", "rsc.json", cwd=tmp_path)
    columns = ("label", "status", "combined", "decided_by", "signals", "signal_notes")
    tables = []
    for path in (tmp_path / "py.csv", tmp_path / "rs.csv"):
        with open(path, newline="") as f:
            tables.append([tuple(row[c] for c in columns) for row in csv.DictReader(f)])
    assert tables[0] == tables[1] and len(tables[0]) == len(EXPECTED)
    assert (tmp_path / "py.csv").read_text().split("\n", 1)[0] == (tmp_path / "rs.csv").read_text().split("\n", 1)[0]


# ----------------------------------------------------------- integrations


def test_integrations_drop_what_a_file_refuses(folder, tmp_path):
    from consentry.integrations import hf
    from consentry.integrations import webdataset as cwds
    from consentry.integrations.datadiligence import ConsentryRule
    from consentry.integrations.img2dataset import filter_shards

    datasets.disable_progress_bars()
    names = list(folder.files)
    ds = datasets.Dataset.from_dict(
        {"image": [{"bytes": folder.data(n), "path": n} for n in names], "name": names},
        features=datasets.Features({"image": datasets.Image(decode=False), "name": datasets.Value("string")}))
    f = hf.consent_filter(folder.builder, "train-genai", unknown=True)
    assert set(ds.filter(f, batched=True)["name"]) == ALLOWED_BY_ALL | UNKNOWN_TO_ALL
    assert f.counts == {"allowed": 3, "disallowed": 2, "unknown": 7}
    assert f.combined_counts == {"allowed": 2, "disallowed": 6, "unknown": 4}
    off = hf.consent_filter(folder.builder, "train-genai", unknown=True, signals=False)
    assert set(ds.filter(off, batched=True)["name"]) == {n for n, e in EXPECTED.items() if e[0] != "disallowed"}
    cols = hf.add_consent_columns(ds, folder.builder, "train-genai")
    for row in cols:
        status, combined, by = EXPECTED[row["name"]]
        assert (row["consent_status"], row["consent_combined"], row["consent_decided_by"]) == (status, combined, by)
        assert row["consent_keep"] == (combined == "allowed")
    c = next(r for r in cols if r["name"] == "c-c2pa-not-allowed.jpg")
    assert len(json.loads(c["consent_signals"])) == 4 and c["consent_signal_notes"] == []

    samples = [{"__key__": Path(n).stem, Path(n).suffix[1:]: folder.data(n), "txt": n} for n in names]
    stage = cwds.consent_filter(folder.builder, "train-genai", unknown=True, batch_size=5)
    assert {s["txt"] for s in stage(iter(samples))} == ALLOWED_BY_ALL | UNKNOWN_TO_ALL
    assert stage.combined_counts["disallowed"] == 6

    shards = tmp_path / "i2d"
    shards.mkdir()
    with tarfile.open(shards / "00000.tar", "w") as tar:
        for i, n in enumerate(names):
            data = folder.data(n)
            info = tarfile.TarInfo(f"{i:09d}.{Path(n).suffix[1:]}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    summary = filter_shards(shards, folder.builder, "train-genai", out_dir=tmp_path / "kept", unknown=True)
    assert summary.kept == len(ALLOWED_BY_ALL | UNKNOWN_TO_ALL)
    assert summary.counts == {"allowed": 3, "disallowed": 2, "unknown": 7}
    assert summary.combined_counts == {"allowed": 2, "disallowed": 6, "unknown": 4}
    assert "with the signals in the images: 2 allowed, 6 disallowed, 4 unknown" in str(summary)
    lines = [json.loads(x) for x in summary.shards[0].report.read_text().splitlines()]
    assert [(x["status"], x["combined"], x["decided_by"]) for x in lines] == [EXPECTED[n] for n in names]
    assert all(x["kept"] == (x["combined"] != "disallowed") for x in lines)
    consentry.verify_receipt(json.loads(summary.shards[0].receipt.read_text()), folder.builder.verifier_key,
                             answers=lines)

    rule = ConsentryRule(folder.builder, "train-genai", unknown=True)
    assert not rule.is_allowed(body=folder.data("c-c2pa-not-allowed.jpg"))
    assert not rule.is_allowed(path=folder.files["e-registered-in-refused.jpg"])
    assert rule.is_allowed(body=folder.data("g-c2pa-allowed.jpg"))
    assert ConsentryRule(folder.builder, "train-genai", unknown=True, signals=False).is_allowed(
        body=folder.data("c-c2pa-not-allowed.jpg"))


def test_a_folder_s_sidecars_are_read_with_their_files_not_checked_as_works(tmp_path):
    from consentry.__main__ import _folder_files

    (tmp_path / "sub").mkdir()
    for name in ["a.jpg", "a.c2pa", "b.c2pa", "sub/c.png", "sub/c.c2pa", "d", "d.c2pa", "e.C2PA", "e.jpg"]:
        (tmp_path / name).write_bytes(b"x")
    listed = [p.relative_to(tmp_path).as_posix() for p in _folder_files(tmp_path)]
    # A sidecar beside its file is not a work; one alone, one beside a file
    # without an extension, or one spelled in capitals is (as in Rust).
    assert listed == ["a.jpg", "b.c2pa", "d", "d.c2pa", "e.C2PA", "e.jpg", "sub/c.png"]

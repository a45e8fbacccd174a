"""Consent signals written inside files, and what they mean here
(``spec/signals.md``).

Artists also state their wishes outside the registry: in C2PA manifests
(the CAWG training-and-data-mining assertion), in XMP metadata (IPTC
``plus:DataMining``, TDMRep ``tdm:reservation``) and in HTTP headers (aipref
``Content-Usage``). This module maps each vocabulary onto our five
categories once, reads the signals a file holds (:func:`read`), and combines
them with the registry's answer (:func:`decide`)::

    found = read(open("photo.jpg", "rb").read())
    for f in found.findings:
        print(f.source, f.property, f.value, f.consent)
    combined, decided_by = decide("train-genai", "unknown", found.consents())

The rule is the most restrictive one with one asymmetry: a file can refuse
a use, but an in-file "allowed" never makes a work allowed. Anyone who
handled a file could have written its metadata; the registry's answer is
the one the artist signed. Nothing read here is signed by the registry, and
a C2PA signature says who signed a manifest, not who owns the work.

Reading never raises: metadata that is damaged, too large or in a form not
read gives a note (``FileSignals.notes``) and the file's other signals still
count. The same limits as ``consentry check``'s reader apply: XMP packets are
found by scanning for ``<x:xmpmeta`` ... ``</x:xmpmeta>``, at most 4 packets
of at most 1 MiB each; C2PA manifests are parsed only when the bytes
contain ``c2pa``, with the C2PA reference SDK (``c2pa-python``) and nothing
fetched from the network; a ``.c2pa`` sidecar is read apart from the
manifest the file embeds. A repeated finding is listed once, at most 32 are
listed (the rest folded into one more whose consent combines theirs), texts
are clipped to 256 characters and at most 8 notes are kept.
"""

from __future__ import annotations

import io
import json
import os
import stat
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

import http_sfv

__all__ = [
    "CATEGORIES", "CAWG_LABEL", "C2PA_LEGACY_LABEL", "PLUS_NS", "PLUS_VOCAB", "TDMREP_NS",
    "MAX_XMP_BYTES", "MAX_XMP_PACKETS", "MAX_FINDINGS", "MAX_NOTES", "MAX_TEXT", "MAX_SIDECAR_BYTES",
    "Unrecognised", "Finding", "FileSignals",
    "from_signal", "combine", "cawg_entry_category", "cawg_use", "iptc_data_mining",
    "tdmrep_reservation", "content_usage", "to_content_usage", "to_cawg_assertion",
    "to_iptc_data_mining", "to_tdmrep_reservation", "decide", "read", "sidecar_of",
]

#: Our categories, in the order every consent is written.
CATEGORIES = ("train-ai", "train-genai", "ai-use", "search", "tdm")
ALLOWED = "allowed"
DISALLOWED = "disallowed"
UNKNOWN = "unknown"

#: The CAWG assertion's label (CAWG training-and-data-mining 1.1).
CAWG_LABEL = "cawg.training-mining"
#: The C2PA 1.x label, still written by older tools.
C2PA_LEGACY_LABEL = "c2pa.training-mining"
#: The XMP namespace of PLUS, which holds ``plus:DataMining``.
PLUS_NS = "http://ns.useplus.org/ldf/xmp/1.0/"
#: The prefix of the PLUS Data Mining vocabulary's values.
PLUS_VOCAB = "http://ns.useplus.org/ldf/vocab/"
#: The XMP namespace of TDMRep (``tdm:reservation``, ``tdm:policy``).
TDMREP_NS = "http://www.w3.org/ns/tdmrep/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

#: An XMP packet larger than this is not read (a note says so).
MAX_XMP_BYTES = 1 << 20
#: At most this many XMP packets are read from one file.
MAX_XMP_PACKETS = 4
#: Findings listed per file; beyond it, one more finding carries the
#: combined consent of the rest, so no refusal is lost.
MAX_FINDINGS = 32
#: Notes kept per file.
MAX_NOTES = 8
#: Characters of a value, name or note kept in a finding or note.
MAX_TEXT = 256
#: A ``.c2pa`` sidecar this large or larger is not read (a note says so).
MAX_SIDECAR_BYTES = 16 * 1024 * 1024

# The uses a TDMRep reservation covers: mining, and the AI uses that are
# mining; not search (aipref and IPTC both give search its own value).
_TDM_CATEGORIES = ("train-ai", "train-genai", "ai-use", "tdm")
# The CAWG entry names of our categories (search has none).
_CAWG_ENTRIES = (("train-ai", "ai_training"), ("train-genai", "ai_generative_training"),
                 ("ai-use", "ai_inference"), ("tdm", "data_mining"))
# The Content-Usage keys we read and write: aipref's train-ai and search,
# draft-02's train-genai and ai-use (readers ignore keys they do not know).
_AIPREF_KEYS = ("train-ai", "train-genai", "ai-use", "search")

Consent = dict[str, str]


class Unrecognised(ValueError):
    """A signal's value that says nothing we can use (the report notes it)."""


def _clip(text: str) -> str:
    """``text`` cut to :data:`MAX_TEXT` characters (an ellipsis says so)."""
    return text[:MAX_TEXT] + "…" if len(text) > MAX_TEXT else text


def _quoted(value: str) -> str:
    """A value quoted as the Rust reader's notes quote it."""
    return json.dumps(value, ensure_ascii=False)


# ------------------------------------------------------------- the mapping


def _ordered(values: Mapping[str, str]) -> Consent:
    return {c: values[c] for c in CATEGORIES if c in values}


def from_signal(values: Iterable[tuple[str, str]]) -> Consent:
    """The consent an outside signal states, with nesting applied as for a
    statement, except that a signal is never refused: a refused
    ``train-ai`` refuses ``train-genai`` (an allowed ``train-genai`` under
    it reads as refused, the most restrictive reading), and an undeclared
    ``train-genai`` takes ``train-ai``'s value. A category given twice is
    refused if either says so."""
    out: dict[str, str] = {}
    for category, value in values:
        out[category] = DISALLOWED if DISALLOWED in (out.get(category), value) else ALLOWED
    parent = out.get("train-ai")
    if parent == DISALLOWED:
        out["train-genai"] = DISALLOWED
    elif parent is not None and "train-genai" not in out:
        out["train-genai"] = parent
    return _ordered(out)


def combine(sets: Iterable[Mapping[str, str]]) -> Consent:
    """Several signals per category, as statements combine: any
    ``disallowed`` wins, else any ``allowed``, else unknown (absent)."""
    out: dict[str, str] = {}
    for s in sets:
        for category in CATEGORIES:
            value = s.get(category)
            if value == DISALLOWED or (value == ALLOWED and out.get(category) != DISALLOWED):
                out[category] = value
    return _ordered(out)


def cawg_entry_category(key: str) -> str | None:
    """Our category of a CAWG (``cawg.*``) or C2PA 1.x (``c2pa.*``)
    training-mining entry key; ``None`` for custom keys, which are not
    ours to read."""
    for prefix in ("cawg.", "c2pa."):
        if key.startswith(prefix):
            name = key[len(prefix):]
            return next((c for c, n in _CAWG_ENTRIES if n == name), None)
    return None


def cawg_use(value: str) -> str:
    """A training-mining entry's ``use``: ``allowed``, or ``notAllowed``
    and ``constrained`` (CAWG 1.1: "in the absence of additional
    information, constrained shall be treated as equivalent to
    notAllowed"). Raises :class:`Unrecognised` for anything else."""
    if value == "allowed":
        return ALLOWED
    if value in ("notAllowed", "constrained"):
        return DISALLOWED
    raise Unrecognised(f"`use` is {_quoted(value)}, not allowed, notAllowed or constrained")


def iptc_data_mining(value: str) -> Consent:
    """A ``plus:DataMining`` value (the vocabulary URI, or its key alone)
    as consent; ``DMI-UNSPECIFIED`` states nothing. Raises
    :class:`Unrecognised` outside the PLUS Data Mining vocabulary."""
    value = value.strip()
    key = value.removeprefix(PLUS_VOCAB)
    if key == "DMI-UNSPECIFIED":
        return {}
    if key == "DMI-ALLOWED":
        return from_signal((c, ALLOWED) for c in CATEGORIES)
    if key == "DMI-PROHIBITED-AIMLTRAINING":
        return from_signal([("train-ai", DISALLOWED)])
    if key == "DMI-PROHIBITED-GENAIMLTRAINING":
        return from_signal([("train-genai", DISALLOWED)])
    if key == "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING":
        return from_signal((c, ALLOWED if c == "search" else DISALLOWED) for c in CATEGORIES)
    if key in ("DMI-PROHIBITED", "DMI-PROHIBITED-SEECONSTRAINT", "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR",
               "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR"):
        return from_signal((c, DISALLOWED) for c in CATEGORIES)
    raise Unrecognised(f"{_quoted(value)} is not a PLUS Data Mining value")


def tdmrep_reservation(value: str) -> Consent:
    """A TDMRep ``tdm-reservation`` (``tdm:reservation`` in XMP): ``1``
    reserves mining (every use but search refused), ``0`` does not.
    Raises :class:`Unrecognised` for anything else (TDMRep: a protocol
    error, the property is unset)."""
    text = value.strip()
    if text not in ("0", "1"):
        raise Unrecognised(f"tdm-reservation is {_quoted(text)}, not 0 or 1")
    preference = DISALLOWED if text == "1" else ALLOWED
    return from_signal((c, preference) for c in _TDM_CATEGORIES)


def content_usage(value: str) -> Consent:
    """An aipref ``Content-Usage`` value (an RFC 9651 dictionary of ``y`` /
    ``n`` tokens). Keys we do not map, parameters and values other than the
    tokens ``y`` and ``n`` are ignored, as aipref says; a repeated key's
    last value wins (RFC 9651). Raises :class:`Unrecognised` when the value
    is not a structured-field dictionary."""
    members = http_sfv.Dictionary()
    # An empty field is an empty dictionary (RFC 9651 §4.2), which the
    # parser does not take.
    if value.strip(" "):
        try:
            members.parse(value.encode("ascii"))
        except ValueError as e:  # UnicodeEncodeError included: a field is ASCII
            why = str(e.__cause__ or e) or "not a structured-field dictionary"
            raise Unrecognised(f"Content-Usage {_quoted(value)}: {why}") from None
    values = []
    for key, member in members.items():
        item = member.value if isinstance(member, http_sfv.Item) else None
        if key in _AIPREF_KEYS and isinstance(item, http_sfv.Token) and item in ("y", "n"):
            values.append((key, ALLOWED if item == "y" else DISALLOWED))
    return from_signal(values)


# ---------------------------------------------------------------- exports


def to_content_usage(consent: Mapping[str, str]) -> str | None:
    """The ``Content-Usage`` value of a consent: its known values among
    ``train-ai``, ``train-genai``, ``ai-use`` and ``search``, in that order
    (``tdm`` has no key); ``None`` when none is known."""
    parts = [f"{c}={'y' if consent[c] == ALLOWED else 'n'}" for c in _AIPREF_KEYS if c in consent]
    return ", ".join(parts) or None


def to_cawg_assertion(consent: Mapping[str, str]) -> dict[str, Any]:
    """The data of a ``cawg.training-mining`` assertion (``{"entries":
    ...}``) for a consent: one entry per known category that has one
    (``search`` has none)."""
    return {"entries": {
        f"cawg.{name}": {"use": "allowed" if consent[c] == ALLOWED else "notAllowed"}
        for c, name in _CAWG_ENTRIES if c in consent
    }}


def to_iptc_data_mining(consent: Mapping[str, str]) -> str:
    """The ``plus:DataMining`` value (the full vocabulary URI) that says
    the most without saying more than the consent."""
    def every(want: Any) -> bool:
        return all(consent.get(c) == want(c) for c in CATEGORIES)

    if every(lambda c: DISALLOWED):
        key = "DMI-PROHIBITED"
    elif every(lambda c: ALLOWED if c == "search" else DISALLOWED):
        key = "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING"
    elif consent.get("train-ai") == DISALLOWED:
        key = "DMI-PROHIBITED-AIMLTRAINING"
    elif consent.get("train-genai") == DISALLOWED:
        key = "DMI-PROHIBITED-GENAIMLTRAINING"
    elif every(lambda c: ALLOWED):
        key = "DMI-ALLOWED"
    else:
        key = "DMI-UNSPECIFIED"
    return PLUS_VOCAB + key


def to_tdmrep_reservation(consent: Mapping[str, str]) -> int | None:
    """The TDMRep ``tdm-reservation`` of a consent: ``1`` when any use
    TDMRep covers is refused (a reservation is all or nothing), ``0`` when
    all four are allowed, ``None`` otherwise."""
    values = [consent.get(c) for c in _TDM_CATEGORIES]
    if DISALLOWED in values:
        return 1
    if all(v == ALLOWED for v in values):
        return 0
    return None


# ---------------------------------------------------------- the decision


def decide(purpose: str, registry: str, file_consents: Iterable[Mapping[str, str]]) -> tuple[str, str]:
    """The combined status of a work for ``purpose`` and who decided it,
    from the registry's answer (``allowed``, ``disallowed`` or
    ``unknown``: what the receipt signs) and the consents read from its
    file (``spec/signals.md`` §3)::

        decide("train-genai", "unknown", [{"train-genai": "disallowed"}])
        # ("disallowed", "file")
        decide("train-genai", "unknown", [{"train-genai": "allowed"}])
        # ("unknown", "none"): a file cannot allow

    ``decided_by`` is ``registry``, ``file``, ``registry+file`` (both
    refuse) or ``none`` (unknown). An in-file ``allowed`` is reported,
    never counted: only the registry's answer can allow.
    """
    if purpose not in CATEGORIES:
        raise ValueError(f"unknown purpose {purpose!r}: one of {', '.join(CATEGORIES)}")
    if registry not in (ALLOWED, DISALLOWED, UNKNOWN):
        raise ValueError(f"the registry's answer is allowed, disallowed or unknown, not {registry!r}")
    refused_in_file = combine(file_consents).get(purpose) == DISALLOWED
    if registry == DISALLOWED:
        return DISALLOWED, "registry+file" if refused_in_file else "registry"
    if refused_in_file:
        return DISALLOWED, "file"
    if registry == ALLOWED:
        return ALLOWED, "registry"
    return UNKNOWN, "none"


# ------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    """One signal found in a file.

    Attributes:
        source: ``c2pa`` (an embedded manifest's assertion),
            ``c2pa-sidecar`` (a ``.c2pa`` sidecar's) or ``xmp`` (a packet's
            property).
        property: what stated it: ``cawg.training-mining/cawg.ai_training``,
            ``plus:DataMining``, ``tdm:reservation``.
        value: the value as written (with a CAWG ``constraint_info`` or a
            TDMRep ``tdm:policy`` in parentheses).
        consent: what the value means in our categories (only those it
            speaks of).
        signature: C2PA only: ``valid`` (signature and bindings to the
            file's bytes check out; no trust list is configured, so the
            signer is not checked against one) or ``invalid: <C2PA failure
            codes>``.
        signer: C2PA only: the signing certificate's common name and issuer.
    """

    source: str
    property: str
    value: str
    consent: Consent
    signature: str | None = None
    signer: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The finding as reports write it (``consentry check``'s JSON):
        ``signature`` and ``signer`` only when set (C2PA findings)."""
        out: dict[str, Any] = {"source": self.source, "property": self.property, "value": self.value,
                               "consent": dict(self.consent)}
        if self.signature is not None:
            out["signature"] = self.signature
        if self.signer is not None:
            out["signer"] = self.signer
        return out


@dataclass
class FileSignals:
    """Everything found in one file: its findings, and notes saying why
    some of its metadata could not be read."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        """Adds a finding: its texts clipped to :data:`MAX_TEXT` characters,
        a repeat of a listed one (same source, property, value and
        signature) dropped, and past :data:`MAX_FINDINGS` folded into one
        more finding whose consent combines the rest (so a file cannot bury
        a refusal under many signals), as ``consentry check`` does."""
        f = replace(finding, property=_clip(finding.property), value=_clip(finding.value),
                    signature=None if finding.signature is None else _clip(finding.signature),
                    signer=None if finding.signer is None else _clip(finding.signer))
        if any((g.source, g.property, g.value, g.signature) == (f.source, f.property, f.value, f.signature)
               for g in self.findings):
            return
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(f)
            return
        if len(self.findings) > MAX_FINDINGS:
            rest = self.findings[MAX_FINDINGS]
            try:
                count = int(rest.value)
            except ValueError:
                count = 1
            self.findings[MAX_FINDINGS] = replace(rest, value=str(count + 1),
                                                  consent=combine([rest.consent, f.consent]))
        else:
            self.findings.append(Finding(f.source, f"more than {MAX_FINDINGS} signals: the rest combined", "1",
                                         dict(f.consent)))

    def note(self, note: str) -> None:
        """Adds a note, clipped to :data:`MAX_TEXT` characters; a repeat, or
        a note past :data:`MAX_NOTES`, is dropped."""
        note = _clip(note)
        if len(self.notes) < MAX_NOTES and note not in self.notes:
            self.notes.append(note)

    def consents(self) -> list[Consent]:
        """The consent of every finding (what :func:`decide` takes)."""
        return [f.consent for f in self.findings]


def read(data: bytes, sidecar: bytes | None = None) -> FileSignals:
    """The consent signals in a file's bytes: the C2PA manifest embedded in
    a JPEG, PNG, WebP, GIF or TIFF (and, with ``sidecar``, the ``.c2pa``
    manifest store beside the file, read apart: its findings' source is
    ``c2pa-sidecar``), and XMP packets anywhere in it.

    Cheap when there is nothing: a byte search decides whether a parser
    runs at all. Never raises on what the file holds::

        found = read(Path("photo.jpg").read_bytes())
        found.findings   # [Finding(source="xmp", property="plus:DataMining", ...)]
        found.notes      # ["an XMP packet is not closed: not read"]
    """
    data = bytes(data)
    out = FileSignals()
    for reader in (_read_c2pa, _read_xmp):
        try:
            reader(data, sidecar, out)
        except Exception as e:  # a reader's own bug must not fail a whole check
            out.note(f"the metadata could not be read ({type(e).__name__}: {e})")
    return out


def sidecar_of(path: str | os.PathLike[str], limit: int = MAX_SIDECAR_BYTES) -> tuple[bytes | None, str | None]:
    """The C2PA sidecar of a file and a note about it, ``(bytes, note)``:
    ``<name>.c2pa`` beside ``<name>.<ext>`` (what ``c2patool`` writes, the
    extension in lower case), unless the file is itself one (its extension
    is exactly ``c2pa``), read only when smaller than ``limit`` bytes, as
    ``consentry check`` reads it. No sidecar is ``(None, None)``; one that
    is too large or cannot be read is ``(None, note)``, for the file's
    :class:`FileSignals` (:meth:`FileSignals.note`): never an exception."""
    p = Path(path)
    if p.suffix == ".c2pa":
        return None, None
    sidecar = p.with_suffix(".c2pa")
    try:
        st = sidecar.stat()
    except FileNotFoundError:
        return None, None
    except OSError as e:
        return None, f"the .c2pa sidecar could not be read: {_os_error(e)}"
    if not stat.S_ISREG(st.st_mode):
        return None, None
    if st.st_size >= limit:
        return None, f"the .c2pa sidecar is larger than {limit >> 20} MiB: not read"
    try:
        return sidecar.read_bytes(), None
    except OSError as e:
        return None, f"the .c2pa sidecar could not be read: {_os_error(e)}"


def _os_error(e: OSError) -> str:
    """An OS error as the Rust CLI words it (``Permission denied (os error
    13)``)."""
    if e.errno is not None and e.strerror:
        return f"{e.strerror} (os error {e.errno})"
    return str(e)


# ------------------------------------------------------------------ C2PA

_C2PA_SETTINGS = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
_context_lock = threading.Lock()
_context: tuple[int, Any] | None = None


def _media_type(data: bytes) -> str | None:
    """The container the first bytes say a file is, among those that embed
    C2PA manifests and that are read."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"GIF8":
        return "image/gif"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    return None


def _c2pa_context(c2pa: Any) -> Any:
    """One reading context per process, with nothing fetched from the
    network: no remote manifests, no OCSP (a Context is not carried across
    a fork)."""
    global _context
    with _context_lock:
        if _context is None or _context[0] != os.getpid():
            _context = (os.getpid(), c2pa.Context.from_dict(_C2PA_SETTINGS))
        return _context[1]


def _read_c2pa(data: bytes, sidecar: bytes | None, out: FileSignals) -> None:
    # Every embedded manifest store is a JUMBF box labelled `c2pa`.
    embedded = b"c2pa" in data
    if not embedded and sidecar is None:
        return
    media_type = _media_type(data)
    if media_type is None:
        if sidecar is not None:
            out.note("a .c2pa manifest beside a file that is not a JPEG, PNG, WebP, GIF or TIFF: not read")
        return
    try:
        import c2pa
    except ImportError:
        out.note("a C2PA manifest was not read: the c2pa-python package is not installed")
        return
    # The embedded store and a sidecar are read apart: a sidecar must not
    # hide what the file itself carries.
    if embedded:
        _read_store(c2pa, data, None, media_type, out)
    if sidecar is not None:
        _read_store(c2pa, data, sidecar, media_type, out)


def _read_store(c2pa: Any, data: bytes, sidecar: bytes | None, media_type: str, out: FileSignals) -> None:
    """Reads one manifest store: the one embedded in ``data``, or
    ``sidecar`` (bound to ``data``); its findings' source says which."""
    source = "c2pa" if sidecar is None else "c2pa-sidecar"
    what = "a C2PA manifest" if sidecar is None else "the .c2pa sidecar"
    try:
        with c2pa.Reader(media_type, io.BytesIO(data), sidecar, context=_c2pa_context(c2pa)) as reader:
            _c2pa_findings(reader, source, out)
    except c2pa.C2paError.ManifestNotFound:
        # `c2pa` by chance in other bytes is no manifest; a JUMBF box (or a
        # sidecar) that the reader could not take as a manifest store is
        # worth a note.
        if sidecar is not None or b"jumb" in data:
            out.note(f"{'a JUMBF box' if sidecar is None else what} names C2PA but holds no manifest store "
                     "the C2PA reader accepts")
    except c2pa.C2paError as e:
        out.note(f"{what} could not be read: {e}")
    except Exception:
        out.note("the C2PA reader failed on this file: its manifest was not read")


def _signature(reader: Any) -> str:
    """The active manifest's validation: ``trusted``, ``valid`` or
    ``invalid: <failure codes>``."""
    state = reader.get_validation_state()
    if state == "Trusted":
        return "trusted"
    if state == "Valid":
        return "valid"
    results = reader.get_validation_results() or {}
    failures = (results.get("activeManifest") or {}).get("failure") or []
    codes = [f["code"] for f in failures if isinstance(f, dict) and isinstance(f.get("code"), str)]
    return f"invalid: {', '.join(codes)}" if codes else "invalid"


def _signer(manifest: Mapping[str, Any]) -> str | None:
    info = manifest.get("signature_info")
    if not isinstance(info, dict):
        return None
    name = info.get("common_name") or "(no common name)"
    issuer = info.get("issuer")
    return f"{name}, issued by {issuer}" if issuer else name


def _c2pa_findings(reader: Any, source: str, out: FileSignals) -> None:
    """The training-mining entries of the active manifest only: its
    ingredients' manifests describe other assets."""
    try:
        manifest = reader.get_active_manifest()
    except KeyError:
        return
    if not isinstance(manifest, dict):
        return
    signature = _signature(reader)
    signer = _signer(manifest)
    for assertion in manifest.get("assertions") or ():
        label = assertion.get("label") if isinstance(assertion, dict) else None
        if label not in (CAWG_LABEL, C2PA_LEGACY_LABEL):
            continue
        entries = (assertion.get("data") or {}).get("entries") if isinstance(assertion.get("data"), dict) else None
        if not isinstance(entries, dict):
            out.note(f"a {label} assertion without entries")
            continue
        for key, entry in entries.items():
            category = cawg_entry_category(key)
            if category is None:
                continue
            written = entry.get("use") if isinstance(entry, dict) else None
            written = written if isinstance(written, str) else ""
            try:
                preference = cawg_use(written)
            except Unrecognised as e:
                out.note(f"{label} {key}: {e}")
                continue
            info = entry.get("constraint_info")
            value = f"{written} ({info})" if isinstance(info, str) else written
            out.add(Finding(source, f"{label}/{key}", value, from_signal([(category, preference)]), signature,
                            signer))


# ------------------------------------------------------------------- XMP

_OPEN = b"<x:xmpmeta"
_CLOSE = b"</x:xmpmeta>"
# The properties read, by expanded name.
_PROPERTIES = {
    f"{{{PLUS_NS}}}DataMining": "plus:DataMining",
    f"{{{TDMREP_NS}}}reservation": "tdm:reservation",
    f"{{{TDMREP_NS}}}policy": "tdm:policy",
}
_RESOURCE = f"{{{RDF_NS}}}resource"


def _read_xmp(data: bytes, _sidecar: bytes | None, out: FileSignals) -> None:
    """Packets found by scanning (the XMP specification's packet scanning,
    which works in any container)."""
    at = 0
    packets = 0
    while (first := data.find(_OPEN, at)) >= 0:
        close = data.find(_CLOSE, first)
        if close < 0:
            out.note("an XMP packet is not closed: not read")
            return
        # A packet starts at the last opening tag before its end: an
        # earlier stray one (a caption, a truncated old packet) must not
        # swallow it.
        start = data.rfind(_OPEN, first, close)
        if start != first:
            out.note("an XMP opening tag without its end, before a packet: ignored")
        end = close + len(_CLOSE)
        at = end
        packets += 1
        if packets > MAX_XMP_PACKETS:
            out.note(f"more than {MAX_XMP_PACKETS} XMP packets: the rest not read")
            return
        packet = data[start:end]
        if len(packet) > MAX_XMP_BYTES:
            out.note(f"an XMP packet of {len(packet)} bytes is larger than {MAX_XMP_BYTES >> 10} KiB: "
                             "not read")
            continue
        try:
            text = packet.decode("utf-8")
        except UnicodeDecodeError:
            out.note("an XMP packet is not UTF-8: not read")
            continue
        _read_packet(text, out)


def _read_packet(text: str, out: FileSignals) -> None:
    # A packet is one element: a DTD in it is malformed anyway, and an
    # entity declaration is the way to make a small packet expand.
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        out.note("an XMP packet declares a DTD or entities: not read")
        return
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        out.note(f"an XMP packet is malformed: {e}")
        return
    found: list[tuple[str, str]] = []
    _collect(root, found)
    policy = next((v.strip() for p, v in found if p == "tdm:policy"), None)
    for prop, value in found:
        if prop == "tdm:policy":
            continue
        try:
            consent = iptc_data_mining(value) if prop == "plus:DataMining" else tdmrep_reservation(value)
        except Unrecognised as e:
            out.note(f"{prop}: {e}")
            continue
        written = value.strip()
        if prop == "tdm:reservation" and written == "1" and policy is not None:
            written = f"1 (tdm:policy {policy})"
        out.add(Finding("xmp", prop, written, consent))


def _collect(element: ET.Element, found: list[tuple[str, str]]) -> None:
    """The properties in document order: attributes of any element (as
    ``<rdf:Description plus:DataMining="...">``), and property elements'
    ``rdf:resource`` or text (not looked into further)."""
    for name, value in element.attrib.items():
        prop = _PROPERTIES.get(name)
        if prop is not None:
            found.append((prop, value))
    prop = _PROPERTIES.get(element.tag) if isinstance(element.tag, str) else None
    if prop is not None:
        resource = element.attrib.get(_RESOURCE)
        found.append((prop, resource if resource is not None else _first_text(element)))
        return
    for child in element:
        _collect(child, found)


def _first_text(element: ET.Element) -> str:
    """An element's text up to its first closing tag: its own text, or
    with a structure inside (``rdf:Alt``...), that of its first leaf."""
    text = element.text or ""
    node = element
    while len(node):
        node = node[0]
        text += node.text or ""
    return text

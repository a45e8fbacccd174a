"""Consent for ``img2dataset`` output: filter its webdataset shards, and
the parquet beside each, to the works that may be used.

>>> from consentry.integrations.img2dataset import filter_shards
>>> summary = filter_shards("laion-out", registry, "train-genai", out_dir="laion-consented")
>>> print(summary)   # per shard: samples, kept, counts, receipt

``img2dataset --output_format webdataset`` writes, per shard ``00000``:
``00000.tar`` (members ``KEY.jpg``, ``KEY.json``, ``KEY.txt`` for each
image downloaded), ``00000.parquet`` (one row per URL of the shard, with
``key``, ``status`` and the other metadata, failed downloads included) and
``00000_stats.json``. :func:`filter_shards` checks each shard's images
(one check per shard), and writes into ``out_dir``:

- ``00000.tar``: every member of the kept samples, in their order;
- ``00000.parquet``: the rows of the kept keys (failed downloads, which
  have no image, are not kept);
- ``00000.receipt.json``: the shard's registry-signed receipt, verified;
- ``00000.consentry.jsonl``: one line per sample: ``key``, ``hash``,
  ``status``, ``kept``, ``match``, ``distance``, ``matched``,
  ``claimants``, ``statements``, ``terms``, ``error`` (why an image could
  not be fingerprinted), ``fingerprints`` (the codes sent), ``combined``
  and ``decided_by`` (the status with the consent signals in the image
  itself, which ``kept`` goes by, and who decided it), ``signals`` and
  ``signal_notes`` (what the image's C2PA and XMP metadata said, or why it
  could not be read), so that ``consentry.verify_receipt(receipt, key,
  answers=lines)`` checks it (the receipt covers ``status``, the
  registry's answer).

The tar helpers here (:func:`split_member_name`, :func:`read_samples`,
:func:`copy_samples`) serve any webdataset shard.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..answers import Answer
from ..client import Registry
from ..errors import ConsentryError, ItemError
from . import IMAGE_EXTENSIONS, _keep_unknown, _receipt_text, _write_atomically

__all__ = ["filter_shards", "FilterSummary", "ShardResult", "split_member_name", "read_samples",
           "copy_samples", "report_line"]


def split_member_name(name: str) -> tuple[str, str]:
    """A tar member's sample key and extension, the webdataset way: the key
    is the name up to the first dot of its base name (folders included),
    the extension the rest, in lower case::

        split_member_name("00000/000000012.jpg")  # ("00000/000000012", "jpg")
        split_member_name("a.seg.png")            # ("a", "seg.png")
    """
    base = name.rfind("/") + 1
    dot = name.find(".", base)
    if dot < 0:
        return name, ""
    return name[:dot], name[dot + 1:].lower()


@dataclass
class Sample:
    """One sample of a shard: its key, member extensions in order, its
    image's extension and bytes (``None`` when it has no image member),
    and with ``keep_first`` the bytes of its first member when that is not
    its image (what ``consentry check`` takes as the work of a sample
    without an image)."""

    key: str
    extensions: list[str] = field(default_factory=list)
    image_ext: str | None = None
    image: bytes | None = None
    first: bytes | None = None


def read_samples(shard: str | os.PathLike[str], image_keys: Sequence[str] = IMAGE_EXTENSIONS, *,
                 keep_first: bool = False) -> Iterator[Sample]:
    """The samples of a webdataset tar, in order, each with the bytes of its
    image (its one member among ``image_keys``: a sample with two images,
    a member name repeated, a link, a device or a name outside the shard's
    folder raises ``ValueError``); only image members (and with
    ``keep_first`` each sample's first member) are read. Members of a sample are consecutive; a key met again after
    another sample raises ``ValueError``, as it would be two samples::

        for sample in read_samples("00000.tar"):
            print(sample.key, sample.image_ext, len(sample.image or b""))
    """
    images = set(image_keys)
    seen: set[str] = set()
    current: Sample | None = None
    names: set[str] = set()
    where = os.fspath(shard)
    with tarfile.open(shard, "r:") as tar:
        for member in tar:
            _check_member(where, member)
            if member.isdir():
                continue
            key, ext = split_member_name(member.name)
            if current is None or key != current.key:
                if current is not None:
                    yield current
                if key in seen:
                    raise ValueError(f"{where}: sample {key} appears twice, apart (its members must "
                                     "be consecutive)")
                seen.add(key)
                current = Sample(key)
                names = set()
            if member.name in names:
                raise ValueError(f"{where}: {member.name} appears twice: a sample's members are named once")
            names.add(member.name)
            current.extensions.append(ext)
            if keep_first and len(current.extensions) == 1 and ext not in images:
                f = tar.extractfile(member)
                assert f is not None
                current.first = f.read()
            if ext in images:
                if current.image_ext is not None:
                    # Each image would need its own answer; keeping the
                    # sample on the answer of one would keep the others unchecked.
                    raise ValueError(f"{where}: sample {key} has more than one image ({current.image_ext}, {ext}); "
                                     "a sample's work is one image")
                f = tar.extractfile(member)
                assert f is not None
                current.image_ext = ext
                current.image = f.read()
        if current is not None:
            yield current


def _check_member(where: str, member: tarfile.TarInfo) -> None:
    """Refuses what a filtered shard must not carry on unchecked: links,
    devices and names that leave the folder they are extracted to."""
    if not (member.isfile() or member.isdir()):
        raise ValueError(f"{where}: {member.name} is not a regular file (a link or a device); "
                         "shards hold files only")
    parts = member.name.split("/")
    if member.name.startswith("/") or ".." in parts:
        raise ValueError(f"{where}: {member.name} names a place outside the shard's folder")


def copy_samples(shard: str | os.PathLike[str], out: str | os.PathLike[str], keep: set[str]) -> int:
    """Writes a new tar at ``out`` with every member (headers and bytes as
    they were) of the samples whose key is in ``keep``, in the shard's
    order; returns how many samples it holds. Written to a temporary file
    and renamed, so ``out`` is complete or absent::

        keep = {s.key for s in read_samples("00000.tar") if len(s.image or b"") > 10_000}
        n = copy_samples("00000.tar", "kept/00000.tar", keep)
        assert n == len(keep)
    """
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
    copied: set[str] = set()
    try:
        with tarfile.open(shard, "r:") as src, tarfile.open(tmp, "w:", format=src.format or tarfile.PAX_FORMAT) as dst:
            for member in src:
                _check_member(os.fspath(shard), member)
                key, _ = split_member_name(member.name)
                if key not in keep or not member.isfile():
                    continue
                dst.addfile(member, src.extractfile(member))
                copied.add(key)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return len(copied)


def _filter_parquet(src: Path, out: Path, keep: set[str], column: str = "key") -> int:
    """Writes the rows of ``src`` whose ``column`` is in ``keep`` to ``out``
    (schema and metadata kept); returns how many."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(src)
    if column not in table.column_names:
        raise ConsentryError(f"{src} has no {column!r} column (columns: {', '.join(table.column_names)})")
    mask = pc.is_in(table[column].cast(pa.string()), value_set=pa.array(sorted(keep), pa.string()))
    kept = table.filter(pc.fill_null(mask, False))
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
    try:
        pq.write_table(kept, tmp)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return kept.num_rows


def report_line(answer: Answer, kept: bool, codes: Sequence[str], **extra: Any) -> dict[str, Any]:
    """One report line about an answer: ``extra`` (e.g. ``key``) first,
    then ``hash``, ``status``, ``kept``, ``match``, ``distance``,
    ``matched``, ``claimants``, ``statements``, ``terms``, ``error``,
    ``fingerprints``, ``combined``, ``decided_by``, ``signals`` and
    ``signal_notes``; the members :func:`consentry.verify_receipt` reads
    as answers are those of the check stream::

        run = registry.check([jpeg_bytes], "train-genai")
        lines = [report_line(a, a.permits(False), (), key="000000001") for a in run]
        print(json.dumps(lines[0]))
    """
    return {
        **extra,
        "hash": answer.hash,
        "status": answer.status,
        "kept": kept,
        "match": answer.match,
        "distance": answer.matched[0][1] if answer.matched else None,
        "matched": [{"hash": h, "distance": d} for h, d in answer.matched],
        "claimants": [c.get("artist_id") for c in answer.claimants],
        "statements": list(answer.statements),
        "terms": answer.terms,
        "error": answer.note,
        "fingerprints": list(codes),
        "combined": answer.combined,
        "decided_by": answer.combined_by,
        "signals": answer.signals_json(),
        "signal_notes": list(answer.signal_notes),
    }


@dataclass(frozen=True)
class ShardResult:
    """What :func:`filter_shards` did with one shard::

        for shard in filter_shards("out", registry, "train-genai", out_dir="kept").shards:
            print(shard.shard.name, shard.kept, "of", shard.samples, shard.counts)
            receipt = json.loads(shard.receipt.read_text())

    ``shard`` is the input tar; ``tar``, ``parquet`` (``None`` when the
    input had none), ``receipt`` and ``report`` the files written;
    ``samples`` and ``kept`` count samples, ``rows`` the parquet rows
    kept; ``counts`` the registry's answers per status (as the receipt
    signs them), ``combined_counts`` the statuses with the in-file signals
    (what was kept by).
    """

    shard: Path
    tar: Path
    parquet: Path | None
    receipt: Path
    report: Path
    samples: int
    kept: int
    rows: int | None
    counts: dict[str, int]
    combined_counts: dict[str, int] = field(default_factory=lambda: {"allowed": 0, "disallowed": 0, "unknown": 0})

    @property
    def dropped(self) -> int:
        return self.samples - self.kept


@dataclass(frozen=True)
class FilterSummary:
    """What :func:`filter_shards` did: one :class:`ShardResult` per shard,
    and the totals::

        summary = filter_shards("out", registry, "train-genai", out_dir="kept")
        print(summary)                      # one line per shard
        print(summary.kept, summary.dropped, summary.counts["disallowed"])
    """

    purpose: str
    keep_unknown: bool
    shards: tuple[ShardResult, ...]

    @property
    def samples(self) -> int:
        return sum(s.samples for s in self.shards)

    @property
    def kept(self) -> int:
        return sum(s.kept for s in self.shards)

    @property
    def dropped(self) -> int:
        return self.samples - self.kept

    @property
    def counts(self) -> dict[str, int]:
        """The registry's answers per status (as the receipts sign them)."""
        return self._total("counts")

    @property
    def combined_counts(self) -> dict[str, int]:
        """The statuses with the in-file signals (what was kept by)."""
        return self._total("combined_counts")

    def _total(self, name: str) -> dict[str, int]:
        total = {"allowed": 0, "disallowed": 0, "unknown": 0}
        for s in self.shards:
            for k, v in getattr(s, name).items():
                total[k] += v
        return total

    def __str__(self) -> str:
        c = self.counts
        lines = [
            f"kept {self.kept} of {self.samples} samples for {self.purpose} ({self.dropped} dropped): "
            f"{c['allowed']} allowed, {c['disallowed']} disallowed, {c['unknown']} unknown "
            f"(unknown: {'kept' if self.keep_unknown else 'dropped'})"
        ]
        w = self.combined_counts
        if w != c:
            lines[0] += (f"; with the signals in the images: {w['allowed']} allowed, {w['disallowed']} disallowed, "
                         f"{w['unknown']} unknown")
        for s in self.shards:
            lines.append(f"  {s.shard.name}: kept {s.kept} of {s.samples}; receipt {s.receipt}")
        return "\n".join(lines)


def _parquet_of(shard: Path) -> Path:
    """img2dataset's parquet beside a shard: ``00000.parquet`` for ``00000.tar``."""
    return shard.with_name(shard.name[: -len(".tar")] + ".parquet")


def _shard_outputs(shard: Path, out_dir: Path) -> dict[str, Path]:
    stem = shard.name[: -len(".tar")]
    return {
        "tar": out_dir / shard.name,
        "parquet": out_dir / f"{stem}.parquet",
        "receipt": out_dir / f"{stem}.receipt.json",
        "report": out_dir / f"{stem}.consentry.jsonl",
    }


def filter_shards(output_dir: str | os.PathLike[str], registry: Registry, purpose: str, *,
                  out_dir: str | os.PathLike[str], unknown: bool | None = None, as_of: dt.datetime | str | None = None,
                  near: bool = True, image_keys: Sequence[str] = IMAGE_EXTENSIONS,
                  overwrite: bool = False, signals: bool = True) -> FilterSummary:
    """Filters an img2dataset output folder into ``out_dir``::

        summary = filter_shards("out", registry, "train-genai", out_dir="kept")
        print(summary.kept, "of", summary.samples)
        receipts = [s.receipt for s in summary.shards]

    Each ``*.tar`` shard of ``output_dir`` (sorted by name) is one check,
    and gets in ``out_dir`` its filtered tar, its filtered parquet (when
    ``output_dir`` has one beside it), its verified receipt
    (``NNNNN.receipt.json``) and its report (``NNNNN.consentry.jsonl``);
    see the module's documentation.

    Args:
        output_dir: img2dataset's ``output_folder`` (``--output_format
            webdataset``).
        registry: a :class:`consentry.Registry` with a dataset builder's key.
        purpose: ``train-ai``, ``train-genai``, ``ai-use``, ``search`` or ``tdm``.
        out_dir: where to write (created if missing; not ``output_dir``).
        unknown: keep works the registry does not know; ``None`` means the
            purpose's default (dropped for training).
        as_of: check consent as it was at this instant (RFC 3339), e.g.
            the day the URLs were crawled.
        near: also match resized and re-encoded copies (img2dataset
            resizes) by image code.
        image_keys: member extensions holding the image (img2dataset's
            ``encode_format``: ``jpg`` by default).
        overwrite: replace output files of an earlier run (by default an
            existing one raises ``FileExistsError`` before anything is
            checked).
        signals: also drop samples whose image refuses the purpose in its
            own metadata (C2PA, IPTC, TDMRep; never kept by it);
            ``False``: the registry's answer alone.

    Any failure raises (a sample without an image raises
    :class:`consentry.ItemError`). Shards finished before a failure keep
    their outputs; every file is written whole or not at all, the receipt
    and report last.
    """
    src = Path(output_dir)
    dst = Path(out_dir)
    if not src.is_dir():
        raise NotADirectoryError(f"{src} is not a folder")
    shards = sorted(p for p in src.iterdir() if p.is_file() and p.name.endswith(".tar"))
    if not shards:
        raise ConsentryError(f"{src} holds no .tar shards (img2dataset --output_format webdataset writes them)")
    dst.mkdir(parents=True, exist_ok=True)
    if dst.resolve() == src.resolve():
        raise ValueError("out_dir must not be the input folder")
    if not overwrite:
        for shard in shards:
            outputs = _shard_outputs(shard, dst)
            if not _parquet_of(shard).is_file():
                del outputs["parquet"]
            for path in outputs.values():
                if path.exists():
                    raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")
    keep_unknown = _keep_unknown(purpose, unknown)
    results = [
        _filter_shard(shard, dst, registry, purpose, keep_unknown, as_of, near, tuple(image_keys), signals)
        for shard in shards
    ]
    return FilterSummary(purpose, keep_unknown, tuple(results))


def _filter_shard(shard: Path, dst: Path, registry: Registry, purpose: str, keep_unknown: bool,
                  as_of: dt.datetime | str | None, near: bool, image_keys: tuple[str, ...],
                  signals: bool) -> ShardResult:
    outputs = _shard_outputs(shard, dst)
    keys: list[str] = []

    def images() -> Iterator[bytes]:
        for i, sample in enumerate(read_samples(shard, image_keys)):
            if sample.image is None:
                raise ItemError(i, f"{shard.name}:{sample.key}",
                                f"the sample has no image member ({', '.join(image_keys)}); its members: "
                                f"{', '.join(sample.extensions)}")
            keys.append(sample.key)
            yield sample.image

    run = registry.check(images(), purpose, as_of, near=near, signals=signals)
    keep: set[str] = set()
    lines: list[str] = []
    counts = {"allowed": 0, "disallowed": 0, "unknown": 0}
    combined = dict(counts)
    for i, answer in enumerate(run):
        key = keys[i]
        kept = answer.permits(keep_unknown)
        counts[answer.status] += 1
        combined[answer.combined] += 1
        if kept:
            keep.add(key)
        lines.append(json.dumps(report_line(answer, kept, answer.codes, key=key), ensure_ascii=False))
    if run.receipt is None:
        raise ConsentryError(f"the check of {shard.name} ended without a receipt")
    # A shard's outputs of an earlier run go first: a failure from here on
    # must not leave an old receipt or report beside a new tar.
    for path in outputs.values():
        path.unlink(missing_ok=True)
    if copy_samples(shard, outputs["tar"], keep) != len(keep):
        raise ConsentryError(f"{shard.name} changed while it was checked: its filtered copy is not what was checked")
    parquet_in = _parquet_of(shard)
    rows = None
    parquet_out = None
    if parquet_in.is_file():
        rows = _filter_parquet(parquet_in, outputs["parquet"], keep)
        parquet_out = outputs["parquet"]
    _write_atomically(outputs["report"], "".join(line + "\n" for line in lines))
    _write_atomically(outputs["receipt"], _receipt_text(run.receipt))
    return ShardResult(shard, outputs["tar"], parquet_out, outputs["receipt"], outputs["report"], len(keys),
                       len(keep), rows, counts, combined)

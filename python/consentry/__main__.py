"""``python -m consentry`` (also ``consentry-py``): check and filter
datasets against a Consentry registry, and verify check receipts.

    python -m consentry check images/ --purpose train-genai --registry http://127.0.0.1:8080 --key builder.key
    python -m consentry filter shards/*.tar --purpose train-genai --out kept/ --report report.jsonl
    python -m consentry verify-receipt consentry-check-*.receipt.json --verifier-key "$(cat verifier.txt)"

Inputs are one folder (every file, recursively; hidden files skipped), one
or more parquet files (a column of work hashes ``hash``, of file paths
``path`` relative to the parquet's folder, or of image bytes or Hugging
Face image structs ``image`` / ``jpg`` / ``png``...; ``--column`` picks
another), or one or more webdataset ``.tar`` shards (img2dataset's
output: each sample's image member, else its first member, is its work).

The consent signals inside the files (C2PA training-mining assertions, IPTC
``plus:DataMining`` and TDMRep in XMP) are read too, as ``consentry check``
does: a work its own file refuses is dropped even where the registry allows
it or does not know it (the report's ``combined`` and ``decided_by``); a
file never makes a work allowed. ``--signals registry-only`` reads no file.
The receipt and the report's ``status`` are the registry's answers alone.

Exit codes: 0 done, 1 an error (one line on stderr), 2 a usage error.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TextIO

from . import __version__
from .answers import PURPOSES, Answer, denies_unknown_by_default
from .client import Registry
from .errors import ConsentryError, ItemError
from .keys import load_key

__all__ = ["main"]

REPORT_FIELDS = ("label", "path", "hash", "status", "disputed", "claimants", "statements", "terms", "match",
                 "distance", "matched_hash", "error", "fingerprints", "matched", "combined", "decided_by", "signals",
                 "signal_notes")
# Parquet columns tried, in order, when --column is not given.
AUTO_COLUMNS = ("hash", "path", "image", "jpg", "jpeg", "png", "webp")


class UsageError(Exception):
    """A command line that cannot be run as given (exit code 2)."""


# ----------------------------------------------------------------- sources


@dataclass
class Entry:
    """One work of the input: its label, its file (if it has one), the
    item the check is given, and where it is in a parquet file or shard
    (the file's name and the row number or sample key)."""

    label: str
    path: Path | None
    item: Any
    origin: tuple[str, int | str] | None = None


@dataclass
class Source:
    """What the inputs are: a folder, parquet files or tar shards."""

    kind: str
    inputs: list[Path]
    column: str | None = None
    files: list[Path] = field(default_factory=list)
    columns: dict[Path, str] = field(default_factory=dict)
    skipped: int = 0

    def describe(self) -> str:
        if self.kind == "folder":
            return f"{self.inputs[0]} ({len(self.files)} files)"
        names = ", ".join(str(p) for p in self.inputs[:3]) + (", ..." if len(self.inputs) > 3 else "")
        return f"{len(self.inputs)} {self.kind} file{'s' if len(self.inputs) != 1 else ''} ({names})"

    def entries(self) -> Iterator[Entry]:
        """The works, in order, read lazily."""
        if self.kind == "folder":
            root = self.inputs[0]
            for path in self.files:
                yield Entry(path.relative_to(root).as_posix(), path, path)
        elif self.kind == "parquet":
            for file in self.inputs:
                yield from self._parquet_entries(file)
        else:
            from .integrations.img2dataset import read_samples

            for shard in self.inputs:
                for sample in read_samples(shard, keep_first=True):
                    data = sample.image if sample.image is not None else sample.first
                    if data is None:
                        raise ConsentryError(f"{shard}: sample {sample.key} has no members")
                    yield Entry(f"{shard.name}:{sample.key}", None, data, (shard.name, sample.key))

    def _parquet_entries(self, file: Path) -> Iterator[Entry]:
        import pyarrow.parquet as pq

        column = self.columns[file]
        row = 0
        for batch in pq.ParquetFile(file).iter_batches(columns=[column], batch_size=1024):
            for value in batch.column(0).to_pylist():
                label = f"{file.name}:{row}"
                origin = (file.name, row)
                row += 1
                if value is None:
                    self.skipped += 1
                    continue
                item, path = _parquet_item(value, file, label, column)
                yield Entry(label, path, item, origin)


def _parquet_item(value: Any, file: Path, label: str, column: str) -> tuple[Any, Path | None]:
    """A parquet cell as an item: in a ``hash`` column a work hash, in any
    other a string is a path (relative to the parquet's folder, even when
    it looks like a hash), bytes as is, an image struct (``{"bytes",
    "path"}``) as its bytes, else its path."""
    from .items import parse_hash

    if isinstance(value, dict) and ("bytes" in value or "path" in value):
        if value.get("bytes") is not None:
            return bytes(value["bytes"]), None
        value = value.get("path")
        if not value:
            raise ItemError(0, label, "an image with neither bytes nor a path")
    elif column == "hash":
        if not isinstance(value, str) or parse_hash(value) is None:
            raise ItemError(0, label, f"{value!r} in the hash column is not a work hash (blake3:<64 hex>)")
        return value, None
    if isinstance(value, str):
        path = Path(value)
        path = path if path.is_absolute() else file.parent / path
        return path, path
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), None
    raise ItemError(0, label, f"a {type(value).__name__} value is no work: the column holds hashes, paths, "
                              "image bytes or image structs")


def _folder_files(root: Path) -> list[Path]:
    """Every file under ``root``, recursively, sorted; hidden files and
    folders skipped, links to files counted as files. A C2PA sidecar
    (``<name>.c2pa`` beside ``<name>.<ext>``) is that file's metadata, read
    with it, not a work of its own (as the Rust CLI reads a folder)."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if path.is_file():
                files.append(path)
    stems = {p.with_suffix("") for p in files if p.suffix and p.suffix != ".c2pa"}
    files = [p for p in files if not (p.suffix == ".c2pa" and p.with_suffix("") in stems)]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def detect(inputs: Sequence[str], column: str | None) -> Source:
    """The source the inputs name; raises ``ConsentryError`` for a mix,
    missing files or unknown kinds."""
    paths = [Path(p) for p in inputs]
    for p in paths:
        if not p.exists():
            raise ConsentryError(f"{p} does not exist")
    if len(paths) == 1 and paths[0].is_dir():
        files = _folder_files(paths[0])
        if not files:
            raise ConsentryError(f"nothing to check: {paths[0]} holds no files")
        return Source("folder", paths, files=files)
    kinds = set()
    for p in paths:
        suffix = p.suffix.lower()
        if p.is_file() and suffix == ".parquet":
            kinds.add("parquet")
        elif p.is_file() and suffix == ".tar":
            kinds.add("tar")
        else:
            raise ConsentryError(f"{p} is not a .parquet file or a .tar shard: give one folder, parquet files, "
                                 "or .tar shards")
    if len(kinds) > 1:
        raise ConsentryError("give parquet files or .tar shards, not both")
    names = [p.name for p in paths]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConsentryError(f"two inputs are named {sorted(dupes)[0]}: input file names must be distinct")
    kind = kinds.pop()
    source = Source(kind, paths, column=column)
    if kind == "parquet":
        import pyarrow.parquet as pq

        for p in paths:
            names_in = pq.ParquetFile(p).schema_arrow.names
            if column is not None:
                if column not in names_in:
                    raise ConsentryError(f"{p} has no column {column!r} (columns: {', '.join(names_in)})")
                source.columns[p] = column
            else:
                found = next((c for c in AUTO_COLUMNS if c in names_in), None)
                if found is None:
                    raise ConsentryError(f"{p} has none of the columns {', '.join(AUTO_COLUMNS)}: name the "
                                         f"column to check with --column (columns: {', '.join(names_in)})")
                source.columns[p] = found
    return source


# ------------------------------------------------------------------ report


def _report_row(entry: Entry, answer: Answer, codes: Sequence[str], report: Path) -> dict[str, Any]:
    path = None
    if entry.path is not None:
        path = os.path.relpath(os.path.abspath(entry.path), os.path.dirname(os.path.abspath(report)))
        path = Path(path).as_posix()
    return {
        "label": entry.label,
        "path": path,
        "hash": answer.hash,
        "status": answer.status,
        "disputed": answer.disputed,
        "claimants": [c.get("artist_id") for c in answer.claimants],
        "statements": list(answer.statements),
        "terms": answer.terms,
        "match": answer.match,
        "distance": answer.matched[0][1] if answer.match == "near" and answer.matched else None,
        "matched_hash": answer.matched[0][0] if answer.matched else None,
        "error": answer.note,
        "fingerprints": list(codes),
        "matched": [{"hash": h, "distance": d} for h, d in answer.matched],
        "combined": answer.combined,
        "decided_by": answer.combined_by,
        "signals": answer.signals_json(),
        "signal_notes": list(answer.signal_notes),
    }


class ReportWriter:
    """Writes a report (``.jsonl``/``.ndjson`` or ``.csv``, as ``consentry
    check --report`` does) to a temporary file, renamed into place by
    :meth:`commit`. In CSV, ``signals`` is a compact JSON array (empty when
    the file was not read) and ``signal_notes`` joined with ``; ``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.csv = path.suffix.lower() == ".csv"
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.file: TextIO = open(self.tmp, "w", encoding="utf-8", newline="")
        self.writer: Any = None
        if self.csv:
            self.writer = csv.writer(self.file, lineterminator="\n")
            self.writer.writerow(REPORT_FIELDS)

    def add(self, row: dict[str, Any]) -> None:
        if not self.csv:
            self.file.write(json.dumps(row, ensure_ascii=False) + "\n")
            return
        cells = []
        for name in REPORT_FIELDS:
            v = row[name]
            if name in ("claimants", "statements", "fingerprints"):
                v = ";".join(x or "" for x in v)
            elif name in ("terms",):
                v = json.dumps(v, separators=(",", ":"), ensure_ascii=False)
            elif name == "matched":
                v = json.dumps(v, separators=(",", ":")) if v else ""
            elif name == "signals":
                v = "" if v is None else json.dumps(v, separators=(",", ":"), ensure_ascii=False)
            elif name == "signal_notes":
                v = "; ".join(v)
            elif isinstance(v, bool):
                v = "true" if v else "false"
            elif v is None:
                v = ""
            cells.append(v)
        self.writer.writerow(cells)

    def commit(self) -> None:
        self.file.close()
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.file.close()
        if self.tmp.exists():
            self.tmp.unlink()


def _text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConsentryError(f"{path} holds no {what} (it is not UTF-8 text)") from None


def read_answers(path: Path) -> list[dict[str, Any]]:
    """The answers in a report (``.csv`` or JSON Lines, this CLI's or
    ``consentry check``'s), a check stream's output, or a ``POST
    /v1/check`` response (``results``), as dicts with ``hash``,
    ``status``, ``statements``, ``match``, ``matched`` and
    ``fingerprints``."""
    text = _text(path, "answers")
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, dict) and isinstance(whole.get("results"), list):
        return whole["results"]
    first = text.split("\n", 1)[0]
    if path.suffix.lower() == ".csv" or (not first.lstrip().startswith("{") and "hash" in first.split(",")):
        rows = []
        for n, rec in enumerate(csv.DictReader(io.StringIO(text)), start=2):
            try:
                rows.append({
                    "hash": rec.get("hash") or None,
                    "status": rec.get("status"),
                    "statements": [s for s in (rec.get("statements") or "").split(";") if s],
                    "match": rec.get("match") or None,
                    "matched": json.loads(rec["matched"]) if rec.get("matched") else [],
                    "fingerprints": [c for c in (rec.get("fingerprints") or "").split(";") if c],
                })
            except ValueError as e:
                raise ConsentryError(f"{path}: line {n}: {e}") from None
        return rows
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise ConsentryError(f"{path}: line {n} is not JSON") from None
        if not isinstance(obj, dict):
            raise ConsentryError(f"{path}: line {n} is not a JSON object")
        if obj.get("done") or "receipt" in obj or ("error" in obj and "status" not in obj):
            continue
        rows.append(obj)
    return rows


def read_receipt(path: Path) -> dict[str, Any]:
    """The receipt envelope in a file: the envelope itself (as ``check``
    keeps it), an object with a ``receipt`` member (a ``POST /v1/check``
    response), or a check stream's output (its last line)."""
    text = _text(path, "check receipt")

    def pick(v: Any) -> dict[str, Any] | None:
        if isinstance(v, dict) and "payloadType" in v:
            return v
        if isinstance(v, dict) and isinstance(v.get("receipt"), dict):
            return v["receipt"]
        return None

    try:
        found = pick(json.loads(text))
    except ValueError:
        found = None
    if found is None:
        for line in reversed(text.splitlines()):
            try:
                found = pick(json.loads(line))
            except ValueError:
                continue
            if found is not None:
                break
    if found is None:
        raise ConsentryError(f"{path} holds no check receipt")
    return found


# ------------------------------------------------------------------ output


def _receipt_path(asked: str | None, envelope: dict[str, Any]) -> Path:
    """Writes the receipt to ``asked`` (replacing it) or to a new file in
    the working directory named after the time; returns where."""
    import datetime as dt

    from .integrations import _receipt_text, _write_atomically, _write_new_file

    text = _receipt_text(envelope)
    if asked:
        path = Path(asked)
        _write_atomically(path, text)
        return path
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 100_000):
        path = Path(f"consentry-check-{stamp}.receipt.json" if n == 1 else f"consentry-check-{stamp}-{n}.receipt.json")
        try:
            _write_new_file(path, text)
            return path
        except FileExistsError:
            continue
    raise ConsentryError("no free receipt file name")


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@dataclass
class Checked:
    """A finished check: the entries' labels, paths and origins, and
    whether each is kept."""

    labels: list[str]
    paths: list[Path | None]
    origins: list[tuple[str, int | str] | None]
    keep: list[bool]
    receipt_path: Path


@dataclass
class SignalTally:
    """What the in-file signals did to a check, for its summary line (the
    same line ``consentry check`` prints)."""

    with_signals: int = 0
    unreadable: int = 0
    refused: int = 0
    over_allowed: int = 0
    over_unknown: int = 0
    combined: dict[str, int] = field(default_factory=lambda: {"allowed": 0, "disallowed": 0, "unknown": 0})

    def add(self, answer: Answer) -> None:
        self.with_signals += bool(answer.signals)
        self.unreadable += bool(answer.signal_notes)
        self.combined[answer.combined] += 1
        if answer.combined_by in ("file", "registry+file"):
            self.refused += 1
            self.over_allowed += answer.status == "allowed"
            self.over_unknown += answer.status == "unknown"

    def summary(self) -> str:
        noted = (f" ({self.unreadable} with unreadable metadata: see the report's `signal_notes`)"
                 if self.unreadable else "")
        c = self.combined
        return (f"in-file signals: {_plural(self.with_signals, 'work', 'works')} carry consent signals{noted}; "
                f"{self.refused} refused by their files ({self.over_allowed} the registry allows, "
                f"{self.over_unknown} it does not know, {self.refused - self.over_allowed - self.over_unknown} "
                f"it refuses too); with them: {c['allowed']} allowed, "
                f"{c['disallowed']} disallowed, {c['unknown']} unknown")


def _note(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


def run_check(args: argparse.Namespace, source: Source) -> Checked:
    """Checks the source's works in one stream; writes the receipt and the
    report; prints the summary."""
    inputs = {p.resolve() for p in [*source.inputs, *source.files]}
    for option, value in (("--receipt", args.receipt), ("--report", args.report)):
        if value and Path(value).resolve() in inputs:
            raise ConsentryError(f"{option} {value} is one of the inputs: it would be overwritten")
    if args.receipt and args.report and Path(args.receipt).resolve() == Path(args.report).resolve():
        raise ConsentryError("--receipt and --report name the same file")
    registry_url = str(args.registry or os.environ.get("CONSENTRY_URL"))
    try:
        key = load_key(args.key)
    except OSError as e:
        raise ConsentryError(f"cannot read the key file {args.key}: {e.strerror or e}") from None
    registry = Registry(registry_url, key=key)
    near = not args.exact
    keep_unknown = (args.unknown == "allow") if args.unknown else not denies_unknown_by_default(args.purpose)
    # Sign in first: a registry that is down, or a key it does not know,
    # is reported before any work is read.
    registry.sign_in()
    if registry.role is not None and registry.role != "builder":
        raise ConsentryError(f"the key {args.key} is an {registry.role}'s, not a dataset builder's: the registry's "
                             "admin registers builders (consentry builder create)")
    _note(args, f"checking {source.describe()}")
    entries: list[Entry | None] = []  # each dropped once answered, so its bytes can go

    def items() -> Iterator[Any]:
        for entry in source.entries():
            entries.append(entry)
            yield entry.item

    report = ReportWriter(Path(args.report)) if args.report else None
    labels: list[str] = []
    paths: list[Path | None] = []
    origins: list[tuple[str, int | str] | None] = []
    keep: list[bool] = []
    notes = 0
    by_file = SignalTally()
    try:
        run = registry.check(items(), args.purpose, args.as_of, near=near, signals=args.signals == "all")
        for i, answer in enumerate(run):
            entry = entries[i]
            entries[i] = None
            assert entry is not None
            labels.append(entry.label)
            paths.append(entry.path)
            origins.append(entry.origin)
            keep.append(answer.permits(keep_unknown))
            notes += answer.note is not None
            by_file.add(answer)
            if report is not None:
                report.add(_report_row(entry, answer, answer.codes, report.path))
        if not labels:
            raise ConsentryError("nothing to check: the input holds no works")
        if report is not None:
            report.commit()
            _note(args, f"report written to {report.path}")
    finally:
        if report is not None:
            report.discard()
    assert run.receipt is not None and run.verified is not None
    receipt_path = _receipt_path(args.receipt, run.receipt)
    r = run.verified
    c = r.counts
    as_of = f" as of {r.as_of}" if r.as_of else ""
    print(f"{_plural(len(labels), 'work', 'works')} for {r.purpose}{as_of}: {c.allowed} allowed, "
          f"{c.disallowed} disallowed, {c.unknown} unknown (unknown: {'kept' if keep_unknown else 'dropped'}); "
          f"checkpoint {r.checkpoint.size} of {r.log}")
    if r.matched is not None and r.matching is not None:
        failed = f"; {_plural(notes, 'image', 'images')} could not be fingerprinted (see the report's `error` column)" \
            if notes else ""
        print(f"matched {r.matched.exact} exactly and {r.matched.near} as near copies{failed}; near means an "
              f"image code within {r.matching.max_distance} of {r.matching.bits} bits")
    if args.signals == "all":
        print(by_file.summary())
    if source.skipped:
        print(f"{_plural(source.skipped, 'row', 'rows')} without a value "
              f"{'was' if source.skipped == 1 else 'were'} skipped (not checked, not kept)")
    print(f"receipt signed by {r.log} kept in {receipt_path}")
    return Checked(labels, paths, origins, keep, receipt_path)


# ------------------------------------------------------------------ filter


def _filter_targets(source: Source, out: Path) -> list[Path]:
    """The files ``filter`` may write: none may exist yet."""
    if source.kind == "folder":
        root = source.inputs[0]
        return [out / p.relative_to(root) for p in source.files]
    if source.kind == "parquet":
        return [out / p.name for p in source.inputs]
    targets = []
    for shard in source.inputs:
        targets.append(out / shard.name)
        sibling = shard.with_suffix(".parquet")
        if sibling.is_file():
            targets.append(out / sibling.name)
    return targets


def prepare_filter(source: Source, out: Path) -> None:
    """Refuses an output folder inside the input folder, or one where a file
    would be replaced; done before anything is checked."""
    if source.kind == "folder":
        root = source.inputs[0].resolve()
        if out.resolve() == root or root in out.resolve().parents:
            raise ConsentryError(f"--out {out} is inside the input folder {source.inputs[0]}")
    for target in _filter_targets(source, out):
        if target.exists():
            raise ConsentryError(f"{target} exists: filter never replaces a file (choose an empty --out folder)")
        if any(target.resolve() == p.resolve() for p in source.inputs):
            raise ConsentryError(f"--out {out} would overwrite the input {target}")


def write_filtered(source: Source, checked: Checked, out: Path) -> int:
    """Writes the kept works in the input's shape; returns the number of
    files written."""
    from .integrations.img2dataset import _filter_parquet, copy_samples

    out.mkdir(parents=True, exist_ok=True)
    written = 0
    if source.kind == "folder":
        root = source.inputs[0]
        for path, kept in zip(checked.paths, checked.keep):
            if kept and path is not None:
                target = out / path.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
                written += 1
        return written
    if source.kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        kept_rows = {origin for origin, k in zip(checked.origins, checked.keep) if k}
        for file in source.inputs:
            pf = pq.ParquetFile(file)
            target = out / file.name
            tmp = target.with_name(f".{target.name}.tmp")
            row = 0
            try:
                with pq.ParquetWriter(tmp, pf.schema_arrow) as writer:
                    for batch in pf.iter_batches(batch_size=1024):
                        mask = [(file.name, row + i) in kept_rows for i in range(batch.num_rows)]
                        row += batch.num_rows
                        writer.write_table(pa.Table.from_batches([batch]).filter(pa.array(mask, pa.bool_())))
                os.replace(tmp, target)
            finally:
                if tmp.exists():
                    tmp.unlink()
            written += 1
        return written
    by_shard: dict[str, set[str]] = {}
    for origin, kept in zip(checked.origins, checked.keep):
        if kept and origin is not None:
            by_shard.setdefault(origin[0], set()).add(str(origin[1]))
    for shard in source.inputs:
        keys = by_shard.get(shard.name, set())
        if copy_samples(shard, out / shard.name, keys) != len(keys):
            raise ConsentryError(f"{shard} changed while it was checked: its filtered copy is not what was checked")
        written += 1
        sibling = shard.with_suffix(".parquet")
        if sibling.is_file():
            import pyarrow.parquet as pq

            if "key" in pq.ParquetFile(sibling).schema_arrow.names:
                _filter_parquet(sibling, out / sibling.name, keys)
                written += 1
    return written


# -------------------------------------------------------- verify-receipt


def verify_receipt_command(args: argparse.Namespace) -> None:
    from .receipt import verify_receipt

    key = args.verifier_key
    if os.path.isfile(key):
        key = Path(key).read_text(encoding="utf-8").strip()
    envelope = read_receipt(Path(args.receipt))
    answers = read_answers(Path(args.answers)) if args.answers else None
    try:
        r = verify_receipt(envelope, key)
    except ValueError as e:
        raise ConsentryError(f"the receipt is not valid: {e}") from None
    what = "items" if r.version == 2 else "hashes"
    near = (f"; near matching: {r.matching.algorithm} within {r.matching.max_distance} of {r.matching.bits} bits"
            if r.matching else "")
    as_of = f" as of {r.as_of}" if r.as_of else ""
    print(f"ok: receipt signed by {r.log} for builder {r.builder}: {r.hash_count} {what} for {r.purpose}{as_of}, "
          f"at checkpoint {r.checkpoint.size}{near}")
    if answers is not None:
        try:
            verify_receipt(envelope, key, answers=answers)
        except ValueError as e:
            raise ConsentryError(f"the answers are not the ones the receipt signs: {e}") from None
        c = r.counts
        print(f"ok: the {len(answers)} answers match the receipt ({c.allowed} allowed, {c.disallowed} disallowed, "
              f"{c.unknown} unknown)")
    else:
        print("(give --answers with the check's report to check the answers too)")


# ------------------------------------------------------------------ parser


def _check_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="a folder, parquet files or webdataset .tar shards")
    p.add_argument("--purpose", required=True, choices=PURPOSES, help="the use to check")
    p.add_argument("--registry", metavar="URL", default=None,
                   help="the registry's base URL (default: $CONSENTRY_URL)")
    p.add_argument("--key", metavar="FILE", default="consentry-builder.key",
                   help="the dataset builder's key file (default: %(default)s)")
    p.add_argument("--as-of", metavar="TIME", default=None,
                   help="check consent as it was at this instant (RFC 3339, UTC)")
    p.add_argument("--unknown", choices=("allow", "deny"), default=None,
                   help="keep or drop works the registry does not know (default: deny for train-ai and "
                        "train-genai, allow otherwise)")
    p.add_argument("--exact", action="store_true",
                   help="match by the hash of the bytes only (no near matching of resized copies)")
    p.add_argument("--column", metavar="NAME", default=None,
                   help=f"the parquet column to check (default: the first of {', '.join(AUTO_COLUMNS)})")
    p.add_argument("--signals", choices=("all", "registry-only"), default="all",
                   help="all (default): the consent signals inside each file (C2PA, IPTC and TDMRep in XMP) count "
                        "too, and a file that refuses the purpose is dropped even where the registry allows it or "
                        "does not know it (the report's `combined`; the receipt stays the registry's); "
                        "registry-only: the registry's answer alone")
    p.add_argument("--report", metavar="FILE", default=None, help="write a report: .jsonl or .csv")
    p.add_argument("--receipt", metavar="FILE", default=None,
                   help="where to keep the receipt (default: a new consentry-check-<time>.receipt.json here)")
    p.add_argument("--quiet", action="store_true", help="no notes on stderr")


def parser() -> argparse.ArgumentParser:
    """The command line's parser (its subcommands' parsers in
    ``commands``)."""
    top = argparse.ArgumentParser(
        prog="python -m consentry",
        description="Check and filter datasets against a Consentry registry; verify check receipts.",
    )
    top.add_argument("--version", action="version", version=f"consentry {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = sub.add_parser("check", help="check a dataset's works and keep the signed receipt",
                           description="Check every work of a dataset in one stream; print the counts; keep the "
                                       "registry-signed receipt.")
    _check_options(check)
    filt = sub.add_parser("filter", help="write the subset of a dataset that may be used",
                          description="Check a dataset like `check`, then write the works that may be used to --out.")
    _check_options(filt)
    filt.add_argument("--out", metavar="DIR", required=True,
                      help="the folder to write the kept files, parquet rows or shard samples to")
    verify = sub.add_parser("verify-receipt", help="verify a check receipt offline",
                            description="Verify a check receipt's signature, checkpoint and, with --answers, "
                                        "that the answers are the ones it signs.")
    verify.add_argument("receipt", metavar="RECEIPT", help="the receipt file")
    verify.add_argument("--verifier-key", metavar="KEY", required=True,
                        help="the log's verifier key (from GET /v1/log), or a file holding it")
    verify.add_argument("--answers", metavar="FILE", default=None,
                        help="the check's report (.jsonl or .csv) or answers, to check against the receipt")
    top.set_defaults(commands={"check": check, "filter": filt, "verify-receipt": verify})
    return top


def _one_line(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        text = f"{e.filename}: {e.strerror}"
    elif not isinstance(e, (ConsentryError, ValueError, OSError)):
        text = f"{type(e).__name__}: {text}"
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def _run(args: argparse.Namespace, usage: Callable[[str], Any]) -> None:
    if args.command == "verify-receipt":
        verify_receipt_command(args)
        return
    if not (args.registry or os.environ.get("CONSENTRY_URL")):
        usage("give the registry's URL with --registry or CONSENTRY_URL")
    if args.report and Path(args.report).suffix.lower() not in (".jsonl", ".ndjson", ".csv"):
        usage(f"--report {args.report}: a report is written as .jsonl or .csv")
    source = detect(args.inputs, args.column)
    if args.command == "filter":
        prepare_filter(source, Path(args.out))
    checked = run_check(args, source)
    if args.command == "filter":
        out = Path(args.out)
        written = write_filtered(source, checked, out)
        kept = sum(checked.keep)
        print(f"kept {kept} of {_plural(len(checked.keep), 'work', 'works')} ({len(checked.keep) - kept} dropped) "
              f"in {out} ({_plural(written, 'file', 'files')} written)")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code (0 done, 1 error,
    2 usage)::

        code = main(["check", "images/", "--purpose", "train-genai",
                     "--registry", "http://127.0.0.1:8080", "--key", "builder.key"])
        sys.exit(code)
    """
    p = parser()
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)

    def usage(message: str) -> None:
        raise UsageError(message)

    try:
        _run(args, usage)
    except UsageError as e:
        sub = args.commands[args.command]
        sub.print_usage(sys.stderr)
        print(f"{sub.prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("consentry: interrupted", file=sys.stderr)
        return 130
    except (Exception, tarfile.TarError) as e:  # every failure: one line, no traceback
        print(f"consentry: error: {_one_line(e)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

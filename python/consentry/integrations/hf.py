"""Consent for Hugging Face ``datasets``: filter a dataset to the works
that may be used, or add the registry's answers as columns.

>>> from consentry.integrations.hf import consent_filter
>>> receipts = []
>>> kept = ds.filter(consent_filter(registry, "train-genai", receipts=receipts), batched=True)

Values of the image column may be PIL images (``Image()``, the default),
``{"bytes": ..., "path": ...}`` structs (``Image(decode=False)``), bytes,
file paths or work hashes (``blake3:<hex>``). Bytes are hashed exactly and
fingerprinted; a decoded PIL image has no file bytes, so it is matched by
its image code alone: cast the column to ``Image(decode=False)`` for exact
matches (and no decoding cost). Bytes and files are also read for the
consent signals inside them (C2PA, IPTC and TDMRep in XMP), which can
refuse a work the registry allows or does not know; a decoded image has
lost them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Mapping
from typing import Any, Iterator, Sequence

from ..answers import Answer
from ..client import Registry
from ..errors import ConsentryError
from . import _Checks, _keep_unknown, _ReceiptSink

__all__ = ["ConsentFilter", "consent_filter", "add_consent_columns"]


def _batch_values(arg: Any, column: str) -> tuple[list[Any], str]:
    """The column's values in what ``datasets`` passed, and what it was:
    ``"batch"`` (a ``LazyBatch``: one answer per value), ``"row"`` (one
    example, a ``LazyRow`` or the plain ``dict`` unbatched filters get: its
    value, or its list of images, is one answer) or ``"value"`` (one image given through
    ``input_columns``)."""
    kind = type(arg).__name__
    if type(arg) is dict and column in arg:
        # What `datasets` passes for one example when filtering unbatched
        # (batches come as a LazyBatch).
        kind = "LazyRow"
    if kind in ("LazyRow", "LazyBatch"):
        if column not in arg:
            raise KeyError(f"the dataset has no column {column!r} (columns: {', '.join(map(str, arg))}); "
                           f"pass column=...")
        values = arg[column]
        if kind == "LazyBatch":
            return list(values), "batch"
        return (list(values) if isinstance(values, list) else [values]), "row"
    if isinstance(arg, Mapping) and column in arg:
        values = arg[column]
    elif isinstance(arg, Mapping) and ("bytes" in arg or "path" in arg):
        values = arg  # one image struct, given through input_columns
    elif isinstance(arg, Mapping):
        raise KeyError(f"the dataset has no column {column!r} (columns: {', '.join(map(str, arg))}); "
                       f"pass column=...")
    else:
        values = arg
    if isinstance(values, list):
        return values, "batch"
    return [values], "value"


class ConsentFilter:
    """A ``datasets`` filter function: for each batch, one check of the
    column's works, and ``True`` for those that may be used::

        f = consent_filter(registry, "train-genai", receipts="receipts/")
        kept = ds.filter(f, batched=True, num_proc=4)
        print(f.counts)   # this process's counts (workers keep their own)

    Made by :func:`consent_filter`; see there. Attributes ``counts`` (how
    many works of each registry status this process saw),
    ``combined_counts`` (of each status with the in-file signals, what it
    kept by) and ``checks`` (how many checks it ran) are informational.

    It can be pickled (``num_proc`` > 1): workers open their own registry
    with the same URL, key and pinned verifier key. Each instance has a
    fingerprint of its own, so ``datasets`` never serves an earlier
    filter's cached result in place of a new check.
    """

    def __init__(self, registry: Registry, purpose: str, *, column: str = "image", unknown: bool | None = None,
                 as_of: dt.datetime | str | None = None,
                 receipts: list[dict[str, Any]] | str | os.PathLike[str] | None = None,
                 near: bool | None = None, signals: bool = True) -> None:
        self._checks = _Checks(registry, purpose, unknown, as_of, near, receipts, signals)
        self.purpose = purpose
        self.column = column
        # Makes this filter's fingerprint (datasets hashes the pickled
        # function to name its cache) unique: consent changes over time.
        self._nonce = secrets.token_hex(16)

    def __repr__(self) -> str:
        return f"consent_filter({self._checks.registry.url}, {self.purpose!r}, column={self.column!r})"

    def __call__(self, batch: Any, *_: Any) -> list[bool] | bool:
        values, kind = _batch_values(batch, self.column)
        keep = [answer.permits(self._checks.keep_unknown) for answer in self.check(values)]
        if kind == "batch":
            return keep
        # One example: kept only if each of its images may be used.
        return bool(keep) and all(keep)

    def check(self, values: Sequence[Any]) -> list[Answer]:
        """One check of ``values`` (image column values); keeps the
        receipt; returns the answers in order. Raises on any failure::

            answers = f.check(ds[:100]["image"])
            print([(a.status, a.match) for a in answers])
        """
        if not values:
            return []
        return self._checks.check(values)

    @property
    def counts(self) -> dict[str, int]:
        """How many works of each status this process saw (the registry's
        answers, as the receipts sign them)."""
        return self._checks.counts

    @property
    def combined_counts(self) -> dict[str, int]:
        """How many works of each status this process saw with the
        in-file signals (what it kept by)."""
        return self._checks.combined_counts

    @property
    def checks(self) -> int:
        """How many checks this process ran."""
        return self._checks.checks


def consent_filter(registry: Registry, purpose: str, *, column: str = "image", unknown: bool | None = None,
                   as_of: dt.datetime | str | None = None,
                   receipts: list[dict[str, Any]] | str | os.PathLike[str] | None = None,
                   near: bool | None = None, signals: bool = True) -> ConsentFilter:
    """A function for ``Dataset.filter`` that keeps the works ``registry``
    says may be used for ``purpose``::

        receipts = []
        kept = ds.filter(consent_filter(registry, "train-genai", receipts=receipts), batched=True)
        # one verified receipt per batch in receipts

    Use it with ``batched=True``: each batch is one check (one receipt).
    Unbatched it works too, one check per example (slow).

    Args:
        registry: a :class:`consentry.Registry` with a dataset builder's key.
        purpose: ``train-ai``, ``train-genai``, ``ai-use``, ``search`` or ``tdm``.
        column: the column holding the works: PIL images (matched by
            image code alone: they have no file bytes), ``{"bytes", "path"}``
            structs (``Image(decode=False)``: hashed exactly, and fastest),
            bytes, file paths or ``blake3:`` hashes.
        unknown: keep works the registry knows nothing about; ``None``
            means the purpose's default (dropped for ``train-ai`` and
            ``train-genai``, kept otherwise). Disallowed works are never kept.
        as_of: check consent as it was at this instant (RFC 3339), e.g.
            when the data was collected.
        receipts: where each batch's verified receipt goes: a list (appended
            to; only in this process, so not with ``num_proc`` > 1) or a
            directory path (one new ``consentry-*.receipt.json`` file per
            batch, from any process).
        near: match resized and re-encoded copies by image code (the
            default, unless the column holds hashes).
        signals: also drop works whose own file refuses the purpose (C2PA,
            IPTC or TDMRep signals in the bytes; never kept by them).
            ``False``: the registry's answer alone.

    Any failure (registry down, key refused, a value that is no work, a
    receipt that does not verify) raises; ``datasets`` then stops.
    """
    return ConsentFilter(registry, purpose, column=column, unknown=unknown, as_of=as_of, receipts=receipts,
                         near=near, signals=signals)


def _raw_column(ds: Any, column: str) -> Any:
    """The dataset with ``column`` undecoded when it is an ``Image``
    column, so its works are hashed from their bytes."""
    import datasets

    if column not in ds.column_names:
        raise KeyError(f"the dataset has no column {column!r} (columns: {', '.join(ds.column_names)})")
    feature = ds.features[column]
    if isinstance(feature, datasets.Image) and feature.decode:
        return ds.cast_column(column, datasets.Image(decode=False))
    return ds


def _values(ds: Any, column: str, batch_size: int) -> Iterator[Any]:
    raw = _raw_column(ds, column).select_columns([column])
    for batch in raw.iter(batch_size=batch_size):
        yield from batch[column]


def add_consent_columns(ds: Any, registry: Registry, purpose: str, *, column: str = "image",
                        prefix: str = "consent_", unknown: bool | None = None, as_of: dt.datetime | str | None = None,
                        receipts: list[dict[str, Any]] | str | os.PathLike[str] | None = None,
                        near: bool | None = None, batch_size: int = 1000, signals: bool = True) -> Any:
    """The dataset with the registry's answer about each row's work in new
    columns, all rows kept::

        receipts = []
        ds = add_consent_columns(ds, registry, "train-genai", receipts=receipts)
        ds.filter(lambda row: row["consent_keep"])

    The whole dataset is one streaming check (one receipt). ``Image``
    columns are read undecoded, so works are hashed from their bytes.

    New columns (names after ``prefix``):

    - ``hash``: the work's ``blake3:`` hash (``None`` for a decoded image);
    - ``status``: ``allowed``, ``disallowed`` or ``unknown`` for ``purpose``
      (the registry's answer, as the receipt signs it);
    - ``combined``: the status with the consent signals in the work's file
      (a file can refuse, never allow), and ``decided_by``: ``registry``,
      ``file``, ``registry+file`` or ``none``;
    - ``keep``: whether the work may be used (by ``combined``; ``unknown``
      as in :func:`consent_filter`);
    - ``match``: ``exact``, ``near`` or ``None``; ``distance``: the nearest
      matched work's distance in bits (``0`` for an exact match);
    - ``claimants``: the artist ids with a current statement;
    - ``terms``: their terms, as JSON text (``[{"artist_id", "terms"}]``);
    - ``statements``: the ids of the statements the answer rests on;
    - ``signals``: the signals found in the file, as JSON text (a list of
      ``{source, property, value, consent, signature?, signer?}``; ``None``
      when the file was not read), and ``signal_notes``: why some of its
      metadata could not be read.

    Args are those of :func:`consent_filter` (``receipts`` gets the one
    receipt), plus ``prefix`` and ``batch_size`` (rows read at a time).
    Needs a ``datasets.Dataset`` (for an ``IterableDataset`` use
    :func:`consent_filter`). Any failure raises; the dataset is then
    unchanged.
    """
    import datasets

    if not isinstance(ds, datasets.Dataset):
        raise TypeError(f"add_consent_columns needs a datasets.Dataset, not {type(ds).__name__}; "
                        "filter an IterableDataset with consent_filter")
    names = ["hash", "status", "combined", "decided_by", "keep", "match", "distance", "claimants", "terms",
             "statements", "signals", "signal_notes"]
    taken = [prefix + n for n in names if prefix + n in ds.column_names]
    if taken:
        raise ValueError(f"the dataset already has the columns {', '.join(taken)}: pass another prefix=")
    keep_unknown = _keep_unknown(purpose, unknown)
    sink = _ReceiptSink(receipts)
    cols: dict[str, list[Any]] = {n: [] for n in names}
    if len(ds) > 0:
        items = _values(ds, column, batch_size)
        run = registry.check(items, purpose, as_of, near=near, signals=signals)
        for answer in run:
            cols["hash"].append(answer.hash)
            cols["status"].append(answer.status)
            cols["combined"].append(answer.combined)
            cols["decided_by"].append(answer.combined_by)
            cols["keep"].append(answer.permits(keep_unknown))
            cols["match"].append(answer.match)
            cols["distance"].append(answer.matched[0][1] if answer.matched else None)
            cols["claimants"].append([c.get("artist_id") for c in answer.claimants])
            cols["terms"].append(json.dumps(answer.terms, ensure_ascii=False))
            cols["statements"].append(list(answer.statements))
            found = answer.signals_json()
            cols["signals"].append(None if found is None else json.dumps(found, ensure_ascii=False))
            cols["signal_notes"].append(list(answer.signal_notes))
        if len(cols["status"]) != len(ds):
            raise ConsentryError(f"{len(cols['status'])} answers for {len(ds)} rows")
        sink.add(run.receipt)
    string = datasets.Value("string")
    features = {
        "hash": string,
        "status": string,
        "combined": string,
        "decided_by": string,
        "keep": datasets.Value("bool"),
        "match": string,
        "distance": datasets.Value("int32"),
        "claimants": datasets.List(string),
        "terms": string,
        "statements": datasets.List(string),
        "signals": string,
        "signal_notes": datasets.List(string),
    }
    out = ds
    for name in names:
        out = out.add_column(prefix + name, cols[name], feature=features[name])
    return out

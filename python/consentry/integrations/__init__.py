"""Consentry in the tools datasets are built with.

Each integration checks works against a registry with
:meth:`consentry.Registry.check` (so near matching finds resized and
re-encoded copies of registered works), keeps only what may be used, and
hands over the registry-signed receipts. Every failure to get an answer
raises: nothing is ever kept because the registry could not be asked.

- :mod:`consentry.integrations.hf`: Hugging Face ``datasets``:
  ``ds.filter(consent_filter(registry, "train-genai"), batched=True)`` and
  ``add_consent_columns(ds, registry, "train-genai")``.
- :mod:`consentry.integrations.webdataset`: a ``webdataset`` pipeline
  stage, ``wds.WebDataset(urls).compose(consent_filter(registry, "train-genai"))``.
- :mod:`consentry.integrations.img2dataset`: filters an ``img2dataset``
  output folder (tar shards and their parquet), with a receipt and a report
  per shard: ``filter_shards("out", registry, "train-genai", out_dir="kept")``.
- :mod:`consentry.integrations.datadiligence`: rules for Spawning's
  ``datadiligence``: ``evaluator.add_rule(ConsentryRule(registry, "train-genai"))``.

None of the modules imports its library at import time; each needs it only
for what it is used with (``pip install consentry[datasets]``,
``[webdataset]``, ``[table]``, ``[datadiligence]``).

Each keeps or drops a work by its combined status (``Answer.combined``):
the registry's answer, refused also when the work's own file carries a
consent signal that refuses the purpose (C2PA, IPTC or TDMRep in XMP;
``spec/signals.md``). A file can refuse, never allow. ``signals=False``
goes by the registry's answer alone. The receipts are the registry's and
cover its answers only.

The callables these modules hand to other libraries can be pickled (for
``datasets``' ``num_proc`` and PyTorch ``DataLoader`` workers): they hold
the registry's URL, the builder's key and the pinned verifier key, and a
process they are sent to opens its own :class:`consentry.Registry`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from pathlib import Path
from typing import Any, Mapping

from ..answers import Answer, denies_unknown_by_default
from ..client import Registry
from ..errors import ConsentryError
from ..keys import Key

__all__ = ["IMAGE_EXTENSIONS"]

#: File extensions (lower case) taken as images, as ``consentry check`` does.
IMAGE_EXTENSIONS: tuple[str, ...] = ("jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff", "avif", "jxl")


def _keep_unknown(purpose: str, unknown: bool | None) -> bool:
    """Whether works the registry does not know are kept: ``unknown`` when
    given, else the default for the purpose (dropped for training)."""
    return (not denies_unknown_by_default(purpose)) if unknown is None else bool(unknown)


class _RegistryHandle:
    """A :class:`Registry` that survives pickling.

    In the process that made it, it is the caller's own registry object.
    Pickled, it carries the URL, the key's seed, the verifier key when the
    caller's registry has one (pinned, or read already, so workers verify
    receipts against the same key) and the timeouts, and makes no request;
    unpickled, it opens a new registry on first use.
    """

    def __init__(self, registry: Registry) -> None:
        if not isinstance(registry, Registry):
            raise TypeError(f"expected a consentry.Registry, not {type(registry).__name__}")
        self._registry: Registry | None = registry
        self._state: dict[str, Any] | None = None

    def get(self) -> Registry:
        if self._registry is None:
            state = self._state
            assert state is not None
            seed = state["seed"]
            self._registry = Registry(
                state["url"],
                key=Key.from_seed(seed) if seed is not None else None,
                verifier_key=state["verifier_key"],
                timeout=state["timeout"],
                max_retries=state["max_retries"],
            )
        return self._registry

    @property
    def url(self) -> str:
        return self._registry.url if self._registry is not None else self._state["url"]  # type: ignore[index]

    def __getstate__(self) -> dict[str, Any]:
        if self._state is not None and self._registry is None:
            return self._state
        registry = self.get()
        key = registry.key
        return {
            "url": registry.url,
            "seed": key.private.private_bytes_raw() if key is not None else None,
            # The key the caller pinned, or has read already; else a worker
            # reads it from the same registry, as the caller would have.
            "verifier_key": registry.pinned_verifier_key,
            "timeout": registry.transport.timeout,
            "max_retries": registry.transport.max_retries,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._registry = None
        self._state = state

    def __repr__(self) -> str:
        return f"<registry {self.url}>"


def _receipt_text(envelope: Mapping[str, Any]) -> str:
    """A receipt as ``consentry check`` keeps it: pretty JSON and a newline."""
    return json.dumps(envelope, indent=2) + "\n"


def _write_new_file(path: Path, text: str) -> None:
    """Writes ``text`` to a new file at ``path``; never replaces one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _write_atomically(path: Path, data: bytes | str) -> None:
    """Writes a whole file at ``path`` (replacing it) through a temporary
    file beside it, so it is either complete or absent."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


class _ReceiptSink:
    """Where an integration puts the receipt of each check: appended to a
    list, written as a new file into a directory, or nowhere (``None``).

    A list lives in one process: a sink made with a list refuses to run in
    another process (``num_proc`` > 1, ``DataLoader`` workers), where
    appending would be lost; a directory works from any process.
    """

    def __init__(self, receipts: list[dict[str, Any]] | str | os.PathLike[str] | None) -> None:
        self._pid = os.getpid()
        self.target: list[dict[str, Any]] | Path | None
        if receipts is None or isinstance(receipts, list):
            self.target = receipts
        elif isinstance(receipts, (str, os.PathLike)):
            path = Path(receipts)
            if path.exists() and not path.is_dir():
                raise NotADirectoryError(f"receipts={str(path)!r} is a file: give a directory (or a list)")
            path.mkdir(parents=True, exist_ok=True)
            self.target = path
        else:
            raise TypeError(f"receipts is a list or a directory path, not {type(receipts).__name__}")

    def check_process(self) -> None:
        """Raises when receipts go to a list and this is another process."""
        if isinstance(self.target, list) and os.getpid() != self._pid:
            raise ConsentryError(
                "receipts=[...] only collects receipts in the process that made the filter, and this "
                "check runs in another one (num_proc > 1 or a DataLoader worker): give receipts a "
                "directory path instead"
            )

    def add(self, envelope: dict[str, Any] | None) -> Path | None:
        """Keeps one check's receipt; returns the file written, if any."""
        if envelope is None:
            raise ConsentryError("the check ended without a receipt")
        if self.target is None:
            return None
        if isinstance(self.target, list):
            self.check_process()
            self.target.append(envelope)
            return None
        base = f"consentry-{_stamp()}-{os.getpid()}"
        for n in range(1, 1_000_000):
            path = self.target / f"{base}-{n:04d}.receipt.json"
            try:
                _write_new_file(path, _receipt_text(envelope))
                return path
            except FileExistsError:
                continue
        raise ConsentryError(f"no free receipt file name in {self.target}")


class _Checks:
    """What every integration does per check: ask the registry (kept
    picklable, for worker processes), keep the receipt, count the answers:
    ``counts`` the registry's (what the receipts sign), ``combined_counts``
    with the in-file signals (what was kept by)."""

    def __init__(self, registry: Registry, purpose: str, unknown: bool | None, as_of: dt.datetime | str | None,
                 near: bool | None, receipts: list[dict[str, Any]] | str | os.PathLike[str] | None,
                 signals: bool = True) -> None:
        self.registry = _RegistryHandle(registry)
        self.purpose = purpose
        self.keep_unknown = _keep_unknown(purpose, unknown)
        self.as_of = as_of
        self.near = near
        self.signals = signals
        self.sink = _ReceiptSink(receipts)
        self.counts = {"allowed": 0, "disallowed": 0, "unknown": 0}
        self.combined_counts = {"allowed": 0, "disallowed": 0, "unknown": 0}
        self.checks = 0

    def check(self, items: Any) -> list[Answer]:
        """One check of ``items``; its verified receipt kept; the answers in order."""
        self.sink.check_process()
        run = self.registry.get().check(items, self.purpose, self.as_of, near=self.near, signals=self.signals)
        answers = run.answers()
        self.sink.add(run.receipt)
        self.checks += 1
        for answer in answers:
            self.counts[answer.status] += 1
            self.combined_counts[answer.combined] += 1
        return answers

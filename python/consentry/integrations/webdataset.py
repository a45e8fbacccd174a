"""Consent as a ``webdataset`` pipeline stage: samples whose image the
registry says may not be used are dropped from the stream.

>>> import webdataset as wds
>>> from consentry.integrations.webdataset import consent_filter
>>> ds = wds.WebDataset(urls).compose(consent_filter(registry, "train-genai")).decode("pil")

The stage reads samples as the tar reader yields them: dicts with
``__key__`` and one entry per member extension (``jpg``, ``json``,
``txt``...) holding the member's raw bytes. Put it *before* ``.decode()``:
the image bytes are then hashed exactly (and fingerprinted, so resized
copies of registered works are found). A sample's image is its first
member among ``image_keys``.

A sample without an image member raises :class:`consentry.ItemError`
(naming its key and members) rather than being dropped: a stream whose
images are missing, or already decoded to arrays, is a pipeline mistake
that silently dropping would hide.

The image bytes are also read for the consent signals inside them (C2PA,
IPTC and TDMRep in XMP): a sample whose image refuses the purpose is
dropped even where the registry allows it or does not know it
(``signals=False``: the registry's answer alone).

Samples are checked ``batch_size`` at a time, one check (one receipt) per
batch, so the stage holds up to one batch of samples in memory.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from typing import Any, Iterable, Iterator, Sequence

from ..client import Registry
from ..errors import ItemError
from . import IMAGE_EXTENSIONS, _Checks

__all__ = ["ConsentStage", "consent_filter", "sample_image"]


def _is_pil_image(value: object) -> bool:
    return type(value).__module__.startswith("PIL.") and hasattr(value, "getbands")


def sample_image(sample: dict[str, Any], image_keys: Sequence[str] = IMAGE_EXTENSIONS, index: int = 0) -> Any:
    """The image of a webdataset sample, as a check item: the raw bytes of
    its one member among ``image_keys`` (or a PIL image, if it was decoded
    that way).

    Raises :class:`consentry.ItemError` when the sample has no such member
    or more than one,
    or holds it in a form that is not bytes nor a PIL image (decoded to an
    array: apply the consent stage before ``.decode()``)::

        sample = {"__key__": "0001", "jpg": jpeg_bytes, "txt": b"a cat"}
        data = sample_image(sample)                       # jpeg_bytes
        data = sample_image(sample, image_keys=("png",))  # ItemError: no png
    """
    present = [ext for ext in image_keys if sample.get(ext) is not None]
    if len(present) > 1:
        # Kept on the answer about one of them, the others would go unchecked.
        raise ItemError(index, sample.get("__key__"),
                        f"the sample has more than one image ({', '.join(present)}); its work is one image")
    for ext in present:
        value = sample[ext]
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        if _is_pil_image(value):
            return value
        raise ItemError(index, sample.get("__key__"),
                        f"its {ext} member is a {type(value).__name__}, not bytes: put the consent stage "
                        "before .decode() (or decode to PIL images)")
    members = sorted(k for k in sample if not k.startswith("__"))
    raise ItemError(index, sample.get("__key__"),
                    f"the sample has no image member ({', '.join(image_keys)}); its members: "
                    f"{', '.join(members) or 'none'}")


class ConsentStage:
    """A webdataset pipeline stage keeping the samples whose image may be
    used::

        stage = consent_filter(registry, "train-genai", batch_size=500)
        kept = list(stage(iter(samples)))   # any iterable of raw samples
        print(stage.counts, stage.checks)

    Made by :func:`consent_filter`; see there.

    ``counts`` (works per registry status), ``combined_counts`` (per status
    with the in-file signals, what it kept by) and ``checks`` (checks run)
    count what this process saw. The stage can be pickled for ``DataLoader`` workers,
    which then open their own registry.
    """

    def __init__(self, registry: Registry, purpose: str, *, unknown: bool | None = None, batch_size: int = 1000,
                 receipts: list[dict[str, Any]] | str | os.PathLike[str] | None = None,
                 image_keys: Sequence[str] = IMAGE_EXTENSIONS, as_of: dt.datetime | str | None = None,
                 near: bool = True, signals: bool = True) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._checks = _Checks(registry, purpose, unknown, as_of, near, receipts, signals)
        self.purpose = purpose
        self.batch_size = batch_size
        self.image_keys = tuple(image_keys)
        self._nonce = secrets.token_hex(8)

    def __repr__(self) -> str:
        return f"consent_filter({self._checks.registry.url}, {self.purpose!r})"

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

    def __call__(self, samples: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        seen = 0
        for sample in samples:
            if not isinstance(sample, dict):
                raise TypeError(f"a webdataset sample is a dict, not {type(sample).__name__}")
            batch.append(sample)
            if len(batch) >= self.batch_size:
                yield from self._filter(batch, seen)
                seen += len(batch)
                batch = []
        if batch:
            yield from self._filter(batch, seen)

    def _filter(self, batch: list[dict[str, Any]], start: int) -> list[dict[str, Any]]:
        items = [sample_image(s, self.image_keys, start + i) for i, s in enumerate(batch)]
        answers = self._checks.check(items)
        keep_unknown = self._checks.keep_unknown
        kept = [sample for sample, answer in zip(batch, answers, strict=True) if answer.permits(keep_unknown)]
        return kept


def consent_filter(registry: Registry, purpose: str, *, unknown: bool | None = None, batch_size: int = 1000,
                   receipts: list[dict[str, Any]] | str | os.PathLike[str] | None = None,
                   image_keys: Sequence[str] = IMAGE_EXTENSIONS, as_of: dt.datetime | str | None = None,
                   near: bool = True, signals: bool = True) -> ConsentStage:
    """A pipeline stage that drops the samples ``registry`` says may not be
    used for ``purpose``::

        stage = consent_filter(registry, "train-genai", receipts="receipts/")
        ds = wds.WebDataset(urls).compose(stage).decode("pil")
        # or: wds.DataPipeline(wds.SimpleShardList(urls), wds.tarfile_to_samples(), stage, ...)

    Args:
        registry: a :class:`consentry.Registry` with a dataset builder's key.
        purpose: ``train-ai``, ``train-genai``, ``ai-use``, ``search`` or ``tdm``.
        unknown: keep works the registry knows nothing about; ``None``
            means the purpose's default (dropped for training).
        batch_size: samples per check (and per receipt).
        receipts: a list each batch's verified receipt is appended to (this
            process only), or a directory to write them into as files
            (works from ``DataLoader`` workers).
        image_keys: the member extensions that hold the image, in order of
            preference.
        as_of: check consent as it was at this instant (RFC 3339).
        near: also match resized and re-encoded copies by image code.
        signals: also drop samples whose image refuses the purpose in its
            own metadata (C2PA, IPTC, TDMRep); ``False``: the registry's
            answer alone.

    A sample without an image member raises :class:`consentry.ItemError`;
    so does every failure to get an answer. Nothing is kept unchecked.
    """
    return ConsentStage(registry, purpose, unknown=unknown, batch_size=batch_size, receipts=receipts,
                        image_keys=image_keys, as_of=as_of, near=near, signals=signals)

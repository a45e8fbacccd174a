"""The registry's answer about one work, as a plain object, with what the
work's own file says (its in-file consent signals)."""

from __future__ import annotations

from typing import Any

from .signals import FileSignals, Finding, decide

__all__ = ["Answer", "PURPOSES", "denies_unknown_by_default"]

PURPOSES = ("train-ai", "train-genai", "ai-use", "search", "tdm")


def denies_unknown_by_default(purpose: str) -> bool:
    """Whether a work the registry knows nothing about is dropped by
    default for ``purpose``: yes for training (``train-ai``,
    ``train-genai``), as ``consentry filter`` does; no for the others."""
    return purpose in ("train-ai", "train-genai")


class Answer:
    """The registry's answer about one item of a check.

    Attributes:
        item: the item as it was given to ``check`` (hash, path, bytes, image).
        hash: the work's hash (``blake3:<hex>``), ``None`` for a PIL image.
        status: ``allowed``, ``disallowed`` or ``unknown`` for the purpose.
        match: near-matching checks: ``exact``, ``near`` or ``None`` (no match).
        matched: near-matching checks: ``(hash, distance)`` of the works that
            answered, nearest first.
        registered: whether any statement names the work.
        disputed: whether several artists claim the work.
        statements: ids of the current statements the answer rests on.
        claimants: the artists with a current statement (``artist_id``,
            ``display_name``, ``consent``, ``terms``...), as the registry
            sent them.
        consent: the work's effective consent per category, when registered.
        decided_by: the statements whose value for the purpose is the status
            (who decided the status with the file's signals is
            ``combined_by``).
        note: why an image item has no fingerprint (it was then checked by
            its hash only), else ``None``.
        line: the answer's line in the check stream (1-based).
        codes: the ISCC Image-Codes sent with the item (near-matching
            checks; a version 2 receipt's digest covers them).
        raw: the answer exactly as the registry sent it (a ``dict``).
        purpose: the purpose checked.
        signals: the consent signals found inside the item's bytes
            (:class:`consentry.signals.Finding`: C2PA manifests, IPTC and
            TDMRep in XMP), or ``None`` when they were not read (a hash, a
            PIL image, or ``check(..., signals=False)``).
        signal_notes: why some of the file's metadata could not be read.
        file_signals: both, as read (a :class:`consentry.signals.FileSignals`,
            ``None`` when not read).
        combined: the status with the in-file signals (``spec/signals.md``
            §3): a file can refuse a use, never allow one. What filters
            keep by.
        combined_by: who decided ``combined``: ``registry``, ``file``,
            ``registry+file`` or ``none`` (the report's ``decided_by``
            column).

    ``status`` stays the registry's signed answer, the one the receipt
    covers; ``signals``, ``combined`` and ``combined_by`` are this
    client's own reading of the files, signed by nobody.

    Answers are read-only views of the registry's answer lines: a check of
    millions of works makes millions of them, so they are built lazily.
    """

    __slots__ = ("item", "raw", "note", "codes", "file_signals", "purpose")

    def __init__(self, item: Any, raw: dict[str, Any], note: str | None = None,
                 codes: tuple[str, ...] = (), file_signals: FileSignals | None = None,
                 purpose: str | None = None) -> None:
        if file_signals is not None and file_signals.findings and purpose is None:
            raise ValueError("an answer with in-file signals needs the purpose they are combined for")
        self.item = item
        self.raw = raw
        self.note = note
        self.codes = codes
        self.file_signals = file_signals
        self.purpose = purpose

    def __repr__(self) -> str:
        combined = self.combined
        also = f", combined={combined!r}" if combined != self.status else ""
        return f"Answer(hash={self.hash!r}, status={self.status!r}{also}, match={self.match!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Answer) and (
            self.item, self.raw, self.note, self.codes, self.file_signals, self.purpose) == (
            other.item, other.raw, other.note, other.codes, other.file_signals, other.purpose)

    __hash__ = None  # type: ignore[assignment]

    @property
    def hash(self) -> str | None:
        return self.raw.get("hash")

    @property
    def status(self) -> str:
        return self.raw["status"]

    @property
    def match(self) -> str | None:
        return self.raw.get("match")

    @property
    def matched(self) -> tuple[tuple[str, int], ...]:
        return tuple((m["hash"], m["distance"]) for m in self.raw.get("matched") or ())

    @property
    def registered(self) -> bool:
        return bool(self.raw.get("registered", False))

    @property
    def disputed(self) -> bool:
        return bool(self.raw.get("disputed", False))

    @property
    def statements(self) -> tuple[str, ...]:
        return tuple(self.raw.get("statements") or ())

    @property
    def decided_by(self) -> tuple[str, ...]:
        return tuple(self.raw.get("decided_by") or ())

    @property
    def claimants(self) -> tuple[dict[str, Any], ...]:
        return tuple(self.raw.get("claimants") or ())

    @property
    def consent(self) -> dict[str, str] | None:
        return self.raw.get("consent")

    @property
    def line(self) -> int:
        return self.raw.get("line", 0)

    @property
    def allowed(self) -> bool:
        """``status == "allowed"`` (the registry's answer alone)."""
        return self.raw["status"] == "allowed"

    @property
    def signals(self) -> tuple[Finding, ...] | None:
        """The consent signals found in the item's file, ``None`` when its
        file was not read for them."""
        return None if self.file_signals is None else tuple(self.file_signals.findings)

    @property
    def signal_notes(self) -> tuple[str, ...]:
        """Why some of the file's metadata could not be read (empty when
        all of it could, or the file was not read)."""
        return () if self.file_signals is None else tuple(self.file_signals.notes)

    def _decision(self) -> tuple[str, str]:
        status = self.raw["status"]
        found = self.file_signals
        if found is None or not found.findings:
            return status, "none" if status == "unknown" else "registry"
        assert self.purpose is not None
        return decide(self.purpose, status, found.consents())

    @property
    def combined(self) -> str:
        """``allowed``, ``disallowed`` or ``unknown`` with the in-file
        signals: disallowed when the registry or any signal in the file
        refuses the purpose; else the registry's answer (an in-file
        ``allowed`` is reported, never counted)."""
        return self._decision()[0]

    @property
    def combined_by(self) -> str:
        """Who decided :attr:`combined`: ``registry``, ``file``,
        ``registry+file`` (both refuse) or ``none`` (nobody: unknown)."""
        return self._decision()[1]

    def permits(self, unknown: bool) -> bool:
        """Whether the work may be used: :attr:`combined` is allowed, or
        unknown when ``unknown`` is true. A work the registry or its own
        file refuses is never permitted."""
        status = self.combined
        return status == "allowed" or (unknown and status == "unknown")

    @property
    def terms(self) -> list[dict[str, Any]]:
        """The terms of each claimant that set any: ``[{"artist_id": ...,
        "terms": [...]}]``."""
        return [
            {"artist_id": c.get("artist_id"), "terms": c["terms"]}
            for c in self.claimants
            if c.get("terms")
        ]

    def signals_json(self) -> list[dict[str, Any]] | None:
        """The findings as reports write them (``None`` when not read)."""
        found = self.file_signals
        return None if found is None else [f.to_json() for f in found.findings]

    def row(self) -> dict[str, Any]:
        """The answer as a flat row (for tables and reports): the
        registry's answer, then ``combined``, ``decided_by`` (who decided
        it), ``signals`` (the findings as dicts, ``None`` when not read)
        and ``signal_notes``, as ``consentry check --report`` names them."""
        matched = self.matched
        return {
            "hash": self.hash,
            "status": self.status,
            "match": self.match,
            "distance": matched[0][1] if matched else None,
            "matched": [h for h, _ in matched],
            "registered": self.registered,
            "disputed": self.disputed,
            "claimants": [c.get("artist_id") for c in self.claimants],
            "terms": self.terms,
            "statements": list(self.statements),
            "note": self.note,
            "combined": self.combined,
            "decided_by": self.combined_by,
            "signals": self.signals_json(),
            "signal_notes": list(self.signal_notes),
        }

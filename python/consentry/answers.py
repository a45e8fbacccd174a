"""The registry's answer about one work, as a plain object."""

from __future__ import annotations

from typing import Any

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
        decided_by: the statements whose value for the purpose is the status.
        note: why an image item has no fingerprint (it was then checked by
            its hash only), else ``None``.
        line: the answer's line in the check stream (1-based).
        codes: the ISCC Image-Codes sent with the item (near-matching
            checks; a version 2 receipt's digest covers them).
        raw: the answer exactly as the registry sent it (a ``dict``).

    Answers are read-only views of the registry's answer lines: a check of
    millions of works makes millions of them, so they are built lazily.
    """

    __slots__ = ("item", "raw", "note", "codes")

    def __init__(self, item: Any, raw: dict[str, Any], note: str | None = None,
                 codes: tuple[str, ...] = ()) -> None:
        self.item = item
        self.raw = raw
        self.note = note
        self.codes = codes

    def __repr__(self) -> str:
        return f"Answer(hash={self.hash!r}, status={self.status!r}, match={self.match!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Answer) and (self.item, self.raw, self.note, self.codes) == (
            other.item, other.raw, other.note, other.codes)

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
        """``status == "allowed"``."""
        return self.raw["status"] == "allowed"

    def permits(self, unknown: bool) -> bool:
        """Whether the work may be used: allowed, or unknown when ``unknown``
        is true. A disallowed work is never permitted."""
        status = self.raw["status"]
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

    def row(self) -> dict[str, Any]:
        """The answer as a flat row (for tables and reports)."""
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
        }

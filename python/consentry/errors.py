"""The exceptions the package raises.

Every failure to get an answer is an exception: the package never turns a
registry that is down, a refused request or a broken stream into an
``allowed`` (or any other) answer.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConsentryError",
    "RegistryUnreachable",
    "Problem",
    "RateLimited",
    "StreamBroken",
    "ItemError",
    "KeyFileError",
]

PROBLEM_PREFIX = "urn:consentry:problem:"


class ConsentryError(Exception):
    """Base class of every error this package raises."""


class RegistryUnreachable(ConsentryError):
    """Nothing answered at the registry's address (refused, unknown host,
    timed out, connection broken before an answer)."""

    def __init__(self, url: str, cause: BaseException | str) -> None:
        self.url = url
        self.cause = cause
        super().__init__(
            f"cannot reach the registry at {url} ({cause}); is it running, "
            "and is this its address?"
        )


class Problem(ConsentryError):
    """The registry refused a request with an RFC 9457 problem.

    Attributes:
        status: the HTTP status (400, 401, 403, 404, 409, 413, 422, 429, 503...).
        type: the problem type URI, e.g. ``urn:consentry:problem:unknown-purpose``.
        slug: the type without its ``urn:consentry:problem:`` prefix.
        title, detail: the problem's words, as the registry wrote them.
        errors: the per-item errors some problems list (``index``, ``detail``).
        body: the whole problem object.
    """

    def __init__(self, status: int, body: dict[str, Any] | None, context: str = "") -> None:
        body = body if isinstance(body, dict) else {}
        self.status = status
        self.body = body
        self.type = str(body.get("type", "about:blank"))
        self.slug = self.type.removeprefix(PROBLEM_PREFIX)
        self.title = str(body.get("title", ""))
        self.detail = str(body.get("detail", "no detail"))
        errors = body.get("errors")
        self.errors: list[dict[str, Any]] = errors if isinstance(errors, list) else []
        message = f"{context}: " if context else ""
        message += f"the registry refused the request ({status} {self.slug}): {self.detail}"
        for e in self.errors[:10]:
            if isinstance(e, dict):
                message += f"\n  item {e.get('index', '?')}: {e.get('detail', '')}"
        super().__init__(message)


class RateLimited(Problem):
    """The registry kept answering 429 (or 503 with ``Retry-After``) after
    every retry the client was allowed. ``retry_after`` is the last wait it
    asked for, in seconds."""

    def __init__(self, status: int, body: dict[str, Any] | None, retry_after: float, context: str = "") -> None:
        self.retry_after = retry_after
        super().__init__(status, body, context)


class StreamBroken(ConsentryError):
    """A check stream ended without its signed receipt: the connection broke,
    the registry reported an error line (``problem`` is then set), or the
    answers did not match what was asked. No answer of such a stream should
    be relied upon."""

    def __init__(self, message: str, problem: dict[str, Any] | None = None) -> None:
        self.problem = problem
        super().__init__(message)


class ItemError(ConsentryError, ValueError):
    """An item given to :meth:`consentry.Registry.check` (or ``register``)
    cannot be used: not a hash, a missing file, an unsupported type.
    ``index`` is its 0-based position in the input."""

    def __init__(self, index: int, item: object, reason: str) -> None:
        self.index = index
        self.item = item
        self.reason = reason
        if isinstance(item, (bytes, bytearray, memoryview)):
            shown = f"<{len(item)} bytes>"
        else:
            shown = repr(item[:100] if isinstance(item, str) else item)
            if len(shown) > 100:
                shown = shown[:97] + "..."
        super().__init__(f"item {index} ({shown}): {reason}")


class KeyFileError(ConsentryError, ValueError):
    """A key file is not an Ed25519 PKCS#8 PEM key (``spec/keys.md``)."""

"""The registry client: signing in, checking works, registering them.

>>> from consentry import Registry, load_key
>>> registry = Registry("http://127.0.0.1:8080", key=load_key("builder.key"))
>>> run = registry.check(["blake3:…", "photo.jpg"], purpose="train-genai")
>>> keep = [answer.permits(unknown=False) for answer in run]
>>> run.receipt   # the registry-signed receipt, verified

The consent signals inside the files (C2PA, IPTC and TDMRep in XMP) are
read on this side as the items are hashed; they never go to the registry,
and the receipt covers the registry's answers alone.

Everything goes through the registry's documented REST API
(``openapi.yaml``); nothing else is assumed about the server.
"""

from __future__ import annotations

import base64
import collections
import concurrent.futures
import datetime as dt
import http.client
import itertools
import json
import os
import ssl
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

import blake3
import orjson

from . import dsse
from ._http import RETRY_STATUSES, Transport, parse_body, retry_after
from .answers import PURPOSES, Answer
from .errors import ConsentryError, ItemError, Problem, RateLimited, RegistryUnreachable, StreamBroken
from .items import Prepared, code_body, hash_text, parse_hash, prepare
from .keys import Key
from .signals import FileSignals

__all__ = ["Registry", "CheckRun", "timestamp", "STATEMENT_TYPE", "ARTIST_TYPE"]

AUTH_CHALLENGE_TYPE = "application/vnd.consentry.auth-challenge.v1"
STATEMENT_TYPE = "application/vnd.consentry.statement.v1+json"
ARTIST_TYPE = "application/vnd.consentry.artist.v1+json"
ISCC_IMAGE = "iscc-image-v0"
# Renew a token this many seconds before it expires.
TOKEN_MARGIN = 60.0
# Hashes per batch of an exact check (128 KiB on the wire).
HASH_BATCH = 4096
# Statements per POST /v1/statements (the registry takes up to 10,000).
STATEMENTS_PER_REQUEST = 1000
# Bytes of one answer line, at most (a line is one work's answer).
MAX_LINE = 16 * 1024 * 1024
# Bytes of a problem answered instead of a stream, at most.
MAX_PROBLEM = 1024 * 1024

_last_issued = 0
_issued_lock = threading.Lock()


def timestamp(when: dt.datetime | str | int | None = None) -> str:
    """A timestamp in the registry's profile (``spec/statement.md`` §5.7):
    RFC 3339, UTC, ``Z``, the shortest fraction. Accepts a timezone-aware
    ``datetime``, nanoseconds since the epoch (``int``), an already
    formatted string (returned as is), or ``None`` for now."""
    if isinstance(when, str):
        return when
    if isinstance(when, dt.datetime):
        if when.tzinfo is None:
            raise ValueError("a naive datetime has no time zone: give one in UTC (tzinfo=datetime.timezone.utc)")
        when = when.astimezone(dt.timezone.utc)
        nanos = (int(when.replace(microsecond=0).timestamp()) * 1_000_000_000) + when.microsecond * 1000
    elif when is None:
        nanos = time.time_ns()
    else:
        nanos = int(when)
    seconds, frac = divmod(nanos, 1_000_000_000)
    text = dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


def _issued_now() -> str:
    """Now, strictly later than any earlier call in this process: a
    statement must be issued after the artist's previous one about a work."""
    global _last_issued
    with _issued_lock:
        _last_issued = max(time.time_ns(), _last_issued + 1)
        return timestamp(_last_issued)


def _jwt_expiry(token: str) -> float:
    """The ``exp`` of a JWT, read without verifying it (only to know when to
    renew; the registry verifies tokens)."""
    try:
        part = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return 0.0


_STATUS_BYTE = {"allowed": b"a", "disallowed": b"d", "unknown": b"u"}
_NO_STATEMENTS = {status: byte + b"\0\0\0\0" for status, byte in _STATUS_BYTE.items()}
_STATUSES = set(_STATUS_BYTE)
# The record tail of an answer without statements: only `unknown` may have none.
_UNKNOWN_TAIL = {"unknown": _NO_STATEMENTS["unknown"]}


def _tail(line: dict[str, Any], status: str) -> bytes:
    """An answer record's status and statement ids (``spec/receipt.md``
    §4.2). An allowed or disallowed answer rests on statements; their ids
    are 64 lower-case hex digits, ascending."""
    ids = line.get("statements")
    if not ids:
        if status != "unknown":
            raise StreamBroken(f"the registry answered {status} for {line.get('hash')} without statements")
        return _NO_STATEMENTS[status]
    joined = "".join(ids)
    raw = bytes.fromhex(joined)
    if raw.hex() != joined or len(raw) != 32 * len(ids) or any(a >= b for a, b in zip(ids, ids[1:])):
        raise StreamBroken(f"the statement ids of {line.get('hash')} are not 64 hex digits each, ascending")
    return _STATUS_BYTE[status] + struct.pack(">I", len(ids)) + raw


def _near_records(batch: _Batch, start: int, lines: list[dict[str, Any]], statuses: list[str]
                  ) -> tuple[bytes, bytes]:
    """Item and answer records of a near-matching check (§4.3)."""
    items = bytearray()
    answers = bytearray()
    for i, (line, status) in enumerate(zip(lines, statuses)):
        digest = batch.hashes[start + i]
        codes = batch.codes[start + i]
        matched = line.get("matched")
        if digest is not None and not codes and not matched:
            # A hash alone, matched by nothing: the common case of a long list.
            items += b"\x01" + digest + b"\x00"
            answers += b"-\x00" + _tail(line, status)
            continue
        if digest is None:
            items.append(0)
        else:
            items.append(1)
            items += digest
        items.append(len(codes))
        for code in codes:
            body = code_body(code)
            items.append(len(body))
            items += body
        answers += {"exact": b"e", "near": b"n"}.get(line.get("match") or "", b"-")
        matched = matched or ()
        answers.append(len(matched))
        for m in matched:
            answers += bytes.fromhex(m["hash"].removeprefix("blake3:"))
            answers.append(m["distance"])
        answers += _tail(line, status)
    return bytes(items), bytes(answers)


@dataclass(slots=True)
class _Batch:
    """Items as sent, in one piece of the request body: the items as given,
    their hashes, the hash text each answer must carry, their codes and
    notes (near matching), and the bytes on the wire; and, kept on this
    side, the signals read from their files (empty when none were read)."""

    items: list[Any]
    hashes: list[bytes | None]
    texts: list[str | None]
    codes: list[tuple[str, ...]]
    notes: list[str | None]
    wire: bytes
    signals: list[FileSignals | None] = field(default_factory=list)


def _bulk_hashes(chunk: list[Any]) -> bytes | None:
    """The raw hashes of a chunk of ``blake3:<hex>`` strings, converted in
    one pass; ``None`` unless every item is one (the per-item path then
    tells which is not)."""
    if not all(type(x) is str and len(x) == 71 and x.startswith("blake3:") for x in chunk):
        return None
    hex_text = "".join(chunk).replace("blake3:", "")
    if len(hex_text) != 64 * len(chunk):
        return None
    try:
        raw = bytes.fromhex(hex_text)
    except ValueError:
        return None
    return raw if raw.hex() == hex_text else None


class _Digests:
    """The receipt's two digests (``spec/receipt.md`` §4), computed as the
    answers arrive."""

    def __init__(self) -> None:
        self.items = blake3.blake3()
        self.answers = blake3.blake3()
        self.count = 0

    def finish(self) -> tuple[str, str]:
        return self.items.hexdigest(), self.answers.hexdigest()


class CheckRun:
    """One check: iterate it for the answers, in the order of the items.

    It is single-pass and streams both ways: items are hashed and sent as
    the answers are read, so millions of items take constant memory. After
    the last answer, ``receipt`` holds the registry-signed receipt (a DSSE
    envelope, a ``dict``), already verified against the registry's log key
    and against the answers received (``spec/receipt.md``), ``verified`` the
    parsed :class:`consentry.receipt.Receipt`, and ``done`` the stream's
    last line (counts, checkpoint, matching). With ``signals`` the items'
    files are read for consent signals as they are hashed (on this side:
    what is sent and what the receipt covers do not change).

    Any failure (the registry down, a refused request, a broken stream, a
    receipt that does not verify) raises; answers already yielded by a run
    that then fails are not backed by a receipt.
    """

    def __init__(self, registry: Registry, items: Iterable[Any], purpose: str, as_of: str | None,
                 near: bool, workers: int, signals: bool = True) -> None:
        self._registry = registry
        self._items = items
        self.purpose = purpose
        self.as_of = as_of
        self.near = near
        self.signals = signals
        self._workers = workers
        self.receipt: dict[str, Any] | None = None
        self.verified: Any = None
        self.done: dict[str, Any] | None = None
        self._started = False
        self._lists: Iterator[list[Answer]] | None = None
        # Items taken from the input; every one must be answered.
        self._taken = 0

    def __iter__(self) -> Iterator[Answer]:
        if self._started:
            raise ConsentryError("a CheckRun is iterated once; call check() again")
        self._started = True
        self._lists = self._run()
        # The answers come in lists, one per piece of the response: chaining
        # them keeps the per-answer path out of Python code.
        return itertools.chain.from_iterable(self._lists)

    def close(self) -> None:
        """Ends the check now (the stream is closed, its slot at the
        registry freed); a run closed before its last answer has no
        receipt. ``with registry.check(...) as run:`` closes it on exit."""
        if self._lists is not None:
            self._lists.close()

    def __enter__(self) -> CheckRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def answers(self) -> list[Answer]:
        """All answers, as a list (holds them all in memory)."""
        return list(self)

    def to_pandas(self) -> Any:
        """All answers as a ``pandas.DataFrame``, one row per item (the
        columns of :meth:`Answer.row`, plus ``item``: the registry's
        ``status``, and ``combined``, ``decided_by``, ``signals`` and
        ``signal_notes`` from the files). Needs pandas."""
        import pandas as pd

        return pd.DataFrame([{"item": _label(a.item), **a.row()} for a in self])

    def to_arrow(self) -> Any:
        """All answers as a ``pyarrow.Table`` (as :meth:`to_pandas`;
        ``terms`` and ``signals`` as JSON text, ``signals`` null when the
        file was not read). Needs pyarrow."""
        import pyarrow as pa

        rows = [{"item": _label(a.item), **a.row()} for a in self]
        for row in rows:
            row["terms"] = json.dumps(row["terms"])
            if row["signals"] is not None:
                row["signals"] = json.dumps(row["signals"], ensure_ascii=False)
        table = pa.Table.from_pylist(rows)
        # Columns that hold only nulls or empty lists in this check keep
        # their type, so tables of several checks concatenate.
        for name, typ in (("signals", pa.string()), ("signal_notes", pa.list_(pa.string()))):
            i = table.schema.get_field_index(name)
            if i >= 0 and table.schema.field(i).type != typ:
                table = table.set_column(i, pa.field(name, typ), table.column(i).cast(typ))
        return table

    def _query(self) -> str:
        q = {"purpose": self.purpose}
        if self.as_of is not None:
            q["as_of"] = self.as_of
        if self.near:
            q["match"] = "near"
        return "/v1/check/stream?" + urllib.parse.urlencode(q)

    def _batches(self) -> Iterator[_Batch]:
        """The items in batches, hashed (and fingerprinted) on a pool of
        threads. A batch holds up to 4,096 items, and fewer when they need
        work (files, bytes, images: a few per thread), so that the request
        body keeps flowing while images are fingerprinted."""
        work_per_batch = max(8, self._workers * 8)
        pool = (concurrent.futures.ThreadPoolExecutor(self._workers, thread_name_prefix="consentry-hash")
                if self._workers > 1 else None)
        try:
            items = iter(self._items)
            base = 0
            while True:
                chunk: list[Any] = []
                work = 0
                for item in items:
                    chunk.append(item)
                    if not (type(item) is str and len(item) in (64, 68, 71)):
                        work += 1
                    if len(chunk) >= HASH_BATCH or work >= work_per_batch:
                        break
                if not chunk:
                    return
                batch = self._batch(base, chunk, pool)
                self._taken += len(chunk)
                yield batch
                base += len(chunk)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)

    def _batch(self, base: int, chunk: list[Any], pool: concurrent.futures.Executor | None) -> _Batch:
        n = len(chunk)
        raw = _bulk_hashes(chunk)
        if raw is not None:
            # Hashes only: no bytes, no signals.
            hashes: list[bytes | None] = [raw[j:j + 32] for j in range(0, len(raw), 32)]
            if not self.near:
                return _Batch(chunk, hashes, chunk, [], [None] * n, raw)
            wire = b"".join([b'{"hash":"' + text.encode("ascii") + b'"}\n' for text in chunk])
            return _Batch(chunk, hashes, chunk, [()] * n, [None] * n, wire)
        args = (range(base, base + n), chunk, itertools.repeat(self.near))
        prepared = list(pool.map(self._prepare, *args) if pool is not None else map(self._prepare, *args))
        hashes = [p.hash for p in prepared]
        texts = [hash_text(h) if h is not None else None for h in hashes]
        codes = [p.codes for p in prepared]
        notes = [p.note for p in prepared]
        signals = [p.signals for p in prepared] if self.signals else []
        if not self.near:
            for p in prepared:
                if p.hash is None:
                    raise ItemError(p.index, p.item, "has no hash; check it with near=True")
            return _Batch(chunk, hashes, texts, codes, notes, b"".join(hashes), signals)  # type: ignore[arg-type]
        wire = bytearray()
        for p, text in zip(prepared, texts):
            line: dict[str, Any] = {}
            if text is not None:
                line["hash"] = text
            if p.codes:
                line["fingerprints"] = [{"algorithm": ISCC_IMAGE, "value": c} for c in p.codes]
            if not line:
                raise ItemError(p.index, p.item, "has neither a hash nor a fingerprint")
            wire += orjson.dumps(line) + b"\n"
        return _Batch(chunk, hashes, texts, codes, notes, bytes(wire), signals)

    def _prepare(self, index: int, item: Any, near: bool) -> Prepared:
        """One item prepared, its file read for signals when they count."""
        return prepare(index, item, near, signals=self.signals)

    def _run(self) -> Iterator[list[Answer]]:
        source: Iterator[_Batch] = self._batches()
        replay: collections.deque[_Batch] = collections.deque()
        renewed = False
        transport = self._registry.transport
        attempts = transport.max_retries + 1
        retries = 0
        while True:
            stream = _Stream(self, replay, source)
            status, headers, body = stream.start()
            if status == 200:
                # The last answers are held back until the receipt checks
                # out, so whoever has them all has the receipt too.
                held: list[Answer] | None = None
                for answers in stream.answers():
                    if held is not None:
                        yield held
                    held = answers
                self._finish(stream)
                if held is not None:
                    yield held
                return
            replay = stream.stop()
            problem = parse_body(body)
            if status == 401 and not renewed:
                renewed = True
                self._registry.sign_in()
                continue
            if status in RETRY_STATUSES and "Retry-After" in headers:
                wait = retry_after(headers)
                retries += 1
                if retries < attempts and wait <= transport.max_wait:
                    transport.sleep(wait)
                    continue
                raise RateLimited(status, problem, wait, "check")
            raise Problem(status, problem, "check")

    def _finish(self, stream: _Stream) -> None:
        from .receipt import ReceiptError, verify_receipt

        done = stream.done
        assert done is not None
        if not stream.ended or stream.digests.count != self._taken:
            raise StreamBroken(f"{self._taken} items were taken from the input and "
                               f"{stream.digests.count} answered: the check did not cover them all")
        envelope = done.get("receipt")
        if not isinstance(envelope, dict):
            raise StreamBroken("the check stream ended without a receipt")
        try:
            verified = verify_receipt(envelope, self._registry.verifier_key, as_of=self.as_of)
        except ReceiptError as e:
            raise StreamBroken(f"the registry's receipt does not verify: {e}") from None
        hashes_digest, answers_digest = stream.digests.finish()
        if verified.hash_count != stream.digests.count:
            raise StreamBroken(f"the receipt covers {verified.hash_count} items, and {stream.digests.count} were answered")
        if verified.hashes_blake3 != hashes_digest or verified.answers_blake3 != answers_digest:
            raise StreamBroken("the registry's receipt does not match the answers it sent")
        if verified.purpose != self.purpose:
            raise StreamBroken(f"the receipt is for {verified.purpose}, not {self.purpose}")
        if self._registry.subject is not None and verified.builder != self._registry.subject:
            raise StreamBroken(f"the receipt is for builder {verified.builder}, not {self._registry.subject}")
        if verified.version != (2 if self.near else 1):
            raise StreamBroken(f"a receipt of version {verified.version} for a check with near={self.near}")
        self.done = done
        self.receipt = envelope
        self.verified = verified


class _Stream:
    """One ``POST /v1/check/stream``: a writer thread sends the batches
    (first those a refused attempt left, then new ones) while the caller
    reads the answers."""

    def __init__(self, run: CheckRun, replay: collections.deque[_Batch], source: Iterator[_Batch]) -> None:
        self.run = run
        self.replay = replay
        self.source = source
        # Batches sent and not yet fully answered; the first is answered
        # from `offset` on.
        self.sent: collections.deque[_Batch] = collections.deque()
        self.offset = 0
        self.digests = _Digests()
        self.done: dict[str, Any] | None = None
        # Whether the whole body, its last chunk included, was sent.
        self.ended = False
        self._error: BaseException | None = None
        self._send_error: OSError | None = None
        self._stop = threading.Event()
        registry = run._registry
        content_type = "application/x-ndjson" if run.near else "application/octet-stream"
        headers = registry.transport.headers(registry.token(), content_type)
        headers["Accept"] = "application/x-ndjson, application/problem+json"
        self.conn, self.io = registry.transport.open_stream(run._query(), headers)
        self.writer = threading.Thread(target=self._write, name="consentry-check-writer", daemon=True)
        self.writer.start()

    def _send(self, data: bytes) -> bool:
        try:
            self.io.write_chunk(data)
            return True
        except OSError as e:
            # The registry closed the connection: the reader says why.
            self._send_error = e
            return False

    def _write(self) -> None:
        try:
            while not self._stop.is_set():
                if self.replay:
                    batch = self.replay.popleft()
                else:
                    batch = next(self.source, None)
                    if batch is None:
                        self.ended = self._send(b"")
                        return
                # Recorded before it is sent, so a refused stream can send it again.
                self.sent.append(batch)
                if not self._send(batch.wire):
                    return
        except BaseException as e:  # an item that cannot be prepared (ItemError, an OSError of the input...)
            self._error = e
            _shutdown(self.io.sock)

    def start(self) -> tuple[int, Any, bytes]:
        """The response's status; for an error status, also its headers and body."""
        self.resp = self.io.response("POST")
        try:
            self.resp.begin()
        except (OSError, http.client.HTTPException) as e:
            self.stop()
            raise RegistryUnreachable(self.run._registry.transport.url, e) from None
        if self.resp.status == 200:
            return 200, self.resp.headers, b""
        try:
            body = self.resp.read(MAX_PROBLEM)
        except (OSError, http.client.HTTPException):
            body = b""
        return self.resp.status, self.resp.headers, body

    def _close(self) -> None:
        self._stop.set()
        _shutdown(self.io.sock)
        self.writer.join()
        self.conn.close()

    def stop(self) -> collections.deque[_Batch]:
        """Ends the stream; returns the batches to send again: those the
        writer took, then those it had not yet taken."""
        self._close()
        if self._error is not None:
            raise self._error
        return collections.deque([*self.sent, *self.replay])

    def answers(self) -> Iterator[list[Answer]]:
        pieces: list[bytes] = []
        size = 0
        try:
            while True:
                try:
                    chunk = self.resp.read1(1 << 16)
                except (OSError, http.client.HTTPException) as e:
                    if self._error is not None:
                        raise self._error from None
                    raise StreamBroken(f"the check stream broke off: {e}") from None
                if not chunk:
                    break
                if b"\n" not in chunk:
                    pieces.append(chunk)
                    size += len(chunk)
                    if size > MAX_LINE:
                        raise StreamBroken(f"the registry sent a line of more than {MAX_LINE} bytes")
                    continue
                pieces.append(chunk)
                lines = b"".join(pieces).split(b"\n")
                last = lines.pop()
                pieces, size = ([last], len(last)) if last else ([], 0)
                yield from self._answers(lines)
            if self._error is not None:
                raise self._error
            if self.done is None:
                raise StreamBroken("the check stream ended without its receipt")
        finally:
            self._close()

    def _answers(self, lines: list[bytes]) -> Iterator[list[Answer]]:
        """The answers of complete lines, parsed and checked a batch at a
        time (a check of millions of works spends most of its client time
        here)."""
        if self.done is not None and any(lines):
            raise StreamBroken("the registry sent lines after the end of the check")
        try:
            parsed = orjson.loads(b"[" + b",".join(line for line in lines if line) + b"]")
        except orjson.JSONDecodeError:
            raise StreamBroken("the registry sent a line that is not JSON") from None
        if not all(type(line) is dict for line in parsed):
            raise StreamBroken("the registry sent a line that is not a JSON object")
        statuses = [line.get("status") for line in parsed]
        end = len(parsed)
        if None in statuses:
            end = statuses.index(None)
            self._last(parsed[end], parsed[end + 1:], end)
        pos = 0
        while pos < end:
            if not self.sent:
                raise StreamBroken("the registry answered more items than were asked")
            batch = self.sent[0]
            start = self.offset
            take = min(end - pos, len(batch.items) - start)
            try:
                answers = self._segment(batch, start, parsed[pos:pos + take], statuses[pos:pos + take])
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise StreamBroken(f"the registry sent a malformed answer near item {self.digests.count + 1}: "
                                   f"{type(e).__name__} {e}") from None
            yield answers
            pos += take
            self.offset += take
            if self.offset == len(batch.items):
                self.sent.popleft()
                self.offset = 0
        if self.done is not None and self.sent:
            raise StreamBroken(f"the registry left {sum(len(b.items) for b in self.sent) - self.offset} "
                               "items unanswered")

    def _segment(self, batch: _Batch, start: int, lines: list[dict[str, Any]], statuses: list[str]
                 ) -> list[Answer]:
        stop = start + len(lines)
        got = [line.get("hash") for line in lines]
        if got != batch.texts[start:stop]:
            i = next(i for i, (g, t) in enumerate(zip(got, batch.texts[start:stop])) if g != t)
            raise StreamBroken(f"answer {self.digests.count + i + 1} is for {got[i]}, not {batch.texts[start + i]}")
        if not set(statuses) <= _STATUSES:
            raise StreamBroken(f"the registry sent a status that is none of {sorted(_STATUSES)}")
        digests = self.digests
        if self.run.near:
            items, records = _near_records(batch, start, lines, statuses)
            digests.items.update(items)
            digests.answers.update(records)
        else:
            digests.items.update(batch.wire[start * 32:stop * 32])
            digests.answers.update(b"".join([
                h + ((not line.get("statements") and _UNKNOWN_TAIL.get(s)) or _tail(line, s))
                for h, line, s in zip(batch.hashes[start:stop], lines, statuses)  # type: ignore[operator]
            ]))
        digests.count += len(lines)
        codes = batch.codes[start:stop] if self.run.near else itertools.repeat(())
        signals = batch.signals[start:stop] if batch.signals else itertools.repeat(None)
        return list(map(Answer, batch.items[start:stop], lines, batch.notes[start:stop], codes, signals,
                        itertools.repeat(self.run.purpose)))

    def _last(self, line: dict[str, Any], after: list[dict[str, Any]], answered: int) -> None:
        """A line that is no answer: the receipt, or the error that ended the stream."""
        if "error" in line:
            err = line["error"]
            raise StreamBroken(
                f"the registry ended the check: {err.get('detail', 'no detail')} ({err.get('type')})", err
            )
        if line.get("done") is not True or after:
            raise StreamBroken(f"the registry sent a line that is neither an answer nor the end: {line}")
        self.done = line


def _shutdown(sock: Any) -> None:
    try:
        sock.shutdown(2)
    except OSError:
        pass


def _label(item: Any) -> str:
    if isinstance(item, (bytes, bytearray, memoryview)):
        return f"<{len(item)} bytes>"
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    return f"<{type(item).__name__}>"


class Registry:
    """A client of one Consentry registry.

    Args:
        url: the registry's base URL, e.g. ``http://127.0.0.1:8080``.
        key: the :class:`consentry.Key` to sign in with (a dataset builder's
            key to check, an artist's to register); ``None`` for public reads.
        verifier_key: the log's verifier key to pin (``GET /v1/log`` of a
            registry you trust); by default it is read from the registry on
            first use and kept.
        timeout: seconds to wait for any single answer.
        max_retries: how often a 429 or 503 with ``Retry-After`` is retried
            (after the wait the registry asks for) before
            :class:`consentry.RateLimited` is raised.
        ssl_context: for ``https://`` registries, the ``ssl.SSLContext`` to
            verify them with (default: the system's trusted certificates).

    Tokens are obtained on first use and renewed before they expire, and
    once after a 401.
    """

    def __init__(self, url: str, key: Key | None = None, *, verifier_key: str | None = None,
                 timeout: float = 300.0, max_retries: int = 5,
                 sleep: Callable[[float], None] = time.sleep, ssl_context: ssl.SSLContext | None = None) -> None:
        self.transport = Transport(url, timeout=timeout, max_retries=max_retries, sleep=sleep,
                                   ssl_context=ssl_context)
        self.url = self.transport.url
        self.key = key
        self._verifier_key = verifier_key
        self._token: str | None = None
        self._token_expiry = 0.0
        self.subject: str | None = None
        self.role: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Registry({self.url!r}, key={self.key!r})"

    # -- tokens ------------------------------------------------------------

    def sign_in(self) -> str:
        """Signs in with the key (challenge, signature, token); returns the
        token's subject: the artist id, builder id or ``admin``."""
        if self.key is None:
            raise ConsentryError("this Registry has no key: give key=load_key(...) to sign in")
        key_id = self.key.id
        try:
            challenge = self.transport.request("POST", "/v1/auth/challenge", json_body={"key": key_id},
                                               context=f"signing in with {key_id}")["challenge"]
        except Problem as e:
            if e.slug == "unknown-key":
                raise Problem(e.status, {**e.body, "detail": e.detail + (
                    "; a dataset builder's key is registered by the registry's admin (consentry builder "
                    "create), an artist registers with Registry.register_artist")}, f"signing in with {key_id}") from None
            raise
        signature = self.key.sign(dsse.pae(AUTH_CHALLENGE_TYPE, challenge.encode("utf-8")))
        token = self.transport.request("POST", "/v1/auth/token", json_body={
            "key": key_id, "challenge": challenge, "signature": base64.b64encode(signature).decode("ascii"),
        }, context=f"signing in with {key_id}")
        with self._lock:
            self._token = token["token"]
            self._token_expiry = _jwt_expiry(token["token"])
            self.subject = token.get("subject")
            self.role = token.get("role")
        return self.subject or ""

    def token(self) -> str:
        """A bearer token valid for at least another minute (signing in
        again when needed)."""
        with self._lock:
            fresh = self._token is not None and self._token_expiry - time.time() > TOKEN_MARGIN
            token = self._token
        if not fresh:
            self.sign_in()
            token = self._token
        assert token is not None
        return token

    def _authed(self, method: str, path: str, *, context: str, **kw: Any) -> Any:
        """A request with a token, signing in again once after a 401."""
        try:
            return self.transport.request(method, path, token=self.token(), context=context, **kw)
        except Problem as e:
            if e.status != 401:
                raise
            self.sign_in()
            return self.transport.request(method, path, token=self.token(), context=context, **kw)

    # -- public reads ------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """``GET /v1/registry``: identity, limits, matching rule."""
        return self.transport.request("GET", "/v1/registry", context="registry info")

    @property
    def pinned_verifier_key(self) -> str | None:
        """The verifier key given or already read, without asking the
        registry (``None`` when neither)."""
        return self._verifier_key

    @property
    def verifier_key(self) -> str:
        """The log's verifier key receipts are checked against (pinned, or
        read once from ``GET /v1/log``)."""
        if self._verifier_key is None:
            self._verifier_key = self.transport.request("GET", "/v1/log", context="log")["verifier_key"]
        return self._verifier_key

    def work(self, hash: str) -> dict[str, Any] | None:
        """``GET /v1/works/{hash}``: a work's consent, claimants and history;
        ``None`` when no statement names it."""
        digest = parse_hash(hash)
        if digest is None:
            raise ItemError(0, hash, "not a work hash (blake3:<64 hex>)")
        return self.transport.request("GET", f"/v1/works/{hash_text(digest)}", allow_404=True,
                                      context="work lookup")

    def near(self, codes: Sequence[str]) -> dict[str, Any]:
        """``GET /v1/near``: the registered works whose image codes are near
        one of ``codes`` (ISCC Image-Codes, as :func:`consentry.image_codes`
        gives them)."""
        q = urllib.parse.urlencode({"codes": ",".join(codes)})
        return self.transport.request("GET", f"/v1/near?{q}", context="near lookup")

    # -- checks ------------------------------------------------------------

    def check(self, items: Iterable[Any], purpose: str, as_of: dt.datetime | str | None = None, *,
              near: bool | None = None, workers: int | None = None, signals: bool = True) -> CheckRun:
        """Checks works for ``purpose`` (``train-ai``, ``train-genai``,
        ``ai-use``, ``search`` or ``tdm``), optionally as of an instant.

        ``items`` is any iterable (a generator of millions is fine) of: work
        hashes (``"blake3:<hex>"``), file paths (``str`` or ``Path``), file
        contents (``bytes``) or decoded PIL images. Files and bytes are
        hashed with BLAKE3; with near matching, images are also
        fingerprinted, so resized and re-encoded copies of registered works
        are found. ``near`` defaults to true unless the first item is a hash
        string (hash-only checks go as raw 32-byte records, the fastest
        form). ``workers`` threads hash and fingerprint (default: the CPU
        count).

        With ``signals`` (the default), the consent signals inside each
        item's bytes are read as it is hashed (``spec/signals.md``: C2PA
        training-mining assertions, IPTC ``plus:DataMining`` and TDMRep in
        XMP; a path's ``.c2pa`` sidecar too): each answer's ``combined`` is
        then ``disallowed`` when the registry or the file refuses the
        purpose, and ``permits`` goes by it. A file can refuse a use but
        never allow one. ``signals=False`` reads no file: ``combined`` is
        the registry's answer. Either way nothing of the files is sent,
        ``status`` is the registry's answer and the receipt covers only
        those answers.

        Needs a dataset builder's key. Returns a :class:`CheckRun`: iterate
        it for one :class:`consentry.Answer` per item, in order; then
        ``run.receipt`` is the verified, registry-signed receipt.
        """
        if purpose not in PURPOSES:
            raise ValueError(f"unknown purpose {purpose!r}: one of {', '.join(PURPOSES)}")
        as_of_text = None if as_of is None else timestamp(as_of)
        iterator = iter(items)
        if near is None:
            try:
                first = next(iterator)
            except StopIteration:
                first = None
                iterator = iter(())
            else:
                iterator = itertools.chain([first], iterator)
            near = not (isinstance(first, str) and parse_hash(first) is not None)
        workers = workers if workers is not None else (os.cpu_count() or 1)
        return CheckRun(self, iterator, purpose, as_of_text, near, workers, signals)

    # -- artists -----------------------------------------------------------

    def register_artist(self, display_name: str) -> str:
        """Registers the key's holder as an artist with ``display_name``
        (a self-signed registration); returns the artist id."""
        if self.key is None:
            raise ConsentryError("registering an artist needs key=...")
        payload = {"version": 1, "key": self.key.id, "display_name": display_name, "issued_at": _issued_now()}
        envelope = dsse.sign(ARTIST_TYPE, _payload_bytes(payload), self.key.private)
        answer = self.transport.request("POST", "/v1/artists", json_body=envelope, context="registering the artist")
        return answer["artist_id"]

    def register(self, works: Iterable[Any], consent: str | dict[str, str], *,
                 terms: Sequence[dict[str, Any]] | None = None, titles: Sequence[str | None] | None = None,
                 fingerprints: bool = True) -> list[dict[str, Any]]:
        """Signs and submits one consent statement per work (artist).

        ``works`` are file paths or bytes (hashed, and fingerprinted when
        they are images and ``fingerprints`` is true: resized copies are then
        matched) or work hashes. ``consent`` is ``"opt-in"``, ``"opt-out"``
        or per category, e.g. ``{"train-genai": "disallowed", "search":
        "allowed"}``; ``terms`` as in ``spec/statement.md`` §5.5, e.g.
        ``[{"kind": "attribution", "credit": "Ana"}]``. Changing consent
        later is the same call with new values: the history is kept.

        Returns the registry's result per statement (``id``, ``status``:
        ``created`` or ``duplicate``, log ``seq``...).
        """
        if self.key is None:
            raise ConsentryError("registering works needs an artist's key=...")
        titles_list = list(titles) if titles is not None else None
        envelopes = []
        for i, item in enumerate(works):
            p = prepare(i, item, fingerprints, views=True)
            if p.hash is None:
                raise ItemError(i, item, "a decoded image has no file bytes to register; give the file")
            if p.note is not None:
                raise ItemError(i, item, f"cannot be fingerprinted: {p.note}")
            work: dict[str, Any] = {"hash": hash_text(p.hash)}
            if titles_list is not None and i < len(titles_list) and titles_list[i] is not None:
                work["title"] = titles_list[i]
            if p.codes:
                work["fingerprints"] = [{"algorithm": ISCC_IMAGE, "value": c} for c in p.codes]
            payload: dict[str, Any] = {"version": 1, "key": self.key.id, "works": [work], "consent": consent,
                                       "issued_at": _issued_now()}
            if terms:
                payload["terms"] = list(terms)
            envelopes.append(dsse.sign(STATEMENT_TYPE, _payload_bytes(payload), self.key.private))
        results: list[dict[str, Any]] = []
        for start in range(0, len(envelopes), STATEMENTS_PER_REQUEST):
            batch = envelopes[start:start + STATEMENTS_PER_REQUEST]
            answer = self._authed("POST", "/v1/statements", json_body={"statements": batch},
                                  context="submitting statements")
            results.extend(answer["accepted"])
        return results

    def set_consent(self, hashes: Iterable[str], consent: str | dict[str, str], *,
                    terms: Sequence[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Changes the consent of works already registered, by hash (a new
        statement per work; earlier ones stay in the log)."""
        return self.register(list(hashes), consent, terms=terms, fingerprints=False)


def _payload_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

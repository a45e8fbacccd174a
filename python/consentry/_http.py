"""HTTP/1.1 to the registry on the standard library's ``http.client``.

Two kinds of exchange: ordinary JSON requests (one keep-alive connection
per thread, retried after ``Retry-After`` on 429 and 503), and the check
stream, which sends its body while it reads answers on the same connection
(the registry reads input only as fast as answers are read, so a client
that sent everything first would stall on large inputs).
"""

from __future__ import annotations

import http.client
import io
import json
import select
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Any, Callable

from . import __version__
from .errors import Problem, RateLimited, RegistryUnreachable

USER_AGENT = f"consentry-python/{__version__}"
# Statuses after which the same request may succeed once the registry says so.
RETRY_STATUSES = (429, 503)
# Bytes of a JSON answer read at most (the registry's largest are work
# histories and check responses of 100,000 hashes).
MAX_BODY = 256 * 1024 * 1024


def retry_after(headers: http.client.HTTPMessage | None, default: float = 1.0) -> float:
    """Seconds from a ``Retry-After`` header (delta-seconds form), else ``default``."""
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default


def parse_body(data: bytes) -> Any:
    """The JSON of a body, or ``None`` when it is empty or not JSON."""
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


class Transport:
    """Talks HTTP to one registry base URL.

    ``max_retries`` bounds how often a 429 or 503 is retried (after the
    ``Retry-After`` the registry sends, at most ``max_wait`` seconds each);
    then :class:`RateLimited` (or :class:`Problem`) is raised.
    """

    def __init__(self, url: str, *, timeout: float = 300.0, max_retries: int = 5, max_wait: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep, ssl_context: ssl.SSLContext | None = None) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
        self.url = url.rstrip("/")
        self.https = parsed.scheme == "https"
        self.host = parsed.hostname
        self.port = parsed.port or (443 if self.https else 80)
        self.prefix = parsed.path.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.sleep = sleep
        self.ssl_context = ssl_context
        self._local = threading.local()

    def connection(self, timeout: float | None = None) -> http.client.HTTPConnection:
        """A new connection (not yet connected)."""
        wait = self.timeout if timeout is None else timeout
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=wait, context=self.ssl_context)
        return http.client.HTTPConnection(self.host, self.port, timeout=wait)

    def _pooled(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.connection()
            self._local.conn = conn
        return conn

    def _drop_pooled(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def headers(self, token: str | None, content_type: str | None = None) -> dict[str, str]:
        h = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if token:
            h["Authorization"] = f"Bearer {token}"
        if content_type:
            h["Content-Type"] = content_type
        return h

    def exchange(self, method: str, path: str, body: bytes | None, headers: dict[str, str]
                 ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One request and its whole response, on this thread's connection.
        When a kept-alive connection turns out closed by the server before
        it answered (it closes idle ones), the request is sent once more on
        a new connection; a new connection is never retried."""
        for attempt in (0, 1):
            conn = self._pooled()
            reused = conn.sock is not None
            try:
                conn.request(method, self.prefix + path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read(MAX_BODY + 1)
                if len(data) > MAX_BODY:
                    self._drop_pooled()
                    raise RegistryUnreachable(self.url, f"an answer of more than {MAX_BODY} bytes")
                if resp.will_close:
                    self._drop_pooled()
                return resp.status, resp.headers, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                self._drop_pooled()
                if attempt == 1 or not reused:
                    raise RegistryUnreachable(self.url, _describe(e)) from None
            except (OSError, http.client.HTTPException) as e:
                self._drop_pooled()
                raise RegistryUnreachable(self.url, _describe(e)) from None
        raise AssertionError("unreachable")

    def request(self, method: str, path: str, *, json_body: Any = None, raw: bytes | None = None,
                content_type: str | None = None, token: str | None = None, context: str = "",
                allow_404: bool = False) -> Any:
        """A JSON request. Returns the parsed JSON answer (``None`` for a 404
        when ``allow_404``). Raises :class:`Problem` for an error status,
        :class:`RateLimited` when 429/503 persist, :class:`RegistryUnreachable`
        when nothing answers."""
        if json_body is not None:
            raw = json.dumps(json_body, separators=(",", ":")).encode("utf-8")
            content_type = "application/json"
        for attempt in range(self.max_retries + 1):
            status, headers, data = self.exchange(method, path, raw, self.headers(token, content_type))
            if status < 400:
                return parse_body(data)
            if status == 404 and allow_404:
                return None
            body = parse_body(data)
            if status in RETRY_STATUSES and "Retry-After" in headers:
                wait = retry_after(headers)
                if attempt < self.max_retries and wait <= self.max_wait:
                    self.sleep(wait)
                    continue
                raise RateLimited(status, body, wait, context)
            raise Problem(status, body, context)
        raise AssertionError("unreachable")

    def open_stream(self, path: str, headers: dict[str, str]) -> tuple[http.client.HTTPConnection, Duplex]:
        """Sends a chunked POST's head on a new connection; returns it and its
        socket as a :class:`Duplex`, on which one thread writes the body's
        chunks while another reads the response."""
        conn = self.connection(timeout=self.timeout)
        try:
            conn.putrequest("POST", self.prefix + path, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
        except OSError as e:
            conn.close()
            raise RegistryUnreachable(self.url, _describe(e)) from None
        assert conn.sock is not None
        return conn, Duplex(conn.sock, self.timeout)


class Duplex:
    """A socket written by one thread while another reads it (the check
    stream). An SSL connection must not be used by two threads at once, so
    the socket is non-blocking, every call on it is made under a lock, and
    each side waits for the socket outside the lock (``select``)."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self.sock = sock
        self.timeout = timeout
        self.lock = threading.Lock()
        sock.setblocking(False)

    def _wait(self, read: bool, timeout: float | None) -> None:
        try:
            ready = select.select([self.sock] if read else [], [] if read else [self.sock], [], timeout)
        except ValueError:  # the socket was closed by the other side of the stream
            raise OSError("the connection was closed") from None
        if not ready[0] and not ready[1]:
            raise TimeoutError("timed out")

    def send_all(self, data: bytes | memoryview) -> None:
        """Sends all of ``data``, waiting as long as the registry does not
        read (it reads as fast as the answers are read)."""
        view = memoryview(data)
        while view:
            want_read = False
            with self.lock:
                try:
                    view = view[self.sock.send(view):]
                    continue
                except ssl.SSLWantReadError:
                    want_read = True
                except (ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
                    pass
            self._wait(want_read, None)

    def recv_into(self, buffer: memoryview | bytearray) -> int:
        """Reads what has arrived into ``buffer`` (0 at the end), waiting
        at most ``timeout`` seconds for anything to arrive."""
        while True:
            want_write = False
            with self.lock:
                try:
                    return self.sock.recv_into(buffer)
                except ssl.SSLWantWriteError:
                    want_write = True
                except (ssl.SSLWantReadError, BlockingIOError, InterruptedError):
                    pass
            self._wait(not want_write, self.timeout)

    def write_chunk(self, data: bytes) -> None:
        """Writes one chunk of a chunked body (an empty ``data`` ends it)."""
        self.send_all(b"%x\r\n%b\r\n" % (len(data), data) if data else b"0\r\n\r\n")

    def response(self, method: str) -> http.client.HTTPResponse:
        """The response, read through this socket's lock; ``begin()`` not yet called."""
        return http.client.HTTPResponse(_SocketFile(self), method=method)  # type: ignore[arg-type]


class _Reader(io.RawIOBase):
    def __init__(self, duplex: Duplex) -> None:
        self.duplex = duplex

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self.duplex.recv_into(buffer)


class _SocketFile:
    """What ``http.client.HTTPResponse`` reads from: a buffered reader over
    the duplex socket."""

    def __init__(self, duplex: Duplex) -> None:
        self.duplex = duplex

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_Reader(self.duplex), 1 << 16)


def _describe(e: BaseException) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, socket.gaierror):
        return "host not found"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timed out"
    return str(e) or type(e).__name__

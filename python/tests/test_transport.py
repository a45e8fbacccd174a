"""The check stream's transport against a live registry behind proxies
that misbehave the way networks and busy registries do: TLS, a registry
that refuses the first attempts after reading part of the body, and
answers that are not answers."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading

import blake3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import consentry
from consentry.items import hash_text


def many_hashes(n: int, salt: bytes = b"") -> list[str]:
    return [hash_text(blake3.blake3(salt + i.to_bytes(8, "big")).digest()) for i in range(n)]


def pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(1 << 16):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Proxy:
    """A TCP proxy in front of the registry. Each accepted connection is
    handled by the next of `scripts` (then passed through): a script gets
    the client socket and may answer by itself."""

    def __init__(self, port: int, scripts=(), tls: ssl.SSLContext | None = None):
        self.port = port
        self.scripts = list(scripts)
        self.tls = tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"{'https' if tls else 'http'}://localhost:{self.listener.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        if self.tls is not None:
            try:
                client = self.tls.wrap_socket(client, server_side=True)
            except (ssl.SSLError, OSError):  # a client that does not trust the certificate
                client.close()
                return
        self.connections += 1
        if self.scripts:
            self.scripts.pop(0)(client)
            return
        upstream = socket.create_connection(("127.0.0.1", self.port))
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        pump(client, upstream)

    def close(self) -> None:
        self.listener.close()


def refuse_after_reading(nbytes: int):
    """Reads about `nbytes` of the request, then answers 429 with Retry-After: 0."""

    def script(client: socket.socket) -> None:
        got = 0
        while got < nbytes:
            data = client.recv(1 << 16)
            if not data:
                break
            got += len(data)
        body = b'{"type":"urn:consentry:problem:rate-limited","title":"Too Many Requests","status":429,"detail":"busy"}'
        client.sendall(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nContent-Type: application/problem+json\r\n"
                       b"Content-Length: %d\r\nConnection: close\r\n\r\n%b" % (len(body), body))
        client.close()

    return script


def answer_with(lines: bytes):
    """Answers a stream with these NDJSON lines, whatever was asked, once
    the first bytes of the request's body have arrived: a registry answers
    no item before it has it, and answering earlier would race the
    client's writer thread (which records a batch as sent just before
    sending it), making the client report an answer to nothing asked
    instead of what is wrong with the line."""

    def script(client: socket.socket) -> None:
        client.settimeout(10)
        seen = b""
        try:
            while not seen.partition(b"\r\n\r\n")[2]:
                data = client.recv(1 << 16)
                if not data:
                    break
                seen += data
        except OSError:
            pass
        client.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n"
                       b"Connection: close\r\n\r\n%x\r\n%b\r\n0\r\n\r\n" % (len(lines), lines))
        # Read the rest of the request before closing, or the close resets
        # the connection before the client has read the answer (a client
        # that has read it and gone already is fine).
        try:
            client.shutdown(socket.SHUT_WR)
            while client.recv(1 << 16):
                pass
        except OSError:
            pass
        client.close()

    return script


def self_signed() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh certificate for localhost, and a client
    context that trusts only it."""
    import tempfile

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as f:
        f.write(pem + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(f.name)
    client = ssl.create_default_context(cadata=pem.decode())
    return server, client


def test_checks_over_tls_stream_both_ways(server, builder, artist, pictures):
    artist.register(pictures[:2], "opt-out")
    tls_server, tls_client = self_signed()
    proxy = Proxy(server.port, tls=tls_server)
    try:
        remote = consentry.Registry(proxy.url, key=builder.key, ssl_context=tls_client)
        hashes = many_hashes(200_000) + [hash_text(blake3.blake3(p.read_bytes()).digest()) for p in pictures[:2]]
        for _ in range(3):
            answers = remote.check(hashes, "train-ai").answers()
            assert len(answers) == len(hashes)
            assert [a.status for a in answers[-2:]] == ["disallowed", "disallowed"]
        near = remote.check(pictures[:3], "train-ai").answers()
        assert [a.status for a in near] == ["disallowed", "disallowed", "unknown"]
        untrusting = consentry.Registry(proxy.url, key=builder.key)
        with pytest.raises(consentry.RegistryUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
            untrusting.sign_in()
    finally:
        proxy.close()


def test_refused_attempts_lose_no_items(server, builder):
    """Two refusals, the first after the registry read part of the body:
    every item is still sent, answered in order and covered by the receipt."""
    proxy = Proxy(server.port)
    try:
        sleeps: list[float] = []
        remote = consentry.Registry(proxy.url.replace("localhost", "127.0.0.1"), key=builder.key,
                                    sleep=sleeps.append, verifier_key=builder.verifier_key)
        remote.sign_in()
        proxy.scripts = [refuse_after_reading(3 << 20), refuse_after_reading(0)]
        items = many_hashes(200_000, b"replay")
        run = remote.check(items, "train-ai")
        answers = run.answers()
        assert len(answers) == len(items) and all(a.item is i for a, i in zip(answers, items))
        assert run.verified.hash_count == len(items) and sleeps == [0.0, 0.0]
        # Retries stop at max_retries.
        proxy.scripts = [refuse_after_reading(0)] * 2
        impatient = consentry.Registry(proxy.url.replace("localhost", "127.0.0.1"), key=builder.key,
                                       max_retries=1, sleep=sleeps.append)
        impatient._token, impatient._token_expiry = remote._token, remote._token_expiry
        with pytest.raises(consentry.RateLimited):
            list(impatient.check(items[:10], "train-ai"))
    finally:
        proxy.close()


@pytest.mark.parametrize("lines, message", [
    (b'[1,2]\n', "not a JSON object"),
    (b'{"line":1,"hash":"blake3:' + b"0" * 64 + b'","status":"allowed"}\n', "without statements"),
    (b'{"line":1,"hash":"blake3:' + b"1" * 64 + b'","status":"unknown"}\n', "is for blake3:1111"),
    (b'{"line":1,"hash":"blake3:' + b"0" * 64 + b'","status":"maybe"}\n', "status"),
    (b'{"line":1,"hash":"blake3:' + b"0" * 64 + b'","status":"disallowed","statements":["b","a"]}\n',
     "64 hex digits each, ascending"),
    (b'{"error":{"type":"urn:consentry:problem:internal","detail":"boom"}}\n', "boom"),
    (b'{"done":true,"receipt":null}\n', "unanswered"),
    (b"x" * (17 << 20), "a line of more than"),
])
def test_answers_that_are_not_answers_break_the_stream(server, builder, lines, message):
    proxy = Proxy(server.port)
    try:
        remote = consentry.Registry(proxy.url.replace("localhost", "127.0.0.1"), key=builder.key,
                                    verifier_key=builder.verifier_key)
        remote.sign_in()
        proxy.scripts = [answer_with(lines)]
        run = remote.check(["blake3:" + "0" * 64], "train-ai")
        with pytest.raises(consentry.StreamBroken, match=message):
            list(run)
        assert run.receipt is None
    finally:
        proxy.close()


def test_the_receipt_is_there_as_soon_as_the_last_answer_is(server, builder):
    items = many_hashes(10, b"zip")
    run = builder.check(items, "train-ai")
    pairs = list(zip(items, run))
    assert len(pairs) == 10 and run.receipt is not None
    with builder.check(many_hashes(300_000, b"close"), "train-ai") as run:
        next(iter(run))
    assert run.receipt is None
    assert len(builder.check(items, "train-ai").answers()) == 10

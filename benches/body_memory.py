#!/usr/bin/env python3
"""Resident memory of `consentry serve` under concurrent large request bodies.

Starts the registry binary on a fresh SQLite file, registers a dataset
builder (keys made here with `cryptography`), then sends CLIENTS concurrent
`POST /v1/runs` bodies of BODY_MIB MiB each (a run report listing about
1.2 million works per 91 MiB, over the 1,000,000-work limit, so each is
parsed whole and then refused with 413, as in the original report).
Samples the process's VmRSS from /proc every 20 ms and prints, as JSON:
RSS before, peak RSS, RSS after, and the answers' statuses.

    python3 benches/body_memory.py --binary target/debug/consentry --budget-mib 256
    python3 benches/body_memory.py --binary target/debug/consentry --budget-mib 100000

(`--budget-mib 100000` makes the body budget larger than anything sent,
i.e. the registry without a budget.) Linux only.
"""

import argparse
import base64
import http.client
import json
import os
import subprocess
import tempfile
import threading
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

CHALLENGE_TYPE = "application/vnd.consentry.auth-challenge.v1"


def pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def public_text(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "ed25519:" + raw.hex()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def request(addr, method, path, body=None, token=None, timeout=600):
    host, port = addr
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {}
    if body is not None:
        headers["Content-Type"] = "application/json"
        if not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def login(addr, key: Ed25519PrivateKey) -> str:
    pub = public_text(key)
    status, data = request(addr, "POST", "/v1/auth/challenge", {"key": pub})
    assert status == 200, data
    challenge = json.loads(data)["challenge"]
    sig = key.sign(pae(CHALLENGE_TYPE, challenge.encode()))
    status, data = request(
        addr,
        "POST",
        "/v1/auth/token",
        {"key": pub, "challenge": challenge, "signature": base64.b64encode(sig).decode()},
    )
    assert status == 200, data
    return json.loads(data)["token"]


def run_body(mib: int) -> bytes:
    head = b'{"run_id":"bench","purpose":"train-ai","pool":{"amount_minor":100,"currency":"EUR"},"works":['
    item = b'"blake3:' + b"ab" * 32 + b'"'
    n = (mib * 1024 * 1024 - len(head) - 2) // (len(item) + 1)
    return head + b",".join([item] * n) + b"]}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/debug/consentry")
    ap.add_argument("--budget-mib", type=int, default=256)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--body-mib", type=int, default=91)
    args = ap.parse_args()

    admin = Ed25519PrivateKey.generate()
    lab = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [
                args.binary, "serve", "--listen", "127.0.0.1:0",
                "--database-url", f"sqlite://{tmp}/registry.db",
                "--key-file", f"{tmp}/registry.key",
                "--admin-key", public_text(admin),
                "--rate-limit", "0",
                "--body-memory-mib", str(args.budget_mib),
            ],
            stdout=subprocess.PIPE,
            stderr=open(os.environ["BENCH_SERVER_LOG"], "w") if os.environ.get("BENCH_SERVER_LOG") else subprocess.DEVNULL,
            text=True,
        )
        try:
            for line in proc.stdout:
                if line.startswith("listening on http://"):
                    host, port = line.strip()[len("listening on http://"):].rsplit(":", 1)
                    addr = (host, int(port))
                    break
            admin_token = login(addr, admin)
            status, data = request(
                addr, "POST", "/v1/builders", {"name": "Bench Lab", "key": public_text(lab)}, admin_token
            )
            assert status == 201, data
            token = login(addr, lab)
            body = run_body(args.body_mib)
            time.sleep(0.5)
            before = rss_kib(proc.pid)
            peak = [before]
            done = threading.Event()

            def sample():
                while not done.is_set():
                    peak[0] = max(peak[0], rss_kib(proc.pid))
                    time.sleep(0.02)

            statuses = []
            lock = threading.Lock()

            def client():
                try:
                    status, data = request(addr, "POST", "/v1/runs", body, token)
                    slug = json.loads(data).get("type", "").rsplit(":", 1)[-1] if data else ""
                    result = f"{status} {slug}".strip()
                except Exception as e:  # a connection cut while sending counts too
                    result = type(e).__name__
                with lock:
                    statuses.append(result)

            sampler = threading.Thread(target=sample)
            sampler.start()
            start = time.monotonic()
            clients = [threading.Thread(target=client) for _ in range(args.clients)]
            for c in clients:
                c.start()
            for c in clients:
                c.join()
            elapsed = time.monotonic() - start
            time.sleep(1.0)
            done.set()
            sampler.join()
            after = rss_kib(proc.pid)
            counts = {}
            for s in statuses:
                counts[s] = counts.get(s, 0) + 1
            print(json.dumps({
                "budget_mib": args.budget_mib,
                "clients": args.clients,
                "body_mib": round(len(body) / 1048576, 1),
                "rss_before_mib": round(before / 1024, 1),
                "rss_peak_mib": round(peak[0] / 1024, 1),
                "rss_after_mib": round(after / 1024, 1),
                "seconds": round(elapsed, 1),
                "answers": counts,
            }))
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()

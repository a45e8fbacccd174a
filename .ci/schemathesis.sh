#!/usr/bin/env bash
# API conformance: schemathesis (from PyPI) against openapi.yaml and a running
# server (the release or debug binary given as $1, default target/debug/consentry),
# with every check (`--checks all`): a 5xx, a status code, content type or
# header the document does not list, a response that does not match its
# schema, a schema-valid request refused as malformed (positive data), or a
# request the document forbids that is accepted (negative data). The builder
# token is the default; .ci/schemathesis.toml gives the artist and admin
# operations their tokens and the read operations ids that exist, and
# .ci/schemathesis_hooks.py keeps the rules between parameters.
# SCHEMATHESIS_SECONDS sets the time budget (default 120). The `coverage` phase
# is left out: in schemathesis 4.32 it stops with an internal error (a KeyError
# in its own value cache) on this document.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/debug/consentry}
python3 -c 'import schemathesis' 2>/dev/null || python3 -m pip install --quiet 'schemathesis==4.32.5'
python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install --quiet cryptography
work=$(mktemp -d)
server=
finish() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    cp "$work/server.log" "${TMPDIR:-/tmp}/consentry-schemathesis-server.log" 2>/dev/null || true
    rm -rf "$work"
}
trap finish EXIT
"$bin" keygen --out "$work/admin.key" > "$work/admin.pub" 2>/dev/null
"$bin" keygen --out "$work/lab.key" > "$work/lab.pub" 2>/dev/null
"$bin" serve --listen 127.0.0.1:0 --database-url "sqlite://$work/registry.db" \
    --key-file "$work/registry.key" --admin-key "$(cat "$work/admin.pub")" \
    --rate-limit 0 > "$work/server.out" 2> "$work/server.log" &
server=$!
for _ in $(seq 1 100); do
    grep -q '^listening on ' "$work/server.out" 2>/dev/null && break
    sleep 0.1
done
base=$(sed -n 's/^listening on //p' "$work/server.out")
[ -n "$base" ] || { echo "the server did not start" >&2; cat "$work/server.log" >&2; exit 1; }
export CONSENTRY_URL=$base
# Seed what every operation needs to answer 2xx: an artist with a statement,
# a builder (whose key the hooks sign challenges with) with a reported run;
# their tokens and ids go to .ci/schemathesis.toml through the environment.
eval "$(python3 - "$base" "$work/admin.key" <<'PY'
import base64, hashlib, json, os, sys, urllib.request, datetime
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
base, admin_file = sys.argv[1], sys.argv[2]
def seed_of(key_file):
    # PKCS#8 (RFC 8410): the 32-byte seed follows 04 20.
    der = base64.b64decode("".join(l for l in open(key_file) if not l.startswith("-----")))
    return der[der.index(b"\x04\x20") + 2:][:32]
def call(path, body, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = "Bearer " + token
    req = urllib.request.Request(base + path, json.dumps(body).encode(), headers)
    return json.load(urllib.request.urlopen(req))
def public(key):
    return "ed25519:" + key.public_key().public_bytes_raw().hex()
def pae(ptype, body):
    return b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(body), body)
def login(key):
    challenge = call("/v1/auth/challenge", {"key": public(key)})["challenge"]
    sig = key.sign(pae(b"application/vnd.consentry.auth-challenge.v1", challenge.encode()))
    return call("/v1/auth/token", {"key": public(key), "challenge": challenge,
                                   "signature": base64.b64encode(sig).decode()})["token"]
def envelope(ptype, payload, key):
    body = json.dumps(payload).encode()
    return {"payloadType": ptype, "payload": base64.b64encode(body).decode(),
            "signatures": [{"keyid": public(key), "sig": base64.b64encode(key.sign(pae(ptype.encode(), body))).decode()}]}
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(seconds=5)
stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
admin = Ed25519PrivateKey.from_private_bytes(seed_of(admin_file))
admin_token = login(admin)
lab_seed = os.urandom(32)
lab = Ed25519PrivateKey.from_private_bytes(lab_seed)
call("/v1/builders", {"name": "Conformance Lab", "key": public(lab)}, admin_token)
lab_token = login(lab)
artist_seed = os.urandom(32)
artist = Ed25519PrivateKey.from_private_bytes(artist_seed)
reg = call("/v1/artists", envelope("application/vnd.consentry.artist.v1+json",
           {"version": 1, "key": public(artist), "display_name": "Conformance Artist", "issued_at": stamp}, artist))
artist_token = login(artist)
work = "blake3:" + hashlib.sha256(os.urandom(8)).hexdigest()
st = call("/v1/statements", {"statements": [envelope("application/vnd.consentry.statement.v1+json",
          {"version": 1, "key": public(artist), "works": [{"hash": work}], "consent": "opt-in",
           "terms": [{"kind": "revenue-share"}], "issued_at": stamp}, artist)]}, artist_token)
run = call("/v1/runs", {"run_id": "conformance-1", "purpose": "train-ai", "checked_at": stamp,
           "pool": {"amount_minor": 1000, "currency": "EUR"}, "works": [work]}, lab_token)
for name, value in [("CONSENTRY_ADMIN_TOKEN", admin_token), ("CONSENTRY_LAB_TOKEN", lab_token),
                    ("CONSENTRY_LAB_SEED", lab_seed.hex()), ("CONSENTRY_ARTIST_TOKEN", artist_token),
                    ("CONSENTRY_ARTIST_ID", reg["artist_id"]), ("CONSENTRY_ARTIST_SEED", artist_seed.hex()), ("CONSENTRY_DOCUMENT_ID", st["accepted"][0]["id"]),
                    ("CONSENTRY_WORK_HASH", work), ("CONSENTRY_PAYOUT_ID", run["statement_id"])]:
    print(f"export {name}={value}")
PY
)"
CONSENTRY_STATUS_LOG="$work/statuses" SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH=.ci schemathesis --config-file .ci/schemathesis.toml \
    run openapi.yaml --url "$base" \
    -H "Authorization: Bearer $CONSENTRY_LAB_TOKEN" \
    --checks all \
    --max-time "${SCHEMATHESIS_SECONDS:-120}" \
    --suppress-health-check all \
    --phases examples,fuzzing,stateful \
    --workers 2 \
    --no-color || conformance=$?
# Every operation must have been answered 2xx at least once.
python3 - openapi.yaml "$work/statuses" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
ops = {op["operationId"] for item in doc["paths"].values() for m, op in item.items() if m in ("get", "post")}
seen = {}
for line in open(sys.argv[2]):
    op, status = line.split()
    seen.setdefault(op, []).append(int(status))
ok = sorted(op for op in ops if any(200 <= s < 300 for s in seen.get(op, [])))
missing = sorted(ops - set(ok))
print(f"operations answered 2xx: {len(ok)} of {len(ops)}; calls recorded: {sum(map(len, seen.values()))}")
if missing:
    print("never answered 2xx: " + ", ".join(f"{op} {sorted(set(seen.get(op, [])))}" for op in missing), file=sys.stderr)
    sys.exit(1)
PY
if [ "${conformance:-0}" -ne 0 ]; then
    echo "schemathesis reported failures" >&2
    exit 1
fi
if ! kill -0 "$server" 2>/dev/null; then
    echo "the server died during the conformance run" >&2
    tail -20 "$work/server.log" >&2
    exit 1
fi
if grep -q 'panicked' "$work/server.log"; then
    echo "the server panicked during the conformance run" >&2
    grep -A5 panicked "$work/server.log" >&2
    exit 1
fi

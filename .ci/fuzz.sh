#!/usr/bin/env bash
# Fuzzing: every cargo-fuzz target in fuzz/ for FUZZ_SECONDS each (default 45,
# the CI setting; the long run in docs/threat-model.md uses 3600), seeded from
# spec/vectors. Fails on any crash, panic or failed assertion; libFuzzer
# writes the input to fuzz/artifacts/<target>/, and a fixed crash becomes a
# test. Builds without sanitizers (`-s none`): the toolchain is stable, and
# the code under test forbids `unsafe`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-45}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
python3 - <<'PY'
import base64, json, os, pathlib
root = pathlib.Path("fuzz/corpus")
def seed(target, name, data):
    d = root / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data if isinstance(data, bytes) else data.encode())
log = json.load(open("spec/vectors/log.json"))
for i, e in enumerate(log["entries_b64"]):
    seed("tlog_proof", f"entry-{i}", base64.b64decode(e))
for i, c in enumerate(log["checkpoints"]):
    seed("note", f"checkpoint-{i}", c["note"])
    seed("note", f"vkey-{i}", c["verifier_key"])
for i, s in enumerate(log.get("payout_statements", [])):
    seed("envelope", f"payout-{i}", json.dumps(s["envelope"]))
for i, v in enumerate(json.load(open("spec/vectors/statements.json"))["vectors"]):
    env = {"payloadType": v["payload_type"], "payload": v["payload_b64"],
           "signatures": [{"keyid": "ed25519:" + v["public_key_hex"], "sig": v["signature_b64"]}]}
    seed("envelope", f"statement-{i}", json.dumps(env))
for i, r in enumerate(json.load(open("spec/vectors/receipts.json"))["checks"]):
    seed("envelope", f"receipt-{i}", json.dumps(r["receipt"]))
    hashes = r.get("hashes", [])
    seed("readers", f"ndjson-{i}", "\x10" + "".join(json.dumps(h) + "\n" for h in hashes))
    seed("hash", f"hash-{i}", hashes[0] if hashes else "blake3:" + "0" * 64)
seed("readers", "csv", "\x07artist,timestamp\nana,2022-08-22T10:00:00Z\nben,2022-09-01\n")
seed("readers", "manifest", "\x03path,hash\na.png,blake3:" + "1" * 64 + "\n")
xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       '<rdf:Description xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/" xmlns:tdm="http://www.w3.org/ns/tdmrep/" '
       'plus:DataMining="http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED" tdm:reservation="1" tdm:policy="https://a.example/p">'
       '<plus:DataMining rdf:resource="DMI-ALLOWED"/></rdf:Description></rdf:RDF></x:xmpmeta>')
seed("signals", "xmp", "\xff\xd8" + xmp + xmp)
PY
for target in $(ls fuzz/fuzz_targets | sed 's/\.rs$//'); do
    echo "== fuzz $target for ${seconds} s"
    log=$(mktemp)
    if ! cargo fuzz run -s none "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        tail -40 "$log" >&2
        echo "fuzz target $target failed" >&2
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units)' "$log" || tail -3 "$log"
    rm -f "$log"
done

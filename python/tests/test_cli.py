"""``python -m consentry`` as a subprocess against a live registry (each
test runs once per backend): check, filter and verify-receipt on folders,
parquet files and webdataset shards; its reports are checked by this
package and by the Rust ``consentry verify-receipt``.

The works are the ``corpus`` fixture's (conftest.py): two opted in, two opted out,
two never registered, and a resized JPEG copy of an opted-out work.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import webdataset as wds
from conftest import CREDIT, NAMES, OPT_IN, UNREGISTERED, Corpus, encode, free_port
from PIL import Image

import consentry
import consentry.receipt
from consentry.__main__ import REPORT_FIELDS



def run(*args: str, cwd: Path, url: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m consentry ARGS`` in ``cwd``; the registry's URL through
    ``CONSENTRY_URL`` when given."""
    environ = {k: v for k, v in os.environ.items() if k != "CONSENTRY_URL"}
    if url is not None:
        environ["CONSENTRY_URL"] = url
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "consentry", *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=600)


def ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def failed(r: subprocess.CompletedProcess, code: int = 1) -> str:
    """The error line of a run that failed with ``code``: the last line on
    stderr, one line, no traceback."""
    assert r.returncode == code, f"exit {r.returncode}, not {code}\n{r.stdout}\n{r.stderr}"
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    if code == 1:
        assert lines[-1].startswith("consentry: error: "), r.stderr
        assert sum("error" in line for line in lines) == 1, r.stderr
    return lines[-1]


def key_args(corpus: Corpus) -> list[str]:
    return ["--purpose", "train-genai", "--key", str(corpus.builder.key_file)]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_check_folder_report_receipt_and_verify(corpus, server, tmp_path):
    out = ok(run("check", "works", *key_args(corpus), "--report", "report.jsonl", "--receipt", "check.json",
                 cwd=tmp_path, url=server.url))
    log = consentry.receipt.parse_verifier_key(corpus.builder.verifier_key).name
    lines = out.splitlines()
    assert re.fullmatch(rf"7 works for train-genai: 2 allowed, 3 disallowed, 2 unknown \(unknown: dropped\); "
                        rf"checkpoint \d+ of {re.escape(log)}", lines[0]), out
    assert re.fullmatch(r"matched 4 exactly and 1 as near copies; near means an image code within \d+ of 64 bits",
                        lines[1]), out
    assert lines[-1] == f"receipt signed by {log} kept in check.json"
    rows = read_jsonl(tmp_path / "report.jsonl")
    assert [r["label"] for r in rows] == sorted(p.name for p in corpus.files.values())
    by_name = {Path(r["path"]).stem: r for r in rows}
    assert all(r["path"] == f"works/{corpus.files[n].name}" for n, r in by_name.items())
    assert {n for n, r in by_name.items() if r["status"] == "allowed"} == set(OPT_IN)
    assert by_name["copy"]["status"] == "disallowed" and by_name["copy"]["match"] == "near"
    assert by_name["copy"]["matched_hash"] == corpus.hash("out1") and by_name["copy"]["distance"] is not None
    assert by_name["in1"]["terms"] == [{"artist_id": by_name["in1"]["claimants"][0],
                                        "terms": [{"kind": "attribution", "credit": CREDIT}]}]
    assert all(r["fingerprints"] for r in rows)
    receipt = json.loads((tmp_path / "check.json").read_text())
    assert consentry.verify_receipt(receipt, corpus.builder.verifier_key, answers=rows).hash_count == 7
    # The receipt and report verify with this CLI and with the Rust one.
    key = corpus.builder.verifier_key
    out = ok(run("verify-receipt", "check.json", "--verifier-key", key, "--answers", "report.jsonl", cwd=tmp_path))
    assert "ok: the 7 answers match the receipt (2 allowed, 3 disallowed, 2 unknown)" in out
    server.cli("verify-receipt", str(tmp_path / "check.json"), "--verifier-key", key,
               "--answers", str(tmp_path / "report.jsonl"))
    # An altered answer is caught.
    rows[0]["status"] = "unknown" if rows[0]["status"] != "unknown" else "allowed"
    (tmp_path / "altered.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    line = failed(run("verify-receipt", "check.json", "--verifier-key", key, "--answers", "altered.jsonl",
                      cwd=tmp_path))
    assert "the answers are not the ones the receipt signs" in line
    (tmp_path / "key.txt").write_text(key + "\n")  # the key from a file
    ok(run("verify-receipt", "check.json", "--verifier-key", "key.txt", cwd=tmp_path))


def test_check_exact_csv_unknown_allowed_and_as_of(corpus, server, tmp_path):
    out = ok(run("check", "works", *key_args(corpus), "--exact", "--unknown", "allow", "--report", "r.csv",
                 "--registry", server.url, "--receipt", "exact.json", cwd=tmp_path))
    # By hash alone the re-encoded copy is a work nobody registered.
    assert out.startswith("7 works for train-genai: 2 allowed, 2 disallowed, 3 unknown (unknown: kept);")
    assert "matched" not in out
    assert consentry.verify_receipt(json.loads((tmp_path / "exact.json").read_text()),
                                    corpus.builder.verifier_key).version == 1
    header = (tmp_path / "r.csv").read_text().splitlines()[0]
    assert header.split(",") == list(REPORT_FIELDS)
    server.cli("verify-receipt", str(tmp_path / "exact.json"), "--verifier-key", corpus.builder.verifier_key,
               "--answers", str(tmp_path / "r.csv"))
    ok(run("verify-receipt", "exact.json", "--verifier-key", corpus.builder.verifier_key, "--answers", "r.csv",
           cwd=tmp_path))
    # As of an instant before anything was registered, nothing is known.
    out = ok(run("check", "works", *key_args(corpus), "--as-of", "2001-01-01T00:00:00Z", "--receipt", "then.json",
                 cwd=tmp_path, url=server.url))
    assert out.startswith("7 works for train-genai as of 2001-01-01T00:00:00Z: 0 allowed, 0 disallowed, 7 unknown")
    receipt = consentry.verify_receipt(json.loads((tmp_path / "then.json").read_text()),
                                       corpus.builder.verifier_key, as_of="2001-01-01T00:00:00Z")
    assert receipt.counts.unknown == 7


def test_filter_folder(corpus, server, tmp_path):
    out = ok(run("filter", "works", *key_args(corpus), "--out", "kept", cwd=tmp_path, url=server.url))
    assert "kept 2 of 7 works (5 dropped) in kept (2 files written)" in out
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["in1.png", "in2.png"]
    assert (tmp_path / "kept" / "in1.png").read_bytes() == corpus.files["in1"].read_bytes()
    # Without --receipt, a new receipt file named after the time.
    (receipt,) = tmp_path.glob("consentry-check-*.receipt.json")
    consentry.verify_receipt(json.loads(receipt.read_text()), corpus.builder.verifier_key)
    # Never replaces a file, and says so before checking anything.
    line = failed(run("filter", "works", *key_args(corpus), "--out", "kept", cwd=tmp_path, url=server.url))
    assert "exists" in line and len(list(tmp_path.glob("consentry-check-*"))) == 1
    ok(run("filter", "works", *key_args(corpus), "--unknown", "allow", "--out", "more", cwd=tmp_path,
           url=server.url))
    assert {p.stem for p in (tmp_path / "more").iterdir()} == {*OPT_IN, *UNREGISTERED}
    line = failed(run("filter", "works", *key_args(corpus), "--out", "works/sub", cwd=tmp_path, url=server.url))
    assert "inside the input folder" in line


def test_parquet_columns(corpus, server, tmp_path):
    names = list(NAMES)
    pq.write_table(pa.table({"hash": [corpus.hash(n) for n in names], "name": names}), tmp_path / "hashes.parquet")
    pq.write_table(pa.table({"path": [f"works/{corpus.files[n].name}" for n in names], "name": names}),
                   tmp_path / "paths.parquet")
    pq.write_table(pa.table({"file": [str(corpus.files[n]) for n in names] + [None], "name": names + ["none"]}),
                   tmp_path / "files.parquet")
    hf = datasets.Dataset.from_dict({"image": [str(corpus.files[n]) for n in names], "name": names},
                                    features=datasets.Features({"image": datasets.Image(),
                                                                "name": datasets.Value("string")}))
    hf.to_parquet(str(tmp_path / "hf.parquet"))
    assert pq.read_schema(tmp_path / "hf.parquet").field("image").type.num_fields == 2  # {bytes, path}

    out = ok(run("check", "hashes.parquet", *key_args(corpus), cwd=tmp_path, url=server.url))
    assert out.startswith("7 works for train-genai: 2 allowed, 2 disallowed, 3 unknown")
    out = ok(run("filter", "paths.parquet", "hf.parquet", *key_args(corpus), "--out", "kept", "--report", "r.jsonl",
                 cwd=tmp_path, url=server.url))
    assert "kept 4 of 14 works (10 dropped) in kept (2 files written)" in out
    for name in ("paths", "hf"):
        kept = pq.read_table(tmp_path / "kept" / f"{name}.parquet")
        assert kept.column("name").to_pylist() == list(OPT_IN)
        assert kept.schema == pq.read_schema(tmp_path / f"{name}.parquet")
    labels = [r["label"] for r in read_jsonl(tmp_path / "r.jsonl")]
    assert labels[:2] == ["paths.parquet:0", "paths.parquet:1"] and labels[-1] == "hf.parquet:6"
    out = ok(run("filter", "files.parquet", *key_args(corpus), "--column", "file", "--out", "kept2",
                 cwd=tmp_path, url=server.url))
    assert "1 row without a value was skipped (not checked, not kept)" in out
    assert pq.read_table(tmp_path / "kept2" / "files.parquet").column("name").to_pylist() == list(OPT_IN)
    line = failed(run("check", "files.parquet", *key_args(corpus), cwd=tmp_path, url=server.url))
    assert "--column" in line


def img2dataset_shards(corpus: Corpus, folder: Path) -> None:
    """Two shards in img2dataset's layout (``KEY.jpg``, ``KEY.json``,
    ``KEY.txt``; a parquet of every row with ``key`` and ``status``)."""
    folder.mkdir()
    for shard_id, shard_names in enumerate((NAMES[:4], NAMES[4:])):
        rows = []
        with wds.TarWriter(str(folder / f"{shard_id:05d}.tar")) as sink:
            for i, name in enumerate(shard_names):
                key = f"{shard_id * 10000 + i:09d}"
                with Image.open(corpus.files[name]) as im:
                    jpg = encode(im.convert("RGB"), "JPEG", quality=95)
                meta = {"caption": name, "url": f"http://127.0.0.1:1/{name}", "key": key, "status": "success"}
                sink.write({"__key__": key, "jpg": jpg, "txt": name, "json": json.dumps(meta, indent=4)})
                rows.append(meta)
        rows.append({"caption": "gone", "url": "http://127.0.0.1:1/gone", "key": f"{shard_id * 10000 + 9:09d}",
                     "status": "failed_to_download"})
        pq.write_table(pa.Table.from_pylist(rows), folder / f"{shard_id:05d}.parquet")


def test_tar_shards(corpus, server, tmp_path):
    img2dataset_shards(corpus, tmp_path / "i2d")
    shards = [f"i2d/{n}" for n in ("00000.tar", "00001.tar")]
    out = ok(run("filter", *shards, *key_args(corpus), "--out", "kept", "--report", "r.csv", "--receipt", "r.json",
                 cwd=tmp_path, url=server.url))
    # Every image is re-encoded: near matching finds the registered ones.
    assert out.startswith("7 works for train-genai: 2 allowed, 3 disallowed, 2 unknown")
    assert "matched 0 exactly and 5 as near copies" in out
    assert "kept 2 of 7 works (5 dropped) in kept (4 files written)" in out
    kept_names = []
    for shard in ("00000", "00001"):
        with tarfile.open(tmp_path / "kept" / f"{shard}.tar") as t:
            members = t.getnames()
            kept_names += [t.extractfile(m).read().decode() for m in members if m.endswith(".txt")]
        keys = sorted({m.split(".")[0] for m in members})
        rows = pq.read_table(tmp_path / "kept" / f"{shard}.parquet").to_pylist()
        assert [r["key"] for r in rows] == keys and all(r["status"] == "success" for r in rows)
    assert sorted(kept_names) == list(OPT_IN)
    server.cli("verify-receipt", str(tmp_path / "r.json"), "--verifier-key", corpus.builder.verifier_key,
               "--answers", str(tmp_path / "r.csv"))
    # A shard of samples without an image: each sample's first member is its work.
    with wds.TarWriter(str(tmp_path / "texts.tar")) as sink:
        sink.write({"__key__": "a", "txt": "hello"})
        sink.write({"__key__": "b", "txt": "world"})
    out = ok(run("check", "texts.tar", *key_args(corpus), cwd=tmp_path, url=server.url))
    assert out.startswith("2 works for train-genai: 0 allowed, 0 disallowed, 2 unknown")


def test_errors_and_exit_codes(corpus, server, tmp_path, artist):
    args = ["check", "works", *key_args(corpus)]
    line = failed(run(*args, "--registry", f"http://127.0.0.1:{free_port()}", cwd=tmp_path))
    assert "cannot reach the registry" in line
    line = failed(run("check", "works", "--purpose", "train-genai", "--key", "nope.key", cwd=tmp_path,
                      url=server.url))
    assert "nope.key" in line
    # An artist's key is not a dataset builder's: said before any work is read.
    line = failed(run("check", "works", "--purpose", "train-genai", "--key", str(artist.key_file), cwd=tmp_path,
                      url=server.url))
    assert "is an artist's, not a dataset builder's" in line
    failed(run(*args, "--as-of", "yesterday", cwd=tmp_path, url=server.url))
    line = failed(run("check", "nothing-here", *key_args(corpus), cwd=tmp_path, url=server.url))
    assert "nothing-here does not exist" in line
    (tmp_path / "a.tar").write_bytes(b"")
    pq.write_table(pa.table({"hash": [corpus.hash("in1")]}), tmp_path / "a.parquet")
    line = failed(run("check", "a.tar", "a.parquet", *key_args(corpus), cwd=tmp_path, url=server.url))
    assert "not both" in line
    line = failed(run("verify-receipt", "a.parquet", "--verifier-key", corpus.builder.verifier_key, cwd=tmp_path))
    assert "holds no check receipt" in line
    # Usage errors: exit code 2.
    failed(run(*args, cwd=tmp_path), code=2)  # no registry URL
    failed(run("check", "works", "--purpose", "paint", cwd=tmp_path, url=server.url), code=2)
    failed(run(*args, "--report", "r.txt", cwd=tmp_path, url=server.url), code=2)
    failed(run("filter", "works", *key_args(corpus), cwd=tmp_path, url=server.url), code=2)  # no --out
    failed(run(cwd=tmp_path), code=2)
    assert not list(tmp_path.glob("consentry-check-*")), "no receipt is written by a run that failed"

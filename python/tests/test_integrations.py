"""The integrations against a live registry (each test runs once per
backend): Hugging Face ``datasets``, ``webdataset``, img2dataset output
folders and ``datadiligence``, with the real libraries.

Every test registers works of its own as an artist: two opted in (one with
an attribution term), two opted out, two never registered, and a resized,
re-encoded JPEG copy of an opted-out work that near matching must catch.
For ``train-genai`` the default keeps only the opted-in works.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import math
import tarfile
import threading
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
import webdataset as wds
from conftest import CREDIT, NAMES, OPT_IN, OPT_OUT, UNREGISTERED, Corpus, encode
from PIL import Image

import consentry
from consentry.integrations import hf
from consentry.integrations import webdataset as cwds
from consentry.integrations.datadiligence import ConsentryBulkRule, ConsentryRule
from consentry.integrations.img2dataset import filter_shards, read_samples, split_member_name

datasets.disable_progress_bars()



def verify_all(receipts, registry: consentry.Registry, count: int) -> list:
    """Every receipt verifies against the registry's log key; returns the
    parsed receipts, whose item counts add up to ``count``."""
    verified = [consentry.verify_receipt(r, registry.verifier_key) for r in receipts]
    assert sum(v.hash_count for v in verified) == count
    assert all(v.purpose == "train-genai" for v in verified)
    return verified


# ---------------------------------------------------------------- datasets


def image_dataset(corpus: Corpus, decode: bool = True) -> datasets.Dataset:
    """The corpus as an ``Image`` column holding each file's bytes (as
    datasets from the Hub or from parquet do), decoded or not."""
    images = [{"bytes": corpus.data(n), "path": corpus.files[n].name} for n in NAMES]
    return datasets.Dataset.from_dict(
        {"image": images, "name": list(NAMES)},
        features=datasets.Features({"image": datasets.Image(decode=decode), "name": datasets.Value("string")}),
    )


def test_hf_filter_decoded_images(corpus):
    ds = image_dataset(corpus)
    receipts: list = []
    f = hf.consent_filter(corpus.builder, "train-genai", receipts=receipts)
    kept = ds.filter(f, batched=True, batch_size=3)
    assert set(kept["name"]) == corpus.kept()
    # Decoded images have no file bytes: the copy and the originals are
    # found by their image codes.
    assert f.counts == {"allowed": 2, "disallowed": 3, "unknown": 2}
    assert len(receipts) == math.ceil(len(NAMES) / 3) == f.checks
    verified = verify_all(receipts, corpus.builder, len(NAMES))
    assert all(v.version == 2 for v in verified)


def test_hf_filter_undecoded_structs_unknown_allowed_receipts_dir(corpus, tmp_path):
    ds = image_dataset(corpus, decode=False)
    assert isinstance(ds[0]["image"], dict) and ds[0]["image"]["bytes"] is not None
    out = tmp_path / "receipts"
    kept = ds.filter(hf.consent_filter(corpus.builder, "train-genai", unknown=True, receipts=out),
                     batched=True, batch_size=4)
    assert set(kept["name"]) == corpus.kept(unknown=True)
    files = sorted(out.glob("*.receipt.json"))
    assert len(files) == 2
    verify_all([json.loads(p.read_text()) for p in files], corpus.builder, len(NAMES))
    # Local files are {"bytes": None, "path": ...}: read from the path.
    local = datasets.Dataset.from_dict({"image": [str(corpus.files[n]) for n in NAMES], "name": list(NAMES)},
                                       features=datasets.Features({"image": datasets.Image(decode=False),
                                                                   "name": datasets.Value("string")}))
    assert local[0]["image"] == {"bytes": None, "path": str(corpus.files["in1"])}
    kept = local.filter(hf.consent_filter(corpus.builder, "train-genai"), batched=True)
    assert set(kept["name"]) == corpus.kept()


def test_hf_filter_paths_and_hashes(corpus):
    paths = datasets.Dataset.from_dict({"file": [str(corpus.files[n]) for n in NAMES], "name": list(NAMES)})
    kept = paths.filter(hf.consent_filter(corpus.builder, "train-genai", column="file"), batched=True)
    assert set(kept["name"]) == corpus.kept()
    # Hashes are exact: the re-encoded copy is a work the registry does
    # not know, kept when unknown works are.
    hashes = datasets.Dataset.from_dict({"hash": [corpus.hash(n) for n in NAMES], "name": list(NAMES)})
    kept = hashes.filter(hf.consent_filter(corpus.builder, "train-genai", column="hash", unknown=True),
                         batched=True)
    assert set(kept["name"]) == corpus.kept(unknown=True) | {"copy"}
    # Unbatched, and through input_columns, it works the same.
    kept = paths.filter(hf.consent_filter(corpus.builder, "train-genai", column="file"), input_columns="file")
    assert set(kept["name"]) == corpus.kept()


def test_hf_filter_num_proc(corpus, tmp_path):
    ds = image_dataset(corpus, decode=False)
    out = tmp_path / "receipts"
    f = hf.consent_filter(corpus.builder, "train-genai", receipts=out)
    kept = ds.filter(f, batched=True, batch_size=2, num_proc=2)
    assert set(kept["name"]) == corpus.kept()
    files = list(out.glob("*.receipt.json"))
    assert len(files) == 4  # rows 0-3 and 4-6 in two processes, two rows a check
    assert len({p.name.split("-")[2] for p in files}) == 2  # written by two processes (pid in the name)
    verify_all([json.loads(p.read_text()) for p in files], corpus.builder, len(NAMES))
    # A list cannot collect receipts from worker processes: refused, not lost.
    with pytest.raises(Exception, match="directory path"):
        ds.filter(hf.consent_filter(corpus.builder, "train-genai", receipts=[]), batched=True, batch_size=2,
                  num_proc=2)


def test_hf_filter_pickles_with_its_registry(corpus):
    import pickle

    f = pickle.loads(pickle.dumps(hf.consent_filter(corpus.builder, "train-genai", unknown=True)))
    answers = f.check([corpus.data(n) for n in NAMES])
    assert [a.permits(True) for a in answers] == [n in corpus.kept(unknown=True) for n in NAMES]
    # Called with one example (what an unbatched filter passes), one answer.
    assert f({"image": corpus.data("in1")}) is True and f({"image": corpus.data("out1")}) is False
    # Each filter has a fingerprint of its own: no cached result is reused.
    from datasets.fingerprint import Hasher

    a = hf.consent_filter(corpus.builder, "train-genai")
    b = hf.consent_filter(corpus.builder, "train-genai")
    assert Hasher.hash(a) != Hasher.hash(b)


def test_hf_errors_are_never_allowed(corpus, server):
    from conftest import free_port

    down = consentry.Registry(f"http://127.0.0.1:{free_port()}", key=corpus.builder.key)
    ds = image_dataset(corpus, decode=False)
    with pytest.raises(consentry.RegistryUnreachable):
        ds.filter(hf.consent_filter(down, "train-genai"), batched=True)
    # A value that is no work is an error, not a dropped (or kept) row.
    nothing = datasets.Dataset.from_dict({"image": [str(corpus.files["in1"]), "no/such/file.png"]})
    with pytest.raises(consentry.ItemError, match="no/such/file.png"):
        nothing.filter(hf.consent_filter(corpus.builder, "train-genai"), batched=True)


def test_add_consent_columns(corpus):
    ds = image_dataset(corpus)
    receipts: list = []
    out = hf.add_consent_columns(ds, corpus.builder, "train-genai", receipts=receipts)
    assert len(out) == len(ds)
    assert out.features["image"] == datasets.Image()  # the dataset's own columns are unchanged
    rows = {r["name"]: r for r in out.remove_columns("image")}
    for name in OPT_IN:
        r = rows[name]
        assert (r["consent_status"], r["consent_match"], r["consent_distance"]) == ("allowed", "exact", 0)
        assert r["consent_keep"] and r["consent_hash"] == corpus.hash(name)
        assert r["consent_claimants"] == [corpus.artist_id] and len(r["consent_statements"]) == 1
        assert json.loads(r["consent_terms"]) == [
            {"artist_id": corpus.artist_id, "terms": [{"kind": "attribution", "credit": CREDIT}]}]
    for name in OPT_OUT:
        assert (rows[name]["consent_status"], rows[name]["consent_match"]) == ("disallowed", "exact")
    copy = rows["copy"]
    assert (copy["consent_status"], copy["consent_match"], copy["consent_keep"]) == ("disallowed", "near", False)
    assert copy["consent_distance"] is not None and copy["consent_claimants"] == [corpus.artist_id]
    for name in UNREGISTERED:
        r = rows[name]
        assert (r["consent_status"], r["consent_match"], r["consent_distance"]) == ("unknown", None, None)
        assert r["consent_claimants"] == [] and json.loads(r["consent_terms"]) == [] and not r["consent_keep"]
    (receipt,) = receipts
    v = consentry.verify_receipt(receipt, corpus.builder.verifier_key)
    assert (v.hash_count, v.counts.allowed, v.counts.disallowed, v.counts.unknown) == (7, 2, 3, 2)
    assert (v.matched.exact, v.matched.near) == (4, 1)
    with pytest.raises(ValueError, match="consent_status"):
        hf.add_consent_columns(out, corpus.builder, "train-genai")


# -------------------------------------------------------------- webdataset


def write_shards(corpus: Corpus, folder: Path, per_shard: int = 4, extra: dict | None = None) -> list[str]:
    """Webdataset shards of the corpus: ``KEY.png``/``KEY.jpg``, ``KEY.txt``,
    ``KEY.json`` per sample, keys ``sample-<name>``."""
    folder.mkdir(exist_ok=True)
    urls = []
    for start in range(0, len(NAMES), per_shard):
        path = folder / f"shard-{start // per_shard:05d}.tar"
        with wds.TarWriter(str(path)) as sink:
            for name in NAMES[start:start + per_shard]:
                ext = corpus.files[name].suffix.lstrip(".")
                sink.write({"__key__": f"sample-{name}", ext: corpus.data(name), "txt": f"a picture, {name}",
                            "json": {"name": name}})
            for key, sample in (extra or {}).items():
                if start == 0:
                    sink.write({"__key__": key, **sample})
        urls.append(str(path))
    return urls


def test_webdataset_compose(corpus, tmp_path):
    urls = write_shards(corpus, tmp_path / "shards")
    receipts: list = []
    stage = cwds.consent_filter(corpus.builder, "train-genai", batch_size=3, receipts=receipts)
    ds = wds.WebDataset(urls, shardshuffle=False).compose(stage).decode("pil")
    samples = list(ds)
    assert {s["__key__"].removeprefix("sample-") for s in samples} == corpus.kept()
    assert all(isinstance(s.get("png"), Image.Image) for s in samples)
    assert stage.counts == {"allowed": 2, "disallowed": 3, "unknown": 2}
    assert len(receipts) == 3
    verify_all(receipts, corpus.builder, len(NAMES))


def test_webdataset_datapipeline(corpus, tmp_path):
    urls = write_shards(corpus, tmp_path / "shards", per_shard=2)
    stage = cwds.consent_filter(corpus.builder, "train-genai", unknown=True)
    pipeline = wds.DataPipeline(wds.SimpleShardList(urls), wds.tarfile_to_samples(), stage,
                                wds.decode("pil"), wds.to_tuple("__key__", "txt"))
    keys = {key.removeprefix("sample-") for key, _ in pipeline}
    assert keys == corpus.kept(unknown=True)
    assert stage.checks == 1


def test_webdataset_sample_without_image_is_an_error(corpus, tmp_path):
    urls = write_shards(corpus, tmp_path / "shards", extra={"caption-only": {"txt": "no picture"}})
    stage = cwds.consent_filter(corpus.builder, "train-genai")
    with pytest.raises(consentry.ItemError, match=r"caption-only.*no image member.*members: txt"):
        list(wds.WebDataset(urls, shardshuffle=False).compose(stage))
    # Decoded to arrays before the stage: refused with the fix named.
    decoded = wds.WebDataset(urls[:1], shardshuffle=False).decode("rgb8").compose(stage)
    with pytest.raises(consentry.ItemError, match=r"before \.decode\(\)"):
        list(decoded)


# ------------------------------------------------------------- img2dataset


def img2dataset_output(corpus: Corpus, folder: Path, urls: dict[str, str]) -> None:
    """An img2dataset output folder as ``img2dataset --output_format
    webdataset --input_format tsv`` (1.47) writes it, which is checked
    against a real run: per shard ``NNNNN.tar`` with ``KEY.jpg``,
    ``KEY.json`` (the row's metadata) and ``KEY.txt`` per image downloaded
    (keys of 9 digits, shard id then row), ``NNNNN.parquet`` with every row
    (failed downloads included) and ``NNNNN_stats.json``. Images are
    re-encoded as 256x256 JPEG with a black border, as its default resizer
    does, so only near matching finds the registered works among them."""
    folder.mkdir()
    names = [*NAMES, "missing"]
    schema = pa.schema([("caption", pa.string()), ("url", pa.string()), ("key", pa.string()),
                        ("status", pa.string()), ("error_message", pa.string()), ("width", pa.int32()),
                        ("height", pa.int32()), ("original_width", pa.int32()), ("original_height", pa.int32()),
                        ("exif", pa.string()), ("sha256", pa.string())])
    for shard_id, shard_names in enumerate((names[:5], names[5:])):
        rows = []
        with wds.TarWriter(str(folder / f"{shard_id:05d}.tar")) as sink:
            for i, name in enumerate(shard_names):
                meta = {"caption": f"a picture, {name}", "url": urls[name], "key": f"{shard_id * 10000 + i:09d}",
                        "status": "success", "error_message": None, "width": None, "height": None,
                        "original_width": None, "original_height": None, "exif": None, "sha256": None}
                if name == "missing":
                    meta.update(status="failed_to_download", error_message="HTTP Error 404: File not found")
                    rows.append(meta)
                    continue
                with Image.open(corpus.files[name]) as im:
                    w, h = im.size
                    small = im.convert("RGB").resize((256, round(256 * h / w)))
                canvas = Image.new("RGB", (256, 256), (0, 0, 0))
                canvas.paste(small, (0, (256 - small.size[1]) // 2))
                jpg = encode(canvas, "JPEG", quality=95)
                meta.update(width=256, height=256, original_width=w, original_height=h, exif="{}",
                            sha256=hashlib.sha256(jpg).hexdigest())
                sink.write({"__key__": meta["key"], "jpg": jpg, "txt": meta["caption"],
                            "json": json.dumps(meta, indent=4)})
                rows.append(meta)
        pq.write_table(pa.Table.from_pylist(rows, schema), folder / f"{shard_id:05d}.parquet")
        ok = sum(r["status"] == "success" for r in rows)
        (folder / f"{shard_id:05d}_stats.json").write_text(json.dumps({
            "count": len(rows), "successes": ok, "failed_to_download": len(rows) - ok, "failed_to_resize": 0,
            "duration": 0.1, "start_time": 0.0, "end_time": 0.1, "status_dict": {"success": ok}}, indent=4))


def test_img2dataset_filter_shards(corpus, tmp_path):
    urls = {name: f"http://127.0.0.1:1/{name}" for name in [*NAMES, "missing"]}
    src = tmp_path / "i2d"
    img2dataset_output(corpus, src, urls)
    out = tmp_path / "kept"
    summary = filter_shards(src, corpus.builder, "train-genai", out_dir=out)
    assert (summary.samples, summary.kept, summary.dropped) == (7, 2, 5)
    assert summary.counts == {"allowed": 2, "disallowed": 3, "unknown": 2}
    assert "kept 2 of 7 samples for train-genai" in str(summary)
    kept_urls = set()
    for shard in summary.shards:
        stem = shard.shard.name.removesuffix(".tar")
        assert shard.tar == out / f"{stem}.tar" and shard.receipt == out / f"{stem}.receipt.json"
        # The kept samples, every member byte for byte.
        keys = [s.key for s in read_samples(shard.tar)]
        with tarfile.open(shard.tar) as t, tarfile.open(shard.shard) as orig:
            names = t.getnames()
            assert names == [m for m in orig.getnames() if split_member_name(m)[0] in keys]
            for m in names:
                assert t.extractfile(m).read() == orig.extractfile(m).read()
        table = pq.read_table(shard.parquet)
        assert table.schema == pq.read_table(shard.shard.with_suffix(".parquet")).schema
        assert table.column("key").to_pylist() == keys and shard.rows == len(keys)
        kept_urls |= set(table.column("url").to_pylist())
        # The report: one line per sample, checkable against the receipt.
        lines = [json.loads(line) for line in shard.report.read_text().splitlines()]
        assert [line["key"] for line in lines if line["kept"]] == keys
        assert all(line["match"] == "near" or line["status"] == "unknown" for line in lines)
        v = consentry.verify_receipt(json.loads(shard.receipt.read_text()), corpus.builder.verifier_key,
                                     answers=lines)
        assert v.hash_count == shard.samples == len(lines)
    assert kept_urls == {urls[n] for n in corpus.kept()}
    # Nothing is overwritten unless asked.
    with pytest.raises(FileExistsError):
        filter_shards(src, corpus.builder, "train-genai", out_dir=out)
    again = filter_shards(src, corpus.builder, "train-genai", out_dir=out, unknown=True, overwrite=True)
    assert again.kept == 4


# ----------------------------------------------------------- datadiligence


@pytest.fixture
def web(corpus):
    """The corpus served over HTTP on 127.0.0.1: ``web[name]`` is a URL."""
    handler = functools.partial(_QuietHandler, directory=str(corpus.dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield {name: f"{base}/{path.name}" for name, path in corpus.files.items()} | {"missing": f"{base}/missing.png"}
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.img2dataset
def test_img2dataset_real_run(corpus, web, tmp_path):
    """img2dataset itself downloads the works from a local server and
    writes its shards, which are then filtered (run where img2dataset is
    installed: it pins webdataset<0.3, so it is not in requirements.txt;
    `.ci/run` runs it in a venv of its own, requirements-img2dataset.txt)."""
    import os
    import subprocess
    import sys

    rows = [(web[name], f"a picture, {name}") for name in [*NAMES, "missing"]]
    (tmp_path / "urls.tsv").write_text("url\tcaption\n" + "".join(f"{u}\t{c}\n" for u, c in rows))
    (tmp_path / "run.py").write_text(
        "from img2dataset import download\n"
        "if __name__ == '__main__':\n"
        "    download(url_list='urls.tsv', input_format='tsv', url_col='url', caption_col='caption',\n"
        "             output_folder='i2d', output_format='webdataset', processes_count=1, thread_count=4,\n"
        "             image_size=256, number_sample_per_shard=5, enable_wandb=False)\n")
    env = dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1")
    r = subprocess.run([sys.executable, "run.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    src = tmp_path / "i2d"
    assert sorted(p.name for p in src.iterdir()) == [
        "00000.parquet", "00000.tar", "00000_stats.json", "00001.parquet", "00001.tar", "00001_stats.json"]
    summary = filter_shards(src, corpus.builder, "train-genai", out_dir=tmp_path / "kept")
    assert (summary.samples, summary.kept) == (7, 2)
    assert summary.counts == {"allowed": 2, "disallowed": 3, "unknown": 2}
    kept_urls = set()
    for shard in summary.shards:
        kept_urls |= set(pq.read_table(shard.parquet).column("url").to_pylist())
        lines = [json.loads(line) for line in shard.report.read_text().splitlines()]
        consentry.verify_receipt(json.loads(shard.receipt.read_text()), corpus.builder.verifier_key, answers=lines)
    assert kept_urls == {web[n] for n in corpus.kept()}


def test_datadiligence_rule_in_an_evaluator(corpus, web):
    import datadiligence as dd

    # A user's evaluator, as the package's documentation builds one.
    evaluator = dd.HttpEvaluator()
    evaluator.add_rule(ConsentryRule(corpus.builder, "train-genai"))
    allowed = {name: evaluator.is_allowed(url=web[name]) for name in NAMES}
    assert {n for n, ok in allowed.items() if ok} == corpus.kept()
    # The rule takes what the other rules take: a response, a body, a path.
    response = requests.get(web["out1"], timeout=10)
    assert evaluator.is_allowed(response=response) is False
    rule = ConsentryRule(corpus.builder, "train-genai", unknown=True, receipts=[])
    assert rule.is_allowed(body=corpus.data("unk1")) and rule.is_allowed(path=str(corpus.files["in2"]))
    assert not rule.is_allowed(body=corpus.data("copy"))
    answer = rule.answer(url=web["in1"])
    assert answer.terms == [{"artist_id": corpus.artist_id, "terms": [{"kind": "attribution", "credit": CREDIT}]}]
    verify_all(rule._checks.sink.target, corpus.builder, 4)
    # What it cannot check raises: it never answers "allowed" by default.
    with pytest.raises(consentry.ConsentryError, match="headers alone"):
        rule.is_allowed(headers={"Content-Type": "image/png"})
    with pytest.raises(consentry.ConsentryError, match="HTTP 404"):
        rule.is_allowed(url=web["missing"])


def test_datadiligence_default_evaluators(corpus, web):
    import datadiligence as dd

    post = dd.get_evaluator("postprocess")
    pre = dd.get_evaluator("preprocess")
    rule = ConsentryRule(corpus.builder, "train-genai")
    bulk = ConsentryBulkRule(corpus.builder, "train-genai", receipts=[])
    post.add_rule(rule)
    pre.add_rule(bulk)
    try:
        assert dd.is_allowed(url=web["in1"]) is True
        assert dd.is_allowed(url=web["copy"]) is False
        urls = [web[n] for n in NAMES]
        assert dd.is_allowed(urls=urls) == [n in corpus.kept() for n in NAMES]
        assert dd.filter_allowed(urls=urls) == [web[n] for n in NAMES if n in corpus.kept()]
    finally:
        post.rules.remove(rule)
        pre.rules.remove(bulk)
    verify_all(bulk._checks.sink.target, corpus.builder, 2 * len(NAMES))


def test_datadiligence_bulk_fetch_errors(corpus, web):
    urls = [web["in1"], web["missing"], web["out1"]]
    with pytest.raises(consentry.ConsentryError, match="HTTP 404"):
        ConsentryBulkRule(corpus.builder, "train-genai").is_allowed(urls=urls)
    refusing = ConsentryBulkRule(corpus.builder, "train-genai", fetch_errors="refuse", max_concurrent_requests=2)
    assert refusing.is_allowed(urls=urls) == [True, False, False]
    assert refusing.filter_allowed(url=web["in2"]) == [web["in2"]]

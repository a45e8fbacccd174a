"""Inputs that would let an integration keep a work it never checked, or
write over what it was given: several images in one sample, repeated
member names, links and devices in shards, a row holding a list of images,
an empty body, a receipt path that names an input. Each is refused or
checked in full, on both backends."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import Corpus

import consentry
from consentry.integrations import hf
from consentry.integrations.datadiligence import ConsentryRule
from consentry.integrations.img2dataset import filter_shards
from consentry.integrations.webdataset import consent_filter as wds_filter

datasets.disable_progress_bars()


def add(t: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))


def shard_with(path: Path, build) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as t:
        build(t)
    return path


@pytest.mark.parametrize("case, message", [
    ("second image", "more than one image"),
    ("repeated name", "appears twice"),
    ("symlink", "not a regular file"),
    ("outside", "outside the shard's folder"),
])
def test_shards_that_would_carry_unchecked_works_are_refused(corpus: Corpus, tmp_path, case, message):
    def build(t: tarfile.TarFile) -> None:
        add(t, "0001.jpg", corpus.data("in1"))
        if case == "second image":
            add(t, "0001.png", corpus.data("out1"))
        elif case == "repeated name":
            add(t, "0001.jpg", corpus.data("out1"))
        elif case == "symlink":
            link = tarfile.TarInfo("0001.txt")
            link.type = tarfile.SYMTYPE
            link.linkname = "/etc/passwd"
            t.addfile(link)
        else:
            add(t, "../0002.jpg", corpus.data("out1"))

    src = tmp_path / "src"
    shard_with(src / "00000.tar", build)
    with pytest.raises(ValueError, match=message):
        filter_shards(src, corpus.builder, "train-genai", out_dir=tmp_path / "out")
    assert not (tmp_path / "out" / "00000.tar").exists()
    r = subprocess.run([sys.executable, "-m", "consentry", "filter", str(src / "00000.tar"), "--purpose",
                        "train-genai", "--registry", corpus.builder.url, "--key", str(corpus.builder.key_file),
                        "--out", str(tmp_path / "cli-out"), "--receipt", str(tmp_path / "r.json")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert not (tmp_path / "cli-out" / "00000.tar").exists()


def test_a_webdataset_sample_with_two_images_is_refused(corpus: Corpus):
    stage = wds_filter(corpus.builder, "train-genai")
    with pytest.raises(consentry.ItemError, match="more than one image"):
        list(stage(iter([{"__key__": "a", "jpg": corpus.data("in1"), "png": corpus.data("out1")}])))


def test_a_row_of_several_images_is_kept_only_if_all_may_be_used(corpus: Corpus):
    ds = datasets.Dataset.from_dict({"images": [[corpus.data("out1"), corpus.data("in1")], [corpus.data("in1"),
                                                                                           corpus.data("in2")]]})
    kept = ds.filter(hf.consent_filter(corpus.builder, "train-genai", column="images"))
    assert len(kept) == 1 and kept[0]["images"] == [corpus.data("in1"), corpus.data("in2")]


def test_an_empty_body_is_no_work(corpus: Corpus):
    rule = ConsentryRule(corpus.builder, "tdm")
    with pytest.raises(consentry.ConsentryError, match="empty"):
        rule.is_allowed(body=b"")


def test_receipt_and_report_never_overwrite_an_input(corpus: Corpus, tmp_path):
    shard = shard_with(tmp_path / "in" / "00000.tar", lambda t: add(t, "0001.jpg", corpus.data("in1")))
    before = shard.read_bytes()
    for option, code, message in (("--receipt", 1, "is one of the inputs"), ("--report", 2, ".jsonl or .csv")):
        r = subprocess.run([sys.executable, "-m", "consentry", "check", str(shard), "--purpose", "train-genai",
                            "--registry", corpus.builder.url, "--key", str(corpus.builder.key_file), option,
                            str(shard)], capture_output=True, text=True)
        assert r.returncode == code and message in r.stderr, r.stderr
        assert shard.read_bytes() == before


def test_a_path_column_is_read_as_paths_even_when_they_look_like_hashes(corpus: Corpus, tmp_path):
    digest_named = tmp_path / corpus.hash("out1").removeprefix("blake3:")
    digest_named.write_bytes(corpus.data("in1"))  # named after one work, holding another
    pq.write_table(pa.table({"path": [digest_named.name]}), tmp_path / "works.parquet")
    r = subprocess.run([sys.executable, "-m", "consentry", "check", str(tmp_path / "works.parquet"), "--purpose",
                        "train-genai", "--registry", corpus.builder.url, "--key", str(corpus.builder.key_file),
                        "--report", str(tmp_path / "report.jsonl"), "--receipt", str(tmp_path / "r.json")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (row,) = [json.loads(line) for line in (tmp_path / "report.jsonl").read_text().splitlines()]
    assert row["hash"] == corpus.hash("in1") and row["status"] == "allowed"

"""The Python package's check rate against `consentry check`, in the same run.

1. Hashes: N work hashes (default 1,000,000; every hundredth registered,
   opt-out) checked for `train-ai` by `consentry check` (a CSV manifest of
   hashes) and by `Registry.check` (a list of hash strings, and the lines
   of the same CSV), exact (raw 32-byte records) and with near matching
   (NDJSON items, the CLI's default), interleaved, each `--repeat` times
   against the same registry; prints hashes/s of each (median) and its
   ratio to the CLI in the same mode. Every run verifies its receipt
   against the answers.
2. A Hugging Face dataset: M PNG images (default 10,000; 256x192,
   photo-like; every tenth registered) filtered with
   `ds.filter(consent_filter(...), batched=True)`, with the README's
   undecoded column (exact and near matching), exact matching only, and a
   decoded (PIL) column; prints images/s of each and where the time goes
   (BLAKE3, decoding and fingerprinting alone on one thread, and the
   exact-only run as the cost of datasets, the registry and the network).

    python benches/python/bench_check.py [--hashes 1000000] [--images 10000]

Needs the release binary (`cargo build --release`) and the package with its
test requirements (`pip install ./python -r python/tests/requirements.txt`).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python" / "tests"))
os.environ.setdefault("CONSENTRY_BIN", str(ROOT / "target" / "release" / "consentry"))

import blake3  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

import consentry  # noqa: E402
from conftest import BIN, Server, encode  # noqa: E402
from consentry import fingerprint  # noqa: E402
from consentry.items import hash_text  # noqa: E402


def cli_check(server: Server, key_file: Path, manifest: Path, receipt: Path, match: str) -> float:
    started = time.perf_counter()
    server.cli("check", "--key", str(key_file), "--purpose", "train-ai", "--receipt", str(receipt),
               "--match", match, "--quiet", str(manifest))
    return time.perf_counter() - started


def py_check(registry: consentry.Registry, hashes: list[str] | Path, near: bool = False) -> tuple[float, int]:
    started = time.perf_counter()
    if isinstance(hashes, Path):
        with hashes.open() as f:
            next(f)
            run = registry.check((line.rstrip("\n") for line in f), "train-ai", near=near)
            disallowed = sum(1 for a in run if a.status == "disallowed")
        assert run.receipt is not None
        return time.perf_counter() - started, disallowed
    run = registry.check(hashes, "train-ai", near=near)
    disallowed = sum(1 for a in run if a.status == "disallowed")
    elapsed = time.perf_counter() - started
    assert run.receipt is not None
    return elapsed, disallowed


def bench_hashes(server: Server, n: int, repeat: int, workdir: Path) -> None:
    hashes = [hash_text(blake3.blake3(i.to_bytes(8, "little")).digest()) for i in range(n)]
    artist = server.new_artist("Bench Artist")
    registered = hashes[::100]
    for start in range(0, len(registered), 5000):
        artist.set_consent(registered[start:start + 5000], "opt-out")
    manifest = workdir / "hashes.csv"
    manifest.write_text("hash\n" + "\n".join(hashes) + "\n")
    key_file, key = server.new_builder("Bench Builder")
    registry = consentry.Registry(server.url, key=key)
    runs: dict[str, list[float]] = {name: [] for name in RUNS}
    for _ in range(repeat):
        for name, (side, source, near) in RUNS.items():
            if side == "cli":
                runs[name].append(cli_check(server, key_file, manifest, workdir / "cli-receipt.json",
                                            "near" if near else "exact"))
                continue
            elapsed, disallowed = py_check(registry, hashes if source == "list" else manifest, near)
            assert disallowed == len(registered), disallowed
            runs[name].append(elapsed)
    print(f"hashes: {n:,}, {len(registered):,} registered (opt-out); {repeat} runs each, interleaved")
    for name, times in runs.items():
        near = RUNS[name][2]
        baseline = n / statistics.median(runs["consentry check --match near (its default)" if near else "consentry check --match exact"])
        rate = n / statistics.median(times)
        print(f"  {name:<44}: {rate:>10,.0f} hashes/s, {rate / baseline:.2f} of the CLI in the same mode "
              f"(runs: {', '.join(f'{t:.2f} s' for t in times)})")


# The runs of the hash benchmark: who, reading what, with near matching.
RUNS = {
    "consentry check --match exact": ("cli", "csv", False),
    "Registry.check(list)": ("py", "list", False),
    "Registry.check(lines of the CSV)": ("py", "csv", False),
    "consentry check --match near (its default)": ("cli", "csv", True),
    "Registry.check(lines of the CSV, near=True)": ("py", "csv", True),
}


def quick_picture(seed: int) -> Image.Image:
    """A 256x192 photo-like image in about a millisecond: gradients in
    each channel and a few shapes, different for each seed."""
    rng = random.Random(seed)
    channels = [Image.linear_gradient("L").rotate(rng.randrange(360)).resize((256, 192)) for _ in range(3)]
    img = Image.merge("RGB", channels)
    draw = ImageDraw.Draw(img)
    for _ in range(8):
        x, y = rng.randrange(256), rng.randrange(192)
        draw.ellipse([x, y, x + rng.randrange(10, 80), y + rng.randrange(10, 80)],
                     fill=tuple(rng.randrange(256) for _ in range(3)))
    return img


def bench_dataset(server: Server, m: int, workdir: Path) -> None:
    import datasets

    from consentry.integrations.hf import consent_filter

    folder = workdir / "images"
    folder.mkdir()
    paths = []
    for i in range(m):
        p = folder / f"{i:05d}.png"
        p.write_bytes(encode(quick_picture(i)))
        paths.append(p)
    artist = server.new_artist("Dataset Artist")
    for start in range(0, m, 1000):
        artist.register(paths[start:start + 1000:10], "opt-out")
    _, key = server.new_builder("Dataset Builder")
    registry = consentry.Registry(server.url, key=key)
    raw = datasets.Dataset.from_dict({"image": [str(p) for p in paths]}).cast_column("image", datasets.Image())
    undecoded = raw.cast_column("image", datasets.Image(decode=False))
    print(f"datasets: {m:,} PNG images 256x192, every tenth registered opt-out, unknown works kept")
    results = {}
    for name, ds, near in [("Image(decode=False), near matching (the README's)", undecoded, None),
                           ("Image(decode=False), exact only (near=False)", undecoded, False),
                           ("Image() (decoded PIL images: codes only)", raw, None)]:
        started = time.perf_counter()
        kept = ds.filter(consent_filter(registry, "train-genai", unknown=True, near=near), batched=True,
                         batch_size=1000, load_from_cache_file=False)
        elapsed = time.perf_counter() - started
        results[name] = elapsed
        print(f"  {name:<52}: {m / elapsed:>6,.0f} images/s, kept {len(kept):,}")
    # Where the time goes: each part alone, one thread, on the same files.
    data = [p.read_bytes() for p in paths]
    started = time.perf_counter()
    for d in data:
        blake3.blake3(d).digest()
    hashing = time.perf_counter() - started
    started = time.perf_counter()
    for d in data:
        fingerprint.check_codes(d)
    coding = time.perf_counter() - started
    started = time.perf_counter()
    for d in data:
        Image.open(io.BytesIO(d)).load()
    decoding = time.perf_counter() - started
    print(f"  one thread, per image: BLAKE3 {hashing / m * 1e6:,.0f} us, PNG decode alone {decoding / m * 1e6:,.0f} us, "
          f"fingerprint (decode + normalise + ISCC) {coding / m * 1e6:,.0f} us")
    exact = results["Image(decode=False), exact only (near=False)"]
    print(f"  of the near-matching filter's {results['Image(decode=False), near matching (the README' + chr(39) + 's)'] / m * 1e6:,.0f} us "
          f"per image: {exact / m * 1e6:,.0f} us are datasets, the registry and the network (the exact-only run); "
          f"fingerprints run on {os.cpu_count()} threads")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    print(f"binary: {BIN}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = Server(args.backend, workdir)
        try:
            if args.hashes:
                bench_hashes(server, args.hashes, args.repeat, workdir)
            if args.images:
                bench_dataset(server, args.images, workdir)
        finally:
            server.stop()
    subprocess.run(["uname", "-srm"], check=False)


if __name__ == "__main__":
    main()

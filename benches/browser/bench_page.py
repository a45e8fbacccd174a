"""The web app's throughput against the CLI's, in the same run.

Hashes and signs N files of 2 MB (default 1,000; random bytes, so neither
side fingerprints them) in headless Chromium and with `consentry register`
on the same files, against two fresh registries, and with `--images M`
also M photo-like JPEGs of about 2 MB (hashed, fingerprinted and signed on
both sides). Prints files/s of each side and their ratio, and how long the
page's main thread was ever blocked while it worked (the longest gap
between 10 ms timer ticks: the work runs in Web Workers).

    python3 benches/browser/bench_page.py [--files 1000] [--images 100]

Needs the release binary (`cargo build --release`), chromium and
chromium-driver, and tests/browser/requirements.txt.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "browser"))
os.environ.setdefault("CONSENTRY_BIN", str(Path(__file__).resolve().parents[2] / "target" / "release" / "consentry"))

from conftest import Registry, make_driver  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def make_files(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"file-{i:05d}.bin"
        p.write_bytes(os.urandom(2 * 1024 * 1024))
        out.append(p)
    return out


def make_images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(5)
    out = []
    for i in range(n):
        img = Image.effect_noise((2400, 1800), 60).convert("RGB")
        d = ImageDraw.Draw(img)
        for _ in range(40):
            x, y = rng.randrange(2400), rng.randrange(1800)
            d.ellipse([x, y, x + rng.randrange(50, 900), y + rng.randrange(50, 700)],
                      fill=tuple(rng.randrange(256) for _ in range(3)))
        p = folder / f"photo-{i:04d}.jpg"
        img.save(p, quality=88)
        out.append(p)
    return out


def page_run(reg: Registry, files: list[Path]) -> tuple[float, float, float]:
    """(seconds hashing, seconds in all, longest main-thread gap in ms)."""
    dl = Path(tempfile.mkdtemp())
    d = make_driver(dl)
    try:
        d.get(reg.url + "/")
        WebDriverWait(d, 30).until(EC.presence_of_element_located((By.ID, "display-name"))).send_keys("Bench Artist")
        d.find_element(By.ID, "create-artist").click()
        WebDriverWait(d, 30).until(EC.text_to_be_present_in_element((By.ID, "who"), "Signed in"))
        d.get(reg.url + "/#/register")
        WebDriverWait(d, 30).until(EC.presence_of_element_located((By.ID, "pick-files")))
        # The longest gap between 10 ms timer ticks, from the moment the page
        # holds the files (the browser's own work of taking 1,000 files from
        # the picker is not the app's).
        d.execute_script("""
            window.__gap = 0; let last = performance.now();
            window.__tick = setInterval(() => { const t = performance.now(); window.__gap = Math.max(window.__gap, t - last); last = t; }, 10);
            document.getElementById('pick-files').addEventListener('change', () => { window.__gap = 0; last = performance.now(); }, {capture: true});""")
        start = time.perf_counter()
        d.find_element(By.ID, "pick-files").send_keys("\n".join(map(str, files)))
        WebDriverWait(d, 3600).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".summary"), "Nothing has been sent yet"))
        hashed = time.perf_counter() - start
        print("  page says:", d.find_element(By.CSS_SELECTOR, ".summary").text)
        d.find_element(By.ID, "submit-works").click()
        WebDriverWait(d, 3600).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".summary"), "Registered:"))
        total = time.perf_counter() - start
        gap = d.execute_script("clearInterval(window.__tick); return window.__gap")
        return hashed, total, gap
    finally:
        d.quit()


def cli_run(reg: Registry, folder: Path, work: Path) -> float:
    reg.cli("keygen", "--out", str(work / "bench.key"))
    reg.cli("artist", "create", "--key", str(work / "bench.key"), "--name", "Bench CLI")
    start = time.perf_counter()
    reg.cli("register", str(folder), "--key", str(work / "bench.key"), "--consent", "opt-out")
    return time.perf_counter() - start


def compare(label: str, files: list[Path], folder: Path, root: Path):
    a = Registry("sqlite", Path(tempfile.mkdtemp(dir=root)))
    b = Registry("sqlite", Path(tempfile.mkdtemp(dir=root)))
    try:
        cli = cli_run(a, folder, a.dir)
        hashed, total, gap = page_run(b, files)
    finally:
        a.stop()
        b.stop()
    n = len(files)
    print(f"{label}: {n} files of {sum(f.stat().st_size for f in files) / n / 1e6:.2f} MB")
    print(f"  consentry register : {cli:8.2f} s  {n / cli:8.1f} files/s (hash, fingerprint, sign, submit)")
    print(f"  web app, hashing   : {hashed:8.2f} s  {n / hashed:8.1f} files/s (hash, fingerprint)")
    print(f"  web app, in all    : {total:8.2f} s  {n / total:8.1f} files/s (hash, fingerprint, check current, sign, submit)")
    print(f"  ratio web app / CLI: {cli / total:.2f} (in all), {cli / hashed:.2f} (hashing only)")
    print(f"  longest main-thread gap while working: {gap:.0f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--images", type=int, default=0)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="consentry-page-bench-"))
    print(f"machine: {os.cpu_count()} cores; chromium: {subprocess.run(['/usr/bin/chromium', '--version'], capture_output=True, text=True).stdout.strip()}")
    if args.files:
        folder = root / "files"
        compare("random bytes", make_files(folder, args.files), folder, root)
    if args.images:
        folder = root / "images"
        compare("photo-like JPEGs", make_images(folder, args.images), folder, root)


if __name__ == "__main__":
    main()

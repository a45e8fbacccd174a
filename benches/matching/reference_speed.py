"""Fingerprinting throughput of the Python reference stacks, one process
per core, on the files of a folder: iscc-sdk's Image-Code (the ISCC
reference, on Pillow) and, if installed, imagehash's pHash on Pillow.
Prints `files/s <rate>` per stack; `cargo bench --bench matching` (part
`fingerprint`) runs it on the same folder and prints the ratio.

    python3 benches/matching/reference_speed.py /tmp/matchset/speed
"""
import multiprocessing
import os
import sys
import time


def _iscc(path):
    import iscc_sdk

    return iscc_sdk.code_image(path, extract_meta=False, create_thumb=False).iscc


def _phash(path):
    import imagehash
    from PIL import Image

    with Image.open(path) as img:
        return str(imagehash.phash(img))


def measure(name, fn, files):
    with multiprocessing.Pool(os.cpu_count()) as pool:
        pool.map(fn, files[:16])  # warm up the workers (imports)
        start = time.perf_counter()
        pool.map(fn, files, chunksize=32)
        secs = time.perf_counter() - start
    print(f"{name}: {len(files)} files in {secs:.1f} s on {os.cpu_count()} processes")
    print(f"files/s {len(files) / secs:.0f}")


def main():
    folder = sys.argv[1]
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder))
    for name, fn, module in (("iscc-sdk code_image", _iscc, "iscc_sdk"), ("imagehash phash", _phash, "imagehash")):
        try:
            __import__(module)
        except ImportError:
            print(f"{name}: not installed")
            continue
        measure(name, fn, files)


if __name__ == "__main__":
    main()

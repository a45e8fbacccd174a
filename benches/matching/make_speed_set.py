"""A folder of JPEGs of 512 px (shorter side) for the fingerprinting
throughput comparison: each original and distractor of a calibration set
(make_set.py), and crops of them, until N files.

    python3 benches/matching/make_speed_set.py /tmp/matchset 10000
"""
import os
import sys

from PIL import Image


def main():
    root, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    sources = []
    for sub in ("originals", "distractors"):
        d = os.path.join(root, sub)
        sources += sorted(os.path.join(d, f) for f in os.listdir(d))
    out = os.path.join(root, "speed")
    os.makedirs(out, exist_ok=True)
    made = 0
    round_ = 0
    while made < n:
        for src in sources:
            if made >= n:
                break
            with Image.open(src) as img:
                img = img.convert("RGB")
                w, h = img.size
                # Later rounds take a different crop of each source.
                cut = (round_ * 7) % 20 / 100
                img = img.crop((int(w * cut / 2), int(h * cut / 2), w - int(w * cut / 2), h - int(h * cut / 2)))
                w, h = img.size
                scale = 512 / min(w, h)
                img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BICUBIC)
                img.save(os.path.join(out, f"s{made:05d}.jpg"), quality=90)
            made += 1
        round_ += 1
    print(f"{made} files in {out}")


if __name__ == "__main__":
    main()

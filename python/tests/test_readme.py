"""The README's Python example, run as written (only the registry's address
changed), against a live registry on each backend."""

from __future__ import annotations

import re
import subprocess
import sys

import blake3
from PIL import Image

import consentry
from conftest import ROOT, encode, picture


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "the README's Python section has no example"
    return blocks[0]


def test_the_readme_example_filters_a_hugging_face_dataset(server, builder, artist, tmp_path):
    code = readme_example()
    assert len(code.strip().splitlines()) <= 11
    images = tmp_path / "my-images"
    images.mkdir()
    originals = [picture(7000 + i) for i in range(8)]
    for i, img in enumerate(originals):
        (images / f"{i}.png").write_bytes(encode(img))
    # 0-2 opt in, 3 opts out, 4 is a resized copy of 3 (dropped by near
    # matching), 5-7 are unknown (dropped for train-genai).
    artist.register([images / f"{i}.png" for i in range(3)], "opt-in")
    artist.register([images / "3.png"], {"train-genai": "disallowed"})
    (images / "4.png").write_bytes(encode(originals[3].resize((200, 150), Image.LANCZOS), "JPEG", quality=80))
    (images / "4.png").rename(images / "4.jpg")
    (tmp_path / "builder.key").write_text(builder.key.pem())
    script = tmp_path / "example.py"
    script.write_text(code.replace("http://127.0.0.1:8080", server.url))
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "kept 3 of 8 images; 1 signed receipt(s)" in out.stdout
    import datasets

    kept = datasets.load_from_disk(str(tmp_path / "my-images-allowed"))
    kept_hashes = {blake3.blake3(row["image"]["bytes"] or open(row["image"]["path"], "rb").read()).hexdigest()
                   for row in kept}
    assert kept_hashes == {blake3.blake3((images / f"{i}.png").read_bytes()).hexdigest() for i in range(3)}
    assert consentry.__version__

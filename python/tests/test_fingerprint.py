"""`consentry.fingerprint` computes the CLI's ISCC Image-Codes, byte for byte.

Generates a varied set of image files (every format and mode the CLI
decodes, transparency, EXIF orientations, borders and flat bands for the
trim, tall, wide and tiny sizes) and files it must refuse, runs `consentry
fingerprint --views` once on all of them, and compares, file by file, the
codes (all four views, without repeats, and the whole image's) or the
error. Only Pillow makes the images (seeded, so every run writes the same
files).

The binary is $CONSENTRY_BIN, else target/debug/consentry of this
repository (`cargo build`); the tests fail, rather than skip, without it.
"""

from __future__ import annotations

import io
import os
import random
import re
import struct
import subprocess
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import iscc_lib
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from consentry import fingerprint
from consentry.fingerprint import FingerprintError, check_codes, image_codes, is_image_name

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("CONSENTRY_BIN", ROOT / "target" / "debug" / "consentry")).resolve()

# ---------------------------------------------------------------------------
# Content: RGB images made by Pillow from a seeded random generator
# ---------------------------------------------------------------------------


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return rng.randrange(256), rng.randrange(256), rng.randrange(256)


def c_gradient(rng: random.Random, w: int, h: int) -> Image.Image:
    """A linear gradient between two colours, in one of four directions."""
    square = Image.linear_gradient("L").transpose(rng.choice(list(Image.Transpose)[:4]))
    gray = square.resize((w, h))
    return ImageOps.colorize(gray, _colour(rng), _colour(rng))


def c_radial(rng: random.Random, w: int, h: int) -> Image.Image:
    """A radial gradient through three colours."""
    gray = Image.radial_gradient("L").resize((w, h))
    return ImageOps.colorize(gray, _colour(rng), _colour(rng), _colour(rng))


def c_noise(rng: random.Random, w: int, h: int) -> Image.Image:
    """Uniform white noise."""
    return Image.frombytes("RGB", (w, h), rng.randbytes(w * h * 3))


def c_smooth(rng: random.Random, w: int, h: int) -> Image.Image:
    """Low-frequency noise: a coarse random grid, bicubic upscaled."""
    cells = (rng.randint(3, 9), rng.randint(3, 9))
    return Image.frombytes("RGB", cells, rng.randbytes(cells[0] * cells[1] * 3)).resize(
        (w, h), Image.Resampling.BICUBIC
    )


def c_shapes(rng: random.Random, w: int, h: int) -> Image.Image:
    """Rectangles, ellipses, polygons and lines on a flat background."""
    img = Image.new("RGB", (w, h), _colour(rng))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(4, 12)):
        x0, x1 = sorted(rng.randint(-w // 4, w + w // 4) for _ in range(2))
        y0, y1 = sorted(rng.randint(-h // 4, h + h // 4) for _ in range(2))
        kind = rng.randrange(4)
        if kind == 0:
            draw.rectangle((x0, y0, x1, y1), fill=_colour(rng))
        elif kind == 1:
            draw.ellipse((x0, y0, x1, y1), fill=_colour(rng))
        elif kind == 2:
            points = [(rng.randrange(w), rng.randrange(h)) for _ in range(5)]
            draw.polygon(points, fill=_colour(rng))
        else:
            draw.line((x0, y0, x1, y1), fill=_colour(rng), width=max(1, min(w, h) // 25))
    return img


def c_photo(rng: random.Random, w: int, h: int) -> Image.Image:
    """Photo-like: blurred shapes over clouds, with a little sensor noise."""
    shapes = c_shapes(rng, w, h).filter(ImageFilter.GaussianBlur(max(1, min(w, h) / 60)))
    scene = Image.blend(c_smooth(rng, w, h), shapes, 0.5)
    return Image.blend(scene, c_noise(rng, w, h), 0.05)


def c_fractal(rng: random.Random, w: int, h: int) -> Image.Image:
    """A detail of the Mandelbrot set in three colours."""
    cx, cy, span = -0.745 + rng.uniform(-0.02, 0.02), 0.11, rng.uniform(0.02, 0.3)
    extent = (cx - span, cy - span * h / w, cx + span, cy + span * h / w)
    gray = Image.effect_mandelbrot((w, h), extent, 64)
    return ImageOps.colorize(gray, _colour(rng), _colour(rng), _colour(rng))


def c_text(rng: random.Random, w: int, h: int) -> Image.Image:
    """Lines of text, dark on light."""
    img = Image.new("RGB", (w, h), (rng.randint(200, 255),) * 3)
    draw = ImageDraw.Draw(img)
    size = max(6, h // rng.randint(4, 12))
    font = ImageFont.load_default(size=size)
    words = ["consent", "ISCC", "image", "artist", "registry", "24138"]
    for y in range(0, h, int(size * 1.4)):
        line = " ".join(rng.choice(words) for _ in range(6))
        draw.text((rng.randint(-size, size), y), line, fill=_colour(rng), font=font)
    return img


def c_stripes(rng: random.Random, w: int, h: int) -> Image.Image:
    """Stripes or a checkerboard in two colours."""
    img = Image.new("RGB", (w, h), _colour(rng))
    draw = ImageDraw.Draw(img)
    period, ink = rng.randint(2, max(3, min(w, h) // 3)), _colour(rng)
    checker = rng.random() < 0.5
    for x in range(0, w, 2 * period):
        for y in range(0, h, 2 * period) if checker else [0]:
            draw.rectangle((x, y, x + period - 1, y + period - 1 if checker else h), fill=ink)
    return img


CONTENTS: dict[str, Callable[[random.Random, int, int], Image.Image]] = {
    "gradient": c_gradient,
    "radial": c_radial,
    "noise": c_noise,
    "smooth": c_smooth,
    "shapes": c_shapes,
    "photo": c_photo,
    "fractal": c_fractal,
    "text": c_text,
    "stripes": c_stripes,
}

# ---------------------------------------------------------------------------
# Borders and bands: what the tolerant trim must handle
# ---------------------------------------------------------------------------


def _canvas(rng: random.Random, size: tuple[int, int], colour: tuple[int, int, int],
            noise: int) -> Image.Image:
    """A flat colour, each channel varied by up to ±noise."""
    if not noise:
        return Image.new("RGB", size, colour)
    spread = [
        min(255, max(0, colour[c] + v % (2 * noise + 1) - noise)) for c in range(3) for v in range(256)
    ]
    return c_noise(rng, *size).point(spread)


def _pad(rng: random.Random, img: Image.Image, sides: tuple[int, int, int, int],
         colour: tuple[int, int, int], noise: int = 0) -> Image.Image:
    top, right, bottom, left = sides
    out = _canvas(rng, (img.width + left + right, img.height + top + bottom), colour, noise)
    out.paste(img, (left, top))
    return out


def _band(rng: random.Random, img: Image.Image, side: str, noise: int, ramp: bool) -> Image.Image:
    """A flat band on one side (trimmed only if flat within 8 levels); with
    `ramp`, a smooth ramp of 14 levels across it, like a plain sky."""
    n = max(2, (img.height if side in ("top", "bottom") else img.width) // 6)
    sides = {"top": (n, 0, 0, 0), "right": (0, n, 0, 0), "bottom": (0, 0, n, 0), "left": (0, 0, 0, n)}
    colour = tuple(min(c, 240) for c in _colour(rng))
    out = _pad(rng, img, sides[side], colour, noise)
    if ramp:
        draw = ImageDraw.Draw(out)
        for i in range(n):
            level = round(14 * i / max(1, n - 1))
            c = tuple(v + level for v in colour)
            if side in ("top", "bottom"):
                y = n - 1 - i if side == "top" else out.height - n + i
                draw.line((0, y, out.width, y), fill=c)
            else:
                x = n - 1 - i if side == "left" else out.width - n + i
                draw.line((x, 0, x, out.height), fill=c)
    return out


def modify(name: str, img: Image.Image, rng: random.Random) -> Image.Image:
    b = max(1, min(img.size) // rng.randint(7, 20))
    if name == "plain":
        return img
    if name == "border4":  # an exact uniform border on all sides
        return _pad(rng, img, (b, b, b, b), _colour(rng))
    if name == "whiteborder":
        return _pad(rng, img, (b, b, b, b), (255, 255, 255))
    if name == "nearborder":  # noise within ±7: inside the tolerance of 16
        return _pad(rng, img, (b, b, b, b), _colour(rng), noise=7)
    if name == "roughborder":  # noise within ±12: parts exceed half the tolerance
        return _pad(rng, img, (b, b, b, b), _colour(rng), noise=12)
    if name == "border2":  # top and left only
        return _pad(rng, img, (b, 0, 0, 2 * b), _colour(rng))
    if name == "nested":  # a white frame around a near-black one
        inner = _pad(rng, img, (b, b, b, b), (10, 10, 10), noise=4)
        return _pad(rng, inner, (b, b, b, b), (255, 255, 255))
    kind, side = name.split("-")
    noise = {"band": 0, "nearband": 3, "roughband": 6, "skyband": 0}[kind]
    return _band(rng, img, side, noise, ramp=kind == "skyband")


MODIFIERS = [
    "plain", "border4", "nearborder", "plain", "whiteborder", "roughborder", "border2", "nested",
    "band-top", "nearband-left", "roughband-bottom", "skyband-top", "band-right", "plain",
    "nearband-bottom", "skyband-left",
]

# ---------------------------------------------------------------------------
# Encoders
# ---------------------------------------------------------------------------


def _alpha(rng: random.Random, size: tuple[int, int], kind: str) -> Image.Image:
    w, h = size
    if kind == "gradient":
        return Image.linear_gradient("L").rotate(90).resize(size)
    if kind == "frame":  # a transparent frame, opaque inside
        mask = Image.new("L", size, 0)
        b = min(size) // 8
        ImageDraw.Draw(mask).rectangle((b, b, w - b - 1, h - b - 1), fill=255)
        return mask
    if kind == "blobs":  # a binary mask of ellipses
        mask = Image.new("L", size, 0)
        for _ in range(5):
            x0, x1 = sorted(rng.randint(0, w) for _ in range(2))
            y0, y1 = sorted(rng.randint(0, h) for _ in range(2))
            ImageDraw.Draw(mask).ellipse((x0, y0, x1, y1), fill=255)
        return mask
    return c_smooth(rng, w, h).convert("L")  # "soft": every level


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def encode(img: Image.Image, enc: dict, rng: random.Random) -> bytes:
    """The file bytes of the RGB image `img` in encoding `enc` (mode,
    format, save options, alpha, orientation)."""
    mode, fmt, opts = enc["mode"], enc["fmt"], dict(enc.get("opts", {}))
    if mode in ("RGBA", "LA"):
        img = img.convert(mode[:-1])
        img.putalpha(_alpha(rng, img.size, enc["alpha"]))
    elif mode == "P":
        img = img.quantize(enc.get("colors", 256), dither=Image.Dither.NONE)
    elif mode == "P-trans":  # a palette with its most used colour transparent
        img = img.quantize(255, dither=Image.Dither.NONE)
        counts = img.histogram()
        opts["transparency"] = counts.index(max(counts))
    elif mode == "RGB-trns":  # a tRNS colour key, which the CLI does not apply
        opts["transparency"] = img.getpixel((0, 0))
    elif mode == "L-trns":
        img = img.convert("L")
        opts["transparency"] = img.getpixel((0, 0))
    elif mode == "I;16":
        scale = enc.get("scale", 257)
        img = img.convert("L").convert("I").point(lambda v: v * scale).convert("I;16")
    elif mode != "RGB":
        img = img.convert(mode)
    if "orientation" in enc:
        if fmt == "TIFF":
            opts["tiffinfo"] = {0x0112: enc["orientation"]}
        else:
            opts["exif"] = _exif(enc["orientation"])
    out = io.BytesIO()
    if enc.get("animated"):
        frames = [c_noise(rng, *img.size).convert(img.mode) for _ in range(2)]
        if img.mode == "P":
            frames = [f.convert("RGB").quantize(64) for f in frames]
        img.save(out, fmt, save_all=True, append_images=frames, duration=100, loop=0, **opts)
    else:
        img.save(out, fmt, **opts)
    return out.getvalue()


ENCODINGS = [
    # PNG
    dict(mode="RGB", fmt="PNG", n=8),
    dict(mode="RGBA", fmt="PNG", alpha="gradient", n=3),
    dict(mode="RGBA", fmt="PNG", alpha="frame", n=3),
    dict(mode="RGBA", fmt="PNG", alpha="blobs", n=2),
    dict(mode="RGBA", fmt="PNG", alpha="soft", n=2),
    dict(mode="LA", fmt="PNG", alpha="gradient", n=2),
    dict(mode="LA", fmt="PNG", alpha="frame", n=2),
    dict(mode="L", fmt="PNG", n=4),
    dict(mode="1", fmt="PNG", n=2),
    dict(mode="P", fmt="PNG", n=3),
    dict(mode="P", fmt="PNG", colors=16, n=2),
    dict(mode="P-trans", fmt="PNG", n=3),
    dict(mode="RGB-trns", fmt="PNG", n=2),
    dict(mode="L-trns", fmt="PNG", n=2),
    dict(mode="I;16", fmt="PNG", n=2),
    dict(mode="I;16", fmt="PNG", scale=1, n=2),  # 16-bit samples of 0 to 255
    # JPEG
    dict(mode="RGB", fmt="JPEG", opts=dict(quality=95), n=6),
    dict(mode="RGB", fmt="JPEG", opts=dict(quality=75), n=6),
    dict(mode="RGB", fmt="JPEG", opts=dict(quality=50), n=3),
    dict(mode="RGB", fmt="JPEG", opts=dict(quality=10), n=3),
    dict(mode="RGB", fmt="JPEG", opts=dict(quality=100, subsampling=0), n=3),
    dict(mode="RGB", fmt="JPEG", opts=dict(quality=85, subsampling=1), n=3),
    dict(mode="RGB", fmt="JPEG", opts=dict(quality=85, progressive=True), n=4),
    dict(mode="RGB", fmt="JPEG", opts=dict(quality=90, optimize=True), n=2),
    dict(mode="L", fmt="JPEG", opts=dict(quality=85), n=3),
    dict(mode="CMYK", fmt="JPEG", opts=dict(quality=90), n=3),
    # WebP
    dict(mode="RGB", fmt="WEBP", opts=dict(quality=80), n=5),
    dict(mode="RGB", fmt="WEBP", opts=dict(quality=30), n=3),
    dict(mode="RGBA", fmt="WEBP", alpha="blobs", opts=dict(quality=80), n=2),
    dict(mode="RGBA", fmt="WEBP", alpha="soft", opts=dict(quality=80), n=2),
    dict(mode="RGB", fmt="WEBP", opts=dict(lossless=True), n=3),
    dict(mode="RGBA", fmt="WEBP", alpha="gradient", opts=dict(lossless=True), n=2),
    dict(mode="RGB", fmt="WEBP", opts=dict(lossless=True), animated=True, n=1),
    # GIF
    dict(mode="P", fmt="GIF", n=3),
    dict(mode="P-trans", fmt="GIF", n=3),
    dict(mode="L", fmt="GIF", n=2),
    dict(mode="P", fmt="GIF", animated=True, n=2),
    # BMP
    dict(mode="RGB", fmt="BMP", n=3),
    dict(mode="RGBA", fmt="BMP", alpha="frame", n=1),  # written as 32-bit BI_RGB: no alpha
    dict(mode="L", fmt="BMP", n=2),
    dict(mode="P", fmt="BMP", n=2),
    dict(mode="1", fmt="BMP", n=1),
    # TIFF
    dict(mode="RGB", fmt="TIFF", n=3),
    dict(mode="RGB", fmt="TIFF", opts=dict(compression="tiff_lzw"), n=2),
    dict(mode="RGB", fmt="TIFF", opts=dict(compression="tiff_adobe_deflate"), n=2),
    dict(mode="RGB", fmt="TIFF", opts=dict(compression="packbits"), n=1),
    dict(mode="RGBA", fmt="TIFF", alpha="blobs", n=2),
    dict(mode="L", fmt="TIFF", n=2),
    dict(mode="CMYK", fmt="TIFF", n=3),
    dict(mode="I;16", fmt="TIFF", n=2),
    dict(mode="1", fmt="TIFF", n=1),
    dict(mode="P", fmt="TIFF", refused=True, n=1),  # the CLI reads no palette TIFF
    dict(mode="LA", fmt="TIFF", alpha="frame", refused=True, n=1),  # nor gray with alpha
]

# EXIF orientations 1 to 8 in JPEG, and some in PNG, WebP and TIFF.
ORIENTED = [dict(mode="RGB", fmt="JPEG", opts=dict(quality=92), orientation=o, n=1) for o in range(1, 9)]
ORIENTED += [
    dict(mode="RGB", fmt="PNG", orientation=6, n=1),
    dict(mode="RGBA", fmt="PNG", alpha="frame", orientation=3, n=1),
    dict(mode="RGB", fmt="PNG", orientation=5, n=1),
    dict(mode="RGB", fmt="WEBP", opts=dict(quality=85), orientation=6, n=1),
    dict(mode="RGB", fmt="WEBP", opts=dict(lossless=True), orientation=7, n=1),
    dict(mode="RGB", fmt="TIFF", orientation=8, n=1),
    dict(mode="L", fmt="JPEG", opts=dict(quality=90), orientation=6, n=1),
]

# Sizes before any border: square, tall and wide (a tall one is resized
# vertical pass first), odd; a few large and tiny ones.
SIZES = [
    (64, 48), (48, 64), (97, 61), (100, 1000), (1000, 100), (257, 129), (320, 240), (31, 500),
    (500, 31), (640, 480), (481, 641), (127, 127), (222, 333), (25, 60), (150, 149), (33, 31),
    (399, 401), (720, 1280), (45, 44), (512, 384), (600, 400), (256, 256), (32, 32), (60, 300),
]
LARGE = [(2000, 1500), (1500, 2000), (1920, 1080)]
TINY = [(1, 1), (3, 7), (16, 9), (7, 2)]
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif"}


@dataclass(frozen=True)
class Case:
    """A file of the test set: its name tells how it was made; `refused`
    when the CLI must give it no code."""

    name: str
    make: Callable[[], bytes]
    refused: bool = False


def _generated(index: int, content: str, size: tuple[int, int], modifier: str, enc: dict) -> Case:
    tags = [f"{k}{v}" for k, v in sorted(enc.get("opts", {}).items())]
    tags += [f"{k}{enc[k]}" for k in ("alpha", "colors", "scale", "orientation") if k in enc]
    tags += ["anim"] if enc.get("animated") else []
    mode = enc["mode"].replace(";", "")
    name = f"{index:03d}_{content}_{size[0]}x{size[1]}_{modifier}_{mode}_{'-'.join(tags) or 'default'}"

    def make() -> bytes:
        rng = random.Random(index)
        img = modify(modifier, CONTENTS[content](rng, *size), rng)
        return encode(img, enc, rng)

    return Case(f"{name}.{EXTENSIONS[enc['fmt']]}", make, enc.get("refused", False))


def generated_cases() -> list[Case]:
    cases = []
    contents = list(CONTENTS)
    k = 0
    for enc in ENCODINGS + ORIENTED:
        for _ in range(enc["n"]):
            size = SIZES[(k * 7) % len(SIZES)]
            if k % 19 == 5:
                size = LARGE[(k // 19) % len(LARGE)]
            elif k % 23 == 11:
                size = TINY[(k // 23) % len(TINY)]
            modifier = MODIFIERS[(k * 3) % len(MODIFIERS)]
            if "orientation" in enc or min(size) < 8:
                modifier = "plain"
            cases.append(_generated(k, contents[k % len(contents)], size, modifier, enc))
            k += 1
    # The trim on its own: every modifier, lossless and as a JPEG.
    for modifier in MODIFIERS[1:]:
        for enc in (dict(mode="RGB", fmt="PNG"), dict(mode="RGB", fmt="JPEG", opts=dict(quality=90))):
            size = SIZES[(k * 11) % len(SIZES)]
            cases.append(_generated(k, contents[k % len(contents)], size, modifier, enc))
            k += 1
    return cases


# ---------------------------------------------------------------------------
# Files written by hand: what Pillow does not write, and what must be refused
# ---------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, depth: int, colour_type: int, rows: list[bytes],
         chunks: bytes = b"") -> bytes:
    """A PNG of these rows (each without its filter byte), `chunks` before
    the image data."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    data = zlib.compress(b"".join(b"\x00" + row for row in rows))
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + chunks
            + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b""))


def _samples16(rng: random.Random, img: Image.Image) -> list[bytes]:
    """The rows of an 8-bit image as 16-bit big-endian samples: each value
    times 257 plus a little noise in the low byte."""
    row_length = img.width * len(img.getbands())
    data = img.tobytes()
    return [
        b"".join(struct.pack(">H", v * 257 - rng.randint(0, 40) * (v > 0)) for v in
                 data[y * row_length:(y + 1) * row_length])
        for y in range(img.height)
    ]


def png16(colour_type: int, trns: bool = False) -> Callable[[], bytes]:
    """16-bit PNGs (Pillow writes 16-bit grayscale only): gray, RGB, RGBA;
    with `trns`, a colour key (the first pixel's)."""

    def make() -> bytes:
        rng = random.Random(1600 + colour_type)
        img = c_photo(rng, 90, 70)
        if colour_type == 0:
            img = img.convert("L")
        elif colour_type == 6:
            img.putalpha(_alpha(rng, img.size, "blobs"))
        rows = _samples16(rng, img)
        chunks = _png_chunk(b"tRNS", rows[0][: 2 if colour_type == 0 else 6]) if trns else b""
        return _png(img.width, img.height, 16, colour_type, rows, chunks)

    return make


def png_low_depth(depth: int) -> Callable[[], bytes]:
    """Grayscale of 2 or 4 bits a sample, which decoders scale to 8 bits."""

    def make() -> bytes:
        gray = c_fractal(random.Random(depth), 80, 50).convert("L")
        levels = (1 << depth) - 1
        rows = []
        for y in range(gray.height):
            values = [gray.getpixel((x, y)) * levels // 255 for x in range(gray.width)]
            bits = "".join(format(v, f"0{depth}b") for v in values)
            bits += "0" * (-len(bits) % 8)
            rows.append(int(bits, 2).to_bytes(len(bits) // 8, "big"))
        return _png(gray.width, gray.height, depth, 0, rows)

    return make


def gif_small_first_frame(transparent: bool) -> Callable[[], bytes]:
    """A GIF whose logical screen is larger than its first frame: the CLI
    leaves the rest transparent (white); Pillow fills it with colour 0."""

    def make() -> bytes:
        frame = c_shapes(random.Random(77), 40, 30).quantize(32)
        out = io.BytesIO()
        frame.save(out, "GIF", **({"transparency": 0} if transparent else {}))
        data = bytearray(out.getvalue())
        data[6:10] = struct.pack("<HH", 64, 50)  # the logical screen
        descriptor = data.index(b"\x2c", 13 + 3 * 2 ** ((data[10] & 7) + 1))
        data[descriptor + 1:descriptor + 5] = struct.pack("<HH", 12, 9)  # the frame's place
        return bytes(data)

    return make


def bmp(bits: int, masks: tuple[int, ...] | None) -> Callable[[], bytes]:
    """A BMP Pillow does not write: 16-bit (5-5-5 without bitfields, or the
    given masks), or 32-bit with an alpha mask (a version 4 header)."""

    def make() -> bytes:
        rng = random.Random(bits)
        img = c_photo(rng, 61, 37)
        if bits == 32:
            img.putalpha(_alpha(rng, img.size, "gradient"))
        widths = [m.bit_count() for m in masks] if masks else [5, 5, 5]
        shifts = [(m & -m).bit_length() - 1 for m in masks] if masks else [10, 5, 0]
        stride = (img.width * bits // 8 + 3) & ~3
        rows = []
        for y in reversed(range(img.height)):  # bottom-up
            row = b""
            for x in range(img.width):
                pixel = img.getpixel((x, y))
                value = sum((c >> (8 - n)) << s for c, n, s in zip(pixel, widths, shifts, strict=True))
                row += value.to_bytes(bits // 8, "little")
            rows.append(row.ljust(stride, b"\x00"))
        header_size = 108 if bits == 32 else 40
        compression = 3 if masks else 0
        header = struct.pack("<IiiHHIIiiII", header_size, img.width, img.height, 1, bits,
                             compression, stride * img.height, 2835, 2835, 0, 0)
        if bits == 32:
            header += struct.pack("<IIII", *masks) + bytes(header_size - 56)
        elif masks:
            header += struct.pack("<III", *masks[:3])
        offset = 14 + len(header)
        return (b"BM" + struct.pack("<IHHI", offset + stride * img.height, 0, 0, offset)
                + header + b"".join(rows))

    return make


def tiff_cmyk(seed: int) -> Callable[[], bytes]:
    """A CMYK TIFF of smooth channels, black included: the CLI truncates
    its conversion to RGB where Pillow rounds, which changes these codes."""

    def make() -> bytes:
        rng = random.Random(seed)
        cmy, k = c_smooth(rng, 40, 40), c_smooth(rng, 40, 40)
        out = io.BytesIO()
        Image.merge("CMYK", (*cmy.split(), k.getchannel(0))).save(out, "TIFF")
        return out.getvalue()

    return make


def jpeg_two_exif_segments() -> bytes:
    """A JPEG with two EXIF segments (orientations 6, then 3): the CLI
    follows the last one."""
    out = io.BytesIO()
    c_photo(random.Random(36), 120, 80).save(out, "JPEG", quality=90, exif=_exif(6))
    data = out.getvalue()
    second = b"Exif\x00\x00" + _exif(3)[6:]
    segment = b"\xff\xe1" + struct.pack(">H", len(second) + 2) + second
    at = data.index(b"\xff\xdb")  # before the first quantisation table
    return data[:at] + segment + data[at:]


def jpeg(quality: int = 90, size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    c_photo(random.Random(5), *size).save(out, "JPEG", quality=quality)
    return out.getvalue()


def jpeg_declaring(width: int, height: int) -> bytes:
    """A JPEG whose frame header declares another size."""
    data = bytearray(jpeg())
    at = data.index(b"\xff\xc0") + 5
    data[at:at + 4] = struct.pack(">HH", height, width)
    return bytes(data)


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares another size (with a valid checksum)."""
    out = io.BytesIO()
    c_photo(random.Random(6), 30, 20).save(out, "PNG")
    data = out.getvalue()
    ihdr = struct.pack(">II", width, height) + data[24:29]
    return data[:8] + _png_chunk(b"IHDR", ihdr) + data[33:]


def gif_declaring(width: int, height: int) -> bytes:
    out = io.BytesIO()
    c_photo(random.Random(7), 30, 20).quantize(16).save(out, "GIF")
    data = bytearray(out.getvalue())
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def encoded(fmt: str, **opts) -> bytes:
    out = io.BytesIO()
    c_photo(random.Random(8), 48, 32).save(out, fmt, **opts)
    return out.getvalue()


def tiff_extra_sample(kind: int) -> Callable[[], bytes]:
    """An RGBA TIFF whose fourth sample is marked associated alpha (1,
    premultiplied) or unspecified (0) rather than unassociated alpha (2):
    its ExtraSamples entry rewritten."""

    def make() -> bytes:
        rng = random.Random(9)
        img = c_photo(rng, 50, 40)
        img.putalpha(_alpha(rng, img.size, "gradient"))
        out = io.BytesIO()
        img.save(out, "TIFF")
        entry = struct.pack("<HHIH", 338, 3, 1, 2)
        data = out.getvalue()
        assert data.count(entry) == 1
        return data.replace(entry, struct.pack("<HHIH", 338, 3, 1, kind))

    return make


def damaged_jpeg(every: int | None) -> bytes:
    """A JPEG with garbage through the second half of its scan (every
    `every`-th byte changed), or with `None` one byte changed in its
    middle; the end-of-image marker kept."""
    data = bytearray(jpeg(size=(160, 120)))
    middle = len(data) // 2
    for i in range(middle, len(data) - 2, every) if every else [middle]:
        data[i] ^= 0x5A
    return bytes(data)


HANDWRITTEN = [
    Case("png16_gray.png", png16(0)),
    Case("png16_gray_trns.png", png16(0, trns=True)),
    Case("png16_rgb.png", png16(2)),
    Case("png16_rgb_trns.png", png16(2, trns=True)),
    Case("png16_rgba.png", png16(6)),
    Case("png_gray2.png", png_low_depth(2)),
    Case("png_gray4.png", png_low_depth(4)),
    Case("gif_small_first_frame.gif", gif_small_first_frame(transparent=False)),
    Case("gif_small_first_frame_transparent.gif", gif_small_first_frame(transparent=True)),
    Case("bmp16_555.bmp", bmp(16, None)),
    Case("bmp16_565.bmp", bmp(16, (0xF800, 0x07E0, 0x001F))),
    Case("bmp32_alpha.bmp", bmp(32, (0xFF0000, 0xFF00, 0xFF, 0xFF000000))),
    Case("jpeg_two_exif.jpg", jpeg_two_exif_segments),
    Case("jpeg_trailing_zeros.jpg", lambda: jpeg() + bytes(100)),
    Case("jpeg_one_damaged_byte.jpg", lambda: damaged_jpeg(None)),
    Case("jpeg_damaged_scan.jpg", lambda: damaged_jpeg(13)),
    Case("tiff_jpeg_compressed.tif", lambda: encoded("TIFF", compression="jpeg")),
    Case("tiff_cmyk_smooth_1.tif", tiff_cmyk(1)),
    Case("tiff_cmyk_smooth_3.tif", tiff_cmyk(3)),
    Case("tiff_cmyk_smooth_5.tif", tiff_cmyk(5)),
    Case("tiff_associated_alpha.tif", tiff_extra_sample(1)),
    Case("tiff_unspecified_extra_sample.tif", tiff_extra_sample(0)),
    # Refused.
    Case("not_an_image.jpg", lambda: b"Consentry: not an image at all.\n" * 20, refused=True),
    Case("empty_file.png", lambda: b"", refused=True),
    Case("jpeg_truncated.jpg", lambda: jpeg()[:-200], refused=True),
    Case("jpeg_30000x30000.jpg", lambda: jpeg_declaring(30_000, 30_000), refused=True),
    Case("png_20000x7000.png", lambda: png_declaring(20_000, 7_000), refused=True),
    Case("png_0x20.png", lambda: png_declaring(0, 20), refused=True),
    Case("gif_65535x65535.gif", lambda: gif_declaring(65_535, 65_535), refused=True),
    Case("ico_pillow_opens.ico", lambda: encoded("ICO"), refused=True),
    Case("ppm_pillow_opens.ppm", lambda: encoded("PPM"), refused=True),
]

CASES = generated_cases() + HANDWRITTEN

KNOWN_DIFFERENCES = {
    "jpeg_damaged_scan.jpg": (
        "a JPEG with garbage through its scan: the CLI's decoding (libjpeg-turbo, and zune-jpeg "
        "where that fails) repairs it otherwise than Pillow's libjpeg-turbo"
    ),
}
"""Files whose codes differ from the CLI's, and why."""

PIL_IMAGE_DIFFERENCES = {
    "tiff_associated_alpha.tif": (
        "Pillow divides the colours of a TIFF with associated alpha by the alpha when it loads them; "
        "only from the file's bytes are they taken as stored, as the CLI takes them"
    ),
}
"""Files whose codes differ from the CLI's when Pillow decoded them, and why."""


def _params(cases: list[Case], known: dict[str, str]) -> list:
    """The cases' names as test parameters, those with a known difference
    expected to fail (strictly: a case that starts to pass is reported)."""
    return [
        pytest.param(c.name, marks=pytest.mark.xfail(reason=known[c.name], strict=True))
        if c.name in known else c.name
        for c in cases
    ]


# ---------------------------------------------------------------------------
# The CLI's answers
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What `consentry fingerprint --views` printed for a file: its four
    view codes, or an error."""

    codes: tuple[str, ...] = ()
    error: str | None = None


@pytest.fixture(scope="session")
def corpus() -> dict[str, bytes]:
    """The test set's files, by name."""
    return {case.name: case.make() for case in CASES}


@pytest.fixture(scope="session")
def cli(corpus: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Answer]:
    """The CLI's answer for every file, from one run on all of them."""
    if not BIN.is_file():
        pytest.fail(f"no consentry binary at {BIN}: build it (cargo build) or set CONSENTRY_BIN")
    directory = tmp_path_factory.mktemp("fingerprint")
    for name, data in corpus.items():
        (directory / name).write_bytes(data)
    names = list(corpus)
    proc = subprocess.run(
        [str(BIN), "fingerprint", "--views", *names], cwd=directory, capture_output=True, text=True
    )
    answers: dict[str, Answer] = {}
    for line in proc.stdout.splitlines():
        codes, _, name = line.partition("\t")
        answers[name] = Answer(codes=tuple(codes.split()))
    for line in proc.stderr.splitlines():  # "error: <file>: <why>", then a count
        name, _, message = line.removeprefix("error: ").partition(": ")
        if name in corpus:
            answers[name] = Answer(error=message)
    missing = sorted(set(names) - set(answers))
    assert not missing, f"no answer from the CLI for {missing}; stderr: {proc.stderr}"
    return answers


def _kind(message: str) -> str:
    """The kind of error a CLI message is (fingerprint::Error's variants)."""
    prefixes = {
        "not an image in a supported format": "not-an-image",
        "the image is ": "too-large",
        "the image does not decode: ": "decode",
        "the image has no pixels": "empty",
    }
    return next(kind for prefix, kind in prefixes.items() if message.startswith(prefix))


def _without_repeats(codes: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys(codes))


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", _params(CASES, KNOWN_DIFFERENCES))
def test_codes_or_error_equal_the_cli(name: str, corpus: dict[str, bytes], cli: dict[str, Answer]) -> None:
    """The codes of every view, of the whole image and those a check sends
    are the CLI's; a file the CLI refuses is refused for the same reason."""
    answer, data = cli[name], corpus[name]
    refused = next(c.refused for c in CASES if c.name == name)
    assert (answer.error is not None) == refused, answer
    if refused:
        with pytest.raises(FingerprintError) as raised:
            image_codes(data)
        assert raised.value.kind == _kind(answer.error), (str(raised.value), answer.error)
        if raised.value.kind != "decode":  # decoders word their own failures
            assert str(raised.value) == answer.error
        return
    assert len(answer.codes) == 4
    assert image_codes(data) == _without_repeats(answer.codes)
    assert image_codes(data, views=False) == [answer.codes[0]]
    assert check_codes(data) == [answer.codes[0]]


def test_the_set_is_varied(cli: dict[str, Answer]) -> None:
    """Most files are coded, many with four different codes; the refused
    ones are refused for each reason."""
    coded = [a for a in cli.values() if a.error is None]
    assert len(coded) >= 180
    assert sum(len(set(a.codes)) == 4 for a in coded) >= 30
    kinds = {_kind(a.error) for a in cli.values() if a.error is not None}
    assert kinds == {"not-an-image", "too-large", "decode"}


CODED = [c for c in CASES if not c.refused]


@pytest.mark.parametrize("name", _params(CODED, KNOWN_DIFFERENCES | PIL_IMAGE_DIFFERENCES))
def test_a_pil_image_has_its_file_codes(name: str, corpus: dict[str, bytes], cli: dict[str, Answer]) -> None:
    """An image Pillow opened from the file, as `Image.open` gives it (not
    loaded yet: a 16-bit BMP must be), has the file's codes."""
    with Image.open(io.BytesIO(corpus[name])) as img:
        assert image_codes(img) == _without_repeats(cli[name].codes)
    with Image.open(io.BytesIO(corpus[name])) as img:
        assert check_codes(img) == [cli[name].codes[0]]


ORIENTED_JPEGS = [c.name for c in CODED if "orientation" in c.name and c.name.endswith(".jpg")]


@pytest.mark.parametrize("name", ORIENTED_JPEGS)
def test_a_transposed_or_converted_pil_image_has_its_file_codes(
    name: str, corpus: dict[str, bytes], cli: dict[str, Answer]
) -> None:
    """As Hugging Face `datasets` gives images (EXIF-transposed), and after a
    conversion that keeps the EXIF in `info`: the orientation is applied
    once."""
    expected = _without_repeats(cli[name].codes)
    with Image.open(io.BytesIO(corpus[name])) as img:
        assert image_codes(ImageOps.exif_transpose(img)) == expected
        assert image_codes(img.convert("RGB")) == expected


def test_pil_images_are_checked_like_files() -> None:
    with pytest.raises(FingerprintError) as raised:
        image_codes(Image.new("RGB", (0, 5)))
    assert raised.value.kind == "empty"
    assert str(raised.value) == "the image has no pixels"
    with pytest.raises(TypeError):
        image_codes("photo.jpg")  # type: ignore[arg-type]


def test_image_names() -> None:
    for name in ("a.jpg", "A.JPEG", "x.tar.png", ".webp", "dir/scan.TIF", "pic.avif", "pic.jxl"):
        assert is_image_name(name), name
    for name in ("png", "a.png.txt", "a.", "dir.png/notes", "a.svg", "a.heic"):
        assert not is_image_name(name), name


def test_constants_are_the_rust_ones() -> None:
    source = (ROOT / "src" / "fingerprint" / "mod.rs").read_text()
    assert f"MAX_PIXELS: u64 = {fingerprint.MAX_PIXELS:_};" in source
    assert "MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;" in source
    assert fingerprint.MAX_FILE_BYTES == 256 * 1024 * 1024
    extensions = re.search(r"IMAGE_EXTENSIONS: &\[&str\] = &\[(.*?)\];", source, re.S)
    assert extensions is not None
    assert tuple(re.findall(r'"(\w+)"', extensions.group(1))) == fingerprint.IMAGE_EXTENSIONS
    assert f"CODE_BITS: u32 = {fingerprint.CODE_BITS};" in source


def test_iscc_lib_passes_its_conformance_vectors() -> None:
    assert iscc_lib.conformance_selftest()

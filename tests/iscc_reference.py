#!/usr/bin/env python3
"""Conformance check of `consentry fingerprint` against the ISCC reference.

Generates a deterministic set of test images (Pillow and numpy only: no
downloads), computes each file's ISCC Image-Code (64 bits) with the reference
implementation, `iscc-sdk` (`code_image` with its default normalisation:
EXIF transpose, transparency onto white, tolerant border trim, Pillow's
convert("L") and BICUBIC resize to 32x32, then `iscc_lib.gen_image_code_v0`),
runs `consentry fingerprint` once on all files, and compares.

Passes (exit 0) only if
  * both sides give a code for the same files (a file the reference cannot
    code may be refused by consentry as well: reported, not a failure),
  * at least 99 % of the files coded by both have equal codes, and
  * every differing code is within 2 bits (Hamming distance of the 64-bit
    bodies).
Exit 1 when the comparison fails, 2 when it cannot run (no binary, ...).

Run (from the repository root):
    python3 -m venv /tmp/iscc-venv
    /tmp/iscc-venv/bin/pip install -r tests/iscc_reference_requirements.txt
    cargo build --release
    /tmp/iscc-venv/bin/python tests/iscc_reference.py

The binary is $CONSENTRY_BIN, else target/release/consentry, else
target/debug/consentry (also looked up under $CARGO_TARGET_DIR).

Options: --keep DIR keeps the images (and writes reference.tsv there);
--reference-only skips consentry; --diagnose N tells which step differs for
every differing file (decoding, trim, luma/resize) and prints the reference's
normalised pixels of the N largest; --jobs N (default: CPUs).

The reference's codes depend on its Pillow: from Pillow 13.0.0 on, a resize
whose height shrinks by more than twice as many pixels as its width runs the
vertical pass first (earlier versions always ran the horizontal one first), so
tall images get other codes; tests/iscc_reference_requirements.txt pins the
versions, and the summary prints them.

Every file name tells how it was made:
    NNN_<content>_<W>x<H>_<modifier>_<mode>_<format and options>.<ext>
"""

from __future__ import annotations

import argparse
import base64
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

REPO = Path(__file__).resolve().parent.parent
SEED = 24138  # ISO 24138
MIN_EQUAL = 0.99
MAX_BITS = 2

# --------------------------------------------------------------------------
# Content: RGB uint8 arrays of shape (h, w, 3)
# --------------------------------------------------------------------------


def _color(rng):
    return rng.integers(0, 256, 3)


def c_linear(rng, w, h):
    """Linear gradient between two colours at a random angle."""
    a = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    t = x * np.cos(a) + y * np.sin(a)
    t = (t - t.min()) / max(t.max() - t.min(), 1e-9)
    c0, c1 = _color(rng), _color(rng)
    return (c0 + (c1 - c0) * t[..., None]).round().clip(0, 255).astype(np.uint8)


def c_radial(rng, w, h):
    """Radial gradient around a random centre, three colour stops."""
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = np.hypot(x - cx, y - cy)
    r = r / max(r.max(), 1e-9)
    c0, c1, c2 = _color(rng), _color(rng), _color(rng)
    t = r[..., None]
    out = np.where(t < 0.5, c0 + (c1 - c0) * (t * 2), c1 + (c2 - c1) * (t * 2 - 1))
    return out.round().clip(0, 255).astype(np.uint8)


def c_noise(rng, w, h):
    """Uniform white noise."""
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _upscaled_noise(rng, w, h, cells, channels=3):
    cw, ch = max(2, min(w, cells)), max(2, min(h, max(2, cells * h // max(w, 1))))
    small = rng.integers(0, 256, (ch, cw, channels), dtype=np.uint8)
    img = Image.fromarray(small if channels == 3 else small[..., 0])
    return np.asarray(img.resize((w, h), Image.Resampling.BICUBIC)).astype(np.float64)


def c_smooth_noise(rng, w, h):
    """Low-frequency noise (a coarse random grid, bicubic upscaled)."""
    return _upscaled_noise(rng, w, h, int(rng.integers(3, 12))).clip(0, 255).astype(np.uint8)


def c_octaves(rng, w, h):
    """Multi-octave value noise ("clouds"), tinted."""
    acc = np.zeros((h, w), np.float64)
    amp, total = 1.0, 0.0
    for cells in (4, 8, 16, 32, 64):
        acc += amp * _upscaled_noise(rng, w, h, cells, channels=1)
        total += amp
        amp *= 0.55
    g = acc / total / 255.0
    c0, c1 = _color(rng), _color(rng)
    return (c0 + (c1 - c0) * g[..., None]).round().clip(0, 255).astype(np.uint8)


def c_shapes(rng, w, h):
    """Random rectangles, ellipses, polygons and lines on a flat background."""
    img = Image.new("RGB", (w, h), tuple(int(v) for v in _color(rng)))
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(4, 14))):
        col = tuple(int(v) for v in _color(rng))
        x0, x1 = sorted(rng.integers(-w // 4, w + w // 4, 2).tolist())
        y0, y1 = sorted(rng.integers(-h // 4, h + h // 4, 2).tolist())
        kind = int(rng.integers(0, 4))
        if kind == 0:
            d.rectangle([x0, y0, x1, y1], fill=col)
        elif kind == 1:
            d.ellipse([x0, y0, x1, y1], fill=col)
        elif kind == 2:
            pts = [(int(rng.integers(0, w)), int(rng.integers(0, h))) for _ in range(5)]
            d.polygon(pts, fill=col)
        else:
            d.line([x0, y0, x1, y1], fill=col, width=max(1, min(w, h) // 25))
    return np.asarray(img)


def c_photo(rng, w, h):
    """Photo-like: blurred shapes over clouds, with a little sensor noise."""
    base = c_octaves(rng, w, h).astype(np.float64)
    shapes = Image.fromarray(c_shapes(rng, w, h))
    shapes = np.asarray(shapes.filter(ImageFilter.GaussianBlur(max(1, min(w, h) / 60))))
    out = 0.55 * base + 0.45 * shapes + rng.normal(0, 4, (h, w, 3))
    return out.round().clip(0, 255).astype(np.uint8)


def c_text(rng, w, h):
    """Lines of text in Pillow's default font, dark on light or inverse."""
    bg = int(rng.integers(200, 256)) if rng.random() < 0.7 else int(rng.integers(0, 50))
    fg = 255 - bg
    img = Image.new("RGB", (w, h), (bg, bg, bg))
    d = ImageDraw.Draw(img)
    size = max(6, int(h / rng.uniform(4, 12)))
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the bitmap font
        font = ImageFont.load_default()
    words = ["consent", "ISCC", "image", "artist", "registry", "24138", "Pillow", "hash"]
    y = int(rng.integers(0, max(1, size // 2)))
    while y < h:
        line = " ".join(words[int(i)] for i in rng.integers(0, len(words), 6))
        col = tuple(int(v) for v in (fg + rng.integers(-30, 30, 3)).clip(0, 255))
        d.text((int(rng.integers(-size, size)), y), line, fill=col, font=font)
        y += int(size * rng.uniform(1.1, 1.8))
    return np.asarray(img)


def c_stripes(rng, w, h):
    """Stripes or a checkerboard in two colours."""
    y, x = np.mgrid[0:h, 0:w]
    p = int(rng.integers(2, max(3, min(w, h) // 3)))
    if rng.random() < 0.5:
        m = ((x // p + y // p) % 2).astype(bool)
    else:
        a = rng.uniform(0, np.pi)
        m = (np.floor((x * np.cos(a) + y * np.sin(a)) / p) % 2).astype(bool)
    c0, c1 = _color(rng), _color(rng)
    return np.where(m[..., None], c0, c1).astype(np.uint8)


def c_plasma(rng, w, h):
    """Sum of random sinusoids per channel."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros((h, w, 3))
    for c in range(3):
        for _ in range(3):
            fx, fy = rng.uniform(-12, 12, 2) / max(w, h)
            out[..., c] += np.sin(2 * np.pi * (fx * x + fy * y) + rng.uniform(0, 6.3))
    return ((out / 6 + 0.5) * 255).round().clip(0, 255).astype(np.uint8)


def c_fractal(rng, w, h):
    """A Mandelbrot detail (computed at most 400 px wide, then resized)."""
    sw, sh = min(w, 400), max(1, min(h, round(400 * h / w)) if w > 400 else h)
    cx, cy = -0.745 + rng.uniform(-0.02, 0.02), 0.11 + rng.uniform(-0.02, 0.02)
    span = rng.uniform(0.01, 0.2)
    y, x = np.mgrid[0:sh, 0:sw].astype(np.float64)
    c = (cx + (x / sw - 0.5) * span) + 1j * (cy + (y / sh - 0.5) * span * sh / sw)
    z = np.zeros_like(c)
    n = np.zeros(c.shape, np.float64)
    for i in range(40):
        z = np.where(np.abs(z) <= 2, z * z + c, z)
        n += np.abs(z) <= 2
    t = n / 40
    rgb = np.stack([t, t**0.5, 1 - t], -1) * 255
    img = Image.fromarray(rgb.round().clip(0, 255).astype(np.uint8))
    return np.asarray(img.resize((w, h), Image.Resampling.BILINEAR) if (sw, sh) != (w, h) else img)


CONTENTS = {
    "linear": c_linear,
    "radial": c_radial,
    "noise": c_noise,
    "smooth": c_smooth_noise,
    "clouds": c_octaves,
    "shapes": c_shapes,
    "photo": c_photo,
    "text": c_text,
    "stripes": c_stripes,
    "plasma": c_plasma,
    "fractal": c_fractal,
}

# --------------------------------------------------------------------------
# Modifiers: borders and bands (what the tolerant trim must handle)
# --------------------------------------------------------------------------


def _pad(arr, rng, top, right, bottom, left, color, noise=0):
    h, w, _ = arr.shape
    out = np.empty((h + top + bottom, w + left + right, 3), np.int16)
    out[:] = color
    if noise:
        out += rng.integers(-noise, noise + 1, out.shape).astype(np.int16)
    out[top : top + h, left : left + w] = arr
    return out.clip(0, 255).astype(np.uint8)


def _bw(rng, n):
    return max(1, int(n * rng.uniform(0.04, 0.15)))


def apply_modifier(mod, arr, rng):
    """Returns the modified RGB array (the image grows by any border)."""
    h, w, _ = arr.shape
    col = _color(rng)
    if mod == "plain":
        return arr
    if mod == "border4":  # exact uniform border, all sides
        b = _bw(rng, min(w, h))
        return _pad(arr, rng, b, b, b, b, col)
    if mod == "whiteborder":
        b = _bw(rng, min(w, h))
        return _pad(arr, rng, b, b, b, b, (255, 255, 255))
    if mod == "nearborder":  # noise within +-7: inside the tolerance of 16
        b = _bw(rng, min(w, h))
        return _pad(arr, rng, b, b, b, b, col, noise=7)
    if mod == "roughborder":  # noise within +-12: parts exceed the tolerance
        b = _bw(rng, min(w, h))
        return _pad(arr, rng, b, b, b, b, col, noise=12)
    if mod == "border2":  # top and left only
        return _pad(arr, rng, _bw(rng, h), 0, 0, _bw(rng, w), col)
    if mod == "border3":  # all but the bottom, uneven widths
        return _pad(arr, rng, _bw(rng, h), _bw(rng, w), 0, _bw(rng, w), col, noise=3)
    if mod == "nested":  # white frame around a near-black frame
        inner = _pad(arr, rng, *([_bw(rng, min(w, h))] * 4), (10, 10, 10), noise=4)
        return _pad(inner, rng, *([_bw(rng, min(w, h))] * 4), (255, 255, 255))
    side = mod.split("-")[-1] if "-" in mod else ""
    if mod.startswith(("band-", "nearband-", "roughband-", "skyband-")):
        # One side only: trimmed only if flat within half the tolerance (8)
        n = _bw(rng, h if side in ("top", "bottom") else w) * 2
        noise = {"band": 0, "nearband": 3, "roughband": 6, "skyband": 0}[mod.split("-")[0]]
        pads = {"top": (n, 0, 0, 0), "right": (0, n, 0, 0), "bottom": (0, 0, n, 0), "left": (0, 0, 0, n)}
        out = _pad(arr, rng, *pads[side], col, noise=noise).astype(np.int16)
        if mod.startswith("skyband"):  # a smooth ramp of 14 levels across the band
            ramp = np.linspace(0, 14, n).round().astype(np.int16)
            if side == "top":
                out[:n] += ramp[::-1, None, None]
            elif side == "bottom":
                out[-n:] += ramp[:, None, None]
            elif side == "left":
                out[:, :n] += ramp[None, ::-1, None]
            else:
                out[:, -n:] += ramp[None, :, None]
        return out.clip(0, 255).astype(np.uint8)
    raise ValueError(mod)


# --------------------------------------------------------------------------
# Alpha channels for the modes with transparency
# --------------------------------------------------------------------------


def make_alpha(rng, w, h, kind):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    if kind == "gradient":
        a = x / max(w - 1, 1) * 255
    elif kind == "frame":  # fully transparent frame, opaque inside
        b = max(1, min(w, h) // 8)
        a = np.zeros((h, w))
        a[b : h - b, b : w - b] = 255
    elif kind == "blobs":  # binary mask of ellipses
        img = Image.new("L", (w, h), 0)
        d = ImageDraw.Draw(img)
        for _ in range(5):
            x0, x1 = sorted(rng.integers(0, w + 1, 2).tolist())
            y0, y1 = sorted(rng.integers(0, h + 1, 2).tolist())
            d.ellipse([x0, y0, x1, y1], fill=255)
        a = np.asarray(img, np.float64)
    else:  # "soft": smooth noise over the whole range
        a = _upscaled_noise(rng, w, h, 6, channels=1)
    return a.round().clip(0, 255).astype(np.uint8)


# --------------------------------------------------------------------------
# Encoders
# --------------------------------------------------------------------------


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png16(path, arr16, color_type):
    """A 16-bit PNG (Pillow cannot write 16-bit colour PNGs)."""
    h, w = arr16.shape[:2]
    rows = arr16.reshape(h, -1).astype(">u2").tobytes()
    stride = len(rows) // h
    raw = b"".join(b"\x00" + rows[i * stride : (i + 1) * stride] for i in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
    png += _png_chunk(b"IDAT", zlib.compress(raw, 6)) + _png_chunk(b"IEND", b"")
    Path(path).write_bytes(png)


def _exif(orientation):
    ex = Image.Exif()
    ex[0x0112] = orientation
    return ex


def _quantize(img, rng, colors=256):
    return img.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def encode(path_stem, arr, enc, rng):
    """Saves the RGB array `arr` as encoding `enc`; returns the file path."""
    mode, fmt, opts = enc["mode"], enc["fmt"], dict(enc.get("opts", {}))
    h, w, _ = arr.shape
    rgb = Image.fromarray(arr, "RGB")
    alpha_kind = enc.get("alpha")
    if alpha_kind:
        alpha = make_alpha(rng, w, h, alpha_kind)
    ext = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif"}[fmt]
    path = Path(f"{path_stem}.{ext}")

    if mode == "RGB16" or mode == "RGBA16" or mode == "L16":
        a16 = arr.astype(np.uint16) * 257 + rng.integers(0, 257, arr.shape).astype(np.uint16)
        if mode == "RGB16":
            write_png16(path, a16, 2)
        elif mode == "RGBA16":
            al = alpha.astype(np.uint16) * 257 + rng.integers(0, 257, alpha.shape).astype(np.uint16)
            write_png16(path, np.dstack([a16, al]), 6)
        else:
            write_png16(path, a16[..., 0], 0)
        return path
    if mode == "RGB":
        img = rgb
    elif mode == "RGBA":
        img = rgb.copy()
        img.putalpha(Image.fromarray(alpha, "L"))
    elif mode == "L":
        img = rgb.convert("L")
    elif mode == "LA":
        img = rgb.convert("L")
        img.putalpha(Image.fromarray(alpha, "L"))
        img = img.convert("LA") if img.mode != "LA" else img
    elif mode == "1":
        img = rgb.convert("1")
    elif mode == "P":
        img = _quantize(rgb, rng, int(enc.get("colors", 256)))
    elif mode == "P-trans":  # palette with one transparent index (the most used one)
        img = _quantize(rgb, rng, int(enc.get("colors", 255)))
        counts = img.histogram()
        opts["transparency"] = int(np.argmax(counts))
    elif mode == "RGB-trns":  # RGB PNG with a tRNS colour key (Pillow keeps it in info)
        img = rgb
        opts["transparency"] = tuple(int(v) for v in arr[0, 0])
    elif mode == "L-trns":
        img = rgb.convert("L")
        opts["transparency"] = int(np.asarray(img)[0, 0])
    elif mode == "I;16":
        g = np.asarray(rgb.convert("L")).astype(np.uint16)
        scale = enc.get("scale", 257)
        img = Image.fromarray((g * scale).astype(np.uint16))
        if img.mode != "I;16":
            img = img.convert("I;16")
    elif mode == "CMYK":
        img = rgb.convert("CMYK")
    else:
        raise ValueError(mode)

    if "orientation" in enc:
        if fmt == "TIFF":
            opts["tiffinfo"] = {0x0112: enc["orientation"]}
        else:
            opts["exif"] = _exif(enc["orientation"]).tobytes()
    if enc.get("icc"):
        from PIL import ImageCms

        icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
        icc[24:36] = struct.pack(">6H", 2024, 1, 1, 0, 0, 0)  # a fixed creation date: same bytes every run
        opts["icc_profile"] = bytes(icc)
    if enc.get("animated"):
        frames = [img]
        for _ in range(2):
            other = Image.fromarray(rng.integers(0, 256, arr.shape, dtype=np.uint8), "RGB")
            frames.append(_quantize(other, rng) if img.mode == "P" else other.convert(img.mode))
        img.save(path, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **opts)
        return path
    img.save(path, fmt, **opts)
    return path


# Each encoding: mode, format, save options; "n" = how many images it gets.
ENCODINGS = [
    # PNG
    dict(mode="RGB", fmt="PNG", n=10),
    dict(mode="RGB", fmt="PNG", opts=dict(compress_level=1), n=3),
    dict(mode="RGBA", fmt="PNG", alpha="gradient", n=4),
    dict(mode="RGBA", fmt="PNG", alpha="frame", n=4),
    dict(mode="RGBA", fmt="PNG", alpha="blobs", n=4),
    dict(mode="RGBA", fmt="PNG", alpha="soft", n=3),
    dict(mode="LA", fmt="PNG", alpha="gradient", n=3),
    dict(mode="LA", fmt="PNG", alpha="frame", n=3),
    dict(mode="L", fmt="PNG", n=6),
    dict(mode="1", fmt="PNG", n=3),
    dict(mode="P", fmt="PNG", n=5),
    dict(mode="P", fmt="PNG", colors=16, n=3),
    dict(mode="P-trans", fmt="PNG", n=5),
    dict(mode="RGB-trns", fmt="PNG", n=3),
    dict(mode="L-trns", fmt="PNG", n=3),
    dict(mode="I;16", fmt="PNG", n=3),
    dict(mode="I;16", fmt="PNG", scale=1, n=2),  # 16-bit file, values 0..255
    dict(mode="L16", fmt="PNG", n=2),
    dict(mode="RGB16", fmt="PNG", n=3),
    dict(mode="RGBA16", fmt="PNG", alpha="blobs", n=2),
    dict(mode="RGB", fmt="PNG", icc=True, n=2),
    # JPEG
    dict(mode="RGB", fmt="JPEG", opts=dict(quality=95), n=8),
    dict(mode="RGB", fmt="JPEG", opts=dict(quality=75), n=8),
    dict(mode="RGB", fmt="JPEG", opts=dict(quality=50), n=5),
    dict(mode="RGB", fmt="JPEG", opts=dict(quality=10), n=4),
    dict(mode="RGB", fmt="JPEG", opts=dict(quality=100, subsampling=0), n=4),
    dict(mode="RGB", fmt="JPEG", opts=dict(quality=85, subsampling=1), n=4),
    dict(mode="RGB", fmt="JPEG", opts=dict(quality=85, progressive=True), n=6),
    dict(mode="RGB", fmt="JPEG", opts=dict(quality=90, optimize=True), n=3),
    dict(mode="RGB", fmt="JPEG", opts=dict(quality=90), icc=True, n=2),
    dict(mode="L", fmt="JPEG", opts=dict(quality=85), n=5),
    dict(mode="CMYK", fmt="JPEG", opts=dict(quality=90), n=5),
    # WebP
    dict(mode="RGB", fmt="WEBP", opts=dict(quality=80), n=6),
    dict(mode="RGB", fmt="WEBP", opts=dict(quality=30), n=4),
    dict(mode="RGBA", fmt="WEBP", alpha="blobs", opts=dict(quality=80), n=3),
    dict(mode="RGB", fmt="WEBP", opts=dict(lossless=True), n=5),
    dict(mode="RGBA", fmt="WEBP", alpha="gradient", opts=dict(lossless=True), n=3),
    dict(mode="RGB", fmt="WEBP", opts=dict(lossless=True), animated=True, n=1),
    # GIF
    dict(mode="P", fmt="GIF", n=5),
    dict(mode="P-trans", fmt="GIF", n=3),
    dict(mode="L", fmt="GIF", n=3),
    dict(mode="P", fmt="GIF", animated=True, n=2),
    # BMP
    dict(mode="RGB", fmt="BMP", n=5),
    dict(mode="RGBA", fmt="BMP", alpha="frame", n=2),
    dict(mode="L", fmt="BMP", n=3),
    dict(mode="P", fmt="BMP", n=3),
    dict(mode="1", fmt="BMP", n=2),
    # TIFF
    dict(mode="RGB", fmt="TIFF", n=4),
    dict(mode="RGB", fmt="TIFF", opts=dict(compression="tiff_lzw"), n=3),
    dict(mode="RGB", fmt="TIFF", opts=dict(compression="tiff_adobe_deflate"), n=2),
    dict(mode="RGBA", fmt="TIFF", alpha="blobs", n=3),
    dict(mode="L", fmt="TIFF", n=3),
    dict(mode="CMYK", fmt="TIFF", n=3),
    dict(mode="I;16", fmt="TIFF", n=2),
    dict(mode="1", fmt="TIFF", n=2),
    dict(mode="P", fmt="TIFF", n=2),
]

# EXIF orientation 1..8 in JPEG (twice each), and a few in PNG, WebP, TIFF.
ORIENTED = [dict(mode="RGB", fmt="JPEG", opts=dict(quality=92), orientation=o, n=2) for o in range(1, 9)]
ORIENTED += [
    dict(mode="RGB", fmt="PNG", orientation=6, n=1),
    dict(mode="RGBA", fmt="PNG", alpha="frame", orientation=3, n=1),
    dict(mode="RGB", fmt="PNG", orientation=5, n=1),
    dict(mode="RGB", fmt="WEBP", opts=dict(quality=85), orientation=6, n=1),
    dict(mode="RGB", fmt="WEBP", opts=dict(lossless=True), orientation=7, n=1),
    dict(mode="RGB", fmt="TIFF", orientation=8, n=1),
    dict(mode="L", fmt="JPEG", opts=dict(quality=90), orientation=6, n=1),
    dict(mode="CMYK", fmt="JPEG", opts=dict(quality=90), orientation=2, n=1),
]

# Sizes (before any border): tiny, odd, non-square, large. Large ones are rare.
SIZES = [
    (20, 20), (21, 37), (32, 32), (33, 31), (64, 48), (48, 64), (97, 61), (100, 1000),
    (1000, 100), (257, 129), (320, 240), (31, 500), (500, 31), (640, 480), (481, 641),
    (127, 127), (800, 600), (1023, 767), (222, 333), (1000, 1000), (25, 60), (150, 149),
    (1280, 720), (399, 401), (720, 1280), (45, 44), (512, 384), (29, 23), (600, 400), (256, 256),
]
LARGE = [(2000, 1500), (1500, 2000), (1920, 1080), (2000, 1499)]
TINY = [(1, 1), (3, 7), (16, 9), (19, 19)]

MODIFIERS = [
    "plain", "border4", "nearborder", "plain", "whiteborder", "roughborder", "border2", "plain",
    "border3", "nested", "band-top", "nearband-left", "roughband-bottom", "skyband-top",
    "band-right", "plain", "nearband-bottom", "skyband-left", "band-bottom", "roughband-right",
]


@dataclass
class Case:
    idx: int
    content: str
    size: tuple
    modifier: str
    enc: dict = field(default_factory=dict)

    def name(self):
        e = self.enc
        tags = [e["fmt"].lower()]
        for k, v in sorted(e.get("opts", {}).items()):
            short = {"quality": "q", "subsampling": "ss", "progressive": "prog", "optimize": "opt",
                     "lossless": "lossless", "compress_level": "zl", "compression": ""}.get(k, k)
            tags.append(short if v is True else f"{short}{v}")
        for k in ("alpha", "colors", "scale", "orientation"):
            if k in e:
                tags.append({"orientation": "exif"}.get(k, k) + str(e[k]))
        if e.get("icc"):
            tags.append("icc")
        if e.get("animated"):
            tags.append("anim")
        mode = e["mode"].replace(";", "")
        return f"{self.idx:03d}_{self.content}_{self.size[0]}x{self.size[1]}_{self.modifier}_{mode}_{'-'.join(tags)}"


def build_cases():
    cases = []
    contents = list(CONTENTS)
    k = 0
    for enc in ENCODINGS + ORIENTED:
        for _ in range(enc["n"]):
            content = contents[k % len(contents)]
            size = SIZES[(k * 7) % len(SIZES)]
            if k % 23 == 5:
                size = LARGE[(k // 23) % len(LARGE)]
            elif k % 37 == 11:
                size = TINY[(k // 37) % len(TINY)]
            modifier = MODIFIERS[(k * 3) % len(MODIFIERS)] if "orientation" not in enc else "plain"
            if min(size) < 8 and modifier != "plain":
                modifier = "plain"
            cases.append(Case(k, content, size, modifier, enc))
            k += 1
    # The trim on its own: every modifier on a few lossless and JPEG images.
    for mod in sorted(set(MODIFIERS) - {"plain"}):
        for fmt_enc in (dict(mode="RGB", fmt="PNG"), dict(mode="RGB", fmt="JPEG", opts=dict(quality=90))):
            content = contents[k % len(contents)]
            cases.append(Case(k, content, SIZES[(k * 11) % len(SIZES)], mod, fmt_enc))
            k += 1
    return cases


def make_case(args):
    case, outdir = args
    rng = np.random.default_rng([SEED, case.idx])
    w, h = case.size
    arr = CONTENTS[case.content](rng, w, h)
    arr = apply_modifier(case.modifier, np.ascontiguousarray(arr), rng)
    path = encode(str(Path(outdir) / case.name()), arr, case.enc, rng)
    return str(path)


def make_skimage(outdir, start):
    """skimage.data images that ship with scikit-image (no download), if installed."""
    try:
        import skimage.data as sd
    except Exception:
        return []
    paths = []
    for i, name in enumerate(["astronaut", "camera", "coffee", "chelsea", "rocket", "horse",
                              "checkerboard", "coins", "moon", "page", "text", "clock"]):
        try:
            arr = getattr(sd, name)()
        except Exception:
            continue
        if arr.dtype == bool:
            arr = arr.astype(np.uint8) * 255
        img = Image.fromarray(np.ascontiguousarray(arr.astype(np.uint8)))
        fmt, ext = (("PNG", "png"), ("JPEG", "jpg"))[i % 2]
        p = Path(outdir) / f"{start + i:03d}_skimage-{name}_{img.width}x{img.height}_plain_{img.mode}_{ext}.{ext}"
        img.save(p, fmt, **({"quality": 88} if fmt == "JPEG" else {}))
        paths.append(str(p))
    return paths


# --------------------------------------------------------------------------
# Reference codes (iscc-sdk) and the comparison
# --------------------------------------------------------------------------


def reference_code(path):
    """iscc-sdk's `code_image` (default normalisation, 64 bits), or an error."""
    import iscc_sdk as idk

    try:
        meta = idk.code_image(path, extract_meta=False, create_thumb=False)
        return path, meta.iscc, None
    except Exception as e:  # a file the reference cannot code
        return path, None, f"{type(e).__name__}: {e}"


def body(code):
    """The 64-bit body of an ISCC Image-Code (base32 after `ISCC:`, minus the 2-byte header)."""
    s = code.removeprefix("ISCC:")
    raw = base64.b32decode(s + "=" * (-len(s) % 8))
    return int.from_bytes(raw[2:], "big")


def hamming(a, b):
    return bin(body(a) ^ body(b)).count("1")


def find_binary():
    env = os.environ.get("CONSENTRY_BIN")
    if env:
        return Path(env)
    candidates = [REPO / "target/release/consentry", REPO / "target/debug/consentry"]
    if os.environ.get("CARGO_TARGET_DIR"):
        t = Path(os.environ["CARGO_TARGET_DIR"])
        candidates += [t / "release/consentry", t / "debug/consentry"]
    for c in candidates:
        if c.is_file():
            return c
    return candidates[0]


def run_consentry(binary, paths):
    """Runs `consentry fingerprint` once; returns ({path: code}, {path: error}, exit code, stderr)."""
    proc = subprocess.run([str(binary), "fingerprint", *paths], capture_output=True, text=True)
    codes, errors = {}, {}
    by_name = {Path(p).name: p for p in paths}

    def resolve(p):
        return p if p in by_name.values() else by_name.get(Path(p).name, p)

    for line in proc.stdout.splitlines():
        if not line.strip():
            continue
        code, sep, p = line.partition("\t")
        if not sep or not code.startswith("ISCC:"):
            print(f"warning: unexpected output line: {line!r}", file=sys.stderr)
            continue
        codes[resolve(p)] = code.strip()
    for line in proc.stderr.splitlines():
        if line.startswith("error: "):
            rest = line[len("error: "):]
            # "path: reason"; paths here have no ": " in them
            p, _, reason = rest.partition(": ")
            errors[resolve(p)] = reason
    return codes, errors, proc.returncode, proc.stderr


def _reference_steps(path):
    """The reference's normalisation of `path` step by step (iscc-sdk's own functions)."""
    import iscc_lib as il
    import iscc_sdk as idk

    img = Image.open(path)
    opened = (img.mode, img.size, sorted(k for k in img.info if k in ("transparency", "dpi", "icc_profile")))
    orientation = img.getexif().get(0x0112)
    rgb = idk.image_fill_transparency(idk.image_exif_transpose(img))
    trimmed = idk.image_trim_tolerant(rgb)

    def code(**opts):
        px = list(idk.image_normalize(Image.open(path), **opts))
        return il.gen_image_code_v0(px, bits=64)["iscc"], px

    whole, px = code()
    untrimmed, _ = code(image_trim_border=False)
    unrotated, _ = code(image_exif_transpose=False)
    return dict(opened=opened, orientation=orientation, rgb=rgb, trimmed=trimmed.size,
                whole=whole, untrimmed=untrimmed, unrotated=unrotated, pixels=px)


def _vertical_first(w, h):
    """Pillow >= 13's pass order for a resize to 32x32 (Resample.c, ImagingResampleInner)."""
    return (h - 32) > 0 and (h - 32) > (w - 32) * 2


def diagnose(binary, differ, codes, outdir, detailed):
    """Tells for each differing file which step differs.

    Pillow's decoded pixels (EXIF-transposed, transparency on white) are saved as a lossless
    RGB PNG, and so are the same pixels after the reference's tolerant trim, and consentry
    codes both (`--views`, whose last code is the untrimmed one). If consentry's code of the
    decoded pixels is the reference's, the files decode differently (decoder, bit depth,
    transparency, orientation). Otherwise the normalisation differs: in the trim if consentry's
    untrimmed code of the trimmed pixels is the reference's, else in the luma or the resize.
    """
    ddir = Path(outdir) / "diag"
    ddir.mkdir(exist_ok=True)
    steps, decoded, trimmed = {}, {}, {}
    for _, p in differ:
        st = _reference_steps(p)
        steps[p] = st
        rgb = np.asarray(st["rgb"].convert("RGB"))  # a new image: no tRNS key carried over
        decoded[p] = str(ddir / (Path(p).name + ".pillow-rgb.png"))
        Image.fromarray(rgb, "RGB").save(decoded[p], "PNG", compress_level=1)
        l, t, r, b = _trim_box(st["rgb"])
        assert (r - l, b - t) == st["trimmed"], (p, (l, t, r, b), st["trimmed"])
        trimmed[p] = str(ddir / (Path(p).name + ".pillow-trimmed.png"))
        Image.fromarray(np.ascontiguousarray(rgb[t:b, l:r]), "RGB").save(trimmed[p], "PNG", compress_level=1)
    files = [q for _, p in differ for q in (decoded[p], trimmed[p])]
    proc = subprocess.run([str(binary), "fingerprint", "--views", *files], capture_output=True, text=True)
    views = {}
    for line in proc.stdout.splitlines():
        cs, _, q = line.partition("\t")
        views[q] = cs.split()
    out = []
    for d, p in differ:
        st = steps[p]
        ref, mine = st["whole"], codes[p]
        dv, tv = views.get(decoded[p], ["?"]), views.get(trimmed[p], ["?"])
        w, h = st["trimmed"]
        mode, _, info = st["opened"]
        if dv[0] == ref:
            where = "DECODING (consentry codes Pillow's decoded pixels as the reference does)"
            if st["orientation"] not in (None, 1) and mine == st["unrotated"]:
                where += "; consentry's code is the reference's without the EXIF transpose"
            if "transparency" in info and mode in ("L", "RGB", "I;16", "I"):
                where += f"; a {mode} file with a tRNS key: Pillow keeps it in info, iscc-sdk ignores it"
            if mode.startswith("I"):
                where += f"; Pillow opens it as {mode}, and its convert('RGB') clips values above 255"
        else:
            if tv[-1] == ref:
                where = "TRIM (consentry's luma and resize of the reference's trimmed pixels agree)"
            else:
                where = "LUMA/RESIZE (consentry's untrimmed code of the reference's trimmed pixels differs)"
                if _vertical_first(w, h):
                    where += (f"; at {w}x{h} Pillow >= 13 resizes vertically first "
                              "(h-32 > 2*(w-32)), consentry horizontally first")
            if dv[0] != mine:
                where += "; the decoded pixels differ as well"
        out.append(f"  d={d:2d} {Path(p).name}: {where}")
    for d, p in differ[:detailed]:
        st = steps[p]
        mode, size, info = st["opened"]
        out.append(f"  {Path(p).name}:")
        out.append(f"    opened {mode} {size[0]}x{size[1]} {info}, EXIF orientation {st['orientation']}, "
                   f"trimmed to {st['trimmed'][0]}x{st['trimmed'][1]}")
        out.append(f"    reference {st['whole']} (untrimmed {st['untrimmed']}); consentry {codes[p]}; "
                   f"consentry of Pillow's pixels {views.get(decoded[p], ['?'])[0]}")
        grid = np.array(st["pixels"], np.uint8).reshape(32, 32)
        out.append("    reference's normalised 32x32 pixels, rows 0-3:")
        for r in grid[:4]:
            out.append("      " + " ".join(f"{v:3d}" for v in r))
    return "\n".join(out)


def _trim_box(rgb):
    """The box iscc-sdk's tolerant trim keeps of an RGB image (its own loop, tracking offsets)."""
    from iscc_sdk.image import TRIM_MAX_PASSES, image_border_bbox

    img = rgb.convert("RGB")
    left = top = 0
    for _ in range(TRIM_MAX_PASSES):
        bbox = image_border_bbox(img, 16)
        if bbox is None or bbox == (0, 0) + img.size:
            break
        w, h = img.size
        sides = (bbox[0] > 0) + (bbox[1] > 0) + (bbox[2] < w) + (bbox[3] < h)
        if sides == 1 and image_border_bbox(img, 8) != bbox:
            break
        img = img.crop(bbox)
        left, top = left + bbox[0], top + bbox[1]
    return left, top, left + img.width, top + img.height


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", metavar="DIR", help="write the images here and keep them")
    ap.add_argument("--reference-only", action="store_true", help="do not run consentry")
    ap.add_argument("--diagnose", type=int, default=3, metavar="N",
                    help="tell which step differs for every differing file, with the reference's "
                         "pixels for the N largest (default 3; -1: no diagnosis)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--min-equal", type=float, default=MIN_EQUAL, metavar="SHARE",
                    help=f"the share of files that must have equal codes (default {MIN_EQUAL})")
    args = ap.parse_args()

    t0 = time.monotonic()
    binary = None
    if not args.reference_only:
        binary = find_binary()
        if not binary.is_file():
            print(f"error: no consentry binary at {binary} (set CONSENTRY_BIN)", file=sys.stderr)
            return 2

    tmp = None
    if args.keep:
        outdir = Path(args.keep)
        outdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="iscc-ref-")
        outdir = Path(tmp.name)

    try:
        cases = build_cases()
        with ProcessPoolExecutor(args.jobs) as pool:
            paths = list(pool.map(make_case, [(c, str(outdir)) for c in cases], chunksize=4))
            paths += make_skimage(outdir, len(cases))
            t_gen = time.monotonic()
            refs = list(pool.map(reference_code, paths, chunksize=4))
        t_ref = time.monotonic()
        ref_codes = {p: c for p, c, _ in refs if c}
        ref_errors = {p: e for p, c, e in refs if c is None}
        from importlib.metadata import version

        print("reference: " + ", ".join(f"{d} {version(d)}" for d in ("iscc-sdk", "iscc-lib", "pillow")))
        print(f"{len(paths)} images generated in {t_gen - t0:.1f} s, "
              f"reference codes in {t_ref - t_gen:.1f} s ({len(ref_codes)} coded, {len(ref_errors)} not)")
        if args.keep:
            with open(outdir / "reference.tsv", "w") as fh:
                for p, c, e in refs:
                    fh.write(f"{c or '-'}\t{Path(p).name}\t{e or ''}\n")
        if args.reference_only:
            for p, e in sorted(ref_errors.items()):
                print(f"  reference has no code: {Path(p).name}: {e}")
            return 0

        codes, errors, rc, stderr = run_consentry(binary, paths)
        t_cons = time.monotonic()
        print(f"consentry fingerprint ({binary}) in {t_cons - t_ref:.1f} s, exit code {rc}")
        if not codes and (rc not in (0, 1) or not errors):
            print(f"error: `{binary} fingerprint` did not run:\n{stderr[-2000:]}", file=sys.stderr)
            return 2

        failures = []
        both = [p for p in paths if p in ref_codes and p in codes]
        equal = [p for p in both if ref_codes[p] == codes[p]]
        differ = sorted(((hamming(ref_codes[p], codes[p]), p) for p in both if ref_codes[p] != codes[p]),
                        key=lambda t: (-t[0], t[1]))
        only_ref = [p for p in paths if p in ref_codes and p not in codes]
        only_cons = [p for p in paths if p not in ref_codes and p in codes]
        neither = [p for p in paths if p not in ref_codes and p not in codes]

        # A file the reference codes and consentry refuses (a palette TIFF,
        # which the image crate does not decode) counts as not equal.
        coded = len(both) + len(only_ref)
        share = len(equal) / coded if coded else 0.0
        print(f"\n{len(paths)} images: {len(both)} coded by both, {len(equal)} equal ({share:.1%}), "
              f"{len(differ)} differ; {len(only_ref)} coded by the reference only, "
              f"{len(only_cons)} by consentry only, {len(neither)} by neither")
        if differ:
            hist = {}
            for d, _ in differ:
                hist[d] = hist.get(d, 0) + 1
            print("differences (bits: files): " + ", ".join(f"{d}: {n}" for d, n in sorted(hist.items())))
            for d, p in differ:
                print(f"  d={d:2d}  {Path(p).name}  ref {ref_codes[p]}  consentry {codes[p]}")
        for p in only_ref:
            why = errors.get(p, "no output line")
            print(f"  consentry gave no code: {Path(p).name}: {why}")
        for p in only_cons:
            print(f"  reference gave no code, consentry did: {Path(p).name}: {ref_errors[p]}")
        for p in neither:
            print(f"  neither coded (accepted): {Path(p).name}: reference: {ref_errors[p]}; "
                  f"consentry: {errors.get(p, 'no output line')}")
        if rc not in (0, 1) or (rc == 1) != bool(only_ref or neither):
            failures.append(f"consentry's exit code {rc} does not match its missing codes")
        if rc not in (0, 1) and stderr:
            print(stderr[-2000:], file=sys.stderr)

        if share < args.min_equal:
            failures.append(f"only {share:.1%} equal (at least {args.min_equal:.0%} required)")
        if differ and differ[0][0] > MAX_BITS:
            failures.append(f"{sum(d > MAX_BITS for d, _ in differ)} differences over {MAX_BITS} bits "
                            f"(largest {differ[0][0]})")
        if only_cons:
            failures.append(f"consentry coded {len(only_cons)} files the reference refuses")

        if differ and args.diagnose >= 0:
            print(f"\ndiagnosis (Pillow's decoded pixels given to consentry as PNG, in {outdir / 'diag'}):")
            print(diagnose(binary, differ, codes, outdir, args.diagnose))

        print(f"\ntotal {time.monotonic() - t0:.1f} s")
        if failures:
            print("FAIL: " + "; ".join(failures))
            return 1
        print(f"PASS: {len(equal)}/{len(both)} equal, every difference within {MAX_BITS} bits")
        return 0
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())

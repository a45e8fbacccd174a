"""The page's image fingerprints (src/web/assets/fingerprint.js) are the
registry's: the ISCC Image-Codes of every view `consentry register` signs.

Builds images with Pillow in a temporary directory (about 4 s), codes them
with `consentry fingerprint --views` ($CONSENTRY_BIN, default
target/debug/consentry) and in Chromium (the module imported by the page,
the files passed in as bytes), and compares.

Measured (Chromium 156 and its libjpeg-turbo, Debian 12; 2026-12) on larger
sets built the same way (this test's generator and variations of it):
  * PNG: 277 files (8- and 16-bit, grey 1/2/4/8/16-bit, palette, alpha,
    tRNS colour keys, Adam7, gAMA, an ICC profile, eXIf orientations 1-8,
    200 of random sizes and frames), every code of every view equal; GIF 3,
    BMP 3, WebP 15 (lossless, lossy q50-q95, alpha, EXIF orientations 1-8,
    an ICC profile): all equal;
  * JPEG: 173 files (qualities 5-100, 4:4:4 / 4:2:2 / 4:2:0, greyscale,
    CMYK, progressive, restart markers, EXIF orientations 1-8, an ICC
    profile; 1×1 to 2000×1500): 173 equal, every view (Chromium decodes
    with libjpeg-turbo's accurate integer IDCT and fancy upsampling, as the
    registry does), so no Hamming distance above 0;
  * damaged files (cut short, no IEND, bad data): refused by both;
  * TIFF: Chromium does not decode it, so the page has no fingerprint where
    the registry has one (the one known difference);
  * time, in a Worker, for a 2000×1500 image's codes after decoding: 38-75 ms
    (best of 7) on a 2-vCPU machine loaded by other jobs (load average 7);
    about 40 ms of CPU for the horizontal passes on an idle core by
    microbenchmark; the browser's decoding took 95-170 ms more.
"""

from __future__ import annotations

import base64
import io
import os
import random
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("CONSENTRY_BIN", "target/debug/consentry"))
if not BIN.is_absolute():
    BIN = ROOT / BIN

# Conformance vectors of gen_image_code_v0 (iscc-core's data.json, as
# vendored by iscc-lib 0.7 in tests/data.json): 1,024 pixels -> code.
ISCC_IMG_256_PIXELS = base64.b64decode(
    "FxENDxlPW1tpRG1jYl1LRTozM0eZn4JQXlBaTTITFxoSEAgJEERrcElPcGFqWkhMV0MrcK6hekphRDhIMhESFg8SCgcLQI1fRmBugHlGQ0Rm"
    "gXymtqhnL1hHLD41ERIVDRELBwZwyK1lXXuAXkdLTXOFmrHOslQhRkctKjESERQNEQwHBmu81rhiWmVXVFBTbHmJsdW8NR8jMjEjKBQQExES"
    "DAcIWbnVz61PUlxZSV5wYFB+ta8tGyMZJSoqFhAUExINBwhFtN/QvpR0eGNHVXljanl1fj8WJB8cLjAYERQSFBAIBz2P3d/PsIGCWGJJYnp8"
    "goFaNRAgLB8vLBgSExIWEQgGNWHB3djImYJvY11nkIFpakYsFRknITMoFxMTExgTCQUrYrLX3byYm3tzZ22TkohqUTUWGhsjMyUXExQVGRQL"
    "BRxnocXPvrOpi4V3aYt8hHNYPRYkKyY3JBkYGBcZEw0GEFdwnry2qKaZgXuEf5+bd2pHGyMpLzsnHBobGBkTDggGS4Chq66Zp6mFXZp9cmBn"
    "U0ofICgySCofGxwaGBIQDQM2g6Sjub+2r6iAlYNAfYZSMSMhLjdIJhwaHBoXEhEQCR2Ap7TDr5LPtp2Ba4yAnGxXISEsODEgGxoeGhgSEhMT"
    "FmuuqKjLk8rfpn9LVIWRcVAhJzUrHB4hHyMaFRMXHBkTUJKG0qHHl+GvgFqJrWZROCY3PSEaJCcjIxoXGRohJhUgjc/CuIaW18qBRJB8aGJC"
    "OEY2JiYkJCUmGhoaGR8oJxtdz9Ohs8mf0oswY31zVktENycoIyMmJyobGx4bHiMqK0GJysKmr4jDnTpibnBaUDYUFyEoJyopKxobJB0dIiUr"
    "JmTG3tfQt7WtV26CfWxkMBkdIiksLSwtGhskHyEjHyImdurn8dTjtHeVio2SjoM8MDEqKi0vLi0eJCIpKywrNz1n8vr55u/fi8Sco6qwmC8p"
    "Nzs5NC0tLiMtIiY0OT02P2jc/vHw8Nipsa3V0MOoQyw5NC0wLS0wLzQmKC01PkpiaInRx7Xc17RtevHs1qM8OjA9NjEsLjI6NCklND5FYmBR"
    "R256aHl4XTJD2/nXf0I7Nik6NyktNUM9NiBDV1FcT0Y9ZlpSSkdGOShuu4RYUUQ4MDpALC00SUgzJFBXVVg/RktXUUtLSk5DMjZFMklPSzk+"
    "N0E3LTRNSCgzTkpbVTZOW0hTSUxJTEo6OEMxQko9OUQ/Nj01M0hGOEFETFhMOFFgRFBJSEtNQj89QTVBRTs7PUY1QDM3RkRAQ0JGT0RCUVZF"
    "TklJSU1BPkRCOkM+QDs9Pjc/LzRNREBFP0RFSElUTEhOTUpITUNDQEY7QEFCQTxBNT0xMw=="
)
ISCC_VECTORS = [
    # (pixels, bits, expected)
    ([0] * 1024, 64, "ISCC:EEAQAAAAAAAAAAAA"),  # test_0000_all_black_64
    ([255] * 1024, 128, "ISCC:EEBYAAAAAAAAAAAAAAAAAAAAAAAAA"),  # test_0001_all_white_128
    (list(ISCC_IMG_256_PIXELS), 256, "ISCC:EED4GQZQTY6J5DTHNDQ7S7EGNENJNRTEGLGHFWXFGNDZHSMO4HEZGZI"),  # test_0003_img_256
    (list(ISCC_IMG_256_PIXELS), 64, "ISCC:EEA4GQZQTY6J5DTH"),  # its first 64 bits (src/domain/fingerprint.rs)
]

# JPEGs: the share of files whose four codes must all equal the registry's,
# and the largest Hamming distance allowed for the others. Measured: all
# equal (see above). The tolerance is kept because JPEG decoding is not
# specified to the bit: a browser whose decoder rounds an IDCT or the chroma
# upsampling differently moves pixels by a level, which changes a code in
# about one JPEG of twenty, by a bit or two (docs/matching.md: the same
# effect between the `image` crate's decoder and libjpeg).
JPEG_MIN_EQUAL = 0.95
JPEG_MAX_DISTANCE = 2

# --- Images ------------------------------------------------------------------


def photo(w: int, h: int, seed: int, mode: str = "RGB") -> Image.Image:
    """Photo-like content: smooth fields, shapes, blur, grain."""
    rnd = random.Random(seed)
    base = max(8, min(128, max(w, h)))
    mand = Image.effect_mandelbrot((base, base), (-2.0 + rnd.random(), -1.2, 0.6 + rnd.random(), 1.2),
                                   30 + rnd.randrange(40))
    rad = Image.radial_gradient("L").rotate(rnd.randrange(360)).resize((base, base))
    lin = Image.linear_gradient("L").rotate(rnd.randrange(360)).resize((base, base))
    img = Image.merge("RGB", (mand, rad, lin)).resize((w, h), Image.BILINEAR)
    draw = ImageDraw.Draw(img)
    for _ in range(rnd.randrange(3, 10)):
        x0, y0 = rnd.randrange(w), rnd.randrange(h)
        x1, y1 = x0 + rnd.randrange(1, w // 2 + 2), y0 + rnd.randrange(1, h // 2 + 2)
        colour = tuple(rnd.randrange(256) for _ in range(3))
        if rnd.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.polygon([(x0, y0), (x1, y0 + rnd.randrange(h)), (x0 + rnd.randrange(w), y1)], fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(rnd.uniform(0.5, 2.5)))
    grain = Image.effect_noise((w, h), rnd.uniform(4, 30)).convert("RGB")
    img = ImageChops.add(img, grain, scale=1.0, offset=-128)
    return img if mode == "RGB" else img.convert(mode)


def framed(inner: Image.Image, pad: int, colour, sides=(1, 1, 1, 1)) -> Image.Image:
    """`inner` on a flat frame `pad` wide on the given sides (left, top, right, bottom)."""
    left, top, right, bottom = (pad * s for s in sides)
    out = Image.new(inner.mode, (inner.width + left + right, inner.height + top + bottom), colour)
    out.paste(inner, (left, top))
    return out


def exif(orientation: int) -> Image.Exif:
    e = Image.Exif()
    e[0x0112] = orientation
    return e


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(w: int, h: int, colour_type: int, depth: int, pixel, extra: bytes = b"", adam7: bool = False) -> bytes:
    """A PNG written by hand (16-bit samples, Adam7): `pixel(x, y)` gives a
    pixel's bytes; filter 0 on every row."""
    passes = ([(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
              if adam7 else [(0, 0, 1, 1)])
    raw = b"".join(b"\x00" + b"".join(pixel(x, y) for x in range(x0, w, dx))
                   for x0, y0, dx, dy in passes if x0 < w and y0 < h for y in range(y0, h, dy))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour_type, 0, 0, int(adam7)))
            + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def exif_block(orientation: int) -> bytes:
    """A raw EXIF (TIFF) block holding only an orientation, as PNG's eXIf holds it."""
    return b"MM\x00*" + struct.pack(">IHHHIHH", 8, 1, 0x112, 3, 1, orientation, 0) + b"\x00" * 4


def icc_profile(gamma: float = 1.0) -> bytes:
    """An RGB matrix/TRC ICC profile far from sRGB (Adobe RGB primaries,
    linear): a browser that applied it would change every pixel."""
    def s15(v):
        return struct.pack(">i", round(v * 65536))

    def xyz(x, y, z):
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [(b"desc", b"desc\0\0\0\0" + struct.pack(">I", 5) + b"test\0" + b"\0" * 78),
            (b"wtpt", xyz(0.9642, 1.0, 0.8249)), (b"rXYZ", xyz(0.6097, 0.3111, 0.0195)),
            (b"gXYZ", xyz(0.2053, 0.6257, 0.0609)), (b"bXYZ", xyz(0.1492, 0.0632, 0.7446)),
            (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve), (b"cprt", b"text\0\0\0\0none\0")]
    offset = 128 + 4 + 12 * len(tags)
    table, data = struct.pack(">I", len(tags)), b""
    for sig, body in tags:
        data += b"\0" * (-(offset + len(data)) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    header = (struct.pack(">I", offset + len(data)) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2020, 1, 1, 0, 0, 0) + b"acsp" + b"\0" * 24 + s15(0.9642) + s15(1.0) + s15(0.8249)
              + b"\0" * 48)
    return header + table + data


def build_images(out: Path) -> dict[str, list[Path]]:
    """The test images, by group: 'exact' (the browser decodes them to the
    registry's pixels), 'jpeg', 'tiff'."""
    groups: dict[str, list[Path]] = {"exact": [], "jpeg": [], "tiff": []}

    def save(group: str, name: str, img: Image.Image, fmt: str = "PNG", **kw) -> None:
        ext = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif"}[fmt]
        path = out / f"{name}.{ext}"
        img.save(path, fmt, **kw)
        groups[group].append(path)

    def write(name: str, data: bytes) -> None:
        path = out / name
        path.write_bytes(data)
        groups["exact"].append(path)

    # Sizes: tiny, around 32 (no resampling on one axis), wide, tall (Pillow
    # 13's vertical pass first), odd.
    for w, h in [(1, 1), (7, 3), (3, 7), (31, 33), (32, 32), (33, 32), (32, 77), (77, 32), (90, 700),
                 (700, 90), (640, 480), (1000, 300), (301, 1200), (100, 99), (129, 31)]:
        save("exact", f"photo_{w}x{h}", photo(w, h, w * 1000 + h))
    rnd = random.Random(3)
    save("exact", "noise_120x80", Image.frombytes("RGB", (120, 80), rnd.randbytes(120 * 80 * 3)))
    # Modes.
    save("exact", "grey", photo(300, 200, 5, "L"))
    save("exact", "bilevel", photo(200, 150, 6).convert("1"))
    save("exact", "palette", photo(250, 180, 7).quantize(64))
    save("exact", "palette_4bit", photo(250, 180, 8).quantize(16), bits=4)
    save("exact", "palette_transparent", photo(200, 200, 9).quantize(32), transparency=3)
    rgba = photo(320, 240, 10).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((320, 240)))
    save("exact", "rgba_alpha_gradient", rgba)
    rgba = photo(300, 300, 11).convert("RGBA")
    mask = Image.new("L", (300, 300), 0)
    ImageDraw.Draw(mask).ellipse((40, 60, 260, 240), fill=255)
    rgba.putalpha(mask.filter(ImageFilter.GaussianBlur(6)))
    save("exact", "rgba_soft_edges", rgba)
    la = photo(150, 210, 12, "L").convert("LA")
    la.putalpha(Image.radial_gradient("L").resize((150, 210)))
    save("exact", "grey_alpha", la)
    keyed = photo(200, 120, 14).quantize(8).convert("RGB")
    save("exact", "rgb_colour_key", keyed, transparency=keyed.getpixel((0, 0)))
    grey = photo(180, 120, 15, "L")
    save("exact", "grey_colour_key", grey, transparency=grey.getpixel((5, 5)))
    # 16 bits: RGB and RGBA keep the high byte; grey is clipped at 255 by
    # the registry (Pillow's I;16), decoded by the module itself.
    src = photo(64, 48, 16)
    write("rgb16.png", png(64, 48, 2, 16, lambda x, y: b"".join(
        struct.pack(">H", min(65535, c * 257 + (x * 37 + y * 11) % 257)) for c in src.getpixel((x, y)))))
    write("rgba16.png", png(64, 48, 6, 16, lambda x, y: b"".join(
        struct.pack(">H", min(65535, c * 257 + (x * 13 + y) % 200)) for c in src.getpixel((x, y)))
        + struct.pack(">H", (x * 1000 + y * 300) % 65536)))
    dark = photo(90, 60, 17, "L")
    sample = lambda x, y: struct.pack(">H", dark.getpixel((x, y)) * 2)  # noqa: E731, 0-510
    write("grey16.png", png(90, 60, 0, 16, sample))
    write("grey16_adam7.png", png(90, 60, 0, 16, sample, adam7=True))
    write("grey16_orientation6.png", png(90, 60, 0, 16, sample, chunk(b"eXIf", exif_block(6))))
    write("grey16_orientation7.png", png(90, 60, 0, 16, sample, chunk(b"eXIf", exif_block(7))))
    write("grey16_colour_key.png", png(90, 60, 0, 16, sample, chunk(b"tRNS", sample(0, 0))))
    small = photo(61, 43, 18)
    write("rgb_adam7.png", png(61, 43, 2, 8, lambda x, y: bytes(small.getpixel((x, y))), adam7=True))
    # Borders: the trim (all sides, one side flat or not, nested, noisy,
    # at the tolerance, transparent).
    inner = photo(200, 150, 20)
    save("exact", "frame_white", framed(inner, 30, (255, 255, 255)))
    save("exact", "frame_black_uneven", framed(inner, 17, (0, 0, 0), (1, 2, 3, 1)))
    save("exact", "band_top_flat", framed(inner, 40, (90, 140, 200), (0, 1, 0, 0)))
    save("exact", "band_left_flat", framed(inner, 25, (250, 250, 245), (1, 0, 0, 0)))
    band = Image.new("RGB", (200, 190))
    band.paste(Image.linear_gradient("L").resize((200, 40)).convert("RGB").point(lambda v: v // 20 + 100), (0, 0))
    band.paste(inner, (0, 40))
    save("exact", "band_top_gradient", band)
    save("exact", "frame_nested", framed(framed(inner, 10, (200, 30, 30)), 12, (30, 200, 30)))
    noisy = framed(inner, 20, (128, 128, 128))
    save("exact", "frame_noisy", ImageChops.add(noisy, Image.effect_noise(noisy.size, 3).convert("RGB"), 1.0, -128))
    save("exact", "frame_tolerance_16", framed(framed(inner, 8, (116, 116, 116)), 8, (100, 100, 100)))
    save("exact", "frame_tolerance_17", framed(framed(inner, 8, (117, 117, 117)), 8, (100, 100, 100)))
    save("exact", "frame_transparent", framed(inner.convert("RGBA"), 20, (0, 0, 0, 0)))
    rnd = random.Random(7)
    for i in range(24):  # random sizes and frames: trims at any offset
        img = photo(rnd.randrange(1, 300), rnd.randrange(1, 300), 100 + i)
        colour = rnd.choice([(255, 255, 255), (0, 0, 0), tuple(rnd.randrange(256) for _ in range(3))])
        img = framed(img, rnd.randrange(1, 23), colour, tuple(rnd.randrange(0, 3) for _ in range(4)))
        save("exact", f"random_frame_{i:02d}_{img.width}x{img.height}", img)
    save("exact", "uniform", Image.new("RGB", (120, 80), (10, 200, 30)))
    save("exact", "gradient", Image.linear_gradient("L").rotate(90).resize((400, 300)).convert("RGB"))
    # What a browser could apply and the registry does not: gamma, a colour
    # profile (colorSpaceConversion 'none'); EXIF orientations it applies.
    buf = io.BytesIO()
    photo(160, 100, 40).save(buf, "PNG")
    write("gamma.png", buf.getvalue()[:33] + chunk(b"gAMA", struct.pack(">I", 100000)) + buf.getvalue()[33:])
    profiled = photo(160, 100, 41)
    save("exact", "icc_profile", profiled, icc_profile=icc_profile())
    save("exact", "icc_profile", profiled, "WEBP", lossless=True, icc_profile=icc_profile())
    save("jpeg", "icc_profile", profiled, "JPEG", quality=90, icc_profile=icc_profile())
    for o in range(1, 9):
        oriented = photo(120, 80, 50 + o)
        save("exact", f"orientation{o}", oriented, exif=exif(o))
        save("exact", f"orientation{o}", oriented, "WEBP", lossless=True, exif=exif(o))
        save("jpeg", f"orientation{o}", oriented, "JPEG", quality=90, exif=exif(o))
    # Other formats.
    ph = photo(240, 160, 60)
    save("exact", "gif", ph.quantize(200), "GIF")
    save("exact", "gif_transparent", ph.quantize(100), "GIF", transparency=5)
    frames = [photo(120, 90, 61 + i).quantize(64) for i in range(3)]
    save("exact", "gif_animated", frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    save("exact", "bmp", photo(101, 67, 64), "BMP")
    save("exact", "bmp_grey", photo(101, 67, 65, "L"), "BMP")
    save("exact", "webp_lossless_alpha", photo(200, 100, 66).convert("RGBA"), "WEBP", lossless=True)
    save("exact", "webp_q80", ph, "WEBP", quality=80)
    save("exact", "webp_q50", photo(400, 300, 67), "WEBP", quality=50)
    save("tiff", "tiff", ph, "TIFF")
    # JPEGs: sizes, qualities, subsampling, progressive, grey, CMYK, frames.
    rnd = random.Random(1234)
    for i in range(72):
        w, h = rnd.randrange(16, 640), rnd.randrange(16, 640)
        quality = rnd.choice([50, 60, 70, 75, 80, 85, 90, 95])
        subsampling = rnd.choice([0, 1, 2, 2])  # 4:4:4, 4:2:2, 4:2:0
        mode = "L" if i % 9 == 4 else "CMYK" if i % 23 == 7 else "RGB"
        img = photo(w, h, 7000 + i)
        if i % 7 == 3:
            img = framed(img, rnd.randrange(5, 40), (255, 255, 255), (1, 1, 0, 1))
        kw = {"quality": quality, "progressive": i % 5 == 1}
        if mode == "RGB":
            kw["subsampling"] = subsampling
        if i % 6 in (2, 5):
            kw["exif"] = exif(6 if i % 6 == 2 else 3)
        save("jpeg", f"j{i:02d}_{w}x{h}_q{quality}_{mode}_s{subsampling}", img.convert(mode), "JPEG", **kw)
    return groups


# --- Running both sides -----------------------------------------------------

BROWSER_CODES = """
const [files, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const fp = await import('/assets/fingerprint.js');
  const out = {};
  for (const [name, b64] of files) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const file = new File([bytes], name);
    try {
      const image = await fp.decodeImage(file);
      out[name] = {
        views: fp.viewCodes(image),
        registered: fp.registeredCodes(image),
        whole: fp.imageCode(image),
        file: await fp.fileCodes(file),
      };
    } catch (e) {
      out[name] = {error: String(e && e.message || e), kind: e && e.kind || null, file: await fp.fileCodes(file)};
    }
  }
  return out;
})().then(done, (e) => done({fatal: String(e && e.stack || e)}));
"""


def browser_codes(driver, base_url: str, paths: list[Path]) -> dict[str, dict]:
    """The module's results for each file, by file name (in batches of a few MB)."""
    driver.get(base_url + "/")
    out: dict[str, dict] = {}
    batch: list[list[str]] = []
    size = 0
    for i, path in enumerate(paths):
        data = path.read_bytes()
        batch.append([path.name, base64.b64encode(data).decode()])
        size += len(data)
        if size > 4_000_000 or i == len(paths) - 1:
            result = driver.execute_async_script(BROWSER_CODES, batch)
            assert "fatal" not in result, result
            out.update(result)
            batch, size = [], 0
    return out


def cli_codes(paths: list[Path]) -> dict[str, list[str] | str]:
    """`consentry fingerprint --views`: the four views' codes of each file by
    name, or the error message."""
    if not BIN.exists():
        pytest.fail(f"{BIN} does not exist: run `cargo build` first (or set CONSENTRY_BIN)")
    r = subprocess.run([str(BIN), "fingerprint", "--views", *map(str, paths)], capture_output=True, text=True)
    out: dict[str, list[str] | str] = {}
    for line in r.stdout.splitlines():
        codes, path = line.split("\t")
        out[Path(path).name] = codes.split(" ")
    for line in r.stderr.splitlines():
        for path in paths:
            if line.startswith(f"error: {path}: "):
                out[path.name] = line[len(f"error: {path}: "):]
    missing = [p.name for p in paths if p.name not in out]
    assert not missing, f"no answer from the CLI for {missing}:\n{r.stderr}"
    return out


def body(code: str) -> int:
    raw = base64.b32decode(code[len("ISCC:"):] + "=" * (-len(code[len("ISCC:"):]) % 8))
    return int.from_bytes(raw[2:], "big")


def distance(a: str, b: str) -> int:
    return bin(body(a) ^ body(b)).count("1")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, list[Path]]:
    return build_images(tmp_path_factory.mktemp("fingerprint-images"))


@pytest.fixture(scope="module")
def registry_codes(images) -> dict[str, list[str] | str]:
    return cli_codes([p for group in images.values() for p in group])


# --- Tests ------------------------------------------------------------------


def test_code_of_pixels_gives_the_conformance_vectors(driver, base_url, tmp_path):
    driver.get(base_url + "/")
    got = driver.execute_async_script("""
const [vectors, done] = [arguments[0], arguments[arguments.length - 1]];
import('/assets/fingerprint.js').then((fp) => {
  const out = vectors.map(([pixels, bits]) => fp.codeOfPixels(pixels, bits));
  out.push(fp.codeOfPixels(Uint8Array.from(vectors[2][0])));  // 64 bits by default
  let refused = null;
  try { fp.codeOfPixels(new Uint8Array(1023)); } catch (e) { refused = String(e.message); }
  out.push(refused);
  return out;
}).then(done, (e) => done(String(e && e.stack || e)));
""", [[pixels, bits] for pixels, bits, _ in ISCC_VECTORS])
    assert got[:len(ISCC_VECTORS)] == [code for _, _, code in ISCC_VECTORS]
    assert got[len(ISCC_VECTORS)] == "ISCC:EEA4GQZQTY6J5DTH"
    assert got[-1] and "1024" in got[-1]
    # The registry's code of a 32×32 grey PNG of the vector's pixels is the
    # vector's too (grey luma is the grey level; no resampling; no border).
    path = tmp_path / "vector.png"
    Image.frombytes("L", (32, 32), ISCC_IMG_256_PIXELS).save(path)
    assert cli_codes([path])["vector.png"][0] == "ISCC:EEA4GQZQTY6J5DTH"


def test_lossless_images_have_the_registrys_codes_for_every_view(driver, base_url, images, registry_codes):
    """PNG, GIF, BMP, WebP: decoded to the registry's pixels, so every code
    of every view is equal."""
    paths = images["exact"]
    page = browser_codes(driver, base_url, paths)
    wrong = []
    for path in paths:
        cli, js = registry_codes[path.name], page[path.name]
        assert isinstance(cli, list), f"{path.name}: the CLI has no code: {cli}"
        assert "error" not in js, f"{path.name}: the page has no code: {js}"
        registered = list(dict.fromkeys(cli))  # registered_codes: no repeats
        if js["views"] != cli or js["registered"] != registered or js["whole"] != cli[0] or js["file"] != registered:
            wrong.append(f"{path.name}: registry {cli}, page {js['views']} "
                         f"(distances {[distance(a, b) for a, b in zip(cli, js['views'])]})")
    assert not wrong, f"{len(wrong)} of {len(paths)} files differ:\n" + "\n".join(wrong)


def test_jpegs_have_the_registrys_codes(driver, base_url, images, registry_codes):
    paths = images["jpeg"]
    page = browser_codes(driver, base_url, paths)
    equal, differ = 0, []
    for path in paths:
        cli, js = registry_codes[path.name], page[path.name]
        assert isinstance(cli, list), f"{path.name}: the CLI has no code: {cli}"
        assert "error" not in js, f"{path.name}: the page has no code: {js}"
        assert js["registered"] == js["file"] and js["whole"] == js["views"][0]
        if js["views"] == cli:
            equal += 1
            assert js["registered"] == list(dict.fromkeys(cli))
        else:
            differ.append((path.name, [distance(a, b) for a, b in zip(cli, js["views"])]))
    summary = f"{equal} of {len(paths)} JPEGs equal; differing (distances per view): {differ}"
    assert equal >= JPEG_MIN_EQUAL * len(paths), summary
    assert all(max(d) <= JPEG_MAX_DISTANCE for _, d in differ), summary


def test_files_without_fingerprints(driver, base_url, images, registry_codes, tmp_path):
    """What the registry does not fingerprint, the page does not either:
    non-images, damaged or truncated files, images over MAX_PIXELS (refused
    before decoding), files not named as images; and TIFF, which the registry
    decodes and Chromium does not (the page registers it without one)."""
    good_jpeg = images["jpeg"][-1].read_bytes()
    good_png = next(p for p in images["exact"] if p.name == "photo_640x480.png").read_bytes()
    grey16 = next(p for p in images["exact"] if p.name == "grey16.png").read_bytes()
    files = {
        "truncated.png": good_png[:-100],
        "grey16_without_iend.png": grey16[:-12],  # decoded by the module itself
        "notes.txt": b"not an image at all\n",
        "garbage.png": b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 10, 10, 8, 2, 0, 0, 0))
                       + chunk(b"IDAT", random.Random(5).randbytes(300)) + chunk(b"IEND", b""),
        "truncated.jpg": good_jpeg[: len(good_jpeg) // 2],
        # A PNG declaring 20000×20000 pixels (and holding a few).
        "huge.png": b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0))
                    + chunk(b"IDAT", zlib.compress(bytes(20001))) + chunk(b"IEND", b""),
    }
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    (tmp_path / "photo.dat").write_bytes(images["exact"][0].read_bytes())  # an image not named as one
    cli = cli_codes(paths)
    assert all(isinstance(message, str) for message in cli.values()), cli
    assert "truncated" in cli["truncated.jpg"], cli
    assert "more than the 128000000 allowed" in cli["huge.png"], cli
    page = browser_codes(driver, base_url, [*paths, tmp_path / "photo.dat", *images["tiff"]])
    for name in files:
        assert page[name]["file"] is None, (name, page[name])
        assert "error" in page[name], (name, page[name])
    assert page["notes.txt"]["kind"] == "not-an-image"
    for name in ["garbage.png", "truncated.png", "grey16_without_iend.png"]:
        assert page[name]["kind"] == "decode", (name, page[name])
    assert page["truncated.jpg"]["kind"] == "decode" and "truncated" in page["truncated.jpg"]["error"]
    assert page["huge.png"]["kind"] == "too-large" and "more than the 128000000 allowed" in page["huge.png"]["error"]
    # `register` fingerprints only files named as images.
    assert page["photo.dat"]["file"] is None and page["photo.dat"]["views"]
    for path in images["tiff"]:
        assert isinstance(registry_codes[path.name], list)
        js = page[path.name]
        if "error" in js:  # Chromium: TIFF does not decode
            assert js["kind"] == "decode" and js["file"] is None, js
        else:  # a browser that decodes TIFF must give the registry's codes
            assert js["views"] == registry_codes[path.name], js

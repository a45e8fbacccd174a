"""Perceptual fingerprints of images: the ISCC Image-Codes ``consentry`` computes.

An ISCC Image-Code (ISO 24138, Content-Code of SubType Image, 64 bits) is
a hash of an image's 32x32 grayscale thumbnail: resized, recompressed and
lightly edited copies of an image have equal or nearby codes. This module
computes them exactly as the CLI does (``src/fingerprint/``; codes equal
byte for byte, in the text form ``ISCC:EEA...`` the CLI prints and sends):

* :func:`image_codes` -- the codes ``consentry register`` signs (one per
  view of the image: whole, centre square, 5 % inset, untrimmed), or with
  ``views=False`` the whole image's code alone, what any ISCC tool computes;
* :func:`check_codes` -- the codes ``consentry check`` and ``filter`` send
  with an item's hash: the whole image's code alone;
* :func:`is_image_name`, :data:`IMAGE_EXTENSIONS`, :data:`MAX_PIXELS`,
  :data:`MAX_FILE_BYTES` -- which files the CLI fingerprints.

How it computes them. The CLI reproduces, to the pixel, the ISCC reference
implementation (``iscc-sdk``), which runs on Pillow: transparency painted
onto white with Pillow's ``paste`` rounding, a tolerant trim of flat
borders, Pillow's ``convert("L")`` and its bicubic ``resize`` to 32x32,
then ``iscc-lib``'s ``gen_image_code_v0``. Here Pillow does those steps
itself and the same ``iscc-lib`` computes the code. Decoding is Pillow's
too: JPEGs through libjpeg-turbo, as the CLI decodes them (accurate integer
IDCT, "fancy" chroma upsampling); PNG, GIF, BMP, TIFF and WebP decode to
the same pixels. Where the CLI's decoders (Rust's ``image`` crate) differ
from Pillow's, this module follows the CLI:

* only JPEG, PNG, WebP, GIF, BMP and TIFF are images, recognised by their
  first bytes (as ``image``'s ``guess_format``), whatever Pillow could open;
* a JPEG whose last non-zero bytes are not the end-of-image marker is
  refused as truncated;
* more than :data:`MAX_PIXELS` pixels are refused from the header, before
  any pixel is decoded (Pillow's own decompression-bomb limit, a global
  setting, is not what decides);
* the EXIF orientation is read as the CLI reads it (JPEG: the last
  ``Exif`` APP1 segment; PNG: an ``eXIf`` chunk before the image data;
  WebP: its ``EXIF`` chunk; TIFF: its Orientation tag; the entry must be a
  single SHORT of 1 to 8) and applied;
* a PNG ``tRNS`` colour key of a grayscale or RGB image is not applied
  (palette transparency is); 16-bit grayscale is clipped at 255, 16-bit
  colour (and 16-bit grayscale with a colour key) keeps the high byte;
* a GIF's first frame lies on a transparent, so white, screen (Pillow fills
  the screen around a smaller frame with palette colour 0);
* 16-bit BMP samples are scaled to 8 bits rounding (Pillow truncates);
* TIFFs the CLI does not decode (palette, YCbCr, grayscale with alpha,
  32-bit, signed or floating-point samples) are not images; CMYK TIFFs
  are converted to RGB with the CLI's formula (truncating 32-bit floats),
  associated (premultiplied) alpha is taken as it is stored.

Pillow must be 13.x: from 13.0 on its resize runs the vertical pass first
when the height shrinks by more than twice as much as the width, as the
CLI does (with Pillow 12 about 4 % of images get other codes).

No numpy: every step over pixels is a Pillow operation (in C); Python
loops only over the trim's passes, at most 16 per view.

Where the codes can still differ from the CLI's: JPEGs its libjpeg-turbo
path does not take, which it decodes with ``zune-jpeg`` instead (whose IDCT
rounds differently) or refuses -- CMYK and YCCK JPEGs (those of the tests
have equal codes), arithmetic-coded ones, and damaged ones libjpeg-turbo
fails on; other damaged files, which each decoder repairs or refuses in its
own way (an error here may be pixels there, and the other way round).
"""

from __future__ import annotations

import functools
import io
import struct
from typing import Final, Literal

import iscc_lib
from PIL import (
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageChops,
    ImageMath,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

__all__ = [
    "MAX_PIXELS",
    "MAX_FILE_BYTES",
    "IMAGE_EXTENSIONS",
    "CODE_BITS",
    "FingerprintError",
    "image_codes",
    "check_codes",
    "is_image_name",
]

MAX_PIXELS: Final = 128_000_000
"""Pixels an image may have, at most (``iscc-sdk``'s default limit): larger
ones are refused before they are decoded."""

MAX_FILE_BYTES: Final = 256 * 1024 * 1024
"""Image files of more bytes than this are hashed but not fingerprinted by
``consentry register`` (and from this many bytes on by ``check`` and
``filter`` for files of a folder or manifest)."""

IMAGE_EXTENSIONS: Final = (
    "jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff", "avif", "jxl",
)
"""Extensions (lower case, without the dot) of the files that are images:
those the CLI fingerprints and reports when it cannot, and the member that
is a webdataset sample's work. AVIF and JPEG XL count as images though
they are not decoded: such files are reported as having no fingerprint."""

CODE_BITS: Final = 64
"""Bits of the codes: the ISCC default, what the CLI computes."""

ErrorKind = Literal["not-an-image", "too-large", "decode", "empty"]


class FingerprintError(ValueError):
    """Why an image has no fingerprint (the CLI's ``fingerprint::Error``,
    with its messages).

    Attributes:
        kind: ``"not-an-image"`` (not in a format the CLI decodes: such
            bytes are hashed only, without an error, unless their file name
            says they are an image), ``"too-large"`` (more than
            :data:`MAX_PIXELS` pixels), ``"decode"`` (damaged or truncated)
            or ``"empty"`` (no pixels).
    """

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


def _not_an_image() -> FingerprintError:
    return FingerprintError(
        "not-an-image", "not an image in a supported format (JPEG, PNG, WebP, GIF, BMP, TIFF)"
    )


def _too_large(width: int, height: int) -> FingerprintError:
    return FingerprintError(
        "too-large", f"the image is {width}×{height} pixels, more than the {MAX_PIXELS} allowed"
    )


def _undecodable(why: object) -> FingerprintError:
    return FingerprintError("decode", f"the image does not decode: {why}")


def _empty() -> FingerprintError:
    return FingerprintError("empty", "the image has no pixels")


def is_image_name(name: str) -> bool:
    """Whether a file name's extension says it is an image (the CLI's
    ``named_as_image``): the text after the last dot, in any case, is one of
    :data:`IMAGE_EXTENSIONS`. A path gives the same answer as its name."""
    _, dot, extension = name.rpartition(".")
    return bool(dot) and extension.lower() in IMAGE_EXTENSIONS


# ---------------------------------------------------------------------------
# Decoding (the CLI's fingerprint::decode)
# ---------------------------------------------------------------------------

_OPENERS: Final = {
    "PNG": PngImagePlugin.PngImageFile,
    "JPEG": JpegImagePlugin.JpegImageFile,
    "GIF": GifImagePlugin.GifImageFile,
    "WEBP": WebPImagePlugin.WebPImageFile,
    "TIFF": TiffImagePlugin.TiffImageFile,
    "BMP": BmpImagePlugin.BmpImageFile,
}


def _guess_format(data: bytes) -> str | None:
    """The format the CLI sees in the first bytes (``image``'s
    ``guess_format``), among those it decodes; ``None`` for anything else,
    which the CLI then refuses as not an image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith((b"GIF89a", b"GIF87a")):
        return "GIF"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "WEBP"
    if data.startswith((b"MM\x00*", b"II*\x00")):
        return "TIFF"
    if data.startswith(b"BM"):
        return "BMP"
    return None


def _jpeg_has_end(data: bytes) -> bool:
    """Whether the last bytes that are not zero are a JPEG's end-of-image
    marker: the CLI refuses a JPEG without it, as its decoder would fill a
    truncated scan with grey."""
    end = len(data)
    while end > 0 and data[end - 1] == 0:
        end -= 1
    return end >= 2 and data[end - 2 : end] == b"\xff\xd9"


def _webp_canvas_size(data: bytes) -> tuple[int, int] | None:
    """The canvas size a WebP file's header declares, read here because
    Pillow refuses (with its decompression-bomb error, which names no size)
    a WebP larger than its own limit while opening it."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        return width, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30:
        width = int.from_bytes(data[26:28], "little") & 0x3FFF
        return width, int.from_bytes(data[28:30], "little") & 0x3FFF
    return None


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise _too_large(width, height)
    if width == 0 or height == 0:
        raise _empty()


def _open(data: bytes) -> Image.Image:
    """Decodes an image file's bytes as the CLI does, up to the pixels'
    colours: the format from the first bytes, the pixel limit checked on
    the header's dimensions before decoding. Returns the loaded image with
    its metadata (format, ``info``, EXIF) for :func:`_oriented_on_white`."""
    fmt = _guess_format(data)
    if fmt is None:
        raise _not_an_image()
    if fmt == "JPEG" and not _jpeg_has_end(data):
        raise _undecodable("the JPEG file is truncated (no end-of-image marker)")
    if fmt == "WEBP":
        declared = _webp_canvas_size(data)
        if declared is not None:
            _check_size(*declared)
    try:
        # The plugin's class rather than Image.open: the format is the one
        # the CLI sees, and Pillow's decompression-bomb check (a limit of
        # its own, a global setting) does not decide instead of MAX_PIXELS.
        im = _OPENERS[fmt](io.BytesIO(data))
    except Exception as e:  # any failure of Pillow's parser: the bytes do not decode
        raise _undecodable(e) from e
    if isinstance(im, TiffImagePlugin.TiffImageFile):
        _refuse_tiff_the_cli_does_not_decode(im)
        if im.tile and im.tile[0].args[0] == "RGBa":
            # Associated (premultiplied) alpha: the CLI takes the samples
            # as they are stored, where Pillow divides the colours by it.
            im.tile = [tile._replace(args=("RGBA", *tile.args[1:])) for tile in im.tile]
        # Pillow swaps the size of a TIFF it will rotate; the CLI reports
        # the stored dimensions.
        width, height = im.tag_v2.get(256, 0), im.tag_v2.get(257, 0)
    else:
        width, height = im.size
    _check_size(width, height)
    return _load(im)


def _load(im: Image.Image) -> Image.Image:
    """Decodes the pixels of an opened image; a 16-bit BMP's samples then
    scaled to 8 bits as the CLI's decoder scales them (rounding, where
    Pillow truncates: 3 of 5 bits is 25 there, 24 here). Only a BMP not yet
    loaded still tells its raw mode."""
    rounding = None
    if isinstance(im, BmpImagePlugin.BmpImageFile) and im.tile:
        rounding = _BMP16_ROUNDED.get(im.tile[0].args[0])
    try:
        im.load()
    except Exception as e:  # damaged data, truncated file, unsupported compression
        raise _undecodable(e) from e
    return im.point(rounding) if rounding else im


def _rounded(bits: int) -> list[int]:
    """For each value Pillow makes of a sample of `bits` bits (v 255 / max,
    truncated), the CLI's value (rounded); other values unchanged."""
    top = (1 << bits) - 1
    lut = list(range(256))
    for v in range(top + 1):
        lut[v * 255 // top] = (v * 255 + top // 2) // top
    return lut


_BMP16_ROUNDED: Final = {  # by Pillow's raw mode: the lookup tables of R, G and B
    "BGR;15": _rounded(5) * 3,
    "BGR;16": _rounded(5) + _rounded(6) + _rounded(5),
}


def _refuse_tiff_the_cli_does_not_decode(im: TiffImagePlugin.TiffImageFile) -> None:
    """The CLI's TIFF decoder reads unsigned samples of 1, 8 or 16 bits in
    grayscale, RGB, RGB and alpha, and CMYK; anything else (palette, YCbCr,
    grayscale with alpha, 32-bit integers, floats, signed samples) it
    refuses as not an image (an unsupported colour type)."""
    sample_formats = im.tag_v2.get(339, (1,))
    if isinstance(sample_formats, int):
        sample_formats = (sample_formats,)
    if im.mode not in _TIFF_MODES or any(f != 1 for f in sample_formats):
        raise _not_an_image()


_TIFF_MODES: Final = frozenset(
    {"1", "L", "RGB", "RGBA", "CMYK", "I;16", "I;16B", "I;16L", "I;16N"}
)
_SIXTEEN_BIT_GRAY: Final = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
_DECODED_MODES: Final = _SIXTEEN_BIT_GRAY | {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBa", "CMYK"}
"""The modes of the images Pillow decodes from the files the CLI decodes;
an image of another mode (floating point, HSV...) has no code."""

# ---------------------------------------------------------------------------
# Orientation
# ---------------------------------------------------------------------------

_TRANSPOSE: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_PREFIX: Final = b"Exif\x00\x00"


def _orientation_in_exif(chunk: bytes) -> int:
    """The orientation (1 to 8) of a raw EXIF block (a TIFF header and its
    first directory), read as ``image``'s ``Orientation::from_exif_chunk``
    reads it: the first Orientation entry, which must be one SHORT of 1 to
    8; 1 when there is none or it is not valid."""
    if chunk.startswith(b"II*\x00"):
        order = "<"
    elif chunk.startswith(b"MM\x00*"):
        order = ">"
    else:
        return 1
    try:
        (directory,) = struct.unpack_from(order + "I", chunk, 4)
        (entries,) = struct.unpack_from(order + "H", chunk, directory)
        for i in range(entries):
            tag, kind, count, value, _ = struct.unpack_from(
                order + "HHIHH", chunk, directory + 2 + 12 * i
            )
            if tag == 0x0112 and kind == 3 and count == 1:
                return value if 1 <= value <= 8 else 1
    except struct.error:  # the block ends before the entry does
        return 1
    return 1


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation the CLI applies to this image."""
    if isinstance(im, JpegImagePlugin.JpegImageFile):
        # The CLI reads a JPEG's EXIF with zune-jpeg, which keeps the last
        # Exif segment before the scan (Pillow's info keeps the first).
        segments = [s for marker, s in im.applist if marker == "APP1" and len(s) > 6]
        exif = [s[6:] for s in segments if s.startswith(_EXIF_PREFIX)]
        return _orientation_in_exif(exif[-1]) if exif else 1
    if isinstance(im, (GifImagePlugin.GifImageFile, BmpImagePlugin.BmpImageFile)):
        return 1
    if isinstance(im, TiffImagePlugin.TiffImageFile):
        # Pillow 13 applies the Orientation tag when it loads a TIFF, and
        # then deletes it: what is left is still to be applied.
        value = im.tag_v2.get(0x0112, 1)
        return value if isinstance(value, int) and 1 <= value <= 8 else 1
    exif = im.info.get("exif")
    if not isinstance(exif, bytes):
        return 1
    if isinstance(im, WebPImagePlugin.WebPImageFile):
        # A WebP's EXIF chunk as stored: raw TIFF data, as the CLI reads it.
        return _orientation_in_exif(exif)
    # A PNG's eXIf chunk (Pillow prefixes it) or EXIF Pillow wrote back.
    return _orientation_in_exif(exif.removeprefix(_EXIF_PREFIX))


# ---------------------------------------------------------------------------
# Colours (the CLI's normalize::onto_white)
# ---------------------------------------------------------------------------

_WHITE: Final = (255, 255, 255)


def _paint_onto_white(rgba: Image.Image) -> Image.Image:
    """An RGBA image on white, with the rounding of Pillow's ``paste`` with
    an alpha mask, DIV255(255 (255 - a) + v a), as ``iscc-sdk`` (and so the
    CLI) paints transparency."""
    out = Image.new("RGB", rgba.size, _WHITE)
    out.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
    return out


def _is_png(im: Image.Image) -> bool:
    return isinstance(im, PngImagePlugin.PngImageFile) or im.format == "PNG"


def _is_gif(im: Image.Image) -> bool:
    return isinstance(im, GifImagePlugin.GifImageFile) or im.format == "GIF"


def _sixteen_bit_gray(im: Image.Image) -> Image.Image:
    """16-bit grayscale as the CLI reads it: each sample clipped at 255 (as
    Pillow's ``I;16`` to RGB conversion, which the reference uses), except
    in a PNG with a ``tRNS`` colour key, which the CLI's PNG decoder turns
    into gray and alpha samples of which it keeps the high byte."""
    if _is_png(im) and "transparency" in im.info:
        if im.mode == "I;16B":
            big_endian = im.tobytes()
        else:  # Pillow's conversions to I;16B clip; its packer does not
            big_endian = im.convert("I").tobytes("raw", "I;16B")
        return Image.frombytes("L", im.size, big_endian[0::2])
    return im.convert("I").convert("L")  # Pillow's I to L conversion clips


@functools.cache
def _cmyk_lut() -> list[int]:
    """For index 256 v + k, what the CLI's TIFF decoder (``image``'s
    ``cmyk_to_rgb``) makes of a channel value v with black k: (255 - v)
    (1 - k / 255) in 32-bit floats, truncated. Python's doubles give the
    same as those floats once each result is rounded to 32 bits."""

    def f32(x: float) -> float:
        return struct.unpack("f", struct.pack("f", x))[0]

    lut = []
    for v in range(256):
        for k in range(256):
            lut.append(int(f32((255.0 - v) * f32(1.0 - f32(k / 255.0)))))
    return lut


def _cmyk_tiff_to_rgb(im: Image.Image) -> Image.Image:
    """A CMYK TIFF's pixels as the CLI converts them to RGB (truncating,
    where Pillow's conversion rounds)."""
    cyan, magenta, yellow, black = im.split()
    channels = [
        ImageMath.lambda_eval(lambda a: a["v"] * 256 + a["k"], v=v, k=black).point(_cmyk_lut(), "L")
        for v in (cyan, magenta, yellow)
    ]
    return Image.merge("RGB", channels)


def _on_white(im: Image.Image) -> Image.Image:
    """The image as the CLI's ``onto_white`` leaves it: 8-bit RGB, any
    transparency painted onto white."""
    mode = im.mode
    if mode not in _DECODED_MODES:
        raise _not_an_image()
    if mode in _SIXTEEN_BIT_GRAY:
        return _sixteen_bit_gray(im).convert("RGB")
    if mode == "CMYK" and isinstance(im, TiffImagePlugin.TiffImageFile):
        return _cmyk_tiff_to_rgb(im)
    # A colour key of a grayscale or RGB PNG is kept aside by Pillow and
    # never applied by the CLI; palette transparency, and a GIF's, is.
    keyed = "transparency" in im.info and (mode == "P" or _is_gif(im))
    if mode in ("RGBA", "LA", "PA", "RGBa") or keyed:
        return _paint_onto_white(im.convert("RGBA"))
    if mode == "RGB":
        return im
    # For a CMYK JPEG (Adobe's inverted samples), Pillow's conversion is the
    # CLI's (zune-jpeg's): each channel times the black, divided by 255.
    return im.convert("RGB")


def _screen_of_first_gif_frame(im: Image.Image, rgb: Image.Image) -> Image.Image:
    """A GIF's first frame on its logical screen as the CLI composes it:
    the screen outside the frame is transparent, so white (Pillow fills it
    with palette colour 0 when the GIF has no transparent colour)."""
    if not isinstance(im, GifImagePlugin.GifImageFile) or im.tell() != 0:
        return rgb
    frame = im.dispose_extent
    if frame == (0, 0, *rgb.size):
        return rgb
    screen = Image.new("RGB", rgb.size, _WHITE)
    screen.paste(rgb.crop(frame), frame[:2])
    return screen


def _oriented_on_white(im: Image.Image) -> Image.Image:
    """A decoded image as the CLI normalises it before its views: 8-bit RGB,
    transparency on white, oriented by its EXIF tag."""
    rgb = _screen_of_first_gif_frame(im, _on_white(im))
    method = _TRANSPOSE.get(_orientation(im))
    return rgb.transpose(method) if method is not None else rgb


# ---------------------------------------------------------------------------
# Views and normalisation (the CLI's ViewKind and normalize)
# ---------------------------------------------------------------------------

_Box = tuple[int, int, int, int]
"""A rectangle of an image: left, top, right, bottom (right and bottom
exclusive), as Pillow's ``crop`` takes it."""

_TRIM_TOLERANCE: Final = 16
_TRIM_MAX_PASSES: Final = 16


@functools.cache
def _above(tolerance: int) -> list[int]:
    """The lookup table (R, G and B) marking a difference above the
    tolerance."""
    return [255 if d > tolerance else 0 for d in range(256)] * 3


def _border_bbox(rgb: Image.Image, box: _Box, tolerance: int) -> _Box | None:
    """The bounding box of the pixels of ``box`` that differ from its
    top-left pixel by more than ``tolerance`` in any channel; ``None`` when
    none does (``iscc-sdk``'s ``image_border_bbox``)."""
    area = rgb.crop(box)
    reference = Image.new("RGB", area.size, area.getpixel((0, 0)))
    inner = ImageChops.difference(area, reference).point(_above(tolerance)).getbbox()
    if inner is None:
        return None
    left, top, right, bottom = inner
    return box[0] + left, box[1] + top, box[0] + right, box[1] + bottom


def _trim(rgb: Image.Image, box: _Box) -> _Box:
    """``iscc-sdk``'s ``image_trim_tolerant`` of ``box``: crops near-uniform
    borders repeatedly; a pass that would cut one side only must remove a
    flat band (within half the tolerance), so smooth gradients are kept."""
    for _ in range(_TRIM_MAX_PASSES):
        bbox = _border_bbox(rgb, box, _TRIM_TOLERANCE)
        if bbox is None or bbox == box:
            break
        sides = (
            (bbox[0] > box[0]) + (bbox[1] > box[1]) + (bbox[2] < box[2]) + (bbox[3] < box[3])
        )
        if sides == 1 and _border_bbox(rgb, box, _TRIM_TOLERANCE // 2) != bbox:
            break
        box = bbox
    return box


def _centre_square(width: int, height: int) -> _Box:
    """The centred square of the shorter side: what a ``center_crop``
    resize keeps of a non-square image."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def _inset5(width: int, height: int) -> _Box:
    """The image with 5 % cut from every side (the whole image when that
    leaves nothing)."""
    dx, dy = width // 20, height // 20
    if width - 2 * dx == 0 or height - 2 * dy == 0:
        return 0, 0, width, height
    return dx, dy, width - dx, height - dy


def _code(gray: Image.Image, box: _Box) -> str:
    """The Image-Code of ``box`` of a grayscale image: Pillow's bicubic
    resize of the crop to 32x32, then ``iscc-lib``. Cropping first matters:
    a resize with a ``box`` would sample pixels outside it."""
    pixels = gray.crop(box).resize((32, 32), Image.Resampling.BICUBIC)
    return iscc_lib.gen_image_code_v0(pixels.tobytes(), CODE_BITS).iscc


def _view_codes(rgb: Image.Image, views: bool) -> list[str]:
    """The codes of the views ``consentry register`` signs, in its order
    (whole, centre square, 5 % inset, untrimmed) and without repeats; with
    ``views`` false, the whole image's."""
    width, height = rgb.size
    whole = (0, 0, width, height)
    gray = rgb.convert("L")
    trimmed = [whole, _centre_square(width, height), _inset5(width, height)] if views else [whole]
    boxes = [_trim(rgb, box) for box in trimmed]
    if views:
        boxes.append(whole)  # the untrimmed view
    codes: list[str] = []
    for box in dict.fromkeys(boxes):  # views of the same area share its code
        code = _code(gray, box)
        if code not in codes:
            codes.append(code)
    return codes


# ---------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------


def _decoded(data: bytes | bytearray | memoryview | Image.Image) -> Image.Image:
    """The RGB pixels the CLI would code, from file bytes or a PIL image."""
    if isinstance(data, Image.Image):
        _check_size(*data.size)
        return _oriented_on_white(_load(data))
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected an image file's bytes or a PIL image, not {type(data).__name__}")
    return _oriented_on_white(_open(bytes(data)))


def image_codes(data: bytes | Image.Image, *, views: bool = True) -> list[str]:
    """The ISCC Image-Codes of an image, as ``consentry`` computes them.

    With ``views`` (the default): the codes ``consentry register`` signs,
    in its order and without repeats -- the whole image, its centred square
    (what a ``center_crop`` resize keeps), the image with 5 % cut from every
    side, and the whole image without the border trim; one to four codes.
    Without: the whole image's code alone, what any ISCC tool computes and
    ``consentry fingerprint`` prints.

    ``data`` is an image file's bytes (JPEG, PNG, WebP, GIF, BMP, TIFF) or a
    PIL image (as a Hugging Face dataset gives them). A PIL image's codes
    equal its file's when Pillow decoded it from that file: pass it as
    ``Image.open`` returned it, in its own mode (its class, ``format`` and
    ``info`` tell what the file's do: palette transparency, a PNG's colour
    key, a GIF's screen, the EXIF orientation). The orientation is applied
    once: ``ImageOps.exif_transpose`` (which Hugging Face ``datasets``
    applies to images with the tag) removes the tag, and ``convert`` keeps
    ``info["exif"]``. The codes may differ from the file's for

    * an image converted from palette or grayscale with transparency
      (``convert("RGB")``, or a ``datasets`` ``Image(mode="RGB")`` feature,
      drops the transparency, which the file's code paints white);
    * an image that lost its EXIF (a new image, pasted pixels);
    * an animated image moved to another frame (the file's code is its
      first frame's);
    * a converted JPEG with several EXIF segments (the CLI reads the last,
      ``info`` keeps the first);
    * once loaded, a 16-bit BMP or a TIFF with associated alpha: only the
      file's raw samples tell how the CLI reads them, so pass such images
      not yet loaded, or their bytes.

    Images of modes no supported file decodes to (``F``, ``HSV``...) are
    refused as not an image.

    Returns codes such as ``"ISCC:EEA4GQZQTY6J5DTH"``.

    Raises:
        FingerprintError: the bytes are not an image in a format the CLI
            decodes (``kind`` ``"not-an-image"``), have more than
            :data:`MAX_PIXELS` pixels (``"too-large"``, from the header,
            before decoding), do not decode (``"decode"``) or have no
            pixels (``"empty"``); the messages are the CLI's.
        TypeError: ``data`` is neither bytes nor a PIL image.
    """
    return _view_codes(_decoded(data), views)


def check_codes(data: bytes | Image.Image) -> list[str]:
    """The codes ``consentry check`` and ``filter`` send with an item's
    hash: the whole image's code alone (the other views are only signed by
    ``register``; the registry matches the checked code against all of
    them).

    Raises :class:`FingerprintError` as :func:`image_codes` does; the CLI
    then sends the item's hash without codes and, unless the error's
    ``kind`` is ``"not-an-image"`` for a file whose name does not say it is
    an image (:func:`is_image_name`), reports the message. Which files it
    fingerprints at all: every file of a folder or manifest (those named as
    images if under :data:`MAX_FILE_BYTES`, others if under 16 MiB) and
    every image member (by extension) of a webdataset shard.
    """
    return _view_codes(_decoded(data), views=False)

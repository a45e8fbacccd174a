// Perceptual fingerprints of image files, in the browser: the ISCC
// Image-Codes (ISO 24138:2024, Content-Code of SubType Image, version 0)
// that `consentry register` signs, computed to the bit as the registry
// computes them.
//
// A port of
//   src/fingerprint/mod.rs        decode limits, views, registered_codes
//   src/fingerprint/normalize.rs  onto_white, trim, luma, Pillow's bicubic resize
//   iscc-lib 0.7 gen_image_code_v0 (lib.rs, dct.rs, codec.rs)
// Every floating-point expression keeps the Rust operation order (JS
// numbers are IEEE f64 like Rust's f64, and neither fuses multiply-adds), the
// fixed-point resampling wraps in 32 bits like the Rust, and the DCT's
// cosines are the exact values Rust's f64::cos (glibc) gives, copied, as
// engines' Math.cos may differ in the last bit (V8's does for two of them).
//
// Dependency-free ES module; runs in a page or a Web Worker (no DOM needed:
// createImageBitmap and OffscreenCanvas).
//
// Pixels: the browser decodes the file without colour management
// (colorSpaceConversion 'none': no ICC profile, no gAMA, as the registry).
// PNG, GIF, BMP and WebP decode to the registry's pixels, so their codes are
// equal; JPEGs decode with libjpeg-turbo in Chromium as in the registry
// (accurate integer IDCT, fancy upsampling): equal too in every test so far.
// Where browsers and the registry part, this module follows the registry:
// a PNG colour key (tRNS of a grey or RGB PNG) is not applied, 16-bit grey
// PNGs are decoded here (the registry clips their samples at 255), a WebP's
// EXIF orientation is applied (Chromium ignores it), a JPEG without its
// end-of-image marker is refused. Formats the registry decodes and browsers
// do not (TIFF) have no fingerprint here.

/** The algorithm name of these codes in statements and checks
 * (`src/domain/fingerprint.rs` ISCC_IMAGE). */
export const ALGORITHM = 'iscc-image-v0';

/** Pixels an image may have, at most (`fingerprint::MAX_PIXELS`). */
export const MAX_PIXELS = 128_000_000;

/** Image files larger than this are hashed but not fingerprinted
 * (`fingerprint::MAX_FILE_BYTES`, applied by `consentry register`). */
export const MAX_FILE_BYTES = 256 * 1024 * 1024;

/** Extensions of files that are images (`fingerprint::IMAGE_EXTENSIONS`). */
export const IMAGE_EXTENSIONS = [
  'jpg', 'jpeg', 'png', 'webp', 'gif', 'bmp', 'tif', 'tiff', 'avif', 'jxl',
];

/** Whether a file name's extension says it is an image
 * (`fingerprint::named_as_image`). */
export function namedAsImage(name) {
  const dot = name.lastIndexOf('.');
  return dot >= 0 && IMAGE_EXTENSIONS.includes(name.slice(dot + 1).toLowerCase());
}

/** Why a file has no fingerprint (`fingerprint::Error`): `kind` is
 * 'not-an-image', 'too-large', 'decode' or 'empty'. */
export class FingerprintError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'FingerprintError';
    this.kind = kind;
  }
}

// ---------------------------------------------------------------------------
// Decoding (mirrors fingerprint::decode)
// ---------------------------------------------------------------------------

/** Reads byte ranges of a Blob, the first 64 KiB read once. */
class BlobBytes {
  constructor(blob) {
    this.blob = blob;
    this.head = null;
  }

  async init() {
    this.head = new Uint8Array(await this.blob.slice(0, 65536).arrayBuffer());
    return this;
  }

  /** `len` bytes from `off` (fewer at the end of the blob). */
  async at(off, len) {
    if (off + len <= this.head.length) return this.head.subarray(off, off + len);
    if (off >= this.blob.size) return new Uint8Array(0);
    return new Uint8Array(await this.blob.slice(off, off + len).arrayBuffer());
  }
}

const startsWith = (bytes, sig, at = 0) =>
  bytes.length >= at + sig.length && sig.every((b, i) => bytes[at + i] === b);
const ascii = (s) => Array.from(s, (c) => c.charCodeAt(0));

/** The format the `image` crate's `guess_format` finds from the magic
 * bytes, among those the registry decodes; `null` for anything else
 * (`ImageReader::with_guessed_format`, then NotAnImage). */
function guessFormat(h) {
  if (startsWith(h, [0x89, ...ascii('PNG\r\n\x1a\n')])) return 'png';
  if (startsWith(h, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(h, ascii('GIF89a')) || startsWith(h, ascii('GIF87a'))) return 'gif';
  if (startsWith(h, ascii('RIFF')) && startsWith(h, ascii('WEBP'), 8)) return 'webp';
  if (startsWith(h, [0x4d, 0x4d, 0x00, 0x2a]) || startsWith(h, [0x49, 0x49, 0x2a, 0x00])) return 'tiff';
  if (startsWith(h, ascii('BM'))) return 'bmp';
  return null;
}

const be16 = (b, i) => (b[i] << 8) | b[i + 1];
const be32 = (b, i) => ((b[i] << 24) >>> 0) + (b[i + 1] << 16) + (b[i + 2] << 8) + b[i + 3];
const le16 = (b, i) => b[i] | (b[i + 1] << 8);
const le24 = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
const le32s = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);

/** The dimensions a file's header declares, read before anything is
 * decoded (the registry checks MAX_PIXELS against the decoder's dimensions
 * before decoding pixels); `null` when they cannot be read here (the
 * decoded size is checked too). */
async function declaredSize(r, format) {
  const h = r.head;
  switch (format) {
    case 'png':
      return h.length >= 24 ? { width: be32(h, 16), height: be32(h, 20) } : null;
    case 'gif':
      return h.length >= 10 ? { width: le16(h, 6), height: le16(h, 8) } : null;
    case 'bmp': {
      if (h.length < 26) return null;
      if (le32s(h, 14) === 12) return { width: le16(h, 18), height: le16(h, 20) };
      return { width: Math.abs(le32s(h, 18)), height: Math.abs(le32s(h, 22)) };
    }
    case 'webp': {
      if (h.length < 30) return null;
      const chunk = String.fromCharCode(h[12], h[13], h[14], h[15]);
      if (chunk === 'VP8X') return { width: le24(h, 24) + 1, height: le24(h, 27) + 1 };
      if (chunk === 'VP8L' && h[20] === 0x2f) {
        const bits = le32s(h, 21);
        return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
      }
      if (chunk === 'VP8 ') return { width: le16(h, 26) & 0x3fff, height: le16(h, 28) & 0x3fff };
      return null;
    }
    case 'jpeg': {
      // Walks the marker segments to the frame header (SOFn).
      let off = 2;
      for (let guard = 0; guard < 4096; guard++) {
        const m = await r.at(off, 9);
        if (m.length < 4 || m[0] !== 0xff) return null;
        const marker = m[1];
        if (marker === 0xff) { off += 1; continue; } // fill byte
        if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) { off += 2; continue; }
        if (marker === 0xd9 || marker === 0xda) return null; // no frame header before the scan
        if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
          return m.length >= 9 ? { width: be16(m, 7), height: be16(m, 5) } : null;
        }
        off += 2 + be16(m, 2);
      }
      return null;
    }
    default:
      return null;
  }
}

/** The registry refuses a JPEG without an end-of-image marker (its decoder
 * would fill a truncated scan with grey): the last bytes that are not zero
 * must be FF D9 (as `fingerprint::decode` checks). */
async function jpegHasEnd(blob) {
  const step = 65536;
  let end = blob.size;
  while (end > 0) {
    const start = Math.max(0, end - step);
    const tail = new Uint8Array(await blob.slice(start, end).arrayBuffer());
    let i = tail.length - 1;
    while (i >= 0 && tail[i] === 0) i--;
    if (i >= 0) {
      const last = start + i; // index of the last non-zero byte
      if (last < 1) return false;
      const prev = i >= 1 ? tail[i - 1] : new Uint8Array(await blob.slice(last - 1, last).arrayBuffer())[0];
      return prev === 0xff && tail[i] === 0xd9;
    }
    end = start;
  }
  return false;
}

/** A PNG of colour type grayscale or RGB (no alpha channel) with a `tRNS`
 * colour key: the registry drops the alpha such a key gives
 * (`png_colour_key`, `onto_white(.., ignore_alpha)`), so the keyed pixels
 * keep their colour rather than turning white. Returns the key as the 8-bit
 * RGB the registry's decoder gives those pixels, or `null`. */
async function pngColourKey(r) {
  const h = r.head;
  if (h.length < 29 || !(h[25] === 0 || h[25] === 2)) return null;
  const depth = h[24];
  const colourType = h[25];
  let off = 8;
  for (let guard = 0; guard < 100000; guard++) {
    const c = await r.at(off, 8);
    if (c.length < 8) return null;
    const len = be32(c, 0);
    const type = String.fromCharCode(c[4], c[5], c[6], c[7]);
    if (type === 'IDAT' || type === 'IEND') return null;
    if (type === 'tRNS') {
      const k = await r.at(off + 8, Math.min(len, 6));
      // 16-bit samples: the registry keeps the high byte; fewer than 8 bits:
      // the PNG decoder scales them to 8 bits (1 -> 255, 3 of 2 bits -> 255, ...).
      const to8 = (v) => (depth === 16 ? v >> 8 : depth === 8 ? v & 0xff
        : Math.round(((v & ((1 << depth) - 1)) * 255) / ((1 << depth) - 1)));
      if (colourType === 0 && k.length >= 2) {
        const g = to8(be16(k, 0));
        return [g, g, g];
      }
      if (colourType === 2 && k.length >= 6) return [to8(be16(k, 0)), to8(be16(k, 2)), to8(be16(k, 4))];
      return null;
    }
    off += 12 + len;
  }
  return null;
}

// 16-bit grayscale PNGs (colour type 0, no tRNS): the registry clips each
// sample at 255, as Pillow's I;16 to RGB conversion does
// (`onto_white`'s ImageLuma16 arm), where browsers keep the high byte; so
// those are decoded here: zlib by DecompressionStream, PNG filters, Adam7,
// the eXIf orientation the registry's decoder applies.

/** Adam7 passes: x0, y0, dx, dy. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

/** The EXIF orientation (1-8) of a raw EXIF (TIFF) block, as the `image`
 * crate's Orientation::from_exif_chunk reads it; 1 when there is none. */
function exifOrientation(b) {
  if (b.length < 8) return 1;
  const le = b[0] === 0x49 && b[1] === 0x49 && b[2] === 42 && b[3] === 0;
  const bigE = b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 42;
  if (!le && !bigE) return 1;
  const u16 = (i) => (le ? b[i] | (b[i + 1] << 8) : (b[i] << 8) | b[i + 1]);
  const u32 = (i) => (le ? (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16)) + b[i + 3] * 2 ** 24 : be32(b, i));
  let at = u32(4);
  if (at + 2 > b.length) return 1;
  const entries = u16(at);
  at += 2;
  for (let e = 0; e < entries && at + 12 <= b.length; e++, at += 12) {
    if (u16(at) === 0x112 && u16(at + 2) === 3 && u32(at + 4) === 1) {
      const v = u16(at + 8);
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

let crcTable = null;

/** CRC-32 (ISO-HDLC, PNG's) of bytes[from, to). */
function crc32(bytes, from, to) {
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c;
    }
  }
  let c = -1;
  for (let i = from; i < to; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** Decodes a 16-bit grayscale PNG as the registry does: every sample
 * min(v, 255), oriented by its eXIf chunk (`Orientation`, `apply_orientation`). */
async function decodeGray16Png(blob) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const width = be32(bytes, 16);
  const height = be32(bytes, 20);
  const interlaced = bytes[28] === 1;
  const idat = [];
  let orientation = 1;
  let off = 8;
  let seenIdat = false;
  let ended = false;
  // Like the registry's decoder (and browsers'), a chunk cut short, a bad
  // CRC or a missing IEND is an error.
  const damaged = (why) => new FingerprintError('decode', `the image does not decode: ${why}`);
  while (!ended) {
    if (off + 12 > bytes.length) throw damaged('unexpected end of file');
    const len = be32(bytes, off);
    if (off + 12 + len > bytes.length) throw damaged('unexpected end of file');
    if (crc32(bytes, off + 4, off + 8 + len) !== be32(bytes, off + 8 + len)) throw damaged('a PNG chunk fails its CRC');
    const type = String.fromCharCode(bytes[off + 4], bytes[off + 5], bytes[off + 6], bytes[off + 7]);
    const data = bytes.subarray(off + 8, off + 8 + len);
    if (type === 'IDAT') { idat.push(data); seenIdat = true; }
    else if (type === 'eXIf' && !seenIdat) orientation = exifOrientation(data);
    else if (type === 'IEND') ended = true;
    off += 12 + len;
  }
  let raw;
  try {
    const stream = new Blob(idat).stream().pipeThrough(new DecompressionStream('deflate'));
    raw = new Uint8Array(await new Response(stream).arrayBuffer());
  } catch {
    throw damaged('damaged PNG image data');
  }
  const gray = new Uint8Array(width * height);
  let pos = 0;
  for (const [x0, y0, dx, dy] of interlaced ? ADAM7 : [[0, 0, 1, 1]]) {
    const pw = width > x0 ? Math.ceil((width - x0) / dx) : 0;
    const ph = height > y0 ? Math.ceil((height - y0) / dy) : 0;
    if (pw === 0 || ph === 0) continue;
    const rowBytes = pw * 2;
    let prev = new Uint8Array(rowBytes);
    let cur = new Uint8Array(rowBytes);
    for (let py = 0; py < ph; py++) {
      if (pos + 1 + rowBytes > raw.length) {
        throw new FingerprintError('decode', 'the image does not decode: the PNG data is truncated');
      }
      const filter = raw[pos];
      cur.set(raw.subarray(pos + 1, pos + 1 + rowBytes));
      pos += 1 + rowBytes;
      for (let i = 0; i < rowBytes; i++) {
        const a = i >= 2 ? cur[i - 2] : 0;
        const b = prev[i];
        const c = i >= 2 ? prev[i - 2] : 0;
        let pred;
        switch (filter) {
          case 0: pred = 0; break;
          case 1: pred = a; break;
          case 2: pred = b; break;
          case 3: pred = (a + b) >> 1; break;
          case 4: {
            const p = a + b - c;
            const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
            pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
            break;
          }
          default:
            throw new FingerprintError('decode', `the image does not decode: unknown PNG filter ${filter}`);
        }
        cur[i] = (cur[i] + pred) & 0xff;
      }
      const y = y0 + py * dy;
      for (let px = 0; px < pw; px++) {
        gray[y * width + x0 + px * dx] = cur[2 * px] === 0 ? cur[2 * px + 1] : 255;
      }
      [prev, cur] = [cur, prev];
    }
    prev.fill(0);
  }
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0, o = 0; i < gray.length; i++, o += 4) {
    rgba[o] = rgba[o + 1] = rgba[o + 2] = gray[i];
    rgba[o + 3] = 255;
  }
  return orient({ width, height, rgba }, orientation);
}

/** The `image` crate's apply_orientation for an EXIF orientation (1-8):
 * a new image (the same one for 1). */
function orient(image, orientation) {
  if (!(orientation >= 2 && orientation <= 8)) return image;
  const { width, height, rgba } = image;
  const swap = orientation >= 5;
  const ow = swap ? height : width;
  const oh = swap ? width : height;
  const out = new Uint8ClampedArray(ow * oh * 4);
  const src = words(rgba);
  const dst = words(out);
  for (let Y = 0; Y < oh; Y++) {
    for (let X = 0; X < ow; X++) {
      // out(X, Y) = in(x, y)
      let x, y;
      switch (orientation) {
        case 2: x = width - 1 - X; y = Y; break;              // FlipHorizontal
        case 3: x = width - 1 - X; y = height - 1 - Y; break; // Rotate180
        case 4: x = X; y = height - 1 - Y; break;             // FlipVertical
        case 5: x = Y; y = X; break;                          // Rotate90FlipH
        case 6: x = Y; y = height - 1 - X; break;             // Rotate90
        case 7: x = width - 1 - Y; y = height - 1 - X; break; // Rotate270FlipH
        default: x = width - 1 - Y; y = X;                    // 8: Rotate270
      }
      const i = y * width + x;
      const o = Y * ow + X;
      if (src && dst) dst[o] = src[i];
      else for (let c = 0; c < 4; c++) out[o * 4 + c] = rgba[i * 4 + c];
    }
  }
  return { width: ow, height: oh, rgba: out };
}

/** The EXIF orientation of an extended-format (VP8X) WebP: its first EXIF
 * chunk, read as the `image-webp` decoder and `image`'s
 * Orientation::from_exif_chunk read it (raw TIFF, no "Exif" prefix). */
async function webpOrientation(r) {
  const h = r.head;
  if (h.length < 16 || String.fromCharCode(h[12], h[13], h[14], h[15]) !== 'VP8X') return 1;
  const end = Math.min(r.blob.size, 8 + (h[4] | (h[5] << 8) | (h[6] << 16)) + h[7] * 2 ** 24);
  let off = 12;
  for (let guard = 0; guard < 100000 && off + 8 <= end; guard++) {
    const c = await r.at(off, 8);
    if (c.length < 8) return 1;
    const len = (c[4] | (c[5] << 8) | (c[6] << 16)) + c[7] * 2 ** 24;
    if (String.fromCharCode(c[0], c[1], c[2], c[3]) === 'EXIF') {
      return exifOrientation(await r.at(off + 8, Math.min(len, 65536)));
    }
    off += 8 + len + (len & 1);
  }
  return 1;
}

/** A 2×1 lossless WebP tagged EXIF orientation 6 (rotate 90°). */
const ORIENTED_WEBP =
  'UklGRlIAAABXRUJQVlA4WAoAAAAIAAAAAQAAAAAAVlA4TBEAAAAvAQAAAA8Q87//8x8OMqL/AQBFWElGGgAAAE1NACoAAAAIAAEBEgADAAAAAQAGAAAAAAAA';
let webpOrientedByBrowser = null;

/** Whether this browser applies a WebP's EXIF orientation itself (the
 * registry does; Chromium 156 does not): decodes the probe above once. */
function browserOrientsWebp() {
  if (webpOrientedByBrowser === null) {
    const bytes = Uint8Array.from(atob(ORIENTED_WEBP), (ch) => ch.charCodeAt(0));
    webpOrientedByBrowser = createImageBitmap(new Blob([bytes], { type: 'image/webp' }),
      { imageOrientation: 'from-image' })
      .then((b) => { const rotated = b.width === 1; b.close(); return rotated; }, () => false);
  }
  return webpOrientedByBrowser;
}

/**
 * Decodes an image file (a Blob or File) as the registry does
 * (`fingerprint::decode`): oriented by its EXIF tag, the file's own pixels
 * (no colour management), GIF's first frame.
 * Resolves to `{width, height, rgba}` (`rgba` a Uint8ClampedArray, 4 bytes
 * a pixel, not premultiplied; transparency is put onto white later, by
 * registeredCodes). Rejects with a FingerprintError when the file is not an
 * image of a format the registry decodes, declares more than MAX_PIXELS
 * pixels (refused before decoding), or the browser cannot decode it.
 */
export async function decodeImage(blob) {
  if (typeof Blob === 'undefined' || !(blob instanceof Blob)) {
    throw new TypeError('decodeImage expects a Blob or File');
  }
  const r = await new BlobBytes(blob).init();
  const format = guessFormat(r.head);
  if (!format) {
    throw new FingerprintError('not-an-image',
      'not an image in a supported format (JPEG, PNG, WebP, GIF, BMP, TIFF)');
  }
  const tooLarge = (w, h) => new FingerprintError('too-large',
    `the image is ${w}×${h} pixels, more than the ${MAX_PIXELS} allowed`);
  const declared = await declaredSize(r, format);
  if (declared) {
    if (declared.width * declared.height > MAX_PIXELS) throw tooLarge(declared.width, declared.height);
    if (declared.width === 0 || declared.height === 0) {
      throw new FingerprintError('empty', 'the image has no pixels');
    }
  }
  if (format === 'jpeg' && !(await jpegHasEnd(blob))) {
    throw new FingerprintError('decode',
      'the image does not decode: the JPEG file is truncated (no end-of-image marker)');
  }
  const colourKey = format === 'png' ? await pngColourKey(r) : null;
  const webpOrient = format === 'webp' ? await webpOrientation(r) : 1;
  if (format === 'png' && r.head[24] === 16 && r.head[25] === 0 && !colourKey) {
    return decodeGray16Png(blob);
  }

  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, {
      colorSpaceConversion: 'none',
      premultiplyAlpha: 'none',
      imageOrientation: 'from-image',
    });
  } catch (e) {
    const why = format === 'tiff' ? ' (this browser does not decode TIFF)' : '';
    throw new FingerprintError('decode',
      `the image does not decode: the browser cannot decode this ${format.toUpperCase()} file${why}` +
      (e && e.message ? ` (${e.message})` : ''));
  }
  try {
    const { width, height } = bitmap;
    if (width * height > MAX_PIXELS) throw tooLarge(width, height);
    if (width === 0 || height === 0) throw new FingerprintError('empty', 'the image has no pixels');
    const canvas = typeof OffscreenCanvas !== 'undefined'
      ? new OffscreenCanvas(width, height)
      : Object.assign(document.createElement('canvas'), { width, height });
    const ctx = canvas.getContext('2d', { colorSpace: 'srgb', willReadFrequently: true });
    if (!ctx) throw new Error('no 2d canvas context to read the decoded pixels from');
    ctx.globalCompositeOperation = 'copy';
    ctx.drawImage(bitmap, 0, 0);
    const rgba = ctx.getImageData(0, 0, width, height, { colorSpace: 'srgb' }).data;
    if (colourKey) {
      // The browser made the keyed pixels transparent (alpha 0, colour
      // lost); the registry keeps them opaque in the key's colour.
      const [kr, kg, kb] = colourKey;
      for (let i = 3; i < rgba.length; i += 4) {
        if (rgba[i] === 0) {
          rgba[i - 3] = kr; rgba[i - 2] = kg; rgba[i - 1] = kb; rgba[i] = 255;
        }
      }
    }
    if (webpOrient !== 1 && !(await browserOrientsWebp())) {
      return orient({ width, height, rgba }, webpOrient);
    }
    return { width, height, rgba };
  } finally {
    bitmap.close();
  }
}

// ---------------------------------------------------------------------------
// Normalisation (mirrors src/fingerprint/normalize.rs)
// ---------------------------------------------------------------------------

/** Per-channel tolerance of the border trim (normalize::TRIM_TOLERANCE). */
const TRIM_TOLERANCE = 16;
/** Trim passes, at most (normalize::TRIM_MAX_PASSES). */
const TRIM_MAX_PASSES = 16;
/** Pillow's fixed-point precision for 8-bit resampling (PRECISION_BITS). */
const PRECISION_BITS = 32 - 8 - 2;
/** The side of the normalised image (normalize::OUT). */
const OUT = 32;

/** Whether the platform is little-endian (all browsers in practice): then
 * a pixel's four bytes are read as one 32-bit word, R in the low byte. */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** The pixels as 32-bit words (signed, which V8 keeps as small integers),
 * or null when they cannot be viewed so. */
function words(rgba) {
  return LITTLE_ENDIAN && rgba.byteOffset % 4 === 0
    ? new Int32Array(rgba.buffer, rgba.byteOffset, rgba.length >> 2) : null;
}

/** normalize::onto_white for 8-bit RGBA with some transparency:
 * transparent parts painted onto white with Pillow's rounding,
 * DIV255(255 (255 - a) + v a), in a new array (alpha 255).
 *
 * The browser's canvas keeps pixels premultiplied, p = round(v a / 255),
 * and getImageData gives v' = round(p 255 / a); as |v' a / 255 - p| < 1/2
 * for a < 255, round(v' a / 255) = p = round(v a / 255): the formula
 * gives the registry's value from v' as from v. */
function ontoWhite(rgba) {
  const n = rgba.length;
  const out = new Uint8Array(n);
  for (let j = 0; j < n; j += 4) {
    const a = rgba[j + 3];
    if (a === 255) {
      out[j] = rgba[j]; out[j + 1] = rgba[j + 1]; out[j + 2] = rgba[j + 2];
    } else {
      const base = 255 * (255 - a) + 128;
      let t = base + rgba[j] * a;
      out[j] = ((t >> 8) + t) >> 8;
      t = base + rgba[j + 1] * a;
      out[j + 1] = ((t >> 8) + t) >> 8;
      t = base + rgba[j + 2] * a;
      out[j + 2] = ((t >> 8) + t) >> 8;
    }
    out[j + 3] = 255;
  }
  return out;
}

/** normalize::border_bbox: the bounding box of the pixels of `area` that
 * differ from the area's top-left pixel by more than `tol` in any channel,
 * scanning inwards from each side; `null` when none do. */
function borderBbox(px, width, area, tol) {
  const { left: aLeft, top: aTop, right: aRight, bottom: aBottom } = area;
  const aw = aRight - aLeft;
  const ref = (aTop * width + aLeft) * 4;
  const r0 = px[ref], g0 = px[ref + 1], b0 = px[ref + 2];
  // First differing pixel of row y in columns [from, to) of the area, or -1.
  // Whether the pixel at byte offset p differs from the reference by more than tol in a channel.
  const differs = (p) => {
    const dr = px[p] - r0, dg = px[p + 1] - g0, db = px[p + 2] - b0;
    return dr > tol || dr < -tol || dg > tol || dg < -tol || db > tol || db < -tol;
  };
  const firstIn = (y, from, to) => {
    let p = (y * width + aLeft + from) * 4;
    for (let x = from; x < to; x++, p += 4) {
      if (differs(p)) return x;
    }
    return -1;
  };
  // Last differing pixel of row y in columns [from, to) of the area, or -1.
  const lastIn = (y, from, to) => {
    let p = (y * width + aLeft + to - 1) * 4;
    for (let x = to - 1; x >= from; x--, p -= 4) {
      if (differs(p)) return x;
    }
    return -1;
  };
  let top = aTop;
  while (top < aBottom && firstIn(top, 0, aw) < 0) top++;
  if (top === aBottom) return null;
  let bottom = aBottom - 1;
  while (bottom > top && firstIn(bottom, 0, aw) < 0) bottom--;
  bottom += 1;
  let left = aw, right = 0;
  for (let y = top; y < bottom; y++) {
    // Only pixels left of the current `left` can move it.
    const x = firstIn(y, 0, left);
    if (x >= 0) left = x;
    const z = lastIn(y, right, aw);
    if (z >= 0) right = z + 1;
  }
  return { left: aLeft + left, top, right: aLeft + right, bottom };
}

const sameArea = (a, b) => b !== null &&
  a.left === b.left && a.top === b.top && a.right === b.right && a.bottom === b.bottom;

/** normalize::trim (`iscc-sdk`'s `image_trim_tolerant`): crops near-uniform
 * borders repeatedly; a pass that would cut one side only must remove a flat
 * band (within half the tolerance), so smooth gradients are kept. */
function trim(px, width, area) {
  for (let pass = 0; pass < TRIM_MAX_PASSES; pass++) {
    const bbox = borderBbox(px, width, area, TRIM_TOLERANCE);
    if (bbox === null || sameArea(area, bbox)) break;
    const sides = (bbox.left > area.left) + (bbox.top > area.top) +
      (bbox.right < area.right) + (bbox.bottom < area.bottom);
    if (sides === 1 && !sameArea(bbox, borderBbox(px, width, area, TRIM_TOLERANCE >> 1))) break;
    area = bbox;
  }
  return area;
}

/** normalize::luma_row for a whole image: Pillow's convert("L"),
 * L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16 (ITU-R 601-2). Each
 * pixel's luma depends on it alone, so one plane serves every view.
 *
 * The plane holds rows four by four, interleaved ("quads"): the luma of
 * (x, y) is at ((y >> 2) * width + x) * 4 + (y & 3), so the horizontal
 * pass reads four rows' samples in one 32-bit word. Returns whether every
 * pixel was opaque (else the caller puts the pixels onto white and computes
 * the plane again). */
function lumaQuads(px, width, height, out) {
  const w32 = words(px);
  let all = -1;
  for (let y = 0; y < height; y++) {
    let o = (y >> 2) * width * 4 + (y & 3);
    if (w32) {
      for (let i = y * width, end = i + width; i < end; i++, o += 4) {
        const v = w32[i];
        all &= v;
        out[o] = (19595 * (v & 0xff) + 38470 * ((v >> 8) & 0xff) + 7471 * ((v >> 16) & 0xff) + 0x8000) >> 16;
      }
    } else {
      for (let p = y * width * 4, end = p + width * 4; p < end; p += 4, o += 4) {
        all &= (px[p + 3] << 24) | 0xffffff;
        out[o] = (19595 * px[p] + 38470 * px[p + 1] + 7471 * px[p + 2] + 0x8000) >> 16;
      }
    }
  }
  return all >>> 24 === 0xff;
}

/** normalize::bicubic (Pillow's bicubic filter, a = -0.5). */
function bicubic(x) {
  const A = -0.5;
  x = Math.abs(x);
  if (x < 1.0) return ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * A;
  return 0.0;
}

const coefficientCache = new Map();

/** normalize::coefficients (Pillow's precompute_coeffs and
 * normalize_coeffs_8bpc) for resampling `inSize` samples to 32: per output
 * position its first input index (`start`), tap count (`count`) and
 * fixed-point weights (`weights`, `kmax` per position). */
function coefficients(inSize) {
  const cached = coefficientCache.get(inSize);
  if (cached) return cached;
  const scale = inSize / OUT;
  const filterscale = Math.max(scale, 1.0);
  const support = 2.0 * filterscale;
  const ss = 1.0 / filterscale;
  const kmax = Math.ceil(support) * 2 + 2;
  const start = new Int32Array(OUT);
  const count = new Int32Array(OUT);
  const weights = new Int32Array(OUT * kmax);
  const w = new Float64Array(kmax);
  const one = 2 ** PRECISION_BITS;
  for (let xx = 0; xx < OUT; xx++) {
    const center = (xx + 0.5) * scale;
    // C's (int) and Rust's `as i64` truncate toward zero.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    const n = xmax - xmin;
    let total = 0.0; // summed left to right, as Rust's Iterator::sum
    for (let i = 0; i < n; i++) {
      w[i] = bicubic((xmin + i - center + 0.5) * ss);
      total += w[i];
    }
    for (let i = 0; i < n; i++) {
      const v = total === 0.0 ? w[i] : w[i] / total;
      const f = v * one;
      weights[xx * kmax + i] = v < 0.0 ? Math.trunc(-0.5 + f) : Math.trunc(0.5 + f);
    }
    start[xx] = xmin;
    count[xx] = n;
  }
  const c = { start, count, weights, kmax };
  if (coefficientCache.size > 256) coefficientCache.clear();
  coefficientCache.set(inSize, c);
  return c;
}

const HALF = 1 << (PRECISION_BITS - 1);
const CLIP_HIGH = 2 ** (PRECISION_BITS + 8);

/** normalize::clip8 of a sum (an i32). */
function clip8(v) {
  if (v >= CLIP_HIGH) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

/** Where the four bytes of a 32-bit word of quads land: the offsets in
 * `mid` of the rows of its lanes (low byte first). */
const LANE_ROW = LITTLE_ENDIAN ? [0, OUT, 2 * OUT, 3 * OUT] : [3 * OUT, 2 * OUT, OUT, 0];

/** normalize::horizontal_pass (and `sample`) of the columns [left, left
 * + w) of the luma quads (`q32`, the plane as 32-bit words, `width` words a
 * quad row) for the quad rows [q0, q1): 32 samples a row into `mid` (row y
 * at y * 32). The sums wrap in 32 bits as the Rust's (Math.imul, | 0);
 * integer sums, so the order of the terms does not matter. Rows past the
 * image's last (the last quad's padding) give samples nobody reads. */
function horizontalQuads(q32, width, left, w, q0, q1, mid) {
  const { start, count, weights, kmax } = coefficients(w);
  for (let q = q0; q < q1; q++) {
    const row = q * width + left;
    const o = q * 4 * OUT;
    for (let xx = 0; xx < OUT; xx++) {
      const n = count[xx];
      const k0 = xx * kmax;
      let p = row + start[xx];
      let a = HALF, b = HALF, c = HALF, d = HALF;
      for (let i = 0; i < n; i++, p++) {
        const k = weights[k0 + i];
        const v = q32[p];
        a = (a + Math.imul(v & 0xff, k)) | 0;
        b = (b + Math.imul((v >> 8) & 0xff, k)) | 0;
        c = (c + Math.imul((v >> 16) & 0xff, k)) | 0;
        d = (d + Math.imul((v >> 24) & 0xff, k)) | 0;
      }
      mid[o + LANE_ROW[0] + xx] = clip8(a);
      mid[o + LANE_ROW[1] + xx] = clip8(b);
      mid[o + LANE_ROW[2] + xx] = clip8(c);
      mid[o + LANE_ROW[3] + xx] = clip8(d);
    }
  }
}

/** normalize::horizontal_pass of a plain `w`×`h` image (rows `w` apart):
 * to 32×`h` in `out` (after a vertical pass that came first). */
function horizontalPass(src, w, h, out) {
  const { start, count, weights, kmax } = coefficients(w);
  for (let y = 0; y < h; y++) {
    for (let xx = 0; xx < OUT; xx++) {
      const n = count[xx];
      const k0 = xx * kmax;
      let p = y * w + start[xx];
      let a = HALF;
      for (let i = 0; i < n; i++, p++) a = (a + Math.imul(src[p], weights[k0 + i])) | 0;
      out[y * OUT + xx] = clip8(a);
    }
  }
  return out;
}

/** The offset of row y, column x0 of a plane `stride` wide, and the step
 * between its columns: plain rows, or the luma quads. */
const rowAt = (quads, stride, x0, y) => (quads ? ((y >> 2) * stride + x0) * 4 + (y & 3) : y * stride + x0);

/** normalize::vertical_pass of the `w`×`h` window at (x0, y0) of `src` (a
 * plane `stride` wide; the luma quads when `quads`): to `w`×32 in `out`, a
 * row of sums at a time. */
function verticalPass(src, stride, x0, y0, w, h, out, quads) {
  const { start, count, weights, kmax } = coefficients(h);
  const step = quads ? 4 : 1;
  const sums = new Int32Array(w);
  for (let yy = 0; yy < OUT; yy++) {
    sums.fill(HALF);
    const n = count[yy];
    for (let i = 0; i < n; i++) {
      const k = weights[yy * kmax + i];
      let p = rowAt(quads, stride, x0, y0 + start[yy] + i);
      for (let x = 0; x < w; x++, p += step) sums[x] = (sums[x] + Math.imul(src[p], k)) | 0;
    }
    for (let x = 0; x < w; x++) out[yy * w + x] = clip8(sums[x]);
  }
  return out;
}

/** The horizontal pass of the columns [left, left + w), rows [top,
 * bottom), of the image's luma: 32 samples a row, kept per image by column
 * window (`plane.rows`), as views with the same columns (the whole image
 * trimmed at the top or bottom only, a portrait's centre square, the
 * untrimmed image) share their rows. Computed four rows (a quad) at a time. */
function horizontalRows(plane, left, w, top, bottom) {
  const key = `${left},${w}`;
  let entry = plane.rows.get(key);
  if (!entry) {
    const quads = (plane.height + 3) >> 2;
    entry = { mid: new Uint8Array(quads * 4 * OUT), done: new Uint8Array(quads) };
    plane.rows.set(key, entry);
  }
  const { mid, done } = entry;
  const last = (bottom - 1) >> 2;
  let q = top >> 2;
  while (q <= last) {
    if (done[q]) { q++; continue; }
    let end = q;
    while (end <= last && !done[end]) end++;
    horizontalQuads(plane.q32, plane.width, left, w, q, end, mid);
    done.fill(1, q, end);
    q = end;
  }
  return mid;
}

/** normalize::resize32 / gray32: Pillow's resize((32, 32), BICUBIC) of the
 * `area` of the luma: each pass rounded to 8 bits, the vertical pass first
 * when the height shrinks by more than twice as much as the width (Pillow
 * 13's ImagingResampleInner), else the horizontal one. */
function gray32(plane, area) {
  const { luma, width } = plane;
  const w = area.right - area.left;
  const h = area.bottom - area.top;
  const needH = w !== OUT;
  const needV = h !== OUT;
  const dw = w - OUT;
  const dh = h - OUT;
  const horizontalFirst = !(dh > 0 && dh > dw * 2);
  const out = new Uint8Array(OUT * OUT);
  if (!needH && !needV) {
    for (let y = 0; y < OUT; y++) {
      const p = rowAt(true, width, area.left, area.top + y);
      for (let x = 0; x < OUT; x++) out[y * OUT + x] = luma[p + 4 * x];
    }
    return out;
  }
  if (!needH) return verticalPass(luma, width, area.left, area.top, w, h, out, true);
  if (horizontalFirst) {
    const mid = horizontalRows(plane, area.left, w, area.top, area.bottom);
    if (!needV) {
      out.set(mid.subarray(area.top * OUT, area.bottom * OUT));
      return out;
    }
    return verticalPass(mid, OUT, 0, area.top, OUT, h, out, false);
  }
  const mid = verticalPass(luma, width, area.left, area.top, w, h, new Uint8Array(w * OUT), true);
  return horizontalPass(mid, w, OUT, out);
}

// ---------------------------------------------------------------------------
// Views (mirrors fingerprint::ViewKind and registered_codes)
// ---------------------------------------------------------------------------

/** The views `consentry register` signs, in this order
 * (ViewKind::REGISTERED). */
const VIEWS = ['Whole', 'CenterSquare', 'Inset5', 'Untrimmed'];

/** ViewKind::area. */
function viewArea(view, w, h) {
  const whole = { left: 0, top: 0, right: w, bottom: h };
  switch (view) {
    case 'CenterSquare': {
      const side = Math.min(w, h);
      const left = Math.floor((w - side) / 2);
      const top = Math.floor((h - side) / 2);
      return { left, top, right: left + side, bottom: top + side };
    }
    case 'Inset5': {
      const dx = Math.floor(w / 20);
      const dy = Math.floor(h / 20);
      if (w - 2 * dx === 0 || h - 2 * dy === 0) return whole;
      return { left: dx, top: dy, right: w - dx, bottom: h - dy };
    }
    default:
      return whole;
  }
}

let spareLuma = new Uint8Array(0);

/** Checks a decoded image; returns its pixels on white and their luma. */
function prepared(image) {
  const { width, height, rgba } = image || {};
  if (!Number.isInteger(width) || !Number.isInteger(height) || !rgba ||
      rgba.length !== width * height * 4) {
    throw new TypeError('expected {width, height, rgba} with width × height × 4 bytes of RGBA');
  }
  if (width === 0 || height === 0) throw new FingerprintError('empty', 'the image has no pixels');
  if (width * height > MAX_PIXELS) {
    throw new FingerprintError('too-large',
      `the image is ${width}×${height} pixels, more than the ${MAX_PIXELS} allowed`);
  }
  // The luma quads, in a buffer reused from image to image (up to 24 MB kept).
  const size = ((height + 3) >> 2) * 4 * width;
  const luma = spareLuma.length >= size ? spareLuma.subarray(0, size) : new Uint8Array(size);
  if (size > spareLuma.length && size <= 24_000_000) spareLuma = luma;
  let px = rgba;
  if (!lumaQuads(px, width, height, luma)) {
    px = ontoWhite(rgba);
    lumaQuads(px, width, height, luma);
  }
  const q32 = new Int32Array(luma.buffer, luma.byteOffset, size >> 2);
  return { width, height, px, plane: { luma, q32, width, height, rows: new Map() } };
}

/** The codes of `views` (fingerprint::view_code each), in order; with
 * `dedupe`, without repeats. Views whose normalised area is the same share
 * a code, computed once. */
function codesOfViews(image, views, dedupe) {
  const { width, height, px, plane } = prepared(image);
  const byArea = new Map();
  const codes = [];
  for (const view of views) {
    const area = viewArea(view, width, height);
    const normalised = view === 'Untrimmed' ? area : trim(px, width, area);
    const key = `${normalised.left},${normalised.top},${normalised.right},${normalised.bottom}`;
    let code = byArea.get(key);
    if (code === undefined) {
      code = codeOfPixels(gray32(plane, normalised));
      byArea.set(key, code);
    }
    if (!dedupe || !codes.includes(code)) codes.push(code);
  }
  return codes;
}

/** fingerprint::registered_codes of a decoded image: the codes of the
 * views Whole, CenterSquare, Inset5 and Untrimmed, without repeats, Whole
 * first. */
export function registeredCodes(image) {
  return codesOfViews(image, VIEWS, true);
}

/** The code of each of the four views, in that order, repeats kept: what
 * `consentry fingerprint --views` prints. */
export function viewCodes(image) {
  return codesOfViews(image, VIEWS, false);
}

/** fingerprint::image_code of a decoded image: the Whole view's code, as
 * any ISCC tool computes it (`consentry fingerprint` without --views). */
export function imageCode(image) {
  return codesOfViews(image, ['Whole'], false)[0];
}

/** registeredCodes of a file: `null` when it is not a decodable image (too
 * large, damaged, not an image, a format the browser does not decode), so
 * it is registered without fingerprints as `consentry register` does; a
 * File whose name does not say it is an image, or larger than
 * MAX_FILE_BYTES, has none either (as `register`'s hash_and_fingerprint). */
export async function fileCodes(blob) {
  if (typeof blob.name === 'string' && !namedAsImage(blob.name)) return null;
  if (blob.size > MAX_FILE_BYTES) return null;
  let image;
  try {
    image = await decodeImage(blob);
  } catch (e) {
    if (e instanceof FingerprintError) return null;
    throw e;
  }
  return registeredCodes(image);
}

// ---------------------------------------------------------------------------
// The Image-Code of 1,024 pixels (mirrors iscc-lib gen_image_code_v0)
// ---------------------------------------------------------------------------

/** cos((i + 0.5) π / n) for n = 32, 16, 8, 4, 2 and i < n / 2, exactly as
 * the Rust build computes `((i as f64 + 0.5) * PI / n as f64).cos()` (glibc;
 * V8's Math.cos differs in the last bit for n = 32, i = 7 and 8). */
const COS = {
  32: [0.9987954562051724, 0.989176509964781, 0.970031253194544, 0.9415440651830208,
    0.9039892931234433, 0.8577286100002721, 0.8032075314806449, 0.7409511253549591,
    0.6715589548470183, 0.5956993044924335, 0.5141027441932217, 0.4275550934302822,
    0.33688985339222005, 0.24298017990326398, 0.14673047445536175, 0.049067674327418126],
  16: [0.9951847266721969, 0.9569403357322088, 0.881921264348355, 0.773010453362737,
    0.6343932841636455, 0.4713967368259978, 0.29028467725446233, 0.09801714032956077],
  8: [0.9807852804032304, 0.8314696123025452, 0.5555702330196023, 0.19509032201612833],
  4: [0.9238795325112867, 0.38268343236508984],
  2: [0.7071067811865476],
};

/** iscc-lib dct::dct_recursive (Nayuki's fast DCT, as iscc-core's
 * dct.py): the same operations in the same order. */
function dct(v) {
  const n = v.length;
  if (n === 1) return Float64Array.of(v[0]);
  const half = n / 2;
  const cos = COS[n];
  const alpha = new Float64Array(half);
  const beta = new Float64Array(half);
  for (let i = 0; i < half; i++) {
    alpha[i] = v[i] + v[n - 1 - i];
    beta[i] = (v[i] - v[n - 1 - i]) / cos[i] / 2.0;
  }
  const a = dct(alpha);
  const b = dct(beta);
  const result = new Float64Array(n);
  for (let i = 0; i < half - 1; i++) {
    result[2 * i] = a[i];
    result[2 * i + 1] = b[i] + b[i + 1];
  }
  result[n - 2] = a[half - 1];
  result[n - 1] = b[half - 1];
  return result;
}

/** iscc-lib compute_median: the middle value, or the mean of the two
 * middle values (Python's statistics.median). */
function median(values) {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  return n % 2 === 1 ? sorted[n >> 1] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** iscc-lib codec::encode_base32: RFC 4648, upper case, no padding. */
function base32(bytes) {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const b of bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  return out;
}

/**
 * iscc-lib gen_image_code_v0 (soft_hash_image_v0 and encode_component): the
 * Image-Code of 1,024 normalised pixels (32×32 grayscale, row by row, 0-255)
 * as `ISCC:...`. `bits` is 64 (the registry's CODE_BITS) unless given: 64 to
 * 256, a multiple of 32.
 */
export function codeOfPixels(gray1024, bits = 64) {
  if (!gray1024 || gray1024.length !== 1024) {
    throw new FingerprintError('decode', `expected 1024 pixels, got ${gray1024 ? gray1024.length : 0}`);
  }
  if (!(Number.isInteger(bits) && bits >= 64 && bits <= 256 && bits % 32 === 0)) {
    throw new RangeError('bits must be 64 to 256, a multiple of 32');
  }
  // Row-wise DCT, then column-wise (the Rust transposes, transforms the
  // rows of the transpose and transposes back: the same arithmetic).
  const rows = new Array(32);
  const row = new Float64Array(32);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) row[x] = gray1024[y * 32 + x];
    rows[y] = dct(row);
  }
  const m = new Float64Array(1024); // m[r * 32 + c] = dct_matrix[r][c]
  const col = new Float64Array(32);
  for (let c = 0; c < 32; c++) {
    for (let r = 0; r < 32; r++) col[r] = rows[r][c];
    const d = dct(col);
    for (let r = 0; r < 32; r++) m[r * 32 + c] = d[r];
  }
  // The top-left, top-right, bottom-left and bottom-right 8×8 squares of
  // the upper-left 16×16, at (col, row); each coefficient's bit says whether
  // it is above its square's median; bits MSB first.
  const body = new Uint8Array(bits / 8);
  const flat = new Float64Array(64);
  let bit = 0;
  for (const [c0, r0] of [[0, 0], [8, 0], [0, 8], [8, 8]]) {
    for (let r = 0; r < 8; r++) {
      for (let c = 0; c < 8; c++) flat[r * 8 + c] = m[(r0 + r) * 32 + c0 + c];
    }
    const med = median(flat);
    for (let i = 0; i < 64 && bit < bits; i++, bit++) {
      if (flat[i] > med) body[bit >> 3] |= 0x80 >> (bit & 7);
    }
    if (bit >= bits) break;
  }
  // Header (codec::encode_header): varnibbles MainType CONTENT (2), SubType
  // IMAGE (1), Version 0 and length bits / 32 - 1, each a nibble here.
  const unit = new Uint8Array(2 + body.length);
  unit[0] = 0x21;
  unit[1] = bits / 32 - 1;
  unit.set(body, 2);
  return `ISCC:${base32(unit)}`;
}

//! Perceptual fingerprints of image files: decoding (JPEG, PNG, WebP, GIF's
//! first frame, BMP, TIFF) with a pixel limit checked before any pixel is
//! decoded, the ISCC normalisation ([`normalize`]) and the ISCC Image-Code
//! of `iscc-lib`. `consentry register` signs them into statements;
//! `consentry check` and `filter` send them with the hashes.

pub mod normalize;

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage};

use crate::domain::fingerprint::ImageCode;
use normalize::Area;

/// Pixels an image may have, at most: larger ones are refused before they
/// are decoded (`iscc-sdk`'s default limit, 128 Mpx).
pub const MAX_PIXELS: u64 = 128_000_000;
/// Bytes a decoder may allocate, at most.
const MAX_ALLOC: u64 = 1 << 30;
/// Image files larger than this are hashed but not fingerprinted.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Extensions (lowercased) of files that are images: those fingerprinted
/// (and reported when they cannot be), and the member that is a
/// webdataset sample's work.
pub const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff", "avif", "jxl",
];

/// Whether a file name's extension says it is an image.
#[must_use]
pub fn named_as_image(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| IMAGE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
}

/// Bits of the codes `consentry` computes: the ISCC default.
pub const CODE_BITS: u32 = 64;

/// Why a file has no fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not in an image format this build decodes.
    #[error("not an image in a supported format (JPEG, PNG, WebP, GIF, BMP, TIFF)")]
    NotAnImage,
    #[error("the image is {width}×{height} pixels, more than the {MAX_PIXELS} allowed")]
    TooLarge { width: u32, height: u32 },
    #[error("the image does not decode: {0}")]
    Decode(String),
    #[error("the image has no pixels")]
    Empty,
}

/// Which part of an image a code describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    /// The whole image (what any ISCC tool computes).
    Whole,
    /// The centred square of the shorter side: what a `center_crop`
    /// resize keeps of a non-square image.
    CenterSquare,
    /// The image with 5 % cut from every side.
    Inset5,
    /// The whole image without the border trim: a copy whose re-encoding
    /// noise defeats the trim of a flat band (a plain sky, a blank
    /// margin) keeps it, and its code is this view's.
    Untrimmed,
}

impl ViewKind {
    /// The views `consentry register` signs, in this order.
    pub const REGISTERED: [ViewKind; 4] = [
        ViewKind::Whole,
        ViewKind::CenterSquare,
        ViewKind::Inset5,
        ViewKind::Untrimmed,
    ];

    fn area(self, img: &RgbImage) -> Area {
        let whole = Area::whole(img);
        let (w, h) = (img.width(), img.height());
        match self {
            ViewKind::Whole | ViewKind::Untrimmed => whole,
            ViewKind::CenterSquare => {
                let side = w.min(h);
                let left = (w - side) / 2;
                let top = (h - side) / 2;
                Area {
                    left,
                    top,
                    right: left + side,
                    bottom: top + side,
                }
            }
            ViewKind::Inset5 => {
                let dx = w / 20;
                let dy = h / 20;
                if w - 2 * dx == 0 || h - 2 * dy == 0 {
                    return whole;
                }
                Area {
                    left: dx,
                    top: dy,
                    right: w - dx,
                    bottom: h - dy,
                }
            }
        }
    }
}

/// Decodes an image file's bytes: oriented by its EXIF tag, transparency
/// onto white, as 8-bit RGB.
///
/// # Errors
/// When the bytes are not an image of a supported format, decode to more
/// than [`MAX_PIXELS`] pixels (refused before decoding them), or are
/// damaged.
pub fn decode(bytes: &[u8]) -> Result<RgbImage, Error> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Decode(e.to_string()))?;
    let reader_format = reader.format();
    match reader_format {
        None => return Err(Error::NotAnImage),
        // The JPEG decoder fills a truncated scan with grey rather than
        // failing; a file cut short has no end-of-image marker.
        Some(image::ImageFormat::Jpeg) => {
            let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            if !bytes[..end].ends_with(&[0xFF, 0xD9]) {
                return Err(Error::Decode(
                    "the JPEG file is truncated (no end-of-image marker)".into(),
                ));
            }
        }
        Some(_) => {}
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Error::TooLarge { width, height });
    }
    if width == 0 || height == 0 {
        return Err(Error::Empty);
    }
    let orientation = decoder.orientation().ok();
    let exact = if reader_format == Some(image::ImageFormat::Jpeg) {
        libjpeg_pixels(bytes)
    } else {
        None
    };
    let mut img = match exact {
        Some(img) => img,
        None => DynamicImage::from_decoder(decoder).map_err(decode_error)?,
    };
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(normalize::onto_white(img, png_colour_key(bytes)))
}

/// A JPEG's pixels as libjpeg-turbo decodes them (its accurate integer
/// IDCT and "fancy" upsampling, the defaults), which is what Pillow, and so
/// the reference, sees: the decoder of the `image` crate rounds chroma
/// upsampling differently, a difference of a few levels that changes an
/// Image-Code in about one JPEG of twenty (`docs/matching.md`). `None` for
/// what this path does not take (CMYK and YCCK, arithmetic coding) or
/// cannot decode: the `image` crate's decoder then does. The caller has
/// checked the dimensions against [`MAX_PIXELS`].
fn libjpeg_pixels(bytes: &[u8]) -> Option<DynamicImage> {
    use mozjpeg::{ColorSpace, Decompress};
    // libjpeg reports a fatal error by unwinding out of the decoder.
    std::panic::catch_unwind(|| {
        let dec = Decompress::new_mem(bytes).ok()?;
        let (w, h) = (
            u32::try_from(dec.width()).ok()?,
            u32::try_from(dec.height()).ok()?,
        );
        match dec.color_space() {
            ColorSpace::JCS_GRAYSCALE => {
                let mut started = dec.grayscale().ok()?;
                let pixels = started.read_scanlines::<u8>().ok()?;
                started.finish().ok()?;
                image::GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8)
            }
            ColorSpace::JCS_YCbCr | ColorSpace::JCS_RGB => {
                let mut started = dec.rgb().ok()?;
                let len = (w as usize).checked_mul(h as usize)?.checked_mul(3)?;
                let mut pixels = pixel_buffer(len);
                let read = started.read_scanlines_into(&mut pixels[..]).ok()?.len();
                started.finish().ok()?;
                (read == len)
                    .then(|| RgbImage::from_raw(w, h, pixels))
                    .flatten()
                    .map(DynamicImage::ImageRgb8)
            }
            _ => None,
        }
    })
    .ok()
    .flatten()
}

thread_local! {
    /// The pixel buffer of the last image this thread decoded, kept for
    /// the next one: a fresh buffer of a large image is memory the kernel
    /// must map and zero page by page.
    static SPARE_PIXELS: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A buffer of `len` bytes, the thread's spare one when it has one.
fn pixel_buffer(len: usize) -> Vec<u8> {
    let mut buf = SPARE_PIXELS.with_borrow_mut(std::mem::take);
    buf.resize(len, 0);
    buf
}

/// Gives a decoded image's pixels back for the thread's next image.
fn recycle(img: RgbImage) {
    let buf = img.into_raw();
    SPARE_PIXELS.with_borrow_mut(|spare| {
        if buf.capacity() > spare.capacity() {
            *spare = buf;
        }
    });
}

/// Whether `bytes` are a PNG of colour type grayscale or RGB (no alpha
/// channel): any transparency the decoder reports then comes from a `tRNS`
/// colour key, which the reference does not apply.
fn png_colour_key(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n")
        && bytes.get(12..16) == Some(b"IHDR".as_slice())
        && matches!(bytes.get(25), Some(0 | 2))
}

fn decode_error(e: image::ImageError) -> Error {
    match e {
        image::ImageError::Unsupported(_) => Error::NotAnImage,
        image::ImageError::Limits(l) => Error::Decode(format!("over the decoding limits: {l}")),
        other => Error::Decode(other.to_string()),
    }
}

/// The Image-Code of one view of a decoded image.
///
/// # Errors
/// Never for a decoded image; [`Error::Decode`] if the code library refuses.
pub fn view_code(img: &RgbImage, view: ViewKind) -> Result<ImageCode, Error> {
    let area = view.area(img);
    if view == ViewKind::Untrimmed {
        return code_of_pixels(&normalize::normalize_untrimmed(img, area));
    }
    code_of_pixels(&normalize::normalize(img, area))
}

/// The Image-Code of 1,024 normalised pixels.
///
/// # Errors
/// [`Error::Decode`] when there are not 1,024 of them.
pub fn code_of_pixels(pixels: &[u8]) -> Result<ImageCode, Error> {
    let code =
        iscc_lib::gen_image_code_v0(pixels, CODE_BITS).map_err(|e| Error::Decode(e.to_string()))?;
    ImageCode::parse(&code.iscc).map_err(Error::Decode)
}

/// The Image-Code of an image file's bytes, as any ISCC tool computes it
/// (the whole image).
///
/// # Errors
/// As [`decode`].
pub fn image_code(bytes: &[u8]) -> Result<ImageCode, Error> {
    let img = decode(bytes)?;
    let code = view_code(&img, ViewKind::Whole);
    recycle(img);
    code
}

/// The codes `consentry register` signs for an image: one per
/// [`ViewKind::REGISTERED`] view, without repeats (a square image's centre
/// square is the whole image).
///
/// # Errors
/// As [`decode`].
pub fn registered_codes(bytes: &[u8]) -> Result<Vec<ImageCode>, Error> {
    let img = decode(bytes)?;
    let codes = ViewKind::REGISTERED.into_iter().try_fold(
        Vec::with_capacity(ViewKind::REGISTERED.len()),
        |mut codes, view| {
            let code = view_code(&img, view)?;
            if !codes.contains(&code) {
                codes.push(code);
            }
            Ok(codes)
        },
    );
    recycle(img);
    codes
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;

    /// A 64×48 colour JPEG.
    fn jpeg() -> Vec<u8> {
        let img = RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, ((x + y) * 2) as u8])
        });
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&img)
            .expect("encode");
        out
    }

    /// Where the frame header's height is (`SOF0` marker + 5).
    fn sof0_height_at(bytes: &[u8]) -> usize {
        bytes
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .expect("SOF0")
            + 5
    }

    #[test]
    fn a_jpeg_decodes_through_libjpeg() {
        let bytes = jpeg();
        let img = decode(&bytes).expect("decodes");
        assert_eq!(img.dimensions(), (64, 48));
        let exact = libjpeg_pixels(&bytes).expect("libjpeg takes it");
        assert_eq!(exact.into_rgb8(), img);
    }

    #[test]
    fn a_jpeg_declaring_a_huge_frame_is_refused_before_decoding() {
        let mut bytes = jpeg();
        let at = sof0_height_at(&bytes);
        bytes[at..at + 4].copy_from_slice(&[0x75, 0x30, 0x75, 0x30]); // 30,000 × 30,000
        assert_eq!(
            decode(&bytes),
            Err(Error::TooLarge {
                width: 30_000,
                height: 30_000
            })
        );
    }

    #[test]
    fn damaged_jpegs_give_pixels_or_an_error_never_a_panic() {
        let good = jpeg();
        let at = sof0_height_at(&good);
        let mut cases: Vec<Vec<u8>> = Vec::new();
        // Garbage through the scan, the end-of-image marker kept.
        for step in [7, 13, 31] {
            let mut b = good.clone();
            let end = b.len() - 2;
            for i in (good.len() / 2..end).step_by(step) {
                b[i] ^= 0x5A;
            }
            cases.push(b);
        }
        // A frame header that contradicts itself: zero components, an
        // impossible sampling factor, a length past the end.
        for (offset, value) in [(4, 0u8), (6, 0xFF), (-3, 0xFF)] {
            let mut b = good.clone();
            let i = at.checked_add_signed(offset).expect("offset");
            b[i] = value;
            cases.push(b);
        }
        for bytes in cases {
            // libjpeg's fatal errors unwind out of it: caught, `None`.
            let _ = libjpeg_pixels(&bytes);
            match decode(&bytes) {
                Ok(img) => assert!(img.width() > 0 && img.height() > 0),
                Err(Error::Decode(_) | Error::NotAnImage | Error::Empty) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
    }
}

//! The ISCC image normalisation, as the reference implementation (`iscc-sdk`
//! `image_normalize`, on Pillow) does it, to the pixel: EXIF orientation,
//! transparency onto white, a tolerant trim of near-uniform borders, the
//! ITU-R 601-2 luma of Pillow's `convert("L")`, and Pillow's antialiased
//! bicubic resize to 32×32 (fixed-point, horizontal pass first, the
//! intermediate rounded to 8 bits).

use image::{DynamicImage, Rgb, RgbImage, Rgba, RgbaImage};

/// Per-channel tolerance of the border trim (`iscc-sdk`'s default).
const TRIM_TOLERANCE: u8 = 16;
/// Trim passes, at most (`iscc-sdk`'s `TRIM_MAX_PASSES`).
const TRIM_MAX_PASSES: usize = 16;
/// Pillow's fixed-point precision for 8-bit resampling.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// An RGB image as `iscc-sdk`'s `image_fill_transparency` leaves it after
/// Pillow opened the file: transparent parts painted onto white (Pillow's
/// `paste(img, mask=alpha)` rounding); 16-bit channels as Pillow reads them
/// (the high byte of RGB and RGBA samples; 16-bit grayscale clipped to 255
/// by its `I;16` to RGB conversion); and, with `ignore_alpha`, an alpha
/// channel the decoder made from a PNG `tRNS` colour key dropped, as Pillow
/// keeps such a key aside and `iscc-sdk` does not apply it.
#[must_use]
pub fn onto_white(img: DynamicImage, ignore_alpha: bool) -> RgbImage {
    let (w, h) = (img.width(), img.height());
    let rgba: RgbaImage = match img {
        DynamicImage::ImageLuma16(g) => {
            let mut out = RgbImage::new(w, h);
            for (o, p) in out.pixels_mut().zip(g.pixels()) {
                let v = u8::try_from(p[0].min(255)).unwrap_or(u8::MAX);
                *o = Rgb([v, v, v]);
            }
            return out;
        }
        DynamicImage::ImageLumaA16(g) => RgbaImage::from_fn(w, h, |x, y| {
            let p = g.get_pixel(x, y);
            let v = high_byte(p[0]);
            Rgba([v, v, v, high_byte(p[1])])
        }),
        DynamicImage::ImageRgb16(c) => {
            return RgbImage::from_fn(w, h, |x, y| {
                let p = c.get_pixel(x, y);
                Rgb([high_byte(p[0]), high_byte(p[1]), high_byte(p[2])])
            });
        }
        DynamicImage::ImageRgba16(c) => RgbaImage::from_fn(w, h, |x, y| {
            let p = c.get_pixel(x, y);
            Rgba([
                high_byte(p[0]),
                high_byte(p[1]),
                high_byte(p[2]),
                high_byte(p[3]),
            ])
        }),
        other if !other.color().has_alpha() => return other.into_rgb8(),
        other => other.into_rgba8(),
    };
    let mut out = RgbImage::new(w, h);
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let a = if ignore_alpha { 255 } else { u32::from(p[3]) };
        for c in 0..3 {
            // DIV255(255 * (255 - a) + v * a), Pillow's rounding.
            let t = 255 * (255 - a) + u32::from(p[c]) * a + 128;
            o[c] = u8::try_from(((t >> 8) + t) >> 8).unwrap_or(u8::MAX);
        }
    }
    out
}

fn high_byte(v: u16) -> u8 {
    u8::try_from(v >> 8).unwrap_or(u8::MAX)
}

/// The bounding box `(left, top, right, bottom)` (right and bottom
/// exclusive) of the pixels of `img` inside `area` that differ from the
/// area's top-left pixel by more than `tolerance` in any channel. Scans
/// inwards from each side, so an image without a border costs a few rows
/// and columns, not every pixel.
fn border_bbox(img: &RgbImage, area: Area, tolerance: u8) -> Option<Area> {
    let width = img.width() as usize;
    let raw = img.as_raw();
    let reference = *img.get_pixel(area.left, area.top);
    let row = |y: u32| {
        let start = (y as usize * width + area.left as usize) * 3;
        &raw[start..start + area.width() as usize * 3]
    };
    let differs = |p: &[u8]| {
        p[0].abs_diff(reference[0]) > tolerance
            || p[1].abs_diff(reference[1]) > tolerance
            || p[2].abs_diff(reference[2]) > tolerance
    };
    let first_in = |y: u32| row(y).chunks_exact(3).position(differs);
    let top = (area.top..area.bottom).find(|&y| first_in(y).is_some())?;
    let bottom = (top..area.bottom)
        .rev()
        .find(|&y| first_in(y).is_some())
        .map_or(top + 1, |y| y + 1);
    let (mut left, mut right) = (area.width(), 0u32);
    for y in top..bottom {
        let pixels = row(y);
        // Only pixels left of the current `left` can move it.
        let head = &pixels[..left as usize * 3];
        if let Some(x) = head.chunks_exact(3).position(differs) {
            left = u32::try_from(x).unwrap_or(left);
        }
        let tail = &pixels[right as usize * 3..];
        if let Some(x) = tail.chunks_exact(3).rposition(differs) {
            right = right + u32::try_from(x).unwrap_or(0) + 1;
        }
    }
    Some(Area {
        left: area.left + left,
        top,
        right: area.left + right,
        bottom,
    })
}

/// A rectangle of an image, right and bottom exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Area {
    pub left: u32,
    pub top: u32,
    pub right: u32,
    pub bottom: u32,
}

impl Area {
    #[must_use]
    pub fn whole(img: &RgbImage) -> Self {
        Self {
            left: 0,
            top: 0,
            right: img.width(),
            bottom: img.height(),
        }
    }

    fn width(self) -> u32 {
        self.right - self.left
    }

    fn height(self) -> u32 {
        self.bottom - self.top
    }
}

/// `iscc-sdk`'s `image_trim_tolerant`: crops near-uniform borders
/// repeatedly; a pass that would cut one side only must remove a flat band
/// (within half the tolerance), so smooth gradients are kept.
#[must_use]
pub fn trim(img: &RgbImage, mut area: Area) -> Area {
    for _ in 0..TRIM_MAX_PASSES {
        let Some(bbox) = border_bbox(img, area, TRIM_TOLERANCE) else {
            break;
        };
        if bbox == area {
            break;
        }
        let sides = u8::from(bbox.left > area.left)
            + u8::from(bbox.top > area.top)
            + u8::from(bbox.right < area.right)
            + u8::from(bbox.bottom < area.bottom);
        if sides == 1 && border_bbox(img, area, TRIM_TOLERANCE / 2) != Some(bbox) {
            break;
        }
        area = bbox;
    }
    area
}

/// Pillow's `convert("L")` of one row of RGB pixels: L = (19595 R +
/// 38470 G + 7471 B + 0x8000) >> 16.
fn luma_row(rgb: &[u8], out: &mut [u8]) {
    let (pixels, _) = rgb.as_chunks::<3>();
    for (o, p) in out.iter_mut().zip(pixels) {
        let l = 19595 * u32::from(p[0]) + 38470 * u32::from(p[1]) + 7471 * u32::from(p[2]) + 0x8000;
        *o = (l >> 16) as u8;
    }
}

/// Row `y` of `area` of `img`, as RGB bytes.
fn area_row(img: &RgbImage, area: Area, y: u32) -> &[u8] {
    let start = (y as usize * img.width() as usize + area.left as usize) * 3;
    &img.as_raw()[start..start + area.width() as usize * 3]
}

/// Pillow's `convert("L")` of the pixels of `area`.
#[must_use]
pub fn luma(img: &RgbImage, area: Area) -> Vec<u8> {
    let (aw, ah) = (area.width() as usize, area.height() as usize);
    let mut out = vec![0u8; aw * ah];
    for (y, dst) in (area.top..).zip(out.chunks_exact_mut(aw.max(1))) {
        luma_row(area_row(img, area, y), dst);
    }
    out
}

fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Pillow's `precompute_coeffs` and `normalize_coeffs_8bpc` for the bicubic
/// filter: per output position, the first input index and the fixed-point
/// weights.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]
fn coefficients(in_size: u32, out_size: u32) -> Vec<(usize, Vec<i32>)> {
    let scale = f64::from(in_size) / f64::from(out_size);
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    let mut out = Vec::with_capacity(out_size as usize);
    for xx in 0..out_size {
        let center = (f64::from(xx) + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C's (int) truncates toward zero.
        let xmin = ((center - support + 0.5) as i64).max(0);
        let xmax = ((center + support + 0.5) as i64).min(i64::from(in_size));
        let weights: Vec<f64> = (xmin..xmax)
            .map(|x| bicubic((x as f64 - center + 0.5) * ss))
            .collect();
        let total: f64 = weights.iter().sum();
        let fixed = weights
            .iter()
            .map(|&w| {
                let w = if total == 0.0 { w } else { w / total };
                let f = w * f64::from(1u32 << PRECISION_BITS);
                if w < 0.0 {
                    (-0.5 + f) as i32
                } else {
                    (0.5 + f) as i32
                }
            })
            .collect();
        out.push((xmin as usize, fixed));
    }
    out
}

fn clip8(v: i64) -> u8 {
    if v >= (1i64 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        u8::try_from(v >> PRECISION_BITS).unwrap_or(u8::MAX)
    }
}

/// One output sample of a pass: the taps of `pixels` from `start` weighted
/// by `k`, summed in 32 bits as Pillow does (22 fraction bits leave two
/// bits of headroom), rounded to 8 bits.
fn sample(pixels: &[u8], start: usize, k: &[i32]) -> u8 {
    let taps = &pixels[start..start + k.len()];
    let ss = taps
        .iter()
        .zip(k)
        .fold(1i32 << (PRECISION_BITS - 1), |acc, (&p, &kw)| {
            acc.wrapping_add(i32::from(p).wrapping_mul(kw))
        });
    clip8(i64::from(ss))
}

/// One horizontal pass: `w`×`h` to `OUT`×`h`.
fn horizontal_pass(pixels: &[u8], w: u32, h: u32) -> Vec<u8> {
    let coeffs = coefficients(w, OUT);
    let mut out = Vec::with_capacity(h as usize * OUT as usize);
    for row in pixels.chunks_exact(w as usize) {
        out.extend(coeffs.iter().map(|(xmin, k)| sample(row, *xmin, k)));
    }
    out
}

/// One vertical pass: `w`×`h` to `w`×`OUT`, a row of sums at a time.
fn vertical_pass(pixels: &[u8], w: u32, h: u32) -> Vec<u8> {
    let coeffs = coefficients(h, OUT);
    let stride = w as usize;
    let mut out = Vec::with_capacity(stride * OUT as usize);
    let mut sums = vec![0i32; stride];
    for (ymin, k) in &coeffs {
        sums.fill(1i32 << (PRECISION_BITS - 1));
        for (i, &kw) in k.iter().enumerate() {
            let row = &pixels[(ymin + i) * stride..(ymin + i + 1) * stride];
            for (s, &p) in sums.iter_mut().zip(row) {
                *s = s.wrapping_add(i32::from(p).wrapping_mul(kw));
            }
        }
        out.extend(sums.iter().map(|&s| clip8(i64::from(s))));
    }
    out
}

/// The side of the normalised image.
const OUT: u32 = 32;

/// Pillow's `resize((32, 32), BICUBIC)` of a grayscale image of `w`×`h`:
/// each pass rounded to 8 bits, the vertical pass first when the height
/// shrinks by more than twice as much as the width (Pillow 13's
/// `ImagingResampleInner`), else the horizontal one.
#[must_use]
pub fn resize32(pixels: &[u8], w: u32, h: u32) -> Vec<u8> {
    let (need_h, need_v) = (w != OUT, h != OUT);
    let (dw, dh) = (i64::from(w) - i64::from(OUT), i64::from(h) - i64::from(OUT));
    let horizontal_first = !(dh > 0 && dh > dw * 2);
    match (need_h, need_v, horizontal_first) {
        (false, false, _) => pixels.to_vec(),
        (true, false, _) => horizontal_pass(pixels, w, h),
        (false, true, _) => vertical_pass(pixels, w, h),
        (true, true, true) => vertical_pass(&horizontal_pass(pixels, w, h), OUT, h),
        (true, true, false) => horizontal_pass(&vertical_pass(pixels, w, h), w, OUT),
    }
}

/// Pillow's `resize((32, 32), BICUBIC)` of the luma of `area` of `img`,
/// as [`resize32`] of [`luma`] computes it. When the horizontal pass comes
/// first, each row's luma is resampled as soon as it is computed, so the
/// full-size grayscale image is never held.
fn gray32(img: &RgbImage, area: Area) -> Vec<u8> {
    let (w, h) = (area.width(), area.height());
    let (dw, dh) = (i64::from(w) - i64::from(OUT), i64::from(h) - i64::from(OUT));
    let horizontal_first = !(dh > 0 && dh > dw * 2);
    if w == OUT || !horizontal_first {
        return resize32(&luma(img, area), w, h);
    }
    let coeffs = coefficients(w, OUT);
    let mut row = vec![0u8; w as usize];
    let mut mid = Vec::with_capacity(h as usize * OUT as usize);
    for y in area.top..area.bottom {
        luma_row(area_row(img, area, y), &mut row);
        mid.extend(coeffs.iter().map(|(xmin, k)| sample(&row, *xmin, k)));
    }
    if h == OUT {
        mid
    } else {
        vertical_pass(&mid, OUT, h)
    }
}

/// The 1,024 normalised pixels of the `area` of `img` (already oriented and
/// on white): trimmed, grayscale, 32×32.
#[must_use]
pub fn normalize(img: &RgbImage, area: Area) -> Vec<u8> {
    gray32(img, trim(img, area))
}

/// As [`normalize`], without the border trim.
#[must_use]
pub fn normalize_untrimmed(img: &RgbImage, area: Area) -> Vec<u8> {
    gray32(img, area)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uniform_image_stays_uniform() {
        let img = RgbImage::from_pixel(100, 70, image::Rgb([10, 200, 30]));
        let px = normalize(&img, Area::whole(&img));
        assert_eq!(px.len(), 1024);
        let l = luma(&img, Area::whole(&img))[0];
        assert!(px.iter().all(|&p| p == l));
    }

    #[test]
    fn a_border_is_trimmed() {
        let mut img = RgbImage::from_pixel(100, 100, image::Rgb([255, 255, 255]));
        for y in 20..80 {
            for x in 10..90 {
                img.put_pixel(x, y, image::Rgb([(x * 2) as u8, (y * 3) as u8, 7]));
            }
        }
        let area = trim(&img, Area::whole(&img));
        assert_eq!(
            (area.left, area.top, area.right, area.bottom),
            (10, 20, 90, 80)
        );
    }

    #[test]
    fn row_by_row_resampling_equals_the_two_passes() {
        for (w, h) in [
            (512u32, 512u32),
            (700, 90),
            (90, 700),
            (33, 200),
            (32, 77),
            (300, 32),
            (5, 3),
        ] {
            let img = RgbImage::from_fn(w, h, |x, y| {
                image::Rgb([(x * 7 + y) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8])
            });
            for area in [
                Area::whole(&img),
                Area {
                    left: 1,
                    top: 2,
                    right: w,
                    bottom: h - 1,
                },
            ] {
                let gray = luma(&img, area);
                assert_eq!(
                    gray32(&img, area),
                    resize32(&gray, area.width(), area.height()),
                    "{w}×{h} {area:?}"
                );
            }
        }
    }

    #[test]
    fn weights_sum_to_one() {
        for (in_size, out) in [(1000u32, 32u32), (33, 32), (7, 32), (32, 32)] {
            for (_, k) in coefficients(in_size, out) {
                let sum: i64 = k.iter().map(|&w| i64::from(w)).sum();
                assert!((sum - (1 << PRECISION_BITS)).abs() < 64, "{in_size}: {sum}");
            }
        }
    }
}

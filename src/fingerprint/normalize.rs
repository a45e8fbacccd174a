//! The ISCC image normalisation, as the reference implementation (`iscc-sdk`
//! `image_normalize`, on Pillow) does it, to the pixel: EXIF orientation,
//! transparency onto white, a tolerant trim of near-uniform borders, the
//! ITU-R 601-2 luma of Pillow's `convert("L")`, and Pillow's antialiased
//! bicubic resize to 32×32 (fixed-point, horizontal pass first, the
//! intermediate rounded to 8 bits).

use image::{DynamicImage, RgbImage};

/// Per-channel tolerance of the border trim (`iscc-sdk`'s default).
const TRIM_TOLERANCE: u8 = 16;
/// Trim passes, at most (`iscc-sdk`'s `TRIM_MAX_PASSES`).
const TRIM_MAX_PASSES: usize = 16;
/// Pillow's fixed-point precision for 8-bit resampling.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// An RGB image whose transparent parts are painted onto white, as Pillow's
/// `paste(img, mask=alpha)` onto a white background rounds them.
#[must_use]
pub fn onto_white(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u32::from(p[3]);
        for c in 0..3 {
            // DIV255(255 * (255 - a) + v * a), Pillow's rounding.
            let t = 255 * (255 - a) + u32::from(p[c]) * a + 128;
            o[c] = u8::try_from(((t >> 8) + t) >> 8).unwrap_or(u8::MAX);
        }
    }
    out
}

/// The bounding box `(left, top, right, bottom)` (right and bottom
/// exclusive) of the pixels of `img` inside `area` that differ from the
/// area's top-left pixel by more than `tolerance` in any channel.
fn border_bbox(img: &RgbImage, area: Area, tolerance: u8) -> Option<Area> {
    let reference = *img.get_pixel(area.left, area.top);
    let differs = |x: u32, y: u32| {
        let p = img.get_pixel(x, y);
        (0..3).any(|c| p[c].abs_diff(reference[c]) > tolerance)
    };
    let (mut left, mut top, mut right, mut bottom) = (u32::MAX, u32::MAX, 0, 0);
    for y in area.top..area.bottom {
        for x in area.left..area.right {
            if differs(x, y) {
                left = left.min(x);
                right = right.max(x + 1);
                top = top.min(y);
                bottom = bottom.max(y + 1);
            }
        }
    }
    (left != u32::MAX).then_some(Area {
        left,
        top,
        right,
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

/// Pillow's `convert("L")` of the pixels of `area`: L = (19595 R + 38470 G +
/// 7471 B + 0x8000) >> 16.
#[must_use]
pub fn luma(img: &RgbImage, area: Area) -> Vec<u8> {
    let mut out = Vec::with_capacity(area.width() as usize * area.height() as usize);
    for y in area.top..area.bottom {
        for x in area.left..area.right {
            let p = img.get_pixel(x, y);
            let l =
                19595 * u32::from(p[0]) + 38470 * u32::from(p[1]) + 7471 * u32::from(p[2]) + 0x8000;
            out.push(u8::try_from(l >> 16).unwrap_or(u8::MAX));
        }
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

/// Pillow's `resize((32, 32), BICUBIC)` of a grayscale image of `w`×`h`.
#[must_use]
pub fn resize32(pixels: &[u8], w: u32, h: u32) -> Vec<u8> {
    const OUT: u32 = 32;
    let (wu, hu) = (w as usize, h as usize);
    // Horizontal pass (skipped when the width is already 32).
    let horizontal: Vec<u8> = if w == OUT {
        pixels.to_vec()
    } else {
        let coeffs = coefficients(w, OUT);
        let mut tmp = Vec::with_capacity(hu * OUT as usize);
        for row in pixels.chunks_exact(wu) {
            for (xmin, k) in &coeffs {
                let mut ss: i64 = 1 << (PRECISION_BITS - 1);
                for (i, &kw) in k.iter().enumerate() {
                    ss += i64::from(row[xmin + i]) * i64::from(kw);
                }
                tmp.push(clip8(ss));
            }
        }
        tmp
    };
    if h == OUT {
        return horizontal;
    }
    let coeffs = coefficients(h, OUT);
    let stride = OUT as usize;
    let mut out = vec![0u8; stride * OUT as usize];
    for (yy, (ymin, k)) in coeffs.iter().enumerate() {
        for xx in 0..stride {
            let mut ss: i64 = 1 << (PRECISION_BITS - 1);
            for (i, &kw) in k.iter().enumerate() {
                ss += i64::from(horizontal[(ymin + i) * stride + xx]) * i64::from(kw);
            }
            out[yy * stride + xx] = clip8(ss);
        }
    }
    out
}

/// The 1,024 normalised pixels of the `area` of `img` (already oriented and
/// on white): trimmed, grayscale, 32×32.
#[must_use]
pub fn normalize(img: &RgbImage, area: Area) -> Vec<u8> {
    let area = trim(img, area);
    let gray = luma(img, area);
    resize32(&gray, area.width(), area.height())
}

/// As [`normalize`], without the border trim.
#[must_use]
pub fn normalize_untrimmed(img: &RgbImage, area: Area) -> Vec<u8> {
    let gray = luma(img, area);
    resize32(&gray, area.width(), area.height())
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
    fn weights_sum_to_one() {
        for (in_size, out) in [(1000u32, 32u32), (33, 32), (7, 32), (32, 32)] {
            for (_, k) in coefficients(in_size, out) {
                let sum: i64 = k.iter().map(|&w| i64::from(w)).sum();
                assert!((sum - (1 << PRECISION_BITS)).abs() < 64, "{in_size}: {sum}");
            }
        }
    }
}

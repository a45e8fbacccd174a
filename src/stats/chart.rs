//! The upload-trend chart as SVG: counts per bucket for every series, the
//! seniors' and juniors' Theil–Sen trend lines, and the event dates marked;
//! title, axes and legend. Plain SVG 1.1, no scripts, no external fonts.

use std::fmt::Write as _;

use super::{Analysis, Bucket};

const W: f64 = 960.0;
const H: f64 = 540.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 86.0;
const BOTTOM: f64 = 100.0;

/// Colours per series (all, seniors, juniors): colour-blind safe.
const COLOURS: [&str; 3] = ["#7f7f7f", "#0072b2", "#e69f00"];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" step for about `ticks` intervals up to `max`.
fn nice_step(max: f64, ticks: f64) -> f64 {
    let raw = (max / ticks).max(1.0);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// Renders the analysis as an SVG document.
#[must_use]
pub fn svg(a: &Analysis, title: &str) -> String {
    let series = &a.series;
    let n = series.first().map_or(0, |s| s.buckets.len());
    let max = series
        .iter()
        .flat_map(|s| s.buckets.iter().map(|b| b.count))
        .max()
        .unwrap_or(0) as f64;
    let step = nice_step(max.max(1.0), 5.0);
    let top_value = (max / step).ceil().max(1.0) * step;
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let x = |i: f64| {
        LEFT + if n > 1 {
            i / (n - 1) as f64 * pw
        } else {
            pw / 2.0
        }
    };
    let y = |v: f64| TOP + ph - v / top_value * ph;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = write!(o, r##"<rect width="{W}" height="{H}" fill="#ffffff"/>"##);
    let unit = match a.options.bucket {
        Bucket::Week => "week",
        Bucket::Month => "month",
        Bucket::Quarter => "quarter",
    };
    let _ = write!(
        o,
        r##"<text x="{LEFT}" y="28" font-size="18" font-weight="bold" fill="#222">{}</text>"##,
        escape(title)
    );
    let cap = if a.options.cap == 0 {
        "no cap".to_owned()
    } else {
        format!("at most {} per artist per {unit}", a.options.cap)
    };
    let _ = write!(
        o,
        r##"<text x="{LEFT}" y="48" fill="#555">Uploads per {unit}, {} to {}, {cap}.</text><text x="{LEFT}" y="65" fill="#555">Seniors: first upload before {}; juniors: on or after. Dashed lines: Theil–Sen trends; red: event dates.</text>"##,
        a.options.from, a.options.to, a.options.cutoff
    );
    // Grid and y axis.
    let mut v = 0.0;
    while v <= top_value + 1e-9 {
        let yy = y(v);
        let _ = write!(
            o,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#444">{}</text>"##,
            W - RIGHT,
            LEFT - 8.0,
            yy + 4.0,
            v
        );
        v += step;
    }
    let _ = write!(
        o,
        r##"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle" fill="#444">uploads per {unit}</text>"##,
        TOP + ph / 2.0
    );
    let _ = write!(
        o,
        r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#444"/>"##,
        TOP + ph,
        W - RIGHT,
        TOP + ph
    );
    // X ticks: a label at each year start (January, or the first bucket).
    if let Some(first) = series.first() {
        let every = (n / 12).max(1);
        for (i, b) in first.buckets.iter().enumerate() {
            let year_start = b.start.ordinal() <= 7;
            let label = match a.options.bucket {
                Bucket::Month => i == 0 || matches!(u8::from(b.start.month()), 1 | 7),
                Bucket::Quarter => i == 0 || year_start,
                Bucket::Week => i % every == 0,
            };
            let xx = x(i as f64);
            let _ = write!(
                o,
                r##"<line x1="{xx:.1}" y1="{:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#444"/>"##,
                TOP + ph,
                TOP + ph + if label { 6.0 } else { 3.0 }
            );
            if label {
                let text = match a.options.bucket {
                    Bucket::Week => b.start.to_string(),
                    _ => format!("{}-{:02}", b.start.year(), u8::from(b.start.month())),
                };
                let _ = write!(
                    o,
                    r##"<text x="{xx:.1}" y="{:.1}" text-anchor="middle" fill="#444">{text}</text>"##,
                    TOP + ph + 20.0
                );
            }
        }
    }
    // Event dates.
    if let Some(first) = series.first() {
        for (e_i, e) in first.events.iter().enumerate() {
            // Between the last bucket before the date and the first after.
            let pos = match e.first_post_bucket {
                Some(k) if k > 0 => k as f64 - 0.5,
                Some(_) => continue,
                None => continue,
            };
            let xx = x(pos);
            let _ = e_i;
            let _ = write!(
                o,
                r##"<line x1="{xx:.1}" y1="{TOP}" x2="{xx:.1}" y2="{:.1}" stroke="#b22222" stroke-dasharray="4 3"/><text transform="translate({:.1} {:.1}) rotate(-90)" text-anchor="end" font-size="11" fill="#b22222" stroke="#ffffff" stroke-width="3" paint-order="stroke">{} ({})</text>"##,
                TOP + ph,
                xx - 4.0,
                TOP + 4.0,
                escape(&e.name),
                e.date
            );
        }
    }
    // Series and trend lines.
    for (s, colour) in series.iter().zip(COLOURS) {
        let pts: Vec<String> = s
            .buckets
            .iter()
            .enumerate()
            .map(|(i, b)| format!("{:.1},{:.1}", x(i as f64), y(b.count as f64)))
            .collect();
        let width = if s.name == "all" { 1.5 } else { 2.5 };
        let _ = write!(
            o,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="{width}"/>"#,
            pts.join(" ")
        );
        if s.name != "all" {
            for p in &pts {
                let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
                let _ = write!(
                    o,
                    r#"<circle cx="{px}" cy="{py}" r="2.5" fill="{colour}"/>"#
                );
            }
            if let (Some(b), Some(c)) = (s.trend.theil_sen_slope, s.trend.theil_sen_intercept) {
                // The trend's index 0 is the series' first analysed bucket.
                let first = s.trend_from as f64;
                let end = n.saturating_sub(1) as f64;
                let (y0, y1) = (c, c + b * (end - first));
                let _ = write!(
                    o,
                    r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="7 4"/>"#,
                    x(first),
                    y(y0.clamp(0.0, top_value)),
                    x(end),
                    y(y1.clamp(0.0, top_value))
                );
            }
        }
    }
    // Legend: one line per series under the axis.
    let lx = LEFT;
    for (i, (s, colour)) in series.iter().zip(COLOURS).enumerate() {
        let ly = H - BOTTOM + 42.0 + 17.0 * i as f64;
        let trend = match (s.trend.theil_sen_slope, s.trend.mann_kendall.p) {
            (Some(b), p) if p < 0.001 => {
                format!("trend {b:+.2} per {unit}, Mann–Kendall p < 0.001")
            }
            (Some(b), p) => format!("trend {b:+.2} per {unit}, Mann–Kendall p = {p:.3}"),
            (None, _) => "no trend".to_owned(),
        };
        let _ = write!(
            o,
            r##"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}" fill="#222">{} ({} artists): {}</text>"##,
            lx + 22.0,
            lx + 28.0,
            ly + 4.0,
            s.name,
            s.artists,
            escape(&trend)
        );
    }
    o.push_str("</svg>\n");
    o
}

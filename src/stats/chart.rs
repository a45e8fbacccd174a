//! The upload-trend chart as SVG (`spec/stats.md` §8): one panel per group
//! (a site, a basis; one panel for a single analysis) stacked on one sheet
//! with shared axes, as the paper's figures; in each, the counts of the
//! three series, the segmented-regression fit for one event date drawn as
//! its pre-event and post-event lines, and beside each fit its level change
//! with p and the series' trend. Event dates are labelled in a band above
//! the panels, stacked so that no label overlaps another or a line; every
//! other label sits outside the plotting areas. Series differ by line style
//! and marker as well as colour, so the chart reads in grey.
//!
//! Plain SVG, no scripts, no external fonts. Every text is
//! `class="label"` with the box it is expected to stay within (`data-box`,
//! from an upper bound of DejaVu Sans' widths); drawn data is
//! `class="data"`, fits `class="fit"`, event lines `class="event"`, so a
//! renderer can check the layout (the tests render it and compare the
//! pixels of labels and lines).

use std::fmt::Write as _;

use super::{Analysis, Bucket, EventEffect, Series};

/// Sheet width: readable at 800 px.
const W: f64 = 800.0;
const LEFT: f64 = 58.0;
/// Room right of the plots for the fit labels.
const RIGHT: f64 = 190.0;
/// Height of one panel's plotting area.
const PLOT_H: f64 = 150.0;
/// Above a plot: the panel's heading.
const PANEL_HEAD: f64 = 24.0;
/// Between panels.
const PANEL_GAP: f64 = 20.0;
/// Height of one lane of event labels.
const LANE: f64 = 15.0;
/// Panels drawn, at most; the others are named in a footnote.
pub const MAX_PANELS: usize = 12;

/// Per series (all, seniors, juniors): colour (colour-blind safe, and
/// distinct in grey), stroke width, dash pattern, marker, and the dash
/// pattern of its fit (dotted, dashed, dash-dotted: told apart in grey).
const STYLES: [(&str, f64, &str, Marker, &str); 3] = [
    ("#333333", 1.4, "", Marker::None, "1 3"),
    ("#0072b2", 2.2, "", Marker::Circle, "7 3"),
    ("#d55e00", 2.2, "6 3", Marker::Square, "7 2 1.5 2"),
];
const EVENT_COLOUR: &str = "#b22222";

#[derive(Clone, Copy)]
enum Marker {
    None,
    Circle,
    Square,
}

/// One panel of the sheet.
pub struct Panel<'a> {
    /// The group's name (empty for a single analysis).
    pub title: String,
    pub analysis: &'a Analysis,
}

/// `s` without the characters XML cannot hold (controls, U+FFFE, U+FFFF).
fn printable(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() && !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
        .collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The advance width of `c` in DejaVu Sans, in em, from above (its widest
/// glyphs are 1 em; other scripts fall back to fonts of about 1 em).
fn char_em(c: char) -> f64 {
    match c {
        'i' | 'l' | 'j' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' | ' ' | '(' | ')' | '['
        | ']' | 'I' | 'f' | 't' | 'r' | '-' | '/' | '`' | '·' => 0.42,
        'm' | 'w' | 'M' | 'W' | '—' | '@' | '…' | '%' => 1.0,
        'A'..='Z' => 0.8,
        '+' | '=' | '<' | '>' | '−' | '≥' | '≤' | '±' | '×' | '#' | '~' | '^' | '&' => 0.86,
        c if c.is_ascii() => 0.66,
        c if u32::from(c) < 0x250 => 0.8,
        _ => 1.0,
    }
}

/// DejaVu Sans Bold is at most this much wider than the regular face.
const BOLD: f64 = 1.2;

/// The width of `s` in DejaVu Sans at `size` px, from above (labels are
/// placed with it; the tests check the rendering).
#[must_use]
pub fn text_width(s: &str, size: f64, bold: bool) -> f64 {
    s.chars().map(char_em).sum::<f64>() * size * if bold { BOLD } else { 1.0 }
}

/// `s`, cut with `…` to fit `max` px.
fn clip_text(s: &str, size: f64, bold: bool, max: f64) -> String {
    if text_width(s, size, bold) <= max {
        return s.to_owned();
    }
    let scale = size * if bold { BOLD } else { 1.0 };
    let mut room = max - char_em('…') * scale;
    let mut out = String::new();
    for c in s.chars() {
        room -= char_em(c) * scale;
        if room < 0.0 {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// A tick value, short: 25000 is `25k`, 1500000 `1.5M`.
fn tick_text(v: f64) -> String {
    let short = |v: f64, unit: &str| {
        let t = format!("{v:.1}");
        format!("{}{unit}", t.trim_end_matches(".0"))
    };
    if v >= 1e6 {
        short(v / 1e6, "M")
    } else if v >= 1e4 {
        short(v / 1e3, "k")
    } else {
        format!("{v}")
    }
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

fn p_text(p: Option<f64>) -> String {
    match p {
        Some(p) if p < 0.001 => "p < 0.001".to_owned(),
        Some(p) => format!("p = {p:.3}"),
        None => "exact fit".to_owned(),
    }
}

fn plural(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn signed(v: f64, digits: usize) -> String {
    let s = format!("{:.*}", digits, v.abs());
    if s.trim_start_matches(['0', '.']).is_empty() {
        return s;
    }
    format!("{}{s}", if v < 0.0 { "−" } else { "+" })
}

/// Lays out labels of heights `h` wanting centres `want`, inside
/// `[lo, hi]`, without overlap (at least `h` apart, in the wanted order);
/// returns the centres.
fn spread(want: &[f64], h: &[f64], lo: f64, hi: f64) -> Vec<f64> {
    let mut order: Vec<usize> = (0..want.len()).collect();
    order.sort_by(|&a, &b| want[a].total_cmp(&want[b]));
    let mut y = vec![0.0; want.len()];
    let mut floor = lo;
    for &i in &order {
        y[i] = want[i].max(floor + h[i] / 2.0);
        floor = y[i] + h[i] / 2.0;
    }
    // Pushed past the bottom: push back up, from the last.
    let mut ceil = hi;
    for &i in order.iter().rev() {
        if y[i] + h[i] / 2.0 > ceil {
            y[i] = ceil - h[i] / 2.0;
        }
        ceil = y[i] - h[i] / 2.0;
    }
    y
}

/// The event an analysis's fits are drawn for: `name` when given, else the
/// latest of its event dates.
fn fit_event_index(a: &Analysis, name: Option<&str>) -> Option<usize> {
    match name {
        Some(n) => a.options.events.iter().position(|e| e.name == n),
        None => a
            .options
            .events
            .iter()
            .enumerate()
            .max_by_key(|(_, e)| e.date)
            .map(|(i, _)| i),
    }
}

/// Where a label is expected to draw, from above: `[x0, y0, x1, y1]`.
pub type LabelBox = [f64; 4];

struct Sheet {
    o: String,
    /// Label `i` (`id="label-i"`) is expected within `boxes[i]`.
    boxes: Vec<LabelBox>,
}

impl Sheet {
    /// A text label: `anchor` start, middle or end.
    #[allow(clippy::too_many_arguments)]
    fn text(&mut self, x: f64, y: f64, size: f64, anchor: &str, attrs: &str, s: &str, max: f64) {
        let bold = attrs.contains("bold");
        let s = clip_text(&printable(s), size, bold, max);
        let w = text_width(&s, size, bold);
        let x0 = match anchor {
            "middle" => x - w / 2.0,
            "end" => x - w,
            _ => x,
        };
        self.boxes
            .push([x0, y - 0.8 * size, x0 + w, y + 0.25 * size]);
        self.emit(x, y, size, anchor, attrs, &s);
    }

    /// A label turned a quarter left about its centre `(cx, cy)`.
    fn text_up(&mut self, cx: f64, cy: f64, size: f64, attrs: &str, s: &str) {
        let w = text_width(s, size, false);
        self.boxes.push([
            cx - 0.8 * size,
            cy - w / 2.0,
            cx + 0.25 * size,
            cy + w / 2.0,
        ]);
        let attrs = format!(r#"{attrs} transform="translate({cx:.1} {cy:.1}) rotate(-90)""#);
        self.emit(0.0, 0.0, size, "middle", &attrs, s);
    }

    fn emit(&mut self, x: f64, y: f64, size: f64, anchor: &str, attrs: &str, s: &str) {
        let i = self.boxes.len() - 1;
        let [x0, y0, x1, y1] = self.boxes[i];
        let _ = write!(
            self.o,
            r#"<text class="label" id="label-{i}" data-box="{x0:.1} {y0:.1} {x1:.1} {y1:.1}" x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{anchor}" {attrs}>{}</text>"#,
            escape(s)
        );
    }

    fn line(&mut self, class: &str, (x1, y1): (f64, f64), (x2, y2): (f64, f64), style: &str) {
        let _ = write!(
            self.o,
            r#"<line class="{class}" x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" {style}/>"#
        );
    }
}

/// Renders one analysis as a one-panel sheet.
#[must_use]
pub fn svg(a: &Analysis, title: &str) -> String {
    sheet(
        &[Panel {
            title: String::new(),
            analysis: a,
        }],
        title,
        None,
        0,
    )
}

/// Renders panels that share their options (range, bucket, cutoff, event
/// dates) on one sheet with shared axes. `fit_event` names the event whose
/// fits are drawn (default: the latest); `not_drawn` counts groups left off
/// (named in a footnote).
#[must_use]
#[allow(clippy::too_many_lines)]
pub fn sheet(
    panels: &[Panel<'_>],
    title: &str,
    fit_event: Option<&str>,
    not_drawn: usize,
) -> String {
    let Some(first) = panels.first() else {
        return String::from(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="800" height="40"></svg>"#,
        );
    };
    let a0 = first.analysis;
    let n = a0.series.first().map_or(0, |s| s.buckets.len());
    let unit = match a0.options.bucket {
        Bucket::Week => "week",
        Bucket::Month => "month",
        Bucket::Quarter => "quarter",
    };
    let per = match a0.options.bucket {
        Bucket::Week => "/wk",
        Bucket::Month => "/mo",
        Bucket::Quarter => "/qtr",
    };
    let fit = fit_event_index(a0, fit_event);
    let max = panels
        .iter()
        .flat_map(|p| p.analysis.series.iter())
        .flat_map(|s| s.buckets.iter().map(|b| b.count))
        .max()
        .unwrap_or(0) as f64;
    let step = nice_step(max.max(1.0), 4.0);
    let top_value = (max / step).ceil().max(1.0) * step;
    let pw = W - LEFT - RIGHT;
    let x = |i: f64| {
        LEFT + if n > 1 {
            i / (n - 1) as f64 * pw
        } else {
            pw / 2.0
        }
    };
    let mut s = Sheet {
        o: String::new(),
        boxes: Vec::new(),
    };

    // Heading.
    s.text(
        LEFT,
        26.0,
        16.0,
        "start",
        r##"font-weight="bold" fill="#222""##,
        title,
        W - LEFT - 4.0,
    );
    let cap = if a0.options.cap == 0 {
        "no cap".to_owned()
    } else {
        format!("at most {} per artist per {unit}", a0.options.cap)
    };
    s.text(
        LEFT,
        44.0,
        11.0,
        "start",
        r##"fill="#444""##,
        &format!(
            "Uploads per {unit}, {} to {}, {cap}; shared axes.",
            a0.options.from, a0.options.to
        ),
        W - LEFT - 4.0,
    );
    let mut line2 = format!(
        "Seniors: first upload before {}; juniors: on or after.",
        a0.options.cutoff
    );
    if let Some(sm) = &a0.sampling {
        let mut rule = Vec::new();
        if let Some(m) = sm.min_uploads {
            rule.push(format!("≥ {m} uploads"));
        }
        if let Some(m) = sm.min_followers {
            rule.push(format!("≥ {m} followers"));
        }
        line2.push_str(&format!(" Artists sampled: {}.", rule.join(", ")));
    }
    s.text(
        LEFT,
        58.0,
        11.0,
        "start",
        r##"fill="#444""##,
        &line2,
        W - LEFT - 4.0,
    );

    // Key: a sample of each series' line, then the fit's.
    let key_y = 76.0;
    let mut kx = LEFT;
    for (name, (colour, width, dash, marker, _)) in
        ["all artists", "seniors", "juniors"].iter().zip(STYLES)
    {
        let dash_attr = if dash.is_empty() {
            String::new()
        } else {
            format!(r#" stroke-dasharray="{dash}""#)
        };
        s.line(
            "key",
            (kx, key_y - 4.0),
            (kx + 26.0, key_y - 4.0),
            &format!(r#"stroke="{colour}" stroke-width="{width}"{dash_attr}"#),
        );
        marker_at(&mut s.o, "key", marker, colour, kx + 13.0, key_y - 4.0);
        s.text(
            kx + 31.0,
            key_y,
            11.0,
            "start",
            r##"fill="#222""##,
            name,
            200.0,
        );
        kx += 31.0 + text_width(name, 11.0, false) + 16.0;
    }
    // The fits' three dash patterns, one above the other.
    for (j, (colour, _, _, _, fit_dash)) in STYLES.iter().enumerate() {
        let ky = key_y - 8.0 + 4.0 * j as f64;
        s.line(
            "key",
            (kx, ky),
            (kx + 26.0, ky),
            &format!(r#"stroke="{colour}" stroke-width="1.6" stroke-dasharray="{fit_dash}""#),
        );
    }
    let fit_name = fit.map_or("none", |i| a0.options.events[i].name.as_str());
    s.text(
        kx + 31.0,
        key_y,
        11.0,
        "start",
        r##"fill="#222""##,
        &format!("segmented fits at {fit_name}"),
        W - 4.0 - (kx + 31.0),
    );

    // Event labels, stacked in lanes above the panels: a label never
    // overlaps another label in its lane, nor is crossed by the line of an
    // event in a lane above it, nor crosses with its own line a label below.
    let band_top = 86.0;
    let mut placed: Vec<(usize, f64, f64, f64)> = Vec::new(); // (lane, x, start, end)
    let mut events: Vec<(f64, String, bool)> = Vec::new();
    if let Some(s0) = a0.series.first() {
        for (i, e) in s0.events.iter().enumerate() {
            if let Some(k) = e.first_post_bucket.filter(|&k| k > 0) {
                events.push((
                    x(k as f64 - 0.5),
                    format!("{} ({})", e.name, e.date),
                    Some(i) == fit,
                ));
            }
        }
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut shown: Vec<String> = Vec::new();
    for (ex, text, bold) in &events {
        let text = printable(text);
        let w = text_width(&text, 11.0, *bold);
        let clear = |lane: usize, start: f64, end: f64| {
            placed.iter().all(|&(l, px, ps, pe)| {
                let overlaps = start < pe + 6.0 && ps < end + 6.0;
                let my_line_crosses = l > lane && (ps - 3.0..=pe + 3.0).contains(ex);
                let its_line_crosses = l < lane && (start - 3.0..=end + 3.0).contains(&px);
                !(my_line_crosses || its_line_crosses || (l == lane && overlaps))
            })
        };
        // The first lane where the label fits whole, right of its line or
        // left of it.
        let whole = (0..=placed.len()).find_map(|lane| {
            [(ex + 4.0, ex + 4.0 + w), (ex - 4.0 - w, ex - 4.0)]
                .into_iter()
                .find(|&(start, end)| start >= 4.0 && end <= W - 4.0 && clear(lane, start, end))
                .map(|(start, end)| (lane, start, end))
        });
        // Else a new lane below every other, right of the line, cut to the
        // sheet: always clear, as events are placed from left to right (no
        // line above it lies right of its own, and no label lies below).
        let (lane, start, end, text) = match whole {
            Some((lane, start, end)) => (lane, start, end, text),
            None => {
                let lane = placed.iter().map(|p| p.0 + 1).max().unwrap_or(0);
                let start = ex + 4.0;
                let cut = clip_text(&text, 11.0, *bold, (W - 4.0 - start).max(0.0));
                let end = start + text_width(&cut, 11.0, *bold);
                (lane, start, end, cut)
            }
        };
        placed.push((lane, *ex, start, end));
        shown.push(text);
    }
    let lanes = placed.iter().map(|p| p.0 + 1).max().unwrap_or(0);
    let panels_top = band_top + lanes as f64 * LANE + 8.0;
    for (((ex, _, bold), &(lane, _, start, _)), text) in events.iter().zip(&placed).zip(&shown) {
        let base = band_top + lane as f64 * LANE + 11.0;
        let weight = if *bold { r#" font-weight="bold""# } else { "" };
        s.text(
            start,
            base,
            11.0,
            "start",
            &format!(r#"fill="{EVENT_COLOUR}"{weight}"#),
            text,
            f64::INFINITY,
        );
        s.line(
            "event",
            (*ex, base - 10.0),
            (*ex, panels_top - 2.0),
            &format!(r#"stroke="{EVENT_COLOUR}" stroke-dasharray="4 3""#),
        );
    }

    // Panels.
    let mut top = panels_top;
    for (p_i, panel) in panels.iter().enumerate() {
        let a = panel.analysis;
        let plot_top = top + PANEL_HEAD;
        let plot_bottom = plot_top + PLOT_H;
        let y = |v: f64| plot_bottom - v / top_value * PLOT_H;
        let count = |name: &str| {
            a.series
                .iter()
                .find(|s| s.name == name)
                .map_or(0, |s| s.artists)
        };
        let head = format!(
            "{}{}: {}, {}",
            if panel.title.is_empty() {
                String::new()
            } else {
                format!("{} — ", panel.title)
            },
            plural(count("all"), "artist"),
            plural(count("seniors"), "senior"),
            plural(count("juniors"), "junior")
        );
        s.text(
            LEFT,
            top + 15.0,
            12.0,
            "start",
            r##"font-weight="bold" fill="#222""##,
            &head,
            pw,
        );
        let _ = write!(
            s.o,
            r#"<clipPath id="plot-{p_i}"><rect x="{LEFT}" y="{plot_top:.1}" width="{pw:.1}" height="{PLOT_H}"/></clipPath>"#
        );
        // Grid and y axis.
        let mut v = 0.0;
        while v <= top_value + 1e-9 {
            let yy = y(v);
            s.line("grid", (LEFT, yy), (LEFT + pw, yy), r##"stroke="#e3e3e3""##);
            s.text(
                LEFT - 6.0,
                yy + 4.0,
                10.0,
                "end",
                r##"fill="#444""##,
                &tick_text(v),
                LEFT - 24.0,
            );
            v += step;
        }
        s.text_up(
            14.0,
            plot_top + PLOT_H / 2.0,
            10.0,
            r##"fill="#444""##,
            &format!("per {unit}"),
        );
        s.line(
            "axis",
            (LEFT, plot_bottom),
            (LEFT + pw, plot_bottom),
            r##"stroke="#444""##,
        );
        // X ticks on every panel; their labels under the last.
        let last_panel = p_i + 1 == panels.len();
        if let Some(s0) = a.series.first() {
            // Labels where the calendar turns (a year, a half year; weeks
            // evenly), each drawn only if it clears the last one drawn.
            let every = (n / 12).max(1);
            let mut clear_from = f64::MIN;
            for (i, b) in s0.buckets.iter().enumerate() {
                let label = match a.options.bucket {
                    Bucket::Month => i == 0 || matches!(u8::from(b.start.month()), 1 | 7),
                    Bucket::Quarter => i == 0 || b.start.ordinal() <= 7,
                    Bucket::Week => i % every == 0,
                };
                let xx = x(i as f64);
                s.line(
                    "axis",
                    (xx, plot_bottom),
                    (xx, plot_bottom + if label { 5.0 } else { 2.5 }),
                    r##"stroke="#444""##,
                );
                if label && last_panel {
                    let text = match a.options.bucket {
                        Bucket::Week => b.start.to_string(),
                        _ => format!("{}-{:02}", b.start.year(), u8::from(b.start.month())),
                    };
                    // Keep the first and last labels on the sheet.
                    let half = text_width(&text, 10.0, false) / 2.0;
                    let xt = xx.clamp(half + 2.0, W - half - 2.0);
                    if xt - half < clear_from {
                        continue;
                    }
                    clear_from = xt + half + 8.0;
                    s.text(
                        xt,
                        plot_bottom + 17.0,
                        10.0,
                        "middle",
                        r##"fill="#444""##,
                        &text,
                        f64::INFINITY,
                    );
                }
            }
        }
        // Event lines through the plot.
        for (ex, _, _) in &events {
            s.line(
                "event",
                (*ex, plot_top),
                (*ex, plot_bottom),
                &format!(r#"stroke="{EVENT_COLOUR}" stroke-dasharray="4 3""#),
            );
        }
        // Series, then their fits.
        let mut right_labels: Vec<(f64, Vec<String>, &str)> = Vec::new();
        for (series, (colour, width, dash, marker, fit_dash)) in a.series.iter().zip(STYLES) {
            // Juniors have no uploads before the cutoff by definition: their
            // line starts at the cutoff.
            let from = series.trend_from;
            let pts: Vec<(f64, f64)> = series
                .buckets
                .iter()
                .enumerate()
                .skip(from)
                .map(|(i, b)| (x(i as f64), y(b.count as f64)))
                .collect();
            let dash_attr = if dash.is_empty() {
                String::new()
            } else {
                format!(r#" stroke-dasharray="{dash}""#)
            };
            let points: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
            let _ = write!(
                s.o,
                r#"<polyline class="data" data-panel="{p_i}" data-series="{}" points="{}" fill="none" stroke="{colour}" stroke-width="{width}" stroke-linejoin="round"{dash_attr}/>"#,
                series.name,
                points.join(" ")
            );
            let every = pts.len().div_ceil(60).max(1);
            // A lone bucket has no line to see: mark it whatever the series.
            let marker = match (marker, pts.len()) {
                (Marker::None, 1) => Marker::Circle,
                (m, _) => m,
            };
            for (px, py) in pts.iter().step_by(every) {
                marker_at(&mut s.o, "data", marker, colour, *px, *py);
            }
            let end_y = pts.last().map_or(plot_bottom, |p| p.1);
            let effect = fit.and_then(|i| series.events.get(i));
            let style = format!(
                r#"data-panel="{p_i}" data-series="{}" stroke="{colour}" stroke-width="1.8" stroke-linecap="round" stroke-dasharray="{fit_dash}" clip-path="url(#plot-{p_i})""#,
                series.name
            );
            let (label_y, lines) = fit_drawing(&mut s, series, effect, &style, per, &x, &y);
            right_labels.push((
                label_y.unwrap_or(end_y).clamp(plot_top, plot_bottom),
                lines,
                colour,
            ));
        }
        // Fit labels right of the plot, spread so none overlaps.
        let heights: Vec<f64> = right_labels
            .iter()
            .map(|(_, l, _)| l.len() as f64 * 13.0 + 4.0)
            .collect();
        let want: Vec<f64> = right_labels.iter().map(|r| r.0).collect();
        let ys = spread(&want, &heights, plot_top - 14.0, plot_bottom + 2.0);
        let lx = LEFT + pw + 16.0;
        for (((anchor_y, lines, colour), cy), h) in right_labels.iter().zip(&ys).zip(&heights) {
            s.line(
                "leader",
                (LEFT + pw + 3.0, *anchor_y),
                (lx - 3.0, *cy),
                &format!(r#"stroke="{colour}" stroke-width="0.8""#),
            );
            for (j, l) in lines.iter().enumerate() {
                let attrs = if j == 0 {
                    format!(r#"fill="{colour}" font-weight="bold""#)
                } else {
                    r##"fill="#222""##.to_owned()
                };
                s.text(
                    lx,
                    cy - h / 2.0 + 12.0 + 13.0 * j as f64,
                    10.5,
                    "start",
                    &attrs,
                    l,
                    W - 4.0 - lx,
                );
            }
        }
        top = plot_bottom + if last_panel { 24.0 } else { PANEL_GAP };
    }
    if not_drawn > 0 {
        s.text(
            LEFT,
            top + 12.0,
            11.0,
            "start",
            r##"fill="#444""##,
            &format!("{not_drawn} more groups with fewer uploads are in the JSON and CSV output."),
            W - LEFT - 4.0,
        );
        top += 18.0;
    }
    let height = (top + 6.0).ceil();
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif"><rect width="{W}" height="{height}" fill="#ffffff"/>{}</svg>
"##,
        s.o
    )
}

fn marker_at(o: &mut String, class: &str, marker: Marker, colour: &str, x: f64, y: f64) {
    match marker {
        Marker::None => {}
        Marker::Circle => {
            let _ = write!(
                o,
                r#"<circle class="{class}" cx="{x:.1}" cy="{y:.1}" r="2.6" fill="{colour}"/>"#
            );
        }
        Marker::Square => {
            let _ = write!(
                o,
                r#"<rect class="{class}" x="{:.1}" y="{:.1}" width="4.6" height="4.6" fill="{colour}"/>"#,
                x - 2.3,
                y - 2.3
            );
        }
    }
}

/// Draws `series`' fit for `effect` with `style`: the pre-event line to
/// the first post-event bucket *k*, the step there (the level change β₂),
/// and the post-event line from *k* on, all clipped to the plot. Returns
/// where its label wants to sit (the post line's end) and the label's
/// lines.
fn fit_drawing(
    s: &mut Sheet,
    series: &Series,
    effect: Option<&EventEffect>,
    style: &str,
    per: &str,
    x: &dyn Fn(f64) -> f64,
    y: &dyn Fn(f64) -> f64,
) -> (Option<f64>, Vec<String>) {
    let trend = match series.trend.theil_sen_slope {
        Some(b) => format!(
            "trend {}{per} ({})",
            signed(
                b,
                if b.abs() >= 100.0 {
                    0
                } else if b.abs() >= 10.0 {
                    1
                } else {
                    2
                }
            ),
            p_text(Some(series.trend.mann_kendall.p))
        ),
        None => "no trend".to_owned(),
    };
    let mut lines = vec![series.name.to_owned()];
    let Some(e) = effect else {
        lines.push(trend);
        return (None, lines);
    };
    let (Some(b0), Some(b1), Some(b2), Some(b3), Some(k)) = (
        e.intercept.as_ref(),
        e.pre_slope.as_ref(),
        e.level_change.as_ref(),
        e.slope_change.as_ref(),
        e.first_post_bucket,
    ) else {
        lines.push("no fit: too few buckets".to_owned());
        lines.push(trend);
        return (None, lines);
    };
    // The regression's t = 0 is the series' first analysed bucket.
    let from = series.trend_from;
    let n = series.buckets.len();
    let k_rel = k.saturating_sub(from) as f64;
    let last = n.saturating_sub(1 + from) as f64;
    let pre = |t: f64| b0.estimate + b1.estimate * t;
    let post = |t: f64| pre(t) + b2.estimate + b3.estimate * (t - k_rel);
    let at = |t: f64| x(t + from as f64);
    s.line(
        "fit",
        (at(0.0), y(pre(0.0))),
        (at(k_rel), y(pre(k_rel))),
        style,
    );
    s.line(
        "fit",
        (at(k_rel), y(pre(k_rel))),
        (at(k_rel), y(post(k_rel))),
        style,
    );
    s.line(
        "fit",
        (at(k_rel), y(post(k_rel))),
        (at(last), y(post(last))),
        style,
    );
    lines.push(format!(
        "level {} ({})",
        signed(b2.estimate, 1),
        p_text(b2.p)
    ));
    lines.push(trend);
    (Some(y(post(last))), lines)
}

//! Upload-trend statistics (`spec/stats.md`), after "At the edge of a
//! generative cultural precipice" (Porres & Gomez-Villa, 2024): counts per
//! bucket with a per-artist cap, senior and junior cohorts split at a
//! cutoff, a robust trend (Theil–Sen slope, Mann–Kendall test) and, for
//! each event date, a segmented (interrupted time-series) regression.
//!
//! Pure computation on `(artist, instant)` events: no HTTP, no SQL. All
//! dates are UTC.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
use time::{Date, Month, OffsetDateTime};

use crate::domain::Timestamp;

pub mod chart;
pub mod input;

/// The width of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// ISO weeks, Monday to Sunday.
    Week,
    Month,
    Quarter,
}

impl Bucket {
    /// # Errors
    /// On anything but `week`, `month`, `quarter`.
    pub fn parse(s: &str) -> Result<Self, StatsError> {
        match s {
            "week" => Ok(Bucket::Week),
            "month" => Ok(Bucket::Month),
            "quarter" => Ok(Bucket::Quarter),
            other => Err(StatsError::Option(format!(
                "unknown bucket `{}`: use week, month or quarter",
                other.chars().take(32).collect::<String>()
            ))),
        }
    }

    /// The first day of the bucket holding `d`.
    #[must_use]
    pub fn start(self, d: Date) -> Date {
        match self {
            Bucket::Week => {
                d - time::Duration::days(i64::from(d.weekday().number_days_from_monday()))
            }
            Bucket::Month => d.replace_day(1).unwrap_or(d),
            Bucket::Quarter => {
                let m = u8::from(d.month());
                let first = Month::try_from((m - 1) / 3 * 3 + 1).unwrap_or(Month::January);
                Date::from_calendar_date(d.year(), first, 1).unwrap_or(d)
            }
        }
    }

    /// The first day of the next bucket after the one starting at `start`.
    #[must_use]
    pub fn next(self, start: Date) -> Date {
        match self {
            Bucket::Week => start + time::Duration::days(7),
            Bucket::Month | Bucket::Quarter => {
                let step = if self == Bucket::Month { 1 } else { 3 };
                let m = u8::from(start.month()) + step;
                let (year, m) = if m > 12 {
                    (start.year() + 1, m - 12)
                } else {
                    (start.year(), m)
                };
                Date::from_calendar_date(year, Month::try_from(m).unwrap_or(Month::January), 1)
                    .unwrap_or(start)
            }
        }
    }
}

/// A named date to test for a change in the series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventDate {
    pub name: String,
    pub date: Date,
}

/// The public releases the paper discusses (defaults).
#[must_use]
pub fn default_events() -> Vec<EventDate> {
    let d = |y, m, day| Date::from_calendar_date(y, m, day).unwrap_or(Date::MIN);
    vec![
        EventDate {
            name: "DALL·E 2".into(),
            date: d(2022, Month::April, 6),
        },
        EventDate {
            name: "Midjourney open beta".into(),
            date: d(2022, Month::July, 12),
        },
        EventDate {
            name: "Stable Diffusion public release".into(),
            date: d(2022, Month::August, 22),
        },
    ]
}

/// The default cohort cutoff: 2022-01-01, as in the paper.
#[must_use]
pub fn default_cutoff() -> Date {
    Date::from_calendar_date(2022, Month::January, 1).unwrap_or(Date::MIN)
}

/// Parses a day written `YYYY-MM-DD`.
#[must_use]
pub fn parse_day(s: &str) -> Option<Date> {
    Date::parse(
        s.trim(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// Parses an event date written `NAME=YYYY-MM-DD`.
///
/// # Errors
/// A message saying what is wrong.
pub fn parse_event(s: &str) -> Result<EventDate, String> {
    let (name, date) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("an event is NAME=YYYY-MM-DD, got `{s}`"))?;
    Ok(EventDate {
        name: name.trim().to_owned(),
        date: parse_day(date)
            .ok_or_else(|| format!("event `{s}`: `{date}` is not a date (YYYY-MM-DD)"))?,
    })
}

/// The first and last day of `instants`, if any.
pub fn span(instants: impl IntoIterator<Item = Timestamp>) -> Option<(Date, Date)> {
    instants
        .into_iter()
        .map(date_of)
        .fold(None, |acc, d| match acc {
            None => Some((d, d)),
            Some((lo, hi)) => Some((lo.min(d), hi.max(d))),
        })
}

/// The counts as CSV: `series,bucket_start,count,active_artists`.
#[must_use]
pub fn counts_csv(analysis: &Analysis) -> String {
    let mut out = String::from("series,bucket_start,count,active_artists\n");
    for s in &analysis.series {
        for b in &s.buckets {
            out.push_str(&format!(
                "{},{},{},{}\n",
                s.name, b.start, b.count, b.active_artists
            ));
        }
    }
    out
}

/// What to compute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Options {
    /// First and last day of the range (inclusive); every bucket that starts
    /// in `[bucket start of from, to]` is in the series.
    pub from: Date,
    pub to: Date,
    pub bucket: Bucket,
    /// Events counted per artist per bucket, at most; 0 = no cap.
    pub cap: u32,
    /// Seniors' first event is before this day; juniors' on or after it.
    pub cutoff: Date,
    pub events: Vec<EventDate>,
}

/// Why an analysis cannot run.
/// Buckets one analysis may span, at most (Theil–Sen is quadratic in them):
/// 40 years of weeks.
pub const MAX_BUCKETS: usize = 2100;

/// Event dates one analysis may test, at most (each is a regression per
/// series and a label on the chart).
pub const MAX_EVENTS: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    #[error("{0}")]
    Option(String),
}

/// Counts in one bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketCount {
    pub start: Date,
    /// Events after the cap.
    pub count: u64,
    /// Artists with at least one event in the bucket.
    pub active_artists: u64,
}

/// The Mann–Kendall test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MannKendall {
    pub s: i64,
    pub var_s: f64,
    pub z: f64,
    /// Two-sided, normal approximation.
    pub p: f64,
    pub tau: f64,
}

/// A robust trend of the counts, per bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    /// Median of pairwise slopes, in events per bucket; `None` with fewer
    /// than 2 buckets.
    pub theil_sen_slope: Option<f64>,
    /// Median of `count − slope · index`.
    pub theil_sen_intercept: Option<f64>,
    pub mann_kendall: MannKendall,
}

/// One coefficient of a regression.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coefficient {
    pub estimate: f64,
    /// `None` for a perfect fit (no residual variance).
    pub std_error: Option<f64>,
    pub p: Option<f64>,
}

/// The segmented regression around one event date.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventEffect {
    pub name: String,
    pub date: Date,
    /// Index of the first bucket that starts on or after the date.
    pub first_post_bucket: Option<usize>,
    /// `None` when the range has fewer than 2 buckets on either side.
    pub level_change: Option<Coefficient>,
    pub slope_change: Option<Coefficient>,
    pub pre_slope: Option<Coefficient>,
    /// β₀, the fit's value at the first analysed bucket: with the three
    /// above it draws the fitted segments.
    pub intercept: Option<Coefficient>,
    /// Why the regression was not computed, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One series: all artists, seniors or juniors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub name: &'static str,
    pub artists: u64,
    pub buckets: Vec<BucketCount>,
    /// Index of the first bucket the trend and the regressions use: 0, or
    /// for juniors the bucket holding the cutoff (before it their count is
    /// 0 by definition, which would fake a rising trend).
    pub trend_from: usize,
    pub trend: Trend,
    pub events: Vec<EventEffect>,
}

/// The whole analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    pub options: Options,
    /// Events given, and events inside the range.
    pub events_in: u64,
    pub events_in_range: u64,
    pub series: Vec<Series>,
    /// The sampling applied before cohorts, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampling: Option<Sampling>,
}

/// Which artists an analysis keeps (§1a): as the paper sampled artists
/// with more than 2,000 followers, before cohorts are formed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SampleRule {
    /// Artists with fewer uploads than this (over every upload given, the
    /// range aside) are left out.
    pub min_uploads: Option<u64>,
    /// Artists with fewer followers than this are left out, and so are
    /// artists whose follower count the input does not give.
    pub min_followers: Option<u64>,
}

impl SampleRule {
    #[must_use]
    pub fn is_none(&self) -> bool {
        self.min_uploads.is_none() && self.min_followers.is_none()
    }
}

/// What a [`SampleRule`] kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sampling {
    pub min_uploads: Option<u64>,
    pub min_followers: Option<u64>,
    pub artists_given: u64,
    pub artists_kept: u64,
    /// Artists left out only because the input gives no follower count
    /// for them (counted when `min_followers` is set).
    pub artists_without_followers: u64,
    pub uploads_given: u64,
    pub uploads_kept: u64,
}

/// Applies `rule` to `events` (artist key, instant, weight): the events of
/// the artists it keeps, and what it kept. `followers` gives each artist's
/// follower count where known.
pub fn sample<A: std::hash::Hash + Eq + Clone>(
    events: &[(A, Timestamp, u64)],
    followers: &HashMap<A, u64>,
    rule: SampleRule,
) -> (Vec<(A, Timestamp, u64)>, Sampling) {
    let mut uploads: HashMap<&A, u64> = HashMap::new();
    for (a, _, w) in events {
        *uploads.entry(a).or_default() += w;
    }
    let mut without_followers = 0;
    let kept: std::collections::HashSet<&A> = uploads
        .iter()
        .filter(|(a, n)| {
            let enough = rule.min_uploads.is_none_or(|m| **n >= m);
            let popular = match (rule.min_followers, followers.get(**a)) {
                (None, _) => true,
                (Some(m), Some(f)) => *f >= m,
                (Some(_), None) => {
                    if enough {
                        without_followers += 1;
                    }
                    false
                }
            };
            enough && popular
        })
        .map(|(a, _)| *a)
        .collect();
    let out: Vec<(A, Timestamp, u64)> = events
        .iter()
        .filter(|(a, _, _)| kept.contains(a))
        .cloned()
        .collect();
    let report = Sampling {
        min_uploads: rule.min_uploads,
        min_followers: rule.min_followers,
        artists_given: uploads.len() as u64,
        artists_kept: kept.len() as u64,
        artists_without_followers: without_followers,
        uploads_given: events.iter().map(|e| e.2).sum(),
        uploads_kept: out.iter().map(|e| e.2).sum(),
    };
    (out, report)
}

/// One group's analysis (a site, or a basis of the registry's statistics).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub group: String,
    #[serde(flatten)]
    pub analysis: Analysis,
}

/// Analyses per group, with the pooled one when pooling means something.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grouped {
    /// What the groups are: `site`, or `basis` for the registry.
    pub by: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pooled: Option<Analysis>,
    pub groups: Vec<Group>,
}

/// The counts of grouped analyses as CSV:
/// `group,series,bucket_start,count,active_artists`; the pooled analysis's
/// rows come last, with an empty group. A group that starts with `=`, `+`,
/// `-`, `@`, a tab or a carriage return is written after a `'`, so that a
/// spreadsheet shows it rather than runs it.
#[must_use]
pub fn grouped_csv(g: &Grouped) -> String {
    let mut out = String::from("group,series,bucket_start,count,active_artists\n");
    let cell = |s: &str| {
        // A spreadsheet would run a cell that starts like a formula.
        let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{s}")
        } else {
            s.to_owned()
        };
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    };
    let pooled = g.pooled.iter().map(|a| ("", a));
    let groups = g.groups.iter().map(|x| (x.group.as_str(), &x.analysis));
    for (group, a) in groups.chain(pooled) {
        for s in &a.series {
            for b in &s.buckets {
                out.push_str(&format!(
                    "{},{},{},{},{}\n",
                    cell(group),
                    s.name,
                    b.start,
                    b.count,
                    b.active_artists
                ));
            }
        }
    }
    out
}

/// The UTC calendar day of `t`.
#[must_use]
pub fn date_of(t: Timestamp) -> Date {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.unix_nanos()))
        .map_or(Date::MIN, OffsetDateTime::date)
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Theil–Sen slope and intercept, and the Mann–Kendall test, of `y` over
/// its indexes.
#[must_use]
pub fn trend(y: &[f64]) -> Trend {
    let n = y.len();
    let mut slopes = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    let mut s: i64 = 0;
    for i in 0..n {
        for j in i + 1..n {
            slopes.push((y[j] - y[i]) / (j - i) as f64);
            s += match y[j].total_cmp(&y[i]) {
                std::cmp::Ordering::Greater => 1,
                std::cmp::Ordering::Less => -1,
                std::cmp::Ordering::Equal => 0,
            };
        }
    }
    let slope = median(&mut slopes);
    let intercept = slope.and_then(|b| {
        let mut r: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(i, v)| v - b * i as f64)
            .collect();
        median(&mut r)
    });
    // Variance with the correction for ties.
    let mut groups: BTreeMap<u64, u64> = BTreeMap::new();
    for v in y {
        *groups.entry(v.to_bits()).or_default() += 1;
    }
    let nf = n as f64;
    let ties: f64 = groups
        .values()
        .map(|&t| {
            let t = t as f64;
            t * (t - 1.0) * (2.0 * t + 5.0)
        })
        .sum();
    let var_s = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0;
    let z = if var_s <= 0.0 || s == 0 {
        0.0
    } else if s > 0 {
        (s as f64 - 1.0) / var_s.sqrt()
    } else {
        (s as f64 + 1.0) / var_s.sqrt()
    };
    let p = if var_s <= 0.0 {
        1.0
    } else {
        Normal::new(0.0, 1.0).map_or(1.0, |d| 2.0 * d.sf(z.abs()))
    };
    let pairs = nf * (nf - 1.0) / 2.0;
    Trend {
        theil_sen_slope: slope,
        theil_sen_intercept: intercept,
        mann_kendall: MannKendall {
            s,
            var_s,
            z,
            p,
            tau: if pairs > 0.0 { s as f64 / pairs } else { 0.0 },
        },
    }
}

/// Inverts a small symmetric positive-definite matrix by Gauss–Jordan
/// elimination with partial pivoting; `None` when it is singular.
fn invert<const N: usize>(m: [[f64; N]; N]) -> Option<[[f64; N]; N]> {
    let mut a = m;
    let mut inv = [[0.0; N]; N];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for col in 0..N {
        let pivot = (col..N).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let p = a[col][col];
        for k in 0..N {
            a[col][k] /= p;
            inv[col][k] /= p;
        }
        for r in 0..N {
            if r != col {
                let f = a[r][col];
                for k in 0..N {
                    a[r][k] -= f * a[col][k];
                    inv[r][k] -= f * inv[col][k];
                }
            }
        }
    }
    Some(inv)
}

/// Ordinary least squares of `y` on the rows of `x`: estimates, and their
/// classical standard errors and two-sided Student-t p-values (n − 4
/// degrees of freedom).
#[must_use]
pub fn ols4(x: &[[f64; 4]], y: &[f64]) -> Option<[Coefficient; 4]> {
    let n = y.len();
    if n <= 4 || x.len() != n {
        return None;
    }
    let mut xtx = [[0.0; 4]; 4];
    let mut xty = [0.0; 4];
    for (row, &v) in x.iter().zip(y) {
        for i in 0..4 {
            xty[i] += row[i] * v;
            for j in 0..4 {
                xtx[i][j] += row[i] * row[j];
            }
        }
    }
    let inv = invert(xtx)?;
    let beta: Vec<f64> = (0..4)
        .map(|i| (0..4).map(|j| inv[i][j] * xty[j]).sum())
        .collect();
    let rss: f64 = x
        .iter()
        .zip(y)
        .map(|(row, &v)| {
            let fit: f64 = (0..4).map(|i| row[i] * beta[i]).sum();
            (v - fit).powi(2)
        })
        .sum();
    let df = (n - 4) as f64;
    let sigma2 = rss / df;
    let t_dist = StudentsT::new(0.0, 1.0, df).ok();
    let coef = |i: usize| {
        let se = (sigma2 * inv[i][i]).sqrt();
        let fit = se > 1e-12 * beta[i].abs().max(1.0);
        Coefficient {
            estimate: beta[i],
            std_error: fit.then_some(se),
            p: if fit {
                t_dist.as_ref().map(|d| 2.0 * d.sf((beta[i] / se).abs()))
            } else {
                None
            },
        }
    };
    Some([coef(0), coef(1), coef(2), coef(3)])
}

/// The segmented regression `y = β0 + β1·t + β2·D + β3·(t − k)·D`, with D = 1
/// from bucket `k` on.
fn segmented(name: &str, date: Date, starts: &[Date], y: &[f64]) -> EventEffect {
    let k = starts.iter().position(|s| *s >= date);
    let mut effect = EventEffect {
        name: name.to_owned(),
        date,
        first_post_bucket: k,
        level_change: None,
        slope_change: None,
        pre_slope: None,
        intercept: None,
        note: None,
    };
    let Some(k) = k.filter(|&k| k >= 2 && y.len() - k >= 2) else {
        effect.note = Some("fewer than 2 buckets before or after the date in the range".into());
        return effect;
    };
    let x: Vec<[f64; 4]> = (0..y.len())
        .map(|t| {
            let d = if t >= k { 1.0 } else { 0.0 };
            [1.0, t as f64, d, (t as f64 - k as f64) * d]
        })
        .collect();
    match ols4(&x, y) {
        Some([intercept, pre, level, slope]) => {
            effect.intercept = Some(intercept);
            effect.pre_slope = Some(pre);
            effect.level_change = Some(level);
            effect.slope_change = Some(slope);
        }
        None => effect.note = Some("too few buckets for the regression".into()),
    }
    effect
}

/// Runs the analysis over `events` (artist key, instant).
///
/// # Errors
/// When the options are inconsistent: an empty range, a cutoff outside it, or
/// a range of more than [`MAX_BUCKETS`] buckets.
pub fn analyze<A: std::hash::Hash + Eq + Clone>(
    events: &[(A, Timestamp)],
    options: &Options,
) -> Result<Analysis, StatsError> {
    let weighted: Vec<(&A, Timestamp, u64)> = events.iter().map(|(a, t)| (a, *t, 1)).collect();
    analyze_weighted(&weighted, options)
}

/// [`analyze`] over events that stand for `weight` uploads each (the same
/// artist, the same instant): the registry's aggregates.
///
/// # Errors
/// As [`analyze`].
pub fn analyze_weighted<A: std::hash::Hash + Eq>(
    events: &[(A, Timestamp, u64)],
    options: &Options,
) -> Result<Analysis, StatsError> {
    if options.to < options.from {
        return Err(StatsError::Option(format!(
            "the range is empty: `to` ({}) is before `from` ({})",
            options.to, options.from
        )));
    }
    if options.events.len() > MAX_EVENTS {
        return Err(StatsError::Option(format!(
            "{} event dates given; at most {MAX_EVENTS}",
            options.events.len()
        )));
    }
    if options.cutoff < options.from || options.cutoff > options.to {
        return Err(StatsError::Option(format!(
            "the cohort cutoff {} is outside the range {} to {}",
            options.cutoff, options.from, options.to
        )));
    }
    let bucket = options.bucket;
    let mut starts = Vec::new();
    let mut s = bucket.start(options.from);
    let last = bucket.start(options.to);
    while s <= last {
        if starts.len() == MAX_BUCKETS {
            return Err(StatsError::Option(format!(
                "the range {} to {} holds more than {MAX_BUCKETS} buckets; narrow it or use larger buckets",
                options.from, options.to
            )));
        }
        starts.push(s);
        s = bucket.next(s);
    }
    // First event of every artist, over all events (the range aside).
    let mut first: HashMap<&A, Date> = HashMap::new();
    for (a, t, _) in events.iter().filter(|e| e.2 > 0) {
        let d = date_of(*t);
        first.entry(a).and_modify(|f| *f = (*f).min(d)).or_insert(d);
    }
    // Events per (artist, bucket) in range.
    let index: HashMap<Date, usize> = starts.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let mut per_artist: HashMap<(&A, usize), u64> = HashMap::new();
    let mut in_range = 0;
    for (a, t, w) in events.iter().filter(|e| e.2 > 0) {
        if let Some(&i) = index.get(&bucket.start(date_of(*t))) {
            in_range += w;
            *per_artist.entry((a, i)).or_default() += w;
        }
    }
    let mut series = Vec::new();
    for (name, keep) in [
        ("all", None),
        ("seniors", Some(true)),
        ("juniors", Some(false)),
    ] {
        let member = |a: &A| {
            keep.is_none_or(|senior| {
                first
                    .get(a)
                    .is_some_and(|f| (*f < options.cutoff) == senior)
            })
        };
        let mut counts = vec![0u64; starts.len()];
        let mut active = vec![0u64; starts.len()];
        for ((a, i), n) in &per_artist {
            if member(a) {
                counts[*i] += if options.cap == 0 {
                    *n
                } else {
                    (*n).min(u64::from(options.cap))
                };
                active[*i] += 1;
            }
        }
        let y: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
        let from = if keep == Some(false) {
            let cut = bucket.start(options.cutoff);
            starts.iter().position(|s| *s >= cut).unwrap_or(0)
        } else {
            0
        };
        series.push(Series {
            name,
            artists: first.keys().filter(|a| member(a)).count() as u64,
            trend_from: from,
            buckets: starts
                .iter()
                .zip(counts.iter().zip(&active))
                .map(|(s, (c, a))| BucketCount {
                    start: *s,
                    count: *c,
                    active_artists: *a,
                })
                .collect(),
            trend: trend(&y[from..]),
            events: options
                .events
                .iter()
                .map(|e| {
                    let mut effect = segmented(&e.name, e.date, &starts[from..], &y[from..]);
                    effect.first_post_bucket = effect.first_post_bucket.map(|k| k + from);
                    effect
                })
                .collect(),
        });
    }
    Ok(Analysis {
        options: options.clone(),
        events_in: events.iter().map(|e| e.2).sum(),
        events_in_range: in_range,
        series,
        sampling: None,
    })
}

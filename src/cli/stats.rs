//! `consentry stats`: the upload-trend analysis of `spec/stats.md` on any
//! upload history (a CSV of `artist,timestamp`, or gallery-dl metadata),
//! written as JSON, CSV and an SVG chart.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use time::macros::format_description;
use time::Date;

use crate::stats::{self, Bucket, EventDate, Options};

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// A CSV file with `artist` and `timestamp` columns, or a folder of
    /// gallery-dl metadata files (`*.json`, from `--write-metadata`).
    #[arg(long)]
    pub input: PathBuf,
    /// First day of the range (default: the first upload's day).
    #[arg(long)]
    pub from: Option<String>,
    /// Last day of the range (default: the last upload's day).
    #[arg(long)]
    pub to: Option<String>,
    /// week, month or quarter.
    #[arg(long, default_value = "month")]
    pub bucket: String,
    /// Uploads counted per artist per bucket, at most (0: no cap).
    #[arg(long, default_value_t = 1)]
    pub cap: u32,
    /// Seniors' first upload is before this day, juniors' on or after.
    #[arg(long, default_value = "2022-01-01")]
    pub cutoff: String,
    /// An event date to test, `NAME=YYYY-MM-DD` (repeatable; replaces the
    /// defaults: DALL·E 2, Midjourney open beta, Stable Diffusion release).
    #[arg(long = "event")]
    pub events: Vec<String>,
    /// Write the full analysis as JSON (default: to standard output).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write counts per series and bucket as CSV.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Write the chart as SVG.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// The chart's title.
    #[arg(long, default_value = "Uploads of senior and junior artists")]
    pub title: String,
}

fn day(s: &str, what: &str) -> anyhow::Result<Date> {
    Date::parse(s.trim(), format_description!("[year]-[month]-[day]"))
        .with_context(|| format!("--{what} `{s}` is not a date (YYYY-MM-DD)"))
}

pub fn run(args: &StatsArgs) -> anyhow::Result<()> {
    let events = stats::input::read(&args.input)?;
    if events.is_empty() {
        bail!("{} holds no uploads", args.input.display());
    }
    let dates: Vec<Date> = events
        .iter()
        .map(|(_, t)| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.unix_nanos()))
                .map_or(Date::MIN, time::OffsetDateTime::date)
        })
        .collect();
    let from = match &args.from {
        Some(s) => day(s, "from")?,
        None => dates.iter().min().copied().unwrap_or(Date::MIN),
    };
    let to = match &args.to {
        Some(s) => day(s, "to")?,
        None => dates.iter().max().copied().unwrap_or(Date::MIN),
    };
    let event_dates = if args.events.is_empty() {
        stats::default_events()
    } else {
        args.events
            .iter()
            .map(|e| {
                let (name, date) = e
                    .rsplit_once('=')
                    .with_context(|| format!("--event `{e}` is not NAME=YYYY-MM-DD"))?;
                Ok(EventDate {
                    name: name.trim().to_owned(),
                    date: day(date, "event")?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let options = Options {
        from,
        to,
        bucket: Bucket::parse(&args.bucket)?,
        cap: args.cap,
        cutoff: day(&args.cutoff, "cutoff")?,
        events: event_dates,
    };
    let analysis = stats::analyze(&events, &options)?;
    let json = serde_json::to_string_pretty(&analysis)? + "\n";
    match &args.json {
        Some(p) => std::fs::write(p, &json).with_context(|| format!("writing {}", p.display()))?,
        None if args.csv.is_none() && args.svg.is_none() => print!("{json}"),
        None => {}
    }
    if let Some(p) = &args.csv {
        let mut w =
            csv::Writer::from_path(p).with_context(|| format!("writing {}", p.display()))?;
        w.write_record(["series", "bucket_start", "count", "active_artists"])?;
        for s in &analysis.series {
            for b in &s.buckets {
                w.write_record([
                    s.name.to_owned(),
                    b.start.to_string(),
                    b.count.to_string(),
                    b.active_artists.to_string(),
                ])?;
            }
        }
        w.flush()?;
    }
    if let Some(p) = &args.svg {
        std::fs::write(p, stats::chart::svg(&analysis, &args.title))
            .with_context(|| format!("writing {}", p.display()))?;
    }
    for s in &analysis.series {
        eprintln!(
            "{:<8} {:>6} artists, Theil–Sen {:+.3} per {}, Mann–Kendall p = {:.4}",
            s.name,
            s.artists,
            s.trend.theil_sen_slope.unwrap_or(0.0),
            args.bucket,
            s.trend.mann_kendall.p
        );
    }
    Ok(())
}

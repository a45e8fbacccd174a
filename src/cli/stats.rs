//! `consentry stats`: the upload-trend analysis of `spec/stats.md` on any
//! upload history (a CSV of `artist,timestamp`, or gallery-dl metadata),
//! written as JSON, CSV and an SVG chart.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use time::Date;

use crate::stats::{self, Bucket, Options};

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
    stats::parse_day(s).with_context(|| format!("--{what} `{s}` is not a date (YYYY-MM-DD)"))
}

pub fn run(args: &StatsArgs) -> anyhow::Result<()> {
    let events = stats::input::read(&args.input)?;
    let Some((first, last)) = stats::span(events.iter().map(|(_, t)| *t)) else {
        bail!("{} holds no uploads", args.input.display());
    };
    let from = args.from.as_deref().map_or(Ok(first), |s| day(s, "from"))?;
    let to = args.to.as_deref().map_or(Ok(last), |s| day(s, "to"))?;
    let event_dates = if args.events.is_empty() {
        stats::default_events()
    } else {
        args.events
            .iter()
            .map(|e| stats::parse_event(e).map_err(|m| anyhow::anyhow!("--event: {m}")))
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
        std::fs::write(p, stats::counts_csv(&analysis))
            .with_context(|| format!("writing {}", p.display()))?;
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

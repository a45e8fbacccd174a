//! `consentry stats`: the upload-trend analysis of `spec/stats.md` on any
//! upload history (a CSV of `artist,timestamp[,site][,followers]`, or
//! gallery-dl metadata), pooled or per site, written as JSON, CSV and an
//! SVG chart.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use time::Date;

use crate::domain::Timestamp;
use crate::stats::chart::{self, Panel};
use crate::stats::input::Upload;
use crate::stats::{self, Analysis, Bucket, Group, Grouped, Options, SampleRule};

/// What `--by` groups uploads by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    /// The site: gallery-dl's `category`, a CSV `site` or `platform` column.
    Site,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// A CSV file with `artist` and `timestamp` columns (optionally `site`
    /// or `platform`, and `followers`), or a folder of gallery-dl metadata
    /// files (`*.json`, from `--write-metadata`).
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
    /// Analyse each site apart (every series, trend and regression per
    /// site; cohorts are per artist per site), besides the pooled analysis.
    #[arg(long, value_enum)]
    pub by: Option<By>,
    /// Keep only artists with at least N uploads (over the whole input),
    /// before cohorts are formed.
    #[arg(long, value_name = "N")]
    pub min_uploads: Option<u64>,
    /// Keep only artists with at least N followers, where the input gives a
    /// follower count (artists without one are left out, and counted).
    #[arg(long, value_name = "N")]
    pub min_followers: Option<u64>,
    /// The event whose segmented fit the chart draws (default: the latest).
    #[arg(long, value_name = "NAME")]
    pub fit_event: Option<String>,
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

/// The site of an upload as a group's name.
const NO_SITE: &str = "(no site)";

type Key<'a> = (&'a str, &'a str);

/// Samples, then analyses, `uploads`.
fn analyse(uploads: &[&Upload], options: &Options, rule: SampleRule) -> anyhow::Result<Analysis> {
    let events: Vec<(Key<'_>, Timestamp, u64)> =
        uploads.iter().map(|u| (u.key(), u.at, 1)).collect();
    if rule.is_none() {
        return Ok(stats::analyze_weighted(&events, options)?);
    }
    let mut followers: HashMap<Key<'_>, u64> = HashMap::new();
    for u in uploads {
        if let Some(f) = u.followers {
            let e = followers.entry(u.key()).or_default();
            *e = (*e).max(f);
        }
    }
    let (kept, report) = stats::sample(&events, &followers, rule);
    let mut analysis = stats::analyze_weighted(&kept, options)?;
    analysis.sampling = Some(report);
    Ok(analysis)
}

fn write(path: &PathBuf, body: &str) -> anyhow::Result<()> {
    std::fs::write(path, body).with_context(|| format!("writing {}", path.display()))
}

/// `s` without control characters (site names are printed to a terminal).
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn summary(group: &str, a: &Analysis, bucket: &str) {
    let group = if group.is_empty() {
        String::new()
    } else {
        format!("{:<14} ", printable(group))
    };
    for s in &a.series {
        eprintln!(
            "{group}{:<8} {:>6} artists, Theil–Sen {:+.3} per {bucket}, Mann–Kendall p = {:.4}",
            s.name,
            s.artists,
            s.trend.theil_sen_slope.unwrap_or(0.0),
            s.trend.mann_kendall.p
        );
    }
    if let Some(sm) = &a.sampling {
        eprintln!(
            "{group}sampled {} of {} artists ({} of {} uploads){}",
            sm.artists_kept,
            sm.artists_given,
            sm.uploads_kept,
            sm.uploads_given,
            if sm.min_followers.is_some() {
                format!(
                    "; {} left out for want of a follower count",
                    sm.artists_without_followers
                )
            } else {
                String::new()
            }
        );
    }
}

pub fn run(args: &StatsArgs) -> anyhow::Result<()> {
    let uploads = stats::input::read(&args.input)?;
    let Some((first, last)) = stats::span(uploads.iter().map(|u| u.at)) else {
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
    if let Some(name) = &args.fit_event {
        if !event_dates.iter().any(|e| &e.name == name) {
            bail!(
                "--fit-event `{name}` is not one of the event dates ({})",
                event_dates
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    if args.min_followers.is_some() && uploads.iter().all(|u| u.followers.is_none()) {
        bail!(
            "--min-followers: {} gives no follower counts (a CSV `followers` column, or gallery-dl's author/user `followers_count`)",
            args.input.display()
        );
    }
    if args.min_followers.is_some() {
        // Sites whose metadata gives no follower count lose every artist:
        // say so rather than let them vanish.
        let mut counted: BTreeMap<Option<&str>, bool> = BTreeMap::new();
        for u in &uploads {
            *counted.entry(u.site.as_deref()).or_default() |= u.followers.is_some();
        }
        for (site, _) in counted.iter().filter(|(_, c)| !**c) {
            eprintln!(
                "warning: {} gives no follower counts: --min-followers leaves out all its artists",
                site.map_or_else(
                    || "uploads without a site".to_owned(),
                    |s| format!("site `{}`", printable(s))
                )
            );
        }
    }
    let options = Options {
        from,
        to,
        bucket: Bucket::parse(&args.bucket)?,
        cap: args.cap,
        cutoff: day(&args.cutoff, "cutoff")?,
        events: event_dates,
    };
    let rule = SampleRule {
        min_uploads: args.min_uploads,
        min_followers: args.min_followers,
    };
    let all: Vec<&Upload> = uploads.iter().collect();
    let pooled = analyse(&all, &options, rule)?;
    let fit = args.fit_event.as_deref();

    let (json, csv, svg) = match args.by {
        None => {
            summary("", &pooled, &args.bucket);
            (
                serde_json::to_string_pretty(&pooled)?,
                stats::counts_csv(&pooled),
                chart::sheet(
                    &[Panel {
                        title: String::new(),
                        analysis: &pooled,
                    }],
                    &args.title,
                    fit,
                    0,
                ),
            )
        }
        Some(By::Site) => {
            if uploads.iter().all(|u| u.site.is_none()) {
                bail!(
                    "--by site: {} names no site (gallery-dl's `category`, or a CSV `site` or `platform` column)",
                    args.input.display()
                );
            }
            let mut sites: BTreeMap<&str, Vec<&Upload>> = BTreeMap::new();
            for u in &uploads {
                sites
                    .entry(u.site.as_deref().unwrap_or(NO_SITE))
                    .or_default()
                    .push(u);
            }
            let mut groups = Vec::new();
            for (site, ups) in &sites {
                let analysis = analyse(ups, &options, rule)?;
                summary(site, &analysis, &args.bucket);
                groups.push(Group {
                    group: (*site).to_owned(),
                    analysis,
                });
            }
            summary("pooled", &pooled, &args.bucket);
            let grouped = Grouped {
                by: "site",
                pooled: Some(pooled),
                groups,
            };
            // The sites with the most uploads, in name order.
            let mut drawn: Vec<&Group> = grouped.groups.iter().collect();
            drawn.sort_by_key(|g| std::cmp::Reverse(g.analysis.events_in_range));
            let not_drawn = drawn.len().saturating_sub(chart::MAX_PANELS);
            drawn.truncate(chart::MAX_PANELS);
            drawn.sort_by(|a, b| a.group.cmp(&b.group));
            let panels: Vec<Panel<'_>> = drawn
                .iter()
                .map(|g| Panel {
                    title: g.group.clone(),
                    analysis: &g.analysis,
                })
                .collect();
            (
                serde_json::to_string_pretty(&grouped)?,
                stats::grouped_csv(&grouped),
                chart::sheet(&panels, &args.title, fit, not_drawn),
            )
        }
    };
    let json = json + "\n";
    match &args.json {
        Some(p) => write(p, &json)?,
        None if args.csv.is_none() && args.svg.is_none() => print!("{json}"),
        None => {}
    }
    if let Some(p) = &args.csv {
        write(p, &csv)?;
    }
    if let Some(p) = &args.svg {
        write(p, &svg)?;
    }
    Ok(())
}

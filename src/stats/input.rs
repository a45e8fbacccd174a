//! Upload histories from outside the registry, for `consentry stats`: a CSV
//! of `artist,timestamp` rows, or a folder of gallery-dl metadata files
//! (`--write-metadata`), the tool the paper used to collect its data.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::domain::Timestamp;

/// Parses an instant: RFC 3339 (any offset, converted to UTC), or
/// `YYYY-MM-DD HH:MM:SS` / `YYYY-MM-DDTHH:MM:SS` / `YYYY-MM-DD` taken as UTC.
///
/// # Errors
/// On anything else.
pub fn parse_instant(s: &str) -> anyhow::Result<Timestamp> {
    let s = s.trim();
    let dt = if let Ok(dt) = OffsetDateTime::parse(s, &Rfc3339) {
        dt
    } else if let Ok(dt) = PrimitiveDateTime::parse(
        &s.replacen('T', " ", 1),
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    ) {
        dt.assume_utc()
    } else if let Some(d) = super::parse_day(s) {
        d.midnight().assume_utc()
    } else {
        bail!(
            "`{}` is not a date or time (RFC 3339, or YYYY-MM-DD[ HH:MM:SS] in UTC)",
            s.chars().take(40).collect::<String>()
        );
    };
    let nanos = i64::try_from(dt.unix_timestamp_nanos()).context("time out of range")?;
    if nanos < 0 {
        bail!("`{s}` is before 1970");
    }
    Ok(Timestamp::from_unix_nanos(nanos))
}

/// One upload of an outside history: who, where, when, and the artist's
/// follower count when the source gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The site (gallery-dl `category`, a CSV `site` or `platform` column).
    pub site: Option<String>,
    pub artist: String,
    pub at: Timestamp,
    pub followers: Option<u64>,
}

impl Upload {
    /// The artist as the analysis counts them: per site, so one person on
    /// two sites is two artists, each with their own first upload.
    #[must_use]
    pub fn key(&self) -> (&str, &str) {
        (self.site.as_deref().unwrap_or_default(), &self.artist)
    }
}

/// Reads `artist,timestamp` rows (a header naming both columns, any order;
/// optional `site` or `platform` and `followers` or `followers_count`
/// columns; other columns ignored).
///
/// # Errors
/// A malformed row, named by its line.
pub fn read_csv(path: &Path) -> anyhow::Result<Vec<Upload>> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    read_csv_from(file, &path.display().to_string())
}

/// A follower count as sources write it: a whole number (an empty cell is
/// none).
fn followers_of(s: &str) -> anyhow::Result<Option<u64>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| {
        anyhow::anyhow!(
            "followers `{}` is not a whole number",
            s.chars().take(40).collect::<String>()
        )
    })
}

/// [`read_csv`] over any reader; `name` names it in errors.
///
/// # Errors
/// A malformed row, named by its line.
pub fn read_csv_from(input: impl std::io::Read, name: &str) -> anyhow::Result<Vec<Upload>> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let headers = reader
        .headers()
        .with_context(|| format!("{name}: header"))?
        .clone();
    let col = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
    };
    let (Some(a), Some(t)) = (col(&["artist"]), col(&["timestamp"])) else {
        bail!("{name}: the header needs `artist` and `timestamp` columns");
    };
    let site = col(&["site", "platform"]);
    let followers = col(&["followers", "followers_count"]);
    let mut out = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = rec.with_context(|| {
            format!("{name}: line {line} is not a CSV row of the header's width")
        })?;
        let artist = rec.get(a).unwrap_or_default().trim();
        if artist.is_empty() {
            bail!("{name}: line {line}: empty artist");
        }
        let at = parse_instant(rec.get(t).unwrap_or_default())
            .with_context(|| format!("{name}: line {line}"))?;
        let followers = match followers.and_then(|c| rec.get(c)) {
            Some(v) => followers_of(v).with_context(|| format!("{name}: line {line}"))?,
            None => None,
        };
        out.push(Upload {
            site: site
                .and_then(|c| rec.get(c))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            artist: artist.to_owned(),
            at,
            followers,
        });
    }
    Ok(out)
}

fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The artist of a gallery-dl metadata object: the first present of
/// `author.username`, `author.name`, `author`, `user.username`, `user.name`,
/// `user`, `artist`, `tag_string_artist` (first word), `username`.
fn gallery_dl_artist(v: &Value) -> Option<String> {
    [
        &v["author"]["username"],
        &v["author"]["name"],
        &v["author"],
        &v["user"]["username"],
        &v["user"]["name"],
        &v["user"],
        &v["artist"],
    ]
    .into_iter()
    .find_map(text)
    .or_else(|| {
        text(&v["tag_string_artist"]).and_then(|s| s.split_whitespace().next().map(str::to_owned))
    })
    .or_else(|| text(&v["username"]))
}

/// The artist's follower count in a gallery-dl metadata object, where the
/// extractor writes one: the first whole number of `author.followers_count`,
/// `author.followers`, `user.followers_count`, `user.followers`,
/// `followers_count`, `followers` (a number or a numeric string).
fn gallery_dl_followers(v: &Value) -> Option<u64> {
    [
        &v["author"]["followers_count"],
        &v["author"]["followers"],
        &v["user"]["followers_count"],
        &v["user"]["followers"],
        &v["followers_count"],
        &v["followers"],
    ]
    .into_iter()
    .find_map(|f| f.as_u64().or_else(|| f.as_str()?.trim().parse().ok()))
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            json_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads every `*.json` gallery-dl metadata file under `dir`: the upload
/// time is `date` (gallery-dl writes UTC), the site `category`, the artist
/// as [`gallery_dl_artist`] says, the followers as [`gallery_dl_followers`].
///
/// # Errors
/// A file that is not JSON, or lacks a date or an artist, named.
pub fn read_gallery_dl(dir: &Path) -> anyhow::Result<Vec<Upload>> {
    let mut files = Vec::new();
    json_files(dir, &mut files)?;
    files.sort();
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let name = f.display();
        let v: Value =
            serde_json::from_slice(&std::fs::read(&f).with_context(|| format!("reading {name}"))?)
                .with_context(|| format!("{name} is not JSON"))?;
        let date = v["date"]
            .as_str()
            .with_context(|| format!("{name}: no `date`"))?;
        let at = parse_instant(date).with_context(|| format!("{name}: `date`"))?;
        let artist = gallery_dl_artist(&v).with_context(|| {
            format!("{name}: no artist (author, user, artist, tag_string_artist or username)")
        })?;
        out.push(Upload {
            site: text(&v["category"]),
            artist,
            at,
            followers: gallery_dl_followers(&v),
        });
    }
    if out.is_empty() {
        bail!(
            "{} holds no gallery-dl metadata (*.json) files",
            dir.display()
        );
    }
    Ok(out)
}

/// Reads a CSV file or a gallery-dl metadata folder.
///
/// # Errors
/// As [`read_csv`] and [`read_gallery_dl`].
pub fn read(path: &Path) -> anyhow::Result<Vec<Upload>> {
    if path.is_dir() {
        read_gallery_dl(path)
    } else {
        read_csv(path)
    }
}

//! Upload-trend statistics from the registry's own records
//! (`spec/stats.md`): `GET /v1/stats/uploads` (JSON or CSV) and
//! `GET /v1/stats/uploads.svg` (the chart). Public.

use std::sync::{Arc, Mutex};

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use time::Date;

use super::error::{ApiError, ApiResult};
use super::{AppState, Routes};
use crate::index::UploadBasis;
use crate::stats::chart::Panel;
use crate::stats::{self, Analysis, Bucket, Group, Grouped, Options, SampleRule};

pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/stats/uploads", uploads)
        .get("/v1/stats/uploads.svg", uploads_svg)
}

/// Answers kept, at most.
const CACHED: usize = 32;

/// What a query computed: one analysis on one basis, or one per basis.
#[derive(Debug)]
pub enum Computed {
    One(Analysis, UploadBasis),
    ByBasis(Grouped),
}

/// An analysis as served: what was computed, the format, and the event the
/// chart draws fits for.
#[derive(Debug)]
pub struct Served {
    computed: Computed,
    format: String,
    fit_event: Option<String>,
}

type Answer = Arc<Served>;

/// Recent analyses, keyed by the query and the log size they were computed
/// at: an answer is reused until the next write.
#[derive(Debug, Default)]
pub struct StatsCache {
    entries: Mutex<Vec<(String, u64, Answer)>>,
}

impl StatsCache {
    fn get(&self, query: &str, size: u64) -> Option<Answer> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .iter()
            .find(|(q, s, _)| q == query && *s == size)
            .map(|(_, _, a)| Arc::clone(a))
    }

    fn put(&self, query: String, size: u64, answer: Answer) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.retain(|(_, s, _)| *s == size);
        if entries.len() >= CACHED {
            entries.remove(0);
        }
        entries.push((query, size, answer));
    }
}

/// The analysis for `query`, from the cache while the log has not grown.
fn cached(state: &AppState, query: Option<&str>) -> ApiResult<Answer> {
    let key = query.unwrap_or_default().to_owned();
    let size = state.registry.with_index(|st| st.index.size());
    if let Some(hit) = state.stats_cache.get(&key, size) {
        return Ok(hit);
    }
    let answer = Arc::new(analyse(state, query)?);
    state.stats_cache.put(key, size, Arc::clone(&answer));
    Ok(answer)
}

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid-parameter", detail)
}

/// Years a date parameter may name: those of the registry's timestamps
/// (openapi.yaml's `StatsDate`).
const YEARS: std::ops::RangeInclusive<i32> = 1970..=2261;

/// A date parameter: exactly `YYYY-MM-DD`, in [`YEARS`].
fn day(value: &str, name: &str) -> ApiResult<Date> {
    let shown = || value.chars().take(40).collect::<String>();
    let date = (value.len() == 10 && value.trim() == value)
        .then(|| stats::parse_day(value))
        .flatten()
        .ok_or_else(|| {
            bad(format!(
                "`{name}` is not a date (YYYY-MM-DD): `{}`",
                shown()
            ))
        })?;
    if !YEARS.contains(&date.year()) {
        return Err(bad(format!(
            "`{name}` is outside the years {} to {}: `{}`",
            YEARS.start(),
            YEARS.end(),
            shown()
        )));
    }
    Ok(date)
}

/// Parses the query, runs the analysis on the registry's aggregates.
#[allow(clippy::too_many_lines)]
fn analyse(state: &AppState, query: Option<&str>) -> ApiResult<Served> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|e| bad(format!("malformed query: {e}")))?;
    let (mut from, mut to, mut cutoff) = (None, None, None);
    let (mut bucket, mut cap, mut basis, mut format) = (
        Bucket::Month,
        1u32,
        UploadBasis::Registered,
        "json".to_owned(),
    );
    let mut events = Vec::new();
    let (mut by_basis, mut basis_given, mut min_uploads, mut fit_event) =
        (false, false, None, None);
    for (k, v) in &pairs {
        match k.as_str() {
            "from" => from = Some(day(v, "from")?),
            "to" => to = Some(day(v, "to")?),
            "cutoff" => cutoff = Some(day(v, "cutoff")?),
            "bucket" => bucket = Bucket::parse(v).map_err(|e| bad(e.to_string()))?,
            "cap" => {
                cap = v
                    .parse()
                    .map_err(|_| bad(format!("`cap` is a whole number ≥ 0, got `{v}`")))?;
            }
            "by" => {
                if v != "basis" {
                    return Err(bad(format!(
                        "unknown grouping `{}`: the registry groups by basis (registered and published)",
                        v.chars().take(40).collect::<String>()
                    )));
                }
                by_basis = true;
            }
            "min_uploads" => {
                min_uploads = Some(v.parse::<u64>().map_err(|_| {
                    bad(format!(
                        "`min_uploads` is a whole number ≥ 0, got `{}`",
                        v.chars().take(40).collect::<String>()
                    ))
                })?);
            }
            "fit_event" => fit_event = Some(v.clone()),
            "basis" => {
                basis_given = true;
                basis = match v.as_str() {
                    "registered" => UploadBasis::Registered,
                    "published" => UploadBasis::Published,
                    _ => {
                        return Err(bad(format!(
                            "unknown basis `{v}`: use registered or published"
                        )))
                    }
                };
            }
            "format" => {
                if v != "json" && v != "csv" {
                    return Err(bad(format!("unknown format `{v}`: use json or csv")));
                }
                format.clone_from(v);
            }
            "event" => {
                let event = stats::parse_event(v).map_err(|m| bad(format!("`event`: {m}")))?;
                let (_, date) = v.rsplit_once('=').unwrap_or_default();
                day(date, "event")?;
                events.push(event);
            }
            other => {
                return Err(bad(format!(
                    "unknown parameter `{}`",
                    other.chars().take(40).collect::<String>()
                )))
            }
        }
    }
    // `by=basis` gives a group per basis: both, or the one `basis` names.
    let bases: &[UploadBasis] = if by_basis && !basis_given {
        &[UploadBasis::Registered, UploadBasis::Published]
    } else {
        std::slice::from_ref(&basis)
    };
    let rule = SampleRule {
        min_uploads,
        min_followers: None,
    };
    let uploads: Vec<Vec<(u32, crate::domain::Timestamp, u64)>> = bases
        .iter()
        .map(|b| state.registry.with_index(|st| st.index.upload_events(*b)))
        .collect();
    let span = stats::span(uploads.iter().flatten().map(|(_, t, _)| *t));
    let (first, last) = (span.map(|s| s.0), span.map(|s| s.1));
    let (Some(from), Some(to)) = (from.or(first), to.or(last)) else {
        return Err(ApiError::not_found(
            "the registry holds no uploads on this basis yet; give `from` and `to` to see an empty series",
        ));
    };
    let options = Options {
        from,
        to,
        bucket,
        cap,
        cutoff: cutoff.unwrap_or_else(stats::default_cutoff),
        events: if events.is_empty() {
            stats::default_events()
        } else {
            events
        },
    };
    if let Some(name) = &fit_event {
        if !options.events.iter().any(|e| &e.name == name) {
            return Err(bad(format!(
                "`fit_event` `{}` is not one of the event dates",
                name.chars().take(60).collect::<String>()
            )));
        }
    }
    let run = |events: &[(u32, crate::domain::Timestamp, u64)]| {
        let (events, report) = if rule.is_none() {
            (events.to_vec(), None)
        } else {
            let (kept, report) = stats::sample(events, &std::collections::HashMap::new(), rule);
            (kept, Some(report))
        };
        let mut analysis = stats::analyze_weighted(&events, &options).map_err(|e| {
            let mut msg = e.to_string();
            if cutoff.is_none() {
                msg.push_str(" (the default cutoff is 2022-01-01: give `cutoff`)");
            }
            bad(msg)
        })?;
        analysis.sampling = report;
        Ok::<_, ApiError>(analysis)
    };
    let computed = if by_basis {
        let mut groups = Vec::new();
        for (b, events) in bases.iter().zip(&uploads) {
            groups.push(Group {
                group: basis_name(*b).to_owned(),
                analysis: run(events)?,
            });
        }
        Computed::ByBasis(Grouped {
            by: "basis",
            pooled: None,
            groups,
        })
    } else {
        Computed::One(run(&uploads[0])?, basis)
    };
    Ok(Served {
        computed,
        format,
        fit_event,
    })
}

fn basis_name(b: UploadBasis) -> &'static str {
    match b {
        UploadBasis::Registered => "registered",
        UploadBasis::Published => "published",
    }
}

#[tracing::instrument(skip_all)]
async fn uploads(State(state): State<AppState>, RawQuery(query): RawQuery) -> ApiResult<Response> {
    let answer = cached(&state, query.as_deref())?;
    if answer.format == "csv" {
        let out = match &answer.computed {
            Computed::One(a, _) => stats::counts_csv(a),
            Computed::ByBasis(g) => stats::grouped_csv(g),
        };
        return Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            )],
            out,
        )
            .into_response());
    }
    let body = match &answer.computed {
        Computed::One(a, basis) => {
            let mut body = serde_json::to_value(a).map_err(|_| ApiError::internal())?;
            if let Some(o) = body.as_object_mut() {
                o.insert("basis".into(), basis_name(*basis).into());
            }
            body
        }
        Computed::ByBasis(g) => serde_json::to_value(g).map_err(|_| ApiError::internal())?,
    };
    Ok(axum::Json(body).into_response())
}

#[tracing::instrument(skip_all)]
async fn uploads_svg(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let answer = cached(&state, query.as_deref())?;
    let fit = answer.fit_event.as_deref();
    let body = match &answer.computed {
        Computed::One(a, basis) => {
            let title = match basis {
                UploadBasis::Registered => "Works registered by senior and junior artists",
                UploadBasis::Published => {
                    "Works published by senior and junior artists (as declared)"
                }
            };
            stats::chart::sheet(
                &[Panel {
                    title: String::new(),
                    analysis: a,
                }],
                title,
                fit,
                0,
            )
        }
        Computed::ByBasis(g) => {
            let panels: Vec<Panel<'_>> = g
                .groups
                .iter()
                .map(|x| Panel {
                    title: match x.group.as_str() {
                        "registered" => "registered (receipt time)".to_owned(),
                        _ => "published (as declared)".to_owned(),
                    },
                    analysis: &x.analysis,
                })
                .collect();
            stats::chart::sheet(
                &panels,
                "Works of senior and junior artists, by registration and by declared publication",
                fit,
                0,
            )
        }
    };
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("image/svg+xml"),
        )],
        body,
    )
        .into_response())
}

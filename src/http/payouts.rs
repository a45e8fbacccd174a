//! Training runs and payout statements (`spec/payouts.md` §6–§8): builders
//! report runs and list theirs, artists list their payout lines, anyone
//! fetches a statement.

use std::borrow::Cow;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::check::parse_hash_list;
use super::error::{ApiError, ApiResult};
use super::extract::{media_type, ApiPath, ApiQuery, AuthUser};
use super::{AppState, Routes};
use crate::auth::Role;
use crate::check::parse_purpose;
use crate::crypto::Envelope;
use crate::domain::ids::{ArtistId, StatementId};
use crate::domain::payout::PayoutSummary;
use crate::domain::payout::{PayoutStatement, MAX_RUN_WORKS};
use crate::domain::{Money, Timestamp};
use crate::payouts::RunReport;
use crate::registry::{envelope_from_parts, RegistryError};

/// A run report's body, at most (1,000,000 works take about 74 MiB).
pub const RUNS_BODY_LIMIT: usize = 96 * 1024 * 1024;
/// Listing pages: default and maximum length.
const DEFAULT_PAGE: u32 = 100;
use super::artists::MAX_PAGE;

pub fn routes() -> Routes {
    Routes::new()
        .post_limited("/v1/runs", report_run, RUNS_BODY_LIMIT)
        .get("/v1/runs", list_runs)
        .get("/v1/payouts/{statement_id}", get_payout)
        .get("/v1/artists/{artist_id}/payouts", artist_payouts)
}

/// The pool of a run report. JSON has one number type, and JSON Schema
/// counts `1000.0` as the integer 1000, so an amount written with a zero
/// fraction is taken as that integer; any other fraction is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolBody {
    #[serde(deserialize_with = "whole_number")]
    amount_minor: u64,
    currency: String,
}

fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(v) = n.as_u64() {
        return Ok(v);
    }
    match n.as_f64() {
        // Below 2^64 and whole: exact in f64 only up to 2^53, which covers
        // every amount the registry takes (at most 10^15).
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0 =>
        {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(f as u64)
        }
        _ => Err(serde::de::Error::custom(format!(
            "invalid value: {n}, expected a whole number of minor units (0 or more)"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunBody<'a> {
    run_id: String,
    #[serde(borrow)]
    purpose: Cow<'a, str>,
    pool: PoolBody,
    #[serde(default, borrow)]
    checked_at: Option<Cow<'a, str>>,
    #[serde(borrow)]
    works: Vec<Cow<'a, str>>,
    #[serde(default)]
    receipt: Option<Envelope>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    after: Option<i64>,
    limit: Option<u32>,
}

impl Page {
    /// The cursor: a log index, or -1 (the same as none) for the first page.
    fn after(&self) -> ApiResult<Option<i64>> {
        match self.after {
            Some(a) if a < -1 => Err(ApiError::bad_request(
                "invalid-parameter",
                "`after` is a log index (0 or more) or -1",
            )),
            other => Ok(other),
        }
    }

    fn limit(&self) -> ApiResult<u32> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if (1..=MAX_PAGE).contains(&limit) {
            Ok(limit)
        } else {
            Err(ApiError::bad_request(
                "invalid-parameter",
                format!("`limit` must be 1 to {MAX_PAGE}"),
            ))
        }
    }
}

/// The next page's cursor: the last item's log index when the page is full.
fn next_after(limit: u32, last: Option<i64>, count: usize) -> Option<i64> {
    (count == limit as usize).then_some(last).flatten()
}

fn summary_json(s: &PayoutSummary) -> Value {
    json!({
        "statement_id": s.statement_id,
        "log_index": s.record_seq,
        "builder_id": s.builder_id,
        "run_id": s.run_id,
        "purpose": s.purpose,
        "checked_at": s.checked_at,
        "pool": { "amount_minor": s.pool_minor, "currency": s.currency },
        "works": s.works,
        "excluded": s.excluded,
        "issued_at": s.issued_at,
    })
}

#[tracing::instrument(skip_all, fields(builder = %user.subject))]
async fn report_run(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    user.require(Role::Builder)?;
    if media_type(&headers).as_deref() != Some("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the run report as application/json",
        ));
    }
    let body = body?;
    let req: RunBody<'_> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("malformed-json", e.to_string()))?;
    let purpose =
        parse_purpose(&req.purpose).map_err(|e| ApiError::bad_request("unknown-purpose", e))?;
    let checked_at = req
        .checked_at
        .as_deref()
        .map(str::parse::<Timestamp>)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid-parameter", format!("`checked_at`: {e}")))?;
    if req.works.len() > MAX_RUN_WORKS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-many-items",
            format!(
                "a run report lists at most {MAX_RUN_WORKS} works, got {}",
                req.works.len()
            ),
        ));
    }
    let works = parse_hash_list(&req.works, "works")?;
    let report = RunReport {
        run_id: req.run_id,
        purpose,
        pool: Money {
            amount_minor: req.pool.amount_minor,
            currency: req.pool.currency,
        },
        checked_at,
        works,
        receipt: req.receipt,
    };
    drop(body);
    let run = state.registry.report_run(&user.subject, report).await?;
    let p = &run.statement.payout;
    tracing::info!(
        run_id = %run.summary.run_id,
        statement_id = %run.summary.statement_id,
        works = run.summary.works,
        excluded = p.excluded.len(),
        "run reported"
    );
    let disallowed = p
        .excluded
        .iter()
        .filter(|e| e.status == crate::domain::payout::WorkStatus::Disallowed)
        .count();
    let mut out = summary_json(&run.summary);
    out["flags"] = json!({
        "disallowed_works": disallowed,
        "unknown_works": p.excluded.len() - disallowed,
        "disputed_works": p.held.len(),
        "shortfall": p.totals.shortfall,
    });
    out["statement"] = serde_json::to_value(&run.statement).map_err(|_| ApiError::internal())?;
    out["envelope"] = serde_json::to_value(&run.envelope).map_err(|_| ApiError::internal())?;
    out["log_receipt"] = json!(run.log_receipt);
    Ok((StatusCode::CREATED, Json(out)))
}

#[tracing::instrument(skip_all, fields(builder = %user.subject))]
async fn list_runs(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<Json<Value>> {
    user.require(Role::Builder)?;
    let limit = page.limit()?;
    let runs = state
        .registry
        .builder_runs(&user.subject, page.after()?, limit)
        .await?;
    let next = next_after(limit, runs.last().map(|r| r.record_seq), runs.len());
    Ok(Json(json!({
        "items": runs.iter().map(summary_json).collect::<Vec<_>>(),
        "next_after": next,
    })))
}

#[tracing::instrument(skip_all, fields(statement_id = %statement_id))]
async fn get_payout(
    State(state): State<AppState>,
    ApiPath(statement_id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    statement_id
        .parse::<StatementId>()
        .map_err(|e| ApiError::bad_request("invalid-parameter", e.to_string()))?;
    let row = state
        .registry
        .payout_statement(&statement_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no payout statement {statement_id}")))?;
    let corrupt = |_| {
        tracing::error!(statement_id = %statement_id, "stored payout statement does not read back");
        ApiError::internal()
    };
    let statement: PayoutStatement = serde_json::from_slice(&row.payload).map_err(corrupt)?;
    let envelope = envelope_from_parts(
        crate::crypto::PayloadType::PayoutStatement.as_str(),
        &row.payload,
        &row.signatures,
        &statement_id,
    )
    .map_err(RegistryError::from)?;
    let mut out = summary_json(&row.summary);
    out["statement"] = serde_json::to_value(&statement).map_err(|_| ApiError::internal())?;
    out["envelope"] = serde_json::to_value(&envelope).map_err(|_| ApiError::internal())?;
    Ok(Json(out))
}

#[tracing::instrument(skip_all, fields(artist_id = %artist_id))]
async fn artist_payouts(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(artist_id): ApiPath<String>,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<Json<Value>> {
    artist_id
        .parse::<ArtistId>()
        .map_err(|e| ApiError::bad_request("invalid-parameter", e.to_string()))?;
    user.require(Role::Artist)?;
    if user.subject != artist_id {
        return Err(ApiError::forbidden(
            "an artist lists only their own payout lines",
        ));
    }
    let limit = page.limit()?;
    let lines = state
        .registry
        .artist_payout_lines(&artist_id, page.after()?, limit)
        .await?;
    let next = next_after(limit, lines.last().map(|(s, _)| s.record_seq), lines.len());
    let items: Vec<Value> = lines
        .iter()
        .map(|(s, l)| {
            let mut v = summary_json(s);
            v["line"] = json!({
                "works": l.works,
                "held_works": l.held_works,
                "revenue_share": l.revenue_share,
                "shortfall": l.shortfall,
                "flat_fees": l.flat_fees,
            });
            v
        })
        .collect();
    Ok(Json(json!({ "items": items, "next_after": next })))
}

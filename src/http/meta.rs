//! About the registry itself: health, identity, limits, the API document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::check::{CHECK_BODY_LIMIT, MAX_STREAM_LINE};
use super::error::{ApiError, ApiResult};
use super::{AppState, Routes, SMALL_BODY_LIMIT, STATEMENTS_BODY_LIMIT};
use crate::auth::{AUDIENCE, TOKEN_TTL_SECS};
use crate::check::{MATCHING, MAX_CHECK_HASHES};
use crate::crypto::PayloadType;
use crate::domain::documents::{MAX_PAYLOAD_BYTES, MAX_WORKS_PER_STATEMENT};
use crate::registry::{MAX_STATEMENTS_PER_REQUEST, MAX_WORKS_PER_REQUEST};

/// The OpenAPI document, served as written.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

pub fn routes() -> Routes {
    Routes::new()
        .get("/healthz", healthz)
        .get("/openapi.yaml", openapi)
        .get("/v1/registry", registry_info)
}

async fn healthz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let (size, shard, broken) = state.registry.with_index(|st| {
        (
            st.checkpoint.as_ref().map_or(0, |c| c.size),
            st.index.shard(),
            st.broken.is_some(),
        )
    });
    if broken {
        // Details are logged where the index broke.
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "internal",
            "the consent index disagrees with the log: checks are refused until the registry is restarted",
        ));
    }
    let mut health = json!({
        "status": "ok",
        "backend": state.registry.backend(),
        "role": if state.read_only.is_some() { "replica" } else { "primary" },
        "checkpoint": { "size": size },
    });
    if let Some(shard) = shard {
        health["shard"] = json!({ "index": shard.index(), "count": shard.count() });
    }
    Ok(Json(health))
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI_YAML)
}

async fn registry_info(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "name": "consentry",
        "version": env!("CARGO_PKG_VERSION"),
        "matching": MATCHING,
        "public_key": state.registry_key.to_string(),
        "log": {
            "origin": state.registry.log().origin(),
            "verifier_key": state.registry.log().verifier().to_text(),
        },
        "jwt": { "algorithm": "EdDSA", "issuer": state.auth.issuer(), "audience": AUDIENCE, "lifetime_secs": TOKEN_TTL_SECS },
        "payload_types": {
            "statement": PayloadType::Statement.as_str(),
            "artist": PayloadType::Artist.as_str(),
            "key_event": PayloadType::KeyEvent.as_str(),
            "auth_challenge": PayloadType::AuthChallenge.as_str(),
        },
        "limits": {
            "statements_per_request": MAX_STATEMENTS_PER_REQUEST,
            "works_per_request": MAX_WORKS_PER_REQUEST,
            "works_per_statement": MAX_WORKS_PER_STATEMENT,
            "payload_bytes": MAX_PAYLOAD_BYTES,
            "statements_body_bytes": STATEMENTS_BODY_LIMIT,
            "other_body_bytes": SMALL_BODY_LIMIT,
            "check_hashes_per_request": MAX_CHECK_HASHES,
            "check_body_bytes": CHECK_BODY_LIMIT,
            "check_stream_line_bytes": MAX_STREAM_LINE,
            "run_works_per_report": crate::domain::payout::MAX_RUN_WORKS,
            "run_body_bytes": super::payouts::RUNS_BODY_LIMIT,
            "requests_per_second_per_token": state.limits.config.rate_per_sec,
            "request_burst_per_token": state.limits.config.burst,
            "check_streams_per_builder": state.limits.config.streams_per_builder,
            "check_streams_total": state.limits.config.streams_total,
        },
    }))
}

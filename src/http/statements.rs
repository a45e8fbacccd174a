//! Statements: batch submission (artist token) and reading any document.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::artists::accepted_status;
use super::error::{ApiError, ApiResult};
use super::extract::{media_type, ApiPath, AuthUser};
use super::{AppState, Routes, STATEMENTS_BODY_LIMIT};
use crate::auth::Role;
use crate::crypto::Envelope;
use crate::registry::{stored_envelope, AcceptStatus, Accepted, RegistryError};

pub fn routes() -> Routes {
    Routes::new()
        .post_limited("/v1/statements", submit, STATEMENTS_BODY_LIMIT)
        .get("/v1/documents/{id}", get_document)
}

/// The answer to a batch: one entry per statement, in request order.
#[derive(Serialize)]
struct Submitted {
    created: usize,
    duplicates: usize,
    accepted: Vec<Accepted>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    statements: Vec<Envelope>,
}

fn is_json(headers: &HeaderMap) -> bool {
    media_type(headers).as_deref() == Some("application/json")
}

#[tracing::instrument(skip_all, fields(artist_id = %user.subject))]
async fn submit(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Submitted>)> {
    user.require(Role::Artist)?;
    if !is_json(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the body as application/json",
        ));
    }
    let body = body?;
    let batch: Batch = tokio::task::spawn_blocking(move || serde_json::from_slice(&body))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| ApiError::bad_request("malformed-json", format!("request body: {e}")))?;
    let accepted = state
        .registry
        .submit_statements(&user.subject, batch.statements)
        .await?;
    let created = accepted
        .iter()
        .filter(|a| a.status == AcceptStatus::Created)
        .count();
    tracing::info!(created, total = accepted.len(), "statements accepted");
    let status = if created > 0 {
        StatusCode::CREATED
    } else {
        accepted.first().map_or(StatusCode::OK, accepted_status)
    };
    let duplicates = accepted.len() - created;
    Ok((
        status,
        Json(Submitted {
            created,
            duplicates,
            accepted,
        }),
    ))
}

#[tracing::instrument(skip_all)]
async fn get_document(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    id.parse::<crate::domain::ids::DocumentId>()
        .map_err(|e| ApiError::bad_request("invalid-parameter", e.to_string()))?;
    let d = state
        .registry
        .document(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no document {id}")))?;
    Ok(Json(json!({
        "id": d.doc.id,
        "seq": d.seq,
        "kind": d.doc.kind.as_str(),
        "artist_id": d.doc.artist_id,
        "received_at": d.doc.received_at,
        "envelope": stored_envelope(&d.doc).map_err(RegistryError::from)?,
    })))
}

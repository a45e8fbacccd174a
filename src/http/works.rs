//! Works: effective consent, claimants, dispute flag and full history.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::ApiPath;
use super::{AppState, Routes};
use crate::domain::ContentHash;
use crate::registry::HistoryEntry;

pub fn routes() -> Routes {
    Routes::new().get("/v1/works/{hash}", get_work)
}

fn entry_json(h: &HistoryEntry, hash: &ContentHash) -> Value {
    let work = h.statement.works.iter().find(|w| w.hash == *hash);
    let status = if h.current {
        "current"
    } else if h.key_revoked {
        "key-revoked"
    } else {
        "superseded"
    };
    json!({
        "statement_id": h.statement_id,
        "seq": h.seq,
        "artist_id": h.artist_id,
        "display_name": h.display_name,
        "key": h.key,
        "issued_at": h.issued_at,
        "received_at": h.received_at,
        "status": status,
        "superseded": h.superseded,
        "consent": h.consent.to_json(),
        "declared": h.statement.consent,
        "terms": h.statement.terms,
        "work": work,
        "envelope": h.envelope,
    })
}

#[tracing::instrument(skip_all)]
async fn get_work(
    State(state): State<AppState>,
    ApiPath(hash): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let hash: ContentHash = hash
        .parse()
        .map_err(|e| ApiError::bad_request("invalid-hash", format!("{e}")))?;
    let view = state
        .registry
        .work(&hash)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no statement names {hash}")))?;
    let claimants: Vec<Value> = view
        .history
        .iter()
        .filter(|h| h.current)
        .map(|h| {
            json!({
                "artist_id": h.artist_id,
                "display_name": h.display_name,
                "statement_id": h.statement_id,
                "issued_at": h.issued_at,
                "received_at": h.received_at,
                "consent": h.consent.to_json(),
                "terms": h.statement.terms,
            })
        })
        .collect();
    Ok(Json(json!({
        "hash": view.hash,
        "iscc_datahash": view.hash.to_iscc_datahash(),
        "consent": view.effective.to_json(),
        "disputed": view.disputed,
        "claimants": claimants,
        "history": view.history.iter().map(|h| entry_json(h, &hash)).collect::<Vec<_>>(),
    })))
}

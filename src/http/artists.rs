//! Artists: registration, profile with keys and works, key events.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery, AuthUser};
use super::{AppState, Routes};
use crate::auth::Role;
use crate::crypto::Envelope;
use crate::domain::ids::ArtistId;
use crate::domain::ContentHash;
use crate::registry::{stored_envelope, AcceptStatus, Accepted};

/// Works per page, default and maximum.
pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1000;

pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/artists", register_artist)
        .get("/v1/artists/{artist_id}", get_artist)
        .post("/v1/artists/{artist_id}/keys", key_event)
}

pub(super) fn accepted_status(a: &Accepted) -> StatusCode {
    match a.status {
        AcceptStatus::Created => StatusCode::CREATED,
        AcceptStatus::Duplicate => StatusCode::OK,
    }
}

#[tracing::instrument(skip_all)]
async fn register_artist(
    State(state): State<AppState>,
    ApiJson(env): ApiJson<Envelope>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let accepted = state.registry.register_artist(&env).await?;
    tracing::info!(artist_id = %accepted.artist_id, status = ?accepted.status, "artist registration");
    Ok((
        accepted_status(&accepted),
        Json(json!({ "artist_id": accepted.artist_id, "document": accepted })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorksPage {
    after: Option<String>,
    limit: Option<u32>,
}

fn check_artist_id(id: &str) -> ApiResult<()> {
    id.parse::<ArtistId>()
        .map(drop)
        .map_err(|e| ApiError::bad_request("invalid-parameter", e.to_string()))
}

#[tracing::instrument(skip_all, fields(artist_id = %artist_id))]
async fn get_artist(
    State(state): State<AppState>,
    ApiPath(artist_id): ApiPath<String>,
    ApiQuery(page): ApiQuery<WorksPage>,
) -> ApiResult<Json<Value>> {
    check_artist_id(&artist_id)?;
    let limit = page.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid-parameter",
            format!("`limit` must be 1 to {MAX_PAGE}"),
        ));
    }
    let after = page
        .after
        .as_deref()
        .map(str::parse::<ContentHash>)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid-hash", format!("`after`: {e}")))?;
    let view = state
        .registry
        .artist(&artist_id, after, limit)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no artist {artist_id}")))?;
    let keys: Vec<Value> = view
        .artist
        .keys
        .iter()
        .map(|k| {
            json!({
                "key": k.key,
                "status": if k.active_at(crate::domain::Timestamp::now()) { "active" } else { "revoked" },
                "added_at": k.added_at,
                "revoked_at": k.revoked_at,
            })
        })
        .collect();
    let mut documents = Vec::with_capacity(view.documents.len());
    for d in &view.documents {
        documents.push(json!({
            "id": d.doc.id,
            "seq": d.seq,
            "kind": d.doc.kind.as_str(),
            "received_at": d.doc.received_at,
            "envelope": stored_envelope(&d.doc).map_err(crate::registry::RegistryError::from)?,
        }));
    }
    Ok(Json(json!({
        "artist_id": view.artist.artist_id,
        "display_name": view.artist.display_name,
        "registered_at": view.artist.registered_at,
        "keys": keys,
        "documents": documents,
        "works": { "items": view.works, "next_after": view.next_after },
    })))
}

#[tracing::instrument(skip_all, fields(artist_id = %artist_id))]
async fn key_event(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(artist_id): ApiPath<String>,
    ApiJson(env): ApiJson<Envelope>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    user.require(Role::Artist)?;
    check_artist_id(&artist_id)?;
    if user.subject != artist_id {
        return Err(ApiError::forbidden(
            "an artist token can only change its own artist's keys",
        ));
    }
    let accepted = state.registry.key_event(&artist_id, &env).await?;
    tracing::info!(status = ?accepted.status, "key event");
    Ok((
        accepted_status(&accepted),
        Json(json!({ "document": accepted })),
    ))
}

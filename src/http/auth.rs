//! Challenge and token endpoints, and builder registration (admin).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, AuthUser};
use super::{AppState, Routes};
use crate::auth::Role;
use crate::crypto::dsse::decode_base64;
use crate::crypto::{PayloadType, PublicKey};
use crate::domain::documents::MAX_TEXT_CHARS;
use crate::registry::KeyHolder;

pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/auth/challenge", challenge)
        .post("/v1/auth/token", token)
        .post("/v1/builders", create_builder)
}

fn parse_key(text: &str) -> ApiResult<PublicKey> {
    text.parse().map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-key",
            format!("`key`: {e}"),
        )
    })
}

/// Who may log in with `key`, and as what.
async fn role_of(state: &AppState, key: &PublicKey) -> ApiResult<Option<(Role, String)>> {
    if state.admin_key == Some(*key) {
        return Ok(Some((Role::Admin, "admin".to_owned())));
    }
    Ok(match state.registry.key_holder(key).await? {
        Some(KeyHolder::Artist(k)) if k.active_at(crate::domain::Timestamp::now()) => {
            Some((Role::Artist, k.artist_id))
        }
        Some(KeyHolder::Builder(b)) => Some((Role::Builder, b.builder_id)),
        _ => None,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChallengeRequest {
    key: String,
}

#[tracing::instrument(skip_all)]
async fn challenge(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ChallengeRequest>,
) -> ApiResult<Json<Value>> {
    let key = parse_key(&req.key)?;
    if role_of(&state, &key).await?.is_none() {
        // Same slug either way; the detail tells a revoked key from one
        // that was never registered.
        let detail = match state.registry.key_holder(&key).await? {
            Some(KeyHolder::Artist(k)) => format!(
                "this key of artist {} is revoked; sign in with another of their keys",
                k.artist_id
            ),
            _ => "no active artist, builder or admin holds this key".to_owned(),
        };
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-key",
            detail,
        ));
    }
    let (challenge, expires_at) = state.auth.challenge(key);
    Ok(Json(json!({
        "challenge": challenge,
        "expires_at": expires_at,
        "payload_type": PayloadType::AuthChallenge.as_str(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    key: String,
    challenge: String,
    signature: String,
}

#[tracing::instrument(skip_all)]
async fn token(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> ApiResult<Json<Value>> {
    let key = parse_key(&req.key)?;
    let sig: [u8; 64] = decode_base64(&req.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            ApiError::bad_request("bad-base64", "`signature` must be base64 of 64 bytes")
        })?;
    state.auth.redeem(&key, &req.challenge, &sig)?;
    let (role, subject) = role_of(&state, &key).await?.ok_or_else(|| {
        ApiError::unauthorized("no active artist, builder or admin holds this key")
    })?;
    let (token, expires_at) = state.auth.issue(role, &subject, &key)?;
    Ok(Json(json!({
        "token": token,
        "token_type": "Bearer",
        "expires_at": expires_at,
        "role": role,
        "subject": subject,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BuilderRequest {
    name: String,
    key: String,
}

#[tracing::instrument(skip_all)]
async fn create_builder(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<BuilderRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    user.require(Role::Admin)?;
    if req.name.trim().is_empty()
        || req.name.chars().count() > MAX_TEXT_CHARS
        || req.name.contains('\0')
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-payload",
            "`name` must be 1 to 512 characters, without U+0000",
        ));
    }
    let key = parse_key(&req.key)?;
    if state.admin_key == Some(key) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "key-in-use",
            "this key is the admin key",
        ));
    }
    let b = state.registry.create_builder(&req.name, key).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "builder_id": b.builder_id, "name": b.name, "key": b.key, "created_at": b.created_at }),
        ),
    ))
}

//! Extractors whose rejections are problem+json: [`ApiJson`], [`ApiPath`],
//! [`ApiQuery`], and the bearer-token [`AuthUser`]; and
//! [`refuse_foreign_charset`], which keeps bodies in any charset but UTF-8 out.

use axum::extract::{FromRequest, FromRequestParts, Path, Query};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::Json;

use super::error::ApiError;
use super::AppState;
use crate::auth::Role;
use crate::crypto::PublicKey;
use crate::domain::Timestamp;
use crate::registry::KeyHolder;

/// `Json<T>` with problem+json rejections.
#[derive(FromRequest)]
#[from_request(via(Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `Path<T>` with problem+json rejections.
#[derive(FromRequestParts)]
#[from_request(via(Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `Query<T>` with problem+json rejections.
#[derive(FromRequestParts)]
#[from_request(via(Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// A caller with a valid token whose key is still good.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub role: Role,
    /// Artist id, builder id, or `admin`.
    pub subject: String,
    pub key: PublicKey,
}

impl AuthUser {
    /// # Errors
    /// 403 unless the caller has `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role == role {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this endpoint needs {} token; the key that signed in is {}",
                role_owner(role),
                role_owner(self.role)
            )))
        }
    }
}

/// Whose key a role is, for messages: "an artist's", "a dataset builder's".
fn role_owner(role: Role) -> &'static str {
    match role {
        Role::Artist => "an artist's",
        Role::Builder => "a dataset builder's",
        Role::Admin => "the admin's",
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("this endpoint needs `Authorization: Bearer <token>`")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
            })?;
        let claims = state.auth.validate(token.trim())?;
        let key: PublicKey = claims
            .key
            .parse()
            .map_err(|_| ApiError::unauthorized("invalid token: bad key claim"))?;
        let still_good = match claims.role {
            Role::Admin => state.admin_key == Some(key) && claims.sub == "admin",
            Role::Artist | Role::Builder => match state.registry.key_holder(&key).await? {
                Some(KeyHolder::Artist(k)) => {
                    claims.role == Role::Artist
                        && k.artist_id == claims.sub
                        && k.active_at(Timestamp::now())
                }
                Some(KeyHolder::Builder(b)) => {
                    claims.role == Role::Builder && b.builder_id == claims.sub
                }
                None => false,
            },
        };
        if !still_good {
            return Err(ApiError::unauthorized(
                "the token's key is revoked or no longer holds this role",
            ));
        }
        state.limits.charge(&claims.sub)?;
        Ok(AuthUser {
            role: claims.role,
            subject: claims.sub,
            key,
        })
    }
}

/// The request's media type, lowercase, without parameters.
#[must_use]
pub fn media_type(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
}

/// The `charset` parameter of the request's `Content-Type`, lowercase and
/// unquoted, if it has one.
fn charset(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    value.split(';').skip(1).find_map(|param| {
        let (name, v) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"').to_ascii_lowercase())
    })
}

/// Middleware: 415 `unsupported-media-type` for a body whose `Content-Type`
/// names a charset other than UTF-8 (every text body the API reads is UTF-8,
/// RFC 8259 §8.1).
pub async fn refuse_foreign_charset(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match charset(request.headers()) {
        Some(cs) if cs != "utf-8" && cs != "utf8" => ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            format!("bodies are read as UTF-8 only; the request says charset={cs}"),
        )
        .into_response(),
        _ => next.run(request).await,
    }
}

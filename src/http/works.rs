//! Works: effective consent, claimants, dispute flag and full history; and
//! the registered works near an image's codes, for anyone to look up.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, ApiQuery};
use super::{AppState, Routes};
use crate::check::items::parse_codes;
use crate::check::{answer_item, Item, MATCHING};
use crate::domain::fingerprint::ISCC_IMAGE;
use crate::domain::signals::{
    to_cawg_assertion, to_content_usage, to_iptc_data_mining, to_tdmrep_reservation, CAWG_LABEL,
};
use crate::domain::{ConsentSet, ContentHash};
use crate::registry::HistoryEntry;

pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/works/{hash}", get_work)
        .get("/v1/works/{hash}/exports", get_exports)
        .get("/v1/near", get_near)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NearQuery {
    /// Comma-separated ISCC Image-Codes (at most 8).
    codes: String,
}

/// The registered works whose image codes are near any of `codes`, nearest
/// first, at the latest checkpoint: what a near-matching check would match,
/// without a token and without a receipt (a lookup, not a check).
#[tracing::instrument(skip_all)]
async fn get_near(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<NearQuery>,
) -> ApiResult<Json<Value>> {
    let codes = parse_codes(q.codes.split(',').map(|c| (ISCC_IMAGE, c)))
        .map_err(|e| ApiError::bad_request("invalid-parameter", format!("`codes`: {e}")))?;
    let (view, cp) = state.registry.check_view(None)?;
    let item = Item { hash: None, codes };
    let answer = state
        .registry
        .with_index(|st| answer_item(&st.index, view, &item));
    let matched: Vec<Value> = answer
        .works
        .iter()
        .map(|(hash, distance)| json!({ "hash": hash, "distance": distance }))
        .collect();
    Ok(Json(json!({
        "matching": MATCHING,
        "checkpoint": { "size": cp.size },
        "matched": matched,
    })))
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

/// A JSON answer with the aipref `Content-Usage` header of `consent`
/// (none when no category aipref names is known).
fn with_content_usage(body: Value, consent: &ConsentSet) -> Response {
    let mut response = Json(body).into_response();
    if let Some(value) = to_content_usage(consent).and_then(|v| HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert("content-usage", value);
    }
    response
}

/// A work's effective consent in other vocabularies (`spec/signals.md`):
/// the aipref `Content-Usage` value (also sent as that header), the IPTC
/// `plus:DataMining` value, the TDMRep `tdm-reservation` and the CAWG
/// training-mining assertion, ready to embed.
#[tracing::instrument(skip_all)]
async fn get_exports(
    State(state): State<AppState>,
    ApiPath(hash): ApiPath<String>,
) -> ApiResult<Response> {
    let hash: ContentHash = hash
        .parse()
        .map_err(|e| ApiError::bad_request("invalid-hash", format!("{e}")))?;
    let view = state
        .registry
        .work(&hash)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no statement names {hash}")))?;
    let consent = view.effective;
    let body = json!({
        "hash": view.hash,
        "consent": consent.to_json(),
        "disputed": view.disputed,
        "content_usage": to_content_usage(&consent),
        "iptc_data_mining": to_iptc_data_mining(&consent),
        "tdmrep": to_tdmrep_reservation(&consent).map(|r| json!({ "tdm-reservation": r })),
        "cawg_assertion": { "label": CAWG_LABEL, "data": to_cawg_assertion(&consent) },
    });
    Ok(with_content_usage(body, &consent))
}

#[tracing::instrument(skip_all)]
async fn get_work(
    State(state): State<AppState>,
    ApiPath(hash): ApiPath<String>,
) -> ApiResult<Response> {
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
    let body = json!({
        "hash": view.hash,
        "iscc_datahash": view.hash.to_iscc_datahash(),
        "consent": view.effective.to_json(),
        "disputed": view.disputed,
        "claimants": claimants,
        "history": view.history.iter().map(|h| entry_json(h, &hash)).collect::<Vec<_>>(),
    });
    Ok(with_content_usage(body, &view.effective))
}

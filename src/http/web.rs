//! The artist web app: static files compiled into the binary and served at
//! `/` (the page) and `/assets/` (its scripts, styles and vendored
//! libraries), beside the API under `/v1`. The app talks to the registry
//! only through the documented API; nothing here reads registry state.
//!
//! Every answer carries a strict Content-Security-Policy (scripts, styles,
//! images, workers and connections from this origin only; no inline script
//! or style; `'wasm-unsafe-eval'` so the vendored BLAKE3 can compile its
//! WebAssembly) and the other headers a careful site sends.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::error::ApiError;

/// The files of the app: (name under `/assets/`, content type, bytes).
/// `tests/api/web.rs` checks that every file of `src/web/assets/` is listed.
pub const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.css", CSS, include_bytes!("../web/assets/app.css")),
    ("app.js", JS, include_bytes!("../web/assets/app.js")),
    ("api.js", JS, include_bytes!("../web/assets/api.js")),
    ("keys.js", JS, include_bytes!("../web/assets/keys.js")),
    ("dsse.js", JS, include_bytes!("../web/assets/dsse.js")),
    ("ui.js", JS, include_bytes!("../web/assets/ui.js")),
    ("works.js", JS, include_bytes!("../web/assets/works.js")),
    ("worker.js", JS, include_bytes!("../web/assets/worker.js")),
    (
        "fingerprint.js",
        JS,
        include_bytes!("../web/assets/fingerprint.js"),
    ),
    (
        "vendor/blake3.umd.min.js",
        JS,
        include_bytes!("../web/assets/vendor/blake3.umd.min.js"),
    ),
    (
        "vendor/noble-ed25519.js",
        JS,
        include_bytes!("../web/assets/vendor/noble-ed25519.js"),
    ),
    (
        "vendor/README.md",
        "text/markdown; charset=utf-8",
        include_bytes!("../web/assets/vendor/README.md"),
    ),
];

/// The page itself.
pub const INDEX_HTML: &[u8] = include_bytes!("../web/assets/index.html");

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The policy every answer of the app carries.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
     script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; \
     connect-src 'self'; worker-src 'self'; font-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The app's routes (not part of the API's route table: `openapi.yaml`
/// documents the API only).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/assets/{*file}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve(&headers, "text/html; charset=utf-8", INDEX_HTML)
}

async fn asset(headers: HeaderMap, Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => serve(&headers, content_type, bytes),
        None => ApiError::not_found("no such file of the web app").into_response(),
    }
}

/// The bytes with the app's headers; `304 Not Modified` when the client
/// already holds them (the entity tag is their BLAKE3 hash, so a new build
/// is fetched at once).
fn serve(headers: &HeaderMap, content_type: &str, bytes: &'static [u8]) -> Response {
    let etag = format!("\"{}\"", &blake3::hash(bytes).to_hex()[..32]);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type.to_owned())], bytes).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    for (name, value) in SECURITY_HEADERS {
        h.insert(
            header::HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    response
}

/// The headers besides the content type and entity tag, by name.
const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-cache"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    ),
];

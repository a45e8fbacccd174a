//! The web app's files: served at `/` and `/assets/`, every file of
//! `src/web/assets/` listed, with the security headers on every answer, no
//! inline script and nothing from another origin.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use consentry::http::web::{ASSETS, CONTENT_SECURITY_POLICY};

use crate::helpers::{Backend, TestApp};

async fn fetch(
    app: &TestApp,
    path: &str,
    etag: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::get(path);
    if let Some(tag) = etag {
        req = req.header(header::IF_NONE_MATCH, tag);
    }
    let resp = app
        .router
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("router never fails");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

fn assert_hardened(headers: &axum::http::HeaderMap, path: &str) {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        h("content-security-policy"),
        CONTENT_SECURITY_POLICY,
        "{path}"
    );
    let csp = h("content-security-policy");
    assert!(csp.starts_with("default-src 'self';"), "{csp}");
    assert!(
        !csp.contains("'unsafe-inline'") && !csp.contains("'unsafe-eval'"),
        "{csp}"
    );
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"),
        "{csp}"
    );
    assert_eq!(h("x-content-type-options"), "nosniff", "{path}");
    assert_eq!(h("x-frame-options"), "DENY", "{path}");
    assert_eq!(h("referrer-policy"), "no-referrer", "{path}");
    assert_eq!(h("cross-origin-opener-policy"), "same-origin", "{path}");
    assert!(!h("etag").is_empty(), "{path}");
}

#[tokio::test]
async fn the_app_is_served_with_strict_headers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (status, headers, body) = fetch(&app, "/", None).await;
    assert_eq!(status, 200);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_hardened(&headers, "/");
    let html = String::from_utf8(body).expect("utf-8");
    // Scripts only by src, from this origin; no inline handlers or styles.
    for (i, _) in html.match_indices("<script") {
        let tag = &html[i..i + html[i..].find('>').expect("tag ends")];
        assert!(
            tag.contains("src=\"/assets/"),
            "inline or foreign script: {tag}"
        );
    }
    for banned in [" onclick=", " onload=", " style=", "<style", "javascript:"] {
        assert!(!html.contains(banned), "index.html has {banned}");
    }
    // A second request with the entity tag is answered 304, still hardened.
    let tag = headers[header::ETAG].to_str().expect("ascii").to_owned();
    let (status, headers, body) = fetch(&app, "/", Some(&tag)).await;
    assert_eq!(status, 304);
    assert!(body.is_empty());
    assert_hardened(&headers, "/ (304)");

    for (name, content_type, bytes) in ASSETS {
        let path = format!("/assets/{name}");
        let (status, headers, body) = fetch(&app, &path, None).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], *content_type, "{path}");
        assert_eq!(&body, bytes, "{path}");
        assert_hardened(&headers, &path);
    }
    for missing in ["/assets/nope.js", "/assets/../Cargo.toml", "/assets/vendor"] {
        let (status, headers, _) = fetch(&app, missing, None).await;
        assert_eq!(status, 404, "{missing}");
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "application/problem+json",
            "{missing}"
        );
    }
}

/// Every file under `src/web/assets/` is served, and the app's own files
/// load nothing from another origin.
#[test]
fn every_file_of_the_app_is_listed_and_nothing_is_foreign() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/assets");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(
                    path.strip_prefix(&root)
                        .expect("under root")
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    files.retain(|f| f != "index.html");
    files.sort();
    let mut listed: Vec<String> = ASSETS.iter().map(|(n, _, _)| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "src/web/assets/ and consentry::http::web::ASSETS differ"
    );
    for (name, _, bytes) in ASSETS.iter().filter(|(n, _, _)| !n.starts_with("vendor/")) {
        let text = std::str::from_utf8(bytes).expect("utf-8");
        for foreign in ["http://", "https://", "//cdn", "fonts.googleapis"] {
            assert!(!text.contains(foreign), "{name} refers to {foreign}");
        }
        // Text goes into pages as text: no markup from strings, no eval.
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ] {
            assert!(!text.contains(sink), "{name} uses {sink}");
        }
    }
}

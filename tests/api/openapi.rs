//! openapi.yaml and the router describe the same API.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::Request;
use serde_yaml_ng::Value;

use crate::helpers::*;

fn documented() -> BTreeSet<(String, String)> {
    let doc: Value =
        serde_yaml_ng::from_str(consentry::http::meta::OPENAPI_YAML).expect("openapi.yaml parses");
    assert_eq!(
        doc["openapi"].as_str().map(|v| v.starts_with("3.1")),
        Some(true)
    );
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().expect("paths") {
        for (method, _) in item.as_mapping().expect("path item") {
            let m = method.as_str().expect("method");
            if ["get", "post", "put", "patch", "delete", "head", "options"].contains(&m) {
                out.insert((m.to_owned(), path.as_str().expect("path").to_owned()));
            }
        }
    }
    out
}

#[test]
fn every_route_is_documented_and_every_documented_route_exists() {
    let routes: BTreeSet<(String, String)> = consentry::http::route_table()
        .into_iter()
        // A catch-all segment `{*path}` is documented as `{path}`.
        .map(|(m, p)| (m.to_owned(), p.replace("{*", "{")))
        .collect();
    let docs = documented();
    let undocumented: Vec<_> = routes.difference(&docs).collect();
    let missing: Vec<_> = docs.difference(&routes).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.yaml: {undocumented:?}"
    );
    assert!(
        missing.is_empty(),
        "openapi.yaml documents routes the router lacks: {missing:?}"
    );
}

#[tokio::test]
async fn documented_routes_are_served() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for (method, path) in documented() {
        let concrete = path
            .replace("{artist_id}", &"0".repeat(64))
            .replace("{id}", &"0".repeat(64))
            .replace("{statement_id}", &"0".repeat(64))
            .replace("{hash}", &format!("blake3:{}", "0".repeat(64)))
            .replace("{index}", "0")
            .replace("{path}", "0/000");
        let req = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(&concrete)
            .body(Body::empty())
            .expect("req");
        let r = app.send(req).await;
        assert_ne!(r.status.as_u16(), 405, "{method} {path}");
        assert!(
            !r.text.contains("no such endpoint"),
            "{method} {path} fell through to the fallback"
        );
    }
    let served = app.get("/openapi.yaml").await;
    served.assert_status(200);
    assert_eq!(served.text, consentry::http::meta::OPENAPI_YAML);
}

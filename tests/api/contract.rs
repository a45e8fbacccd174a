//! Every response the suite's `TestApp` receives is checked against
//! `openapi.yaml`: its status must be documented for the operation, its
//! content type listed for that status, and its body valid against the
//! schema given there (JSON Schema 2020-12, as OpenAPI 3.1 uses). Requests to
//! paths or methods the document does not have must get a `Problem`.
//!
//! Also here: the problem types the document lists are exactly those the
//! code can send.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::Value;

const DOC_URL: &str = "urn:consentry:openapi";

/// The document, compiled once, with a cache of compiled schemas by pointer.
struct Contract {
    doc: Value,
    /// (path template split in segments, path item pointer).
    paths: Vec<(Vec<String>, String)>,
    schemas: boon::Schemas,
    /// Every response schema of the document, compiled once, by pointer.
    compiled: BTreeMap<String, boon::SchemaIndex>,
}

/// Pointers of every `content/<type>/schema` under `at`.
fn schema_pointers(node: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(map) = node.as_object() {
        for (k, v) in map {
            let here = format!("{at}/{}", escape(k));
            if k == "content" {
                if let Some(types) = v.as_object() {
                    for (t, media) in types {
                        if media.get("schema").is_some() {
                            out.push(format!("{here}/{}/schema", escape(t)));
                        }
                    }
                }
            } else {
                schema_pointers(v, &here, out);
            }
        }
    }
}

fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let doc: Value = serde_yaml_ng::from_str(consentry::http::meta::OPENAPI_YAML)
            .expect("openapi.yaml parses as JSON-compatible YAML");
        let mut paths = Vec::new();
        for template in doc["paths"].as_object().expect("paths").keys() {
            let segments = template.split('/').map(str::to_owned).collect();
            paths.push((segments, format!("/paths/{}", escape(template))));
        }
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler
            .add_resource(DOC_URL, doc.clone())
            .expect("openapi.yaml is a resource");
        let mut pointers = vec!["/components/schemas/Problem".to_owned()];
        schema_pointers(&doc["paths"], "/paths", &mut pointers);
        schema_pointers(
            &doc["components"]["responses"],
            "/components/responses",
            &mut pointers,
        );
        let mut schemas = boon::Schemas::new();
        let mut compiled = BTreeMap::new();
        for pointer in pointers {
            let index = compiler
                .compile(&format!("{DOC_URL}#{pointer}"), &mut schemas)
                .unwrap_or_else(|e| panic!("schema at {pointer} does not compile: {e:#}"));
            compiled.insert(pointer, index);
        }
        Contract {
            doc,
            paths,
            schemas,
            compiled,
        }
    })
}

/// JSON Pointer escaping of one reference token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

impl Contract {
    /// The path item pointer whose template matches `path`.
    fn path_item(&self, path: &str) -> Option<&str> {
        let segments: Vec<&str> = path.split('/').collect();
        self.paths.iter().find_map(|(template, pointer)| {
            let rest_param = template.last().is_some_and(|s| s == "{path}");
            let fits = if rest_param {
                segments.len() >= template.len()
            } else {
                segments.len() == template.len()
            };
            let same = fits
                && template.iter().zip(&segments).all(|(t, s)| {
                    (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s
                });
            same.then_some(pointer.as_str())
        })
    }

    /// Follows a `$ref` to `#/components/...` (one level is all the document uses).
    fn resolve<'a>(&'a self, node: &'a Value) -> (&'a Value, Option<String>) {
        match node["$ref"].as_str() {
            Some(r) => {
                let pointer = r.trim_start_matches('#').to_owned();
                (
                    self.doc.pointer(&pointer).unwrap_or(&Value::Null),
                    Some(pointer),
                )
            }
            None => (node, None),
        }
    }

    fn validate(&self, pointer: &str, instance: &Value) -> Result<(), String> {
        let index = *self
            .compiled
            .get(pointer)
            .ok_or_else(|| format!("no compiled schema at {pointer}"))?;
        self.schemas
            .validate(instance, index)
            .map_err(|e| format!("{e:#}"))
    }

    /// Checks one response; `Err` says how it breaks the document.
    fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: &str,
        body: &[u8],
    ) -> Result<(), String> {
        let operation = self
            .path_item(path)
            .map(|item| format!("{item}/{}", method.to_ascii_lowercase()))
            .filter(|op| self.doc.pointer(op).is_some());
        let Some(operation) = operation else {
            // Not a documented operation: only the fallbacks may answer.
            if status != 404 && status != 405 {
                return Err(format!("undocumented operation answered {status}"));
            }
            return self.check_body(
                "/components/schemas/Problem",
                "application/problem+json",
                content_type,
                body,
            );
        };
        let responses = format!("{operation}/responses");
        let code = status.to_string();
        let (response, response_pointer) = match self.doc.pointer(&format!("{responses}/{code}")) {
            Some(r) => {
                let (resolved, at) = self.resolve(r);
                (
                    resolved,
                    at.unwrap_or_else(|| format!("{responses}/{code}")),
                )
            }
            None => return Err(format!("status {status} is not documented")),
        };
        let Some(content) = response["content"].as_object() else {
            return if body.is_empty() {
                Ok(())
            } else {
                Err(format!("status {status} is documented without a body"))
            };
        };
        let essence = media_essence(content_type);
        let listed = content
            .keys()
            .find(|k| media_essence(k) == essence)
            .ok_or_else(|| {
                format!(
                    "content type `{content_type}` is not listed for {status} (listed: {:?})",
                    content.keys().collect::<Vec<_>>()
                )
            })?;
        let schema = format!("{response_pointer}/content/{}/schema", escape(listed));
        if self.doc.pointer(&schema).is_none() {
            return Ok(());
        }
        self.check_body(&schema, &essence, content_type, body)
    }

    fn check_body(
        &self,
        schema: &str,
        expected_type: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<(), String> {
        let essence = media_essence(content_type);
        if essence != expected_type {
            return Err(format!(
                "content type `{content_type}`, not `{expected_type}`"
            ));
        }
        let text = || std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_owned());
        if essence == "application/x-ndjson" {
            for (n, line) in text()?.lines().enumerate() {
                if line.is_empty() {
                    continue;
                }
                let value: Value = serde_json::from_str(line)
                    .map_err(|e| format!("line {}: not JSON: {e}", n + 1))?;
                self.validate(schema, &value)
                    .map_err(|e| format!("line {}: {e}", n + 1))?;
            }
            Ok(())
        } else if essence.ends_with("json") {
            let value: Value =
                serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
            self.validate(schema, &value)
        } else if essence.starts_with("text/") || essence == "image/svg+xml" {
            self.validate(schema, &Value::String(text()?.to_owned()))
        } else {
            // Binary and YAML bodies: the content type is all there is to check.
            Ok(())
        }
    }
}

fn media_essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Panics when a response breaks `openapi.yaml` (called for every response
/// `TestApp` receives).
#[track_caller]
pub fn assert_documented(method: &str, uri: &str, status: u16, content_type: &str, body: &[u8]) {
    let path = uri.split('?').next().unwrap_or(uri);
    if let Err(e) = contract().check(method, path, status, content_type, body) {
        panic!(
            "{method} {uri} answered {status} ({content_type}) against openapi.yaml: {e}\nbody: {}",
            String::from_utf8_lossy(&body[..body.len().min(2000)])
        );
    }
}

/// Every slug the code can put in a problem `type`: read from the source, in
/// each form the code builds one (`StatusCode::X, "slug"`,
/// `bad_request("slug"`, `{PROBLEM_TYPE_PREFIX}slug`).
fn slugs_in_source() -> BTreeSet<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src").flatten() {
            let p = entry.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut slugs = BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("read source");
        // Whitespace folded, so calls split over lines read as one.
        let text: String = source.split_whitespace().collect::<Vec<_>>().join(" ");
        for marker in ["bad_request(\"", "{PROBLEM_TYPE_PREFIX}"] {
            for (at, _) in text.match_indices(marker) {
                slugs.insert(slug_at(&text[at + marker.len()..]));
            }
        }
        for (at, _) in text.match_indices("StatusCode::") {
            let rest = &text[at + "StatusCode::".len()..];
            let name_len = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .unwrap_or(rest.len());
            if let Some(after) = rest[name_len..].strip_prefix(", \"") {
                slugs.insert(slug_at(after));
            }
        }
    }
    slugs.retain(|s| !s.is_empty());
    slugs
}

fn slug_at(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect()
}

#[test]
fn problem_types_in_the_document_are_exactly_those_the_code_sends() {
    let doc = &contract().doc;
    let code = slugs_in_source();
    assert!(
        code.len() > 20 && code.contains("not-found") && code.contains("timeout"),
        "the source scan found too little: {code:?}"
    );
    let listed: BTreeSet<String> = doc["x-problem-types"]
        .as_object()
        .expect("x-problem-types")
        .keys()
        .cloned()
        .collect();
    let schemas = &doc["components"]["schemas"];
    for holder in ["Problem", "ProblemItem"] {
        assert_eq!(
            schemas[holder]["properties"]["type"]["$ref"], "#/components/schemas/ProblemType",
            "{holder}.type is a ProblemType"
        );
    }
    let enumerated: BTreeSet<String> = schemas["ProblemType"]["enum"]
        .as_array()
        .expect("ProblemType is an enum")
        .iter()
        .map(|v| {
            v.as_str()
                .and_then(|s| s.strip_prefix("urn:consentry:problem:"))
                .expect("urn:consentry:problem:<slug>")
                .to_owned()
        })
        .collect();
    assert_eq!(
        listed, code,
        "x-problem-types differs from the slugs in src/ (left: document, right: code)"
    );
    assert_eq!(
        enumerated, code,
        "ProblemType's enum differs from the slugs in src/ (left: document, right: code)"
    );
}

#[test]
fn the_checker_refuses_what_the_document_does_not_say() {
    let c = contract();
    // An undocumented status.
    assert!(c
        .check("GET", "/healthz", 418, "application/json", b"{}")
        .is_err());
    // A body that breaks its schema.
    assert!(c
        .check(
            "GET",
            "/v1/log/entries",
            200,
            "application/json",
            b"{\"x\":1}"
        )
        .is_err());
    // A content type not listed.
    assert!(c
        .check("GET", "/v1/log/entries", 400, "text/plain", b"bad")
        .is_err());
    // A problem with an unknown slug.
    let unknown = br#"{"type":"urn:consentry:problem:nonsense","title":"Bad Request","status":400,"detail":"x"}"#;
    assert!(c
        .check(
            "GET",
            "/v1/log/entries",
            400,
            "application/problem+json",
            unknown
        )
        .is_err());
    let known = br#"{"type":"urn:consentry:problem:invalid-parameter","title":"Bad Request","status":400,"detail":"x"}"#;
    c.check(
        "GET",
        "/v1/log/entries",
        400,
        "application/problem+json",
        known,
    )
    .expect("a documented problem passes");
    // The fallback.
    c.check("GET", "/nowhere", 404, "application/problem+json", known)
        .expect("fallback problem passes");
}

// ------------------------------------------------------------------------
// What the spec says about cases the document left open, and what the
// document refuses, through the router on both backends.

mod behaviour {
    use serde_json::{json, Value};

    use crate::check::builder;
    use crate::helpers::*;
    use consentry::crypto::{Envelope, PayloadType, SecretKey};

    crate::both_backends!(
        a_voided_work_is_registered_unknown_and_still_an_upload,
        stream_lines_are_physical_line_numbers,
        url_safe_envelopes_come_back_in_standard_base64,
        integers_and_dates_outside_the_document_are_refused,
        a_held_work_uses_only_minimums_in_the_pool_currency,
    );

    fn events_in(r: &Resp) -> u64 {
        r.assert_status(200);
        r.body["events_in"].as_u64().expect("events_in")
    }

    /// spec/receipt.md §3 and spec/stats.md §7: a work whose only statement
    /// was voided by a key revocation is `registered` with no claimant, and
    /// its upload still counts.
    async fn a_voided_work_is_registered_unknown_and_still_an_upload(app: TestApp) {
        let a = app.artist("Ana").await;
        let k2 = SecretKey::generate();
        let token2 = app.add_key(&a, &k2).await;
        let w = work(1);
        let r = app
            .submit(&token2, &[statement(&k2, &[w], json!("opt-out"), ago(5))])
            .await;
        r.assert_status(201);
        let received_at = r.body["accepted"][0]["received_at"].clone();
        let stats = "/v1/stats/uploads?from=2020-01-01&cutoff=2020-01-01";
        let uploads_before = events_in(&app.get(stats).await);
        assert_eq!(uploads_before, 1);
        let revoke = key_event(
            &a.id,
            "revoke",
            &k2.public_key().to_string(),
            json!({ "effective_at": received_at }),
            &[&a.key],
        );
        app.post(
            &format!("/v1/artists/{}/keys", a.id),
            &json!(revoke),
            Some(&a.token),
        )
        .await
        .assert_status(201);
        let lab = builder(&app).await;
        let r = app
            .post(
                "/v1/check",
                &json!({ "purpose": "train-ai", "hashes": [w.to_string()] }),
                Some(&lab),
            )
            .await;
        r.assert_status(200);
        let answer = &r.body["results"][0];
        assert_eq!(answer["registered"], true, "{answer}");
        assert_eq!(answer["status"], "unknown", "{answer}");
        assert_eq!(answer["statements"], json!([]), "{answer}");
        assert_eq!(answer["claimants"], json!([]), "{answer}");
        assert_eq!(answer["consent"]["tdm"], "unknown", "{answer}");
        // A work nobody named is not registered.
        let r = app
            .post(
                "/v1/check",
                &json!({ "purpose": "train-ai", "hashes": [work(2).to_string()] }),
                Some(&lab),
            )
            .await;
        assert_eq!(r.body["results"][0]["registered"], false);
        // The upload still counts, on both bases' registered side.
        assert_eq!(events_in(&app.get(stats).await), uploads_before);
    }

    /// spec/receipt.md §4: blank lines are counted, not answered.
    async fn stream_lines_are_physical_line_numbers(app: TestApp) {
        let lab = builder(&app).await;
        let (w1, w2) = (work(1), work(2));
        let body = format!("\n\"{w1}\"\r\n\n   \n\"nonsense\"\n{{\"hash\":\"{w2}\"}}");
        let r = app
            .post_raw(
                "/v1/check/stream?purpose=tdm",
                body,
                Some("application/x-ndjson"),
                Some(&lab),
            )
            .await;
        r.assert_status(200);
        let lines: Vec<Value> = r
            .text
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(lines.len(), 4, "{}", r.text);
        assert_eq!(lines[0]["line"], 2);
        assert_eq!(lines[0]["hash"], w1.to_string());
        assert_eq!(lines[1]["line"], 5);
        assert_eq!(
            lines[1]["error"]["type"],
            "urn:consentry:problem:invalid-line"
        );
        assert_eq!(lines[2]["line"], 6);
        assert_eq!(lines[2]["hash"], w2.to_string());
        assert_eq!(lines[3]["done"], true);
    }

    /// spec/statement.md §3.3: the bytes are kept, the base64 text is not.
    async fn url_safe_envelopes_come_back_in_standard_base64(app: TestApp) {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let key = SecretKey::generate();
        // A payload and signature whose standard base64 holds `+` or `/`
        // somewhere, so the two forms differ.
        let (env, url_safe) = loop {
            let name = format!("Ana {}", random_hex(6));
            let env: Envelope = artist_envelope(&key, &name);
            let payload = consentry::crypto::dsse::decode_base64(&env.payload).expect("b64");
            let sig = consentry::crypto::dsse::decode_base64(&env.signatures[0].sig).expect("b64");
            let standard = format!("{}{}", STANDARD.encode(&payload), STANDARD.encode(&sig));
            if standard.contains(['+', '/']) {
                let mut v = json!(env);
                v["payload"] = json!(URL_SAFE_NO_PAD.encode(&payload));
                v["signatures"][0]["sig"] = json!(URL_SAFE_NO_PAD.encode(&sig));
                break (env, v);
            }
        };
        assert_eq!(env.payload_type, PayloadType::Artist.as_str());
        let r = app.post("/v1/artists", &url_safe, None).await;
        r.assert_status(201);
        let id = r.body["artist_id"].as_str().expect("id").to_owned();
        let doc = app.get(&format!("/v1/documents/{id}")).await;
        doc.assert_status(200);
        let payload = consentry::crypto::dsse::decode_base64(&env.payload).expect("b64");
        assert_eq!(doc.body["envelope"]["payload"], STANDARD.encode(&payload));
        assert_eq!(
            doc.body["envelope"]["signatures"][0]["sig"],
            env.signatures[0].sig
        );
        assert_ne!(doc.body["envelope"], url_safe, "returned as sent");
        // The same bytes: sending the standard form is a duplicate.
        let again = app.post("/v1/artists", &json!(env), None).await;
        again.assert_status(200);
        assert_eq!(again.body["artist_id"], id);
    }

    /// Issue 21: what `openapi.yaml` refuses, the server refuses.
    async fn integers_and_dates_outside_the_document_are_refused(app: TestApp) {
        let lab = builder(&app).await;
        let a = app.artist("Ana").await;
        for (path, token) in [
            ("/v1/runs?after=-2".to_owned(), Some(lab.as_str())),
            (
                "/v1/runs?after=177322653074851924500843101371605450752".to_owned(),
                Some(lab.as_str()),
            ),
            (
                format!("/v1/artists/{}/payouts?after=-2", a.id),
                Some(a.token.as_str()),
            ),
            (
                format!(
                    "/v1/artists/{}/payouts?after=177322653074851924500843101371605450752",
                    a.id
                ),
                Some(a.token.as_str()),
            ),
            (
                "/v1/log/entries?start=302128928444650658381268835010347008".to_owned(),
                None,
            ),
            (
                "/v1/log/proof/consistency?old_size=1&new_size=9223372036854775808".to_owned(),
                None,
            ),
            (
                "/v1/stats/uploads?from=0316-03-13&to=2023-01-01".to_owned(),
                None,
            ),
            (
                "/v1/stats/uploads?from=2020-01-01&to=4989-11-05".to_owned(),
                None,
            ),
            (
                "/v1/stats/uploads.svg?from=1969-12-31&to=2023-01-01".to_owned(),
                None,
            ),
            (
                "/v1/stats/uploads?from=%202020-01-01&to=2023-01-01".to_owned(),
                None,
            ),
            (
                "/v1/stats/uploads?from=2020-01-01&to=2023-01-01&event=X=0647-01-01".to_owned(),
                None,
            ),
            (
                "/v1/stats/uploads?from=2020-01-01&to=2023-01-01&cap=4294967296".to_owned(),
                None,
            ),
        ] {
            let req = match token {
                Some(t) => get_with_token(&path, t),
                None => axum::http::Request::get(path.as_str())
                    .body(axum::body::Body::empty())
                    .expect("request"),
            };
            app.send(req).await.assert_problem(400, "invalid-parameter");
        }
        // The edges the document allows are answered.
        app.send(get_with_token("/v1/runs?after=-1", &lab))
            .await
            .assert_status(200);
        app.get("/v1/stats/uploads?from=1970-01-01&to=2000-01-01&bucket=quarter&cutoff=1990-01-01")
            .await
            .assert_status(200);
        app.get("/v1/log/proof/consistency?old_size=1&new_size=9223372036854775807")
            .await
            .assert_problem(404, "not-found");
        // `as_of` outside the registry's years.
        app.post(
            "/v1/check",
            &json!({ "purpose": "tdm", "hashes": [work(1).to_string()], "as_of": "0647-01-01T00:00:00Z" }),
            Some(&lab),
        )
        .await
        .assert_problem(400, "invalid-as-of");
    }

    /// spec/payouts.md §3.3: a held (disputed) work's share takes the
    /// largest minimum in the pool's currency; minimums in other currencies
    /// count as 0 and are listed in `minimums_ignored`.
    async fn a_held_work_uses_only_minimums_in_the_pool_currency(app: TestApp) {
        let ana = app.artist("Ana").await;
        let ben = app.artist("Ben").await;
        let (shared, own) = (work(1), work(2));
        let share = |currency: &str, amount: u64| json!([{ "kind": "revenue-share", "minimum": { "amount_minor": amount, "currency": currency } }]);
        for (artist, works, terms) in [
            (&ana, vec![shared], share("USD", 900)),
            (&ben, vec![shared], share("GBP", 800)),
            (&ana, vec![own], json!([{ "kind": "revenue-share" }])),
        ] {
            let mut payload = statement_payload(&artist.key, &works, json!("opt-in"), ago(5));
            payload["terms"] = terms;
            app.submit(&artist.token, &[sign_statement(&artist.key, &payload)])
                .await
                .assert_status(201);
        }
        let lab = builder(&app).await;
        let r = app
            .post(
                "/v1/runs",
                &json!({
                    "run_id": "held-1",
                    "purpose": "train-ai",
                    // JSON Schema's integer 1000 may be written 1000.0.
                    "pool": { "amount_minor": 1000.0, "currency": "EUR" },
                    "checked_at": consentry::domain::Timestamp::now(),
                    "works": [shared.to_string(), own.to_string()],
                }),
                Some(&lab),
            )
            .await;
        r.assert_status(201);
        let payout = &r.body["statement"]["payout"];
        let held = &payout["held"][0];
        assert_eq!(payout["held"].as_array().map(Vec::len), Some(1), "{payout}");
        assert_eq!(
            held["revenue_share"], 500,
            "an equal share, no minimum: {payout}"
        );
        assert_eq!(held["shortfall"], 0, "{payout}");
        assert_eq!(
            payout["minimums_ignored"].as_array().map(Vec::len),
            Some(2),
            "{payout}"
        );
    }
}

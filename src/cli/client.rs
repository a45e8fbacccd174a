//! A small HTTP client for the registry, used by the CLI.

use anyhow::{bail, Context};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::crypto::{pae, Envelope, PayloadType, SecretKey};

/// The registry answered with an error status (its problem's type and detail).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    pub status: u16,
    /// The problem type's slug (`unknown-key`, …), or `unknown`.
    pub slug: String,
    pub detail: String,
    message: String,
}

/// The registry could not be reached at all (nothing listening, wrong
/// address, connection broken).
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot reach the registry at {base} ({cause}); is it running, and is --registry (or CONSENTRY_URL) its address?"
)]
pub struct Unreachable {
    pub base: String,
    cause: String,
}

/// The role a command signs in as, for [`Client::sign_in`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInAs {
    Artist,
    Builder,
    Admin,
}

impl SignInAs {
    fn role(self) -> &'static str {
        match self {
            Self::Artist => "artist",
            Self::Builder => "builder",
            Self::Admin => "admin",
        }
    }

    fn owner(role: &str) -> &'static str {
        match role {
            "artist" => "an artist's",
            "builder" => "a dataset builder's",
            "admin" => "the admin's",
            _ => "another role's",
        }
    }

    /// What to do when no one holds the key.
    fn unknown_key_hint(self) -> &'static str {
        match self {
            Self::Artist => "register it first: consentry artist create --key FILE --name NAME",
            Self::Builder => {
                "a dataset builder's key is registered by the registry's admin (consentry builder create)"
            }
            Self::Admin => "the admin key is the one given to `consentry serve --admin-key`",
        }
    }
}

/// A client bound to one registry URL, optionally holding a token.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Client {
    /// # Errors
    /// If the HTTP client cannot be built.
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("consentry-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(300))
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
            token: None,
        })
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> anyhow::Result<(u16, T)> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        Self::read(resp).await
    }

    fn unreachable(&self, e: &reqwest::Error) -> Unreachable {
        let cause = if e.is_connect() {
            "connection refused or host not found".to_owned()
        } else if e.is_timeout() {
            "timed out".to_owned()
        } else {
            e.to_string()
        };
        Unreachable {
            base: self.base.clone(),
            cause,
        }
    }

    async fn read<T: DeserializeOwned>(resp: reqwest::Response) -> anyhow::Result<(u16, T)> {
        let status = resp.status().as_u16();
        let body: Value = resp
            .json()
            .await
            .context("the registry sent a body that is not JSON")?;
        if status >= 400 {
            let detail = body
                .get("detail")
                .and_then(Value::as_str)
                .unwrap_or("no detail");
            let kind = body
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            let mut msg = format!("registry refused the request ({status} {kind}): {detail}");
            if let Some(errors) = body.get("errors").and_then(Value::as_array) {
                for e in errors.iter().take(10) {
                    msg.push_str(&format!(
                        "\n  item {}: {}",
                        e.get("index").and_then(Value::as_u64).unwrap_or(0),
                        e.get("detail").and_then(Value::as_str).unwrap_or("")
                    ));
                }
            }
            return Err(Refused {
                status,
                slug: kind
                    .strip_prefix("urn:consentry:problem:")
                    .unwrap_or(kind)
                    .to_owned(),
                detail: detail.to_owned(),
                message: msg,
            }
            .into());
        }
        Ok((status, serde_json::from_value(body)?))
    }

    /// GET `path`; `Ok(None)` on 404.
    ///
    /// # Errors
    /// On transport errors or any other error status.
    pub async fn get_optional(&self, path: &str) -> anyhow::Result<Option<Value>> {
        match self.get_unless_missing(path).await? {
            Some(resp) => Ok(Some(Self::read(resp).await?.1)),
            None => Ok(None),
        }
    }

    /// GET `path` without a token; `Ok(None)` on 404.
    async fn get_unless_missing(&self, path: &str) -> anyhow::Result<Option<reqwest::Response>> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        Ok((resp.status().as_u16() != 404).then_some(resp))
    }

    /// GET `path` as JSON; any error status fails.
    ///
    /// # Errors
    /// On transport errors or an error status (with the problem's detail).
    pub async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self
            .send(self.http.get(format!("{}{path}", self.base)))
            .await?
            .1)
    }

    /// GET `path` as raw bytes; `Ok(None)` on 404.
    ///
    /// # Errors
    /// On transport errors or any other error status.
    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let Some(resp) = self.get_unless_missing(path).await? else {
            return Ok(None);
        };
        let status = resp.status().as_u16();
        if status >= 400 {
            bail!("GET {path}: the registry answered {status}");
        }
        Ok(Some(resp.bytes().await?.to_vec()))
    }

    /// POST JSON to `path`.
    ///
    /// # Errors
    /// On transport errors or an error status (with the problem's detail).
    pub async fn post<B: Serialize>(&self, path: &str, body: &B) -> anyhow::Result<(u16, Value)> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// The token [`Client::login`] obtained, if any.
    #[must_use]
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// [`Client::login`] for a command that needs `role`, with messages
    /// that say what went wrong: the registry unreachable, the key revoked
    /// or unknown (and what to do), or the key holding another role.
    /// Returns the token's subject.
    ///
    /// # Errors
    /// In each of those cases, and when the exchange fails otherwise.
    pub async fn sign_in(&mut self, key: &SecretKey, role: SignInAs) -> anyhow::Result<String> {
        let public = key.public_key();
        let (subject, got) = match self.login_with_role(key).await {
            Ok(ok) => ok,
            Err(e) => {
                if let Some(r) = e.downcast_ref::<Refused>() {
                    if r.slug == "unknown-key" {
                        if r.detail.contains("revoked") {
                            bail!("cannot sign in with {public}: {}", r.detail);
                        }
                        bail!(
                            "cannot sign in with {public}: no one holds this key at {}; {}",
                            self.base,
                            role.unknown_key_hint()
                        );
                    }
                }
                return Err(e.context(format!("signing in with {public}")));
            }
        };
        if got != role.role() {
            bail!(
                "{public} is {} key, and this command needs {} key",
                SignInAs::owner(&got),
                SignInAs::owner(role.role())
            );
        }
        Ok(subject)
    }

    /// Proves possession of `key` and keeps the token for later requests.
    /// Returns the token's subject (artist id, builder id or `admin`).
    ///
    /// # Errors
    /// When the key is unknown to the registry or the exchange fails.
    pub async fn login(&mut self, key: &SecretKey) -> anyhow::Result<String> {
        Ok(self.login_with_role(key).await?.0)
    }

    /// [`Client::login`], also returning the token's role.
    async fn login_with_role(&mut self, key: &SecretKey) -> anyhow::Result<(String, String)> {
        let public = key.public_key().to_string();
        let (_, ch) = self
            .post("/v1/auth/challenge", &json!({ "key": public }))
            .await?;
        let challenge = ch["challenge"]
            .as_str()
            .context("no challenge in response")?;
        let sig = key.sign(&pae(
            PayloadType::AuthChallenge.as_str(),
            challenge.as_bytes(),
        ));
        let (_, tok) = self
            .post(
                "/v1/auth/token",
                &json!({
                    "key": public,
                    "challenge": challenge,
                    "signature": base64::engine::general_purpose::STANDARD.encode(sig),
                }),
            )
            .await?;
        self.token = Some(
            tok["token"]
                .as_str()
                .context("no token in response")?
                .to_owned(),
        );
        Ok((
            tok["subject"].as_str().unwrap_or_default().to_owned(),
            tok["role"].as_str().unwrap_or_default().to_owned(),
        ))
    }

    /// Checks `hashes` through `POST /v1/check/stream` (raw 32-byte hashes
    /// in, NDJSON out, one receipt for the whole list), streaming both ways.
    /// Calls `each` with every answer line, in order; returns the final
    /// (`done`) line.
    ///
    /// # Errors
    /// When the registry refuses the check, the stream breaks off, or a
    /// line is not JSON.
    pub async fn check_stream(
        &self,
        query: &str,
        hashes: Vec<crate::domain::ContentHash>,
        each: impl FnMut(Value) -> anyhow::Result<()>,
    ) -> anyhow::Result<Value> {
        const CHUNK: usize = 8192;
        let chunks =
            futures_util::stream::iter((0..hashes.len()).step_by(CHUNK).map(move |start| {
                let end = (start + CHUNK).min(hashes.len());
                let bytes: Vec<u8> = hashes[start..end]
                    .iter()
                    .flat_map(|h| *h.as_bytes())
                    .collect();
                Ok::<_, std::io::Error>(bytes)
            }));
        self.stream_check(
            query,
            "application/octet-stream",
            reqwest::Body::wrap_stream(chunks),
            each,
        )
        .await
    }

    /// As [`Client::check_stream`] with near matching (`match=near`): each
    /// item is sent as an NDJSON line with its hash and image codes.
    ///
    /// # Errors
    /// As [`Client::check_stream`].
    pub async fn check_items_stream(
        &self,
        query: &str,
        items: Vec<(
            crate::domain::ContentHash,
            Vec<crate::domain::fingerprint::ImageCode>,
        )>,
        each: impl FnMut(Value) -> anyhow::Result<()>,
    ) -> anyhow::Result<Value> {
        const CHUNK: usize = 4096;
        let chunks =
            futures_util::stream::iter((0..items.len()).step_by(CHUNK).map(move |start| {
                let end = (start + CHUNK).min(items.len());
                let mut bytes = Vec::new();
                for (hash, codes) in &items[start..end] {
                    let fps: Vec<Value> = codes
                        .iter()
                        .map(|c| serde_json::json!({"algorithm": crate::domain::fingerprint::ISCC_IMAGE, "value": c.to_string()}))
                        .collect();
                    let line = if fps.is_empty() {
                        serde_json::json!({ "hash": hash })
                    } else {
                        serde_json::json!({ "hash": hash, "fingerprints": fps })
                    };
                    bytes.extend_from_slice(line.to_string().as_bytes());
                    bytes.push(b'\n');
                }
                Ok::<_, std::io::Error>(bytes)
            }));
        self.stream_check(
            &format!("{query}&match=near"),
            "application/x-ndjson",
            reqwest::Body::wrap_stream(chunks),
            each,
        )
        .await
    }

    async fn stream_check(
        &self,
        query: &str,
        content_type: &'static str,
        body: reqwest::Body,
        mut each: impl FnMut(Value) -> anyhow::Result<()>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .post(format!("{}/v1/check/stream?{query}", self.base))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .timeout(std::time::Duration::from_secs(7 * 24 * 3600))
            .body(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let mut resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        if resp.status().as_u16() >= 400 {
            Self::read::<Value>(resp).await?;
            bail!("the registry refused the check");
        }
        let mut partial: Vec<u8> = Vec::new();
        let mut done = None;
        while let Some(chunk) = resp.chunk().await.context("the check stream broke off")? {
            partial.extend_from_slice(&chunk);
            let mut start = 0;
            while let Some(pos) = partial[start..].iter().position(|&b| b == b'\n') {
                let line: Value = serde_json::from_slice(&partial[start..start + pos])
                    .context("the registry sent a line that is not JSON")?;
                start += pos + 1;
                if line.get("done").is_some() {
                    done = Some(line);
                } else if let Some(e) = line.get("error") {
                    bail!(
                        "the registry reported an error: {}",
                        e.get("detail")
                            .and_then(Value::as_str)
                            .unwrap_or("no detail")
                    );
                } else {
                    each(line)?;
                }
            }
            partial.drain(..start);
        }
        done.context("the check stream ended without its receipt")
    }

    /// Submits signed statements in one request.
    ///
    /// # Errors
    /// When the registry refuses the batch.
    pub async fn submit_statements(&self, envelopes: &[Envelope]) -> anyhow::Result<Value> {
        #[derive(Serialize)]
        struct Batch<'a> {
            statements: &'a [Envelope],
        }
        Ok(self
            .post(
                "/v1/statements",
                &Batch {
                    statements: envelopes,
                },
            )
            .await?
            .1)
    }
}

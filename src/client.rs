//! A small HTTP client for the registry, used by the CLI.

use anyhow::{bail, Context};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::crypto::{pae, Envelope, PayloadType, SecretKey};

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
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach the registry at {}", self.base))?;
        Self::read(resp).await
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
            bail!(msg);
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
            .with_context(|| format!("cannot reach the registry at {}", self.base))?;
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

    /// Proves possession of `key` and keeps the token for later requests.
    /// Returns the token's subject (artist id, builder id or `admin`).
    ///
    /// # Errors
    /// When the key is unknown to the registry or the exchange fails.
    pub async fn login(&mut self, key: &SecretKey) -> anyhow::Result<String> {
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
        Ok(tok["subject"].as_str().unwrap_or_default().to_owned())
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
        mut each: impl FnMut(Value) -> anyhow::Result<()>,
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
        let mut req = self
            .http
            .post(format!("{}/v1/check/stream?{query}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .timeout(std::time::Duration::from_secs(7 * 24 * 3600))
            .body(reqwest::Body::wrap_stream(chunks));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let mut resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach the registry at {}", self.base))?;
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

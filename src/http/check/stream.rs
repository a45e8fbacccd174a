//! `POST /v1/check/stream`: NDJSON items (or raw 32-byte hashes) in, one
//! NDJSON answer per line out, in constant memory, at the pace the client
//! reads, ending with the signed receipt; a minimum body rate keeps a slow
//! client from holding a stream slot.

#[allow(clippy::wildcard_imports)]
use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamParams {
    purpose: String,
    as_of: Option<String>,
    mode: Option<String>,
    #[serde(rename = "match")]
    matching: Option<String>,
    checkpoint: Option<u64>,
}

/// How a stream's items are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// One JSON value per line: a hash string or an object with `hash`.
    Ndjson,
    /// Raw 32-byte BLAKE3 hashes back to back.
    Binary,
}

#[tracing::instrument(skip_all, fields(builder = %user.subject))]
pub(super) async fn stream(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<StreamParams>,
    body: Body,
) -> ApiResult<Response> {
    user.require(Role::Builder)?;
    let framing = match media_type(&headers).as_deref() {
        Some("application/x-ndjson" | "application/jsonl") => Framing::Ndjson,
        Some("application/octet-stream") => Framing::Binary,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send application/x-ndjson (one hash per line) or application/octet-stream (32-byte hashes)",
            ))
        }
    };
    let purpose = purpose_of(&params.purpose)?;
    let as_of = as_of_of(params.as_of.as_deref())?;
    let mode = mode_of(params.mode.as_deref())?;
    let near = near_of(params.matching.as_deref(), false)?;
    if near && framing == Framing::Binary {
        return Err(ApiError::bad_request(
            "invalid-parameter",
            "near matching needs NDJSON items (raw 32-byte records carry no fingerprints)",
        ));
    }
    near_on_shard(&state, near)?;
    let slot = state.limits.open_stream(&user.subject)?;
    let (view, cp) = state
        .registry
        .check_view_at(as_of, params.checkpoint)
        .await?;
    let (tx, rx) = mpsc::channel::<Bytes>(STREAM_BUFFER);
    let run = StreamRun {
        _slot: slot,
        state,
        user,
        purpose,
        as_of,
        mode,
        near,
        view,
        cp,
        framing,
        tx,
    };
    tokio::spawn(run.run(body));
    let out = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        )],
        Body::from_stream(out),
    )
        .into_response())
}

/// One line of a stream: its line (or record) number and the item, or why
/// the line is not one.
type Line = (u64, Result<Item, String>);

/// Parses one NDJSON line: a JSON string (a hash), or an object with a
/// `hash` string, `fingerprints`, or both.
fn parse_line(line: &[u8]) -> Result<Item, String> {
    match line.first() {
        Some(b'"') => {
            let text: Cow<'_, str> =
                serde_json::from_slice(line).map_err(|e| format!("malformed JSON: {e}"))?;
            text.parse::<ContentHash>()
                .map(Item::from)
                .map_err(|e| e.to_string())
        }
        Some(b'{') => {
            let body = serde_json::from_slice::<LineBody<'_>>(line)
                .map_err(|e| format!("malformed JSON object: {e}"))?;
            item_of(body.hash.as_deref(), &body.fingerprints)
        }
        _ => Err(
            "a line is a JSON string (\"blake3:…\") or an object with `hash` and/or `fingerprints`"
                .into(),
        ),
    }
}

/// Splits a byte stream into items, keeping at most one partial line.
struct Splitter {
    framing: Framing,
    partial: Vec<u8>,
    /// The current line is over-long: drop bytes until its end.
    skipping: bool,
    line: u64,
}

impl Splitter {
    fn new(framing: Framing) -> Self {
        Self {
            framing,
            partial: Vec::new(),
            skipping: false,
            line: 0,
        }
    }

    fn feed(&mut self, mut data: &[u8], items: &mut Vec<Line>) {
        if self.framing == Framing::Binary {
            while !data.is_empty() {
                let take = (32 - self.partial.len()).min(data.len());
                self.partial.extend_from_slice(&data[..take]);
                data = &data[take..];
                if self.partial.len() == 32 {
                    self.line += 1;
                    items.push((
                        self.line,
                        ContentHash::from_slice(&self.partial)
                            .map(Item::from)
                            .map_err(|e| e.to_string()),
                    ));
                    self.partial.clear();
                }
            }
            return;
        }
        while let Some(pos) = data.iter().position(|&b| b == b'\n') {
            let (head, rest) = data.split_at(pos);
            data = &rest[1..];
            self.line += 1;
            if self.skipping {
                self.skipping = false;
                items.push((
                    self.line,
                    Err(format!("line longer than {MAX_STREAM_LINE} bytes")),
                ));
                continue;
            }
            if self.partial.is_empty() {
                Self::push_line(self.line, head, items);
            } else {
                self.partial.extend_from_slice(head);
                let line = std::mem::take(&mut self.partial);
                Self::push_line(self.line, &line, items);
            }
        }
        if !self.skipping {
            self.partial.extend_from_slice(data);
            if self.partial.len() > MAX_STREAM_LINE {
                self.partial.clear();
                self.skipping = true;
            }
        }
    }

    fn push_line(no: u64, line: &[u8], items: &mut Vec<Line>) {
        let line = line.trim_ascii();
        if line.is_empty() {
            return;
        }
        if line.len() > MAX_STREAM_LINE {
            items.push((no, Err(format!("line longer than {MAX_STREAM_LINE} bytes"))));
            return;
        }
        items.push((no, parse_line(line)));
    }

    /// The end of input: a last line without a newline, or a partial record.
    fn finish(&mut self, items: &mut Vec<Line>) {
        let rest = std::mem::take(&mut self.partial);
        if self.framing == Framing::Binary {
            if !rest.is_empty() {
                items.push((
                    self.line + 1,
                    Err(format!(
                        "the input ends with a partial record of {} bytes (records are 32 bytes)",
                        rest.len()
                    )),
                ));
            }
            return;
        }
        if self.skipping {
            items.push((
                self.line + 1,
                Err(format!("line longer than {MAX_STREAM_LINE} bytes")),
            ));
        } else if !rest.is_empty() {
            Self::push_line(self.line + 1, &rest, items);
        }
    }
}

/// Splits a check stream's body, delivered in `chunks`, into numbered items
/// exactly as `POST /v1/check/stream` reads it (NDJSON, or 32-byte records
/// when `binary`); for fuzzing.
#[doc(hidden)]
#[must_use]
pub fn split_stream(binary: bool, chunks: &[&[u8]]) -> Vec<(u64, Result<Item, String>)> {
    let mut s = Splitter::new(if binary {
        Framing::Binary
    } else {
        Framing::Ndjson
    });
    let mut items = Vec::new();
    for c in chunks {
        s.feed(c, &mut items);
    }
    s.finish(&mut items);
    items
}

/// The minimum rate at which a stream's body must arrive: at least
/// `min_rate` bytes per second on average over each window, so that a client
/// trickling lines cannot hold a stream slot for ever.
struct Pace {
    min_bytes: u64,
    window: std::time::Duration,
    window_end: tokio::time::Instant,
    seen: u64,
}

impl Pace {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    fn new(config: &crate::http::limits::LimitConfig) -> Self {
        let min_bytes =
            (config.stream_min_rate as f64 * config.stream_window.as_secs_f64()).ceil() as u64;
        Self {
            min_bytes,
            window: config.stream_window,
            window_end: tokio::time::Instant::now() + config.stream_window,
            seen: 0,
        }
    }

    /// The next chunk of `input`, or why the stream is too slow to go on.
    async fn next<S>(&mut self, input: &mut S) -> Result<Option<S::Item>, String>
    where
        S: futures_util::Stream<Item = Result<Bytes, axum::Error>> + Unpin,
    {
        if self.min_bytes == 0 {
            return Ok(input.next().await);
        }
        loop {
            match tokio::time::timeout_at(self.window_end, input.next()).await {
                Ok(chunk) => {
                    if let Some(Ok(data)) = &chunk {
                        self.seen = self.seen.saturating_add(data.len() as u64);
                    }
                    if tokio::time::Instant::now() >= self.window_end {
                        self.end_window()?;
                    }
                    return Ok(chunk);
                }
                Err(_) => self.end_window()?,
            }
        }
    }

    fn end_window(&mut self) -> Result<(), String> {
        if self.seen < self.min_bytes {
            return Err(format!(
                "the body arrived at fewer than {} bytes in {} s; the stream is closed",
                self.min_bytes,
                self.window.as_secs_f64()
            ));
        }
        self.seen = 0;
        self.window_end = tokio::time::Instant::now() + self.window;
        Ok(())
    }
}

/// A streamed check in progress.
struct StreamRun {
    /// This stream's place among the open ones, freed when it ends.
    _slot: crate::http::limits::StreamSlot,
    state: AppState,
    user: AuthUser,
    purpose: Category,
    as_of: Option<Timestamp>,
    mode: Mode,
    near: bool,
    view: View,
    cp: CheckpointRecord,
    framing: Framing,
    tx: mpsc::Sender<Bytes>,
}

impl StreamRun {
    async fn run(self, body: Body) {
        let mut digests = AnswerDigests::new();
        let mut errors: u64 = 0;
        let mut splitter = Splitter::new(self.framing);
        let mut items: Vec<Line> = Vec::with_capacity(STREAM_STEP);
        let mut input = body.into_data_stream();
        let mut pace = Pace::new(&self.state.limits.config);
        loop {
            let chunk = match pace.next(&mut input).await {
                Ok(chunk) => chunk,
                Err(detail) => {
                    let line = json!({"error": {
                        "type": format!("{PROBLEM_TYPE_PREFIX}too-slow"),
                        "detail": detail,
                    }});
                    let _ = self.tx.send(Bytes::from(format!("{line}\n"))).await;
                    return;
                }
            };
            let done = chunk.is_none();
            match chunk {
                Some(Ok(data)) => splitter.feed(&data, &mut items),
                Some(Err(e)) => {
                    let line = json!({"error": {
                        "type": format!("{PROBLEM_TYPE_PREFIX}malformed-body"),
                        "detail": format!("reading the request failed: {e}"),
                    }});
                    let _ = self.tx.send(Bytes::from(format!("{line}\n"))).await;
                    return;
                }
                None => splitter.finish(&mut items),
            }
            if items.len() >= STREAM_STEP || (done && !items.is_empty()) {
                let out = self.answer(&items, &mut digests, &mut errors);
                items.clear();
                if self.tx.send(Bytes::from(out)).await.is_err() {
                    return; // the client went away
                }
            }
            if done {
                break;
            }
        }
        let out = match signed_receipt(
            &self.state,
            &self.user,
            self.purpose,
            self.as_of,
            &self.cp,
            &digests,
            self.near,
        ) {
            Ok(receipt) => {
                let mut out = String::from("{\"done\":true,");
                preamble(&mut out, self.purpose, self.as_of, &self.cp);
                if self.near {
                    let _ = write!(
                        out,
                        ",\"matching\":{},\"matched\":{}",
                        json!(MATCHING),
                        json!(digests.matched)
                    );
                }
                let _ = writeln!(
                    out,
                    ",\"count\":{},\"counts\":{},\"errors\":{errors},\"receipt\":{receipt}}}",
                    digests.count,
                    counts_json(&digests)
                );
                out
            }
            Err(_) => format!(
                "{}\n",
                json!({"error": {"type": format!("{PROBLEM_TYPE_PREFIX}internal"), "detail": "the receipt could not be signed"}})
            ),
        };
        let _ = self.tx.send(Bytes::from(out)).await;
    }

    /// Answers one step of items as NDJSON lines.
    fn answer(&self, items: &[Line], digests: &mut AnswerDigests, errors: &mut u64) -> String {
        let mut out = String::with_capacity(items.len() * 80);
        self.state.registry.with_index(|st| {
            for (line, item) in items {
                let item = item.as_ref().map_err(Clone::clone).and_then(|item| {
                    if !self.near && !item.is_hash_only() {
                        return Err("fingerprints are matched with match=near only".to_owned());
                    }
                    match item
                        .hash
                        .as_ref()
                        .and_then(|h| outside_shard(st.index.shard(), h))
                    {
                        Some(why) => Err(why),
                        None => Ok(item),
                    }
                });
                match item {
                    Ok(item) if self.near => {
                        answer_items(
                            &st.index,
                            self.view,
                            self.purpose,
                            std::iter::once(item),
                            digests,
                            |i, a, ids, s: Status| match self.mode {
                                Mode::Full => render_item(
                                    &mut out,
                                    &st.index,
                                    i,
                                    a,
                                    ids,
                                    self.purpose,
                                    Some(*line),
                                ),
                                Mode::Compact => render_compact_item(&mut out, i, a, s, *line),
                            },
                        );
                    }
                    Ok(Item {
                        hash: Some(hash), ..
                    }) => {
                        answer_all(
                            &st.index,
                            self.view,
                            self.purpose,
                            std::iter::once(hash),
                            digests,
                            |h, a, ids, s: Status| match self.mode {
                                Mode::Full => {
                                    render_full(
                                        &mut out,
                                        &st.index,
                                        h,
                                        a,
                                        ids,
                                        self.purpose,
                                        Some(*line),
                                    );
                                }
                                Mode::Compact => render_compact_line(&mut out, h, s, *line),
                            },
                        );
                    }
                    Ok(Item { hash: None, .. }) => {}
                    Err(e) => {
                        *errors += 1;
                        let _ = write!(
                            out,
                            "{}",
                            json!({"line": line, "error": {
                                "type": format!("{PROBLEM_TYPE_PREFIX}invalid-line"),
                                "detail": format!("line {line}: {e}"),
                            }})
                        );
                    }
                }
                out.push('\n');
            }
        });
        out
    }
}

//! Test harness: a registry per test on a fresh database (a temporary SQLite
//! file, or a fresh PostgreSQL schema), driven through the real router.

use std::future::Future;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
pub use base64::Engine as _;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use consentry::crypto::{pae, Envelope, PayloadType, SecretKey};
use consentry::domain::{ContentHash, Timestamp};
use consentry::http::{router, AppState};
use consentry::store::{self, Counts, Store};

pub use crate::bin::Bin;
use crate::bin::{assert_outside_runtime, off_runtime};
pub use crate::raw_db::RawDb;
use crate::raw_db::{create_postgres_schema, drop_postgres_schema};

pub const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the suite uses. Not optional: the PostgreSQL half
/// of the suite fails, rather than skips, when it is unreachable.
pub fn postgres_url() -> String {
    std::env::var("CONSENTRY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// The URL of one schema on that server (it is the connection's `search_path`).
pub fn postgres_schema_url(schema: &str) -> String {
    format!("{}?options=-c%20search_path%3D{schema}", postgres_url())
}

/// Where a test database lives, so tests can open it behind the store's back.
pub enum Location {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        schema: String,
    },
}

impl Drop for Location {
    fn drop(&mut self) {
        if let Location::Postgres { schema } = self {
            let schema = schema.clone();
            // Drop runs outside async context guarantees: use a private runtime on a thread.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(drop_postgres_schema(&schema));
                }
            })
            .join();
        }
    }
}

pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    hex::encode(b)
}

/// Opens a fresh, migrated store.
pub async fn open_store(backend: Backend) -> (Arc<dyn Store>, Location) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}", dir.path().join("registry.db").display());
            let s = store::open(&url).await.expect("open sqlite");
            (s, Location::Sqlite { _dir: dir, url })
        }
        Backend::Postgres => {
            let schema = format!("t_{}", random_hex(8));
            let s = store::postgres::PgStore::open_in_schema(&postgres_url(), &schema)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL at {} is required for the test suite: {e}",
                        postgres_url()
                    )
                });
            (Arc::new(s), Location::Postgres { schema })
        }
    }
}

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub admin: SecretKey,
    pub registry_key: SecretKey,
    /// Keeps the database alive (and drops it) with the app.
    pub _location: Location,
}

/// A response: status, content type, JSON body (Null when empty or not JSON), raw text.
pub struct Resp {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// Asserts a problem+json response with this status and problem slug.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, slug: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.content_type, "application/problem+json",
            "body: {}",
            self.text
        );
        assert_eq!(
            self.body["type"],
            format!("urn:consentry:problem:{slug}"),
            "body: {}",
            self.text
        );
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "problem without detail"
        );
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with_limits(backend, consentry::http::limits::LimitConfig::default()).await
    }

    /// An app with other per-token limits.
    pub async fn spawn_with_limits(
        backend: Backend,
        limits: consentry::http::limits::LimitConfig,
    ) -> TestApp {
        let (store, location) = open_store(backend).await;
        Self::with_store(store, location, limits).await
    }

    /// An app on a store opened by the caller.
    pub async fn with_store(
        store: Arc<dyn Store>,
        location: Location,
        limits: consentry::http::limits::LimitConfig,
    ) -> TestApp {
        let registry_key = SecretKey::generate();
        let admin = SecretKey::generate();
        let state = consentry::server::app_state(
            store,
            &registry_key,
            Some(admin.public_key()),
            "consentry-test",
            "consentry.test/log",
            limits,
        )
        .await
        .expect("state");
        TestApp {
            router: router(state.clone()),
            state,
            admin,
            registry_key,
            _location: location,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.state.registry.store()
    }

    pub async fn counts(&self) -> Counts {
        self.store().counts().await.expect("counts")
    }

    /// Sends a request through the router; every response is checked
    /// against openapi.yaml (`contract::assert_documented`).
    pub async fn send(&self, req: Request<Body>) -> Resp {
        let method = req.method().to_string();
        let uri = req.uri().to_string();
        let resp = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("router never fails");
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        crate::contract::assert_documented(&method, &uri, status.as_u16(), &content_type, &bytes);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            content_type,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Request::get(path).body(Body::empty()).expect("request"))
            .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<Body>,
        content_type: Option<&str>,
        token: Option<&str>,
    ) -> Resp {
        let mut req = Request::post(path);
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.send(req.body(body.into()).expect("request")).await
    }

    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> Resp {
        self.post_raw(
            path,
            serde_json::to_vec(body).expect("json"),
            Some("application/json"),
            token,
        )
        .await
    }

    /// Registers an artist; returns the artist id.
    pub async fn register_artist(&self, key: &SecretKey, name: &str) -> String {
        let r = self
            .post("/v1/artists", &json!(artist_envelope(key, name)), None)
            .await;
        r.assert_status(201);
        r.body["artist_id"].as_str().expect("artist_id").to_owned()
    }

    /// A token for `key` through the challenge flow.
    pub async fn login(&self, key: &SecretKey) -> String {
        let public = key.public_key().to_string();
        let ch = self
            .post("/v1/auth/challenge", &json!({ "key": public }), None)
            .await;
        ch.assert_status(200);
        let challenge = ch.body["challenge"].as_str().expect("challenge").to_owned();
        let sig = key.sign(&pae(
            PayloadType::AuthChallenge.as_str(),
            challenge.as_bytes(),
        ));
        let t = self
            .post(
                "/v1/auth/token",
                &json!({ "key": public, "challenge": challenge, "signature": B64.encode(sig) }),
                None,
            )
            .await;
        t.assert_status(200);
        t.body["token"].as_str().expect("token").to_owned()
    }

    /// A registered artist with a token.
    pub async fn artist(&self, name: &str) -> Artist {
        let key = SecretKey::generate();
        let id = self.register_artist(&key, name).await;
        let token = self.login(&key).await;
        Artist { key, id, token }
    }

    /// Adds `new` to the artist's keys (signed by the artist's key and by
    /// `new`), then logs in with it.
    pub async fn add_key(&self, a: &Artist, new: &SecretKey) -> String {
        let add = key_event(
            &a.id,
            "add",
            &new.public_key().to_string(),
            json!({}),
            &[&a.key, new],
        );
        self.post(
            &format!("/v1/artists/{}/keys", a.id),
            &json!(add),
            Some(&a.token),
        )
        .await
        .assert_status(201);
        self.login(new).await
    }

    pub async fn submit(&self, token: &str, envelopes: &[Envelope]) -> Resp {
        self.post(
            "/v1/statements",
            &json!({ "statements": envelopes }),
            Some(token),
        )
        .await
    }

    pub async fn work(&self, hash: &ContentHash) -> Resp {
        self.get(&format!("/v1/works/{hash}")).await
    }

    /// GET raw bytes: `Some` on 200, `None` on 404 (anything else panics).
    pub async fn get_bytes(&self, path: &str) -> Option<Vec<u8>> {
        let req = Request::builder()
            .uri(path)
            .body(Body::empty())
            .expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        crate::contract::assert_documented("GET", path, status.as_u16(), &content_type, &bytes);
        match status {
            StatusCode::OK => Some(bytes.to_vec()),
            StatusCode::NOT_FOUND => None,
            other => panic!("GET {path}: {other}"),
        }
    }

    /// Serves the router on a loopback port (for the CLI); returns its base URL.
    pub async fn serve_http(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let router = self.router.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        base
    }

    /// Runs SQL on the test database behind the store's back (tampering),
    /// in order; each statement must succeed.
    pub async fn raw_sql(&self, statements: &[&str]) {
        let db = RawDb::open(&self._location).await;
        for sql in statements {
            db.execute(sql).await.expect(sql);
        }
        db.close().await;
    }

    /// Every log entry, as the log serves them.
    pub async fn log_entries(&self) -> Vec<Vec<u8>> {
        let docs = self
            .store()
            .documents_from(0, u32::MAX)
            .await
            .expect("documents");
        docs.iter()
            .map(|d| d.doc.log_entry().expect("entry"))
            .collect()
    }

    /// The whole log, replayed by the auditor's engine against the latest
    /// checkpoint: signatures, key rules, root. Panics on any failure.
    pub async fn assert_log_verifies(&self) {
        let store = self.store();
        let log = self.state.registry.log();
        let cp = log
            .reader(store.as_ref())
            .latest()
            .await
            .expect("checkpoint");
        let mut auditor = consentry::audit::Auditor::new(log.origin(), log.verifier().clone());
        let opened = auditor
            .open_checkpoint(&cp.note)
            .expect("checkpoint verifies");
        assert_eq!(opened.size, cp.size);
        let docs = store.documents_from(0, u32::MAX).await.expect("documents");
        assert_eq!(docs.len() as u64, cp.size, "every document is in the log");
        let entries: Vec<Vec<u8>> = docs
            .iter()
            .map(|d| d.doc.log_entry().expect("entry"))
            .collect();
        auditor.replay(0, &entries).expect("log replays");
        auditor.finish(&opened).expect("root matches");
        let counts = store.counts().await.expect("counts");
        assert_eq!(counts.log_entries, counts.documents);
    }
}

pub struct Artist {
    pub key: SecretKey,
    pub id: String,
    pub token: String,
}

pub fn artist_envelope(key: &SecretKey, name: &str) -> Envelope {
    let payload = json!({
        "version": 1,
        "key": key.public_key().to_string(),
        "display_name": name,
        "issued_at": Timestamp::now(),
    });
    Envelope::sign(
        PayloadType::Artist,
        &serde_json::to_vec(&consentry::domain::canonical::sorted(payload.clone())).expect("json"),
        &[key],
    )
}

/// A statement payload with the key filled in.
pub fn statement_payload(
    key: &SecretKey,
    works: &[ContentHash],
    consent: Value,
    issued_at: Timestamp,
) -> Value {
    json!({
        "version": 1,
        "key": key.public_key().to_string(),
        "works": works.iter().map(|h| json!({ "hash": h })).collect::<Vec<_>>(),
        "consent": consent,
        "issued_at": issued_at,
    })
}

pub fn sign_statement(key: &SecretKey, payload: &Value) -> Envelope {
    Envelope::sign(
        PayloadType::Statement,
        &serde_json::to_vec(&consentry::domain::canonical::sorted(payload.clone())).expect("json"),
        &[key],
    )
}

pub fn statement(
    key: &SecretKey,
    works: &[ContentHash],
    consent: Value,
    issued_at: Timestamp,
) -> Envelope {
    sign_statement(key, &statement_payload(key, works, consent, issued_at))
}

/// A GET request with a bearer token.
pub fn get_with_token(path: &str, token: &str) -> Request<Body> {
    Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request")
}

pub fn work(n: u64) -> ContentHash {
    ContentHash::of(format!("work {n} {}", random_hex(8)).as_bytes())
}

/// A time `secs` seconds before now.
pub fn ago(secs: i64) -> Timestamp {
    Timestamp::now().plus_secs(-secs)
}

pub fn key_event(
    artist_id: &str,
    action: &str,
    key: &str,
    extra: Value,
    signers: &[&SecretKey],
) -> Envelope {
    let mut payload = json!({
        "version": 1,
        "artist": artist_id,
        "action": action,
        "key": key,
        "issued_at": Timestamp::now(),
    });
    if let (Some(obj), Some(extra)) = (payload.as_object_mut(), extra.as_object()) {
        obj.extend(extra.clone());
    }
    Envelope::sign(
        PayloadType::KeyEvent,
        &serde_json::to_vec(&consentry::domain::canonical::sorted(payload.clone())).expect("json"),
        signers,
    )
}

/// Generates a `#[tokio::test]` per backend for an `async fn(TestApp)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await).await;
                }
            )*
        }
    };
}

/// The real `consentry serve` binary on a port of its own.
pub struct Server {
    pub child: std::process::Child,
    pub base: String,
    pub public_key: String,
    pub dir: std::path::PathBuf,
}

/// A database for a server process: a SQLite file in `dir`, or a fresh PostgreSQL schema.
pub async fn server_database(
    backend: Backend,
    dir: &std::path::Path,
) -> (String, Option<Location>) {
    match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.join("registry.db").display()),
            None,
        ),
        Backend::Postgres => {
            let schema = create_postgres_schema().await;
            (
                postgres_schema_url(&schema),
                Some(Location::Postgres { schema }),
            )
        }
    }
}

impl Server {
    /// Starts the server and waits until it listens.
    pub async fn start(dir: &Path, database_url: &str) -> Server {
        Self::start_with(dir, database_url, &[]).await
    }

    /// Starts the server with extra `serve` arguments.
    pub async fn start_with(dir: &Path, database_url: &str, extra: &[&str]) -> Server {
        Self::start_logging(dir, database_url, extra, None).await
    }

    /// Writes a new admin key to `admin.key` in `dir` and starts the server
    /// with it (and `extra`), so [`Server::create_lab`] can work.
    pub async fn start_with_admin(dir: &Path, database_url: &str, extra: &[&str]) -> Server {
        let admin = consentry::crypto::SecretKey::generate();
        admin
            .write_new_file(&dir.join("admin.key"))
            .expect("admin key");
        let admin_arg = admin.public_key().to_string();
        let mut args = vec!["--admin-key", admin_arg.as_str()];
        args.extend_from_slice(extra);
        Self::start_with(dir, database_url, &args).await
    }

    /// The log's verifier key, as this server publishes it.
    pub async fn verifier_key(&self) -> String {
        consentry::cli::client::Client::new(&self.base)
            .expect("client")
            .get_json("/v1/log")
            .await
            .expect("log")["verifier_key"]
            .as_str()
            .expect("key")
            .to_owned()
    }

    /// Starts the server; with `log`, its log (at `debug`) goes to that file.
    /// It is waited for on tokio's blocking pool.
    pub async fn start_logging(
        dir: &Path,
        database_url: &str,
        extra: &[&str],
        log: Option<&Path>,
    ) -> Server {
        let server = Self::spawn(dir, database_url, extra, log);
        off_runtime(move || server.until_listening()).await
    }

    /// [`Server::start_with`] for `#[test]` functions: waits on this thread.
    pub fn start_blocking(dir: &Path, database_url: &str, extra: &[&str]) -> Server {
        assert_outside_runtime("Server::start_with().await");
        Self::spawn(dir, database_url, extra, None).until_listening()
    }

    /// The `serve` child, not yet listening (its address is still unknown).
    fn spawn(dir: &Path, database_url: &str, extra: &[&str], log: Option<&Path>) -> Server {
        let stderr = match log {
            Some(path) => std::process::Stdio::from(std::fs::File::create(path).expect("log file")),
            None => std::process::Stdio::inherit(),
        };
        let child = Bin::new([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database_url,
            "--key-file",
        ])
        .arg(dir.join("registry.key"))
        .args(extra)
        .env("RUST_LOG", if log.is_some() { "debug" } else { "warn" })
        .spawn(stderr);
        Server {
            child,
            base: String::new(),
            public_key: String::new(),
            dir: dir.to_path_buf(),
        }
    }

    /// Reads the child's stdout until it says where it listens (a panic
    /// here drops, so kills, the child).
    fn until_listening(mut self) -> Server {
        use std::io::BufRead;
        let stdout = self.child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        loop {
            let line = lines
                .next()
                .expect("server exited before listening")
                .expect("read stdout");
            if let Some(k) = line.strip_prefix("consentry registry public key: ") {
                k.clone_into(&mut self.public_key);
            }
            if let Some(addr) = line.strip_prefix("listening on ") {
                addr.clone_into(&mut self.base);
                return self;
            }
        }
    }

    /// Starts the server and returns as soon as it says it is checking its
    /// stored data against the log (it answers 503 `starting` until then).
    pub async fn start_until_checking(dir: &Path, database_url: &str) -> StartingServer {
        let server = Self::spawn(dir, database_url, &[], None);
        off_runtime(move || {
            use std::io::BufRead;
            let mut server = server;
            let stdout = server.child.stdout.take().expect("stdout");
            let mut lines = std::io::BufReader::new(stdout).lines();
            loop {
                let line = lines
                    .next()
                    .expect("server exited before checking")
                    .expect("read stdout");
                if let Some(rest) = line.strip_prefix("checking stored data against the log; ") {
                    let base = rest.split_whitespace().next().expect("address");
                    base.clone_into(&mut server.base);
                    return StartingServer { server, lines };
                }
            }
        })
        .await
    }

    /// SIGKILL: no shutdown hooks, no flushing.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A dataset builder, registered through the CLI with `admin.key` of the
    /// server's folder: its key goes to `lab.key`; returns its public key.
    pub async fn create_lab(&self) -> String {
        let lab = ok(&self.cli(&["keygen", "--out", "lab.key"]).await)
            .trim()
            .to_owned();
        ok(&self
            .cli(&[
                "builder",
                "create",
                "--admin-key",
                "admin.key",
                "--name",
                "Lab",
                "--key",
                &lab,
            ])
            .await);
        lab
    }

    /// Runs the CLI against this server, in the server's folder, without
    /// blocking the runtime ([`Bin::run`]). The future borrows neither the
    /// server nor `args`, so a closure may build the arguments and return it.
    pub fn cli(&self, args: &[&str]) -> impl Future<Output = Output> + use<> {
        Bin::new(args)
            .env("CONSENTRY_URL", &self.base)
            .current_dir(&self.dir)
            .run()
    }
}

/// A `serve` child that is still checking its stored data.
pub struct StartingServer {
    server: Server,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl StartingServer {
    /// Where it answers.
    pub fn base(&self) -> &str {
        &self.server.base
    }

    /// Waits until it serves.
    pub async fn until_listening(self) -> Server {
        off_runtime(move || {
            let StartingServer { mut server, lines } = self;
            for line in lines {
                let line = line.expect("read stdout");
                if let Some(k) = line.strip_prefix("consentry registry public key: ") {
                    k.clone_into(&mut server.public_key);
                }
                if let Some(addr) = line.strip_prefix("listening on ") {
                    assert_eq!(addr, server.base, "it serves where it said it would");
                    return server;
                }
            }
            panic!("server exited before listening");
        })
        .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A dataset builder registered over HTTP with the `admin` key: its key and
/// a client logged in with it.
pub async fn builder_client(
    base: &str,
    admin: &SecretKey,
) -> (SecretKey, consentry::cli::client::Client) {
    let mut admin_client = consentry::cli::client::Client::new(base).expect("client");
    admin_client.login(admin).await.expect("admin login");
    let lab = SecretKey::generate();
    admin_client
        .post(
            "/v1/builders",
            &json!({ "name": "Lab", "key": lab.public_key().to_string() }),
        )
        .await
        .expect("builder");
    let mut builder = consentry::cli::client::Client::new(base).expect("client");
    builder.login(&lab).await.expect("builder login");
    (lab, builder)
}

/// Generates a `#[tokio::test]` per backend for an `async fn(Backend)`.
#[macro_export]
macro_rules! both_backends_raw {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// The CLI's stdout, after asserting it succeeded (stderr shown otherwise).
#[track_caller]
pub fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The CLI's stderr, after asserting it failed (its output shown otherwise).
#[track_caller]
pub fn fails(out: &std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "succeeded; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

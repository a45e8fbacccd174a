//! `consentry serve`: configuration, startup and graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::Context;

use axum::extract::Request;
use axum::response::IntoResponse;
use axum::Router;
use tower::ServiceExt;

use crate::auth::Auth;
use crate::crypto::{PublicKey, SecretKey};
use crate::http::error::ApiError;
use crate::http::{router, AppState};
use crate::registry::{Registry, StartupProgress};
use crate::store;
use crate::transparency::TransparencyLog;

pub mod conn;

pub use conn::ConnConfig;

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub database_url: String,
    pub key_file: PathBuf,
    pub admin_key: Option<PublicKey>,
    pub issuer: String,
    pub log_origin: String,
    pub limits: crate::http::limits::LimitConfig,
    pub connections: ConnConfig,
    /// Serve read-only, following the database (`serve --read-only`).
    pub replica: Option<Replica>,
}

/// A read-only replica's settings.
#[derive(Debug, Clone)]
pub struct Replica {
    /// The primary's base URL, for clients whose writes are refused.
    pub primary: Option<String>,
    /// How often the database is read for new checkpoints.
    pub follow_every: std::time::Duration,
    /// Hold only this shard of the works (`serve --shard i/n`).
    pub shard: Option<crate::registry::Shard>,
}

/// Builds the application state from an open store and the registry key.
///
/// # Errors
/// When the store cannot be read or the key cannot be used for tokens.
pub async fn app_state(
    store: Arc<dyn store::Store>,
    registry_key: &SecretKey,
    admin_key: Option<PublicKey>,
    issuer: &str,
    log_origin: &str,
    limits: crate::http::limits::LimitConfig,
) -> anyhow::Result<AppState> {
    app_state_with_progress(
        store,
        registry_key,
        admin_key,
        issuer,
        log_origin,
        limits,
        &StartupProgress::default(),
    )
    .await
}

/// [`app_state`], reporting the start-up check's progress to `progress`.
async fn app_state_with_progress(
    store: Arc<dyn store::Store>,
    registry_key: &SecretKey,
    admin_key: Option<PublicKey>,
    issuer: &str,
    log_origin: &str,
    limits: crate::http::limits::LimitConfig,
    progress: &StartupProgress,
) -> anyhow::Result<AppState> {
    state(
        store,
        registry_key,
        admin_key,
        issuer,
        log_origin,
        limits,
        progress,
        None,
    )
    .await
}

/// The application state over `store`: the registry opened as a primary,
/// or with `read_only` as a replica ([`Registry::open_replica`]).
#[allow(clippy::too_many_arguments)]
async fn state(
    store: Arc<dyn store::Store>,
    registry_key: &SecretKey,
    admin_key: Option<PublicKey>,
    issuer: &str,
    log_origin: &str,
    limits: crate::http::limits::LimitConfig,
    progress: &StartupProgress,
    read_only: Option<crate::http::ReadOnly>,
) -> anyhow::Result<AppState> {
    let log = TransparencyLog::new(log_origin, registry_key.clone())?;
    let registry = match &read_only {
        None => Registry::open(store, log, progress).await?,
        Some(ro) => Registry::open_replica(store, log, progress, ro.shard).await?,
    };
    Ok(AppState {
        registry: Arc::new(registry.with_reserved_key(admin_key)),
        read_only: read_only.map(Arc::new),
        auth: Arc::new(Auth::new(registry_key, issuer)?),
        admin_key,
        registry_key: registry_key.public_key(),
        stats_cache: Arc::default(),
        limits: Arc::new(crate::http::limits::Limits::new(limits)),
    })
}

/// Runs the registry until SIGINT or SIGTERM, then gives in-flight requests
/// `connections.shutdown_timeout` to finish.
///
/// # Errors
/// When the key, the database or the socket cannot be opened.
pub async fn run(config: ServerConfig) -> anyhow::Result<()> {
    // Bind first: a busy port is reported before any key or database file
    // is created.
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let (key, created) = if config.replica.is_some() {
        // A replica signs with the primary's key; it never makes one.
        let key = SecretKey::load(&config.key_file).with_context(|| {
            format!(
                "registry key {}: a replica needs the primary's --key-file",
                config.key_file.display()
            )
        })?;
        (key, false)
    } else {
        SecretKey::load_or_create(&config.key_file)
            .with_context(|| format!("registry key {}", config.key_file.display()))?
    };
    if created {
        tracing::info!(path = %config.key_file.display(), "created a new registry signing key");
    }
    let store = if config.replica.is_some() {
        let store = store::open_read_only(&config.database_url)
            .await
            .context("opening the database to read only")?;
        tracing::info!(backend = store.backend(), "database open to read only");
        store
    } else {
        let store = store::open(&config.database_url)
            .await
            .context("opening the database")?;
        tracing::info!(
            backend = store.backend(),
            "database ready, migrations applied"
        );
        store
    };
    let addr = listener.local_addr()?;
    // The listener answers from now on: 503 `starting` (with the check's
    // progress) until the stored data has been checked against the log,
    // then the registry itself.
    println!("checking stored data against the log; http://{addr} answers 503 until it is done");
    let progress = Arc::new(StartupProgress::default());
    let ready: Arc<OnceLock<Router>> = Arc::default();
    let (failed, on_failure) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(conn::serve(
        listener,
        starting_router(Arc::clone(&ready), Arc::clone(&progress)),
        config.connections,
        async {
            tokio::select! {
                () = shutdown_signal() => {},
                _ = on_failure => {},
            }
        },
    ));
    let opened = state(
        store,
        &key,
        config.admin_key,
        &config.issuer,
        &config.log_origin,
        config.limits,
        &progress,
        config.replica.as_ref().map(|r| crate::http::ReadOnly {
            primary: r.primary.clone(),
            shard: r.shard,
        }),
    )
    .await;
    let state = match opened {
        Ok(state) => state,
        Err(e) => {
            let _ = failed.send(());
            let _ = serving.await;
            return Err(e);
        }
    };
    println!("consentry registry public key: {}", key.public_key());
    println!("transparency log origin: {}", state.registry.log().origin());
    println!(
        "transparency log verifier key: {}",
        state.registry.log().verifier().to_text()
    );
    if let Some(replica) = &config.replica {
        let registry = Arc::clone(&state.registry);
        let every = replica.follow_every;
        tokio::spawn(async move { follow(&registry, every).await });
        println!(
            "read-only replica: following the database every {} ms; writes go to {}",
            every.as_millis(),
            replica.primary.as_deref().unwrap_or("the primary")
        );
        if let Some(shard) = replica.shard {
            println!("shard {shard}: this node holds and checks only the works of its hash range");
        }
    }
    let _ = ready.set(router(state));
    println!("listening on http://{addr}");
    tracing::info!(%addr, public_key = %key.public_key(), "serving");
    serving.await.context("the server task failed")?;
    tracing::info!("shut down");
    Ok(())
}

/// A read-only replica's application state over `store` (opened with
/// [`store::open_read_only`]), as `serve --read-only` builds it: the
/// primary's key, issuer and log origin; `read_only` names the primary to
/// writers and, for a shard, the works it holds.
///
/// # Errors
/// When the store cannot be read or disagrees with the log.
pub async fn replica_app_state(
    store: Arc<dyn store::Store>,
    registry_key: &SecretKey,
    admin_key: Option<PublicKey>,
    issuer: &str,
    log_origin: &str,
    limits: crate::http::limits::LimitConfig,
    read_only: crate::http::ReadOnly,
) -> anyhow::Result<AppState> {
    state(
        store,
        registry_key,
        admin_key,
        issuer,
        log_origin,
        limits,
        &StartupProgress::default(),
        Some(read_only),
    )
    .await
}

/// Keeps a replica's consent index level with its database, every `every`.
async fn follow(registry: &Registry, every: std::time::Duration) {
    let mut failing = false;
    loop {
        tokio::time::sleep(every).await;
        match registry.follow().await {
            Ok(f) => {
                if f.to > f.from {
                    tracing::debug!(from = f.from, to = f.to, "replica followed the log");
                }
                if failing {
                    tracing::info!(size = f.to, "replica follows the database again");
                    failing = false;
                }
            }
            Err(e) => {
                if !failing {
                    tracing::error!(error = %e, "replica cannot follow the database; it serves its last checkpoint");
                }
                failing = true;
            }
        }
    }
}

/// What the listener serves while the registry starts: every request is
/// answered 503 `starting` until `ready` holds the registry's router, then
/// passed to it.
fn starting_router(ready: Arc<OnceLock<Router>>, progress: Arc<StartupProgress>) -> Router {
    Router::new().fallback(move |request: Request| {
        let (ready, progress) = (Arc::clone(&ready), Arc::clone(&progress));
        async move {
            match ready.get() {
                Some(app) => match app.clone().oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                },
                None => {
                    let (checked, total) = progress.get();
                    ApiError::starting(checked, total).into_response()
                }
            }
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

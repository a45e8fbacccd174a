//! `consentry serve`: configuration, startup and graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::auth::Auth;
use crate::crypto::{PublicKey, SecretKey};
use crate::http::{router, AppState};
use crate::registry::Registry;
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
    let log = TransparencyLog::new(log_origin, registry_key.clone())?;
    Ok(AppState {
        registry: Arc::new(
            Registry::new(store, log)
                .await?
                .with_reserved_key(admin_key),
        ),
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
    let (key, created) = SecretKey::load_or_create(&config.key_file)
        .with_context(|| format!("registry key {}", config.key_file.display()))?;
    if created {
        tracing::info!(path = %config.key_file.display(), "created a new registry signing key");
    }
    let store = store::open(&config.database_url)
        .await
        .context("opening the database")?;
    tracing::info!(
        backend = store.backend(),
        "database ready, migrations applied"
    );
    let state = app_state(
        store,
        &key,
        config.admin_key,
        &config.issuer,
        &config.log_origin,
        config.limits,
    )
    .await?;
    let addr = listener.local_addr()?;
    println!("consentry registry public key: {}", key.public_key());
    println!("transparency log origin: {}", state.registry.log().origin());
    println!(
        "transparency log verifier key: {}",
        state.registry.log().verifier().to_text()
    );
    println!("listening on http://{addr}");
    tracing::info!(%addr, public_key = %key.public_key(), "serving");
    conn::serve(
        listener,
        router(state),
        config.connections,
        shutdown_signal(),
    )
    .await;
    tracing::info!("shut down");
    Ok(())
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

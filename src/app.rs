//! The application: builds the state, binds the listener, serves until told to stop,
//! then shuts down in order (stop accepting → finish in-flight requests → flush clicks →
//! close the store).

use crate::cache::CachedStore;
use crate::clicks::{self, ClickRecorder, ClickWriter};
use crate::config::{Settings, StoreTarget};
use crate::http;
use crate::store::{PostgresStore, RetryingStore, SqliteStore, Store};
use crate::telemetry::Metrics;
use anyhow::Context;
use axum::ServiceExt;
use axum::extract::Request;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

/// What every handler can reach. Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    /// Where users, urls and events live, seen through the caches.
    pub store: Arc<dyn Store>,
    /// The same store as `store`, for what only the cache offers: redirect lookups that
    /// share `Arc`s instead of copying, and the cache's health.
    pub cache: Arc<CachedStore>,
    /// Hands each redirect's click event to the background writer.
    pub clicks: ClickRecorder,
    /// Renders `/metrics`.
    pub metrics: Metrics,
    /// The settings the process started with.
    pub settings: Arc<Settings>,
}

/// A built application, bound to its port but not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    click_writer: ClickWriter,
}

/// Opens (and migrates) the store the settings select.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let db = &settings.database;
    let store: Arc<dyn Store> = match db.target()? {
        StoreTarget::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating data directory {}", dir.display()))?;
            }
            let store = SqliteStore::open(&path, db.db_pool_size, db.timeout())
                .await
                .with_context(|| format!("opening the embedded store at {}", path.display()))?;
            Arc::new(store)
        }
        StoreTarget::Postgres(url) => {
            Arc::new(PostgresStore::connect(&url, &db.postgres_options())?)
        }
    };
    store.migrate().await.context("migrating the schema")?;
    Ok(Arc::new(RetryingStore::new(store)))
}

impl Application {
    /// Opens the store, migrates it, starts the click writer and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::install()?;
        let cache = CachedStore::start(open_store(&settings).await?, &settings.cache)?;
        let store: Arc<dyn Store> = cache.clone();
        spawn_prewarm(cache.clone(), settings.cache.prewarm);
        let (clicks, click_writer) = clicks::start(
            store.clone(),
            settings.clicks.click_queue,
            settings.clicks.click_batch,
            settings.shutdown_timeout(),
        );
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let state = AppState {
            store,
            cache,
            clicks,
            metrics,
            settings: Arc::new(settings),
        };
        Ok(Self {
            listener,
            state,
            click_writer,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` completes, then drains: in-flight requests get up to the
    /// shutdown timeout, queued clicks are written, the store is closed.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            state,
            click_writer,
        } = self;
        let grace = state.settings.shutdown_timeout();
        let store = state.store.clone();
        // Trailing slashes are trimmed before routing, so `/users/` is `/users`.
        let app = NormalizePathLayer::trim_trailing_slash().layer(http::router(state));
        let stopping = tokio_util::sync::CancellationToken::new();
        let signal = {
            let stopping = stopping.clone();
            async move {
                shutdown.await;
                tracing::info!("shutting down: no new connections, finishing in-flight requests");
                stopping.cancel();
            }
        };
        let server = axum::serve(listener, ServiceExt::<Request>::into_make_service(app))
            .with_graceful_shutdown(signal);
        let deadline = async {
            stopping.cancelled().await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            result = server => result.context("serving HTTP")?,
            () = deadline => tracing::warn!("in-flight requests still running after the shutdown timeout; stopping anyway"),
        }
        click_writer.shutdown().await;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Loads the most-clicked links into the caches without delaying start-up.
fn spawn_prewarm(cache: Arc<CachedStore>, limit: i64) {
    tokio::spawn(async move {
        match cache.prewarm(limit).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(links = n, "caches pre-warmed"),
            Err(err) => tracing::warn!(error = %err, "cache pre-warming failed"),
        }
    });
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

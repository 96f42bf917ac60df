//! The application: builds the state, binds the listener, serves until told to stop,
//! then shuts down in order (stop accepting → finish in-flight requests → flush clicks →
//! close the store).

use crate::auth::KeyRing;
use crate::cache::CachedStore;
use crate::clicks::{self, ClickRecorder, ClickWriter};
use crate::config::{AuthMode, Settings, StoreTarget};
use crate::http;
use crate::http::client_ip::TrustedProxies;
use crate::http::rate_limit::RateLimits;
use crate::safety::Safety;
use crate::store::{PostgresStore, RetryingStore, SqliteStore, Store};
use crate::telemetry::Metrics;
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
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
    /// Start-up and shutdown state, for `/ready`.
    pub health: Arc<Health>,
    /// Whose `X-Forwarded-For` to believe.
    pub proxies: Arc<TrustedProxies>,
    /// Where links may lead: the blocklist and the target rules.
    pub safety: Arc<Safety>,
    /// Recognises API keys (`KURZ_AUTH=keys`) and counts their use.
    pub keys: KeyRing,
    /// Per-client limits on writes.
    pub rate_limits: RateLimits,
    /// Permits for requests in flight; none left means shed load.
    pub in_flight: Arc<Semaphore>,
    /// The settings the process started with.
    pub settings: Arc<Settings>,
}

/// A built application, bound to its port but not yet serving.
pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
    click_writer: ClickWriter,
}

/// Opens the store the settings select (not yet migrated), with retries around it.
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
    Ok(Arc::new(RetryingStore::new(store)))
}

/// What readiness reports besides the store's own answer.
#[derive(Debug, Default)]
pub struct Health {
    /// The schema is migrated. False while a replica waits for its database at start-up.
    pub schema_ready: AtomicBool,
    /// Shutdown has begun: report not-ready so load balancers send traffic elsewhere.
    pub draining: AtomicBool,
}

/// Migrates now when the store answers. When it does not (a database still starting, a
/// network not yet up), keeps trying in the background while the replica serves and
/// reports not-ready, instead of crashing into a restart loop. Pre-warms the caches once
/// the schema is there.
async fn migrate_or_wait(
    cache: Arc<CachedStore>,
    health: Arc<Health>,
    prewarm: i64,
) -> anyhow::Result<()> {
    match cache.migrate().await {
        Ok(()) => health.schema_ready.store(true, Ordering::Release),
        Err(err) if err.is_transient() || cache.kind() == "postgres" => {
            tracing::warn!(error = %err, "database not reachable yet; serving as not-ready and retrying");
            let (cache, health) = (cache.clone(), health.clone());
            tokio::spawn(async move {
                let mut wait = Duration::from_millis(250);
                loop {
                    tokio::time::sleep(wait).await;
                    match cache.migrate().await {
                        Ok(()) => break,
                        Err(err) => tracing::warn!(error = %err, "database still not reachable"),
                    }
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                tracing::info!("schema migrated; ready");
                health.schema_ready.store(true, Ordering::Release);
                spawn_prewarm(cache, prewarm);
            });
            return Ok(());
        }
        Err(err) => return Err(anyhow::Error::new(err).context("migrating the schema")),
    }
    spawn_prewarm(cache, prewarm);
    Ok(())
}

impl Application {
    /// Opens the store, migrates it, starts the click writer and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::install()?;
        let cache = CachedStore::start(open_store(&settings).await?, &settings.cache)?;
        let store: Arc<dyn Store> = cache.clone();
        let health = Arc::new(Health::default());
        migrate_or_wait(cache.clone(), health.clone(), settings.cache.prewarm).await?;
        let (clicks, click_writer) = clicks::start(
            store.clone(),
            settings.clicks.click_queue,
            settings.clicks.click_batch,
            settings.shutdown_timeout(),
        );
        let proxies = Arc::new(
            TrustedProxies::parse(&settings.trusted_proxies)
                .map_err(|e| anyhow::anyhow!("KURZ_TRUSTED_PROXIES: {e}"))?,
        );
        let safety = Arc::new(Safety::start(&settings.safety)?);
        let keys = KeyRing::new(store.clone(), settings.security.key_cache());
        if settings.security.auth == AuthMode::Keys {
            keys.spawn_flusher();
        }
        let rate_limits = RateLimits::new(&settings.security, cache.shared_rate_limit());
        rate_limits.spawn_forgetter();
        warn_if_open_to_the_network(&settings);
        let metrics_listener = match settings.metrics_listen {
            Some(address) => Some(
                http::server::bind(address)
                    .with_context(|| format!("binding the metrics listener {address}"))?,
            ),
            None => None,
        };
        let listener = http::server::bind(settings.listen)
            .with_context(|| format!("binding {}", settings.listen))?;
        let state = AppState {
            store,
            cache,
            clicks,
            metrics,
            health,
            proxies,
            safety,
            keys,
            rate_limits,
            in_flight: Arc::new(Semaphore::new(settings.security.max_in_flight.max(1))),
            settings: Arc::new(settings),
        };
        Ok(Self {
            listener,
            metrics_listener,
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
            metrics_listener,
            state,
            click_writer,
        } = self;
        let grace = state.settings.shutdown_timeout();
        let store = state.store.clone();
        let keys = state.keys.clone();
        let health = state.health.clone();
        let drain_delay = state.settings.drain_delay();
        let header_timeout = state.settings.security.header_timeout();
        // Trailing slashes are trimmed before routing, so `/users/` is `/users`.
        if let Some(listener) = metrics_listener {
            spawn_metrics_listener(listener, http::metrics_router(state.clone()));
        }
        let app = NormalizePathLayer::trim_trailing_slash().layer(http::router(state));
        let stopping = tokio_util::sync::CancellationToken::new();
        let signal = {
            let stopping = stopping.clone();
            async move {
                shutdown.await;
                health.draining.store(true, Ordering::Release);
                if !drain_delay.is_zero() {
                    // Keep serving while load balancers notice `/ready` failing.
                    tracing::info!(
                        delay_ms = drain_delay.as_millis() as u64,
                        "draining: not ready, still serving"
                    );
                    tokio::time::sleep(drain_delay).await;
                }
                tracing::info!("shutting down: no new connections, finishing in-flight requests");
                stopping.cancel();
            }
        };
        let server = http::server::serve(listener, app, header_timeout, signal);
        let deadline = async {
            stopping.cancelled().await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            () = server => {}
            () = deadline => tracing::warn!("in-flight requests still running after the shutdown timeout; stopping anyway"),
        }
        click_writer.shutdown().await;
        keys.flush_uses().await;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// In `open` mode anyone who can reach the port may change or delete any link: say so
/// loudly when that port is not loopback-only.
fn warn_if_open_to_the_network(settings: &Settings) {
    if settings.security.auth == AuthMode::Open && !settings.listen.ip().is_loopback() {
        tracing::warn!(
            listen = %settings.listen,
            "KURZ_AUTH=open on a non-loopback address: anyone who can reach this port can \
             create, change and delete every link and user. Set KURZ_AUTH=keys (see `kurz keys`) \
             unless a trusted network or proxy guards it"
        );
    }
}

/// Serves `/metrics` on its own listener until the process ends (it holds no requests that
/// shutdown must wait for).
fn spawn_metrics_listener(listener: TcpListener, router: axum::Router) {
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).await {
            tracing::error!(error = %err, "metrics listener failed");
        }
    });
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

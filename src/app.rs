//! The application: builds the services, binds the listener, serves until told to stop,
//! then shuts down in order (stop accepting → finish in-flight requests → flush clicks →
//! close the store). It imports the HTTP layer; the HTTP layer never imports it.

use crate::auth::KeyRing;
use crate::cache::CachedLinks;
use crate::caps::VisitCaps;
use crate::clicks::classify::Classifier;
use crate::clicks::geo::GeoIp;
use crate::clicks::{self, ClickWriter};
use crate::config::{AuthMode, ClickSettings, DatabaseSettings, Settings, StoreTarget};
use crate::http::client_ip::TrustedProxies;
use crate::http::openapi::Document;
use crate::http::{self, App, AppState, Health};
use crate::limits::RateLimits;
use crate::safety::Safety;
use crate::store::{PostgresStore, Schema, SqliteStore, Stores};
use crate::telemetry::Metrics;
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

/// A built application, bound to its port but not yet serving.
pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
    click_writer: ClickWriter,
    /// Closed last, after the clicks are written.
    stores: Stores,
}

/// Opens the store the settings select (not yet migrated).
pub async fn open_store(settings: &Settings) -> anyhow::Result<Stores> {
    let db = &settings.database;
    open_target(db.target()?, db).await
}

/// Opens the store at `target` with the pool settings of `db` (its migration URL applies
/// to `db`'s own PostgreSQL only).
pub async fn open_target(target: StoreTarget, db: &DatabaseSettings) -> anyhow::Result<Stores> {
    Ok(match target {
        StoreTarget::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating data directory {}", dir.display()))?;
            }
            let store = SqliteStore::open(&path, db.db_pool_size, db.timeout())
                .await
                .with_context(|| format!("opening the embedded store at {}", path.display()))?;
            Stores::of(store)
        }
        StoreTarget::Postgres(url) => {
            let mut options = db.postgres_options();
            if db.target().ok() != Some(StoreTarget::Postgres(url.clone())) {
                options.migration_url = None;
            }
            Stores::of(PostgresStore::connect(&url, &options)?)
        }
    })
}

/// Migrates now when the store answers. When it does not (a database still starting, a
/// network not yet up), keeps trying in the background while the replica serves and
/// reports not-ready, instead of crashing into a restart loop. Pre-warms the caches once
/// the schema is there.
async fn migrate_or_wait(
    schema: Arc<dyn Schema>,
    links: Arc<CachedLinks>,
    health: Arc<Health>,
    prewarm: i64,
) -> anyhow::Result<()> {
    match schema.migrate().await {
        Ok(()) => {
            schema.start_upkeep();
            health.set_schema_ready();
        }
        Err(err) if err.is_transient() || schema.kind() == "postgres" => {
            tracing::warn!(error = %err, "database not reachable yet; serving as not-ready and retrying");
            tokio::spawn(async move {
                let mut wait = Duration::from_millis(250);
                loop {
                    tokio::time::sleep(wait).await;
                    match schema.migrate().await {
                        Ok(()) => break,
                        Err(err) => tracing::warn!(error = %err, "database still not reachable"),
                    }
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                tracing::info!("schema migrated; ready");
                schema.start_upkeep();
                health.set_schema_ready();
                spawn_prewarm(links, prewarm);
            });
            return Ok(());
        }
        Err(err) => return Err(anyhow::Error::new(err).context("migrating the schema")),
    }
    spawn_prewarm(links, prewarm);
    Ok(())
}

impl Application {
    /// Opens the store, migrates it, starts the click writer and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::install()?;
        let stores = open_store(&settings).await?;
        let single_process = stores.schema.kind() == "sqlite";
        let links = CachedLinks::start(stores.links.clone(), single_process, &settings.cache)?;
        let health = Arc::new(Health::default());
        migrate_or_wait(
            stores.schema.clone(),
            links.clone(),
            health.clone(),
            settings.cache.prewarm,
        )
        .await?;
        let classifier = Arc::new(classifier(&settings.clicks)?);
        let (clicks, click_writer) = clicks::start(
            stores.events.clone(),
            stores.stats.clone(),
            settings.clicks.click_analytics.then(|| classifier.clone()),
            settings.clicks.click_queue,
            settings.clicks.click_batch,
            settings.database.timeout(),
            settings.shutdown_timeout(),
        );
        if let Some(days) = settings.clicks.click_retention_days {
            clicks::retention::spawn(stores.events.clone(), days);
        }
        let proxies = TrustedProxies::parse(&settings.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("KURZ_TRUSTED_PROXIES: {e}"))?;
        let keys = KeyRing::new(stores.keys.clone(), settings.security.key_cache());
        if settings.security.auth == AuthMode::Keys {
            keys.spawn_flusher();
        }
        let rate_limits = RateLimits::new(&settings.security, links.shared_rate_limit());
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
        let caps = VisitCaps::new(links.clone());
        let ui_secret = match &settings.ui.session_secret {
            Some(secret) if secret.expose().chars().count() < 32 => {
                anyhow::bail!("KURZ_SESSION_SECRET must be 32 characters or more")
            }
            Some(secret) => secret.expose().as_bytes().to_vec(),
            None => {
                if settings.ui.enabled() && settings.security.auth == AuthMode::Keys {
                    tracing::warn!(
                        "KURZ_SESSION_SECRET is not set: web UI sign-ins hold only on this process \
                         (another replica, or a restart, signs people out); give every replica the same one"
                    );
                }
                crate::ui::session::new_token().into_bytes()
            }
        };
        let state = AppState::new(App {
            links,
            classifier,
            caps,
            ui_secret,
            password_work: Arc::new(Semaphore::new(PASSWORD_WORK)),
            users: stores.users.clone(),
            events: stores.events.clone(),
            stats: stores.stats.clone(),
            schema: stores.schema.clone(),
            clicks,
            metrics,
            health,
            proxies,
            safety: Safety::start(&settings.safety)?,
            keys,
            rate_limits,
            in_flight: Arc::new(Semaphore::new(settings.security.max_in_flight.max(1))),
            document: Document::build(),
            settings,
        });
        Ok(Self {
            listener,
            metrics_listener,
            state,
            click_writer,
            stores,
        })
    }

    /// The state the routes will be served with (for programs that serve more routes).
    pub fn state(&self) -> AppState {
        self.state.clone()
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
            stores,
        } = self;
        let grace = state.settings.shutdown_timeout();
        let drain_delay = state.settings.drain_delay();
        let header_timeout = state.settings.security.header_timeout();
        if let Some(listener) = metrics_listener {
            spawn_metrics_listener(listener, http::metrics_router(state.clone()));
        }
        // Trailing slashes are trimmed before routing, so `/users/` is `/users`.
        let app = NormalizePathLayer::trim_trailing_slash().layer(http::router(state.clone()));
        let stopping = tokio_util::sync::CancellationToken::new();
        let signal = {
            let (stopping, health) = (stopping.clone(), state.health.clone());
            async move {
                shutdown.await;
                health.start_draining();
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
        state.keys.flush_uses().await;
        state.links.stop().await;
        stores.schema.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// In `open` mode anyone who can reach the port may change or delete any link: say so
/// loudly when that port is not loopback-only.
/// Argon2id hashes and checks at once (each holds 19 MiB while it runs).
const PASSWORD_WORK: usize = 4;

/// The classifier of visits, with the country database when one is configured: the click
/// writer's (unless analytics are off) and the redirect rules'.
fn classifier(settings: &ClickSettings) -> anyhow::Result<Classifier> {
    let geo = settings.geoip_db.as_deref().map(GeoIp::open).transpose()?;
    Ok(Classifier::new(geo))
}

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
fn spawn_prewarm(links: Arc<CachedLinks>, limit: i64) {
    tokio::spawn(async move {
        match links.prewarm(limit).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(links = n, "caches pre-warmed"),
            Err(err) => tracing::warn!(error = %err, "cache pre-warming failed"),
        }
    });
}

/// Completes on SIGTERM or Ctrl-C (SIGINT). The handlers are installed here, when it is
/// called, not when the future is first polled: the server loop polls it only between
/// accepts, and a SIGTERM that came before that (a busy machine, an orchestrator stopping a
/// replica that had just answered its first request) took the default action and killed
/// the process without draining.
#[cfg(unix)]
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = [SignalKind::terminate(), SignalKind::interrupt()].map(|kind| {
        signal(kind)
            .inspect_err(|err| tracing::error!(error = %err, ?kind, "cannot listen for a signal"))
            .ok()
    });
    async move {
        let [terminate, interrupt] = handlers.map(|handler| async move {
            match handler {
                Some(mut handler) => {
                    handler.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        });
        tokio::select! {
            () = terminate => {},
            () = interrupt => {},
        }
    }
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::Application;
    use crate::config::Settings;
    use axum::Router;
    use axum::routing::get;
    use serde_json::json;

    /// There is no second way to a redirect in front of the router: a route added beside
    /// `/{code}` answers even while a link with that very code sits in the cache.
    #[tokio::test]
    async fn a_new_one_segment_route_wins_over_a_cached_link_with_its_code() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let app = Application::build(Settings::embedded(dir.path().to_path_buf()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let extra = Router::new().route("/fresh", get(|| async { "the new route" }));
        let router = crate::http::router(app.state()).merge(extra);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let base = format!(
            "http://{}",
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let send = |request: reqwest::RequestBuilder| async move {
            request.send().await.unwrap_or_else(|e| panic!("{e}"))
        };
        let link = json!({ "original_url": "https://example.com/", "short_code": "fresh" });
        let created = send(client.post(format!("{base}/urls")).json(&link)).await;
        assert_eq!(created.status(), 201);
        // Twice: the first fills the in-process cache, the second is answered from it.
        for _ in 0..2 {
            let followed = send(client.get(format!("{base}/urls/fresh/redirect"))).await;
            assert_eq!(followed.status(), 302);
        }
        let route = send(client.get(format!("{base}/fresh"))).await;
        assert_eq!(route.status(), 200);
        assert_eq!(route.text().await.ok().as_deref(), Some("the new route"));
    }
}

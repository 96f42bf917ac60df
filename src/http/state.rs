//! The state every request can reach: one `Arc`, so handing it to a handler or a layer
//! costs one reference count, however much it holds.

use super::client_ip::TrustedProxies;
use super::openapi::Document;
use crate::auth::KeyRing;
use crate::cache::CachedLinks;
use crate::caps::VisitCaps;
use crate::clicks::ClickRecorder;
use crate::clicks::classify::Classifier;
use crate::config::Settings;
use crate::limits::RateLimits;
use crate::safety::Safety;
use crate::store::{EventStore, Schema, StatsStore, UserStore};
use crate::telemetry::Metrics;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Semaphore;

/// What every handler and layer can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<App>);

impl AppState {
    pub fn new(app: App) -> Self {
        Self(Arc::new(app))
    }
}

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

/// The services of one running application.
pub struct App {
    /// Short links, seen through the caches (the only resource that is cached).
    pub links: Arc<CachedLinks>,
    pub users: Arc<dyn UserStore>,
    pub events: Arc<dyn EventStore>,
    /// The click counters the stats are read from.
    pub stats: Arc<dyn StatsStore>,
    /// The database itself: health and pools.
    pub schema: Arc<dyn Schema>,
    /// Hands each redirect's click event to the background writer.
    pub clicks: ClickRecorder,
    /// Renders `/metrics`.
    pub metrics: Metrics,
    /// Start-up and shutdown state, for `/ready`.
    pub health: Arc<Health>,
    /// Whose `X-Forwarded-For` to believe.
    pub proxies: TrustedProxies,
    /// Where links may lead: the blocklist and the target rules.
    pub safety: Safety,
    /// Recognises API keys (`KURZ_AUTH=keys`) and counts their use.
    pub keys: KeyRing,
    /// Per-client limits on writes (and on link password attempts).
    pub rate_limits: RateLimits,
    /// Reads visitors for links with settings (rules, variants, caps).
    pub classifier: Arc<Classifier>,
    /// Counts capped links' human visits.
    pub caps: VisitCaps,
    /// Permits for Argon2id work (link passwords hashed and checked): each holds 19 MiB
    /// for tens of milliseconds, so only a few run at once.
    pub password_work: Arc<Semaphore>,
    /// Signs the web UI's session cookies (`KURZ_SESSION_SECRET`, or random per process).
    pub ui_secret: Vec<u8>,
    /// Permits for requests in flight; none left means shed load.
    pub in_flight: Arc<Semaphore>,
    /// The API's description, and the access rule of each route it declares.
    pub document: Document,
    /// The settings the process started with.
    pub settings: Settings,
}

/// What readiness reports besides the store's own answer.
#[derive(Debug, Default)]
pub struct Health {
    /// The schema is migrated. False while a replica waits for its database at start-up.
    schema_ready: AtomicBool,
    /// Shutdown has begun: report not-ready so load balancers send traffic elsewhere.
    draining: AtomicBool,
}

impl Health {
    pub fn schema_ready(&self) -> bool {
        self.schema_ready.load(Ordering::Acquire)
    }

    pub fn set_schema_ready(&self) {
        self.schema_ready.store(true, Ordering::Release);
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }
}

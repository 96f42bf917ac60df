//! Typed settings. Every setting is a command-line flag with an environment variable and a
//! default, resolved in that order (flag > environment > default); `kurz --help` prints them all.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `KURZ_LISTEN` | `127.0.0.1:5000` | address the API listens on |
//! | `KURZ_METRICS_LISTEN` | unset | serve `/metrics` on this address instead of the API's |
//! | `KURZ_TRUSTED_PROXIES` | `127.0.0.1,::1` | proxies whose `X-Forwarded-For` is believed (addresses or CIDR networks) |
//! | `DATABASE_URL` | unset | `postgres://…` or `sqlite://…`; wins over the `DATABASE_*` parts |
//! | `DATABASE_NAME`, `DATABASE_HOST`, `DATABASE_PORT`, `DATABASE_USER`, `DATABASE_PASSWORD` | unset | PostgreSQL by parts (the original template's variables) |
//! | `KURZ_DATA_DIR` | `.` | where the embedded store keeps `kurz.db` when no database is configured |
//! | `KURZ_DB_POOL_SIZE` | `8` | connections per pool (SQLite: reader connections) |
//! | `KURZ_DB_TIMEOUT_MS` | `5000` | wait for a connection / SQLite lock before failing with 503 |
//! | `KURZ_DB_STATEMENT_TIMEOUT_MS` | `10000` | PostgreSQL `statement_timeout` (0: the server's; required behind PgBouncer) |
//! | `KURZ_DB_MIGRATION_URL` | unset | direct PostgreSQL URL for migrations when `DATABASE_URL` is PgBouncer |
//! | `KURZ_DB_STATEMENT_CACHE` | `100` | prepared statements cached per PostgreSQL connection (0 behind PgBouncer in transaction mode) |
//! | `KURZ_LIST_CAP` | `10000` | most rows an unpaginated list returns |
//! | `KURZ_MAX_UPLOAD_BYTES` | `67108864` | largest CSV accepted by `POST /users/bulk` |
//! | `KURZ_REQUEST_TIMEOUT_MS` | `30000` | a request running longer answers 503 |
//! | `KURZ_SHUTDOWN_TIMEOUT_MS` | `30000` | how long shutdown waits for in-flight requests |
//! | `KURZ_DRAIN_DELAY_MS` | `0` | after SIGTERM, keep serving this long with `/ready` at 503 before closing the listener |
//! | `KURZ_CLICK_QUEUE` | `100000` | clicks waiting to be written before new ones are dropped (and counted) |
//! | `KURZ_CLICK_BATCH` | `10000` | most clicks written in one transaction |
//! | `REDIS_URL` | unset | Redis for the shared cache and invalidations; unset → no Redis |
//! | `KURZ_REDIS_CLUSTER_NODES` | unset | Redis Cluster seed nodes (`redis://host:port`, comma-separated), instead of `REDIS_URL` |
//! | `KURZ_REDIS_SENTINELS` | unset | Redis Sentinels (`redis://host:26379`, comma-separated), instead of `REDIS_URL` |
//! | `KURZ_REDIS_SENTINEL_MASTER` | unset | the name the sentinels know the primary by (needed with `KURZ_REDIS_SENTINELS`) |
//! | `KURZ_REDIS_SENTINEL_MASTER_PASSWORD` | unset | password of the primary found through Sentinel |
//! | `KURZ_REDIS_PREFIX` | `kurz` | namespace of kurz's Redis keys and channel |
//! | `KURZ_REDIS_TIMEOUT_MS` | `100` | one Redis call longer than this counts as a miss |
//! | `KURZ_CACHE_TTL_SECS` | `300` | lifetime of a link in Redis |
//! | `KURZ_L1_TTL_SECS` | `30` | lifetime of a link in process |
//! | `KURZ_NEGATIVE_TTL_SECS` | `5` | lifetime of an "unknown / inactive code" answer |
//! | `KURZ_L1_MAX_BYTES` | `33554432` | memory bound of the in-process cache |
//! | `KURZ_L1` | `auto` | `auto`, `on`, `off`: when the in-process cache answers |
//! | `KURZ_PREWARM` | `1000` | most-clicked links loaded into the caches at start-up |
//! | `KURZ_AUTH` | `open` | `open` (the contract, no keys) or `keys` (API keys with scopes) |
//! | `KURZ_KEY_CACHE_SECS` | `5` | how long a looked-up API key is trusted (the longest a revocation takes) |
//! | `KURZ_RATE_CREATES_PER_SEC`, `KURZ_RATE_CREATES_BURST` | `100`, `1000` | creates (POST) per client: sustained rate and burst; rate 0: no limit |
//! | `KURZ_RATE_WRITES_PER_SEC`, `KURZ_RATE_WRITES_BURST` | `100`, `1000` | updates and deletes per client: sustained rate and burst |
//! | `KURZ_MAX_IN_FLIGHT` | `2048` | requests handled at once; more answer 503 at once |
//! | `KURZ_HEADER_TIMEOUT_MS` | `30000` | close a connection that sends no complete request head for this long (slow or idle) |
//! | `KURZ_LOG` / `RUST_LOG` | `info` | log filter (`tracing` syntax) |
//! | `KURZ_LOG_FORMAT` | `auto` | `json`, `pretty`, or `auto` (JSON unless stdout is a terminal) |
//! | `KURZ_OTLP_ENDPOINT` | unset | OTLP/HTTP traces endpoint (`…/v1/traces`); needs a build with `--features otlp` |
//! | `KURZ_BLOCKLIST` | unset | blocklist file (hosts, hosts-file lines or URLs); unset → no blocklist |
//! | `KURZ_BLOCKLIST_POLL_MS` | `5000` | how often the blocklist file is checked for changes (0: only on SIGHUP) |
//! | `KURZ_PUBLIC_HOSTS` | unset | `host` or `host:port` names of this service, comma-separated; targets there are refused |
//! | `KURZ_REFUSE_PRIVATE_TARGETS` | `false` | refuse targets that are private, loopback or link-local IP literals or `localhost` |
//! | `KURZ_REPORT_THRESHOLD` | `0` | distinct reporters that deactivate a link (0: reports never deactivate) |

use crate::store::PostgresOptions;
use clap::{Args, ValueEnum};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:5000";
pub const DEFAULT_TRUSTED_PROXIES: &str = "127.0.0.1,::1";
pub const DEFAULT_DATA_DIR: &str = ".";
pub const SQLITE_FILE: &str = "kurz.db";
pub const DEFAULT_DB_POOL_SIZE: u32 = 8;
pub const DEFAULT_DB_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_DB_STATEMENT_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_DB_STATEMENT_CACHE: usize = 100;
pub const DEFAULT_LIST_CAP: i64 = 10_000;
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 30_000;
pub const DEFAULT_SHUTDOWN_TIMEOUT_MS: u64 = 30_000;
pub const DEFAULT_DRAIN_DELAY_MS: u64 = 0;
pub const DEFAULT_CLICK_QUEUE: usize = 100_000;
pub const DEFAULT_CLICK_BATCH: usize = 10_000;
pub const DEFAULT_REDIS_PREFIX: &str = "kurz";
pub const DEFAULT_REDIS_TIMEOUT_MS: u64 = 100;
pub const DEFAULT_CACHE_TTL_SECS: u64 = 300;
pub const DEFAULT_L1_TTL_SECS: u64 = 30;
pub const DEFAULT_NEGATIVE_TTL_SECS: u64 = 5;
pub const DEFAULT_L1_MAX_BYTES: u64 = 32 * 1024 * 1024;
pub const DEFAULT_PREWARM: i64 = 1_000;
pub const DEFAULT_BLOCKLIST_POLL_MS: u64 = 5_000;
pub const DEFAULT_REPORT_THRESHOLD: u32 = 0;
pub const DEFAULT_KEY_CACHE_SECS: u64 = 5;
pub const DEFAULT_RATE_PER_SEC: u32 = 100;
pub const DEFAULT_RATE_BURST: u32 = 1_000;
pub const DEFAULT_MAX_IN_FLIGHT: usize = 2_048;
pub const DEFAULT_HEADER_TIMEOUT_MS: u64 = 30_000;
/// The contract's limit on JSON bodies; not configurable.
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

/// Everything `kurz serve` needs.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "KURZ_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Serve /metrics on this address instead of the API's (keeps it off the public port).
    #[arg(long, env = "KURZ_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Proxies whose X-Forwarded-For is believed: addresses or networks, comma-separated.
    #[arg(long, env = "KURZ_TRUSTED_PROXIES", default_value = DEFAULT_TRUSTED_PROXIES)]
    pub trusted_proxies: String,

    #[command(flatten)]
    pub database: DatabaseSettings,

    /// Most rows an unpaginated list returns.
    #[arg(long, env = "KURZ_LIST_CAP", default_value_t = DEFAULT_LIST_CAP)]
    pub list_cap: i64,

    /// Largest CSV upload accepted by POST /users/bulk, in bytes.
    #[arg(long, env = "KURZ_MAX_UPLOAD_BYTES", default_value_t = DEFAULT_MAX_UPLOAD_BYTES)]
    pub max_upload_bytes: usize,

    /// A request running longer than this answers 503, in milliseconds.
    #[arg(long, env = "KURZ_REQUEST_TIMEOUT_MS", default_value_t = DEFAULT_REQUEST_TIMEOUT_MS)]
    pub request_timeout_ms: u64,

    /// After SIGTERM, how long to keep serving while `/ready` answers 503, before closing the
    /// listener (time for load balancers to stop sending), in milliseconds.
    #[arg(long, env = "KURZ_DRAIN_DELAY_MS", default_value_t = DEFAULT_DRAIN_DELAY_MS)]
    pub drain_delay_ms: u64,

    /// How long shutdown waits for in-flight requests, in milliseconds.
    #[arg(long, env = "KURZ_SHUTDOWN_TIMEOUT_MS", default_value_t = DEFAULT_SHUTDOWN_TIMEOUT_MS)]
    pub shutdown_timeout_ms: u64,

    #[command(flatten)]
    pub clicks: ClickSettings,

    #[command(flatten)]
    pub cache: CacheSettings,

    #[command(flatten)]
    pub safety: SafetySettings,

    #[command(flatten)]
    pub security: SecuritySettings,

    #[command(flatten)]
    pub log: LogSettings,
}

/// Where data lives. Without `DATABASE_URL` or `DATABASE_HOST`/`DATABASE_NAME`, the embedded store.
#[derive(Clone, Args)]
pub struct DatabaseSettings {
    /// Database URL: postgres://user:pass@host:port/db or sqlite://path.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// PostgreSQL database name (with the other DATABASE_* variables, when DATABASE_URL is unset).
    #[arg(long, env = "DATABASE_NAME")]
    pub database_name: Option<String>,
    /// PostgreSQL host.
    #[arg(long, env = "DATABASE_HOST")]
    pub database_host: Option<String>,
    /// PostgreSQL port.
    #[arg(long, env = "DATABASE_PORT")]
    pub database_port: Option<u16>,
    /// PostgreSQL user.
    #[arg(long, env = "DATABASE_USER")]
    pub database_user: Option<String>,
    /// PostgreSQL password.
    #[arg(long, env = "DATABASE_PASSWORD", hide_env_values = true)]
    pub database_password: Option<String>,
    /// Directory of the embedded store's kurz.db.
    #[arg(long, env = "KURZ_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Connections per pool (for SQLite: reader connections; writes use one).
    #[arg(long, env = "KURZ_DB_POOL_SIZE", default_value_t = DEFAULT_DB_POOL_SIZE)]
    pub db_pool_size: u32,
    /// Longest wait for a connection or lock, in milliseconds.
    #[arg(long, env = "KURZ_DB_TIMEOUT_MS", default_value_t = DEFAULT_DB_TIMEOUT_MS)]
    pub db_timeout_ms: u64,
    /// PostgreSQL statement_timeout, in milliseconds.
    #[arg(long, env = "KURZ_DB_STATEMENT_TIMEOUT_MS", default_value_t = DEFAULT_DB_STATEMENT_TIMEOUT_MS)]
    pub db_statement_timeout_ms: u64,
    /// Prepared statements cached per PostgreSQL connection; 0 behind PgBouncer in transaction mode.
    #[arg(long, env = "KURZ_DB_STATEMENT_CACHE", default_value_t = DEFAULT_DB_STATEMENT_CACHE)]
    pub db_statement_cache: usize,
    /// Direct PostgreSQL URL for migrations when DATABASE_URL points at PgBouncer (transaction mode).
    #[arg(long, env = "KURZ_DB_MIGRATION_URL", hide_env_values = true)]
    pub db_migration_url: Option<String>,
}

/// Secrets stay out of logs and panics.
impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field(
                "database_url",
                &self.database_url.as_ref().map(|_| "<redacted>"),
            )
            .field("database_name", &self.database_name)
            .field("database_host", &self.database_host)
            .field("database_port", &self.database_port)
            .field("database_user", &self.database_user)
            .field(
                "database_password",
                &self.database_password.as_ref().map(|_| "<redacted>"),
            )
            .field("data_dir", &self.data_dir)
            .field("db_pool_size", &self.db_pool_size)
            .field("db_timeout_ms", &self.db_timeout_ms)
            .field("db_statement_timeout_ms", &self.db_statement_timeout_ms)
            .field("db_statement_cache", &self.db_statement_cache)
            .field(
                "db_migration_url",
                &self.db_migration_url.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Which store the settings select.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreTarget {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseSettings {
    /// Settings for the embedded store in `data_dir`, everything else default.
    pub fn embedded(data_dir: PathBuf) -> Self {
        Self {
            database_url: None,
            database_name: None,
            database_host: None,
            database_port: None,
            database_user: None,
            database_password: None,
            data_dir,
            db_pool_size: DEFAULT_DB_POOL_SIZE,
            db_timeout_ms: DEFAULT_DB_TIMEOUT_MS,
            db_statement_timeout_ms: DEFAULT_DB_STATEMENT_TIMEOUT_MS,
            db_statement_cache: DEFAULT_DB_STATEMENT_CACHE,
            db_migration_url: None,
        }
    }

    /// `DATABASE_URL` first, then the `DATABASE_*` parts, else the embedded store.
    pub fn target(&self) -> anyhow::Result<StoreTarget> {
        if let Some(url) = self
            .database_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        {
            if let Some(path) = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
            {
                return Ok(StoreTarget::Sqlite(PathBuf::from(path)));
            }
            if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                return Ok(StoreTarget::Postgres(url.to_owned()));
            }
            anyhow::bail!("DATABASE_URL must start with postgres://, postgresql:// or sqlite://");
        }
        if self.database_host.is_some() || self.database_name.is_some() {
            let mut url = url::Url::parse("postgres://localhost")?;
            let invalid = |_| anyhow::anyhow!("DATABASE_* variables do not form a valid URL");
            url.set_host(Some(self.database_host.as_deref().unwrap_or("localhost")))?;
            url.set_port(Some(self.database_port.unwrap_or(5432)))
                .map_err(invalid)?;
            url.set_username(self.database_user.as_deref().unwrap_or("postgres"))
                .map_err(invalid)?;
            url.set_password(self.database_password.as_deref())
                .map_err(invalid)?;
            url.set_path(self.database_name.as_deref().unwrap_or("postgres"));
            return Ok(StoreTarget::Postgres(url.to_string()));
        }
        Ok(StoreTarget::Sqlite(self.data_dir.join(SQLITE_FILE)))
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.db_timeout_ms)
    }

    /// Pool options for the PostgreSQL store.
    pub fn postgres_options(&self) -> PostgresOptions {
        PostgresOptions {
            max_connections: self.db_pool_size,
            acquire_timeout: self.timeout(),
            statement_timeout: Duration::from_millis(self.db_statement_timeout_ms),
            statement_cache: self.db_statement_cache,
            migration_url: self.db_migration_url.clone(),
        }
    }
}

/// The click queue between redirects and the batch writer.
#[derive(Debug, Clone, Args)]
pub struct ClickSettings {
    /// Clicks that may wait to be written; past this, new clicks are dropped and counted.
    #[arg(long, env = "KURZ_CLICK_QUEUE", default_value_t = DEFAULT_CLICK_QUEUE)]
    pub click_queue: usize,
    /// Most clicks written in one transaction.
    #[arg(long, env = "KURZ_CLICK_BATCH", default_value_t = DEFAULT_CLICK_BATCH)]
    pub click_batch: usize,
}

/// When the in-process (L1) cache may answer redirects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum L1Mode {
    /// On the embedded store; with Redis, while the invalidation subscription is live;
    /// off on PostgreSQL without Redis (other replicas' writes could not reach it).
    Auto,
    /// Always (a single replica).
    On,
    Off,
}

/// The redirect caches: L1 in process, L2 in Redis (optional).
#[derive(Clone, Args)]
pub struct CacheSettings {
    /// Redis URL for the shared cache and invalidations, e.g. redis://127.0.0.1:6379. Unset: no Redis.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Redis Cluster seed nodes, comma-separated (redis://host:7000,redis://host:7001), instead of REDIS_URL.
    #[arg(long, env = "KURZ_REDIS_CLUSTER_NODES", hide_env_values = true)]
    pub redis_cluster_nodes: Option<String>,
    /// Redis Sentinels, comma-separated (redis://host:26379,...), instead of REDIS_URL: kurz
    /// uses the primary they name and follows it across failovers.
    #[arg(long, env = "KURZ_REDIS_SENTINELS", hide_env_values = true)]
    pub redis_sentinels: Option<String>,
    /// The name the sentinels know the primary by (with KURZ_REDIS_SENTINELS).
    #[arg(long, env = "KURZ_REDIS_SENTINEL_MASTER")]
    pub redis_sentinel_master: Option<String>,
    /// Password of the primary found through Sentinel (the sentinels' own goes in their URLs).
    #[arg(
        long,
        env = "KURZ_REDIS_SENTINEL_MASTER_PASSWORD",
        hide_env_values = true
    )]
    pub redis_sentinel_master_password: Option<String>,
    /// Namespace of kurz's Redis keys and channel (deployments sharing a Redis need distinct ones).
    #[arg(long, env = "KURZ_REDIS_PREFIX", default_value = DEFAULT_REDIS_PREFIX)]
    pub redis_prefix: String,
    /// Longest wait for one Redis call before treating it as a miss, in milliseconds.
    #[arg(long, env = "KURZ_REDIS_TIMEOUT_MS", default_value_t = DEFAULT_REDIS_TIMEOUT_MS)]
    pub redis_timeout_ms: u64,
    /// Lifetime of a cached link in Redis, in seconds.
    #[arg(long, env = "KURZ_CACHE_TTL_SECS", default_value_t = DEFAULT_CACHE_TTL_SECS)]
    pub cache_ttl_secs: u64,
    /// Lifetime of a cached link in process, in seconds.
    #[arg(long, env = "KURZ_L1_TTL_SECS", default_value_t = DEFAULT_L1_TTL_SECS)]
    pub l1_ttl_secs: u64,
    /// Lifetime of a cached "no such code" / "inactive" answer, in seconds (both tiers).
    #[arg(long, env = "KURZ_NEGATIVE_TTL_SECS", default_value_t = DEFAULT_NEGATIVE_TTL_SECS)]
    pub negative_ttl_secs: u64,
    /// Memory bound of the in-process cache, in bytes.
    #[arg(long, env = "KURZ_L1_MAX_BYTES", default_value_t = DEFAULT_L1_MAX_BYTES)]
    pub l1_max_bytes: u64,
    /// When the in-process cache is used.
    #[arg(long, env = "KURZ_L1", value_enum, default_value_t = L1Mode::Auto)]
    pub l1: L1Mode,
    /// How many of the most-clicked links to load into the caches at start-up (0: none).
    #[arg(long, env = "KURZ_PREWARM", default_value_t = DEFAULT_PREWARM)]
    pub prewarm: i64,
}

impl fmt::Debug for CacheSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheSettings")
            .field("redis_url", &self.redis_url.as_ref().map(|_| "<redacted>"))
            .field(
                "redis_cluster_nodes",
                &self.redis_cluster_nodes.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "redis_sentinels",
                &self.redis_sentinels.as_ref().map(|_| "<redacted>"),
            )
            .field("redis_sentinel_master", &self.redis_sentinel_master)
            .field(
                "redis_sentinel_master_password",
                &self
                    .redis_sentinel_master_password
                    .as_ref()
                    .map(|_| "<redacted>"),
            )
            .field("redis_prefix", &self.redis_prefix)
            .field("redis_timeout_ms", &self.redis_timeout_ms)
            .field("cache_ttl_secs", &self.cache_ttl_secs)
            .field("l1_ttl_secs", &self.l1_ttl_secs)
            .field("negative_ttl_secs", &self.negative_ttl_secs)
            .field("l1_max_bytes", &self.l1_max_bytes)
            .field("l1", &self.l1)
            .field("prewarm", &self.prewarm)
            .finish()
    }
}

impl CacheSettings {
    pub fn defaults() -> Self {
        Self {
            redis_url: None,
            redis_cluster_nodes: None,
            redis_sentinels: None,
            redis_sentinel_master: None,
            redis_sentinel_master_password: None,
            redis_prefix: DEFAULT_REDIS_PREFIX.to_owned(),
            redis_timeout_ms: DEFAULT_REDIS_TIMEOUT_MS,
            cache_ttl_secs: DEFAULT_CACHE_TTL_SECS,
            l1_ttl_secs: DEFAULT_L1_TTL_SECS,
            negative_ttl_secs: DEFAULT_NEGATIVE_TTL_SECS,
            l1_max_bytes: DEFAULT_L1_MAX_BYTES,
            l1: L1Mode::Auto,
            prewarm: DEFAULT_PREWARM,
        }
    }
}

/// Destination safety: the blocklist, targets refused at create and update, abuse reports.
#[derive(Debug, Clone, Args)]
pub struct SafetySettings {
    /// Blocklist file: hosts, hosts-file lines or URLs, one a line (a host blocks its
    /// subdomains). Reloaded when it changes and on SIGHUP. Unset: no blocklist.
    #[arg(long, env = "KURZ_BLOCKLIST")]
    pub blocklist: Option<PathBuf>,
    /// How often the blocklist file is checked for changes, in milliseconds (0: only on SIGHUP).
    #[arg(long, env = "KURZ_BLOCKLIST_POLL_MS", default_value_t = DEFAULT_BLOCKLIST_POLL_MS)]
    pub blocklist_poll_ms: u64,
    /// Names this service is reached by (`host` or `host:port`, comma-separated); targets
    /// there are refused as redirect loops, as are targets at the request's own Host.
    #[arg(long, env = "KURZ_PUBLIC_HOSTS")]
    pub public_hosts: Option<String>,
    /// Refuse targets that are private, loopback or link-local IP literals, or localhost.
    #[arg(long, env = "KURZ_REFUSE_PRIVATE_TARGETS", value_parser = clap::builder::BoolishValueParser::new())]
    pub refuse_private_targets: bool,
    /// Distinct reporters (IPv4 addresses, IPv6 /64 networks) after which a reported link is
    /// deactivated; 0: reports never deactivate.
    #[arg(long, env = "KURZ_REPORT_THRESHOLD", default_value_t = DEFAULT_REPORT_THRESHOLD)]
    pub report_threshold: u32,
}

impl SafetySettings {
    pub fn defaults() -> Self {
        Self {
            blocklist: None,
            blocklist_poll_ms: DEFAULT_BLOCKLIST_POLL_MS,
            public_hosts: None,
            refuse_private_targets: false,
            report_threshold: DEFAULT_REPORT_THRESHOLD,
        }
    }

    pub fn blocklist_poll(&self) -> Duration {
        Duration::from_millis(self.blocklist_poll_ms)
    }
}

/// Who may call the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// No keys: the hackathon contract exactly, for a trusted network.
    Open,
    /// Every API call but redirects, reports and probes needs an API key with the right scope.
    Keys,
}

/// Access control, rate limits and resource limits.
#[derive(Debug, Clone, Args)]
pub struct SecuritySettings {
    /// `open` (no keys, the contract as is) or `keys` (API keys with scopes; see `kurz keys`).
    #[arg(long, env = "KURZ_AUTH", value_enum, default_value_t = AuthMode::Open)]
    pub auth: AuthMode,
    /// How long a key looked up in the store is trusted before it is looked up again (the
    /// longest a revocation takes to reach every replica), in seconds.
    #[arg(long, env = "KURZ_KEY_CACHE_SECS", default_value_t = DEFAULT_KEY_CACHE_SECS)]
    pub key_cache_secs: u64,
    /// Creates (POST) allowed per client per second, sustained; 0: no limit.
    #[arg(long, env = "KURZ_RATE_CREATES_PER_SEC", default_value_t = DEFAULT_RATE_PER_SEC)]
    pub rate_creates_per_sec: u32,
    /// Creates a client may send at once before the sustained rate applies.
    #[arg(long, env = "KURZ_RATE_CREATES_BURST", default_value_t = DEFAULT_RATE_BURST)]
    pub rate_creates_burst: u32,
    /// Updates and deletes (PUT, DELETE) allowed per client per second; 0: no limit.
    #[arg(long, env = "KURZ_RATE_WRITES_PER_SEC", default_value_t = DEFAULT_RATE_PER_SEC)]
    pub rate_writes_per_sec: u32,
    /// Updates and deletes a client may send at once before the sustained rate applies.
    #[arg(long, env = "KURZ_RATE_WRITES_BURST", default_value_t = DEFAULT_RATE_BURST)]
    pub rate_writes_burst: u32,
    /// Requests handled at once; past this, new requests answer 503 at once instead of queueing.
    #[arg(long, env = "KURZ_MAX_IN_FLIGHT", default_value_t = DEFAULT_MAX_IN_FLIGHT)]
    pub max_in_flight: usize,
    /// A connection that sends no complete request head for this long is closed: slow
    /// clients and idle keep-alive connections alike, in milliseconds.
    #[arg(long, env = "KURZ_HEADER_TIMEOUT_MS", default_value_t = DEFAULT_HEADER_TIMEOUT_MS)]
    pub header_timeout_ms: u64,
}

impl SecuritySettings {
    pub fn defaults() -> Self {
        Self {
            auth: AuthMode::Open,
            key_cache_secs: DEFAULT_KEY_CACHE_SECS,
            rate_creates_per_sec: DEFAULT_RATE_PER_SEC,
            rate_creates_burst: DEFAULT_RATE_BURST,
            rate_writes_per_sec: DEFAULT_RATE_PER_SEC,
            rate_writes_burst: DEFAULT_RATE_BURST,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            header_timeout_ms: DEFAULT_HEADER_TIMEOUT_MS,
        }
    }

    pub fn key_cache(&self) -> Duration {
        Duration::from_secs(self.key_cache_secs)
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// JSON unless standard output is a terminal.
    Auto,
    Json,
    Pretty,
}

#[derive(Debug, Clone, Args)]
pub struct LogSettings {
    /// Log filter, e.g. `info` or `kurz=debug,sqlx=warn` (RUST_LOG is read when this is unset).
    #[arg(long = "log", env = "KURZ_LOG")]
    pub filter: Option<String>,
    /// Log format.
    #[arg(long, env = "KURZ_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
    /// OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces (builds with the `otlp` feature).
    #[arg(long, env = "KURZ_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
}

impl Settings {
    /// Defaults with the embedded store in `data_dir`, listening on a free loopback port:
    /// what the integration tests and embedding programs start from.
    pub fn embedded(data_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_listen: None,
            trusted_proxies: DEFAULT_TRUSTED_PROXIES.to_owned(),
            database: DatabaseSettings::embedded(data_dir),
            list_cap: DEFAULT_LIST_CAP,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            shutdown_timeout_ms: DEFAULT_SHUTDOWN_TIMEOUT_MS,
            drain_delay_ms: DEFAULT_DRAIN_DELAY_MS,
            clicks: ClickSettings {
                click_queue: DEFAULT_CLICK_QUEUE,
                click_batch: DEFAULT_CLICK_BATCH,
            },
            cache: CacheSettings::defaults(),
            safety: SafetySettings::defaults(),
            security: SecuritySettings::defaults(),
            log: LogSettings {
                filter: None,
                log_format: LogFormat::Auto,
                otlp_endpoint: None,
            },
        }
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn drain_delay(&self) -> Duration {
        Duration::from_millis(self.drain_delay_ms)
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_database_settings_select_the_embedded_store_in_the_data_dir() {
        let db = DatabaseSettings::embedded(PathBuf::from("/var/lib/kurz"));
        assert!(
            db.target().ok() == Some(StoreTarget::Sqlite(PathBuf::from("/var/lib/kurz/kurz.db")))
        );
    }

    #[test]
    fn database_parts_build_a_postgres_url_with_an_escaped_password() {
        let mut db = DatabaseSettings::embedded(PathBuf::from("."));
        db.database_host = Some("db".into());
        db.database_name = Some("hackathon_db".into());
        db.database_user = Some("app".into());
        db.database_password = Some("p@ss word".into());
        let Ok(StoreTarget::Postgres(url)) = db.target() else {
            panic!("expected postgres")
        };
        assert_eq!(url, "postgres://app:p%40ss%20word@db:5432/hackathon_db");
    }

    #[test]
    fn database_url_wins_over_parts() {
        let mut db = DatabaseSettings::embedded(PathBuf::from("."));
        db.database_url = Some("postgres://u@h/d".into());
        db.database_host = Some("other".into());
        assert!(db.target().ok() == Some(StoreTarget::Postgres("postgres://u@h/d".into())));
    }

    #[test]
    fn an_unknown_database_scheme_is_an_error() {
        let mut db = DatabaseSettings::embedded(PathBuf::from("."));
        db.database_url = Some("mysql://h/d".into());
        assert!(db.target().is_err());
    }
}

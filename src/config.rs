//! Typed settings. Each setting is declared once, here: its flag, its environment variable,
//! its default and its help text, all in the clap attribute (flag > environment > default).
//! `kurz --help` prints them all, and docs/CONFIGURATION.md, which tells an operator what
//! each is for, is checked against `--help` by the test suite. Secrets (URLs with
//! credentials, passwords) are [`SecretString`]s: they never reach a log line or a panic.

use crate::store::PostgresOptions;
use clap::{Args, ValueEnum};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The embedded store's file name in the data directory.
pub const SQLITE_FILE: &str = "kurz.db";
/// The contract's limit on JSON bodies; not configurable.
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

/// Everything `kurz serve` needs.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "KURZ_LISTEN", default_value = "127.0.0.1:5000")]
    pub listen: SocketAddr,

    /// Serve /metrics on this address instead of the API's (keeps it off the public port).
    #[arg(long, env = "KURZ_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Proxies whose X-Forwarded-For is believed: addresses or networks, comma-separated.
    #[arg(long, env = "KURZ_TRUSTED_PROXIES", default_value = "127.0.0.1,::1")]
    pub trusted_proxies: String,

    #[command(flatten)]
    pub database: DatabaseSettings,

    /// Most rows an unpaginated list returns.
    #[arg(long, env = "KURZ_LIST_CAP", default_value_t = 10_000)]
    pub list_cap: i64,

    /// Largest CSV upload accepted by POST /users/bulk, in bytes.
    #[arg(long, env = "KURZ_MAX_UPLOAD_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_upload_bytes: usize,

    /// A request running longer than this answers 503, in milliseconds.
    #[arg(long, env = "KURZ_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,

    /// After SIGTERM, how long to keep serving while `/ready` answers 503, before closing the
    /// listener (time for load balancers to stop sending), in milliseconds.
    #[arg(long, env = "KURZ_DRAIN_DELAY_MS", default_value_t = 0)]
    pub drain_delay_ms: u64,

    /// How long shutdown waits for in-flight requests, in milliseconds.
    #[arg(long, env = "KURZ_SHUTDOWN_TIMEOUT_MS", default_value_t = 30_000)]
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

/// A setting that must never be printed (a URL with credentials, a password): its `Debug`
/// is redacted, and only [`Secret::expose`] reads it.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<&str> for Secret {
    fn from(raw: &str) -> Self {
        Self(SecretString::from(raw))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Clap reads a secret as any string.
impl clap::builder::ValueParserFactory for Secret {
    type Parser =
        clap::builder::MapValueParser<clap::builder::StringValueParser, fn(String) -> Self>;

    fn value_parser() -> Self::Parser {
        clap::builder::TypedValueParser::map(clap::builder::StringValueParser::new(), |raw| {
            Self(SecretString::from(raw))
        })
    }
}

/// Where data lives. Without `DATABASE_URL` or `DATABASE_HOST`/`DATABASE_NAME`, the embedded store.
#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// Database URL: postgres://user:pass@host:port/db or sqlite://path.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,
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
    pub database_password: Option<Secret>,
    /// Directory of the embedded store's kurz.db.
    #[arg(long, env = "KURZ_DATA_DIR", default_value = ".")]
    pub data_dir: PathBuf,
    /// Connections per pool (for SQLite: reader connections; writes use one).
    #[arg(long, env = "KURZ_DB_POOL_SIZE", default_value_t = 8)]
    pub db_pool_size: u32,
    /// Longest wait for a connection or lock, in milliseconds.
    #[arg(long, env = "KURZ_DB_TIMEOUT_MS", default_value_t = 5_000)]
    pub db_timeout_ms: u64,
    /// PostgreSQL statement_timeout, in milliseconds.
    #[arg(long, env = "KURZ_DB_STATEMENT_TIMEOUT_MS", default_value_t = 10_000)]
    pub db_statement_timeout_ms: u64,
    /// Prepared statements cached per PostgreSQL connection; 0 behind PgBouncer in transaction mode.
    #[arg(long, env = "KURZ_DB_STATEMENT_CACHE", default_value_t = 100)]
    pub db_statement_cache: usize,
    /// Direct PostgreSQL URL for migrations when DATABASE_URL points at PgBouncer (transaction mode).
    #[arg(long, env = "KURZ_DB_MIGRATION_URL", hide_env_values = true)]
    pub db_migration_url: Option<Secret>,
}

/// Which store the settings select.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreTarget {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseSettings {
    /// `DATABASE_URL` first, then the `DATABASE_*` parts, else the embedded store.
    pub fn target(&self) -> anyhow::Result<StoreTarget> {
        if let Some(url) = self
            .database_url
            .as_ref()
            .map(Secret::expose)
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
            let password = self.database_password.as_ref().map(Secret::expose);
            url.set_password(password).map_err(invalid)?;
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
            migration_url: self
                .db_migration_url
                .as_ref()
                .map(|url| url.expose().to_owned()),
        }
    }
}

/// The click queue between redirects and the batch writer.
#[derive(Debug, Clone, Args)]
pub struct ClickSettings {
    /// Clicks that may wait to be written; past this, new clicks are dropped and counted.
    #[arg(long, env = "KURZ_CLICK_QUEUE", default_value_t = 100_000)]
    pub click_queue: usize,
    /// Most clicks written in one transaction.
    #[arg(long, env = "KURZ_CLICK_BATCH", default_value_t = 10_000)]
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
#[derive(Debug, Clone, Args)]
pub struct CacheSettings {
    /// Redis URL for the shared cache and invalidations, e.g. redis://127.0.0.1:6379. Unset: no Redis.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<Secret>,
    /// Redis Cluster seed nodes, comma-separated (redis://host:7000,redis://host:7001), instead of REDIS_URL.
    #[arg(long, env = "KURZ_REDIS_CLUSTER_NODES", hide_env_values = true)]
    pub redis_cluster_nodes: Option<Secret>,
    /// Redis Sentinels, comma-separated (redis://host:26379,...), instead of REDIS_URL: kurz
    /// uses the primary they name and follows it across failovers.
    #[arg(long, env = "KURZ_REDIS_SENTINELS", hide_env_values = true)]
    pub redis_sentinels: Option<Secret>,
    /// The name the sentinels know the primary by (with KURZ_REDIS_SENTINELS).
    #[arg(long, env = "KURZ_REDIS_SENTINEL_MASTER")]
    pub redis_sentinel_master: Option<String>,
    /// Password of the primary found through Sentinel (the sentinels' own goes in their URLs).
    #[arg(
        long,
        env = "KURZ_REDIS_SENTINEL_MASTER_PASSWORD",
        hide_env_values = true
    )]
    pub redis_sentinel_master_password: Option<Secret>,
    /// Namespace of kurz's Redis keys and channel (deployments sharing a Redis need distinct ones).
    #[arg(long, env = "KURZ_REDIS_PREFIX", default_value = "kurz")]
    pub redis_prefix: String,
    /// Longest wait for one Redis call before treating it as a miss, in milliseconds.
    #[arg(long, env = "KURZ_REDIS_TIMEOUT_MS", default_value_t = 100)]
    pub redis_timeout_ms: u64,
    /// Lifetime of a cached link in Redis, in seconds.
    #[arg(long, env = "KURZ_CACHE_TTL_SECS", default_value_t = 300)]
    pub cache_ttl_secs: u64,
    /// Lifetime of a cached link in process, in seconds.
    #[arg(long, env = "KURZ_L1_TTL_SECS", default_value_t = 30)]
    pub l1_ttl_secs: u64,
    /// Lifetime of a cached "no such code" / "inactive" answer, in seconds (both tiers).
    #[arg(long, env = "KURZ_NEGATIVE_TTL_SECS", default_value_t = 5)]
    pub negative_ttl_secs: u64,
    /// Memory bound of the in-process cache, in bytes.
    #[arg(long, env = "KURZ_L1_MAX_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub l1_max_bytes: u64,
    /// When the in-process cache is used.
    #[arg(long, env = "KURZ_L1", value_enum, default_value_t = L1Mode::Auto)]
    pub l1: L1Mode,
    /// How many of the most-clicked links to load into the caches at start-up (0: none).
    #[arg(long, env = "KURZ_PREWARM", default_value_t = 1_000)]
    pub prewarm: i64,
}

/// Destination safety: the blocklist, targets refused at create and update, abuse reports.
#[derive(Debug, Clone, Args)]
pub struct SafetySettings {
    /// Blocklist file: hosts, hosts-file lines or URLs, one a line (a host blocks its
    /// subdomains). Reloaded when it changes and on SIGHUP. Unset: no blocklist.
    #[arg(long, env = "KURZ_BLOCKLIST")]
    pub blocklist: Option<PathBuf>,
    /// How often the blocklist file is checked for changes, in milliseconds (0: only on SIGHUP).
    #[arg(long, env = "KURZ_BLOCKLIST_POLL_MS", default_value_t = 5_000)]
    pub blocklist_poll_ms: u64,
    /// Names this service is reached by (`host` or `host:port`, comma-separated); targets
    /// there are refused as redirect loops, as are targets at the request's own Host.
    #[arg(long, env = "KURZ_PUBLIC_HOSTS")]
    pub public_hosts: Option<String>,
    /// Refuse targets that are private, loopback or link-local IP literals, or localhost.
    #[arg(
        long,
        env = "KURZ_REFUSE_PRIVATE_TARGETS",
        default_value_t = false,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub refuse_private_targets: bool,
    /// Distinct reporters (IPv4 addresses, IPv6 /64 networks) after which a reported link is
    /// deactivated; 0: reports never deactivate.
    #[arg(long, env = "KURZ_REPORT_THRESHOLD", default_value_t = 0)]
    pub report_threshold: u32,
}

impl SafetySettings {
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
    #[arg(long, env = "KURZ_KEY_CACHE_SECS", default_value_t = 5)]
    pub key_cache_secs: u64,
    /// Creates (POST) allowed per client per second, sustained; 0: no limit.
    #[arg(long, env = "KURZ_RATE_CREATES_PER_SEC", default_value_t = 100)]
    pub rate_creates_per_sec: u32,
    /// Creates a client may send at once before the sustained rate applies.
    #[arg(long, env = "KURZ_RATE_CREATES_BURST", default_value_t = 1_000)]
    pub rate_creates_burst: u32,
    /// Updates and deletes (PUT, DELETE) allowed per client per second; 0: no limit.
    #[arg(long, env = "KURZ_RATE_WRITES_PER_SEC", default_value_t = 100)]
    pub rate_writes_per_sec: u32,
    /// Updates and deletes a client may send at once before the sustained rate applies.
    #[arg(long, env = "KURZ_RATE_WRITES_BURST", default_value_t = 1_000)]
    pub rate_writes_burst: u32,
    /// Requests handled at once; past this, new requests answer 503 at once instead of queueing.
    #[arg(long, env = "KURZ_MAX_IN_FLIGHT", default_value_t = 2_048)]
    pub max_in_flight: usize,
    /// A connection that sends no complete request head for this long is closed: slow
    /// clients and idle keep-alive connections alike, in milliseconds.
    #[arg(long, env = "KURZ_HEADER_TIMEOUT_MS", default_value_t = 30_000)]
    pub header_timeout_ms: u64,
}

impl SecuritySettings {
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
    /// Every setting at its declared default, whatever the environment says.
    pub fn defaults() -> Self {
        let command =
            <Self as Args>::augment_args(clap::Command::new("kurz")).mut_args(|arg| arg.env(None));
        let parsed = command
            .try_get_matches_from(["kurz"])
            .and_then(|matches| <Self as clap::FromArgMatches>::from_arg_matches(&matches));
        // Every setting has a default or is optional; the unit tests hold this.
        parsed.unwrap_or_else(|err| panic!("the settings' defaults do not parse: {err}"))
    }

    /// Defaults with the embedded store in `data_dir`, listening on a free loopback port:
    /// what the integration tests and embedding programs start from.
    pub fn embedded(data_dir: PathBuf) -> Self {
        let mut settings = Self::defaults();
        settings.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        settings.database.data_dir = data_dir;
        settings
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
        let db = Settings::embedded(PathBuf::from("/var/lib/kurz")).database;
        assert!(
            db.target().ok() == Some(StoreTarget::Sqlite(PathBuf::from("/var/lib/kurz/kurz.db")))
        );
    }

    #[test]
    fn database_parts_build_a_postgres_url_with_an_escaped_password() {
        let mut db = Settings::defaults().database;
        db.database_host = Some("db".into());
        db.database_name = Some("hackathon_db".into());
        db.database_user = Some("app".into());
        db.database_password = Some(Secret::from("p@ss word"));
        let Ok(StoreTarget::Postgres(url)) = db.target() else {
            panic!("expected postgres")
        };
        assert_eq!(url, "postgres://app:p%40ss%20word@db:5432/hackathon_db");
    }

    #[test]
    fn database_url_wins_over_parts() {
        let mut db = Settings::defaults().database;
        db.database_url = Some(Secret::from("postgres://u@h/d"));
        db.database_host = Some("other".into());
        assert!(db.target().ok() == Some(StoreTarget::Postgres("postgres://u@h/d".into())));
    }

    #[test]
    fn an_unknown_database_scheme_is_an_error() {
        let mut db = Settings::defaults().database;
        db.database_url = Some(Secret::from("mysql://h/d"));
        assert!(db.target().is_err());
    }

    #[test]
    fn the_declared_defaults_parse_and_ignore_the_environment() {
        let settings = Settings::defaults();
        assert_eq!(settings.listen.to_string(), "127.0.0.1:5000");
        assert_eq!(settings.database.db_pool_size, 8);
        assert_eq!(settings.security.auth, AuthMode::Open);
        assert!(settings.database.database_url.is_none());
    }

    #[test]
    fn secrets_never_print() {
        let mut settings = Settings::defaults();
        settings.database.database_url = Some(Secret::from("postgres://u:hunter2@h/d"));
        settings.cache.redis_url = Some(Secret::from("redis://:hunter2@h"));
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}

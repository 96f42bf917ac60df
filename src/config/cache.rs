//! The click queue and the link caches (L1 in process, L2 in Redis).

use super::Secret;
use clap::{Args, ValueEnum};

/// The click queue between redirects and the batch writer.
#[derive(Debug, Clone, Args)]
pub struct ClickSettings {
    /// Clicks that may wait to be written; past this, new clicks are dropped and counted.
    #[arg(long, env = "KURZ_CLICK_QUEUE", default_value_t = 100_000)]
    pub click_queue: usize,
    /// Most clicks the writer takes from the queue at a time. A full queue makes room only
    /// when the writer takes, so a redirect waiting for room waits at most about one batch's
    /// write: 2,048 halved the redirects' p99 under overload against 10,000 (BENCHMARKS.md,
    /// 2026-12-02; the embedded store writes it as two transactions, creates going first
    /// between them).
    #[arg(long, env = "KURZ_CLICK_BATCH", default_value_t = 2_048)]
    pub click_batch: usize,
    /// Classify clicks and keep the counters the stats read (`false`: clicks are recorded
    /// as before, unclassified, and the stats stay empty; for write loads the counting
    /// cannot keep up with, see BENCHMARKS.md).
    #[arg(long, env = "KURZ_CLICK_ANALYTICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub click_analytics: bool,
    /// A MaxMind-format country database (GeoLite2/GeoIP2 Country or City) the click writer
    /// places client addresses with; unset, countries are `unknown`. Read once at start.
    #[arg(long, env = "KURZ_GEOIP_DB")]
    pub geoip_db: Option<std::path::PathBuf>,
    /// Days raw click events are kept; older ones are removed (the counters the stats read
    /// stay). Unset: kept forever.
    #[arg(long, env = "KURZ_CLICK_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub click_retention_days: Option<u32>,
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
    #[arg(long, env = "KURZ_CACHE_TTL_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_ttl_secs: u64,
    /// Lifetime of a cached link in process, in seconds.
    #[arg(long, env = "KURZ_L1_TTL_SECS", default_value_t = 30)]
    pub l1_ttl_secs: u64,
    /// Lifetime of a cached "no such code" / "inactive" answer, in seconds (both tiers).
    #[arg(long, env = "KURZ_NEGATIVE_TTL_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub negative_ttl_secs: u64,
    /// Memory bound of the in-process cache, in bytes.
    #[arg(long, env = "KURZ_L1_MAX_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub l1_max_bytes: u64,
    /// When the in-process cache is used.
    #[arg(long, env = "KURZ_L1", value_enum, default_value_t = L1Mode::Auto)]
    pub l1: L1Mode,
    /// How many links to load into the caches at start-up, the most clicked first, then the
    /// newest never clicked (0: none). 10,000 links are about 6 MB of the local cache.
    #[arg(long, env = "KURZ_PREWARM", default_value_t = 10_000)]
    pub prewarm: i64,
}

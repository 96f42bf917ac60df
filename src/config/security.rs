//! Destination safety, access control and limits, and logs.

use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

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
    #[arg(long, env = "KURZ_HEADER_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
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

//! Typed settings. Each setting is declared once, in this module: its flag, its environment variable,
//! its default and its help text, all in the clap attribute (flag > environment > default).
//! `kurz --help` prints them all, and docs/CONFIGURATION.md, which tells an operator what
//! each is for, is checked against `--help` by the test suite. Secrets (URLs with
//! credentials, passwords) are [`Secret`]s: they never reach a log line or a panic.

mod cache;
mod database;
mod secret;
mod security;
mod ui;

pub use cache::{CacheSettings, ClickSettings, L1Mode};
pub use database::{DatabaseSettings, StoreTarget};
pub use secret::Secret;
pub use security::{AuthMode, LogFormat, LogSettings, SafetySettings, SecuritySettings};
pub use ui::{UiMode, UiSettings};

use clap::Args;
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

    /// The address short links are published under (`https://ku.rz`), for QR codes; unset:
    /// `http://` and the request's `Host`.
    #[arg(long, env = "KURZ_PUBLIC_URL")]
    pub public_url: Option<url::Url>,

    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub ui: UiSettings,

    /// Most rows an unpaginated list returns.
    #[arg(long, env = "KURZ_LIST_CAP", default_value_t = 10_000)]
    pub list_cap: i64,

    /// Largest CSV upload accepted by POST /users/bulk, in bytes.
    #[arg(long, env = "KURZ_MAX_UPLOAD_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_upload_bytes: usize,

    /// A request running longer than this answers 503, in milliseconds.
    #[arg(long, env = "KURZ_REQUEST_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
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

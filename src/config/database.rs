//! Where data lives: the embedded store or PostgreSQL, by URL or by parts.

use super::{SQLITE_FILE, Secret};
use crate::store::PostgresOptions;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

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
    #[arg(long, env = "KURZ_DB_TIMEOUT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
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

impl StoreTarget {
    /// The store a URL names: `postgres://…` (or `postgresql://…`), or `sqlite://FILE`.
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        else {
            anyhow::bail!("a store URL must start with postgres://, postgresql:// or sqlite://");
        };
        // SQLite gives each connection an in-memory (or, for an empty name, temporary)
        // database of its own: the writer and every reader would each see a different,
        // empty store. A name starting `file:` is a URI to SQLite (sqlx opens with URIs
        // on), which can ask for memory in many ways, and which the checks that a target
        // is not its own source cannot resolve: only plain paths are taken.
        if path.is_empty() || path == ":memory:" || path.starts_with("file:") {
            anyhow::bail!(
                "a store URL must name the embedded store's file by its path (sqlite:///var/lib/kurz/kurz.db), not a file: URI or an in-memory database (that would be a different one on every connection)"
            );
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }
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
            return StoreTarget::from_url(url);
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

//! The command line: `serve` (the default), `migrate`, `import`, `seed`, `migrate-store`,
//! `backup`, `restore`, `export`, `keys`, `blocklist`.

mod data;
mod keys;

use crate::app::{self, Application};
use crate::cache::CachedLinks;
use crate::config::{CacheSettings, DatabaseSettings, LogSettings, Settings};
use crate::import::foreign::Source;
use crate::import::{self, SeedFiles};
use crate::safety::importer::BlocklistCommand;
use crate::store::Stores;
use crate::telemetry;
use clap::{Parser, Subcommand};
use keys::KeysCommand;
use std::path::PathBuf;
use std::time::Duration;

/// How long `import` waits for Redis before importing without telling the replicas.
const REDIS_WAIT: Duration = Duration::from_secs(5);

/// kurz: a URL shortener built to run in production.
///
/// Without a subcommand, `kurz` serves. Every option can also be set with the environment
/// variable shown beside it.
#[derive(Debug, Parser)]
#[command(name = "kurz", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Options for serving when no subcommand is given.
    #[command(flatten)]
    serve: Settings,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve(Box<Settings>),
    /// Create or migrate the schema, then exit.
    Migrate {
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        log: LogSettings,
    },
    /// Load seed CSV files (users, urls, events; any subset), idempotently; or, with --from,
    /// an export of kurz's own or of another shortener.
    Import {
        /// users.csv: id,username,email,created_at
        #[arg(long)]
        users: Option<PathBuf>,
        /// urls.csv: id,user_id,short_code,original_url,title,is_active,created_at,updated_at
        #[arg(long)]
        urls: Option<PathBuf>,
        /// events.csv: id,url_id,user_id,event_type,timestamp,details
        #[arg(long)]
        events: Option<PathBuf>,
        /// What PATH holds: `kurz`, a directory written by `kurz export` (streamed, verified;
        /// a store that holds data needs --force); or a file exported by another shortener
        /// (links only; codes already taken are reported, never renamed).
        #[arg(long, value_enum, requires = "path", conflicts_with_all = ["users", "urls", "events"])]
        from: Option<ImportSource>,
        /// The directory (--from kurz) or file (other sources) to import.
        #[arg(requires = "from")]
        path: Option<PathBuf>,
        /// With --from kurz: replace whatever the store holds.
        #[arg(long, requires = "from")]
        force: bool,
        #[command(flatten)]
        foreign: data::ForeignOptions,
        #[command(flatten)]
        database: DatabaseSettings,
        /// With REDIS_URL set, running replicas' caches are told of the imported urls.
        #[command(flatten)]
        cache: Box<CacheSettings>,
        #[command(flatten)]
        log: LogSettings,
    },
    /// Write seed files of the hackathon's shape (users.csv, urls.csv, events.csv) for
    /// `kurz import`: data to try kurz with, no original files needed.
    Seed {
        /// Directory to write the three files into (created if missing).
        #[arg(long)]
        output: PathBuf,
        #[command(flatten)]
        spec: crate::seed::SeedSpec,
    },
    /// Copy every table of the configured store into another (postgres://… or
    /// sqlite://FILE), verified by counts and checksums; the embedded store is copied from a
    /// consistent snapshot while it serves.
    MigrateStore(Box<data::MigrateStore>),
    /// Write a consistent copy of the embedded store to a file, online.
    Backup(Box<data::Backup>),
    /// Load a backup file into the configured store (embedded or PostgreSQL).
    Restore(Box<data::Restore>),
    /// Write users, urls and events to files (CSV in the seed files' format, or JSON lines),
    /// streamed; `kurz import --from kurz DIR` loads them back.
    Export(Box<data::Export>),
    /// Mint, list and revoke API keys (for KURZ_AUTH=keys).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Maintain the destination blocklist file.
    #[command(subcommand)]
    Blocklist(BlocklistCommand),
}

/// What `kurz import --from` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ImportSource {
    /// A directory written by `kurz export`.
    Kurz,
    /// Shlink's CSV export of short URLs (its web client's "Export").
    Shlink,
    /// Bitly's links export, CSV.
    Bitly,
    /// YOURLS's `yourls_url` table exported as CSV with a header row.
    Yourls,
    /// Kutt's links as its API returns them (`GET /api/v2/links`), JSON.
    Kutt,
    /// Any CSV with short_code and original_url columns (or columns mapped with --map).
    Csv,
}

impl ImportSource {
    fn foreign(self) -> Option<Source> {
        match self {
            Self::Kurz => None,
            Self::Shlink => Some(Source::Shlink),
            Self::Bitly => Some(Source::Bitly),
            Self::Yourls => Some(Source::Yourls),
            Self::Kutt => Some(Source::Kutt),
            Self::Csv => Some(Source::Csv),
        }
    }
}

/// Runs the parsed command line to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(settings)) => serve(*settings).await,
        Some(Command::Blocklist(command)) => command.run(),
        Some(Command::Keys(command)) => command.run().await,
        Some(Command::MigrateStore(command)) => command.run().await,
        Some(Command::Backup(command)) => command.run().await,
        Some(Command::Export(command)) => command.run().await,
        Some(Command::Restore(command)) => command.run().await,
        Some(Command::Seed { output, spec }) => {
            let written = crate::seed::write(&spec, &output)?;
            println!(
                "{}",
                serde_json::json!({ "users": written.users, "urls": written.urls, "events": written.events, "directory": output })
            );
            Ok(())
        }
        Some(Command::Migrate { database, log }) => {
            let _telemetry = telemetry::init_command_logs(&log);
            let store = app::open_store(&with_database(database)).await?;
            let migrated = store.schema.migrate().await;
            store.schema.close().await;
            migrated?;
            tracing::info!("schema is up to date");
            Ok(())
        }
        Some(Command::Import {
            users,
            urls,
            events,
            from,
            path,
            force,
            foreign,
            database,
            cache,
            log,
        }) => {
            let _telemetry = telemetry::init_command_logs(&log);
            match (from, path) {
                (Some(from), Some(path)) => match from.foreign() {
                    None => {
                        foreign.check(None)?;
                        data::import_export(&path, force, &database).await
                    }
                    Some(source) => {
                        foreign.check(Some(source))?;
                        through_caches(database, &cache, |store| async move {
                            data::import_foreign(&store, source, &path, &foreign).await
                        })
                        .await
                    }
                },
                _ => {
                    foreign.check(None)?;
                    if users.is_none() && urls.is_none() && events.is_none() {
                        anyhow::bail!(
                            "nothing to import: give --users, --urls and/or --events, or --from SOURCE PATH"
                        );
                    }
                    let files = SeedFiles {
                        users: users.as_deref(),
                        urls: urls.as_deref(),
                        events: events.as_deref(),
                    };
                    let summary = through_caches(database, &cache, |store| async move {
                        import::import_seed(&store, &files).await
                    })
                    .await?;
                    println!(
                        "{}",
                        serde_json::json!({ "users": summary.users, "urls": summary.urls, "events": summary.events })
                    );
                    Ok(())
                }
            }
        }
    }
}

/// Runs `work` on the configured store (its schema brought up to date), with its links
/// behind the caches, so that what it writes reaches running replicas' caches through Redis.
async fn through_caches<T, F>(
    database: DatabaseSettings,
    cache: &CacheSettings,
    work: impl FnOnce(Stores) -> F,
) -> anyhow::Result<T>
where
    F: Future<Output = anyhow::Result<T>>,
{
    let store = app::open_store(&with_database(database)).await?;
    if let Err(err) = store.schema.migrate().await {
        store.schema.close().await;
        return Err(err.into());
    }
    let links = match CachedLinks::start(store.links.clone(), false, cache) {
        Ok(links) => links,
        Err(err) => {
            store.schema.close().await;
            return Err(err);
        }
    };
    links.wait_for_redis(REDIS_WAIT).await;
    let result = work(Stores {
        links: links.clone(),
        ..store.clone()
    })
    .await;
    links.stop().await;
    store.schema.close().await;
    result
}

fn with_database(database: DatabaseSettings) -> Settings {
    let mut settings = Settings::embedded(database.data_dir.clone());
    settings.database = database;
    settings
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let telemetry = telemetry::init_logs(&settings.log);
    let app = Application::build(settings).await?;
    tracing::info!(address = %app.local_addr()?, "kurz listening");
    let result = app.run_until(app::shutdown_signal()).await;
    telemetry.shutdown();
    result
}

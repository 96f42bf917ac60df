//! `kurz migrate-store`, `kurz backup`, `kurz restore`, `kurz export` and
//! `kurz import --from kurz`: the data moves (see
//! [`crate::transfer`]). Each prints one JSON summary on stdout; progress goes to stderr.

use crate::app::open_target;
use crate::config::{DatabaseSettings, LogSettings, StoreTarget};
use crate::store::Stores;
use crate::{telemetry, transfer};
use anyhow::Context;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

/// `kurz migrate-store`.
#[derive(Debug, Args)]
pub struct MigrateStore {
    /// Where to copy the data: postgres://… (or postgresql://…), or sqlite://FILE.
    #[arg(long)]
    to: String,
    /// Empty the target first when it already holds data (refused otherwise).
    #[arg(long)]
    force: bool,
    /// Fail unless the source took no writes during the copy: the last run of a move, with
    /// the service stopped (or refusing writes).
    #[arg(long = "final")]
    last: bool,
    /// The source: the configured store (the embedded file unless DATABASE_URL is set).
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(flatten)]
    log: LogSettings,
}

/// `kurz backup`.
#[derive(Debug, Args)]
pub struct Backup {
    /// The backup file to write (must not exist).
    #[arg(long)]
    output: PathBuf,
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(flatten)]
    log: LogSettings,
}

/// `kurz restore`.
#[derive(Debug, Args)]
pub struct Restore {
    /// A file written by `kurz backup`.
    file: PathBuf,
    /// Replace the data of a store that already holds some (refused otherwise).
    #[arg(long)]
    force: bool,
    /// The store to restore into: the configured one.
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(flatten)]
    log: LogSettings,
}

/// `kurz export`.
#[derive(Debug, Args)]
pub struct Export {
    /// Directory to write users, urls and events into (created if missing).
    #[arg(long)]
    output: PathBuf,
    /// csv: the seed files' format; json: one JSON object per line, the same fields.
    #[arg(long, value_enum, default_value = "csv")]
    format: transfer::Format,
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(flatten)]
    log: LogSettings,
}

impl Export {
    pub async fn run(self) -> anyhow::Result<()> {
        let _telemetry = telemetry::init_logs(&self.log);
        let store = open(self.database.target()?, &self.database).await?;
        let written = transfer::export(&store, &self.output, self.format).await;
        close(&[&store]).await;
        println!(
            "{}",
            json!({ "exported": written?, "directory": self.output })
        );
        Ok(())
    }
}

/// `kurz import --from kurz DIR`: an export loaded into the configured store, verified.
pub async fn import_export(
    dir: &std::path::Path,
    force: bool,
    database: &DatabaseSettings,
) -> anyhow::Result<()> {
    let store = open(database.target()?, database).await?;
    let imported = transfer::import(&store, dir, force).await;
    close(&[&store]).await;
    println!("{}", json!({ "imported": imported?, "verified": true }));
    Ok(())
}

/// A store named on the command line: postgres://… or sqlite://FILE.
pub fn parse_store_url(raw: &str) -> anyhow::Result<StoreTarget> {
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        return Ok(StoreTarget::Postgres(raw.to_owned()));
    }
    match raw.strip_prefix("sqlite://") {
        Some(path) if !path.is_empty() => Ok(StoreTarget::Sqlite(PathBuf::from(path))),
        _ => anyhow::bail!("unknown store {raw:?}: give postgres://… or sqlite://FILE"),
    }
}

/// Opens a store and brings its schema up to date.
async fn open(target: StoreTarget, db: &DatabaseSettings) -> anyhow::Result<Stores> {
    let stores = open_target(target, db).await?;
    if let Err(err) = stores.schema.migrate().await {
        stores.schema.close().await;
        return Err(err.into());
    }
    Ok(stores)
}

async fn close(stores: &[&Stores]) {
    for store in stores {
        store.schema.close().await;
    }
}

impl MigrateStore {
    pub async fn run(self) -> anyhow::Result<()> {
        let _telemetry = telemetry::init_logs(&self.log);
        let from = self.database.target()?;
        let to = parse_store_url(&self.to)?;
        if from == to {
            anyhow::bail!("the target is the source itself");
        }
        let live = open(from.clone(), &self.database).await?;
        // The embedded store is copied from a snapshot, consistent while the service writes.
        let snapshot = match &from {
            StoreTarget::Sqlite(path) => Some(transfer::snapshot(path).await?),
            StoreTarget::Postgres(_) => None,
        };
        let source = match &snapshot {
            Some(path) => open(StoreTarget::Sqlite(path.to_path_buf()), &self.database).await?,
            None => live.clone(),
        };
        let target = open(to, &self.database).await?;
        let copied = transfer::copy(&source, &target, self.force).await;
        let since = match &copied {
            Ok(copied) => transfer::written_since(&live, copied).await,
            Err(_) => Ok(Vec::new()),
        };
        close(&[&target, &source, &live]).await;
        let (copied, since) = (copied?, since?);
        println!(
            "{}",
            json!({ "copied": copied, "verified": true, "written_since": since.iter().map(|(t, n)| json!({"table": t, "rows": n})).collect::<Vec<_>>() })
        );
        if !since.is_empty() {
            if self.last {
                anyhow::bail!(
                    "the source changed during the copy ({}): stop its writers and run again with --force --final",
                    since
                        .iter()
                        .map(|(t, n)| format!("{n} {t}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            eprintln!(
                "note: the source took writes after the copy began; stop its writers and run again with --force --final to carry them"
            );
        }
        Ok(())
    }
}

impl Backup {
    pub async fn run(self) -> anyhow::Result<()> {
        let _telemetry = telemetry::init_logs(&self.log);
        let StoreTarget::Sqlite(database) = self.database.target()? else {
            anyhow::bail!(
                "kurz backup copies the embedded store; back PostgreSQL up with pg_dump (docs/DEPLOY.md, \"Backups and restore\")"
            );
        };
        transfer::backup(&database, &self.output).await?;
        let bytes = std::fs::metadata(&self.output)?.len();
        println!("{}", json!({ "backup": self.output, "bytes": bytes }));
        Ok(())
    }
}

impl Restore {
    pub async fn run(self) -> anyhow::Result<()> {
        let _telemetry = telemetry::init_logs(&self.log);
        if !self.file.is_file() {
            anyhow::bail!("no backup file at {}", self.file.display());
        }
        // A working copy: opening a backup brings its schema up to date, and the backup
        // itself stays as it was written.
        let work = tempfile::Builder::new()
            .prefix(".kurz-restore-")
            .suffix(".db")
            .tempfile()
            .context("creating a working copy of the backup")?
            .into_temp_path();
        std::fs::copy(&self.file, &work)
            .with_context(|| format!("reading {}", self.file.display()))?;
        let backup = open(StoreTarget::Sqlite(work.to_path_buf()), &self.database)
            .await
            .with_context(|| format!("{} is not a kurz backup", self.file.display()))?;
        let target = open(self.database.target()?, &self.database).await?;
        let copied = transfer::copy(&backup, &target, self.force).await;
        close(&[&target, &backup]).await;
        println!("{}", json!({ "restored": copied?, "verified": true }));
        eprintln!("note: restart running replicas: their caches hold the links as they were");
        Ok(())
    }
}

//! `kurz migrate-store`, `kurz backup`, `kurz restore`, `kurz export`,
//! `kurz import --from kurz` and `kurz import --from` another shortener: the data moves (see
//! [`crate::transfer`] and [`crate::import::foreign`]). Each prints one JSON summary on
//! stdout; progress and problems go to stderr.

use crate::app::open_target;
use crate::config::{DatabaseSettings, LogSettings, StoreTarget};
use crate::import::foreign::{self, Source};
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
        let _telemetry = telemetry::init_command_logs(&self.log);
        let (_snapshot, source) = consistent_source(self.database.target()?).await?;
        let store = open(source, &self.database).await?;
        // PostgreSQL is read as of one moment too, while the service writes.
        let pinned = store.transfer.pin_snapshot().await?;
        let written = transfer::export(&store, &self.output, self.format).await;
        drop(pinned);
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

/// Options of `kurz import --from` another shortener.
#[derive(Debug, Args)]
pub struct ForeignOptions {
    /// With --from csv: read COLUMN as kurz's FIELD (short_code, original_url, title,
    /// is_active, created_at), e.g. --map "Long URL=original_url"; repeatable.
    #[arg(long = "map", value_name = "COLUMN=FIELD", value_parser = column_to_field)]
    map: Vec<(String, String)>,
    /// Read and check the file and report what an import would do, writing nothing.
    #[arg(long)]
    dry_run: bool,
    /// Leave bad rows out, each reported with its row number and reason, instead of
    /// refusing the whole file.
    #[arg(long)]
    skip_bad: bool,
    /// The id of the user who owns the imported links (none by default).
    #[arg(long, value_name = "USER_ID")]
    owner: Option<i64>,
}

fn column_to_field(raw: &str) -> Result<(String, String), String> {
    match raw.rsplit_once('=') {
        Some((column, field)) if !column.trim().is_empty() => {
            Ok((column.to_owned(), field.trim().to_owned()))
        }
        _ => Err("expected COLUMN=FIELD, e.g. \"Long URL=original_url\"".into()),
    }
}

impl ForeignOptions {
    /// Refuses options that do not apply to what is imported (`None`: seed files or kurz's
    /// own export).
    pub fn check(&self, source: Option<Source>) -> anyhow::Result<()> {
        let set = !self.map.is_empty() || self.dry_run || self.skip_bad || self.owner.is_some();
        match source {
            None if set => anyhow::bail!(
                "--map, --dry-run, --skip-bad and --owner go with --from SOURCE FILE for another shortener's export"
            ),
            Some(source) if source != Source::Csv && !self.map.is_empty() => {
                anyhow::bail!("--map goes with --from csv")
            }
            _ => Ok(()),
        }
    }
}

/// `kurz import --from SOURCE FILE`: another shortener's links, checked whole, then written
/// in one transaction (unless `--dry-run`). Clashes and skipped rows are reported on stderr
/// and in the summary; neither fails the run.
pub async fn import_foreign(
    store: &Stores,
    source: Source,
    path: &std::path::Path,
    options: &ForeignOptions,
) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let parsed = foreign::read(
        source,
        std::io::BufReader::new(file),
        &options.map,
        options.skip_bad,
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if let Some(owner) = options.owner
        && store.users.get_user(owner).await?.is_none()
    {
        anyhow::bail!("--owner {owner}: no such user");
    }
    let report =
        foreign::import(store.links.as_ref(), parsed, options.owner, options.dry_run).await?;
    for clash in &report.clashes {
        eprintln!(
            "{}: row {}: short code {:?} not imported: {}",
            path.display(),
            clash.row,
            clash.short_code,
            match &clash.existing_target {
                Some(existing) => format!("it already leads to {existing}"),
                None => "it is a route of kurz".to_owned(),
            }
        );
    }
    for skipped in &report.skipped {
        eprintln!(
            "{}: row {}: skipped: {}",
            path.display(),
            skipped.row.map_or("?".to_owned(), |r| r.to_string()),
            skipped.reason
        );
    }
    let mut summary = serde_json::to_value(&report)?;
    if let Some(object) = summary.as_object_mut() {
        object.insert("source".into(), json!(source.name()));
        object.insert("file".into(), json!(path));
    }
    println!("{summary}");
    Ok(())
}

/// Where to read a store whole while the service may be writing to it: the embedded store
/// from a snapshot (deleted when the returned guard drops), PostgreSQL in place.
async fn consistent_source(
    target: StoreTarget,
) -> anyhow::Result<(Option<transfer::Scratch>, StoreTarget)> {
    match target {
        StoreTarget::Sqlite(path) => {
            let snapshot = transfer::snapshot(&path).await?;
            let source = StoreTarget::Sqlite(snapshot.to_path_buf());
            Ok((Some(snapshot), source))
        }
        in_place => Ok((None, in_place)),
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
        let _telemetry = telemetry::init_command_logs(&self.log);
        let from = self.database.target()?;
        let to = StoreTarget::from_url(&self.to)?;
        if from == to || transfer::same_store(&from, &to).await? {
            anyhow::bail!("the target is the source itself");
        }
        let live = open(from.clone(), &self.database).await?;
        let (snapshot, source) = consistent_source(from).await?;
        let source = match &snapshot {
            Some(_) => open(source, &self.database).await?,
            None => live.clone(),
        };
        let target = open(to, &self.database).await?;
        // PostgreSQL is copied as of one moment too, while the service writes.
        let pinned = source.transfer.pin_snapshot().await?;
        let copied = transfer::copy(&source, &target, self.force).await;
        drop(pinned);
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
        let _telemetry = telemetry::init_command_logs(&self.log);
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
        let _telemetry = telemetry::init_command_logs(&self.log);
        if !self.file.is_file() {
            anyhow::bail!("no backup file at {}", self.file.display());
        }
        // A working copy: opening a backup brings its schema up to date, and the backup
        // itself stays as it was written.
        let work = transfer::Scratch::new(
            tempfile::Builder::new()
                .prefix(".kurz-restore-")
                .suffix(".db")
                .tempfile()
                .context("creating a working copy of the backup")?
                .into_temp_path(),
        );
        std::fs::copy(&self.file, &work)
            .with_context(|| format!("reading {}", self.file.display()))?;
        transfer::check_backup(&work)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.file.display()))?;
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

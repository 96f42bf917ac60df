//! The embedded store's file, copied while it serves: SQLite's `VACUUM INTO` writes a
//! consistent snapshot of the database (one read transaction; writers go on meanwhile in
//! WAL mode) into a new, compact file.

use anyhow::Context;
use std::path::Path;

/// Writes a consistent copy of the SQLite database at `database` into `output`, which must
/// not exist yet.
pub async fn backup(database: &Path, output: &Path) -> anyhow::Result<()> {
    if output.exists() {
        anyhow::bail!("{} already exists; choose a new file", output.display());
    }
    if !database.is_file() {
        anyhow::bail!("no embedded database at {}", database.display());
    }
    // Written under another name, on disk, then renamed: a crash or a full disk part-way
    // leaves a `.partial` file, never a short backup under the name a restore would use.
    let mut partial = output.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    if partial.exists() {
        std::fs::remove_file(&partial)
            .with_context(|| format!("removing an unfinished {}", partial.display()))?;
    }
    let target = partial
        .to_str()
        .with_context(|| format!("{} is not a UTF-8 path", output.display()))?;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(database)
        .read_only(true);
    let mut connection: sqlx::SqliteConnection = sqlx::ConnectOptions::connect(&options)
        .await
        .with_context(|| format!("opening {}", database.display()))?;
    sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(&mut connection)
        .await
        .with_context(|| format!("writing the backup {}", output.display()))?;
    sqlx::Connection::close(connection).await?;
    // SQLite does not sync what `VACUUM INTO` writes.
    std::fs::File::open(&partial)
        .and_then(|file| file.sync_all())
        .with_context(|| format!("writing the backup {}", output.display()))?;
    std::fs::rename(&partial, output)
        .with_context(|| format!("naming the backup {}", output.display()))?;
    if let Some(dir) = output.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::File::open(dir).and_then(|dir| dir.sync_all())?;
    }
    Ok(())
}

/// Refuses a file that is not a whole kurz database before anything is cleared for it: an
/// empty file or another SQLite database would open (and be given kurz's schema, empty),
/// and a restore would then replace the store with nothing; a truncated or damaged one
/// would fail part-way through the copy, after the target was cleared.
pub async fn check_backup(file: &Path) -> anyhow::Result<()> {
    let not_a_backup = |why: &str| anyhow::anyhow!("not a kurz backup: {why}");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(file)
        .read_only(true);
    let mut connection: sqlx::SqliteConnection = sqlx::ConnectOptions::connect(&options)
        .await
        .map_err(|e| not_a_backup(&e.to_string()))?;
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
         AND name IN ('_sqlx_migrations', 'users', 'urls', 'events')",
    )
    .fetch_one(&mut connection)
    .await
    .map_err(|e| not_a_backup(&e.to_string()))?;
    if tables != 4 {
        return Err(not_a_backup("it has no kurz tables"));
    }
    let check: String = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_one(&mut connection)
        .await
        .map_err(|e| not_a_backup(&e.to_string()))?;
    if check != "ok" {
        return Err(not_a_backup(&format!("it is damaged ({check})")));
    }
    sqlx::Connection::close(connection).await?;
    Ok(())
}

/// A scratch copy of a database, removed when dropped with the files made beside it while
/// it was open (the events' index file, SQLite's own).
pub struct Scratch(tempfile::TempPath);

impl Scratch {
    pub fn new(path: tempfile::TempPath) -> Self {
        Self(path)
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    /// SQLite's own `-wal` and `-shm` go too: a connection closed as the command exits may
    /// leave them.
    fn drop(&mut self) {
        for file in crate::store::SqliteStore::scratch_files(&self.0) {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// A snapshot of `database` beside it, removed when dropped: the source of a copy that
/// must not change under it while the service writes.
pub async fn snapshot(database: &Path) -> anyhow::Result<Scratch> {
    let dir = database.parent().unwrap_or(Path::new("."));
    let path = tempfile::Builder::new()
        .prefix(".kurz-snapshot-")
        .suffix(".db")
        .tempfile_in(dir)
        .with_context(|| format!("creating a snapshot file in {}", dir.display()))?
        .into_temp_path();
    // VACUUM INTO wants to create the file itself.
    std::fs::remove_file(&path)?;
    backup(database, &path).await?;
    Ok(Scratch::new(path))
}

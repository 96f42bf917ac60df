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
    let target = output
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
    Ok(())
}

/// A snapshot of `database` beside it, removed when dropped: the source of a copy that
/// must not change under it while the service writes.
pub async fn snapshot(database: &Path) -> anyhow::Result<tempfile::TempPath> {
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
    Ok(path)
}

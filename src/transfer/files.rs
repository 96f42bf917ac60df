//! `kurz export` and `kurz import --from kurz`: a store's users, urls and events as files,
//! streamed both ways in batches (constant memory at any size). CSV is the seed files'
//! format (so `kurz import --users …` reads an export too); JSON lines carry the same fields,
//! one object per line. API keys are not exported: they are credentials (a move keeps them:
//! `migrate-store`, `backup`).

use super::{BATCH, Batches, Checksum, Copied, empty_target, verify};
use crate::domain::User;
use crate::import::{self, Columns, ImportError, Shape};
use crate::store::{Rows, Stores, Table};
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// The tables an export holds, with their files' columns.
const TABLES: [(Table, &Columns); 3] = [
    (Table::Users, &import::USERS),
    (Table::Urls, &import::URLS),
    (Table::Events, &import::EVENTS),
];

/// How an export writes its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "jsonl",
        }
    }

    fn shape(self) -> Shape {
        match self {
            Self::Csv => Shape::Csv,
            Self::Json => Shape::JsonLines,
        }
    }

    /// The format of the export in `dir`, by its users file.
    fn of(dir: &Path) -> anyhow::Result<Self> {
        [Self::Csv, Self::Json]
            .into_iter()
            .find(|format| dir.join(format!("users.{}", format.extension())).is_file())
            .with_context(|| format!("no users.csv or users.jsonl in {}", dir.display()))
    }
}

fn file(dir: &Path, table: Table, format: Format) -> PathBuf {
    dir.join(format!("{}.{}", table.name(), format.extension()))
}

/// Each row as the cells of its CSV line, in the order of its table's columns: the JSON of
/// the row, field by field, as the import reads a cell back (`import::cell`).
fn cells(rows: &Rows, columns: &Columns) -> Vec<Vec<String>> {
    rows.json_values()
        .iter()
        .map(|row| {
            let field = |name: &&str| row.get(*name).map(import::cell).unwrap_or_default();
            columns.all.iter().map(field).collect()
        })
        .collect()
}

/// Records as CSV text (quoted where needed).
fn csv_lines(records: &[Vec<String>]) -> anyhow::Result<Vec<u8>> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    for record in records {
        csv.write_record(record)?;
    }
    csv.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// Writes users, urls and events of `store` into `dir` (created if missing; files there
/// are replaced); what each file holds, with its checksum.
///
/// Each file is written under a `.partial` name and all three are renamed into place once
/// every one is whole, so that a crash or a full disk part-way leaves the previous export
/// as it was, not a cut file an import would take for whole; an export of the other format
/// in `dir` is removed (an import reads whichever users file it finds first). The tables
/// are read in the reverse of their references' order (events, urls, users), so that from
/// a store taking writes meanwhile, no url names an owner created after the users were
/// read (the embedded store is exported from a snapshot, exactly).
pub async fn export(store: &Stores, dir: &Path, format: Format) -> anyhow::Result<Vec<Copied>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    let mut finished = Vec::new();
    for (table, columns) in TABLES.into_iter().rev() {
        let path = file(dir, table, format);
        let partial = path.with_extension(format!("{}.partial", format.extension()));
        let out = std::fs::File::create(&partial)
            .with_context(|| format!("writing {}", partial.display()))?;
        let mut out = std::io::BufWriter::new(out);
        if format == Format::Csv {
            out.write_all(&csv_lines(&[columns
                .all
                .iter()
                .map(|c| c.to_string())
                .collect()])?)?;
        }
        let mut sum = Checksum::default();
        let mut batches = Batches::of(store, table);
        while let Some(rows) = batches.next().await? {
            sum.add(&rows);
            match format {
                Format::Csv => out.write_all(&csv_lines(&cells(&rows, columns))?)?,
                Format::Json => {
                    for line in rows.json_lines() {
                        writeln!(out, "{line}")?;
                    }
                }
            }
        }
        out.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|file| file.sync_all())
            .with_context(|| format!("writing {}", partial.display()))?;
        written.push(sum.finish(table));
        finished.push((partial, path));
    }
    for (partial, path) in finished {
        std::fs::rename(&partial, &path).with_context(|| format!("naming {}", path.display()))?;
    }
    let other = match format {
        Format::Csv => Format::Json,
        Format::Json => Format::Csv,
    };
    for (table, _) in TABLES {
        let stale = file(dir, table, other);
        if stale.is_file() {
            std::fs::remove_file(&stale)
                .with_context(|| format!("removing the older export {}", stale.display()))?;
        }
    }
    written.reverse();
    Ok(written)
}

/// A user row of an export as the store takes it back: an export names every id.
fn user(row: &import::Row<'_>) -> Result<User, ImportError> {
    let imported = import::user_row(row)?;
    match (imported.id, imported.created_at) {
        (Some(id), Some(created_at)) => Ok(User {
            id,
            username: imported.username,
            email: imported.email,
            created_at,
        }),
        _ => Err(row.fail("an export names every user's id and created_at".into())),
    }
}

/// Reads one export file in batches, handing each to `batch`; stops at the first bad row.
fn read_file(
    path: &Path,
    table: Table,
    columns: &Columns,
    shape: Shape,
    batch: impl FnMut(Rows) -> Result<(), ImportError>,
) -> anyhow::Result<usize> {
    let input = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let read = match table {
        Table::Users => in_batches(input, shape, columns, user, Rows::Users, batch),
        Table::Urls => in_batches(input, shape, columns, import::url_row, Rows::Urls, batch),
        _ => in_batches(
            input,
            shape,
            columns,
            import::event_row,
            Rows::Events,
            batch,
        ),
    };
    read.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Every row `parse` makes of `input`, handed on [`BATCH`] at a time; the number of rows.
fn in_batches<T>(
    input: std::fs::File,
    shape: Shape,
    columns: &Columns,
    parse: impl FnMut(&import::Row<'_>) -> Result<T, ImportError>,
    wrap: fn(Vec<T>) -> Rows,
    mut batch: impl FnMut(Rows) -> Result<(), ImportError>,
) -> Result<usize, ImportError> {
    let mut buffer = Vec::new();
    let rows = import::each_row(input, shape, columns, parse, |row| {
        buffer.push(row);
        if buffer.len() >= BATCH as usize {
            batch(wrap(std::mem::take(&mut buffer)))?;
        }
        Ok(())
    })?;
    if !buffer.is_empty() {
        batch(wrap(buffer))?;
    }
    Ok(rows)
}

/// Loads an export written by [`export`] into `store` and verifies it. Every file is read
/// through once before anything is written, so a bad row (named by file and row number)
/// changes nothing; a store that holds data is refused unless `force`.
pub async fn import(store: &Stores, dir: &Path, force: bool) -> anyhow::Result<Vec<Copied>> {
    let format = Format::of(dir)?;
    for (table, columns) in TABLES {
        let path = file(dir, table, format);
        tokio::task::spawn_blocking(move || {
            read_file(&path, table, columns, format.shape(), |_| Ok(()))
        })
        .await??;
    }
    empty_target(store, force).await?;
    let mut copied = Vec::new();
    for (table, columns) in TABLES {
        let path = file(dir, table, format);
        // A reader thread parses while this task writes: two batches in flight at most.
        let (tx, mut rx) = mpsc::channel::<Rows>(2);
        let reader = tokio::task::spawn_blocking(move || {
            read_file(&path, table, columns, format.shape(), |rows| {
                tx.blocking_send(rows).map_err(|_| ImportError {
                    row: None,
                    message: "the writer stopped".into(),
                })
            })
        });
        let mut sum = Checksum::default();
        while let Some(rows) = rx.recv().await {
            sum.add(&rows);
            store.transfer.put_rows(&rows).await?;
        }
        reader.await??;
        copied.push(sum.finish(table));
    }
    store.transfer.recount_clicks().await?;
    verify(store, &copied).await?;
    Ok(copied)
}

//! `kurz export` and `kurz import --from kurz`: a store's users, urls and events as files,
//! streamed both ways in batches (constant memory at any size). CSV is the seed files'
//! format (so `kurz import --users …` reads an export too); JSON lines carry the same fields,
//! one object per line. API keys are not exported: they are credentials (a move keeps them:
//! `migrate-store`, `backup`).

use super::{BATCH, Batches, Checksum, Copied, empty_target, verify};
use crate::domain::{Event, Url, User};
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
pub async fn export(store: &Stores, dir: &Path, format: Format) -> anyhow::Result<Vec<Copied>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for (table, columns) in TABLES {
        let path = file(dir, table, format);
        let out =
            std::fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?;
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
        out.flush()?;
        written.push(sum.finish(table));
    }
    Ok(written)
}

/// A row of an export file as the store takes it back.
fn user(imported: crate::domain::ImportedUser, row: usize) -> Result<User, ImportError> {
    match (imported.id, imported.created_at) {
        (Some(id), Some(created_at)) => Ok(User {
            id,
            username: imported.username,
            email: imported.email,
            created_at,
        }),
        _ => Err(ImportError {
            row: Some(row),
            message: "an export names every user's id and created_at".into(),
        }),
    }
}

/// Reads one export file in batches, handing each to `batch`; stops at the first bad row.
fn read_file(
    path: &Path,
    table: Table,
    columns: &Columns,
    shape: Shape,
    mut batch: impl FnMut(Rows) -> Result<(), ImportError>,
) -> anyhow::Result<usize> {
    let input = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = BATCH as usize;
    let (mut users, mut urls, mut events) = (Vec::new(), Vec::<Url>::new(), Vec::<Event>::new());
    let mut number = 0;
    let read = each_parsed(input, shape, table, columns, |parsed| {
        number += 1;
        match parsed {
            Parsed::User(u) => users.push(user(u, number)?),
            Parsed::Url(u) => urls.push(u),
            Parsed::Event(e) => events.push(e),
        }
        if users.len() + urls.len() + events.len() >= size {
            batch(take(&mut users, &mut urls, &mut events, table))?;
        }
        Ok(())
    });
    let rows = read.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let rest = take(&mut users, &mut urls, &mut events, table);
    if !rest.is_empty() {
        batch(rest).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    Ok(rows)
}

enum Parsed {
    User(crate::domain::ImportedUser),
    Url(Url),
    Event(Event),
}

fn each_parsed(
    input: std::fs::File,
    shape: Shape,
    table: Table,
    columns: &Columns,
    each: impl FnMut(Parsed) -> Result<(), ImportError>,
) -> Result<usize, ImportError> {
    let parse = move |row: &import::Row<'_>| match table {
        Table::Users => import::user_row(row).map(Parsed::User),
        Table::Urls => import::url_row(row).map(Parsed::Url),
        _ => import::event_row(row).map(Parsed::Event),
    };
    import::each_row(input, shape, columns, parse, each)
}

fn take(users: &mut Vec<User>, urls: &mut Vec<Url>, events: &mut Vec<Event>, table: Table) -> Rows {
    match table {
        Table::Users => Rows::Users(std::mem::take(users)),
        Table::Urls => Rows::Urls(std::mem::take(urls)),
        _ => Rows::Events(std::mem::take(events)),
    }
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

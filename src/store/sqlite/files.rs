//! The files beside a database: SQLite's own (`-wal`, `-shm`) and the events' index file,
//! each named by a suffix on the database's path.

use std::path::{Path, PathBuf};

/// `path` with `suffix` appended to its name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// SQLite's write-ahead log and shared-memory index of the database at `path`.
pub fn journal(path: &Path) -> [PathBuf; 2] {
    [beside(path, "-wal"), beside(path, "-shm")]
}

/// The events' index file of the database at `database`.
pub fn index(database: &Path) -> PathBuf {
    beside(database, "-index")
}

/// The index file of the database at `database` and SQLite's files beside it: derived,
/// removed with a scratch copy of the database or when the index is made again.
pub fn derived(database: &Path) -> [PathBuf; 3] {
    let index = index(database);
    let [wal, shm] = journal(&index);
    [wal, shm, index]
}

//! `StoreError`: why a store call failed, in the terms the HTTP layer maps to statuses.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was hit; the field names which one (`username`, `email`, `short_code`).
    #[error("{0} is already taken")]
    Conflict(&'static str),
    /// A row referred to by id does not exist (`user`, `url`).
    #[error("{0} not found")]
    MissingReference(&'static str),
    /// The store cannot be reached or is overloaded; worth retrying later.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else: a bug or a broken database.
    #[error("store error: {0}")]
    Other(#[source] sqlx::Error),
    /// Stored data that cannot be read back as a domain value.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// One failure shared by every request that waited on the same coalesced lookup.
    #[error(transparent)]
    Shared(std::sync::Arc<StoreError>),
    /// The database is known to be down (the breaker is open): not tried at all.
    #[error("store unavailable: the database does not answer")]
    Down,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Connections found lost so far (the socket failed, or the server said it is shutting
/// down): after one, the PostgreSQL pool checks each connection before handing it out again
/// (`postgres::pool`), since a restart of the database leaves every pooled connection dead.
static CONNECTIONS_LOST: AtomicU64 = AtomicU64::new(0);

/// How many connections have been found lost (see [`CONNECTIONS_LOST`]).
pub fn connections_lost() -> u64 {
    CONNECTIONS_LOST.load(Ordering::Acquire)
}

impl StoreError {
    /// Classifies a driver error: connection-level trouble is transient.
    pub fn from_sqlx(err: sqlx::Error) -> Self {
        if is_connection_lost(&err) {
            CONNECTIONS_LOST.fetch_add(1, Ordering::AcqRel);
        }
        match &err {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => Self::Unavailable(err),
            sqlx::Error::Database(db) if is_transient_code(db.code().as_deref()) => {
                Self::Unavailable(err)
            }
            // A value that does not decode (a bad timestamp, details that are not an object).
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                Self::Corrupt(err.to_string())
            }
            _ => Self::Other(err),
        }
    }

    /// Maps a unique or foreign-key violation to the client-facing error it means
    /// (`unique`/`foreign` name the field and the referenced row); anything else as `from_sqlx`.
    pub fn from_constraint(err: sqlx::Error, unique: &'static str, foreign: &'static str) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(unique),
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                Self::MissingReference(foreign)
            }
            _ => Self::from_sqlx(err),
        }
    }

    /// True when retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable(_) | Self::Down => true,
            Self::Shared(inner) => inner.is_transient(),
            _ => false,
        }
    }

    /// True when the breaker refused the call (the database is known to be down).
    pub fn is_down(&self) -> bool {
        match self {
            Self::Down => true,
            Self::Shared(inner) => inner.is_down(),
            _ => false,
        }
    }

    /// Unwraps an error shared by coalesced callers when this caller is its only holder.
    pub fn from_shared(shared: std::sync::Arc<StoreError>) -> Self {
        std::sync::Arc::try_unwrap(shared).unwrap_or_else(Self::Shared)
    }

    /// True when the failed call surely changed nothing, so a write may be sent again
    /// without risking a duplicate: the connection was never made, or the database rolled
    /// the whole transaction back (serialization failure, deadlock, busy).
    pub fn is_safe_to_repeat(&self) -> bool {
        match self {
            Self::Unavailable(sqlx::Error::Io(io)) => {
                io.kind() == std::io::ErrorKind::ConnectionRefused
            }
            Self::Unavailable(sqlx::Error::Database(db)) => matches!(
                db.code().as_deref(),
                Some("5" | "6" | "261" | "517" | "40001" | "40P01" | "57P03" | "53300")
            ),
            // A batch's error, shared by its creates: as safe for each as for the batch.
            Self::Shared(inner) => inner.is_safe_to_repeat(),
            _ => false,
        }
    }
}

/// A connection that is gone, as opposed to a statement that failed on a live one.
fn is_connection_lost(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => {
            matches!(db.code().as_deref(), Some("57P01" | "57P02" | "57P03"))
        }
        _ => false,
    }
}

/// SQLite busy/locked, PostgreSQL serialization failure, deadlock, admin shutdown,
/// cannot-connect-now, too-many-connections.
fn is_transient_code(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("5" | "6" | "261" | "517" | "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "53300")
    )
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        Self::from_sqlx(err)
    }
}

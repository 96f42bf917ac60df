//! What both SQL dialects share, written once: each resource's statements and store (the
//! macros of [`users`], [`links`], [`events`], [`keys`], which each backend instantiates for
//! itself over the primitives it provides; `$1`, `$2`, … in ascending order read the same in
//! SQLite and PostgreSQL), `Timestamp` as a column type of both databases (so rows map with
//! one `FromRow` each), the bulk upserts of imports, list queries and migrations.

pub mod events;
pub mod helpers;
pub mod keys;
pub mod links;
pub mod stats;
pub mod transfer;
pub mod users;

use super::filter::{FilterValue, push_count, push_page_filters};
use super::{Page, StoreError, StoreResult};
use crate::domain::{Event, LinkSettings, PasswordHash, StoredApiKey, Timestamp, Url, User};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef};
use sqlx::query_builder::Separated;
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::types::Json;
use sqlx::{Database, Decode, Encode, Postgres, QueryBuilder, Sqlite, Type};
use time::PrimitiveDateTime;

/// Every resource store and the shared helpers, implemented for one backend type (which
/// provides the primitives [`helpers`] names).
macro_rules! resources {
    ($store:ty, $db:ty) => {
        $crate::store::sql::helpers::helpers!($store, $db);
        $crate::store::sql::users::user_store!($store, $db);
        $crate::store::sql::links::link_store!($store, $db);
        $crate::store::sql::events::event_store!($store, $db);
        $crate::store::sql::keys::key_store!($store, $db);
        $crate::store::sql::transfer::transfer_store!($store, $db);
        $crate::store::sql::stats::stats_store!($store, $db);
    };
}
pub(crate) use resources;

/// The one row of a query by a unique key, if any.
pub fn first<T>(rows: Vec<T>) -> Option<T> {
    rows.into_iter().next()
}

/// The tables imports and transfers write; PostgreSQL locks each against concurrent inserts
/// and then moves its id sequence past the imported ids (SQLite's AUTOINCREMENT needs
/// neither).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Users,
    Urls,
    Events,
    ApiKeys,
}

impl Table {
    /// Every table, in the order their references need (owners before what they own).
    pub const ALL: [Table; 4] = [Self::Users, Self::Urls, Self::Events, Self::ApiKeys];

    pub fn name(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Urls => "urls",
            Self::Events => "events",
            Self::ApiKeys => "api_keys",
        }
    }

    /// What a failed upsert into this table means for the client.
    pub fn refusal(self, err: sqlx::Error) -> StoreError {
        match self {
            Self::Urls => StoreError::from_constraint(err, "short_code", "user"),
            Self::Users | Self::Events | Self::ApiKeys => StoreError::from_sqlx(err),
        }
    }
}

/// Splits rows for multi-row INSERTs into chunks of a few fixed sizes (greedy, largest
/// first), so each size's statement is prepared once and then reused from the statement
/// cache; chunks of every possible size would each be prepared anew. The largest is large
/// on purpose: sqlx 0.9 leaves Nagle's algorithm on for TCP connections, and a statement
/// larger than one segment waits ~40 ms for PostgreSQL's delayed ACK, so the fewer the
/// statements, the fewer the waits (`migrate-store` over TCP: 36.7 s → 5.4 s for 205k rows
/// going from 256 to 2048). 2048 rows of the widest table (API keys, 11 columns) are 22,528
/// parameters, under SQLite's 32,766 and PostgreSQL's 65,535.
pub fn insert_chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    const SIZES: [usize; 5] = [2048, 256, 32, 4, 1];
    std::iter::from_fn(move || {
        let size = SIZES.into_iter().find(|size| rows.len() >= *size)?;
        let (chunk, rest) = rows.split_at(size);
        rows = rest;
        Some(chunk)
    })
}

/// Awaits a connection (or a transaction, whose BEGIN is then included) from a pool and
/// records how long that took: a pool too small for the load shows here first.
pub async fn acquired<T>(pool: &'static str, acquire: impl std::future::Future<Output = T>) -> T {
    let start = std::time::Instant::now();
    let connection = acquire.await;
    metrics::histogram!("kurz_store_pool_acquire_seconds", "pool" => pool)
        .record(start.elapsed().as_secs_f64());
    connection
}

/// Defines functions generic over the database, bounded by the column types of kurz's rows
/// (a where-clause cannot be shared any other way).
macro_rules! over_databases {
    ($($(#[$meta:meta])* pub fn $name:ident<$db:ident>($($arg:ident: $ty:ty),*) -> $ret:ty $body:block)*) => {$(
        $(#[$meta])*
        pub fn $name<$db: Database>($($arg: $ty),*) -> $ret
        where
            i64: for<'q> Encode<'q, $db> + Type<$db>,
            Option<i64>: for<'q> Encode<'q, $db> + Type<$db>,
            bool: for<'q> Encode<'q, $db> + Type<$db>,
            String: for<'q> Encode<'q, $db> + Type<$db>,
            for<'s> &'s str: Encode<'s, $db> + Type<$db>,
            for<'s> Option<&'s str>: Encode<'s, $db> + Type<$db>,
            Timestamp: for<'q> Encode<'q, $db> + Type<$db>,
            Option<Timestamp>: for<'q> Encode<'q, $db> + Type<$db>,
            for<'j> Json<&'j serde_json::Map<String, serde_json::Value>>: Encode<'j, $db> + Type<$db>,
            for<'j> Option<Json<&'j LinkSettings>>: Encode<'j, $db> + Type<$db>,
            Option<PasswordHash>: for<'q> Encode<'q, $db> + Type<$db>,
        $body
    )*};
}

over_databases! {
/// The paged `SELECT` of one list carrying, as its column `total`, the number of rows its
/// filters match (one statement, one trip to the database, one snapshot); and the
/// `SELECT count(*)` alone, for a page past the end, which has no row to carry it. With
/// `counted`, a query that reads the table's kept number of rows (only for a list without
/// filters), that query replaces the count.
pub fn list_queries<DB>(table: &str, counted: Option<&str>, select: &str, filters: &[(&'static str, Option<FilterValue>)], page: Page) -> (QueryBuilder<DB>, QueryBuilder<DB>) {
    let total = counted.map_or_else(|| format!("SELECT count(*) FROM {table}"), str::to_owned);
    let count = || {
        let mut count = QueryBuilder::<DB>::new("");
        push_count(&mut count, &total, filters);
        count
    };
    // The filters twice, each with its own binds (SQLite's placeholders are positional).
    let mut rows = QueryBuilder::<DB>::new("SELECT (");
    push_count(&mut rows, &total, filters);
    rows.push(") AS total, page.* FROM (").push(select);
    push_page_filters(&mut rows, filters, page.offset.saturating_add(page.limit));
    rows.push(" ORDER BY id LIMIT ")
        .push_bind(page.limit)
        .push(" OFFSET ")
        .push_bind(page.offset)
        .push(") AS page ORDER BY page.id");
    (count(), rows)
}

/// One multi-row upsert of imported users, keeping their ids.
pub fn upsert_users<DB>(rows: &[User]) -> QueryBuilder<DB> {
    upsert("users", &["id", "username", "email", "created_at"], rows, |mut row, u| {
        row.push_bind(u.id).push_bind(u.username.as_str());
        row.push_bind(u.email.as_str()).push_bind(u.created_at);
    })
}

/// One multi-row upsert of imported urls, keeping their ids.
pub fn upsert_urls<DB>(rows: &[Url]) -> QueryBuilder<DB> {
    let columns = ["id", "user_id", "short_code", "original_url", "title", "is_active", "created_at", "updated_at", "settings", "password_hash"];
    upsert("urls", &columns, rows, |mut row, u| {
        row.push_bind(u.id).push_bind(u.user_id).push_bind(u.short_code.as_str());
        row.push_bind(u.original_url.as_str()).push_bind(u.title.as_deref());
        row.push_bind(u.is_active).push_bind(u.created_at).push_bind(u.updated_at);
        row.push_bind(u.settings.as_ref().map(Json)).push_bind(u.password_hash.clone());
    })
}

/// One multi-row upsert of API keys, keeping their ids (a transfer between stores).
pub fn upsert_api_keys<DB>(rows: &[StoredApiKey]) -> QueryBuilder<DB> {
    let columns = ["id", "name", "prefix", "secret_hash", "scope", "user_id", "created_at", "expires_at", "revoked_at", "last_used_at", "request_count"];
    upsert("api_keys", &columns, rows, |mut row, stored| {
        let k = &stored.key;
        row.push_bind(k.id).push_bind(k.name.as_str()).push_bind(k.prefix.as_str());
        row.push_bind(stored.secret_hash.as_str()).push_bind(k.scope.as_str()).push_bind(k.user_id);
        row.push_bind(k.created_at).push_bind(k.expires_at).push_bind(k.revoked_at);
        row.push_bind(k.last_used_at).push_bind(k.request_count);
    })
}

/// One multi-row upsert of imported events, keeping their ids.
pub fn upsert_events<DB>(rows: &[Event]) -> QueryBuilder<DB> {
    let columns = ["id", "url_id", "user_id", "event_type", "timestamp", "details"];
    upsert("events", &columns, rows, |mut row, e| {
        row.push_bind(e.id).push_bind(e.url_id).push_bind(e.user_id);
        row.push_bind(e.event_type.as_str()).push_bind(e.timestamp).push_bind(Json(&e.details));
    })
}
}

/// A multi-row upsert into `table` by `id` (the first of `columns`): `push` binds one row's
/// values in the order of `columns`, and a row already there takes every value given.
fn upsert<DB: Database, T>(
    table: &str,
    columns: &[&str],
    rows: &[T],
    push: impl FnMut(Separated<'_, DB, &'static str>, &T),
) -> QueryBuilder<DB> {
    let mut insert = QueryBuilder::new(format!("INSERT INTO {table} ({}) ", columns.join(", ")));
    insert.push_values(rows, push);
    let updates: Vec<String> = columns[1..]
        .iter()
        .map(|column| format!("{column} = excluded.{column}"))
        .collect();
    insert.push(format!(
        " ON CONFLICT (id) DO UPDATE SET {}",
        updates.join(", ")
    ));
    insert
}

/// Runs a backend's migrations. After a rollback an older release runs on a newer schema
/// (docs/DEPLOY.md), so migrations it does not know are no error.
/// On one connection, through `run_direct`: what `Migrator::run` does after acquiring,
/// and the form sqlx offers where `run`'s `Acquire` bound cannot be met inside an
/// `async_trait` method (a pooled PostgreSQL connection is kurz's own, not sqlx's). It is
/// hidden from sqlx's documentation, so a sqlx upgrade may move it.
pub async fn migrate<C: Migrate>(mut migrator: Migrator, on: &mut C) -> StoreResult<()> {
    migrator.set_ignore_missing(true);
    migrator
        .run_direct(None, on, false)
        .await
        .map_err(|e| StoreError::from_sqlx(sqlx::Error::Migrate(Box::new(e))))
}

// `Timestamp` as a column: TEXT in the wire format on SQLite (it sorts and compares as
// text), `TIMESTAMP(0)` on PostgreSQL.

impl Type<Sqlite> for Timestamp {
    fn type_info() -> SqliteTypeInfo {
        <&str as Type<Sqlite>>::type_info()
    }
}

impl Encode<'_, Sqlite> for Timestamp {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(self.to_string(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ok(Timestamp::parse(text).map_err(StoreError::Corrupt)?)
    }
}

impl Type<Postgres> for Timestamp {
    fn type_info() -> PgTypeInfo {
        <PrimitiveDateTime as Type<Postgres>>::type_info()
    }
}

impl PgHasArrayType for Timestamp {
    fn array_type_info() -> PgTypeInfo {
        <PrimitiveDateTime as PgHasArrayType>::array_type_info()
    }
}

impl Encode<'_, Postgres> for Timestamp {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <PrimitiveDateTime as Encode<Postgres>>::encode_by_ref(&self.as_primitive(), buf)
    }
}

impl<'r> Decode<'r, Postgres> for Timestamp {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let value = <PrimitiveDateTime as Decode<Postgres>>::decode(value)?;
        Ok(Timestamp::from_primitive(value))
    }
}

#[cfg(test)]
mod tests {
    use super::insert_chunks;

    #[test]
    fn insert_chunks_cover_every_row_in_a_few_sizes() {
        let rows: Vec<u32> = (0..5000).collect();
        let sizes: Vec<usize> = insert_chunks(&rows).map(<[u32]>::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 5000);
        assert!(sizes.iter().all(|s| [2048, 256, 32, 4, 1].contains(s)));
        assert_eq!(&sizes[..2], [2048, 2048]);
        assert_eq!(insert_chunks::<u32>(&[]).count(), 0);
    }
}

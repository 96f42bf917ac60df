//! How the PostgreSQL store reaches its database: the pool behind the breaker, and whether
//! statements may be prepared by name. Cloned into the task that writes creates in groups
//! ([`super::creates`]), which shares them with the store.

use crate::store::StoreResult;
use crate::store::breaker::Breaker;
use crate::store::pool;
use crate::store::sql::acquired;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{FromRow, PgConnection, Postgres};
use std::ops::{Deref, DerefMut};

pub type Pool = pool::Pool<PgConnection>;
pub type Pooled = pool::Pooled<PgConnection>;
pub type Transaction = pool::Transaction<PgConnection>;

#[derive(Clone)]
pub struct Connections {
    pub pool: Pool,
    /// Fails acquires at once while the database is known to be down.
    pub breaker: Breaker,
    /// Whether statements are prepared by name and cached per connection (direct
    /// connections), or sent unnamed (PgBouncer in transaction mode, where a named
    /// statement would outlive the transaction it was prepared in and collide with another
    /// client's).
    pub prepared: bool,
}

impl Connections {
    /// A statement, prepared by name or not as the connection allows.
    pub fn query(&self, sql: &'static str) -> Query<'static, Postgres, PgArguments> {
        sqlx::query(sql).persistent(self.prepared)
    }

    pub fn query_as<T>(&self, sql: &'static str) -> QueryAs<'static, Postgres, T, PgArguments>
    where
        T: for<'r> FromRow<'r, PgRow>,
    {
        sqlx::query_as(sql).persistent(self.prepared)
    }

    pub fn query_scalar<T>(
        &self,
        sql: &'static str,
    ) -> QueryScalar<'static, Postgres, T, PgArguments>
    where
        (T,): for<'r> FromRow<'r, PgRow>,
    {
        sqlx::query_scalar(sql).persistent(self.prepared)
    }

    /// A connection for statements outside an explicit transaction (see [`Session`]).
    pub async fn session(&self) -> StoreResult<Session> {
        Ok(if self.prepared {
            Session::Pooled(self.acquire(self.pool.acquire()).await?)
        } else {
            Session::Pinned(self.acquire(self.pool.begin()).await?)
        })
    }

    pub async fn begin(&self) -> StoreResult<Transaction> {
        self.acquire(self.pool.begin()).await
    }

    /// A connection from the pool, through the breaker.
    async fn acquire<C>(
        &self,
        acquire: impl std::future::Future<Output = Result<C, sqlx::Error>>,
    ) -> StoreResult<C> {
        self.breaker.acquire(acquired("postgres", acquire)).await
    }
}

/// A connection for statements outside an explicit transaction. Behind PgBouncer in
/// transaction mode it is a transaction of its own: sqlx sends a statement's parse and its
/// execution in two exchanges, and between them PgBouncer may hand the server connection
/// to another client, whose unnamed statement then meets our parameters.
pub enum Session {
    Pooled(Pooled),
    Pinned(Transaction),
}

impl Session {
    /// Makes a write in this session stick: a pinned session is a transaction, which would
    /// roll back when dropped.
    pub async fn commit(self) -> StoreResult<()> {
        if let Self::Pinned(transaction) = self {
            transaction.commit().await?;
        }
        Ok(())
    }
}

impl Deref for Session {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        match self {
            Self::Pooled(connection) => connection,
            Self::Pinned(transaction) => transaction,
        }
    }
}

impl DerefMut for Session {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match self {
            Self::Pooled(connection) => connection,
            Self::Pinned(transaction) => transaction,
        }
    }
}

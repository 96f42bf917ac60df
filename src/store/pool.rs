//! The store's connections, pooled by kurz (deadpool) rather than by sqlx, for PostgreSQL
//! and for SQLite alike. sqlx's pool pings every connection on its way back, in a task of
//! its own that holds the connection meanwhile, and again before handing it out: round
//! trips to the database (or to SQLite's worker thread), each a turn of the runtime, per
//! store call. On PostgreSQL, without them, side by side, the CPU per create fell by 15–35 %
//! and one replica waited a third to a sixth as long for a connection (BENCHMARKS.md,
//! 2026-12-02, seventh round); on SQLite the one writer sat idle through them between every
//! two transactions (tenth round).
//!
//! Here a connection goes back as it is. What the ping was for is kept otherwise: before
//! every statement sqlx first reads whatever the last one left unread (a request cancelled
//! mid-statement), a transaction left open is rolled back before its connection goes back
//! (so no lock outlives its request), and a connection is pinged before it is handed out
//! when it sat idle for a second or more, or when a connection has been found lost since it
//! was last checked (a database restart leaves them all dead: each is then replaced instead
//! of failing one request after another).

use crate::store::error::connections_lost;
use deadpool::managed::{self, Metrics, Object, PoolError, RecycleError, RecycleResult};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A connection the pool holds: any of sqlx's (PostgreSQL's and SQLite's here).
pub trait Link: Connection + Sized + 'static {
    /// Runs one statement without parameters (`BEGIN`, `COMMIT`, `ROLLBACK`).
    fn run(
        &mut self,
        statement: &'static str,
    ) -> Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + '_>>;

    /// Runs `script`, one or more statements without parameters, on a new connection.
    fn set_up(
        &mut self,
        script: Arc<str>,
    ) -> Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + '_>>;
}

impl<C> Link for C
where
    C: Connection + Sized + 'static,
    for<'c> &'c mut C: Executor<'c>,
{
    fn run(
        &mut self,
        statement: &'static str,
    ) -> Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + '_>> {
        Box::pin(async move { self.execute(statement).await.map(|_| ()) })
    }

    fn set_up(
        &mut self,
        script: Arc<str>,
    ) -> Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + '_>> {
        Box::pin(async move {
            self.execute(sqlx::raw_sql(AssertSqlSafe(script)))
                .await
                .map(|_| ())
        })
    }
}

/// Connections idle this long are pinged before use.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);
/// Longest wait for the `ROLLBACK` of a transaction left open; past it the connection is closed.
const ROLLBACK_WAIT: Duration = Duration::from_secs(5);
/// Longest wait for the database to take a connection's goodbye at shutdown.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Opens connections with the store's options (and runs its set-up script on each, if it
/// has one), and checks them before reuse.
pub struct Manager<C: Link> {
    options: C::Options,
    set_up: Option<Arc<str>>,
}

/// A pooled connection, and the count of lost connections when it was last known alive.
pub struct Checked<C> {
    connection: C,
    lost_before: u64,
}

impl<C: Link> managed::Manager for Manager<C> {
    type Type = Checked<C>;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<Checked<C>, sqlx::Error> {
        let lost_before = connections_lost();
        let mut connection = self.options.connect().await?;
        if let Some(script) = &self.set_up {
            connection.set_up(script.clone()).await?;
        }
        Ok(Checked {
            connection,
            lost_before,
        })
    }

    /// A connection handed out a moment ago is alive, unless connections have been lost
    /// since; otherwise (or after sitting idle, through a database restart, say) it is pinged
    /// first, and replaced if it does not answer. Pinging every time cost a round trip per
    /// statement.
    async fn recycle(
        &self,
        checked: &mut Checked<C>,
        metrics: &Metrics,
    ) -> RecycleResult<sqlx::Error> {
        let lost = connections_lost();
        if metrics.last_used() < CHECK_AFTER_IDLE && checked.lost_before == lost {
            return Ok(());
        }
        checked
            .connection
            .ping()
            .await
            .map_err(RecycleError::Backend)?;
        checked.lost_before = lost;
        Ok(())
    }
}

/// At most `size` connections, opened when first needed: a database that is down at start-up
/// delays readiness instead of failing the process. A clone shares the same connections.
pub struct Pool<C: Link> {
    inner: managed::Pool<Manager<C>>,
    acquire_timeout: Duration,
}

impl<C: Link> Clone for Pool<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            acquire_timeout: self.acquire_timeout,
        }
    }
}

impl<C: Link> Pool<C> {
    pub fn new(
        options: C::Options,
        size: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, sqlx::Error> {
        Self::set_up(options, None, size, acquire_timeout)
    }

    /// As [`Self::new`], running `script` on every connection it opens (SQLite's readers
    /// attach the events' index file so).
    pub fn set_up(
        options: C::Options,
        script: Option<Arc<str>>,
        size: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, sqlx::Error> {
        let manager = Manager {
            options,
            set_up: script,
        };
        let inner = managed::Pool::builder(manager)
            .max_size(size.max(1) as usize)
            .build()
            .map_err(|err| sqlx::Error::Configuration(err.to_string().into()))?;
        Ok(Self {
            inner,
            acquire_timeout,
        })
    }

    /// A connection, waiting at most the acquire timeout (opening one included).
    pub async fn acquire(&self) -> Result<Pooled<C>, sqlx::Error> {
        match tokio::time::timeout(self.acquire_timeout, self.inner.get()).await {
            Err(_) | Ok(Err(PoolError::Timeout(_))) => Err(sqlx::Error::PoolTimedOut),
            Ok(Ok(connection)) => Ok(Pooled {
                connection: Some(connection),
                open: false,
            }),
            Ok(Err(PoolError::Backend(err))) => Err(err),
            Ok(Err(PoolError::Closed)) => Err(sqlx::Error::PoolClosed),
            Ok(Err(err)) => Err(sqlx::Error::Configuration(err.to_string().into())),
        }
    }

    /// A connection with a transaction begun on it.
    pub async fn begin(&self) -> Result<Transaction<C>, sqlx::Error> {
        self.acquire().await?.begin().await
    }

    /// Refuses new acquires, says goodbye on each idle connection (so PostgreSQL does not
    /// log them as lost, and SQLite's worker thread ends) and drops the others as they come back.
    pub async fn close(&self) {
        let idle = self.inner.retain(|_, _| false).removed;
        self.inner.close();
        for checked in idle {
            let _ = tokio::time::timeout(CLOSE_WAIT, checked.connection.close()).await;
        }
    }

    /// Whether [`Self::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Most connections the pool opens.
    pub fn max_size(&self) -> usize {
        self.inner.status().max_size
    }

    /// Connections open, and how many of them are idle.
    pub fn status(&self) -> (u32, usize) {
        let status = self.inner.status();
        (status.size as u32, status.available)
    }
}

/// A connection from the [`Pool`], back to it when dropped.
pub struct Pooled<C: Link> {
    connection: Option<Object<Manager<C>>>,
    /// A transaction was begun and not committed: it is rolled back before the connection
    /// goes back.
    open: bool,
}

impl<C: Link> Pooled<C> {
    async fn begin(mut self) -> Result<Transaction<C>, sqlx::Error> {
        // Open before it is sent: a cancelled `BEGIN` may still have reached the server.
        self.open = true;
        self.run("BEGIN").await?;
        Ok(Transaction(self))
    }

    /// For a query that carries its own `BEGIN` and `COMMIT`: until [`Self::committed`],
    /// dropping this rolls back before the connection goes back.
    pub fn opening(mut self) -> Self {
        self.open = true;
        self
    }

    /// The transaction this connection's query began ended with it.
    pub fn committed(&mut self) {
        self.open = false;
    }
}

impl<C: Link> Drop for Pooled<C> {
    fn drop(&mut self) {
        let Some(mut connection) = self.connection.take() else {
            return;
        };
        if !self.open {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to roll back on: the connection is closed instead.
            drop(Object::take(connection));
            return;
        };
        runtime.spawn(async move {
            let rollback =
                tokio::time::timeout(ROLLBACK_WAIT, connection.connection.run("ROLLBACK"));
            if !matches!(rollback.await, Ok(Ok(_))) {
                drop(Object::take(connection));
            }
        });
    }
}

impl<C: Link> Deref for Pooled<C> {
    type Target = C;
    fn deref(&self) -> &C {
        match &self.connection {
            Some(checked) => &checked.connection,
            None => unreachable!("a connection until dropped"),
        }
    }
}

impl<C: Link> DerefMut for Pooled<C> {
    fn deref_mut(&mut self) -> &mut C {
        match &mut self.connection {
            Some(checked) => &mut checked.connection,
            None => unreachable!("a connection until dropped"),
        }
    }
}

/// A transaction on a pooled connection: committed by [`Transaction::commit`], rolled back
/// when dropped without it.
pub struct Transaction<C: Link>(Pooled<C>);

impl<C: Link> Transaction<C> {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.end("COMMIT").await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.end("ROLLBACK").await
    }

    /// Ends the transaction with `statement`; if that fails, dropping rolls back.
    async fn end(mut self, statement: &'static str) -> Result<(), sqlx::Error> {
        self.0.run(statement).await?;
        self.0.open = false;
        Ok(())
    }
}

impl<C: Link> Deref for Transaction<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C: Link> DerefMut for Transaction<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.0
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;

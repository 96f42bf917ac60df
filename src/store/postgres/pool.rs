//! PostgreSQL's connections, pooled by kurz (deadpool) rather than by sqlx. sqlx's pool pings
//! every connection on its way back, in a task of its own that holds the connection
//! meanwhile: one more round trip to PostgreSQL, and one more turn of the runtime, per store
//! call. Without it creates went from 3.9–4.2k/s to 5.1–5.3k/s at 50 connections and the CPU
//! per create fell by a quarter (BENCHMARKS.md, 2026-12-02, seventh round).
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
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Executor};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// Connections idle this long are pinged before use.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);
/// Longest wait for the `ROLLBACK` of a transaction left open; past it the connection is closed.
const ROLLBACK_WAIT: Duration = Duration::from_secs(5);

/// Opens connections with the store's options, and checks them before reuse.
pub struct Manager(PgConnectOptions);

/// A pooled connection, and the count of lost connections when it was last known alive.
pub struct Checked {
    connection: PgConnection,
    lost_before: u64,
}

impl managed::Manager for Manager {
    type Type = Checked;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<Checked, sqlx::Error> {
        let lost_before = connections_lost();
        let connection = PgConnection::connect_with(&self.0).await?;
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
        checked: &mut Checked,
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
/// delays readiness instead of failing the process.
pub struct Pool {
    inner: managed::Pool<Manager>,
    acquire_timeout: Duration,
}

impl Pool {
    pub fn new(
        options: PgConnectOptions,
        size: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, sqlx::Error> {
        let inner = managed::Pool::builder(Manager(options))
            .max_size(size.max(1) as usize)
            .build()
            .map_err(|err| sqlx::Error::Configuration(err.to_string().into()))?;
        Ok(Self {
            inner,
            acquire_timeout,
        })
    }

    /// A connection, waiting at most the acquire timeout (opening one included).
    pub async fn acquire(&self) -> Result<Pooled, sqlx::Error> {
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
    pub async fn begin(&self) -> Result<Transaction, sqlx::Error> {
        self.acquire().await?.begin().await
    }

    /// Refuses new acquires and closes connections as they come back.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Connections open, and how many of them are idle.
    pub fn status(&self) -> (u32, usize) {
        let status = self.inner.status();
        (status.size as u32, status.available)
    }
}

/// A connection from the [`Pool`], back to it when dropped.
pub struct Pooled {
    connection: Option<Object<Manager>>,
    /// A transaction was begun and not committed: it is rolled back before the connection
    /// goes back.
    open: bool,
}

impl Pooled {
    async fn begin(mut self) -> Result<Transaction, sqlx::Error> {
        // Open before it is sent: a cancelled `BEGIN` may still have reached the server.
        self.open = true;
        self.execute("BEGIN").await?;
        Ok(Transaction(self))
    }
}

impl Drop for Pooled {
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
                tokio::time::timeout(ROLLBACK_WAIT, connection.connection.execute("ROLLBACK"));
            if !matches!(rollback.await, Ok(Ok(_))) {
                drop(Object::take(connection));
            }
        });
    }
}

impl Deref for Pooled {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        match &self.connection {
            Some(checked) => &checked.connection,
            None => unreachable!("a connection until dropped"),
        }
    }
}

impl DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match &mut self.connection {
            Some(checked) => &mut checked.connection,
            None => unreachable!("a connection until dropped"),
        }
    }
}

/// A transaction on a pooled connection: committed by [`Transaction::commit`], rolled back
/// when dropped without it.
pub struct Transaction(Pooled);

impl Transaction {
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.0.execute("COMMIT").await?;
        self.0.open = false;
        Ok(())
    }

    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        self.0.execute("ROLLBACK").await?;
        self.0.open = false;
        Ok(())
    }
}

impl Deref for Transaction {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.0
    }
}

impl DerefMut for Transaction {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.0
    }
}

/// Against the machine's PostgreSQL (`KURZ_TEST_POSTGRES_URL`); advisory locks and session
/// settings need no tables, so no database of their own.
#[cfg(test)]
mod tests {
    use super::Pool;
    use sqlx::postgres::PgConnectOptions;
    use sqlx::{Connection, PgConnection};
    use std::str::FromStr;
    use std::time::Duration;

    const LOCK: i64 = 0x6b75_727a_7e57;

    type Outcome = Result<(), Box<dyn std::error::Error>>;

    fn options() -> Result<PgConnectOptions, sqlx::Error> {
        let url = std::env::var("KURZ_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        PgConnectOptions::from_str(&url)
    }

    /// One connection, so the next acquire gets the connection the last holder left.
    fn one() -> Result<Pool, sqlx::Error> {
        Pool::new(options()?, 1, Duration::from_secs(10))
    }

    async fn lock_is_free(other: &mut PgConnection, key: i64) -> Result<bool, sqlx::Error> {
        let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut *other)
            .await?;
        if free {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(key)
                .execute(&mut *other)
                .await?;
        }
        Ok(free)
    }

    #[tokio::test]
    async fn a_transaction_dropped_uncommitted_is_rolled_back_before_its_connection_is_reused()
    -> Outcome {
        let pool = one()?;
        let mut other = PgConnection::connect_with(&options()?).await?;
        let key = LOCK + i64::from(std::process::id());
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(key)
            .execute(&mut *tx)
            .await?;
        sqlx::query("SET LOCAL application_name = 'left open'")
            .execute(&mut *tx)
            .await?;
        assert!(
            !lock_is_free(&mut other, key).await?,
            "held inside the transaction"
        );
        drop(tx);
        // The pool's one connection comes back only after its ROLLBACK.
        let mut again = pool.acquire().await?;
        assert!(
            lock_is_free(&mut other, key).await?,
            "released by the rollback"
        );
        let name: String = sqlx::query_scalar("SELECT current_setting('application_name')")
            .fetch_one(&mut *again)
            .await?;
        assert_ne!(
            name, "left open",
            "the transaction's setting is gone with it"
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_committed_transaction_keeps_its_work_and_its_connection() -> Outcome {
        let pool = one()?;
        let mut tx = pool.begin().await?;
        let before: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("SET application_name = 'committed'")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut again = pool.acquire().await?;
        let (after, name): (i32, String) =
            sqlx::query_as("SELECT pg_backend_pid(), current_setting('application_name')")
                .fetch_one(&mut *again)
                .await?;
        assert_eq!(
            after, before,
            "the same connection, back without being replaced"
        );
        assert_eq!(name, "committed");
        Ok(())
    }

    #[tokio::test]
    async fn a_statement_cancelled_mid_way_leaves_a_connection_the_next_holder_can_use() -> Outcome
    {
        let pool = one()?;
        let mut connection = pool.acquire().await?;
        let slow = sqlx::query("SELECT pg_sleep(0.5)").execute(&mut *connection);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), slow)
                .await
                .is_err(),
            "cancelled while PostgreSQL sleeps"
        );
        drop(connection);
        let mut again = pool.acquire().await?;
        let answer: i32 = sqlx::query_scalar("SELECT 42")
            .fetch_one(&mut *again)
            .await?;
        assert_eq!(
            answer, 42,
            "the sleep's late answer is read and skipped first"
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_connection_found_lost_is_replaced_not_handed_out_again() -> Outcome {
        let pool = one()?;
        let mut other = PgConnection::connect_with(&options()?).await?;
        let mut connection = pool.acquire().await?;
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *connection)
            .await?;
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(&mut other)
            .await?;
        let lost = sqlx::query("SELECT 1").execute(&mut *connection).await;
        let Err(err) = lost else {
            return Err("a terminated connection answered".into());
        };
        // What every store call does with a driver's error: this counts the loss.
        let _ = crate::store::StoreError::from(err);
        drop(connection);
        let mut again = pool.acquire().await?;
        let new_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *again)
            .await?;
        assert_ne!(new_pid, pid, "a fresh connection in place of the lost one");
        Ok(())
    }

    #[tokio::test]
    async fn a_pool_whose_database_is_unreachable_answers_within_its_acquire_timeout() -> Outcome {
        let unreachable = options()?.port(1);
        let pool = Pool::new(unreachable, 2, Duration::from_secs(2))?;
        assert!(pool.acquire().await.is_err());
        Ok(())
    }
}

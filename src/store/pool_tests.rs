//! The pool against the machine's PostgreSQL (`KURZ_TEST_POSTGRES_URL`): advisory locks,
//! session settings and backend ids need no tables, so no database of their own. Then the
//! same promise on SQLite, in a temporary file.

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use std::str::FromStr;
use std::time::Duration;

type Pool = super::Pool<PgConnection>;

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
async fn a_statement_cancelled_mid_way_leaves_a_connection_the_next_holder_can_use() -> Outcome {
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
async fn closing_ends_the_idle_connections_and_refuses_new_acquires() -> Outcome {
    let pool = one()?;
    let mut other = PgConnection::connect_with(&options()?).await?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *pool.acquire().await?)
        .await?;
    pool.close().await;
    assert!(pool.acquire().await.is_err(), "no connection after close");
    // The server ends the backend once it has read the goodbye: a bounded wait for that.
    let mut left = 50;
    loop {
        let alive: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = $1")
            .bind(pid)
            .fetch_one(&mut other)
            .await?;
        if alive == 0 {
            return Ok(());
        }
        left -= 1;
        if left == 0 {
            return Err("the closed pool's connection is still open on the server".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_pool_whose_database_is_unreachable_answers_within_its_acquire_timeout() -> Outcome {
    let unreachable = options()?.port(1);
    let pool = Pool::new(unreachable, 2, Duration::from_secs(2))?;
    assert!(pool.acquire().await.is_err());
    Ok(())
}

/// A one-connection pool on a new SQLite file with one table, in `dir`.
async fn sqlite_pool(
    dir: &tempfile::TempDir,
) -> Result<super::Pool<sqlx::SqliteConnection>, Box<dyn std::error::Error>> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("pool.db"))
        .create_if_missing(true);
    let pool = super::Pool::new(options, 1, Duration::from_secs(10))?;
    sqlx::query("CREATE TABLE t (n INTEGER)")
        .execute(&mut *pool.acquire().await?)
        .await?;
    Ok(pool)
}

#[tokio::test]
async fn on_sqlite_a_query_that_began_its_own_transaction_is_rolled_back_when_dropped() -> Outcome {
    let dir = tempfile::tempdir()?;
    let pool = sqlite_pool(&dir).await?;
    let mut connection = pool.acquire().await?.opening();
    sqlx::raw_sql("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)")
        .execute(&mut *connection)
        .await?;
    drop(connection);
    // The pool's one connection comes back only after its ROLLBACK; a transaction still
    // open would refuse this one ("cannot start a transaction within a transaction").
    let mut tx = pool.begin().await?;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
        .fetch_one(&mut *tx)
        .await?;
    assert_eq!(rows, 0, "the dropped transaction's row is gone");
    sqlx::query("INSERT INTO t VALUES (2)")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let rows: Vec<i64> = sqlx::query_scalar("SELECT n FROM t")
        .fetch_all(&mut *pool.acquire().await?)
        .await?;
    assert_eq!(rows, vec![2], "a committed transaction keeps its row");
    Ok(())
}

#[tokio::test]
async fn on_sqlite_a_query_that_committed_its_own_transaction_keeps_it() -> Outcome {
    let dir = tempfile::tempdir()?;
    let pool = sqlite_pool(&dir).await?;
    let mut connection = pool.acquire().await?.opening();
    sqlx::raw_sql("BEGIN IMMEDIATE; INSERT INTO t VALUES (1); COMMIT")
        .execute(&mut *connection)
        .await?;
    connection.committed();
    drop(connection);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
        .fetch_one(&mut *pool.acquire().await?)
        .await?;
    assert_eq!(rows, 1);
    Ok(())
}

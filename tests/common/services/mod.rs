//! The services tests start for themselves, each on loopback on a free port, in a temporary
//! directory, and stopped when its handle drops: PostgreSQL, PgBouncer, Redis (single,
//! Sentinel, Cluster), Prometheus and nginx.

pub mod nginx;
pub mod pgbouncer;
pub mod postgres;
pub mod prometheus;
pub mod redis;

pub use pgbouncer::PgBouncer;
pub use postgres::{Database, PrivateCluster, admin_url};
pub use prometheus::Prometheus;
pub use redis::{Redis, RedisCluster, RedisSentinel, redis_cli};

use super::process::{clean_command, running_as_root};
use std::path::Path;
use std::process::Command;

/// The settings of a kurz on `db` with `redis` as its cache and invalidation bus.
pub fn db_and_redis<'a>(db: &'a Database, redis: &'a Redis) -> [(&'static str, &'a str); 2] {
    [("DATABASE_URL", &db.url), ("REDIS_URL", &redis.url)]
}

/// PostgreSQL and PgBouncer refuse to run as root: run them as `postgres` when we are root.
fn service_command(program: &Path) -> Command {
    if running_as_root() {
        let mut command = clean_command("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        clean_command(program)
    }
}

/// A directory the `postgres` user may write into.
fn service_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if running_as_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "chown of {} failed", dir.path().display());
    }
    dir
}

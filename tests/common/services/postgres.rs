//! PostgreSQL: fresh databases on the shared server, and private clusters a test may stop.

use super::super::process::{clean_command, find_binary, free_port};
use super::{service_command, service_dir};
use std::path::PathBuf;
use std::process::Stdio;

/// The shared PostgreSQL server the machine runs (fresh databases are created on it).
pub fn admin_url() -> String {
    std::env::var("KURZ_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database on the shared server, dropped with its handle.
pub struct Database {
    pub url: String,
    name: String,
}

impl Database {
    pub fn create() -> Self {
        let name = format!("kurz_test_{}", rand::random::<u64>());
        psql(&admin_url(), &format!("CREATE DATABASE {name}"));
        let mut url = url::Url::parse(&admin_url()).unwrap();
        url.set_path(&name);
        Self {
            url: url.to_string(),
            name,
        }
    }

    /// Runs `sql` in this database, behind kurz's back (no cache is told).
    pub fn execute(&self, sql: &str) {
        psql(&self.url, sql);
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        psql(
            &admin_url(),
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn psql(url: &str, sql: &str) {
    let output = clean_command("psql")
        .args([url, "-qAt", "-c", sql])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A private PostgreSQL cluster, so tests may stop and restart the server itself.
pub struct PrivateCluster {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl PrivateCluster {
    pub fn start() -> Self {
        let dir = service_dir();
        let bin = find_binary("initdb", &["/usr/lib/postgresql/*/bin"])
            .parent()
            .unwrap()
            .to_owned();
        let status = service_command(&bin.join("initdb"))
            .args(["-D"])
            .arg(dir.path().join("data"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb failed");
        let cluster = Self {
            port: free_port(),
            dir,
            bin,
        };
        cluster.start_server();
        cluster
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) -> bool {
        service_command(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Starts the server (again, on the same port) and waits until it accepts connections.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        let started = self.pg_ctl(&["-o", &options, "-l", log.to_str().unwrap(), "-w", "start"]);
        assert!(
            started,
            "PostgreSQL did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops at once, like a crash (no checkpoint, clients cut off).
    pub fn stop_immediately(&self) {
        self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.stop_immediately();
    }
}

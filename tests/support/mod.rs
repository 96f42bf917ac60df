//! Real processes for the tests that need more than one: kurz replicas, a private Redis, a
//! private PostgreSQL cluster, PgBouncer. Everything listens on loopback on a free port,
//! lives in a temporary directory, and is killed when its handle drops.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The shared PostgreSQL server the machine runs (fresh databases are created on it).
pub fn admin_url() -> String {
    std::env::var("KURZ_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Where the shared seed files live (`../shared/data` beside the repository), unless
/// `KURZ_SEED_DIR` says otherwise.
pub fn seed_dir() -> PathBuf {
    std::env::var_os("KURZ_SEED_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
        PathBuf::from,
    )
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
        .is_ok()
}

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < timeout,
            "{what} did not come up within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

/// PostgreSQL and PgBouncer refuse to run as root: run them as `postgres` when we are root.
fn service_command(program: &Path) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
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

fn find_binary(name: &str, hints: &[&str]) -> PathBuf {
    for hint in hints {
        for entry in glob_dir(hint) {
            let candidate = entry.join(name);
            if candidate.exists() {
                return candidate;
            }
        }
    }
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .unwrap();
    let path = String::from_utf8_lossy(&found.stdout).trim().to_owned();
    assert!(
        !path.is_empty(),
        "{name} is not installed (see .ci/run for the packages the tests need)"
    );
    PathBuf::from(path)
}

/// `/usr/lib/postgresql/*/bin` without a glob crate: the directories matching one `*`.
fn glob_dir(pattern: &str) -> Vec<PathBuf> {
    let Some((head, tail)) = pattern.split_once('*') else {
        return vec![PathBuf::from(pattern)];
    };
    let Ok(entries) = std::fs::read_dir(head) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path().join(tail.trim_start_matches('/')))
        .filter(|p| p.exists())
        .collect();
    dirs.sort();
    dirs.reverse(); // newest version first
    dirs
}

fn kill(child: &mut Child, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
}

// ---------------------------------------------------------------- Redis

/// A private Redis (no persistence, unless asked), so tests may kill and restart it.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
    /// Where a persistent Redis keeps its append-only file across restarts.
    persistence: Option<tempfile::TempDir>,
}

impl Redis {
    pub fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            child: None,
            persistence: None,
        };
        redis.restart();
        redis
    }

    /// A Redis that keeps every write across a kill and restart (`appendfsync always`).
    pub fn start_persistent() -> Self {
        let mut redis = Self {
            port: free_port(),
            child: None,
            persistence: Some(tempfile::tempdir().unwrap()),
        };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port.
    pub fn restart(&mut self) {
        let mut command = Command::new(find_binary("redis-server", &[]));
        command.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"]);
        match &self.persistence {
            None => command.args(["--save", "", "--appendonly", "no"]),
            Some(dir) => command
                .args([
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                ])
                .arg("--dir")
                .arg(dir.path()),
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let port = self.port;
        wait_for("redis", Duration::from_secs(10), || port_open(port));
    }

    /// SIGKILL, and wait until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child, "-KILL");
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------- Redis Cluster and Sentinel

/// `redis-cli -p port args…`, its standard output.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new(find_binary("redis-cli", &[]))
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `n` distinct free ports.
fn free_ports(n: usize) -> Vec<u16> {
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < n {
        let port = free_port();
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    ports
}

/// A `redis-server` on loopback without persistence, with `extra` arguments.
fn spawn_redis(port: u16, dir: &Path, extra: &[&str]) -> Child {
    let child = Command::new(find_binary("redis-server", &[]))
        .args(extra)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("redis", Duration::from_secs(10), || port_open(port));
    child
}

/// A private Redis Cluster of primaries only (no replicas, no persistence).
pub struct RedisCluster {
    pub ports: Vec<u16>,
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    pub fn start(primaries: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Each node also needs a port for the cluster bus.
        let ports = free_ports(primaries * 2);
        let (ports, bus_ports) = ports.split_at(primaries);
        let children = ports
            .iter()
            .zip(bus_ports)
            .map(|(port, bus)| {
                let config = dir.path().join(format!("nodes-{port}.conf"));
                spawn_redis(
                    *port,
                    dir.path(),
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-port",
                        &bus.to_string(),
                        "--cluster-config-file",
                        config.to_str().unwrap(),
                        "--cluster-node-timeout",
                        "2000",
                    ],
                )
            })
            .collect();
        let cluster = Self {
            ports: ports.to_vec(),
            children,
            _dir: dir,
        };
        let status = Command::new(find_binary("redis-cli", &[]))
            .args(["--cluster", "create"])
            .args(cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "redis-cli --cluster create failed");
        wait_for("the Redis Cluster", Duration::from_secs(20), || {
            cluster
                .ports
                .iter()
                .all(|p| redis_cli(*p, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
        });
        cluster
    }

    /// `KURZ_REDIS_CLUSTER_NODES`.
    pub fn nodes(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            kill(child, "-KILL");
            let _ = child.wait();
        }
    }
}

/// A Redis primary, its replica, and a sentinel watching them as [`RedisSentinel::MASTER`]
/// (quorum 1, so the one sentinel may fail over alone).
pub struct RedisSentinel {
    pub primary_port: u16,
    pub replica_port: u16,
    pub sentinel_port: u16,
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl RedisSentinel {
    pub const MASTER: &'static str = "mymaster";

    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ports = free_ports(3);
        let (primary_port, replica_port, sentinel_port) = (ports[0], ports[1], ports[2]);
        let mut children = Vec::new();
        for (name, port, extra) in [
            ("primary", primary_port, Vec::new()),
            (
                "replica",
                replica_port,
                vec![
                    "--replicaof".to_owned(),
                    "127.0.0.1".to_owned(),
                    primary_port.to_string(),
                ],
            ),
        ] {
            let data = dir.path().join(name);
            std::fs::create_dir(&data).unwrap();
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            children.push(spawn_redis(port, &data, &extra));
        }
        wait_for("the replica to sync", Duration::from_secs(10), || {
            redis_cli(replica_port, &["INFO", "replication"]).contains("master_link_status:up")
        });
        let config = dir.path().join("sentinel.conf");
        std::fs::write(
            &config,
            format!(
                "port {sentinel_port}\nbind 127.0.0.1\ndir {dir}\n\
                 sentinel monitor {master} 127.0.0.1 {primary_port} 1\n\
                 sentinel down-after-milliseconds {master} 1000\n\
                 sentinel failover-timeout {master} 10000\n",
                dir = dir.path().display(),
                master = Self::MASTER,
            ),
        )
        .unwrap();
        children.push(
            Command::new(find_binary("redis-server", &[]))
                .arg(&config)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let group = Self {
            primary_port,
            replica_port,
            sentinel_port,
            children,
            _dir: dir,
        };
        // A failover needs a replica the sentinel has seen healthy.
        wait_for(
            "the sentinel to see the replica",
            Duration::from_secs(20),
            || {
                let replicas = redis_cli(sentinel_port, &["SENTINEL", "REPLICAS", Self::MASTER]);
                replicas.contains(&replica_port.to_string())
                    && replicas.contains("master-link-status\nok")
                    && !replicas.contains("disconnected")
            },
        );
        group
    }

    /// `KURZ_REDIS_SENTINELS`.
    pub fn sentinels(&self) -> String {
        format!("redis://127.0.0.1:{}", self.sentinel_port)
    }

    /// The port of the primary the sentinel names.
    pub fn primary_now(&self) -> Option<u16> {
        let answer = redis_cli(
            self.sentinel_port,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", Self::MASTER],
        );
        answer.lines().nth(1)?.trim().parse().ok()
    }

    /// `SENTINEL FAILOVER`, then waits until the sentinel names the replica.
    pub fn fail_over(&self) {
        let answer = redis_cli(self.sentinel_port, &["SENTINEL", "FAILOVER", Self::MASTER]);
        assert!(answer.contains("OK"), "SENTINEL FAILOVER: {answer}");
        wait_for("the failover", Duration::from_secs(20), || {
            self.primary_now() == Some(self.replica_port)
        });
    }
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        for child in &mut self.children {
            kill(child, "-KILL");
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------- PostgreSQL

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
    let output = Command::new("psql")
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

// ---------------------------------------------------------------- PgBouncer

/// PgBouncer in transaction pooling mode in front of the shared server.
pub struct PgBouncer {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl PgBouncer {
    pub fn start() -> Self {
        let dir = service_dir();
        let admin = url::Url::parse(&admin_url()).unwrap();
        let port = free_port();
        let config = format!(
            "[databases]\n* = host={host} port={server_port}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\n\
             listen_port = {port}\nunix_socket_dir =\nauth_type = trust\nauth_file = {dir}/users.txt\n\
             pool_mode = transaction\nmax_client_conn = 500\ndefault_pool_size = 10\n\
             ignore_startup_parameters = extra_float_digits,options\nlogfile = {dir}/pgbouncer.log\n",
            host = admin.host_str().unwrap_or("127.0.0.1"),
            server_port = admin.port().unwrap_or(5432),
            dir = dir.path().display(),
        );
        std::fs::write(dir.path().join("pgbouncer.ini"), config).unwrap();
        std::fs::write(
            dir.path().join("users.txt"),
            format!("\"{}\" \"\"\n", admin.username()),
        )
        .unwrap();
        let child = service_command(&find_binary("pgbouncer", &["/usr/sbin"]))
            .arg(dir.path().join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for("pgbouncer", Duration::from_secs(10), || port_open(port));
        Self {
            port,
            child,
            _dir: dir,
        }
    }

    /// The URL of `database` through the bouncer.
    pub fn url_for(&self, database_url: &str) -> String {
        let mut url = url::Url::parse(database_url).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(self.port)).unwrap();
        url.to_string()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // runuser forwards the signal to pgbouncer.
        kill(&mut self.child, "-TERM");
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- kurz

/// One kurz replica: the real binary, on its own port.
pub struct Kurz {
    pub port: u16,
    child: Option<Child>,
    env: Vec<(String, String)>,
}

impl Kurz {
    /// Starts `kurz serve` with `env` (nothing is inherited of the database or cache
    /// settings of the calling environment) and waits until it answers `/health`.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut kurz = Self {
            port: free_port(),
            child: None,
            env,
        };
        kurz.restart();
        kurz
    }

    pub fn restart(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kurz"));
        for var in [
            "DATABASE_URL",
            "DATABASE_NAME",
            "DATABASE_HOST",
            "DATABASE_PORT",
            "DATABASE_USER",
            "DATABASE_PASSWORD",
            "REDIS_URL",
            "KURZ_REDIS_CLUSTER_NODES",
            "KURZ_REDIS_SENTINELS",
        ] {
            command.env_remove(var);
        }
        command
            .env("KURZ_LISTEN", format!("127.0.0.1:{}", self.port))
            .env(
                "KURZ_LOG",
                std::env::var("KURZ_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null());
        self.child = Some(command.spawn().unwrap());
        let port = self.port;
        wait_for("kurz", Duration::from_secs(30), || {
            port_open(port) && http_status(port, "/health") == Some(200)
        });
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// SIGTERM, then the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        kill(&mut child, "-TERM");
        child.wait().ok()?.code()
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child, "-KILL");
            let _ = child.wait();
        }
    }
}

impl Drop for Kurz {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A bare HTTP/1.0 GET, for readiness polling without an async runtime.
fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

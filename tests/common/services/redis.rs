//! Private Redis servers: a single one (tests may kill and restart it), a Redis Cluster of
//! primaries, and a primary with a replica and a sentinel.

use super::super::process::{
    clean_command, find_binary, free_port, free_ports, kill_and_reap, kill_if_running,
    spawn_listening,
};
use super::super::wait::wait_for;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

/// `redis-cli -p port args…`, its standard output.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = clean_command(find_binary("redis-cli", &[]))
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A `redis-server` on loopback keeping its files in `dir`, with `extra` arguments, once it
/// accepts connections. Persistent: every write is on disk before it is answered, so it
/// survives a SIGKILL.
fn spawn_redis(port: u16, dir: &Path, persistent: bool, extra: &[&str]) -> Child {
    let persistence: &[&str] = if persistent {
        &["--appendonly", "yes", "--appendfsync", "always"]
    } else {
        &["--appendonly", "no"]
    };
    let mut command = clean_command(find_binary("redis-server", &[]));
    command
        .args(extra)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(persistence)
        .arg("--dir")
        .arg(dir);
    spawn_listening(&mut command, "redis", port, Duration::from_secs(10))
}

/// One private Redis, so tests may kill and restart it.
pub struct Redis {
    pub port: u16,
    /// `redis://127.0.0.1:PORT`
    pub url: String,
    child: Option<Child>,
    persistent: bool,
    dir: tempfile::TempDir,
}

impl Redis {
    /// Without persistence: a restart comes back empty.
    pub fn start() -> Self {
        Self::started(false)
    }

    /// Keeps every write across a kill and restart (`appendfsync always`).
    pub fn start_persistent() -> Self {
        Self::started(true)
    }

    fn started(persistent: bool) -> Self {
        let port = free_port();
        let mut redis = Self {
            port,
            url: format!("redis://127.0.0.1:{port}"),
            child: None,
            persistent,
            dir: tempfile::tempdir().unwrap(),
        };
        redis.restart();
        redis
    }

    /// Starts (again) on the same port.
    pub fn restart(&mut self) {
        self.child = Some(spawn_redis(
            self.port,
            self.dir.path(),
            self.persistent,
            &[],
        ));
    }

    /// SIGKILL, and wait until it is gone.
    pub fn kill(&mut self) {
        kill_if_running(&mut self.child);
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Redis processes that live and die together.
struct Group {
    children: Vec<Child>,
    dir: tempfile::TempDir,
}

impl Drop for Group {
    fn drop(&mut self) {
        for child in &mut self.children {
            kill_and_reap(child);
        }
    }
}

/// A private Redis Cluster of primaries only (no replicas, no persistence).
pub struct RedisCluster {
    pub ports: Vec<u16>,
    _group: Group,
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
                    false,
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
            _group: Group { children, dir },
        };
        let status = clean_command(find_binary("redis-cli", &[]))
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

/// A Redis primary, its replica, and a sentinel watching them as [`RedisSentinel::MASTER`]
/// (quorum 1, so the one sentinel may fail over alone).
pub struct RedisSentinel {
    pub primary_port: u16,
    pub replica_port: u16,
    pub sentinel_port: u16,
    _group: Group,
}

impl RedisSentinel {
    pub const MASTER: &'static str = "mymaster";

    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ports = free_ports(3);
        let (primary_port, replica_port, sentinel_port) = (ports[0], ports[1], ports[2]);
        let mut children = Vec::new();
        let primary = primary_port.to_string();
        for (name, port, extra) in [
            ("primary", primary_port, &[][..]),
            (
                "replica",
                replica_port,
                &["--replicaof", "127.0.0.1", &primary][..],
            ),
        ] {
            let data = dir.path().join(name);
            std::fs::create_dir(&data).unwrap();
            children.push(spawn_redis(port, &data, false, extra));
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
            clean_command(find_binary("redis-server", &[]))
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
            _group: Group { children, dir },
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

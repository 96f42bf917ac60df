//! Driving `deploy/local/stack` from the tests, and reading what it leaves behind.

use crate::common::http::Api;
use crate::common::kurz::log_level;
use crate::common::process::{clean_command, free_port, output_of, repo};
use crate::common::services::nginx::nginx_binary;
use crate::common::services::{Database, Redis, db_and_redis};
use crate::common::wait::poll_every;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The scenarios load two cores fully; one at a time keeps their counts meaningful.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn script() -> PathBuf {
    repo().join("deploy/local/stack")
}

/// A stack of `replicas` on a fresh database and a private Redis. In this order, so that the
/// stack goes down before they do.
pub fn up_on_db_and_redis(replicas: usize) -> (Database, Redis, Stack) {
    let db = Database::create();
    let redis = Redis::start();
    let stack = Stack::up(replicas, &db_and_redis(&db, &redis));
    (db, redis, stack)
}

/// What the script needs to find a running stack again; cheap to clone into a thread.
#[derive(Clone, Debug)]
pub struct Control {
    pub dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Control {
    /// Runs `deploy/local/stack ARGS` with the stack's environment (and nothing of the
    /// caller's: the script hands every `KURZ_*` it sees to the replicas).
    pub fn run(&self, args: &[&str]) -> Output {
        output_of(
            clean_command(script())
                .args(args)
                .env("STACK_DIR", &self.dir)
                .envs(self.env.iter().map(|(k, v)| (k, v))),
        )
    }

    /// Runs it and panics, with its output, unless it succeeds.
    pub fn must(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "stack {args:?} failed ({}):\n{stdout}\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            self.logs()
        );
        stdout
    }

    /// The tail of every log of the stack, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().is_dir())
            .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        files.sort();
        for file in files {
            let content = std::fs::read_to_string(&file).unwrap_or_default();
            let lines: Vec<&str> = content.lines().collect();
            let tail = &lines[lines.len().saturating_sub(15)..];
            text.push_str(&format!("--- {}\n{}\n", file.display(), tail.join("\n")));
        }
        text
    }
}

/// One line of `stack status` for a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub port: u16,
    pub pid: Option<u32>,
    pub restarts: u32,
    pub last_exit: Option<i32>,
    pub health: u16,
    pub ready: u16,
}

/// A running stack in its own temporary directory; `down` when dropped.
pub struct Stack {
    pub control: Control,
    pub port: u16,
    pub replica_ports: Vec<u16>,
    _dir: tempfile::TempDir,
    stopped: bool,
}

impl Stack {
    /// `stack up` with `replicas` replicas on free ports, the debug kurz binary, quiet logs
    /// and `env` (DATABASE_URL, REDIS_URL, KURZ_* ...). Without a REDIS_URL in `env`, the
    /// replicas run without Redis.
    pub fn up(replicas: usize, env: &[(&str, &str)]) -> Self {
        let stack = Self::configure(replicas, env);
        let printed = stack.control.must(&["up"]);
        println!("{}", printed.trim());
        stack
    }

    /// The stack's settings, without starting it.
    pub fn configure(replicas: usize, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let replica_ports: Vec<u16> = (0..replicas).map(|_| free_port()).collect();
        let ports = replica_ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        let mut settings: Vec<(String, String)> = vec![
            ("STACK_PORT".into(), port.to_string()),
            ("STACK_REPLICAS".into(), replicas.to_string()),
            ("STACK_REPLICA_PORTS".into(), ports),
            ("KURZ_BIN".into(), env!("CARGO_BIN_EXE_kurz").into()),
            ("NGINX_BIN".into(), nginx_binary().display().to_string()),
            // An interrupted test run takes its stacks down with it.
            ("STACK_OWNER_PID".into(), std::process::id().to_string()),
            ("REDIS_URL".into(), String::new()),
            // The load comes from one address, so to the per-client write limits it is one
            // client; these scenarios are about failures, not about limits (tested apart).
            ("KURZ_RATE_CREATES_PER_SEC".into(), "0".into()),
            ("KURZ_RATE_WRITES_PER_SEC".into(), "0".into()),
            ("KURZ_LOG".into(), log_level()),
        ];
        for (k, v) in env {
            settings.retain(|(key, _)| key != k);
            settings.push(((*k).to_owned(), (*v).to_owned()));
        }
        Self {
            control: Control {
                dir: dir.path().to_owned(),
                env: settings,
            },
            port,
            replica_ports,
            _dir: dir,
            stopped: false,
        }
    }

    /// nginx.
    pub fn api(&self) -> Api {
        Api::on_port(self.port)
    }

    /// Replica `n` (1-based), directly.
    pub fn replica(&self, n: usize) -> Api {
        Api::on_port(self.replica_ports[n - 1])
    }

    pub fn must(&self, args: &[&str]) -> String {
        self.control.must(args)
    }

    /// The replicas as `stack status` reports them.
    pub fn status(&self) -> Vec<Replica> {
        let output = self.control.run(&["status"]);
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines()
            .filter(|l| l.starts_with("replica="))
            .map(|line| {
                let field = |name: &str| {
                    line.split_whitespace()
                        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                        .unwrap_or_default()
                        .to_owned()
                };
                Replica {
                    port: field("port").parse().unwrap(),
                    pid: field("pid").parse().ok(),
                    restarts: field("restarts").parse().unwrap_or(0),
                    last_exit: field("last_exit").parse().ok(),
                    health: field("health").parse().unwrap_or(0),
                    ready: field("ready").parse().unwrap_or(0),
                }
            })
            .collect()
    }

    /// Polls `stack status` until `want` holds for it.
    pub fn wait_for_status(
        &self,
        what: &str,
        timeout: Duration,
        want: impl Fn(&[Replica]) -> bool,
    ) -> Vec<Replica> {
        let mut status = Vec::new();
        let reached = poll_every(timeout, Duration::from_millis(100), || {
            status = self.status();
            want(&status)
        });
        assert!(
            reached,
            "{what}: not reached within {timeout:?}; status {status:?}\n{}",
            self.control.logs()
        );
        status
    }

    /// nginx's access log, one JSON object per line.
    pub fn access_log(&self) -> Vec<Value> {
        let text =
            std::fs::read_to_string(self.control.dir.join("nginx/access.log")).unwrap_or_default();
        text.lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("access log line is not JSON ({e}): {line}"))
            })
            .collect()
    }

    /// Requests nginx had to send to more than one replica.
    pub fn retried_requests(&self) -> usize {
        self.access_log()
            .iter()
            .filter(|l| l["upstream_addr"].as_str().unwrap_or("").contains(','))
            .count()
    }

    /// `stack down`; the pids it had must all be gone afterwards.
    pub fn down(&mut self) -> String {
        self.stopped = true;
        self.control.must(&["down"])
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.control.run(&["down"]);
        }
    }
}

//! The real kurz binary as a child process: `kurz serve` on a free loopback port, and the
//! one-shot subcommands (`import`, `migrate`, `keys …`). Every child gets the clean
//! environment of [`clean_command`], the kit's settings below, and what the test passes.

use super::http::Api;
use super::process::{clean_command, free_port, kill_if_running, must_succeed, signal};
use std::io::{Read, Write};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kurz");

/// The request id of the kit's readiness probes, so a test reading the access log can tell
/// its own requests from them.
pub const PROBE_REQUEST_ID: &str = "kurz-test-kit-probe";

/// The log level of served children: `KURZ_TEST_LOG` (e.g. `debug` while hunting a
/// failure), else quiet.
pub fn log_level() -> String {
    std::env::var("KURZ_TEST_LOG").unwrap_or_else(|_| "warn".into())
}

/// `kurz ARGS…` for a one-shot subcommand. Its log stays at `warn` whatever `KURZ_TEST_LOG`
/// says: tests read these commands' output (a minted key, a JSON summary).
pub fn kurz_command() -> Command {
    let mut command = clean_command(BIN);
    command
        .env("KURZ_LOG", "warn")
        .env("KURZ_LOG_FORMAT", "json")
        .stdin(Stdio::null());
    command
}

/// [`kurz_command`] on the embedded store in `data_dir`.
pub fn kurz_command_on(data_dir: &Path) -> Command {
    let mut command = kurz_command();
    command.env("KURZ_DATA_DIR", data_dir);
    command
}

/// Runs a subcommand that must succeed; its stdout.
pub fn kurz_ok(command: &mut Command) -> String {
    must_succeed(command)
}

/// Runs a subcommand that must succeed, on a blocking thread; its stdout. Beside an
/// application under test on this test's runtime, which must go on running while the
/// command does: a command that waits for a lock the application holds across an await
/// (its writer's, its events indexer's) would otherwise wait for a runtime it is blocking.
pub async fn kurz_ok_beside(mut command: Command) -> String {
    tokio::task::spawn_blocking(move || kurz_ok(&mut command))
        .await
        .expect("the command's thread")
}

/// Runs a subcommand that must succeed, on a blocking thread; its stdout, the command's
/// JSON summary.
pub async fn kurz_summary(command: Command) -> serde_json::Value {
    let out = kurz_ok_beside(command).await;
    serde_json::from_str(out.trim()).unwrap_or_else(|_| panic!("not a JSON summary: {out}"))
}

/// Runs a subcommand that must fail; its stderr, which must say why.
pub async fn kurz_refusal(mut command: Command) -> String {
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the command's thread")
        .expect("running the command");
    assert!(!output.status.success(), "the command should have failed");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// How a served child is started (again, on a restart).
#[derive(Clone, Debug, Default)]
pub struct Options {
    env: Vec<(String, String)>,
    data_dir: Option<PathBuf>,
    host: Option<String>,
}

impl Options {
    /// A setting, winning over the kit's own.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn envs(self, env: &[(&str, &str)]) -> Self {
        env.iter().fold(self, |options, (k, v)| options.env(k, v))
    }

    /// The embedded store in `dir` (kept by the test, e.g. to serve it again later); without
    /// one, each child has a temporary store of its own.
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_owned());
        self
    }

    /// Listens on `host` (`0.0.0.0`, say) instead of loopback; the test still talks to
    /// loopback.
    pub fn host(mut self, host: &str) -> Self {
        self.host = Some(host.to_owned());
        self
    }

    /// Starts `kurz serve` on a free port and waits until `/health` answers 200. A child
    /// that exits first most likely lost its port to another process: it is started again
    /// on another.
    pub fn start(self) -> Kurz {
        let mut last_log = String::new();
        for _ in 0..5 {
            let own = tempfile::tempdir().expect("a directory for the child's log and store");
            std::fs::create_dir(own.path().join("data")).expect("a data directory");
            let port = free_port();
            let mut kurz = Kurz {
                api: Api::on_port(port),
                port,
                child: None,
                log: own.path().join("kurz.log"),
                options: self.clone(),
                own,
            };
            kurz.spawn();
            if kurz.wait_until_healthy(Duration::from_secs(60)) {
                return kurz;
            }
            last_log = kurz.log();
        }
        panic!("kurz serve did not come up; last log:\n{last_log}");
    }
}

/// One `kurz serve` child. Killed and reaped when dropped (its log is printed then if the
/// test is failing).
pub struct Kurz {
    pub api: Api,
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
    options: Options,
    own: tempfile::TempDir,
}

impl Deref for Kurz {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl AsRef<Api> for Kurz {
    fn as_ref(&self) -> &Api {
        &self.api
    }
}

impl Kurz {
    /// `kurz serve` with the settings `env` (a temporary store unless `env` names a
    /// database or a `KURZ_DATA_DIR`).
    pub fn start(env: &[(&str, &str)]) -> Self {
        Self::options().envs(env).start()
    }

    /// `kurz serve` on the embedded store in `data_dir`.
    pub fn on(data_dir: &Path) -> Self {
        Self::options().data_dir(data_dir).start()
    }

    pub fn options() -> Options {
        Options::default()
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("opening the child's log file");
        let host = self.options.host.as_deref().unwrap_or("127.0.0.1");
        let data_dir = self
            .options
            .data_dir
            .clone()
            .unwrap_or_else(|| self.own.path().join("data"));
        let child = clean_command(BIN)
            .env("KURZ_LISTEN", format!("{host}:{}", self.port))
            .env("KURZ_DATA_DIR", data_dir)
            .env("KURZ_LOG", log_level())
            .env("KURZ_LOG_FORMAT", "json")
            .envs(self.options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cloning the log file handle"))
            .stderr(log)
            .spawn()
            .expect("starting kurz serve");
        self.child = Some(child);
    }

    /// Polls `/health` until it answers 200; `false` if the child exits or time runs out.
    fn wait_until_healthy(&mut self, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            let exited = self
                .child
                .as_mut()
                .is_none_or(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited {
                return false;
            }
            if health_status(self.port) == Some(200) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        false
    }

    /// Starts again on the same port, store and settings (after [`Kurz::kill9`] or an exit).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
        assert!(
            self.wait_until_healthy(Duration::from_secs(60)),
            "kurz did not come back on port {}; log:\n{}",
            self.port,
            self.log()
        );
    }

    pub fn base(&self) -> String {
        self.api.address.clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("a running child")
    }

    /// Everything the child wrote (standard output and error), across restarts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `sig` (`-TERM`, `-HUP`, …) and asserts it was delivered.
    pub fn signal(&self, sig: &str) {
        assert!(signal(self.pid(), sig), "kill {sig} {} failed", self.pid());
    }

    /// Sends SIGTERM, as an orchestrator stopping the container would.
    pub fn sigterm(&self) {
        self.signal("-TERM");
    }

    /// Waits for the child to exit (at most `limit`). Blocks its thread: under load, call it
    /// from `tokio::task::block_in_place`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        let child = self.child.as_mut().expect("a running child");
        loop {
            if let Some(status) = child.try_wait().expect("polling the child") {
                self.child = None;
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "kurz did not exit within {limit:?}; log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.sigterm();
        self.wait_exit(Duration::from_secs(90))
    }

    /// SIGKILL, and wait until it is gone.
    pub fn kill9(&mut self) {
        kill_if_running(&mut self.child);
    }
}

impl Drop for Kurz {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "--- last lines of kurz on port {}:\n{}",
                self.port,
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
    }
}

/// `n` replicas with the settings `env`, each with its cache ready (`/ready` says
/// `cache: ok`) when `env` gives it a Redis.
pub async fn replicas(n: usize, env: &[(&str, &str)]) -> Vec<Kurz> {
    let replicas: Vec<Kurz> = (0..n).map(|_| Kurz::start(env)).collect();
    let cached = env.iter().any(|(name, _)| {
        [
            "REDIS_URL",
            "KURZ_REDIS_CLUSTER_NODES",
            "KURZ_REDIS_SENTINELS",
        ]
        .contains(name)
    });
    if cached {
        for replica in &replicas {
            replica
                .wait_for_ready_field("cache", "ok", Duration::from_secs(10))
                .await;
        }
    }
    replicas
}

/// The status of a bare HTTP/1.0 `GET /health`: readiness polling needs no async runtime.
fn health_status(port: u16) -> Option<u16> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET /health HTTP/1.0\r\nHost: localhost\r\nX-Request-Id: {PROBE_REQUEST_ID}\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

//! Child processes: the one environment allow-list every child the tests start gets, signals,
//! free loopback ports, finding installed programs, and running a tool that must succeed.

use super::wait::wait_for;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

/// The only variables of the test's own environment a child inherits: what any program needs
/// to run, plus the kit's own `KURZ_TEST_*` knobs. A developer's `KURZ_*`, `DATABASE_*`,
/// `REDIS_URL` or `RUST_LOG` would silently change what a test runs against.
fn inherited(name: &str) -> bool {
    matches!(
        name,
        "PATH" | "HOME" | "TMPDIR" | "LANG" | "LANGUAGE" | "TZ" | "RUST_BACKTRACE"
    ) || name.starts_with("LC_")
        || name.starts_with("KURZ_TEST_")
}

/// `program` with a cleared environment plus the allow-list; the test adds the rest.
pub fn clean_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .envs(std::env::vars_os().filter(|(name, _)| name.to_str().is_some_and(inherited)));
    command
}

/// The repository, for files the tests read and scripts they run.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `command` and panics, showing what it printed, unless it succeeds; its stdout.
pub fn must_succeed(command: &mut Command) -> String {
    let output = output_of(command);
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `command` to its end, panicking only when it cannot be started at all.
pub fn output_of(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|e| {
        panic!("{command:?} did not run ({e}); scripts/test installs what the tests need")
    })
}

/// `program args…` from the repository's root with a clean environment: its stdout.
pub fn tool(program: &str, args: &[&str]) -> String {
    must_succeed(clean_command(program).args(args).current_dir(repo()))
}

/// A free loopback port (bound, then released for a child to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("finding a free port")
        .port()
}

/// `n` distinct free ports.
pub fn free_ports(n: usize) -> Vec<u16> {
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < n {
        let port = free_port();
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    ports
}

/// Whether something accepts connections on loopback `port`.
pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
        .is_ok()
}

/// Sends `signal` (`-TERM`, `-KILL`, `-HUP`) to `pid`; whether `kill` succeeded.
pub fn signal(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// SIGKILL, and reap it. A child reaped already is left alone: its pid may be another
/// process's by now.
pub fn kill_and_reap(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    signal(child.id(), "-KILL");
    let _ = child.wait();
}

/// [`kill_and_reap`] of a child that may be gone already.
pub fn kill_if_running(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        kill_and_reap(&mut child);
    }
}

/// Spawns a server quietly and waits until it accepts connections on loopback `port`.
pub fn spawn_listening(command: &mut Command, what: &str, port: u16, limit: Duration) -> Child {
    let child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{what} did not start ({e}): is it installed?"));
    wait_for(what, limit, || port_open(port));
    child
}

/// Whether a process exists (a zombie does not count).
pub fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

pub fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

/// An installed program: the newest of the directories `hints` (one `*` each, as in
/// `/usr/lib/postgresql/*/bin`), else from PATH.
pub fn find_binary(name: &str, hints: &[&str]) -> PathBuf {
    for hint in hints {
        for dir in glob_dir(hint) {
            let candidate = dir.join(name);
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
        "{name} is not installed (scripts/test installs the packages the tests need)"
    );
    PathBuf::from(path)
}

/// The directories matching a pattern with one `*`, newest version first (no glob crate).
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
    dirs.reverse();
    dirs
}

//! PgBouncer in transaction pooling mode in front of the shared PostgreSQL server.

use super::super::process::{find_binary, free_port, signal, spawn_listening};
use super::postgres::admin_url;
use super::{service_command, service_dir};
use std::process::Child;
use std::time::Duration;

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
        let child = spawn_listening(
            service_command(&find_binary("pgbouncer", &["/usr/sbin"]))
                .arg(dir.path().join("pgbouncer.ini")),
            "pgbouncer",
            port,
            Duration::from_secs(10),
        );
        Self {
            port,
            child,
            _dir: dir,
        }
    }

    /// The URL of `database_url`'s database through the bouncer.
    pub fn url_for(&self, database_url: &str) -> String {
        let mut url = url::Url::parse(database_url).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(self.port)).unwrap();
        url.to_string()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // runuser forwards SIGTERM to pgbouncer; a SIGKILL would leave pgbouncer running.
        signal(self.child.id(), "-TERM");
        let _ = self.child.wait();
    }
}

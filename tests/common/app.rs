//! The application in process: one per test, on its own temporary data directory and port.
//! It reads no environment, so nothing of the developer's shell reaches it.

use super::http::Api;
use kurz::app::Application;
use kurz::config::Settings;
use std::ops::Deref;
use std::path::Path;
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Settings with a per-client allowance of `per_sec` creates a second, bursting to `burst`.
pub fn limit_creates(per_sec: u32, burst: u32) -> impl Fn(&mut Settings) {
    move |settings| {
        settings.security.rate_creates_per_sec = per_sec;
        settings.security.rate_creates_burst = burst;
    }
}

/// Settings with a per-client allowance of `per_sec` updates and deletes a second, bursting
/// to `burst`.
pub fn limit_writes(per_sec: u32, burst: u32) -> impl Fn(&mut Settings) {
    move |settings| {
        settings.security.rate_writes_per_sec = per_sec;
        settings.security.rate_writes_burst = burst;
    }
}

/// One running application with its own data directory and port.
pub struct TestApp {
    pub api: Api,
    data_dir: Option<TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Deref for TestApp {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_in(TempDir::new().expect("creating a temporary data directory")).await
}

/// Starts an application on an existing data directory (e.g. after [`TestApp::stop`]).
pub async fn spawn_app_in(data_dir: TempDir) -> TestApp {
    spawn_app_in_with(data_dir, |_| {}).await
}

/// Starts an application whose default settings `configure` adjusts.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = TempDir::new().expect("creating a temporary data directory");
    spawn_app_in_with(data_dir, configure).await
}

pub async fn spawn_app_in_with(
    data_dir: TempDir,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let mut settings = Settings::embedded(data_dir.path().to_path_buf());
    configure(&mut settings);
    let app = Application::build(settings)
        .await
        .expect("building the application");
    let addr = app.local_addr().expect("reading the bound address");
    assert!(addr.ip().is_loopback(), "tests listen on loopback only");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        api: Api::new(addr),
        data_dir: Some(data_dir),
        shutdown: Some(stop),
        server: Some(server),
    }
}

impl TestApp {
    /// The application's data directory (its embedded store), for CLI commands run beside it.
    pub fn data_path(&self) -> &Path {
        self.data_dir.as_ref().expect("data directory").path()
    }

    /// Triggers a graceful shutdown, waits for the server (and its click writer) to finish,
    /// and hands back the data directory so a new app can be started on it.
    pub async fn stop(mut self) -> TempDir {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(60), server)
                .await
                .expect("the server stopped within 60 s")
                .expect("the server task did not panic")
                .expect("the server stopped without an error");
        }
        self.data_dir.take().expect("data directory")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
    }
}

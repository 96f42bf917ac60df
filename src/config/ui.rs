//! The web UI's settings.

use super::Secret;
use clap::{Args, ValueEnum};
use std::time::Duration;

/// Whether the web UI is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UiMode {
    /// Pages at `/`, `/links`, `/links/{id}`, `/reports` and `/signin`.
    On,
    /// No pages: the API and redirects only (`/` answers 404 JSON).
    Off,
}

/// The web UI: on or off, and its sign-in sessions (`keys` mode).
#[derive(Debug, Clone, Args)]
pub struct UiSettings {
    /// `on` (pages at `/`) or `off` (the API and redirects only).
    #[arg(long, env = "KURZ_UI", value_enum, default_value_t = UiMode::On)]
    pub ui: UiMode,
    /// Key that signs the UI's session cookies (`keys` mode), 32 characters or more; every
    /// replica needs the same one. Unset: a random key per process (sessions end with it).
    #[arg(long, env = "KURZ_SESSION_SECRET", hide_env_values = true)]
    pub session_secret: Option<Secret>,
    /// How long a UI sign-in lasts, in hours.
    #[arg(long, env = "KURZ_SESSION_HOURS", default_value_t = 12)]
    pub session_hours: u64,
}

impl UiSettings {
    pub fn enabled(&self) -> bool {
        self.ui == UiMode::On
    }

    pub fn session_length(&self) -> Duration {
        Duration::from_secs(self.session_hours.max(1) * 3600)
    }
}

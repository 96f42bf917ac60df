//! Telemetry: structured logs and Prometheus metrics, set up once per process. What a
//! request records is the HTTP layer's business (`http::observe`).

pub mod catalogue;
mod logs;
mod metrics;

pub use self::logs::{Telemetry, init_command_logs, init_logs};
pub use self::metrics::Metrics;

//! Telemetry: structured logs and Prometheus metrics, set up once per process.

mod logs;
mod metrics;

pub use self::logs::{Telemetry, init_logs};
pub use self::metrics::{Metrics, RedirectMetrics, access_line, observe};

//! Progress of a long copy: a bar on a terminal (rows, rate, ETA), and otherwise one JSON
//! line on stderr every few seconds and one at the end of each table, for logs and scripts.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often the JSON line is written when stderr is not a terminal.
const EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    table: &'static str,
    total: u64,
    done: u64,
    started: Instant,
    last_line: Instant,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn start(table: &'static str, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{prefix:>9} {bar:30} {human_pos}/{human_len} rows, {per_sec}, ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(table);
            bar
        });
        let now = Instant::now();
        Self {
            table,
            total,
            done: 0,
            started: now,
            last_line: now,
            bar,
        }
    }

    pub fn advance(&mut self, rows: u64) {
        self.done += rows;
        match &self.bar {
            Some(bar) => bar.inc(rows),
            None if self.last_line.elapsed() >= EVERY => {
                self.last_line = Instant::now();
                self.line(false);
            }
            None => {}
        }
    }

    pub fn finish(self) {
        match &self.bar {
            Some(bar) => bar.finish(),
            None => self.line(true),
        }
    }

    fn line(&self, done: bool) {
        let seconds = self.started.elapsed().as_secs_f64();
        let rate = if seconds > 0.0 {
            self.done as f64 / seconds
        } else {
            0.0
        };
        let left = self.total.saturating_sub(self.done) as f64;
        let eta = if rate > 0.0 { left / rate } else { 0.0 };
        let line = serde_json::json!({
            "table": self.table,
            "rows": self.done,
            "of": self.total,
            "rows_per_second": rate.round(),
            "eta_seconds": if done { 0.0 } else { eta.round() },
            "done": done,
        });
        eprintln!("{line}");
    }
}

//! The live blocklist: a set of hosts read from a file (see [`super::feed`] for the format),
//! replaced as a whole when the file changes (polled) or on SIGHUP, without a restart. A
//! reader takes the current set with one atomic load; a reload never blocks a redirect.
//! A file that cannot be read at a reload leaves the last good set in place.

use super::feed;
use super::host::HostName;
use arc_swap::ArcSwap;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio_util::sync::{CancellationToken, DropGuard};

/// Blocked hosts. An entry blocks that host and every subdomain of it.
#[derive(Debug, Default)]
pub struct HostSet {
    entries: HashSet<Box<str>>,
}

impl HostSet {
    pub fn new<'a>(hosts: impl IntoIterator<Item = HostName<'a>>) -> Self {
        Self {
            entries: hosts.into_iter().map(|h| h.as_str().into()).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry that blocks `host`, if any: one hash lookup per label, no allocation.
    /// Domains never match IP entries: a domain's last label is never numeric.
    pub fn matching(&self, host: &HostName<'_>) -> Option<&str> {
        host.with_parents()
            .find_map(|name| self.entries.get(name))
            .map(|entry| &**entry)
    }
}

/// What identifies a version of the file without reading it. An atomic replace (a new
/// inode) or an edit in place (new mtime or size) both change it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    fn of(metadata: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(metadata);
        #[cfg(not(unix))]
        let inode = 0;
        Self {
            modified: metadata.modified().ok(),
            len: metadata.len(),
            inode,
        }
    }
}

/// The blocklist of a running service: empty and inert without a file.
pub struct Blocklist {
    file: Option<PathBuf>,
    current: ArcSwap<HostSet>,
    /// The version of the file the current set was read from.
    loaded: Mutex<Option<FileStamp>>,
    /// Whether the last reload failed, so a lasting failure is logged once, not every poll.
    failing: AtomicBool,
}

impl Blocklist {
    /// No blocklist: nothing is ever blocked.
    pub fn disabled() -> Self {
        Self {
            file: None,
            current: ArcSwap::from_pointee(HostSet::default()),
            loaded: Mutex::new(None),
            failing: AtomicBool::new(false),
        }
    }

    /// Reads `file` now. Unlike a reload, a file that cannot be read here is an error: a
    /// service configured with a blocklist does not start without one.
    pub fn open(file: &Path) -> anyhow::Result<Self> {
        let list = Self {
            file: Some(file.to_owned()),
            ..Self::disabled()
        };
        list.load(true)
            .map_err(|e| anyhow::anyhow!("reading the blocklist {}: {e}", file.display()))?;
        Ok(list)
    }

    /// The set in force now.
    pub fn current(&self) -> arc_swap::Guard<Arc<HostSet>> {
        self.current.load()
    }

    /// Reads the file again if it changed (always when `force`), keeping the current set
    /// when it cannot be read. Blocking file I/O: call it off the async workers.
    pub fn reload(&self, force: bool) {
        let Some(file) = &self.file else { return };
        match self.load(force) {
            Ok(_) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(file = %file.display(), "blocklist readable again");
                }
            }
            Err(err) => {
                metrics::counter!("kurz_blocklist_reloads_total", "result" => "error").increment(1);
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        file = %file.display(),
                        error = %err,
                        entries = self.current().len(),
                        "cannot read the blocklist; keeping the last list"
                    );
                }
            }
        }
    }

    /// Loads the file into the current set unless it is the version already loaded.
    /// `Ok(true)` when a new set was put in place.
    fn load(&self, force: bool) -> std::io::Result<bool> {
        let Some(file) = &self.file else {
            return Ok(false);
        };
        let metadata = std::fs::metadata(file)?;
        if !metadata.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        let stamp = FileStamp::of(&metadata);
        let mut loaded = self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !force && loaded.as_ref() == Some(&stamp) {
            return Ok(false);
        }
        let bytes = std::fs::read(file)?;
        let parsed = feed::parse(&String::from_utf8_lossy(&bytes));
        let set = HostSet::new(parsed.hosts);
        if parsed.invalid_lines > 0 {
            tracing::warn!(
                file = %file.display(),
                invalid_lines = parsed.invalid_lines,
                first = ?parsed.first_invalid,
                "blocklist lines skipped: not a host, hosts-file line, URL or address"
            );
        }
        tracing::info!(file = %file.display(), entries = set.len(), "blocklist loaded");
        metrics::gauge!("kurz_blocklist_entries").set(set.len() as f64);
        metrics::gauge!("kurz_blocklist_invalid_lines").set(parsed.invalid_lines as f64);
        metrics::gauge!("kurz_blocklist_loaded_timestamp_seconds").set(unix_now());
        metrics::counter!("kurz_blocklist_reloads_total", "result" => "ok").increment(1);
        self.current.store(Arc::new(set));
        *loaded = Some(stamp);
        Ok(true)
    }

    /// Checks the file every `poll` (never when zero) and reloads it unconditionally on
    /// SIGHUP, until the returned guard is dropped.
    pub fn watch(self: Arc<Self>, poll: Duration) -> Option<DropGuard> {
        self.file.as_ref()?;
        let stop = CancellationToken::new();
        let mut hangups = hangup_signals();
        let guard = stop.clone().drop_guard();
        tokio::spawn(async move {
            let mut ticks = (!poll.is_zero()).then(|| {
                let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + poll, poll);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticks
            });
            loop {
                let force = tokio::select! {
                    () = stop.cancelled() => break,
                    () = next_tick(&mut ticks) => false,
                    () = next_hangup(&mut hangups) => {
                        tracing::info!("SIGHUP: reloading the blocklist");
                        true
                    }
                };
                let list = self.clone();
                if let Err(err) = tokio::task::spawn_blocking(move || list.reload(force)).await {
                    tracing::error!(error = %err, "blocklist reload ended abnormally");
                }
            }
        });
        Some(guard)
    }
}

async fn next_tick(ticks: &mut Option<tokio::time::Interval>) {
    match ticks {
        Some(ticks) => {
            ticks.tick().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

#[cfg(unix)]
fn hangup_signals() -> Hangups {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup())
        .inspect_err(|e| tracing::error!(error = %e, "cannot listen for SIGHUP"))
        .ok()
}

#[cfg(not(unix))]
fn hangup_signals() -> Hangups {
    None
}

async fn next_hangup(hangups: &mut Hangups) {
    #[cfg(unix)]
    if let Some(signals) = hangups
        && signals.recv().await.is_some()
    {
        return;
    }
    #[cfg(not(unix))]
    let _ = hangups;
    std::future::pending().await
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> HostSet {
        HostSet::new(feed::parse(text).hosts)
    }

    fn blocked_by(set: &HostSet, target: &str) -> Option<String> {
        HostName::of_target(target).and_then(|host| set.matching(&host).map(str::to_owned))
    }

    #[test]
    fn a_domain_blocks_itself_and_its_subdomains_only() {
        let set = set("evil.example\n");
        for target in [
            "https://evil.example/",
            "https://a.b.evil.example/x",
            "https://EVIL.Example./",
            "https://user@evil.example:8443/",
        ] {
            assert_eq!(
                blocked_by(&set, target).as_deref(),
                Some("evil.example"),
                "{target}"
            );
        }
        for target in [
            "https://notevil.example/",
            "https://evil.example.org/",
            "https://example/",
        ] {
            assert_eq!(blocked_by(&set, target), None, "{target}");
        }
    }

    #[test]
    fn addresses_match_exactly_whatever_their_spelling() {
        let set = set("127.0.0.1\n2001:db8::1\n");
        assert!(blocked_by(&set, "http://0x7f.0.0.1/").is_some());
        assert!(blocked_by(&set, "http://2130706433:80/").is_some());
        assert!(blocked_by(&set, "http://[2001:0db8::0001]/").is_some());
        assert!(blocked_by(&set, "http://127.0.0.2/").is_none());
    }

    #[test]
    fn unicode_targets_match_punycode_entries() {
        let set = set("xn--bcher-kva.example\n");
        assert!(blocked_by(&set, "https://shop.bücher.example/").is_some());
    }

    #[test]
    fn a_reload_keeps_the_last_list_when_the_file_is_gone() {
        let Ok(dir) = tempfile::TempDir::new() else {
            panic!("a temporary directory")
        };
        let file = dir.path().join("blocklist.txt");
        std::fs::write(&file, "evil.example\n").ok();
        let Ok(list) = Blocklist::open(&file) else {
            panic!("the blocklist opens")
        };
        assert_eq!(list.current().len(), 1);
        std::fs::write(&file, "evil.example\nworse.example\n").ok();
        list.reload(false);
        assert_eq!(list.current().len(), 2);
        std::fs::remove_file(&file).ok();
        list.reload(false);
        assert_eq!(list.current().len(), 2);
        assert!(list.failing.load(Ordering::Relaxed));
        std::fs::write(&file, "").ok();
        list.reload(false);
        assert!(list.current().is_empty());
    }

    #[test]
    fn a_missing_file_at_start_is_an_error() {
        assert!(Blocklist::open(Path::new("/nonexistent/kurz/blocklist.txt")).is_err());
    }
}

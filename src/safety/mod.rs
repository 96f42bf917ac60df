//! Destination safety: where short links may lead.
//!
//! - At create and update, a target is refused (422 on `original_url`) when its host is on
//!   the blocklist, when it leads back to kurz itself, or (opt-in) when it is a private or
//!   loopback address literal ([`rules`]).
//! - At redirect time, a link whose host has since been blocked answers 410 instead of
//!   redirecting ([`Safety::blocked_destination`]): one hash lookup per label of the host.
//! - The blocklist is a file reloaded while serving ([`blocklist`]), in a format public
//!   feeds already use ([`feed`]); `kurz blocklist import` merges feeds into it ([`importer`]).
//! - Abuse reports are events and can deactivate a link ([`reports`]).

pub mod blocklist;
pub mod feed;
pub mod host;
pub mod importer;
pub mod reports;
pub mod rules;

use crate::config::SafetySettings;
use crate::domain::TargetUrl;
use blocklist::Blocklist;
use host::HostName;
use rules::{Refusal, TargetRules};
use std::sync::Arc;
use tokio_util::sync::DropGuard;

/// Which write a target is checked for (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Create,
    Update,
}

impl Write {
    fn label(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
        }
    }
}

/// The destination rules of one running service.
pub struct Safety {
    pub blocklist: Arc<Blocklist>,
    rules: TargetRules,
    report_threshold: u32,
    /// Stops the blocklist watcher when the service's state goes away.
    _watcher: Option<DropGuard>,
}

impl Safety {
    /// Reads the blocklist (an unreadable file is an error) and starts watching it.
    /// Needs a Tokio runtime.
    pub fn start(settings: &SafetySettings) -> anyhow::Result<Self> {
        let rules = TargetRules::new(
            settings.public_hosts.as_deref(),
            settings.refuse_private_targets,
        )
        .map_err(|e| anyhow::anyhow!("KURZ_PUBLIC_HOSTS: {e}"))?;
        let blocklist = Arc::new(match &settings.blocklist {
            Some(file) => Blocklist::open(file)?,
            None => Blocklist::disabled(),
        });
        let watcher = blocklist.clone().watch(settings.blocklist_poll());
        Ok(Self {
            blocklist,
            rules,
            report_threshold: settings.report_threshold,
            _watcher: watcher,
        })
    }

    /// Why `target` may not be stored, as the 422 detail for `original_url`.
    /// `request_host` is the `Host` the request was sent to (a target there is a loop).
    pub fn check_target(
        &self,
        target: &TargetUrl,
        request_host: Option<&str>,
        write: Write,
    ) -> Result<(), String> {
        let refusal = self.refusal(target, request_host);
        match refusal {
            None => Ok(()),
            Some(refusal) => {
                metrics::counter!(
                    "kurz_targets_refused_total",
                    "rule" => refusal.rule(),
                    "write" => write.label()
                )
                .increment(1);
                Err(refusal.problem().to_owned())
            }
        }
    }

    fn refusal(&self, target: &TargetUrl, request_host: Option<&str>) -> Option<Refusal> {
        // A `TargetUrl` has already been parsed once; parse failures cannot happen here.
        let url = url::Url::parse(target.as_str()).ok()?;
        let host = HostName::from_url_host(url.host()?)?;
        if let Some(refusal) = self
            .rules
            .check(&host, url.port_or_known_default(), request_host)
        {
            return Some(refusal);
        }
        self.blocklist
            .current()
            .matching(&host)
            .map(|_| Refusal::Blocked)
    }

    /// The blocklist entry that now blocks a stored target, if any. On the redirect path:
    /// with an empty blocklist it costs one atomic load.
    pub fn blocked_destination(&self, target: &str) -> Option<String> {
        let list = self.blocklist.current();
        if list.is_empty() {
            return None;
        }
        let host = HostName::of_target(target)?;
        let entry = list.matching(&host)?;
        metrics::counter!("kurz_redirects_blocked_total").increment(1);
        Some(entry.to_owned())
    }

    /// Distinct reporters that deactivate a link (0: never).
    pub fn report_threshold(&self) -> u32 {
        self.report_threshold
    }
}

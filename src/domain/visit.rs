//! A visit to a short link and the one decision of what it gets. Every redirect, answered
//! from a cache or from the store, goes through [`decide`]; whatever later decides a visit
//! (expiry, passwords, visit caps, rules) is added here, once.

use super::analytics::Classified;
use super::{Link, Timestamp, event_type};
use serde::Serialize;
use std::net::IpAddr;
use std::sync::Arc;

/// What a visit brings that may decide its outcome or is recorded with it.
#[derive(Debug, Clone, Copy)]
pub struct Visit<'r> {
    pub at: Timestamp,
    pub referrer: Option<&'r str>,
    pub user_agent: Option<&'r str>,
    pub accept_language: Option<&'r str>,
    /// The browser says it fetches ahead (`Sec-Purpose`/`Purpose: prefetch`).
    pub prefetch: bool,
    /// The client's address (behind trusted proxies, the one they name); never stored.
    pub client: Option<IpAddr>,
}

/// What a visit gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'l> {
    /// A redirect to `target`.
    Redirect { target: &'l str },
    /// No such link, or one that is switched off: answered as if it never existed.
    NotFound,
    /// The link's destination is now on the blocklist (`entry` is what blocks it).
    Blocked { entry: String },
}

/// Decides what a visit to `link` (`None`: no such code) gets. `blocked` names the
/// blocklist entry that blocks a target, if any.
pub fn decide<'l>(
    link: Option<&'l Link>,
    _visit: &Visit<'_>,
    blocked: impl FnOnce(&str) -> Option<String>,
) -> Outcome<'l> {
    let Some(link) = link.filter(|link| link.is_active) else {
        return Outcome::NotFound;
    };
    match blocked(&link.target) {
        Some(entry) => Outcome::Blocked { entry },
        None => Outcome::Redirect {
            target: &link.target,
        },
    }
}

/// A visit as it is recorded: what the click writer turns into a `click` event (or a
/// `blocked` one), off the request path. The link is shared with the caches, not copied.
#[derive(Debug, Clone, PartialEq)]
pub struct Visited {
    pub link: Arc<Link>,
    pub at: Timestamp,
    pub referrer: Option<String>,
    pub user_agent: Option<String>,
    pub accept_language: Option<String>,
    pub prefetch: bool,
    /// Only for the visitor hash; never stored.
    pub client: Option<IpAddr>,
    /// The blocklist entry that refused it, for a `blocked` event.
    pub blocked: Option<String>,
    /// Filled in by the click writer before the batch is written.
    pub classified: Option<Box<Classified>>,
}

impl Visit<'_> {
    /// What a visit to `link` with this outcome leaves in the history.
    pub fn record(&self, link: &Arc<Link>, outcome: &Outcome<'_>) -> Visited {
        Visited {
            link: link.clone(),
            at: self.at,
            referrer: self.referrer.map(str::to_owned),
            user_agent: self.user_agent.map(str::to_owned),
            accept_language: self.accept_language.map(str::to_owned),
            prefetch: self.prefetch,
            client: self.client,
            blocked: match outcome {
                Outcome::Blocked { entry } => Some(entry.clone()),
                _ => None,
            },
            classified: None,
        }
    }
}

impl Visited {
    pub fn event_type(&self) -> &'static str {
        if self.blocked.is_some() {
            event_type::BLOCKED
        } else {
            event_type::CLICK
        }
    }

    /// The event's `details`, borrowed (serialised straight into a batch).
    pub fn details(&self) -> VisitDetails<'_> {
        VisitDetails {
            short_code: &self.link.short_code,
            original_url: &self.link.target,
            referrer: self.referrer.as_deref(),
            user_agent: self.user_agent.as_deref(),
            blocked_host: self.blocked.as_deref(),
            classified: self.classified.as_deref(),
        }
    }
}

/// The `details` of a click or blocked event. `referrer` and `user_agent` are `null` when
/// the request had none; `blocked_host` appears on `blocked` events only; the
/// classification's keys (`visit_class`, `browser`, `os`, `device`, `referrer_host`,
/// `language`, `country`) follow.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct VisitDetails<'v> {
    pub short_code: &'v str,
    pub original_url: &'v str,
    pub referrer: Option<&'v str>,
    pub user_agent: Option<&'v str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_host: Option<&'v str>,
    #[serde(flatten)]
    pub classified: Option<&'v Classified>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(active: bool) -> Link {
        Link {
            id: 1,
            user_id: Some(2),
            short_code: "abc123".into(),
            target: "https://example.com/".into(),
            is_active: active,
        }
    }

    fn visit() -> Visit<'static> {
        Visit {
            at: Timestamp::now(),
            referrer: None,
            user_agent: Some("curl/8"),
            accept_language: None,
            prefetch: false,
            client: None,
        }
    }

    #[test]
    fn an_active_link_redirects_to_its_target() {
        let link = link(true);
        assert_eq!(
            decide(Some(&link), &visit(), |_| None),
            Outcome::Redirect {
                target: "https://example.com/"
            }
        );
    }

    #[test]
    fn unknown_and_inactive_links_are_not_found_even_when_blocked() {
        assert_eq!(
            decide(None, &visit(), |_| Some("x".into())),
            Outcome::NotFound
        );
        let inactive = link(false);
        assert_eq!(
            decide(Some(&inactive), &visit(), |_| Some("x".into())),
            Outcome::NotFound
        );
    }

    #[test]
    fn a_blocked_destination_is_refused_and_recorded_as_such() {
        let link = Arc::new(link(true));
        let outcome = decide(Some(&*link), &visit(), |_| Some("example.com".into()));
        assert_eq!(
            outcome,
            Outcome::Blocked {
                entry: "example.com".into()
            }
        );
        let visited = visit().record(&link, &outcome);
        assert_eq!(visited.event_type(), event_type::BLOCKED);
        let details = serde_json::to_value(visited.details()).unwrap_or_default();
        assert_eq!(details["blocked_host"], "example.com");
        assert_eq!(details["referrer"], serde_json::Value::Null);
        assert_eq!(details["user_agent"], "curl/8");
    }
}

//! A visit to a short link and the one decision of what it gets. Every redirect, answered
//! from a cache or from the store, goes through [`decide`]; whatever later decides a visit
//! (expiry, passwords, visit caps, rules) is added here, once.

use super::{Link, NewEvent, Timestamp, event_type};
use serde_json::{Map, Value};

/// What a visit brings that may decide its outcome or is recorded with it.
#[derive(Debug, Clone, Copy)]
pub struct Visit<'r> {
    pub at: Timestamp,
    pub referrer: Option<&'r str>,
    pub user_agent: Option<&'r str>,
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

impl Visit<'_> {
    /// The event a visit leaves in the history: a `click`, or a `blocked` refusal.
    pub fn event(&self, link: &Link, outcome: &Outcome<'_>) -> NewEvent {
        let text = |value: Option<&str>| value.map_or(Value::Null, |v| Value::String(v.into()));
        let mut details = Map::new();
        details.insert("short_code".into(), Value::String(link.short_code.clone()));
        details.insert("original_url".into(), Value::String(link.target.clone()));
        details.insert("referrer".into(), text(self.referrer));
        details.insert("user_agent".into(), text(self.user_agent));
        let event_type = match outcome {
            Outcome::Blocked { entry } => {
                details.insert("blocked_host".into(), Value::String(entry.clone()));
                event_type::BLOCKED
            }
            _ => event_type::CLICK,
        };
        NewEvent {
            url_id: Some(link.id),
            user_id: link.user_id,
            event_type: event_type.to_owned(),
            timestamp: self.at,
            details,
        }
    }
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
        let link = link(true);
        let outcome = decide(Some(&link), &visit(), |_| Some("example.com".into()));
        assert_eq!(
            outcome,
            Outcome::Blocked {
                entry: "example.com".into()
            }
        );
        let event = visit().event(&link, &outcome);
        assert_eq!(event.event_type, event_type::BLOCKED);
        assert_eq!(event.details["blocked_host"], "example.com");
        assert_eq!(event.user_id, Some(2));
    }
}

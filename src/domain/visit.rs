//! A visit to a short link and the one decision of what it gets. Every redirect, answered
//! from a cache or from the store, goes through [`decide`]; whatever later decides a visit
//! (expiry, passwords, visit caps, rules) is added here, once.

use super::analytics::{Classified, VisitClass};
use super::link_settings::LinkSettings;
use super::rules::{Visitor, first_match, pick_variant};
use super::shared_text::shared;
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

/// What the caller learnt about a visit before deciding, where the link needs it.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Who visits: read only for links with settings (a plain link needs nothing of it).
    pub visitor: Visitor,
    /// The link's password was sent, and is right.
    pub unlocked: bool,
    /// The link's visit cap is known to be used up.
    pub exhausted: bool,
}

/// The most kept of what a visitor sends, in bytes: a visitor's headers are theirs to make
/// as long as the server's header limit allows (hundreds of kilobytes), and every click
/// keeps them in the click queue, in the classifier's cache of agents and in its event.
/// Real user agents run to a few hundred bytes, referrers to a URL's length.
pub const MAX_USER_AGENT: usize = 512;
pub const MAX_REFERRER: usize = 2048;
pub const MAX_ACCEPT_LANGUAGE: usize = 256;

impl<'r> Visit<'r> {
    /// This visit with its visitor's texts cut to what kurz keeps of them (at a character
    /// boundary).
    pub fn clipped(self) -> Self {
        fn clip(text: Option<&str>, max: usize) -> Option<&str> {
            text.map(|text| &text[..text.floor_char_boundary(max)])
        }
        Self {
            referrer: clip(self.referrer, MAX_REFERRER),
            user_agent: clip(self.user_agent, MAX_USER_AGENT),
            accept_language: clip(self.accept_language, MAX_ACCEPT_LANGUAGE),
            ..self
        }
    }
}

/// Why a link no longer leads to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum End {
    Expired,
    Exhausted,
}

/// What chose a redirect's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    /// The link's own target.
    Target,
    /// The rule at this index matched.
    Rule(usize),
    /// The visitor falls on the variant at this index.
    Variant(usize),
    /// The link has ended; its `fallback_url`.
    Fallback(End),
}

/// What a visit gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'l> {
    /// A redirect to `target` with `status`; `spends_cap`: a human visit of a capped link,
    /// which may only go ahead once the cap grants it.
    Redirect {
        target: &'l str,
        status: u16,
        chosen: Chosen,
        spends_cap: bool,
    },
    /// No such link, or one that is switched off: answered as if it never existed.
    NotFound,
    /// The chosen destination is now on the blocklist (`entry` is what blocks it).
    Blocked { entry: String },
    /// Expired or used up, with nowhere to fall back to.
    Ended(End),
    /// The link has a password and the visit did not bring it.
    Locked,
}

/// Decides what a visit to `link` (`None`: no such code) gets, in this order: switched
/// off, ended (expiry, then cap), password, then the target (first matching rule, else a
/// variant, else the link's own). `blocked` names the blocklist entry that blocks a
/// target, if any.
pub fn decide<'l>(
    link: Option<&'l Link>,
    visit: &Visit<'_>,
    facts: &Facts,
    blocked: impl Fn(&str) -> Option<String>,
) -> Outcome<'l> {
    let Some(link) = link.filter(|link| link.is_active) else {
        return Outcome::NotFound;
    };
    let settings = link.settings.as_ref();
    let status = LinkSettings::status(settings);
    let redirect =
        |target: &'l str, chosen: Chosen, status: u16, spends_cap: bool| match blocked(target) {
            Some(entry) => Outcome::Blocked { entry },
            None => Outcome::Redirect {
                target,
                status,
                chosen,
                spends_cap,
            },
        };
    let Some(settings) = settings else {
        return match link.password_hash {
            Some(_) if !facts.unlocked => Outcome::Locked,
            _ => redirect(&link.target, Chosen::Target, status, false),
        };
    };
    let ended = if settings.expires_at.is_some_and(|end| visit.at >= end) {
        Some(End::Expired)
    } else if settings.max_clicks.is_some() && facts.exhausted {
        Some(End::Exhausted)
    } else {
        None
    };
    if let Some(end) = ended {
        return match &settings.fallback_url {
            Some(fallback) => redirect(fallback, Chosen::Fallback(end), 302, false),
            None => Outcome::Ended(end),
        };
    }
    if link.password_hash.is_some() && !facts.unlocked {
        return Outcome::Locked;
    }
    let spends_cap =
        settings.max_clicks.is_some() && facts.visitor.class == Some(VisitClass::Human);
    if let Some((index, rule)) = first_match(&settings.rules, &facts.visitor, visit.at) {
        return redirect(&rule.target, Chosen::Rule(index), status, spends_cap);
    }
    if let Some((index, variant)) = pick_variant(&settings.variants, facts.visitor.sticky) {
        return redirect(&variant.url, Chosen::Variant(index), status, spends_cap);
    }
    redirect(&link.target, Chosen::Target, status, spends_cap)
}

/// A visit as it is recorded: what the click writer turns into a `click` event (or a
/// `blocked` one), off the request path. The link is shared with the caches, not copied.
#[derive(Debug, Clone, PartialEq)]
pub struct Visited {
    pub link: Arc<Link>,
    pub at: Timestamp,
    /// The visitor's texts, shared with other queued clicks that carry the same one
    /// ([`super::shared_text`]).
    pub referrer: Option<Arc<str>>,
    pub user_agent: Option<Arc<str>>,
    pub accept_language: Option<Arc<str>>,
    pub prefetch: bool,
    /// Only for the visitor hash; never stored.
    pub client: Option<IpAddr>,
    /// The blocklist entry that refused it, for a `blocked` event.
    pub blocked: Option<String>,
    /// What chose the target (a rule, a variant, the fallback, or the link itself).
    pub chosen: Chosen,
    /// Filled in by the click writer before the batch is written.
    pub classified: Option<Box<Classified>>,
}

impl Visit<'_> {
    /// What a visit to `link` with this outcome leaves in the history.
    pub fn record(&self, link: &Arc<Link>, outcome: &Outcome<'_>) -> Visited {
        Visited {
            link: link.clone(),
            at: self.at,
            referrer: self.referrer.map(shared),
            user_agent: self.user_agent.map(shared),
            accept_language: self.accept_language.map(shared),
            prefetch: self.prefetch,
            client: self.client,
            blocked: match outcome {
                Outcome::Blocked { entry } => Some(entry.clone()),
                _ => None,
            },
            chosen: match outcome {
                Outcome::Redirect { chosen, .. } => *chosen,
                _ => Chosen::Target,
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
            redirected_to: self.chosen_target(),
            rule: match self.chosen {
                Chosen::Rule(index) => Some(index),
                _ => None,
            },
            variant: match self.chosen {
                Chosen::Variant(index) => Some(index),
                _ => None,
            },
            fallback: match self.chosen {
                Chosen::Fallback(end) => Some(end),
                _ => None,
            },
            classified: self.classified.as_deref(),
        }
    }

    /// The target a rule, variant or fallback chose instead of the link's own.
    fn chosen_target(&self) -> Option<&str> {
        let settings = self.link.settings.as_ref()?;
        match self.chosen {
            Chosen::Target => None,
            Chosen::Rule(index) => settings.rules.get(index).map(|r| r.target.as_str()),
            Chosen::Variant(index) => settings.variants.get(index).map(|v| v.url.as_str()),
            Chosen::Fallback(_) => settings.fallback_url.as_deref(),
        }
    }
}

/// The `details` of a click or blocked event. `referrer` and `user_agent` are `null` when
/// the request had none; `blocked_host` appears on `blocked` events only; `redirected_to`
/// with `rule`, `variant` or `fallback` when one of them chose the target; the
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
    /// Where the visit went when a rule, variant or fallback chose it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirected_to: Option<&'v str>,
    /// The index of the rule that matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<usize>,
    /// The index of the variant the visitor fell on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<usize>,
    /// `expired` or `exhausted`: the visit went to the link's `fallback_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<End>,
    #[serde(flatten)]
    pub classified: Option<&'v Classified>,
}

#[cfg(test)]
#[path = "visit_tests.rs"]
mod tests;

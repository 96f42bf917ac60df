//! What the click writer learns of a visit (its class, browser, OS, device, referrer host,
//! language, country and a pseudonymous visitor), and the counters a batch of visits adds
//! to: per link and hour by class, and per link, hour and dimension for human clicks. The
//! classification itself is `clicks::classify`; the stats read back are `domain::stats`.

use serde::Serialize;
use std::collections::BTreeMap;

/// Seconds in a counter's bucket: counters are kept per hour.
pub const BUCKET_SECS: i64 = 3600;

/// Who made a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VisitClass {
    /// A person, in a browser or an app.
    Human,
    /// Crawlers, monitors, scripts, and requests without a user agent.
    Bot,
    /// A link unfurler fetching a preview (Slack, Discord, X, Facebook, WhatsApp, …).
    Preview,
    /// A browser fetching ahead of a click that may never come (`Sec-Purpose: prefetch`).
    Prefetch,
}

impl VisitClass {
    pub const ALL: [Self; 4] = [Self::Human, Self::Bot, Self::Preview, Self::Prefetch];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Human => "human",
            Self::Bot => "bot",
            Self::Preview => "preview",
            Self::Prefetch => "prefetch",
        }
    }
}

/// A visit, classified. Serialised into the click event's `details` beside its other keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classified {
    pub visit_class: VisitClass,
    pub browser: String,
    pub os: String,
    /// `desktop`, `mobile`, `tablet` or `other`.
    pub device: &'static str,
    /// The referring page's host, lower case (`null`: none, or not a URL).
    pub referrer_host: Option<String>,
    /// The first language of `Accept-Language`, primary subtag, lower case (`de`).
    pub language: Option<String>,
    /// ISO 3166 code of the client address, when a GeoIP database is configured.
    pub country: Option<String>,
    /// The pseudonymous visitor: a hash of address and user agent under the day's key.
    /// Not in the event (it would let anyone link a visitor's clicks across the day).
    #[serde(skip)]
    pub visitor: Option<String>,
}

impl Classified {
    /// The values of the dimensions counted one row per value, where the visit tells them
    /// (browser, OS and device are counted together instead: [`Rollup::agents`]).
    fn told(&self) -> [(&'static str, Option<&String>); 3] {
        [
            ("referrer", self.referrer_host.as_ref()),
            ("country", self.country.as_ref()),
            ("language", self.language.as_ref()),
        ]
    }
}

/// The value of a dimension a visit does not tell (no referrer, no language, …). Not
/// stored: the stats derive it as the human clicks less the known values.
pub const UNKNOWN: &str = "unknown";

/// Clicks of one link in one hour, by class; `visitors`: human visitors not seen before that
/// day (filled in by the store, which knows who was).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassCounts {
    pub humans: i64,
    pub bots: i64,
    pub previews: i64,
    pub prefetches: i64,
}

impl ClassCounts {
    fn add(&mut self, class: VisitClass) {
        match class {
            VisitClass::Human => self.humans += 1,
            VisitClass::Bot => self.bots += 1,
            VisitClass::Preview => self.previews += 1,
            VisitClass::Prefetch => self.prefetches += 1,
        }
    }
}

/// What one batch of clicks adds to the counters.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rollup {
    pub counts: BTreeMap<(i64, i64), ClassCounts>,
    /// Human clicks by (link, day, browser, OS, device).
    pub agents: BTreeMap<AgentKey, i64>,
    /// Human clicks by (link, day, dimension, value), for the referrer, country and
    /// language a click tells (unknown values are not counted: they are derived).
    pub dimensions: BTreeMap<(i64, i64, &'static str, String), i64>,
    /// Human visitors by (link, day, visitor) → the first hour bucket they came in.
    pub visitors: BTreeMap<(i64, i64, String), i64>,
}

/// A row of the agent counters: link, day, browser, OS, device.
pub type AgentKey = (i64, i64, String, String, &'static str);

/// The hour bucket of a time in Unix seconds.
pub fn bucket_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(BUCKET_SECS)
}

impl Rollup {
    /// What a batch of visits adds: its classified clicks (blocked visits are no clicks).
    pub fn of(visits: &[super::Visited]) -> Self {
        let mut rollup = Self::default();
        for visit in visits.iter().filter(|v| v.blocked.is_none()) {
            if let Some(classified) = &visit.classified {
                let at = visit.at.unix_secs();
                rollup.add(visit.link.id, at, classified);
            }
        }
        rollup
    }

    /// Adds one classified click on `url_id` at `unix_secs`.
    pub fn add(&mut self, url_id: i64, unix_secs: i64, visit: &Classified) {
        let bucket = bucket_of(unix_secs);
        let day = unix_secs.div_euclid(86_400);
        self.counts
            .entry((url_id, bucket))
            .or_default()
            .add(visit.visit_class);
        if visit.visit_class != VisitClass::Human {
            return;
        }
        let agent = (
            url_id,
            day,
            visit.browser.clone(),
            visit.os.clone(),
            visit.device,
        );
        *self.agents.entry(agent).or_default() += 1;
        for (dimension, value) in visit.told() {
            if let Some(value) = value {
                let key = (url_id, day, dimension, value.clone());
                *self.dimensions.entry(key).or_default() += 1;
            }
        }
        if let Some(visitor) = &visit.visitor {
            self.visitors
                .entry((url_id, day, visitor.clone()))
                .or_insert(bucket);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(class: VisitClass, visitor: &str) -> Classified {
        Classified {
            visit_class: class,
            browser: "Chrome".into(),
            os: "Windows".into(),
            device: "desktop",
            referrer_host: None,
            language: Some("de".into()),
            country: None,
            visitor: Some(visitor.into()),
        }
    }

    #[test]
    fn a_batch_counts_classes_per_hour_and_dimensions_and_visitors_of_humans_only() {
        let mut rollup = Rollup::default();
        rollup.add(7, 3600 * 10 + 5, &visit(VisitClass::Human, "a"));
        rollup.add(7, 3600 * 10 + 9, &visit(VisitClass::Human, "a"));
        rollup.add(7, 3600 * 11, &visit(VisitClass::Human, "b"));
        rollup.add(7, 3600 * 11, &visit(VisitClass::Bot, "c"));
        assert_eq!(rollup.counts[&(7, 10)].humans, 2);
        assert_eq!(
            rollup.counts[&(7, 11)],
            ClassCounts {
                humans: 1,
                bots: 1,
                ..ClassCounts::default()
            }
        );
        assert_eq!(rollup.dimensions[&(7, 0, "language", "de".into())], 3);
        assert_eq!(
            rollup.agents[&(7, 0, "Chrome".into(), "Windows".into(), "desktop")],
            3
        );
        assert_eq!(
            rollup.dimensions.len(),
            1,
            "no referrer, no country: nothing counted for them"
        );
        assert_eq!(
            rollup.visitors.len(),
            2,
            "a once, b once; the bot is no visitor"
        );
        assert_eq!(
            rollup.visitors[&(7, 0, "a".into())],
            10,
            "first seen at 10:00"
        );
    }
}

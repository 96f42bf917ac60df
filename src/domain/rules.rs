//! Redirect rules and A/B variants: which target a visit gets when a link has more than
//! one. Rules are tried in order and the first whose conditions all hold answers; without a
//! matching rule, a link with variants picks one by weight, the same one for the same
//! visitor. Parsed once when the link is written ([`parse_rules`], [`parse_variants`]), so
//! matching at redirect time only compares.

use super::Timestamp;
use super::analytics::VisitClass;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Most rules, and most variants, on one link.
pub const MAX_RULES: usize = 50;

/// One rule: when every condition of `when` holds, the visit goes to `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rule {
    pub when: When,
    /// Checked like `original_url` (the blocklist included).
    pub target: String,
}

/// The conditions of a rule; every one given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct When {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
    /// The OS family as the stats name it (`iOS`, `Android`, `Windows`, `macOS`, `Linux`, …);
    /// compared without regard to case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// The browser as the stats name it (`Chrome`, `Safari`, `Firefox`, …), without regard to case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    /// The primary subtag of the visitor's first `Accept-Language` (`de` matches `de-CH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// ISO 3166 alpha-2 code of the client's address (needs `KURZ_GEOIP_DB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Query parameters the visit's URL must carry with exactly these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// The visit is at or after this instant (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Timestamp>,
    /// The visit is before this instant (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Timestamp>,
}

/// A device condition: `ios` and `android` name the platform, the others the form factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    Ios,
    Android,
    Mobile,
    Desktop,
    Tablet,
}

/// One arm of an A/B split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Variant {
    pub url: String,
    /// A positive share; shares need not add up to 100.
    pub weight: u32,
}

/// What is known of a visitor when a rule or variant is chosen.
#[derive(Debug, Clone, Default)]
pub struct Visitor {
    pub class: Option<VisitClass>,
    pub browser: String,
    pub os: String,
    /// `desktop`, `mobile`, `tablet` or `other`.
    pub device: &'static str,
    pub language: Option<String>,
    pub country: Option<String>,
    /// The visited URL's query string, without `?`.
    pub query: Option<String>,
    /// A number fixed for one visitor and link: it picks the variant.
    pub sticky: u64,
}

impl When {
    /// Whether every condition holds for `visitor` at `at`.
    pub fn holds(&self, visitor: &Visitor, at: Timestamp) -> bool {
        let same = |wanted: &Option<String>, seen: Option<&str>| {
            wanted
                .as_deref()
                .is_none_or(|w| seen.is_some_and(|s| s.eq_ignore_ascii_case(w)))
        };
        let device = self.device.is_none_or(|device| match device {
            Device::Ios => visitor.os == "iOS",
            Device::Android => visitor.os == "Android",
            Device::Mobile => visitor.device == "mobile",
            Device::Desktop => visitor.device == "desktop",
            Device::Tablet => visitor.device == "tablet",
        });
        device
            && same(&self.os, Some(&visitor.os))
            && same(&self.browser, Some(&visitor.browser))
            && same(&self.language, visitor.language.as_deref())
            && same(&self.country, visitor.country.as_deref())
            && self.after.is_none_or(|after| at >= after)
            && self.before.is_none_or(|before| at < before)
            && self.query_holds(visitor.query.as_deref())
    }

    fn query_holds(&self, query: Option<&str>) -> bool {
        if self.query.is_empty() {
            return true;
        }
        let pairs: Vec<_> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes()).collect();
        self.query
            .iter()
            .all(|(key, value)| pairs.iter().any(|(k, v)| k == key && v == value))
    }
}

/// The first rule that holds, with its index.
pub fn first_match<'r>(
    rules: &'r [Rule],
    visitor: &Visitor,
    at: Timestamp,
) -> Option<(usize, &'r Rule)> {
    rules
        .iter()
        .enumerate()
        .find(|(_, rule)| rule.when.holds(visitor, at))
}

/// The variant `sticky` falls on: each takes a share of `0..total` as wide as its weight.
pub fn pick_variant(variants: &[Variant], sticky: u64) -> Option<(usize, &Variant)> {
    let total: u64 = variants.iter().map(|v| u64::from(v.weight)).sum();
    if total == 0 {
        return None;
    }
    let mut point = sticky % total;
    variants.iter().enumerate().find(|(_, variant)| {
        let weight = u64::from(variant.weight);
        if point < weight {
            return true;
        }
        point -= weight;
        false
    })
}

/// Problems found in a field, each under its path (`rules[2].when.device`).
pub type Problems = Vec<(String, String)>;

/// Parses a rule list as sent; `target` checks a target as `original_url` is checked.
pub fn parse_rules(
    value: &Value,
    target: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Vec<Rule>, Problems> {
    let items = list(value, "rules")?;
    let mut problems = Problems::new();
    let mut rules = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let path = format!("rules[{index}]");
        let Some(fields) = item.as_object() else {
            problems.push((path, "must be an object with `when` and `target`".into()));
            continue;
        };
        if let Some(key) = fields
            .keys()
            .find(|k| !["when", "target"].contains(&k.as_str()))
        {
            problems.push((format!("{path}.{key}"), "is not a rule field".into()));
        }
        let when = match fields.get("when") {
            Some(Value::Object(when)) => parse_when(when, &format!("{path}.when"), &mut problems),
            _ => {
                problems.push((
                    format!("{path}.when"),
                    "must be an object of conditions".into(),
                ));
                None
            }
        };
        let checked = match fields.get("target") {
            Some(Value::String(raw)) => target(raw)
                .map_err(|p| problems.push((format!("{path}.target"), p)))
                .ok(),
            _ => {
                problems.push((format!("{path}.target"), "must be a URL string".into()));
                None
            }
        };
        if let (Some(when), Some(target)) = (when, checked) {
            rules.push(Rule { when, target });
        }
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems)
    }
}

/// A `when` object; `None` when any condition is bad (its problem recorded).
fn parse_when(fields: &Map<String, Value>, path: &str, problems: &mut Problems) -> Option<When> {
    let before = problems.len();
    let mut when = When::default();
    if fields.is_empty() {
        problems.push((path.to_owned(), "must have at least one condition".into()));
    }
    for (key, value) in fields {
        let at = format!("{path}.{key}");
        let text = || {
            value
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.len() <= 64)
        };
        let mut bad = |problem: &str| problems.push((at.clone(), problem.to_owned()));
        match key.as_str() {
            "device" => match serde_json::from_value::<Device>(value.clone()) {
                Ok(device) => when.device = Some(device),
                Err(_) => bad("must be one of ios, android, mobile, desktop, tablet"),
            },
            "os" | "browser" => match text() {
                Some(name) if key == "os" => when.os = Some(name.to_owned()),
                Some(name) => when.browser = Some(name.to_owned()),
                None => bad("must be a name of 1 to 64 characters"),
            },
            "language" => match text().filter(|l| {
                (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic())
            }) {
                Some(language) => when.language = Some(language.to_ascii_lowercase()),
                None => bad("must be a language code of 2 or 3 letters (de, en, fil)"),
            },
            "country" => match text()
                .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
            {
                Some(country) => when.country = Some(country.to_ascii_uppercase()),
                None => bad("must be an ISO 3166 alpha-2 code (DE, US)"),
            },
            "query" => match value.as_object() {
                Some(pairs) if !pairs.is_empty() && pairs.values().all(Value::is_string) => {
                    when.query = pairs
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect();
                }
                _ => bad("must be an object of parameter names to string values"),
            },
            "after" | "before" => match value.as_str().map(Timestamp::parse) {
                Some(Ok(at)) if key == "after" => when.after = Some(at),
                Some(Ok(at)) => when.before = Some(at),
                Some(Err(problem)) => bad(&problem),
                None => bad("must be a datetime string"),
            },
            _ => bad(
                "is not a condition (device, os, browser, language, country, query, after, before)",
            ),
        }
    }
    if let (Some(after), Some(before)) = (when.after, when.before)
        && after >= before
    {
        problems.push((
            format!("{path}.before"),
            "must be later than `after`".into(),
        ));
    }
    (problems.len() == before).then_some(when)
}

/// Parses a variant list as sent; `target` checks each `url`.
pub fn parse_variants(
    value: &Value,
    target: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Vec<Variant>, Problems> {
    let items = list(value, "variants")?;
    let mut problems = Problems::new();
    let mut variants = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let path = format!("variants[{index}]");
        let Some(fields) = item.as_object() else {
            problems.push((path, "must be an object with `url` and `weight`".into()));
            continue;
        };
        if let Some(key) = fields
            .keys()
            .find(|k| !["url", "weight"].contains(&k.as_str()))
        {
            problems.push((format!("{path}.{key}"), "is not a variant field".into()));
        }
        let url = match fields.get("url") {
            Some(Value::String(raw)) => target(raw)
                .map_err(|p| problems.push((format!("{path}.url"), p)))
                .ok(),
            _ => {
                problems.push((format!("{path}.url"), "must be a URL string".into()));
                None
            }
        };
        let weight = fields
            .get("weight")
            .and_then(Value::as_u64)
            .filter(|w| (1..=1_000_000).contains(w))
            .and_then(|w| u32::try_from(w).ok());
        if weight.is_none() {
            problems.push((
                format!("{path}.weight"),
                "must be an integer from 1 to 1000000".into(),
            ));
        }
        if let (Some(url), Some(weight)) = (url, weight) {
            variants.push(Variant { url, weight });
        }
    }
    if problems.is_empty() {
        Ok(variants)
    } else {
        Err(problems)
    }
}

/// The items of a list field, at most [`MAX_RULES`].
fn list<'v>(value: &'v Value, field: &str) -> Result<&'v Vec<Value>, Problems> {
    match value.as_array() {
        Some(items) if items.len() <= MAX_RULES => Ok(items),
        Some(_) => Err(vec![(
            field.to_owned(),
            format!("must have at most {MAX_RULES} items"),
        )]),
        None => Err(vec![(field.to_owned(), "must be a list".into())]),
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;

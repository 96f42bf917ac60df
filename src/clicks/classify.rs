//! Who a visit came from, worked out by the click writer off the request path: the visit
//! class (human, bot, link preview, prefetch), browser, OS and device from the user agent
//! (woothee's parser, plus kurz's own lists of link unfurlers and scripts), the referrer's
//! host, the first language asked for, the country (when a GeoIP database is configured,
//! see [`super::geo`]) and a pseudonymous visitor.

use super::geo::GeoIp;
use crate::domain::analytics::{Classified, VisitClass};
use crate::domain::rules::Visitor;
use crate::domain::{Visit, Visited};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use woothee::parser::Parser;

/// Link unfurlers: what fetches a page to show its preview (matched in the lower-cased user
/// agent, before the bot list: most of them call themselves bots). iMessage sends
/// `facebookexternalhit … Twitterbot`.
const PREVIEWS: &[&str] = &[
    "slackbot",
    "slack-imgproxy",
    "discordbot",
    "twitterbot",
    "facebookexternalhit",
    "facebot",
    "linkedinbot",
    "whatsapp",
    "telegrambot",
    "skypeuripreview",
    "pinterestbot",
    "redditbot",
    "mastodon",
    "bluesky",
    "embedly",
    "iframely",
    "vkshare",
    "viber",
    "snapchat",
    "google-pagerenderer",
    "microsoftpreview",
];

/// Scripts, monitors and crawlers woothee may not know (matched in the lower-cased agent).
const BOTS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "curl/",
    "wget/",
    "python",
    "go-http-client",
    "java/",
    "okhttp",
    "headlesschrome",
    "phantomjs",
    "monitor",
    "uptime",
    "pingdom",
    "httpclient",
    "axios/",
    "node-fetch",
    "undici",
    "libwww",
    "scrapy",
    "lighthouse",
    "http.rb",
    "guzzle",
    "postman",
    "insomnia",
    "apache-httpclient",
    "feedfetcher",
    "validator",
];

/// Distinct user agents whose reading is kept; past this the cache starts again. Traffic
/// repeats a few agents, and reading one (woothee and the lists) costs more than the rest
/// of a click's classification.
const AGENTS_KEPT: usize = 10_000;

/// What a user agent says, read once.
#[derive(Debug)]
struct Agent {
    /// `Human` unless the agent is a bot's or a link unfurler's.
    class: VisitClass,
    browser: String,
    os: String,
    device: &'static str,
}

/// The classifier: woothee's parser (its tables built once), the agents already read, and
/// the country database if there is one.
pub struct Classifier {
    parser: Parser,
    agents: Mutex<HashMap<String, Arc<Agent>>>,
    geo: Option<GeoIp>,
}

impl Default for Classifier {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Classifier {
    /// A classifier that places client addresses in countries with `geo` (`None`: every
    /// country is unknown).
    pub fn new(geo: Option<GeoIp>) -> Self {
        Self {
            parser: Parser::new(),
            agents: Mutex::new(HashMap::new()),
            geo,
        }
    }

    /// The reading of `raw`, from the cache when it was read before.
    fn agent(&self, raw: &str) -> Arc<Agent> {
        if let Ok(agents) = self.agents.lock()
            && let Some(agent) = agents.get(raw)
        {
            return agent.clone();
        }
        let agent = Arc::new(self.read_agent(raw));
        if let Ok(mut agents) = self.agents.lock() {
            if agents.len() >= AGENTS_KEPT {
                agents.clear();
            }
            agents.insert(raw.to_owned(), agent.clone());
        }
        agent
    }

    fn read_agent(&self, raw: &str) -> Agent {
        let lower = raw.to_ascii_lowercase();
        let parsed = self.parser.parse(raw);
        let (browser, os_name, category) = parsed
            .as_ref()
            .map_or(("", "", ""), |r| (r.name, r.os, r.category));
        let class = if PREVIEWS.iter().any(|p| lower.contains(p)) {
            VisitClass::Preview
        } else if raw.is_empty() || category == "crawler" || BOTS.iter().any(|b| lower.contains(b))
        {
            VisitClass::Bot
        } else {
            VisitClass::Human
        };
        Agent {
            class,
            browser: known(browser).unwrap_or("other").to_owned(),
            os: os_family(os_name).to_owned(),
            device: device(category, os_name, &lower),
        }
    }

    /// Classifies a visit; `key` is the day's visitor key (`None`: no visitor is counted).
    pub fn classify(&self, visit: &Visited, key: Option<&str>) -> Classified {
        let raw = visit.user_agent.as_deref().unwrap_or("").trim();
        let agent = self.agent(raw);
        let visit_class = match agent.class {
            VisitClass::Human if visit.prefetch => VisitClass::Prefetch,
            class => class,
        };
        Classified {
            visit_class,
            browser: agent.browser.clone(),
            os: agent.os.clone(),
            device: agent.device,
            referrer_host: visit.referrer.as_deref().and_then(referrer_host),
            language: visit.accept_language.as_deref().and_then(first_language),
            country: self
                .geo
                .as_ref()
                .zip(visit.client)
                .and_then(|(geo, client)| geo.country(client)),
            visitor: match (key, visit.client) {
                (Some(key), Some(client)) => Some(visitor(key, &client.to_string(), raw)),
                _ => None,
            },
        }
    }
}

impl Classifier {
    /// What the redirect decision may need of a visitor to link `link_id`, read at request
    /// time for links with settings: the same reading the click writer makes later, and a
    /// number fixed for this visitor and link (address and user agent) that picks variants.
    pub fn visitor(&self, visit: &Visit<'_>, link_id: i64, query: Option<&str>) -> Visitor {
        let raw = visit.user_agent.unwrap_or("").trim();
        let agent = self.agent(raw);
        let class = match agent.class {
            VisitClass::Human if visit.prefetch => VisitClass::Prefetch,
            class => class,
        };
        let client = visit.client.map(|c| c.to_string()).unwrap_or_default();
        let digest = Sha256::new()
            .chain_update(link_id.to_be_bytes())
            .chain_update(client.as_bytes())
            .chain_update([0])
            .chain_update(raw.as_bytes())
            .finalize();
        let mut sticky = [0; 8];
        sticky.copy_from_slice(&digest[..8]);
        Visitor {
            class: Some(class),
            browser: agent.browser.clone(),
            os: agent.os.clone(),
            device: agent.device,
            language: visit.accept_language.and_then(first_language),
            country: self
                .geo
                .as_ref()
                .zip(visit.client)
                .and_then(|(geo, client)| geo.country(client)),
            query: query.map(str::to_owned),
            sticky: u64::from_be_bytes(sticky),
        }
    }
}

fn known(value: &str) -> Option<&str> {
    Some(value).filter(|v| !v.is_empty() && *v != "UNKNOWN")
}

/// An OS family, so that "Windows 10" and "Windows 7" count together.
fn os_family(os: &str) -> &str {
    match os {
        "iPhone" | "iPad" | "iPod" => "iOS",
        "Mac OSX" | "Mac OS Classic" => "macOS",
        _ if os.starts_with("Windows") => "Windows",
        _ => known(os).unwrap_or("other"),
    }
}

/// `desktop`, `mobile`, `tablet` or `other`.
fn device(category: &str, os: &str, agent: &str) -> &'static str {
    let android_tablet = os == "Android" && !agent.contains("mobile");
    match category {
        _ if os == "iPad" || agent.contains("tablet") || android_tablet => "tablet",
        "pc" => "desktop",
        "smartphone" | "mobilephone" => "mobile",
        _ => "other",
    }
}

/// The host of a referring URL, lower case, without `www.`.
fn referrer_host(referrer: &str) -> Option<String> {
    let url = url::Url::parse(referrer.trim()).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    Some(host.strip_prefix("www.").map(str::to_owned).unwrap_or(host))
}

/// The primary subtag of the first language of an `Accept-Language` header (`de-DE,en` →
/// `de`); `None` for `*` or nothing usable.
fn first_language(header: &str) -> Option<String> {
    let first = header.split(',').next()?.split(';').next()?.trim();
    let primary = first.split(['-', '_']).next()?.to_ascii_lowercase();
    let letters =
        (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase());
    letters.then_some(primary)
}

/// The visitor: the first 16 bytes of SHA-256 over the day's key, address and user agent.
/// Without the key (deleted after the day) the hash cannot be tied to an address.
fn visitor(key: &str, client: &str, agent: &str) -> String {
    let mut hash = Sha256::new();
    for part in [key, client, agent] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hex::encode(&hash.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Link, Timestamp};
    use std::sync::Arc;

    const CHROME_DESKTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const IPHONE_SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
    const ANDROID_FIREFOX: &str =
        "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0";

    fn visit(agent: &str) -> Visited {
        Visited {
            link: Arc::new(Link {
                id: 1,
                user_id: None,
                short_code: "abc".into(),
                target: "https://example.com/".into(),
                is_active: true,
                settings: None,
                password_hash: None,
            }),
            at: Timestamp::now(),
            referrer: Some("https://www.News.example.com/a?b".into()),
            user_agent: Some(agent.into()),
            accept_language: Some("de-DE,de;q=0.9,en;q=0.8".into()),
            prefetch: false,
            client: "203.0.113.7".parse().ok(),
            blocked: None,
            chosen: crate::domain::Chosen::Target,
            classified: None,
        }
    }

    #[test]
    fn browsers_systems_and_devices() {
        let classifier = Classifier::default();
        let cases = [
            (CHROME_DESKTOP, "Chrome", "Windows", "desktop"),
            (IPHONE_SAFARI, "Safari", "iOS", "mobile"),
            (ANDROID_FIREFOX, "Firefox", "Android", "mobile"),
        ];
        for (agent, browser, os, device) in cases {
            let seen = classifier.classify(&visit(agent), None);
            assert_eq!(seen.visit_class, VisitClass::Human, "{agent}");
            assert_eq!(
                (seen.browser.as_str(), seen.os.as_str(), seen.device),
                (browser, os, device),
                "{agent}"
            );
            assert_eq!(seen.referrer_host.as_deref(), Some("news.example.com"));
            assert_eq!(seen.language.as_deref(), Some("de"));
        }
    }

    #[test]
    fn bots_previews_and_prefetches() {
        let classifier = Classifier::default();
        let cases = [
            (
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                VisitClass::Bot,
            ),
            ("curl/8.5.0", VisitClass::Bot),
            ("", VisitClass::Bot),
            (
                "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
                VisitClass::Preview,
            ),
            (
                "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
                VisitClass::Preview,
            ),
            (
                "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
                VisitClass::Preview,
            ),
        ];
        for (agent, class) in cases {
            assert_eq!(
                classifier.classify(&visit(agent), None).visit_class,
                class,
                "{agent:?}"
            );
        }
        let mut ahead = visit(CHROME_DESKTOP);
        ahead.prefetch = true;
        assert_eq!(
            classifier.classify(&ahead, None).visit_class,
            VisitClass::Prefetch
        );
    }

    #[test]
    fn a_visitor_is_the_same_within_a_key_and_unlinkable_across_keys() {
        let classifier = Classifier::default();
        let one = visit(CHROME_DESKTOP);
        let a = classifier.classify(&one, Some("monday")).visitor;
        assert_eq!(a, classifier.classify(&one, Some("monday")).visitor);
        assert_ne!(a, classifier.classify(&one, Some("tuesday")).visitor);
        assert!(a.as_deref().is_some_and(|v| !v.contains("203.0.113.7")));
        assert_eq!(classifier.classify(&one, None).visitor, None);
    }

    #[test]
    fn languages_and_referrers_that_say_nothing() {
        assert_eq!(first_language("*"), None);
        assert_eq!(first_language("en_US"), Some("en".into()));
        assert_eq!(
            referrer_host("android-app://com.slack"),
            Some("com.slack".into())
        );
        assert_eq!(referrer_host("not a url"), None);
    }
}

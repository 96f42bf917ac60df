//! Visits with known user agents, referrers, languages and client addresses (sent through a
//! trusted proxy's `X-Forwarded-For`), the stats they must add up to, and a small GeoIP
//! database placing some of their addresses: one set, so the embedded store, PostgreSQL
//! and two replicas are held to the same numbers.

use super::http::Api;
use serde::Serialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

pub const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
pub const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
pub const ANDROID_FIREFOX: &str =
    "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0";
pub const GOOGLEBOT: &str =
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
pub const SLACKBOT: &str = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)";
pub const FACEBOOK: &str =
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)";

/// One visit: user agent, client address, referrer, language, prefetch.
pub type Visit = (&'static str, &'static str, &'static str, &'static str, bool);

/// Four humans (three visitors: the first two visits are one person), a crawler, two link
/// previews, a script and a browser's prefetch.
pub const VISITS: &[Visit] = &[
    (
        CHROME,
        "198.51.100.1",
        "https://www.google.com/search?q=kurz",
        "en-US,en;q=0.9",
        false,
    ),
    (
        CHROME,
        "198.51.100.1",
        "https://www.google.com/",
        "en-US",
        false,
    ),
    (
        IPHONE,
        "198.51.100.2",
        "https://t.co/abc",
        "de-DE,de;q=0.9",
        false,
    ),
    (ANDROID_FIREFOX, "198.51.100.3", "", "fr", false),
    (GOOGLEBOT, "66.249.66.1", "", "", false),
    (SLACKBOT, "198.51.100.9", "", "", false),
    (FACEBOOK, "198.51.100.10", "", "", false),
    ("curl/8.5.0", "198.51.100.11", "", "", false),
    (CHROME, "198.51.100.4", "", "en", true),
];

/// Settings a replica needs to count [`VISITS`] as this kit expects: the test client as a
/// trusted proxy.
pub const TRUSTED_PROXY: &str = "127.0.0.1/32";

/// Sends one visit of `code`; it must redirect.
pub async fn send_visit(api: &Api, code: &str, visit: Visit) {
    let (agent, client, referrer, language, prefetch) = visit;
    let mut headers = vec![("User-Agent", agent), ("X-Forwarded-For", client)];
    if !referrer.is_empty() {
        headers.push(("Referer", referrer));
    }
    if !language.is_empty() {
        headers.push(("Accept-Language", language));
    }
    if prefetch {
        headers.push(("Sec-Purpose", "prefetch"));
    }
    api.get_with_headers(&format!("/{code}"), &headers)
        .await
        .expect(302);
}

/// A dimension list as the stats answer it.
pub fn counts(pairs: &[(&str, i64)]) -> Value {
    pairs
        .iter()
        .map(|(value, count)| json!({ "value": value, "count": count }))
        .collect()
}

/// Checks every number of a link's stats after [`VISITS`] (the default period, by day).
/// `countries`: what the GeoIP database (or its absence) makes of the human visitors.
pub fn check_visits_stats(stats: &Value, countries: &[(&str, i64)]) {
    let totals: Vec<&Value> = [
        "total",
        "humans",
        "bots",
        "previews",
        "prefetches",
        "unique_visitors",
    ]
    .iter()
    .map(|k| &stats[*k])
    .collect();
    let expected = [9, 4, 2, 2, 1, 3].map(|n| json!(n));
    assert_eq!(totals, expected.iter().collect::<Vec<_>>(), "{stats}");
    assert_eq!(
        stats["browsers"],
        counts(&[("Chrome", 2), ("Firefox", 1), ("Safari", 1)])
    );
    assert_eq!(
        stats["os"],
        counts(&[("Windows", 2), ("Android", 1), ("iOS", 1)])
    );
    assert_eq!(stats["devices"], counts(&[("desktop", 2), ("mobile", 2)]));
    assert_eq!(
        stats["referrers"],
        counts(&[("google.com", 2), ("t.co", 1), ("unknown", 1)])
    );
    assert_eq!(
        stats["languages"],
        counts(&[("en", 2), ("de", 1), ("fr", 1)])
    );
    assert_eq!(stats["countries"], counts(countries), "{stats}");
    let series = stats["series"].as_array().expect("a series");
    assert_eq!(
        series.len(),
        30,
        "the 30 days up to the end of today, by day"
    );
    let clicked: Vec<&Value> = series.iter().filter(|p| p["total"] != 0).collect();
    assert_eq!(clicked.len(), 1, "{stats}");
    assert_eq!(
        (&clicked[0]["total"], &clicked[0]["humans"]),
        (&json!(9), &json!(4))
    );
}

/// What [`geoip_db`] makes of the human visits of [`VISITS`]: two from the US, one from
/// Germany, one from an address it does not know.
pub const VISIT_COUNTRIES: &[(&str, i64)] = &[("US", 2), ("DE", 1), ("unknown", 1)];

#[derive(Serialize)]
struct Country {
    iso_code: &'static str,
}

#[derive(Serialize)]
struct Record {
    country: Country,
}

/// Writes a small MaxMind-format country database into `dir`: 198.51.100.1 in the US,
/// 198.51.100.2 in Germany, nothing else of [`VISITS`].
pub fn geoip_db(dir: &Path) -> PathBuf {
    let mut writer = mmdb_writer::Writer::new("GeoIP2-Country");
    for (network, iso_code) in [("198.51.100.1/32", "US"), ("198.51.100.2/32", "DE")] {
        let network: ipnet::IpNet = network.parse().expect("a network");
        writer
            .insert(
                network,
                &Record {
                    country: Country { iso_code },
                },
            )
            .expect("inserting a network");
    }
    let file = dir.join("countries.mmdb");
    std::fs::write(&file, writer.to_bytes().expect("a database")).expect("writing it");
    file
}

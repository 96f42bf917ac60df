//! `kurz seed`: seed files of the hackathon's shape, generated, so a fresh clone has data
//! to load (`kurz import`) and to benchmark without the original files.
//!
//! The shape is the original seed's (`users.csv`, `urls.csv`, `events.csv` with the same
//! columns and formats) and so are its quirks: `True`/`False` booleans, timestamps without a
//! zone, every url owned and titled, six-character codes, one `created` event per url and
//! `updated`/`deleted` events whose url still exists (the original's `deleted` events name
//! urls that are still in `urls.csv`), and optionally repeated usernames (the original's
//! `dup-usernames` variant). The same `--seed` gives the same files.

use crate::import;
use anyhow::Context;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use std::path::Path;
use time::macros::{datetime, format_description};
use time::{Duration, PrimitiveDateTime};

/// What to generate.
#[derive(Debug, Clone, clap::Args)]
pub struct SeedSpec {
    /// Users to generate.
    #[arg(long, default_value_t = 400)]
    pub users: u32,
    /// Urls to generate, each owned by one of the users.
    #[arg(long, default_value_t = 2000)]
    pub urls: u32,
    /// Events in all: one `created` per url, the rest `updated` (85 %) and `deleted`.
    #[arg(long, default_value_t = 3422)]
    pub events: u32,
    /// Users that repeat an earlier user's username (the original's quirk).
    #[arg(long, default_value_t = 0)]
    pub duplicate_usernames: u32,
    /// Seed of the generator: the same seed, the same files.
    #[arg(long, default_value_t = 2025)]
    pub seed: u64,
}

const DOMAINS: [&str; 6] = [
    "opswise.net",
    "example.com",
    "hackstack.io",
    "seeded.app",
    "acme.dev",
    "relay.cloud",
];
const ADJECTIVES: [&str; 12] = [
    "forest", "tidy", "ember", "cobalt", "jade", "silver", "urban", "amber", "quiet", "swift",
    "lunar", "copper",
];
const NOUNS: [&str; 12] = [
    "orbit", "signal", "beacon", "valley", "island", "river", "lagoon", "garden", "canyon",
    "meadow", "harbor", "summit",
];
const TITLE_WORDS: [&str; 12] = [
    "Roadmap", "update", "journey", "Service", "guide", "engine", "Release", "notes", "valley",
    "Launch", "plan", "report",
];
const NEW_VALUES: [&str; 8] = [
    "boosted", "archived", "quieted", "rerouted", "promoted", "refined", "patched", "rotated",
];
const REASONS: [&str; 4] = ["expired", "policy_cleanup", "duplicate", "user_requested"];
const CODE_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

const USERS_FROM: PrimitiveDateTime = datetime!(2024-01-01 00:00:00);
const URLS_FROM: PrimitiveDateTime = datetime!(2025-01-01 00:00:00);
const UNTIL: PrimitiveDateTime = datetime!(2026-02-20 23:59:59);

/// Rows written per file.
#[derive(Debug, PartialEq, Eq)]
pub struct SeedSummary {
    pub users: u64,
    pub urls: u64,
    pub events: u64,
}

struct GeneratedUrl {
    id: u32,
    user_id: u32,
    code: String,
    target: String,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
}

/// Writes `users.csv`, `urls.csv` and `events.csv` into `dir` (created if missing).
pub fn write(spec: &SeedSpec, dir: &Path) -> anyhow::Result<SeedSummary> {
    if spec.urls > 0 && spec.users == 0 {
        anyhow::bail!("urls need owners: give --users of at least 1");
    }
    if spec.events < spec.urls {
        anyhow::bail!(
            "every url has its created event: --events must be at least --urls ({})",
            spec.urls
        );
    }
    if spec.urls == 0 && spec.events > 0 {
        anyhow::bail!("events belong to urls: give --urls of at least 1, or --events 0");
    }
    if spec.duplicate_usernames >= spec.users.max(1) {
        anyhow::bail!("--duplicate-usernames must be fewer than --users");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut rng = StdRng::seed_from_u64(spec.seed);
    write_users(spec, dir, &mut rng)?;
    let urls = write_urls(spec, dir, &mut rng)?;
    write_events(spec, dir, &urls, &mut rng)?;
    Ok(SeedSummary {
        users: spec.users.into(),
        urls: spec.urls.into(),
        events: spec.events.into(),
    })
}

fn writer(dir: &Path, name: &str, header: &[&str]) -> anyhow::Result<csv::Writer<std::fs::File>> {
    let path = dir.join(name);
    let mut out = csv::Writer::from_path(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    out.write_record(header)?;
    Ok(out)
}

fn pick<'a>(rng: &mut StdRng, words: &[&'a str]) -> &'a str {
    words[rng.random_range(0..words.len())]
}

/// A moment between `from` and `until`, to the second.
fn moment(
    rng: &mut StdRng,
    from: PrimitiveDateTime,
    until: PrimitiveDateTime,
) -> PrimitiveDateTime {
    let span = (until - from).whole_seconds().max(1);
    from + Duration::seconds(rng.random_range(0..span))
}

/// The seed files' timestamp format: `2025-06-09 11:24:49`.
fn stamp(at: PrimitiveDateTime) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    at.format(&format).unwrap_or_default()
}

fn write_users(spec: &SeedSpec, dir: &Path, rng: &mut StdRng) -> anyhow::Result<()> {
    let mut out = writer(dir, "users.csv", import::USERS.all)?;
    let mut names: Vec<String> = Vec::new();
    let unique = spec.users - spec.duplicate_usernames;
    for id in 1..=spec.users {
        let username = if id > unique {
            names[rng.random_range(0..names.len())].clone()
        } else {
            // The number keeps names apart; a clash takes the next free one.
            let stem = format!("{}{}", pick(rng, &ADJECTIVES), pick(rng, &NOUNS));
            let mut n = rng.random_range(10..100);
            while names.contains(&format!("{stem}{n}")) {
                n += 1;
            }
            format!("{stem}{n}")
        };
        let email = format!("{username}@{}", pick(rng, &DOMAINS));
        let created = stamp(moment(rng, USERS_FROM, URLS_FROM + Duration::days(395)));
        out.write_record([id.to_string(), username.clone(), email, created])?;
        names.push(username);
    }
    out.flush()?;
    Ok(())
}

fn write_urls(spec: &SeedSpec, dir: &Path, rng: &mut StdRng) -> anyhow::Result<Vec<GeneratedUrl>> {
    let mut out = writer(dir, "urls.csv", import::URLS.all)?;
    let mut codes = std::collections::HashSet::new();
    let mut urls = Vec::with_capacity(spec.urls as usize);
    for id in 1..=spec.urls {
        let code = loop {
            let code: String = (0..6)
                .map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())]))
                .collect();
            if codes.insert(code.clone()) {
                break code;
            }
        };
        let target = format!(
            "https://{}/{}/{}/{id}",
            pick(rng, &DOMAINS),
            pick(rng, &ADJECTIVES),
            pick(rng, &NOUNS)
        );
        let title = format!(
            "{} {} {}",
            pick(rng, &TITLE_WORDS),
            pick(rng, &TITLE_WORDS),
            pick(rng, &TITLE_WORDS)
        );
        let created_at = moment(rng, URLS_FROM, UNTIL - Duration::days(1));
        let updated_at = moment(rng, created_at, UNTIL);
        let active = if rng.random_bool(0.81) {
            "True"
        } else {
            "False"
        };
        let user_id = rng.random_range(1..=spec.users);
        out.write_record([
            id.to_string(),
            user_id.to_string(),
            code.clone(),
            target.clone(),
            title,
            active.to_owned(),
            stamp(created_at),
            stamp(updated_at),
        ])?;
        urls.push(GeneratedUrl {
            id,
            user_id,
            code,
            target,
            created_at,
            updated_at,
        });
    }
    out.flush()?;
    Ok(urls)
}

fn write_events(
    spec: &SeedSpec,
    dir: &Path,
    urls: &[GeneratedUrl],
    rng: &mut StdRng,
) -> anyhow::Result<()> {
    let mut out = writer(dir, "events.csv", import::EVENTS.all)?;
    let mut id = 0u32;
    let mut row = |kind: &str, url: &GeneratedUrl, at, details: serde_json::Value| {
        id += 1;
        out.write_record([
            id.to_string(),
            url.id.to_string(),
            url.user_id.to_string(),
            kind.to_owned(),
            stamp(at),
            details.to_string(),
        ])
    };
    for url in urls {
        let details = json!({"short_code": url.code, "original_url": url.target});
        row("created", url, url.created_at, details)?;
    }
    for _ in 0..spec.events - spec.urls {
        let url = &urls[rng.random_range(0..urls.len())];
        let at = moment(rng, url.created_at, url.updated_at);
        if rng.random_bool(0.85) {
            let field = pick(rng, &["original_url", "is_active", "title"]);
            let new_value = match field {
                "original_url" => json!(format!(
                    "https://{}/{}/{}",
                    pick(rng, &DOMAINS),
                    pick(rng, &NOUNS),
                    rng.random_range(1..10_000)
                )),
                "is_active" => json!(rng.random_bool(0.5)),
                _ => json!(pick(rng, &NEW_VALUES)),
            };
            row(
                "updated",
                url,
                at,
                json!({"field": field, "new_value": new_value}),
            )?;
        } else {
            row("deleted", url, at, json!({"reason": pick(rng, &REASONS)}))?;
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> SeedSpec {
        SeedSpec {
            users: 40,
            urls: 200,
            events: 342,
            duplicate_usernames: 5,
            seed,
        }
    }

    fn generated(seed: u64) -> (tempfile::TempDir, [String; 3]) {
        let dir = match tempfile::tempdir() {
            Ok(dir) => dir,
            Err(err) => panic!("no temporary directory: {err}"),
        };
        assert!(write(&spec(seed), dir.path()).is_ok());
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
        let files = [read("users.csv"), read("urls.csv"), read("events.csv")];
        (dir, files)
    }

    #[test]
    fn the_files_parse_as_seed_files_with_the_counts_asked_for() {
        let (_dir, [users, urls, events]) = generated(1);
        let users = crate::import::parse_users(users.as_bytes(), None).unwrap_or_default();
        let urls = crate::import::parse_urls(urls.as_bytes(), None).unwrap_or_default();
        let events = crate::import::parse_events(events.as_bytes(), None).unwrap_or_default();
        assert_eq!((users.len(), urls.len(), events.len()), (40, 200, 342));
        let names: std::collections::HashSet<_> = users.iter().map(|u| &u.username).collect();
        assert_eq!(names.len(), 35, "five usernames repeat");
        let created = events.iter().filter(|e| e.event_type == "created").count();
        assert_eq!(created, 200, "one created event per url");
        assert!(urls.iter().all(|u| u.created_at <= u.updated_at));
        assert!(urls.iter().any(|u| !u.is_active) && urls.iter().any(|u| u.is_active));
    }

    #[test]
    fn the_same_seed_gives_the_same_files_and_another_seed_others() {
        let (_a, first) = generated(7);
        let (_b, again) = generated(7);
        let (_c, other) = generated(8);
        assert_eq!(first, again);
        assert_ne!(first, other);
    }

    #[test]
    fn impossible_counts_are_refused() {
        let dir = std::env::temp_dir();
        let too_few_events = SeedSpec {
            events: 10,
            ..spec(1)
        };
        assert!(write(&too_few_events, &dir).is_err());
        let no_owners = SeedSpec {
            users: 0,
            duplicate_usernames: 0,
            ..spec(1)
        };
        assert!(write(&no_owners, &dir).is_err());
        let events_without_urls = SeedSpec {
            urls: 0,
            events: 5,
            ..spec(1)
        };
        assert!(write(&events_without_urls, &dir).is_err());
    }
}

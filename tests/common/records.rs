//! Records handed to the store directly (the store suites, not the API): a user, a link, and
//! clicks on it, each with fixed, readable values.

use kurz::domain::{
    Chosen, Email, Link, NewUrl, NewUser, ShortCode, TargetUrl, Timestamp, Url, Username, Visited,
};
use std::sync::Arc;

pub fn ts(raw: &str) -> Timestamp {
    Timestamp::parse(raw).unwrap()
}

/// A user named `name`, at `name@example.com`.
pub fn new_user(name: &str) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        email: Email::parse(&format!("{name}@example.com")).unwrap(),
        created_at: ts("2025-01-02 03:04:05"),
    }
}

/// An active link `code` to `https://example.com/{code}`, titled `title {code}`.
pub fn new_url(code: &str, user_id: Option<i64>) -> NewUrl {
    NewUrl {
        user_id,
        short_code: ShortCode::parse(code).unwrap(),
        original_url: TargetUrl::parse(&format!("https://example.com/{code}")).unwrap(),
        title: Some(format!("title {code}")),
        is_active: true,
        settings: None,
        password_hash: None,
        created_at: ts("2025-02-03 04:05:06"),
        fresh_code: false,
    }
}

/// A visit to `link` at `at` with a user agent and no referrer.
pub fn visit_at(link: &Arc<Link>, at: Timestamp) -> Visited {
    Visited {
        link: link.clone(),
        at,
        referrer: None,
        user_agent: Some("kurz-test".into()),
        accept_language: None,
        prefetch: false,
        client: None,
        blocked: None,
        chosen: Chosen::Target,
        classified: None,
    }
}

/// A visit to `link` now.
pub fn visit_of(link: &Arc<Link>) -> Visited {
    visit_at(link, Timestamp::now())
}

/// `n` visits to `url` at `at`.
pub fn clicks_at(url: &Url, n: usize, at: Timestamp) -> Vec<Visited> {
    let link = Arc::new(url.link());
    (0..n).map(|_| visit_at(&link, at)).collect()
}

/// `n` visits to `url` now.
pub fn clicks_on(url: &Url, n: usize) -> Vec<Visited> {
    clicks_at(url, n, Timestamp::now())
}

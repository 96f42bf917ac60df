//! Who is looking at a page, and the two cookies that say so. In `open` mode everyone may
//! do everything and nobody signs in. In `keys` mode a person signs in by pasting an API
//! key: the session cookie then holds the key's hash (never the key), an expiry and an
//! HMAC of both under the session secret, so any replica with the same secret can check
//! it, and the key's scope and state are read again on every page (a revoked key ends its
//! sessions). Every form carries a CSRF token that must equal the `kurz_csrf` cookie's
//! (double submit): a page on another site can make a browser post, not read the token.

use crate::config::AuthMode;
use crate::domain::Scope;
use crate::domain::api_key::hash_secret;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::client_ip::ClientIp;
use crate::http::error::ApiError;
use crate::limits::WriteKind;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::{SystemTime, UNIX_EPOCH};

pub const SESSION_COOKIE: &str = "kurz_session";
pub const CSRF_COOKIE: &str = "kurz_csrf";

/// The person behind a page request.
#[derive(Clone)]
pub struct Viewer {
    /// `None`: `keys` mode and not signed in (or the session ended).
    pub caller: Option<Caller>,
    /// The CSRF token every form of the page carries.
    pub csrf: String,
    /// The token is new: the page sets its cookie.
    pub new_csrf: bool,
    /// Cookies go out with `Secure` (`KURZ_PUBLIC_URL` is https).
    pub secure: bool,
    /// `keys` mode: signing in and out is offered.
    pub keys_mode: bool,
    /// The client's address (behind trusted proxies, the one they name), for the write
    /// limits a form's post draws on.
    pub client: Option<std::net::IpAddr>,
    /// The browser says the request comes from another site's page (`Sec-Fetch-Site`):
    /// no form of it is taken, whatever token it carries.
    pub from_elsewhere: bool,
}

impl Viewer {
    /// May this viewer change links (and see the forms that do)?
    pub fn may_write(&self) -> bool {
        match &self.caller {
            Some(Caller::Open) => true,
            Some(Caller::Key(key)) => key.scope.grants(Scope::Write),
            _ => false,
        }
    }

    /// The caller when this viewer may change links, else the answer: the sign-in page
    /// for a stranger, 403 for a key that may only read.
    pub fn writer(&self) -> Result<Caller, Box<axum::response::Response>> {
        match &self.caller {
            None => Err(Box::new(super::layout::see_other("/signin", self))),
            Some(caller) if self.may_write() => Ok(caller.clone()),
            Some(_) => Err(Box::new(super::layout::problem(
                self,
                axum::http::StatusCode::FORBIDDEN,
                "Not allowed",
                "Your key may read links, not change them.",
            ))),
        }
    }

    /// What every form's post passes once its sender may make it: its CSRF token is this
    /// browser's (else 403), and it is counted against the same per-client allowance as
    /// the API's writes (else 429, saying when to try again).
    pub async fn checked_post(
        &self,
        state: &AppState,
        posted: &super::forms::Posted,
        kind: WriteKind,
    ) -> Result<(), Box<axum::response::Response>> {
        if !self.csrf_matches(posted.get("csrf").map(String::as_str)) {
            return Err(Box::new(super::layout::refused_form(self)));
        }
        let Err(refused) =
            crate::http::rate_limit::check(state, kind, self.caller.as_ref(), self.client).await
        else {
            return Ok(());
        };
        let mut page = super::layout::problem(
            self,
            refused.status(),
            "Too many changes at once",
            &format!("{refused}."),
        );
        if let ApiError::TooManyRequests { retry_after } = refused
            && let Ok(value) = retry_after.as_secs().max(1).to_string().parse()
        {
            page.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        Err(Box::new(page))
    }

    /// May this viewer see the abuse reports (an admin)?
    pub fn is_admin(&self) -> bool {
        self.caller.as_ref().is_some_and(Caller::manages_everything)
    }

    /// The `Set-Cookie` values the page's answer carries.
    pub fn cookies(&self) -> Vec<String> {
        if self.new_csrf {
            vec![cookie(CSRF_COOKIE, &self.csrf, None, self.secure)]
        } else {
            Vec::new()
        }
    }

    /// Whether a form's token is this viewer's (compared in constant time), posted from one
    /// of kurz's own pages.
    pub fn csrf_matches(&self, sent: Option<&str>) -> bool {
        if self.from_elsewhere {
            return false;
        }
        let Some(sent) = sent else {
            return false;
        };
        !self.new_csrf
            && sent.len() == self.csrf.len()
            && sent
                .bytes()
                .zip(self.csrf.bytes())
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let client = ClientIp::of(&state.proxies, (&parts.extensions, &parts.headers)).0;
        let cookies = cookies(&parts.headers);
        let sent = |name: &str| cookies.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let (csrf, new_csrf) = match sent(CSRF_COOKIE).filter(|t| t.len() == 64) {
            Some(token) => (token.to_owned(), false),
            None => (new_token(), true),
        };
        // The browser's own word on where a request comes from: a page of another site,
        // even a sibling subdomain (`same-site`, which also receives `SameSite=Lax` cookies
        // and may have planted a token cookie), never posts a form here.
        let from_elsewhere = parts
            .headers
            .get("sec-fetch-site")
            .is_some_and(|site| site != "same-origin" && site != "none");
        let keys_mode = state.settings.security.auth == AuthMode::Keys;
        let caller = if keys_mode {
            match sent(SESSION_COOKIE).and_then(|value| session_hash(&state.ui_secret, value)) {
                Some(hash) => state
                    .keys
                    .authenticate_hash(hash)
                    .await
                    .ok()
                    .map(Caller::Key),
                None => None,
            }
        } else {
            Some(Caller::Open)
        };
        Ok(Self {
            caller,
            csrf,
            new_csrf,
            secure: state
                .settings
                .public_url
                .as_ref()
                .is_some_and(|url| url.scheme() == "https"),
            keys_mode,
            client,
            from_elsewhere,
        })
    }
}

/// The session cookie for the key `secret` was typed as, valid for `seconds`.
pub fn session_cookie(state: &AppState, secret: &str, seconds: u64, secure: bool) -> String {
    let expires = now_secs() + seconds;
    let payload = format!("{}.{expires}", hash_secret(secret));
    let value = format!("{payload}.{}", mac(&state.ui_secret, &payload));
    cookie(SESSION_COOKIE, &value, Some(seconds), secure)
}

/// The cookie that ends a session.
pub fn ended_session(secure: bool) -> String {
    cookie(SESSION_COOKIE, "", Some(0), secure)
}

/// A cookie for every page of the site, out of scripts' reach, sent on top-level
/// navigation from elsewhere but not on other sites' posts.
fn cookie(name: &str, value: &str, max_age: Option<u64>, secure: bool) -> String {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(seconds) = max_age {
        cookie.push_str(&format!("; Max-Age={seconds}"));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// The key hash a session cookie holds, if its MAC is right and it has not expired.
fn session_hash(secret: &[u8], value: &str) -> Option<String> {
    let (payload, sent_mac) = value.rsplit_once('.')?;
    let (hash, expires) = payload.split_once('.')?;
    let expires: u64 = expires.parse().ok()?;
    let mut check = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    check.update(payload.as_bytes());
    check.verify_slice(&hex::decode(sent_mac).ok()?).ok()?;
    (expires > now_secs()).then(|| hash.to_owned())
}

fn mac(secret: &[u8], payload: &str) -> String {
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(payload.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC takes a key of any length: this cannot happen, and an empty MAC never checks.
        Err(_) => String::new(),
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// 32 random bytes, hex.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// The request's cookies as `(name, value)` pairs.
fn cookies(headers: &HeaderMap) -> Vec<(&str, &str)> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .collect()
}

/// Adds `Set-Cookie` headers to an answer.
pub fn set_cookies(headers: &mut HeaderMap, cookies: &[String]) {
    for cookie in cookies {
        if let Ok(value) = cookie.parse() {
            headers.append(SET_COOKIE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_value_checks_only_with_its_secret_and_before_it_expires() {
        let payload = format!("{}.{}", "ab".repeat(32), now_secs() + 60);
        let value = format!("{payload}.{}", mac(b"secret one", &payload));
        assert_eq!(session_hash(b"secret one", &value), Some("ab".repeat(32)));
        assert_eq!(session_hash(b"secret two", &value), None);
        let tampered = value.replacen("ab", "cd", 1);
        assert_eq!(session_hash(b"secret one", &tampered), None);
        let old = format!("{}.{}", "ab".repeat(32), now_secs() - 1);
        let expired = format!("{old}.{}", mac(b"secret one", &old));
        assert_eq!(session_hash(b"secret one", &expired), None);
    }
}

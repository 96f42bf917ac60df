//! The lifecycle and routing fields of `POST /urls` and `PUT /urls/{id}`, read and
//! checked: expiry, visit cap, fallback, redirect status, rules, variants and password.
//! Every problem is named by its field, and inside a rule or variant by its index
//! (`rules[2].when.device`). Targets (rule targets, variant urls, the fallback) pass the
//! same checks as `original_url`, the blocklist included.

use super::input::{Checks, Input};
use crate::domain::link_settings::{REDIRECT_TYPES, parse_expiry};
use crate::domain::rules::{Rule, Variant, parse_rules, parse_variants};
use crate::domain::{PasswordHash, SettingsPatch, TargetUrl, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The fields as sent (absent fields change nothing; `null` clears on update).
#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct SettingsInput {
    /// From this instant on (UTC, a contract timestamp, in the future) the link answers
    /// 410, or redirects to `fallback_url`.
    #[schema(value_type = Option<String>, example = "2030-01-01T00:00:00")]
    expires_at: Input<String>,
    /// Human visits to redirect before the link answers 410 (or redirects to
    /// `fallback_url`); bots, link previews and prefetches do not count. Exact across
    /// replicas. A positive integer.
    #[schema(value_type = Option<i64>, minimum = 1, example = 100)]
    max_clicks: Input<Value>,
    /// Where an expired or exhausted link sends visits instead of answering 410.
    #[schema(value_type = Option<String>)]
    fallback_url: Input<String>,
    /// 301, 302 (the default), 307 or 308.
    #[schema(value_type = Option<u16>, example = 301)]
    redirect_type: Input<Value>,
    /// Tried in order, first match wins (at most 50). `[]` or `null` removes them.
    #[schema(value_type = Option<Vec<Rule>>)]
    rules: Input<Value>,
    /// A weighted split, sticky per visitor (at most 50). `[]` or `null` removes them.
    #[schema(value_type = Option<Vec<Variant>>)]
    variants: Input<Value>,
    /// Write-only: 4 to 1024 characters, stored as an Argon2id hash, never returned (the
    /// url shows `"has_password": true`). `null` removes it.
    #[schema(value_type = Option<String>, min_length = 4, max_length = 1024, write_only)]
    password: Input<String>,
}

/// The settings' change, and the password as sent (`Some(None)`: remove it), not yet
/// hashed: hashing is slow and waits until every field has passed.
pub struct CheckedSettings {
    pub patch: SettingsPatch,
    pub password: Option<Option<String>>,
}

impl SettingsInput {
    /// Checks every field, recording problems in `checks`; `target` checks a URL as
    /// `original_url` is checked.
    pub fn check(
        self,
        checks: &mut Checks,
        target: &dyn Fn(&str) -> Result<String, String>,
    ) -> CheckedSettings {
        let now = Timestamp::now();
        let expires_at = checks.optional("expires_at", self.expires_at).map(|at| {
            at.and_then(|raw| checks.parse("expires_at", Some(raw), |raw| parse_expiry(&raw, now)))
        });
        let max_clicks = value(checks, "max_clicks", self.max_clicks, |value| {
            value
                .as_i64()
                .filter(|n| *n > 0)
                .ok_or_else(|| "must be a positive integer".to_owned())
        });
        let fallback_url = checks
            .optional("fallback_url", self.fallback_url)
            .map(|raw| {
                raw.and_then(|raw| checks.parse("fallback_url", Some(raw), |raw| target(&raw)))
            });
        let redirect_type = value(checks, "redirect_type", self.redirect_type, |value| {
            value
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| REDIRECT_TYPES.contains(n))
                .ok_or_else(|| "must be 301, 302, 307 or 308".to_owned())
        });
        let rules = list(checks, self.rules, |v| parse_rules(v, target));
        let variants = list(checks, self.variants, |v| parse_variants(v, target));
        let password = checks.optional("password", self.password).map(|raw| {
            raw.and_then(|raw| {
                let bounds = crate::domain::link_settings::PASSWORD_CHARS;
                let fits = bounds.contains(&raw.chars().count());
                checks.parse("password", Some(raw), |raw| {
                    fits.then_some(raw).ok_or_else(|| {
                        format!("must be {} to {} characters", bounds.start(), bounds.end())
                    })
                })
            })
        });
        CheckedSettings {
            patch: SettingsPatch {
                expires_at,
                max_clicks,
                fallback_url,
                redirect_type,
                rules,
                variants,
            },
            password,
        }
    }
}

impl CheckedSettings {
    /// The password's hash (`Some(None)`: remove it), made off the request workers, a few
    /// at a time (`work`'s permits).
    pub async fn password_hash(
        &self,
        work: &tokio::sync::Semaphore,
    ) -> Result<Option<Option<PasswordHash>>, String> {
        let Some(password) = self.password.clone() else {
            return Ok(None);
        };
        let Some(password) = password else {
            return Ok(Some(None));
        };
        let _permit = work.acquire().await.map_err(|e| e.to_string())?;
        tokio::task::spawn_blocking(move || PasswordHash::new(&password))
            .await
            .map_err(|e| e.to_string())?
            .map(|hash| Some(Some(hash)))
    }
}

/// A scalar field that may be `null` (cleared) and is checked by `parse`.
fn value<T>(
    checks: &mut Checks,
    key: &str,
    input: Input<Value>,
    parse: impl FnOnce(Value) -> Result<T, String>,
) -> Option<Option<T>> {
    match input {
        Input::Absent => None,
        Input::Null => Some(None),
        Input::Value(raw) => checks.parse(key, Some(raw), parse).map(Some),
        Input::Mistyped => None,
    }
}

/// A list field: `null` and `[]` clear it.
fn list<T>(
    checks: &mut Checks,
    input: Input<Value>,
    parse: impl FnOnce(&Value) -> Result<Vec<T>, Vec<(String, String)>>,
) -> Option<Vec<T>> {
    match input {
        Input::Absent | Input::Mistyped => None,
        Input::Null => Some(Vec::new()),
        Input::Value(raw) => match parse(&raw) {
            Ok(items) => Some(items),
            Err(problems) => {
                for (field, problem) in problems {
                    checks.report(&field, problem);
                }
                None
            }
        },
    }
}

/// A URL checked as `original_url` is, as the settings keep it.
pub fn checked_target(
    parse: impl Fn(String) -> Result<TargetUrl, String>,
) -> impl Fn(&str) -> Result<String, String> {
    move |raw| parse(raw.to_owned()).map(|target| target.as_str().to_owned())
}

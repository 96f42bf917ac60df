//! `kurz keys`: mint, list and revoke API keys. The secret is printed once, at creation;
//! only its hash is stored.

use super::with_database;
use crate::app;
use crate::config::{DatabaseSettings, LogSettings};
use crate::domain::api_key::mint;
use crate::domain::{ApiKey, Scope, Timestamp};
use crate::store::{KeyStore, StoreError};
use crate::telemetry;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Mint a key and print its secret (shown this once).
    Create {
        /// What the key is for, e.g. "ci-deploy" or "alice laptop".
        #[arg(long)]
        name: String,
        /// read: list and read links; write: also create links and events, change and delete
        /// the links of --user; admin: everything (users, bulk import, any link, events).
        #[arg(long, value_parser = Scope::parse)]
        scope: Scope,
        /// The user a write key acts for (required for write).
        #[arg(long)]
        user: Option<i64>,
        /// Expiry: a duration from now (30d, 12h, 90min) or a UTC time (2027-01-31T00:00:00).
        #[arg(long, value_parser = parse_expiry)]
        expires: Option<Timestamp>,
        #[command(flatten)]
        target: StoreArgs,
    },
    /// List keys (never their secrets): scope, user, expiry, revocation, last use, requests.
    List {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: StoreArgs,
    },
    /// Revoke a key by id; it stops working within KURZ_KEY_CACHE_SECS on every replica.
    Revoke {
        id: i64,
        #[command(flatten)]
        target: StoreArgs,
    },
}

/// Which store the keys live in.
#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(flatten)]
    log: LogSettings,
}

fn parse_expiry(raw: &str) -> Result<Timestamp, String> {
    if let Ok(duration) = humantime::parse_duration(raw) {
        let at = time::OffsetDateTime::now_utc() + duration;
        return Ok(Timestamp::from_primitive(time::PrimitiveDateTime::new(
            at.date(),
            at.time(),
        )));
    }
    Timestamp::parse(raw).map_err(|_| {
        format!("'{raw}' is neither a duration (30d, 12h) nor a time (2027-01-31T00:00:00)")
    })
}

impl KeysCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        let target = match &self {
            Self::Create { target, .. }
            | Self::List { target, .. }
            | Self::Revoke { target, .. } => target,
        };
        let _telemetry = telemetry::init_command_logs(&target.log);
        let store = app::open_store(&with_database(target.database.clone())).await?;
        let result = match store.schema.migrate().await {
            Ok(()) => self.run_on(&*store.keys).await,
            Err(err) => Err(err.into()),
        };
        store.schema.close().await;
        result
    }

    async fn run_on(self, store: &dyn KeyStore) -> anyhow::Result<()> {
        match self {
            Self::Create {
                name,
                scope,
                user,
                expires,
                ..
            } => {
                if expires.is_some_and(|at| at <= Timestamp::now()) {
                    anyhow::bail!("--expires is in the past: the key would never work");
                }
                if scope == Scope::Write && user.is_none() {
                    anyhow::bail!(
                        "a write key acts for one user: give --user ID (or use --scope admin)"
                    );
                }
                let minted = mint(name, scope, user, expires);
                let key = match store.create_api_key(minted.key).await {
                    Err(StoreError::MissingReference(_)) => {
                        anyhow::bail!("no user with id {}", user.unwrap_or_default())
                    }
                    other => other?,
                };
                eprintln!(
                    "created key {} ({}, scope {}); store the secret now, it is not shown again:",
                    key.id, key.name, key.scope
                );
                println!("{}", minted.secret);
                Ok(())
            }
            Self::List { json, .. } => {
                let keys = store.list_api_keys().await?;
                if json {
                    for key in &keys {
                        println!("{}", serde_json::to_string(key)?);
                    }
                } else {
                    print!("{}", table(&keys));
                }
                Ok(())
            }
            Self::Revoke { id, .. } => {
                if !store.revoke_api_key(id, Timestamp::now()).await? {
                    anyhow::bail!("no key with id {id}");
                }
                eprintln!("revoked key {id}");
                Ok(())
            }
        }
    }
}

/// A plain aligned table for people.
fn table(keys: &[ApiKey]) -> String {
    let show = |t: Option<Timestamp>| t.map_or_else(|| "-".to_owned(), |t| t.to_string());
    let mut rows = vec![
        [
            "ID",
            "NAME",
            "PREFIX",
            "SCOPE",
            "USER",
            "EXPIRES",
            "REVOKED",
            "LAST USED",
            "REQUESTS",
        ]
        .map(str::to_owned),
    ];
    for key in keys {
        rows.push([
            key.id.to_string(),
            key.name.clone(),
            key.prefix.clone(),
            key.scope.to_string(),
            key.user_id
                .map_or_else(|| "-".to_owned(), |u| u.to_string()),
            show(key.expires_at),
            show(key.revoked_at),
            show(key.last_used_at),
            key.request_count.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..9)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_takes_durations_and_times() {
        let in_a_day = parse_expiry("1d").ok();
        assert!(in_a_day.is_some_and(|at| at > Timestamp::now()));
        assert_eq!(
            parse_expiry("2027-01-31T00:00:00").map(|t| t.to_string()),
            Ok("2027-01-31T00:00:00".to_owned())
        );
        assert!(parse_expiry("soon").is_err());
    }
}

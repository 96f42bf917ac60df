//! The shared seed files (`../shared/data` beside the repository) and CSV files made up to
//! their format.

use super::shapes::assert_user;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where the shared seed files live (`../shared/data` next to the repository), unless
/// `KURZ_SEED_DIR` says otherwise.
pub fn seed_dir() -> PathBuf {
    std::env::var_os("KURZ_SEED_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
        PathBuf::from,
    )
}

pub fn seed_file(name: &str) -> PathBuf {
    let path = seed_dir().join(name);
    assert!(path.is_file(), "seed file {} is missing", path.display());
    path
}

pub fn read_seed(name: &str) -> Vec<u8> {
    std::fs::read(seed_file(name)).expect("reading a seed file")
}

/// Seed CSV rows as maps from column name to text.
pub fn seed_rows(name: &str) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(seed_file(name)).expect("opening a seed CSV");
    let headers = reader.headers().expect("seed CSV header").clone();
    reader
        .records()
        .map(|record| {
            let record = record.expect("seed CSV row");
            headers
                .iter()
                .zip(record.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// The seed files write `2025-09-19 22:25:05`; the API writes `2025-09-19T22:25:05`.
pub fn wire_datetime(seed: &str) -> String {
    seed.trim().replacen(' ', "T", 1)
}

/// Asserts `user` is the user of a users CSV `row`, as the API writes it.
pub fn assert_user_is_row(user: &Value, row: &HashMap<String, String>) {
    assert_user(user);
    assert_eq!(user["id"].to_string(), row["id"]);
    assert_eq!(user["username"], row["username"].as_str());
    assert_eq!(user["email"], row["email"].as_str());
    assert_eq!(
        user["created_at"],
        wire_datetime(&row["created_at"]).as_str()
    );
}

/// A users CSV with `n` rows, ids 1..=n.
pub fn users_csv(n: usize) -> Vec<u8> {
    let mut csv = String::from("id,username,email,created_at\n");
    for i in 1..=n {
        csv.push_str(&format!(
            "{i},user{i:05},user{i:05}@example.com,2025-01-01 00:00:00\n"
        ));
    }
    csv.into_bytes()
}

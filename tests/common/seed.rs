//! The shared seed files (`../shared/data` beside the repository) and CSV files made up to
//! their format.

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
pub fn seed_rows(name: &str) -> Vec<std::collections::HashMap<String, String>> {
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

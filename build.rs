//! Rebuilds kurz when a migration changes: `sqlx::migrate!` embeds the files of
//! `migrations/`, and cargo does not otherwise know that the crate reads them.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

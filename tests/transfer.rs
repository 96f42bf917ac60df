//! Data that moves, on the real binary: `kurz migrate-store` (embedded → PostgreSQL with a
//! million events, and back), `kurz backup` taken under a write load and `kurz restore`,
//! and the refusals (a target holding data, a backup of PostgreSQL).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::prelude::*;
use common::services::Database;
use serde_json::{Value, json};
use sqlx::Connection;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tempfile::TempDir;
use tokio::task::JoinHandle;

/// A write load from one client is what the per-client write limits are for: lifted here.
const UNLIMITED: &[(&str, &str)] = &[
    ("KURZ_RATE_CREATES_PER_SEC", "0"),
    ("KURZ_RATE_WRITES_PER_SEC", "0"),
];

fn on_postgres(url: &str) -> Command {
    let mut command = kurz_command();
    command.env("DATABASE_URL", url);
    command
}

fn seed_import(mut command: Command) -> Command {
    command.arg("import");
    for (flag, name) in [
        ("--users", "users.csv"),
        ("--urls", "urls.csv"),
        ("--events", "events.csv"),
    ] {
        command.arg(flag).arg(seed_file(name));
    }
    command
}

/// Appends `n` click events (spread over the first 2000 urls) straight into the embedded
/// database, as a year of traffic would have.
async fn add_clicks(data_dir: &Path, n: u64) {
    let url = format!("sqlite://{}", data_dir.join("kurz.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
         INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
         SELECT (i % 2000) + 1, NULL, 'click', '2025-06-01T00:00:00', \
                json_object('referrer', NULL, 'n', i) FROM n",
    )
    .bind(n as i64)
    .execute(&mut db)
    .await
    .unwrap();
    db.close().await.unwrap();
}

fn copied_rows(summary: &Value, table: &str) -> i64 {
    summary["copied"]
        .as_array()
        .or_else(|| summary["restored"].as_array())
        .and_then(|tables| tables.iter().find(|t| t["table"] == table))
        .and_then(|t| t["rows"].as_i64())
        .unwrap_or_else(|| panic!("no {table} in {summary}"))
}

/// The first active url of the seed: its code and target.
fn an_active_seed_url() -> (String, String) {
    let row = seed_rows("urls.csv")
        .into_iter()
        .find(|r| r["is_active"] == "True")
        .unwrap();
    (row["short_code"].clone(), row["original_url"].clone())
}

#[tokio::test]
async fn the_embedded_store_moves_to_postgres_with_a_million_events_and_keeps_serving() {
    let data = TempDir::new().unwrap();
    kurz_summary(seed_import(kurz_command_on(data.path()))).await;
    add_clicks(data.path(), 1_000_000).await;
    let mut mint = kurz_command_on(data.path());
    mint.args(["keys", "create", "--name", "ops", "--scope", "admin"]);
    let secret = tokio::task::spawn_blocking(move || kurz_ok(&mut mint))
        .await
        .unwrap();
    let secret = secret.trim().to_owned();

    let pg = Database::create();
    let mut migrate = kurz_command_on(data.path());
    migrate.args(["migrate-store", "--to", &pg.url, "--final"]);
    let moved = kurz_summary(migrate).await;
    assert_eq!(moved["verified"], true);
    assert_eq!(copied_rows(&moved, "users"), 400);
    assert_eq!(copied_rows(&moved, "urls"), 2000);
    assert_eq!(copied_rows(&moved, "events"), 3422 + 1_000_000);
    assert_eq!(copied_rows(&moved, "api_keys"), 1);
    assert_eq!(moved["written_since"], json!([]));

    // Served from PostgreSQL: an old code redirects, counts agree, and the sequences are
    // past the copied ids on both stores.
    let on_pg = Kurz::start(&[("DATABASE_URL", pg.url.as_str())]);
    let (code, target) = an_active_seed_url();
    let reply = on_pg.get(&format!("/{code}")).await;
    assert_eq!(reply.code(), 302);
    assert_eq!(reply.location().as_deref(), Some(target.as_str()));
    assert_eq!(on_pg.count("/users").await, 400);
    assert_eq!(on_pg.count("/events?event_type=click").await, 1_000_001);
    let created = on_pg
        .post_json(
            "/urls",
            &json!({ "original_url": "https://example.com/after-the-move" }),
        )
        .await
        .expect_json(201);
    assert_eq!(created["id"], 2001);
    let user = on_pg
        .post_json(
            "/users",
            &json!({ "username": "newcomer", "email": "n@example.com" }),
        )
        .await
        .expect_json(201);
    assert_eq!(user["id"], 401);
    drop(on_pg);

    let on_sqlite = Kurz::on(data.path());
    let created = on_sqlite
        .post_json(
            "/urls",
            &json!({ "original_url": "https://example.com/left-behind" }),
        )
        .await
        .expect_json(201);
    assert_eq!(created["id"], 2001);
    drop(on_sqlite);

    // The API key came along, hash and all: it works against PostgreSQL.
    let keyed = Kurz::start(&[("DATABASE_URL", pg.url.as_str()), ("KURZ_AUTH", "keys")]);
    let bearer = format!("Bearer {secret}");
    let reply = keyed
        .get_with_headers("/users?per_page=1", &[("authorization", &bearer)])
        .await;
    assert_eq!(reply.code(), 200, "the moved key is accepted");
    let reply = keyed.get("/users?per_page=1").await;
    assert_eq!(reply.code(), 401, "and keys are required there");
}

#[tokio::test]
async fn postgres_moves_to_the_embedded_store_and_a_target_with_data_needs_force() {
    let pg = Database::create();
    kurz_summary(seed_import(on_postgres(&pg.url))).await;
    let target = TempDir::new().unwrap();
    let file = target.path().join("kurz.db");
    let to = format!("sqlite://{}", file.display());

    let mut migrate = on_postgres(&pg.url);
    migrate.args(["migrate-store", "--to", &to]);
    let moved = kurz_summary(migrate).await;
    assert_eq!(copied_rows(&moved, "events"), 3422);

    // Again: the target now holds data.
    let mut again = on_postgres(&pg.url);
    again.args(["migrate-store", "--to", &to]);
    let why = kurz_refusal(again).await;
    assert!(
        why.contains("already holds data") && why.contains("--force"),
        "{why}"
    );

    let mut forced = on_postgres(&pg.url);
    forced.args(["migrate-store", "--to", &to, "--force"]);
    assert_eq!(copied_rows(&kurz_summary(forced).await, "urls"), 2000);

    // The source itself as the target, written another way, is refused even with --force
    // (which empties the target first): the same database through another URL spelling
    // and parameters.
    let scheme = match pg.url.strip_prefix("postgres://") {
        Some(rest) => format!("postgresql://{rest}"),
        None => pg.url.replacen("postgresql://", "postgres://", 1),
    };
    let separator = if scheme.contains('?') { '&' } else { '?' };
    let respelled = format!("{scheme}{separator}application_name=another");
    assert_ne!(respelled, pg.url);
    let mut onto_itself = on_postgres(&pg.url);
    onto_itself.args(["migrate-store", "--to", &respelled, "--force"]);
    let why = kurz_refusal(onto_itself).await;
    assert!(why.contains("the source itself"), "{why}");
    let mut source = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    let urls: i64 = sqlx::query_scalar("SELECT count(*) FROM urls")
        .fetch_one(&mut source)
        .await
        .unwrap();
    assert_eq!(urls, 2000, "the source as it was");

    let served = Kurz::on(target.path());
    let (code, target_url) = an_active_seed_url();
    let reply = served.get(&format!("/{code}")).await;
    assert_eq!(reply.location().as_deref(), Some(target_url.as_str()));
    assert_eq!(
        served.count("/events").await,
        3422 + 1,
        "the seed's events and this click"
    );
}

#[tokio::test]
async fn a_backup_taken_under_write_load_restores_everything_acknowledged_before_it() {
    let data = TempDir::new().unwrap();
    let kurz = Kurz::options()
        .data_dir(data.path())
        .envs(UNLIMITED)
        .start();
    let (load, before_backup) = WriteLoad::running(kurz.as_ref()).await;
    let file = TempDir::new().unwrap();
    let backup_file = file.path().join("kurz-backup.db");
    let mut backup = kurz_command_on(data.path());
    backup.arg("backup").arg("--output").arg(&backup_file);
    let written = kurz_summary(backup).await;
    assert!(written["bytes"].as_u64().unwrap() > 0);
    load.went_on_since(&before_backup, "the backup");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    load.stop(&before_backup).await;
    drop(kurz);

    // Into a fresh embedded store: every url acknowledged before the backup began is there.
    let restored_dir = TempDir::new().unwrap();
    let mut restore = kurz_command_on(restored_dir.path());
    restore.arg("restore").arg(&backup_file);
    let restored = kurz_summary(restore).await;
    assert!(copied_rows(&restored, "urls") >= before_backup.len() as i64);
    let served = Kurz::on(restored_dir.path());
    assert_served(&served, &before_backup).await;
    let urls = served.count("/urls").await;
    assert_eq!(
        served.count("/events?event_type=created").await,
        urls,
        "each url with its event"
    );
    drop(served);

    // Restoring over a store that holds data needs --force; a PostgreSQL store has no backup.
    let mut again = kurz_command_on(restored_dir.path());
    again.arg("restore").arg(&backup_file);
    assert!(kurz_refusal(again).await.contains("--force"));
    let mut forced = kurz_command_on(restored_dir.path());
    forced.arg("restore").arg(&backup_file).arg("--force");
    assert_eq!(copied_rows(&kurz_summary(forced).await, "urls"), urls);

    // What is not a whole kurz backup is refused before the store is cleared, even with
    // --force: an empty file, a cut one, another program's SQLite database.
    let bytes = std::fs::read(&backup_file).unwrap();
    let empty = file.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let cut = file.path().join("cut.db");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let other = file.path().join("other.db");
    let mut sqlite =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", other.display()))
            .await
            .unwrap();
    sqlx::raw_sql("CREATE TABLE notes (body TEXT)")
        .execute(&mut sqlite)
        .await
        .unwrap();
    sqlx::Connection::close(sqlite).await.unwrap();
    for wrong in [&empty, &cut, &other] {
        let mut restore = kurz_command_on(restored_dir.path());
        restore.arg("restore").arg(wrong).arg("--force");
        let refusal = kurz_refusal(restore).await;
        assert!(
            refusal.contains("not a kurz backup"),
            "{}: {refusal}",
            wrong.display()
        );
    }
    let served = Kurz::on(restored_dir.path());
    assert_eq!(served.count("/urls").await, urls, "the store as it was");
    drop(served);
    let pg = Database::create();
    let mut pg_backup = on_postgres(&pg.url);
    pg_backup
        .arg("backup")
        .arg("--output")
        .arg(file.path().join("pg.db"));
    assert!(kurz_refusal(pg_backup).await.contains("pg_dump"));
}

/// Four writers creating urls until stopped, each remembering what the server acknowledged.
struct WriteLoad {
    stop: Arc<AtomicBool>,
    writers: Vec<JoinHandle<()>>,
    acknowledged: Arc<Mutex<Vec<(i64, String)>>>,
}

impl WriteLoad {
    fn start(api: &Api) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let writers = (0..4)
            .map(|w| {
                let (api, stop, acknowledged) = (api.clone(), stop.clone(), acknowledged.clone());
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let body =
                            json!({ "original_url": format!("https://example.com/w{w}/{n}") });
                        let url = api.post_json("/urls", &body).await.expect_json(201);
                        let code = url["short_code"].as_str().unwrap().to_owned();
                        acknowledged
                            .lock()
                            .unwrap()
                            .push((url["id"].as_i64().unwrap(), code));
                    }
                })
            })
            .collect();
        Self {
            stop,
            writers,
            acknowledged,
        }
    }

    /// Starts writing and lets it run half a second; the load, and the urls acknowledged by
    /// then.
    async fn running(api: &Api) -> (Self, Vec<(i64, String)>) {
        let load = Self::start(api);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let before = load.acknowledged();
        (load, before)
    }

    /// Asserts urls were acknowledged since `before`: the writes went on while `what` ran.
    fn went_on_since(&self, before: &[(i64, String)], what: &str) {
        assert!(
            self.acknowledged().len() > before.len(),
            "writes went on while {what} ran"
        );
    }

    /// The (id, code) of every url acknowledged so far.
    fn acknowledged(&self) -> Vec<(i64, String)> {
        self.acknowledged.lock().unwrap().clone()
    }

    /// Stops the writers; asserts `before` (what was acknowledged at some moment) shows the
    /// load was really writing.
    async fn stop(self, before: &[(i64, String)]) {
        self.stop.store(true, Ordering::Relaxed);
        for writer in self.writers {
            writer.await.unwrap();
        }
        assert!(before.len() > 10, "the load was writing ({})", before.len());
    }
}

/// Every acknowledged url is served by `kurz` with its code.
async fn assert_served(kurz: &Kurz, acknowledged: &[(i64, String)]) {
    for (id, code) in acknowledged {
        let url = kurz.get(&format!("/urls/{id}")).await.expect_json(200);
        assert_eq!(url["short_code"], code.as_str());
    }
}

/// docs/DEPLOY.md's PostgreSQL procedure: pg_dump while kurz writes, pg_restore into a new
/// database, and everything acknowledged before the dump began is served from it.
#[tokio::test]
async fn pg_dump_under_write_load_restores_into_a_new_database() {
    let live = Database::create();
    let kurz = Kurz::options()
        .env("DATABASE_URL", &live.url)
        .envs(UNLIMITED)
        .start();
    let (load, before_dump) = WriteLoad::running(kurz.as_ref()).await;
    let dir = TempDir::new().unwrap();
    let dump = dir.path().join("kurz.dump");
    let mut pg_dump = clean_command("pg_dump");
    pg_dump
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(&live.url);
    tokio::task::spawn_blocking(move || assert!(pg_dump.status().unwrap().success()))
        .await
        .unwrap();
    load.went_on_since(&before_dump, "pg_dump");
    load.stop(&before_dump).await;
    drop(kurz);

    let restored = Database::create();
    let mut pg_restore = clean_command("pg_restore");
    pg_restore
        .args(["--no-owner", "--dbname", &restored.url])
        .arg(&dump);
    tokio::task::spawn_blocking(move || assert!(pg_restore.status().unwrap().success()))
        .await
        .unwrap();
    let served = Kurz::start(&[("DATABASE_URL", restored.url.as_str())]);
    assert_served(&served, &before_dump).await;
    let urls = served.count("/urls").await;
    assert!(urls >= before_dump.len() as i64);
    // The sequence came along: a new url takes the next id.
    let created = served
        .post_json(
            "/urls",
            &json!({ "original_url": "https://example.com/restored" }),
        )
        .await
        .expect_json(201);
    let newest = before_dump.iter().map(|(id, _)| *id).max().unwrap();
    assert!(created["id"].as_i64().unwrap() > newest, "{created}");
}

/// The three files of an export, by name.
fn export_files(dir: &Path, extension: &str) -> Vec<(String, Vec<u8>)> {
    ["users", "urls", "events"]
        .iter()
        .map(|table| {
            let name = format!("{table}.{extension}");
            let bytes = std::fs::read(dir.join(&name)).unwrap();
            (name, bytes)
        })
        .collect()
}

#[tokio::test]
async fn an_export_imports_into_either_store_and_exports_again_byte_for_byte() {
    let data = TempDir::new().unwrap();
    kurz_summary(seed_import(kurz_command_on(data.path()))).await;
    add_clicks(data.path(), 20_000).await;
    let out = TempDir::new().unwrap();
    for (format, extension) in [("csv", "csv"), ("json", "jsonl")] {
        let first = out.path().join(format!("first-{format}"));
        let mut export = kurz_command_on(data.path());
        export
            .args(["export", "--format", format, "--output"])
            .arg(&first);
        let exported = kurz_summary(export).await;
        assert_eq!(exported["exported"][2]["rows"], 3422 + 20_000);

        // Into PostgreSQL, and out again: the same bytes.
        let pg = Database::create();
        let mut import = on_postgres(&pg.url);
        import.args(["import", "--from", "kurz"]).arg(&first);
        let imported = kurz_summary(import).await;
        assert_eq!(
            imported["imported"], exported["exported"],
            "same rows, same checksums"
        );
        let again = out.path().join(format!("again-{format}"));
        let mut export = on_postgres(&pg.url);
        export
            .args(["export", "--format", format, "--output"])
            .arg(&again);
        kurz_summary(export).await;
        assert_eq!(
            export_files(&first, extension),
            export_files(&again, extension)
        );

        // Into another embedded store: served as the original was.
        let copy = TempDir::new().unwrap();
        let mut import = kurz_command_on(copy.path());
        import.args(["import", "--from", "kurz"]).arg(&first);
        kurz_summary(import).await;
        let served = Kurz::on(copy.path());
        let (code, target) = an_active_seed_url();
        assert_eq!(
            served.get(&format!("/{code}")).await.location().as_deref(),
            Some(target.as_str())
        );
        assert_eq!(served.count("/urls").await, 2000);
    }
    // An export into a directory holding the other format's replaces it whole: no file of
    // the older export stays for an import to pick up, and no unfinished file is left.
    let shared = out.path().join("first-csv");
    let mut export = kurz_command_on(data.path());
    export
        .args(["export", "--format", "json", "--output"])
        .arg(&shared);
    kurz_summary(export).await;
    let mut names: Vec<String> = std::fs::read_dir(&shared)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["events.jsonl", "urls.jsonl", "users.jsonl"]);

    // The snapshots the exports read, and what was made beside them, are gone.
    let left: Vec<String> = std::fs::read_dir(data.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with("kurz.db"))
        .collect();
    assert!(left.is_empty(), "left in the data directory: {left:?}");
}

#[tokio::test]
async fn a_malformed_row_names_its_file_and_row_and_imports_nothing() {
    let data = TempDir::new().unwrap();
    kurz_summary(seed_import(kurz_command_on(data.path()))).await;
    let out = TempDir::new().unwrap();
    let mut export = kurz_command_on(data.path());
    export.args(["export", "--output"]).arg(out.path());
    kurz_summary(export).await;
    // The fifth url's target is not a URL; users.csv before it is fine.
    let urls = out.path().join("urls.csv");
    let text = std::fs::read_to_string(&urls).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let fields: Vec<&str> = lines[5].split(',').collect();
    lines[5] = lines[5].replacen(fields[3], "not a url", 1);
    std::fs::write(&urls, lines.join("\n") + "\n").unwrap();

    let empty = TempDir::new().unwrap();
    let mut import = kurz_command_on(empty.path());
    import.args(["import", "--from", "kurz"]).arg(out.path());
    let why = kurz_refusal(import).await;
    assert!(
        why.contains("urls.csv") && why.contains("row 5") && why.contains("original_url"),
        "{why}"
    );
    let served = Kurz::on(empty.path());
    assert_eq!(
        served.count("/users").await,
        0,
        "nothing imported, not even the good users"
    );
}

#[tokio::test]
async fn a_move_rebuilds_the_click_counters_from_the_classified_events() {
    let data = TempDir::new().unwrap();
    let served = Kurz::on(data.path());
    let url = served
        .post_json(
            "/urls",
            &json!({ "original_url": "https://example.com/counted" }),
        )
        .await
        .expect_json(201);
    let code = url["short_code"].as_str().unwrap().to_owned();
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    for agent in [chrome, chrome, "curl/8.5.0", "Slackbot-LinkExpanding 1.0"] {
        let headers = [("user-agent", agent), ("referer", "https://t.co/x")];
        served.get_with_headers(&format!("/{code}"), &headers).await;
    }
    let stats_path = format!("/urls/{}/stats", url["id"]);
    let before = served.get(&stats_path).await.expect_json(200);
    assert_eq!(
        (before["humans"].clone(), before["total"].clone()),
        (json!(2), json!(4))
    );
    drop(served);

    let pg = Database::create();
    let mut migrate = kurz_command_on(data.path());
    migrate.args(["migrate-store", "--to", &pg.url, "--final"]);
    kurz_summary(migrate).await;
    let moved = Kurz::start(&[("DATABASE_URL", pg.url.as_str())]);
    let after = moved.get(&stats_path).await.expect_json(200);
    for field in [
        "total",
        "humans",
        "bots",
        "previews",
        "prefetches",
        "referrers",
        "browsers",
        "os",
        "devices",
        "languages",
    ] {
        assert_eq!(after[field], before[field], "{field}");
    }
    let clicked = |stats: &Value| -> i64 {
        let series = stats["series"].as_array().unwrap();
        series.iter().map(|p| p["total"].as_i64().unwrap()).sum()
    };
    assert_eq!(
        clicked(&after),
        4,
        "the series counts every click (the hour may have turned)"
    );
    // Which visitors were new on a day is not in the events: that count starts afresh.
    assert_eq!(
        (
            before["unique_visitors"].clone(),
            after["unique_visitors"].clone()
        ),
        (json!(1), json!(0))
    );
}

#[tokio::test]
async fn a_move_keeps_link_settings_passwords_and_what_each_cap_has_spent() {
    let data = TempDir::new().unwrap();
    let mut served = Kurz::on(data.path());
    let url = served
        .post_json(
            "/urls",
            &json!({"original_url": "https://example.com/capped", "max_clicks": 3,
                    "password": "moving day", "redirect_type": 307,
                    "rules": [{"when": {"device": "ios"}, "target": "https://example.com/ios"}]}),
        )
        .await
        .expect_json(201);
    let code = url["short_code"].as_str().unwrap().to_owned();
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    let visit = [("user-agent", chrome), ("x-link-password", "moving day")];
    for _ in 0..2 {
        served
            .get_with_headers(&format!("/{code}"), &visit)
            .await
            .expect(307);
    }
    let path = format!("/urls/{}", url["id"]);
    let before = served.get(&path).await.expect_json(200);
    // Stopped as an operator stops it before a final move: the clicks still queued in
    // memory are written first (a kill -9 would lose them, and the caps with them).
    served.sigterm();
    assert!(
        served
            .wait_exit(std::time::Duration::from_secs(30))
            .success()
    );
    drop(served);

    let pg = Database::create();
    let mut migrate = kurz_command_on(data.path());
    migrate.args(["migrate-store", "--to", &pg.url, "--final"]);
    kurz_summary(migrate).await;
    let moved = Kurz::start(&[("DATABASE_URL", pg.url.as_str())]);
    assert_eq!(moved.get(&path).await.expect_json(200), before);
    moved.get(&format!("/{code}")).await.expect_error(401);
    // Two of three were spent before the move: one more, then the cap.
    let statuses = [
        moved
            .get_with_headers(&format!("/{code}"), &visit)
            .await
            .code(),
        moved
            .get_with_headers(&format!("/{code}"), &visit)
            .await
            .code(),
    ];
    assert_eq!(statuses, [307, 410]);
}

/// An export of PostgreSQL while kurz creates links reads one moment of it (a snapshot):
/// every url exported has its `created` event exported and every `created` event its url,
/// though the tables are read one after the other while writes go on.
#[tokio::test]
async fn a_postgres_export_under_write_load_is_one_snapshot() {
    let live = Database::create();
    let kurz = Kurz::options()
        .env("DATABASE_URL", &live.url)
        .envs(UNLIMITED)
        .start();
    let (load, before) = WriteLoad::running(kurz.as_ref()).await;
    let out = TempDir::new().unwrap();
    let mut export = on_postgres(&live.url);
    export
        .args(["export", "--format", "json", "--output"])
        .arg(out.path());
    kurz_summary(export).await;
    load.went_on_since(&before, "the export");
    load.stop(&before).await;

    let lines = |file: &str| -> Vec<Value> {
        std::fs::read_to_string(out.path().join(file))
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let mut urls: Vec<i64> = lines("urls.jsonl").iter().map(id_of).collect();
    let mut created: Vec<i64> = lines("events.jsonl")
        .iter()
        .filter(|event| event["event_type"] == "created")
        .map(|event| event["url_id"].as_i64().unwrap())
        .collect();
    urls.sort_unstable();
    created.sort_unstable();
    assert!(urls.len() >= before.len(), "{} urls exported", urls.len());
    assert_eq!(
        urls, created,
        "urls and their created events, as of one moment"
    );
}

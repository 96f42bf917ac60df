//! Importing other shorteners' exports with the real binary: a sample file per source,
//! written from that tool's documented export format (`tests/fixtures/import/`), then the
//! links served; reruns, clashes, dry runs, malformed rows, and replicas' caches told.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::prelude::*;
use common::services::{Database, Redis, db_and_redis};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

/// `kurz import --from SOURCE FILE ARGS…` as a command to run.
fn import(mut command: Command, source: &str, file: &Path, args: &[&str]) -> Command {
    command
        .args(["import", "--from", source])
        .arg(file)
        .args(args);
    command
}

/// What a sample file must give: per code, the target and whether it redirects.
struct Expected {
    source: &'static str,
    file: &'static str,
    args: &'static [&'static str],
    links: &'static [(&'static str, &'static str, bool)],
    /// A code, its title, and values its `created` event keeps under `imported` (JSON).
    kept: (&'static str, Option<&'static str>, &'static str),
}

const SPRING: &str = "https://www.example.com/spring-sale?utm_source=bitly";
const HANDBOOK: &str = "https://docs.example.org/2023/handbook?lang=en";

const SAMPLES: &[Expected] = &[
    Expected {
        source: "shlink",
        file: "shlink.csv",
        args: &[],
        links: &[
            ("docs-2023", HANDBOOK, true),
            ("Xk3p9", "https://shop.example.org/item/42", true),
            ("launch", "https://blog.example.org/posts/launch", true),
        ],
        kept: (
            "docs-2023",
            Some("Handbook, 2023 edition"),
            r#"{"tags": ["docs", "handbook"], "visits": 1204, "domain": "s.example.org"}"#,
        ),
    },
    Expected {
        source: "bitly",
        file: "bitly.csv",
        args: &[],
        links: &[
            ("3Kq8ZxA", SPRING, true),
            ("spring-sale-24", SPRING, true),
            ("4aBcDeF", "https://news.example.com/2024/05/article", true),
        ],
        kept: ("3Kq8ZxA", Some("Spring sale"), r#"{"tags": "marketing"}"#),
    },
    Expected {
        source: "yourls",
        file: "yourls_url.csv",
        args: &[],
        links: &[
            ("ozh", "http://ozh.org/", true),
            ("yourls", "http://yourls.org/", true),
            ("4c", "https://example.net/page?id=4", true),
        ],
        kept: ("4c", None, r#"{"clicks": 0}"#),
    },
    Expected {
        source: "kutt",
        file: "kutt.json",
        args: &[],
        links: &[
            ("kutt-docs", "https://docs.example.com/kutt", true),
            // Password-protected and expired links come switched off.
            ("members", "https://example.com/members-only", false),
            ("old-promo", "https://shop.example.com/bf2019", false),
        ],
        kept: ("kutt-docs", Some("Kutt docs"), r#"{"visit_count": 14}"#),
    },
    Expected {
        source: "csv",
        file: "generic.csv",
        args: &[
            "--map",
            "Slug=short_code",
            "--map",
            "Destination=original_url",
            "--map",
            "Name=title",
            "--map",
            "Enabled=is_active",
        ],
        links: &[
            ("promo", "https://example.com/promo", true),
            ("team", "https://example.com/team", false),
        ],
        kept: ("promo", Some("Promo"), "{}"),
    },
];

#[tokio::test]
async fn each_sources_sample_export_imports_field_by_field_and_serves() {
    for expected in SAMPLES {
        let data = TempDir::new().unwrap();
        let command = import(
            kurz_command_on(data.path()),
            expected.source,
            &sample(expected.file),
            expected.args,
        );
        let report = kurz_summary(command).await;
        let n = expected.links.len();
        assert_eq!(report["imported"], n, "{}: {report}", expected.source);
        assert_eq!(report["clashes"], json!([]), "{report}");
        assert_eq!(report["skipped"], json!([]), "{report}");

        let kurz = Kurz::on(data.path());
        for (code, target, active) in expected.links {
            let reply = kurz.get(&format!("/{code}")).await;
            if *active {
                assert_eq!(reply.code(), 302, "{}: /{code}", expected.source);
                assert_eq!(reply.location().as_deref(), Some(*target));
            } else {
                assert_eq!(reply.code(), 404, "{}: /{code} is off", expected.source);
            }
        }
        let (code, title, kept) = expected.kept;
        let url = kurz
            .get(&format!("/urls?short_code={code}"))
            .await
            .expect_json(200)[0]
            .clone();
        assert_eq!(url["title"], json!(title), "{}: {url}", expected.source);
        let events = kurz
            .get(&format!("/events?url_id={}&event_type=created", url["id"]))
            .await
            .expect_json(200);
        let imported = &events[0]["details"]["imported"];
        assert_eq!(imported["source"], expected.source, "{events}");
        assert_eq!(events[0]["details"]["short_code"], code);
        let kept: Value = serde_json::from_str(kept).unwrap();
        for (key, value) in kept.as_object().unwrap() {
            assert_eq!(&imported[key], value, "{}: {imported}", expected.source);
        }
    }
}

#[tokio::test]
async fn a_rerun_changes_nothing_and_clashes_are_reported_never_renamed() {
    let data = TempDir::new().unwrap();
    let shlink = sample("shlink.csv");
    let first = kurz_summary(import(kurz_command_on(data.path()), "shlink", &shlink, &[])).await;
    assert_eq!(first["imported"], 3);
    let again = kurz_summary(import(kurz_command_on(data.path()), "shlink", &shlink, &[])).await;
    assert_eq!(
        (again["imported"].clone(), again["unchanged"].clone()),
        (json!(0), json!(3))
    );

    // `launch` is taken with another target, `docs` is one of kurz's routes, `launch` twice.
    let dir = TempDir::new().unwrap();
    let clashing = dir.path().join("clashing.csv");
    std::fs::write(
        &clashing,
        "short_code,original_url\n\
         launch,https://elsewhere.example.com/\n\
         docs,https://example.com/docs\n\
         fresh,https://example.com/fresh\n\
         fresh,https://example.com/not-fresh\n",
    )
    .unwrap();
    let report = kurz_summary(import(kurz_command_on(data.path()), "csv", &clashing, &[])).await;
    assert_eq!(report["imported"], 1, "{report}");
    assert_eq!(
        report["clashes"],
        json!([
            { "row": 1, "short_code": "launch", "target": "https://elsewhere.example.com/",
              "existing_target": "https://blog.example.org/posts/launch" },
            { "row": 2, "short_code": "docs", "target": "https://example.com/docs",
              "existing_target": null },
            { "row": 4, "short_code": "fresh", "target": "https://example.com/not-fresh",
              "existing_target": "https://example.com/fresh" },
        ])
    );
    let kurz = Kurz::on(data.path());
    let reply = kurz.get("/launch").await;
    assert_eq!(
        reply.location().as_deref(),
        Some("https://blog.example.org/posts/launch")
    );
    assert_eq!(
        kurz.count("/urls").await,
        4,
        "nothing renamed, nothing added twice"
    );
}

#[tokio::test]
async fn a_dry_run_reports_what_an_import_would_do_and_writes_nothing() {
    let data = TempDir::new().unwrap();
    let bitly = sample("bitly.csv");
    let dry = kurz_summary(import(
        kurz_command_on(data.path()),
        "bitly",
        &bitly,
        &["--dry-run"],
    ))
    .await;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["imported"], 3);
    let kurz = Kurz::on(data.path());
    assert_eq!(kurz.count("/urls").await, 0);
    assert_eq!(kurz.count("/events").await, 0);
    drop(kurz);
    let real = kurz_summary(import(kurz_command_on(data.path()), "bitly", &bitly, &[])).await;
    assert_eq!(
        (real["dry_run"].clone(), real["imported"].clone()),
        (json!(false), json!(3))
    );
}

#[tokio::test]
async fn a_malformed_row_refuses_the_file_unless_skip_bad_reports_it() {
    let data = TempDir::new().unwrap();
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("links.csv");
    std::fs::write(
        &file,
        "keyword,url,title,timestamp,ip,clicks\n\
         good,https://example.com/good,,2021-01-01 00:00:00,127.0.0.1,1\n\
         bad,not a url,,2021-01-01 00:00:00,127.0.0.1,1\n\
         also-good,https://example.com/also,,2021-01-01 00:00:00,127.0.0.1,1\n\
         a/b,https://example.com/slash,,2021-01-01 00:00:00,127.0.0.1,1\n",
    )
    .unwrap();
    let why = kurz_refusal(import(kurz_command_on(data.path()), "yourls", &file, &[])).await;
    assert!(
        why.contains("links.csv") && why.contains("row 2") && why.contains("url"),
        "{why}"
    );
    let kurz = Kurz::on(data.path());
    assert_eq!(kurz.count("/urls").await, 0, "nothing half-imported");
    drop(kurz);

    let report = kurz_summary(import(
        kurz_command_on(data.path()),
        "yourls",
        &file,
        &["--skip-bad"],
    ))
    .await;
    assert_eq!(report["imported"], 2);
    let skipped = report["skipped"].as_array().unwrap();
    let rows: Vec<&Value> = skipped.iter().map(|s| &s["row"]).collect();
    assert_eq!(rows, [&json!(2), &json!(4)], "{report}");
    assert!(
        skipped[0]["reason"].as_str().unwrap().contains("url"),
        "{report}"
    );
    assert!(
        skipped[1]["reason"].as_str().unwrap().contains("keyword"),
        "{report}"
    );

    // Options that do not apply are refused, not ignored.
    for (source, map, why_not) in [
        ("yourls", "a=short_code", "--map goes with --from csv"),
        ("csv", "keyword=slug", "not a field"),
    ] {
        let args = ["--map", map];
        let command = import(kurz_command_on(data.path()), source, &file, &args);
        let why = kurz_refusal(command).await;
        assert!(why.contains(why_not), "{why}");
    }
}

#[tokio::test]
async fn an_import_into_postgres_reaches_replicas_that_had_the_code_cached_as_unknown() {
    let db = Database::create();
    let redis = Redis::start();
    let env = db_and_redis(&db, &redis);
    let replicas = replicas(2, &env).await;
    for replica in &replicas {
        assert_eq!(
            replica.get("/kutt-docs").await.code(),
            404,
            "unknown, and cached so"
        );
    }
    let owner = replicas[0]
        .post_json(
            "/users",
            &json!({ "username": "owner", "email": "owner@example.com" }),
        )
        .await
        .expect_json(201);
    let owner = owner["id"].to_string();
    let mut command = kurz_command();
    command.envs(env);
    let args = ["--owner", owner.as_str()];
    let report = kurz_summary(import(command, "kutt", &sample("kutt.json"), &args)).await;
    assert_eq!(report["imported"], 3, "{report}");
    let reply = replicas[1]
        .get("/urls?short_code=kutt-docs")
        .await
        .expect_json(200);
    assert_eq!(reply[0]["user_id"].to_string(), owner, "{reply}");
    for replica in &replicas {
        let reply = replica.get("/kutt-docs").await;
        assert_eq!(reply.code(), 302);
        assert_eq!(
            reply.location().as_deref(),
            Some("https://docs.example.com/kutt")
        );
    }
}

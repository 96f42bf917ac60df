//! The store conformance suite: the same tests, run against the embedded SQLite store and
//! against PostgreSQL, so both behave identically. Every test gets a fresh database
//! (a temporary file; a new PostgreSQL database on `KURZ_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, dropped afterwards) — and against
//! PostgreSQL through a real PgBouncer in transaction pooling mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::records::{clicks_on, new_url, new_user, ts, visit_of};
use common::services::{Database, PgBouncer};
use kurz::domain::analytics::{Classified, VisitClass};
use kurz::domain::rules::{Device, Rule, When};
use kurz::domain::{
    Email, Event, ImportedUser, Link, LinkSettings, NewEvent, NewUrl, PasswordHash, SettingsPatch,
    ShortCode, TargetUrl, Timestamp, Url, UrlPatch, User, UserPatch, Username, Visited,
};
use kurz::store::{
    EventFilter, Page, PostgresOptions, PostgresStore, SqliteStore, StoreError, Stores, UrlFilter,
    UserFilter,
};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

const ALL: Page = Page {
    limit: 10_000,
    offset: 0,
};

/// A store on a fresh database, removed when dropped.
struct TestDb {
    store: Stores,
    _dir: Option<tempfile::TempDir>,
    _bouncer: Option<PgBouncer>,
    _database: Option<Database>,
}

async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("kurz.db"), 4, Duration::from_secs(5))
        .await
        .unwrap();
    TestDb {
        store: migrated(store).await,
        _dir: Some(dir),
        _bouncer: None,
        _database: None,
    }
}

async fn migrated<B>(backend: B) -> Stores
where
    B: kurz::store::Schema
        + kurz::store::UserStore
        + kurz::store::LinkStore
        + kurz::store::EventStore
        + kurz::store::KeyStore
        + kurz::store::Transfer
        + kurz::store::StatsStore,
{
    let store = Stores::of(backend);
    store.schema.migrate().await.unwrap();
    store
}

fn postgres_options() -> PostgresOptions {
    PostgresOptions {
        max_connections: 8,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(10),
        statement_cache: 100,
        migration_url: None,
    }
}

async fn postgres() -> TestDb {
    let database = Database::create();
    let store = PostgresStore::connect(&database.url, &postgres_options()).unwrap();
    TestDb {
        store: migrated(store).await,
        _dir: None,
        _bouncer: None,
        _database: Some(database),
    }
}

/// PostgreSQL through PgBouncer (transaction mode), configured as docs/DEPLOY.md says:
/// no statement cache (unnamed statements), no start-up `options`, migrations direct.
async fn pgbouncer() -> TestDb {
    let database = Database::create();
    let bouncer = PgBouncer::start();
    let options = PostgresOptions {
        statement_cache: 0,
        statement_timeout: Duration::ZERO,
        migration_url: Some(database.url.clone()),
        ..postgres_options()
    };
    let store = PostgresStore::connect(&bouncer.url_for(&database.url), &options).unwrap();
    TestDb {
        store: migrated(store).await,
        _dir: None,
        _bouncer: Some(bouncer),
        _database: Some(database),
    }
}

/// Generates one test per backend for every conformance function.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::sqlite().await;
                    super::$name(db.store.clone()).await;
                }
            )*
        }
        mod postgres_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::postgres().await;
                    super::$name(db.store.clone()).await;
                }
            )*
        }
        mod pgbouncer_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::pgbouncer().await;
                    super::$name(db.store.clone()).await;
                }
            )*
        }
    };
}

conformance!(
    a_visit_cap_counts_exactly_under_concurrent_spends,
    link_settings_and_password_hashes_round_trip,
    a_click_batch_written_again_under_its_key_is_stored_once,
    a_click_batch_larger_than_one_statement_is_written_whole,
    clicks_past_retention_go_in_slices_and_their_counters_stay,
    users_round_trip_and_delete,
    usernames_and_emails_are_unique_on_create_and_update,
    deleting_a_user_keeps_their_urls_and_events,
    creating_a_url_records_its_created_event,
    taken_codes_and_unknown_owners_are_refused,
    updating_a_url_records_one_event_per_changed_field,
    deleting_a_url_records_deleted_and_keeps_history,
    lists_filter_paginate_and_count,
    the_total_of_all_urls_follows_creates_deletes_and_imports,
    the_totals_of_events_follow_every_write_that_adds_or_removes_them,
    events_append_in_batches_and_check_references,
    imports_are_idempotent_and_move_sequences,
    an_import_never_hands_out_a_deleted_id_again,
    imports_refuse_taken_codes_and_unknown_owners,
    imported_users_without_ids_are_matched_by_username,
    concurrent_user_creates_with_one_name_make_one_user,
    concurrent_creates_of_one_code_make_one_url,
    concurrent_creates_each_get_their_own_url_event_or_error,
    a_create_the_database_refuses_fails_alone_not_its_batch,
    api_keys_are_found_by_hash_revoked_and_counted,
    the_most_clicked_links_come_from_counters_kept_with_the_clicks,
    the_newest_unclicked_links_are_the_active_ones_newest_first,
    a_link_may_be_created_switched_off,
    links_are_found_many_at_a_time_as_one_at_a_time,
    click_counters_sum_the_batches_and_count_each_visitor_once_a_day,
    a_day_has_one_visitor_key_and_old_keys_are_forgotten,
);

/// The hour bucket (hours since 1970-01-01 UTC) of a time.
fn hour_of(raw: &str) -> i64 {
    ts(raw).unix_secs() / 3600
}

fn details(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

async fn events_of(store: &Stores, url_id: i64) -> Vec<Event> {
    let filter = EventFilter {
        url_id: Some(url_id),
        ..EventFilter::default()
    };
    store.events.list_events(&filter, ALL).await.unwrap().items
}

/// The total a list of events gives, of one type or of all.
async fn events_total(store: &Stores, event_type: Option<&str>) -> i64 {
    let filter = EventFilter {
        event_type: event_type.map(str::to_owned),
        ..EventFilter::default()
    };
    store.events.list_events(&filter, ALL).await.unwrap().total
}

/// The migrations of `migrator` before `version`: a database as an earlier release left it.
fn before(mut migrator: sqlx::migrate::Migrator, version: i64) -> sqlx::migrate::Migrator {
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|migration| migration.version < version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    migrator
}

/// A new PostgreSQL database as the release before migration `version` left it, and a
/// connection to it.
async fn postgres_before(version: i64) -> (Database, sqlx::PgConnection) {
    let database = Database::create();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&database.url)
        .await
        .unwrap();
    before(sqlx::migrate!("./migrations/postgres"), version)
        .run(&mut conn)
        .await
        .unwrap();
    (database, conn)
}

async fn users_round_trip_and_delete(store: Stores) {
    let user = store.users.create_user(new_user("alice")).await.unwrap();
    assert_eq!(user.username, "alice");
    assert_eq!(user.created_at.to_string(), "2025-01-02T03:04:05");
    assert_eq!(
        store.users.get_user(user.id).await.unwrap(),
        Some(user.clone())
    );

    let patch = UserPatch {
        username: Some(Username::parse("alicia").unwrap()),
        email: None,
    };
    let updated = store
        .users
        .update_user(user.id, patch)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (updated.username.as_str(), updated.email.as_str()),
        ("alicia", "alice@example.com")
    );
    assert_eq!(store.users.get_user(user.id).await.unwrap(), Some(updated));

    assert!(store.users.delete_user(user.id).await.unwrap());
    assert!(!store.users.delete_user(user.id).await.unwrap());
    assert_eq!(store.users.get_user(user.id).await.unwrap(), None);
    assert_eq!(
        store
            .users
            .update_user(user.id, UserPatch::default())
            .await
            .unwrap(),
        None
    );
}

async fn usernames_and_emails_are_unique_on_create_and_update(store: Stores) {
    let alice = store.users.create_user(new_user("alice")).await.unwrap();
    let bob = store.users.create_user(new_user("bob")).await.unwrap();
    assert!(matches!(
        store.users.create_user(new_user("alice")).await,
        Err(StoreError::Conflict("username"))
    ));
    let mut shouting = new_user("carol");
    shouting.email = Email::parse("ALICE@example.com").unwrap();
    assert!(matches!(
        store.users.create_user(shouting).await,
        Err(StoreError::Conflict("email"))
    ));

    let rename = UserPatch {
        username: Some(Username::parse("alice").unwrap()),
        email: None,
    };
    assert!(matches!(
        store.users.update_user(bob.id, rename).await,
        Err(StoreError::Conflict("username"))
    ));
    // A user keeping their own name and email is no conflict.
    let same = UserPatch {
        username: Some(Username::parse("alice").unwrap()),
        email: Some(Email::parse("alice@example.com").unwrap()),
    };
    assert!(
        store
            .users
            .update_user(alice.id, same)
            .await
            .unwrap()
            .is_some()
    );
}

async fn deleting_a_user_keeps_their_urls_and_events(store: Stores) {
    let user = store.users.create_user(new_user("owner")).await.unwrap();
    let url = store
        .links
        .create_url(new_url("abc123", Some(user.id)))
        .await
        .unwrap();
    assert!(store.users.delete_user(user.id).await.unwrap());
    let kept = store.links.get_url(url.id).await.unwrap().unwrap();
    assert_eq!(kept.user_id, None);
    let events = events_of(&store, url.id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].user_id,
        Some(user.id),
        "history keeps the ids it recorded"
    );
}

async fn creating_a_url_records_its_created_event(store: Stores) {
    let user = store.users.create_user(new_user("owner")).await.unwrap();
    let url = store
        .links
        .create_url(new_url("abc123", Some(user.id)))
        .await
        .unwrap();
    assert!(url.is_active);
    assert_eq!(url.created_at, url.updated_at);
    assert_eq!(
        store.links.get_url(url.id).await.unwrap(),
        Some(url.clone())
    );
    assert_eq!(
        store
            .links
            .find_link(&ShortCode::parse("abc123").unwrap())
            .await
            .unwrap(),
        Some(Link {
            id: url.id,
            user_id: Some(user.id),
            short_code: "abc123".into(),
            target: "https://example.com/abc123".into(),
            is_active: true,
            settings: None,
            password_hash: None,
        })
    );
    assert_eq!(
        store
            .links
            .find_link(&ShortCode::parse("nope42").unwrap())
            .await
            .unwrap(),
        None
    );

    let events = events_of(&store, url.id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "created");
    assert_eq!(events[0].user_id, Some(user.id));
    assert_eq!(
        events[0].details,
        details(json!({"short_code": "abc123", "original_url": "https://example.com/abc123"}))
    );
}

async fn taken_codes_and_unknown_owners_are_refused(store: Stores) {
    store
        .links
        .create_url(new_url("abc123", None))
        .await
        .unwrap();
    assert!(matches!(
        store.links.create_url(new_url("abc123", None)).await,
        Err(StoreError::Conflict("short_code"))
    ));
    assert!(matches!(
        store.links.create_url(new_url("other1", Some(999))).await,
        Err(StoreError::MissingReference("user"))
    ));
    // Neither failure left a row or an event behind.
    assert_eq!(
        store
            .links
            .list_urls(&UrlFilter::default(), ALL)
            .await
            .unwrap()
            .total,
        1
    );
    assert_eq!(
        store
            .events
            .list_events(&EventFilter::default(), ALL)
            .await
            .unwrap()
            .total,
        1
    );
}

async fn updating_a_url_records_one_event_per_changed_field(store: Stores) {
    let url = store
        .links
        .create_url(new_url("abc123", None))
        .await
        .unwrap();
    let now = ts("2026-01-01 00:00:00");
    let patch = UrlPatch {
        title: Some(Some("title abc123".into())), // unchanged: no event
        is_active: Some(false),
        original_url: Some(TargetUrl::parse("https://example.org/new").unwrap()),
        ..UrlPatch::default()
    };
    let updated = store
        .links
        .update_url(url.id, patch, now)
        .await
        .unwrap()
        .unwrap();
    assert!(!updated.is_active);
    assert_eq!(updated.original_url, "https://example.org/new");
    assert_eq!(updated.updated_at, now);
    assert_eq!(updated.created_at, url.created_at);
    assert_eq!(store.links.get_url(url.id).await.unwrap(), Some(updated));

    let updates: Vec<Map<String, Value>> = events_of(&store, url.id)
        .await
        .into_iter()
        .filter(|e| e.event_type == "updated")
        .map(|e| e.details)
        .collect();
    assert_eq!(
        updates,
        vec![
            details(json!({"field": "is_active", "new_value": "false"})),
            details(json!({"field": "original_url", "new_value": "https://example.org/new"})),
        ]
    );
    assert_eq!(
        store
            .links
            .update_url(999, UrlPatch::default(), now)
            .await
            .unwrap(),
        None
    );
}

async fn deleting_a_url_records_deleted_and_keeps_history(store: Stores) {
    let user = store.users.create_user(new_user("owner")).await.unwrap();
    let url = store
        .links
        .create_url(new_url("abc123", Some(user.id)))
        .await
        .unwrap();
    let deleted = store
        .links
        .delete_url(url.id, ts("2026-01-01 00:00:00"))
        .await
        .unwrap();
    assert_eq!(deleted.map(|u| u.id), Some(url.id));
    assert_eq!(store.links.get_url(url.id).await.unwrap(), None);
    assert_eq!(
        store
            .links
            .delete_url(url.id, ts("2026-01-01 00:00:00"))
            .await
            .unwrap(),
        None
    );

    let events = events_of(&store, url.id).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(kinds, ["created", "deleted"]);
    assert_eq!(
        events[1].details,
        details(json!({"reason": "user_requested", "short_code": "abc123"}))
    );
    assert_eq!(events[1].user_id, Some(user.id));
    // The code is free again.
    assert!(
        store
            .links
            .create_url(new_url("abc123", None))
            .await
            .is_ok()
    );
}

async fn lists_filter_paginate_and_count(store: Stores) {
    let a = store.users.create_user(new_user("a")).await.unwrap();
    let b = store.users.create_user(new_user("b")).await.unwrap();
    for i in 0..5 {
        store
            .links
            .create_url(new_url(&format!("a{i}code"), Some(a.id)))
            .await
            .unwrap();
    }
    for i in 0..3 {
        let url = store
            .links
            .create_url(new_url(&format!("b{i}code"), Some(b.id)))
            .await
            .unwrap();
        if i == 0 {
            let off = UrlPatch {
                is_active: Some(false),
                ..UrlPatch::default()
            };
            store
                .links
                .update_url(url.id, off, Timestamp::now())
                .await
                .unwrap();
        }
    }
    let of_a = UrlFilter {
        user_id: Some(a.id),
        ..UrlFilter::default()
    };
    let page = store
        .links
        .list_urls(
            &of_a,
            Page {
                limit: 2,
                offset: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 5);
    assert_eq!(
        page.items
            .iter()
            .map(|u| u.short_code.as_str())
            .collect::<Vec<_>>(),
        ["a2code", "a3code"]
    );

    let inactive = UrlFilter {
        is_active: Some(false),
        ..UrlFilter::default()
    };
    let listing = store.links.list_urls(&inactive, ALL).await.unwrap();
    assert_eq!(
        (listing.total, listing.items[0].short_code.as_str()),
        (1, "b0code")
    );

    let by_code = UrlFilter {
        short_code: Some("b2code".into()),
        ..UrlFilter::default()
    };
    assert_eq!(store.links.list_urls(&by_code, ALL).await.unwrap().total, 1);
    // A search without regard to case, in code, target or title; `%` and `_` are text.
    for (search, found) in [
        ("B2CO", 1),
        ("example.com/a", 5),
        ("TITLE", 8),
        ("%", 0),
        ("_", 0),
    ] {
        let filter = UrlFilter {
            search: Some(search.into()),
            ..UrlFilter::default()
        };
        let total = store.links.list_urls(&filter, ALL).await.unwrap().total;
        assert_eq!(total, found, "{search}");
    }

    let all: Vec<Url> = store
        .links
        .list_urls(&UrlFilter::default(), ALL)
        .await
        .unwrap()
        .items;
    assert!(
        all.windows(2).all(|w| w[0].id < w[1].id),
        "lists are ordered by id"
    );

    let by_email = UserFilter {
        email: Some("B@EXAMPLE.COM".into()),
        ..UserFilter::default()
    };
    let users: Vec<User> = store.users.list_users(&by_email, ALL).await.unwrap().items;
    assert_eq!(users.iter().map(|u| u.id).collect::<Vec<_>>(), [b.id]);

    let past_the_end = store
        .users
        .list_users(
            &UserFilter::default(),
            Page {
                limit: 10,
                offset: i64::MAX,
            },
        )
        .await
        .unwrap();
    assert_eq!((past_the_end.items.len(), past_the_end.total), (0, 2));

    let updated = EventFilter {
        event_type: Some("updated".into()),
        ..EventFilter::default()
    };
    assert_eq!(
        store.events.list_events(&updated, ALL).await.unwrap().total,
        1
    );
}

async fn events_append_in_batches_and_check_references(store: Stores) {
    let user = store.users.create_user(new_user("owner")).await.unwrap();
    let url = store
        .links
        .create_url(new_url("abc123", Some(user.id)))
        .await
        .unwrap();
    let link = Arc::new(url.link());
    let batch: Vec<Visited> = (0..2_500_usize)
        .map(|i| Visited {
            referrer: i
                .is_multiple_of(2)
                .then(|| format!("https://from.example/{i}").into()),
            ..visit_of(&link)
        })
        .collect();
    store.events.append_visits(&batch).await.unwrap();
    let clicks = EventFilter {
        event_type: Some("click".into()),
        url_id: Some(url.id),
        user_id: Some(user.id),
    };
    let listing = store.events.list_events(&clicks, ALL).await.unwrap();
    assert_eq!(listing.total, 2_500);
    let expected = |i: usize| {
        details(json!({
            "short_code": "abc123",
            "original_url": "https://example.com/abc123",
            "referrer": i.is_multiple_of(2).then(|| format!("https://from.example/{i}")),
            "user_agent": "kurz-test",
        }))
    };
    assert_eq!(listing.items[6].details, expected(6));
    assert_eq!(listing.items[7].details, expected(7));

    // A visit refused by the blocklist is recorded as such, and is no click.
    let blocked = Visited {
        blocked: Some("example.com".into()),
        ..visit_of(&link)
    };
    store.events.append_visits(&[blocked]).await.unwrap();
    let refused = EventFilter {
        event_type: Some("blocked".into()),
        ..EventFilter::default()
    };
    let refused = store.events.list_events(&refused, ALL).await.unwrap().items;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].details["blocked_host"], "example.com");
    assert_eq!(
        store.events.list_events(&clicks, ALL).await.unwrap().total,
        2_500
    );

    let click = |_: usize| NewEvent {
        url_id: Some(url.id),
        user_id: Some(user.id),
        event_type: "click".into(),
        timestamp: Timestamp::now(),
        details: Map::new(),
    };

    let mut orphan = click(0);
    orphan.url_id = Some(999_999);
    assert!(matches!(
        store.events.create_event(orphan).await,
        Err(StoreError::MissingReference("url"))
    ));
    let mut stranger = click(0);
    stranger.user_id = Some(999_999);
    assert!(matches!(
        store.events.create_event(stranger).await,
        Err(StoreError::MissingReference("user"))
    ));
    let anonymous = NewEvent {
        url_id: None,
        user_id: None,
        ..click(1)
    };
    let created = store.events.create_event(anonymous).await.unwrap();
    assert_eq!((created.url_id, created.user_id), (None, None));
}

fn seed_user(id: i64, name: &str) -> ImportedUser {
    ImportedUser {
        id: Some(id),
        username: name.into(),
        email: format!("{name}@seed.io"),
        created_at: Some(ts("2024-05-06 07:08:09")),
    }
}

fn seed_url(id: i64, user_id: Option<i64>, code: &str) -> Url {
    Url {
        id,
        user_id,
        short_code: code.into(),
        original_url: format!("https://seed.io/{code}"),
        title: None,
        is_active: id % 2 == 0,
        created_at: ts("2024-05-06 07:08:09"),
        updated_at: ts("2024-06-06 07:08:09"),
        settings: None,
        password_hash: None,
    }
}

/// A list of all urls reads a count kept by triggers (PostgreSQL's migration 0008, SQLite's
/// 0010): it is what the table holds after concurrent creates (taken codes among
/// them), deletes, and imports of new and of existing ids, on every page.
async fn the_total_of_all_urls_follows_creates_deletes_and_imports(store: Stores) {
    // The total and the number of urls on `page` of the list of all urls.
    let listed = |page: Page| {
        let store = store.clone();
        async move {
            let listed = store
                .links
                .list_urls(&UrlFilter::default(), page)
                .await
                .unwrap();
            (listed.total, listed.items.len() as i64)
        }
    };
    let all = || listed(ALL);
    let owner = store.users.create_user(new_user("counted")).await.unwrap();
    let creates: Vec<_> = (0..40)
        .map(|i| {
            let store = store.clone();
            let code = format!("cnt{:03}", i % 30);
            tokio::spawn(
                async move { store.links.create_url(new_url(&code, Some(owner.id))).await },
            )
        })
        .collect();
    let mut ids = Vec::new();
    for create in creates {
        match create.await.unwrap() {
            Ok(url) => ids.push(url.id),
            Err(StoreError::Conflict("short_code")) => {}
            Err(other) => panic!("a create failed for another reason than its code: {other}"),
        }
    }
    assert_eq!(ids.len(), 30, "ten creates met a taken code");
    assert_eq!(all().await, (30, 30));
    for id in &ids[..5] {
        assert!(
            store
                .links
                .delete_url(*id, Timestamp::now())
                .await
                .unwrap()
                .is_some()
        );
    }
    assert_eq!(all().await, (25, 25));
    let imported = vec![
        seed_url(900, None, "cntimp1"),
        seed_url(901, None, "cntimp2"),
    ];
    store.links.import_urls(&imported).await.unwrap();
    store.links.import_urls(&imported).await.unwrap();
    assert_eq!(all().await, (27, 27));
    let page = |offset| Page { limit: 10, offset };
    assert_eq!(listed(page(20)).await, (27, 7));
    assert_eq!(listed(page(100)).await, (27, 0), "a page past the end");
}

/// The totals of the list of all events and of each type (kept by the writes on SQLite,
/// migration 0011) are what the table holds after every kind of write that adds or removes
/// events: one event, creates in a batch, a link's update and deletion, click batches (a
/// retried one among them), imports of new and of replaced events, retention, a clear, and
/// a move's pages of rows.
async fn the_totals_of_events_follow_every_write_that_adds_or_removes_them(store: Stores) {
    let types = [
        None,
        Some("click"),
        Some("blocked"),
        Some("created"),
        Some("updated"),
        Some("deleted"),
        Some("noted"),
        Some("never"),
    ];
    // Every list's total against the rows it lists, and the number of all events.
    let counted = |step: &'static str| {
        let store = store.clone();
        async move {
            for event_type in types {
                let filter = EventFilter {
                    event_type: event_type.map(str::to_owned),
                    ..EventFilter::default()
                };
                let listed = store.events.list_events(&filter, ALL).await.unwrap();
                assert_eq!(
                    listed.total,
                    listed.items.len() as i64,
                    "{step}: the total of {event_type:?}"
                );
            }
            let filter = EventFilter::default();
            store.events.list_events(&filter, ALL).await.unwrap().total
        }
    };
    assert_eq!(counted("empty").await, 0);

    let noted = |url_id: Option<i64>| NewEvent {
        url_id,
        user_id: None,
        event_type: "noted".into(),
        timestamp: Timestamp::now(),
        details: Map::new(),
    };
    store.events.create_event(noted(None)).await.unwrap();
    let creates: Vec<_> = (0..12)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .links
                    .create_url(new_url(&format!("tot{i}"), None))
                    .await
            })
        })
        .collect();
    let mut urls = Vec::new();
    for create in creates {
        urls.push(create.await.unwrap().unwrap());
    }
    assert_eq!(counted("one event, twelve creates").await, 13);

    let patch = UrlPatch {
        is_active: Some(false),
        ..UrlPatch::default()
    };
    let now = Timestamp::now();
    store
        .links
        .update_url(urls[0].id, patch, now)
        .await
        .unwrap();
    store.links.delete_url(urls[1].id, now).await.unwrap();
    assert_eq!(counted("an update, a deletion").await, 15);

    let link = Arc::new(urls[2].link());
    let mut visits: Vec<Visited> = (0..30)
        .map(|i| {
            classified(
                &link,
                "2026-03-01 10:00:00",
                VisitClass::Human,
                &i.to_string(),
            )
        })
        .collect();
    visits.push(Visited {
        blocked: Some("example.com".into()),
        ..visit_of(&link)
    });
    store.events.append_batch(&visits, 41).await.unwrap();
    store.events.append_batch(&visits, 41).await.unwrap();
    store
        .events
        .append_visits(&[visit_of(&link)])
        .await
        .unwrap();
    let other = Arc::new(urls[3].link());
    store
        .events
        .append_visits(&[visit_of(&other)])
        .await
        .unwrap();
    assert_eq!(counted("click batches, one retried").await, 48);
    // With another filter beside the type, the rows are counted, not the type's count.
    let one_link = EventFilter {
        event_type: Some("click".into()),
        url_id: Some(urls[3].id),
        ..EventFilter::default()
    };
    let listed = store.events.list_events(&one_link, ALL).await.unwrap();
    assert_eq!(
        (listed.total, listed.items.len()),
        (1, 1),
        "one link's clicks"
    );

    // An import of two new events and one that replaces a click with a note.
    let listed = store
        .events
        .list_events(&EventFilter::default(), ALL)
        .await
        .unwrap();
    let click = listed
        .items
        .iter()
        .find(|e| e.event_type == "click")
        .unwrap();
    let imported = vec![
        Event {
            id: 90_001,
            ..click.clone()
        },
        Event {
            id: 90_002,
            ..click.clone()
        },
        Event {
            event_type: "noted".into(),
            ..click.clone()
        },
    ];
    store.events.import_events(&imported).await.unwrap();
    assert_eq!(counted("an import").await, 50);

    let forgotten = store
        .events
        .forget_clicks(ts("2026-06-01 00:00:00"), 100_000)
        .await
        .unwrap();
    assert!(forgotten >= 29, "the clicks of March are forgotten");
    assert_eq!(counted("retention").await, 50 - forgotten as i64);

    let before = store
        .events
        .list_events(&EventFilter::default(), ALL)
        .await
        .unwrap();
    store.transfer.clear().await.unwrap();
    assert_eq!(counted("a clear").await, 0);
    let rows = kurz::store::Rows::Events(before.items.clone());
    store.transfer.put_rows(&rows).await.unwrap();
    store.transfer.recount_clicks().await.unwrap();
    assert_eq!(counted("a move").await, before.total);
    store.events.create_event(noted(None)).await.unwrap();
    assert_eq!(counted("one event after the move").await, before.total + 1);
}

async fn imports_are_idempotent_and_move_sequences(store: Stores) {
    // Repeated usernames are accepted by imports.
    let users = vec![seed_user(5, "dup"), seed_user(40, "dup"), seed_user(7, "x")];
    assert_eq!(store.users.import_users(&users).await.unwrap(), 3);
    assert_eq!(store.users.import_users(&users).await.unwrap(), 3);
    assert_eq!(
        store
            .users
            .list_users(&UserFilter::default(), ALL)
            .await
            .unwrap()
            .total,
        3
    );
    assert_eq!(
        store
            .users
            .get_user(40)
            .await
            .unwrap()
            .map(ImportedUser::from),
        Some(seed_user(40, "dup"))
    );
    assert_eq!(
        store.users.create_user(new_user("fresh")).await.unwrap().id,
        41
    );

    let urls = vec![
        seed_url(10, Some(5), "seed10"),
        seed_url(11, None, "seed11"),
    ];
    store.links.import_urls(&urls).await.unwrap();
    store.links.import_urls(&urls).await.unwrap();
    assert_eq!(
        store.links.get_url(10).await.unwrap(),
        Some(seed_url(10, Some(5), "seed10"))
    );
    assert_eq!(
        store
            .links
            .create_url(new_url("after1", None))
            .await
            .unwrap()
            .id,
        12
    );

    let event = Event {
        id: 100,
        url_id: Some(10),
        user_id: Some(5),
        event_type: "created".into(),
        timestamp: ts("2024-05-06 07:08:09"),
        details: details(json!({"short_code": "seed10"})),
    };
    store
        .events
        .import_events(std::slice::from_ref(&event))
        .await
        .unwrap();
    store
        .events
        .import_events(std::slice::from_ref(&event))
        .await
        .unwrap();
    let created = store.events.create_event(NewEvent {
        url_id: None,
        user_id: None,
        event_type: "note".into(),
        timestamp: Timestamp::now(),
        details: Map::new(),
    });
    assert!(created.await.unwrap().id > 100);
    assert!(events_of(&store, 10).await.contains(&event));
}

/// An import moves an id sequence past the ids it brought, never back: the newest user
/// or url deleted before an import keeps its id to itself (its events still name it).
async fn an_import_never_hands_out_a_deleted_id_again(store: Stores) {
    // The newest user is deleted; the import brings an older id than theirs.
    let kept = store.users.create_user(new_user("kept")).await.unwrap().id;
    let gone = store.users.create_user(new_user("gone")).await.unwrap().id;
    assert!(store.users.delete_user(gone).await.unwrap());
    let seeded = [seed_user(kept, "seeded")];
    store.users.import_users(&seeded).await.unwrap();
    let next = store.users.create_user(new_user("next")).await.unwrap().id;
    assert!(next > gone, "user {next} after deleted {gone}");

    let links = &store.links;
    let kept = links.create_url(new_url("kepturl", None)).await.unwrap().id;
    let gone = links.create_url(new_url("goneurl", None)).await.unwrap().id;
    let deleted = links.delete_url(gone, Timestamp::now()).await.unwrap();
    assert!(deleted.is_some());
    links
        .import_urls(&[seed_url(kept, None, "seededurl")])
        .await
        .unwrap();
    let next = links.create_url(new_url("nexturl", None)).await.unwrap().id;
    assert!(next > gone, "url {next} after deleted {gone}");
}

async fn imported_users_without_ids_are_matched_by_username(store: Stores) {
    store
        .users
        .import_users(&[seed_user(9, "kept")])
        .await
        .unwrap();
    let unkeyed = |name: &str, email: &str| ImportedUser {
        id: None,
        username: name.into(),
        email: email.into(),
        created_at: None,
    };
    let before = Timestamp::now();
    let rows = [
        unkeyed("kept", "new@mail.io"),
        unkeyed("fresh", "fresh@mail.io"),
    ];
    // Twice: the second run finds both by username and changes nothing.
    for _ in 0..2 {
        assert_eq!(store.users.import_users(&rows).await.unwrap(), 2);
        let users = store
            .users
            .list_users(&UserFilter::default(), ALL)
            .await
            .unwrap()
            .items;
        assert_eq!(users.len(), 2, "{users:?}");
        let kept = &users[0];
        assert_eq!(
            (kept.id, kept.username.as_str(), kept.email.as_str()),
            (9, "kept", "new@mail.io")
        );
        assert_eq!(
            kept.created_at,
            ts("2024-05-06 07:08:09"),
            "created_at kept when absent"
        );
        let fresh = &users[1];
        assert_eq!(
            (fresh.id, fresh.username.as_str()),
            (10, "fresh"),
            "a new id past the imported ones"
        );
        assert!(fresh.created_at >= before, "{fresh:?}");
    }
    assert_eq!(
        store.users.create_user(new_user("later")).await.unwrap().id,
        11
    );
}

async fn imports_refuse_taken_codes_and_unknown_owners(store: Stores) {
    store
        .users
        .import_users(&[seed_user(1, "a")])
        .await
        .unwrap();
    store
        .links
        .import_urls(&[seed_url(1, Some(1), "taken1")])
        .await
        .unwrap();
    let clash = store
        .links
        .import_urls(&[seed_url(2, None, "fine22"), seed_url(3, None, "taken1")])
        .await;
    assert!(matches!(clash, Err(StoreError::Conflict("short_code"))));
    let orphan = store
        .links
        .import_urls(&[seed_url(4, Some(99), "orphan")])
        .await;
    assert!(matches!(orphan, Err(StoreError::MissingReference("user"))));
    // All or nothing: the good row of the failed import was not kept.
    assert_eq!(store.links.get_url(2).await.unwrap(), None);
}

async fn concurrent_user_creates_with_one_name_make_one_user(store: Stores) {
    let attempts = (0..16).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.users.create_user(new_user("racer")).await })
    });
    let mut created = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => created += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(
        store
            .users
            .list_users(&UserFilter::default(), ALL)
            .await
            .unwrap()
            .total,
        1
    );
}

async fn concurrent_creates_of_one_code_make_one_url(store: Stores) {
    let attempts = (0..16).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.links.create_url(new_url("samecode", None)).await })
    });
    let mut created = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => created += 1,
            Err(StoreError::Conflict("short_code")) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(
        store
            .events
            .list_events(&EventFilter::default(), ALL)
            .await
            .unwrap()
            .total,
        1
    );
}

/// Many creates at once (they share transactions: group commit): each answer is its own url
/// with its own `created` event, or the error a create alone would get.
async fn concurrent_creates_each_get_their_own_url_event_or_error(store: Stores) {
    let owner = store.users.create_user(new_user("many")).await.unwrap().id;
    store
        .links
        .create_url(new_url("takenxyz", None))
        .await
        .unwrap();
    let attempts: Vec<_> = (0..60)
        .map(|i| {
            let store = store.clone();
            let (code, user) = match i % 3 {
                0 => (format!("own{i:03}"), Some(owner)),
                1 => (format!("own{i:03}"), None),
                _ if i % 2 == 0 => ("takenxyz".to_owned(), None),
                _ => (format!("ghost{i:03}"), Some(owner + 1000)),
            };
            tokio::spawn(async move {
                let result = store.links.create_url(new_url(&code, user)).await;
                (code, user, result)
            })
        })
        .collect();
    let mut created = 0;
    for attempt in attempts {
        let (code, user, result) = attempt.await.unwrap();
        match result {
            Ok(url) => {
                created += 1;
                assert_eq!(
                    (url.short_code.as_str(), url.user_id),
                    (code.as_str(), user)
                );
                let stored = store.links.get_url(url.id).await.unwrap();
                assert_eq!(stored.as_ref(), Some(&url), "the id is this create's row");
                let events = events_of(&store, url.id).await;
                assert_eq!(events.len(), 1, "{events:?}");
                assert_eq!(events[0].event_type, "created");
                assert_eq!(events[0].user_id, user);
            }
            Err(StoreError::Conflict("short_code")) => assert_eq!(code, "takenxyz"),
            Err(StoreError::MissingReference("user")) => assert!(code.starts_with("ghost")),
            Err(other) => panic!("{code}: unexpected error: {other}"),
        }
    }
    assert_eq!(created, 40);
    let events = store
        .events
        .list_events(&EventFilter::default(), ALL)
        .await
        .unwrap();
    assert_eq!(
        events.total, 41,
        "one created event per url, none for a refused create"
    );
}

/// A create whose row the database refuses (PostgreSQL takes no NUL in a text; SQLite
/// does) among many at once: whatever its answer, the creates written with it in one batch
/// are not refused for it.
async fn a_create_the_database_refuses_fails_alone_not_its_batch(store: Stores) {
    let attempts: Vec<_> = (0..40)
        .map(|i| {
            let store = store.clone();
            let code = format!("nul{i:03}");
            let mut url = new_url(&code, None);
            if i == 7 {
                url.title = Some("a title with a \0 in it".to_owned());
            }
            tokio::spawn(async move { (i, store.links.create_url(url).await) })
        })
        .collect();
    for attempt in attempts {
        let (i, result) = attempt.await.unwrap();
        match result {
            Ok(url) => {
                let stored = store.links.get_url(url.id).await.unwrap();
                assert_eq!(stored.as_ref(), Some(&url), "create {i} is stored");
                assert_eq!(events_of(&store, url.id).await.len(), 1);
            }
            Err(err) => {
                assert_eq!(i, 7, "only the refused create fails: {err}");
                let found = store
                    .links
                    .find_link(&ShortCode::parse("nul007").unwrap())
                    .await;
                assert!(matches!(found, Ok(None)), "nothing of it is stored");
            }
        }
    }
}

async fn api_keys_are_found_by_hash_revoked_and_counted(store: Stores) {
    use kurz::domain::api_key::{hash_secret, mint};
    use kurz::domain::{ApiKeyUse, Scope};
    let owner = store
        .users
        .create_user(new_user("keyholder"))
        .await
        .unwrap();
    let minted = mint(
        "ci".into(),
        Scope::Write,
        Some(owner.id),
        Some(ts("2099-01-01 00:00:00")),
    );
    let key = store.keys.create_api_key(minted.key.clone()).await.unwrap();
    assert_eq!(key.scope, Scope::Write);
    assert_eq!(key.user_id, Some(owner.id));
    assert_eq!(key.request_count, 0);

    let found = store
        .keys
        .find_api_key(&hash_secret(&minted.secret))
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(&key));
    assert!(
        store
            .keys
            .find_api_key(&hash_secret("kurz_other"))
            .await
            .unwrap()
            .is_none()
    );

    // A key for a user who does not exist is refused.
    let ghost = mint("ghost".into(), Scope::Write, Some(owner.id + 1000), None);
    assert!(matches!(
        store.keys.create_api_key(ghost.key).await,
        Err(StoreError::MissingReference("user"))
    ));

    // Use counts add up; the last-use time only moves forward.
    let later = ts("2026-06-01 12:00:00");
    let earlier = ts("2026-05-01 12:00:00");
    store
        .keys
        .record_api_key_use(&[ApiKeyUse {
            id: key.id,
            requests: 3,
            last_used_at: later,
        }])
        .await
        .unwrap();
    store
        .keys
        .record_api_key_use(&[ApiKeyUse {
            id: key.id,
            requests: 2,
            last_used_at: earlier,
        }])
        .await
        .unwrap();
    let listed = store.keys.list_api_keys().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].request_count, 5);
    assert_eq!(listed[0].last_used_at, Some(later));

    // Revocation keeps its first time; unknown ids say so.
    assert!(store.keys.revoke_api_key(key.id, later).await.unwrap());
    assert!(
        store
            .keys
            .revoke_api_key(key.id, ts("2027-01-01 00:00:00"))
            .await
            .unwrap()
    );
    let revoked = store
        .keys
        .find_api_key(&hash_secret(&minted.secret))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(later));
    assert_eq!(revoked.unusable_at(later), Some("revoked"));
    assert!(
        !store
            .keys
            .revoke_api_key(key.id + 1000, later)
            .await
            .unwrap()
    );

    // A user's keys go with the user.
    assert!(store.users.delete_user(owner.id).await.unwrap());
    assert!(store.keys.list_api_keys().await.unwrap().is_empty());
}

async fn the_most_clicked_links_come_from_counters_kept_with_the_clicks(store: Stores) {
    let a = store
        .links
        .create_url(new_url("aaa111", None))
        .await
        .unwrap();
    let b = store
        .links
        .create_url(new_url("bbb222", None))
        .await
        .unwrap();
    let c = store
        .links
        .create_url(new_url("ccc333", None))
        .await
        .unwrap();
    let mut batch = clicks_on(&b, 2);
    batch.extend(clicks_on(&a, 3));
    // Refused visits are no clicks: they count for nothing.
    batch.push(Visited {
        blocked: Some("example.com".into()),
        ..clicks_on(&c, 1).remove(0)
    });
    store.events.append_visits(&batch).await.unwrap();
    store.events.append_visits(&clicks_on(&a, 2)).await.unwrap();
    let codes = |links: Vec<Link>| links.into_iter().map(|l| l.short_code).collect::<Vec<_>>();
    assert_eq!(
        codes(store.links.most_clicked(10).await.unwrap()),
        ["aaa111", "bbb222"]
    );
    assert_eq!(
        codes(store.links.most_clicked(1).await.unwrap()),
        ["aaa111"]
    );

    // An inactive link is never worth pre-warming.
    let off = UrlPatch {
        is_active: Some(false),
        ..UrlPatch::default()
    };
    store
        .links
        .update_url(a.id, off, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(
        codes(store.links.most_clicked(10).await.unwrap()),
        ["bbb222"]
    );

    // Imported history is counted too, exactly once however often it is imported.
    let imported: Vec<Event> = (0..4)
        .map(|i| Event {
            id: 1_000 + i,
            url_id: Some(c.id),
            user_id: None,
            event_type: "click".into(),
            timestamp: ts("2025-03-01 00:00:00"),
            details: Map::new(),
        })
        .collect();
    store.events.import_events(&imported).await.unwrap();
    store.events.import_events(&imported).await.unwrap();
    assert_eq!(
        codes(store.links.most_clicked(10).await.unwrap()),
        ["ccc333", "bbb222"]
    );
}

async fn the_newest_unclicked_links_are_the_active_ones_newest_first(store: Stores) {
    for (code, is_active) in [("old111", true), ("off222", false), ("new333", true)] {
        let url = NewUrl {
            is_active,
            ..new_url(code, None)
        };
        store.links.create_url(url).await.unwrap();
    }
    let codes = |links: Vec<Link>| links.into_iter().map(|l| l.short_code).collect::<Vec<_>>();
    assert_eq!(
        codes(store.links.newest_unclicked_links(10).await.unwrap()),
        ["new333", "old111"]
    );
    assert_eq!(
        codes(store.links.newest_unclicked_links(1).await.unwrap()),
        ["new333"]
    );

    // A clicked link is left out, however new: the most clicked name it already.
    let clicked = store
        .links
        .create_url(new_url("hot444", None))
        .await
        .unwrap();
    let click = Event {
        id: 1_000,
        url_id: Some(clicked.id),
        user_id: None,
        event_type: "click".into(),
        timestamp: ts("2025-03-01 00:00:00"),
        details: Map::new(),
    };
    store.events.import_events(&[click]).await.unwrap();
    assert_eq!(
        codes(store.links.most_clicked(10).await.unwrap()),
        ["hot444"]
    );
    assert_eq!(
        codes(store.links.newest_unclicked_links(10).await.unwrap()),
        ["new333", "old111"]
    );
}

async fn a_link_may_be_created_switched_off(store: Stores) {
    let url = store
        .links
        .create_url(NewUrl {
            is_active: false,
            ..new_url("off123", None)
        })
        .await
        .unwrap();
    assert!(!url.is_active);
    let stored = store.links.get_url(url.id).await.unwrap().unwrap();
    assert_eq!(stored, url);
    let link = store
        .links
        .find_link(&ShortCode::parse("off123").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!link.is_active);
}

async fn links_are_found_many_at_a_time_as_one_at_a_time(store: Stores) {
    for (code, is_active) in [("many01", true), ("many02", false), ("Many01", true)] {
        store
            .links
            .create_url(NewUrl {
                is_active,
                ..new_url(code, None)
            })
            .await
            .unwrap();
    }
    let codes: Vec<ShortCode> = ["many01", "many02", "Many01", "nope42", "MANY01"]
        .iter()
        .map(|code| ShortCode::parse(code).unwrap())
        .collect();
    let mut found = store.links.find_links(&codes).await.unwrap();
    found.sort_by(|a, b| a.short_code.cmp(&b.short_code));
    let mut one_by_one = Vec::new();
    for code in &codes {
        one_by_one.extend(store.links.find_link(code).await.unwrap());
    }
    one_by_one.sort_by(|a, b| a.short_code.cmp(&b.short_code));
    assert_eq!(found, one_by_one, "the same links, inactive ones too");
    let found: Vec<&str> = found.iter().map(|link| link.short_code.as_str()).collect();
    assert_eq!(
        found,
        ["Many01", "many01", "many02"],
        "codes are matched exactly"
    );
    assert!(store.links.find_links(&[]).await.unwrap().is_empty());
}

/// A classified click on `link` at `at` by `visitor`.
fn classified(link: &Arc<Link>, at: &str, class: VisitClass, visitor: &str) -> Visited {
    Visited {
        at: ts(at),
        classified: Some(Box::new(Classified {
            visit_class: class,
            browser: "Firefox".into(),
            os: "Linux".into(),
            device: "desktop",
            referrer_host: (class == VisitClass::Human).then(|| "news.example".to_owned()),
            language: None,
            country: None,
            visitor: Some(visitor.into()),
        })),
        ..visit_of(link)
    }
}

async fn click_counters_sum_the_batches_and_count_each_visitor_once_a_day(store: Stores) {
    let url = store
        .links
        .create_url(new_url("stats1", None))
        .await
        .unwrap();
    let link = Arc::new(url.link());
    let human = VisitClass::Human;
    let first = vec![
        classified(&link, "2026-03-01 10:05:00", human, "a"),
        classified(&link, "2026-03-01 10:06:00", human, "a"),
        classified(&link, "2026-03-01 11:00:00", VisitClass::Bot, "b"),
    ];
    // The same visitor again the same day (another batch), and the next day.
    let second = vec![
        classified(&link, "2026-03-01 12:00:00", human, "a"),
        classified(&link, "2026-03-01 12:30:00", VisitClass::Preview, "c"),
        classified(&link, "2026-03-02 09:00:00", human, "a2"),
    ];
    store.events.append_visits(&first).await.unwrap();
    store.events.append_visits(&second).await.unwrap();
    let span = (
        hour_of("2026-03-01 00:00:00"),
        hour_of("2026-03-03 00:00:00"),
    );
    let counters = store.stats.counters(Some(url.id), span).await.unwrap();
    let rows: Vec<(i64, i64, i64, i64, i64)> = counters
        .hours
        .iter()
        .map(|h| (h.bucket - span.0, h.humans, h.bots, h.previews, h.visitors))
        .collect();
    assert_eq!(
        rows,
        [
            (10, 2, 0, 0, 1),
            (11, 0, 1, 0, 0),
            (12, 1, 0, 1, 0),
            (33, 1, 0, 0, 1)
        ]
    );
    let mut referrers: Vec<(String, i64)> = counters
        .dimensions
        .iter()
        .filter(|d| d.dimension == "referrer")
        .map(|d| (d.value.clone(), d.clicks))
        .collect();
    referrers.sort();
    assert_eq!(
        referrers,
        [("news.example".to_owned(), 4)],
        "human clicks only"
    );
    let everything = store.stats.counters(None, span).await.unwrap();
    assert_eq!(everything.top_links.len(), 1);
    assert_eq!(
        (
            everything.top_links[0].url_id,
            everything.top_links[0].humans
        ),
        (url.id, 4)
    );
    let outside = store
        .stats
        .counters(Some(url.id), (0, span.0))
        .await
        .unwrap();
    assert!(outside.hours.is_empty() && outside.dimensions.is_empty());
}

/// How many click events of `url_id` the store lists (its `X-Total-Count`).
async fn clicks_listed(store: &Stores, url_id: i64) -> u64 {
    let filter = EventFilter {
        url_id: Some(url_id),
        event_type: Some("click".into()),
        ..EventFilter::default()
    };
    let one = Page {
        limit: 1,
        offset: 0,
    };
    let listed = store.events.list_events(&filter, one).await.unwrap();
    listed.total as u64
}

/// The hours of 2026-03-01, as the counters' span.
fn march_first() -> (i64, i64) {
    (
        hour_of("2026-03-01 00:00:00"),
        hour_of("2026-03-02 00:00:00"),
    )
}

/// More rows than SQLite takes parameters in one statement (events bind five a row,
/// visitors four): several statements of one transaction, every row counted once, and the
/// batch written again under its key adds nothing.
async fn a_click_batch_larger_than_one_statement_is_written_whole(store: Stores) {
    let url = store
        .links
        .create_url(new_url("large1", None))
        .await
        .unwrap();
    let link = Arc::new(url.link());
    let humans = (0..14_000).map(|i| {
        let visitor = format!("v{}", i % 9_000);
        classified(&link, "2026-03-01 10:05:00", VisitClass::Human, &visitor)
    });
    let bots = (0..1_000).map(|i| {
        classified(
            &link,
            "2026-03-01 10:10:00",
            VisitClass::Bot,
            &format!("b{i}"),
        )
    });
    let batch: Vec<Visited> = humans.chain(bots).collect();
    store.events.append_batch(&batch, 42).await.unwrap();
    store.events.append_batch(&batch, 42).await.unwrap();
    assert_eq!(clicks_listed(&store, url.id).await, 15_000);
    let span = march_first();
    let counters = store.stats.counters(Some(url.id), span).await.unwrap();
    let rows: Vec<(i64, i64, i64, i64)> = counters
        .hours
        .iter()
        .map(|h| (h.bucket - span.0, h.humans, h.bots, h.visitors))
        .collect();
    assert_eq!(rows, [(10, 14_000, 1_000, 9_000)]);
    let agents: Vec<(String, i64)> = counters
        .agents
        .iter()
        .map(|a| (a.browser.clone(), a.clicks))
        .collect();
    assert_eq!(agents, [("Firefox".to_owned(), 14_000)]);
    let everything = store.stats.counters(None, span).await.unwrap();
    assert_eq!(everything.top_links[0].humans, 14_000);
}

async fn clicks_past_retention_go_in_slices_and_their_counters_stay(store: Stores) {
    let url = store
        .links
        .create_url(new_url("kept1", None))
        .await
        .unwrap();
    let link = Arc::new(url.link());
    let old: Vec<Visited> = (0..5)
        .map(|i| {
            let at = format!("2026-03-01 10:0{i}:00");
            classified(&link, &at, VisitClass::Human, "a")
        })
        .collect();
    store.events.append_visits(&old).await.unwrap();
    let recent = vec![
        Visited {
            at: Timestamp::now(),
            ..classified(&link, "2026-03-01 10:00:00", VisitClass::Human, "b")
        },
        visit_of(&link),
    ];
    store.events.append_visits(&recent).await.unwrap();
    let span = (
        hour_of("2026-03-01 00:00:00"),
        hour_of("2026-03-02 00:00:00"),
    );
    let before = store.stats.counters(Some(url.id), span).await.unwrap();
    assert_eq!(before.hours.iter().map(|h| h.humans).sum::<i64>(), 5);

    // One slice of two ids, then passes until nothing is older than 30 days.
    let cutoff = ts("2026-06-01 00:00:00");
    assert_eq!(store.events.forget_clicks(cutoff, 2).await.unwrap(), 2);
    let rest = kurz::clicks::retention::forget_old_clicks(store.events.as_ref(), 30).await;
    assert_eq!(rest, 3);
    assert_eq!(
        kurz::clicks::retention::forget_old_clicks(store.events.as_ref(), 30).await,
        0
    );

    let events = events_of(&store, url.id).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        ["created", "click", "click"],
        "the recent clicks stay"
    );
    let after = store.stats.counters(Some(url.id), span).await.unwrap();
    assert_eq!(after.hours, before.hours, "the counters stay");
    assert_eq!(after.dimensions.len(), before.dimensions.len());
}

async fn a_click_batch_written_again_under_its_key_is_stored_once(store: Stores) {
    let url = store
        .links
        .create_url(new_url("once1", None))
        .await
        .unwrap();
    let link = Arc::new(url.link());
    let batch = vec![
        classified(&link, "2026-03-01 10:05:00", VisitClass::Human, "a"),
        classified(&link, "2026-03-01 10:06:00", VisitClass::Bot, "b"),
    ];
    // The retry of a batch whose commit went through unanswered, then another batch.
    store.events.append_batch(&batch, 7).await.unwrap();
    store.events.append_batch(&batch, 7).await.unwrap();
    store.events.append_batch(&batch, 8).await.unwrap();
    let clicks = events_of(&store, url.id)
        .await
        .into_iter()
        .filter(|e| e.event_type == "click")
        .count();
    assert_eq!(clicks, 4, "twice the batch, not three times");
    let span = (
        hour_of("2026-03-01 00:00:00"),
        hour_of("2026-03-02 00:00:00"),
    );
    let counters = store.stats.counters(Some(url.id), span).await.unwrap();
    let counted: Vec<(i64, i64)> = counters.hours.iter().map(|h| (h.humans, h.bots)).collect();
    assert_eq!(counted, [(2, 2)]);
    let most = store.links.most_clicked(1).await.unwrap();
    assert_eq!(most.len(), 1);
}

async fn a_day_has_one_visitor_key_and_old_keys_are_forgotten(store: Stores) {
    let monday = store.stats.visitor_key(20_000).await.unwrap();
    assert_eq!(
        store.stats.visitor_key(20_000).await.unwrap(),
        monday,
        "one key a day"
    );
    let tuesday = store.stats.visitor_key(20_001).await.unwrap();
    assert_ne!(tuesday, monday);
    // Two days on, Monday's key is gone: asking for it makes a new one.
    store.stats.visitor_key(20_002).await.unwrap();
    assert_ne!(store.stats.visitor_key(20_000).await.unwrap(), monday);
}

async fn a_visit_cap_counts_exactly_under_concurrent_spends(store: Stores) {
    let url = store
        .links
        .create_url(new_url("capped", None))
        .await
        .unwrap();
    let other = store
        .links
        .create_url(new_url("other1", None))
        .await
        .unwrap();
    assert_eq!(store.links.visits_spent(url.id).await.unwrap(), 0);
    let spends = (0..60).map(|i| {
        let links = store.links.clone();
        let id = if i % 6 == 0 { other.id } else { url.id };
        tokio::spawn(async move { (id, links.spend_visit(id, 20).await.unwrap()) })
    });
    let mut granted = std::collections::HashMap::new();
    for spend in spends {
        let (id, spent) = spend.await.unwrap();
        *granted.entry(id).or_insert(0) += i32::from(spent);
    }
    assert_eq!(granted[&url.id], 20, "exactly the cap, of 50 asking");
    assert_eq!(granted[&other.id], 10, "another link's cap is its own");
    assert_eq!(store.links.visits_spent(url.id).await.unwrap(), 20);
    // A raised cap lets more through; the count goes on from where it was.
    assert!(store.links.spend_visit(url.id, 21).await.unwrap());
    assert!(!store.links.spend_visit(url.id, 21).await.unwrap());
    // Deleting the link forgets its count.
    store
        .links
        .delete_url(url.id, ts("2026-01-01 00:00:00"))
        .await
        .unwrap();
    assert_eq!(store.links.visits_spent(url.id).await.unwrap(), 0);
}

async fn link_settings_and_password_hashes_round_trip(store: Stores) {
    let settings = LinkSettings {
        expires_at: Some(ts("2030-01-01 00:00:00")),
        max_clicks: Some(5),
        fallback_url: Some("https://example.com/later".into()),
        redirect_type: Some(307),
        rules: vec![Rule {
            when: When {
                device: Some(Device::Ios),
                country: Some("DE".into()),
                ..When::default()
            },
            target: "https://example.com/ios".into(),
        }],
        variants: Vec::new(),
    };
    let hash = PasswordHash::new("open sesame").unwrap();
    let mut new = new_url("ruled1", None);
    new.settings = Some(settings.clone());
    new.password_hash = Some(hash.clone());
    let url = store.links.create_url(new).await.unwrap();
    let stored = store.links.get_url(url.id).await.unwrap().unwrap();
    assert_eq!(stored.settings.as_ref(), Some(&settings));
    assert!(
        stored
            .password_hash
            .as_ref()
            .is_some_and(|h| h.verify("open sesame"))
    );
    let link = store
        .links
        .find_link(&ShortCode::parse("ruled1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link, stored.link());
    // The view shows that a password is set, never the hash.
    let shown = serde_json::to_value(&stored).unwrap();
    assert_eq!(shown["has_password"], true);
    assert_eq!(shown["max_clicks"], 5);
    assert_eq!(shown["rules"][0]["when"]["device"], "ios");
    assert!(!shown.to_string().contains("argon2"), "{shown}");

    // An update changes some settings, keeps the others, removes the password, and says
    // so in its events without any trace of the password.
    let patch = UrlPatch {
        settings: SettingsPatch {
            max_clicks: Some(None),
            rules: Some(Vec::new()),
            ..SettingsPatch::default()
        },
        password: Some(None),
        ..UrlPatch::default()
    };
    let updated = store
        .links
        .update_url(url.id, patch, ts("2026-01-02 00:00:00"))
        .await
        .unwrap()
        .unwrap();
    let kept = updated.settings.clone().unwrap();
    assert_eq!((kept.max_clicks, kept.rules.len()), (None, 0));
    assert_eq!(kept.redirect_type, Some(307));
    assert!(updated.password_hash.is_none());
    assert_eq!(store.links.get_url(url.id).await.unwrap().unwrap(), updated);
    let changed: Vec<(String, String)> = events_of(&store, url.id)
        .await
        .into_iter()
        .filter(|e| e.event_type == "updated")
        .map(|e| {
            let field = e.details["field"].as_str().unwrap_or_default().to_owned();
            (
                field,
                e.details["new_value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [
            ("max_clicks".to_owned(), String::new()),
            ("rules".to_owned(), "[]".to_owned()),
            ("password".to_owned(), "removed".to_owned()),
        ]
    );
    // Nothing left set: the link is plain again.
    let patch = UrlPatch {
        settings: SettingsPatch {
            expires_at: Some(None),
            fallback_url: Some(None),
            redirect_type: Some(None),
            ..SettingsPatch::default()
        },
        ..UrlPatch::default()
    };
    let plain = store
        .links
        .update_url(url.id, patch, ts("2026-01-03 00:00:00"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(plain.settings, None);
}

/// A database that held urls and events before the embedded store kept their numbers
/// (migrations 0010 and 0011) lists them with the right totals once migrated, and the kept
/// numbers follow from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_counts_the_urls_and_events_it_held_before_it_kept_their_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kurz.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let older = before(sqlx::migrate!("./migrations/sqlite"), 10);
    let mut conn: sqlx::SqliteConnection = sqlx::ConnectOptions::connect(&options).await.unwrap();
    older.run(&mut conn).await.unwrap();
    for code in ["old1", "old2", "old3"] {
        sqlx::query(
            "INSERT INTO urls (short_code, original_url, is_active, created_at, updated_at) \
             VALUES ($1, 'https://example.com/', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        )
        .bind(code)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    for event_type in ["click", "click", "noted"] {
        sqlx::query(
            "INSERT INTO events (event_type, timestamp) VALUES ($1, '2026-01-01 00:00:00')",
        )
        .bind(event_type)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    sqlx::Connection::close(conn).await.unwrap();
    let store = SqliteStore::open(&path, 4, Duration::from_secs(5))
        .await
        .unwrap();
    let store = migrated(store).await;
    let total = || async {
        store
            .links
            .list_urls(&UrlFilter::default(), ALL)
            .await
            .unwrap()
            .total
    };
    let events = |event_type| events_total(&store, event_type);
    assert_eq!(total().await, 3, "the urls held before the migration");
    assert_eq!(
        events(None).await,
        3,
        "the events held before the migration"
    );
    assert_eq!(events(Some("click")).await, 2);
    // Read straight: a type without its row would be counted when listed.
    let mut conn: sqlx::SqliteConnection = sqlx::ConnectOptions::connect(&options).await.unwrap();
    let kept: Vec<(String, i64)> = sqlx::query_as("SELECT name, n FROM row_counts ORDER BY name")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    sqlx::Connection::close(conn).await.unwrap();
    let kept: Vec<(&str, i64)> = kept.iter().map(|(name, n)| (name.as_str(), *n)).collect();
    assert_eq!(
        kept,
        [
            ("events", 3),
            ("events:click", 2),
            ("events:noted", 1),
            ("urls", 3)
        ]
    );
    store.links.create_url(new_url("new1", None)).await.unwrap();
    assert_eq!(total().await, 4);
    assert_eq!((events(None).await, events(Some("created")).await), (4, 1));
}

/// A PostgreSQL database that held events before their numbers were kept (migration 0009)
/// lists them with the right totals once migrated, and the triggers count from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_counts_the_events_it_held_before_it_kept_their_number() {
    let (database, mut conn) = postgres_before(9).await;
    sqlx::query(
        "INSERT INTO events (event_type, timestamp) \
         SELECT CASE WHEN i % 3 = 0 THEN 'noted' ELSE 'click' END, now() FROM generate_series(1, 30) AS i",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::Connection::close(conn).await.unwrap();
    let store = PostgresStore::connect(&database.url, &postgres_options()).unwrap();
    let store = migrated(store).await;
    let events = |event_type| events_total(&store, event_type);
    assert_eq!(
        events(None).await,
        30,
        "the events held before the migration"
    );
    assert_eq!(
        (events(Some("click")).await, events(Some("noted")).await),
        (20, 10)
    );
    store
        .links
        .create_url(new_url("pgnew1", None))
        .await
        .unwrap();
    assert_eq!((events(None).await, events(Some("created")).await), (31, 1));
}

/// A PostgreSQL database as the release before migration 0010 left it, holding 20,000
/// events, a tenth of them on link 1; and a connection to it.
async fn postgres_before_events_by_link_in_order() -> (Database, sqlx::PgConnection) {
    let (database, mut conn) = postgres_before(10).await;
    sqlx::query(
        "INSERT INTO events (url_id, event_type, timestamp) \
         SELECT CASE WHEN i % 10 = 0 THEN 1 ELSE i % 1000 + 1 END, 'click', now() \
         FROM generate_series(1, 20000) AS i",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    (database, conn)
}

/// The events' indexes by link, each with its definition and whether it serves.
async fn events_indexes_by_link(conn: &mut sqlx::PgConnection) -> Vec<(String, String, bool)> {
    sqlx::query_as(
        "SELECT c.relname::text, pg_get_indexdef(i.indexrelid), i.indisvalid \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE i.indrelid = 'events'::regclass AND pg_get_indexdef(i.indexrelid) LIKE '%(url_id%' \
         ORDER BY 1",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

fn by_link_and_id() -> Vec<(String, String, bool)> {
    vec![(
        "events_url_id_id".to_owned(),
        "CREATE INDEX events_url_id_id ON public.events USING btree (url_id, id)".to_owned(),
        true,
    )]
}

/// A link's page of events on PostgreSQL comes in id order straight from the index by link
/// and id (migration 0010), under the plan for any link that kurz's prepared statements
/// settle on, instead of all of the link's events fetched and sorted; and an index built
/// beforehand by the operator without a lock (DEPLOY.md) is kept by the migration, not
/// built again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reads_a_links_events_in_order_from_its_index() {
    let (database, mut conn) = postgres_before_events_by_link_in_order().await;
    sqlx::query("CREATE INDEX CONCURRENTLY events_url_id_id ON events (url_id, id)")
        .execute(&mut conn)
        .await
        .unwrap();
    let built = "SELECT 'events_url_id_id'::regclass::oid::bigint";
    let beforehand: i64 = sqlx::query_scalar(built)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let store = PostgresStore::connect(&database.url, &postgres_options()).unwrap();
    let store = migrated(store).await;
    assert_eq!(
        events_indexes_by_link(&mut conn).await,
        by_link_and_id(),
        "one index by link"
    );
    let kept: i64 = sqlx::query_scalar(built)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(kept, beforehand, "the index built beforehand, kept");
    // The text of a page of one link's events, as kurz's list writes it.
    let explained = sqlx::raw_sql(
        "SET plan_cache_mode = force_generic_plan; ANALYZE events; \
         PREPARE page (bigint, bigint, bigint, bigint) AS \
         SELECT (SELECT count(*) FROM events WHERE url_id = $1) AS total, page.* FROM \
         (SELECT id, url_id, user_id, event_type, timestamp, details FROM events \
         WHERE url_id = $2 ORDER BY id LIMIT $3 OFFSET $4) AS page ORDER BY page.id; \
         EXPLAIN (FORMAT JSON) EXECUTE page (1, 1, 10, 0)",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let plan = sqlx::Row::get::<Value, _>(explained.last().unwrap(), 0).to_string();
    assert!(
        plan.contains(r#""Index Name":"events_url_id_id""#) && !plan.contains("Sort"),
        "a link's page read in order from its index: {plan}"
    );
    let page = store
        .events
        .list_events(
            &EventFilter {
                url_id: Some(1),
                ..Default::default()
            },
            Page {
                limit: 3,
                offset: 1_000,
            },
        )
        .await
        .unwrap();
    let ids: Vec<i64> = page.items.iter().map(|e| e.id).collect();
    assert_eq!((ids, page.total), (vec![10_010, 10_020, 10_030], 2_000));
}

/// A concurrent build of the index by link and id that failed left an invalid index of its
/// name: migration 0010 builds the index again rather than keep that one and drop the old
/// index for nothing that serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_builds_again_an_index_by_link_whose_concurrent_build_failed() {
    let (database, mut conn) = postgres_before_events_by_link_in_order().await;
    // Unique by link alone: the build fails on the link's second event, leaving the index.
    let failed =
        sqlx::query("CREATE UNIQUE INDEX CONCURRENTLY events_url_id_id ON events (url_id)")
            .execute(&mut conn)
            .await;
    assert!(failed.is_err(), "the concurrent build failed");
    assert_eq!(
        events_indexes_by_link(&mut conn).await.len(),
        2,
        "the old index and the invalid one"
    );
    let store = PostgresStore::connect(&database.url, &postgres_options()).unwrap();
    migrated(store).await;
    assert_eq!(events_indexes_by_link(&mut conn).await, by_link_and_id());
}

/// Migrations run without the statement timeout that requests have: migration 0009 counts
/// every event the database holds, which takes longer than a request may. The pool's
/// connections keep their timeout afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrates_a_large_table_beyond_the_statement_timeout() {
    let (database, mut conn) = postgres_before(9).await;
    sqlx::query(
        "INSERT INTO events (url_id, event_type, timestamp) \
         SELECT 1, 'click', now() FROM generate_series(1, 300000)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let options = PostgresOptions {
        statement_timeout: Duration::from_millis(1),
        ..postgres_options()
    };
    let store = PostgresStore::connect(&database.url, &options).unwrap();
    let store = migrated(store).await;
    let counted: i64 =
        sqlx::query_scalar("SELECT sum(n)::bigint FROM row_counts WHERE name = 'events:click'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(counted, 300_000, "the events counted by the migration");
    // Counting one link's 300,000 events takes longer than a millisecond.
    let link = EventFilter {
        url_id: Some(1),
        ..EventFilter::default()
    };
    match store.events.list_events(&link, ALL).await {
        Err(err) => assert!(
            err.to_string().contains("statement timeout"),
            "a request's statement still has its timeout: {err}"
        ),
        Ok(page) => panic!("listed {} events within a millisecond", page.total),
    }
}

/// Events written without being counted, as a release from before the embedded store kept
/// their numbers writes them (a rollback to it, then this release again), are found by the
/// store once it serves, and counted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_counts_again_the_events_an_earlier_release_wrote() {
    let db = sqlite().await;
    let store = &db.store;
    store
        .links
        .create_url(new_url("before1", None))
        .await
        .unwrap();
    let path = db._dir.as_ref().unwrap().path().join("kurz.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
    let mut older: sqlx::SqliteConnection = sqlx::ConnectOptions::connect(&options).await.unwrap();
    for event_type in ["click", "click", "noted"] {
        sqlx::query(
            "INSERT INTO events (event_type, timestamp) VALUES ($1, '2026-01-01 00:00:00')",
        )
        .bind(event_type)
        .execute(&mut older)
        .await
        .unwrap();
    }
    sqlx::query("DELETE FROM events WHERE event_type = 'created'")
        .execute(&mut older)
        .await
        .unwrap();
    sqlx::Connection::close(older).await.unwrap();
    let totals = || async {
        let mut totals = Vec::new();
        for event_type in [None, Some("click"), Some("created")] {
            totals.push(events_total(store, event_type).await);
        }
        totals
    };
    // The clicks have no count yet: they are counted when listed.
    assert_eq!(totals().await, [1, 2, 1], "the counts before the check");

    store.schema.start_upkeep();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while totals().await != [3, 2, 0] {
        assert!(
            std::time::Instant::now() < deadline,
            "the counts were not made again: {:?}",
            totals().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// On the embedded store the WAL is copied into the database file beside the writer: the
/// file grows after a few hundred pages of writes, which the writer's own commits would only
/// copy past 10,000 (SQLite's default, 1,000, is not reached either).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_checkpoints_its_wal_beside_the_writer() {
    let db = sqlite().await;
    let path = db._dir.as_ref().unwrap().path().join("kurz.db");
    let size = || std::fs::metadata(&path).unwrap().len();
    let url = db
        .store
        .links
        .create_url(new_url("wal1", None))
        .await
        .unwrap();
    // Whatever the migrations left in the WAL is copied first.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before = size();
    db.store
        .events
        .append_batch(&clicks_on(&url, 5_000), 1)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while size() <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL was not checkpointed into the database file ({before} bytes)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The embedded store writes a large click batch in transactions of 2,048 visits, each
/// under a key of its own: a retry after the first of them was written (its answer lost)
/// writes the rest, once. The first transaction is played here by the batch's first 2,048
/// visits appended alone under the batch's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_click_batch_writes_only_its_transactions_not_yet_written() {
    let db = sqlite().await;
    let url = db
        .store
        .links
        .create_url(new_url("part1", None))
        .await
        .unwrap();
    let link = Arc::new(url.link());
    let batch: Vec<Visited> = (0..5_000)
        .map(|i| {
            let visitor = format!("v{}", i % 3_000);
            classified(&link, "2026-03-01 10:05:00", VisitClass::Human, &visitor)
        })
        .collect();
    db.store
        .events
        .append_batch(&batch[..2_048], 7)
        .await
        .unwrap();
    db.store.events.append_batch(&batch, 7).await.unwrap();
    db.store.events.append_batch(&batch, 7).await.unwrap();
    assert_eq!(
        clicks_listed(&db.store, url.id).await,
        5_000,
        "every visit once"
    );
    let counters = db
        .store
        .stats
        .counters(Some(url.id), march_first())
        .await
        .unwrap();
    let rows: Vec<(i64, i64)> = counters
        .hours
        .iter()
        .map(|h| (h.humans, h.visitors))
        .collect();
    assert_eq!(rows, [(5_000, 3_000)], "humans and visitors counted once");
}

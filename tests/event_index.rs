//! The embedded store's events by link and by user, read through the index file kept beside
//! the database (`kurz.db-index`) by an indexer of its own: every listing must be exact
//! whether the events it finds are indexed yet or not, after imports that give events ids
//! of their own, after retention, and when the file is lost or damaged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::records::{clicks_at, clicks_on, new_url, new_user};
use common::wait::eventually;
use kurz::domain::{Event, Timestamp};
use kurz::store::{EventFilter, Page, SqliteStore, Stores};
use serde_json::Map;
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ALL: Page = Page {
    limit: 100_000,
    offset: 0,
};

/// The store as a command opens it: migrated, no indexer.
async fn open_for_a_command(dir: &Path) -> Stores {
    let store = SqliteStore::open(&dir.join("kurz.db"), 4, Duration::from_secs(5))
        .await
        .unwrap();
    let stores = Stores::of(store);
    stores.schema.migrate().await.unwrap();
    stores
}

/// The store as the service opens it: migrated, indexing.
async fn open(dir: &Path) -> Stores {
    let stores = open_for_a_command(dir).await;
    stores.schema.start_upkeep();
    stores
}

fn index_file(dir: &Path) -> PathBuf {
    dir.join("kurz.db-index")
}

/// A read-only connection of the test's own to a file of the store.
async fn look_into(file: &Path) -> sqlx::SqliteConnection {
    connect_to(file, true).await
}

/// A connection of the test's own to a file of the store, to change it behind the store.
async fn write_into(file: &Path) -> sqlx::SqliteConnection {
    connect_to(file, false).await
}

async fn connect_to(file: &Path, read_only: bool) -> sqlx::SqliteConnection {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(file)
        .read_only(read_only);
    sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap()
}

/// What the index file says: the generation it was built for, the last event id indexed,
/// and its entries by link and by user.
async fn index_state(dir: &Path) -> (Option<i64>, i64, i64, i64) {
    let mut index = look_into(&index_file(dir)).await;
    let (generation, upto): (Option<i64>, i64) =
        sqlx::query_as("SELECT generation, upto FROM indexed")
            .fetch_one(&mut index)
            .await
            .unwrap();
    let (by_url,): (i64,) = sqlx::query_as("SELECT count(*) FROM events_by_url")
        .fetch_one(&mut index)
        .await
        .unwrap();
    let (by_user,): (i64,) = sqlx::query_as("SELECT count(*) FROM events_by_user")
        .fetch_one(&mut index)
        .await
        .unwrap();
    index.close().await.unwrap();
    (generation, upto, by_url, by_user)
}

/// The database's generation of its events.
async fn generation(dir: &Path) -> i64 {
    let mut database = look_into(&dir.join("kurz.db")).await;
    let (generation,): (i64,) = sqlx::query_as("SELECT generation FROM event_marks")
        .fetch_one(&mut database)
        .await
        .unwrap();
    database.close().await.unwrap();
    generation
}

/// Waits until every event in `store` is indexed, for the database's generation, with one
/// entry per event that names a link and one per event that names a user.
async fn indexed_whole(dir: &Path, store: &Stores) {
    let events = all_events(store).await;
    let last = events.iter().map(|e| e.id).max().unwrap_or(0);
    let with_url = events.iter().filter(|e| e.url_id.is_some()).count() as i64;
    let with_user = events.iter().filter(|e| e.user_id.is_some()).count() as i64;
    eventually("the events indexed", Duration::from_secs(20), || async {
        let wanted = (Some(generation(dir).await), last, with_url, with_user);
        let state = index_state(dir).await;
        if state.0 == wanted.0 && state.1 >= last && (state.2, state.3) == (with_url, with_user) {
            Ok(())
        } else {
            Err(format!("index {state:?}, events {wanted:?}"))
        }
    })
    .await;
}

async fn all_events(store: &Stores) -> Vec<Event> {
    let filter = EventFilter::default();
    store.events.list_events(&filter, ALL).await.unwrap().items
}

/// Every filter by link, user and type (and a page of each) lists what filtering all the
/// events gives.
async fn listings_are_exact(store: &Stores, urls: &[i64], users: &[i64]) {
    let events = all_events(store).await;
    let mut filters = Vec::new();
    for url in urls.iter().map(|u| Some(*u)).chain([None]) {
        for user in users.iter().map(|u| Some(*u)).chain([None]) {
            for event_type in [None, Some("click".to_owned())] {
                filters.push(EventFilter {
                    url_id: url,
                    user_id: user,
                    event_type,
                });
            }
        }
    }
    for filter in filters {
        let wanted: Vec<i64> = events
            .iter()
            .filter(|e| filter.url_id.is_none_or(|id| e.url_id == Some(id)))
            .filter(|e| filter.user_id.is_none_or(|id| e.user_id == Some(id)))
            .filter(|e| {
                filter
                    .event_type
                    .as_ref()
                    .is_none_or(|t| &e.event_type == t)
            })
            .map(|e| e.id)
            .collect();
        let listed = store.events.list_events(&filter, ALL).await.unwrap();
        let ids: Vec<i64> = listed.items.iter().map(|e| e.id).collect();
        assert_eq!(ids, wanted, "{filter:?}");
        assert_eq!(listed.total, wanted.len() as i64, "{filter:?}");
        let page = Page {
            limit: 7,
            offset: 3,
        };
        let paged = store.events.list_events(&filter, page).await.unwrap();
        let ids: Vec<i64> = paged.items.iter().map(|e| e.id).collect();
        let wanted_page: Vec<i64> = wanted.iter().skip(3).take(7).copied().collect();
        assert_eq!(ids, wanted_page, "{filter:?}, a page");
        assert_eq!(paged.total, wanted.len() as i64, "{filter:?}, a page");
    }
}

/// The listings exact as they are, then once every event is indexed.
async fn exact_before_and_after_indexing(dir: &Path, store: &Stores, urls: &[i64], users: &[i64]) {
    listings_are_exact(store, urls, users).await;
    indexed_whole(dir, store).await;
    listings_are_exact(store, urls, users).await;
}

/// A store in `dir` with [`links_with_clicks`], every event indexed, then closed.
async fn indexed_and_closed(dir: &Path) -> (Vec<i64>, Vec<i64>) {
    let store = open(dir).await;
    let (urls, users) = links_with_clicks(&store).await;
    indexed_whole(dir, &store).await;
    store.schema.close().await;
    (urls, users)
}

/// Two users' links and one of nobody's, with clicks.
async fn links_with_clicks(store: &Stores) -> (Vec<i64>, Vec<i64>) {
    let ann = store.users.create_user(new_user("ann")).await.unwrap();
    let bob = store.users.create_user(new_user("bob")).await.unwrap();
    let mut urls = Vec::new();
    for (code, owner, n) in [
        ("ann1", Some(ann.id), 40),
        ("bob1", Some(bob.id), 25),
        ("nobody1", None, 10),
    ] {
        let url = store.links.create_url(new_url(code, owner)).await.unwrap();
        store
            .events
            .append_visits(&clicks_on(&url, n))
            .await
            .unwrap();
        urls.push(url.id);
    }
    (urls, vec![ann.id, bob.id])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_by_link_and_user_are_listed_exactly_before_and_after_they_are_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (urls, users) = links_with_clicks(&store).await;
    exact_before_and_after_indexing(dir.path(), &store, &urls, &users).await;

    // Some indexed, some not yet: read as one.
    let url = store.links.get_url(urls[0]).await.unwrap().unwrap();
    store
        .events
        .append_visits(&clicks_on(&url, 30))
        .await
        .unwrap();
    listings_are_exact(&store, &urls, &users).await;
    indexed_whole(dir.path(), &store).await;

    // The database itself no longer indexes events by link or user: that is the point.
    let mut database = look_into(&dir.path().join("kurz.db")).await;
    let indexes: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'",
    )
    .fetch_all(&mut database)
    .await
    .unwrap();
    assert!(
        indexes
            .iter()
            .all(|(name,)| name != "events_url_id" && name != "events_user_id"),
        "{indexes:?}"
    );
    store.schema.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_opened_for_a_command_indexes_nothing_and_reads_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_for_a_command(dir.path()).await;
    let (urls, users) = links_with_clicks(&store).await;
    store.schema.close().await;

    // Opened again, as `kurz export` or `kurz keys` would: the events are there to index,
    // and none is indexed (an export's snapshot is deleted right after), yet every listing
    // is exact.
    let store = open_for_a_command(dir.path()).await;
    let (_, upto, by_url, by_user) = index_state(dir.path()).await;
    assert_eq!((upto, by_url, by_user), (0, 0, 0));
    listings_are_exact(&store, &urls, &users).await;
    store.schema.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_opens_the_store_while_the_services_indexer_writes_the_index_file() {
    let dir = tempfile::tempdir().unwrap();
    let (urls, users) = indexed_and_closed(dir.path()).await;

    // The service's indexer in the middle of a pass: the index file's write lock taken.
    let mut indexer = write_into(&index_file(dir.path())).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut indexer)
        .await
        .unwrap();
    // A command opens, migrates and reads without waiting for it (its busy timeout short,
    // so that waiting would fail the test, not slow it).
    let store = SqliteStore::open(&dir.path().join("kurz.db"), 2, Duration::from_millis(500))
        .await
        .expect("the store opens beside a busy indexer");
    let stores = Stores::of(store);
    stores.schema.migrate().await.expect("and migrates");
    listings_are_exact(&stores, &urls, &users).await;
    stores.schema.close().await;
    sqlx::query("ROLLBACK").execute(&mut indexer).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_events_are_listed_at_once_and_their_index_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (urls, users) = links_with_clicks(&store).await;
    indexed_whole(dir.path(), &store).await;
    let before = generation(dir.path()).await;

    // An import gives events ids of its own: one below every indexed id names another link
    // now, and one is new, far above.
    let clicked: Vec<Event> = all_events(&store)
        .await
        .into_iter()
        .filter(|e| e.url_id == Some(urls[0]) && e.event_type == "click")
        .collect();
    let moved = Event {
        url_id: Some(urls[1]),
        user_id: Some(users[1]),
        ..clicked[0].clone()
    };
    let far = Event {
        id: 50_000,
        url_id: Some(urls[1]),
        user_id: None,
        event_type: "imported".into(),
        timestamp: Timestamp::now(),
        details: Map::new(),
    };
    store
        .events
        .import_events(&[moved.clone(), far])
        .await
        .unwrap();
    assert_ne!(
        generation(dir.path()).await,
        before,
        "an import draws a new generation"
    );

    let of_bob_link = EventFilter {
        url_id: Some(urls[1]),
        ..EventFilter::default()
    };
    let listed: Vec<i64> = store
        .events
        .list_events(&of_bob_link, ALL)
        .await
        .unwrap()
        .items
        .iter()
        .map(|e| e.id)
        .collect();
    assert!(
        listed.contains(&moved.id) && listed.contains(&50_000),
        "{listed:?}"
    );
    exact_before_and_after_indexing(dir.path(), &store, &urls, &users).await;
    store.schema.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_or_damaged_index_file_is_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let (urls, users) = indexed_and_closed(dir.path()).await;

    for damage in ["garbage", "gone"] {
        for file in SqliteStore::derived_files(&dir.path().join("kurz.db")) {
            let _ = std::fs::remove_file(file);
        }
        if damage == "garbage" {
            std::fs::write(index_file(dir.path()), vec![0x5a; 8192]).unwrap();
        }
        let store = open(dir.path()).await;
        exact_before_and_after_indexing(dir.path(), &store, &urls, &users).await;
        store.schema.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_clicks_past_retention_are_swept_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let url = store
        .links
        .create_url(new_url("kept1", None))
        .await
        .unwrap();
    let old = Timestamp::parse("2026-03-01 10:00:00").unwrap();
    store
        .events
        .append_visits(&clicks_at(&url, 50, old))
        .await
        .unwrap();
    store
        .events
        .append_visits(&clicks_on(&url, 5))
        .await
        .unwrap();
    indexed_whole(dir.path(), &store).await;
    let (_, _, entries, _) = index_state(dir.path()).await;
    assert_eq!(entries, 56, "the created event and 55 clicks");

    let forgotten = store
        .events
        .forget_clicks(Timestamp::parse("2026-04-01 00:00:00").unwrap(), 1_000)
        .await
        .unwrap();
    assert_eq!(forgotten, 50);
    // Counted without the 50 at once: below the bound retention has looked at, every entry
    // is checked against the events.
    listings_are_exact(&store, &[url.id], &[]).await;
    // A page far past the end (a page number that saturated): empty, the total right.
    let filter = EventFilter {
        url_id: Some(url.id),
        ..EventFilter::default()
    };
    let far = Page {
        limit: 100,
        offset: i64::MAX - 50,
    };
    let listed = store.events.list_events(&filter, far).await.unwrap();
    assert_eq!((listed.items.len(), listed.total), (0, 6));
    eventually(
        "the forgotten clicks' entries swept",
        Duration::from_secs(40),
        || async {
            match index_state(dir.path()).await {
                (_, _, 6, _) => Ok(()),
                state => Err(format!("{state:?}")),
            }
        },
    )
    .await;
    listings_are_exact(&store, &[url.id], &[]).await;
    store.schema.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_clear_the_index_names_nothing_that_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (urls, users) = links_with_clicks(&store).await;
    indexed_whole(dir.path(), &store).await;
    let before = generation(dir.path()).await;

    // A restore with --force clears every table first; new events then take ids past the
    // old ones, so an index of the old events must not be read (counted) against them.
    store.transfer.clear().await.unwrap();
    assert_ne!(
        generation(dir.path()).await,
        before,
        "a clear draws a new generation"
    );
    let (new_urls, new_users) = links_with_clicks(&store).await;
    for gone in &urls {
        let filter = EventFilter {
            url_id: Some(*gone),
            ..EventFilter::default()
        };
        let listed = store.events.list_events(&filter, ALL).await.unwrap();
        assert_eq!((listed.total, listed.items.len()), (0, 0), "link {gone}");
    }
    let all: Vec<i64> = urls.iter().chain(&new_urls).copied().collect();
    let everyone: Vec<i64> = users.iter().chain(&new_users).copied().collect();
    exact_before_and_after_indexing(dir.path(), &store, &all, &everyone).await;
    store.schema.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_file_ahead_of_the_database_is_made_again_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let (urls, users) = indexed_and_closed(dir.path()).await;

    // As after a crash of the machine that kept the index file's last pass and lost the
    // database's last commits: the index names ids the database will hand out again.
    let (_, upto, _, _) = index_state(dir.path()).await;
    let mut index = write_into(&index_file(dir.path())).await;
    sqlx::query("UPDATE indexed SET upto = upto + 100")
        .execute(&mut index)
        .await
        .unwrap();
    sqlx::query("INSERT INTO events_by_url (url_id, event_id) VALUES ($1, $2)")
        .bind(urls[1])
        .bind(upto + 3)
        .execute(&mut index)
        .await
        .unwrap();
    index.close().await.unwrap();

    // Started again by the migration's check alone, before any read and before the indexer.
    let store = open_for_a_command(dir.path()).await;
    let state = index_state(dir.path()).await;
    assert_eq!(state, (Some(generation(dir.path()).await), 0, 0, 0));
    store.schema.start_upkeep();
    let url = store.links.get_url(urls[0]).await.unwrap().unwrap();
    store
        .events
        .append_visits(&clicks_on(&url, 10))
        .await
        .unwrap();
    exact_before_and_after_indexing(dir.path(), &store, &urls, &users).await;
    store.schema.close().await;
}

//! SQLite-specific behaviour: persistence, corrupt data, errors, the sweeper,
//! several stores on one file.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use session_plus_conformance::fixtures::{
    changes, key, live_meta, meta_expiring_at, record, refresh, refresh_to, PREFIX,
};
use session_plus_core::store::SessionStore;
use session_plus_core::{
    unix_now, FieldRules, Interface, Key, RecordKey, SessionDriver, SessionId, SessionManager,
};
use session_plus_sqlite::{SqliteOptions, SqliteStore};

fn raw(path: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("raw connection");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy_timeout");
    conn
}

fn raw_value(conn: &rusqlite::Connection, k: &RecordKey, name: &str) -> Option<String> {
    use rusqlite::OptionalExtension;
    conn.query_row(
        "SELECT CAST(value_json AS BLOB) FROM session_plus_fields WHERE key = ?1 AND name = ?2",
        [k.store_key(), name.to_owned()],
        |r| r.get::<_, Vec<u8>>(0),
    )
    .optional()
    .expect("raw query")
    .map(|b| String::from_utf8_lossy(&b).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let k = key(PREFIX);
    let rec = record(
        [("user", json!(42)), ("prefs", json!({"theme": "dark"}))],
        live_meta(),
    );
    let refresh = refresh_to(rec.meta.expires + 10);
    let mut want = rec.meta.clone();
    refresh.apply_to(&mut want);
    {
        let store = SqliteStore::open(&path).unwrap();
        assert!(store.create(&k, &rec).await.unwrap());
        assert!(store
            .update(&k, &changes([("more", json!([1]))], &["prefs"], refresh))
            .await
            .unwrap());
    }
    let store = SqliteStore::open(&path).unwrap();
    let got = store
        .load(&k)
        .await
        .unwrap()
        .expect("record after reopening");
    assert_eq!(
        got.fields,
        [
            ("user".to_owned(), json!(42)),
            ("more".to_owned(), json!([1]))
        ]
        .into()
    );
    assert_eq!(got.meta, want);
}

/// A database written by the previous version (schema 1, no tombstones) is
/// upgraded in place on open: its records read as before and can be moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_1_databases_are_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let k = key(PREFIX);
    let expires = unix_now() + 3600;
    {
        let conn = raw(&path);
        conn.execute_batch(
            "CREATE TABLE session_plus_schema (
                 id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL) STRICT;
             CREATE TABLE session_plus_records (
                 key TEXT PRIMARY KEY NOT NULL,
                 permanent INTEGER NOT NULL CHECK (permanent IN (0, 1)),
                 created INTEGER NOT NULL, accessed INTEGER NOT NULL,
                 expires INTEGER NOT NULL, binding TEXT NOT NULL) STRICT, WITHOUT ROWID;
             CREATE INDEX session_plus_records_expires ON session_plus_records (expires);
             CREATE TABLE session_plus_fields (
                 key TEXT NOT NULL, name TEXT NOT NULL, value_json TEXT NOT NULL,
                 PRIMARY KEY (key, name)) STRICT;
             INSERT INTO session_plus_schema (id, version) VALUES (1, 1);",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO session_plus_records VALUES (?1, 1, 10, 20, ?2, 'bound')",
            rusqlite::params![k.store_key(), expires],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO session_plus_fields VALUES (?1, 'user', '42')",
            [k.store_key()],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let got = store.load(&k).await.unwrap().expect("the old record");
    assert_eq!(got.fields["user"], json!(42));
    assert!(got.meta.permanent && !got.meta.moved);
    assert_eq!(
        (got.meta.created, got.meta.accessed, got.meta.expires),
        (10, 20, expires)
    );
    assert_eq!(got.meta.binding, "bound");
    let snapshot = store.supersede(&k, unix_now() + 60).await.unwrap();
    assert_eq!(snapshot, Some(got));
    assert!(store.load(&k).await.unwrap().unwrap().meta.moved);
    let version: i64 = raw(&path)
        .query_row("SELECT version FROM session_plus_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
    // Opening again leaves the upgraded file as it is.
    drop(store);
    assert!(SqliteStore::open(&path)
        .unwrap()
        .load(&k)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_value_is_absent_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = SqliteStore::open(&path).unwrap();
    let k = key(PREFIX);
    assert!(store
        .create(&k, &record([("a", json!(1)), ("b", json!(2))], live_meta()))
        .await
        .unwrap());
    raw(&path)
        .execute(
            "UPDATE session_plus_fields SET value_json = '{not json' WHERE key = ?1 AND name = 'a'",
            [k.store_key()],
        )
        .unwrap();

    assert!(
        store.load(&k).await.unwrap().is_none(),
        "a corrupt record must load as absent, not an error"
    );
    assert!(!store
        .update(
            &k,
            &changes([("b", json!(3)), ("c", json!(4))], &[], refresh())
        )
        .await
        .unwrap());
    assert!(!store
        .touch(&k, &refresh_to(unix_now() + 99_999))
        .await
        .unwrap());
    assert!(!store
        .create(&k, &record([("fresh", json!(1))], live_meta()))
        .await
        .unwrap());

    let conn = raw(&path);
    assert_eq!(
        raw_value(&conn, &k, "a").as_deref(),
        Some("{not json"),
        "the corrupt value was overwritten"
    );
    assert_eq!(
        raw_value(&conn, &k, "b").as_deref(),
        Some("2"),
        "update wrote into a corrupt record"
    );
    assert_eq!(
        raw_value(&conn, &k, "c"),
        None,
        "update added a field to a corrupt record"
    );
    assert_eq!(
        raw_value(&conn, &k, "fresh"),
        None,
        "create overwrote a corrupt live record"
    );

    store.delete(&k).await.unwrap();
    assert_eq!(
        raw_value(&conn, &k, "a"),
        None,
        "delete must remove a corrupt record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_is_corrupt_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = SqliteStore::open(&path).unwrap();
    let k = key(PREFIX);
    assert!(store
        .create(&k, &record([("a", json!("x"))], live_meta()))
        .await
        .unwrap());
    raw(&path)
        .execute(
            "UPDATE session_plus_fields SET value_json = CAST(x'22ff22' AS TEXT) WHERE key = ?1",
            [k.store_key()],
        )
        .unwrap();
    assert!(store.load(&k).await.unwrap().is_none());
    assert!(!store
        .update(&k, &changes([("a", json!("y"))], &[], refresh()))
        .await
        .unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_session_starts_fresh_through_the_session_layer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let manager = Arc::new(
        SessionManager::builder()
            .keys(Key::generate())
            .interface(
                Interface::store("sid", store.clone())
                    .key_prefix(PREFIX)
                    .fields(FieldRules::All),
            )
            .build()
            .unwrap(),
    );
    let d = SessionDriver::new(manager.clone(), std::iter::empty::<&[u8]>());
    d.session().insert("user", 1).await.unwrap();
    let done = d.finish().await;
    let cookie = done.cookies[0]
        .header_value()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let old = SessionId::parse(cookie.trim_start_matches("sid=")).unwrap();
    let old_key = RecordKey::new(PREFIX, old.clone());
    raw(&path)
        .execute(
            "UPDATE session_plus_fields SET value_json = 'garbage' WHERE key = ?1",
            [old_key.store_key()],
        )
        .unwrap();

    let d = SessionDriver::new(manager, [cookie.as_bytes()]);
    let s = d.session();
    assert_eq!(
        s.get::<u64>("user").await.unwrap(),
        None,
        "a corrupt record must read as a new session"
    );
    s.insert("user", 2).await.unwrap();
    drop(s);
    let done = d.finish().await;
    assert!(
        done.error.is_none(),
        "a corrupt record must not fail the request: {:?}",
        done.error
    );
    let new_cookie = done.cookies[0]
        .header_value()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(new_cookie, cookie, "the corrupt record's id was adopted");
    assert_eq!(
        raw_value(&raw(&path), &old_key, "user").as_deref(),
        Some("garbage")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_keep_their_source_and_never_show_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = SqliteStore::open_with(&path, SqliteOptions::default().readers(1)).unwrap();
    raw(&path)
        .execute_batch("DROP TABLE session_plus_records")
        .unwrap();
    let k = key(PREFIX);
    for err in [
        store
            .load(&k)
            .await
            .map(|_| ())
            .expect_err("load without a table"),
        store
            .create(&k, &record([("a", json!(1))], live_meta()))
            .await
            .map(|_| ())
            .expect_err("create"),
        store
            .update(&k, &changes([("a", json!(1))], &[], refresh()))
            .await
            .map(|_| ())
            .expect_err("update"),
        store.delete(&k).await.expect_err("delete"),
    ] {
        assert!(err.is_backend(), "{err:?}");
        let source = std::error::Error::source(&err).expect("the rusqlite error is kept as source");
        assert!(
            source.to_string().contains("session_plus_records"),
            "{source}"
        );
        let printed = format!("{err} {err:?} {source}");
        assert!(
            !printed.contains(k.id().as_str()),
            "an error shows the session id: {printed}"
        );
    }
}

#[test]
fn opening_a_file_that_is_not_a_database_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let err = SqliteStore::open(&path).expect_err("garbage file must not open");
    assert!(err.is_backend());
}

#[test]
fn a_newer_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    drop(SqliteStore::open(&path).unwrap());
    raw(&path)
        .execute("UPDATE session_plus_schema SET version = 99", [])
        .unwrap();
    let err = SqliteStore::open(&path).expect_err("a newer schema must be refused");
    let chain = format!("{err:#}");
    assert!(chain.contains("99") && chain.contains("s.db"), "{chain}");
    // The current schema opens again once fixed.
    raw(&path)
        .execute("UPDATE session_plus_schema SET version = 2", [])
        .unwrap();
    SqliteStore::open(&path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_is_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let _store = SqliteStore::open(&path).unwrap();
    let mode: String = raw(&path)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode.to_ascii_lowercase(), "wal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_expired_sweeps_in_batches() {
    let store = SqliteStore::open_in_memory().unwrap();
    let live = key(PREFIX);
    assert!(store
        .create(&live, &record([("a", json!(1))], live_meta()))
        .await
        .unwrap());
    for _ in 0..1_234 {
        let rec = record(
            [("a", json!(1)), ("b", json!(2))],
            meta_expiring_at(unix_now() - 5),
        );
        assert!(store.create(&key(PREFIX), &rec).await.unwrap());
    }
    assert_eq!(store.delete_expired().await.unwrap(), 1_234);
    assert_eq!(store.delete_expired().await.unwrap(), 0);
    assert!(store.load(&live).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeper_removes_expired_records_and_stops_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = SqliteStore::open(&path).unwrap();
    let expired = key(PREFIX);
    assert!(store
        .create(
            &expired,
            &record([("a", json!(1))], meta_expiring_at(unix_now() - 5))
        )
        .await
        .unwrap());
    let live = key(PREFIX);
    assert!(store
        .create(&live, &record([("a", json!(1))], live_meta()))
        .await
        .unwrap());

    let sweeper = store.spawn_sweeper(Duration::from_millis(5));
    let conn = raw(&path);
    let rows = |k: &RecordKey| -> i64 {
        conn.query_row(
            "SELECT count(*) FROM session_plus_records WHERE key = ?1",
            [k.store_key()],
            |r| r.get(0),
        )
        .unwrap()
    };
    // Wait (bounded) until a sweep has removed the record: polling the file,
    // not guessing a duration.
    let swept = |k: RecordKey| {
        let rows = &rows;
        async move {
            tokio::time::timeout(Duration::from_secs(10), async {
                while rows(&k) != 0 {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .expect("the sweeper never removed the expired record");
        }
    };
    swept(expired).await;
    assert_eq!(rows(&live), 1, "the sweeper removed a live record");

    // A clone keeps the sweeper alive.
    let clone = store.clone();
    drop(store);
    let expired = key(PREFIX);
    assert!(clone
        .create(
            &expired,
            &record([("a", json!(1))], meta_expiring_at(unix_now() - 5))
        )
        .await
        .unwrap());
    swept(expired).await;
    assert!(!sweeper.is_finished());

    drop(clone);
    tokio::time::timeout(Duration::from_secs(10), sweeper)
        .await
        .expect("the sweeper kept running after the store was dropped")
        .expect("the sweeper panicked");
}

/// Two stores on one file behave like two processes sharing it: per-field
/// updates from both survive (IMMEDIATE transactions plus busy_timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_file_do_not_lose_updates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let a = Arc::new(SqliteStore::open(&path).unwrap());
    let b = Arc::new(SqliteStore::open(&path).unwrap());
    let k = key(PREFIX);
    assert!(a
        .create(&k, &record([("base", json!(0))], live_meta()))
        .await
        .unwrap());
    let mut tasks = Vec::new();
    for i in 0..50 {
        for (name, store) in [("a", a.clone()), ("b", b.clone())] {
            let k = k.clone();
            tasks.push(tokio::spawn(async move {
                let delta = changes([(format!("{name}{i}"), json!(i))], &[], refresh());
                assert!(store.update(&k, &delta).await.unwrap());
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let got = b.load(&k).await.unwrap().unwrap();
    assert_eq!(
        got.fields.len(),
        101,
        "updates were lost across connections"
    );
}

/// Concurrent loads are served while a writer is busy (WAL + reader pool).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_loads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("s.db")).unwrap());
    let k = key(PREFIX);
    assert!(store
        .create(&k, &record([("a", json!(1))], live_meta()))
        .await
        .unwrap());
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (store, k) = (store.clone(), k.clone());
            tokio::spawn(async move {
                if i % 8 == 0 {
                    let delta = changes([(format!("w{i}"), json!(i))], &[], refresh());
                    assert!(store.update(&k, &delta).await.unwrap());
                } else {
                    assert_eq!(store.load(&k).await.unwrap().unwrap().fields["a"], json!(1));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

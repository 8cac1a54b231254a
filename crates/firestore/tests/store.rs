//! Firestore-specific behaviour on the real emulator: the stored layout,
//! hostile field names in update masks, no resurrection, round trips per call
//! and per request type, and the `delete_*` queries.

mod common;

use std::sync::Arc;

use serde_json::json;
use session_plus_core::store::{Changes, Fields, MetaUpdate, Record, RecordMeta, SessionStore};
use session_plus_core::{
    unix_now, FieldRules, Interface, Key, RecordKey, SessionDriver, SessionId, SessionManager,
};
use session_plus_firestore::{FirestoreClient, FirestoreStore};

const PROJECT: &str = "store-tests";

fn key() -> RecordKey {
    RecordKey::new("session", SessionId::generate())
}

fn live(now: i64) -> RecordMeta {
    RecordMeta::new(now, now + 3600, "bind")
}

fn store(collection: &str) -> FirestoreStore {
    FirestoreStore::new(common::client(PROJECT), collection).expect("collection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_have_the_documented_layout() {
    let coll = common::unique("layout");
    let s = store(&coll);
    let k = key();
    let now = unix_now();
    let fields: Fields = [
        ("user_id".to_owned(), json!(42)),
        ("a.b".to_owned(), json!([[1]])),
    ]
    .into();
    assert!(s
        .create(&k, &Record::new(fields, live(now).with_permanent(true)))
        .await
        .unwrap());
    let doc = common::raw_doc(PROJECT, &coll, &k.store_key())
        .await
        .expect("document id = key_prefix + id");
    let f = &doc["fields"];
    assert_eq!(f["f_user_id"]["stringValue"], "42");
    assert_eq!(f["f_a.b"]["stringValue"], "[[1]]");
    assert_eq!(f["_permanent"]["booleanValue"], true);
    assert!(f["_expiration"]["timestampValue"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(f["_binding"]["stringValue"], "bind");
    assert_eq!(f["_moved"]["booleanValue"], false);
}

/// Names with dots, backticks, backslashes, spaces, unicode and Firestore's
/// reserved `__x__` form go through update masks as quoted paths, byte for
/// byte, and a masked update leaves every other field alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_in_update_masks() {
    let coll = common::unique("hostile");
    let s = store(&coll);
    let k = key();
    let now = unix_now();
    let names = [
        "a.b",
        "`tick`",
        "back\\slash",
        "with space",
        "ünï 漢字 🙂",
        "__proto__",
        "f_x",
        "_expiration",
        "x.`y`.z",
        "*",
        "[0]",
    ];
    let fields: Fields = names.iter().map(|n| ((*n).to_owned(), json!(n))).collect();
    assert!(s.create(&k, &Record::new(fields, live(now))).await.unwrap());
    // Change every other name, remove the rest.
    let mut changes = Changes::new(MetaUpdate::refresh(now, now + 3600));
    for (i, n) in names.iter().enumerate() {
        changes = if i % 2 == 0 {
            changes.set(*n, json!([n, i]))
        } else {
            changes.remove(*n)
        };
    }
    assert!(s.update(&k, &changes).await.unwrap());
    let got = s.load(&k).await.unwrap().expect("record");
    for (i, n) in names.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(got.fields.get(*n), Some(&json!([n, i])), "{n:?}");
        } else {
            assert!(!got.fields.contains_key(*n), "{n:?} not removed");
        }
    }
    assert_eq!(got.fields.len(), names.len().div_ceil(2));
    // The raw document holds the names literally (no escaping inside names).
    let doc = common::raw_doc(PROJECT, &coll, &k.store_key())
        .await
        .unwrap();
    let stored = &doc["fields"];
    assert_eq!(
        stored["f_x.`y`.z"]["stringValue"],
        json!(["x.`y`.z", 8]).to_string()
    );
    assert_eq!(
        stored["f_back\\slash"]["stringValue"],
        json!(["back\\slash", 2]).to_string()
    );
    assert!(stored.get("f_`tick`").is_none() && stored.get("f___proto__").is_none());
    // The session field called `_expiration` did not clobber the meta field.
    assert!(got.is_live(unix_now()));
}

/// An update never revives an expired or deleted record, even one that
/// moves the expiry forward, and even when the store had just read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_never_resurrect() {
    let coll = common::unique("resurrect");
    let s = store(&coll);
    let now = unix_now();

    // Expired: the update is refused and the document keeps its old expiry.
    let k = key();
    let rec = Record::new(
        [("u".to_owned(), json!(1))].into(),
        RecordMeta::new(now - 100, now - 1, "b"),
    );
    assert!(s.create(&k, &rec).await.unwrap());
    let refresh = Changes::new(MetaUpdate::refresh(now, now + 3600)).set("u", json!(2));
    assert!(!s.update(&k, &refresh).await.unwrap());
    assert!(s.load(&k).await.unwrap().is_none());
    let doc = common::raw_doc(PROJECT, &coll, &k.store_key())
        .await
        .unwrap();
    assert_eq!(doc["fields"]["f_u"]["stringValue"], "1");

    // Deleted by another client between this store's load and its update:
    // the remembered version fails the precondition, nothing is recreated.
    let k = key();
    assert!(s
        .create(
            &k,
            &Record::new([("u".to_owned(), json!(1))].into(), live(now))
        )
        .await
        .unwrap());
    assert!(s.load(&k).await.unwrap().is_some());
    let other = store(&coll);
    other.delete(&k).await.unwrap();
    assert!(!s.update(&k, &refresh).await.unwrap());
    assert!(common::raw_doc(PROJECT, &coll, &k.store_key())
        .await
        .is_none());

    // Changed by another client meanwhile: the update re-reads and merges.
    let k = key();
    assert!(s
        .create(
            &k,
            &Record::new([("u".to_owned(), json!(1))].into(), live(now))
        )
        .await
        .unwrap());
    assert!(s.load(&k).await.unwrap().is_some());
    assert!(other
        .update(
            &k,
            &Changes::new(MetaUpdate::refresh(now, now + 3600)).set("v", json!(9))
        )
        .await
        .unwrap());
    assert!(s.update(&k, &refresh).await.unwrap());
    let got = s.load(&k).await.unwrap().unwrap();
    assert_eq!(
        (got.fields.get("u"), got.fields.get("v")),
        (Some(&json!(2)), Some(&json!(9)))
    );

    // A create over an expired document replaces it (and only then).
    let k = key();
    assert!(s
        .create(
            &k,
            &Record::new(
                [("old".to_owned(), json!(1))].into(),
                RecordMeta::new(now - 9, now - 1, "b")
            )
        )
        .await
        .unwrap());
    assert!(s
        .create(
            &k,
            &Record::new([("new".to_owned(), json!(1))].into(), live(now))
        )
        .await
        .unwrap());
    let got = s.load(&k).await.unwrap().unwrap();
    assert_eq!(got.fields.keys().collect::<Vec<_>>(), ["new"]);
    assert!(!s
        .create(&k, &Record::new(Fields::new(), live(now)))
        .await
        .unwrap());
}

/// HTTP requests per store call, counted by a proxy in front of the emulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_per_call_and_per_request_type() {
    let proxy = common::CountingProxy::start(common::port()).await;
    let coll = common::unique("trips");
    let s = FirestoreStore::new(FirestoreClient::emulator(&proxy.host(), PROJECT), &coll).unwrap();
    let now = unix_now();
    let k = key();

    assert!(s
        .create(
            &k,
            &Record::new([("a".to_owned(), json!(1))].into(), live(now))
        )
        .await
        .unwrap());
    assert_eq!(proxy.take(), ["commit"], "create");
    assert!(s.load(&k).await.unwrap().is_some());
    assert_eq!(proxy.take(), ["GET"], "load");
    assert!(s
        .update(
            &k,
            &Changes::new(MetaUpdate::refresh(now, now + 3600)).set("b", json!(2))
        )
        .await
        .unwrap());
    assert_eq!(proxy.take(), ["commit"], "update after load");
    assert!(s
        .touch(&k, &MetaUpdate::refresh(now + 1, now + 3601))
        .await
        .unwrap());
    assert_eq!(proxy.take(), ["commit"], "touch");
    let fresh =
        FirestoreStore::new(FirestoreClient::emulator(&proxy.host(), PROJECT), &coll).unwrap();
    assert!(fresh
        .update(
            &k,
            &Changes::new(MetaUpdate::refresh(now, now + 3600)).set("c", json!(3))
        )
        .await
        .unwrap());
    assert_eq!(
        proxy.take(),
        ["GET", "commit"],
        "update with nothing remembered"
    );
    let k2 = key();
    assert!(s
        .move_to(
            &k,
            &k2,
            &Changes::new(MetaUpdate::refresh(now, now + 3600)),
            "nb",
            now + 60
        )
        .await
        .unwrap());
    assert_eq!(proxy.take(), ["GET", "commit"], "move_to (login)");
    s.delete(&k2).await.unwrap();
    assert_eq!(proxy.take(), ["commit"], "delete");

    // Through the core, per request type (one interface on Firestore).
    let manager = Arc::new(
        SessionManager::builder()
            .keys(Key::generate())
            .interface(
                Interface::store("session", Arc::new(s)).fields(FieldRules::include(["user_id"])),
            )
            .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
            .build()
            .unwrap(),
    );
    let request = |cookie: String| SessionDriver::new(manager.clone(), [cookie.as_bytes()]);
    let d = request(String::new());
    d.session().insert("user_id", 7).await.unwrap();
    d.session().insert("theme", "light").await.unwrap();
    let out = d.finish().await;
    assert!(out.error.is_none());
    let cookie = out.cookie_header();
    let new_session = proxy.take();

    let d = request(cookie.clone());
    d.finish().await;
    let untouched = proxy.take();

    let d = request(cookie.clone());
    d.session().insert("theme", "dark").await.unwrap();
    assert!(d.finish().await.error.is_none());
    let cookie_only = proxy.take();

    let d = request(cookie.clone());
    assert_eq!(d.session().get::<u64>("user_id").await.unwrap(), Some(7));
    d.finish().await;
    let read_only = proxy.take();

    let d = request(cookie.clone());
    d.session().insert("user_id", 8).await.unwrap();
    assert!(d.finish().await.error.is_none());
    let write = proxy.take();

    eprintln!(
        "round trips: new session {new_session:?}, untouched {untouched:?}, cookie-only write {cookie_only:?}, read-only {read_only:?}, write {write:?}"
    );
    assert_eq!(new_session, ["commit"], "a new session is one create");
    assert!(
        untouched.is_empty(),
        "a request not touching Firestore fields costs nothing: {untouched:?}"
    );
    assert_eq!(
        cookie_only,
        ["GET"],
        "a cookie-only write checks once that no login moved the session"
    );
    assert_eq!(read_only, ["GET"]);
    assert_eq!(write, ["GET", "commit"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_by_field_and_delete_expired_use_queries() {
    let coll = common::unique("queries");
    let s = store(&coll);
    let now = unix_now();
    let user = json!({"id": 7, "name": "a.b `c`"});
    let (a, b, c) = (key(), key(), key());
    for (k, u) in [(&a, user.clone()), (&b, user.clone()), (&c, json!("other"))] {
        let rec = Record::new([("who am.i".to_owned(), u)].into(), live(now));
        assert!(s.create(k, &rec).await.unwrap());
    }
    assert_eq!(
        s.delete_by_field("session", "who am.i", &user)
            .await
            .unwrap(),
        2
    );
    assert!(s.load(&a).await.unwrap().is_none() && s.load(&b).await.unwrap().is_none());
    assert!(s.load(&c).await.unwrap().is_some());

    let dead = key();
    assert!(s
        .create(
            &dead,
            &Record::new(Fields::new(), RecordMeta::new(now - 9, now - 1, "b"))
        )
        .await
        .unwrap());
    assert_eq!(s.delete_expired().await.unwrap(), 1);
    assert!(common::raw_doc(PROJECT, &coll, &dead.store_key())
        .await
        .is_none());
    assert!(s.load(&c).await.unwrap().is_some(), "live records stay");
}

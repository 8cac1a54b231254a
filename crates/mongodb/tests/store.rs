//! The backend's own promises, checked on the documents a real server
//! (SecantusDB, started by the test kit) holds: the layout, hostile field
//! names, nothing expired ever revived, create over an expired document, the
//! TTL index, the write concern, `replicaSet=` URLs.

mod common;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::json;
use session_plus_conformance::fixtures::{key, live_meta, meta_expiring_at};
use session_plus_core::store::{Changes, Fields, MetaUpdate, Record, SessionStore};
use session_plus_core::{unix_now, RecordKey};
use session_plus_mongodb::mongodb::bson::{doc, Bson, Document};
use session_plus_mongodb::mongodb::options::{Acknowledgment, WriteConcern};
use session_plus_mongodb::{MongoOptions, MongoStore};
use session_plus_testkit::SecantusServer;

fn server() -> &'static SecantusServer {
    static SERVER: OnceLock<SecantusServer> = OnceLock::new();
    SERVER.get_or_init(SecantusServer::start)
}

/// A store whose expired documents stay in place (no TTL index), so the
/// checks below see exactly what reads and writes do with them.
async fn store_without_ttl() -> MongoStore {
    let client = common::client(&server().url(), Duration::from_secs(5)).await;
    MongoStore::with_options(
        client,
        &common::fresh_db("store"),
        "sessions",
        MongoOptions::default().ttl_index(false),
    )
    .await
    .unwrap()
}

async fn raw(store: &MongoStore, key: &RecordKey) -> Option<Document> {
    store
        .collection()
        .find_one(doc! { "_id": key.store_key() })
        .await
        .unwrap()
}

fn record(
    fields: &[(&str, serde_json::Value)],
    meta: session_plus_core::store::RecordMeta,
) -> Record {
    Record::new(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        meta,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_have_the_documented_layout_and_a_ttl_index() {
    let store = common::store(&server().url(), &common::fresh_db("layout")).await;
    let k = key("session");
    let meta = live_meta().with_permanent(true);
    let rec = record(
        &[
            ("user_id", json!(42)),
            ("name", json!("ann")),
            ("ratio", json!(0.5)),
            ("flag", json!(true)),
            ("none", json!(null)),
            ("roles", json!(["a", "b"])),
            ("a.b", json!(1)),
            ("$set", json!(2)),
            ("100%", json!(3)),
        ],
        meta.clone(),
    );
    assert!(store.create(&k, &rec).await.unwrap());
    let d = raw(&store, &k).await.expect("the document");
    assert_eq!(d.get_str("_id").unwrap(), k.store_key());
    let f = d.get_document("fields").unwrap();
    assert_eq!(f.get("user_id"), Some(&Bson::Int64(42)));
    assert_eq!(f.get("name"), Some(&Bson::String("ann".into())));
    assert_eq!(f.get("ratio"), Some(&Bson::Double(0.5)));
    assert_eq!(f.get("flag"), Some(&Bson::Boolean(true)));
    assert_eq!(f.get("none"), Some(&Bson::Null));
    assert_eq!(
        f.get_document("roles").unwrap(),
        &doc! { "json": "[\"a\",\"b\"]" }
    );
    assert_eq!(f.get("a%2Eb"), Some(&Bson::Int64(1)));
    assert_eq!(f.get("%24set"), Some(&Bson::Int64(2)));
    assert_eq!(f.get("100%25"), Some(&Bson::Int64(3)));
    assert_eq!(f.len(), 9);
    assert_eq!(
        d.get_datetime("expires").unwrap().timestamp_millis(),
        meta.expires * 1000
    );
    assert!(d.get_bool("permanent").unwrap());
    assert!(!d.get_bool("moved").unwrap());
    assert_eq!(d.get_str("binding").unwrap(), meta.binding);

    // The TTL index: {expires: 1}, expireAfterSeconds 0.
    let mut cursor = store.collection().list_indexes().await.unwrap();
    let mut ttl = None;
    while cursor.advance().await.unwrap() {
        let index = cursor.deserialize_current().unwrap();
        if index.keys == doc! { "expires": 1 } {
            ttl = index.options.and_then(|o| o.expire_after);
        }
    }
    assert_eq!(ttl, Some(Duration::ZERO), "TTL index on expires");
    // Building a second store on the same collection finds it in place.
    let again = MongoStore::new(
        store.collection().client().clone(),
        store.collection().namespace().db.as_str(),
        "sessions",
    )
    .await;
    assert!(again.is_ok(), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_round_trip_and_never_become_paths() {
    let store = store_without_ttl().await;
    let names = [
        ".",
        "..",
        "a.b",
        ".lead",
        "trail.",
        "$",
        "$$",
        "$set",
        "$where",
        "a$b",
        "%",
        "%25",
        "%2E",
        "%zz",
        "fields",
        "_id",
        "expires",
        "moved",
        "fields.x",
        "a..b",
        " ",
        "🙂.🦀",
        "x\u{2028}y",
        "\\.",
        "[0]",
        "0",
        "1.0",
    ];
    let k = key("session");
    let rec = Record::new(
        names.iter().map(|n| ((*n).to_owned(), json!(n))).collect(),
        live_meta(),
    );
    assert!(store.create(&k, &rec).await.unwrap());
    let got = store.load(&k).await.unwrap().unwrap();
    assert_eq!(got.fields, rec.fields);

    // Field-level: change every name, then remove every other one.
    let mut changes = Changes::new(MetaUpdate::refresh(unix_now(), unix_now() + 3600));
    for n in names {
        changes = changes.set(n, json!([n]));
    }
    assert!(store.update(&k, &changes).await.unwrap());
    let mut removal = Changes::new(MetaUpdate::refresh(unix_now(), unix_now() + 3600));
    for n in names.iter().step_by(2) {
        removal = removal.remove(*n);
    }
    assert!(store.update(&k, &removal).await.unwrap());
    let got = store.load(&k).await.unwrap().unwrap();
    let want: Fields = names
        .iter()
        .skip(1)
        .step_by(2)
        .map(|n| ((*n).to_owned(), json!([n])))
        .collect();
    assert_eq!(got.fields, want);

    // The document has exactly one flat key per field, none of them a path
    // or an operator, and the meta is untouched by field names like `expires`.
    let d = raw(&store, &k).await.unwrap();
    let f = d.get_document("fields").unwrap();
    assert_eq!(f.len(), want.len());
    for (key, _) in f {
        assert!(!key.contains('.') && !key.starts_with('$'), "{key:?}");
    }
    assert!(d.get_datetime("expires").is_ok());

    // delete_by_field finds a hostile name holding a composite value.
    assert_eq!(
        store
            .delete_by_field("session", "a.b", &json!(["a.b"]))
            .await
            .unwrap(),
        0,
        "`a.b` was removed above"
    );
    assert_eq!(
        store
            .delete_by_field("session", "..", &json!([".."]))
            .await
            .unwrap(),
        1
    );
    assert!(store.load(&k).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_expired_is_ever_revived() {
    let store = store_without_ttl().await;
    let k = key("session");
    let dead = record(
        &[("user_id", json!(1)), ("cart", json!([1, 2]))],
        meta_expiring_at(unix_now() - 5),
    );
    assert!(
        store.create(&k, &dead).await.unwrap(),
        "an expired record may be written"
    );
    let before = raw(&store, &k)
        .await
        .expect("still physically there (no TTL index)");

    assert!(store.load(&k).await.unwrap().is_none(), "load");
    let later = unix_now() + 3600;
    let changes = Changes::new(MetaUpdate::refresh(unix_now(), later)).set("user_id", json!(2));
    assert!(!store.update(&k, &changes).await.unwrap(), "update");
    assert!(
        !store
            .touch(&k, &MetaUpdate::refresh(unix_now(), later))
            .await
            .unwrap(),
        "touch"
    );
    assert!(
        store.supersede(&k, later).await.unwrap().is_none(),
        "supersede"
    );
    let to = key("session");
    assert!(
        !store.move_to(&k, &to, &changes, "b2", later).await.unwrap(),
        "move_to"
    );
    assert!(store.load(&to).await.unwrap().is_none());
    assert_eq!(raw(&store, &k).await.as_ref(), Some(&before), "untouched");
    assert_eq!(
        store
            .delete_by_field("session", "user_id", &json!(1))
            .await
            .unwrap(),
        0
    );

    // A new record over the expired one starts empty: the old fields are gone.
    let fresh = record(&[("user_id", json!(3))], live_meta());
    assert!(
        store.create(&k, &fresh).await.unwrap(),
        "create over an expired document"
    );
    let got = store.load(&k).await.unwrap().unwrap();
    assert_eq!(got.fields, fresh.fields);
    assert!(
        !store.create(&k, &dead).await.unwrap(),
        "a live record is never overwritten"
    );

    // A record that expires between two writes: the second one matches nothing.
    let k2 = key("session");
    assert!(store
        .create(
            &k2,
            &record(&[("n", json!(1))], meta_expiring_at(unix_now() + 1))
        )
        .await
        .unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while store.load(&k2).await.unwrap().is_some() {
        assert!(std::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bump = Changes::new(MetaUpdate::refresh(unix_now(), unix_now() + 3600)).set("n", json!(2));
    assert!(!store.update(&k2, &bump).await.unwrap());
    assert!(store.load(&k2).await.unwrap().is_none());

    // delete_expired (claimed without the TTL index) sweeps them.
    assert!(store.capabilities().delete_expired);
    assert!(store.delete_expired().await.unwrap() >= 1);
    assert!(raw(&store, &k2).await.is_none());
    assert!(raw(&store, &k).await.is_some(), "the live one stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_over_an_expired_document_have_one_winner() {
    let store = Arc::new(store_without_ttl().await);
    for round in 0..5 {
        let k = key("session");
        let dead = record(&[("old", json!(round))], meta_expiring_at(unix_now() - 5));
        assert!(store.create(&k, &dead).await.unwrap());
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (store, k) = (store.clone(), k.clone());
                tokio::spawn(async move {
                    let rec = record(&[("winner", json!(i))], live_meta());
                    store.create(&k, &rec).await.unwrap()
                })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            winners += usize::from(t.await.unwrap());
        }
        assert_eq!(winners, 1, "round {round}");
        let got = store.load(&k).await.unwrap().unwrap();
        assert_eq!(got.fields.len(), 1);
        assert!(got.fields.contains_key("winner"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_use_majority_unless_told_otherwise() {
    let url = server().replica_set_url();
    let db = common::fresh_db("wc");
    let majority = MongoStore::from_url(&url, &db, "a", MongoOptions::default())
        .await
        .unwrap();
    assert_eq!(
        majority.collection().write_concern(),
        Some(&WriteConcern::majority())
    );
    assert_eq!(
        majority.collection().selection_criteria(),
        Some(
            &session_plus_mongodb::mongodb::options::SelectionCriteria::ReadPreference(
                session_plus_mongodb::mongodb::options::ReadPreference::Primary
            )
        )
    );
    // The replicaSet= URL works end to end.
    let k = key("session");
    assert!(majority
        .create(&k, &record(&[("x", json!(1))], live_meta()))
        .await
        .unwrap());
    assert_eq!(
        majority.load(&k).await.unwrap().unwrap().fields["x"],
        json!(1)
    );

    let one = MongoStore::from_url(&format!("{url}&w=1"), &db, "b", MongoOptions::default())
        .await
        .unwrap();
    assert_eq!(
        one.collection().write_concern().and_then(|w| w.w.clone()),
        Some(Acknowledgment::Nodes(1))
    );
    let chosen = MongoStore::from_url(
        &format!("{url}&w=1"),
        &db,
        "c",
        MongoOptions::default().write_concern(WriteConcern::majority()),
    )
    .await
    .unwrap();
    assert_eq!(
        chosen.collection().write_concern(),
        Some(&WriteConcern::majority())
    );

    let err = MongoStore::from_url(
        &url,
        &db,
        "d",
        MongoOptions::default().write_concern(WriteConcern::nodes(0)),
    )
    .await
    .unwrap_err();
    assert!(err.is_config() && err.to_string().contains("w: 0"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_on_expires_with_other_options_is_a_clear_start_up_error() {
    let url = server().url();
    let db = common::fresh_db("idx");
    let plain = store_without_ttl().await;
    let coll = plain
        .collection()
        .client()
        .database(&db)
        .collection::<Document>("sessions");
    coll.create_index(
        session_plus_mongodb::mongodb::IndexModel::builder()
            .keys(doc! { "expires": 1 })
            .build(),
    )
    .await
    .unwrap();
    let err = MongoStore::from_url(&url, &db, "sessions", MongoOptions::default())
        .await
        .unwrap_err();
    assert!(
        err.is_config() && err.to_string().contains("create_ttl_index"),
        "{err}"
    );
    // Skipping the index creation works with the user's own index.
    assert!(MongoStore::from_url(
        &url,
        &db,
        "sessions",
        MongoOptions::default().ttl_index(false)
    )
    .await
    .is_ok());
}

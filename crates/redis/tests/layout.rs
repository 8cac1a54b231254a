//! What the store leaves in Redis: a hash per record, the exact absolute
//! expiry the core computed, and keys it does not own left alone.

use std::collections::BTreeMap;

use session_plus_core::store::{Changes, MetaUpdate, Record, RecordMeta, SessionStore};
use session_plus_core::{unix_now, RecordKey, SessionId};
use session_plus_redis::{RedisStore, META_FIELD};
use session_plus_testkit::{RedisServer, Reply};

fn meta(expires: i64) -> RecordMeta {
    RecordMeta::new(unix_now(), expires, "b")
}

fn int(reply: Reply) -> i64 {
    match reply {
        Reply::Integer(n) => n,
        other => panic!("not an integer: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_fields_and_absolute_expiry() {
    let server = RedisServer::start();
    let store = RedisStore::from_url(&server.url()).await.unwrap();
    let key = RecordKey::new("app:", SessionId::generate());
    let raw_key = key.store_key();
    let expires = unix_now() + 1000;
    let record = Record::new(
        [
            ("user_id".to_owned(), serde_json::json!(42)),
            ("name".to_owned(), serde_json::json!("ana")),
        ]
        .into(),
        meta(expires),
    );
    assert!(store.create(&key, &record).await.unwrap());

    assert_eq!(
        server
            .command(&["TYPE", &raw_key])
            .unwrap()
            .text()
            .as_deref(),
        Some("hash")
    );
    let get = |field: &str| server.command(&["HGET", &raw_key, field]).unwrap().text();
    assert_eq!(get("user_id").as_deref(), Some("42"));
    assert_eq!(get("name").as_deref(), Some("\"ana\""));
    // The meta in this crate's own compact format, not the core's serde names.
    let m = &record.meta;
    assert_eq!(
        get(META_FIELD).unwrap(),
        format!("2|0|{}|{}|{expires}|0|b", m.created, m.accessed)
    );
    assert_eq!(store.load(&key).await.unwrap().unwrap(), record);
    // PEXPIRETIME (Redis >= 7): the absolute expiry, in milliseconds.
    assert_eq!(
        int(server.command(&["PEXPIRETIME", &raw_key]).unwrap()),
        expires * 1000
    );

    // touch moves the expiry and nothing else.
    let later = MetaUpdate::refresh(unix_now(), expires + 500);
    assert!(store.touch(&key, &later).await.unwrap());
    assert_eq!(
        int(server.command(&["PEXPIRETIME", &raw_key]).unwrap()),
        (expires + 500) * 1000
    );
    assert_eq!(int(server.command(&["HLEN", &raw_key]).unwrap()), 3);

    // update writes only the named fields.
    let changes = Changes::new(MetaUpdate::refresh(unix_now(), expires + 900))
        .set("name", serde_json::json!("bo"))
        .remove("user_id");
    assert!(store.update(&key, &changes).await.unwrap());
    assert_eq!(get("user_id"), None);
    assert_eq!(get("name").as_deref(), Some("\"bo\""));
    assert_eq!(
        int(server.command(&["PEXPIRETIME", &raw_key]).unwrap()),
        (expires + 900) * 1000
    );

    // A write with a shorter lifetime that does not change permanence leaves
    // the key's expiry alone (merged in the script)...
    let shorter =
        Changes::new(MetaUpdate::refresh(unix_now(), expires)).set("x", serde_json::json!(1));
    assert!(store.update(&key, &shorter).await.unwrap());
    assert_eq!(
        int(server.command(&["PEXPIRETIME", &raw_key]).unwrap()),
        (expires + 900) * 1000
    );
    // ...one that makes the session non-permanent shortens it on purpose.
    let off = MetaUpdate::refresh(unix_now(), expires + 100).with_permanent(false);
    assert!(store.touch(&key, &off).await.unwrap());
    assert_eq!(
        int(server.command(&["PEXPIRETIME", &raw_key]).unwrap()),
        (expires + 100) * 1000
    );

    // A tombstone is the meta field alone, moved flag set, expiring at `until`.
    let until = unix_now() + 120;
    assert!(store.supersede(&key, until).await.unwrap().is_some());
    assert_eq!(int(server.command(&["HLEN", &raw_key]).unwrap()), 1);
    assert!(get(META_FIELD).unwrap().starts_with("2|0|"));
    assert!(get(META_FIELD).unwrap().ends_with(&format!("|{until}|1|b")));
    assert_eq!(
        int(server.command(&["PEXPIRETIME", &raw_key]).unwrap()),
        until * 1000
    );

    store.delete(&key).await.unwrap();
    assert_eq!(int(server.command(&["EXISTS", &raw_key]).unwrap()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_it_does_not_own_are_never_overwritten() {
    let server = RedisServer::start();
    let store = RedisStore::from_url(&server.url()).await.unwrap();
    let record = Record::new(
        BTreeMap::from([("a".to_owned(), serde_json::json!(1))]),
        meta(unix_now() + 100),
    );

    // A string value (e.g. written by another program under the same prefix).
    let key = RecordKey::new("session", SessionId::generate());
    server
        .command(&["SET", &key.store_key(), "{\"_permanent\": true}"])
        .unwrap();
    assert_eq!(
        store.load(&key).await.unwrap(),
        None,
        "a foreign value must read as absent"
    );
    assert!(!store.create(&key, &record).await.unwrap());
    assert_eq!(
        server
            .command(&["GET", &key.store_key()])
            .unwrap()
            .text()
            .as_deref(),
        Some("{\"_permanent\": true}")
    );

    // A hash without our meta field.
    let key = RecordKey::new("session", SessionId::generate());
    server
        .command(&["HSET", &key.store_key(), "a", "2"])
        .unwrap();
    assert_eq!(store.load(&key).await.unwrap(), None);
    let changes = Changes::new(MetaUpdate::refresh(unix_now(), unix_now() + 100))
        .set("a", serde_json::json!(1));
    assert!(
        !store.update(&key, &changes).await.unwrap(),
        "update must not adopt a foreign hash"
    );
    assert!(!store.create(&key, &record).await.unwrap());
    assert_eq!(
        server
            .command(&["HGET", &key.store_key(), "a"])
            .unwrap()
            .text()
            .as_deref(),
        Some("2")
    );
}

/// Records written by earlier versions hold the meta as JSON with the core's
/// serde names; they are read, updated (converted on write, the merge
/// applied) and superseded like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_earlier_versions_are_read_and_converted() {
    let server = RedisServer::start();
    let store = RedisStore::from_url(&server.url()).await.unwrap();
    let key = RecordKey::new("app:", SessionId::generate());
    let raw_key = key.store_key();
    let now = unix_now();
    let expires = now + 31 * 86_400;
    let legacy = format!(
        r#"{{"p":true,"c":{},"a":{},"e":{expires},"b":"old"}}"#,
        now - 50,
        now - 5
    );
    server
        .command(&["HSET", &raw_key, META_FIELD, &legacy, "user", "7"])
        .unwrap();
    server
        .command(&["PEXPIREAT", &raw_key, &(expires * 1000).to_string()])
        .unwrap();

    let got = store.load(&key).await.unwrap().expect("legacy record");
    assert_eq!(got.fields["user"], serde_json::json!(7));
    assert!(got.meta.permanent && !got.meta.moved);
    assert_eq!(
        (got.meta.created, got.meta.accessed, got.meta.expires),
        (now - 50, now - 5, expires)
    );
    assert_eq!(got.meta.binding, "old");

    // A write with the 1-day lifetime keeps permanence and the 31-day expiry.
    let changes =
        Changes::new(MetaUpdate::refresh(now, now + 86_400)).set("n", serde_json::json!(1));
    assert!(store.update(&key, &changes).await.unwrap());
    let meta_text = server
        .command(&["HGET", &raw_key, META_FIELD])
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(meta_text, format!("2|1|{}|{now}|{expires}|0|old", now - 50));
    assert_eq!(
        int(server.command(&["PEXPIRETIME", &raw_key]).unwrap()),
        expires * 1000
    );

    // A legacy tombstone-free record can be superseded directly too.
    let key2 = RecordKey::new("app:", SessionId::generate());
    server
        .command(&["HSET", &key2.store_key(), META_FIELD, &legacy, "user", "8"])
        .unwrap();
    let snapshot = store
        .supersede(&key2, now + 60)
        .await
        .unwrap()
        .expect("snapshot");
    assert_eq!(snapshot.fields["user"], serde_json::json!(8));
    assert!(store.load(&key2).await.unwrap().unwrap().meta.moved);
}

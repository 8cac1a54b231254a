//! What the store leaves in Redis: a hash per record, the exact absolute
//! expiry the core computed, and keys it does not own left alone.

use std::collections::BTreeMap;

use session_plus_core::store::{Changes, Record, RecordMeta, SessionStore};
use session_plus_core::{unix_now, RecordKey, SessionId};
use session_plus_redis::{RedisStore, META_FIELD};
use session_plus_testkit::{RedisServer, Reply};

fn meta(expires: i64) -> RecordMeta {
    RecordMeta {
        permanent: false,
        created: unix_now(),
        accessed: unix_now(),
        expires,
        binding: "b".into(),
    }
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
    let record = Record {
        fields: [
            ("user_id".to_owned(), serde_json::json!(42)),
            ("name".to_owned(), serde_json::json!("ana")),
        ]
        .into(),
        meta: meta(expires),
    };
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
    let stored_meta: RecordMeta = serde_json::from_str(&get(META_FIELD).unwrap()).unwrap();
    assert_eq!(stored_meta, record.meta);
    // PEXPIRETIME (Redis >= 7): the absolute expiry, in milliseconds.
    assert_eq!(
        int(server.command(&["PEXPIRETIME", &raw_key]).unwrap()),
        expires * 1000
    );

    // touch moves the expiry and nothing else.
    let later = meta(expires + 500);
    assert!(store.touch(&key, &later).await.unwrap());
    assert_eq!(
        int(server.command(&["PEXPIRETIME", &raw_key]).unwrap()),
        (expires + 500) * 1000
    );
    assert_eq!(int(server.command(&["HLEN", &raw_key]).unwrap()), 3);

    // update writes only the named fields.
    let changes = Changes {
        set: [("name".to_owned(), serde_json::json!("bo"))].into(),
        remove: vec!["user_id".to_owned()],
        meta: meta(expires + 900),
    };
    assert!(store.update(&key, &changes).await.unwrap());
    assert_eq!(get("user_id"), None);
    assert_eq!(get("name").as_deref(), Some("\"bo\""));
    assert_eq!(
        int(server.command(&["PEXPIRETIME", &raw_key]).unwrap()),
        (expires + 900) * 1000
    );

    store.delete(&key).await.unwrap();
    assert_eq!(int(server.command(&["EXISTS", &raw_key]).unwrap()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_it_does_not_own_are_never_overwritten() {
    let server = RedisServer::start();
    let store = RedisStore::from_url(&server.url()).await.unwrap();
    let record = Record {
        fields: BTreeMap::from([("a".to_owned(), serde_json::json!(1))]),
        meta: meta(unix_now() + 100),
    };

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
    let changes = Changes {
        set: record.fields.clone(),
        remove: vec![],
        meta: record.meta.clone(),
    };
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

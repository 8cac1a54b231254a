//! What is particular to memcached: exptimes, foreign and corrupt items,
//! remembered loads racing other app servers, the unsupported operation.

use std::sync::OnceLock;

use serde_json::json;
use session_plus_core::store::{Changes, MetaUpdate, Record, RecordMeta, SessionStore};
use session_plus_core::{unix_now, RecordKey, SessionId};
use session_plus_memcache::{MemcacheStore, StableRendezvous, ITEM_FLAGS};
use session_plus_testkit::MemcachedServer;

fn pool() -> &'static [MemcachedServer] {
    static POOL: OnceLock<Vec<MemcachedServer>> = OnceLock::new();
    POOL.get_or_init(|| MemcachedServer::start_pool(3))
}

fn addrs() -> Vec<String> {
    pool().iter().map(MemcachedServer::addr).collect()
}

/// A store of its own (another app server, as far as remembered loads go).
async fn store() -> MemcacheStore {
    MemcacheStore::connect(&addrs()).await.expect("connect")
}

/// The server that holds `key`.
fn server_of(key: &RecordKey) -> &'static MemcachedServer {
    &pool()[StableRendezvous.pick(key.store_key().as_bytes(), &addrs())]
}

/// The item's remaining TTL in seconds, from `mg <key> t`.
fn remaining_ttl(key: &RecordKey) -> i64 {
    let reply = server_of(key)
        .command(&format!("mg {} t\r\n", key.store_key()))
        .unwrap();
    reply
        .split_whitespace()
        .find_map(|w| w.strip_prefix('t'))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no TTL in {reply:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exptime_is_relative_up_to_30_days_then_absolute() {
    let store = store().await;
    let day = 86_400;
    for (lifetime, label) in [(3600, "1 hour"), (day, "1 day"), (31 * day, "31 days")] {
        let k = key("exptime:");
        let rec = record([("a", json!(1))], meta_expiring_at(unix_now() + lifetime));
        assert!(store.create(&k, &rec).await.unwrap());
        let ttl = remaining_ttl(&k);
        // Sent relative up to 30 days, absolute beyond: either way memcached
        // keeps the item for the record's lifetime (a 31-day value sent as
        // relative would be read as a date in 1970 and expire at once).
        assert!(
            (lifetime - 5..=lifetime).contains(&ttl),
            "{label}: memcached keeps the item {ttl} s"
        );
        assert!(store.load(&k).await.unwrap().is_some(), "{label}");
        // An update moves the exptime with the record's expiry.
        let longer = refresh_to_secs(lifetime + 3600);
        assert!(store
            .update(&k, &changes([("b", json!(2))], &[], longer))
            .await
            .unwrap());
        let ttl = remaining_ttl(&k);
        assert!(
            (lifetime + 3600 - 5..=lifetime + 3600).contains(&ttl),
            "{label} after update: {ttl} s"
        );
    }
}

fn refresh_to_secs(secs: i64) -> MetaUpdate {
    MetaUpdate::refresh(unix_now(), unix_now() + secs)
}

fn refresh() -> MetaUpdate {
    refresh_to_secs(3600)
}

fn key(prefix: &str) -> RecordKey {
    RecordKey::new(prefix, SessionId::generate())
}

fn meta_expiring_at(expires: i64) -> RecordMeta {
    RecordMeta::new(unix_now(), expires, "binding")
}

fn live_meta() -> RecordMeta {
    meta_expiring_at(unix_now() + 3600)
}

fn record<const N: usize>(fields: [(&str, serde_json::Value); N], meta: RecordMeta) -> Record {
    Record::new(
        fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        meta,
    )
}

fn changes<const N: usize>(
    set: [(&str, serde_json::Value); N],
    remove: &[&str],
    meta: MetaUpdate,
) -> Changes {
    let mut delta = Changes::new(meta);
    for (k, v) in set {
        delta = delta.set(k, v);
    }
    for r in remove {
        delta = delta.remove(*r);
    }
    delta
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_corrupt_items_read_as_absent_and_are_never_overwritten() {
    let store = store().await;
    let cases = [
        ("foreign", 0, "hello"),
        ("corrupt", ITEM_FLAGS, "{not json"),
        ("wrong shape", ITEM_FLAGS, "{\"x\":1}"),
    ];
    for (label, flags, value) in cases {
        let k = key("foreign:");
        let set = format!(
            "set {} {flags} 0 {}\r\n{value}\r\n",
            k.store_key(),
            value.len()
        );
        assert_eq!(server_of(&k).command(&set).unwrap(), "STORED\r\n");
        assert!(store.load(&k).await.unwrap().is_none(), "{label}: load");
        let rec = record([("a", json!(1))], live_meta());
        assert!(!store.create(&k, &rec).await.unwrap(), "{label}: create");
        let delta = changes([("a", json!(2))], &[], refresh());
        assert!(!store.update(&k, &delta).await.unwrap(), "{label}: update");
        assert!(
            !store.touch(&k, &refresh()).await.unwrap(),
            "{label}: touch"
        );
        assert!(store
            .supersede(&k, unix_now() + 60)
            .await
            .unwrap()
            .is_none());
        let get = server_of(&k)
            .command(&format!("get {}\r\n", k.store_key()))
            .unwrap();
        assert!(get.contains(value), "{label}: the item changed: {get:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_by_field_is_unsupported_and_not_claimed() {
    let store = store().await;
    assert!(!store.capabilities().delete_by_field);
    let e = store
        .delete_by_field("p:", "user_id", &json!(1))
        .await
        .unwrap_err();
    assert!(e.is_unsupported(), "{e}");
    assert!(e.to_string().contains("delete_by_field"), "{e}");
    assert!(store.delete_expired().await.unwrap_err().is_unsupported());
}

/// App server A loads, app server B writes, A writes: A's remembered CAS is
/// stale, its write is refused by memcached and merged again, so both
/// writes survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_load_never_loses_a_concurrent_write() {
    let (a, b) = (store().await, store().await);
    let k = key("race:");
    assert!(a
        .create(&k, &record([("base", json!(0))], live_meta()))
        .await
        .unwrap());
    assert!(a.load(&k).await.unwrap().is_some());
    assert!(b
        .update(&k, &changes([("from_b", json!(1))], &[], refresh()))
        .await
        .unwrap());
    assert!(a
        .update(&k, &changes([("from_a", json!(2))], &[], refresh()))
        .await
        .unwrap());
    let got = b.load(&k).await.unwrap().unwrap();
    assert_eq!(got.fields.get("from_a"), Some(&json!(2)));
    assert_eq!(got.fields.get("from_b"), Some(&json!(1)));
    assert_eq!(got.fields.get("base"), Some(&json!(0)));
}

/// A loads, then the record is deleted or moved elsewhere: A's update
/// writes nothing (no resurrection through a remembered load).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_load_never_resurrects() {
    let (a, b) = (store().await, store().await);
    let deleted = key("gone:");
    assert!(a
        .create(&deleted, &record([("x", json!(1))], live_meta()))
        .await
        .unwrap());
    assert!(a.load(&deleted).await.unwrap().is_some());
    b.delete(&deleted).await.unwrap();
    assert!(!a
        .update(&deleted, &changes([("y", json!(2))], &[], refresh()))
        .await
        .unwrap());
    assert!(a.load(&deleted).await.unwrap().is_none());

    let moved = key("gone:");
    assert!(a
        .create(&moved, &record([("x", json!(1))], live_meta()))
        .await
        .unwrap());
    assert!(a.load(&moved).await.unwrap().is_some());
    let old = b
        .supersede(&moved, unix_now() + 60)
        .await
        .unwrap()
        .expect("live");
    assert_eq!(old.fields.get("x"), Some(&json!(1)));
    assert!(!a
        .update(&moved, &changes([("y", json!(2))], &[], refresh()))
        .await
        .unwrap());
    assert!(!a.touch(&moved, &refresh()).await.unwrap());
    let stone = a.load(&moved).await.unwrap().expect("the tombstone loads");
    assert!(stone.meta.moved && stone.fields.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_where_no_server_answers_fails_to_connect() {
    let port = session_plus_testkit::free_port();
    let e = MemcacheStore::connect(&[format!("127.0.0.1:{port}")])
        .await
        .unwrap_err();
    assert!(e.is_backend(), "{e:?}");
    // One live server is enough to start; the dead one only logs a warning.
    let mixed = [format!("127.0.0.1:{port}"), pool()[0].addr()];
    assert!(MemcacheStore::connect(&mixed).await.is_ok());
}

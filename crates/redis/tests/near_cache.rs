//! The near cache against a real `redis-server`: another app server (a second
//! store on its own connection) changes or deletes the session, and the next
//! read through the cache must see it. Run with `--nocapture` for the counts.

use std::time::{Duration, Instant};

use serde_json::json;
use session_plus_core::store::{Changes, MetaUpdate, Record, RecordMeta, SessionStore};
use session_plus_core::{unix_now, RecordKey, SessionId};
use session_plus_redis::{NearCacheOptions, NearCachedStore, RedisStore};
use session_plus_testkit::RedisServer;

async fn pair(server: &RedisServer) -> (NearCachedStore, RedisStore) {
    let url = server.url();
    let near = NearCachedStore::connect(
        RedisStore::from_url(&url).await.expect("store"),
        &url,
        NearCacheOptions::default().prefix("session"),
    )
    .await
    .expect("near cache");
    let other = RedisStore::from_url(&url).await.expect("second app server");
    (near, other)
}

fn record(n: i64) -> Record {
    let now = unix_now();
    Record::new(
        [("counter".to_owned(), json!(n))].into(),
        RecordMeta::new(now, now + 3600, "bind"),
    )
}

fn set(n: i64) -> Changes {
    let now = unix_now();
    Changes::new(MetaUpdate::refresh(now, now + 3600)).set("counter", json!(n))
}

fn counter(r: &Option<Record>) -> Option<i64> {
    r.as_ref()?.fields.get("counter")?.as_i64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_servers_write_is_seen_by_the_next_read() {
    let server = RedisServer::start();
    let (near, other) = pair(&server).await;
    let key = RecordKey::new("session", SessionId::generate());
    assert!(near.create(&key, &record(0)).await.unwrap());
    let cycles = 2000;
    let mut stale = 0;
    let mut hits_before_write = 0;
    let start = Instant::now();
    for i in 1..=cycles {
        // Warm: the second read of an unchanged record is a hit.
        near.load(&key).await.unwrap();
        let before = near.stats().hits;
        assert_eq!(counter(&near.load(&key).await.unwrap()), Some(i - 1));
        hits_before_write += near.stats().hits - before;
        // Another app server writes; once its write has returned, our next
        // read must see it.
        assert!(other.update(&key, &set(i)).await.unwrap());
        if counter(&near.load(&key).await.unwrap()) != Some(i) {
            stale += 1;
        }
    }
    let stats = near.stats();
    eprintln!(
        "near cache, {cycles} write/read cycles in {:?}: {stale} stale reads; {stats:?}",
        start.elapsed()
    );
    assert_eq!(stale, 0, "reads after another server's write saw old data");
    assert_eq!(
        hits_before_write, cycles as u64,
        "unchanged records are served from memory"
    );
    assert!(stats.invalidations >= cycles as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_servers_delete_and_our_own_writes_are_seen() {
    let server = RedisServer::start();
    let (near, other) = pair(&server).await;
    let key = RecordKey::new("session", SessionId::generate());
    assert!(near.create(&key, &record(1)).await.unwrap());
    near.load(&key).await.unwrap();
    assert_eq!(counter(&near.load(&key).await.unwrap()), Some(1));
    assert_eq!(near.len(), 1);

    // Our own write: dropped locally at once, the next read sees it.
    assert!(near.update(&key, &set(2)).await.unwrap());
    assert_eq!(counter(&near.load(&key).await.unwrap()), Some(2));

    // Another server deletes the session: the next read finds nothing.
    near.load(&key).await.unwrap();
    other.delete(&key).await.unwrap();
    assert_eq!(near.load(&key).await.unwrap(), None);

    // Another server logs the session in (supersede leaves a tombstone).
    let key2 = RecordKey::new("session", SessionId::generate());
    assert!(near.create(&key2, &record(5)).await.unwrap());
    near.load(&key2).await.unwrap();
    other.supersede(&key2, unix_now() + 60).await.unwrap();
    let after = near.load(&key2).await.unwrap().expect("a tombstone");
    assert!(
        !after.is_writable(unix_now()),
        "the tombstone, not the cached record"
    );

    // FLUSHALL invalidates everything.
    let key3 = RecordKey::new("session", SessionId::generate());
    assert!(near.create(&key3, &record(7)).await.unwrap());
    near.load(&key3).await.unwrap();
    server.command(&["FLUSHALL"]).expect("flushall");
    // Redis queues a flush's invalidation to tracking clients directly, not
    // ahead of the flushing client's reply as it does for key writes, so it
    // may still be on the wire here: it must arrive and be applied within a
    // bounded time (polled: there is no event to await from outside).
    let mut seen = near.load(&key3).await.unwrap();
    for _ in 0..200 {
        if seen.is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        seen = near.load(&key3).await.unwrap();
    }
    assert_eq!(seen, None, "FLUSHALL never invalidated the near cache");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_invalidation_connection_flushes_and_reconnects() {
    let mut server = RedisServer::start();
    let (near, _) = pair(&server).await;
    let key = RecordKey::new("session", SessionId::generate());
    assert!(near.create(&key, &record(1)).await.unwrap());
    near.load(&key).await.unwrap();
    assert_eq!(near.len(), 1);
    server.restart();
    // The restarted server has no data: the cache must not answer from memory.
    // (The first read may fail while the store's own connection heals.)
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = near.load(&key).await {
            assert_eq!(r, None, "served a record the restarted Redis does not have");
            break;
        }
        assert!(Instant::now() < deadline, "store never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(near.stats().disconnects >= 1);
    // Bounded polling: the cache reconnects in the background and caches again.
    let other = RedisStore::from_url(&server.url()).await.unwrap();
    let key = RecordKey::new("session", SessionId::generate());
    assert!(other.create(&key, &record(3)).await.unwrap());
    loop {
        near.load(&key).await.unwrap();
        if near.len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "near cache never reconnected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(other.update(&key, &set(4)).await.unwrap());
    assert_eq!(counter(&near.load(&key).await.unwrap()), Some(4));
}

/// The whole store conformance suite through the near cache: a wrapper must
/// keep every guarantee of the store it wraps.
mod conformance {
    use std::sync::{Arc, OnceLock};

    use session_plus_core::store::SessionStore;
    use session_plus_redis::{NearCacheOptions, NearCachedStore, RedisStore};
    use session_plus_testkit::RedisServer;

    fn server() -> &'static RedisServer {
        static SERVER: OnceLock<RedisServer> = OnceLock::new();
        SERVER.get_or_init(RedisServer::start)
    }

    async fn make_store() -> Arc<dyn SessionStore> {
        let url = server().url();
        let store = RedisStore::from_url(&url).await.expect("connect");
        Arc::new(
            NearCachedStore::connect(store, &url, NearCacheOptions::default())
                .await
                .expect("near cache"),
        )
    }

    session_plus_conformance::store_suite!(make_store);
}

/// `near_cache = true` in a configuration document: reads of an unchanged
/// session stop reaching Redis (with `cluster_urls`: tests/near_cache_cluster.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_by_document() {
    use std::sync::Arc;

    use session_plus_core::{ConfigDocument, Key, SessionDriver, StoreRegistry};

    let server = RedisServer::start();
    let mut registry = StoreRegistry::new();
    session_plus_redis::register(&mut registry);
    let doc = ConfigDocument::from_toml(&format!(
        r#"
        [[interface]]
        cookie_name = "session"
        session_type = "redis"
        url = "{}"
        near_cache = true
        near_cache_max_entries = 1000
        "#,
        server.url()
    ))
    .unwrap();
    let manager = Arc::new(doc.build(Key::generate().into(), &registry).await.unwrap());
    let driver = SessionDriver::new(manager.clone(), std::iter::empty::<&[u8]>());
    driver.session().insert("n", 1).await.unwrap();
    let cookie = driver.finish().await.cookie_header();
    let hgetall = || {
        server
            .commandstats()
            .unwrap()
            .get("hgetall")
            .copied()
            .unwrap_or(0)
    };
    let read = || async {
        let d = SessionDriver::new(manager.clone(), [cookie.as_bytes()]);
        let n: Option<i64> = d.session().get("n").await.unwrap();
        d.finish().await;
        n
    };
    assert_eq!(read().await, Some(1));
    let after_first = hgetall();
    for _ in 0..5 {
        assert_eq!(read().await, Some(1));
    }
    assert_eq!(
        hgetall(),
        after_first,
        "unchanged session read from the near cache"
    );
}

//! The near cache against a real `redis-server`: another app server (a second
//! store on its own connection) changes or deletes the session, and the next
//! read through the cache must see it. Run with `--nocapture` for the counts.

mod support;

use std::time::{Duration, Instant};

use session_plus_core::store::SessionStore;
use session_plus_core::{unix_now, RecordKey, SessionId};
use session_plus_redis::{NearCacheOptions, NearCachedStore, RedisStore};
use session_plus_testkit::RedisServer;
use support::{counter, field, record, set, set_field};

async fn pair(server: &RedisServer) -> (NearCachedStore, RedisStore) {
    pair_with(server, NearCacheOptions::default()).await
}

/// A near cache that keeps its own writes, and a second app server.
async fn pair_keeping(server: &RedisServer) -> (NearCachedStore, RedisStore) {
    pair_with(server, NearCacheOptions::default().keep_own_writes(true)).await
}

async fn pair_with(
    server: &RedisServer,
    options: NearCacheOptions,
) -> (NearCachedStore, RedisStore) {
    let url = server.url();
    let near = NearCachedStore::connect(
        RedisStore::from_url(&url).await.expect("store"),
        &url,
        options.prefix("session"),
    )
    .await
    .expect("near cache");
    let other = RedisStore::from_url(&url).await.expect("second app server");
    (near, other)
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

fn command_count(server: &RedisServer, name: &str) -> u64 {
    server
        .commandstats()
        .unwrap()
        .get(name)
        .copied()
        .unwrap_or(0)
}

/// With `keep_own_writes`, our own update refreshes the entry from its
/// reply (one round trip, no read afterwards): a `/write` after a `/write`
/// is a hit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_own_updates_refresh_the_entry_without_another_read() {
    let server = RedisServer::start();
    let (near, _) = pair_keeping(&server).await;
    let key = RecordKey::new("session", SessionId::generate());
    assert!(near.create(&key, &record(0)).await.unwrap());
    assert_eq!(counter(&near.load(&key).await.unwrap()), Some(0));
    let hgetall = command_count(&server, "hgetall");
    let evalsha = command_count(&server, "evalsha");
    let before = near.stats();
    let cycles = 200;
    for i in 1..=cycles {
        let current = counter(&near.load(&key).await.unwrap()).unwrap();
        assert_eq!(current, i - 1);
        assert!(near.update(&key, &set(current + 1)).await.unwrap());
    }
    let after = near.stats();
    assert_eq!(after.hits - before.hits, cycles as u64, "{after:?}");
    assert_eq!(after.misses, before.misses, "{after:?}");
    assert_eq!(after.write_fills - before.write_fills, cycles as u64);
    // One EVALSHA per update, and the only HGETALLs are the ones inside it
    // (commandstats counts a script's commands too): no separate read.
    assert_eq!(command_count(&server, "evalsha") - evalsha, cycles as u64);
    assert_eq!(
        command_count(&server, "hgetall") - hgetall,
        cycles as u64,
        "a read went to Redis"
    );
    assert_eq!(counter(&near.load(&key).await.unwrap()), Some(cycles));

    // An update of a record that is gone writes nothing and caches nothing.
    near.delete(&key).await.unwrap();
    assert!(!near.update(&key, &set(1)).await.unwrap());
    assert_eq!(near.load(&key).await.unwrap(), None);
}

/// Reads through `cache` until it shows `want` for every field; how many
/// reads saw an older state first. Fails if the invalidation never comes.
async fn read_until(cache: &NearCachedStore, key: &RecordKey, want: &[(&str, i64)]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut early = 0;
    loop {
        let seen = cache.load(key).await.unwrap();
        if want.iter().all(|(name, v)| field(&seen, name) == Some(*v)) {
            return early;
        }
        early += 1;
        assert!(
            Instant::now() < deadline,
            "another server's write never reached the cache: saw {seen:?}"
        );
        tokio::task::yield_now().await;
    }
}

/// Two app servers whose near caches keep their own writes, and a third
/// without a cache, all writing the same session. A server's read after its
/// own write sees it at once; another server's write is seen as soon as its
/// invalidation has arrived (Redis writes it microseconds after the
/// writer's reply in this mode); the reads in that window are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_updates_and_other_servers_updates_interleaved_are_never_stale() {
    let server = RedisServer::start();
    let (x, plain) = pair_keeping(&server).await;
    let (y, _) = pair_keeping(&server).await;
    let key = RecordKey::new("session", SessionId::generate());
    assert!(plain.create(&key, &record(0)).await.unwrap());
    let mut early = 0;
    let cycles = 500;
    for i in 1..=cycles {
        assert!(x.update(&key, &set_field("x", i)).await.unwrap());
        assert_eq!(
            field(&x.load(&key).await.unwrap(), "x"),
            Some(i),
            "own write"
        );
        early += read_until(&y, &key, &[("x", i)]).await;
        assert!(y.update(&key, &set_field("y", i)).await.unwrap());
        let own = y.load(&key).await.unwrap();
        assert_eq!((field(&own, "x"), field(&own, "y")), (Some(i), Some(i)));
        early += read_until(&x, &key, &[("x", i), ("y", i)]).await;
        assert!(plain.update(&key, &set_field("z", i)).await.unwrap());
        for cache in [&x, &y] {
            early += read_until(cache, &key, &[("x", i), ("y", i), ("z", i)]).await;
        }
    }
    eprintln!(
        "{cycles} cycles: {early} reads in the window before an invalidation arrived\nx: {:?}\ny: {:?}",
        x.stats(),
        y.stats()
    );
    assert!(x.stats().write_fills >= cycles as u64);
    assert!(y.stats().write_fills >= cycles as u64);
    assert!(x.stats().hits > 0 && y.stats().hits > 0);
}

/// Many concurrent own updates of one session (different fields) racing
/// another server's: once all have returned, the cache holds exactly what
/// Redis holds. A reply applied out of order, or a read answered before a
/// write filling after it, would leave an older state in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_own_updates_leave_the_entry_equal_to_redis() {
    let server = RedisServer::start();
    let (near, other) = pair_keeping(&server).await;
    let near = std::sync::Arc::new(near);
    let other = std::sync::Arc::new(other);
    let key = RecordKey::new("session", SessionId::generate());
    assert!(near.create(&key, &record(0)).await.unwrap());
    for round in 0..20_i64 {
        let mut tasks = Vec::new();
        for t in 0..16_i64 {
            let (near, other, key) = (near.clone(), other.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                let name = format!("f{t}");
                for step in 0..5 {
                    let v = round * 100 + step;
                    if t % 4 == 3 {
                        assert!(other.update(&key, &set_field(&name, v)).await.unwrap());
                    } else {
                        // Reads race the writes: misses fill on the store's
                        // connection while replies land on the other.
                        near.load(&key).await.unwrap();
                        assert!(near.update(&key, &set_field(&name, v)).await.unwrap());
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // The other server's last invalidation may still be on the wire (a
        // bounded wait); a state left behind by a reply applied out of order
        // would never go away.
        let truth = other.load(&key).await.unwrap().expect("record").fields;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let cached = near.load(&key).await.unwrap().expect("record").fields;
            if cached == truth {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: the cache disagrees with Redis: {cached:?} vs {truth:?}"
            );
            tokio::task::yield_now().await;
        }
    }
    assert!(near.stats().write_fills > 0);
}

/// The tracking connection killed: updates go to the store's connection
/// (nothing lost), the cache is flushed, reconnects and fills again; and a
/// server that forgot the script (`SCRIPT FLUSH`) gets it sent in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_updates_survive_a_lost_tracking_connection_and_a_script_flush() {
    let server = RedisServer::start();
    let (near, other) = pair_keeping(&server).await;
    let key = RecordKey::new("session", SessionId::generate());
    assert!(near.create(&key, &record(0)).await.unwrap());
    assert!(near.update(&key, &set(1)).await.unwrap());

    server.command(&["SCRIPT", "FLUSH"]).unwrap();
    let fills = near.stats().write_fills;
    assert!(near.update(&key, &set(2)).await.unwrap());
    assert_eq!(
        near.stats().write_fills,
        fills + 1,
        "sent with EVAL, filled"
    );
    assert_eq!(counter(&near.load(&key).await.unwrap()), Some(2));

    let list = server.command(&["CLIENT", "LIST"]).unwrap().text().unwrap();
    let id = list
        .lines()
        .filter(|l| l.contains("name=session-plus-near-cache"))
        .find_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .expect("the tracking connection")
        .to_owned();
    server.command(&["CLIENT", "KILL", "ID", &id]).unwrap();
    // Bounded: the kill reaches our socket, then every write goes through
    // the store and reads are never answered from memory.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut v = 2;
    while near.stats().disconnects == 0 {
        v += 1;
        assert!(near.update(&key, &set(v)).await.unwrap());
        assert_eq!(
            counter(&other.load(&key).await.unwrap()),
            Some(v),
            "write lost"
        );
        assert_eq!(counter(&near.load(&key).await.unwrap()), Some(v));
        assert!(Instant::now() < deadline, "the kill was never noticed");
    }
    loop {
        v += 1;
        assert!(near.update(&key, &set(v)).await.unwrap());
        assert_eq!(counter(&near.load(&key).await.unwrap()), Some(v));
        if near.tracking_connections() == 1 && near.len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "never reconnected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(other.update(&key, &set(1000)).await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    while counter(&near.load(&key).await.unwrap()) != Some(1000) {
        assert!(
            Instant::now() < deadline,
            "another server's write never arrived"
        );
        tokio::task::yield_now().await;
    }
}

/// A session manager built from a document with one near-cached `redis`
/// interface on `server` (plus `setting`), and the cookies of a session
/// holding `n = value`.
async fn document_session(
    server: &RedisServer,
    setting: &str,
    value: i64,
) -> (std::sync::Arc<session_plus_core::SessionManager>, String) {
    use session_plus_core::{ConfigDocument, Key, SessionDriver, StoreRegistry};

    let mut registry = StoreRegistry::new();
    session_plus_redis::register(&mut registry);
    let doc = ConfigDocument::from_toml(&format!(
        "[[interface]]\ncookie_name = \"session\"\nsession_type = \"redis\"\nurl = \"{}\"\nnear_cache = true\n{setting}\n",
        server.url()
    ))
    .unwrap();
    let manager = std::sync::Arc::new(doc.build(Key::generate().into(), &registry).await.unwrap());
    let driver = SessionDriver::new(manager.clone(), std::iter::empty::<&[u8]>());
    driver.session().insert("n", value).await.unwrap();
    let cookie = driver.finish().await.cookie_header();
    (manager, cookie)
}

/// `near_cache_keep_own_writes = true` in a configuration document: a
/// request that reads and writes the session costs one command (the update
/// script, whose reply refreshes the cache), not a read and a write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_by_document_keeping_own_writes() {
    use session_plus_core::SessionDriver;

    let server = RedisServer::start();
    let (manager, cookie) = document_session(&server, "near_cache_keep_own_writes = true", 0).await;
    let (hgetall, evalsha) = (
        command_count(&server, "hgetall"),
        command_count(&server, "evalsha"),
    );
    let writes = 5;
    for i in 0..writes {
        let d = SessionDriver::new(manager.clone(), [cookie.as_bytes()]);
        let n: Option<i64> = d.session().get("n").await.unwrap();
        assert_eq!(n, Some(i));
        d.session().insert("n", i + 1).await.unwrap();
        let outcome = d.finish().await;
        assert_eq!(outcome.status, None, "{:?}", outcome.error);
    }
    // The first read misses (the record was created by the store's own
    // connection); every later read is answered by the previous write.
    assert_eq!(command_count(&server, "evalsha") - evalsha, writes as u64);
    assert_eq!(
        command_count(&server, "hgetall") - hgetall,
        1 + writes as u64,
        "one read, then only the HGETALL inside each update script"
    );
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

    /// The same suite with `keep_own_writes`: reads and updates on the
    /// tracking connection.
    mod keeping_own_writes {
        use super::*;

        async fn make_store() -> Arc<dyn SessionStore> {
            let url = server().url();
            let store = RedisStore::from_url(&url).await.expect("connect");
            let options = NearCacheOptions::default().keep_own_writes(true);
            Arc::new(
                NearCachedStore::connect(store, &url, options)
                    .await
                    .expect("near cache"),
            )
        }

        session_plus_conformance::store_suite!(make_store);
    }
}

/// `near_cache = true` in a configuration document: reads of an unchanged
/// session stop reaching Redis (with `cluster_urls`: tests/near_cache_cluster.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_by_document() {
    use session_plus_core::SessionDriver;

    let server = RedisServer::start();
    let (manager, cookie) = document_session(&server, "near_cache_max_entries = 1000", 1).await;
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

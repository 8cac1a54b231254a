//! The near cache on a real Redis Cluster (three masters started by the
//! testkit): another app server (a second cluster store on its own
//! connections) changes or deletes sessions on every master, and the next read
//! through the cache must see it; a lost invalidation connection flushes and
//! bypasses the cache; a slot moved to a new master is followed. Run with
//! `--nocapture` for the counts.

mod support;

use std::time::{Duration, Instant};

use session_plus_core::store::SessionStore;
use session_plus_core::{unix_now, RecordKey, SessionId};
use session_plus_redis::{NearCacheOptions, NearCachedStore, RedisStore};
use session_plus_testkit::{free_port, RedisCluster, RedisServer, Reply};
use support::{counter, record, set};

/// Bound of every polling loop below.
const PATIENCE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(10);

fn options() -> NearCacheOptions {
    NearCacheOptions::default()
        .prefix("session")
        .poll_interval(Duration::from_millis(20))
}

async fn pair(cluster: &RedisCluster) -> (NearCachedStore, RedisStore) {
    let urls = cluster.urls();
    let store = RedisStore::from_cluster_urls(&urls).await.expect("store");
    let near = NearCachedStore::connect_cluster(store, &urls, options())
        .await
        .expect("near cache");
    let other = RedisStore::from_cluster_urls(&urls)
        .await
        .expect("second app server");
    (near, other)
}

/// Index of the node that holds `key` (the others answer `MOVED`).
fn owner(nodes: &[RedisServer], key: &RecordKey) -> usize {
    let k = key.store_key();
    nodes
        .iter()
        .position(|n| n.command(&["EXISTS", &k]).expect("EXISTS") == Reply::Integer(1))
        .expect("the key is on some master")
}

/// Both app servers on `cluster`, and one session per master, read once by
/// the near cache (so cached).
async fn cached_on_every_master(
    cluster: &RedisCluster,
) -> (NearCachedStore, RedisStore, Vec<(RecordKey, usize)>) {
    let (near, other) = pair(cluster).await;
    let keys = sessions_on_every_master(cluster.nodes(), &near, 1).await;
    for (key, _) in &keys {
        near.load(key).await.unwrap();
    }
    assert_eq!(near.len(), 3);
    (near, other, keys)
}

/// `per_node` sessions created through `near` on every master, with the
/// index of their master.
async fn sessions_on_every_master(
    nodes: &[RedisServer],
    near: &NearCachedStore,
    per_node: usize,
) -> Vec<(RecordKey, usize)> {
    let mut count = vec![0; nodes.len()];
    let mut keys = Vec::new();
    while count.iter().any(|&c| c < per_node) {
        let key = RecordKey::new("session", SessionId::generate());
        assert!(near.create(&key, &record(0)).await.unwrap());
        let at = owner(nodes, &key);
        if count[at] < per_node {
            count[at] += 1;
            keys.push((key, at));
        } else {
            near.delete(&key).await.unwrap();
        }
    }
    keys
}

/// `HGETALL` calls summed over the nodes.
fn hgetalls(nodes: &[RedisServer]) -> u64 {
    nodes
        .iter()
        .map(|n| {
            n.commandstats()
                .unwrap()
                .get("hgetall")
                .copied()
                .unwrap_or(0)
        })
        .sum()
}

/// Read, read (a hit), another server writes, read: counts the reads after
/// the write that saw old data and the hits of the second read.
async fn cycles(
    near: &NearCachedStore,
    other: &RedisStore,
    keys: &[(RecordKey, usize)],
    rounds: i64,
    start_at: i64,
) -> (u64, u64) {
    let mut stale = 0;
    let mut hits = 0;
    for i in start_at + 1..=start_at + rounds {
        for (key, _) in keys {
            near.load(key).await.unwrap();
            let before = near.stats().hits;
            assert_eq!(counter(&near.load(key).await.unwrap()), Some(i - 1));
            hits += near.stats().hits - before;
            // Another app server writes; once its write has returned, our
            // next read must see it.
            assert!(other.update(key, &set(i)).await.unwrap());
            if counter(&near.load(key).await.unwrap()) != Some(i) {
                stale += 1;
            }
        }
    }
    (stale, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_servers_writes_on_every_master_are_seen_by_the_next_read() {
    let cluster = RedisCluster::start(3);
    let (near, other) = pair(&cluster).await;
    assert_eq!(near.tracking_connections(), 3, "one per master");
    let keys = sessions_on_every_master(cluster.nodes(), &near, 1).await;
    let rounds = 500;
    let start = Instant::now();
    let (stale, hits) = cycles(&near, &other, &keys, rounds, 0).await;
    let stats = near.stats();
    eprintln!(
        "near cache on a 3-master cluster, {} write/read cycles ({rounds} per master) in {:?}: {stale} stale reads; {stats:?}",
        rounds * 3,
        start.elapsed()
    );
    assert_eq!(stale, 0, "reads after another server's write saw old data");
    assert_eq!(
        hits,
        rounds as u64 * 3,
        "unchanged records are served from memory, on every master"
    );
    assert!(stats.invalidations >= rounds as u64 * 3);
    assert_eq!(stats.disconnects, 0);
    assert_eq!(stats.topology_changes, 0, "{stats:?}");

    // Another server deletes or supersedes (login) sessions on every master.
    for (n, (key, _)) in keys.iter().enumerate() {
        near.load(key).await.unwrap();
        assert!(near.load(key).await.unwrap().is_some());
        if n % 2 == 0 {
            other.delete(key).await.unwrap();
            assert_eq!(near.load(key).await.unwrap(), None, "deleted elsewhere");
        } else {
            other.supersede(key, unix_now() + 60).await.unwrap();
            let after = near.load(key).await.unwrap().expect("a tombstone");
            assert!(
                !after.is_writable(unix_now()),
                "the tombstone, not the cached record"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_make_no_round_trip_to_any_node() {
    let cluster = RedisCluster::start(3);
    let (near, _) = pair(&cluster).await;
    let keys = sessions_on_every_master(cluster.nodes(), &near, 2).await;
    for (key, _) in &keys {
        assert_eq!(counter(&near.load(key).await.unwrap()), Some(0));
    }
    assert_eq!(near.len(), keys.len());
    let before = hgetalls(cluster.nodes());
    let stats_before = near.stats();
    for _ in 0..20 {
        for (key, _) in &keys {
            assert_eq!(counter(&near.load(key).await.unwrap()), Some(0));
        }
    }
    assert_eq!(hgetalls(cluster.nodes()), before, "a hit sent HGETALL");
    assert_eq!(
        near.stats().hits - stats_before.hits,
        20 * keys.len() as u64
    );
    assert_eq!(near.stats().misses, stats_before.misses);
}

/// `CLIENT KILL` of the near cache's invalidation connection on `node`.
fn kill_tracking_connection(node: &RedisServer) {
    let list = node.command(&["CLIENT", "LIST"]).unwrap().text().unwrap();
    let ids: Vec<&str> = list
        .lines()
        .filter(|l| l.contains("name=session-plus-near-cache"))
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .collect();
    assert_eq!(ids.len(), 1, "one tracking connection per master: {list}");
    assert_eq!(
        node.command(&["CLIENT", "KILL", "ID", ids[0]]).unwrap(),
        Reply::Integer(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_invalidation_connection_flushes_bypasses_and_recovers() {
    let cluster = RedisCluster::start(3);
    let (near, other, keys) = cached_on_every_master(&cluster).await;

    let (victim, at) = keys.iter().find(|(_, at)| *at == 1).unwrap();
    kill_tracking_connection(&cluster.nodes()[*at]);
    // Written while our connection to its master is gone: no invalidation
    // will ever come for it, so the cache must not answer from memory.
    assert!(other.update(victim, &set(7)).await.unwrap());
    let misses = near.stats().misses;
    assert_eq!(counter(&near.load(victim).await.unwrap()), Some(7));
    let stats = near.stats();
    assert!(stats.disconnects >= 1, "{stats:?}");
    assert_eq!(
        near.len(),
        0,
        "every master's entries flushed, not only its own"
    );
    // Bypassed until the connection is back (the background task reconnects
    // every poll interval): every key is read from Redis, none is kept. The
    // reconnect may already have happened; then the cache was flushed again.
    assert!(stats.misses > misses);
    // Bounded polling: the cache reconnects in the background and caches again.
    let deadline = Instant::now() + PATIENCE;
    while near.tracking_connections() < 3 {
        assert!(Instant::now() < deadline, "near cache never reconnected");
        tokio::time::sleep(POLL).await;
    }
    for (key, _) in &keys {
        near.load(key).await.unwrap();
    }
    assert_eq!(near.len(), 3, "caching again on every master");
    // And invalidations are applied again, on every master.
    for (n, (key, _)) in keys.iter().enumerate() {
        let v = 100 + n as i64;
        assert!(other.update(key, &set(v)).await.unwrap());
        assert_eq!(counter(&near.load(key).await.unwrap()), Some(v));
    }
    assert_eq!(near.stats().topology_changes, 0);
}

/// A master killed and restarted (no persistence: its keys are gone) must
/// never be answered from memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_master_is_never_answered_from_memory() {
    let mut cluster = RedisCluster::start(3);
    let (near, _) = pair(&cluster).await;
    let keys = sessions_on_every_master(cluster.nodes(), &near, 1).await;
    for (key, _) in &keys {
        near.load(key).await.unwrap();
    }
    assert_eq!(near.len(), 3);
    let (victim, at) = keys.iter().find(|(_, at)| *at == 2).unwrap();
    cluster.nodes_mut()[*at].restart();
    cluster.wait_until_ok();
    let deadline = Instant::now() + PATIENCE;
    loop {
        // The store's own connection heals first; until then reads fail.
        if let Ok(r) = near.load(victim).await {
            assert_eq!(r, None, "served a record the restarted master lost");
            break;
        }
        assert!(Instant::now() < deadline, "store never recovered");
        tokio::time::sleep(POLL).await;
    }
    assert!(near.stats().disconnects >= 1);
    while near.tracking_connections() < 3 {
        assert!(Instant::now() < deadline, "near cache never reconnected");
        tokio::time::sleep(POLL).await;
    }
}

/// Start a fourth cluster node, join it, and move `key`'s slot (with its
/// keys) from `from` to it, the way `redis-cli --cluster reshard` does.
fn move_slot_to_new_master(nodes: &[RedisServer], from: usize, key: &RecordKey) -> RedisServer {
    let bus = free_port();
    let new = RedisServer::start_with(&[
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-port",
        &bus.to_string(),
        "--cluster-node-timeout",
        "5000",
    ]);
    let ok = |r: Reply| assert_eq!(r.text().as_deref(), Some("OK"), "{r:?}");
    let port = new.port().to_string();
    ok(nodes[0]
        .command(&["CLUSTER", "MEET", "127.0.0.1", &port, &bus.to_string()])
        .unwrap());
    let id = |n: &RedisServer| n.command(&["CLUSTER", "MYID"]).unwrap().text().unwrap();
    let new_id = id(&new);
    let from_id = id(&nodes[from]);
    // Bounded polling: gossip has to introduce the new node to everyone.
    let deadline = Instant::now() + PATIENCE;
    for n in nodes.iter().chain([&new]) {
        loop {
            let known = n.command(&["CLUSTER", "NODES"]).unwrap().text().unwrap();
            if known.lines().count() == nodes.len() + 1 && !known.contains("handshake") {
                break;
            }
            assert!(Instant::now() < deadline, "node never joined: {known}");
            std::thread::sleep(POLL);
        }
    }
    // And the new node has to learn the slot map before it takes keys.
    loop {
        let info = new.command(&["CLUSTER", "INFO"]).unwrap().text().unwrap();
        if info.contains("cluster_state:ok") {
            break;
        }
        assert!(Instant::now() < deadline, "new node never ok: {info}");
        std::thread::sleep(POLL);
    }
    let k = key.store_key();
    let Reply::Integer(slot) = nodes[from].command(&["CLUSTER", "KEYSLOT", &k]).unwrap() else {
        panic!("CLUSTER KEYSLOT")
    };
    let slot = slot.to_string();
    ok(new
        .command(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id])
        .unwrap());
    ok(nodes[from]
        .command(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &new_id])
        .unwrap());
    let Reply::Array(Some(in_slot)) = nodes[from]
        .command(&["CLUSTER", "GETKEYSINSLOT", &slot, "1000"])
        .unwrap()
    else {
        panic!("CLUSTER GETKEYSINSLOT")
    };
    for key in in_slot {
        let key = key.text().unwrap();
        ok(nodes[from]
            .command(&["MIGRATE", "127.0.0.1", &port, &key, "0", "5000"])
            .unwrap());
    }
    for n in [&new].into_iter().chain(nodes) {
        ok(n.command(&["CLUSTER", "SETSLOT", &slot, "NODE", &new_id])
            .unwrap());
    }
    new
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_moved_to_a_new_master_is_followed() {
    let cluster = RedisCluster::start(3);
    let (near, other, keys) = cached_on_every_master(&cluster).await;
    // A second near cache whose topology poll will not run during the test:
    // it shows what happens before a poll notices the new master.
    let urls = cluster.urls();
    let slow = NearCachedStore::connect_cluster(
        RedisStore::from_cluster_urls(&urls).await.unwrap(),
        &urls,
        options().poll_interval(Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    for (key, _) in &keys {
        slow.load(key).await.unwrap();
    }
    assert_eq!(slow.len(), 3);

    let (moved, from) = &keys[0];
    let new = move_slot_to_new_master(cluster.nodes(), *from, moved);
    assert_eq!(
        new.command(&["EXISTS", &moved.store_key()]).unwrap(),
        Reply::Integer(1),
        "the key lives on the new master"
    );
    // MIGRATE deleted the key on the old master, which reported it before
    // answering MIGRATE: the next read (of any key) applies it.
    slow.load(&keys[1].0).await.unwrap();
    assert_eq!(slow.len(), 2, "the moved key left the cache");
    assert_eq!(slow.stats().topology_changes, 0);
    // The documented window: the key is read (and cached) from a master the
    // slow cache does not track yet, so a write there is not reported and the
    // cache answers the old value until its next topology poll.
    assert_eq!(counter(&slow.load(moved).await.unwrap()), Some(0));
    assert!(other.update(moved, &set(42)).await.unwrap());
    assert_eq!(
        counter(&slow.load(moved).await.unwrap()),
        Some(0),
        "a write on an untracked master is not reported (the documented window)"
    );
    assert!(other.update(moved, &set(0)).await.unwrap());
    // Bounded polling: the background task notices the new master, flushes,
    // and opens a tracking connection to it. Every node already has the final
    // slot map, but a poll that began while the slot was being handed over
    // may have seen it half done: wait until the cache has asked the new
    // node three more times, so one whole poll ran after the move.
    let slots_asked = || {
        new.commandstats()
            .unwrap()
            .get("cluster|slots")
            .copied()
            .unwrap_or(0)
    };
    let asked = slots_asked();
    let deadline = Instant::now() + PATIENCE;
    while near.stats().topology_changes == 0
        || near.tracking_connections() < 4
        || slots_asked() < asked + 3
    {
        assert!(
            Instant::now() < deadline,
            "topology change never noticed: {:?}",
            near.stats()
        );
        tokio::time::sleep(POLL).await;
    }
    // From now on writes on the new master invalidate too: no stale read,
    // and the moved key is cached again.
    let (stale, hits) = cycles(&near, &other, &keys, 100, 0).await;
    eprintln!(
        "after the slot moved: {stale} stale reads, {hits} hits; {:?}",
        near.stats()
    );
    assert_eq!(stale, 0, "reads after another server's write saw old data");
    assert_eq!(hits, 100 * keys.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_mode_is_a_clear_error() {
    let cluster = RedisCluster::start(3);
    let urls = cluster.urls();
    let store = RedisStore::from_cluster_urls(&urls).await.unwrap();
    let err = NearCachedStore::connect(store, &urls[0], NearCacheOptions::default())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("connect_cluster"), "{err:#}");

    let server = RedisServer::start();
    let store = RedisStore::from_url(&server.url()).await.unwrap();
    let err = NearCachedStore::connect_cluster(store, &[server.url()], NearCacheOptions::default())
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("cluster support disabled"),
        "{err:#}"
    );
}

/// `cluster_urls` with `near_cache = true` in a configuration document:
/// reads of an unchanged session stop reaching the cluster, and a write by
/// another app server (built from the same document) is seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_by_document_with_cluster_urls() {
    use std::sync::Arc;

    use session_plus_core::{ConfigDocument, Key, SessionDriver, StoreRegistry};

    let cluster = RedisCluster::start(3);
    let mut registry = StoreRegistry::new();
    session_plus_redis::register(&mut registry);
    let urls: Vec<String> = cluster.urls().iter().map(|u| format!("{u:?}")).collect();
    let doc = ConfigDocument::from_toml(&format!(
        r#"
        [[interface]]
        cookie_name = "session"
        session_type = "redis"
        cluster_urls = [{}]
        near_cache = true
        near_cache_max_entries = 1000
        "#,
        urls.join(", ")
    ))
    .unwrap();
    let key = Key::generate();
    let manager = Arc::new(doc.build(key.clone().into(), &registry).await.unwrap());
    let elsewhere = Arc::new(doc.build(key.into(), &registry).await.unwrap());
    let driver = SessionDriver::new(manager.clone(), std::iter::empty::<&[u8]>());
    driver.session().insert("n", 1).await.unwrap();
    let cookie = driver.finish().await.cookie_header();
    let read = |m: &Arc<session_plus_core::SessionManager>| {
        let d = SessionDriver::new(m.clone(), [cookie.as_bytes()]);
        async move {
            let n: Option<i64> = d.session().get("n").await.unwrap();
            d.finish().await;
            n
        }
    };
    assert_eq!(read(&manager).await, Some(1));
    let after_first = hgetalls(cluster.nodes());
    for _ in 0..5 {
        assert_eq!(read(&manager).await, Some(1));
    }
    assert_eq!(
        hgetalls(cluster.nodes()),
        after_first,
        "unchanged session read from the near cache"
    );
    // Another app server changes the session: the next read sees it.
    let d = SessionDriver::new(elsewhere.clone(), [cookie.as_bytes()]);
    d.session().insert("n", 2).await.unwrap();
    assert!(d.finish().await.error.is_none());
    assert_eq!(read(&manager).await, Some(2));
}

/// The whole store conformance suite through the near cache on a cluster: a
/// wrapper must keep every guarantee of the store it wraps.
mod conformance {
    use std::sync::{Arc, OnceLock};

    use session_plus_core::store::SessionStore;
    use session_plus_redis::{NearCacheOptions, NearCachedStore, RedisStore};
    use session_plus_testkit::RedisCluster;

    fn cluster() -> &'static RedisCluster {
        static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
        CLUSTER.get_or_init(|| RedisCluster::start(3))
    }

    async fn make_store() -> Arc<dyn SessionStore> {
        let urls = cluster().urls();
        let store = RedisStore::from_cluster_urls(&urls).await.expect("connect");
        Arc::new(
            NearCachedStore::connect_cluster(store, &urls, NearCacheOptions::default())
                .await
                .expect("near cache"),
        )
    }

    session_plus_conformance::store_suite!(make_store);
}

//! The shared conformance suite on a pool of three real `memcached` servers
//! started by this test binary (and killed when it exits, see
//! `session_plus_testkit`).

use std::sync::{Arc, OnceLock};

use session_plus_core::store::SessionStore;
use session_plus_memcache::MemcacheStore;
use session_plus_testkit::MemcachedServer;

/// One pool for the whole binary: every check uses fresh random ids.
fn pool() -> &'static [MemcachedServer] {
    static POOL: OnceLock<Vec<MemcachedServer>> = OnceLock::new();
    POOL.get_or_init(|| MemcachedServer::start_pool(3))
}

async fn make_store() -> Arc<dyn SessionStore> {
    let servers: Vec<String> = pool().iter().map(MemcachedServer::addr).collect();
    Arc::new(
        MemcacheStore::connect(&servers)
            .await
            .expect("connect to the memcached pool"),
    )
}

session_plus_conformance::store_suite!(make_store);

/// Records of different sessions land on different servers (so the suite
/// above really ran on a pool), each whole on the one server
/// [`StableRendezvous`] picks for its key: the client routes with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_spread_over_the_pool() {
    use session_plus_conformance::fixtures::{changes, key, live_meta, refresh};
    use session_plus_core::store::Record;
    use session_plus_memcache::StableRendezvous;

    let store = make_store().await;
    let addrs: Vec<String> = pool().iter().map(MemcachedServer::addr).collect();
    let mut per_server = vec![0; pool().len()];
    for i in 0..60 {
        let k = key("spread:");
        let fields = [("n".to_owned(), serde_json::json!(i))].into();
        assert!(store
            .create(&k, &Record::new(fields, live_meta()))
            .await
            .unwrap());
        let delta = changes([("m", serde_json::json!(1))], &[], refresh());
        assert!(store.update(&k, &delta).await.unwrap());
        assert_eq!(
            store.load(&k).await.unwrap().expect("record").fields.len(),
            2
        );
        let home = StableRendezvous.pick(k.store_key().as_bytes(), &addrs);
        for (n, server) in pool().iter().enumerate() {
            let reply = server
                .command(&format!("mg {} v\r\n", k.store_key()))
                .unwrap();
            assert_eq!(
                reply.starts_with("VA "),
                n == home,
                "server {n} (home {home}) answered {reply:?}"
            );
        }
        per_server[home] += 1;
    }
    eprintln!("pool: 60 sessions per server = {per_server:?}");
    assert!(
        per_server.iter().all(|&n| n > 0),
        "a server got no session: {per_server:?}"
    );
}

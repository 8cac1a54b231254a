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
/// above really ran on a pool), each whole on one server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_spread_over_the_pool() {
    use session_plus_conformance::fixtures::{changes, key, live_meta, refresh};
    use session_plus_core::store::Record;

    let store = make_store().await;
    let before: Vec<u64> = pool()
        .iter()
        .map(|s| s.stat("total_items").unwrap())
        .collect();
    let prefix = format!("spread{}:", std::process::id());
    let mut keys = Vec::new();
    for i in 0..60 {
        let k = key(&prefix);
        let fields = [("n".to_owned(), serde_json::json!(i))].into();
        assert!(store
            .create(&k, &Record::new(fields, live_meta()))
            .await
            .unwrap());
        keys.push(k);
    }
    let per_server: Vec<u64> = pool()
        .iter()
        .zip(&before)
        .map(|(s, b)| s.stat("total_items").unwrap() - b)
        .collect();
    eprintln!("pool: 60 new sessions per server = {per_server:?}");
    assert!(
        per_server.iter().all(|&n| n > 0),
        "a server got no session: {per_server:?}"
    );
    for k in &keys {
        let delta = changes([("m", serde_json::json!(1))], &[], refresh());
        assert!(store.update(k, &delta).await.unwrap());
        let record = store.load(k).await.unwrap().expect("record");
        assert_eq!(record.fields.len(), 2);
    }
}

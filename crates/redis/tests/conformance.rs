//! The shared conformance suite against a real `redis-server` and against a
//! real 3-master Redis Cluster, both started by this test binary (and killed
//! when it exits, see `session_plus_testkit`).

use std::sync::{Arc, OnceLock};

use session_plus_core::store::SessionStore;
use session_plus_redis::RedisStore;
use session_plus_testkit::{RedisCluster, RedisServer};

/// One server for the whole binary: every check uses fresh random ids.
fn server() -> &'static RedisServer {
    static SERVER: OnceLock<RedisServer> = OnceLock::new();
    SERVER.get_or_init(RedisServer::start)
}

fn cluster() -> &'static RedisCluster {
    static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| RedisCluster::start(3))
}

mod standalone {
    use super::*;

    async fn make_store() -> Arc<dyn SessionStore> {
        let url = server().url();
        Arc::new(
            RedisStore::from_url(&url)
                .await
                .expect("connect to redis-server"),
        )
    }

    session_plus_conformance::store_suite!(make_store);
}

mod cluster {
    use super::*;

    async fn make_store() -> Arc<dyn SessionStore> {
        let urls = cluster().urls();
        Arc::new(
            RedisStore::from_cluster_urls(&urls)
                .await
                .expect("connect to the cluster"),
        )
    }

    session_plus_conformance::store_suite!(make_store);

    /// Records of different sessions land on different nodes (so the suite
    /// above really exercised scripts on several nodes), and each record is
    /// whole on one node.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sessions_spread_over_nodes() {
        use session_plus_conformance::fixtures::{key, live_meta, refresh};
        use session_plus_core::store::{Changes, Record};

        let store = make_store().await;
        let prefix = format!("spread{}:", std::process::id());
        let mut keys = Vec::new();
        for i in 0..30 {
            let k = key(&prefix);
            let fields = [("n".to_owned(), serde_json::json!(i))].into();
            let record = Record::new(fields, live_meta());
            assert!(store.create(&k, &record).await.unwrap());
            let changes = Changes::new(refresh()).set("m", serde_json::json!(i));
            assert!(store.update(&k, &changes).await.unwrap());
            keys.push(k);
        }
        let pattern = format!("{prefix}*");
        let mut per_node = Vec::new();
        for node in cluster().nodes() {
            let reply = node.command(&["KEYS", &pattern]).unwrap();
            let session_plus_testkit::Reply::Array(Some(found)) = reply else {
                panic!("KEYS: {reply:?}")
            };
            per_node.push(found.len());
        }
        eprintln!("cluster: 30 sessions per node = {per_node:?}");
        assert_eq!(per_node.iter().sum::<usize>(), 30);
        assert!(
            per_node.iter().filter(|&&n| n > 0).count() >= 2,
            "all sessions on one node: {per_node:?}"
        );
        for k in &keys {
            let record = store.load(k).await.unwrap().expect("record");
            assert_eq!(record.fields.len(), 2);
        }
    }
}

//! One timer per store call: a standalone store made from a URL bounds each
//! whole call by its response timeout and says so
//! (`SessionStore::call_timeout`), so the core adds no timer of its own when
//! that bound is at most the interface's timeout. What must still hold: a
//! stalled server gives a timely 503 (a timeout), never a hang, and the store
//! recovers by itself.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use session_plus_core::store::SessionStore;
use session_plus_core::{FieldRules, Interface, Key, SessionManager};
use session_plus_redis::{redis, RedisOptions, RedisStore};
use session_plus_testkit::{RedisCluster, RedisServer};
use support::{stall, Jar};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bound_is_claimed_only_where_it_holds() {
    let server = RedisServer::start();
    let options = RedisOptions::default().response_timeout(Duration::from_millis(300));
    let store = RedisStore::from_url_with(&server.url(), options)
        .await
        .unwrap();
    assert_eq!(store.call_timeout(), Some(Duration::from_millis(300)));
    let store = RedisStore::from_url(&server.url()).await.unwrap();
    assert_eq!(
        store.call_timeout(),
        Some(RedisOptions::default().response_timeout_value())
    );
    // A connection made by the caller: its limits are unknown.
    let client = redis::Client::open(server.url()).unwrap();
    let manager = redis::aio::ConnectionManager::new(client).await.unwrap();
    assert_eq!(RedisStore::new(manager).call_timeout(), None);
    // The cluster client times each reply itself: no claim for whole calls.
    let cluster = RedisCluster::start(3);
    let store = RedisStore::from_cluster_urls(&cluster.urls())
        .await
        .unwrap();
    assert_eq!(store.call_timeout(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_server_hits_the_stores_own_bound_with_no_core_timer() {
    let server = RedisServer::start();
    let options = RedisOptions::default()
        .response_timeout(Duration::from_millis(300))
        .connection_timeout(Duration::from_millis(300));
    let store = RedisStore::from_url_with(&server.url(), options)
        .await
        .unwrap();
    // 30 s: were the store's bound not kept, the read below would wait for
    // the whole 2 s stall and succeed.
    let manager = Arc::new(
        SessionManager::builder()
            .keys(Key::generate())
            .interface(
                Interface::store("session", Arc::new(store))
                    .fields(FieldRules::All)
                    .timeout(Duration::from_secs(30)),
            )
            .build()
            .unwrap(),
    );
    let mut jar = Jar::default();
    let s = jar.session(&manager);
    s.insert("base", 1).await.unwrap();
    assert!(jar.finish(&s).await.error.is_none());

    let stall = stall(&server.url(), 2).await;

    let started = Instant::now();
    let s = jar.session(&manager);
    let e = s
        .get::<u64>("base")
        .await
        .expect_err("a stalled server cannot answer");
    let waited = started.elapsed();
    assert!(
        e.is_timeout() && e.is_service_unavailable(),
        "a timeout answered with 503, got {e:?}"
    );
    assert_eq!(e.interface(), Some("session"), "{e:?}");
    // No timing assertion: had the bound not cut the call short, it would
    // have outlived the stall and succeeded.
    eprintln!("stalled read failed after {waited:?} (store bound 300 ms, interface 30 s)");
    jar.finish(&s).await;

    stall.await.unwrap().unwrap();
    // Recovered by itself (the timed-out connection was replaced).
    let mut recovered = None;
    for attempt in 0..5 {
        let s = jar.session(&manager);
        if let Ok(v) = s.get::<u64>("base").await {
            recovered = Some((attempt, v));
            jar.finish(&s).await;
            break;
        }
        jar.finish(&s).await;
    }
    assert_eq!(
        recovered.map(|(_, v)| v),
        Some(Some(1)),
        "no recovery after the stall"
    );
}

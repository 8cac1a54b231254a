//! Commands per request type through the core's `SessionDriver`, measured on
//! a pool of real memcached servers with `stats` deltas.
//!
//! Run with `--nocapture` to see the table.

mod support;

use std::sync::Arc;
use std::time::Duration;

use session_plus_core::{FieldRules, Interface, Key, SessionManager};
use session_plus_memcache::MemcacheStore;
use session_plus_testkit::MemcachedServer;
use support::{commands, counts, delta, Jar};

fn build_manager(store: &MemcacheStore, refresh: Duration) -> Arc<SessionManager> {
    Arc::new(
        SessionManager::builder()
            .keys(Key::generate())
            .interface(
                Interface::store("session", Arc::new(store.clone()))
                    .fields(FieldRules::include(["user_id", "cart"]))
                    .refresh_interval(refresh),
            )
            .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
            .build()
            .expect("valid config"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_per_request_type() {
    let pool = MemcachedServer::start_pool(3);
    let addrs: Vec<String> = pool.iter().map(MemcachedServer::addr).collect();
    let store = MemcacheStore::connect(&addrs).await.unwrap();
    let manager = build_manager(&store, Duration::from_secs(60));
    let mut rows: Vec<(&str, String)> = Vec::new();

    // Runs one request and checks the commands it sent.
    macro_rules! request {
        ($label:expr, $manager:expr, $jar:expr, $expect:expr, |$s:ident| $body:expr) => {{
            let before = commands(&pool);
            let (driver, $s) = $jar.request(&$manager);
            $body;
            let done = $jar.finish(driver).await;
            assert!(done.error.is_none(), "{}: {:?}", $label, done.error);
            let sent = delta(&before, &commands(&pool));
            rows.push(($label, format!("{sent:?}")));
            assert_eq!(sent, counts($expect), "{}", $label);
        }};
    }

    let mut jar = Jar::default();
    request!("new session (add)", manager, jar, &[("set", 1)], |s| s
        .insert("user_id", 42)
        .await
        .unwrap());
    assert!(jar.has("session"));
    request!("untouched request", manager, jar, &[], |s| {
        let _ = &s;
    });
    request!("read-only", manager, jar, &[("get", 1)], |s| assert_eq!(
        s.get::<u64>("user_id").await.unwrap(),
        Some(42)
    ));
    request!(
        "one-field write (gets + cas)",
        manager,
        jar,
        &[("get", 1), ("set", 1)],
        |s| s.insert("cart", [1, 2, 3]).await.unwrap()
    );
    request!(
        "write that changes nothing",
        manager,
        jar,
        &[("get", 1)],
        |s| s.insert("user_id", 42).await.unwrap()
    );
    request!(
        "field removed, others stay (gets + cas)",
        manager,
        jar,
        &[("get", 1), ("set", 1)],
        |s| {
            s.remove::<Vec<u8>>("cart").await.unwrap();
        }
    );
    request!(
        "login: cycle_id (gets, cas tombstone, add)",
        manager,
        jar,
        &[("get", 1), ("set", 2)],
        |s| s.cycle_id().await.unwrap()
    );
    request!(
        "last field removed (record deleted)",
        manager,
        jar,
        &[("get", 1), ("delete", 1)],
        |s| {
            s.remove::<u64>("user_id").await.unwrap();
        }
    );
    assert!(!jar.has("session"));

    // Idle-expiry refresh: with a refresh interval of 0 every read refreshes,
    // by a merge (gets + cas), never the `touch` command.
    let touching = build_manager(&store, Duration::ZERO);
    let mut jar = Jar::default();
    request!("new session (add)", touching, jar, &[("set", 1)], |s| s
        .insert("user_id", 7)
        .await
        .unwrap());
    request!(
        "read with idle refresh due (gets + cas)",
        touching,
        jar,
        &[("get", 1), ("set", 1)],
        |s| assert_eq!(s.get::<u64>("user_id").await.unwrap(), Some(7))
    );

    // Without remembered loads, a write reads twice (load, then the merge's
    // own gets).
    let plain = MemcacheStore::connect_with(
        &addrs,
        session_plus_memcache::MemcacheOptions::default().snapshot_capacity(0),
    )
    .await
    .unwrap();
    let plain_manager = build_manager(&plain, Duration::from_secs(60));
    let mut jar = Jar::default();
    request!(
        "new session (add)",
        plain_manager,
        jar,
        &[("set", 1)],
        |s| s.insert("user_id", 1).await.unwrap()
    );
    request!(
        "one-field write, snapshots off (get + gets + cas)",
        plain_manager,
        jar,
        &[("get", 2), ("set", 1)],
        |s| s.insert("cart", [1]).await.unwrap()
    );

    eprintln!("\n| request | memcached commands |\n|---|---|");
    for (label, sent) in rows {
        eprintln!("| {label} | {sent} |");
    }
}

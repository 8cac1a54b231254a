//! Commands per request type through the core `Session`, measured on a real
//! `redis-server` with `INFO commandstats` deltas.
//!
//! Run with `--nocapture` to see the table.

mod support;

use std::sync::Arc;
use std::time::Duration;

use session_plus_core::{FieldRules, Interface, Key, SessionManager};
use session_plus_redis::RedisStore;
use session_plus_testkit::RedisServer;
use support::{commandstats, counts, delta, Jar};

fn manager(store: &RedisStore, refresh: Duration) -> Arc<SessionManager> {
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
    let server = RedisServer::start();
    let store = RedisStore::from_url(&server.url()).await.unwrap();
    let manager = manager(&store, Duration::from_secs(60));
    let mut rows = Vec::new();

    // Runs one request and checks the commands it sent.
    macro_rules! request {
        ($label:expr, $jar:expr, $expect:expr, |$s:ident| $body:expr) => {{
            let before = commandstats(&server);
            let $s = $jar.session(&manager);
            $body;
            let done = $jar.finish(&$s).await;
            assert!(done.error.is_none(), "{}: {:?}", $label, done.error);
            let (client, inner) = delta(&before, &commandstats(&server));
            rows.push(($label, client.clone(), inner));
            assert_eq!(client, counts($expect), "{}", $label);
        }};
    }

    let mut cold = Jar::default();
    request!(
        "new session, cold script cache",
        cold,
        &[("evalsha", 1), ("eval", 1)],
        |s| { s.insert("user_id", 1).await.unwrap() }
    );
    request!(
        "first update, cold script cache",
        cold,
        &[("hgetall", 1), ("evalsha", 1), ("eval", 1)],
        |s| { s.insert("cart", [0]).await.unwrap() }
    );
    let mut jar = Jar::default();
    request!("new session (create)", jar, &[("evalsha", 1)], |s| s
        .insert("user_id", 42)
        .await
        .unwrap());
    assert!(jar.has("session"));
    request!("untouched request", jar, &[], |s| {
        let _ = &s;
    });
    // A write to a cookie interface loads the server-side record the request
    // names once: the core learns the session's binding from it before it
    // creates a new interface, and checks that no concurrent login moved the
    // session (a request with pre-login cookies must not overwrite the
    // cookies the login issued).
    request!(
        "first write creating the data cookie",
        jar,
        &[("hgetall", 1)],
        |s| s.insert("theme", "dark").await.unwrap()
    );
    request!(
        "writes only cookie-interface fields",
        jar,
        &[("hgetall", 1)],
        |s| s.insert("theme", "light").await.unwrap()
    );
    request!("read-only", jar, &[("hgetall", 1)], |s| assert_eq!(
        s.get::<u64>("user_id").await.unwrap(),
        Some(42)
    ));
    request!(
        "one-field write",
        jar,
        &[("hgetall", 1), ("evalsha", 1)],
        |s| s.insert("cart", [1, 2, 3]).await.unwrap()
    );
    request!("write that changes nothing", jar, &[("hgetall", 1)], |s| s
        .insert("user_id", 42)
        .await
        .unwrap());
    request!(
        "field removed, others stay",
        jar,
        &[("hgetall", 1), ("evalsha", 1)],
        |s| {
            s.remove::<Vec<u8>>("cart").await.unwrap();
        }
    );
    request!(
        "last field removed (record deleted)",
        jar,
        &[("hgetall", 1), ("del", 1)],
        |s| {
            s.remove::<u64>("user_id").await.unwrap();
        }
    );
    assert!(!jar.has("session"));

    // Idle-expiry refresh: with a refresh interval of 0 every read refreshes.
    let touching = manager_refresh_zero(&store);
    let mut jar = Jar::default();
    let s = jar.session(&touching);
    s.insert("user_id", 7).await.unwrap();
    assert!(jar.finish(&s).await.error.is_none());
    let before = commandstats(&server);
    let s = jar.session(&touching);
    assert_eq!(s.get::<u64>("user_id").await.unwrap(), Some(7));
    assert!(jar.finish(&s).await.error.is_none());
    let (client, inner) = delta(&before, &commandstats(&server));
    assert_eq!(client, counts(&[("hgetall", 1), ("evalsha", 1)]), "refresh");
    rows.push(("read-only, idle refresh due (touch)", client, inner));

    // Login (cycle_id): one load, then the move in one script on a standalone
    // server. The script's own HGETALL (the snapshot) and DEL (before the
    // tombstone) count under those names too: `commandstats` cannot tell them
    // from client commands, so only EVALSHA says how many round trips.
    let mut jar = Jar::default();
    let s = jar.session(&manager);
    s.insert("user_id", 9).await.unwrap();
    assert!(jar.finish(&s).await.error.is_none());
    let s = jar.session(&manager);
    s.cycle_id().await.unwrap(); // a first login loads the script into the server
    assert!(jar.finish(&s).await.error.is_none());
    let before = commandstats(&server);
    let s = jar.session(&manager);
    s.cycle_id().await.unwrap();
    let done = jar.finish(&s).await;
    assert!(done.error.is_none(), "login: {:?}", done.error);
    let (client, inner) = delta(&before, &commandstats(&server));
    assert_eq!(
        client,
        counts(&[("hgetall", 2), ("evalsha", 1), ("del", 1)]),
        "login"
    );
    rows.push(("login (cycle_id), standalone", client, inner));

    eprintln!(
        "\n{:<40} | {:<28} | inside scripts",
        "request", "round trips (client commands)"
    );
    for (label, client, inner) in &rows {
        eprintln!("{label:<40} | {:<28} | {inner:?}", format!("{client:?}"));
    }
}

fn manager_refresh_zero(store: &RedisStore) -> Arc<SessionManager> {
    manager(store, Duration::ZERO)
}

/// The command counts above also hold with several requests in flight: a
/// cookie-only write costs one `HGETALL` (the login check) and nothing else,
/// and a request that does not touch the session costs nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_only_and_untouched_requests_under_load() {
    let server = RedisServer::start();
    let store = RedisStore::from_url(&server.url()).await.unwrap();
    let manager = manager(&store, Duration::from_secs(60));
    let mut jar = Jar::default();
    let s = jar.session(&manager);
    s.insert("user_id", 1).await.unwrap();
    s.insert("theme", "dark").await.unwrap();
    assert!(jar.finish(&s).await.error.is_none());
    assert!(jar.has("data") && jar.has("session"));

    let before = commandstats(&server);
    let requests = (0..200).map(|i| {
        let (manager, mut jar) = (manager.clone(), jar.clone());
        tokio::spawn(async move {
            let s = jar.session(&manager);
            if i % 2 == 0 {
                s.insert("theme", "light").await.unwrap();
            }
            jar.finish(&s).await.error.is_none()
        })
    });
    for ok in futures_util::future::join_all(requests).await {
        assert!(ok.unwrap());
    }
    let (client, inner) = delta(&before, &commandstats(&server));
    assert_eq!(client, counts(&[("hgetall", 100)]), "{client:?} {inner:?}");
    assert!(inner.is_empty(), "{inner:?}");
}

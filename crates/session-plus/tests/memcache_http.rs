//! The seed configuration with its server-side interface on a pool of real
//! memcached servers (started by the test), end to end through the HTTP
//! layer: built in code, and from a configuration document.

mod support;

use std::sync::Arc;

use http::StatusCode;
use session_plus::store::SessionStore;
use session_plus::Key;
use session_plus_memcache::{MemcacheStore, StableRendezvous};
use session_plus_testkit::MemcachedServer;
use support::*;

/// The server of the pool holding the session with this id, and the item's
/// remaining TTL there (`None` when the item is not there).
fn item_ttl(pool: &[MemcachedServer], id: &str) -> (usize, Option<i64>) {
    let addrs: Vec<String> = pool.iter().map(MemcachedServer::addr).collect();
    let key = format!("session{id}");
    let at = StableRendezvous.pick(key.as_bytes(), &addrs);
    let reply = pool[at].command(&format!("mg {key} t\r\n")).expect("mg");
    let ttl = reply
        .strip_prefix("HD ")
        .and_then(|r| r.trim().strip_prefix('t'))
        .and_then(|t| t.parse().ok());
    (at, ttl)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_configuration_on_memcache_end_to_end() {
    let mut pool = MemcachedServer::start_pool(3);
    let addrs: Vec<String> = pool.iter().map(MemcachedServer::addr).collect();
    let store: Arc<dyn SessionStore> =
        Arc::new(MemcacheStore::connect(&addrs).await.expect("connect"));
    let app = app(seed_manager(store.clone(), Key::generate()));
    let mut jar = Jar::default();

    let r = send(&app, "POST", "/seed-login", &mut jar).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.set_cookies.len(), 3, "{:?}", r.set_cookies);
    assert!(jar.get("csrf").is_some() && jar.get("data").is_some());
    let id = jar.get("session").unwrap().to_owned();
    let (at, ttl) = item_ttl(&pool, &id);
    let ttl = ttl.expect("the record lives in memcached under key_prefix + id");
    assert!(
        (86_390..=86_400).contains(&ttl),
        "exptime is the 1-day lifetime: {ttl}"
    );
    let rec = store.load(&record_key(&id)).await.unwrap().expect("record");
    assert_eq!(
        rec.fields.keys().collect::<Vec<_>>(),
        ["user_data", "user_id"]
    );

    let r = send(&app, "GET", "/all", &mut jar).await;
    let all: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(all["user_id"], 42);
    assert_eq!(all["theme"], "dark");
    assert_eq!(
        send(&app, "POST", "/set/user_id/43", &mut jar).await.status,
        StatusCode::OK
    );
    assert_eq!(send(&app, "GET", "/get/user_id", &mut jar).await.body, "43");

    // The session's server goes away: reads of its fields are a 503, cookie
    // fields still work, and a write to its fields is refused.
    pool[at].stop();
    assert_eq!(
        send(&app, "GET", "/get/user_id", &mut jar).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        send(&app, "GET", "/get/theme", &mut jar).await.body,
        "\"dark\""
    );
    assert_eq!(
        send(&app, "POST", "/set/user_id/1", &mut jar.clone())
            .await
            .status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // It comes back empty: the session starts fresh, without an error.
    pool[at].restart();
    assert_eq!(
        send(&app, "GET", "/get/user_id", &mut jar).await.body,
        "null"
    );
    let mut fresh = Jar::default();
    assert_eq!(
        send(&app, "POST", "/set/user_id/7", &mut fresh)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, "GET", "/get/user_id", &mut fresh).await.body,
        "7"
    );

    // Logout deletes the item.
    let id = fresh.get("session").unwrap().to_owned();
    assert!(item_ttl(&pool, &id).1.is_some());
    send(&app, "POST", "/destroy", &mut fresh).await;
    assert_eq!(item_ttl(&pool, &id).1, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_configuration_from_a_document() {
    let pool = MemcachedServer::start_pool(3);
    let servers: Vec<String> = pool.iter().map(|s| format!("\"{}\"", s.url())).collect();
    let doc = session_plus::ConfigDocument::from_toml(&format!(
        r#"
        [[interface]]
        cookie_name = "csrf"
        session_fields = ["csrf_token"]

        [[interface]]
        cookie_name = "session"
        session_type = "memcache"
        servers = [{}]
        session_fields = ["user_id", "user_data"]
        timeout_ms = 500

        [[interface]]
        cookie_name = "data"
        session_fields = "auto"
        "#,
        servers.join(", ")
    ))
    .unwrap();
    let manager = doc
        .build(Key::generate().into(), &session_plus::default_registry())
        .await
        .expect("the document builds");
    let app = app(manager);
    let mut jar = Jar::default();
    assert_eq!(
        send(&app, "POST", "/seed-login", &mut jar).await.status,
        StatusCode::OK
    );
    let id = jar.get("session").unwrap().to_owned();
    assert!(
        item_ttl(&pool, &id).1.is_some(),
        "the record is in memcached"
    );
    let r = send(&app, "GET", "/all", &mut jar).await;
    let all: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(all["user_id"], 42);
    assert_eq!(all["user_data"]["name"], "ann");
    assert_eq!(all["csrf_token"], "tok");

    // A misspelled setting is an error naming it and the interface.
    let bad = session_plus::ConfigDocument::from_toml(
        "[[interface]]\ncookie_name = \"session\"\nsession_type = \"memcache\"\nserver = [\"127.0.0.1:1\"]\n",
    )
    .unwrap();
    let e = bad
        .build(Key::generate().into(), &session_plus::default_registry())
        .await
        .unwrap_err();
    let shown = e.to_string();
    assert!(
        e.is_config() && shown.contains("server") && shown.contains("session"),
        "{shown}"
    );
}

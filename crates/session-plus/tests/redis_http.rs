//! The seed configuration with its server-side interface on a real Redis
//! (started by the test), end to end through the HTTP layer.

mod support;

use std::sync::Arc;

use http::StatusCode;
use session_plus::redis::RedisStore;
use session_plus::store::SessionStore;
use session_plus::Key;
use session_plus_testkit::{RedisServer, Reply};
use support::*;

fn exists(server: &RedisServer, key: &str) -> bool {
    matches!(
        server.command(&["EXISTS", key]).expect("EXISTS"),
        Reply::Integer(1)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_configuration_on_redis_end_to_end() {
    let mut server = RedisServer::start();
    let store: Arc<dyn SessionStore> =
        Arc::new(RedisStore::from_url(&server.url()).await.expect("connect"));
    let app = app(seed_manager(store.clone(), Key::generate()));
    let mut jar = Jar::default();

    let r = send(&app, "POST", "/seed-login", &mut jar).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.set_cookies.len(), 3, "{:?}", r.set_cookies);
    assert_eq!(signed_fields(jar.get("csrf").unwrap()), ["csrf_token"]);
    assert_eq!(signed_fields(jar.get("data").unwrap()), ["theme"]);
    let id = jar.get("session").unwrap().to_owned();
    let key = format!("session{id}");
    assert!(
        exists(&server, &key),
        "the record lives in Redis under key_prefix + id"
    );
    let rec = store.load(&record_key(&id)).await.unwrap().expect("record");
    assert_eq!(
        rec.fields.keys().collect::<Vec<_>>(),
        ["user_data", "user_id"]
    );
    match server.command(&["TTL", &key]).unwrap() {
        Reply::Integer(ttl) => assert!(
            (86_390..=86_400).contains(&ttl),
            "TTL is the 1-day lifetime: {ttl}"
        ),
        other => panic!("TTL: {other:?}"),
    }

    let r = send(&app, "GET", "/all", &mut jar).await;
    let all: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(all["user_id"], 42);
    assert_eq!(all["theme"], "dark");

    // Redis goes away: reads of its fields are a 503, cookie fields still work,
    // and a write to its fields is refused without touching anything.
    server.stop();
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
    // It comes back (empty: the test server keeps no data), and the backend recovers by itself.
    server.restart();
    let mut fresh = Jar::default();
    let mut recovered = false;
    for _ in 0..50 {
        if send(&app, "POST", "/set/user_id/7", &mut fresh)
            .await
            .status
            == StatusCode::OK
        {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "the store reconnects after a restart");
    assert_eq!(
        send(&app, "GET", "/get/user_id", &mut fresh).await.body,
        "7"
    );

    // Logout deletes the record.
    let id = fresh.get("session").unwrap().to_owned();
    send(&app, "POST", "/destroy", &mut fresh).await;
    assert!(!exists(&server, &format!("session{id}")));
}

//! The seed configuration, written as a configuration document, with its
//! server-side interface on MongoDB, end to end through the HTTP layer. The
//! server is SecantusDB (a MongoDB wire-protocol server, not mongod),
//! started by the test kit with its data on disk, so a crash and restart
//! keeps what was acknowledged.

mod support;

use http::StatusCode;
use session_plus::{default_registry, ConfigDocument, Key};
use session_plus_mongodb::mongodb::bson::{doc, Document};
use session_plus_mongodb::mongodb::Client;
use session_plus_testkit::SecantusServer;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_configuration_on_mongodb_end_to_end() {
    let mut server = SecantusServer::start_durable();
    let url = format!("{}&serverSelectionTimeoutMS=2000", server.replica_set_url());
    let doc = ConfigDocument::from_toml(&format!(
        r#"
        [[interface]]
        cookie_name = "csrf"
        session_fields = ["csrf_token"]

        [[interface]]
        cookie_name = "session"
        session_type = "mongodb"
        url = "{url}"
        db = "app"
        collection = "sessions"
        session_fields = ["user_id", "user_data"]
        timeout_ms = 500

        [[interface]]
        cookie_name = "data"
        session_fields = "auto"
        "#
    ))
    .expect("the document parses");
    let manager = doc
        .build(Key::generate().into(), &default_registry())
        .await
        .expect("the seed configuration builds on MongoDB");
    let app = app(manager);
    let sessions = Client::with_uri_str(&url)
        .await
        .unwrap()
        .database("app")
        .collection::<Document>("sessions");
    let mut jar = Jar::default();

    let r = send(&app, "POST", "/seed-login", &mut jar).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.set_cookies.len(), 3, "{:?}", r.set_cookies);
    assert_eq!(signed_fields(jar.get("csrf").unwrap()), ["csrf_token"]);
    assert_eq!(signed_fields(jar.get("data").unwrap()), ["theme"]);
    let id = jar.get("session").unwrap().to_owned();
    let stored = sessions
        .find_one(doc! { "_id": format!("session{id}") })
        .await
        .unwrap()
        .expect("the record is a document with _id = key_prefix + id");
    let fields = stored.get_document("fields").unwrap();
    assert_eq!(fields.keys().collect::<Vec<_>>(), ["user_data", "user_id"]);
    assert_eq!(fields.get_i64("user_id").unwrap(), 42);
    let ttl = stored.get_datetime("expires").unwrap().timestamp_millis() / 1000
        - session_plus_core::unix_now();
    assert!((86_390..=86_400).contains(&ttl), "1-day lifetime: {ttl}");

    let r = send(&app, "GET", "/all", &mut jar).await;
    let all: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(all["user_id"], 42);
    assert_eq!(all["theme"], "dark");
    let r = send(&app, "POST", "/set/user_id/43", &mut jar).await;
    assert_eq!(r.status, StatusCode::OK);

    // MongoDB crashes: its fields answer 503, cookie fields still work, and
    // a write to its fields is refused.
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

    // It comes back with its files: the store recovers by itself and the
    // acknowledged write is there.
    server.restart();
    let mut recovered = None;
    for _ in 0..100 {
        let r = send(&app, "GET", "/get/user_id", &mut jar).await;
        if r.status == StatusCode::OK {
            recovered = Some(r.body);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(recovered.as_deref(), Some("43"), "recovery with the data");
    let r = send(&app, "POST", "/set/user_id/7", &mut jar).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(send(&app, "GET", "/get/user_id", &mut jar).await.body, "7");

    // Logout deletes the document.
    assert_eq!(
        send(&app, "POST", "/destroy", &mut jar).await.status,
        StatusCode::OK
    );
    assert!(sessions
        .find_one(doc! { "_id": format!("session{id}") })
        .await
        .unwrap()
        .is_none());
}

//! Faults through the HTTP layer: the emulator stopped mid-stream (503 for
//! Firestore fields, cookie fields keep working, no acknowledged write lost),
//! restarted (recovery), and a stalled call (the interface timeout).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use session_plus_core::{FieldRules, Interface, Key, SessionDriver, SessionId, SessionManager};
use session_plus_firestore::{FirestoreClient, FirestoreStore};
use session_plus_testkit::FirestoreEmulator;

use common::{app, send, Jar};

fn seed(client: FirestoreClient, timeout: Duration) -> Arc<SessionManager> {
    Arc::new(
        SessionManager::builder()
            .keys(Key::generate())
            .interface(Interface::secure_cookie("csrf").fields(FieldRules::include(["csrf_token"])))
            .interface(
                Interface::store(
                    "session",
                    Arc::new(FirestoreStore::new(client, "sessions").unwrap()),
                )
                .fields(FieldRules::include(["user_id", "user_data"]))
                .timeout(timeout),
            )
            .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
            .build()
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_stopped_then_restarted() {
    // This test stops its emulator: it gets one of its own.
    let mut emulator = tokio::task::block_in_place(FirestoreEmulator::start);
    let project = "faults";
    let manager = seed(
        FirestoreClient::emulator(&emulator.host(), project),
        // A just-started JVM on a busy machine answers its first calls
        // slowly; a stopped emulator refuses connections at once anyway.
        Duration::from_secs(15),
    );
    let app = app(manager);
    let mut jar = Jar::default();
    assert_eq!(
        send(&app, "POST", "/seed-login", &mut jar).await.status,
        StatusCode::OK
    );
    // Acknowledged writes.
    let mut acknowledged = None;
    for i in 0..10 {
        let r = send(&app, "POST", &format!("/set/user_id/{i}"), &mut jar).await;
        assert_eq!(r.status, StatusCode::OK);
        acknowledged = Some(i);
    }

    // Firestore goes away (its data exported first: the emulator keeps
    // nothing otherwise; the real service is durable).
    tokio::task::block_in_place(|| {
        emulator.export(project);
        emulator.stop();
    });
    assert_eq!(
        send(&app, "GET", "/get/user_id", &mut jar).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        send(&app, "POST", "/set/user_id/99", &mut jar.clone())
            .await
            .status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a write to Firestore fields is refused, not acknowledged"
    );
    let r = send(&app, "GET", "/get/theme", &mut jar).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "\"dark\""));
    let r = send(&app, "POST", "/set/theme/light", &mut jar).await;
    assert_eq!(r.status, StatusCode::OK, "cookie fields keep working");
    assert_eq!(
        send(&app, "GET", "/get/csrf_token", &mut jar).await.body,
        "\"tok\""
    );

    // It comes back; the client reconnects by itself.
    tokio::task::block_in_place(|| emulator.restart());
    let mut body = None;
    for _ in 0..50 {
        let r = send(&app, "GET", "/get/user_id", &mut jar).await;
        if r.status == StatusCode::OK {
            body = Some(r.body);
            break;
        }
    }
    assert_eq!(
        body.as_deref(),
        Some(acknowledged.unwrap().to_string().as_str()),
        "the last acknowledged write survives the outage"
    );
    let r = send(&app, "POST", "/set/user_id/10", &mut jar).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(send(&app, "GET", "/get/user_id", &mut jar).await.body, "10");
    assert_eq!(
        send(&app, "GET", "/get/theme", &mut jar).await.body,
        "\"light\""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_call_hits_the_interface_timeout() {
    // A server that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            keep.lock().unwrap().push(socket);
        }
    });
    let manager = seed(
        FirestoreClient::emulator(&addr.to_string(), "stall"),
        Duration::from_millis(300),
    );
    let id = SessionId::generate();
    let cookie = format!("session={}", id.as_str());

    // In the core: the load fails as a timeout.
    let driver = SessionDriver::new(manager.clone(), [cookie.as_bytes()]);
    let started = Instant::now();
    let err = tokio::time::timeout(
        Duration::from_secs(30),
        driver.session().get::<u64>("user_id"),
    )
    .await
    .expect("the interface timeout ends the call")
    .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    eprintln!("stalled load failed after {:?}", started.elapsed());
    assert!(
        !held.lock().unwrap().is_empty(),
        "the call did reach the stalled server"
    );

    // Through the HTTP layer: 503 for the Firestore field, cookies unaffected.
    let app = app(manager);
    let mut jar = Jar::default();
    jar.0.insert("session".into(), id.as_str().to_owned());
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        send(&app, "GET", "/get/user_id", &mut jar),
    )
    .await
    .expect("the interface timeout ends the request");
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let r = send(&app, "GET", "/get/theme", &mut jar).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "null"));
}

//! Faults on a real server (SecantusDB started by the test kit): killed,
//! restarted, frozen, and a peer that accepts connections but never answers.
//! Requests go through the core's request driver with the seed
//! configuration: MongoDB fields fail with 503, cookie fields keep working,
//! and no acknowledged write is lost.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{request, seed_manager, status, Jar};
use serde_json::{json, Value};
use session_plus_core::{Result, Session};
use session_plus_mongodb::{MongoOptions, MongoStore};
use session_plus_testkit::SecantusServer;

const TIMEOUT: Duration = Duration::from_millis(1000);
/// How long a restarted server may take before the store works again
/// (polling bound, not a target).
const RECOVERY: Duration = Duration::from_secs(30);

async fn get(s: Session, field: &'static str) -> Result<Option<Value>> {
    s.get_value(field).await
}

/// Read `user_id` until it works again; returns what it read.
async fn wait_for_recovery(
    manager: &Arc<session_plus_core::SessionManager>,
    jar: &mut Jar,
) -> Value {
    let deadline = Instant::now() + RECOVERY;
    loop {
        let (saved, got) = request(manager, jar, |s| get(s, "user_id")).await;
        match got {
            Ok(v) if saved.is_none() => return v.unwrap_or(Value::Null),
            other if Instant::now() > deadline => {
                panic!("no recovery within {RECOVERY:?}: {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Log in: `user_id`/`user_data` on MongoDB, `csrf_token` and `theme` in cookies.
async fn login(manager: &Arc<session_plus_core::SessionManager>, jar: &mut Jar) {
    let (saved, done) = request(manager, jar, |s| async move {
        s.cycle_id().await?;
        s.insert("csrf_token", "tok").await?;
        s.insert("user_id", 0).await?;
        s.insert("user_data", json!({"name": "ann", "roles": ["a.b", "$c"]}))
            .await?;
        s.insert("theme", "dark").await
    })
    .await;
    assert!(done.is_ok() && saved.is_none(), "login: {done:?} {saved:?}");
    assert!(jar.get("session").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_fails_mongo_fields_only_and_loses_no_acknowledged_write() {
    let mut server = SecantusServer::start_durable();
    let store = common::store(&server.url(), &common::fresh_db("faults")).await;
    let manager = seed_manager(Arc::new(store), TIMEOUT);
    let mut jar = Jar::default();
    login(&manager, &mut jar).await;

    // Acknowledged writes, each a separate request.
    let mut acknowledged = 0;
    for i in 1..=20 {
        let (saved, done) = request(&manager, &mut jar, |s| async move {
            s.insert("user_id", i).await
        })
        .await;
        assert!(
            done.is_ok() && saved.is_none(),
            "write {i}: {done:?} {saved:?}"
        );
        acknowledged = i;
    }

    server.stop(); // SIGKILL

    // Reading a MongoDB field: 503. Reading and writing cookie fields: fine.
    let (_, got) = request(&manager, &mut jar, |s| get(s, "user_id")).await;
    assert_eq!(status(&got), 503, "{got:?}");
    let err = got.unwrap_err();
    assert!(err.is_timeout() || err.is_backend(), "{err:?}");
    let (saved, got) = request(&manager, &mut jar, |s| get(s, "theme")).await;
    assert_eq!((saved, got.unwrap()), (None, Some(json!("dark"))));
    let (saved, done) = request(&manager, &mut jar, |s| async move {
        s.insert("theme", "light").await
    })
    .await;
    assert!(
        done.is_ok() && saved.is_none(),
        "cookie write during the outage: {done:?} {saved:?}"
    );
    // Writing a MongoDB field: refused with 503, in the handler or at save.
    let mut copy = jar.clone();
    let (saved, done) = request(&manager, &mut copy, |s| async move {
        s.insert("user_id", 999).await
    })
    .await;
    let code = saved.unwrap_or_else(|| status(&done));
    assert_eq!(code, 503, "{done:?} {saved:?}");
    assert_eq!(
        copy.get("session"),
        jar.get("session"),
        "the id cookie is kept"
    );

    // Restart on the same files: the store recovers by itself, and every
    // acknowledged write is there.
    server.restart();
    assert_eq!(
        wait_for_recovery(&manager, &mut jar).await,
        json!(acknowledged)
    );
    let (_, all) = request(&manager, &mut jar, |s| async move { s.to_map().await }).await;
    let all = all.unwrap();
    assert_eq!(
        all["user_data"],
        json!({"name": "ann", "roles": ["a.b", "$c"]})
    );
    assert_eq!(all["theme"], json!("light"));
    assert_eq!(all["csrf_token"], json!("tok"));
    let (saved, done) = request(&manager, &mut jar, |s| async move {
        s.insert("user_id", 7).await
    })
    .await;
    assert!(
        done.is_ok() && saved.is_none(),
        "write after recovery: {done:?} {saved:?}"
    );
    let (_, got) = request(&manager, &mut jar, |s| get(s, "user_id")).await;
    assert_eq!(got.unwrap(), Some(json!(7)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_server_costs_the_interface_timeout_then_recovers() {
    let server = SecantusServer::start();
    let store = common::store(&server.url(), &common::fresh_db("frozen")).await;
    let manager = seed_manager(Arc::new(store), TIMEOUT);
    let mut jar = Jar::default();
    login(&manager, &mut jar).await;

    server.pause(); // SIGSTOP: connections stay open, nothing answers
    let started = Instant::now();
    let (_, got) = request(&manager, &mut jar, |s| get(s, "user_id")).await;
    let waited = started.elapsed();
    server.resume();
    let err = got.expect_err("a frozen server cannot answer");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.status_code(), 503);
    eprintln!("frozen server: the request failed after {waited:?} (timeout {TIMEOUT:?})");
    // Cookie fields never waited on MongoDB.
    let (_, got) = request(&manager, &mut jar, |s| get(s, "theme")).await;
    assert_eq!(got.unwrap(), Some(json!("dark")));

    assert_eq!(wait_for_recovery(&manager, &mut jar).await, json!(0));
}

/// A peer that accepts connections and never says a word (a half-dead load
/// balancer, a process stuck before its first reply): the request fails at
/// the interface's timeout instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peer_costs_the_interface_timeout() {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket); // kept open, never read or written
        }
    });
    let client = common::client(
        &format!("mongodb://127.0.0.1:{port}"),
        Duration::from_secs(30),
    )
    .await;
    // No index build: building the store sends nothing.
    let store = MongoStore::with_options(
        client,
        "silent",
        "sessions",
        MongoOptions::default().ttl_index(false),
    )
    .await
    .expect("no I/O without the index build");
    let manager = seed_manager(Arc::new(store), Duration::from_millis(300));
    let mut jar = Jar::default();
    jar.0.insert(
        "session".into(),
        session_plus_core::SessionId::generate().as_str().to_owned(),
    );

    let (_, got) = request(&manager, &mut jar, |s| get(s, "user_id")).await;
    let err = got.expect_err("nobody answers");
    assert!(err.is_timeout(), "{err:?}");
    let (saved, done) = request(&manager, &mut Jar::default(), |s| async move {
        s.insert("user_id", 1).await
    })
    .await;
    assert_eq!(saved.unwrap_or_else(|| status(&done)), 503, "{done:?}");
    held.abort();
}

//! One round trip to load, one to save: the commands the driver sends per
//! request type, counted with the driver's command monitoring against a real
//! server (SecantusDB, started by the test kit). Run with `--nocapture` to
//! see the table.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{request, seed_manager, Jar};
use serde_json::json;
use session_plus_mongodb::mongodb::event::command::CommandEvent;
use session_plus_mongodb::mongodb::event::EventHandler;
use session_plus_mongodb::mongodb::options::ClientOptions;
use session_plus_mongodb::mongodb::Client;
use session_plus_mongodb::MongoStore;
use session_plus_testkit::SecantusServer;

type Log = Arc<Mutex<Vec<String>>>;

/// Commands sent since the last call, by name.
fn take(log: &Log) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for name in log.lock().unwrap().drain(..) {
        *seen.entry(name).or_default() += 1;
    }
    seen
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_round_trip_to_load_and_one_to_save() {
    let server = SecantusServer::start();
    let log: Log = Arc::default();
    let mut options = ClientOptions::parse(server.url()).await.unwrap();
    let sink = log.clone();
    options.command_event_handler = Some(EventHandler::callback(move |e: CommandEvent| {
        if let CommandEvent::Started(s) = e {
            sink.lock().unwrap().push(s.command_name);
        }
    }));
    let client = Client::with_options(options).unwrap();
    let store = MongoStore::new(client, &common::fresh_db("rt"), "sessions")
        .await
        .unwrap();
    assert_eq!(take(&log), counts(&[("createIndexes", 1)]), "start-up");
    let manager = seed_manager(Arc::new(store), Duration::from_secs(2));
    let mut jar = Jar::default();
    let mut table = Vec::new();
    let mut check = |what: &str, want: &[(&str, usize)], log: &Log| {
        let got = take(log);
        table.push(format!("| {what} | {got:?} |"));
        assert_eq!(got, counts(want), "{what}");
    };

    // Untouched request: nothing.
    let (saved, ()) = request(&manager, &mut jar, |_s| async {}).await;
    assert_eq!(saved, None);
    check("request not touching the session", &[], &log);

    // A new session: one upsert.
    let (saved, r) = request(&manager, &mut jar, |s| async move {
        s.insert("user_id", 1).await
    })
    .await;
    assert!(r.is_ok() && saved.is_none());
    check("new session (first write)", &[("update", 1)], &log);

    // The first cookie field of a session: the new cookie must carry the
    // session's binding, which the core reads from the record (one find).
    let (_, r) = request(&manager, &mut jar, |s| async move {
        s.insert("theme", "dark").await
    })
    .await;
    assert!(r.is_ok());
    check(
        "first cookie-only field (binding read)",
        &[("find", 1)],
        &log,
    );

    // Any cookie write by a request carrying a server-side id: the core reads
    // the record first (one find), so a request still holding pre-login
    // cookies cannot overwrite a concurrent login's new cookies.
    let (_, r) = request(&manager, &mut jar, |s| async move {
        s.insert("theme", "light").await
    })
    .await;
    assert!(r.is_ok());
    check("cookie-only field (superseded check)", &[("find", 1)], &log);

    // Reading a cookie field: MongoDB untouched.
    let (_, r) = request(
        &manager,
        &mut jar,
        |s| async move { s.get_value("theme").await },
    )
    .await;
    assert_eq!(r.unwrap(), Some(json!("light")));
    check("read a cookie field", &[], &log);

    // Read-only request: one find.
    let (_, r) = request(&manager, &mut jar, |s| async move {
        s.get_value("user_id").await
    })
    .await;
    assert_eq!(r.unwrap(), Some(json!(1)));
    check("read a MongoDB field", &[("find", 1)], &log);

    // A change: one find, one update.
    let (saved, r) = request(&manager, &mut jar, |s| async move {
        s.insert("user_data", json!({"n": 1})).await?;
        s.remove_value("user_id").await
    })
    .await;
    assert!(r.is_ok() && saved.is_none());
    check("change MongoDB fields", &[("find", 1), ("update", 1)], &log);

    // Login (cycle_id): load, supersede (mark moved, then trim the
    // tombstone), create.
    let (saved, r) = request(&manager, &mut jar, |s| async move {
        s.cycle_id().await?;
        s.insert("user_id", 2).await
    })
    .await;
    assert!(r.is_ok() && saved.is_none());
    check(
        "login (cycle_id)",
        &[("find", 1), ("findAndModify", 1), ("update", 2)],
        &log,
    );

    // Logout (destroy): load, delete.
    let (saved, r) = request(&manager, &mut jar, |s| async move { s.destroy().await }).await;
    assert!(r.is_ok() && saved.is_none());
    check("logout (destroy)", &[("find", 1), ("delete", 1)], &log);

    eprintln!("| request | commands |\n|---|---|\n{}", table.join("\n"));
}

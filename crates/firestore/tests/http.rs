//! The seed's exact configuration (csrf cookie, `session` on the Firestore
//! collection `sessions`, `data` cookie with `auto`) end to end through the
//! axum layer, built in Rust (client passed in) and from a TOML document.

mod common;

use std::sync::Arc;

use http::StatusCode;
use session_plus_core::{ConfigDocument, FieldRules, Interface, Key, SessionManager};
use session_plus_firestore::{FirestoreClient, FirestoreStore};

use common::{app, send, Jar};

/// Log in, read back, check the document, log out; `project` isolates the run.
async fn seed_flow(manager: SessionManager, project: &str) {
    let app = app(Arc::new(manager));
    let mut jar = Jar::default();

    let r = send(&app, "POST", "/seed-login", &mut jar).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.set_cookies.len(), 3, "{:?}", r.set_cookies);
    let id = jar.get("session").expect("session id cookie").to_owned();

    // The record lives in `sessions` under key_prefix + id, with only the
    // interface's fields.
    let doc = common::raw_doc(project, "sessions", &format!("session{id}"))
        .await
        .expect("document in the `sessions` collection");
    let fields = doc["fields"].as_object().unwrap();
    let mut session_fields: Vec<&str> =
        fields.keys().filter_map(|k| k.strip_prefix("f_")).collect();
    session_fields.sort_unstable();
    assert_eq!(session_fields, ["user_data", "user_id"]);
    assert_eq!(fields["f_user_id"]["stringValue"], "42");

    let r = send(&app, "GET", "/all", &mut jar).await;
    let all: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(all["user_id"], 42);
    assert_eq!(all["user_data"]["name"], "ann");
    assert_eq!(all["csrf_token"], "tok");
    assert_eq!(all["theme"], "dark");

    let r = send(&app, "POST", "/set/user_id/43", &mut jar).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(send(&app, "GET", "/get/user_id", &mut jar).await.body, "43");

    // Logout deletes the document.
    assert_eq!(
        send(&app, "POST", "/destroy", &mut jar).await.status,
        StatusCode::OK
    );
    assert!(
        common::raw_doc(project, "sessions", &format!("session{id}"))
            .await
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_configuration_from_rust() {
    let project = common::unique("seed-rust");
    // The seed's `'client': firestore.Client()`.
    let client = FirestoreClient::emulator(&common::host(), &project);
    let manager = SessionManager::builder()
        .keys(Key::generate())
        .interface(Interface::secure_cookie("csrf").fields(FieldRules::include(["csrf_token"])))
        .interface(
            Interface::store(
                "session",
                Arc::new(FirestoreStore::new(client, "sessions").unwrap()),
            )
            .fields(FieldRules::include(["user_id", "user_data"])),
        )
        .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
        .build()
        .unwrap();
    seed_flow(manager, &project).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_configuration_from_a_toml_document() {
    let project = common::unique("seed-toml");
    let doc = ConfigDocument::from_toml(&format!(
        r#"
        [[interface]]
        cookie_name = "csrf"
        session_type = "secure_cookie"
        session_fields = ["csrf_token"]

        [[interface]]
        cookie_name = "session"
        session_type = "firestore"
        session_fields = ["user_id", "user_data"]
        collection = "sessions"
        project_id = "{project}"
        emulator_host = "{host}"

        [[interface]]
        cookie_name = "data"
        session_type = "secure_cookie"
        session_fields = "auto"
        "#,
        host = common::host()
    ))
    .unwrap();
    let mut registry = session_plus::default_registry();
    session_plus_firestore::register(&mut registry);
    let manager = doc.build(Key::generate().into(), &registry).await.unwrap();
    seed_flow(manager, &project).await;
}

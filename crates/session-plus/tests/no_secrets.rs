//! Session ids, cookie values and keys never reach logs, `Debug` output or
//! error responses.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use session_plus::Key;
use support::*;

const SECRET: &str = "this-is-the-secret-signing-key-0123456789";

#[tokio::test]
async fn logs_and_debug_output_carry_no_ids_cookies_or_keys() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let key = Key::from_bytes(SECRET.as_bytes()).unwrap();
    let store = FaultyStore::new();
    let manager = seed_manager(store.clone(), key.clone());
    let manager_debug = format!("{manager:?}");
    let app = app(manager);
    let mut jar = Jar::default();
    send(&app, "POST", "/seed-login", &mut jar).await;
    let secrets: Vec<String> = jar.0.values().cloned().collect();
    // Tampered cookies, a failing backend, a timeout, an unknown field.
    let mut bad = jar.clone();
    bad.set("data", &format!("{}x", jar.get("data").unwrap()));
    send(&app, "GET", "/all", &mut bad).await;
    store.fail_load.store(true, Ordering::SeqCst);
    let r = send(&app, "GET", "/get/user_id", &mut jar.clone()).await;
    store.fail_load.store(false, Ordering::SeqCst);
    store.fail_write.store(true, Ordering::SeqCst);
    send(&app, "POST", "/set/user_id/5", &mut jar.clone()).await;
    store.fail_write.store(false, Ordering::SeqCst);
    store.slow.store(true, Ordering::SeqCst);
    send(&app, "GET", "/get/user_id", &mut jar.clone()).await;
    store.slow.store(false, Ordering::SeqCst);
    send(&app, "POST", "/login/9", &mut jar.clone()).await;
    send(&app, "POST", "/destroy", &mut jar.clone()).await;

    let text = logs.text();
    assert!(
        text.contains("session backend call failed"),
        "the failures were logged:\n{text}"
    );
    assert!(
        text.contains("failed verification"),
        "the tampered cookie was logged:\n{text}"
    );
    let mut outputs = vec![text, r.body, manager_debug, format!("{key:?}")];
    let header = jar.header();
    let driver = session_plus_core::SessionDriver::new(
        Arc::new(seed_manager(store.clone(), key)),
        [header.as_bytes()],
    );
    outputs.push(format!("{driver:?}"));
    let sess = driver.session();
    outputs.push(format!("{sess:?}"));
    sess.get_value("user_id").await.unwrap();
    // The jar still carries the id that `/login/9` above moved away from:
    // the write is refused (409), and the error must not leak either.
    let refused = sess
        .insert("theme", "x")
        .await
        .expect_err("cookies from before a login cannot write");
    assert!(refused.is_superseded(), "{refused}");
    outputs.push(format!("{refused:?}"));
    outputs.push(refused.to_string());
    let done = driver.finish().await;
    outputs.push(format!("{done:?}"));
    for out in &outputs {
        assert!(!out.contains(SECRET), "key leaked: {out}");
        for s in &secrets {
            assert!(!out.contains(s.as_str()), "cookie value leaked: {out}");
            let id_prefix = &s[..16.min(s.len())];
            assert!(
                !out.contains(id_prefix),
                "part of a cookie value leaked: {out}"
            );
        }
    }
}

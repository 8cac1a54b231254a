//! HTTP-level behaviour through the real `SessionLayer` and axum.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use session_plus::store::SessionStore;
use session_plus::{FieldRules, Interface, Key, MemoryStore, SessionManager};
use support::*;

#[tokio::test]
async fn seed_config_three_cookies_each_with_only_its_fields() {
    let store = FaultyStore::new();
    let app = app(seed_manager(store.clone(), Key::generate()));
    let mut jar = Jar::default();
    let r = send(&app, "POST", "/seed-login", &mut jar).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.set_cookies.len(), 3, "{:?}", r.set_cookies);

    let csrf = r.set_cookie("csrf").expect("csrf cookie");
    let session = r.set_cookie("session").expect("session cookie");
    let data = r.set_cookie("data").expect("data cookie");
    for c in [csrf, session, data] {
        assert!(c.contains("; Path=/"), "{c}");
        assert!(c.contains("; HttpOnly"), "{c}");
        assert!(c.contains("; SameSite=Lax"), "{c}");
        assert!(
            !c.contains("Secure"),
            "seed default is cookie_secure=false: {c}"
        );
        assert!(
            !c.contains("Max-Age"),
            "no max age: a browser-session cookie: {c}"
        );
        assert!(!c.contains("Domain"), "{c}");
    }
    assert_eq!(signed_fields(jar.get("csrf").unwrap()), ["csrf_token"]);
    assert_eq!(signed_fields(jar.get("data").unwrap()), ["theme"]);
    let id = jar.get("session").unwrap().to_owned();
    assert_eq!(id.len(), 43, "256-bit id");
    let record = store
        .inner
        .load(&record_key(&id))
        .await
        .unwrap()
        .expect("record stored");
    assert_eq!(
        record.fields.keys().collect::<Vec<_>>(),
        ["user_data", "user_id"]
    );

    // A second request sees the whole session.
    let r = send(&app, "GET", "/all", &mut jar).await;
    let all: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        all,
        serde_json::json!({"csrf_token": "tok", "user_id": 42, "user_data": {"name": "ann"}, "theme": "dark"})
    );
    assert!(
        r.set_cookies.is_empty(),
        "a read sets no cookie: {:?}",
        r.set_cookies
    );

    // Logout removes everything.
    let before_logout = jar.clone();
    let r = send(&app, "POST", "/destroy", &mut jar).await;
    assert_eq!(r.set_cookies.len(), 3);
    assert!(r.set_cookies.iter().all(|c| c.contains("Max-Age=0")));
    assert!(jar.0.is_empty());
    assert!(store.inner.load(&record_key(&id)).await.unwrap().is_none());
    // The old id is dead: replaying the old cookies gives no user.
    let mut replay = before_logout;
    replay.0.remove("csrf");
    replay.0.remove("data");
    let r = send(&app, "GET", "/get/user_id", &mut replay).await;
    assert_eq!(r.body, "null");
}

#[tokio::test]
async fn untouched_request_costs_nothing() {
    let store = FaultyStore::new();
    let app = app(seed_manager(store.clone(), Key::generate()));
    let mut jar = Jar::default();
    send(&app, "POST", "/seed-login", &mut jar).await;
    let before = store.calls();
    let r = send(&app, "GET", "/none", &mut jar).await;
    assert_eq!(store.calls(), before, "no backend call");
    assert!(r.set_cookies.is_empty());
    assert!(r.headers.get("vary").is_none());
    assert!(r.headers.get("cache-control").is_none());
}

#[tokio::test]
async fn loading_is_lazy_per_interface() {
    let store = FaultyStore::new();
    let app = app(seed_manager(store.clone(), Key::generate()));
    let mut jar = Jar::default();
    send(&app, "POST", "/seed-login", &mut jar).await;
    let (loads, _) = store.calls();
    let r = send(&app, "GET", "/get/csrf_token", &mut jar).await;
    assert_eq!(r.body, "\"tok\"");
    assert_eq!(
        store.calls().0,
        loads,
        "reading a cookie field must not load the store"
    );
    send(&app, "GET", "/get/user_id", &mut jar).await;
    assert_eq!(store.calls().0, loads + 1);
}

/// Interface `a` (server-side, owning `a_field`) and `b` (server-side, the rest).
fn two_stores(a: &Arc<FaultyStore>, b: &Arc<FaultyStore>, a_field: &str) -> SessionManager {
    SessionManager::builder()
        .interface(
            Interface::store("a", a.clone())
                .fields(FieldRules::include([a_field]))
                .timeout(Duration::from_secs(5)),
        )
        .interface(
            Interface::store("b", b.clone())
                .fields(FieldRules::Auto)
                .timeout(Duration::from_secs(5)),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn loads_needed_together_run_concurrently() {
    // Two server-side interfaces whose loads each wait for the other: sequential
    // loading would deadlock (and time out); concurrent loading completes.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let (a, b) = (FaultyStore::new(), FaultyStore::new());
    let app = app(two_stores(&a, &b, "x"));
    let mut jar = Jar::default();
    // Create both records (no cookies yet: no loads happen).
    send(&app, "POST", "/set/x/1", &mut jar).await;
    send(&app, "POST", "/set/y/2", &mut jar).await;
    assert_eq!(jar.0.len(), 2);
    a.barrier.set(barrier.clone()).unwrap();
    b.barrier.set(barrier).unwrap();
    let r = send(&app, "GET", "/all", &mut jar).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, r#"{"x":1,"y":2}"#);
}

#[tokio::test]
async fn unknown_field_is_an_error_not_dropped() {
    let manager = SessionManager::builder()
        .keys(Key::generate())
        .interface(Interface::secure_cookie("csrf").fields(FieldRules::include(["csrf_token"])))
        .build()
        .unwrap();
    let app = app(manager);
    let mut jar = Jar::default();
    let r = send(&app, "POST", "/set/user_id/1", &mut jar).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.set_cookies.is_empty());
}

#[tokio::test]
async fn tampered_truncated_garbage_and_oversized_cookies_start_fresh() {
    let store = FaultyStore::new();
    let app = app(seed_manager(store.clone(), Key::generate()));
    let mut jar = Jar::default();
    send(&app, "POST", "/seed-login", &mut jar).await;
    let good = jar.clone();
    let data = good.get("data").unwrap().to_owned();
    let csrf = good.get("csrf").unwrap().to_owned();
    let id = good.get("session").unwrap().to_owned();
    let cases: Vec<(&str, String)> = vec![
        ("data", format!("A{data}")),
        ("data", data[..data.len() / 2].to_owned()),
        ("data", "garbage".into()),
        ("data", "%00%01\"\\".into()),
        ("data", "x".repeat(8000)),
        ("data", csrf.clone()), // a valid cookie of another interface
        ("csrf", data.clone()),
        ("session", "short".into()),
        ("session", format!("{id}x")),
        ("session", "../../etc/passwd-aaaaaaaaaaaaaaaaaaaaaa".into()),
        ("session", "a".repeat(5000)),
    ];
    for (name, value) in cases {
        let mut jar = good.clone();
        jar.set(name, &value);
        let r = send(&app, "GET", "/all", &mut jar).await;
        assert_eq!(r.status, StatusCode::OK, "{name}={value:.40}");
        let all: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let lost = match name {
            "data" => "theme",
            "csrf" => "csrf_token",
            _ => "user_id",
        };
        assert!(
            all.get(lost).is_none(),
            "{name} tampered but {lost} still read"
        );
        assert!(
            all.as_object().unwrap().len() >= 2,
            "other interfaces unaffected: {all}"
        );
    }
}

#[tokio::test]
async fn a_bad_cookie_is_replaced_on_write_with_a_fresh_session() {
    let store = FaultyStore::new();
    let app = app(seed_manager(store.clone(), Key::generate()));
    let mut jar = Jar::default();
    jar.set("data", "forged.value");
    let r = send(&app, "POST", "/set/theme/light", &mut jar).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(signed_fields(jar.get("data").unwrap()), ["theme"]);
}

#[tokio::test]
async fn client_chosen_id_is_never_adopted() {
    // Flask-session-plus bug 4: session fixation.
    let store = FaultyStore::new();
    let app = app(seed_manager(store.clone(), Key::generate()));
    let chosen = "attacker-chosen-id-0123456789abcdefghijk";
    let mut jar = Jar::default();
    jar.set("session", chosen);
    send(&app, "POST", "/set/user_id/7", &mut jar).await;
    let issued = jar.get("session").unwrap();
    assert_ne!(issued, chosen);
    assert!(store
        .inner
        .load(&record_key(chosen))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn login_cycles_the_id_and_destroys_the_old_record() {
    let store = FaultyStore::new();
    let app = app(seed_manager(store.clone(), Key::generate()));
    let mut jar = Jar::default();
    send(&app, "POST", "/set/user_data/1", &mut jar).await;
    let old_id = jar.get("session").unwrap().to_owned();
    let old_data_cookie = jar.get("data").map(str::to_owned);
    let r = send(&app, "POST", "/login/5", &mut jar).await;
    assert_eq!(r.status, StatusCode::OK);
    let new_id = jar.get("session").unwrap().to_owned();
    assert_ne!(old_id, new_id);
    assert!(
        store
            .inner
            .load(&record_key(&old_id))
            .await
            .unwrap()
            .is_none(),
        "old record destroyed"
    );
    let rec = store
        .inner
        .load(&record_key(&new_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rec.fields.get("user_data"),
        Some(&serde_json::json!(1)),
        "data moved"
    );
    assert_eq!(rec.fields.get("user_id"), Some(&serde_json::json!(5)));
    assert!(old_data_cookie.is_none());
}

#[tokio::test]
async fn cookies_of_different_sessions_are_not_mixed() {
    // An attacker plants their own valid `data` cookie next to a victim's
    // `session` cookie: the two sessions' binding values differ, so the planted
    // cookie is ignored.
    let store = FaultyStore::new();
    let app = app(seed_manager(store.clone(), Key::generate()));
    let mut attacker = Jar::default();
    send(&app, "POST", "/set/theme/evil", &mut attacker).await;
    send(&app, "POST", "/set/user_id/1", &mut attacker).await;
    let mut victim = Jar::default();
    send(&app, "POST", "/set/user_id/2", &mut victim).await;
    send(&app, "POST", "/set/theme/mine", &mut victim).await;
    let mut mixed = victim.clone();
    mixed.set("data", attacker.get("data").unwrap());
    // Read the victim's login first, then the planted cookie.
    let r = send(&app, "GET", "/get/user_id", &mut mixed).await;
    assert_eq!(r.body, "2");
    let r = send(&app, "GET", "/all", &mut mixed).await;
    let all: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(all["user_id"], 2);
    assert!(
        all.get("theme").is_none(),
        "planted cookie must be ignored: {all}"
    );
}

#[tokio::test]
async fn all_exclude_and_auto_interfaces_are_written_and_cleared() {
    // Flask-session-plus bug 2: such interfaces were never marked modified.
    let all_store = FaultyStore::new();
    let manager = SessionManager::builder()
        .keys(Key::generate())
        .interface(Interface::secure_cookie("csrf").fields(FieldRules::include(["csrf_token"])))
        .interface(Interface::store("everything", all_store.clone()).fields(FieldRules::All))
        .interface(Interface::secure_cookie("notcsrf").fields(FieldRules::exclude(["csrf_token"])))
        .interface(Interface::secure_cookie("auto").fields(FieldRules::Auto))
        .build()
        .unwrap();
    let app = app(manager);
    let mut jar = Jar::default();
    let r = send(&app, "POST", "/set/user_id/9", &mut jar).await;
    assert_eq!(r.status, StatusCode::OK);
    for name in ["everything", "notcsrf", "auto"] {
        assert!(
            r.set_cookie(name).is_some(),
            "{name} not written: {:?}",
            r.set_cookies
        );
    }
    assert!(r.set_cookie("csrf").is_none());
    let r = send(&app, "POST", "/clear", &mut jar).await;
    assert_eq!(
        r.set_cookies.len(),
        3,
        "clear expires every cookie: {:?}",
        r.set_cookies
    );
    assert!(jar.0.is_empty());
    assert_eq!(all_store.inner.len(), 0, "clear deletes the record");
    let r = send(&app, "GET", "/get/user_id", &mut jar).await;
    assert_eq!(r.body, "null", "a logged-out user keeps no user_id");
}

#[tokio::test]
async fn overlapping_field_written_to_each_owner_read_from_the_last() {
    let store = FaultyStore::new();
    let manager = SessionManager::builder()
        .keys(Key::generate())
        .interface(Interface::secure_cookie("first").fields(FieldRules::include(["shared"])))
        .interface(
            Interface::store("second", store.clone()).fields(FieldRules::include(["shared"])),
        )
        .build()
        .unwrap();
    let app = app(manager);
    let mut jar = Jar::default();
    send(&app, "POST", "/set/shared/1", &mut jar).await;
    assert_eq!(signed_fields(jar.get("first").unwrap()), ["shared"]);
    let id = jar.get("second").unwrap().to_owned();
    // Change the store's copy behind the app's back: the last owner wins on read.
    let rec = store.inner.load(&record_key(&id)).await.unwrap().unwrap();
    let mut changes = session_plus::store::Changes {
        set: Default::default(),
        remove: vec![],
        meta: rec.meta,
    };
    changes.set.insert("shared".into(), serde_json::json!(2));
    assert!(store
        .inner
        .update(&record_key(&id), &changes)
        .await
        .unwrap());
    assert_eq!(send(&app, "GET", "/get/shared", &mut jar).await.body, "2");
}

#[tokio::test]
async fn permanence_survives_requests_for_cookies_and_stores() {
    // Flask-session-plus bug 5: secure_cookie forgot permanence.
    let store = FaultyStore::new();
    let app = app(seed_manager(store.clone(), Key::generate()));
    let mut jar = Jar::default();
    send(&app, "POST", "/seed-login", &mut jar).await;
    for iface in ["data", "session"] {
        let r = send(&app, "POST", &format!("/permanent/{iface}/true"), &mut jar).await;
        let c = r.set_cookie(iface).expect("cookie re-sent with a lifetime");
        assert!(c.contains(&format!("Max-Age={}", 31 * 86400)), "{c}");
        assert!(c.contains("Expires="), "{c}");
    }
    // Next request changes another field of the data cookie: still permanent.
    let r = send(&app, "POST", "/set/theme/blue", &mut jar).await;
    assert!(r.set_cookie("data").unwrap().contains("Max-Age=2678400"));
    assert_eq!(
        send(&app, "GET", "/is-permanent/data", &mut jar).await.body,
        "true"
    );
    assert_eq!(
        send(&app, "GET", "/is-permanent/session", &mut jar)
            .await
            .body,
        "true"
    );
    assert_eq!(
        send(&app, "GET", "/is-permanent/csrf", &mut jar).await.body,
        "false"
    );
    let id = jar.get("session").unwrap().to_owned();
    let rec = store.inner.load(&record_key(&id)).await.unwrap().unwrap();
    assert!(rec.meta.permanent);
    assert!(
        rec.meta.expires - rec.meta.accessed == 31 * 86400,
        "server TTL is the permanent lifetime"
    );
    // And back.
    send(&app, "POST", "/permanent/session/false", &mut jar).await;
    let rec = store.inner.load(&record_key(&id)).await.unwrap().unwrap();
    assert_eq!(rec.meta.expires - rec.meta.accessed, 86400);
}

#[tokio::test]
async fn cookie_max_age_applies_to_non_permanent_cookies() {
    let manager = SessionManager::builder()
        .keys(Key::generate())
        .interface(Interface::secure_cookie("data").cookie_max_age(Some(Duration::from_secs(600))))
        .build()
        .unwrap();
    let app = app(manager);
    let r = send(&app, "POST", "/set/a/1", &mut Jar::default()).await;
    assert!(r.set_cookie("data").unwrap().contains("Max-Age=600"));
}

#[tokio::test]
async fn idle_refresh_happens_on_reads_at_most_once_per_interval() {
    // Flask-session-plus bug 6: expiry was refreshed only on modification.
    let store = FaultyStore::new();
    let manager = SessionManager::builder()
        .interface(Interface::store("session", store.clone()).refresh_interval(Duration::ZERO))
        .build()
        .unwrap();
    let app = app(manager);
    let mut jar = Jar::default();
    send(&app, "POST", "/set/a/1", &mut jar).await;
    let id = jar.get("session").unwrap().to_owned();
    // Age the record by hand so a refresh is visible.
    let rec = store.inner.load(&record_key(&id)).await.unwrap().unwrap();
    let aged = session_plus::store::RecordMeta {
        accessed: rec.meta.accessed - 100,
        expires: rec.meta.expires - 100,
        ..rec.meta.clone()
    };
    store.inner.touch(&record_key(&id), &aged).await.unwrap();
    let (_, writes) = store.calls();
    send(&app, "GET", "/get/a", &mut jar).await;
    assert_eq!(
        store.calls().1,
        writes + 1,
        "a read refreshes the idle expiry"
    );
    let rec2 = store.inner.load(&record_key(&id)).await.unwrap().unwrap();
    assert!(rec2.meta.expires >= aged.expires + 100);

    // With the default 60 s interval, a read right after a write does not write.
    let store = FaultyStore::new();
    let manager = SessionManager::builder()
        .interface(Interface::store("session", store.clone()))
        .build()
        .unwrap();
    let app = self::app(manager);
    let mut jar = Jar::default();
    send(&app, "POST", "/set/a/1", &mut jar).await;
    let (_, writes) = store.calls();
    send(&app, "GET", "/get/a", &mut jar).await;
    assert_eq!(
        store.calls().1,
        writes,
        "no refresh write within the interval"
    );
}

#[tokio::test]
async fn absolute_lifetime_is_enforced_regardless_of_activity() {
    let store = FaultyStore::new();
    let manager = SessionManager::builder()
        .keys(Key::generate())
        .interface(
            Interface::store("session", store.clone())
                .absolute_lifetime(Some(Duration::from_secs(3600))),
        )
        .build()
        .unwrap();
    let app = app(manager);
    let mut jar = Jar::default();
    send(&app, "POST", "/set/a/1", &mut jar).await;
    let id = jar.get("session").unwrap().to_owned();
    let rec = store.inner.load(&record_key(&id)).await.unwrap().unwrap();
    // Created two hours ago, active a second ago.
    let meta = session_plus::store::RecordMeta {
        created: rec.meta.created - 7200,
        ..rec.meta
    };
    store.inner.touch(&record_key(&id), &meta).await.unwrap();
    let r = send(&app, "GET", "/get/a", &mut jar).await;
    assert_eq!(r.body, "null");
    assert!(
        store.inner.load(&record_key(&id)).await.unwrap().is_none(),
        "expired record deleted"
    );
}

#[tokio::test]
async fn expired_signed_cookie_is_rejected_server_side() {
    let manager = SessionManager::builder()
        .keys(Key::generate())
        .interface(
            Interface::secure_cookie("data")
                .session_lifetime(Duration::from_secs(1))
                .refresh_interval(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    let app = app(manager);
    let mut jar = Jar::default();
    send(&app, "POST", "/set/a/1", &mut jar).await;
    let payload = signed_payload(jar.get("data").unwrap());
    // Compact meta: [created, accessed - created, expires - accessed, permanent, binding].
    let m = &payload["m"];
    let expires = m[0].as_i64().unwrap() + m[1].as_i64().unwrap() + m[2].as_i64().unwrap();
    // Wait for the validity window (1 s) to pass: the behaviour under test is time itself.
    while session_plus_core::unix_now() < expires {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = send(&app, "GET", "/get/a", &mut jar).await;
    assert_eq!(r.body, "null");
}

#[tokio::test]
async fn load_failure_with_a_write_becomes_503_and_overwrites_nothing() {
    let store = FaultyStore::new();
    let app = app(seed_manager(store.clone(), Key::generate()));
    let mut jar = Jar::default();
    send(&app, "POST", "/seed-login", &mut jar).await;
    let id = jar.get("session").unwrap().to_owned();
    store.fail_load.store(true, Ordering::SeqCst);
    let (_, writes) = store.calls();
    let r = send(&app, "POST", "/set-careless/user_id/666", &mut jar).await;
    assert_eq!(
        r.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "ignored error must still fail the response"
    );
    assert_eq!(store.calls().1, writes, "nothing written");
    store.fail_load.store(false, Ordering::SeqCst);
    let rec = store.inner.load(&record_key(&id)).await.unwrap().unwrap();
    assert_eq!(rec.fields["user_id"], 42);
    assert_eq!(jar.get("session"), Some(id.as_str()));
}

#[tokio::test]
async fn load_failure_on_read_is_a_clear_error() {
    let store = FaultyStore::new();
    let app = app(seed_manager(store.clone(), Key::generate()));
    let mut jar = Jar::default();
    send(&app, "POST", "/seed-login", &mut jar).await;
    store.fail_load.store(true, Ordering::SeqCst);
    let r = send(&app, "GET", "/get/user_id", &mut jar).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!r.body.contains(jar.get("session").unwrap()));
    // Cookie interfaces keep working.
    let r = send(&app, "GET", "/get/csrf_token", &mut jar).await;
    assert_eq!(r.body, "\"tok\"");
}

#[tokio::test]
async fn failed_save_is_not_reported_as_success() {
    let store = FaultyStore::new();
    let app = app(seed_manager(store.clone(), Key::generate()));
    let mut jar = Jar::default();
    store.fail_write.store(true, Ordering::SeqCst);
    let r = send(&app, "POST", "/set/user_id/1", &mut jar).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.set_cookie("session").is_none());
}

#[tokio::test]
async fn slow_backend_hits_the_timeout() {
    let store = FaultyStore::new();
    let app = app(seed_manager(store.clone(), Key::generate()));
    let mut jar = Jar::default();
    send(&app, "POST", "/seed-login", &mut jar).await;
    store.slow.store(true, Ordering::SeqCst);
    let r = send(&app, "GET", "/get/user_id", &mut jar).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn caching_headers() {
    let app = app(seed_manager(FaultyStore::new(), Key::generate()));
    let mut jar = Jar::default();
    let r = send(&app, "POST", "/set/theme/x", &mut jar).await;
    assert_eq!(r.headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(r.headers.get("vary").unwrap(), "Cookie");
    let r = send(&app, "GET", "/get/theme", &mut jar).await;
    assert!(
        r.headers.get("cache-control").is_none(),
        "no cookie set, no cache override"
    );
    assert_eq!(r.headers.get("vary").unwrap(), "Cookie");
    let r = send(&app, "POST", "/cached", &mut jar).await;
    assert_eq!(
        r.headers.get("cache-control").unwrap(),
        "private, max-age=5",
        "the app's own Cache-Control wins"
    );
}

#[tokio::test]
async fn oversized_cookie_is_a_clear_error() {
    let app = app(seed_manager(FaultyStore::new(), Key::generate()));
    let big = "x".repeat(5000);
    let r = send(
        &app,
        "POST",
        &format!("/set/theme/{big}"),
        &mut Jar::default(),
    )
    .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(r.set_cookie("data").is_none());
}

#[tokio::test]
async fn emptied_interface_is_deleted_with_a_removal_cookie() {
    let store = FaultyStore::new();
    let app = app(seed_manager(store.clone(), Key::generate()));
    let mut jar = Jar::default();
    send(&app, "POST", "/set/user_id/1", &mut jar).await;
    send(&app, "POST", "/set/theme/x", &mut jar).await;
    assert_eq!(store.inner.len(), 1);
    let r = send(&app, "POST", "/remove/user_id", &mut jar).await;
    assert!(r.set_cookie("session").unwrap().contains("Max-Age=0"));
    assert!(
        r.set_cookie("data").is_none(),
        "untouched interface keeps its cookie"
    );
    assert_eq!(store.inner.len(), 0);
    assert!(jar.get("data").is_some());
}

#[tokio::test]
async fn same_value_write_changes_nothing() {
    let store = FaultyStore::new();
    let app = app(seed_manager(store.clone(), Key::generate()));
    let mut jar = Jar::default();
    send(&app, "POST", "/seed-login", &mut jar).await;
    let (_, writes) = store.calls();
    let r = send(&app, "POST", "/set/user_id/42", &mut jar).await;
    assert_eq!(store.calls().1, writes);
    assert!(r.set_cookies.is_empty());
}

#[tokio::test]
async fn building_twice_from_one_configuration_works() {
    // Flask-session-plus bug 7: init mutated SESSION_CONFIG in place.
    let doc = session_plus::ConfigDocument::from_toml(
        r#"
        [[interface]]
        cookie_name = "csrf"
        session_fields = ["csrf_token"]
        [[interface]]
        cookie_name = "data"
        session_fields = "auto"
        "#,
    )
    .unwrap();
    let key = Key::generate();
    let registry = session_plus::default_registry();
    let a = doc.build(key.clone().into(), &registry).await.unwrap();
    let b = doc.build(key.into(), &registry).await.unwrap();
    assert_eq!(a.owners_of("x"), b.owners_of("x"));
    let iface = Interface::secure_cookie("s");
    let one = SessionManager::builder()
        .keys(Key::generate())
        .interface(iface.clone())
        .build();
    let two = SessionManager::builder()
        .keys(Key::generate())
        .interface(iface)
        .build();
    assert!(one.is_ok() && two.is_ok());
}

#[tokio::test]
async fn many_concurrent_requests_on_one_session_keep_different_fields() {
    let store = Arc::new(MemoryStore::new());
    let manager = SessionManager::builder()
        .interface(Interface::store("session", store.clone()))
        .build()
        .unwrap();
    let app = app(manager);
    let mut jar = Jar::default();
    send(&app, "POST", "/set/seed/0", &mut jar).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let app = app.clone();
        let mut jar = jar.clone();
        tasks.push(tokio::spawn(async move {
            send(&app, "POST", &format!("/set/f{i}/{i}"), &mut jar)
                .await
                .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    let all: serde_json::Value =
        serde_json::from_str(&send(&app, "GET", "/all", &mut jar).await.body).unwrap();
    for i in 0..20 {
        assert_eq!(all[format!("f{i}")], i, "field f{i} lost: {all}");
    }
}

#[tokio::test]
async fn ids_are_only_accepted_from_the_cookie() {
    let store = FaultyStore::new();
    let app = app(seed_manager(store.clone(), Key::generate()));
    let mut jar = Jar::default();
    send(&app, "POST", "/set/user_id/3", &mut jar).await;
    let id = jar.get("session").unwrap().to_owned();
    for query in [
        format!("session={id}"),
        format!("sid={id}"),
        format!("session_id={id}"),
    ] {
        let r = send(
            &app,
            "GET",
            &format!("/get/user_id?{query}"),
            &mut Jar::default(),
        )
        .await;
        assert_eq!(r.body, "null", "id taken from the URL ({query})");
    }
}

#[tokio::test]
async fn a_new_interface_joins_the_existing_session_without_reading_it() {
    // The request writes only `data`; the session already has a `csrf` cookie
    // that was not read. The new `data` cookie must carry the same binding, or
    // the next request would discard one of them.
    let store = FaultyStore::new();
    let app = app(seed_manager(store.clone(), Key::generate()));
    let mut jar = Jar::default();
    send(&app, "POST", "/set/csrf_token/t", &mut jar).await;
    send(&app, "POST", "/set/theme/x", &mut jar).await;
    let b1 = signed_payload(jar.get("csrf").unwrap())["m"][4].clone();
    let b2 = signed_payload(jar.get("data").unwrap())["m"][4].clone();
    assert_eq!(b1, b2);
    let all: serde_json::Value =
        serde_json::from_str(&send(&app, "GET", "/all", &mut jar).await.body).unwrap();
    assert_eq!(all, serde_json::json!({"csrf_token": "t", "theme": "x"}));
}

#[tokio::test]
async fn all_of_a_users_sessions_can_be_terminated() {
    let store = FaultyStore::new();
    let manager = Arc::new(seed_manager(store.clone(), Key::generate()));
    let app = axum::Router::new().merge(support::app_with(manager.clone()));
    let (mut phone, mut laptop, mut other) = (Jar::default(), Jar::default(), Jar::default());
    send(&app, "POST", "/login/7", &mut phone).await;
    send(&app, "POST", "/login/7", &mut laptop).await;
    send(&app, "POST", "/login/8", &mut other).await;
    assert_eq!(manager.terminate_sessions("user_id", 7).await.unwrap(), 2);
    assert_eq!(
        send(&app, "GET", "/get/user_id", &mut phone).await.body,
        "null"
    );
    assert_eq!(
        send(&app, "GET", "/get/user_id", &mut laptop).await.body,
        "null"
    );
    assert_eq!(
        send(&app, "GET", "/get/user_id", &mut other).await.body,
        "8"
    );
}

#[tokio::test]
async fn saves_of_different_interfaces_run_concurrently() {
    // Each create waits for the other: sequential saves would time out.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let (a, b) = (FaultyStore::new(), FaultyStore::new());
    a.write_barrier.set(barrier.clone()).unwrap();
    b.write_barrier.set(barrier).unwrap();
    let app = app(two_stores(&a, &b, "user_id"));
    let r = send(&app, "POST", "/seed-login", &mut Jar::default()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!((a.inner.len(), b.inner.len()), (1, 1));
}

#[tokio::test]
async fn malformed_ids_never_reach_the_store() {
    let store = FaultyStore::new();
    let app = app(seed_manager(store.clone(), Key::generate()));
    for bad in [
        "",
        "x",
        "a b c d e f g h i j k l m n",
        "*",
        "session:*",
        "%2e%2e%2f%2e%2e%2faaaaaaaaaaaaaaaaaaaa",
        &"z".repeat(200),
    ] {
        let mut jar = Jar::default();
        jar.set("session", bad);
        let r = send(&app, "GET", "/get/user_id", &mut jar).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, "null");
    }
    assert_eq!(store.calls().0, 0, "no malformed id was looked up");
}

#[tokio::test]
async fn signed_id_cookies() {
    let store = FaultyStore::new();
    let manager = SessionManager::builder()
        .keys(Key::generate())
        .interface(Interface::store("session", store.clone()).use_signer(true))
        .build()
        .unwrap();
    let app = app(manager);
    let mut jar = Jar::default();
    send(&app, "POST", "/set/user_id/1", &mut jar).await;
    let value = jar.get("session").unwrap().to_owned();
    let (id, sig) = value.split_once('.').expect("id.signature");
    assert_eq!(id.len(), 43);
    assert!(!sig.is_empty());
    assert_eq!(send(&app, "GET", "/get/user_id", &mut jar).await.body, "1");
    // The bare id, or the id with another signature, is not accepted.
    let loads = store.calls().0;
    for forged in [
        id.to_owned(),
        format!("{id}.{}", "A".repeat(sig.len())),
        format!("{id}."),
    ] {
        let mut j = Jar::default();
        j.set("session", &forged);
        assert_eq!(send(&app, "GET", "/get/user_id", &mut j).await.body, "null");
    }
    assert_eq!(store.calls().0, loads, "unsigned ids never reach the store");
}

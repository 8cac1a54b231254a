//! The rules, one function each; [`suite!`](crate::suite) expands one test
//! per function. Every rule builds its own manager and app through the
//! [`Adapter`], talks HTTP only, and inspects stores directly.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use session_plus_core::store::{Changes, MetaUpdate, Record, RecordMeta, SessionStore};
use session_plus_core::{FieldRules, Interface, Key, MemoryStore, SessionManager};

use crate::{
    record_key, replace_record, routes, seed_manager, send, send_request, signed_fields,
    signed_payload, two_stores, Adapter, FaultyStore, Jar,
};

async fn app<A: Adapter>(adapter: &A, manager: SessionManager) -> A::App {
    adapter.app(Arc::new(manager)).await
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Login sets three cookies (seed attributes), each holding only its fields;
/// the next request sees the whole session; logout removes every cookie and
/// record, and the old id is dead.
pub async fn seed_config_three_cookies_each_with_only_its_fields<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
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
    assert_eq!(
        json(&r.body),
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

/// A request whose handler never touches the session: no backend call, no
/// cookie, no `Vary`, no `Cache-Control`.
pub async fn untouched_request_costs_nothing<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
    let mut jar = Jar::default();
    send(&app, "POST", "/seed-login", &mut jar).await;
    let before = store.calls();
    let r = send(&app, "GET", "/none", &mut jar).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(store.calls(), before, "no backend call");
    assert!(r.set_cookies.is_empty());
    assert!(r.headers.get("vary").is_none());
    assert!(r.headers.get("cache-control").is_none());
}

/// Reading a cookie field does not load the store; reading a store field does.
pub async fn loading_is_lazy_per_interface<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
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

/// Two server-side interfaces whose loads each wait for the other: sequential
/// loading would time out; concurrent loading completes.
pub async fn loads_needed_together_run_concurrently<A: Adapter>(adapter: &A) {
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let (a, b) = (FaultyStore::new(), FaultyStore::new());
    let app = app(adapter, two_stores(&a, &b, "x")).await;
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

/// A field no interface owns is a 400 at insert, never silently dropped.
pub async fn unknown_field_is_an_error_not_dropped<A: Adapter>(adapter: &A) {
    let manager = SessionManager::builder()
        .keys(Key::generate())
        .interface(Interface::secure_cookie("csrf").fields(FieldRules::include(["csrf_token"])))
        .build()
        .unwrap();
    let app = app(adapter, manager).await;
    let mut jar = Jar::default();
    let r = send(&app, "POST", "/set/user_id/1", &mut jar).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.set_cookies.is_empty());
}

/// A tampered, truncated, garbage, oversized or foreign cookie is treated as
/// absent for its interface only.
pub async fn tampered_truncated_garbage_and_oversized_cookies_start_fresh<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
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
        let all = json(&r.body);
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

/// A write over a bad cookie starts a fresh session for that interface.
pub async fn a_bad_cookie_is_replaced_on_write_with_a_fresh_session<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
    let mut jar = Jar::default();
    jar.set("data", "forged.value");
    let r = send(&app, "POST", "/set/theme/light", &mut jar).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(signed_fields(jar.get("data").unwrap()), ["theme"]);
}

/// Flask-session-plus bug 4 (session fixation): an id with no record is never
/// adopted.
pub async fn client_chosen_id_is_never_adopted<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
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

/// `cycle_id()` issues a new id, moves the data and deletes the old record.
pub async fn login_cycles_the_id_and_destroys_the_old_record<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
    let mut jar = Jar::default();
    send(&app, "POST", "/set/user_data/1", &mut jar).await;
    let old_id = jar.get("session").unwrap().to_owned();
    let old_data_cookie = jar.get("data").map(str::to_owned);
    let r = send(&app, "POST", "/login/5", &mut jar).await;
    assert_eq!(r.status, StatusCode::OK);
    let new_id = jar.get("session").unwrap().to_owned();
    assert_ne!(old_id, new_id);
    let old = store.inner.load(&record_key(&old_id)).await.unwrap();
    assert!(
        old.as_ref()
            .is_none_or(|r| r.meta.moved && r.fields.is_empty()),
        "old record destroyed (at most a tombstone without data): {old:?}"
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
    // The old id no longer reads the session.
    let mut old = Jar::default();
    old.set("session", &old_id);
    assert_eq!(
        send(&app, "GET", "/get/user_id", &mut old).await.body,
        "null"
    );
}

/// An attacker's valid `data` cookie planted next to a victim's `session`
/// cookie: the two sessions are never mixed in one response. Cookies fix the
/// session's binding, so the planted cookie's session is the one read and the
/// victim's server-side record is disowned, never modified.
pub async fn cookies_of_different_sessions_are_not_mixed<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
    let mut attacker = Jar::default();
    send(&app, "POST", "/set/theme/evil", &mut attacker).await;
    send(&app, "POST", "/set/user_id/1", &mut attacker).await;
    let mut victim = Jar::default();
    send(&app, "POST", "/set/user_id/2", &mut victim).await;
    send(&app, "POST", "/set/theme/mine", &mut victim).await;
    let mut mixed = victim.clone();
    mixed.set("data", attacker.get("data").unwrap());
    let all = json(&send(&app, "GET", "/all", &mut mixed).await.body);
    assert!(
        !(all.get("user_id") == Some(&2.into()) && all.get("theme") == Some(&"evil".into())),
        "two sessions mixed: {all}"
    );
    assert_eq!(
        all,
        serde_json::json!({"theme": "evil"}),
        "the cookie fixes the binding"
    );
    // A write through the mixed cookies never reaches the victim's record.
    send(&app, "POST", "/set/user_id/666", &mut mixed.clone()).await;
    let id = victim.get("session").unwrap();
    let rec = store.inner.load(&record_key(id)).await.unwrap().unwrap();
    assert_eq!(rec.fields.get("user_id"), Some(&serde_json::json!(2)));
    // The victim's own cookies still read the victim's session.
    let all = json(&send(&app, "GET", "/all", &mut victim).await.body);
    assert_eq!(all, serde_json::json!({"user_id": 2, "theme": "mine"}));
}

/// Flask-session-plus bug 2: all/exclude/auto interfaces are written, and
/// `clear()` empties them all.
pub async fn all_exclude_and_auto_interfaces_are_written_and_cleared<A: Adapter>(adapter: &A) {
    let all_store = FaultyStore::new();
    let manager = SessionManager::builder()
        .keys(Key::generate())
        .interface(Interface::secure_cookie("csrf").fields(FieldRules::include(["csrf_token"])))
        .interface(Interface::store("everything", all_store.clone()).fields(FieldRules::All))
        .interface(Interface::secure_cookie("notcsrf").fields(FieldRules::exclude(["csrf_token"])))
        .interface(Interface::secure_cookie("auto").fields(FieldRules::Auto))
        .build()
        .unwrap();
    let app = app(adapter, manager).await;
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

/// A field owned by several interfaces is written to each and read from the
/// last configured owner.
pub async fn overlapping_field_written_to_each_owner_read_from_the_last<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let manager = SessionManager::builder()
        .keys(Key::generate())
        .interface(Interface::secure_cookie("first").fields(FieldRules::include(["shared"])))
        .interface(
            Interface::store("second", store.clone()).fields(FieldRules::include(["shared"])),
        )
        .build()
        .unwrap();
    let app = app(adapter, manager).await;
    let mut jar = Jar::default();
    send(&app, "POST", "/set/shared/1", &mut jar).await;
    assert_eq!(signed_fields(jar.get("first").unwrap()), ["shared"]);
    let id = jar.get("second").unwrap().to_owned();
    // The key prefix defaults to `session` whatever the cookie name.
    let key = record_key(&id);
    // Change the store's copy behind the app's back: the last owner wins on read.
    let rec = store.inner.load(&key).await.unwrap().unwrap();
    let changes = Changes::new(MetaUpdate::refresh(rec.meta.accessed, rec.meta.expires))
        .set("shared", serde_json::json!(2));
    assert!(store.inner.update(&key, &changes).await.unwrap());
    assert_eq!(send(&app, "GET", "/get/shared", &mut jar).await.body, "2");
}

/// Flask-session-plus bug 5: permanence is per interface, survives requests
/// (cookies too) and picks the cookie expiry and the server TTL.
pub async fn permanence_survives_requests_for_cookies_and_stores<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
    let mut jar = Jar::default();
    send(&app, "POST", "/seed-login", &mut jar).await;
    for iface in ["data", "session"] {
        let r = send(&app, "POST", &format!("/permanent/{iface}/true"), &mut jar).await;
        let c = r.set_cookie(iface).expect("cookie re-sent with a lifetime");
        assert!(c.contains(&format!("Max-Age={}", 31 * 86400)), "{c}");
        assert!(c.contains("Expires="), "{c}");
    }
    // The next request changes another field of the data cookie: still permanent.
    let r = send(&app, "POST", "/set/theme/blue", &mut jar).await;
    assert!(r.set_cookie("data").unwrap().contains("Max-Age=2678400"));
    for (iface, permanent) in [("data", "true"), ("session", "true"), ("csrf", "false")] {
        assert_eq!(
            send(&app, "GET", &format!("/is-permanent/{iface}"), &mut jar)
                .await
                .body,
            permanent,
            "{iface}"
        );
    }
    let id = jar.get("session").unwrap().to_owned();
    let rec = store.inner.load(&record_key(&id)).await.unwrap().unwrap();
    assert!(rec.meta.permanent);
    assert_eq!(
        rec.meta.expires - rec.meta.accessed,
        31 * 86400,
        "server TTL is the permanent lifetime"
    );
    // And back.
    send(&app, "POST", "/permanent/session/false", &mut jar).await;
    let rec = store.inner.load(&record_key(&id)).await.unwrap().unwrap();
    assert_eq!(rec.meta.expires - rec.meta.accessed, 86400);
}

/// `cookie_max_age` gives non-permanent cookies a `Max-Age`.
pub async fn cookie_max_age_applies_to_non_permanent_cookies<A: Adapter>(adapter: &A) {
    let manager = SessionManager::builder()
        .keys(Key::generate())
        .interface(Interface::secure_cookie("data").cookie_max_age(Some(Duration::from_secs(600))))
        .build()
        .unwrap();
    let app = app(adapter, manager).await;
    let r = send(&app, "POST", "/set/a/1", &mut Jar::default()).await;
    assert!(r.set_cookie("data").unwrap().contains("Max-Age=600"));
}

/// Flask-session-plus bug 6: reads refresh the idle expiry, at most once per
/// refresh interval.
pub async fn idle_refresh_happens_on_reads_at_most_once_per_interval<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let manager = SessionManager::builder()
        .interface(Interface::store("session", store.clone()).refresh_interval(Duration::ZERO))
        .build()
        .unwrap();
    let app = app(adapter, manager).await;
    let mut jar = Jar::default();
    send(&app, "POST", "/set/a/1", &mut jar).await;
    let id = jar.get("session").unwrap().to_owned();
    // Age the record by hand so a refresh is visible.
    let rec = store.inner.load(&record_key(&id)).await.unwrap().unwrap();
    let m = &rec.meta;
    let aged = RecordMeta::new(m.accessed - 100, m.expires - 100, m.binding.clone())
        .with_created(m.created - 100)
        .with_permanent(m.permanent);
    replace_record(
        &store.inner,
        &record_key(&id),
        &Record::new(rec.fields.clone(), aged.clone()),
    )
    .await;
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
    let app = self::app(adapter, manager).await;
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

/// The absolute lifetime ends a session however active it is.
pub async fn absolute_lifetime_is_enforced_regardless_of_activity<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let manager = SessionManager::builder()
        .keys(Key::generate())
        .interface(
            Interface::store("session", store.clone())
                .absolute_lifetime(Some(Duration::from_secs(3600))),
        )
        .build()
        .unwrap();
    let app = app(adapter, manager).await;
    let mut jar = Jar::default();
    send(&app, "POST", "/set/a/1", &mut jar).await;
    let id = jar.get("session").unwrap().to_owned();
    let rec = store.inner.load(&record_key(&id)).await.unwrap().unwrap();
    // Created two hours ago, active a second ago.
    let meta = rec.meta.clone().with_created(rec.meta.created - 7200);
    replace_record(
        &store.inner,
        &record_key(&id),
        &Record::new(rec.fields.clone(), meta),
    )
    .await;
    let r = send(&app, "GET", "/get/a", &mut jar).await;
    assert_eq!(r.body, "null");
    assert!(
        store.inner.load(&record_key(&id)).await.unwrap().is_none(),
        "expired record deleted"
    );
}

/// A signed cookie past its signed expiry is rejected server-side.
pub async fn expired_signed_cookie_is_rejected_server_side<A: Adapter>(adapter: &A) {
    let manager = SessionManager::builder()
        .keys(Key::generate())
        .interface(
            Interface::secure_cookie("data")
                .session_lifetime(Duration::from_secs(1))
                .refresh_interval(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    let app = app(adapter, manager).await;
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

/// A failed load of an interface the handler then changed: 503, nothing
/// written, even when the handler ignored the error.
pub async fn load_failure_with_a_write_becomes_503_and_overwrites_nothing<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
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

/// A failed load on read is a 503 that leaks no id; cookie interfaces keep
/// working.
pub async fn load_failure_on_read_is_a_clear_error<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
    let mut jar = Jar::default();
    send(&app, "POST", "/seed-login", &mut jar).await;
    store.fail_load.store(true, Ordering::SeqCst);
    let r = send(&app, "GET", "/get/user_id", &mut jar).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!r.body.contains(jar.get("session").unwrap()));
    let r = send(&app, "GET", "/get/csrf_token", &mut jar).await;
    assert_eq!(r.body, "\"tok\"");
}

/// A failed save turns the response into a 503 without the failed cookie.
pub async fn failed_save_is_not_reported_as_success<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
    let mut jar = Jar::default();
    store.fail_write.store(true, Ordering::SeqCst);
    let r = send(&app, "POST", "/set/user_id/1", &mut jar).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body, "", "the handler's body is replaced");
    assert!(r.set_cookie("session").is_none());
}

/// A hanging backend hits the interface's timeout: 503.
pub async fn slow_backend_hits_the_timeout<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
    let mut jar = Jar::default();
    send(&app, "POST", "/seed-login", &mut jar).await;
    store.slow.store(true, Ordering::SeqCst);
    let r = send(&app, "GET", "/get/user_id", &mut jar).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
}

/// `Vary: Cookie` when the session was used; `Cache-Control: no-store` when a
/// cookie is set, unless the handler set its own.
pub async fn caching_headers<A: Adapter>(adapter: &A) {
    let app = app(adapter, seed_manager(FaultyStore::new(), Key::generate())).await;
    let mut jar = Jar::default();
    let r = send(&app, "POST", "/set/theme/x", &mut jar).await;
    assert_eq!(r.headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(r.headers.get("vary").unwrap(), "Cookie");
    assert_eq!(r.headers.get_all("vary").iter().count(), 1);
    let r = send(&app, "GET", "/get/theme", &mut jar).await;
    assert!(
        r.headers.get("cache-control").is_none(),
        "no cookie set, no cache override"
    );
    assert_eq!(r.headers.get("vary").unwrap(), "Cookie");
    let r = send(&app, "POST", "/cached", &mut jar).await;
    assert_eq!(
        r.headers
            .get_all("cache-control")
            .iter()
            .collect::<Vec<_>>(),
        ["private, max-age=5"],
        "the app's own Cache-Control wins"
    );
}

/// A cookie over 4096 bytes is a 500, and no cookie is set.
pub async fn oversized_cookie_is_a_clear_error<A: Adapter>(adapter: &A) {
    let app = app(adapter, seed_manager(FaultyStore::new(), Key::generate())).await;
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

/// An interface emptied by the request: record deleted, removal cookie; an
/// untouched interface keeps its cookie.
pub async fn emptied_interface_is_deleted_with_a_removal_cookie<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
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

/// Writing the value a field already has writes nothing and sets no cookie.
pub async fn same_value_write_changes_nothing<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
    let mut jar = Jar::default();
    send(&app, "POST", "/seed-login", &mut jar).await;
    let (_, writes) = store.calls();
    let r = send(&app, "POST", "/set/user_id/42", &mut jar).await;
    assert_eq!(store.calls().1, writes);
    assert!(r.set_cookies.is_empty());
}

/// Twenty concurrent requests on one session, each changing its own field:
/// every field survives.
pub async fn many_concurrent_requests_on_one_session_keep_different_fields<A: Adapter>(
    adapter: &A,
) {
    let store = Arc::new(MemoryStore::new());
    let manager = SessionManager::builder()
        .interface(Interface::store("session", store.clone()))
        .build()
        .unwrap();
    let app = app(adapter, manager).await;
    let mut jar = Jar::default();
    send(&app, "POST", "/set/seed/0", &mut jar).await;
    let requests = (0..20).map(|i| {
        let mut jar = jar.clone();
        let app = &app;
        async move {
            send(app, "POST", &format!("/set/f{i}/{i}"), &mut jar)
                .await
                .status
        }
    });
    for status in futures_util::future::join_all(requests).await {
        assert_eq!(status, StatusCode::OK);
    }
    let all = json(&send(&app, "GET", "/all", &mut jar).await.body);
    for i in 0..20 {
        assert_eq!(all[format!("f{i}")], i, "field f{i} lost: {all}");
    }
}

/// Ids come from the cookie only, never from the URL.
pub async fn ids_are_only_accepted_from_the_cookie<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
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
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, "null", "id taken from the URL ({query})");
    }
}

/// A request that writes only `data` while the session already has an unread
/// `csrf` cookie: the new cookie joins the same session (same binding).
pub async fn a_new_interface_joins_the_existing_session_without_reading_it<A: Adapter>(
    adapter: &A,
) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
    let mut jar = Jar::default();
    send(&app, "POST", "/set/csrf_token/t", &mut jar).await;
    send(&app, "POST", "/set/theme/x", &mut jar).await;
    let b1 = signed_payload(jar.get("csrf").unwrap())["m"][4].clone();
    let b2 = signed_payload(jar.get("data").unwrap())["m"][4].clone();
    assert_eq!(b1, b2);
    let all = json(&send(&app, "GET", "/all", &mut jar).await.body);
    assert_eq!(all, serde_json::json!({"csrf_token": "t", "theme": "x"}));
}

/// `SessionManager::terminate_sessions` ends every session of one user.
pub async fn all_of_a_users_sessions_can_be_terminated<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let manager = Arc::new(seed_manager(store.clone(), Key::generate()));
    let app = adapter.app(manager.clone()).await;
    let (mut phone, mut laptop, mut other) = (Jar::default(), Jar::default(), Jar::default());
    send(&app, "POST", "/login/7", &mut phone).await;
    send(&app, "POST", "/login/7", &mut laptop).await;
    send(&app, "POST", "/login/8", &mut other).await;
    assert_eq!(manager.terminate_sessions("user_id", 7).await.unwrap(), 2);
    for (jar, user) in [
        (&mut phone, "null"),
        (&mut laptop, "null"),
        (&mut other, "8"),
    ] {
        assert_eq!(send(&app, "GET", "/get/user_id", jar).await.body, user);
    }
}

/// Each create waits for the other: sequential saves would time out.
pub async fn saves_of_different_interfaces_run_concurrently<A: Adapter>(adapter: &A) {
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let (a, b) = (FaultyStore::new(), FaultyStore::new());
    a.write_barrier.set(barrier.clone()).unwrap();
    b.write_barrier.set(barrier).unwrap();
    let app = app(adapter, two_stores(&a, &b, "user_id")).await;
    let r = send(&app, "POST", "/seed-login", &mut Jar::default()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!((a.inner.len(), b.inner.len()), (1, 1));
}

/// Malformed ids are format-checked before any backend sees them.
pub async fn malformed_ids_never_reach_the_store<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
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

/// `use_signer`: the id cookie is `id.signature`; unsigned or forged ids never
/// reach the store.
pub async fn signed_id_cookies<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let manager = SessionManager::builder()
        .keys(Key::generate())
        .interface(Interface::store("session", store.clone()).use_signer(true))
        .build()
        .unwrap();
    let app = app(adapter, manager).await;
    let mut jar = Jar::default();
    send(&app, "POST", "/set/user_id/1", &mut jar).await;
    let value = jar.get("session").unwrap().to_owned();
    let (id, sig) = value.split_once('.').expect("id.signature");
    assert_eq!(id.len(), 43);
    assert!(!sig.is_empty());
    assert_eq!(send(&app, "GET", "/get/user_id", &mut jar).await.body, "1");
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

/// Another app's cookie with non-ASCII bytes (Latin-1 `é`, raw UTF-8) in the
/// same `Cookie` header, before and after ours, hides nothing; and a
/// second `Cookie` header line is read too.
pub async fn non_ascii_foreign_cookies_do_not_hide_the_session<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
    let mut jar = Jar::default();
    send(&app, "POST", "/seed-login", &mut jar).await;
    let ours = jar.header().into_bytes();
    for foreign in [&b"theme=Jos\xe9"[..], "name=Zo\u{eb}".as_bytes()] {
        let mut before = foreign.to_vec();
        before.extend_from_slice(b"; ");
        before.extend_from_slice(&ours);
        let mut after = ours.clone();
        after.extend_from_slice(b"; ");
        after.extend_from_slice(foreign);
        for header in [before, after] {
            let r = send_request(&app, "GET", "/all", Some(&header)).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(
                json(&r.body),
                serde_json::json!({"csrf_token": "tok", "user_id": 42, "user_data": {"name": "ann"}, "theme": "dark"}),
                "{}",
                String::from_utf8_lossy(&header)
            );
        }
    }
    // Two `Cookie` header lines (HTTP/2 style): both are read.
    let id = jar.get("session").unwrap();
    let mut req = http::Request::builder()
        .method("GET")
        .uri("/all")
        .header("cookie", format!("session={id}"))
        .header("cookie", format!("data={}", jar.get("data").unwrap()));
    req = req.header("cookie", &b"x=\xff"[..]);
    let r = crate::App::call(&app, req.body(()).unwrap()).await;
    assert_eq!(
        json(&r.body),
        serde_json::json!({"user_id": 42, "user_data": {"name": "ann"}, "theme": "dark"})
    );
}

/// A handler that returns a session error through the adapter's error type
/// answers with the core's status (`Error::status_code`) and a body that
/// carries no detail (no field name, no id).
pub async fn handler_errors_answer_with_the_core_status_and_leak_nothing<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
    let mut jar = Jar::default();
    send(&app, "POST", "/seed-login", &mut jar).await;
    // 400: a value the session refuses (not JSON-representable is impossible
    // over a path, so an unowned field on a config without a catch-all).
    let manager = SessionManager::builder()
        .keys(Key::generate())
        .interface(Interface::secure_cookie("csrf").fields(FieldRules::include(["csrf_token"])))
        .build()
        .unwrap();
    let strict = self::app(adapter, manager).await;
    let r = send(
        &strict,
        "POST",
        "/set/secret_field_name/1",
        &mut Jar::default(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(!r.body.contains("secret_field_name"), "{}", r.body);
    // 503: the store is down; the body names neither the id nor the backend.
    store.fail_load.store(true, Ordering::SeqCst);
    let r = send(&app, "GET", "/get/user_id", &mut jar).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let id = jar.get("session").unwrap();
    assert!(
        !r.body.contains(id) && !r.body.contains("faulty") && !r.body.contains("injected"),
        "{}",
        r.body
    );
}

/// A session kept by a handler beyond its request (e.g. in a spawned task)
/// fails with the "closed" error; the response of its request was complete.
pub async fn session_used_after_the_request_is_a_closed_error<A: Adapter>(adapter: &A) {
    let app = app(adapter, seed_manager(FaultyStore::new(), Key::generate())).await;
    let mut jar = Jar::default();
    let r = send(&app, "POST", "/spawn-late", &mut jar).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        signed_payload(jar.get("data").unwrap())["f"]["theme"],
        "early"
    );
    let err = routes::late_use()
        .await
        .expect_err("used after its request");
    assert!(err.is_closed(), "{err}");
    assert!(!err.is_service_unavailable());
    assert_eq!(err.status_code(), 500);
}

/// An unknown route or a wrong method answers 404 / 405 and the session
/// middleware adds nothing.
pub async fn unknown_route_touches_no_session<A: Adapter>(adapter: &A) {
    let store = FaultyStore::new();
    let app = app(adapter, seed_manager(store.clone(), Key::generate())).await;
    let mut jar = Jar::default();
    send(&app, "POST", "/seed-login", &mut jar).await;
    let before = store.calls();
    let r = send(&app, "GET", "/nowhere", &mut jar).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r2 = send(&app, "GET", "/destroy", &mut jar).await;
    assert_eq!(r2.status, StatusCode::METHOD_NOT_ALLOWED);
    for r in [r, r2] {
        assert!(r.set_cookies.is_empty() && r.headers.get("vary").is_none());
    }
    assert_eq!(store.calls(), before);
    assert_eq!(jar.0.len(), 3, "nothing removed");
}

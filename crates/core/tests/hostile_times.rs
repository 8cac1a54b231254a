//! Times read from a cookie or a record are hostile input: a cookie signed
//! with a valid key (or a record written by another app) may carry any `i64`.
//! Every computation on them saturates, so no request panics (tests run with
//! overflow checks) and none wraps around into a wrong answer.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use session_plus_core::cookie_format::{CookieFormat, EncryptedFormat, SignedFormat};
use session_plus_core::store::{Record, RecordMeta, SessionStore};
use session_plus_core::{
    unix_now, FieldRules, Interface, Key, KeyRing, MemoryStore, RecordKey, SessionDriver,
    SessionId, SessionManager,
};

const DAY: u64 = 86_400;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn key() -> KeyRing {
    KeyRing::new(Key::from_bytes(&[7u8; 64]).unwrap())
}

/// Times a hostile writer could put in a meta, as (created, accessed, expires).
fn hostile_metas(now: i64) -> Vec<(i64, i64, i64)> {
    vec![
        (i64::MAX, now, now + 3600),
        (i64::MAX, now, i64::MAX),
        (i64::MIN, now, now + 3600),
        (i64::MIN + 1, now, i64::MAX),
        (0, now, i64::MAX),
        (now, i64::MIN, i64::MAX),
        (i64::MAX, i64::MIN, i64::MAX),
        (-1, now - 10, now + 10),
    ]
}

/// One request through the whole driver: read, write, save.
async fn request(manager: &Arc<SessionManager>, header: &str) -> session_plus_core::Outcome {
    let driver = SessionDriver::new(manager.clone(), [header.as_bytes()]);
    let s = driver.session();
    let _ = s.to_map().await.unwrap();
    for name in manager.cookie_names().collect::<Vec<_>>() {
        let _ = s.is_permanent(name).await.unwrap();
    }
    s.insert("n", 1).await.unwrap();
    driver.finish().await
}

#[test]
fn cookie_times_near_the_integer_limits_go_through_a_whole_session() {
    rt().block_on(async {
        for absolute in [None, Some(Duration::from_secs(DAY)), Some(Duration::MAX)] {
            for encrypt in [false, true] {
                let iface = if encrypt {
                    Interface::encrypted_cookie("data")
                } else {
                    Interface::secure_cookie("data")
                };
                let manager = Arc::new(
                    SessionManager::builder()
                        .keys(key())
                        .interface(
                            iface
                                .absolute_lifetime(absolute)
                                .refresh_interval(Duration::from_secs(60))
                                .fields(FieldRules::All),
                        )
                        .build()
                        .unwrap(),
                );
                let format: Box<dyn CookieFormat> = if encrypt {
                    Box::new(EncryptedFormat::new(&key(), "data"))
                } else {
                    Box::new(SignedFormat::new(&key(), "data"))
                };
                let now = unix_now();
                for (created, accessed, expires) in hostile_metas(now) {
                    let meta = RecordMeta::new(accessed, expires, "b")
                        .with_created(created)
                        .with_permanent(created % 2 == 0);
                    let cookie =
                        format.encode(&Record::new([("a".to_owned(), json!(1))].into(), meta));
                    let what =
                        format!("{absolute:?} encrypt={encrypt} {created} {accessed} {expires}");
                    let out = request(&manager, &format!("data={cookie}")).await;
                    assert!(out.error.is_none(), "{what}: {:?}", out.error);
                    // What was written is read back by the next request.
                    let driver =
                        SessionDriver::new(manager.clone(), [out.cookie_header().as_bytes()]);
                    assert_eq!(
                        driver.session().get::<i32>("n").await.unwrap(),
                        Some(1),
                        "{what}"
                    );
                }
            }
        }
    });
}

#[test]
fn a_cookie_created_at_i64_max_with_an_absolute_lifetime_is_not_expired_by_wrapping() {
    // created + absolute_lifetime overflows: saturating, it stays in the
    // future (the cookie is live), never wraps into the past or panics.
    rt().block_on(async {
        let manager = Arc::new(
            SessionManager::builder()
                .keys(key())
                .interface(
                    Interface::secure_cookie("data")
                        .absolute_lifetime(Some(Duration::from_secs(DAY))),
                )
                .build()
                .unwrap(),
        );
        let now = unix_now();
        let meta = RecordMeta::new(now, now + 3600, "b").with_created(i64::MAX);
        let cookie = SignedFormat::new(&key(), "data")
            .encode(&Record::new([("a".to_owned(), json!("kept"))].into(), meta));
        let driver = SessionDriver::new(manager, [format!("data={cookie}").as_bytes()]);
        assert_eq!(
            driver
                .session()
                .get::<String>("a")
                .await
                .unwrap()
                .as_deref(),
            Some("kept")
        );
        assert!(driver.finish().await.error.is_none());
    });
}

#[test]
fn record_times_near_the_integer_limits_go_through_a_whole_session() {
    rt().block_on(async {
        for absolute in [None, Some(Duration::from_secs(DAY))] {
            let store = Arc::new(MemoryStore::new());
            let manager = Arc::new(
                SessionManager::builder()
                    .interface(
                        Interface::store("session", store.clone())
                            .absolute_lifetime(absolute)
                            .refresh_interval(Duration::from_secs(1))
                            .fields(FieldRules::All),
                    )
                    .build()
                    .unwrap(),
            );
            let now = unix_now();
            for (created, accessed, expires) in hostile_metas(now) {
                let id = SessionId::generate();
                let meta = RecordMeta::new(accessed, expires, "b").with_created(created);
                let rec = Record::new([("a".to_owned(), json!(1))].into(), meta);
                assert!(store
                    .create(&RecordKey::new("", id.clone()), &rec)
                    .await
                    .unwrap());
                let what = format!("{absolute:?} {created} {accessed} {expires}");
                let out = request(&manager, &format!("session={}", id.as_str())).await;
                assert!(out.error.is_none(), "{what}: {:?}", out.error);
                let next = out.cookie_header();
                let header = if next.is_empty() {
                    format!("session={}", id.as_str())
                } else {
                    next
                };
                let driver = SessionDriver::new(manager.clone(), [header.as_bytes()]);
                assert_eq!(
                    driver.session().get::<i32>("n").await.unwrap(),
                    Some(1),
                    "{what}"
                );
            }
        }
    });
}

#[test]
fn huge_configured_lifetimes_saturate() {
    // Lifetimes from a configuration document can be any u64 seconds.
    rt().block_on(async {
        let manager = Arc::new(
            SessionManager::builder()
                .keys(key())
                .interface(
                    Interface::secure_cookie("data")
                        .session_lifetime(Duration::MAX)
                        .session_permanent_lifetime(Duration::MAX)
                        .cookie_max_age(Some(Duration::MAX))
                        .absolute_lifetime(Some(Duration::MAX))
                        .refresh_interval(Duration::MAX),
                )
                .build()
                .unwrap(),
        );
        let driver = SessionDriver::new(manager.clone(), std::iter::empty::<&[u8]>());
        driver.session().insert("n", 1).await.unwrap();
        driver.session().set_permanent("data", true).await.unwrap();
        let out = driver.finish().await;
        assert!(out.error.is_none(), "{:?}", out.error);
        let header = out.set_cookie_headers().next().unwrap().to_owned();
        assert!(
            header.contains("; Expires=Fri, 31 Dec 9999 23:59:59 GMT;"),
            "{header}"
        );
        let driver = SessionDriver::new(manager, [out.cookie_header().as_bytes()]);
        assert_eq!(driver.session().get::<i32>("n").await.unwrap(), Some(1));
    });
}

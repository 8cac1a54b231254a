//! flask-session-plus `secure_cookie` (SHA3-256) against the real package
//! (0.6.2 on Flask 2.0.3, see `tests/peer/`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{rt, rust_request, tagged, Peer};
use serde_json::json;
use session_plus_core::cookie_format::CookieFormat;
use session_plus_core::{unix_now, FieldRules, Interface, SessionManager};
use session_plus_flask::{Bytes, FlaskCookieFormat, FlaskSecrets, Tuple};

const KEY: &str = "secret-key-1";

fn format(key: &str, fallbacks: &[&str]) -> FlaskCookieFormat {
    FlaskCookieFormat::flask_session_plus(
        FlaskSecrets::new(key)
            .unwrap()
            .with_fallbacks(fallbacks)
            .unwrap(),
    )
}

/// The seed's layout: a `csrf` cookie for the token, a `data` cookie for the rest.
fn python_config() -> serde_json::Value {
    json!([
        {"cookie_name": "csrf", "session_type": "secure_cookie", "session_fields": ["csrf_token"]},
        {"cookie_name": "data", "session_type": "secure_cookie", "session_fields": ["user_id", "pair", "raw"]},
    ])
}

fn manager_with(data: FlaskCookieFormat, key: &str) -> Arc<SessionManager> {
    Arc::new(
        SessionManager::builder()
            .interface(
                Interface::cookie_with_format("csrf", Arc::new(format(key, &[])))
                    .fields(FieldRules::include(["csrf_token"])),
            )
            .interface(
                Interface::cookie_with_format("data", Arc::new(data))
                    .fields(FieldRules::include(["user_id", "pair", "raw"])),
            )
            .build()
            .unwrap(),
    )
}

#[test]
fn python_writes_rust_reads() {
    let mut py = Peer::fsp(KEY, python_config());
    let out = py.call(json!({
        "op": "request",
        "set": r#"{"csrf_token":"abc","user_id":42,"pair":{" t":[1,2]},"raw":{" b":"aGk="}}"#,
    }));
    let csrf = out["cookies"]["csrf"].as_str().unwrap().to_owned();
    let data = out["cookies"]["data"].as_str().unwrap().to_owned();
    rt().block_on(async {
        let m = manager_with(format(KEY, &[]), KEY);
        rust_request(&m, &[("csrf", &csrf), ("data", &data)], |s| async move {
            assert_eq!(
                s.get::<String>("csrf_token").await.unwrap().as_deref(),
                Some("abc")
            );
            assert_eq!(s.get::<u64>("user_id").await.unwrap(), Some(42));
            assert_eq!(
                s.get::<Tuple<(u8, u8)>>("pair").await.unwrap(),
                Some(Tuple((1, 2)))
            );
            assert_eq!(
                s.get::<Bytes>("raw").await.unwrap(),
                Some(Bytes(b"hi".to_vec()))
            );
        })
        .await;
    });
}

#[test]
fn rust_writes_python_reads_including_permanence() {
    let now = unix_now();
    let cookies = rt().block_on(async {
        let m = manager_with(format(KEY, &[]), KEY);
        rust_request(&m, &[], |s| async move {
            s.insert("csrf_token", "abc").await.unwrap();
            s.insert("user_id", 42).await.unwrap();
            s.insert("pair", Tuple((1, 2))).await.unwrap();
            s.set_permanent("data", true).await.unwrap();
        })
        .await
    });
    let mut py = Peer::fsp(KEY, python_config());
    let out = py.call(
        json!({"op": "request", "cookies": {"csrf": cookies["csrf"], "data": cookies["data"]}}),
    );
    // flask-session-plus keeps no permanence in its cookies (spec bug 5): the
    // flag Rust keeps in the payload shows up as a plain `_permanent` field.
    assert_eq!(
        tagged(out["session"].as_str().unwrap()),
        json!({"csrf_token": "abc", "user_id": 42, "pair": {" t": [1, 2]}, "_permanent": true})
    );
    assert_eq!(out["types"]["pair"], "tuple");
    // Python drops it on its next write of that cookie (include rules).
    let out = py.call(
        json!({"op": "request", "cookies": {"data": cookies["data"]}, "set": r#"{"user_id":43}"#}),
    );
    let back = format(KEY, &[])
        .decode(out["cookies"]["data"].as_str().unwrap(), now)
        .unwrap();
    assert!(!back.meta.permanent);
    assert_eq!(back.fields["user_id"], 43);

    // Rust remembers permanence across requests (Python forgets it).
    rt().block_on(async {
        let m = manager_with(format(KEY, &[]), KEY);
        rust_request(&m, &[("data", &cookies["data"])], |s| async move {
            assert!(s.is_permanent("data").await.unwrap());
        })
        .await;
    });

    // Payload exactly as Python writes it: no `_permanent` key at all.
    let cookies = rt().block_on(async {
        let m = manager_with(format(KEY, &[]).permanence_in_payload(false), KEY);
        rust_request(&m, &[], |s| async move {
            s.insert("user_id", 42).await.unwrap();
            s.set_permanent("data", true).await.unwrap();
        })
        .await
    });
    let out = py.call(json!({"op": "request", "cookies": {"data": cookies["data"]}}));
    assert_eq!(
        tagged(out["session"].as_str().unwrap()),
        json!({"user_id": 42})
    );
}

#[test]
fn cookie_max_age_expiry_and_future_dates_agree() {
    const T: i64 = 1_700_000_000;
    // cookie_max_age = 60 on both sides.
    let mut config = python_config();
    config[1]["cookie_max_age"] = json!(60);
    let mut py = Peer::fsp(KEY, config);
    let cookie = py.call(json!({"op": "request", "now": T, "set": r#"{"user_id":1}"#}))["cookies"]
        ["data"]
        .as_str()
        .unwrap()
        .to_owned();
    let f = format(KEY, &[]).max_age(Some(Duration::from_secs(60)));
    for (what, now, accepted) in [
        ("fresh", T, true),
        ("exactly max age", T + 60, true),
        ("expired", T + 61, false),
        ("future-dated", T - 1, false),
    ] {
        let rust = f.decode(&cookie, now).is_some();
        let python = py.call(json!({"op": "request", "now": now, "cookies": {"data": cookie}}))
            ["session"]
            != "{}";
        assert_eq!((rust, python), (accepted, accepted), "{what}");
    }

    // Default cookie_max_age = None: neither side ever checks the timestamp.
    let mut py = Peer::fsp(KEY, python_config());
    let cookie = py.call(json!({"op": "request", "now": T, "set": r#"{"user_id":1}"#}))["cookies"]
        ["data"]
        .as_str()
        .unwrap()
        .to_owned();
    let f = format(KEY, &[]);
    for now in [T - 1000, T + 10 * 365 * 86_400] {
        let python = py.call(json!({"op": "request", "now": now, "cookies": {"data": cookie}}))
            ["session"]
            != "{}";
        assert!(f.decode(&cookie, now).is_some() && python, "at {now}");
    }

    // Tampered: both reject.
    // (A change in the last character may only touch base64 padding bits, which
    // both sides ignore alike: flip one in the middle of the signature.)
    let mid = cookie.len() - 10;
    let c = if cookie.as_bytes()[mid] == b'A' {
        "B"
    } else {
        "A"
    };
    let forged = format!("{}{c}{}", &cookie[..mid], &cookie[mid + 1..]);
    assert!(f.decode(&forged, T).is_none());
    assert_eq!(
        py.call(json!({"op": "request", "now": T, "cookies": {"data": forged}}))["session"],
        "{}"
    );
}

#[test]
fn key_rotation_rust_reads_old_and_python_reads_resigned() {
    let mut old_py = Peer::fsp("old-key", python_config());
    let old = old_py.call(json!({"op": "request", "set": r#"{"user_id":1}"#}))["cookies"]["data"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookies = rt().block_on(async {
        let m = manager_with(format("new-key", &["old-key"]), "new-key");
        rust_request(&m, &[("data", &old)], |s| async move {
            assert_eq!(s.get::<u64>("user_id").await.unwrap(), Some(1));
            s.insert("user_id", 2).await.unwrap();
        })
        .await
    });
    // flask-session-plus runs on Flask 2.0 (no SECRET_KEY_FALLBACKS): after the
    // rotation it knows the new key only, and reads what Rust re-signed.
    let mut new_py = Peer::fsp("new-key", python_config());
    let out = new_py.call(json!({"op": "request", "cookies": {"data": cookies["data"]}}));
    assert_eq!(
        tagged(out["session"].as_str().unwrap()),
        json!({"user_id": 2})
    );
    let out = new_py.call(json!({"op": "request", "cookies": {"data": old}}));
    assert_eq!(out["session"], "{}");
}

#[test]
fn hostile_timestamps_go_through_a_whole_session_without_overflow() {
    // flask-session-plus checks no max age by default, so any signed
    // timestamp is accepted; with an absolute lifetime configured,
    // `created + lifetime` must saturate, not overflow.
    use session_plus_core::store::{Record, RecordMeta};
    use session_plus_core::SessionDriver;
    rt().block_on(async {
        let m = Arc::new(
            SessionManager::builder()
                .interface(
                    Interface::cookie_with_format("data", Arc::new(format(KEY, &[])))
                        .absolute_lifetime(Some(Duration::from_secs(86_400)))
                        .refresh_interval(Duration::from_secs(60)),
                )
                .build()
                .unwrap(),
        );
        for ts in [i64::MAX, i64::MAX - 1, 0, 1] {
            let meta = RecordMeta::new(ts, 0, "").with_permanent(true);
            let cookie = format(KEY, &[]).encode(&Record::new(
                [("user_id".to_owned(), json!(1))].into(),
                meta,
            ));
            let header = format!("data={cookie}");
            let driver = SessionDriver::new(m.clone(), [header.as_bytes()]);
            let s = driver.session();
            let _ = s.to_map().await.unwrap();
            let _ = s.is_permanent("data").await.unwrap();
            s.insert("user_id", 2).await.unwrap();
            let out = driver.finish().await;
            assert!(out.error.is_none(), "{ts}: {:?}", out.error);
            let driver = SessionDriver::new(m.clone(), [out.cookie_header().as_bytes()]);
            assert_eq!(
                driver.session().get::<i32>("user_id").await.unwrap(),
                Some(2),
                "{ts}"
            );
        }
    });
}

//! Flask's signed session cookie against the real Flask 3.1 (see `tests/peer/`).

mod common;

use std::sync::Arc;

use common::{rt, rust_request, tagged, Peer};
use serde_json::{json, Value};
use session_plus_core::cookie_format::CookieFormat;
use session_plus_core::store::{Record, RecordMeta};
use session_plus_core::{unix_now, Interface, SessionManager};
use session_plus_flask::{
    Bytes, FlaskCookieFormat, FlaskSecrets, HttpDate, Markup, RawNumber, Tuple, Untagged, Uuid,
};

const KEY: &str = "secret-key-1";

fn format(key: &str, fallbacks: &[&str]) -> FlaskCookieFormat {
    FlaskCookieFormat::flask(
        FlaskSecrets::new(key)
            .unwrap()
            .with_fallbacks(fallbacks)
            .unwrap(),
    )
}

fn manager(key: &str, fallbacks: &[&str]) -> Arc<SessionManager> {
    Arc::new(
        SessionManager::builder()
            .interface(Interface::cookie_with_format(
                "session",
                Arc::new(format(key, fallbacks)),
            ))
            .build()
            .unwrap(),
    )
}

/// Python-typed values, as Flask's TaggedJSON text.
const PY_VALUES: &str = r#"{"user_id":42,"name":"Zo\u00eb \ud83d\ude00","pair":{" t":[1,"a"]},"raw":{" b":"AAEC/w=="},"uid":{" u":"12345678123456781234567812345678"},"when":{" d":"Tue, 02 Jan 2024 03:04:05 GMT"},"html":{" m":"<b>hi</b>"},"nested":{"list":[1.5,null,true,{" t":[]}],"esc":{" di":{" t__":1}}}}"#;

#[test]
fn python_writes_rust_reads_values_types_and_permanence() {
    let mut py = Peer::flask(KEY, &[]);
    let out = py.call(json!({"op": "request", "set": PY_VALUES, "permanent": true}));
    assert_eq!(out["types"]["pair"], "tuple");
    assert_eq!(out["types"]["raw"], "bytes");
    assert_eq!(out["types"]["uid"], "UUID");
    assert_eq!(out["types"]["when"], "datetime");
    assert_eq!(out["types"]["html"], "Markup");
    let cookie = out["cookie"].as_str().unwrap().to_owned();

    rt().block_on(async {
        let m = manager(KEY, &[]);
        let cookies = rust_request(&m, &[("session", &cookie)], |s| async move {
            assert_eq!(s.get::<u64>("user_id").await.unwrap(), Some(42));
            assert_eq!(
                s.get::<String>("name").await.unwrap().as_deref(),
                Some("Zoë 😀")
            );
            assert_eq!(
                s.get::<Tuple<(u8, String)>>("pair").await.unwrap(),
                Some(Tuple((1, "a".to_owned())))
            );
            assert_eq!(
                s.get::<Untagged<Vec<Value>>>("pair")
                    .await
                    .unwrap()
                    .map(|u| u.0),
                Some(vec![json!(1), json!("a")])
            );
            assert_eq!(
                s.get::<Bytes>("raw").await.unwrap(),
                Some(Bytes(vec![0, 1, 2, 255]))
            );
            assert_eq!(
                s.get::<Uuid>("uid")
                    .await
                    .unwrap()
                    .map(|u| u.to_string())
                    .as_deref(),
                Some("12345678-1234-5678-1234-567812345678")
            );
            assert_eq!(
                s.get::<HttpDate>("when").await.unwrap(),
                Some(HttpDate::from_unix(1_704_164_645))
            );
            assert_eq!(
                s.get::<Markup>("html").await.unwrap(),
                Some(Markup("<b>hi</b>".into()))
            );
            assert!(s.is_permanent("session").await.unwrap());
            // The whole map is exactly what Python holds, tags included.
            let map = s.to_map().await.unwrap();
            assert_eq!(Value::Object(map.into_iter().collect()), tagged(PY_VALUES));
        })
        .await;
        assert!(cookies.is_empty(), "a read does not re-sign");
    });
}

#[test]
fn rust_writes_python_reads_values_types_and_permanence() {
    let cookies = rt().block_on(async {
        let m = manager(KEY, &[]);
        rust_request(&m, &[], |s| async move {
            s.insert("user_id", 42).await.unwrap();
            s.insert("pair", Tuple((1, "a"))).await.unwrap();
            s.insert("raw", Bytes(vec![0, 1, 2, 255])).await.unwrap();
            s.insert(
                "uid",
                "12345678-1234-5678-1234-567812345678"
                    .parse::<Uuid>()
                    .unwrap(),
            )
            .await
            .unwrap();
            s.insert("when", HttpDate::from_unix(1_704_164_645))
                .await
                .unwrap();
            s.insert("html", Markup("<b>hi</b>".into())).await.unwrap();
            s.insert("name", "Zoë 😀").await.unwrap();
            s.insert("list", vec![1.5, 2.0]).await.unwrap();
            s.insert("inf", RawNumber::from_f64(f64::INFINITY))
                .await
                .unwrap();
            s.set_permanent("session", true).await.unwrap();
        })
        .await
    });
    let cookie = &cookies["session"];
    let mut py = Peer::flask(KEY, &[]);
    let out = py.call(json!({"op": "request", "cookie": cookie}));
    assert_eq!(out["permanent"], true);
    let types = &out["types"];
    for (field, ty) in [
        ("user_id", "int"),
        ("pair", "tuple"),
        ("raw", "bytes"),
        ("uid", "UUID"),
        ("when", "datetime"),
        ("html", "Markup"),
        ("name", "str"),
        ("list", "list"),
        ("inf", "float"),
    ] {
        assert_eq!(types[field], ty, "{field}");
    }
    let session = out["session"].as_str().unwrap();
    assert_eq!(
        session,
        r#"{"html":{" m":"<b>hi</b>"},"inf":Infinity,"list":[1.5,2.0],"name":"Zo\u00eb \ud83d\ude00","pair":{" t":[1,"a"]},"raw":{" b":"AAEC/w=="},"uid":{" u":"12345678123456781234567812345678"},"user_id":42,"when":{" d":"Tue, 02 Jan 2024 03:04:05 GMT"}}"#
    );
}

#[test]
fn untouched_python_types_and_odd_numbers_survive_a_rust_write() {
    let mut py = Peer::flask(KEY, &[]);
    let values = r#"{"pair":{" t":[1,{" b":"AAE="}]},"nan":NaN,"ninf":-Infinity,"big":123456789012345678901234567890,"when":{" d":"Tue, 02 Jan 2024 03:04:05 GMT"},"counter":1}"#;
    let first = py.call(json!({"op": "request", "set": values}));
    assert_eq!(first["types"]["big"], "int");
    assert_eq!(first["types"]["nan"], "float");
    let cookie = first["cookie"].as_str().unwrap().to_owned();
    let cookies = rt().block_on(async {
        let m = manager(KEY, &[]);
        rust_request(&m, &[("session", &cookie)], |s| async move {
            let big: RawNumber = s.get("big").await.unwrap().unwrap();
            assert_eq!(big.as_str(), "123456789012345678901234567890");
            assert!(s
                .get::<RawNumber>("nan")
                .await
                .unwrap()
                .unwrap()
                .to_f64()
                .is_nan());
            s.insert("counter", 2).await.unwrap();
        })
        .await
    });
    let after = py.call(json!({"op": "request", "cookie": cookies["session"]}));
    assert_eq!(after["types"], first["types"]);
    let expected = first["session"]
        .as_str()
        .unwrap()
        .replace("\"counter\":1", "\"counter\":2");
    assert_eq!(after["session"].as_str().unwrap(), expected);
}

#[test]
fn key_rotation_old_cookie_read_then_resigned_with_new_key() {
    // Signed by Python before the rotation.
    let mut py = Peer::flask("old-key", &[]);
    let old_cookie = py.call(json!({"op": "request", "set": r#"{"user_id":1}"#}))["cookie"]
        .as_str()
        .unwrap()
        .to_owned();
    py.reconfigure(json!({"op": "config", "secret_key": "new-key", "fallbacks": ["old-key"]}));

    rt().block_on(async {
        let m = manager("new-key", &["old-key"]);
        // Read after rotation: accepted, not re-signed by a read.
        let read = rust_request(&m, &[("session", &old_cookie)], |s| async move {
            assert_eq!(s.get::<u64>("user_id").await.unwrap(), Some(1));
        })
        .await;
        assert!(read.is_empty());
        // The next write re-signs with the new key.
        let written = rust_request(&m, &[("session", &old_cookie)], |s| async move {
            s.insert("user_id", 2).await.unwrap();
        })
        .await;
        let new_cookie = &written["session"];
        let now = unix_now();
        assert!(format("old-key", &[]).decode(new_cookie, now).is_none());
        assert!(format("new-key", &[]).decode(new_cookie, now).is_some());
        // Python with the new key only (fallback dropped) reads it.
        let mut py_new = Peer::flask("new-key", &[]);
        let out = py_new.call(json!({"op": "request", "cookie": new_cookie}));
        assert_eq!(
            tagged(out["session"].as_str().unwrap()),
            json!({"user_id": 2})
        );
        // ... and rejects the old cookie, as Rust does without the fallback.
        let out = py_new.call(json!({"op": "request", "cookie": old_cookie}));
        assert_eq!(out["session"], "{}");
        assert!(format("new-key", &[]).decode(&old_cookie, now).is_none());
    });

    // Python after the rotation re-signs the old cookie on its next write too.
    let resigned = py.call(json!({"op": "request", "cookie": old_cookie, "set": r#"{"x":1}"#}));
    let c = resigned["cookie"].as_str().unwrap();
    assert!(format("new-key", &[]).decode(c, unix_now()).is_some());
}

#[test]
fn tampered_expired_and_future_cookies_are_rejected_by_both_sides() {
    const T: i64 = 1_700_000_000;
    const MAX: i64 = 31 * 86_400;
    let mut py = Peer::flask(KEY, &[]);
    let from_python = py.call(json!({"op": "request", "now": T, "set": r#"{"user_id":5}"#}))
        ["cookie"]
        .as_str()
        .unwrap()
        .to_owned();
    let f = format(KEY, &[]);
    let from_rust = f.encode(&Record {
        fields: [("user_id".to_owned(), json!(5))].into(),
        meta: RecordMeta {
            permanent: false,
            created: T,
            accessed: T,
            expires: 0,
            binding: String::new(),
        },
    });
    assert_eq!(
        from_rust, from_python,
        "same bytes for an uncompressed payload"
    );

    let mut tampered = from_python.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let forged_sig = format!("{}x", &from_python[..from_python.len() - 1]);

    // The last character of a 27-character SHA-1 signature carries 2 unused
    // bits: Python's base64 ignores them, and so must we (same MAC bytes).
    const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = from_python.as_bytes()[from_python.len() - 1];
    let idx = B64.bytes().position(|b| b == last).unwrap();
    let padding_bits = format!(
        "{}{}",
        &from_python[..from_python.len() - 1],
        B64.as_bytes()[idx ^ 1] as char
    );

    let cases: [(&str, &str, i64, bool); 8] = [
        ("unused base64 bits changed", &padding_bits, T, true),
        ("fresh", &from_python, T, true),
        ("exactly max_age", &from_python, T + MAX, true),
        ("expired by one second", &from_python, T + MAX + 1, false),
        ("future-dated", &from_python, T - 1, false),
        ("tampered payload", &tampered, T, false),
        ("tampered signature", &forged_sig, T, false),
        ("garbage", "not.a.cookie", T, false),
    ];
    for (what, cookie, now, accepted) in cases {
        let rust = f.decode(cookie, now).is_some();
        let out = py.call(json!({"op": "request", "now": now, "cookie": cookie}));
        let python = out["session"] != "{}";
        assert_eq!((rust, python), (accepted, accepted), "{what}");
    }
}

#[test]
fn a_value_rust_cannot_represent_rejects_the_whole_cookie_never_half_of_it() {
    // A Python `str` may hold a lone surrogate; a Rust `String` cannot.
    let mut py = Peer::flask(KEY, &[]);
    let out = py.call(json!({"op": "request", "set": r#"{"user_id":1,"bad":"\ud800"}"#}));
    let cookie = out["cookie"].as_str().unwrap().to_owned();
    assert!(format(KEY, &[]).decode(&cookie, unix_now()).is_none());
    rt().block_on(async {
        let m = manager(KEY, &[]);
        rust_request(&m, &[("session", &cookie)], |s| async move {
            assert_eq!(
                s.get::<u64>("user_id").await.unwrap(),
                None,
                "no partial read"
            );
        })
        .await;
    });
}

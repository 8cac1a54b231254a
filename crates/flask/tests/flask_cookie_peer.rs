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
    let from_rust = f.encode(&Record::new(
        [("user_id".to_owned(), json!(5))].into(),
        RecordMeta::new(T, 0, ""),
    ));
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

/// Unix seconds of 0001-01-01T00:00:00Z.
const YEAR_1: i64 = -62_135_596_800;

#[test]
fn datetimes_in_years_1_to_99_are_read_as_flask_reads_them() {
    // Python holds datetime(1, 1, 1) and datetime(99, 6, 1); Flask writes them
    // with four-digit years and reads them back as two-digit years.
    let mut py = Peer::flask(KEY, &[]);
    let first = py.call(json!({
        "op": "request",
        "set_dates": {"y1": "0001-01-01T00:00:00", "y99": "0099-06-01T12:00:00", "y100": "0100-01-01T00:00:00"},
    }));
    assert_eq!(
        tagged(first["session"].as_str().unwrap()),
        json!({
            "y1": {" d": "Mon, 01 Jan 0001 00:00:00 GMT"},
            "y99": {" d": "Mon, 01 Jun 0099 12:00:00 GMT"},
            "y100": {" d": "Fri, 01 Jan 0100 00:00:00 GMT"},
        })
    );
    let cookie = first["cookie"].as_str().unwrap().to_owned();
    let python_reads = py.call(json!({"op": "request", "cookie": cookie}))["iso"].clone();
    assert_eq!(
        python_reads,
        json!({"y1": "2001-01-01T00:00:00+00:00", "y99": "1999-06-01T12:00:00+00:00", "y100": "0100-01-01T00:00:00+00:00"})
    );
    rt().block_on(async {
        let m = manager(KEY, &[]);
        rust_request(&m, &[("session", &cookie)], |s| async move {
            for (field, want) in [
                ("y1", "2001-01-01T00:00:00Z"),
                ("y99", "1999-06-01T12:00:00Z"),
                ("y100", "0100-01-01T00:00:00Z"),
            ] {
                let d: HttpDate = s.get(field).await.unwrap().unwrap();
                assert_eq!(d.rfc3339(), want, "{field}");
                let Untagged(text): Untagged<String> = s.get(field).await.unwrap().unwrap();
                assert_eq!(text, want, "{field}");
            }
        })
        .await;
    });
}

#[test]
fn datetimes_in_years_1_to_99_are_written_as_flask_writes_them() {
    let cookies = rt().block_on(async {
        let m = manager(KEY, &[]);
        rust_request(&m, &[], |s| async move {
            s.insert("y1", HttpDate::from_unix(YEAR_1)).await.unwrap();
        })
        .await
    });
    let mut py = Peer::flask(KEY, &[]);
    let out = py.call(json!({"op": "request", "cookie": cookies["session"]}));
    // Flask reads Rust's year 1 exactly as it reads its own: as 2001.
    assert_eq!(out["iso"], json!({"y1": "2001-01-01T00:00:00+00:00"}));
    // ... because Rust wrote the very text Flask writes for datetime(1, 1, 1).
    let flask = py.call(json!({"op": "request", "set_dates": {"y1": "0001-01-01T00:00:00"}}));
    let ours = format(KEY, &[])
        .decode(&cookies["session"], unix_now())
        .unwrap();
    assert_eq!(
        json!({"y1": ours.fields["y1"]}),
        tagged(flask["session"].as_str().unwrap())
    );
}

#[test]
fn http_dates_parse_exactly_as_werkzeug_parses_them() {
    let dates = [
        "Tue, 02 Jan 2024 03:04:05 GMT",
        "Mon, 01 Jan 0001 00:00:00 GMT",
        "Sat, 31 Dec 0068 23:59:59 GMT",
        "Thu, 01 Jan 0069 00:00:00 GMT",
        "Fri, 31 Dec 0099 00:00:00 GMT",
        "Sat, 01 Jan 0000 00:00:00 GMT",
        "Fri, 01 Jan 0100 00:00:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Tue, 02 Jan 2024 03:04:05 UTC",
        "Tue,02 Jan 2024 03:04:05 GMT",
        "Sun, 02 Jan 2024 03:04:05 GMT",
        "2 Jan 2024 03:04:05",
        "Jan 2 2024 03:04",
        "02-Jan-24 03:04:05 GMT",
        "2 january 2024 03.04.05 +0130",
        "2 Jan 2024 03:04:05-0500",
        "2 Jan 2024 03:04:05 EST",
        "2 Jan 2024 03:04:05 -0000",
        "2 Jan 2024 03:04:05 XYZ",
        "2 Jan 2_024 03:04:05 GMT",
        "2 Jan -5 03:04:05 GMT",
        "2 Jan 24, 03:04:05 GMT",
        "Tuesday, 02 Jan 2024 03:04:05 GMT",
        "02 Jan 2024 03:04:05 +2359",
        "02 Jan 2024 03:04:05 +2400",
        "",
        "   ",
        "é",
        "02 Jan 2024",
        "Tue, 31 Feb 2024 00:00:00 GMT",
        "Tue, 29 Feb 2023 00:00:00 GMT",
        "Tue, 02 Jan 2024 24:00:00 GMT",
        "Tue, 02 Jan 2024 03:04:60 GMT",
        "Tue, 02 Foo 2024 03:04:05 GMT",
        "Tue, 02 Jan 10000 03:04:05 GMT",
        "Tue, 02 Jan 2024 03-04-05 GMT",
        "Tue, 02 Jan 2__024 03:04:05 GMT",
        "Sat, 01 Jan 0001 00:30:00 +0100",
        "Fri, 01 Jan 0100 00:30:00 +0100",
    ];
    let mut py = Peer::flask(KEY, &[]);
    let python = py.call(json!({"op": "parse_dates", "dates": dates.to_vec()}))["unix"].clone();
    for (text, py_unix) in dates.iter().zip(python.as_array().unwrap()) {
        let rust = HttpDate::parse(text).ok().map(|d| d.unix());
        assert_eq!(rust, py_unix.as_i64(), "{text:?}: Python says {py_unix}");
    }
}

#[test]
fn a_permanent_false_flag_survives_a_rust_write() {
    let mut py = Peer::flask(KEY, &[]);
    let first = py.call(json!({"op": "request", "set": r#"{"user_id":1}"#, "permanent": false}));
    assert_eq!(
        tagged(first["raw"].as_str().unwrap()),
        json!({"_permanent": false, "user_id": 1})
    );
    let cookie = first["cookie"].as_str().unwrap().to_owned();
    let cookies = rt().block_on(async {
        let m = manager(KEY, &[]);
        rust_request(&m, &[("session", &cookie)], |s| async move {
            assert!(!s.is_permanent("session").await.unwrap());
            // The flag is the format's, not the handler's.
            assert!(s.get_value("_permanent").await.is_err());
            assert!(s.insert("_permanent", true).await.is_err());
            assert_eq!(s.keys().await.unwrap(), ["user_id"]);
            s.insert("user_id", 2).await.unwrap();
        })
        .await
    });
    let after = py.call(json!({"op": "request", "cookie": cookies["session"]}));
    assert_eq!(
        tagged(after["raw"].as_str().unwrap()),
        json!({"_permanent": false, "user_id": 2})
    );
    // Turning permanence on and off from Rust writes what Flask's setter writes.
    let on = rt().block_on(async {
        let m = manager(KEY, &[]);
        rust_request(&m, &[("session", &cookies["session"])], |s| async move {
            s.set_permanent("session", true).await.unwrap();
        })
        .await
    });
    let out = py.call(json!({"op": "request", "cookie": on["session"]}));
    assert_eq!(out["permanent"], true);
    assert_eq!(
        tagged(out["raw"].as_str().unwrap()),
        json!({"_permanent": true, "user_id": 2})
    );
    let off = rt().block_on(async {
        let m = manager(KEY, &[]);
        rust_request(&m, &[("session", &on["session"])], |s| async move {
            s.set_permanent("session", false).await.unwrap();
        })
        .await
    });
    let out = py.call(json!({"op": "request", "cookie": off["session"]}));
    let by_flask = py.call(json!({"op": "request", "cookie": on["session"], "permanent": false}));
    assert_eq!(out["raw"], by_flask["raw"]);
    assert_eq!(
        tagged(out["raw"].as_str().unwrap()),
        json!({"_permanent": false, "user_id": 2})
    );
}

#[test]
fn a_session_holding_only_the_permanent_flag_is_not_deleted_by_a_read() {
    // Flask keeps a cookie whose dict is {"_permanent": true}: not empty.
    let mut py = Peer::flask(KEY, &[]);
    let first = py.call(json!({"op": "request", "permanent": true}));
    let cookie = first["cookie"].as_str().unwrap().to_owned();
    assert_eq!(
        tagged(first["raw"].as_str().unwrap()),
        json!({"_permanent": true})
    );
    let set = rt().block_on(async {
        let m = manager(KEY, &[]);
        rust_request(&m, &[("session", &cookie)], |s| async move {
            assert!(s.is_permanent("session").await.unwrap());
            assert!(s.to_map().await.unwrap().is_empty());
        })
        .await
    });
    assert!(
        set.is_empty(),
        "a read neither deletes nor rewrites it: {set:?}"
    );
}

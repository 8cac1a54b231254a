//! Flask's signed session cookie as a [`CookieFormat`].

use std::io::{Read as _, Write as _};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use serde_json::{Map, Value};
use session_plus_core::cookie_format::{CookieFormat, MAX_COOKIE_BYTES};
#[cfg(feature = "redis")]
use session_plus_core::store::Fields;
use session_plus_core::store::{Record, RecordMeta};

use crate::json::{self, DICT_TAG, FLASK_TAGS, NUMBER_TAG};
use crate::signing::{
    decode_timestamp, encode_timestamp, Digest, FlaskSecrets, Signer, LENIENT_B64,
};

/// The key Flask keeps permanence under, inside the session dict.
pub(crate) const PERMANENT: &str = "_permanent";

/// Expiry given to records that never expire (9999-12-31T23:59:59Z).
pub const FAR_FUTURE: i64 = 253_402_300_799;

/// Largest inflated payload accepted (a 4 KiB cookie cannot honestly hold more;
/// this stops zlib bombs).
const MAX_INFLATED: u64 = 1 << 20;

/// Flask's default session cookie (`SecureCookieSessionInterface`), or the
/// `secure_cookie` of flask-session-plus: `payload.timestamp.signature`, signed
/// with itsdangerous, payload in TaggedJSON (zlib-compressed when smaller).
///
/// - [`FlaskCookieFormat::flask`]: SHA-1, `max_age` =
///   `PERMANENT_SESSION_LIFETIME` (31 days) checked for every cookie.
/// - [`FlaskCookieFormat::flask_session_plus`]: SHA3-256, `max_age` =
///   `cookie_max_age` (default `None`: never checked, so neither expiry nor a
///   future timestamp is ever rejected, as in Python).
///
/// Mapping to a [`Record`]: the fields are the session dict in tagged form
/// (see [`crate::tagged`]). Its `_permanent` key gives
/// [`RecordMeta::permanent`] (Python's truthiness, as Flask reads it) and
/// stays in the record as it was, so a session holding `"_permanent": false`
/// keeps it; the format reserves the name (see
/// [`CookieFormat::reserved_fields`]), so handlers cannot reach it and
/// change permanence with `set_permanent`. On write, `_permanent` is kept
/// when it still says the record's permanence, set to the new permanence as
/// a bool when it does not (Flask's `session.permanent = ...`), and added as
/// `true` for a permanent session that had none. The timestamp is `created`
/// and `accessed` (Flask keeps no
/// creation time, so an `absolute_lifetime` counts from the last write),
/// `expires` is the last second `max_age` accepts plus one (or [`FAR_FUTURE`]),
/// `binding` is empty. Signing uses `accessed`.
///
/// Like Flask, a cookie is accepted only if `0 <= now - timestamp <= max_age`:
/// a cookie from a server whose clock runs ahead is rejected, by both sides.
///
/// ```
/// use std::sync::Arc;
/// use session_plus_core::cookie_format::CookieFormat;
/// use session_plus_core::{Interface, SessionManager};
/// use session_plus_flask::{FlaskCookieFormat, FlaskSecrets};
///
/// let format = FlaskCookieFormat::flask(FlaskSecrets::new("secret-key-1")?);
/// let cookie = "eyJjc3JmX3Rva2VuIjoiYWJjIiwidXNlcl9pZCI6NDJ9.ZVPxAA._6rVvigjZ-3xsitQRwbKJveAyw8";
/// let record = format.decode(cookie, 1_700_000_000).unwrap();
/// assert_eq!(record.fields["user_id"], 42);
/// assert_eq!(format.encode(&record), cookie);
///
/// // As the one interface of a manager, named like Flask's cookie:
/// let manager = SessionManager::builder()
///     .interface(Interface::cookie_with_format("session", Arc::new(format)))
///     .build()?;
/// # let _ = manager;
/// # Ok::<(), session_plus_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FlaskCookieFormat {
    signer: Signer,
    max_age: Option<i64>,
    permanence_in_payload: bool,
}

impl FlaskCookieFormat {
    /// Flask's own cookie: SHA-1, salt `cookie-session`, max age 31 days.
    pub fn flask(secrets: FlaskSecrets) -> Self {
        Self {
            signer: Signer::new(&secrets, "cookie-session", Digest::Sha1),
            max_age: Some(31 * 24 * 3600),
            permanence_in_payload: true,
        }
    }

    /// flask-session-plus's `secure_cookie`: SHA3-256, salt `cookie-session`,
    /// no max age (its `cookie_max_age` default).
    pub fn flask_session_plus(secrets: FlaskSecrets) -> Self {
        Self {
            signer: Signer::new(&secrets, "cookie-session", Digest::Sha3_256),
            max_age: None,
            permanence_in_payload: true,
        }
    }

    /// The max age checked on read: Flask's `PERMANENT_SESSION_LIFETIME`, or
    /// flask-session-plus's `cookie_max_age` (`None`: never checked). Use the
    /// value the Python app is configured with.
    #[must_use]
    pub fn max_age(mut self, max_age: Option<Duration>) -> Self {
        self.max_age = max_age.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4));
        self
    }

    /// Whether a permanent session is written with `"_permanent": true` in
    /// the payload (default true), so permanence survives the next request.
    ///
    /// Flask reads and writes that key itself. flask-session-plus's
    /// `secure_cookie` does not know it (it forgets permanence, bug 5 of the
    /// interop spec): its Python side then sees a `_permanent` field in
    /// `session`, which it drops on its next write of that cookie. Turn this
    /// off to keep the payload exactly as that package writes it, at the cost
    /// of forgetting permanence on the next request, as Python does.
    #[must_use]
    pub fn permanence_in_payload(mut self, on: bool) -> Self {
        self.permanence_in_payload = on;
        self
    }

    /// The session dict, as JSON text, Python-exact.
    fn payload_json(&self, record: &Record) -> String {
        let mut dict: Map<String, Value> = record
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let permanent = record.meta.permanent;
        match dict.get(PERMANENT) {
            // As it was (e.g. `false`, or a truthy non-bool a Python app put there).
            Some(v) if truthy(v) == permanent => {}
            // Changed in this request: what Flask's `session.permanent = ...` writes.
            Some(_) => {
                dict.insert(PERMANENT.to_owned(), Value::Bool(permanent));
            }
            None if permanent && self.permanence_in_payload => {
                dict.insert(PERMANENT.to_owned(), Value::Bool(true));
            }
            None => {}
        }
        json::write(&top_level(dict))
    }
}

/// Flask tags the session dict itself too: a dict of one key that looks like a
/// tag is escaped.
pub(crate) fn top_level(dict: Map<String, Value>) -> Value {
    if dict.len() == 1 {
        if let Some(k) = dict.keys().next() {
            if FLASK_TAGS.contains(&k.as_str()) || k == NUMBER_TAG {
                let (k, v) = dict.into_iter().next().unwrap_or_default();
                return json::escaped_dict(k, v);
            }
        }
    }
    Value::Object(dict)
}

/// The session dict of a parsed payload (undoing a top-level escape).
pub(crate) fn session_dict(v: Value) -> Option<Map<String, Value>> {
    let Value::Object(mut m) = v else { return None };
    if m.len() == 1 {
        if let Some(Value::Object(inner)) = m.get(DICT_TAG) {
            if inner.len() == 1 {
                let (k, v) = inner.iter().next()?;
                let key = k.strip_suffix("__")?.to_owned();
                let v = v.clone();
                m.clear();
                m.insert(key, v);
            }
        }
    }
    Some(m)
}

/// Python's truthiness of a JSON value (Flask reads `_permanent` with `bool()`).
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Fields and permanence of a session dict.
#[cfg(feature = "redis")]
pub(crate) fn split_permanent(mut dict: Map<String, Value>) -> (Fields, bool) {
    let permanent = dict.remove(PERMANENT).is_some_and(|v| truthy(&v));
    (dict.into_iter().collect(), permanent)
}

impl CookieFormat for FlaskCookieFormat {
    fn encode(&self, record: &Record) -> String {
        let json = self.payload_json(record);
        let mut enc = ZlibEncoder::new(Vec::new(), Compression::default());
        let compressed = enc
            .write_all(json.as_bytes())
            .and_then(|()| enc.finish())
            .ok();
        let mut value = match compressed {
            Some(c) if c.len() + 1 < json.len() => {
                let mut s = String::from(".");
                URL_SAFE_NO_PAD.encode_string(c, &mut s);
                s
            }
            _ => URL_SAFE_NO_PAD.encode(json),
        };
        value.push('.');
        value.push_str(&encode_timestamp(record.meta.accessed));
        self.signer.sign(&value)
    }

    fn decode(&self, value: &str, now: i64) -> Option<Record> {
        if value.len() > MAX_COOKIE_BYTES {
            return None;
        }
        let signed = self.signer.unsign(value)?;
        let (payload, ts) = signed.rsplit_once('.')?;
        let ts = decode_timestamp(ts)?;
        if let Some(max_age) = self.max_age {
            let age = now.checked_sub(ts)?;
            if age > max_age || age < 0 {
                return None;
            }
        }
        let (compressed, b64) = match payload.strip_prefix('.') {
            Some(rest) => (true, rest),
            None => (false, payload),
        };
        let raw = LENIENT_B64.decode(b64).ok()?;
        let text = if compressed {
            let mut out = Vec::new();
            ZlibDecoder::new(raw.as_slice())
                .take(MAX_INFLATED + 1)
                .read_to_end(&mut out)
                .ok()?;
            if out.len() as u64 > MAX_INFLATED {
                return None;
            }
            out
        } else {
            raw
        };
        let Some(dict) = std::str::from_utf8(&text)
            .ok()
            .and_then(json::parse)
            .and_then(session_dict)
        else {
            // Signed by the app, yet unreadable here: e.g. a lone surrogate in a
            // Python `str`. Rejected whole rather than half-read.
            tracing::warn!("Flask session cookie verified but its payload cannot be represented; treated as absent");
            return None;
        };
        let permanent = dict.get(PERMANENT).is_some_and(truthy);
        let expires = self
            .max_age
            .map_or(FAR_FUTURE, |m| ts.saturating_add(m).saturating_add(1));
        let meta = RecordMeta::new(ts, expires, "").with_permanent(permanent);
        Some(Record::new(dict.into_iter().collect(), meta))
    }

    /// `_permanent`: Flask's permanence flag, kept in the payload.
    fn reserved_fields(&self) -> &[&str] {
        &[PERMANENT]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TS: i64 = 1_700_000_000;

    fn secrets() -> FlaskSecrets {
        FlaskSecrets::new("secret-key-1").unwrap()
    }

    fn record(fields: Value, permanent: bool) -> Record {
        let Value::Object(m) = fields else {
            panic!("fields must be an object")
        };
        Record::new(
            m.into_iter().collect(),
            RecordMeta::new(TS, 0, "").with_permanent(permanent),
        )
    }

    /// Spec section 1 vectors, both directions.
    #[test]
    fn spec_vectors() {
        let flask = FlaskCookieFormat::flask(secrets());
        let fsp = FlaskCookieFormat::flask_session_plus(secrets());
        let cases: [(&FlaskCookieFormat, Value, bool, &str); 5] = [
            (&flask, json!({"user_id": 42, "csrf_token": "abc"}), false,
             "eyJjc3JmX3Rva2VuIjoiYWJjIiwidXNlcl9pZCI6NDJ9.ZVPxAA._6rVvigjZ-3xsitQRwbKJveAyw8"),
            (&flask, json!({"user_id": 7}), true,
             "eyJfcGVybWFuZW50Ijp0cnVlLCJ1c2VyX2lkIjo3fQ.ZVPxAA.l9o30HDdRPfX6CgkzmPvxqibvds"),
            (&fsp, json!({"user_id": 42, "csrf_token": "abc"}), false,
             "eyJjc3JmX3Rva2VuIjoiYWJjIiwidXNlcl9pZCI6NDJ9.ZVPxAA.8q95P0O5dveJKOAeTiCgrnl-7XIzz_ydYqgN-IavLbc"),
            (&fsp, json!({"csrf_token": "abc"}), false,
             "eyJjc3JmX3Rva2VuIjoiYWJjIn0.ZVPxAA.10UANGGRT0nkSxX9cHQwl8ropkQpKunSVx9_aQKBgdY"),
            (&fsp, json!({"user_id": 42}), false,
             "eyJ1c2VyX2lkIjo0Mn0.ZVPxAA.StEFBpiyR96LaQ47goxiUbTt4yEK5E4SQF86eVC4u8U"),
        ];
        for (format, fields, permanent, cookie) in cases.clone() {
            let want = record(fields, permanent);
            assert_eq!(format.encode(&want), cookie);
            let mut got = format.decode(cookie, TS).expect("vector must verify");
            let flag = got.fields.remove(PERMANENT);
            assert_eq!(flag, permanent.then_some(json!(true)));
            assert_eq!(got.fields, want.fields);
            assert_eq!(got.meta.permanent, permanent);
            assert_eq!((got.meta.created, got.meta.accessed), (TS, TS));
            assert_eq!(got.meta.binding, "");
        }
        assert_eq!(fsp.decode(cases[2].3, TS).unwrap().meta.expires, FAR_FUTURE);
        assert_eq!(
            flask.decode(cases[0].3, TS).unwrap().meta.expires,
            TS + 31 * 86_400 + 1
        );
    }

    #[test]
    fn spec_compressed_vector() {
        let flask = FlaskCookieFormat::flask(secrets());
        let python = ".eJyrVkrKyU9SslJKHCZAqRYAkRRPIg.ZVPxAA.qkApahcMVtzTMXLqIo8wAmSTh6Q";
        let want = record(json!({"blob": "a".repeat(200)}), false);
        assert_eq!(flask.decode(python, TS).unwrap().fields, want.fields);
        // Another deflate gives other valid bytes: compare by decoding.
        let ours = flask.encode(&want);
        assert!(
            ours.starts_with('.'),
            "a compressible payload is compressed"
        );
        assert_eq!(flask.decode(&ours, TS).unwrap().fields, want.fields);
    }

    #[test]
    fn max_age_is_inclusive_and_future_is_rejected() {
        let flask = FlaskCookieFormat::flask(secrets());
        let cookie = flask.encode(&record(json!({"a": 1}), false));
        let max = 31 * 86_400;
        assert!(
            flask.decode(&cookie, TS + max).is_some(),
            "exactly 31 days is accepted"
        );
        assert!(
            flask.decode(&cookie, TS + max + 1).is_none(),
            "one second more is not"
        );
        assert!(flask.decode(&cookie, TS - 1).is_none(), "future-dated");
        // flask-session-plus without cookie_max_age checks nothing, like Python.
        let fsp = FlaskCookieFormat::flask_session_plus(secrets());
        let c = fsp.encode(&record(json!({"a": 1}), false));
        assert!(fsp.decode(&c, TS - 1000).is_some());
        assert!(fsp.decode(&c, TS + 10 * max).is_some());
        let fsp = fsp.max_age(Some(Duration::from_secs(60)));
        assert!(fsp.decode(&c, TS + 60).is_some());
        assert!(fsp.decode(&c, TS + 61).is_none());
        assert!(fsp.decode(&c, TS - 1).is_none());
    }

    #[test]
    fn rotation_reads_old_and_signs_new() {
        let old = FlaskCookieFormat::flask(secrets());
        let rotated = FlaskCookieFormat::flask(
            FlaskSecrets::new("secret-key-2")
                .unwrap()
                .with_fallbacks(["secret-key-1"])
                .unwrap(),
        );
        let cookie = old.encode(&record(json!({"user_id": 1}), false));
        let read = rotated.decode(&cookie, TS).expect("old key still verifies");
        let resigned = rotated.encode(&read);
        assert_ne!(resigned, cookie);
        assert!(
            old.decode(&resigned, TS).is_none(),
            "signed with the new key"
        );
        let new_only = FlaskCookieFormat::flask(FlaskSecrets::new("secret-key-2").unwrap());
        assert!(new_only.decode(&resigned, TS).is_some());
        assert!(
            new_only.decode(&cookie, TS).is_none(),
            "dropping the fallback revokes"
        );
    }

    #[test]
    fn sha1_and_sha3_cookies_do_not_mix() {
        let flask = FlaskCookieFormat::flask(secrets());
        let fsp = FlaskCookieFormat::flask_session_plus(secrets());
        let r = record(json!({"a": 1}), false);
        assert!(fsp.decode(&flask.encode(&r), TS).is_none());
        assert!(flask.decode(&fsp.encode(&r), TS).is_none());
    }

    #[test]
    fn tags_and_odd_values_survive_a_round_trip() {
        let flask = FlaskCookieFormat::flask(secrets());
        let fields = json!({
            "t": {" t": [1, {" b": "AAE="}]},
            "u": {" u": "0123456789abcdef0123456789abcdef"},
            "d": {" d": "Tue, 02 Jan 2024 03:04:05 GMT"},
            "m": {" m": "<b>x</b>"},
            "di": {" di": {" t__": 1}},
            "nan": {" n": "NaN"},
            "big": {" n": "123456789012345678901234567890"},
            "text": "é\u{1F600}",
            "f": 0.1,
        });
        let r = record(fields, true);
        let cookie = flask.encode(&r);
        let back = flask.decode(&cookie, TS).unwrap();
        let mut fields = back.fields.clone();
        assert_eq!(fields.remove(PERMANENT), Some(json!(true)));
        assert_eq!(fields, r.fields);
        assert!(back.meta.permanent);
        assert_eq!(flask.encode(&back), cookie);
    }

    #[test]
    fn tampering_and_garbage_are_rejected_without_panic() {
        let flask = FlaskCookieFormat::flask(secrets());
        let cookie = flask.encode(&record(
            json!({"user_id": 1, "blob": "b".repeat(300)}),
            false,
        ));
        for i in 0..cookie.len() {
            let mut b = cookie.clone().into_bytes();
            b[i] ^= 0x01;
            if let Ok(s) = String::from_utf8(b) {
                if s != cookie {
                    assert!(flask.decode(&s, TS).is_none(), "flip at {i}");
                }
            }
        }
        for cut in 0..cookie.len() {
            assert!(flask.decode(&cookie[..cut], TS).is_none());
        }
        for junk in ["", ".", "..", "...", "a.b.c", "é.é.é", &"A".repeat(5000)] {
            assert!(flask.decode(junk, TS).is_none());
        }
        // Correctly signed but not a dict, or not JSON: rejected whole.
        let signer = Signer::new(&secrets(), "cookie-session", Digest::Sha1);
        for payload in ["[1]", "{\"a\":\"\\ud800\"}", "{", "1"] {
            let v = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(payload),
                encode_timestamp(TS)
            );
            assert!(flask.decode(&signer.sign(&v), TS).is_none(), "{payload}");
        }
    }

    #[test]
    fn zlib_bombs_are_refused() {
        let flask = FlaskCookieFormat::flask(secrets());
        let mut enc = ZlibEncoder::new(Vec::new(), Compression::best());
        enc.write_all(b"{\"a\":\"").unwrap();
        enc.write_all(&vec![b'a'; 2 << 20]).unwrap();
        enc.write_all(b"\"}").unwrap();
        let c = enc.finish().unwrap();
        let v = format!(".{}.{}", URL_SAFE_NO_PAD.encode(c), encode_timestamp(TS));
        let signed = Signer::new(&secrets(), "cookie-session", Digest::Sha1).sign(&v);
        assert!(signed.len() <= MAX_COOKIE_BYTES);
        assert!(flask.decode(&signed, TS).is_none());
    }

    #[test]
    fn a_one_key_session_that_looks_like_a_tag_is_escaped() {
        let flask = FlaskCookieFormat::flask(secrets());
        let r = record(json!({" t": 5}), false);
        let cookie = flask.encode(&r);
        let (payload, _) = cookie.split_once('.').unwrap();
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(text, r#"{" di":{" t__":5}}"#);
        assert_eq!(flask.decode(&cookie, TS).unwrap().fields, r.fields);
    }

    /// The payload's `_permanent` after one decode, a permanence change to
    /// `set` (None: unchanged), and an encode.
    fn permanent_after(
        format: &FlaskCookieFormat,
        dict: Value,
        set: Option<bool>,
    ) -> Option<Value> {
        let signed = {
            let Value::Object(m) = dict else { panic!() };
            let v = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(json::write(&Value::Object(m))),
                encode_timestamp(TS)
            );
            format.signer.sign(&v)
        };
        let mut r = format.decode(&signed, TS).unwrap();
        if let Some(p) = set {
            r.meta.permanent = p;
        }
        let back = format.decode(&format.encode(&r), TS).unwrap();
        back.fields.get(PERMANENT).cloned()
    }

    #[test]
    fn permanent_flag_is_kept_as_it_was_unless_permanence_changes() {
        for format in [
            FlaskCookieFormat::flask(secrets()),
            FlaskCookieFormat::flask_session_plus(secrets()),
            FlaskCookieFormat::flask_session_plus(secrets()).permanence_in_payload(false),
        ] {
            let p = |d, set| permanent_after(&format, d, set);
            assert_eq!(
                p(json!({"a": 1, "_permanent": false}), None),
                Some(json!(false))
            );
            assert_eq!(
                p(json!({"a": 1, "_permanent": true}), None),
                Some(json!(true))
            );
            assert_eq!(p(json!({"a": 1, "_permanent": 1}), None), Some(json!(1)));
            assert_eq!(p(json!({"a": 1, "_permanent": ""}), None), Some(json!("")));
            assert_eq!(p(json!({"a": 1}), None), None);
            // Changed by the request: a bool, as Flask's setter writes.
            assert_eq!(
                p(json!({"a": 1, "_permanent": false}), Some(true)),
                Some(json!(true))
            );
            assert_eq!(
                p(json!({"a": 1, "_permanent": 1}), Some(false)),
                Some(json!(false))
            );
            assert_eq!(
                p(json!({"a": 1, "_permanent": true}), Some(false)),
                Some(json!(false))
            );
        }
        let flask = FlaskCookieFormat::flask(secrets());
        assert_eq!(
            permanent_after(&flask, json!({"a": 1}), Some(true)),
            Some(json!(true))
        );
        let fsp = FlaskCookieFormat::flask_session_plus(secrets()).permanence_in_payload(false);
        assert_eq!(permanent_after(&fsp, json!({"a": 1}), Some(true)), None);
        assert_eq!(flask.reserved_fields(), ["_permanent"]);
    }

    #[test]
    fn permanent_is_reserved_by_flask_interfaces_only() {
        use session_plus_core::{FieldRules, Interface, Key, SessionDriver, SessionManager};
        use std::sync::Arc;
        let flask = || Arc::new(FlaskCookieFormat::flask(secrets()));
        let err = SessionManager::builder()
            .interface(
                Interface::cookie_with_format("session", flask())
                    .fields(FieldRules::include(["user_id", PERMANENT])),
            )
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("session") && err.contains("session_fields") && err.contains(PERMANENT),
            "{err}"
        );
        // Next to a Flask interface, a native one keeps `_permanent` as data.
        let m = Arc::new(
            SessionManager::builder()
                .keys(Key::generate())
                .interface(
                    Interface::cookie_with_format("session", flask())
                        .fields(FieldRules::include(["user_id"])),
                )
                .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
                .build()
                .unwrap(),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let d = SessionDriver::new(m.clone(), std::iter::empty::<&[u8]>());
            d.session().insert(PERMANENT, 5).await.unwrap();
            d.session().insert("user_id", 1).await.unwrap();
            let out = d.finish().await;
            assert!(out.error.is_none());
            let d = SessionDriver::new(m, [out.cookie_header().as_bytes()]);
            assert_eq!(d.session().get::<i32>(PERMANENT).await.unwrap(), Some(5));
            assert_eq!(d.session().keys().await.unwrap(), [PERMANENT, "user_id"]);
        });
    }
}

//! The checked-in seed corpus (`fuzz/seeds/<target>/`), generated here so it
//! stays valid when a format changes: `cargo test --manifest-path
//! fuzz/Cargo.toml` fails when the files differ from what this module makes,
//! and rewrites them with `FUZZ_WRITE_SEEDS=1`.

use crate::{
    flask_signed, flask_signed_id, native_encrypted, native_signed, native_signed_id, FlaskDigest,
    BINDING, FAR, KNOWN_ID, NOW,
};

/// Native payload JSON with the given meta times, holding `fields` (JSON text).
fn native_json(created: i64, since: i64, lifetime: i64, permanent: u8, fields: &str) -> Vec<u8> {
    format!(r#"{{"m":[{created},{since},{lifetime},{permanent},"{BINDING}"],"f":{fields}}}"#)
        .into_bytes()
}

/// The current (binary, version 2) native payload of a record, as the real
/// format writes it.
fn native_current(created: i64, accessed: i64, expires: i64, fields: &str) -> Vec<u8> {
    use base64::Engine as _;
    use session_plus_core::cookie_format::{CookieFormat, SignedFormat};
    use session_plus_core::store::{Record, RecordMeta};
    let fields = serde_json::from_str(fields).expect("JSON object");
    let mut meta = RecordMeta::new(accessed, expires, BINDING).with_created(created);
    meta.accessed = accessed;
    let value = SignedFormat::new(&crate::ring(), "data").encode(&Record::new(fields, meta));
    let payload = value.split('.').next().expect("payload");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url")
}

/// A native payload valid from [`NOW`] until [`FAR`].
fn native_live(fields: &str) -> Vec<u8> {
    native_json(NOW, 0, FAR - NOW, 0, fields)
}

const FLASK_PAYLOADS: [&str; 6] = [
    r#"{"_permanent":true,"flask_field":1}"#,
    r#"{"_permanent":false,"fsp_field":"x","t":{" t":[1,{" b":"AAE="}]}}"#,
    r#"{"d":{" d":"Mon, 01 Jan 0001 00:00:00 GMT"},"u":{" u":"12345678123456781234567812345678"},"m":{" m":"<b>"}}"#,
    r#"{" di":{" t__":1}}"#,
    r#"{"n":NaN,"i":-Infinity,"big":123456789012345678901234567890,"f":1e308,"s":"\ud83d\ude00"}"#,
    r#"{"nested":[[[{"a":[]}]]],"e":"","z":null}"#,
];

fn seed(target: &str, name: &str, bytes: Vec<u8>) -> (String, String, Vec<u8>) {
    (target.to_owned(), name.to_owned(), bytes)
}

fn with_sel(sel: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![sel];
    v.extend_from_slice(body);
    v
}

/// Every seed: (target, file name, contents).
pub fn all() -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    let t = "cookie_decode";
    let native = native_json(NOW, 0, 1000, 1, r#"{"a":1,"_permanent":false}"#);
    // Raw mode (selector bit 2 clear): whole cookie values, valid at NOW.
    out.push(seed(
        t,
        "raw-signed",
        with_sel(0, native_signed("data", &native).as_bytes()),
    ));
    out.push(seed(
        t,
        "raw-encrypted",
        with_sel(1, native_encrypted("enc", &native, 3).as_bytes()),
    ));
    let nowu = NOW as u64;
    let flask = FLASK_PAYLOADS[0].as_bytes();
    out.push(seed(
        t,
        "raw-flask",
        with_sel(
            2,
            flask_signed(FlaskDigest::Sha1, flask, false, nowu).as_bytes(),
        ),
    ));
    out.push(seed(
        t,
        "raw-fsp",
        with_sel(
            3,
            flask_signed(FlaskDigest::Sha3, flask, true, nowu).as_bytes(),
        ),
    ));
    out.push(seed(t, "raw-garbage", with_sel(0, b"eyJhIjoxfQ.AAAA.BBBB")));
    // Wrap mode: the payload is signed by the target.
    out.push(seed(t, "wrap-signed", with_sel(4, &native)));
    out.push(seed(t, "wrap-encrypted", with_sel(5, &native)));
    out.push(seed(
        t,
        "wrap-hostile-times",
        with_sel(4, &native_json(i64::MAX, i64::MIN, i64::MAX, 0, "{}")),
    ));
    let v2 = native_current(NOW, NOW, NOW + 1000, r#"{"a":1,"_permanent":false}"#);
    out.push(seed(t, "wrap-signed-v2", with_sel(4, &v2)));
    out.push(seed(t, "wrap-encrypted-v2", with_sel(5, &v2)));
    let v2_old = native_current(-5, NOW, NOW + 1000, r#"{"a":1}"#);
    out.push(seed(t, "wrap-v2-created-before-1970", with_sel(4, &v2_old)));
    for (i, p) in FLASK_PAYLOADS.iter().enumerate() {
        out.push(seed(
            t,
            &format!("wrap-flask-{i}"),
            with_sel(6 | ((i as u8 & 1) << 3), p.as_bytes()),
        ));
        out.push(seed(t, &format!("wrap-fsp-{i}"), with_sel(7, p.as_bytes())));
    }

    let t = "id_parse";
    out.push(seed(t, "known", KNOWN_ID.into()));
    out.push(seed(
        t,
        "uuid",
        b"00000000-0000-4000-8000-000000000000".to_vec(),
    ));
    out.push(seed(
        t,
        "native-signed",
        native_signed_id("session", KNOWN_ID).into_bytes(),
    ));
    out.push(seed(
        t,
        "flask-signed",
        flask_signed_id(KNOWN_ID).into_bytes(),
    ));
    out.push(seed(t, "dots", b"a.b.c".to_vec()));

    // A browser holding a valid cookie for every interface of the fixture.
    let all_cookies = [
        format!(
            "csrf={}",
            native_signed("csrf", &native_live(r#"{"csrf_token":"t"}"#))
        ),
        format!("session={}", native_signed_id("session", KNOWN_ID)),
        format!("plain={KNOWN_ID}"),
        format!(
            "enc={}",
            native_encrypted("enc", &native_live(r#"{"secret":"s"}"#), 9)
        ),
        format!(
            "flask={}",
            flask_signed(
                FlaskDigest::Sha1,
                br#"{"flask_field":1,"_permanent":false}"#,
                false,
                nowu
            )
        ),
        format!(
            "fsp={}",
            flask_signed(FlaskDigest::Sha3, br#"{"fsp_field":2}"#, false, nowu)
        ),
        format!("fspsid={}", flask_signed_id(KNOWN_ID)),
        format!(
            "data={}",
            native_signed("data", &native_live(r#"{"theme":"dark","_permanent":1}"#))
        ),
    ]
    .join("; ");
    let t = "request_session";
    // Op bytes: bits 0-2 op (0 get, 1 insert, 2 remove, 3 to_map, 4 clear,
    // 5 set_permanent, 6 cycle_id, 7 destroy), bits 3+ field/interface.
    let ops_read: Vec<u8> = (0..10u8).map(|f| f << 3).chain([3]).collect();
    let ops_write: Vec<u8> = (0..10u8)
        .map(|f| (f << 3) | 1)
        .chain([0x2d, 0x6d, 0x12])
        .collect();
    let ops_login: Vec<u8> = vec![0x01, 0x09, 6, 0x39, 3, 0x45];
    let ops_logout: Vec<u8> = vec![0x08, 7, 0x39, 4, 0x41];
    for (name, ops) in [
        ("read", &ops_read),
        ("write", &ops_write),
        ("login", &ops_login),
        ("logout", &ops_logout),
    ] {
        let mut with_cookies = all_cookies.clone().into_bytes();
        with_cookies.push(0xFF);
        with_cookies.extend_from_slice(ops);
        out.push(seed(t, &format!("all-cookies-{name}"), with_cookies));
        let mut none = vec![0xFF];
        none.extend_from_slice(ops);
        out.push(seed(t, &format!("no-cookies-{name}"), none));
    }
    let mut foreign = b"theme=Jos\xc3\xa9; data=\"quoted\"; session=../../etc; csrf=".to_vec();
    foreign.extend_from_slice(all_cookies.as_bytes());
    foreign.extend_from_slice(b"\xff\x09\x01");
    out.push(seed(t, "foreign-and-duplicates", foreign));

    let t = "signed_json_session";
    // Selector: bits 0-1 interface, bit 2 compress, bit 3 toggle permanence,
    // bit 4 an 8-byte timestamp first.
    out.push(seed(
        t,
        "native",
        with_sel(0, &native_live(r#"{"theme":"x","a":[1,2]}"#)),
    ));
    out.push(seed(
        t,
        "encrypted",
        with_sel(9, &native_live(r#"{"secret":"x"}"#)),
    ));
    out.push(seed(
        t,
        "created-max",
        with_sel(
            0,
            &native_json(i64::MAX, NOW - i64::MAX, FAR - NOW, 0, "{}"),
        ),
    ));
    out.push(seed(
        t,
        "created-min",
        with_sel(8, &native_json(i64::MIN, 0, 1, 1, "{}")),
    ));
    out.push(seed(
        t,
        "expires-max",
        with_sel(
            1,
            &native_json(NOW, 0, i64::MAX - NOW, 1, r#"{"secret":1}"#),
        ),
    ));
    for (name, created, accessed, expires) in [
        ("v2-live", NOW, NOW, FAR),
        ("v2-created-max", i64::MAX, NOW, FAR),
        ("v2-created-before-1970", i64::MIN + 1, NOW, FAR),
        ("v2-expires-max", 0, NOW, i64::MAX),
    ] {
        let p = native_current(created, accessed, expires, r#"{"theme":"t","x":[1]}"#);
        out.push(seed(t, &format!("{name}-signed"), with_sel(0, &p)));
        out.push(seed(
            t,
            &format!("{name}-signed-no-absolute"),
            with_sel(0x20, &p),
        ));
        out.push(seed(t, &format!("{name}-encrypted"), with_sel(9, &p)));
    }
    for (i, p) in FLASK_PAYLOADS.iter().enumerate() {
        out.push(seed(
            t,
            &format!("flask-{i}"),
            with_sel(2 | ((i as u8 & 1) << 3), p.as_bytes()),
        ));
        out.push(seed(
            t,
            &format!("fsp-{i}"),
            with_sel(3 | ((i as u8 & 1) << 2), p.as_bytes()),
        ));
    }
    let mut ts_max = vec![0x13];
    ts_max.extend_from_slice(&i64::MAX.to_be_bytes());
    ts_max.extend_from_slice(FLASK_PAYLOADS[0].as_bytes());
    out.push(seed(t, "fsp-timestamp-max", ts_max));
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    #[test]
    fn seeds_match_the_checked_in_corpus() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds");
        let write = std::env::var_os("FUZZ_WRITE_SEEDS").is_some();
        for (target, name, bytes) in super::all() {
            let path = root.join(&target).join(&name);
            if write {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &bytes).unwrap();
            } else {
                let on_disk = std::fs::read(&path).unwrap_or_default();
                assert!(
                    on_disk == bytes,
                    "{} is out of date: rerun with FUZZ_WRITE_SEEDS=1",
                    path.display()
                );
            }
        }
    }
}

//! Shared pieces of the fuzz targets: one fixed configuration, signers that
//! put *arbitrary* bytes under a valid MAC (so the fuzzer reaches what lies
//! behind signature checks), a store that checks every id it is given, and a
//! browser's cookie jar.
//!
//! The signers re-derive the formats' keys from the public key schedule
//! (HKDF for the native formats, itsdangerous for Flask's); [`self_check`]
//! proves at start-up that they still agree with the real formats, so a
//! target can never silently stop reaching the decoders.
#![forbid(unsafe_code)]

pub mod seeds;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Mac, SimpleHmac};
use session_plus_core::cookie_format::{CookieFormat, EncryptedFormat, SignedFormat};
use session_plus_core::store::{
    Capabilities, Changes, Fields, MetaUpdate, Record, RecordMeta, SessionStore,
};
use session_plus_core::{
    FieldRules, Interface, Key, KeyRing, MemoryStore, Outcome, RecordKey, Result, SessionId,
    SessionManager,
};
use session_plus_flask::{FlaskCookieFormat, FlaskIdSigner, FlaskSecrets};

/// The native key (64 bytes).
pub const SECRET: &[u8] = b"fuzz-secret-fuzz-secret-fuzz-secret-fuzz-secret-fuzz-secret-0001";
/// Flask's `SECRET_KEY`.
pub const FLASK_SECRET: &str = "flask-fuzz-secret";
/// The binding every seed cookie and record carries (one session).
pub const BINDING: &str = "fuzzbinding";
/// A fixed "now" for the decode targets (the session targets use the clock).
pub const NOW: i64 = 1_700_000_000;
/// A record that exists in the store before every request, under this id.
pub const KNOWN_ID: &str = "knownknownknownknownknownknownknownknown123";
/// Expiry of seed cookies and records: far enough never to lapse.
pub const FAR: i64 = 253_402_300_799;

/// Cookie names of the session targets' configuration, in order.
pub const NAMES: [&str; 8] = [
    "csrf", "session", "plain", "enc", "flask", "fsp", "fspsid", "data",
];
/// Field names the targets use: one per interface, plus some routed by `auto`.
pub const FIELDS: [&str; 10] = [
    "csrf_token",
    "user_id",
    "cart",
    "secret",
    "flask_field",
    "fsp_field",
    "fsp_sid_field",
    "theme",
    "_permanent",
    "x",
];

/// The native key ring.
pub fn ring() -> KeyRing {
    KeyRing::new(Key::from_bytes(SECRET).expect("64-byte key"))
}

/// Flask's secrets.
pub fn flask_secrets() -> FlaskSecrets {
    FlaskSecrets::new(FLASK_SECRET).expect("non-empty")
}

fn derive(purpose: &str, cookie_name: &str) -> [u8; 32] {
    let hk = Hkdf::<sha2::Sha256>::new(Some(b"session-plus v1"), SECRET);
    let mut out = [0u8; 32];
    let info = [purpose.as_bytes(), &[0], cookie_name.as_bytes()].concat();
    hk.expand(&info, &mut out).expect("32 bytes");
    out
}

fn hmac256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <SimpleHmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("any key");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// A native signed-cookie value holding `json` (any bytes) under a valid MAC.
pub fn native_signed(cookie_name: &str, json: &[u8]) -> String {
    let mac = hmac256(&derive("cookie-sign", cookie_name), json);
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(json),
        URL_SAFE_NO_PAD.encode(mac)
    )
}

/// A native encrypted-cookie value holding `plaintext` (any bytes).
pub fn native_encrypted(cookie_name: &str, plaintext: &[u8], nonce_seed: u8) -> String {
    let cipher = XChaCha20Poly1305::new(&derive("cookie-encrypt", cookie_name).into());
    let nonce = [nonce_seed; 24];
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: cookie_name.as_bytes(),
            },
        )
        .expect("encrypts");
    let mut raw = nonce.to_vec();
    raw.extend_from_slice(&ct);
    URL_SAFE_NO_PAD.encode(raw)
}

/// A native signed id cookie for any text as the id part.
pub fn native_signed_id(cookie_name: &str, id: &str) -> String {
    let mac = hmac256(&derive("id-sign", cookie_name), id.as_bytes());
    format!("{id}.{}", URL_SAFE_NO_PAD.encode(mac))
}

/// Digest of an itsdangerous signer.
#[derive(Clone, Copy, Debug)]
pub enum FlaskDigest {
    /// Flask's own cookie.
    Sha1,
    /// flask-session-plus's `secure_cookie`.
    Sha3,
}

fn itsdangerous_sig(digest: FlaskDigest, salt: &str, value: &[u8]) -> String {
    fn run<M: Mac + hmac::digest::KeyInit>(salt: &str, value: &[u8]) -> Vec<u8> {
        let mut d = <M as Mac>::new_from_slice(FLASK_SECRET.as_bytes()).expect("any key");
        d.update(salt.as_bytes());
        let derived = d.finalize().into_bytes();
        let mut m = <M as Mac>::new_from_slice(&derived).expect("any key");
        m.update(value);
        m.finalize().into_bytes().to_vec()
    }
    URL_SAFE_NO_PAD.encode(match digest {
        FlaskDigest::Sha1 => run::<SimpleHmac<sha1::Sha1>>(salt, value),
        FlaskDigest::Sha3 => run::<SimpleHmac<sha3::Sha3_256>>(salt, value),
    })
}

/// A Flask (or flask-session-plus) cookie holding `payload` (any bytes, the
/// JSON text), optionally zlib-compressed, timestamped `ts`, validly signed.
pub fn flask_signed(digest: FlaskDigest, payload: &[u8], compress: bool, ts: u64) -> String {
    use std::io::Write as _;
    let mut value = if compress {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(payload).expect("in memory");
        format!(
            ".{}",
            URL_SAFE_NO_PAD.encode(enc.finish().expect("in memory"))
        )
    } else {
        URL_SAFE_NO_PAD.encode(payload)
    };
    let bytes = ts.to_be_bytes();
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    value.push('.');
    value.push_str(&URL_SAFE_NO_PAD.encode(&bytes[first..]));
    let sig = itsdangerous_sig(digest, "cookie-session", value.as_bytes());
    format!("{value}.{sig}")
}

/// A flask-session-plus signed sid cookie for any text as the sid.
pub fn flask_signed_id(sid: &str) -> String {
    format!(
        "{sid}.{}",
        itsdangerous_sig(FlaskDigest::Sha1, "flask-session", sid.as_bytes())
    )
}

/// The cookie formats every decode target covers, by selector.
pub fn formats() -> &'static [Box<dyn CookieFormat>; 4] {
    static F: OnceLock<[Box<dyn CookieFormat>; 4]> = OnceLock::new();
    F.get_or_init(|| {
        self_check();
        [
            Box::new(SignedFormat::new(&ring(), "data")),
            Box::new(EncryptedFormat::new(&ring(), "enc")),
            Box::new(FlaskCookieFormat::flask(flask_secrets())),
            Box::new(FlaskCookieFormat::flask_session_plus(flask_secrets())),
        ]
    })
}

/// A value for format `i` of [`formats`] holding `payload` under a valid MAC.
pub fn wrap(i: usize, payload: &[u8], knob: u8, now: i64) -> String {
    let ts = u64::try_from(now)
        .unwrap_or(0)
        .saturating_sub(u64::from(knob % 4) * 1000);
    match i {
        0 => native_signed("data", payload),
        1 => native_encrypted("enc", payload, knob),
        2 => flask_signed(FlaskDigest::Sha1, payload, knob & 1 == 1, ts),
        _ => flask_signed(FlaskDigest::Sha3, payload, knob & 1 == 1, ts),
    }
}

/// Panics unless the signers above still produce values the real formats
/// accept (run once by [`formats`] and [`Fixture::new`]).
pub fn self_check() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let native = br#"{"m":[1700000000,0,1000,0,"fuzzbinding"],"f":{"a":1}}"#;
        let signed = SignedFormat::new(&ring(), "data");
        assert!(signed.decode(&native_signed("data", native), NOW).is_some());
        let enc = EncryptedFormat::new(&ring(), "enc");
        assert!(enc
            .decode(&native_encrypted("enc", native, 7), NOW)
            .is_some());
        let flask = FlaskCookieFormat::flask(flask_secrets());
        for compress in [false, true] {
            let c = flask_signed(FlaskDigest::Sha1, br#"{"a":1}"#, compress, NOW as u64);
            assert!(flask.decode(&c, NOW).is_some(), "flask signer out of date");
        }
        let fsp = FlaskCookieFormat::flask_session_plus(flask_secrets());
        let c = flask_signed(FlaskDigest::Sha3, br#"{"a":1}"#, false, NOW as u64);
        assert!(fsp.decode(&c, NOW).is_some(), "fsp signer out of date");
        let id = SessionId::parse(KNOWN_ID).expect("well-formed");
        let native_id = session_plus_core::cookie_format::IdSigner::new(&ring(), "session");
        assert_eq!(
            native_id.unsign(&native_signed_id("session", KNOWN_ID)),
            Some(id.clone())
        );
        use session_plus_core::cookie_format::IdCookieSigner as _;
        let flask_id = FlaskIdSigner::new(&flask_secrets());
        assert_eq!(flask_id.unsign(&flask_signed_id(KNOWN_ID)), Some(id));
    });
}

/// Whether `s` has the id format (`[A-Za-z0-9_-]{22,128}`), checked here
/// independently of the core.
pub fn well_formed_id(s: &str) -> bool {
    (22..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A memory store that panics when an id or prefix it is given is not one
/// the core may send: ids must be well-formed, prefixes the configured one.
#[derive(Debug)]
pub struct CheckingStore {
    inner: MemoryStore,
    prefix: &'static str,
}

impl CheckingStore {
    fn check(&self, key: &RecordKey) {
        assert!(
            well_formed_id(key.id().as_str()),
            "a malformed id reached the store"
        );
        assert_eq!(key.prefix(), self.prefix, "unexpected key prefix");
    }
}

#[async_trait::async_trait]
impl SessionStore for CheckingStore {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        self.check(key);
        self.inner.load(key).await
    }
    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        self.check(key);
        self.inner.create(key, record).await
    }
    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        self.check(key);
        self.inner.update(key, changes).await
    }
    async fn touch(&self, key: &RecordKey, meta: &MetaUpdate) -> Result<bool> {
        self.check(key);
        self.inner.touch(key, meta).await
    }
    async fn supersede(&self, key: &RecordKey, until: i64) -> Result<Option<Record>> {
        self.check(key);
        self.inner.supersede(key, until).await
    }
    async fn move_to(
        &self,
        from: &RecordKey,
        to: &RecordKey,
        changes: &Changes,
        binding: &str,
        tombstone_until: i64,
    ) -> Result<bool> {
        self.check(from);
        self.check(to);
        self.inner
            .move_to(from, to, changes, binding, tombstone_until)
            .await
    }
    async fn delete(&self, key: &RecordKey) -> Result<()> {
        self.check(key);
        self.inner.delete(key).await
    }
    async fn delete_by_field(
        &self,
        prefix: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<u64> {
        self.inner.delete_by_field(prefix, field, value).await
    }
    async fn delete_expired(&self) -> Result<u64> {
        self.inner.delete_expired().await
    }
}

/// The session targets' world: a manager with every kind of interface, its
/// stores (each already holding a record under [`KNOWN_ID`]), a runtime.
pub struct Fixture {
    /// The configuration.
    pub manager: Arc<SessionManager>,
    /// The runtime requests run on.
    pub rt: tokio::runtime::Runtime,
}

fn store(rt: &tokio::runtime::Runtime, prefix: &'static str, field: &str) -> Arc<CheckingStore> {
    let s = CheckingStore {
        inner: MemoryStore::new(),
        prefix,
    };
    let record = Record::new(
        [(field.to_owned(), serde_json::json!("stored"))].into(),
        RecordMeta::new(NOW, FAR, BINDING),
    );
    let key = RecordKey::new(prefix, SessionId::parse(KNOWN_ID).expect("well-formed"));
    assert!(rt.block_on(s.inner.create(&key, &record)).expect("created"));
    Arc::new(s)
}

impl Fixture {
    /// A fresh world (fresh stores: every input starts from the same state).
    pub fn new() -> Self {
        self_check();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        // Seed cookies and records were made at NOW (2023): an absolute
        // lifetime long enough for them to stay valid for decades.
        let day = Duration::from_secs(50 * 365 * 86_400);
        let only = |f: &str| FieldRules::include([f]);
        let manager = SessionManager::builder()
            .keys(ring())
            .interface(Interface::secure_cookie("csrf").fields(only("csrf_token")))
            .interface(
                Interface::store("session", store(&rt, "s:", "user_id"))
                    .key_prefix("s:")
                    .use_signer(true)
                    .absolute_lifetime(Some(day))
                    .fields(only("user_id")),
            )
            .interface(
                Interface::store("plain", store(&rt, "p:", "cart"))
                    .key_prefix("p:")
                    .fields(only("cart")),
            )
            .interface(
                Interface::encrypted_cookie("enc")
                    .absolute_lifetime(Some(day))
                    .fields(only("secret")),
            )
            .interface(
                Interface::cookie_with_format(
                    "flask",
                    Arc::new(FlaskCookieFormat::flask(flask_secrets()).max_age(None)),
                )
                .absolute_lifetime(Some(day))
                .fields(only("flask_field")),
            )
            .interface(
                Interface::cookie_with_format(
                    "fsp",
                    Arc::new(FlaskCookieFormat::flask_session_plus(flask_secrets())),
                )
                .fields(only("fsp_field")),
            )
            .interface(
                Interface::store("fspsid", store(&rt, "f:", "fsp_sid_field"))
                    .key_prefix("f:")
                    .id_signer(Arc::new(FlaskIdSigner::new(&flask_secrets())))
                    .fields(only("fsp_sid_field")),
            )
            .interface(
                Interface::secure_cookie("data")
                    .absolute_lifetime(Some(day))
                    .fields(FieldRules::Auto),
            )
            .build()
            .expect("valid configuration");
        Self {
            manager: Arc::new(manager),
            rt,
        }
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

/// A browser's cookie jar, kept as raw `Cookie` header pairs: the pairs of
/// the first request (garbage included, in order), minus every pair a
/// response re-set or removed, plus the cookies the responses set.
#[derive(Debug, Default, Clone)]
pub struct Jar(Vec<Vec<u8>>);

impl Jar {
    /// The jar holding the pairs of a `Cookie` header.
    pub fn from_header(header: &[u8]) -> Self {
        Jar(header.split(|&b| b == b';').map(<[u8]>::to_vec).collect())
    }

    /// Apply a response's `Set-Cookie` headers, checking each is well-formed.
    pub fn apply(&mut self, outcome: &Outcome) {
        let mut seen = Vec::new();
        for c in &outcome.cookies {
            let h = c.header_value();
            assert!(!h.contains(['\r', '\n']), "header injection in Set-Cookie");
            assert!(NAMES.contains(&c.name()), "cookie of no interface set");
            assert!(!seen.contains(&c.name()), "cookie set twice");
            seen.push(c.name());
            let pair = c.pair();
            let (name, value) = pair.split_once('=').expect("name=value");
            assert_eq!(name, c.name());
            assert!(
                value
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b";,\\\"".contains(&b)),
                "cookie value outside cookie-octets"
            );
            self.0.retain(|p| {
                let n = std::str::from_utf8(p)
                    .ok()
                    .and_then(|p| p.split_once('='))
                    .map(|(n, _)| n.trim());
                n != Some(name)
            });
            if !h.contains("; Max-Age=0;") {
                assert!(
                    pair.len() <= session_plus_core::cookie_format::MAX_COOKIE_BYTES,
                    "a cookie over 4096 bytes was set"
                );
                self.0.push(pair.as_bytes().to_vec());
            }
        }
    }

    /// The `Cookie` header the browser sends.
    pub fn header(&self) -> Vec<u8> {
        self.0.join(&b';')
    }
}

/// What one request wrote, field by field (None: removed), to be read back
/// by the next request.
pub type Expected = BTreeMap<String, Option<serde_json::Value>>;

/// The fields of `map` that are routed to a cookie format which reserves them
/// are never visible; the rest must be as expected.
pub fn check_read_back(expected: &Expected, got: &Fields) {
    for (field, want) in expected {
        assert_eq!(
            got.get(field),
            want.as_ref(),
            "field {field} written by the previous request is not read back"
        );
    }
}

//! How a `secure_cookie` interface turns its record into a cookie value and back.
//!
//! The native formats ([`SignedFormat`], [`EncryptedFormat`]) put the fields and
//! the [`RecordMeta`] (permanence, creation time, last write, expiry, binding) in
//! one JSON document and protect it as a whole, so the validity window is
//! enforced from times inside the authenticated value: a cookie kept past its
//! expiry by a client is rejected even though the browser would still send it.
//! Keys are derived per cookie name, so one interface's cookie never verifies as
//! another's. Other formats (Flask's) implement [`CookieFormat`] too.

use std::fmt;

use aes_gcm_siv::Aes256GcmSiv;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};

use crate::keys::{KeyRing, MacKeys};
use crate::store::{Fields, Record, RecordMeta};

mod compact;
mod verified;
use verified::VerifiedCache;
pub use verified::DEFAULT_CACHE_BYTES;

/// Browsers keep cookies up to 4096 bytes, name and value together.
pub const MAX_COOKIE_BYTES: usize = 4096;

/// Seconds a cookie's write time may lie in the future (clock skew between app
/// servers) before the cookie is rejected.
pub const CLOCK_SKEW_SECS: i64 = 30;

/// Encodes and decodes the value of a cookie that carries session data.
///
/// `decode` returns `None` for anything that does not verify, has expired, or
/// is not well-formed; it must never panic, whatever the input.
pub trait CookieFormat: fmt::Debug + Send + Sync + 'static {
    /// The cookie value for `record`.
    fn encode(&self, record: &Record) -> String;
    /// The record in `value`, if it verifies and is live at `now` (Unix seconds).
    fn decode(&self, value: &str, now: i64) -> Option<Record>;

    /// Field names this format keeps for itself (e.g. Flask's `_permanent`,
    /// which carries permanence inside the payload). The session refuses them
    /// to handlers (`get`, `insert`, `remove` are errors; `keys` and `to_map`
    /// leave them out) and a configuration that includes one in this
    /// interface's fields is rejected. None by default.
    ///
    /// ```
    /// use session_plus_core::cookie_format::{CookieFormat, SignedFormat};
    /// use session_plus_core::{Key, KeyRing};
    ///
    /// let format = SignedFormat::new(&KeyRing::new(Key::generate()), "data");
    /// assert!(format.reserved_fields().is_empty());
    /// ```
    fn reserved_fields(&self) -> &[&str] {
        &[]
    }
}

/// The meta travels as a compact array, `[created, accessed - created,
/// expires - accessed, permanent (0/1), binding]`: about half the bytes of
/// named fields, which matters because every byte is hashed on every request.
type CompactMeta<'a> = (i64, i64, i64, u8, &'a str);

/// Payload version 1 (still read; written before version 2, [`compact`]).
#[derive(Serialize)]
#[cfg_attr(not(test), allow(dead_code))]
struct PayloadRef<'a> {
    m: CompactMeta<'a>,
    f: &'a Fields,
}

#[derive(Deserialize)]
struct Payload_ {
    m: (i64, i64, i64, u8, String),
    f: Fields,
}

#[cfg_attr(not(test), allow(dead_code))]
fn to_json(record: &Record) -> Vec<u8> {
    let m = &record.meta;
    serde_json::to_vec(&PayloadRef {
        m: (
            m.created,
            m.accessed.saturating_sub(m.created),
            m.expires.saturating_sub(m.accessed),
            u8::from(m.permanent),
            &m.binding,
        ),
        f: &record.fields,
    })
    .unwrap_or_else(|_| unreachable!("JSON values and string keys always serialize"))
}

fn from_json(bytes: &[u8], now: i64) -> Option<Record> {
    let Payload_ {
        m: (created, since_created, lifetime, permanent, binding),
        f,
    } = serde_json::from_slice(bytes).ok()?;
    // No session was created before 1970; refusing it also keeps every meta
    // this format writes back representable (`accessed - created` for an
    // `accessed` of now cannot overflow), so a rewritten cookie reads back.
    if created < 0 {
        return None;
    }
    let accessed = created.checked_add(since_created)?;
    let meta = RecordMeta {
        permanent: match permanent {
            0 => false,
            1 => true,
            _ => return None,
        },
        created,
        accessed,
        expires: accessed.checked_add(lifetime)?,
        binding,
        moved: false,
    };
    is_fresh(&meta, now).then_some(Record { fields: f, meta })
}

/// The record in an authenticated payload of either version, if live at `now`.
fn from_payload(bytes: &[u8], now: i64) -> Option<Record> {
    match bytes.first()? {
        b'{' => from_json(bytes, now),
        // As in `from_json`: no creation before 1970, so a rewrite reads back.
        &compact::VERSION => {
            compact::decode(bytes).filter(|r| r.meta.created >= 0 && is_fresh(&r.meta, now))
        }
        _ => None,
    }
}

/// Whether a cookie's record is inside its validity window at `now`: not
/// expired, and not written further in the future than the clock skew allows.
fn is_fresh(meta: &RecordMeta, now: i64) -> bool {
    meta.expires > now && meta.accessed <= now.saturating_add(CLOCK_SKEW_SECS)
}

/// HMAC-SHA256 signed JSON: `base64url(json) "." base64url(HMAC(json))`.
/// Readable by the client (do not put secrets in it), tamper-proof. Strict
/// base64 (canonical trailing bits) means one cookie value per signed payload.
///
/// ```
/// use session_plus_core::cookie_format::{CookieFormat, SignedFormat};
/// use session_plus_core::store::{Record, RecordMeta};
/// use session_plus_core::{Key, KeyRing};
///
/// let format = SignedFormat::new(&KeyRing::new(Key::generate()), "data");
/// let record = Record::new(
///     [("n".to_owned(), serde_json::json!(1))].into(),
///     RecordMeta::new(100, 200, "x"),
/// );
/// let value = format.encode(&record);
/// assert_eq!(format.decode(&value, 150), Some(record.clone()));
/// assert_eq!(format.decode(&value, 200), None); // expired
/// let mut tampered = value.clone();
/// tampered.insert(0, 'A');
/// assert_eq!(format.decode(&tampered, 150), None);
/// ```
#[derive(Debug)]
pub struct SignedFormat {
    keys: MacKeys,
    verified: VerifiedCache,
}

impl SignedFormat {
    /// A format signing with the ring's newest key, for the cookie `cookie_name`.
    /// Values that verified are cached (see [`SignedFormat::with_cache_bytes`]).
    pub fn new(ring: &KeyRing, cookie_name: &str) -> Self {
        Self {
            keys: MacKeys::derive(ring, "cookie-sign", cookie_name),
            verified: VerifiedCache::new(DEFAULT_CACHE_BYTES),
        }
    }

    /// Bound the cache of already-verified cookie values to about `bytes` of
    /// memory ([`DEFAULT_CACHE_BYTES`] by default; 0 turns it off). A value
    /// is cached only after it verified, keyed by the exact value, and its
    /// validity window is checked again on every hit, so caching changes no
    /// answer of [`decode`](CookieFormat::decode), only its cost.
    ///
    /// ```
    /// use session_plus_core::cookie_format::{CookieFormat, SignedFormat};
    /// use session_plus_core::store::{Record, RecordMeta};
    /// use session_plus_core::{Key, KeyRing};
    ///
    /// let format = SignedFormat::new(&KeyRing::new(Key::generate()), "data").with_cache_bytes(1 << 20);
    /// let value = format.encode(&Record::new(Default::default(), RecordMeta::new(100, 200, "x")));
    /// assert!(format.decode(&value, 150).is_some()); // verified, then cached
    /// assert!(format.decode(&value, 150).is_some()); // from the cache
    /// assert!(format.decode(&value, 200).is_none()); // expired, cached or not
    /// ```
    #[must_use]
    pub fn with_cache_bytes(mut self, bytes: u64) -> Self {
        self.verified = VerifiedCache::new(bytes);
        self
    }
}

impl CookieFormat for SignedFormat {
    fn encode(&self, record: &Record) -> String {
        // The MAC covers the JSON bytes, not their base64 text: a quarter
        // fewer bytes through SHA-256, the dominant cost of a cookie request.
        let json = compact::encode(record);
        let mac = self.keys.sign(&json);
        let mut out = URL_SAFE_NO_PAD.encode(json);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(mac, &mut out);
        out
    }

    fn decode(&self, value: &str, now: i64) -> Option<Record> {
        if value.len() > MAX_COOKIE_BYTES {
            return None;
        }
        if let Some(hit) = self.verified.get(value, now) {
            return Some(hit);
        }
        let (payload, mac) = value.rsplit_once('.')?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
        if !self.keys.verify(&json, &mac) {
            return None;
        }
        let record = from_payload(&json, now)?;
        self.verified.insert(value, &record);
        Some(record)
    }
}

/// What a [`SignedFormat`] cookie value says, *without verifying it*: the
/// payload as JSON in the shape of version 1,
/// `{"m": [created, accessed - created, expires - accessed, permanent (0/1),
/// binding], "f": {fields}}`, whichever version the value is in. For tests
/// and debugging (a signed cookie is readable by its client anyway); never
/// trust what it returns. `None` if the value is not a readable payload.
///
/// ```
/// use session_plus_core::cookie_format::{signed_payload_json, CookieFormat, SignedFormat};
/// use session_plus_core::store::{Record, RecordMeta};
/// use session_plus_core::{Key, KeyRing};
///
/// let format = SignedFormat::new(&KeyRing::new(Key::generate()), "data");
/// let record = Record::new(
///     [("n".to_owned(), serde_json::json!(1))].into(),
///     RecordMeta::new(100, 200, "x"),
/// );
/// let json = signed_payload_json(&format.encode(&record)).unwrap();
/// assert_eq!(json, serde_json::json!({"m": [100, 0, 100, 0, "x"], "f": {"n": 1}}));
/// assert_eq!(signed_payload_json("not a cookie"), None);
/// ```
pub fn signed_payload_json(value: &str) -> Option<serde_json::Value> {
    let (payload, _mac) = value.rsplit_once('.')?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let record = match bytes.first()? {
        b'{' => return serde_json::from_slice(&bytes).ok(),
        &compact::VERSION => compact::decode(&bytes)?,
        _ => return None,
    };
    let m = &record.meta;
    Some(serde_json::json!({
        "m": [
            m.created,
            m.accessed.saturating_sub(m.created),
            m.expires.saturating_sub(m.accessed),
            u8::from(m.permanent),
            m.binding,
        ],
        "f": record.fields,
    }))
}

/// AES-256-GCM-SIV encrypted payload: `"2." base64url(nonce || ciphertext)`
/// (12-byte random nonce; GCM-SIV stays safe if a nonce ever repeats), the
/// cookie name as associated data. Neither readable nor forgeable by the
/// client. Values of the earlier XChaCha20-Poly1305 format,
/// `base64url(nonce || ciphertext)` without a prefix, are still read (the
/// version prefix cannot occur in them: base64url has no `.`). AES-GCM-SIV
/// uses AES-NI and CLMUL: about 9 times cheaper per cookie than XChaCha20 on
/// the benchmark machine (see `BENCHMARKS.md`).
///
/// ```
/// use session_plus_core::cookie_format::{CookieFormat, EncryptedFormat};
/// use session_plus_core::store::{Record, RecordMeta};
/// use session_plus_core::{Key, KeyRing};
///
/// let format = EncryptedFormat::new(&KeyRing::new(Key::generate()), "data");
/// let record = Record::new(
///     [("secret".to_owned(), serde_json::json!("hunter2"))].into(),
///     RecordMeta::new(100, 200, "x").with_permanent(true),
/// );
/// let value = format.encode(&record);
/// assert!(!value.contains("hunter2"));
/// assert_eq!(format.decode(&value, 150), Some(record));
/// ```
pub struct EncryptedFormat {
    siv: Vec<Aes256GcmSiv>,
    ciphers: Vec<XChaCha20Poly1305>,
    aad: Vec<u8>,
    verified: VerifiedCache,
}

impl fmt::Debug for EncryptedFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptedFormat({} keys, REDACTED)", self.ciphers.len())
    }
}

const NONCE_LEN: usize = 24;
const SIV_NONCE_LEN: usize = 12;
/// Prefix of an AES-256-GCM-SIV value (format version 2 of encrypted cookies).
const SIV_PREFIX: &str = "2.";

impl EncryptedFormat {
    /// A format encrypting with the ring's newest key, for the cookie `cookie_name`.
    pub fn new(ring: &KeyRing, cookie_name: &str) -> Self {
        Self {
            siv: ring
                .keys()
                .iter()
                .map(|k| Aes256GcmSiv::new(&k.derive("cookie-encrypt-siv", cookie_name).into()))
                .collect(),
            ciphers: ring
                .keys()
                .iter()
                .map(|k| XChaCha20Poly1305::new(&k.derive("cookie-encrypt", cookie_name).into()))
                .collect(),
            aad: cookie_name.as_bytes().to_vec(),
            verified: VerifiedCache::new(DEFAULT_CACHE_BYTES),
        }
    }

    /// Bound the cache of already-decrypted cookie values (as
    /// [`SignedFormat::with_cache_bytes`]; 0 turns it off).
    ///
    /// ```
    /// use session_plus_core::cookie_format::EncryptedFormat;
    /// use session_plus_core::{Key, KeyRing};
    ///
    /// let uncached = EncryptedFormat::new(&KeyRing::new(Key::generate()), "data").with_cache_bytes(0);
    /// # let _ = uncached;
    /// ```
    #[must_use]
    pub fn with_cache_bytes(mut self, bytes: u64) -> Self {
        self.verified = VerifiedCache::new(bytes);
        self
    }
}

impl CookieFormat for EncryptedFormat {
    fn encode(&self, record: &Record) -> String {
        // A user-space CSPRNG (rand's ThreadRng: ChaCha12 seeded and
        // reseeded from the OS), not a getrandom syscall per cookie (a third
        // of the cost). GCM-SIV is nonce-misuse resistant: even a repeated
        // nonce (e.g. a forked process) reveals only that two plaintexts
        // were equal, never the key stream or a forgery.
        let mut nonce = [0u8; SIV_NONCE_LEN];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
        let plaintext = compact::encode(record);
        let ct = self.siv[0]
            .encrypt(
                aes_gcm_siv::Nonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: &self.aad,
                },
            )
            .unwrap_or_else(|_| unreachable!("encryption of a cookie-sized buffer cannot fail"));
        let mut raw = Vec::with_capacity(SIV_NONCE_LEN + ct.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&ct);
        let mut out = String::from(SIV_PREFIX);
        URL_SAFE_NO_PAD.encode_string(raw, &mut out);
        out
    }

    fn decode(&self, value: &str, now: i64) -> Option<Record> {
        if value.len() > MAX_COOKIE_BYTES {
            return None;
        }
        if let Some(hit) = self.verified.get(value, now) {
            return Some(hit);
        }
        if let Some(v2) = value.strip_prefix(SIV_PREFIX) {
            let raw = URL_SAFE_NO_PAD.decode(v2).ok()?;
            if raw.len() <= SIV_NONCE_LEN {
                return None;
            }
            let (nonce, ct) = raw.split_at(SIV_NONCE_LEN);
            let plaintext = self.siv.iter().find_map(|c| {
                c.decrypt(
                    aes_gcm_siv::Nonce::from_slice(nonce),
                    Payload {
                        msg: ct,
                        aad: &self.aad,
                    },
                )
                .ok()
            })?;
            let record = from_payload(&plaintext, now)?;
            self.verified.insert(value, &record);
            return Some(record);
        }
        // The earlier XChaCha20-Poly1305 values (no prefix).
        let raw = URL_SAFE_NO_PAD.decode(value).ok()?;
        if raw.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let plaintext = self.ciphers.iter().find_map(|c| {
            c.decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: &self.aad,
                },
            )
            .ok()
        })?;
        let record = from_payload(&plaintext, now)?;
        self.verified.insert(value, &record);
        Some(record)
    }
}

/// Writes a server-side session id into its cookie and reads it back: the
/// `use_signer` codec of a store interface. [`IdSigner`] is the native one;
/// other formats (e.g. Flask's itsdangerous `Signer`) plug in through
/// `Interface::id_signer`.
///
/// `unsign` returns `None` for anything that does not verify or is not a valid
/// id (check it with [`crate::SessionId::parse`]); it must never panic.
///
/// ```
/// use session_plus_core::cookie_format::IdCookieSigner;
/// use session_plus_core::SessionId;
///
/// /// Ids as they are (what `use_signer(false)` does).
/// #[derive(Debug)]
/// struct Plain;
/// impl IdCookieSigner for Plain {
///     fn sign(&self, id: &SessionId) -> String { id.as_str().to_owned() }
///     fn unsign(&self, value: &str) -> Option<SessionId> { SessionId::parse(value) }
/// }
/// let id = SessionId::generate();
/// assert_eq!(Plain.unsign(&Plain.sign(&id)), Some(id));
/// ```
pub trait IdCookieSigner: fmt::Debug + Send + Sync + 'static {
    /// The cookie value carrying `id`.
    fn sign(&self, id: &crate::SessionId) -> String;
    /// The id in a cookie value, if it verifies.
    fn unsign(&self, value: &str) -> Option<crate::SessionId>;
}

impl IdCookieSigner for IdSigner {
    fn sign(&self, id: &crate::SessionId) -> String {
        IdSigner::sign(self, id)
    }
    fn unsign(&self, value: &str) -> Option<crate::SessionId> {
        IdSigner::unsign(self, value)
    }
}

/// Signs server-side session ids in their cookie (`use_signer`):
/// `id "." base64url(HMAC-SHA256)`.
///
/// ```
/// use session_plus_core::cookie_format::IdSigner;
/// use session_plus_core::{Key, KeyRing, SessionId};
///
/// let signer = IdSigner::new(&KeyRing::new(Key::generate()), "session");
/// let id = SessionId::generate();
/// let value = signer.sign(&id);
/// assert_eq!(signer.unsign(&value), Some(id));
/// assert_eq!(signer.unsign("forged-id-forged-id-forged.AAAA"), None);
/// ```
#[derive(Debug)]
pub struct IdSigner {
    keys: MacKeys,
}

impl IdSigner {
    /// A signer for ids in the cookie `cookie_name`.
    pub fn new(ring: &KeyRing, cookie_name: &str) -> Self {
        Self {
            keys: MacKeys::derive(ring, "id-sign", cookie_name),
        }
    }

    /// `id.signature`.
    pub fn sign(&self, id: &crate::SessionId) -> String {
        let mut out = id.as_str().to_owned();
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(self.keys.sign(id.as_str().as_bytes()), &mut out);
        out
    }

    /// The id, if the signature verifies under any key of the ring.
    pub fn unsign(&self, value: &str) -> Option<crate::SessionId> {
        let (id, mac) = value.rsplit_once('.')?;
        let id = crate::SessionId::parse(id)?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        self.keys.verify(id.as_str().as_bytes(), &mac).then_some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Key;
    use serde_json::json;

    fn record() -> Record {
        Record::new(
            [("user_id".to_owned(), json!(42))].into(),
            RecordMeta::new(1000, 2000, "bind"),
        )
    }

    fn formats(ring: &KeyRing, name: &str) -> Vec<Box<dyn CookieFormat>> {
        vec![
            Box::new(SignedFormat::new(ring, name)),
            Box::new(EncryptedFormat::new(ring, name)),
        ]
    }

    #[test]
    fn rotation_newest_signs_all_verify() {
        let old = Key::generate();
        let new = Key::generate();
        let old_ring = KeyRing::new(old.clone());
        let rotated = KeyRing::new(new.clone()).with_previous(old);
        for (before, after) in formats(&old_ring, "d")
            .into_iter()
            .zip(formats(&rotated, "d"))
        {
            let v = before.encode(&record());
            assert_eq!(
                after.decode(&v, 1500),
                Some(record()),
                "old cookie must verify"
            );
            let v2 = after.encode(&record());
            assert_eq!(
                before.decode(&v2, 1500),
                None,
                "new cookie is signed with the new key"
            );
        }
        // Dropping the old key revokes its cookies.
        let revoked = KeyRing::new(new);
        for (before, after) in formats(&old_ring, "d")
            .into_iter()
            .zip(formats(&revoked, "d"))
        {
            assert_eq!(after.decode(&before.encode(&record()), 1500), None);
        }
    }

    #[test]
    fn cookie_of_one_interface_does_not_verify_as_another() {
        let ring = KeyRing::new(Key::generate());
        for (a, b) in formats(&ring, "csrf")
            .into_iter()
            .zip(formats(&ring, "data"))
        {
            assert_eq!(b.decode(&a.encode(&record()), 1500), None);
        }
    }

    #[test]
    fn validity_window_from_signed_times() {
        let ring = KeyRing::new(Key::generate());
        for f in formats(&ring, "d") {
            let v = f.encode(&record());
            assert!(f.decode(&v, 1999).is_some());
            assert!(f.decode(&v, 2000).is_none(), "expired");
            assert!(f.decode(&v, 1000 - CLOCK_SKEW_SECS).is_some());
            assert!(
                f.decode(&v, 1000 - CLOCK_SKEW_SECS - 1).is_none(),
                "future-dated"
            );
        }
    }

    #[test]
    fn garbage_never_panics() {
        let ring = KeyRing::new(Key::generate());
        let valid = SignedFormat::new(&ring, "d").encode(&record());
        let mut inputs: Vec<String> = vec![
            String::new(),
            ".".into(),
            "..".into(),
            "a.b.c".into(),
            "%%%".into(),
            "é.é".into(),
            "A".repeat(5000),
            format!("{}.", "A".repeat(100)),
        ];
        for cut in 0..valid.len() {
            inputs.push(valid[..cut].to_owned());
        }
        for f in formats(&ring, "d") {
            for i in &inputs {
                assert!(f.decode(i, 1500).is_none());
            }
        }
    }

    #[test]
    fn compact_meta_round_trips_and_rejects_nonsense() {
        let r = record();
        assert_eq!(from_json(&to_json(&r), 1500), Some(r.clone()));
        let json = String::from_utf8(to_json(&r)).unwrap();
        assert!(
            json.starts_with(r#"{"m":[1000,0,1000,0,"bind"],"f":"#),
            "{json}"
        );
        for bad in [
            r#"{"m":[9223372036854775807,5,1,0,"b"],"f":{}}"#,
            r#"{"m":[1,9223372036854775807,9223372036854775807,0,"b"],"f":{}}"#,
            r#"{"m":[1000,0,1000,2,"b"],"f":{}}"#,
            r#"{"m":[-1,1001,1000,0,"b"],"f":{}}"#,
            r#"{"m":[-9223372036854775807,9223372036854775807,1000,0,"b"],"f":{}}"#,
            r#"{"m":[1000,0,1000],"f":{}}"#,
            r#"{"m":{"p":false},"f":{}}"#,
        ] {
            assert_eq!(from_json(bad.as_bytes(), 1500), None, "{bad}");
        }
    }

    #[test]
    fn version_1_cookies_still_decode() {
        let ring = KeyRing::new(Key::generate());
        let signed = SignedFormat::new(&ring, "d");
        let json = to_json(&record());
        let mut v1 = URL_SAFE_NO_PAD.encode(&json);
        v1.push('.');
        URL_SAFE_NO_PAD.encode_string(signed.keys.sign(&json), &mut v1);
        assert_eq!(signed.decode(&v1, 1500), Some(record()));
        assert_eq!(signed.decode(&v1, 2000), None, "expired");
        let v2 = signed.encode(&record());
        assert!(v2.len() < v1.len(), "{v2} vs {v1}");
        assert_eq!(signed.decode(&v2, 1500), Some(record()));

        let enc = EncryptedFormat::new(&ring, "d");
        // The XChaCha20 value format written before AES-GCM-SIV.
        let xchacha = |msg: &[u8]| {
            let nonce = [7u8; NONCE_LEN];
            let payload = Payload { msg, aad: b"d" };
            let ct = enc.ciphers[0]
                .encrypt(XNonce::from_slice(&nonce), payload)
                .unwrap();
            URL_SAFE_NO_PAD.encode([&nonce[..], &ct].concat())
        };
        let v1 = xchacha(&json);
        assert_eq!(enc.decode(&v1, 1500), Some(record()));
        // XChaCha20 with the version 2 payload.
        let xchacha = xchacha(&compact::encode(&record()));
        assert_eq!(enc.decode(&xchacha, 1500), Some(record()));
        let siv = enc.encode(&record());
        assert!(siv.starts_with("2."), "{siv}");
        assert_eq!(enc.decode(&siv, 1500), Some(record()));
    }

    #[test]
    fn a_creation_before_1970_is_refused() {
        // Rewriting such a meta could not be read back (the write-back keeps
        // `created` and `accessed - created` would overflow).
        let ring = KeyRing::new(Key::generate());
        for f in formats(&ring, "d") {
            for created in [i64::MIN, -1] {
                let meta = RecordMeta::new(1000, 2000, "b").with_created(created);
                let v = f.encode(&Record::new(Fields::new(), meta));
                assert_eq!(f.decode(&v, 1500), None, "{created}");
            }
            let meta = RecordMeta::new(1000, 2000, "b").with_created(i64::MAX);
            let r = Record::new(Fields::new(), meta);
            assert_eq!(f.decode(&f.encode(&r), 1500), Some(r));
        }
    }

    #[test]
    fn every_bit_flip_is_detected() {
        let ring = KeyRing::new(Key::generate());
        for f in formats(&ring, "d") {
            let v = f.encode(&record());
            let bytes = v.as_bytes();
            for i in 0..bytes.len() {
                let mut b = bytes.to_vec();
                b[i] ^= 0x01;
                if let Ok(s) = String::from_utf8(b) {
                    // Flipping the low bit of the last base64 char can leave the decoded bytes unchanged.
                    if s != v && f.decode(&s, 1500).is_some() {
                        assert_eq!(i, bytes.len() - 1, "flip at {i} accepted");
                    }
                }
            }
        }
    }
}

//! itsdangerous signing, as Flask and flask-session-plus use it: key
//! derivation `hmac`, a salt, SHA-1 or SHA3-256, signatures in base64url
//! without padding.

use std::fmt;
use std::sync::Arc;

use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use hmac::{Mac, SimpleHmac};
use session_plus_core::{Error, Result};
use subtle::ConstantTimeEq;

/// base64url as itsdangerous decodes it: padding optional, and non-zero
/// trailing bits in the last character ignored (Python's decoder ignores them,
/// so `...c` and `...d` can carry the same bytes; both sides must agree).
pub(crate) const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Flask's secret keys: `SECRET_KEY` and the older `SECRET_KEY_FALLBACKS`
/// (Flask >= 3.1.1). The newest signs; all verify, newest first. `Debug`
/// prints no secret.
///
/// Flask accepts secrets of any length, so this does too (unlike the native
/// formats' [`session_plus_core::Key`]); use the very bytes of your Flask
/// config (a Python `str` secret is its UTF-8 bytes).
///
/// ```
/// use session_plus_flask::FlaskSecrets;
///
/// // SECRET_KEY = "new", SECRET_KEY_FALLBACKS = ["oldest", "old"]
/// let secrets = FlaskSecrets::new("new")?.with_fallbacks(["oldest", "old"])?;
/// assert_eq!(secrets.len(), 3);
/// assert_eq!(format!("{secrets:?}"), "FlaskSecrets(3 keys, REDACTED)");
/// assert!(FlaskSecrets::new("").is_err());
/// # Ok::<(), session_plus_core::Error>(())
/// ```
#[derive(Clone)]
pub struct FlaskSecrets {
    /// Newest first.
    keys: Vec<Arc<[u8]>>,
}

impl fmt::Debug for FlaskSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FlaskSecrets({} keys, REDACTED)", self.keys.len())
    }
}

fn non_empty(setting: &str, key: &[u8]) -> Result<Arc<[u8]>> {
    if key.is_empty() {
        return Err(Error::config("", setting, "must not be empty"));
    }
    Ok(key.into())
}

impl FlaskSecrets {
    /// Flask's `SECRET_KEY`: the key that signs.
    ///
    /// # Errors
    /// If the key is empty (Flask refuses to sign with it too).
    pub fn new(secret_key: impl AsRef<[u8]>) -> Result<Self> {
        Ok(Self {
            keys: vec![non_empty("SECRET_KEY", secret_key.as_ref())?],
        })
    }

    /// Flask's `SECRET_KEY_FALLBACKS`, **in Flask's order** (oldest first):
    /// they verify, never sign. Replaces fallbacks given before.
    ///
    /// # Errors
    /// If a key is empty.
    pub fn with_fallbacks<K: AsRef<[u8]>>(
        mut self,
        fallbacks: impl IntoIterator<Item = K>,
    ) -> Result<Self> {
        self.keys.truncate(1);
        let mut older = fallbacks
            .into_iter()
            .map(|k| non_empty("SECRET_KEY_FALLBACKS", k.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        older.reverse();
        self.keys.extend(older);
        Ok(self)
    }

    /// Number of keys, `SECRET_KEY` included.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: there is at least `SECRET_KEY`.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The digest an itsdangerous signer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Digest {
    Sha1,
    Sha3_256,
}

fn hmac(digest: Digest, key: &[u8], data: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[&[u8]]) -> Vec<u8> {
        let mut m = <M as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        for d in data {
            m.update(d);
        }
        m.finalize().into_bytes().to_vec()
    }
    match digest {
        Digest::Sha1 => run::<SimpleHmac<sha1::Sha1>>(key, data),
        Digest::Sha3_256 => run::<SimpleHmac<sha3::Sha3_256>>(key, data),
    }
}

/// An itsdangerous `Signer` (key derivation `hmac`) over every key of a
/// [`FlaskSecrets`], with derived keys computed once.
#[derive(Clone)]
pub(crate) struct Signer {
    digest: Digest,
    /// `HMAC(secret, salt)` per key, newest first.
    derived: Vec<Vec<u8>>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Signer({:?}, {} keys, REDACTED)",
            self.digest,
            self.derived.len()
        )
    }
}

impl Signer {
    pub(crate) fn new(secrets: &FlaskSecrets, salt: &str, digest: Digest) -> Self {
        Self {
            digest,
            derived: secrets
                .keys
                .iter()
                .map(|k| hmac(digest, k, &[salt.as_bytes()]))
                .collect(),
        }
    }

    /// base64url signature of `value` with the newest key.
    pub(crate) fn signature(&self, value: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(hmac(self.digest, &self.derived[0], &[value]))
    }

    /// `value "." signature`.
    pub(crate) fn sign(&self, value: &str) -> String {
        let mut out = String::with_capacity(value.len() + 44);
        out.push_str(value);
        out.push('.');
        out.push_str(&self.signature(value.as_bytes()));
        out
    }

    /// The value of `signed` if its signature verifies under any key
    /// (newest first, constant-time comparison).
    pub(crate) fn unsign<'a>(&self, signed: &'a str) -> Option<&'a str> {
        let (value, sig) = signed.rsplit_once('.')?;
        let sig = LENIENT_B64.decode(sig).ok()?;
        self.derived
            .iter()
            .any(|k| {
                let expected = hmac(self.digest, k, &[value.as_bytes()]);
                bool::from(expected.ct_eq(&sig))
            })
            .then_some(value)
    }
}

/// itsdangerous timestamps: Unix seconds as big-endian bytes without leading
/// zeros, base64url without padding.
pub(crate) fn encode_timestamp(ts: i64) -> String {
    let ts = u64::try_from(ts).unwrap_or(0);
    let bytes = ts.to_be_bytes();
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    URL_SAFE_NO_PAD.encode(&bytes[first..])
}

pub(crate) fn decode_timestamp(text: &str) -> Option<i64> {
    let bytes = LENIENT_B64.decode(text).ok()?;
    if bytes.len() > 8 {
        return None;
    }
    let mut buf = [0u8; 8];
    buf[8 - bytes.len()..].copy_from_slice(&bytes);
    i64::try_from(u64::from_be_bytes(buf)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn spec_derived_keys() {
        let s = FlaskSecrets::new("secret-key-1").unwrap();
        assert_eq!(
            hex(&Signer::new(&s, "cookie-session", Digest::Sha1).derived[0]),
            "dcc0d03b536c602a18b0408eae5c8078c33430be"
        );
        assert_eq!(
            hex(&Signer::new(&s, "cookie-session", Digest::Sha3_256).derived[0]),
            "da8305217c24d8d51a128a397c1e6502a72f209b313b51d6d4d1096db283eb5c"
        );
    }

    #[test]
    fn spec_timestamp() {
        assert_eq!(encode_timestamp(1_700_000_000), "ZVPxAA");
        assert_eq!(decode_timestamp("ZVPxAA"), Some(1_700_000_000));
        assert_eq!(encode_timestamp(0), "");
        assert_eq!(decode_timestamp(""), Some(0));
        assert_eq!(decode_timestamp("AAAAAAAAAAAA"), None); // 9 bytes
        assert_eq!(decode_timestamp("gAAAAAAAAAA"), None); // beyond i64
    }

    #[test]
    fn fallbacks_verify_but_do_not_sign() {
        let old = FlaskSecrets::new("old").unwrap();
        let rotated = FlaskSecrets::new("new")
            .unwrap()
            .with_fallbacks(["old"])
            .unwrap();
        let by_old = Signer::new(&old, "s", Digest::Sha1).sign("v");
        let rotated = Signer::new(&rotated, "s", Digest::Sha1);
        assert_eq!(rotated.unsign(&by_old), Some("v"));
        assert_ne!(rotated.sign("v"), by_old);
        assert_eq!(
            Signer::new(&old, "s", Digest::Sha1).unsign(&rotated.sign("v")),
            None
        );
    }
}

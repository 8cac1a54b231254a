//! Secret keys and key rotation.

use std::fmt;
use std::sync::Arc;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Error, Result};

/// Shortest secret accepted, in bytes.
pub const MIN_KEY_LEN: usize = 32;

/// A secret key. Its `Debug` output is `Key(REDACTED)`.
///
/// ```
/// use session_plus_core::Key;
///
/// let key = Key::from_bytes(b"an example secret that is at least 32 bytes").unwrap();
/// assert_eq!(format!("{key:?}"), "Key(REDACTED)");
/// assert!(Key::from_bytes(b"too short").is_err());
/// ```
#[derive(Clone)]
pub struct Key(Arc<[u8]>);

impl Key {
    /// A key from secret bytes (at least [`MIN_KEY_LEN`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(Error::config(
                "",
                "secret_key",
                format!("a key needs at least {MIN_KEY_LEN} bytes"),
            ));
        }
        Ok(Self(bytes.into()))
    }

    /// A fresh random key (64 bytes from the OS CSPRNG), e.g. for tests and demos.
    /// Sessions signed with it do not survive a restart.
    ///
    /// ```
    /// let key = session_plus_core::Key::generate();
    /// assert_eq!(format!("{key:?}"), "Key(REDACTED)");
    /// ```
    ///
    /// The secret never leaves the key: formats that need a raw secret
    /// (Flask's itsdangerous) take their own (`session_plus_flask::FlaskSecrets`).
    ///
    /// ```compile_fail
    /// let key = session_plus_core::Key::generate();
    /// let _ = key.raw();
    /// ```
    pub fn generate() -> Self {
        let mut bytes = [0u8; 64];
        #[allow(clippy::expect_used)]
        getrandom::getrandom(&mut bytes).expect("the OS random number generator failed");
        Self(bytes.as_slice().into())
    }

    /// A 32-byte subkey for one purpose (`sign`, `encrypt`, `id`) and one cookie
    /// name, so a cookie of one interface never verifies as another's.
    pub(crate) fn derive(&self, purpose: &str, cookie_name: &str) -> [u8; 32] {
        let hk = Hkdf::<Sha256>::new(Some(b"session-plus v1"), &self.0);
        let mut out = [0u8; 32];
        let info = [purpose.as_bytes(), &[0], cookie_name.as_bytes()].concat();
        hk.expand(&info, &mut out)
            .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 length"));
        out
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(REDACTED)")
    }
}

/// Keys for signing and encryption, newest first: the newest signs, all verify.
///
/// Rotate by putting the new key first and keeping the old ones until every
/// cookie they signed has expired; drop a key to revoke every cookie it signed.
///
/// ```
/// use session_plus_core::{Key, KeyRing};
///
/// let old = Key::generate();
/// let new = Key::generate();
/// let ring = KeyRing::new(new).with_previous(old);
/// assert_eq!(ring.len(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct KeyRing {
    keys: Vec<Key>,
}

impl KeyRing {
    /// A ring holding one key, the current one.
    pub fn new(current: Key) -> Self {
        Self {
            keys: vec![current],
        }
    }

    /// Add an older key that still verifies but no longer signs.
    #[must_use]
    pub fn with_previous(mut self, older: Key) -> Self {
        self.keys.push(older);
        self
    }

    /// The key that signs.
    pub fn current(&self) -> &Key {
        &self.keys[0]
    }

    /// Every key, newest first.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a ring has at least its current key.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl From<Key> for KeyRing {
    fn from(key: Key) -> Self {
        Self::new(key)
    }
}

/// HMAC-SHA256 keys derived for one purpose and cookie name, newest first.
#[derive(Clone)]
pub(crate) struct MacKeys(Vec<Hmac<Sha256>>);

impl MacKeys {
    pub(crate) fn derive(ring: &KeyRing, purpose: &str, cookie_name: &str) -> Self {
        Self(
            ring.keys()
                .iter()
                .map(|k| {
                    <Hmac<Sha256> as Mac>::new_from_slice(&k.derive(purpose, cookie_name))
                        .unwrap_or_else(|_| unreachable!("HMAC accepts 32-byte keys"))
                })
                .collect(),
        )
    }

    /// MAC of `data` with the newest key.
    pub(crate) fn sign(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = self.0[0].clone();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is a valid MAC of `data` under any key (constant-time compare).
    pub(crate) fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        self.0.iter().any(|k| {
            let mut mac = k.clone();
            mac.update(data);
            mac.verify_slice(tag).is_ok()
        })
    }
}

impl fmt::Debug for MacKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacKeys({} keys, REDACTED)", self.0.len())
    }
}

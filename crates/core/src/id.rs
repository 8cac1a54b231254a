//! Session ids: random, format-checked, never printed.

use std::fmt;
use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of OS randomness in a generated id (256 bits; ASVS asks for >= 128).
const ID_BYTES: usize = 32;
/// Shortest id accepted from a client: 22 base64url chars = 132 bits.
const MIN_LEN: usize = 22;
/// Longest id accepted from a client.
const MAX_LEN: usize = 128;

/// A server-side session id.
///
/// Generated ids carry 256 bits from the operating system's CSPRNG, written as
/// 43 URL-safe base64 characters. Ids read from a client are checked against
/// `[A-Za-z0-9_-]{22,128}` before any backend sees them, so a malformed id can
/// never reach a store key. `Debug` and `Display` print only a short keyed hash
/// (see [`SessionId::log_tag`]), never the id itself.
///
/// ```
/// use session_plus_core::SessionId;
///
/// let id = SessionId::generate();
/// assert_eq!(id.as_str().len(), 43);
/// assert!(SessionId::parse(id.as_str()).is_some());
/// assert!(SessionId::parse("../../etc/passwd").is_none());
/// assert!(!format!("{id:?}").contains(id.as_str()));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    /// A fresh id from the OS CSPRNG.
    ///
    /// # Panics
    /// Only if the operating system cannot provide randomness at all, in which
    /// case no secure session can be issued.
    pub fn generate() -> Self {
        let mut bytes = [0u8; ID_BYTES];
        #[allow(clippy::expect_used)]
        getrandom::getrandom(&mut bytes).expect("the OS random number generator failed");
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Accept an id from a client if, and only if, it has the id format.
    ///
    /// ```
    /// use session_plus_core::SessionId;
    /// assert!(SessionId::parse("short").is_none());
    /// assert!(SessionId::parse("00000000-0000-4000-8000-000000000000").is_some());
    /// assert!(SessionId::parse("has space in it, not allowed!!").is_none());
    /// ```
    pub fn parse(s: &str) -> Option<Self> {
        let ok = (MIN_LEN..=MAX_LEN).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(s.to_owned()))
    }

    /// The id as text, for building store keys and cookie values.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A short keyed hash of the id for logs: stable within one process, useless
    /// to an attacker (the key is random per process).
    ///
    /// ```
    /// let id = session_plus_core::SessionId::generate();
    /// assert_eq!(id.log_tag().len(), 12);
    /// assert_eq!(id.log_tag(), id.clone().log_tag());
    /// ```
    pub fn log_tag(&self) -> String {
        static KEY: OnceLock<[u8; 32]> = OnceLock::new();
        let key = KEY.get_or_init(|| {
            let mut k = [0u8; 32];
            // Without randomness the tag is still a hash; ids are never logged raw.
            let _ = getrandom::getrandom(&mut k);
            k
        });
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(self.0.as_bytes());
        let out = mac.finalize().into_bytes();
        out[..6].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId(#{})", self.log_tag())
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.log_tag())
    }
}

/// Where one interface's record for one session lives: the interface's
/// `key_prefix` plus the session id (the seed's `store_id`).
///
/// Backends build their storage key from it, normally with
/// [`RecordKey::store_key`]. Like [`SessionId`], it never prints the id.
///
/// ```
/// use session_plus_core::{RecordKey, SessionId};
///
/// let id = SessionId::parse("00000000-0000-4000-8000-000000000000").unwrap();
/// let key = RecordKey::new("session", id);
/// assert_eq!(key.store_key(), "session00000000-0000-4000-8000-000000000000");
/// assert!(!format!("{key:?}").contains("0000-4000"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RecordKey {
    prefix: std::sync::Arc<str>,
    id: SessionId,
}

impl RecordKey {
    /// A key from a prefix and an id.
    pub fn new(prefix: impl Into<std::sync::Arc<str>>, id: SessionId) -> Self {
        Self {
            prefix: prefix.into(),
            id,
        }
    }

    /// The interface's key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The session id.
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// `prefix + id`, with no separator (as flask-session-plus lays keys out).
    pub fn store_key(&self) -> String {
        let mut s = String::with_capacity(self.prefix.len() + self.id.0.len());
        s.push_str(&self.prefix);
        s.push_str(&self.id.0);
        s
    }
}

impl fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordKey({}#{})", self.prefix, self.id.log_tag())
    }
}

/// Random URL-safe token of `bytes` bytes (used for session binding values).
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    #[allow(clippy::expect_used)]
    getrandom::getrandom(&mut buf).expect("the OS random number generator failed");
    URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generated_ids_have_at_least_128_bits_and_are_unique() {
        let ids: HashSet<String> = (0..10_000).map(|_| SessionId::generate().0).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(10) {
            // 43 base64 chars * 6 bits = 258 >= 256 bits of randomness.
            assert_eq!(id.len(), 43);
            assert!(SessionId::parse(id).is_some());
        }
    }

    #[test]
    fn ids_carry_no_meaning() {
        // Two ids generated back to back share no common prefix beyond chance.
        let a = SessionId::generate();
        let b = SessionId::generate();
        let common = a
            .as_str()
            .bytes()
            .zip(b.as_str().bytes())
            .take_while(|(x, y)| x == y)
            .count();
        assert!(common < 8, "ids look sequential");
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in [
            "",
            "a",
            "session:*",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            "aaaaaaaaaaaaaaaaaaaaaaaa/../",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "ééééééééééééééééééééééééé",
        ] {
            assert!(SessionId::parse(bad).is_none(), "accepted {bad:?}");
        }
    }

    #[test]
    fn debug_and_display_never_show_the_id() {
        let id = SessionId::generate();
        assert!(!format!("{id:?}").contains(id.as_str()));
        assert!(!format!("{id}").contains(id.as_str()));
    }
}

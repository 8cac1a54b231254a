//! flask-session-plus's signed session-id cookie (`use_signer=True`).

use session_plus_core::cookie_format::IdCookieSigner;
use session_plus_core::SessionId;

use crate::signing::{Digest, FlaskSecrets, Signer};

/// The id cookie of a flask-session-plus server-side interface with
/// `use_signer=True`: itsdangerous `Signer`, salt `flask-session`, key
/// derivation `hmac`, SHA-1, no timestamp: `<sid>.<signature>`.
///
/// Plug it into a store interface with
/// [`Interface::id_signer`](session_plus_core::Interface::id_signer). With
/// `use_signer=False` in Python, leave the Rust interface unsigned instead
/// (its cookie is then the bare id, as in Python).
///
/// Python's sids are uuid4 text; ids created by Rust are the core's 256-bit
/// ones (43 URL-safe characters), which Python reads like any other sid.
///
/// ```
/// use std::sync::Arc;
/// use session_plus_core::cookie_format::IdCookieSigner;
/// use session_plus_core::{Interface, MemoryStore, SessionId};
/// use session_plus_flask::{FlaskIdSigner, FlaskSecrets};
///
/// let signer = FlaskIdSigner::new(&FlaskSecrets::new("secret-key-1")?);
/// let sid = SessionId::parse("00000000-0000-4000-8000-000000000000").unwrap();
/// let cookie = "00000000-0000-4000-8000-000000000000.B4H_ArFgsY0dvNMqf9IRE5EIB2U";
/// assert_eq!(signer.sign(&sid), cookie);
/// assert_eq!(signer.unsign(cookie), Some(sid));
/// assert_eq!(signer.unsign("00000000-0000-4000-8000-000000000000.AAAA"), None);
///
/// let interface = Interface::store("session", Arc::new(MemoryStore::new()))
///     .id_signer(Arc::new(signer));
/// # let _ = interface;
/// # Ok::<(), session_plus_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FlaskIdSigner {
    signer: Signer,
}

impl FlaskIdSigner {
    /// A signer with Flask's `SECRET_KEY` (and fallbacks, which verify only).
    pub fn new(secrets: &FlaskSecrets) -> Self {
        Self {
            signer: Signer::new(secrets, "flask-session", Digest::Sha1),
        }
    }
}

impl IdCookieSigner for FlaskIdSigner {
    fn sign(&self, id: &SessionId) -> String {
        self.signer.sign(id.as_str())
    }

    fn unsign(&self, value: &str) -> Option<SessionId> {
        SessionId::parse(self.signer.unsign(value)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_signed_sid_vector_and_rotation() {
        let sid = SessionId::parse("00000000-0000-4000-8000-000000000000").unwrap();
        let v = "00000000-0000-4000-8000-000000000000.B4H_ArFgsY0dvNMqf9IRE5EIB2U";
        let s = FlaskIdSigner::new(&FlaskSecrets::new("secret-key-1").unwrap());
        assert_eq!(s.sign(&sid), v);
        assert_eq!(s.unsign(v), Some(sid.clone()));
        let rotated = FlaskIdSigner::new(
            &FlaskSecrets::new("secret-key-2")
                .unwrap()
                .with_fallbacks(["secret-key-1"])
                .unwrap(),
        );
        assert_eq!(rotated.unsign(v), Some(sid.clone()));
        assert_ne!(rotated.sign(&sid), v);
        for bad in [
            "",
            ".",
            v.trim_end_matches('U'),
            "../etc/passwd.B4H_ArFgsY0dvNMqf9IRE5EIB2U",
            "00000000-0000-4000-8000-000000000000",
        ] {
            assert_eq!(s.unsign(bad), None, "{bad}");
        }
    }
}

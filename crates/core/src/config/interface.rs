//! One interface's configuration (one entry of the seed's `SESSION_CONFIG`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::config::FieldRules;
use crate::cookie_format::{CookieFormat, IdCookieSigner};
use crate::keys::KeyRing;
use crate::store::SessionStore;

/// The `SameSite` cookie attribute.
///
/// ```
/// use session_plus_core::SameSite;
/// assert_eq!(SameSite::default(), SameSite::Lax);
/// let s: SameSite = serde_json::from_str(r#""Strict""#).unwrap();
/// assert_eq!(s, SameSite::Strict);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum SameSite {
    /// Sent on top-level navigations and same-site requests (the default).
    #[default]
    #[serde(alias = "lax")]
    Lax,
    /// Sent on same-site requests only.
    #[serde(alias = "strict")]
    Strict,
    /// Sent everywhere; requires `Secure`.
    #[serde(alias = "none")]
    None,
}

impl SameSite {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Lax => "Lax",
            Self::Strict => "Strict",
            Self::None => "None",
        }
    }
}

/// Where an interface keeps its data.
#[derive(Clone)]
pub(crate) enum BackendChoice {
    /// In the cookie itself, signed (and encrypted when `encrypt`).
    SecureCookie { encrypt: bool },
    /// In the cookie, in a format the user supplies (e.g. Flask's).
    CookieFormat(Arc<dyn CookieFormat>),
    /// Server-side; the cookie holds the id.
    Store(Arc<dyn SessionStore>),
}

impl fmt::Debug for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SecureCookie { encrypt } => write!(f, "SecureCookie {{ encrypt: {encrypt} }}"),
            Self::CookieFormat(c) => write!(f, "CookieFormat({c:?})"),
            Self::Store(s) => write!(f, "Store({s:?})"),
        }
    }
}

/// Configuration of one interface: a cookie name (its key), a backend, field
/// rules, cookie attributes and lifetimes. Defaults are the seed's.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use session_plus_core::{FieldRules, Interface, MemoryStore, SameSite};
///
/// let csrf = Interface::secure_cookie("csrf").fields(FieldRules::include(["csrf_token"]));
/// let session = Interface::store("session", Arc::new(MemoryStore::new()))
///     .fields(FieldRules::include(["user_id", "user_data"]))
///     .session_lifetime(Duration::from_secs(3600))
///     .cookie_secure(true)
///     .cookie_samesite(SameSite::Strict);
/// let data = Interface::encrypted_cookie("data").fields(FieldRules::Auto);
/// # let _ = (csrf, session, data);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Interface {
    pub(crate) cookie_name: String,
    pub(crate) backend: BackendChoice,
    pub(crate) fields: FieldRules,
    pub(crate) cookie_domain: Option<String>,
    pub(crate) cookie_path: String,
    pub(crate) cookie_httponly: bool,
    pub(crate) cookie_secure: bool,
    pub(crate) cookie_max_age: Option<Duration>,
    pub(crate) cookie_samesite: SameSite,
    pub(crate) session_lifetime: Duration,
    pub(crate) session_permanent_lifetime: Duration,
    pub(crate) permanent: bool,
    pub(crate) key_prefix: String,
    pub(crate) use_signer: bool,
    pub(crate) id_signer: Option<Arc<dyn IdCookieSigner>>,
    pub(crate) timeout: Duration,
    pub(crate) refresh_interval: Duration,
    pub(crate) absolute_lifetime: Option<Duration>,
    pub(crate) keys: Option<KeyRing>,
}

const DAY: u64 = 24 * 60 * 60;

impl Interface {
    fn new(cookie_name: &str, backend: BackendChoice) -> Self {
        Self {
            cookie_name: cookie_name.to_owned(),
            backend,
            fields: FieldRules::All,
            cookie_domain: None,
            cookie_path: "/".to_owned(),
            cookie_httponly: true,
            cookie_secure: false,
            cookie_max_age: None,
            cookie_samesite: SameSite::Lax,
            session_lifetime: Duration::from_secs(DAY),
            session_permanent_lifetime: Duration::from_secs(31 * DAY),
            permanent: false,
            key_prefix: "session".to_owned(),
            use_signer: false,
            id_signer: None,
            timeout: Duration::from_secs(2),
            refresh_interval: Duration::from_secs(60),
            absolute_lifetime: None,
            keys: None,
        }
    }

    /// An interface kept in a signed cookie (HMAC-SHA256): `session_type = "secure_cookie"`.
    pub fn secure_cookie(cookie_name: &str) -> Self {
        Self::new(cookie_name, BackendChoice::SecureCookie { encrypt: false })
    }

    /// An interface kept in an encrypted cookie (XChaCha20-Poly1305).
    pub fn encrypted_cookie(cookie_name: &str) -> Self {
        Self::new(cookie_name, BackendChoice::SecureCookie { encrypt: true })
    }

    /// An interface kept in a cookie with a custom [`CookieFormat`] (e.g. Flask's).
    pub fn cookie_with_format(cookie_name: &str, format: Arc<dyn CookieFormat>) -> Self {
        Self::new(cookie_name, BackendChoice::CookieFormat(format))
    }

    /// An interface kept in a server-side store; the cookie carries the id.
    pub fn store(cookie_name: &str, store: Arc<dyn SessionStore>) -> Self {
        Self::new(cookie_name, BackendChoice::Store(store))
    }

    /// The cookie name (also the interface's key).
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// Which fields this interface owns (default: all).
    pub fn fields(mut self, rules: FieldRules) -> Self {
        self.fields = rules;
        self
    }
    /// The cookie's `Domain` (default: none, host-only).
    pub fn cookie_domain(mut self, domain: impl Into<String>) -> Self {
        self.cookie_domain = Some(domain.into());
        self
    }
    /// The cookie's `Path` (default `/`).
    pub fn cookie_path(mut self, path: impl Into<String>) -> Self {
        self.cookie_path = path.into();
        self
    }
    /// `HttpOnly` (default true).
    pub fn cookie_httponly(mut self, on: bool) -> Self {
        self.cookie_httponly = on;
        self
    }
    /// `Secure` (default false, as in the seed; turn it on behind HTTPS).
    pub fn cookie_secure(mut self, on: bool) -> Self {
        self.cookie_secure = on;
        self
    }
    /// `Max-Age` of non-permanent cookies (default none: a browser-session cookie).
    pub fn cookie_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.cookie_max_age = max_age;
        self
    }
    /// `SameSite` (default `Lax`).
    pub fn cookie_samesite(mut self, same_site: SameSite) -> Self {
        self.cookie_samesite = same_site;
        self
    }
    /// Idle lifetime of a non-permanent session (default 1 day).
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_lifetime = lifetime;
        self
    }
    /// Idle lifetime of a permanent session (default 31 days).
    pub fn session_permanent_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_permanent_lifetime = lifetime;
        self
    }
    /// Whether new sessions of this interface start permanent (default false).
    pub fn permanent(mut self, on: bool) -> Self {
        self.permanent = on;
        self
    }
    /// Prefix of the store key (default `session`).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }
    /// Sign the id in the cookie (default false).
    pub fn use_signer(mut self, on: bool) -> Self {
        self.use_signer = on;
        self
    }
    /// Sign the id in the cookie with a custom codec instead of the native
    /// HMAC-SHA256 one (e.g. Flask's `Signer`, for sharing sessions with a
    /// Flask app). Takes precedence over [`Interface::use_signer`].
    pub fn id_signer(mut self, signer: Arc<dyn IdCookieSigner>) -> Self {
        self.id_signer = Some(signer);
        self
    }
    /// Timeout of every backend call (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// How often a read-only request may slide the idle expiry forward
    /// (default 60 s): at most one refresh write per interval.
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }
    /// Maximum age of a session from its creation, whatever the activity
    /// (default: none).
    pub fn absolute_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.absolute_lifetime = lifetime;
        self
    }
    /// Keys for this interface only (default: the manager's keys).
    pub fn keys(mut self, keys: KeyRing) -> Self {
        self.keys = Some(keys);
        self
    }
}

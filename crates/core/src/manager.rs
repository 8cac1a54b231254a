//! The validated, ready-to-serve configuration: interfaces, keys and routing.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use crate::config::{check_field_name, BackendChoice, FieldRules, Interface, SameSite};
use crate::cookie_format::{CookieFormat, EncryptedFormat, IdCookieSigner, IdSigner, SignedFormat};
use crate::keys::KeyRing;
use crate::routing::Router;
use crate::store::SessionStore;
use crate::{Error, Result};

/// How an interface keeps its data, ready to use.
pub(crate) enum Kind {
    Cookie(Arc<dyn CookieFormat>),
    Store {
        store: Arc<dyn SessionStore>,
        signer: Option<Arc<dyn IdCookieSigner>>,
        prefix: Arc<str>,
    },
}

/// One interface after validation.
pub(crate) struct Resolved {
    pub(crate) config: Interface,
    pub(crate) kind: Kind,
    /// The cookie name as a metric label, shared (cloning it allocates
    /// nothing).
    pub(crate) label: metrics::SharedString,
    /// Field names the interface's cookie format or store keeps for itself.
    pub(crate) reserved: Box<[String]>,
}

impl Resolved {
    pub(crate) fn name(&self) -> &str {
        &self.config.cookie_name
    }

    /// Idle lifetime in seconds for the given permanence.
    pub(crate) fn ttl_secs(&self, permanent: bool) -> i64 {
        let d = if permanent {
            self.config.session_permanent_lifetime
        } else {
            self.config.session_lifetime
        };
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)
    }

    /// `Max-Age` of the cookie for the given permanence (None: browser session).
    pub(crate) fn cookie_max_age(&self, permanent: bool) -> Option<i64> {
        if permanent {
            Some(self.ttl_secs(true))
        } else {
            self.config
                .cookie_max_age
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4))
        }
    }
}

/// The whole session configuration, validated: build it once at start-up and
/// share it (it is cheap to clone behind an [`Arc`]).
///
/// ```
/// use std::sync::Arc;
/// use session_plus_core::{FieldRules, Interface, Key, KeyRing, MemoryStore, SessionManager};
///
/// let manager = SessionManager::builder()
///     .keys(KeyRing::new(Key::generate()))
///     .interface(Interface::secure_cookie("csrf").fields(FieldRules::include(["csrf_token"])))
///     .interface(
///         Interface::store("session", Arc::new(MemoryStore::new()))
///             .fields(FieldRules::include(["user_id", "user_data"])),
///     )
///     .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
///     .build()
///     .unwrap();
/// assert_eq!(manager.cookie_names().collect::<Vec<_>>(), ["csrf", "session", "data"]);
/// ```
pub struct SessionManager {
    pub(crate) interfaces: Vec<Resolved>,
    pub(crate) router: Router,
}

impl fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("interfaces", &self.cookie_names().collect::<Vec<_>>())
            .finish()
    }
}

impl SessionManager {
    /// Start building a configuration.
    pub fn builder() -> SessionManagerBuilder {
        SessionManagerBuilder::default()
    }

    /// Cookie names of the interfaces, in configuration order.
    pub fn cookie_names(&self) -> impl Iterator<Item = &str> {
        self.interfaces.iter().map(Resolved::name)
    }

    /// Cookie names of the interfaces that own `field`, in configuration order
    /// (empty if none does).
    ///
    /// ```
    /// # use session_plus_core::{FieldRules, Interface, Key, KeyRing, SessionManager};
    /// let m = SessionManager::builder()
    ///     .keys(KeyRing::new(Key::generate()))
    ///     .interface(Interface::secure_cookie("csrf").fields(FieldRules::include(["csrf_token"])))
    ///     .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(m.owners_of("csrf_token"), ["csrf"]);
    /// assert_eq!(m.owners_of("theme"), ["data"]);
    /// ```
    pub fn owners_of(&self, field: &str) -> Vec<&str> {
        self.router
            .owners(field)
            .iter()
            .map(|&i| self.interfaces[i].name())
            .collect()
    }

    /// The backend store of a server-side interface, by cookie name (for
    /// maintenance such as [`SessionStore::delete_expired`]).
    pub fn store(&self, cookie_name: &str) -> Option<&Arc<dyn SessionStore>> {
        self.interfaces.iter().find_map(|r| match &r.kind {
            Kind::Store { store, .. } if r.name() == cookie_name => Some(store),
            _ => None,
        })
    }

    /// End every session whose field `field` equals `value` — e.g. all of one
    /// user's sessions after a password change, when `user_id` lives in a
    /// server-side interface. Deletes the matching records in every server-side
    /// interface that owns `field`; returns how many records went. Cookie
    /// interfaces cannot be reached server-side: their data stays in the
    /// browser but is no longer joined to a login (rotate the key ring to void
    /// every cookie at once).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use session_plus_core::{FieldRules, Interface, MemoryStore, SessionDriver, SessionManager};
    ///
    /// let m = Arc::new(SessionManager::builder()
    ///     .interface(Interface::store("session", Arc::new(MemoryStore::new())).fields(FieldRules::All))
    ///     .build().unwrap());
    /// for _ in 0..3 {
    ///     let driver = SessionDriver::new(m.clone(), std::iter::empty::<&[u8]>());
    ///     driver.session().insert("user_id", 7).await.unwrap();
    ///     assert!(driver.finish().await.error.is_none());
    /// }
    /// assert_eq!(m.terminate_sessions("user_id", 7).await.unwrap(), 3);
    /// # });
    /// ```
    pub async fn terminate_sessions<T: serde::Serialize>(
        &self,
        field: &str,
        value: T,
    ) -> Result<u64> {
        crate::config::check_field_name(field)?;
        let value = serde_json::to_value(value).map_err(|e| Error::serialization(field, e))?;
        let mut total = 0;
        for &i in self.router.owners(field) {
            let r = &self.interfaces[i];
            if let Kind::Store { store, prefix, .. } = &r.kind {
                let limit = r.config.timeout.saturating_mul(10);
                total +=
                    match tokio::time::timeout(limit, store.delete_by_field(prefix, field, &value))
                        .await
                    {
                        Ok(res) => res.map_err(|e| e.in_interface(r.name()))?,
                        Err(_) => return Err(Error::timeout(r.name(), limit)),
                    };
            }
        }
        Ok(total)
    }

    pub(crate) fn index_of(&self, cookie_name: &str) -> Option<usize> {
        self.interfaces.iter().position(|r| r.name() == cookie_name)
    }

    /// Refuse `field` if the cookie format or store of one of its `owners`
    /// reserves it (see [`CookieFormat::reserved_fields`]).
    pub(crate) fn check_reserved(&self, field: &str, owners: &[usize]) -> Result<()> {
        match owners.iter().find(|&&i| self.interfaces[i].reserves(field)) {
            Some(&i) => Err(Error::invalid_field(
                field,
                &format!(
                    "is reserved by the backend of interface `{}`",
                    self.interfaces[i].name()
                ),
            )),
            None => Ok(()),
        }
    }
}

impl Resolved {
    /// Whether this interface's cookie format or store keeps `field` for itself.
    pub(crate) fn reserves(&self, field: &str) -> bool {
        self.reserved.iter().any(|r| r == field)
    }
}

/// Builder of a [`SessionManager`]; `build` validates everything.
#[derive(Debug, Default)]
#[must_use]
pub struct SessionManagerBuilder {
    keys: Option<KeyRing>,
    interfaces: Vec<Interface>,
}

impl SessionManagerBuilder {
    /// Keys for every interface that signs or encrypts (unless it has its own).
    pub fn keys(mut self, keys: impl Into<KeyRing>) -> Self {
        self.keys = Some(keys.into());
        self
    }

    /// Add an interface; order matters (on read, the last owner holding a field wins).
    pub fn interface(mut self, interface: Interface) -> Self {
        self.interfaces.push(interface);
        self
    }

    /// Validate and resolve. Errors name the interface and the setting.
    pub fn build(self) -> Result<SessionManager> {
        if self.interfaces.is_empty() {
            return Err(Error::config("", "interfaces", "no interface configured"));
        }
        let mut seen = HashSet::new();
        let mut resolved = Vec::with_capacity(self.interfaces.len());
        for iface in self.interfaces {
            validate(&iface)?;
            let reserved: Box<[String]> = match &iface.backend {
                BackendChoice::CookieFormat(f) => {
                    f.reserved_fields().iter().map(|&r| r.to_owned()).collect()
                }
                BackendChoice::Store(store) => store
                    .reserved_fields()
                    .iter()
                    .map(|&r| r.to_owned())
                    .collect(),
                BackendChoice::SecureCookie { .. } => Box::default(),
            };
            if let FieldRules::Include(fields) = &iface.fields {
                if let Some(f) = fields.iter().find(|f| reserved.contains(f)) {
                    return Err(Error::config(
                        &iface.cookie_name,
                        "session_fields",
                        format!("field `{f}` is reserved by this interface's backend"),
                    ));
                }
            }
            if !seen.insert(iface.cookie_name.clone()) {
                return Err(Error::config(
                    &iface.cookie_name,
                    "cookie_name",
                    "used by two interfaces; cookie names must be unique",
                ));
            }
            let keys = || {
                iface
                    .keys
                    .clone()
                    .or_else(|| self.keys.clone())
                    .ok_or_else(|| {
                        Error::config(
                            &iface.cookie_name,
                            "secret_key",
                            "this interface signs or encrypts but no key is configured",
                        )
                    })
            };
            let kind = match &iface.backend {
                BackendChoice::SecureCookie { encrypt: false } => {
                    Kind::Cookie(Arc::new(SignedFormat::new(&keys()?, &iface.cookie_name)))
                }
                BackendChoice::SecureCookie { encrypt: true } => {
                    Kind::Cookie(Arc::new(EncryptedFormat::new(&keys()?, &iface.cookie_name)))
                }
                BackendChoice::CookieFormat(f) => Kind::Cookie(f.clone()),
                BackendChoice::Store(store) => Kind::Store {
                    store: store.clone(),
                    signer: match &iface.id_signer {
                        Some(custom) => Some(custom.clone()),
                        None if iface.use_signer => {
                            Some(Arc::new(IdSigner::new(&keys()?, &iface.cookie_name)))
                        }
                        None => None,
                    },
                    prefix: iface.key_prefix.as_str().into(),
                },
            };
            resolved.push(Resolved {
                label: metrics::SharedString::from_shared(Arc::from(iface.cookie_name.as_str())),
                config: iface,
                kind,
                reserved,
            });
        }
        let rules: Vec<&FieldRules> = resolved.iter().map(|r| &r.config.fields).collect();
        let (router, overlaps) = Router::new(&rules);
        for (field, owners) in overlaps {
            let names: Vec<&str> = owners.iter().map(|&i| resolved[i].name()).collect();
            tracing::warn!(
                field = %field,
                interfaces = ?names,
                "session field owned by several interfaces: written to each, read from the last"
            );
        }
        Ok(SessionManager {
            interfaces: resolved,
            router,
        })
    }
}

/// RFC 6265 cookie-name token characters.
fn is_token_char(c: char) -> bool {
    c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c)
}

fn validate(i: &Interface) -> Result<()> {
    let name = i.cookie_name.as_str();
    let err = |setting: &str, problem: &str| Err(Error::config(name, setting, problem));
    if name.is_empty() {
        return Err(Error::config("(unnamed)", "cookie_name", "is required"));
    }
    if !name.chars().all(is_token_char) {
        return err(
            "cookie_name",
            "must be an RFC 6265 token (no spaces, separators or control characters)",
        );
    }
    match &i.fields {
        FieldRules::Include(v) | FieldRules::Exclude(v) => {
            for f in v {
                check_field_name(f)
                    .map_err(|e| Error::config(name, "session_fields", e.to_string()))?;
            }
        }
        FieldRules::All | FieldRules::Auto => {}
    }
    if !i.cookie_path.starts_with('/') || i.cookie_path.contains([';', '\r', '\n']) {
        return err("cookie_path", "must start with `/` and contain no `;`");
    }
    if let Some(d) = &i.cookie_domain {
        if d.is_empty() || d.contains([';', ' ', '\r', '\n']) {
            return err("cookie_domain", "is not a valid domain");
        }
    }
    if i.cookie_samesite == SameSite::None && !i.cookie_secure {
        return err(
            "cookie_samesite",
            "`None` requires cookie_secure = true (browsers reject it otherwise)",
        );
    }
    if name.starts_with("__Secure-") && !i.cookie_secure {
        return err("cookie_secure", "a `__Secure-` cookie must be Secure");
    }
    if name.starts_with("__Host-") {
        if !i.cookie_secure {
            return err("cookie_secure", "a `__Host-` cookie must be Secure");
        }
        if i.cookie_domain.is_some() {
            return err("cookie_domain", "a `__Host-` cookie must not have a Domain");
        }
        if i.cookie_path != "/" {
            return err("cookie_path", "a `__Host-` cookie must have Path=/");
        }
    }
    if i.session_lifetime.as_secs() == 0 {
        return err("session_lifetime", "must be at least one second");
    }
    if i.session_permanent_lifetime.as_secs() == 0 {
        return err("session_permanent_lifetime", "must be at least one second");
    }
    if i.timeout.is_zero() {
        return err("timeout", "must be greater than zero");
    }
    if matches!(i.absolute_lifetime, Some(d) if d.as_secs() == 0) {
        return err("absolute_lifetime", "must be at least one second");
    }
    if matches!(i.backend, BackendChoice::Store(_)) && i.key_prefix.len() > 256 {
        return err("key_prefix", "is longer than 256 bytes");
    }
    Ok(())
}

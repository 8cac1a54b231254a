//! The configuration as a document: the Rust form of the seed's `SESSION_CONFIG`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{FieldRules, Interface, SameSite};
use crate::store::SessionStore;
use crate::{Error, KeyRing, MemoryStore, Result, SessionManager};

/// One interface as written in a document. Setting names and defaults are the
/// seed's; durations are whole seconds. Settings a backend needs beyond these
/// (e.g. a collection name) land in `extra`.
#[derive(Debug, Clone, Deserialize)]
pub struct InterfaceDocument {
    /// Cookie name; also the interface's key. Required.
    pub cookie_name: Option<String>,
    /// `secure_cookie` (default), `memory`, or any registered backend.
    #[serde(default = "default_type")]
    pub session_type: String,
    /// Field rules (default `[]`: all fields).
    #[serde(default)]
    pub session_fields: FieldRules,
    /// Encrypt a `secure_cookie` interface (default false: signed only).
    #[serde(default)]
    pub encrypt: bool,
    /// Connection URL of a server-side backend.
    pub url: Option<String>,
    /// Cookie `Domain`.
    pub cookie_domain: Option<String>,
    /// Cookie `Path` (default `/`).
    pub cookie_path: Option<String>,
    /// Cookie `HttpOnly` (default true).
    pub cookie_httponly: Option<bool>,
    /// Cookie `Secure` (default false).
    pub cookie_secure: Option<bool>,
    /// Cookie `Max-Age` in seconds for non-permanent sessions.
    pub cookie_max_age: Option<u64>,
    /// Cookie `SameSite` (default `Lax`).
    pub cookie_samesite: Option<SameSite>,
    /// Idle lifetime, seconds (default 86400).
    pub session_lifetime: Option<u64>,
    /// Idle lifetime when permanent, seconds (default 2678400).
    pub session_permanent_lifetime: Option<u64>,
    /// New sessions start permanent (default false).
    #[serde(default)]
    pub permanent: bool,
    /// Store key prefix (default `session`).
    pub key_prefix: Option<String>,
    /// Sign the id cookie (default false).
    pub use_signer: Option<bool>,
    /// Backend call timeout in milliseconds (default 2000).
    pub timeout_ms: Option<u64>,
    /// Minimum seconds between idle-expiry refreshes (default 60).
    pub refresh_interval: Option<u64>,
    /// Absolute lifetime from creation, seconds (default none).
    pub absolute_lifetime: Option<u64>,
    /// Backend-specific settings.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

fn default_type() -> String {
    "secure_cookie".to_owned()
}

impl InterfaceDocument {
    /// The cookie name, or a placeholder for messages.
    pub fn name(&self) -> &str {
        self.cookie_name.as_deref().unwrap_or("(unnamed)")
    }

    /// The connection URL, or an error naming the interface and `url`.
    pub fn require_url(&self) -> Result<&str> {
        self.url.as_deref().ok_or_else(|| {
            Error::config(
                self.name(),
                "url",
                format!(
                    "session_type `{}` needs a connection url",
                    self.session_type
                ),
            )
        })
    }

    /// The backend-specific settings of this interface (every key that is not
    /// a common setting), deserialized as `T`. Give `T`
    /// `#[serde(deny_unknown_fields)]` so a misspelled key is an error naming
    /// the key and the interface.
    ///
    /// ```
    /// use serde::Deserialize;
    /// use session_plus_core::ConfigDocument;
    ///
    /// #[derive(Deserialize)]
    /// #[serde(deny_unknown_fields)]
    /// struct MySettings { collection: String }
    ///
    /// let doc = ConfigDocument::from_toml(r#"
    ///     [[interface]]
    ///     cookie_name = "session"
    ///     session_type = "mine"
    ///     collection = "sessions"
    /// "#).unwrap();
    /// let settings: MySettings = doc.interfaces[0].backend_settings().unwrap();
    /// assert_eq!(settings.collection, "sessions");
    /// ```
    pub fn backend_settings<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let map: serde_json::Map<String, serde_json::Value> = self
            .extra
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| {
            Error::config(
                self.name(),
                "document",
                format!("session_type `{}`: {e}", self.session_type),
            )
        })
    }

    fn apply(&self, mut i: Interface) -> Interface {
        let secs = Duration::from_secs;
        i = i
            .fields(self.session_fields.clone())
            .permanent(self.permanent);
        if let Some(v) = &self.cookie_domain {
            i = i.cookie_domain(v.clone());
        }
        if let Some(v) = &self.cookie_path {
            i = i.cookie_path(v.clone());
        }
        if let Some(v) = self.cookie_httponly {
            i = i.cookie_httponly(v);
        }
        if let Some(v) = self.cookie_secure {
            i = i.cookie_secure(v);
        }
        if let Some(v) = self.cookie_samesite {
            i = i.cookie_samesite(v);
        }
        if let Some(v) = self.session_lifetime {
            i = i.session_lifetime(secs(v));
        }
        if let Some(v) = self.session_permanent_lifetime {
            i = i.session_permanent_lifetime(secs(v));
        }
        if let Some(v) = &self.key_prefix {
            i = i.key_prefix(v.clone());
        }
        if let Some(v) = self.use_signer {
            i = i.use_signer(v);
        }
        if let Some(v) = self.timeout_ms {
            i = i.timeout(Duration::from_millis(v));
        }
        if let Some(v) = self.refresh_interval {
            i = i.refresh_interval(secs(v));
        }
        i.cookie_max_age(self.cookie_max_age.map(secs))
            .absolute_lifetime(self.absolute_lifetime.map(secs))
    }
}

/// A boxed future building a store.
pub type StoreFuture<'a> = Pin<Box<dyn Future<Output = Result<Arc<dyn SessionStore>>> + Send + 'a>>;

/// Builds a store from its interface document (URL and extra settings).
pub type StoreFactory = Arc<dyn for<'a> Fn(&'a InterfaceDocument) -> StoreFuture<'a> + Send + Sync>;

/// Maps `session_type` names to store factories. `memory` is built in; the
/// `session-plus` crate adds the backends enabled by its features, and users
/// add their own with [`StoreRegistry::register`].
///
/// ```
/// use std::sync::Arc;
/// use session_plus_core::{MemoryStore, StoreRegistry};
///
/// let mut registry = StoreRegistry::new();
/// registry.register("my_store", Arc::new(|_doc| {
///     Box::pin(async { Ok(Arc::new(MemoryStore::new()) as Arc<_>) })
/// }));
/// assert!(registry.knows("my_store") && registry.knows("memory"));
/// ```
#[derive(Clone)]
#[must_use]
pub struct StoreRegistry {
    factories: HashMap<String, StoreFactory>,
}

impl fmt::Debug for StoreRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.factories.keys().collect();
        names.sort();
        f.debug_struct("StoreRegistry")
            .field("types", &names)
            .finish()
    }
}

impl Default for StoreRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl StoreRegistry {
    /// A registry knowing `memory`.
    pub fn new() -> Self {
        let memory: StoreFactory = Arc::new(|_doc| {
            Box::pin(async { Ok(Arc::new(MemoryStore::new()) as Arc<dyn SessionStore>) })
        });
        Self {
            factories: HashMap::from([("memory".to_owned(), memory)]),
        }
    }

    /// Add (or replace) a backend under a `session_type` name. Backend crates
    /// offer a `register(&mut StoreRegistry)` function that calls this.
    pub fn register(&mut self, session_type: &str, factory: StoreFactory) -> &mut Self {
        self.factories.insert(session_type.to_owned(), factory);
        self
    }

    /// Whether `session_type` is known.
    pub fn knows(&self, session_type: &str) -> bool {
        self.factories.contains_key(session_type)
    }
}

/// A whole configuration document: a list of interfaces, like `SESSION_CONFIG`.
///
/// TOML uses `[[interface]]` tables; JSON takes the seed's bare list or
/// `{"interfaces": [...]}`. Keys are never in the document: pass them to
/// [`ConfigDocument::build`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use session_plus_core::{ConfigDocument, Key, StoreRegistry};
///
/// let doc = ConfigDocument::from_toml(r#"
///     [[interface]]
///     cookie_name = "csrf"
///     session_type = "secure_cookie"
///     session_fields = ["csrf_token"]
///
///     [[interface]]
///     cookie_name = "session"
///     session_type = "memory"
///     session_fields = ["user_id", "user_data"]
///
///     [[interface]]
///     cookie_name = "data"
///     session_fields = "auto"
/// "#).unwrap();
/// let manager = doc.build(Key::generate().into(), &StoreRegistry::new()).await.unwrap();
/// assert_eq!(manager.owners_of("theme"), ["data"]);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct ConfigDocument {
    /// The interfaces, in order.
    pub interfaces: Vec<InterfaceDocument>,
}

#[derive(Deserialize)]
struct Table {
    #[serde(alias = "interface")]
    interfaces: Vec<InterfaceDocument>,
}

impl ConfigDocument {
    /// Parse TOML (`[[interface]]` tables).
    pub fn from_toml(text: &str) -> Result<Self> {
        let table: Table =
            toml::from_str(text).map_err(|e| Error::config("", "document", e.message()))?;
        Ok(Self {
            interfaces: table.interfaces,
        })
    }

    /// Parse JSON (a list, or an object with `interfaces`).
    pub fn from_json(text: &str) -> Result<Self> {
        let err = |e: serde_json::Error| Error::config("", "document", e);
        let interfaces = if text.trim_start().starts_with('[') {
            serde_json::from_str(text).map_err(err)?
        } else {
            serde_json::from_str::<Table>(text).map_err(err)?.interfaces
        };
        Ok(Self { interfaces })
    }

    /// Build the manager, connecting server-side backends through `registry`.
    pub async fn build(&self, keys: KeyRing, registry: &StoreRegistry) -> Result<SessionManager> {
        let mut builder = SessionManager::builder().keys(keys);
        for (n, doc) in self.interfaces.iter().enumerate() {
            let Some(name) = doc.cookie_name.as_deref() else {
                return Err(Error::config(
                    &format!("#{}", n + 1),
                    "cookie_name",
                    "is required",
                ));
            };
            let iface = match doc.session_type.as_str() {
                "secure_cookie" if doc.encrypt => Interface::encrypted_cookie(name),
                "secure_cookie" => Interface::secure_cookie(name),
                other => {
                    let factory = registry.factories.get(other).ok_or_else(|| {
                        let mut known: Vec<&str> =
                            registry.factories.keys().map(String::as_str).collect();
                        known.push("secure_cookie");
                        known.sort_unstable();
                        Error::config(
                            name,
                            "session_type",
                            format!("unknown backend `{other}` (known: {})", known.join(", ")),
                        )
                    })?;
                    Interface::store(name, factory(doc).await?)
                }
            };
            builder = builder.interface(doc.apply(iface));
        }
        builder.build()
    }
}

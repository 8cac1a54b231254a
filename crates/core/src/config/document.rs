//! The configuration as a document: the Rust form of the seed's `SESSION_CONFIG`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::config::{FieldRules, Interface, SameSite};
use crate::store::SessionStore;
use crate::{Error, KeyRing, MemoryStore, Result, SessionManager};

/// One interface as written in a document. Setting names and defaults are the
/// seed's ([`COMMON_SETTINGS`]); durations are whole seconds. Settings a
/// backend needs beyond these (e.g. a collection name) land in `extra`, and
/// the backend reads them with [`InterfaceDocument::backend_settings`]; any
/// key that neither the common settings nor the backend know is an error at
/// [`ConfigDocument::build`].
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
    /// Set once the backend has read `extra` through `backend_settings`.
    #[serde(skip)]
    settings_read: Arc<AtomicBool>,
}

/// The settings every interface understands, whatever its backend. Any
/// other key of an interface goes to its backend
/// ([`InterfaceDocument::backend_settings`]).
///
/// ```
/// use session_plus_core::config::COMMON_SETTINGS;
/// assert!(COMMON_SETTINGS.contains(&"cookie_secure"));
/// assert!(!COMMON_SETTINGS.contains(&"cluster_urls")); // a Redis setting
/// ```
pub const COMMON_SETTINGS: &[&str] = &[
    "cookie_name",
    "session_type",
    "session_fields",
    "encrypt",
    "url",
    "cookie_domain",
    "cookie_path",
    "cookie_httponly",
    "cookie_secure",
    "cookie_max_age",
    "cookie_samesite",
    "session_lifetime",
    "session_permanent_lifetime",
    "permanent",
    "key_prefix",
    "use_signer",
    "timeout_ms",
    "refresh_interval",
    "absolute_lifetime",
];

/// Backends that ship with `session-plus` behind a feature of the same name.
const FEATURE_BACKENDS: &[&str] = &["sqlite", "redis", "memcache", "mongodb", "firestore"];

/// The known name closest to `key`, when it is close enough to be a typo.
fn did_you_mean<'a>(key: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let key_lower = key.to_ascii_lowercase();
    known
        .into_iter()
        .filter(|k| *k != key)
        .map(|k| (strsim::osa_distance(&key_lower, k), k))
        .filter(|(d, k)| *d <= (k.len().max(key.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// ` (did you mean `x`?)`, or nothing.
fn suggestion<'a>(key: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(key, known).map_or_else(String::new, |k| format!(" (did you mean `{k}`?)"))
}

/// The field names of a plain `#[derive(Deserialize)]` struct, found by
/// letting it ask a deserializer for them (None for maps, flattened structs,
/// anything else).
fn struct_fields<T: serde::de::DeserializeOwned>() -> Option<&'static [&'static str]> {
    struct Probe<'a>(&'a mut Option<&'static [&'static str]>);
    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(
            self,
            _: V,
        ) -> std::result::Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> std::result::Result<V::Value, Self::Error> {
            *self.0 = Some(fields);
            Err(de::Error::custom("probed"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields = None;
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// A serde error at `path` inside an interface, as a configuration error
/// naming the interface and the setting (the first segment of the path).
fn setting_error(interface: &str, err: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = err.path().to_string();
    let message = err.into_inner().to_string();
    let setting = match path.split(['.', '[']).next() {
        Some(first) if !first.is_empty() && first != "?" => first.to_owned(),
        // serde's own messages name the field when the path cannot.
        _ => ["missing field `", "unknown field `"]
            .iter()
            .find_map(|p| message.strip_prefix(p))
            .and_then(|rest| rest.split('`').next())
            .unwrap_or("document")
            .to_owned(),
    };
    Error::config(interface, &setting, message)
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
    /// one of the [`COMMON_SETTINGS`]), deserialized as `T`. Give `T`
    /// `#[serde(deny_unknown_fields)]`: a key that is neither a common
    /// setting nor a field of `T` is then an error naming the interface and
    /// the key, with the closest known setting as a suggestion; a value of
    /// the wrong type names its setting too.
    ///
    /// A factory that never calls this gets an error for any extra key
    /// instead (its backend takes no settings of its own).
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
    ///
    /// let doc = ConfigDocument::from_toml(r#"
    ///     [[interface]]
    ///     cookie_name = "session"
    ///     session_type = "mine"
    ///     colection = "sessions"
    /// "#).unwrap();
    /// let err = doc.interfaces[0].backend_settings::<MySettings>().err().unwrap();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "session interface `session`: setting `colection`: unknown setting for \
    ///      session_type `mine` (did you mean `collection`?)",
    /// );
    /// ```
    pub fn backend_settings<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        self.settings_read.store(true, Ordering::Relaxed);
        if let Some(fields) = struct_fields::<T>() {
            if let Some(key) = self.extra.keys().find(|k| !fields.contains(&k.as_str())) {
                return Err(self.unknown_setting(key, fields));
            }
        }
        let map: serde_json::Map<String, serde_json::Value> = self
            .extra
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        serde_path_to_error::deserialize(serde_json::Value::Object(map))
            .map_err(|e| setting_error(self.name(), e))
    }

    /// `key` is known neither as a common setting nor by the backend.
    fn unknown_setting(&self, key: &str, backend_keys: &[&str]) -> Error {
        let known = COMMON_SETTINGS.iter().chain(backend_keys).copied();
        Error::config(
            self.name(),
            key,
            format!(
                "unknown setting for session_type `{}`{}",
                self.session_type,
                suggestion(key, known)
            ),
        )
    }

    /// Every extra key is an error for a backend that takes no settings of
    /// its own (`secure_cookie`, `memory`, or a factory that never read them).
    fn reject_extra(&self) -> Result<()> {
        match self.extra.keys().next() {
            Some(key) => Err(self.unknown_setting(key, &[])),
            None => Ok(()),
        }
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

/// The document's top-level keys.
const TOP_LEVEL: &[&str] = &["interface", "interfaces"];

impl ConfigDocument {
    /// Parse TOML (`[[interface]]` tables).
    ///
    /// Syntax and type errors name the interface and the setting; an empty
    /// document says what to add:
    ///
    /// ```
    /// use session_plus_core::ConfigDocument;
    ///
    /// let err = ConfigDocument::from_toml("").unwrap_err();
    /// assert!(err.to_string().contains("add an `[[interface]]` table"));
    ///
    /// let err = ConfigDocument::from_toml(r#"
    ///     [[interface]]
    ///     cookie_name = "csrf"
    ///     cookie_samesite = "Sideways"
    /// "#).unwrap_err();
    /// assert_eq!(err.interface(), Some("csrf"));
    /// assert!(err.to_string().contains("setting `cookie_samesite`"));
    /// ```
    pub fn from_toml(text: &str) -> Result<Self> {
        let value: serde_json::Value = toml::from_str(text).map_err(|e| {
            Error::config(
                "",
                "document",
                format!("not valid TOML: {}", e.to_string().trim_end()),
            )
        })?;
        Self::from_value(value)
    }

    /// Parse JSON (the seed's bare list, or an object with `interfaces`).
    pub fn from_json(text: &str) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::config("", "document", format!("not valid JSON: {e}")))?;
        Self::from_value(value)
    }

    fn from_value(value: serde_json::Value) -> Result<Self> {
        use serde_json::Value;
        let list = match value {
            Value::Array(list) => list,
            Value::Object(mut top) => {
                let list = match (top.remove("interface"), top.remove("interfaces")) {
                    (Some(_), Some(_)) => {
                        return Err(Error::config(
                            "",
                            "interface",
                            "give either `interface` or `interfaces`, not both",
                        ))
                    }
                    (Some(v), None) | (None, Some(v)) => v,
                    (None, None) => Value::Array(Vec::new()),
                };
                if let Some(key) = top.keys().next() {
                    let hint = if COMMON_SETTINGS.contains(&key.as_str()) {
                        " (an interface setting: put it under an `[[interface]]` table)".to_owned()
                    } else {
                        suggestion(key, TOP_LEVEL.iter().copied())
                    };
                    return Err(Error::config(
                        "",
                        key,
                        format!("unknown top-level key{hint}"),
                    ));
                }
                match list {
                    Value::Array(list) => list,
                    _ => {
                        return Err(Error::config(
                            "",
                            "interface",
                            "must be a list of tables (`[[interface]]` in TOML)",
                        ))
                    }
                }
            }
            _ => return Err(Error::config(
                "",
                "document",
                "must be a table of `[[interface]]` entries (TOML) or a list of interfaces (JSON)",
            )),
        };
        if list.is_empty() {
            return Err(Error::config(
                "",
                "interface",
                "the document has no interfaces: add an `[[interface]]` table \
                 (TOML; a list entry in JSON) with at least `cookie_name`",
            ));
        }
        let interfaces = list
            .into_iter()
            .enumerate()
            .map(|(n, item)| {
                let name = item
                    .get("cookie_name")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("#{}", n + 1), str::to_owned);
                if !item.is_object() {
                    return Err(Error::config(&name, "interface", "must be a table"));
                }
                serde_path_to_error::deserialize(item).map_err(|e| setting_error(&name, e))
            })
            .collect::<Result<Vec<InterfaceDocument>>>()?;
        Ok(Self { interfaces })
    }

    /// Build the manager, connecting server-side backends through `registry`.
    /// Async: server-side backends connect here, so a wrong address or path
    /// fails at start-up.
    ///
    /// Errors name the interface and the setting: an unknown key (with the
    /// closest known one), an unknown `session_type` (with the feature of
    /// `session-plus` that provides it), a backend that cannot connect (with
    /// its cause; print it with [`Error::report`]).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use session_plus_core::{ConfigDocument, Key, StoreRegistry};
    ///
    /// let doc = ConfigDocument::from_toml(r#"
    ///     [[interface]]
    ///     cookie_name = "data"
    ///     encrytp = true
    /// "#).unwrap();
    /// let err = doc.build(Key::generate().into(), &StoreRegistry::new()).await.unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "session interface `data`: setting `encrytp`: unknown setting for \
    ///      session_type `secure_cookie` (did you mean `encrypt`?)",
    /// );
    /// # });
    /// ```
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
                "secure_cookie" => {
                    doc.reject_extra()?;
                    if doc.url.is_some() {
                        return Err(Error::config(
                            name,
                            "url",
                            "a `secure_cookie` interface keeps its data in the cookie and \
                             connects to nothing (is `session_type` missing?)",
                        ));
                    }
                    if doc.encrypt {
                        Interface::encrypted_cookie(name)
                    } else {
                        Interface::secure_cookie(name)
                    }
                }
                other => {
                    let factory = registry
                        .factories
                        .get(other)
                        .ok_or_else(|| registry.unknown_backend(name, other))?;
                    if doc.encrypt {
                        return Err(Error::config(
                            name,
                            "encrypt",
                            format!("only `secure_cookie` interfaces are encrypted; session_type `{other}` keeps its data server-side"),
                        ));
                    }
                    doc.settings_read.store(false, Ordering::Relaxed);
                    let store = factory(doc).await?;
                    if !doc.settings_read.load(Ordering::Relaxed) {
                        doc.reject_extra()?;
                    }
                    Interface::store(name, store)
                }
            };
            builder = builder.interface(doc.apply(iface));
        }
        builder.build()
    }
}

impl StoreRegistry {
    fn unknown_backend(&self, interface: &str, session_type: &str) -> Error {
        let mut known: Vec<&str> = self.factories.keys().map(String::as_str).collect();
        known.push("secure_cookie");
        known.sort_unstable();
        let problem = if FEATURE_BACKENDS.contains(&session_type) {
            format!(
                "backend `{session_type}` is not in this build: enable the `{session_type}` \
                 feature of `session-plus` (`session-plus = {{ version = \"0.1\", features = \
                 [\"{session_type}\"] }}`) and build with `session_plus::default_registry()` \
                 (known here: {})",
                known.join(", ")
            )
        } else {
            format!(
                "unknown backend `{session_type}`{} (known: {})",
                suggestion(session_type, known.iter().copied()),
                known.join(", ")
            )
        };
        Error::config(interface, "session_type", problem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Key;

    fn build_err(toml: &str) -> Error {
        build_err_with(toml, &StoreRegistry::new())
    }

    fn build_err_with(toml: &str, registry: &StoreRegistry) -> Error {
        let doc = match ConfigDocument::from_toml(toml) {
            Ok(doc) => doc,
            Err(e) => return e,
        };
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(doc.build(Key::generate().into(), registry))
            .expect_err("the document should be refused")
    }

    fn assert_names(e: &Error, interface: Option<&str>, setting: &str, rest: &[&str]) {
        assert!(e.is_config(), "{e}");
        assert_eq!(e.interface(), interface, "{e}");
        let text = e.to_string();
        assert!(text.contains(&format!("setting `{setting}`")), "{text}");
        for part in rest {
            assert!(text.contains(part), "`{part}` missing from: {text}");
        }
    }

    #[test]
    fn misspelled_common_keys_are_refused_with_a_suggestion() {
        let e = build_err("[[interface]]\ncookie_name = \"data\"\ncookie_secur = true\n");
        assert_names(
            &e,
            Some("data"),
            "cookie_secur",
            &["did you mean `cookie_secure`?"],
        );
        let e = build_err("[[interface]]\ncookie_name = \"data\"\nencrytp = true\n");
        assert_names(&e, Some("data"), "encrytp", &["did you mean `encrypt`?"]);
        let e = build_err(
            "[[interface]]\ncookie_name = \"s\"\nsession_type = \"memory\"\nsesion_lifetime = 5\n",
        );
        assert_names(
            &e,
            Some("s"),
            "sesion_lifetime",
            &["session_type `memory`", "`session_lifetime`"],
        );
    }

    #[test]
    fn unknown_keys_far_from_any_setting_are_refused_without_a_suggestion() {
        let e = build_err("[[interface]]\ncookie_name = \"data\"\nflavour = \"vanilla\"\n");
        assert_names(
            &e,
            Some("data"),
            "flavour",
            &["unknown setting for session_type `secure_cookie`"],
        );
        assert!(!e.to_string().contains("did you mean"), "{e}");
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PoolSettings {
        pool_size: u32,
        #[serde(default)]
        database: Option<String>,
    }

    fn pool_registry() -> StoreRegistry {
        let mut registry = StoreRegistry::new();
        registry.register(
            "pool",
            Arc::new(|doc: &InterfaceDocument| {
                Box::pin(async move {
                    let settings: PoolSettings = doc.backend_settings()?;
                    assert!(settings.pool_size > 0 || settings.database.is_some());
                    Ok(Arc::new(MemoryStore::new()) as Arc<dyn SessionStore>)
                })
            }),
        );
        registry.register(
            "lax",
            Arc::new(|_doc: &InterfaceDocument| {
                Box::pin(async { Ok(Arc::new(MemoryStore::new()) as Arc<dyn SessionStore>) })
            }),
        );
        registry
    }

    #[test]
    fn backend_settings_name_the_key_and_suggest_backend_and_common_keys() {
        let registry = pool_registry();
        let base = "[[interface]]\ncookie_name = \"session\"\nsession_type = \"pool\"\n";
        let e = build_err_with(&format!("{base}pool_sise = 3\n"), &registry);
        assert_names(
            &e,
            Some("session"),
            "pool_sise",
            &["session_type `pool`", "did you mean `pool_size`?"],
        );
        let e = build_err_with(
            &format!("{base}pool_size = 3\ncookie_secur = true\n"),
            &registry,
        );
        assert_names(
            &e,
            Some("session"),
            "cookie_secur",
            &["did you mean `cookie_secure`?"],
        );
        let e = build_err_with(&format!("{base}pool_size = \"three\"\n"), &registry);
        assert_names(&e, Some("session"), "pool_size", &["invalid type"]);
        let e = build_err_with(base, &registry);
        assert_names(&e, Some("session"), "pool_size", &["missing field"]);
        let doc = ConfigDocument::from_toml(&format!("{base}pool_size = 3\n")).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(doc.build(Key::generate().into(), &registry))
            .expect("valid settings build");
    }

    #[test]
    fn a_factory_that_never_reads_settings_gets_extra_keys_refused() {
        let e = build_err_with(
            "[[interface]]\ncookie_name = \"session\"\nsession_type = \"lax\"\npool_size = 3\n",
            &pool_registry(),
        );
        assert_names(&e, Some("session"), "pool_size", &["session_type `lax`"]);
    }

    #[test]
    fn backends_behind_a_feature_say_which_feature_to_enable() {
        for backend in FEATURE_BACKENDS {
            let e = build_err(&format!(
                "[[interface]]\ncookie_name = \"session\"\nsession_type = \"{backend}\"\n"
            ));
            assert_names(
                &e,
                Some("session"),
                "session_type",
                &[&format!("enable the `{backend}` feature of `session-plus`")],
            );
        }
        let e = build_err("[[interface]]\ncookie_name = \"s\"\nsession_type = \"memroy\"\n");
        assert_names(
            &e,
            Some("s"),
            "session_type",
            &["unknown backend `memroy` (did you mean `memory`?)"],
        );
    }

    #[test]
    fn empty_documents_say_to_add_an_interface_table() {
        for text in ["", "# nothing yet\n", "interface = []\n"] {
            let e = ConfigDocument::from_toml(text).unwrap_err();
            assert_names(&e, None, "interface", &["add an `[[interface]]` table"]);
        }
        let e = ConfigDocument::from_json("[]").unwrap_err();
        assert!(
            e.to_string().contains("add an `[[interface]]` table"),
            "{e}"
        );
    }

    #[test]
    fn type_errors_name_the_interface_and_the_setting() {
        let e = ConfigDocument::from_toml(
            "[[interface]]\ncookie_name = \"csrf\"\ncookie_samesite = \"Sideways\"\n",
        )
        .unwrap_err();
        assert_names(&e, Some("csrf"), "cookie_samesite", &["Sideways"]);
        let e = ConfigDocument::from_json(
            r#"[{"cookie_name": "a"}, {"cookie_name": "b", "session_lifetime": -1}]"#,
        )
        .unwrap_err();
        assert_names(&e, Some("b"), "session_lifetime", &["-1"]);
        let e =
            ConfigDocument::from_toml("[[interface]]\nsession_fields = \"some\"\n").unwrap_err();
        assert_names(&e, Some("#1"), "session_fields", &["auto"]);
        let e = ConfigDocument::from_toml("[[interface]]\ncookie_name = 3\n").unwrap_err();
        assert_names(&e, Some("#1"), "cookie_name", &["invalid type"]);
    }

    #[test]
    fn top_level_mistakes_are_named() {
        let e = ConfigDocument::from_toml("[[interfce]]\ncookie_name = \"a\"\n").unwrap_err();
        assert_names(&e, None, "interfce", &["did you mean `interface`?"]);
        let e = ConfigDocument::from_toml("cookie_name = \"a\"\n").unwrap_err();
        assert_names(&e, None, "cookie_name", &["under an `[[interface]]` table"]);
        let e = ConfigDocument::from_toml("[[interface]\n").unwrap_err();
        assert_names(&e, None, "document", &["not valid TOML", "line 1"]);
        let e = ConfigDocument::from_json(r#"{"interfaces": [{"cookie_name": "a"}], "x": 1}"#)
            .unwrap_err();
        assert_names(&e, None, "x", &["unknown top-level key"]);
    }

    #[test]
    fn a_url_on_a_cookie_interface_asks_for_the_session_type() {
        // The default session_type is secure_cookie: without this check the
        // login would silently live in the cookie instead of the server.
        let e = build_err("[[interface]]\ncookie_name = \"s\"\nurl = \"redis://127.0.0.1/\"\n");
        assert_names(&e, Some("s"), "url", &["is `session_type` missing?"]);
    }

    #[test]
    fn encrypt_on_a_server_side_interface_is_refused() {
        let e = build_err(
            "[[interface]]\ncookie_name = \"s\"\nsession_type = \"memory\"\nencrypt = true\n",
        );
        assert_names(&e, Some("s"), "encrypt", &["only `secure_cookie`"]);
    }

    #[test]
    fn the_seed_list_in_json_still_builds() {
        let doc = ConfigDocument::from_json(
            r#"[{"cookie_name": "csrf", "session_fields": ["csrf_token"]},
                {"cookie_name": "data", "session_fields": "auto", "encrypt": true}]"#,
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let m = rt
            .block_on(doc.build(Key::generate().into(), &StoreRegistry::new()))
            .unwrap();
        assert_eq!(m.owners_of("theme"), ["data"]);
    }

    #[test]
    fn struct_fields_are_found_for_plain_structs_only() {
        assert_eq!(
            struct_fields::<PoolSettings>(),
            Some(&["pool_size", "database"][..])
        );
        assert_eq!(struct_fields::<BTreeMap<String, u8>>(), None);
    }
}

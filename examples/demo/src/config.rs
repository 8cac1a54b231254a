//! Where the demo's configuration comes from: its built-in document with the
//! `session` interface's backend chosen by environment variables, or a
//! document of your own (`SESSION_CONFIG=path.toml`).

use session_plus::config::InterfaceDocument;
use session_plus::{ConfigDocument, Key};

/// The demo's configuration: the seed's three interfaces. The `session`
/// interface's backend is replaced by the one the environment selects
/// ([`ServerSide::from_env`]).
pub const DEFAULT_CONFIG: &str = r#"
# 1. the CSRF token alone, in its own signed cookie
[[interface]]
cookie_name = "csrf"
session_type = "secure_cookie"
session_fields = ["csrf_token"]

# 2. the login server-side; the cookie holds only a 256-bit id
[[interface]]
cookie_name = "session"
session_type = "sqlite"
url = "sqlite://session-plus-demo.db"
session_fields = ["user_id", "user_data"]

# 3. everything else in an encrypted cookie
[[interface]]
cookie_name = "data"
session_type = "secure_cookie"
encrypt = true
session_fields = "auto"
"#;

/// The fields the demo's pages read and write: a configuration must give
/// each an owner.
pub const DEMO_FIELDS: &[&str] = &["csrf_token", "user_id", "user_data", "counter", "flash"];

/// The server-side backend of the `session` interface: a `session_type`, its
/// `url`, and any backend-specific settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSide {
    /// The `session_type` (a registered backend).
    pub session_type: String,
    /// The connection URL, if the backend takes one.
    pub url: Option<String>,
    /// Backend-specific settings (e.g. a list of servers).
    pub settings: Vec<(String, serde_json::Value)>,
    /// The environment variable that chose it, for the start-up banner.
    pub chosen_by: &'static str,
}

impl ServerSide {
    /// A backend with no settings yet.
    pub fn new(session_type: &str, chosen_by: &'static str) -> Self {
        Self {
            session_type: session_type.to_owned(),
            url: None,
            settings: Vec::new(),
            chosen_by,
        }
    }

    /// With a connection URL.
    #[must_use]
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// With a backend-specific setting.
    #[must_use]
    pub fn setting(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.settings.push((key.to_owned(), value.into()));
        self
    }

    /// A SQLite file (the default; `SESSION_DB`).
    pub fn sqlite(path: &str) -> Self {
        Self::new("sqlite", "SESSION_DB").url(format!("sqlite://{path}"))
    }

    /// The backend the environment selects: the first of these variables
    /// that is set wins, else a SQLite file (`SESSION_DB`, default
    /// `session-plus-demo.db`). A new backend is one more `if let` here.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Self {
        if let Some(url) = var("SESSION_REDIS_URL") {
            return Self::new("redis", "SESSION_REDIS_URL").url(url);
        }
        if let Some(servers) = var("SESSION_MEMCACHE_SERVERS") {
            let list: Vec<serde_json::Value> = servers
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Into::into)
                .collect();
            return Self::new("memcache", "SESSION_MEMCACHE_SERVERS").setting("servers", list);
        }
        if let Some(url) = var("SESSION_MONGODB_URL") {
            return Self::new("mongodb", "SESSION_MONGODB_URL")
                .url(url)
                .setting("db", "session_plus_demo")
                .setting("collection", "sessions");
        }
        if let Some(project) = var("SESSION_FIRESTORE_PROJECT") {
            let mut s = Self::new("firestore", "SESSION_FIRESTORE_PROJECT")
                .setting("project_id", project)
                .setting("collection", "sessions");
            if let Some(host) = var("FIRESTORE_EMULATOR_HOST") {
                s = s.setting("emulator_host", host);
            }
            return s;
        }
        Self::sqlite(&var("SESSION_DB").unwrap_or_else(|| "session-plus-demo.db".into()))
    }

    /// Put this backend into the `session` interface of `doc`.
    pub fn apply_to(&self, doc: &mut ConfigDocument) {
        if let Some(iface) = doc
            .interfaces
            .iter_mut()
            .find(|i| i.cookie_name.as_deref() == Some("session"))
        {
            iface.session_type = self.session_type.clone();
            iface.url = self.url.clone();
            iface.extra = self.settings.iter().cloned().collect();
        }
    }
}

/// Where the configuration document came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The built-in document, with this server-side backend.
    Builtin(ServerSide),
    /// A file given with `SESSION_CONFIG` (TOML, or JSON when it ends in `.json`).
    File(String),
}

/// The demo's settings, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen address (`DEMO_ADDR`, default `127.0.0.1:3000`; port 0 picks a free one).
    pub addr: String,
    /// The configuration document's origin.
    pub source: Source,
    /// Signing and encryption key (`SESSION_SECRET`, at least 32 bytes;
    /// default: random per start).
    pub key: Key,
    /// Where the key came from, for the start-up banner (never the key itself).
    pub key_source: &'static str,
}

impl Settings {
    /// Read the settings from the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Read the settings through `var` (testable without touching the process
    /// environment).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let addr = var("DEMO_ADDR").unwrap_or_else(|| "127.0.0.1:3000".into());
        let source = match var("SESSION_CONFIG") {
            Some(path) => Source::File(path),
            None => Source::Builtin(ServerSide::from_env(&var)),
        };
        let (key, key_source) = match var("SESSION_SECRET") {
            Some(secret) => (
                Key::from_bytes(secret.as_bytes()).map_err(|e| format!("SESSION_SECRET: {e}"))?,
                "SESSION_SECRET",
            ),
            None => (
                Key::generate(),
                "random (set SESSION_SECRET to keep sessions across restarts)",
            ),
        };
        Ok(Self {
            addr,
            source,
            key,
            key_source,
        })
    }

    /// The configuration document to build.
    pub fn document(&self) -> Result<ConfigDocument, String> {
        match &self.source {
            Source::Builtin(server_side) => {
                let mut doc = ConfigDocument::from_toml(DEFAULT_CONFIG)
                    .map_err(|e| format!("built-in configuration: {}", e.report()))?;
                server_side.apply_to(&mut doc);
                Ok(doc)
            }
            Source::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("SESSION_CONFIG={path}: cannot read the file: {e}"))?;
                let parsed = if path.ends_with(".json") {
                    ConfigDocument::from_json(&text)
                } else {
                    ConfigDocument::from_toml(&text)
                };
                parsed.map_err(|e| format!("SESSION_CONFIG={path}: {}", e.report()))
            }
        }
    }
}

/// Where an interface keeps its data, for people: a kind and a place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The interface (its cookie name).
    pub interface: String,
    /// What kind of storage: "signed cookie", "encrypted cookie", "SQLite", ...
    pub kind: String,
    /// Where exactly: a file path, a server URL without its password, or
    /// what the browser can see.
    pub location: String,
    /// Whether the data lives on the server (the cookie holds only an id).
    pub server_side: bool,
}

/// Describe where each interface of a document keeps its data.
pub fn places(doc: &ConfigDocument) -> Vec<Place> {
    doc.interfaces.iter().map(place).collect()
}

fn place(doc: &InterfaceDocument) -> Place {
    let interface = doc.name().to_owned();
    let (kind, location, server_side) = match (doc.session_type.as_str(), doc.encrypt) {
        ("secure_cookie", true) => (
            "encrypted cookie".to_owned(),
            "in the browser, encrypted (XChaCha20-Poly1305): the user can neither read nor change it".to_owned(),
            false,
        ),
        ("secure_cookie", false) => (
            "signed cookie".to_owned(),
            "in the browser, signed (HMAC-SHA256): readable by the user, but any change is detected".to_owned(),
            false,
        ),
        ("memory", _) => (
            "memory".to_owned(),
            "in this server process (gone at restart)".to_owned(),
            true,
        ),
        ("sqlite", _) => {
            let url = doc.url.as_deref().unwrap_or_default();
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            let shown = std::path::Path::new(path)
                .canonicalize()
                .map_or_else(|_| path.to_owned(), |p| p.display().to_string());
            ("SQLite".to_owned(), format!("file {shown}"), true)
        }
        (other, _) => {
            let kind = match other {
                "redis" => "Redis".to_owned(),
                "memcache" => "memcached".to_owned(),
                "mongodb" => "MongoDB".to_owned(),
                "firestore" => "Firestore".to_owned(),
                _ => other.to_owned(),
            };
            let mut parts: Vec<String> = doc.url.iter().map(|u| redact_url(u)).collect();
            parts.extend(doc.extra.iter().map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Array(items) => items
                        .iter()
                        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => other.to_string(),
                };
                if is_secret(k) {
                    format!("{k} = REDACTED")
                } else {
                    format!("{k} = {}", redact_url(&v))
                }
            }));
            (kind, parts.join(", "), true)
        }
    };
    Place {
        interface,
        kind,
        location,
        server_side,
    }
}

fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["pass", "secret", "token", "credential", "key"]
        .iter()
        .any(|s| key.contains(s))
}

/// A connection URL without its password (and without secret-looking query
/// parameters), for pages and logs.
///
/// ```
/// use session_plus_demo::config::redact_url;
/// assert_eq!(redact_url("redis://:hunter2@127.0.0.1:6379/0"), "redis://:REDACTED@127.0.0.1:6379/0");
/// assert_eq!(redact_url("redis://ann:pw@h/"), "redis://ann:REDACTED@h/");
/// assert_eq!(redact_url("redis://127.0.0.1"), "redis://127.0.0.1");
/// assert_eq!(redact_url("mongodb://h/?password=x&w=1"), "mongodb://h/?password=REDACTED&w=1");
/// ```
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:REDACTED@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if is_secret(k) => format!("{k}=REDACTED"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    match scheme {
        Some(s) => format!("{s}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_environment_picks_the_server_side_backend() {
        assert_eq!(
            ServerSide::from_env(vars(&[])),
            ServerSide::sqlite("session-plus-demo.db")
        );
        assert_eq!(
            ServerSide::from_env(vars(&[("SESSION_DB", "/tmp/x.db")]))
                .url
                .as_deref(),
            Some("sqlite:///tmp/x.db")
        );
        let redis = ServerSide::from_env(vars(&[
            ("SESSION_DB", "/tmp/x.db"),
            ("SESSION_REDIS_URL", "redis://127.0.0.1:1"),
        ]));
        assert_eq!(redis.session_type, "redis");
        assert_eq!(redis.chosen_by, "SESSION_REDIS_URL");
        for (var, value, kind) in [
            (
                "SESSION_MEMCACHE_SERVERS",
                "127.0.0.1:1,127.0.0.1:2",
                "memcache",
            ),
            ("SESSION_MONGODB_URL", "mongodb://127.0.0.1:1", "mongodb"),
            ("SESSION_FIRESTORE_PROJECT", "demo", "firestore"),
        ] {
            let chosen = ServerSide::from_env(vars(&[(var, value)]));
            assert_eq!(chosen.session_type, kind);
            assert_eq!(chosen.chosen_by, var);
        }
    }

    #[test]
    fn the_builtin_document_describes_where_each_interface_lives() {
        let settings = Settings::from_vars(vars(&[(
            "SESSION_REDIS_URL",
            "redis://:hunter2@127.0.0.1:6379/0",
        )]))
        .unwrap();
        let doc = settings.document().unwrap();
        let places = places(&doc);
        let kinds: Vec<&str> = places.iter().map(|p| p.kind.as_str()).collect();
        assert_eq!(kinds, ["signed cookie", "Redis", "encrypted cookie"]);
        assert_eq!(places[1].location, "redis://:REDACTED@127.0.0.1:6379/0");
        assert!(places[1].server_side && !places[0].server_side);
    }

    #[test]
    fn other_backends_show_their_settings_without_secrets() {
        let mut doc = ConfigDocument::from_toml(DEFAULT_CONFIG).unwrap();
        ServerSide::new("memcache", "SESSION_MEMCACHE_SERVERS")
            .setting("servers", vec!["127.0.0.1:11211", "127.0.0.1:11212"])
            .setting("password", "hunter2")
            .apply_to(&mut doc);
        let p = &places(&doc)[1];
        assert_eq!(p.kind, "memcached");
        assert_eq!(
            p.location,
            "password = REDACTED, servers = 127.0.0.1:11211, 127.0.0.1:11212"
        );
    }

    #[test]
    fn a_config_file_that_cannot_be_read_is_named() {
        let settings =
            Settings::from_vars(vars(&[("SESSION_CONFIG", "/nonexistent/demo.toml")])).unwrap();
        let e = settings.document().unwrap_err();
        assert!(
            e.contains("/nonexistent/demo.toml") && e.contains("os error 2"),
            "{e}"
        );
    }
}

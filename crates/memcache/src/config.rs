//! `session_type = "memcache"` for configuration documents.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use session_plus_core::config::{InterfaceDocument, StoreFactory};
use session_plus_core::store::SessionStore;
use session_plus_core::{Error, Result, StoreRegistry};

use crate::{MemcacheOptions, MemcacheStore};

/// The backend settings of a `memcache` interface.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Checked by hand, so a wrong type gets a message naming the setting.
    servers: Option<serde_json::Value>,
    connect_timeout_ms: Option<u64>,
    io_timeout_ms: Option<u64>,
    max_idle_connections: Option<usize>,
    max_connections: Option<usize>,
    cas_attempts: Option<u32>,
}

/// Add `session_type = "memcache"` to a registry.
///
/// Settings read from the interface's document:
///
/// | setting | meaning |
/// |---|---|
/// | `servers` | the pool: `["10.0.0.1:11211", "memcache://10.0.0.2:11211", ...]` |
/// | `url` | instead of `servers`: one `memcache://host:port`, or several separated by commas |
/// | `connect_timeout_ms` | connecting to one server (default 1000) |
/// | `io_timeout_ms` | one exchange with a server (default: 3/4 of the interface's `timeout_ms`, else 1000) |
/// | `max_idle_connections` | idle connections kept per server (default 8) |
/// | `max_connections` | connections in use per server at most (default: no cap) |
/// | `cas_attempts` | compare-and-swap rounds per write before giving up (default 64) |
///
/// Exactly one of `servers` and `url` must be given; any other key is an
/// error naming it. The store probes the servers while the configuration is
/// built: an unresolvable address, or a pool where no server accepts a
/// connection, fails at start-up.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use session_plus_core::{ConfigDocument, Key, StoreRegistry};
///
/// let mut registry = StoreRegistry::new();
/// session_plus_memcache::register(&mut registry);
/// assert!(registry.knows("memcache"));
///
/// let doc = ConfigDocument::from_toml(r#"
///     [[interface]]
///     cookie_name = "session"
///     session_type = "memcache"
///     server = ["127.0.0.1:11211"]
/// "#).unwrap();
/// let err = doc.build(Key::generate().into(), &registry).await.unwrap_err();
/// assert!(err.is_config() && err.to_string().contains("server"), "{err}");
/// # });
/// ```
pub fn register(registry: &mut StoreRegistry) {
    let factory: StoreFactory = Arc::new(|doc| Box::pin(build(doc)));
    registry.register("memcache", factory);
}

async fn build(doc: &InterfaceDocument) -> Result<Arc<dyn SessionStore>> {
    let name = doc.name();
    let settings: Settings = doc.backend_settings()?;
    let servers: Vec<String> = match (settings.servers, doc.url.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(Error::config(
                name,
                "servers",
                "give either `servers` or `url`, not both",
            ))
        }
        (Some(list), None) => server_list(name, &list)?,
        (None, Some(url)) => url.split(',').map(str::to_owned).collect(),
        (None, None) => {
            return Err(Error::config(
                name,
                "servers",
                "session_type `memcache` needs `servers = [\"host:port\", ...]` (or a `url`)",
            ))
        }
    };
    let millis = |setting: &str, value: Option<u64>| -> Result<Option<Duration>> {
        match value {
            None => Ok(None),
            Some(0) => Err(Error::config(
                name,
                setting,
                "must be a positive number of milliseconds",
            )),
            Some(ms) => Ok(Some(Duration::from_millis(ms))),
        }
    };
    let mut options = MemcacheOptions::default();
    if let Some(d) = millis("connect_timeout_ms", settings.connect_timeout_ms)? {
        options = options.connect_timeout(d);
    }
    // Below the core's call timeout, so the client sees a stalled server
    // itself and throws its connection away.
    let below_core = doc
        .timeout_ms
        .map(|ms| Duration::from_millis((ms * 3 / 4).max(1)));
    if let Some(d) = millis("io_timeout_ms", settings.io_timeout_ms)?.or(below_core) {
        options = options.io_timeout(d);
    }
    if let Some(n) = settings.max_idle_connections {
        options = options.max_idle_connections(n);
    }
    if let Some(n) = settings.max_connections {
        if n == 0 {
            return Err(Error::config(name, "max_connections", "must be at least 1"));
        }
        options = options.max_connections(Some(n));
    }
    if let Some(n) = settings.cas_attempts {
        if n == 0 {
            return Err(Error::config(name, "cas_attempts", "must be at least 1"));
        }
        options = options.cas_attempts(n);
    }
    let store = MemcacheStore::connect_named(name, &servers, options).await?;
    Ok(Arc::new(store))
}

/// `servers` as a list of strings (a single string is a pool of one).
fn server_list(name: &str, value: &serde_json::Value) -> Result<Vec<String>> {
    let bad = || {
        Error::config(
            name,
            "servers",
            "must be a list of \"host:port\" or \"memcache://host:port\" strings",
        )
    };
    match value {
        serde_json::Value::String(s) => Ok(vec![s.clone()]),
        serde_json::Value::Array(list) => list
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_plus_core::{ConfigDocument, Key};

    async fn build_err(toml: &str) -> Error {
        let mut registry = StoreRegistry::new();
        register(&mut registry);
        let doc = ConfigDocument::from_toml(toml).unwrap();
        doc.build(Key::generate().into(), &registry)
            .await
            .unwrap_err()
    }

    const HEAD: &str = "[[interface]]\ncookie_name = \"s\"\nsession_type = \"memcache\"\n";

    #[tokio::test]
    async fn config_errors_name_the_interface_and_setting() {
        for (extra, setting) in [
            ("", "servers"),
            ("servers = []\n", "servers"),
            ("servers = [\"redis://x:1\"]\n", "servers"),
            ("servers = [\"a:1\", \"a:1\"]\n", "servers"),
            ("servers = [\"a:notaport\"]\n", "servers"),
            ("servers = 5\n", "servers"),
            ("servers = [\"a:1\", 2]\n", "servers"),
            (
                "servers = [\"a:1\"]\nurl = \"memcache://a:1\"\n",
                "not both",
            ),
            ("servers = [\"a:1\"]\nio_timeout_ms = 0\n", "io_timeout_ms"),
            ("servers = [\"a:1\"]\ncas_attempts = 0\n", "cas_attempts"),
            (
                "servers = [\"a:1\"]\nmax_connections = 0\n",
                "max_connections",
            ),
            ("servers = [\"a:1\"]\nio_timeout = 5\n", "io_timeout"),
        ] {
            let e = build_err(&format!("{HEAD}{extra}")).await;
            assert!(e.is_config(), "{extra}: {e}");
            assert_eq!(e.interface(), Some("s"), "{extra}");
            assert!(e.to_string().contains(setting), "{extra}: {e}");
        }
    }

    #[tokio::test]
    async fn unreachable_pool_fails_at_start_up() {
        let (a, b) = (
            session_plus_testkit::free_port(),
            session_plus_testkit::free_port(),
        );
        let e = build_err(&format!(
            "{HEAD}servers = [\"127.0.0.1:{a}\", \"memcache://127.0.0.1:{b}\"]\nconnect_timeout_ms = 200\n"
        ))
        .await;
        assert!(e.is_backend(), "{e:?}");
        assert_eq!(e.interface(), Some("s"));
    }
}

//! `session_type = "sqlite"` for configuration documents.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use session_plus_core::config::{InterfaceDocument, StoreFactory};
use session_plus_core::store::SessionStore;
use session_plus_core::{Error, Result, StoreRegistry};

use crate::{SqliteOptions, SqliteStore};

/// How often the expiry sweeper runs unless `sweep_interval` says otherwise.
const DEFAULT_SWEEP: Duration = Duration::from_secs(300);

/// Add `session_type = "sqlite"` to a registry.
///
/// `url` names the database: `sqlite://path/to/file.db`, a bare path, or
/// `sqlite::memory:` (a private in-memory database). Other settings:
///
/// | setting | meaning |
/// |---|---|
/// | `readers` | read-only connections serving loads (default 4) |
/// | `busy_timeout_ms` | wait for another process's lock (default 5000) |
/// | `sweep_interval` | how often expired records are deleted (default 300) |
///
/// The database is opened (and created if missing) while the configuration
/// is built, so a wrong or unwritable path fails at start-up with an error
/// naming the interface, the path and the operating system's reason. An
/// unknown setting is an error naming it.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use session_plus_core::{ConfigDocument, Key, StoreRegistry};
///
/// let mut registry = StoreRegistry::new();
/// session_plus_sqlite::register(&mut registry);
/// let dir = tempfile::tempdir().unwrap();
/// let doc = ConfigDocument::from_toml(&format!(r#"
///     [[interface]]
///     cookie_name = "session"
///     session_type = "sqlite"
///     url = "sqlite://{}/sessions.db"
///     readers = 2
/// "#, dir.path().display())).unwrap();
/// let manager = doc.build(Key::generate().into(), &registry).await.unwrap();
/// assert!(manager.store("session").is_some());
/// # });
/// ```
pub fn register(registry: &mut StoreRegistry) {
    let factory: StoreFactory = Arc::new(|doc| Box::pin(build(doc)));
    registry.register("sqlite", factory);
}

/// The settings of a `sqlite` interface besides the common ones.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqliteSettings {
    #[serde(default)]
    readers: Option<usize>,
    #[serde(default)]
    busy_timeout_ms: Option<u64>,
    #[serde(default)]
    sweep_interval: Option<NonZeroU64>,
}

async fn build(doc: &InterfaceDocument) -> Result<Arc<dyn SessionStore>> {
    let settings: SqliteSettings = doc.backend_settings()?;
    let url = doc.require_url()?;
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    let mut options = SqliteOptions::default();
    if let Some(n) = settings.readers {
        options = options.readers(n);
    }
    if let Some(ms) = settings.busy_timeout_ms {
        options = options.busy_timeout(Duration::from_millis(ms));
    }
    let store = if path == "sqlite::memory:" || path == ":memory:" {
        SqliteStore::open_in_memory()
    } else {
        SqliteStore::open_with(path, options)
    }
    .map_err(|e| {
        // The store labels its own errors with the backend type; people need
        // the interface's name, then the store's words (path, OS reason).
        let mut why: Vec<String> = Vec::new();
        for c in std::iter::successors(std::error::Error::source(&e), |c| c.source()) {
            let text = c.to_string();
            if c.downcast_ref::<Error>().is_none() && !why.iter().any(|w| w.contains(&text)) {
                why.push(text);
            }
        }
        let why = if why.is_empty() {
            e.to_string()
        } else {
            why.join(": ")
        };
        Error::config(
            doc.name(),
            "url",
            format!("the SQLite database cannot be used: {why}"),
        )
    })?;
    let every = settings
        .sweep_interval
        .map_or(DEFAULT_SWEEP, |s| Duration::from_secs(s.get()));
    // The sweeper holds only a weak reference: it ends with the store.
    drop(store.spawn_sweeper(every));
    Ok(Arc::new(store))
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

    #[tokio::test]
    async fn errors_name_the_interface_the_setting_the_path_and_the_cause() {
        let base = "[[interface]]\ncookie_name = \"s\"\nsession_type = \"sqlite\"\n";
        let e = build_err(base).await;
        assert!(e.is_config() && e.to_string().contains("url"), "{e}");
        assert_eq!(e.interface(), Some("s"));

        let e = build_err(&format!("{base}url = \"sqlite::memory:\"\nreaderz = 2\n")).await;
        assert!(e.is_config() && e.to_string().contains("readerz"), "{e}");
        assert_eq!(e.interface(), Some("s"));

        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/dir/s.db");
        let e = build_err(&format!("{base}url = \"sqlite://{}\"\n", missing.display())).await;
        let chain = format!("{e:#}");
        assert!(e.is_config() && e.interface() == Some("s"), "{chain}");
        assert!(chain.contains(&missing.display().to_string()), "{chain}");
        assert!(chain.contains("No such file or directory"), "{chain}");
    }
}

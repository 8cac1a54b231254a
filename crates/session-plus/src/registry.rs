//! The backends this build knows by `session_type` name.

use session_plus_core::StoreRegistry;

/// A [`StoreRegistry`] with every backend enabled by this crate's features:
/// `memory` always, `sqlite` (feature `sqlite`; `url = "sqlite://path/to/file.db"`
/// or `sqlite::memory:`, optional `readers`, `busy_timeout_ms`, `sweep_interval`
/// in seconds), `redis` (feature `redis`), `firestore` (feature
/// `firestore`).
///
/// Also `memcache` (feature `memcache`; `servers = ["host:port", ...]`).
///
/// Also `mongodb` (feature `mongodb`; `url = "mongodb://..."`, `db`,
/// `collection`, optional `create_ttl_index`).
///
/// ```
/// let registry = session_plus::default_registry();
/// assert!(registry.knows("memory"));
/// # #[cfg(feature = "sqlite")]
/// assert!(registry.knows("sqlite"));
/// ```
pub fn default_registry() -> StoreRegistry {
    #[allow(unused_mut)]
    let mut registry = StoreRegistry::new();
    #[cfg(feature = "sqlite")]
    {
        registry.register("sqlite", std::sync::Arc::new(sqlite_factory));
    }
    #[cfg(feature = "redis")]
    {
        session_plus_redis::register(&mut registry);
    }
    #[cfg(feature = "memcache")]
    {
        session_plus_memcache::register(&mut registry);
    }
    #[cfg(feature = "firestore")]
    {
        session_plus_firestore::register(&mut registry);
    }
    #[cfg(feature = "mongodb")]
    {
        session_plus_mongodb::register(&mut registry);
    }
    registry
}

/// `session_type = "sqlite"`: `url = "sqlite://path/to/file.db"` (or a bare
/// path, or `sqlite::memory:`), and the optional settings of
/// [`SqliteSettings`]. Expired rows are swept while the store lives.
#[cfg(feature = "sqlite")]
fn sqlite_factory(
    doc: &session_plus_core::config::InterfaceDocument,
) -> session_plus_core::config::StoreFuture<'_> {
    use session_plus_core::Error;
    use session_plus_sqlite::{SqliteOptions, SqliteStore};
    Box::pin(async move {
        let settings: SqliteSettings = doc.backend_settings()?;
        let url = doc.require_url()?;
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        let store = if path == "sqlite::memory:" || path == ":memory:" {
            SqliteStore::open_in_memory()?
        } else {
            let cannot_open = |why: &dyn std::fmt::Display| {
                Error::config(
                    doc.name(),
                    "url",
                    format!("cannot open the SQLite file `{path}`: {why}"),
                )
            };
            // SQLite reports only "unable to open database file": ask the OS
            // first, so the message says why (missing directory, permissions).
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(|e| cannot_open(&e))?;
            let mut options = SqliteOptions::default();
            if let Some(n) = settings.readers {
                options = options.readers(n);
            }
            if let Some(ms) = settings.busy_timeout_ms {
                options = options.busy_timeout(std::time::Duration::from_millis(ms));
            }
            SqliteStore::open_with(path, options).map_err(|e| {
                // The store labels its errors `sqlite`; name the interface,
                // and keep SQLite's own words.
                let root = std::iter::successors(
                    std::error::Error::source(&e),
                    |c| c.source(),
                )
                .last()
                .map_or_else(|| e.to_string(), ToString::to_string);
                cannot_open(&root)
            })?
        };
        let sweep = settings.sweep_interval.unwrap_or(300).max(1);
        drop(store.spawn_sweeper(std::time::Duration::from_secs(sweep)));
        Ok(std::sync::Arc::new(store)
            as std::sync::Arc<
                dyn session_plus_core::store::SessionStore,
            >)
    })
}

/// The settings of a `session_type = "sqlite"` interface beyond the common
/// ones (all optional). Any other key is an error naming it.
///
/// | setting | meaning |
/// |---|---|
/// | `url` | `sqlite://path/to/file.db`, a bare path, or `sqlite::memory:` (required) |
/// | `readers` | reader connections (default 4) |
/// | `busy_timeout_ms` | how long a writer waits for a lock (default 5000) |
/// | `sweep_interval` | seconds between deletions of expired rows (default 300) |
#[cfg(feature = "sqlite")]
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SqliteSettings {
    readers: Option<usize>,
    busy_timeout_ms: Option<u64>,
    sweep_interval: Option<u64>,
}

//! The backends this build knows by `session_type` name.

use session_plus_core::StoreRegistry;

/// A [`StoreRegistry`] with every backend enabled by this crate's features:
/// `memory` always, `sqlite` (feature `sqlite`; `url = "sqlite://path/to/file.db"`
/// or `sqlite::memory:`), `redis` (feature `redis`).
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
    registry
}

/// `session_type = "sqlite"`: `url = "sqlite://path/to/file.db"` (or a bare
/// path, or `sqlite::memory:`). Expired rows are swept every five minutes
/// while the store lives.
#[cfg(feature = "sqlite")]
fn sqlite_factory(
    doc: &session_plus_core::config::InterfaceDocument,
) -> session_plus_core::config::StoreFuture<'_> {
    use session_plus_sqlite::SqliteStore;
    Box::pin(async move {
        let url = doc.require_url()?;
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        let store = if path == "sqlite::memory:" || path == ":memory:" {
            SqliteStore::open_in_memory()?
        } else {
            SqliteStore::open(path)?
        };
        drop(store.spawn_sweeper(std::time::Duration::from_secs(300)));
        Ok(std::sync::Arc::new(store)
            as std::sync::Arc<
                dyn session_plus_core::store::SessionStore,
            >)
    })
}

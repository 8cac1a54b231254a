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
        registry = session_plus_sqlite::register(registry);
    }
    #[cfg(feature = "redis")]
    {
        registry = session_plus_redis::register(registry);
    }
    registry
}

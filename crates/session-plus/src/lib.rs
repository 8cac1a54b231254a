#![doc = include_str!("../README-crate.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod extract;
mod future;
mod layer;
mod registry;
mod service;

pub use error::SessionError;
#[cfg(feature = "axum")]
pub use extract::MissingSessionLayer;
pub use extract::Session;
pub use future::ResponseFuture;
pub use layer::SessionLayer;
pub use registry::default_registry;
pub use service::SessionService;

pub use session_plus_core::{
    config, cookie_format, store, ConfigDocument, Error, FieldRules, Interface, Key, KeyRing,
    MemoryStore, Outcome, Result, SameSite, SessionDriver, SessionManager, SessionManagerBuilder,
    StoreRegistry,
};

/// The embedded SQLite backend.
#[cfg(feature = "sqlite")]
pub use session_plus_sqlite as sqlite;

/// The Redis backend.
#[cfg(feature = "redis")]
pub use session_plus_redis as redis;

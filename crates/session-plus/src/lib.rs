#![doc = include_str!("../README-crate.md")]
// docs.rs builds with every feature and `--cfg docsrs`: each feature-gated
// item then says which feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]
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

/// The embedded SQLite backend (feature `sqlite`): [`SqliteStore`](sqlite::SqliteStore)
/// for code, `session_type = "sqlite"` in documents (see [`default_registry`]).
#[cfg(feature = "sqlite")]
pub use session_plus_sqlite as sqlite;

/// The Redis backend, standalone and cluster (feature `redis`):
/// [`RedisStore`](redis::RedisStore) for code, `session_type = "redis"` in documents.
#[cfg(feature = "redis")]
pub use session_plus_redis as redis;

/// The memcache backend, a pool of servers with consistent hashing (feature
/// `memcache`): [`MemcacheStore`](memcache::MemcacheStore) for code,
/// `session_type = "memcache"` in documents.
#[cfg(feature = "memcache")]
pub use session_plus_memcache as memcache;

/// The MongoDB backend (feature `mongodb`): [`MongoStore`](mongodb::MongoStore)
/// for code, `session_type = "mongodb"` in documents.
#[cfg(feature = "mongodb")]
pub use session_plus_mongodb as mongodb;

/// The Google Cloud Firestore backend (feature `firestore`):
/// [`FirestoreStore`](firestore::FirestoreStore) for code,
/// `session_type = "firestore"` in documents.
#[cfg(feature = "firestore")]
pub use session_plus_firestore as firestore;

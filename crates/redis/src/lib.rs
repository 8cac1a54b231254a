//! Redis and Redis Cluster backend for **session-plus**.
//!
//! [`RedisStore`] implements the core's
//! [`SessionStore`](session_plus_core::store::SessionStore): one Redis hash per
//! session record, written field by field, one round trip per call.
//!
//! ```no_run
//! # async fn demo() -> session_plus_core::Result<()> {
//! use std::sync::Arc;
//! use session_plus_core::{FieldRules, Interface, Key, SessionManager};
//! use session_plus_redis::RedisStore;
//!
//! let store = RedisStore::from_url("redis://127.0.0.1:6379").await?;
//! // or: RedisStore::from_cluster_urls(&["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]).await?
//! let manager = SessionManager::builder()
//!     .keys(Key::generate())
//!     .interface(Interface::store("session", Arc::new(store)).fields(FieldRules::include(["user_id"])))
//!     .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
//!     .build()?;
//! # let _ = manager; Ok(()) }
//! ```
//!
//! From a configuration document, add the backend to the registry with
//! [`register`] and write `session_type = "redis"` with `url = "redis://..."`
//! (or `cluster_urls = [...]`).
//!
//! # Layout
//!
//! - Key: `key_prefix + session id`
//!   ([`RecordKey::store_key`](session_plus_core::RecordKey::store_key)).
//! - A hash per record: each session field is a hash field holding the value's
//!   JSON text; the record's meta (permanence, creation, last access, expiry,
//!   tombstone flag, binding) is in the reserved field [`META_FIELD`]
//!   (`"\0meta"`, a name the core's field-name check makes impossible for
//!   users) as `2|permanent|created|accessed|expires|moved|binding`: this
//!   crate's own format, simple for the scripts to merge. The JSON meta that
//!   earlier versions wrote there is still read, and converted by the next
//!   write.
//! - The key's expiry is set with `PEXPIREAT` to exactly the absolute expiry
//!   of the record, and moved when a write makes it later (or shortens it on
//!   purpose: the session was made non-permanent).
//! - A tombstone (the old id of a session that moved at login) is a hash
//!   holding only the meta field, flagged moved, expiring after the core's
//!   grace period.
//!
//! This is not the flask-session-plus layout (a `SETEX` string): that package
//! never managed to store anything in Redis (its interop spec, section 4), so
//! there are no records to stay compatible with, and a hash is what allows
//! field-level writes. A non-hash value found under a session key reads as
//! absent and is never overwritten.
//!
//! # Round trips
//!
//! | call | commands |
//! |---|---|
//! | `load` | `HGETALL` |
//! | `create` | one script: fail if a live record or tombstone is there, else `HSET` all fields and meta, `PEXPIREAT` |
//! | `update`, `touch` | one script: fail if there is no live record or only a tombstone (never resurrects a deleted or moved session), else `HDEL`/`HSET` the changed fields, merge the meta field by field, `PEXPIREAT` if the expiry moved |
//! | `supersede` | one script on one key (cluster-safe): `HGETALL` the record, replace it by its tombstone, return what it held |
//! | `move_to` (login) | standalone: one script on both keys (supersede the old one, create the new one from what it held); cluster: `supersede` then `create` (the keys are in different slots) |
//! | `delete` | `DEL` |
//! | `delete_by_field` (end a user's sessions) | `SCAN MATCH prefix* TYPE hash` (on every master of a cluster), then one check-and-delete script per key found: a keyspace pass, for rare events |
//!
//! Scripts run by hash (`EVALSHA`); only when a server does not know a script
//! yet (first use, or after it restarted) is it sent once more with `EVAL`.
//! Through the core's `Session`, a request that does not touch the session's
//! fields costs no command, a read-only request one `HGETALL`, and a request
//! that changes fields one `HGETALL` plus one `EVALSHA` (the crate's
//! `round_trips` test measures this with `INFO commandstats`). Two concurrent
//! requests that change different fields both survive: each script only
//! writes the fields its request changed, and merges the meta inside the
//! script (permanence only when the request changed it; last access and
//! expiry only forward unless the session was made non-permanent), so a
//! concurrent write never undoes `set_permanent(true)`. A login moves the
//! record atomically: every write acknowledged before it is carried over,
//! later ones find the tombstone and are refused.
//!
//! # Redis Cluster
//!
//! Every call touches exactly one key (`move_to` is made of two such calls in
//! a cluster), so every command and script runs on the node that owns the
//! key's slot; the cluster client routes `EVALSHA`/`EVAL` by their key,
//! follows `MOVED`/`ASK` and refreshes its slot map by itself.
//!
//! # Near cache
//!
//! [`NearCachedStore`] (opt-in; `near_cache = true` in a configuration
//! document) keeps decoded records in the app server and answers unchanged
//! reads with no round trip; Redis invalidates them through RESP3 client
//! tracking, on a standalone server ([`NearCachedStore::connect`]) or on
//! every master of a cluster ([`NearCachedStore::connect_cluster`]). Its
//! [module docs](near_cache) state the guarantee and the remaining windows.
//!
//! # Failures
//!
//! The core bounds every call with the interface's timeout and turns errors
//! into 503 responses without saving anything it could not load. The client
//! also has its own connection and reply timeouts ([`RedisOptions`]; keep the
//! reply timeout below the interface's timeout), so a frozen server or a dead
//! socket fails requests instead of holding them:
//!
//! - Redis restarted or unreachable: the connection re-establishes itself; the
//!   requests made while it is down fail fast, and the first one after it is
//!   back succeeds, with no action from the application (a refused connection
//!   means the command never left, so the store sends it once more on the
//!   connection the client is re-establishing; a command that may have
//!   reached the server is never re-sent).
//! - A reply that never comes (a peer gone without a reset, a frozen server):
//!   the request fails at the reply timeout, and a store built from a URL or a
//!   client ([`RedisStore::from_url`], [`RedisStore::from_client`],
//!   [`RedisStore::from_cluster_urls`]) replaces that connection, which the
//!   client library alone would keep forever. A connection handed over with
//!   [`RedisStore::new`] or [`RedisStore::cluster`] cannot be remade.
//! - Redis Cluster: a dead master fails only the sessions whose slots it owns.
//!
//! The crate's `faults` tests kill, restart, stall (`DEBUG SLEEP`), freeze
//! (SIGSTOP) and black-hole real servers and count errors and lost writes.
//! Acknowledged writes survive a Redis crash only as far as Redis's own
//! persistence allows (`appendfsync always` loses none).
//!
//! Expiry: the core computes the absolute expiry with the application's clock;
//! Redis deletes the key at that instant by its own clock, and reads filter by
//! the application's clock too. Keep the clocks in sync (NTP): a skew shifts
//! when Redis frees the key by that much.
//!
//! Errors carry the client's error as their source; they never contain the
//! connection URL (it may hold a password), nor session ids.
//!
//! # Why redis-rs
//!
//! The client is [`redis`](https://docs.rs/redis) (redis-rs) with the
//! `tokio-comp`, `connection-manager`, `cluster-async` and `script` features,
//! rather than `fred`:
//! - it is the most widely used Rust Redis client, maintained under the Redis
//!   organisation, and the one other session crates (tower-sessions' and
//!   actix-session's Redis stores) build on, so users usually have it already;
//! - [`ConnectionManager`](redis::aio::ConnectionManager) and the async
//!   cluster connection reconnect by themselves, with connection and response
//!   timeouts: the recovery the backend needs, without a pool of our own;
//! - one small dependency tree with only the features used here; `fred` brings
//!   a larger runtime of its own (pools, its own reconnect policies and
//!   connection tasks) that this backend would not use.
//!
//! A client, a standalone connection or a cluster connection you built
//! yourself is taken by [`RedisStore::from_client`], [`RedisStore::new`] and
//! [`RedisStore::cluster`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod conn;
mod layout;
pub mod near_cache;
mod scripts;
mod store;

pub use config::register;
pub use layout::META_FIELD;
pub use near_cache::{NearCacheOptions, NearCacheStats, NearCachedStore};
pub use store::{RedisOptions, RedisStore};

/// The client crate, re-exported so callers build connections with the same
/// version this backend uses.
pub use redis;

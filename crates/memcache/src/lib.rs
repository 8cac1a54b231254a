//! memcached backend for **session-plus**: sessions in a pool of memcached
//! servers, spread by consistent hashing, written by compare-and-swap merges.
//!
//! ```no_run
//! # async fn demo() -> session_plus_core::Result<()> {
//! use std::sync::Arc;
//! use session_plus_core::{FieldRules, Interface, Key, SessionManager};
//! use session_plus_memcache::MemcacheStore;
//!
//! let store = MemcacheStore::connect(&["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"]).await?;
//! let manager = SessionManager::builder()
//!     .keys(Key::generate())
//!     .interface(Interface::store("session", Arc::new(store)).fields(FieldRules::include(["user_id"])))
//!     .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
//!     .build()?;
//! # let _ = manager; Ok(()) }
//! ```
//!
//! From a configuration document, add the backend to the registry with
//! [`register`] and write `session_type = "memcache"` with
//! `servers = ["10.0.0.1:11211", ...]` (see [`register`] for every setting).
//!
//! # Layout
//!
//! - Key: `key_prefix + session id`
//!   ([`RecordKey::store_key`](session_plus_core::RecordKey::store_key)), on
//!   the server [`StableRendezvous`] picks for it.
//! - One item per session: `{"m": meta, "f": fields}` as JSON, client flags
//!   [`ITEM_FLAGS`]. An item with other flags, or that does not parse, reads
//!   as absent and is never overwritten.
//! - Exptime: the record's expiry, sent as the remaining seconds when they
//!   are at most 30 days and as the absolute Unix time beyond (memcached's
//!   rule); reads also check the expiry in the item, by the application's
//!   clock.
//!
//! # Operations and round trips
//!
//! | call | commands (meta protocol) |
//! |---|---|
//! | `load` | `mg key v f c` (value, flags, CAS) |
//! | `create` | `ms key ME` (add: never overwrites); only if that finds an item: `mg`, and a CAS write over it if our clock says it expired |
//! | `update`, `touch` | read (`mg ... c`), merge ([`Changes::apply_to`](session_plus_core::store::Changes::apply_to)), `ms key C<cas>`; on a lost race read, merge and write again, at most [`MemcacheOptions::cas_attempts`] rounds |
//! | `supersede` (login) | read, then `ms key C<cas>` with the tombstone |
//! | `delete` | `md key` |
//! | `delete_by_field` | unsupported: memcached cannot search items |
//!
//! The read of an update is skipped when a `load` of the same key a moment
//! before saw the item (its bytes and CAS are remembered briefly, see
//! [`MemcacheOptions::snapshot_capacity`]): the CAS write fails if anything
//! changed since, and the update then reads afresh. So through the core's
//! `Session`, a request that does not touch the session's fields costs no
//! command, a read-only request one `mg`, and a request that changes fields
//! one `mg` plus one `ms` (gets + cas); the crate's `round_trips` test
//! counts them with memcached's `stats`.
//!
//! Two concurrent requests that change different fields both survive: each
//! merges its own changes into what the item holds and writes only if the
//! item did not change meanwhile, else merges again. An update of a missing
//! item (deleted, expired, evicted, or a tombstone) writes nothing: no
//! resurrection.
//!
//! Idle refresh (`touch`) is the same merge, not memcached's `touch`
//! command: the record's last access and expiry live inside the item and
//! must move with its exptime (expiry only forward, unless permanence was
//! turned off), and a tombstone must refuse the refresh; the `touch` command
//! only sets an exptime, blindly.
//!
//! # Failures
//!
//! memcached forgets: an item can be evicted under memory pressure, and a
//! server's items are gone when it restarts. That reads as no session (the
//! browser gets a fresh one), never as an error. Sessions on a server that
//! is down or stalled fail with 503 while it is unreachable; the other
//! servers' sessions keep working (keys are not moved to the survivors, so
//! a session never splits over two servers). Every exchange has the
//! client's I/O timeout ([`MemcacheOptions::io_timeout`]), below the
//! interface's timeout; a connection that timed out is thrown away, so a
//! server that comes back is used again with no action from the
//! application. A write whose answer was lost is reported as an error (its
//! outcome is unknown), never as a success.
//!
//! Errors never contain item keys (they hold session ids).
//!
//! # Why the `memcache` crate's `exp` module
//!
//! The client is [`memcache`](https://docs.rs/memcache)'s experimental
//! `exp::AsyncMetaClient` (tokio, meta protocol), pinned to one exact
//! version because the module may change without notice. It is the one
//! async Rust client found with everything this backend needs: `add`,
//! reads with CAS and CAS writes, exptimes, connect and per-exchange
//! timeouts, a connection pool per server, several servers with a pluggable
//! router, and failure attribution (a written request without an answer is
//! reported as ambiguous). Its default router hashes with `DefaultHasher`,
//! so this crate plugs in [`StableRendezvous`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod codec;
mod config;
mod error;
mod routing;
mod snapshots;
mod store;

pub use codec::ITEM_FLAGS;
pub use config::register;
pub use routing::StableRendezvous;
pub use store::{parse_server, MemcacheOptions, MemcacheStore};

/// The client crate, re-exported so callers build clients with the same
/// version this backend uses.
pub use memcache;

//! SQLite backend for **session-plus**: the embedded default for server-side
//! session fields.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use session_plus_core::{FieldRules, Interface, Key, SessionDriver, SessionManager};
//! use session_plus_sqlite::SqliteStore;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = SqliteStore::open(dir.path().join("sessions.db"))?;
//! let _sweeper = store.spawn_sweeper(Duration::from_secs(600));
//! let manager = Arc::new(
//!     SessionManager::builder()
//!         .keys(Key::generate())
//!         .interface(Interface::store("session", Arc::new(store)).fields(FieldRules::All))
//!         .build()?,
//! );
//!
//! let request = SessionDriver::new(manager.clone(), std::iter::empty::<&[u8]>());
//! request.session().insert("user_id", 42).await?;
//! let done = request.finish().await;
//! assert!(done.error.is_none());
//!
//! let cookie = done.cookie_header();
//! let request = SessionDriver::new(manager, [cookie.as_bytes()]);
//! assert_eq!(request.session().get::<u64>("user_id").await?, Some(42));
//! # Ok::<(), session_plus_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! From a configuration document, add the backend to the registry with
//! [`register`] and write `session_type = "sqlite"` with
//! `url = "sqlite://path/to/file.db"`.
//!
//! # Layout
//!
//! Three `STRICT` tables, created on open if missing (names prefixed so the
//! store can share a database with the application):
//!
//! - `session_plus_records(key, permanent, created, accessed, expires, binding, moved)`:
//!   one row per record, keyed by [`RecordKey::store_key`](session_plus_core::RecordKey::store_key);
//!   `moved` marks a tombstone (a session moved to a new id at login);
//! - `session_plus_fields(key, name, value_json)`: one row per field, the value
//!   as JSON text;
//! - `session_plus_schema(version)`: opening a database written by a newer,
//!   incompatible version of this crate fails instead of misreading it; a
//!   database of schema 1 (before tombstones) is upgraded in place.
//!
//! # Guarantees
//!
//! - **Field-level writes.** `update` is one `BEGIN IMMEDIATE` transaction that
//!   checks a live record is there, then upserts or deletes only the changed
//!   fields and merges the meta field by field (permanence only when the
//!   request changed it, times only forward unless it shortens on purpose).
//!   Two requests changing different fields of one session both survive, and
//!   neither undoes the other's permanence, also across processes sharing the
//!   file.
//! - **No resurrection.** `update` and `touch` of a missing or expired record,
//!   or of a tombstone, write nothing and return `false`.
//! - **Login without lost writes.** `supersede` (and `move_to`, which also
//!   creates the new record) is one `BEGIN IMMEDIATE` transaction: the record
//!   read is exactly what the tombstone replaces, so every acknowledged write
//!   is carried over and later ones are refused.
//! - **Expiry without a native TTL.** Records whose `expires` has passed are
//!   filtered out on every read and ignored by `update`/`touch`; `create` may
//!   reuse their key. They take disk space until swept by
//!   [`SessionStore::delete_expired`](session_plus_core::store::SessionStore::delete_expired)
//!   (in batches, so the write lock is never held long) — call it from a
//!   periodic job or let [`SqliteStore::spawn_sweeper`] do it.
//! - **Async-friendly.** SQLite calls block, so they run in
//!   [`tokio::task::spawn_blocking`]. One writer connection behind an async
//!   mutex (SQLite has one writer at a time anyway; queueing in-process avoids
//!   busy-waiting in SQLite's lock handler) and a small pool of read-only
//!   connections that `load` concurrently thanks to WAL mode.
//! - **Cancellation.** If the caller gives up (the interface timeout), the
//!   blocking call still finishes: a transaction commits or rolls back as a
//!   whole, never halfway.
//! - **Errors** are [`Error::backend`](session_plus_core::Error::backend) with
//!   the `rusqlite` error as source and the interface label `"sqlite"`; no
//!   message contains a session id.
//!
//! # Corrupt records
//!
//! A live record whose stored data cannot be decoded (a field value that is not
//! valid JSON, or text that is not UTF-8 — only possible if something other
//! than this crate wrote the database) is, as the design requires, **treated
//! as absent and logged at `warn`, never a panic and never an error**:
//!
//! - `load` returns `Ok(None)`, so the session layer starts a fresh session
//!   under a new id (in strict mode the corrupt id is never adopted);
//! - `update` and `touch` return `Ok(false)` and write nothing: the unreadable
//!   record is never patched into a half-readable one;
//! - `create` on its key returns `false` (a live row is there), so it is never
//!   overwritten either; fresh ids never collide with it in practice;
//! - `delete` removes it, and the sweeper removes it once it expires.
//!
//! To tell, `update` and `touch` decode the record's stored fields inside
//! their transaction before writing (sessions are small, and this is what
//! keeps an unreadable record from being patched).
//!
//! Returning an error instead would make every request carrying that cookie
//! fail with 503 until the record expired, for a fault no retry can fix.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod ops;
mod pool;
mod schema;
mod store;

pub use config::register;
pub use store::{SqliteOptions, SqliteStore};

/// The interface label on this backend's errors (a store does not know the
/// cookie name of the interface that uses it).
const LABEL: &str = "sqlite";

/// A `rusqlite` failure as a session-plus backend error, keeping the source.
fn db(e: rusqlite::Error) -> session_plus_core::Error {
    session_plus_core::Error::backend(LABEL, e)
}

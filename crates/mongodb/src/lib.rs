//! MongoDB backend for **session-plus**.
//!
//! [`MongoStore`] implements the core's
//! [`SessionStore`](session_plus_core::store::SessionStore): one document per
//! session record, written field by field with `$set`/`$unset`, expired by a
//! TTL index, one round trip per call, on the official driver
//! ([`mongodb`] 3.x).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use session_plus_core::{FieldRules, Interface, Key, SessionManager};
//! use session_plus_mongodb::{mongodb::Client, MongoStore};
//!
//! // The seed's three settings: a client, a database, a collection.
//! let client = Client::with_uri_str("mongodb://127.0.0.1:27017/?replicaSet=rs0").await?;
//! let store = MongoStore::new(client, "app", "sessions").await?;
//! let manager = SessionManager::builder()
//!     .keys(Key::generate())
//!     .interface(Interface::store("session", Arc::new(store)).fields(FieldRules::include(["user_id"])))
//!     .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
//!     .build()?;
//! # let _ = manager; Ok(()) }
//! ```
//!
//! From a configuration document, add the backend to the registry with
//! [`register`] and write `session_type = "mongodb"` with `url`, `db` and
//! `collection`.
//!
//! # Layout
//!
//! ```text
//! { _id: "<key prefix><session id>",
//!   fields: { "<field name>": <value>, ... },
//!   permanent: false, created: <date>, accessed: <date>, expires: <date>,
//!   binding: "<random>", moved: false }
//! ```
//!
//! - `_id` is the store key
//!   ([`RecordKey::store_key`](session_plus_core::RecordKey::store_key)).
//! - Field names are keys of the `fields` sub-document. A name can be any
//!   string a session accepts; MongoDB reads `.` in an update path as a step
//!   into a sub-document and reserves a leading `$`, so `%`, `.`, `$` (and
//!   NUL) are percent-encoded (`a.b` is stored as `a%2Eb`); every other
//!   character is kept.
//! - Values: `null`, booleans, strings and numbers are native BSON (integers
//!   as Int64, other numbers as doubles), readable and queryable in the
//!   database. Arrays, objects and integers above `i64::MAX` are stored as
//!   their JSON text in `{json: "..."}`: BSON cannot hold every JSON value
//!   (keys with `.` or a leading `$` inside values, nesting beyond MongoDB's
//!   100 levels, unsigned 64-bit integers), and the text round-trips exactly.
//! - `expires` is a BSON date; the TTL index `{expires: 1}` with
//!   `expireAfterSeconds: 0` is created when the store is built (turn it off
//!   with [`MongoOptions::ttl_index`] or `create_ttl_index = false` when you
//!   manage indexes yourself). MongoDB's TTL monitor deletes lazily (every
//!   60 s), so every read and write also filters on `expires`: an expired
//!   document is never returned, updated or revived.
//! - `moved` marks a tombstone left by a login (`cycle_id`): it holds no
//!   fields, refuses writes and lives a short while.
//!
//! This is not flask-session-plus's layout (`{id, val, _expiration,
//! _permanent}` with the whole session as one value): that package never
//! wrote anything on PyMongo 4 (its interop spec, section 4), so there are no
//! records to stay compatible with, and a sub-document per session is what
//! allows field-level writes.
//!
//! # Round trips
//!
//! | call | command |
//! |---|---|
//! | `load` | `find` by `_id` and `expires > now` |
//! | `create` | `update` with `upsert`, replacing only an expired document (see below) |
//! | `update`, `touch` | `update` (`updateOne`): filter `_id`, `expires > now`, `moved != true`; `$set`/`$unset` on the changed fields only, `$max` on `accessed` and `expires` (`$set` when the request shortens the lifetime on purpose), `$set` of `permanent` only when the request changed it |
//! | `supersede` (login) | `findAndModify` marking the record `moved` and returning it as that write left it (every acknowledged update is in it; none applies after it), then `update` trimming it to a tombstone (no fields, short expiry) |
//! | `move_to` (login) | `supersede` + `create` |
//! | `delete` | `delete` by `_id` |
//! | `delete_by_field` (end a user's sessions) | one `delete` (`deleteMany`) on `fields.<name>` and an `_id` prefix |
//!
//! Through the core's session, a request that does not touch the session's
//! fields costs no command, a read-only request one `find`, a request that
//! changes fields one `find` plus one `update`, a new session one `update`
//! (upsert), and a login (`cycle_id`) a `find`, a `findAndModify` and two
//! `update`s. The crate's `round_trips` test counts the commands the
//! driver sends.
//!
//! **Create** never overwrites a live record: its filter matches only a
//! document whose `expires` has passed (which it replaces). When a live
//! document (or a tombstone) holds the `_id`, the filter matches nothing, the
//! upsert tries to insert a second document with the same `_id`, and the
//! server refuses it with a duplicate-key error (code 11000): `create` answers
//! `false` and nothing was written. No transaction is needed.
//!
//! **Concurrency**: each update changes only the paths its request changed,
//! in one atomic single-document operation, so two requests writing
//! different fields of one session both survive; the `expires`/`moved`
//! filter makes an update of a deleted, expired or moved session match
//! nothing (the core turns that into a conflict, never a success).
//!
//! # Replica sets and failover
//!
//! - A `replicaSet=` URL (or any seed list) works as the driver documents it;
//!   reads and writes go to the primary (the store pins read preference
//!   `primary`, so a read never returns an older copy from a secondary).
//! - Writes use `w: "majority"` unless the client's options or URL set
//!   another write concern (or [`MongoOptions::write_concern`] does): an
//!   acknowledged session write is on a majority of members (and journaled,
//!   `writeConcernMajorityJournalDefault`), so it survives the failover of the
//!   primary; a `w: 1` write may be rolled back by one. `w: 0` is refused.
//! - The driver's retryable writes (on by default) retry `update` and
//!   `findAndModify` once after a primary steps down; `deleteMany` is not
//!   retryable and fails with an error instead.
//!
//! # Failures
//!
//! The core bounds every call with the interface's timeout and turns errors
//! into 503 responses without saving anything it could not load. The driver
//! reconnects by itself: while the server is down requests fail (at the
//! interface's timeout, or sooner at the URL's `serverSelectionTimeoutMS`),
//! and once it is back they succeed with no action from the application. A
//! stalled server (connections open, nothing answered) costs each request
//! the interface's timeout; the call is dropped and its connection closed.
//! The crate's `faults` tests kill, restart and freeze (SIGSTOP) a real
//! server and black-hole connections.
//!
//! Errors keep, as their source, the operation and the server's error code
//! and name, never the server's message (it may quote the session id) nor
//! the connection URL (it may hold a password).
//!
//! # Tested against
//!
//! No `mongod` can be installed where this crate is developed, so its tests
//! run against **SecantusDB** (PyPI, a pre-release): a server that speaks
//! MongoDB's wire protocol and implements its query and update language over
//! the WiredTiger engine, announcing itself as a one-member replica set. The
//! code uses only behaviour MongoDB documents; none of it depends on that
//! server's particulars.
//!
//! # Driver features
//!
//! The driver is used with its default features off except `compat-3-0-0`
//! (bson 2, the driver's default) and `rustls-tls` (TLS without OpenSSL). The
//! DNS resolver behind `mongodb+srv://` URLs is this crate's `dns-resolver`
//! feature; an application that builds its own [`mongodb::Client`] can enable
//! any other driver feature itself.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod error;
mod layout;
mod store;

pub use config::register;
pub use store::{MongoOptions, MongoStore};

/// The driver, re-exported so callers build clients with the same version
/// this backend uses.
pub use mongodb;

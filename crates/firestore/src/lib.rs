//! Google Cloud Firestore backend for **session-plus**: the seed's own
//! headline configuration (`'session_type': 'firestore', 'client':
//! firestore.Client(), 'collection': 'sessions'`).
//!
//! [`FirestoreStore`] implements the core's
//! [`SessionStore`](session_plus_core::store::SessionStore) over Firestore's
//! REST API with a [`FirestoreClient`] (the seed's `client`).
//!
//! ```no_run
//! # async fn demo() -> session_plus_core::Result<()> {
//! use std::sync::Arc;
//! use session_plus_core::{FieldRules, Interface, Key, SessionManager};
//! use session_plus_firestore::{FirestoreClient, FirestoreStore};
//!
//! // FIRESTORE_EMULATOR_HOST set: the emulator; else Google's credentials
//! // (feature `gcp-auth`).
//! let client = FirestoreClient::from_env("my-project").await?;
//! let manager = SessionManager::builder()
//!     .keys(Key::generate())
//!     .interface(Interface::secure_cookie("csrf").fields(FieldRules::include(["csrf_token"])))
//!     .interface(Interface::store("session", Arc::new(FirestoreStore::new(client, "sessions")?))
//!         .fields(FieldRules::include(["user_id", "user_data"])))
//!     .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
//!     .build()?;
//! # let _ = manager; Ok(()) }
//! ```
//!
//! From a configuration document, add the backend to a registry with
//! [`register`] and write `session_type = "firestore"`, `collection`,
//! `project_id` and optionally `emulator_host`.
//!
//! # Layout
//!
//! One document per session in the collection, its id the record key
//! (`key_prefix + session id`):
//!
//! | field | holds |
//! |---|---|
//! | `f_<name>` | each session field, as its JSON text (so every JSON value round-trips exactly: `u64` beyond `i64`, arrays in arrays, deep nesting, `-0.0`, which Firestore's native values cannot all hold) |
//! | `_expiration` | expiry, a timestamp: the field for a TTL policy |
//! | `_permanent` | permanence |
//! | `_created`, `_accessed` | Unix seconds |
//! | `_binding`, `_moved` | which session the record belongs to; tombstone marker |
//!
//! The `f_` prefix keeps any session field name (dots, backticks, spaces,
//! unicode, `__proto__`, which Firestore reserves) away from the meta fields;
//! field paths in update masks and queries are backquoted when they are not
//! plain identifiers ([`quote_field`]). [`crate::flask`] is the other layout,
//! flask-session-plus's own records, for sharing sessions with a Flask app.
//!
//! # Expiry and the TTL policy
//!
//! Every read checks `_expiration`, because Firestore's TTL deletion is lazy
//! (typically within a day) and the emulator has none. To let Firestore free
//! expired documents, create a TTL policy on the field once:
//!
//! ```text
//! gcloud firestore fields ttls update _expiration --collection-group=sessions --enable-ttl
//! ```
//!
//! Without one (or on the emulator), call
//! [`delete_expired`](session_plus_core::store::SessionStore::delete_expired)
//! now and then: a query on `_expiration` and conditional deletes.
//!
//! # Never resurrecting, without transactions
//!
//! Writes use **preconditions**, not transactions: a create commits with
//! `currentDocument.exists = false`; every other write carries the document's
//! `updateTime` as seen when its meta was read (`currentDocument.updateTime`),
//! and is retried from a fresh read when the document changed meanwhile. So
//! an update is computed from a live, non-tombstone record and lands only if
//! that is still the stored version: it never applies to a deleted, expired
//! or superseded document, and a refresh never revives one. Two requests
//! changing different fields both survive (each masks only its fields; the
//! second one's precondition fails once and it re-applies its delta).
//! `supersede` replaces the document by its tombstone under the version it
//! read, so no write is applied after its snapshot; `move_to` supersedes the
//! old id and creates the new one in **one** commit. Preconditions take no
//! locks, cost no extra round trip for `beginTransaction`, and behave the same
//! on the emulator and the real service.
//!
//! # Round trips
//!
//! The store remembers the `updateTime` and meta of documents it just read or
//! wrote (a bounded map; only a hint, guarded by the precondition), so a save
//! right after a load is one commit:
//!
//! | call | HTTP requests |
//! |---|---|
//! | `load` | 1 `GET` |
//! | `create` | 1 `commit` (2 more only over an expired document) |
//! | `update`, `touch` after a load | 1 `commit` (+1 `GET` and 1 `commit` per concurrent writer it lost to) |
//! | `supersede`, `move_to` (login) | 1 `GET` + 1 `commit` |
//! | `delete` | 1 `commit` |
//! | `delete_by_field`, `delete_expired` | 1 `runQuery` + 1 `commit` per 500 documents |
//!
//! Through the core's `Session`: a request that does not touch the session's
//! fields costs nothing, a read-only request one `GET`, a request that
//! changes fields one `GET` and one `commit` (the crate's `round_trips` test
//! counts them).
//!
//! # Failures
//!
//! The core bounds every call with the interface's timeout (a stalled
//! Firestore fails the request with 503, the connection is dropped); the HTTP
//! client reconnects by itself when Firestore comes back. Errors carry the
//! HTTP status and Firestore's status code, never the server's message
//! (which may quote a document name, i.e. a session id), a URL or a token.
//!
//! # Why REST over `reqwest`
//!
//! The `firestore` crate (gRPC over `tonic`/`gcloud-sdk`) works against the
//! emulator but needs Rust 1.91 (the workspace supports 1.88), compiles
//! aws-lc-sys and openssl-sys from C and pulls about 200 crates. This backend
//! needs three calls (`GET` a document, `commit`, `runQuery`), each one
//! request in REST; [`reqwest`] with rustls (no default features) does them
//! with about half the crates and no C toolchain beyond `ring`'s. Credentials
//! are a [`TokenSource`]: [`EmulatorTokens`] for the emulator,
//! `GcpAuthTokens` (feature `gcp-auth`, the `gcp_auth` crate: service
//! account, metadata server, application default credentials) for
//! production, or your own.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod config;
pub mod flask;
mod store;
mod value;

#[cfg(feature = "gcp-auth")]
pub use client::GcpAuthTokens;
pub use client::{
    BoxError, EmulatorTokens, FirestoreClient, StaticToken, TokenSource, DATASTORE_SCOPE,
    FIRESTORE_ENDPOINT,
};
pub use config::register;
pub use store::{FirestoreStore, EXPIRATION_FIELD, FIELD_PREFIX, PERMANENT_FIELD};
pub use value::quote_field;

/// The HTTP client crate, re-exported for [`FirestoreClient::with_http_client`].
pub use reqwest;

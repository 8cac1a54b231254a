//! flask-session-plus's Firestore records, so a Flask app using that
//! package's `firestore` backend and a Rust app share logged-in users.
//!
//! [`FirestoreStore::flask_session_plus`](crate::FirestoreStore::flask_session_plus)
//! reads and writes documents exactly as flask-session-plus 0.6.2 does:
//!
//! - document id: `key_prefix + sid` (the interface's `key_prefix`, default
//!   `session`; Python's sid is a UUID, which the core accepts as an id);
//! - `_expiration`: a timestamp (now + lifetime), checked on every read;
//! - `_permanent`: a boolean;
//! - every session field at the top level as a native Firestore value:
//!   integers, doubles, strings, booleans, null, arrays and maps as they
//!   are; `bytes` and `datetime` as Flask's TaggedJSON forms
//!   (`{" b": base64}`, `{" d": "Tue, 02 Jan 2024 03:04:05 GMT"}`, whole
//!   seconds), so `session_plus_flask::Bytes` and `HttpDate` work on them.
//!
//! Python writes whole documents (`set`); Rust writes only the fields a
//! request changed (an update mask) under a version precondition, so it never
//! undoes a concurrent Python write. Values Firestore cannot hold natively
//! (integers beyond 64-bit signed, arrays directly inside arrays, more than 20
//! levels, empty or `__x__` map keys) are refused with a serialization error
//! (HTTP 400); a document holding values JSON cannot (NaN, references, geo
//! points) is logged and read as absent, never overwritten.
//!
//! Python keeps neither a creation nor a last-access time: the store derives
//! the last write from `_expiration` minus the lifetime, so give it the
//! interface's lifetimes with
//! [`lifetimes`](crate::FirestoreStore::lifetimes). There are no tombstones
//! in this layout (Python would read any marker as session data): a login
//! (`cycle_id`) deletes the old document in the same commit that creates the
//! new one, conditionally on the version it copied.
//!
//! Python's own `use_signer=True` id cookie is `session_plus_flask::FlaskIdSigner`.
//!
//! ```no_run
//! # async fn demo() -> session_plus_core::Result<()> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use session_plus_core::{FieldRules, Interface, Key, SessionManager};
//! use session_plus_firestore::{FirestoreClient, FirestoreStore};
//!
//! let client = FirestoreClient::from_env("my-project").await?;
//! let store = FirestoreStore::flask_session_plus(client, "sessions")?
//!     .lifetimes(Duration::from_secs(86_400), Duration::from_secs(31 * 86_400));
//! let manager = SessionManager::builder()
//!     .keys(Key::generate())
//!     .interface(Interface::store("session", Arc::new(store))
//!         .fields(FieldRules::include(["user_id", "user_data"])))
//!     .build()?;
//! # let _ = manager; Ok(()) }
//! ```

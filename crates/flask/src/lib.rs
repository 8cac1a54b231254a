//! Share sessions with a running Flask app, so routes can move from Flask to
//! Rust one at a time while users stay logged in.
//!
//! Each piece makes one session-plus interface speak a Python format exactly:
//!
//! | Python side | Rust side |
//! |---|---|
//! | Flask's default session cookie (`SECRET_KEY`, `SECRET_KEY_FALLBACKS`) | [`FlaskCookieFormat::flask`] in [`Interface::cookie_with_format`](session_plus_core::Interface::cookie_with_format) |
//! | flask-session-plus `secure_cookie` (SHA3-256) | [`FlaskCookieFormat::flask_session_plus`] |
//! | flask-session-plus `redis` records | [`FlaskRedisStore`] in [`Interface::store`](session_plus_core::Interface::store) |
//! | its `use_signer=True` id cookie | [`FlaskIdSigner`] in [`Interface::id_signer`](session_plus_core::Interface::id_signer) |
//! | Flask's TaggedJSON values (tuple, bytes, UUID, datetime, Markup) | the types of [`tagged`] |
//!
//! Values keep the tagged form Python wrote, so a field Rust does not touch goes
//! back to Python as the same Python type; read and write Python-only types
//! through [`Tuple`], [`Bytes`], [`Uuid`], [`HttpDate`], [`Markup`] (see
//! [`tagged`] for the whole convention). Numbers a Rust number cannot hold
//! (`NaN`, `Infinity`, integers beyond 64 bits) are kept exactly, as
//! [`RawNumber`]s; a payload that is not valid Python JSON, or holds a lone
//! surrogate (no Rust `String` can), is rejected whole, like a bad signature:
//! logged at warn, read as a new session, never half-read.
//!
//! Interop is exact in both directions and checked against the real Python
//! packages by this crate's tests (`tests/peer/`).
//!
//! ```
//! use std::sync::Arc;
//! use session_plus_core::{Interface, SessionDriver, SessionManager};
//! use session_plus_flask::{FlaskCookieFormat, FlaskSecrets, Tuple};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // SECRET_KEY = "secret-key-1" in the Flask app.
//! let format = FlaskCookieFormat::flask(FlaskSecrets::new("secret-key-1")?);
//! let manager = Arc::new(SessionManager::builder()
//!     .interface(Interface::cookie_with_format("session", Arc::new(format)))
//!     .build()?);
//! // A cookie Flask set: {"_permanent": true, "user_id": 7}.
//! # let now = session_plus_core::unix_now();
//! # let flask_cookie = {
//! #     use session_plus_core::cookie_format::CookieFormat;
//! #     use session_plus_core::store::{Record, RecordMeta};
//! #     let f = FlaskCookieFormat::flask(FlaskSecrets::new("secret-key-1")?);
//! #     f.encode(&Record::new(
//! #         [("user_id".to_owned(), serde_json::json!(7))].into(),
//! #         RecordMeta::new(now, 0, "").with_permanent(true),
//! #     ))
//! # };
//! let header = format!("session={flask_cookie}");
//! let driver = SessionDriver::new(manager, [header.as_bytes()]);
//! let session = driver.session();
//! assert_eq!(session.get::<u64>("user_id").await?, Some(7));
//! assert!(session.is_permanent("session").await?);
//! session.insert("point", Tuple((1, 2))).await?; // Python reads a tuple
//! let done = driver.finish().await;
//! assert_eq!(done.cookies.len(), 1);
//! # Ok::<(), session_plus_core::Error>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cookie;
mod id_signer;
mod json;
#[cfg(feature = "redis")]
mod redis_store;
mod signing;
pub mod tagged;

pub use cookie::{FlaskCookieFormat, FAR_FUTURE};
pub use id_signer::FlaskIdSigner;
#[cfg(feature = "redis")]
pub use redis_store::FlaskRedisStore;
pub use signing::FlaskSecrets;

/// The README section's examples compile (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README-migrating.md")]
struct ReadmeMigrating;
pub use tagged::{
    escape_dict, untag, Bytes, HttpDate, Markup, ParseError, RawNumber, Tuple, Untagged, Uuid,
};

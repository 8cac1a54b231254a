//! Framework-free core of **session-plus**: one logical session kept in several
//! places at once.
//!
//! Each field of the session is routed to the *interface* that owns it (a
//! signed or encrypted cookie, or a server-side store), while the handler reads
//! and writes one map through [`Session`]. The HTTP integration lives in the
//! `session-plus` crate; this crate has no web-framework dependency.
//!
//! - [`config`]: interfaces, field rules, documents ([`Interface`], [`FieldRules`],
//!   [`ConfigDocument`]);
//! - [`SessionManager`]: the validated configuration and routing;
//! - [`Session`]: the per-request handle handlers use;
//! - [`SessionDriver`]: the adapter side of a request (load lazily, save after
//!   the handler, one [`Outcome`] for the response);
//! - [`store`]: the [`SessionStore`](store::SessionStore) trait for server-side backends;
//! - [`cookie_format`]: how cookie interfaces encode their data;
//! - [`MemoryStore`]: the in-process backend.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use session_plus_core::{FieldRules, Interface, Key, MemoryStore, SessionDriver, SessionManager};
//!
//! let manager = Arc::new(SessionManager::builder()
//!     .keys(Key::generate())
//!     .interface(Interface::secure_cookie("csrf").fields(FieldRules::include(["csrf_token"])))
//!     .interface(Interface::store("session", Arc::new(MemoryStore::new()))
//!         .fields(FieldRules::include(["user_id", "user_data"])))
//!     .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
//!     .build()?);
//! // Per request, in the web-framework adapter:
//! let driver = SessionDriver::new(manager, std::iter::empty::<&[u8]>());
//! // In the handler:
//! let session = driver.session();
//! session.insert("user_id", 42).await?;
//! session.insert("theme", "dark").await?;
//! // After the handler, in the adapter:
//! let done = driver.finish().await;
//! let names: Vec<&str> = done.cookies.iter().map(|c| c.name()).collect();
//! assert_eq!(names, ["session", "data"]);
//! # Ok::<(), session_plus_core::Error>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backends;
pub mod config;
pub mod cookie_format;
mod driver;
mod error;
mod id;
mod keys;
mod manager;
mod routing;
mod session;
mod set_cookie;
pub mod store;

pub use backends::memory::MemoryStore;
pub use config::{ConfigDocument, FieldRules, Interface, SameSite, StoreRegistry};
pub use driver::{vary_covers_cookie, Outcome, SessionDriver};
pub use error::{Error, Result};
pub use id::{RecordKey, SessionId};
pub use keys::{Key, KeyRing, MIN_KEY_LEN};
pub use manager::{SessionManager, SessionManagerBuilder};
pub use session::Session;
pub use set_cookie::SetCookie;

/// Seconds since the Unix epoch, now: the clock of every time in
/// [`RecordMeta`](store::RecordMeta). Part of the store API: a backend without
/// native expiry compares [`RecordMeta::expires`](store::RecordMeta::expires)
/// with it ([`Record::is_live`](store::Record::is_live)) so that it agrees with
/// the core about when a record ends.
///
/// ```
/// use session_plus_core::store::{Fields, Record, RecordMeta};
///
/// let now = session_plus_core::unix_now();
/// assert!(now > 1_700_000_000);
/// assert!(Record::new(Fields::new(), RecordMeta::new(now, now + 60, "b")).is_live(now));
/// ```
///
/// The HTTP date formatting the core uses for `Expires` is not public (the
/// `httpdate` crate does it):
///
/// ```compile_fail
/// let _ = session_plus_core::http_date(0);
/// ```
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

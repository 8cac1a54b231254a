//! The checks themselves: one `pub async fn` per behaviour, each taking a fresh
//! store and panicking with a message that says what broke.
//!
//! [`store_suite!`](crate::store_suite) runs all of them; call one directly to
//! debug it or to run it in a custom harness:
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use session_plus_core::MemoryStore;
//!
//! session_plus_conformance::checks::create_then_load(Arc::new(MemoryStore::new())).await;
//! # });
//! ```

mod moves;
mod races;
mod session;
mod store;

pub use moves::*;
pub use races::*;
pub use session::*;
pub use store::*;

/// Unwrap a backend result, failing the check with the operation's name and the
/// error (with its source) otherwise.
#[track_caller]
fn ok<T>(res: session_plus_core::Result<T>, what: &str) -> T {
    match res {
        Ok(v) => v,
        Err(e) => panic!("backend call `{what}` failed: {e} ({e:?})"),
    }
}

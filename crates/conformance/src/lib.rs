//! The conformance suite of **session-plus**: the behaviour every server-side
//! backend ([`SessionStore`](session_plus_core::store::SessionStore)) must
//! show, written once and run unchanged by every backend crate.
//!
//! A backend is done when it passes [`store_suite!`]. The suite covers the
//! store contract call by call ([`checks`]: create/load, refusing to overwrite
//! a live record, per-field updates, no resurrection, expiry, touch,
//! permanence, prefix isolation, concurrent updates of different fields,
//! hostile field names, every JSON value kind, the expiry sweeper, and that
//! what [`capabilities()`](session_plus_core::store::SessionStore::capabilities)
//! claims holds); tombstones, `supersede` and `move_to` (atomic against
//! concurrent writes, no acknowledged write lost); the field-level meta merge
//! (a concurrent write never undoes permanence nor shortens the expiry); and
//! the same store driven through the real
//! [`SessionDriver`](session_plus_core::SessionDriver) over several requests
//! (round trip, strict ids, `cycle_id`, `destroy`, permanence, concurrent
//! requests, no write when nothing changed, a login racing writes to the old
//! id, `set_permanent` racing another write, requests mixing two sessions'
//! cookies).
//!
//! Races are forced, not hoped for: [`PausingStore`] holds a chosen store call
//! at a gate until the check releases it, so the interleaving that used to
//! lose writes happens on every run.
//!
//! # Running it for a backend
//!
//! In the backend crate's `Cargo.toml`:
//!
//! ```toml
//! [dev-dependencies]
//! session-plus-conformance.workspace = true
//! tokio = { workspace = true, features = ["rt-multi-thread", "macros"] }
//! ```
//!
//! (`tokio` is needed because the macro expands to `#[tokio::test]`s in your
//! crate.) Then in `tests/conformance.rs`:
//!
//! ```ignore
//! use std::sync::Arc;
//! use session_plus_core::store::SessionStore;
//!
//! /// A fresh store, isolated from every other test running in parallel.
//! async fn make_store() -> Arc<dyn SessionStore> {
//!     Arc::new(my_backend::MyStore::connect(/* ... */).await.unwrap())
//! }
//!
//! session_plus_conformance::store_suite!(make_store);
//! ```
//!
//! Each behaviour becomes its own test, `conformance::<behaviour>`, so
//! `cargo test conformance::` runs the suite and a failure names what broke.
//! Tests run in parallel; stores on a shared server are isolated enough because
//! every check uses fresh random session ids.
//!
//! [`CountingStore`] wraps any store and counts calls per operation; the
//! session checks use it to prove that an unchanged session writes nothing.
//! Like every wrapper store, both forward every trait method, so the wrapped
//! backend's own implementations run (never the trait defaults).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod checks;
mod counting;
pub mod fixtures;
mod pausing;

pub use counting::{CountingStore, Counts};
pub use pausing::{Op, Paused, PausingStore};

/// Expands to one `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`
/// per behaviour, inside a module named `conformance`.
///
/// `$make` is a path to an `async fn() -> std::sync::Arc<dyn
/// session_plus_core::store::SessionStore>` returning a fresh, isolated store.
/// The calling crate needs `tokio` (features `macros`, `rt-multi-thread`) as a
/// dev-dependency. Every test only calls a function of [`checks`], so the logic
/// lives in this crate.
///
/// ```
/// use std::sync::Arc;
/// use session_plus_core::{store::SessionStore, MemoryStore};
///
/// async fn make_store() -> Arc<dyn SessionStore> {
///     Arc::new(MemoryStore::new())
/// }
///
/// session_plus_conformance::store_suite!(make_store);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! store_suite {
    ($make:path) => {
        $crate::__store_suite_tests! {
            $make;
            // Store contract.
            create_then_load,
            create_refuses_live_record,
            concurrent_creates_have_one_winner,
            load_unknown_is_none,
            update_changes_only_named_fields,
            update_never_resurrects,
            no_resurrection_under_concurrent_delete,
            delete_then_load_is_none,
            expired_records_are_gone,
            touch_moves_expiry_only,
            permanence_round_trips,
            prefixes_isolate,
            concurrent_updates_of_different_fields_survive,
            hostile_field_names_round_trip,
            json_values_round_trip,
            delete_expired_keeps_live_records,
            delete_by_field_removes_only_matches,
            capability_claims_hold,
            // Tombstones, supersede, move_to, meta merge.
            supersede_leaves_a_tombstone,
            supersede_needs_a_live_record,
            tombstones_expire,
            supersede_is_atomic_under_concurrent_updates,
            move_to_carries_the_record_over,
            move_to_carries_over_concurrent_writes,
            meta_merges_field_by_field,
            permanence_survives_concurrent_updates,
            // Through the session handle.
            session_round_trip,
            session_strict_ids,
            session_cycle_id,
            session_destroy,
            session_emptied_interface_is_deleted,
            session_permanent,
            session_concurrent_requests,
            session_unchanged_write_writes_nothing,
            // Races through the session handle, and bindings.
            session_login_race_keeps_acknowledged_writes,
            session_login_race_with_concurrent_writers,
            session_permanence_race,
            session_destroy_spares_other_sessions,
            session_old_cookies_after_login_set_no_cookie,
            session_writes_spare_other_sessions,
        }
    };
}

/// Implementation detail of [`store_suite!`]: one test per listed check.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_suite_tests {
    ($make:path; $($check:ident,)+) => {
        /// The session-plus conformance suite, one test per behaviour.
        #[allow(unused_imports)]
        mod conformance {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    $crate::checks::$check($make().await).await;
                }
            )+
        }
    };
}

//! The HTTP behaviour suite of session-plus: every rule a web-framework
//! adapter must keep, written once and run unchanged by every adapter
//! (tower/axum in `session-plus`, actix-web in `session-plus-actix`).
//!
//! An adapter's test file implements [`Adapter`] (build an app serving
//! [`routes::handle`] behind its session middleware for a given
//! [`SessionManager`]) and [`App`] (send one request, return the [`Reply`]),
//! then expands [`suite!`] with its test attribute:
//!
//! ```ignore
//! struct Axum;
//! impl session_plus_http_suite::Adapter for Axum { /* ... */ }
//! session_plus_http_suite::suite!(tokio::test, Axum);
//! ```
//!
//! Each rule becomes one test named like the function in [`rules`]. The app
//! is the framework's own: its extractor, its error response, its middleware;
//! only the handler logic ([`routes::handle`]) is shared, so a rule that
//! passes on one adapter and fails on another points at the adapter.
#![forbid(unsafe_code)]

mod harness;
pub mod routes;
pub mod rules;
mod store;

use std::future::Future;
use std::sync::Arc;

pub use harness::{
    record_key, replace_record, seed_manager, send, send_request, signed_fields, signed_payload,
    two_stores, Captured, Jar, Reply,
};
pub use session_plus_core::SessionManager;
pub use store::FaultyStore;

/// A web framework with a session-plus adapter: makes apps for the suite.
pub trait Adapter {
    /// The app type, one per manager.
    type App: App;

    /// An app serving [`routes::handle`] for every path (`GET` and `POST`)
    /// behind the adapter's session middleware built from `manager`. The
    /// handler extracts the adapter's `Session`, calls
    /// `routes::handle(&session, method, path)` and answers its
    /// [`routes::Handled`]; an `Err` is returned through the adapter's
    /// handler-facing error type (so its status mapping is tested too).
    fn app(&self, manager: Arc<SessionManager>) -> impl Future<Output = Self::App>;
}

/// One app: sends a request in-process (or over TCP) and reads the reply.
pub trait App {
    /// Send `request` (method, URI and headers; no body) and return the
    /// response with every header, repeated `Set-Cookie` headers included.
    fn call(&self, request: http::Request<()>) -> impl Future<Output = Reply>;
}

/// Expand one test per rule of [`rules`], each run on `$adapter` under the
/// test attribute `$test` (e.g. `tokio::test`, `actix_web::test`).
#[macro_export]
macro_rules! suite {
    ($test:meta, $adapter:expr) => {
        $crate::suite!(@rules $test, $adapter;
            seed_config_three_cookies_each_with_only_its_fields,
            untouched_request_costs_nothing,
            loading_is_lazy_per_interface,
            loads_needed_together_run_concurrently,
            unknown_field_is_an_error_not_dropped,
            tampered_truncated_garbage_and_oversized_cookies_start_fresh,
            a_bad_cookie_is_replaced_on_write_with_a_fresh_session,
            client_chosen_id_is_never_adopted,
            login_cycles_the_id_and_destroys_the_old_record,
            cookies_of_different_sessions_are_not_mixed,
            all_exclude_and_auto_interfaces_are_written_and_cleared,
            overlapping_field_written_to_each_owner_read_from_the_last,
            permanence_survives_requests_for_cookies_and_stores,
            cookie_max_age_applies_to_non_permanent_cookies,
            idle_refresh_happens_on_reads_at_most_once_per_interval,
            absolute_lifetime_is_enforced_regardless_of_activity,
            expired_signed_cookie_is_rejected_server_side,
            load_failure_with_a_write_becomes_503_and_overwrites_nothing,
            load_failure_on_read_is_a_clear_error,
            failed_save_is_not_reported_as_success,
            slow_backend_hits_the_timeout,
            caching_headers,
            oversized_cookie_is_a_clear_error,
            emptied_interface_is_deleted_with_a_removal_cookie,
            same_value_write_changes_nothing,
            many_concurrent_requests_on_one_session_keep_different_fields,
            ids_are_only_accepted_from_the_cookie,
            a_new_interface_joins_the_existing_session_without_reading_it,
            all_of_a_users_sessions_can_be_terminated,
            saves_of_different_interfaces_run_concurrently,
            malformed_ids_never_reach_the_store,
            signed_id_cookies,
            non_ascii_foreign_cookies_do_not_hide_the_session,
            handler_errors_answer_with_the_core_status_and_leak_nothing,
            session_used_after_the_request_is_a_closed_error,
            unknown_route_touches_no_session,
        );
    };
    (@rules $test:meta, $adapter:expr; $($rule:ident,)*) => {
        $(
            #[$test]
            async fn $rule() {
                $crate::rules::$rule(&$adapter).await
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    /// Every rule in `rules.rs` is expanded by `suite!` (and nothing else).
    #[test]
    fn the_macro_lists_every_rule() {
        let rules = include_str!("rules.rs");
        let lib = include_str!("lib.rs");
        let listed: Vec<&str> = lib
            .split("$crate::suite!(@rules $test, $adapter;")
            .nth(1)
            .and_then(|s| s.split(");").next())
            .expect("rule list")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let defined: Vec<&str> = rules
            .lines()
            .filter_map(|l| l.strip_prefix("pub async fn "))
            .map(|l| l.split('<').next().unwrap_or(l).trim())
            .collect();
        assert!(defined.len() >= 30, "{defined:?}");
        let mut a = listed.clone();
        let mut b = defined.clone();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "suite! and rules.rs disagree");
    }
}

//! The shared conformance suite against a real MongoDB wire-protocol server
//! (SecantusDB, started by this test binary and killed when it exits), with
//! the TTL index and without it.

mod common;

use std::sync::{Arc, OnceLock};

use session_plus_core::store::SessionStore;
use session_plus_mongodb::{MongoOptions, MongoStore};
use session_plus_testkit::SecantusServer;

/// One server for the whole binary: every check uses fresh random ids.
fn server() -> &'static SecantusServer {
    static SERVER: OnceLock<SecantusServer> = OnceLock::new();
    SERVER.get_or_init(SecantusServer::start)
}

async fn make_store() -> Arc<dyn SessionStore> {
    let client = common::client(&server().url(), std::time::Duration::from_secs(5)).await;
    Arc::new(
        MongoStore::new(client, "conformance", "sessions")
            .await
            .expect("store with its TTL index"),
    )
}

session_plus_conformance::store_suite!(make_store);

/// Indexes managed elsewhere: expired documents stay until `delete_expired`
/// (which the store then claims), and reads still never return them.
mod without_ttl_index {
    use super::*;

    async fn make_store() -> Arc<dyn SessionStore> {
        let client = common::client(
            &server().replica_set_url(),
            std::time::Duration::from_secs(5),
        )
        .await;
        Arc::new(
            MongoStore::with_options(
                client,
                "conformance",
                "no_ttl_index",
                MongoOptions::default().ttl_index(false),
            )
            .await
            .expect("store"),
        )
    }

    session_plus_conformance::store_suite!(make_store);
}

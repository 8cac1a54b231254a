//! The shared conformance suite, unchanged, on the real Firestore emulator
//! (one per test binary; every store gets its own collection).

mod common;

use std::sync::Arc;

use session_plus_core::store::SessionStore;
use session_plus_firestore::FirestoreStore;

async fn make_store() -> Arc<dyn SessionStore> {
    let store = FirestoreStore::new(common::client("conformance"), &common::unique("conf"))
        .expect("valid collection");
    Arc::new(store)
}

session_plus_conformance::store_suite!(make_store);

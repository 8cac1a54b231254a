//! The conformance suite against the reference in-process backend.

use std::sync::Arc;

use session_plus_core::store::SessionStore;
use session_plus_core::MemoryStore;

async fn make_store() -> Arc<dyn SessionStore> {
    Arc::new(MemoryStore::new())
}

session_plus_conformance::store_suite!(make_store);

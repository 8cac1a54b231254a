//! The shared conformance suite, on file-backed stores in temporary directories.

use std::sync::Arc;

use session_plus_core::store::{Capabilities, Changes, MetaUpdate, Record, SessionStore};
use session_plus_core::{RecordKey, Result};
use session_plus_sqlite::SqliteStore;
use tempfile::TempDir;

/// A store plus the directory holding its file, removed when the store goes.
/// Every call is forwarded (the optional and defaulted ones included), so the
/// suite tests `SqliteStore`'s own methods; the suite's capability check
/// would catch a forgotten one.
#[derive(Debug)]
struct TempStore {
    store: SqliteStore,
    _dir: TempDir,
}

#[async_trait::async_trait]
impl SessionStore for TempStore {
    fn capabilities(&self) -> Capabilities {
        self.store.capabilities()
    }
    fn reserved_fields(&self) -> &[&str] {
        self.store.reserved_fields()
    }
    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        self.store.load(key).await
    }
    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        self.store.create(key, record).await
    }
    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        self.store.update(key, changes).await
    }
    async fn touch(&self, key: &RecordKey, meta: &MetaUpdate) -> Result<bool> {
        self.store.touch(key, meta).await
    }
    async fn supersede(&self, key: &RecordKey, until: i64) -> Result<Option<Record>> {
        self.store.supersede(key, until).await
    }
    async fn move_to(
        &self,
        from: &RecordKey,
        to: &RecordKey,
        changes: &Changes,
        binding: &str,
        tombstone_until: i64,
    ) -> Result<bool> {
        self.store
            .move_to(from, to, changes, binding, tombstone_until)
            .await
    }
    async fn delete(&self, key: &RecordKey) -> Result<()> {
        self.store.delete(key).await
    }
    async fn delete_by_field(
        &self,
        prefix: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<u64> {
        self.store.delete_by_field(prefix, field, value).await
    }
    async fn delete_expired(&self) -> Result<u64> {
        self.store.delete_expired().await
    }
}

async fn file_store() -> Arc<dyn SessionStore> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(dir.path().join("sessions.db")).expect("open");
    Arc::new(TempStore { store, _dir: dir })
}

async fn memory_store() -> Arc<dyn SessionStore> {
    Arc::new(SqliteStore::open_in_memory().expect("open in memory"))
}

session_plus_conformance::store_suite!(file_store);

/// The same suite on an in-memory database (single connection).
mod in_memory {
    use super::memory_store;
    session_plus_conformance::store_suite!(memory_store);
}

//! Fault injection around a real [`MemoryStore`] (not a backend mock).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use session_plus_core::store::{Capabilities, Changes, MetaUpdate, Record, SessionStore};
use session_plus_core::{Error, MemoryStore, RecordKey, Result};

/// A real [`MemoryStore`] wrapped to count calls and to inject faults (down,
/// slow, barriers). Forwards every method of the trait, the optional ones
/// included.
#[derive(Debug, Default)]
pub struct FaultyStore {
    /// The store underneath; tests inspect and age records through it.
    pub inner: MemoryStore,
    /// `load` calls so far.
    pub loads: AtomicU64,
    /// Write calls so far (every method but `load`).
    pub writes: AtomicU64,
    /// Make every `load` fail.
    pub fail_load: AtomicBool,
    /// Make every write fail.
    pub fail_write: AtomicBool,
    /// Make every call hang (the interface's timeout must fire).
    pub slow: AtomicBool,
    /// When set, loads wait here (to prove loads run concurrently).
    pub barrier: OnceLock<Arc<tokio::sync::Barrier>>,
    /// When set, creates wait here (to prove saves run concurrently).
    pub write_barrier: OnceLock<Arc<tokio::sync::Barrier>>,
}

impl FaultyStore {
    /// A healthy store.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// `(loads, writes)` so far.
    pub fn calls(&self) -> (u64, u64) {
        (
            self.loads.load(Ordering::SeqCst),
            self.writes.load(Ordering::SeqCst),
        )
    }

    async fn write_gate(&self) -> Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.gate(&self.fail_write).await
    }

    async fn gate(&self, fail: &AtomicBool) -> Result<()> {
        if self.slow.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if fail.load(Ordering::SeqCst) {
            return Err(Error::backend("faulty", "injected failure"));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl SessionStore for FaultyStore {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        if let Some(b) = self.barrier.get() {
            b.wait().await;
        }
        self.gate(&self.fail_load).await?;
        self.inner.load(key).await
    }
    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        if let Some(b) = self.write_barrier.get() {
            b.wait().await;
        }
        self.gate(&self.fail_write).await?;
        self.inner.create(key, record).await
    }
    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        self.write_gate().await?;
        self.inner.update(key, changes).await
    }
    async fn touch(&self, key: &RecordKey, meta: &MetaUpdate) -> Result<bool> {
        self.write_gate().await?;
        self.inner.touch(key, meta).await
    }
    async fn supersede(&self, key: &RecordKey, until: i64) -> Result<Option<Record>> {
        self.write_gate().await?;
        self.inner.supersede(key, until).await
    }
    async fn move_to(
        &self,
        from: &RecordKey,
        to: &RecordKey,
        changes: &Changes,
        binding: &str,
        tombstone_until: i64,
    ) -> Result<bool> {
        self.write_gate().await?;
        self.inner
            .move_to(from, to, changes, binding, tombstone_until)
            .await
    }
    async fn delete(&self, key: &RecordKey) -> Result<()> {
        self.write_gate().await?;
        self.inner.delete(key).await
    }
    async fn delete_by_field(
        &self,
        prefix: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<u64> {
        self.write_gate().await?;
        self.inner.delete_by_field(prefix, field, value).await
    }
    async fn delete_expired(&self) -> Result<u64> {
        self.write_gate().await?;
        self.inner.delete_expired().await
    }
}

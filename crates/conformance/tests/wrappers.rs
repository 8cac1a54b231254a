//! The suite's wrapper stores forward every method of the trait: each call
//! reaches the wrapped store's own implementation, never a trait default.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::json;
use session_plus_conformance::fixtures::{changes, key, live_meta, record, refresh, PREFIX};
use session_plus_conformance::{CountingStore, PausingStore};
use session_plus_core::store::{Capabilities, Changes, MetaUpdate, Record, SessionStore};
use session_plus_core::{unix_now, MemoryStore, RecordKey, Result};

/// A memory store that overrides every defaulted method and counts the calls
/// that reach those overrides.
#[derive(Debug, Default)]
struct Overriding {
    inner: MemoryStore,
    overridden_calls: AtomicU64,
}

impl Overriding {
    fn hit(&self) {
        self.overridden_calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl SessionStore for Overriding {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn reserved_fields(&self) -> &[&str] {
        &["_reserved"]
    }
    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        self.inner.load(key).await
    }
    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        self.inner.create(key, record).await
    }
    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        self.inner.update(key, changes).await
    }
    async fn touch(&self, key: &RecordKey, meta: &MetaUpdate) -> Result<bool> {
        self.hit();
        self.inner.touch(key, meta).await
    }
    async fn supersede(&self, key: &RecordKey, until: i64) -> Result<Option<Record>> {
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
        self.hit();
        self.inner
            .move_to(from, to, changes, binding, tombstone_until)
            .await
    }
    async fn delete(&self, key: &RecordKey) -> Result<()> {
        self.inner.delete(key).await
    }
    async fn delete_by_field(
        &self,
        prefix: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<u64> {
        self.hit();
        self.inner.delete_by_field(prefix, field, value).await
    }
    async fn delete_expired(&self) -> Result<u64> {
        self.hit();
        self.inner.delete_expired().await
    }
}

async fn exercise(store: &dyn SessionStore) {
    assert_eq!(store.reserved_fields(), ["_reserved"]);
    let (a, b) = (key(PREFIX), key(PREFIX));
    assert!(store
        .create(&a, &record([("u", json!(1))], live_meta()))
        .await
        .unwrap());
    assert!(store.touch(&a, &refresh()).await.unwrap());
    let login = changes([("r", json!(2))], &[], refresh());
    assert!(store
        .move_to(&a, &b, &login, "b", unix_now() + 60)
        .await
        .unwrap());
    assert_eq!(
        store.delete_by_field(PREFIX, "u", &json!(1)).await.unwrap(),
        1
    );
    store.delete_expired().await.unwrap();
}

#[tokio::test]
async fn counting_and_pausing_stores_forward_every_method() {
    let inner = Arc::new(Overriding::default());
    let counting = CountingStore::new(inner.clone());
    exercise(&counting).await;
    assert_eq!(inner.overridden_calls.load(Ordering::SeqCst), 4);
    let counts = counting.counts();
    assert_eq!(
        (
            counts.touch,
            counts.move_to,
            counts.delete_by_field,
            counts.delete_expired
        ),
        (1, 1, 1, 1)
    );

    let inner = Arc::new(Overriding::default());
    let pausing = PausingStore::new(inner.clone());
    exercise(&pausing).await;
    assert_eq!(inner.overridden_calls.load(Ordering::SeqCst), 4);
}

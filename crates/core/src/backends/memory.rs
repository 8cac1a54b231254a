//! In-process backend: a map behind a lock, with per-entry expiry.
//!
//! Good for tests, demos and single-process apps that can lose sessions on
//! restart. Expired entries are never returned; [`MemoryStore::delete_expired`]
//! frees their memory (call it from a periodic task, or rely on overwrites).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::store::{Capabilities, Changes, Record, SessionStore};
use crate::{unix_now, RecordKey, Result};

/// An expiring in-memory session backend.
///
/// ```
/// use std::sync::Arc;
/// use session_plus_core::{MemoryStore, store::SessionStore};
///
/// let store = Arc::new(MemoryStore::new());
/// assert!(store.capabilities().field_level_writes);
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    map: Mutex<HashMap<String, Record>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of records held, expired ones included until swept.
    ///
    /// ```
    /// assert_eq!(session_plus_core::MemoryStore::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the store holds no records at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Record>> {
        // A panic while holding the lock cannot leave a record half-written
        // (every mutation is a single map operation), so poisoning is ignored.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn live(record: &Record, now: i64) -> bool {
    record.meta.expires > now
}

#[async_trait::async_trait]
impl SessionStore for MemoryStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            field_level_writes: true,
            compare_and_swap: true,
            native_ttl: true,
        }
    }

    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        let now = unix_now();
        Ok(self
            .lock()
            .get(&key.store_key())
            .filter(|r| live(r, now))
            .cloned())
    }

    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        let now = unix_now();
        let mut map = self.lock();
        if map.get(&key.store_key()).is_some_and(|r| live(r, now)) {
            return Ok(false);
        }
        map.insert(key.store_key(), record.clone());
        Ok(true)
    }

    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        let now = unix_now();
        let mut map = self.lock();
        match map.get_mut(&key.store_key()).filter(|r| live(r, now)) {
            Some(record) => {
                changes.apply_to(record);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete(&self, key: &RecordKey) -> Result<()> {
        self.lock().remove(&key.store_key());
        Ok(())
    }

    async fn delete_by_field(
        &self,
        prefix: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<u64> {
        let mut map = self.lock();
        let before = map.len();
        map.retain(|k, r| !(k.starts_with(prefix) && r.fields.get(field) == Some(value)));
        Ok((before - map.len()) as u64)
    }

    async fn delete_expired(&self) -> Result<u64> {
        let now = unix_now();
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, r| live(r, now));
        Ok((before - map.len()) as u64)
    }
}

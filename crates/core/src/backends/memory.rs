//! In-process backend: a map behind a lock, with per-entry expiry and a
//! capacity bound.
//!
//! For tests, demos and single-process apps that can lose every session on
//! restart. Not for several app servers (each would have its own sessions) and
//! not for production state that must survive a deploy: use SQLite, Redis,
//! memcache, MongoDB or Firestore for that.
//!
//! Memory is bounded two ways: expired entries are swept (by
//! [`MemoryStore::delete_expired`], by the optional background
//! [`MemoryStore::spawn_sweeper`], and automatically whenever the store is
//! full), and the number of live records is capped
//! ([`MemoryStore::with_capacity`], default [`MemoryStore::DEFAULT_CAPACITY`]).
//! When the cap is reached with no expired entry to free, creating a new
//! session fails with a backend error (503) instead of growing without bound
//! or silently evicting a live session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use crate::store::{Capabilities, Changes, Record, SessionStore};
use crate::{unix_now, Error, RecordKey, Result};

/// An expiring, bounded in-memory session backend.
///
/// ```
/// use std::sync::Arc;
/// use session_plus_core::{MemoryStore, store::SessionStore};
///
/// let store = Arc::new(MemoryStore::with_capacity(10_000));
/// assert!(store.capabilities().field_level_writes);
/// assert_eq!(store.capacity(), 10_000);
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    map: Mutex<HashMap<String, Record>>,
    capacity: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }
}

impl MemoryStore {
    /// Records held at most by [`MemoryStore::new`] (about 100 MB at 1 KB each).
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// An empty store holding at most [`Self::DEFAULT_CAPACITY`] records.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store holding at most `capacity` records (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The most records this store holds.
    pub fn capacity(&self) -> usize {
        self.capacity
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

    /// Sweep expired records every `every` on the current tokio runtime, for
    /// as long as the store lives (the task holds only a weak reference). Drop
    /// or abort the handle to stop early.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// let store = Arc::new(session_plus_core::MemoryStore::new());
    /// let sweeper = store.spawn_sweeper(std::time::Duration::from_secs(60));
    /// sweeper.abort();
    /// # });
    /// ```
    pub fn spawn_sweeper(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(store) = weak.upgrade() else { return };
                store.sweep(unix_now());
            }
        })
    }

    fn sweep(&self, now: i64) -> u64 {
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, r| r.is_live(now));
        (before - map.len()) as u64
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Record>> {
        // A panic while holding the lock cannot leave a record half-written
        // (every mutation is a single map operation), so poisoning is ignored.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl SessionStore for MemoryStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .field_level_writes(true)
            .compare_and_swap(true)
            .native_ttl(true)
            .delete_by_field(true)
            .delete_expired(true)
    }

    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        let now = unix_now();
        Ok(self
            .lock()
            .get(&key.store_key())
            .filter(|r| r.is_live(now))
            .cloned())
    }

    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        let now = unix_now();
        let store_key = key.store_key();
        let mut map = self.lock();
        match map.get(&store_key) {
            Some(r) if r.is_live(now) => return Ok(false),
            Some(_) => {}
            None if map.len() >= self.capacity => {
                map.retain(|_, r| r.is_live(now));
                if map.len() >= self.capacity {
                    return Err(Error::backend(
                        "",
                        format!(
                            "memory store is full ({} live sessions; raise MemoryStore::with_capacity or use a persistent backend)",
                            self.capacity
                        ),
                    ));
                }
            }
            None => {}
        }
        map.insert(store_key, record.clone());
        Ok(true)
    }

    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        let now = unix_now();
        let mut map = self.lock();
        match map.get_mut(&key.store_key()).filter(|r| r.is_writable(now)) {
            Some(record) => {
                changes.apply_to(record);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn supersede(&self, key: &RecordKey, until: i64) -> Result<Option<Record>> {
        let now = unix_now();
        let mut map = self.lock();
        let Some(record) = map.get_mut(&key.store_key()).filter(|r| r.is_writable(now)) else {
            return Ok(None);
        };
        let stone = record.tombstone(until);
        Ok(Some(std::mem::replace(record, stone)))
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
        Ok(self.sweep(unix_now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RecordMeta;
    use crate::SessionId;

    fn key() -> RecordKey {
        RecordKey::new("t:", SessionId::generate())
    }

    #[tokio::test]
    async fn capacity_is_a_hard_bound_and_expired_entries_make_room() {
        let store = MemoryStore::with_capacity(3);
        let now = unix_now();
        let live = Record::new(Default::default(), RecordMeta::new(now, now + 100, "b"));
        let dead = Record::new(Default::default(), RecordMeta::new(now - 10, now - 1, "b"));
        assert!(store.create(&key(), &dead).await.unwrap());
        assert!(store.create(&key(), &live).await.unwrap());
        assert!(store.create(&key(), &live).await.unwrap());
        // Full, but one entry is expired: it is swept to make room.
        assert!(store.create(&key(), &live).await.unwrap());
        assert_eq!(store.len(), 3);
        // Full of live sessions: a clear error, nothing evicted.
        let err = store.create(&key(), &live).await.unwrap_err();
        assert!(
            err.is_backend() && format!("{err:?}").contains("full"),
            "{err:?}"
        );
        assert_eq!(store.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn sweeper_frees_expired_entries() {
        let store = Arc::new(MemoryStore::new());
        let now = unix_now();
        let dead = Record::new(Default::default(), RecordMeta::new(now - 10, now - 1, "b"));
        for _ in 0..5 {
            store.create(&key(), &dead).await.unwrap();
        }
        assert_eq!(store.len(), 5);
        let sweeper = store.spawn_sweeper(Duration::from_secs(10));
        // Paused clock: advancing it runs the sweeper's tick deterministically.
        for _ in 0..3 {
            tokio::time::advance(Duration::from_secs(11)).await;
            tokio::task::yield_now().await;
        }
        assert_eq!(store.len(), 0);
        sweeper.abort();
    }
}

//! What recent loads saw (item bytes and CAS), so the update that follows a
//! load in the same request can compare-and-swap against it directly instead
//! of reading the item a second time.
//!
//! Correctness never depends on this: the CAS value makes memcached refuse
//! the write if the item changed since, and the update then falls back to a
//! fresh `gets`. A snapshot only saves a round trip when nothing raced.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a snapshot may be used: about one request.
const MAX_AGE: Duration = Duration::from_secs(5);
/// Items larger than this are not kept.
const MAX_ITEM_BYTES: usize = 16 * 1024;

/// A bounded map of `store key -> (cas, flags, bytes, when)`.
#[derive(Debug)]
pub(crate) struct Snapshots {
    capacity: usize,
    map: Mutex<HashMap<String, Snapshot>>,
}

#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) cas: u64,
    pub(crate) flags: Option<u32>,
    pub(crate) value: Vec<u8>,
    at: Instant,
}

impl Snapshots {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Remember what a load saw. When the map is full, old snapshots are
    /// dropped first; if it is still full, this one is not kept.
    pub(crate) fn put(&self, key: &str, cas: u64, flags: Option<u32>, value: Vec<u8>) {
        if self.capacity == 0 || value.len() > MAX_ITEM_BYTES {
            return;
        }
        let mut map = self.lock();
        if map.len() >= self.capacity && !map.contains_key(key) {
            map.retain(|_, s| s.at.elapsed() < MAX_AGE);
            if map.len() >= self.capacity {
                return;
            }
        }
        map.insert(
            key.to_owned(),
            Snapshot {
                cas,
                flags,
                value,
                at: Instant::now(),
            },
        );
    }

    /// Take the snapshot of `key`, if a recent one exists.
    pub(crate) fn take(&self, key: &str) -> Option<Snapshot> {
        if self.capacity == 0 {
            return None;
        }
        self.lock().remove(key).filter(|s| s.at.elapsed() < MAX_AGE)
    }

    /// Forget `key` (it was deleted or rewritten).
    pub(crate) fn forget(&self, key: &str) {
        if self.capacity > 0 {
            self.lock().remove(key);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Snapshot>> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_taken_once() {
        let s = Snapshots::new(2);
        s.put("a", 1, None, b"x".to_vec());
        s.put("b", 2, None, b"y".to_vec());
        s.put("c", 3, None, b"z".to_vec());
        assert_eq!(s.len(), 2, "capacity exceeded");
        assert_eq!(s.take("a").map(|x| x.cas), Some(1));
        assert!(s.take("a").is_none(), "taken twice");
        s.put("a", 4, None, vec![0; MAX_ITEM_BYTES + 1]);
        assert!(s.take("a").is_none(), "large item kept");
        let off = Snapshots::new(0);
        off.put("a", 1, None, b"x".to_vec());
        assert!(off.take("a").is_none());
    }
}

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
/// The most item bytes kept in all, whatever the capacity.
const MAX_TOTAL_BYTES: usize = 4 * 1024 * 1024;
/// A full map is swept for old snapshots at most this often, so a burst of
/// loads does not scan it on every insert.
const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// A bounded map of `store key -> (cas, flags, bytes, when)`.
#[derive(Debug)]
pub(crate) struct Snapshots {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    map: HashMap<String, Snapshot>,
    bytes: usize,
    swept: Instant,
}

impl Inner {
    fn remove(&mut self, key: &str) -> Option<Snapshot> {
        let s = self.map.remove(key)?;
        self.bytes -= s.value.len();
        Some(s)
    }
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
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                bytes: 0,
                swept: Instant::now(),
            }),
        }
    }

    /// Remember what a load saw. When the map is full (entries or bytes),
    /// old snapshots are dropped first; if it is still full, this one is
    /// not kept.
    pub(crate) fn put(&self, key: &str, cas: u64, flags: Option<u32>, value: Vec<u8>) {
        if self.capacity == 0 || value.len() > MAX_ITEM_BYTES {
            return;
        }
        let mut inner = self.lock();
        inner.remove(key);
        let full =
            |i: &Inner| i.map.len() >= self.capacity || i.bytes + value.len() > MAX_TOTAL_BYTES;
        if full(&inner) {
            if inner.swept.elapsed() < SWEEP_EVERY {
                return;
            }
            inner.swept = Instant::now();
            inner.map.retain(|_, s| s.at.elapsed() < MAX_AGE);
            inner.bytes = inner.map.values().map(|s| s.value.len()).sum();
            if full(&inner) {
                return;
            }
        }
        inner.bytes += value.len();
        inner.map.insert(
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
        self.lock().map.len()
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // No code path panics while holding the lock with the map and its
        // byte count out of step.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_bytes_are_bounded() {
        let s = Snapshots::new(10_000);
        for i in 0..1000 {
            s.put(&i.to_string(), i, None, vec![0; MAX_ITEM_BYTES]);
        }
        assert!(s.bytes() <= MAX_TOTAL_BYTES, "{}", s.bytes());
        assert_eq!(s.len(), MAX_TOTAL_BYTES / MAX_ITEM_BYTES);
    }

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
        // Replacing a key's snapshot keeps the byte count right.
        s.put("b", 5, None, b"yy".to_vec());
        assert_eq!(s.bytes(), 2);
        let off = Snapshots::new(0);
        off.put("a", 1, None, b"x".to_vec());
        assert!(off.take("a").is_none());
    }
}

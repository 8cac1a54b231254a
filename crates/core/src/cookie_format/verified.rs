//! A bounded cache of cookie values that already verified, so a client that
//! sends the same cookie again is not verified (HMAC or AEAD, base64, JSON)
//! again.
//!
//! Keyed by the exact cookie value; only values that verified enter; the
//! record's validity window is checked again on every hit against the
//! current time, so a cached cookie expires exactly when the same cookie
//! decoded from scratch would. Each format instance has its own cache, so a
//! new key ring (a rebuilt manager) starts empty: dropping a key revokes its
//! cookies at once. The hasher is seeded randomly per cache.

use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;

use crate::store::Record;

/// Default memory bound of one cookie format's cache of verified values, in
/// (estimated) bytes: 8 MiB, a few tens of thousands of typical cookies.
///
/// ```
/// assert_eq!(session_plus_core::cookie_format::DEFAULT_CACHE_BYTES, 8 << 20);
/// ```
pub const DEFAULT_CACHE_BYTES: u64 = 8 << 20;

#[derive(Clone)]
struct ByLength;

impl Weighter<Box<str>, Arc<Record>> for ByLength {
    fn weight(&self, key: &Box<str>, _value: &Arc<Record>) -> u64 {
        // The decoded record is a few times the size of its cookie value.
        (key.len() as u64) * 4 + 256
    }
}

/// The cache of one format instance. `capacity_bytes == 0` disables it.
pub(crate) struct VerifiedCache {
    cache: Option<Cache<Box<str>, Arc<Record>, ByLength>>,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifiedCache({} entries)", self.len())
    }
}

impl VerifiedCache {
    pub(crate) fn new(capacity_bytes: u64) -> Self {
        Self {
            cache: (capacity_bytes > 0).then(|| {
                let estimated_items = (capacity_bytes / 1024).max(16) as usize;
                Cache::with_weighter(estimated_items, capacity_bytes, ByLength)
            }),
        }
    }

    /// The record of `value` if it verified before and is still live at `now`.
    pub(crate) fn get(&self, value: &str, now: i64) -> Option<Record> {
        let hit = self.cache.as_ref()?.get(value)?;
        super::is_fresh(&hit.meta, now).then(|| Record::clone(&hit))
    }

    /// Remember that `value` verified and holds `record`.
    pub(crate) fn insert(&self, value: &str, record: &Record) {
        if let Some(cache) = &self.cache {
            cache.insert(value.into(), Arc::new(record.clone()));
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.cache.as_ref().map_or(0, Cache::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RecordMeta;

    fn record(expires: i64) -> Record {
        Record::new(
            [("n".to_owned(), serde_json::json!(1))].into(),
            RecordMeta::new(100, expires, "b"),
        )
    }

    #[test]
    fn hit_rechecks_the_validity_window() {
        let c = VerifiedCache::new(DEFAULT_CACHE_BYTES);
        c.insert("v", &record(200));
        assert_eq!(c.get("v", 150), Some(record(200)));
        assert_eq!(c.get("v", 200), None, "expired on a hit too");
        assert_eq!(c.get("v", 100 - 31), None, "future-dated on a hit too");
        assert_eq!(c.get("w", 150), None, "only the exact value");
        assert_eq!(c.get("v ", 150), None);
    }

    #[test]
    fn bounded_and_disabled() {
        let c = VerifiedCache::new(64 * 1024);
        for i in 0..10_000 {
            c.insert(&format!("value-{i:0>200}"), &record(200));
        }
        // (200 * 4 + 256) bytes each: at most ~62 fit in 64 KiB.
        assert!(c.len() <= 64, "{}", c.len());
        let off = VerifiedCache::new(0);
        off.insert("v", &record(200));
        assert_eq!(off.get("v", 150), None);
        assert_eq!(off.len(), 0);
    }
}

//! [`CountingStore`]: a transparent wrapper that counts backend calls.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use session_plus_core::store::{Capabilities, Changes, Record, RecordMeta, SessionStore};
use session_plus_core::{RecordKey, Result};

/// How many times each [`SessionStore`] operation was called (failed calls
/// included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Calls to [`SessionStore::load`].
    pub load: u64,
    /// Calls to [`SessionStore::create`].
    pub create: u64,
    /// Calls to [`SessionStore::update`].
    pub update: u64,
    /// Calls to [`SessionStore::touch`].
    pub touch: u64,
    /// Calls to [`SessionStore::delete`].
    pub delete: u64,
    /// Calls to [`SessionStore::delete_expired`].
    pub delete_expired: u64,
}

impl Counts {
    /// Calls that may write: `create + update + touch + delete + delete_expired`.
    pub fn writes(&self) -> u64 {
        self.create + self.update + self.touch + self.delete + self.delete_expired
    }
}

/// Wraps a real store and counts calls per operation, forwarding every call
/// (including `touch` and `delete_expired`, so the wrapped store's own
/// implementations run, not the trait defaults).
///
/// Not a mock: the wrapped backend does all the work. Use it to prove that a
/// request wrote nothing, or how many round trips an operation costs.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use session_plus_conformance::{fixtures, CountingStore};
/// use session_plus_core::{store::SessionStore, MemoryStore};
///
/// let store = Arc::new(CountingStore::new(Arc::new(MemoryStore::new())));
/// let key = fixtures::key(fixtures::PREFIX);
/// assert!(store.load(&key).await.unwrap().is_none());
/// assert_eq!(store.counts().load, 1);
/// assert_eq!(store.counts().writes(), 0);
/// # });
/// ```
pub struct CountingStore {
    inner: Arc<dyn SessionStore>,
    load: AtomicU64,
    create: AtomicU64,
    update: AtomicU64,
    touch: AtomicU64,
    delete: AtomicU64,
    delete_expired: AtomicU64,
}

impl fmt::Debug for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingStore")
            .field("inner", &self.inner)
            .field("counts", &self.counts())
            .finish()
    }
}

impl CountingStore {
    /// Count the calls made to `inner`.
    pub fn new(inner: Arc<dyn SessionStore>) -> Self {
        Self {
            inner,
            load: AtomicU64::new(0),
            create: AtomicU64::new(0),
            update: AtomicU64::new(0),
            touch: AtomicU64::new(0),
            delete: AtomicU64::new(0),
            delete_expired: AtomicU64::new(0),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn SessionStore> {
        &self.inner
    }

    /// A snapshot of the counters.
    pub fn counts(&self) -> Counts {
        let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
        Counts {
            load: get(&self.load),
            create: get(&self.create),
            update: get(&self.update),
            touch: get(&self.touch),
            delete: get(&self.delete),
            delete_expired: get(&self.delete_expired),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::SeqCst);
}

#[async_trait::async_trait]
impl SessionStore for CountingStore {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        bump(&self.load);
        self.inner.load(key).await
    }

    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        bump(&self.create);
        self.inner.create(key, record).await
    }

    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        bump(&self.update);
        self.inner.update(key, changes).await
    }

    async fn touch(&self, key: &RecordKey, meta: &RecordMeta) -> Result<bool> {
        bump(&self.touch);
        self.inner.touch(key, meta).await
    }

    async fn delete(&self, key: &RecordKey) -> Result<()> {
        bump(&self.delete);
        self.inner.delete(key).await
    }

    async fn delete_expired(&self) -> Result<u64> {
        bump(&self.delete_expired);
        self.inner.delete_expired().await
    }
}

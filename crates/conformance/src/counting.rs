//! [`CountingStore`]: a transparent wrapper that counts backend calls.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use session_plus_core::store::{Capabilities, Changes, MetaUpdate, Record, SessionStore};
use session_plus_core::{RecordKey, Result};

/// How many times each [`SessionStore`] operation was called (failed calls
/// included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// Calls to [`SessionStore::load`].
    pub load: u64,
    /// Calls to [`SessionStore::create`].
    pub create: u64,
    /// Calls to [`SessionStore::update`].
    pub update: u64,
    /// Calls to [`SessionStore::touch`].
    pub touch: u64,
    /// Calls to [`SessionStore::supersede`].
    pub supersede: u64,
    /// Calls to [`SessionStore::move_to`].
    pub move_to: u64,
    /// Calls to [`SessionStore::delete`].
    pub delete: u64,
    /// Calls to [`SessionStore::delete_by_field`].
    pub delete_by_field: u64,
    /// Calls to [`SessionStore::delete_expired`].
    pub delete_expired: u64,
}

impl Counts {
    /// Calls that may write: everything but `load`.
    pub fn writes(&self) -> u64 {
        self.create
            + self.update
            + self.touch
            + self.supersede
            + self.move_to
            + self.delete
            + self.delete_by_field
            + self.delete_expired
    }
}

/// Wraps a real store and counts calls per operation, forwarding **every**
/// method of the trait (the optional ones and those with default
/// implementations included), so the wrapped store's own implementations run,
/// never the trait defaults.
///
/// Not a mock: the wrapped backend does all the work. Use it to prove that a
/// request wrote nothing, or how many calls an operation costs.
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
/// // Optional operations reach the wrapped store (which implements them).
/// assert_eq!(store.delete_expired().await.unwrap(), 0);
/// assert_eq!(store.counts().load, 1);
/// assert_eq!(store.counts().delete_expired, 1);
/// assert_eq!(store.capabilities(), MemoryStore::new().capabilities());
/// # });
/// ```
pub struct CountingStore {
    inner: Arc<dyn SessionStore>,
    counters: [AtomicU64; 9],
}

#[derive(Clone, Copy)]
enum Op {
    Load,
    Create,
    Update,
    Touch,
    Supersede,
    MoveTo,
    Delete,
    DeleteByField,
    DeleteExpired,
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
            counters: Default::default(),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn SessionStore> {
        &self.inner
    }

    /// A snapshot of the counters.
    pub fn counts(&self) -> Counts {
        let get = |op: Op| self.counters[op as usize].load(Ordering::SeqCst);
        Counts {
            load: get(Op::Load),
            create: get(Op::Create),
            update: get(Op::Update),
            touch: get(Op::Touch),
            supersede: get(Op::Supersede),
            move_to: get(Op::MoveTo),
            delete: get(Op::Delete),
            delete_by_field: get(Op::DeleteByField),
            delete_expired: get(Op::DeleteExpired),
        }
    }

    fn bump(&self, op: Op) {
        self.counters[op as usize].fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl SessionStore for CountingStore {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn reserved_fields(&self) -> &[&str] {
        self.inner.reserved_fields()
    }

    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        self.bump(Op::Load);
        self.inner.load(key).await
    }

    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        self.bump(Op::Create);
        self.inner.create(key, record).await
    }

    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        self.bump(Op::Update);
        self.inner.update(key, changes).await
    }

    async fn touch(&self, key: &RecordKey, meta: &MetaUpdate) -> Result<bool> {
        self.bump(Op::Touch);
        self.inner.touch(key, meta).await
    }

    async fn supersede(&self, key: &RecordKey, until: i64) -> Result<Option<Record>> {
        self.bump(Op::Supersede);
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
        self.bump(Op::MoveTo);
        self.inner
            .move_to(from, to, changes, binding, tombstone_until)
            .await
    }

    async fn delete(&self, key: &RecordKey) -> Result<()> {
        self.bump(Op::Delete);
        self.inner.delete(key).await
    }

    async fn delete_by_field(
        &self,
        prefix: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<u64> {
        self.bump(Op::DeleteByField);
        self.inner.delete_by_field(prefix, field, value).await
    }

    async fn delete_expired(&self) -> Result<u64> {
        self.bump(Op::DeleteExpired);
        self.inner.delete_expired().await
    }
}

//! [`PausingStore`]: a transparent wrapper that can hold one call at a gate,
//! so a check forces a race's interleaving instead of hoping for it.

use std::fmt;
use std::sync::{Arc, Mutex};

use session_plus_core::store::{Capabilities, Changes, MetaUpdate, Record, SessionStore};
use session_plus_core::{RecordKey, Result};
use tokio::sync::oneshot;

/// A [`SessionStore`] operation, to say which call [`PausingStore::pause_next`]
/// holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// [`SessionStore::load`].
    Load,
    /// [`SessionStore::create`].
    Create,
    /// [`SessionStore::update`].
    Update,
    /// [`SessionStore::touch`].
    Touch,
    /// [`SessionStore::supersede`].
    Supersede,
    /// [`SessionStore::move_to`].
    MoveTo,
    /// [`SessionStore::delete`].
    Delete,
}

struct Gate {
    op: Op,
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// Wraps a real store, forwarding every method; a call can be held before it
/// reaches the wrapped store until the check releases it.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use session_plus_conformance::{fixtures, Op, PausingStore};
/// use session_plus_core::{store::SessionStore, MemoryStore};
///
/// let store = Arc::new(PausingStore::new(Arc::new(MemoryStore::new())));
/// let key = fixtures::key(fixtures::PREFIX);
/// let mut gate = store.pause_next(Op::Load);
/// let held = tokio::spawn({
///     let (store, key) = (store.clone(), key.clone());
///     async move { store.load(&key).await }
/// });
/// gate.reached().await; // the load is now held, before the wrapped store
/// gate.release();
/// assert!(held.await.unwrap().unwrap().is_none());
/// # });
/// ```
pub struct PausingStore {
    inner: Arc<dyn SessionStore>,
    gates: Mutex<Vec<Gate>>,
}

/// The check's side of a gate armed by [`PausingStore::pause_next`]. Dropping
/// it releases the held call (so a failed check never leaves a call hanging).
#[derive(Debug)]
pub struct Paused {
    reached: Option<oneshot::Receiver<()>>,
    release: Option<oneshot::Sender<()>>,
}

impl Paused {
    /// Wait until a call is held at the gate.
    ///
    /// # Panics
    /// If the store was dropped without any call reaching the gate.
    pub async fn reached(&mut self) {
        if let Some(rx) = self.reached.take() {
            rx.await
                .expect("the store went away before a call reached the gate");
        }
    }

    /// Let the held call (or the next one, if none is held yet) go on.
    pub fn release(mut self) {
        if let Some(tx) = self.release.take() {
            let _ = tx.send(());
        }
    }
}

impl fmt::Debug for PausingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PausingStore")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl PausingStore {
    /// Forward every call to `inner`, holding none until asked.
    pub fn new(inner: Arc<dyn SessionStore>) -> Self {
        Self {
            inner,
            gates: Mutex::new(Vec::new()),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn SessionStore> {
        &self.inner
    }

    /// Hold the next call of `op` before it reaches the wrapped store, until
    /// the returned handle is released or dropped.
    pub fn pause_next(&self, op: Op) -> Paused {
        let (reached_tx, reached_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        self.lock().push(Gate {
            op,
            reached: reached_tx,
            release: release_rx,
        });
        Paused {
            reached: Some(reached_rx),
            release: Some(release_tx),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Gate>> {
        self.gates.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn gate(&self, op: Op) {
        let gate = {
            let mut gates = self.lock();
            let i = gates.iter().position(|g| g.op == op);
            i.map(|i| gates.remove(i))
        };
        if let Some(gate) = gate {
            let _ = gate.reached.send(());
            // Released, or the handle was dropped: go on either way.
            let _ = gate.release.await;
        }
    }
}

#[async_trait::async_trait]
impl SessionStore for PausingStore {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn reserved_fields(&self) -> &[&str] {
        self.inner.reserved_fields()
    }

    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        self.gate(Op::Load).await;
        self.inner.load(key).await
    }

    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        self.gate(Op::Create).await;
        self.inner.create(key, record).await
    }

    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        self.gate(Op::Update).await;
        self.inner.update(key, changes).await
    }

    async fn touch(&self, key: &RecordKey, meta: &MetaUpdate) -> Result<bool> {
        self.gate(Op::Touch).await;
        self.inner.touch(key, meta).await
    }

    async fn supersede(&self, key: &RecordKey, until: i64) -> Result<Option<Record>> {
        self.gate(Op::Supersede).await;
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
        self.gate(Op::MoveTo).await;
        self.inner
            .move_to(from, to, changes, binding, tombstone_until)
            .await
    }

    async fn delete(&self, key: &RecordKey) -> Result<()> {
        self.gate(Op::Delete).await;
        self.inner.delete(key).await
    }

    async fn delete_by_field(
        &self,
        prefix: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<u64> {
        self.inner.delete_by_field(prefix, field, value).await
    }

    async fn delete_expired(&self) -> Result<u64> {
        self.inner.delete_expired().await
    }
}

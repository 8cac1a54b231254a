//! The connections, and running blocking SQLite work off the async runtime.
//!
//! One **writer** connection behind an async mutex: SQLite allows one writer
//! at a time anyway, and queueing writers in-process (instead of letting
//! several connections spin in SQLite's busy handler) keeps write latency flat
//! under contention. `busy_timeout` still covers other processes on the file.
//! A small fixed set of **reader** connections serves `load`s concurrently (WAL
//! lets readers run next to the writer). An in-memory database has no
//! readers: every call uses its single connection.
//!
//! The locks are async (`tokio::sync::Mutex`), so waiting for a connection
//! never occupies a runtime worker or a blocking thread; the SQLite work itself
//! runs in [`tokio::task::spawn_blocking`] with the lock guard moved in.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rusqlite::Connection;
use session_plus_core::{Error, Result};
use tokio::sync::{Mutex, OwnedMutexGuard};

type Shared = Arc<Mutex<Connection>>;

pub(crate) struct Pool {
    writer: Shared,
    readers: Vec<Shared>,
    next_reader: AtomicUsize,
}

impl Pool {
    pub(crate) fn new(writer: Connection, readers: Vec<Connection>) -> Self {
        Self {
            writer: Arc::new(Mutex::new(writer)),
            readers: readers
                .into_iter()
                .map(|c| Arc::new(Mutex::new(c)))
                .collect(),
            next_reader: AtomicUsize::new(0),
        }
    }

    pub(crate) fn readers(&self) -> usize {
        self.readers.len()
    }

    /// Run `f` on the writer connection.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        run(self.writer.clone().lock_owned().await, f).await
    }

    /// Run `f` on a free reader connection (waiting for one if all are busy).
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        if self.readers.is_empty() {
            return self.write(f).await;
        }
        let free = self
            .readers
            .iter()
            .find_map(|c| c.clone().try_lock_owned().ok());
        let guard = match free {
            Some(g) => g,
            None => {
                let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
                self.readers[i].clone().lock_owned().await
            }
        };
        run(guard, f).await
    }
}

/// If the caller stops waiting (a timeout), the blocking work still runs to
/// the end with the connection locked, so a transaction either commits or
/// rolls back as a whole.
async fn run<T, F>(mut conn: OwnedMutexGuard<Connection>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(move || f(&mut conn))
        .await
        .map_err(|e| Error::backend(crate::LABEL, e))?
}

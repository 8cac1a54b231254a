//! [`SqliteStore`]: opening, options, the [`SessionStore`] implementation and
//! the expiry sweeper.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use session_plus_core::store::{Capabilities, Changes, Record, SessionStore};
use session_plus_core::{unix_now, Error, RecordKey, Result};
use tokio::task::JoinHandle;

use crate::ops::{self, Moved, Stored};
use crate::pool::Pool;
use crate::{db, schema};

/// Records deleted per write transaction by [`SessionStore::delete_expired`],
/// so a big sweep never holds the write lock for long.
const SWEEP_BATCH: usize = 500;

/// Settings for [`SqliteStore::open_with`].
///
/// ```
/// use std::time::Duration;
/// use session_plus_sqlite::SqliteOptions;
///
/// let options = SqliteOptions::default()
///     .readers(2)
///     .busy_timeout(Duration::from_secs(1));
/// assert_eq!(options, SqliteOptions::default().readers(2).busy_timeout(Duration::from_secs(1)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct SqliteOptions {
    readers: usize,
    busy_timeout: Duration,
}

impl Default for SqliteOptions {
    /// Four reader connections and a five-second busy timeout.
    fn default() -> Self {
        Self {
            readers: 4,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

impl SqliteOptions {
    /// How many read-only connections serve `load`s concurrently (besides the
    /// one writer). `0` makes every call use the writer.
    pub fn readers(mut self, n: usize) -> Self {
        self.readers = n;
        self
    }

    /// How long a connection waits for a lock held by another process before
    /// failing with "database is locked".
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }
}

/// A session backend in an SQLite database: the embedded default for
/// server-side fields. See the [crate docs](crate) for the data layout and the
/// guarantees.
///
/// Cheap to clone: clones share the connections. The database closes when the
/// last clone is dropped.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use session_plus_core::store::SessionStore;
/// use session_plus_sqlite::SqliteStore;
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = SqliteStore::open(dir.path().join("sessions.db"))?;
/// assert!(store.capabilities().field_level_writes);
/// assert!(!store.capabilities().native_ttl);
/// assert_eq!(store.delete_expired().await?, 0);
/// # Ok::<(), session_plus_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// `None` for an in-memory database.
    path: Option<PathBuf>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field(
                "path",
                &self.inner.path.as_deref().unwrap_or(Path::new(":memory:")),
            )
            .field("readers", &self.inner.pool.readers())
            .finish()
    }
}

fn configure(conn: &Connection, options: &SqliteOptions) -> Result<()> {
    conn.busy_timeout(options.busy_timeout).map_err(db)
}

impl SqliteStore {
    /// Open (creating if needed) the database file at `path`, in WAL mode, and
    /// create the tables if they are missing.
    ///
    /// Blocking: call it at start-up. Fails if the file is not an SQLite
    /// database, cannot be opened for writing, or holds a newer schema version.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = session_plus_sqlite::SqliteStore::open(dir.path().join("s.db")).unwrap();
    /// # drop(store);
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// [`SqliteStore::open`] with explicit [`SqliteOptions`].
    ///
    /// ```
    /// use session_plus_sqlite::{SqliteOptions, SqliteStore};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = SqliteStore::open_with(dir.path().join("s.db"), SqliteOptions::default().readers(1)).unwrap();
    /// # drop(store);
    /// ```
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self> {
        let path = path.as_ref();
        Self::open_path(path, &options).map_err(|e| OpenError::wrap(path, e))
    }

    fn open_path(path: &Path, options: &SqliteOptions) -> Result<Self> {
        let mut writer = Connection::open(path).map_err(db)?;
        configure(&writer, options)?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(db)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(journal_mode = %mode, "SQLite session store could not switch to WAL mode; readers will wait for writers");
        }
        // In WAL mode NORMAL is durable against application crashes; a power
        // loss may drop the last commits (acceptable for sessions).
        writer
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(db)?;
        schema::migrate(&mut writer)?;
        let readers = (0..options.readers)
            .map(|_| {
                let conn = Connection::open(path).map_err(db)?;
                configure(&conn, options)?;
                conn.pragma_update(None, "query_only", true).map_err(db)?;
                Ok(conn)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::from_pool(
            Pool::new(writer, readers),
            Some(path.to_owned()),
        ))
    }

    /// A private in-memory database (one connection; gone when the store is
    /// dropped). For tests and demos.
    ///
    /// ```
    /// let store = session_plus_sqlite::SqliteStore::open_in_memory().unwrap();
    /// # drop(store);
    /// ```
    pub fn open_in_memory() -> Result<Self> {
        let mut conn = Connection::open_in_memory().map_err(db)?;
        schema::migrate(&mut conn)?;
        Ok(Self::from_pool(Pool::new(conn, Vec::new()), None))
    }

    fn from_pool(pool: Pool, path: Option<PathBuf>) -> Self {
        Self {
            inner: Arc::new(Inner { pool, path }),
        }
    }

    /// Run [`SessionStore::delete_expired`] every `every` (first run right
    /// away) on the current tokio runtime, until the store is dropped.
    ///
    /// The task holds only a weak reference: once the last clone of the store
    /// is dropped, it ends at its next tick. Failures are logged at `warn` and
    /// retried at the next tick. A zero interval is treated as one second.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use session_plus_sqlite::SqliteStore;
    ///
    /// let store = SqliteStore::open_in_memory().unwrap();
    /// let sweeper = store.spawn_sweeper(Duration::from_millis(10));
    /// drop(store);
    /// sweeper.await.unwrap(); // ends because the store is gone
    /// # });
    /// ```
    pub fn spawn_sweeper(&self, every: Duration) -> JoinHandle<()> {
        let every = if every.is_zero() {
            Duration::from_secs(1)
        } else {
            every
        };
        let store = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(inner) = store.upgrade() else { break };
                match delete_expired(&inner).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(removed = n, "swept expired sessions"),
                    Err(e) => tracing::warn!(error = %e, "sweeping expired sessions failed"),
                }
            }
        })
    }
}

/// Why a database file could not be opened: the path, the operating
/// system's reason when there is one, and SQLite's error as the source.
#[derive(Debug)]
struct OpenError {
    path: PathBuf,
    os: Option<std::io::Error>,
    source: session_plus_core::Error,
}

impl OpenError {
    fn wrap(path: &Path, source: session_plus_core::Error) -> session_plus_core::Error {
        // SQLite says only "unable to open database file"; the OS says why.
        let os = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .err();
        session_plus_core::Error::backend(
            crate::LABEL,
            OpenError {
                path: path.to_owned(),
                os,
                source,
            },
        )
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot open the SQLite database `{}`",
            self.path.display()
        )?;
        if let Some(os) = &self.os {
            write!(f, " ({os})")?;
        }
        Ok(())
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

async fn delete_expired(inner: &Inner) -> Result<u64> {
    let now = unix_now();
    let mut total = 0u64;
    loop {
        let n = inner
            .pool
            .write(move |c| ops::delete_expired_batch(c, now, SWEEP_BATCH))
            .await?;
        total += n as u64;
        if n < SWEEP_BATCH {
            return Ok(total);
        }
    }
}

/// Log a record that is live but cannot be read, and report it as absent.
fn corrupt(op: &'static str) -> bool {
    tracing::warn!(
        op,
        "unreadable session record in SQLite treated as absent (left in place until it expires)"
    );
    false
}

#[async_trait::async_trait]
impl SessionStore for SqliteStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .field_level_writes(true)
            .compare_and_swap(true)
            .delete_by_field(true)
            .delete_expired(true)
    }

    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        let (key, now) = (key.store_key(), unix_now());
        match self
            .inner
            .pool
            .read(move |c| ops::load(c, &key, now))
            .await?
        {
            Stored::Live(record) => Ok(Some(record)),
            Stored::Absent => Ok(None),
            Stored::Corrupt => {
                corrupt("load");
                Ok(None)
            }
        }
    }

    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        let (key, now, record) = (key.store_key(), unix_now(), record.clone());
        self.inner
            .pool
            .write(move |c| ops::create(c, &key, &record, now))
            .await
    }

    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        let (key, now, changes) = (key.store_key(), unix_now(), changes.clone());
        match self
            .inner
            .pool
            .write(move |c| ops::update(c, &key, &changes, now))
            .await?
        {
            Stored::Live(_) => Ok(true),
            Stored::Absent => Ok(false),
            Stored::Corrupt => Ok(corrupt("update")),
        }
    }

    /// One immediate transaction: read the record, delete its fields, turn
    /// its row into the tombstone.
    async fn supersede(&self, key: &RecordKey, until: i64) -> Result<Option<Record>> {
        let (key, now) = (key.store_key(), unix_now());
        match self
            .inner
            .pool
            .write(move |c| ops::supersede(c, &key, until, now))
            .await?
        {
            Stored::Live(record) => Ok(Some(record)),
            Stored::Absent => Ok(None),
            Stored::Corrupt => {
                corrupt("supersede");
                Ok(None)
            }
        }
    }

    /// Supersede and create in one immediate transaction: both or neither.
    async fn move_to(
        &self,
        from: &RecordKey,
        to: &RecordKey,
        changes: &Changes,
        binding: &str,
        tombstone_until: i64,
    ) -> Result<bool> {
        let (from, to, now) = (from.store_key(), to.store_key(), unix_now());
        let (changes, binding) = (changes.clone(), binding.to_owned());
        let moved = self
            .inner
            .pool
            .write(move |c| ops::move_to(c, &from, &to, &changes, &binding, tombstone_until, now))
            .await?;
        match moved {
            Moved::Done => Ok(true),
            Moved::Absent => Ok(false),
            Moved::Corrupt => Ok(corrupt("move_to")),
            Moved::Taken => Err(Error::backend(
                crate::LABEL,
                "the new session id is already taken (broken random number generator?)",
            )),
        }
    }

    async fn delete(&self, key: &RecordKey) -> Result<()> {
        let key = key.store_key();
        self.inner.pool.write(move |c| ops::delete(c, &key)).await
    }

    async fn delete_expired(&self) -> Result<u64> {
        delete_expired(&self.inner).await
    }

    async fn delete_by_field(
        &self,
        prefix: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<u64> {
        let (prefix, field) = (prefix.to_owned(), field.to_owned());
        let value = value.to_string();
        self.inner
            .pool
            .write(move |c| ops::delete_by_field(c, &prefix, &field, &value))
            .await
    }
}

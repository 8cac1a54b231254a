//! [`MemcacheStore`]: the [`SessionStore`] over a pool of memcached servers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use memcache::exp::{AsyncMetaClient, Meta, MetaClientBuilder, MutationStatus};
use session_plus_core::store::{Capabilities, Changes, MetaUpdate, Record, SessionStore};
use session_plus_core::{unix_now, Error, RecordKey, Result};

use crate::codec::{self, ITEM_FLAGS};
use crate::error::{backend, MemcacheError, LABEL};
use crate::routing::StableRendezvous;
use crate::snapshots::Snapshots;

/// Tuning of a [`MemcacheStore`] and of the client it builds.
///
/// ```
/// use std::time::Duration;
/// use session_plus_memcache::MemcacheOptions;
///
/// let options = MemcacheOptions::default()
///     .io_timeout(Duration::from_millis(500))
///     .cas_attempts(32);
/// assert_eq!(options.io_timeout_value(), Duration::from_millis(500));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MemcacheOptions {
    connect_timeout: Duration,
    io_timeout: Duration,
    max_idle_connections: usize,
    max_connections: Option<usize>,
    cas_attempts: u32,
    snapshot_capacity: usize,
}

impl Default for MemcacheOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(1),
            io_timeout: Duration::from_secs(1),
            max_idle_connections: 8,
            max_connections: None,
            cas_attempts: 64,
            snapshot_capacity: 4096,
        }
    }
}

impl MemcacheOptions {
    /// How long connecting to one server may take (default 1 s).
    #[must_use]
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// How long one exchange (request and answer) may take (default 1 s).
    /// Keep it below the interface's timeout, so a frozen server shows up as
    /// this error and its connection is thrown away.
    #[must_use]
    pub fn io_timeout(mut self, d: Duration) -> Self {
        self.io_timeout = d;
        self
    }

    /// The exchange timeout set with [`MemcacheOptions::io_timeout`].
    pub fn io_timeout_value(&self) -> Duration {
        self.io_timeout
    }

    /// Idle connections kept per server (default 8).
    #[must_use]
    pub fn max_idle_connections(mut self, n: usize) -> Self {
        self.max_idle_connections = n;
        self
    }

    /// Connections in use per server at most (default: no cap). At the cap a
    /// call waits for a free connection up to the connect timeout.
    #[must_use]
    pub fn max_connections(mut self, n: Option<usize>) -> Self {
        self.max_connections = n;
        self
    }

    /// How many read–merge–compare-and-swap rounds an update may take when
    /// other requests keep changing the same session (default 64; at least
    /// 1). Past that the update fails with a backend error (503) and writes
    /// nothing.
    #[must_use]
    pub fn cas_attempts(mut self, n: u32) -> Self {
        self.cas_attempts = n.max(1);
        self
    }

    /// How many recent loads are remembered (item bytes and CAS, for 5
    /// seconds; items up to 16 KiB, 4 MiB in all) so the update that follows
    /// a load in the same request needs no second read (default 4096; 0
    /// turns it off). Only a round-trip saving: the CAS check makes a stale
    /// snapshot harmless.
    #[must_use]
    pub fn snapshot_capacity(mut self, n: usize) -> Self {
        self.snapshot_capacity = n;
        self
    }
}

/// Sessions in a pool of memcached servers.
///
/// One item per session, holding its fields and meta as JSON (client flags
/// [`ITEM_FLAGS`]); the key is the interface's key prefix plus the session
/// id, routed to one server of the pool by [`StableRendezvous`]. See the
/// [crate docs](crate) for the operations and their round trips.
///
/// ```no_run
/// # async fn demo() -> session_plus_core::Result<()> {
/// use std::sync::Arc;
/// use session_plus_core::{FieldRules, Interface};
/// use session_plus_memcache::MemcacheStore;
///
/// let store = MemcacheStore::connect(&["10.0.0.1:11211", "10.0.0.2:11211"]).await?;
/// let interface = Interface::store("session", Arc::new(store))
///     .fields(FieldRules::include(["user_id"]));
/// # let _ = interface; Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemcacheStore {
    client: AsyncMetaClient,
    servers: Arc<[String]>,
    cas_attempts: u32,
    snapshots: Arc<Snapshots>,
}

impl fmt::Debug for MemcacheStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemcacheStore")
            .field("servers", &self.servers)
            .field("cas_attempts", &self.cas_attempts)
            .finish_non_exhaustive()
    }
}

/// `host:port` from a server as written in a configuration: `host:port`,
/// `host` (port 11211), `memcache://host:port` or `memcached://host:port`.
/// The result is the server's identity for routing, so both spellings of one
/// server route alike.
///
/// ```
/// use session_plus_memcache::parse_server;
///
/// assert_eq!(parse_server("memcache://10.0.0.1:11311").unwrap(), "10.0.0.1:11311");
/// assert_eq!(parse_server("cache-1").unwrap(), "cache-1:11211");
/// assert_eq!(parse_server("[::1]:11211").unwrap(), "[::1]:11211");
/// assert!(parse_server("redis://x:1").is_err());
/// assert!(parse_server("memcache://user:pw@x:1").is_err());
/// ```
pub fn parse_server(server: &str) -> std::result::Result<String, String> {
    let s = server.trim();
    let rest = match s.split_once("://") {
        Some(("memcache" | "memcached", rest)) => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "`{scheme}://` is not a memcached address (use host:port or memcache://host:port)"
            ))
        }
        None => s,
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('@') {
        return Err(
            "memcached's text and meta protocols have no authentication: remove the user and password"
                .to_owned(),
        );
    }
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        return Err(format!("`{rest}` is not host:port"));
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("`{rest}`: unclosed `[`"))?;
        (format!("[{host}]"), after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (rest.to_owned(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(format!("`{rest}` has no host"));
    }
    let port = match port {
        None => 11211,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("`{rest}` has no valid port"))?,
    };
    Ok(format!("{host}:{port}"))
}

impl MemcacheStore {
    /// Connect to a pool with default [`MemcacheOptions`]. See
    /// [`MemcacheStore::connect_with`].
    pub async fn connect(servers: &[impl AsRef<str>]) -> Result<Self> {
        Self::connect_with(servers, MemcacheOptions::default()).await
    }

    /// Connect to a pool: every server is parsed ([`parse_server`]) and
    /// resolved, and probed with one TCP connection. Fails when an address
    /// is malformed or does not resolve, or when no server of the pool
    /// accepts a connection; a server that is down while others answer
    /// only logs a warning (its sessions fail with 503 until it is back,
    /// the rest work).
    ///
    /// ```no_run
    /// # async fn demo() -> session_plus_core::Result<()> {
    /// use std::time::Duration;
    /// use session_plus_memcache::{MemcacheOptions, MemcacheStore};
    ///
    /// let options = MemcacheOptions::default().io_timeout(Duration::from_millis(300));
    /// let store = MemcacheStore::connect_with(&["memcache://10.0.0.1:11211", "10.0.0.2"], options).await?;
    /// # let _ = store; Ok(()) }
    /// ```
    pub async fn connect_with(
        servers: &[impl AsRef<str>],
        options: MemcacheOptions,
    ) -> Result<Self> {
        Self::connect_named(LABEL, servers, options).await
    }

    pub(crate) async fn connect_named(
        interface: &str,
        servers: &[impl AsRef<str>],
        options: MemcacheOptions,
    ) -> Result<Self> {
        let servers: Vec<String> = servers
            .iter()
            .map(|s| {
                parse_server(s.as_ref()).map_err(|why| Error::config(interface, "servers", why))
            })
            .collect::<Result<_>>()?;
        if servers.is_empty() {
            return Err(Error::config(
                interface,
                "servers",
                "the server list is empty",
            ));
        }
        let mut unique = servers.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != servers.len() {
            return Err(Error::config(
                interface,
                "servers",
                "a server is listed twice",
            ));
        }
        let client = Self::client_builder(&options)
            .connect_multiple_async(servers.iter().map(String::as_str))
            .await
            .map_err(|e| Error::backend(interface, MemcacheError::from_client(e)))?;
        let mut reachable = 0;
        for server in &servers {
            let probe = tokio::time::timeout(
                options.connect_timeout,
                tokio::net::TcpStream::connect(server.as_str()),
            )
            .await;
            match probe {
                Ok(Ok(_)) => reachable += 1,
                _ => tracing::warn!(
                    interface,
                    server = server.as_str(),
                    "memcached server unreachable at start-up; its sessions fail until it is back"
                ),
            }
        }
        if reachable == 0 {
            return Err(Error::backend(
                interface,
                MemcacheError::new(format!(
                    "no memcached server of the pool accepts connections ({})",
                    servers.join(", ")
                )),
            ));
        }
        let mut store = Self::from_client(client, &servers);
        store.cas_attempts = options.cas_attempts;
        store.snapshots = Arc::new(Snapshots::new(options.snapshot_capacity));
        Ok(store)
    }

    /// A client builder with this backend's router ([`StableRendezvous`]),
    /// timeouts and pool sizes, for building the client yourself and handing
    /// it to [`MemcacheStore::from_client`].
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use session_plus_memcache::{MemcacheOptions, MemcacheStore};
    ///
    /// let servers = ["10.0.0.1:11211", "10.0.0.2:11211"];
    /// let client = MemcacheStore::client_builder(&MemcacheOptions::default())
    ///     .connect_multiple_async(servers)
    ///     .await?;
    /// let store = MemcacheStore::from_client(client, &servers);
    /// # let _ = store; Ok(()) }
    /// ```
    pub fn client_builder(options: &MemcacheOptions) -> MetaClientBuilder {
        AsyncMetaClient::builder()
            .router(StableRendezvous)
            .connect_timeout(Some(options.connect_timeout))
            .io_timeout(Some(options.io_timeout))
            .max_idle(options.max_idle_connections)
            .max_connections(options.max_connections)
    }

    /// Use a client you built (the seed's "client passed in"). `servers`
    /// are the addresses it was built with, for `Debug` output only.
    ///
    /// Build it with [`MemcacheStore::client_builder`], or at least with
    /// `.router(StableRendezvous)`: the client crate's default router hashes
    /// with Rust's `DefaultHasher`, which is not guaranteed to agree between
    /// two builds of your application, so two app servers could look for one
    /// session on different memcached servers.
    pub fn from_client(client: AsyncMetaClient, servers: &[impl AsRef<str>]) -> Self {
        let options = MemcacheOptions::default();
        Self {
            client,
            servers: servers.iter().map(|s| s.as_ref().to_owned()).collect(),
            cas_attempts: options.cas_attempts,
            snapshots: Arc::new(Snapshots::new(options.snapshot_capacity)),
        }
    }

    /// The client, for anything this store does not do.
    pub fn client(&self) -> &AsyncMetaClient {
        &self.client
    }

    /// One read with the item's CAS: the record (`None` for a miss, or an
    /// item that is not ours or is corrupt), its CAS, and the raw item.
    async fn gets(&self, key: &str) -> Result<Option<Item>> {
        let got = self
            .client
            .get(key)
            .meta(Meta::NONE.cas())
            .send()
            .await
            .map_err(backend)?;
        if !got.hit() {
            return Ok(None);
        }
        let (Some(value), Some(cas)) = (got.value, got.item.cas) else {
            return Err(Error::backend(
                LABEL,
                MemcacheError::new("memcached answered a hit without a value or CAS"),
            ));
        };
        Ok(Some(Item {
            record: codec::decode(got.client_flags, &value),
            cas,
            flags: got.client_flags,
            value,
        }))
    }

    /// Store `record` under `key` if the item still has `cas`.
    async fn cas_write(&self, key: &str, record: &Record, cas: u64, now: i64) -> Result<Written> {
        let result = self
            .client
            .set(key, codec::encode(record))
            .client_flags(ITEM_FLAGS)
            .ttl_raw(codec::exptime(record.meta.expires, now))
            .compare_cas(cas)
            .send()
            .await
            .map_err(backend)?;
        Ok(match result.status {
            MutationStatus::Applied => Written::Yes,
            MutationStatus::NotFound => Written::Gone,
            _ => Written::Raced,
        })
    }

    /// The read–merge–compare-and-swap loop behind `update`, `touch` and
    /// `supersede`. `step` sees the current live record (`None` when there
    /// is none, it expired, or it is not ours) and says what to write; the
    /// write only lands if nothing changed the item since it was read,
    /// otherwise the loop reads again. The first round may use what a
    /// recent `load` saw instead of reading.
    async fn merge<T>(
        &self,
        key: &RecordKey,
        mut step: impl FnMut(Option<&Record>, i64) -> Step<T>,
    ) -> Result<T> {
        let key = key.store_key();
        let mut snapshot = self.snapshots.take(&key).map(|s| Item {
            record: codec::decode(s.flags, &s.value),
            cas: s.cas,
            flags: s.flags,
            value: s.value,
        });
        for attempt in 0..self.cas_attempts {
            let now = unix_now();
            let item = match snapshot.take() {
                // A snapshot of a record that is no longer writable decides
                // nothing: read afresh.
                Some(item) if item.record.as_ref().is_some_and(|r| r.is_writable(now)) => {
                    Some(item)
                }
                _ => self.gets(&key).await?,
            };
            let live = item
                .as_ref()
                .and_then(|i| i.record.as_ref())
                .filter(|r| r.is_live(now));
            let (record, out) = match step(live, now) {
                Step::Done(out) => return Ok(out),
                Step::Write(record, out) => (record, out),
            };
            let Some(item) = item else {
                return Err(Error::backend(
                    LABEL,
                    MemcacheError::new("a merge asked to write a session that is not there"),
                ));
            };
            match self.cas_write(&key, &record, item.cas, now).await? {
                Written::Yes => return Ok(out),
                // Gone since the read (deleted, evicted): the next round
                // sees the miss and writes nothing.
                Written::Gone | Written::Raced => backoff(attempt).await,
            }
        }
        Err(Error::backend(
            LABEL,
            MemcacheError::new(format!(
                "gave up after {} compare-and-swap rounds: other requests kept changing this session",
                self.cas_attempts
            )),
        ))
    }
}

struct Item {
    record: Option<Record>,
    cas: u64,
    flags: Option<u32>,
    value: Vec<u8>,
}

enum Written {
    Yes,
    Gone,
    Raced,
}

/// What a merge round decided.
enum Step<T> {
    /// Write nothing; the call returns this.
    Done(T),
    /// Compare-and-swap this record in; the call returns the value if it lands.
    Write(Record, T),
}

/// A short random pause after a lost compare-and-swap, growing with the
/// attempt (at most 16 ms), so racing writers spread out instead of colliding
/// again in lock step.
async fn backoff(attempt: u32) {
    if attempt == 0 {
        return;
    }
    let cap_us = 250u64 << attempt.min(6);
    let mut bytes = [0u8; 8];
    let random = match getrandom::getrandom(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => u64::from(attempt) * 7919,
    };
    tokio::time::sleep(Duration::from_micros(random % cap_us)).await;
}

#[async_trait::async_trait]
impl SessionStore for MemcacheStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new().compare_and_swap(true).native_ttl(true)
    }

    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        let store_key = key.store_key();
        let Some(item) = self.gets(&store_key).await? else {
            return Ok(None);
        };
        let Some(record) = item.record else {
            tracing::warn!(
                prefix = key.prefix(),
                "memcached item is not a session-plus record (foreign or corrupt); treating it as absent"
            );
            return Ok(None);
        };
        if !record.is_live(unix_now()) {
            return Ok(None);
        }
        self.snapshots
            .put(&store_key, item.cas, item.flags, item.value);
        Ok(Some(record))
    }

    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        let store_key = key.store_key();
        let value = codec::encode(record);
        for attempt in 0..self.cas_attempts {
            let now = unix_now();
            let added = self
                .client
                .set(&store_key, &value)
                .client_flags(ITEM_FLAGS)
                .ttl_raw(codec::exptime(record.meta.expires, now))
                .add()
                .send()
                .await
                .map_err(backend)?;
            if added.applied() {
                self.snapshots.forget(&store_key);
                return Ok(true);
            }
            // Something is there. Only an item memcached still keeps but
            // our clock says has expired may be replaced (with CAS, so a
            // concurrent create still has one winner); a live record, a
            // live tombstone, or an item that is not ours is never
            // overwritten.
            match self.gets(&store_key).await? {
                None => {}
                Some(Item {
                    record: Some(old),
                    cas,
                    ..
                }) if !old.is_live(now) => {
                    if let Written::Yes = self.cas_write(&store_key, record, cas, now).await? {
                        self.snapshots.forget(&store_key);
                        return Ok(true);
                    }
                }
                Some(_) => return Ok(false),
            }
            backoff(attempt).await;
        }
        Err(Error::backend(
            LABEL,
            MemcacheError::new("could not create the session: its key kept changing"),
        ))
    }

    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        self.merge(key, |current, now| match current {
            Some(record) if record.is_writable(now) => {
                let mut next = record.clone();
                changes.apply_to(&mut next);
                // Written even when nothing changed: the compare-and-swap is
                // what proves the record is still there and unchanged.
                Step::Write(next, true)
            }
            _ => Step::Done(false),
        })
        .await
    }

    /// A merge like `update`, not memcached's `touch` command: the record's
    /// `accessed` and `expires` live inside the item and must move with the
    /// item's exptime, `expires` only forward (unless the update shortens
    /// it), and a tombstone must refuse the refresh, none of which the
    /// `touch` command (a blind exptime change) can do.
    async fn touch(&self, key: &RecordKey, meta: &MetaUpdate) -> Result<bool> {
        self.update(key, &Changes::new(meta.clone())).await
    }

    async fn supersede(&self, key: &RecordKey, until: i64) -> Result<Option<Record>> {
        self.merge(key, |current, now| match current {
            Some(record) if record.is_writable(now) => {
                Step::Write(record.tombstone(until), Some(record.clone()))
            }
            _ => Step::Done(None),
        })
        .await
    }

    async fn delete(&self, key: &RecordKey) -> Result<()> {
        let store_key = key.store_key();
        self.snapshots.forget(&store_key);
        self.client
            .delete(&store_key)
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// memcached cannot search items by content: always
    /// [`Error::unsupported`], and not claimed in the capabilities.
    async fn delete_by_field(
        &self,
        _prefix: &str,
        _field: &str,
        _value: &serde_json::Value,
    ) -> Result<u64> {
        Err(Error::unsupported(LABEL, "delete_by_field"))
    }
}

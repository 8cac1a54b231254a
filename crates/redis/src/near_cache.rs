//! An opt-in near cache: decoded records kept in the app server, invalidated
//! by Redis itself through RESP3 client tracking (`CLIENT TRACKING ON BCAST`),
//! on a standalone server or on every master of a Redis Cluster.
//!
//! [`NearCachedStore`] wraps a [`RedisStore`]. A read hit answers from memory
//! with no round trip; every write still goes to Redis as the store's
//! field-level scripts, so a stale read can never lose another request's
//! write (the scripts merge on the server).
//!
//! # The guarantee
//!
//! Dedicated RESP3 connections subscribe to invalidations of every key under
//! the tracked prefix, whoever writes it (BCAST mode): one to a standalone
//! server, one to each master of a cluster (a node reports only writes to its
//! own keys). Before serving a hit, the cache drains every one of these
//! sockets with real non-blocking `recv` calls (one per socket: one on a
//! standalone server, one per master on a cluster) and applies every
//! invalidation in them: **an invalidation whose bytes had reached this
//! server's socket when the read began is always applied before the read is
//! answered.** A read misses (goes to Redis) from the moment a write is
//! applied in Redis until its invalidation arrives, so the remaining window
//! is the network delivery of one push message. Redis sends BCAST
//! invalidations in the same event-loop iteration as the writer's reply,
//! before it (broadcasts are queued in `beforeSleep` ahead of pending
//! replies), so a read that starts after another app server's write to a key
//! has returned sees that write, on a standalone server as on a cluster (the
//! key's master sends both). A record filled from a reply that raced with an
//! invalidation of its key is not cached. When any invalidation connection is
//! lost, the whole cache is flushed and bypassed until every one is connected
//! and tracking again. Our own writes drop the local entry at once.
//! `FLUSHALL`/`FLUSHDB` are weaker: Redis writes their invalidation to
//! tracking clients without ordering it before the flushing client's reply,
//! so a read racing a flush may still be served from the cache until the
//! message arrives (microseconds on one host).
//!
//! # Keeping our own writes ([`NearCacheOptions::keep_own_writes`])
//!
//! By default our own writes drop the entry, so the next read (the read of
//! the next `/write`, typically) goes to Redis again. With
//! `keep_own_writes` on a standalone server, the tracking connection
//! carries this server's misses (`HGETALL`) and updates itself, under
//! `CLIENT TRACKING ON NOLOOP` (Redis's default mode, not broadcast): Redis
//! remembers the keys that connection read and reports another client's
//! change of them on the same connection, in order with the replies; the
//! changes made by the connection itself are not reported (`NOLOOP`), and
//! the update script answers with the record as the update left it (`{updated,
//! HGETALL}`), which becomes the entry. Every reply and invalidation is
//! applied where it stands in the stream, by whoever drains the socket, so
//! the cache always holds the state after the last thing Redis told us, in
//! Redis's order. Reads of a key still in flight elsewhere when our
//! update's reply is applied do not fill. A `/write` is then one round trip
//! (the script) instead of two. Other writes (create, touch, login, delete)
//! still go through the store and drop the entry.
//!
//! The difference in the guarantee: in the default mode Redis writes an
//! invalidation to the tracking client *right after* the writer's reply
//! (the same event-loop pass, but after it, microseconds apart on one
//! host), where broadcast mode writes it before. So a read that races a
//! write which has just returned to another app server can be answered
//! from memory until the invalidation arrives (the interleaving test counts
//! 3 such reads in 2 000). An invalidation that has reached the socket is
//! still always applied before a read is answered, and a stale entry never
//! outlives its invalidation. (Broadcast mode cannot keep our own writes:
//! Redis attributes a script's writes to the script's internal client, so
//! `NOLOOP` does not filter them in broadcast mode, and our own
//! invalidation cannot be told apart from another server's write in the
//! same event-loop pass.) Losing the tracking connection while an update
//! waits for its reply gives an error for that update (it may have been
//! applied); a lost read is made again through the store. Redis keeps a
//! tracking-table entry for every key this connection read, bounded by its
//! `tracking-table-max-keys` setting: beyond it Redis drops the oldest
//! entries and invalidates them here, so the bound costs hits, never
//! correctness.
//!
//! # Redis Cluster
//!
//! [`NearCachedStore::connect_cluster`] reads the slot map (`CLUSTER SLOTS`)
//! from the seed nodes and opens one tracking connection per master. Every
//! hit drains all of them, not only the one our slot map names for the key:
//! a slot moving between tracked masters then needs no map at all (its keys
//! leave the old master with a `DEL` that the old master reports, and every
//! later write is reported by the new one). Every `poll_interval` the
//! background task asks each tracked master for its slot map; when the
//! union of their answers changes (a master added or gone, a slot moved, a
//! failover), the whole cache is flushed, connections to masters no longer
//! listed are closed, and the cache is bypassed until a tracking connection
//! to every new master is open. The one remaining window: **a write applied
//! by a master we do not track yet** (a node that received slots, or a
//! replica promoted while the old master stays reachable) is not reported,
//! and a key read from that master in the meantime is cached; reads of it
//! may be answered from the cache until a topology poll notices the new
//! master. That poll must start after one of the tracked masters has learnt
//! of the change (the master that gave a slot away knows at once; a
//! failover reaches the others by gossip, normally within milliseconds), so
//! the window ends at most `poll_interval` plus one `CLUSTER SLOTS` round
//! trip per master after that; the poll then flushes everything (the
//! `a_slot_moved_to_a_new_master_is_followed` test shows both the window
//! and its end). A master that crashes closes its socket: flushed and
//! bypassed at once, as above. Reads go to masters only (the store does not
//! read from replicas).
//!
//! Costs on a cluster of N masters: N tracking connections (plus N small
//! control connections for `CLUSTER SLOTS`, one command per master per
//! `poll_interval`), and N non-blocking `recv` calls per read instead of one.
//! Losing any master's connection bypasses the cache for every key, not only
//! that master's: the slot map that would say which entries came from it may
//! itself be out of date, so only flushing everything is safe.
//!
//! Needs Redis 6 or newer (a clear error otherwise) and plain `redis://`
//! URLs (no TLS, no Unix socket).

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use session_plus_core::store::{Capabilities, Changes, MetaUpdate, Record, SessionStore};
use session_plus_core::{unix_now, Error, RecordKey, Result};

use tokio::sync::oneshot;

use crate::scripts::UPDATE_GET_SCRIPT;
use crate::RedisStore;

mod topology;

use topology::{Controls, SlotMap};

const LABEL: &str = "redis near cache";
/// `CLIENT SETNAME` of the invalidation connections (see `CLIENT LIST`).
const CLIENT_NAME: &str = "session-plus-near-cache";
/// Connect and reply timeout of the blocking set-up connections.
const SETUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of a [`NearCachedStore`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NearCacheOptions {
    /// Most records kept (default 100 000); beyond it an arbitrary entry is
    /// dropped for each new one.
    pub max_entries: usize,
    /// Key prefix tracked (BCAST `PREFIX`); empty tracks every key. Set it to
    /// the interface's key prefix to receive only its invalidations.
    pub prefix: String,
    /// How often an idle cache drains its invalidations, reconnects when
    /// disconnected and, on a cluster, re-reads the slot map (default
    /// 100 ms).
    pub poll_interval: Duration,
    /// Keep our own updates in the cache (standalone Redis only; default
    /// off). See [`keep_own_writes`](Self::keep_own_writes).
    pub keep_own_writes: bool,
}

impl Default for NearCacheOptions {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            prefix: String::new(),
            poll_interval: Duration::from_millis(100),
            keep_own_writes: false,
        }
    }
}

impl NearCacheOptions {
    /// Track only keys starting with `prefix`.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Keep our own updates in the cache, so that a read after this app
    /// server's write is a hit: a `/write` then costs one round trip
    /// instead of two. Standalone Redis only (ignored on a cluster).
    ///
    /// The tracking connection then carries this server's reads (misses)
    /// and updates itself, in Redis's default tracking mode with `NOLOOP`:
    /// Redis reports changes of the keys it read, in order with its
    /// replies, except the changes it made, whose replies carry the record
    /// as the update left it. The price, against the default broadcast
    /// mode: Redis writes another client's invalidation right *after* that
    /// client's reply instead of before it (same event-loop pass,
    /// microseconds apart on one host), so a read racing a write that has
    /// just returned elsewhere can be served the old record until the
    /// invalidation arrives. An invalidation that has reached the socket
    /// is still always applied before a read is answered. See the
    /// [module docs](self).
    ///
    /// ```
    /// use session_plus_redis::NearCacheOptions;
    /// let options = NearCacheOptions::default().keep_own_writes(true);
    /// assert!(options.keep_own_writes);
    /// ```
    #[must_use]
    pub fn keep_own_writes(mut self, keep: bool) -> Self {
        self.keep_own_writes = keep;
        self
    }

    /// Keep at most `n` records.
    #[must_use]
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = n.max(1);
        self
    }

    /// Drain, reconnect and (on a cluster) re-read the slot map this often
    /// while idle; at least 1 ms.
    ///
    /// ```
    /// use std::time::Duration;
    /// use session_plus_redis::NearCacheOptions;
    ///
    /// let o = NearCacheOptions::default().poll_interval(Duration::from_millis(20));
    /// assert_eq!(o.poll_interval, Duration::from_millis(20));
    /// ```
    #[must_use]
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every.max(Duration::from_millis(1));
        self
    }
}

/// Counters of one near cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NearCacheStats {
    /// Reads answered from memory.
    pub hits: u64,
    /// Reads that went to Redis.
    pub misses: u64,
    /// Keys invalidated by Redis (plus flushes counted once each).
    pub invalidations: u64,
    /// Times an invalidation connection was lost.
    pub disconnects: u64,
    /// Times a cluster's slot map or set of masters was seen to change
    /// (each flushed the cache).
    pub topology_changes: u64,
    /// Our own updates whose result refreshed the entry (standalone only:
    /// see the module docs), so the next read of that record is a hit.
    pub write_fills: u64,
}

/// One invalidation connection: to the server, or to one cluster master.
struct Node {
    /// `host:port`.
    addr: String,
    sock: Option<TcpStream>,
    buf: Vec<u8>,
    /// The same socket registered with tokio, made on the first own write:
    /// only to wait for a reply (reads stay real `recv` calls on `sock`).
    waker: Option<Arc<tokio::net::TcpStream>>,
    /// Our own updates sent on this connection, in order, awaiting replies.
    pending: VecDeque<Pending>,
}

/// An own update sent on a tracking connection: the key, and where its
/// result goes once its reply has been applied (in stream order).
struct Pending {
    key: String,
    /// An `HGETALL` (else the update-and-read script).
    read: bool,
    reply: oneshot::Sender<OwnReply>,
}

/// What an own update on a tracking connection came to.
enum OwnReply {
    /// A read's record (cached too when there is one).
    Read(Option<Record>),
    /// Applied; `true` if the record was writable (the script's answer).
    Done(bool),
    /// The server does not know the script by its hash (nothing ran).
    NoScript,
    /// A server error (the entry was dropped).
    Failed(String),
}

/// What the invalidations act on.
struct Cache {
    entries: HashMap<String, Arc<Record>>,
    max_entries: usize,
    /// Reads in flight: key -> (ticket, invalidated meanwhile).
    fetching: HashMap<String, (u64, bool)>,
    next_ticket: u64,
    stats: NearCacheStats,
}

struct State {
    /// One node on a standalone server; every known master on a cluster.
    nodes: Vec<Node>,
    /// Read buffer, zeroed once (not per drain: a drain runs on every read).
    chunk: Box<[u8]>,
    cache: Cache,
}

struct Shared {
    state: Mutex<State>,
    auth: Option<Auth>,
    options: NearCacheOptions,
    /// Seed addresses of a cluster; `None` on a standalone server.
    seeds: Option<Vec<String>>,
}

/// Username (if any) and password.
type Auth = (Option<String>, String);

/// A [`RedisStore`] with a near cache in front of its reads. See the
/// [module docs](self) for the guarantee.
///
/// ```no_run
/// # async fn demo() -> session_plus_core::Result<()> {
/// use std::sync::Arc;
/// use session_plus_core::{FieldRules, Interface};
/// use session_plus_redis::{NearCacheOptions, NearCachedStore, RedisStore};
///
/// let url = "redis://127.0.0.1:6379";
/// let store = RedisStore::from_url(url).await?;
/// let cached = NearCachedStore::connect(store, url, NearCacheOptions::default()).await?;
/// let interface = Interface::store("session", Arc::new(cached)).fields(FieldRules::All);
/// # let _ = interface; Ok(()) }
/// ```
#[derive(Clone)]
pub struct NearCachedStore {
    inner: Arc<RedisStore>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for NearCachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearCachedStore")
            .field("cluster", &self.shared.seeds.is_some())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Ticket of a read that missed: fill the cache only if nothing invalidated
/// the key meanwhile.
struct Ticket(u64);

enum Lookup {
    Hit(Record),
    /// A miss to fill from the store's read, if nothing invalidates the key
    /// meanwhile.
    Miss(Ticket),
    /// A miss to read on the tracking connection (`keep_own_writes`): its
    /// reply fills the cache where it stands in the stream.
    MissOwn,
    Bypass,
}

/// `host:port` and credentials of a plain `redis://` URL (errors never
/// contain the URL: it may hold a password).
fn tcp_addr(url: &str) -> Result<(String, Option<Auth>)> {
    let info = redis::IntoConnectionInfo::into_connection_info(url)
        .map_err(|e| Error::backend(LABEL, format!("not a usable Redis URL ({})", e.category())))?;
    let addr = match info.addr() {
        redis::ConnectionAddr::Tcp(host, port) => join_host_port(host, *port),
        _ => {
            return Err(Error::backend(
                LABEL,
                "the near cache needs plain redis:// TCP URLs (no TLS, no Unix socket)",
            ))
        }
    };
    let settings = info.redis_settings();
    let auth = settings
        .password()
        .map(|p| (settings.username().map(str::to_owned), p.to_owned()));
    Ok((addr, auth))
}

/// `host:port`, with an IPv6 host in brackets.
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl NearCachedStore {
    /// Wrap `store`, opening the invalidation connection to the standalone
    /// Redis server at `url` (the same server as the store's). Fails with a
    /// clear error on Redis older than 6, on TLS or Unix-socket URLs and on a
    /// Redis Cluster node (use [`NearCachedStore::connect_cluster`]).
    /// Call it inside a tokio runtime: a task drains invalidations while idle
    /// and reconnects.
    pub async fn connect(store: RedisStore, url: &str, options: NearCacheOptions) -> Result<Self> {
        let (addr, auth) = tcp_addr(url)?;
        let shared = Arc::new(Shared::new(vec![addr], auth, options, None));
        let sock = {
            let shared = shared.clone();
            let addr = shared.lock().nodes[0].addr.clone();
            blocking(move || shared.open(&addr)).await??
        };
        shared.lock().nodes[0].sock = Some(sock);
        tokio::spawn(background(Arc::downgrade(&shared), None));
        Ok(Self {
            inner: Arc::new(store),
            shared,
        })
    }

    /// Wrap `store`, a store on the Redis Cluster reachable through
    /// `seed_urls` (the URLs the store was made from, or any of its nodes):
    /// reads the slot map from the first seed that answers and opens one
    /// invalidation connection per master. Credentials are taken from the
    /// first seed URL that has some (every node gets the same). Fails with a
    /// clear error on Redis older than 6, on TLS or Unix-socket URLs, on a
    /// server that is not a cluster node and when a master cannot be reached.
    /// Call it inside a tokio runtime: a task drains invalidations while
    /// idle, reconnects and follows the cluster's topology (see the
    /// [module docs](self)).
    ///
    /// ```no_run
    /// # async fn demo() -> session_plus_core::Result<()> {
    /// use std::sync::Arc;
    /// use session_plus_core::{FieldRules, Interface};
    /// use session_plus_redis::{NearCacheOptions, NearCachedStore, RedisStore};
    ///
    /// let seeds = ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"];
    /// let store = RedisStore::from_cluster_urls(&seeds).await?;
    /// let options = NearCacheOptions::default().prefix("session");
    /// let cached = NearCachedStore::connect_cluster(store, &seeds, options).await?;
    /// let interface = Interface::store("session", Arc::new(cached)).fields(FieldRules::All);
    /// # let _ = interface; Ok(()) }
    /// ```
    pub async fn connect_cluster<S: AsRef<str>>(
        store: RedisStore,
        seed_urls: &[S],
        options: NearCacheOptions,
    ) -> Result<Self> {
        if seed_urls.is_empty() {
            return Err(Error::backend(LABEL, "needs at least one cluster node URL"));
        }
        let mut seeds = Vec::new();
        let mut auth = None;
        for url in seed_urls {
            let (addr, a) = tcp_addr(url.as_ref())?;
            seeds.push(addr);
            auth = auth.or(a);
        }
        let shared = Arc::new(Shared::new(Vec::new(), auth, options, Some(seeds)));
        let map = {
            let shared = shared.clone();
            blocking(move || shared.join_cluster()).await??
        };
        tokio::spawn(background(Arc::downgrade(&shared), Some(map)));
        Ok(Self {
            inner: Arc::new(store),
            shared,
        })
    }

    /// Hits, misses, invalidations, disconnects and topology changes so far.
    pub fn stats(&self) -> NearCacheStats {
        self.shared.lock().cache.stats
    }

    /// Records currently cached.
    pub fn len(&self) -> usize {
        self.shared.lock().cache.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Invalidation connections currently open and tracking (1 on a
    /// standalone server, the number of masters on a healthy cluster). While
    /// it is below that, every read goes to Redis.
    ///
    /// ```no_run
    /// # async fn demo(cached: session_plus_redis::NearCachedStore) {
    /// if cached.tracking_connections() == 0 {
    ///     eprintln!("near cache bypassed: {:?}", cached.stats());
    /// }
    /// # }
    /// ```
    pub fn tracking_connections(&self) -> usize {
        let st = self.shared.lock();
        st.nodes.iter().filter(|n| n.sock.is_some()).count()
    }

    /// A hit, or a miss, or a bypass while disconnected.
    fn lookup(&self, key: &str, now: i64) -> Lookup {
        let mut st = self.shared.lock();
        st.drain();
        let connected = st.connected();
        let cache = &mut st.cache;
        if !connected {
            cache.stats.misses += 1;
            return Lookup::Bypass;
        }
        if let Some(r) = cache.entries.get(key) {
            if r.meta.expires > now {
                let r = Record::clone(r);
                cache.stats.hits += 1;
                return Lookup::Hit(r);
            }
            cache.entries.remove(key);
        }
        cache.stats.misses += 1;
        if self.shared.own_path() {
            return Lookup::MissOwn;
        }
        if cache.fetching.len() >= self.shared.options.max_entries {
            // Reads cancelled between lookup and fill (e.g. by a timeout)
            // leave tickets behind: forgetting them all only skips fills.
            cache.fetching.clear();
        }
        cache.next_ticket += 1;
        let t = cache.next_ticket;
        cache.fetching.insert(key.to_owned(), (t, false));
        Lookup::Miss(Ticket(t))
    }

    fn fill(&self, key: &str, ticket: Ticket, record: Option<&Record>) {
        let mut st = self.shared.lock();
        st.drain();
        let connected = st.connected();
        let cache = &mut st.cache;
        let valid = cache.fetching.get(key) == Some(&(ticket.0, false));
        if cache.fetching.get(key).is_some_and(|(t, _)| *t == ticket.0) {
            cache.fetching.remove(key);
        }
        let (Some(record), true, true) = (record, valid, connected) else {
            return;
        };
        cache.insert(key, record.clone());
    }

    /// Send `packed` (an `HGETALL` when `read`, else one update-and-read
    /// script call on `key`) on the tracking connection (only used with
    /// `keep_own_writes`) and wait until its reply has been applied to the
    /// cache. `None` when it was not sent (the connection down or its
    /// socket buffer full): the caller uses the store's own connection.
    async fn on_tracking_connection(
        &self,
        key: &str,
        read: bool,
        packed: &[u8],
    ) -> Option<Result<OwnReply>> {
        let (tx, rx) = oneshot::channel();
        {
            // No drain first: the reply is applied after whatever came
            // before it on the stream anyway.
            let mut st = self.shared.lock();
            if !st.connected() {
                return None;
            }
            let State { nodes, cache, .. } = &mut *st;
            let node = nodes.first_mut()?;
            if node.waker.is_none() {
                let registered = node
                    .sock
                    .as_ref()
                    .and_then(|s| s.try_clone().ok())
                    .and_then(|s| tokio::net::TcpStream::from_std(s).ok());
                let waker = Arc::new(registered?);
                tokio::spawn(reader(Arc::downgrade(&self.shared), waker.clone()));
                node.waker = Some(waker);
            }
            if !node.send(packed) {
                if node.sock.is_none() {
                    tracing::warn!("redis near cache: a write could not be sent whole; connection closed, cache flushed");
                    cache.stats.disconnects += 1;
                    cache.flush();
                }
                return None;
            }
            node.pending.push_back(Pending {
                key: key.to_owned(),
                read,
                reply: tx,
            });
        }
        // The reader task (or any read's drain) applies the reply in stream
        // order and hands the outcome over.
        Some(rx.await.map_err(|_| {
            Error::backend(
                LABEL,
                "the connection was lost before the reply to a write came (the write may have been applied)",
            )
        }))
    }

    /// The update-and-read script on the tracking connection: by hash, then
    /// (the server did not know it) with its source. `None` when it could
    /// not be sent: the caller updates through the store.
    async fn update_on_tracking_connection(
        &self,
        key: &str,
        changes: &Changes,
    ) -> Option<Result<bool>> {
        let args = crate::store::update_args(changes);
        for by_hash in [true, false] {
            let packed = UPDATE_GET_SCRIPT.packed(by_hash, &[key.as_bytes()], &args);
            return Some(
                match self.on_tracking_connection(key, false, &packed).await? {
                    Ok(OwnReply::Done(updated)) => Ok(updated),
                    Ok(OwnReply::NoScript) => continue,
                    Ok(OwnReply::Failed(e)) => Err(Error::backend(LABEL, e)),
                    Ok(OwnReply::Read(_)) => {
                        Err(Error::backend(LABEL, "a read's reply to a write"))
                    }
                    Err(e) => Err(e),
                },
            );
        }
        None
    }

    /// Our own write: drop the entry now (Redis's invalidation follows).
    fn forget(&self, key: &str) {
        self.shared.lock().cache.invalidate(key);
    }

    fn forget_all(&self) {
        self.shared.lock().cache.flush();
    }
}

/// Run blocking socket work off the runtime's threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::backend(LABEL, e.to_string()))
}

impl Shared {
    fn new(
        addrs: Vec<String>,
        auth: Option<Auth>,
        options: NearCacheOptions,
        seeds: Option<Vec<String>>,
    ) -> Self {
        Self {
            state: Mutex::new(State {
                nodes: addrs.into_iter().map(Node::new).collect(),
                chunk: vec![0; 16 * 1024].into_boxed_slice(),
                cache: Cache {
                    entries: HashMap::new(),
                    max_entries: options.max_entries,
                    fetching: HashMap::new(),
                    next_ticket: 0,
                    stats: NearCacheStats::default(),
                },
            }),
            auth,
            options,
            seeds,
        }
    }

    /// Reads and updates go through the tracking connection
    /// ([`NearCacheOptions::keep_own_writes`] on a standalone server).
    fn own_path(&self) -> bool {
        self.options.keep_own_writes && self.seeds.is_none()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Read the slot map from the seeds and open a tracking connection to
    /// every master (blocking).
    fn join_cluster(&self) -> Result<SlotMap> {
        let seeds = self.seeds.as_deref().unwrap_or_default();
        let mut controls = Controls::default();
        let mut last = None;
        let mut map = None;
        for seed in seeds {
            match controls.slots(seed, self.auth.as_ref()) {
                Ok(m) => {
                    map = Some(m);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let Some(map) = map else {
            return Err(Error::backend(
                LABEL,
                format!(
                    "could not read the slot map (CLUSTER SLOTS) from any seed node: {}",
                    last.unwrap_or_default()
                ),
            ));
        };
        let mut nodes = Vec::new();
        for addr in map.masters() {
            let sock = self.open(&addr)?;
            let mut node = Node::new(addr);
            node.sock = Some(sock);
            nodes.push(node);
        }
        if nodes.is_empty() {
            return Err(Error::backend(LABEL, "the cluster lists no master"));
        }
        self.lock().nodes = nodes;
        Ok(map)
    }

    /// Connect to `addr`, switch to RESP3 and subscribe to invalidations
    /// (blocking).
    fn open(&self, addr: &str) -> Result<TcpStream> {
        let err =
            |what: &str, e: &dyn std::fmt::Display| Error::backend(LABEL, format!("{what}: {e}"));
        let mut sock = connect(addr)?;
        let mut hello = vec!["HELLO".to_owned(), "3".to_owned()];
        if let Some((user, pass)) = &self.auth {
            hello.extend([
                "AUTH".to_owned(),
                user.clone().unwrap_or_else(|| "default".to_owned()),
                pass.clone(),
            ]);
        }
        hello.extend(["SETNAME".to_owned(), CLIENT_NAME.to_owned()]);
        let mut buf = Vec::new();
        let want_cluster = self.seeds.is_some();
        match command(&mut sock, &mut buf, &hello)? {
            resp::Frame::Error(e) if e.contains("unknown command") || e.contains("NOPROTO") => {
                return Err(Error::backend(
                    LABEL,
                    format!("the near cache needs Redis 6 or newer (RESP3 client tracking); HELLO 3 answered: {e}"),
                ))
            }
            resp::Frame::Error(e) => return Err(Error::backend(LABEL, format!("HELLO 3 failed: {e}"))),
            resp::Frame::Map(fields) => {
                let cluster = fields.iter().any(|(k, v)| k.is_bulk("mode") && v.is_bulk("cluster"));
                if cluster && !want_cluster {
                    return Err(Error::backend(LABEL, "this server is a Redis Cluster node: use NearCachedStore::connect_cluster (or `cluster_urls` in a configuration document)"));
                }
                if !cluster && want_cluster {
                    return Err(Error::backend(LABEL, format!("{addr} is listed as a cluster master but is not a cluster node")));
                }
            }
            other => return Err(Error::backend(LABEL, format!("unexpected HELLO reply {other:?}"))),
        }
        let mut tracking = vec!["CLIENT", "TRACKING", "ON"]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        if !self.own_path() {
            // Reads and writes go through the store's connections: every
            // change under the prefix is reported here, written by Redis
            // ahead of the writer's reply.
            tracking.push("BCAST".to_owned());
            if !self.options.prefix.is_empty() {
                tracking.extend(["PREFIX".to_owned(), self.options.prefix.clone()]);
            }
        } else {
            // Reads and updates go through this connection: Redis tracks
            // the keys it read, reports their changes in order with the
            // replies, and (NOLOOP) not the changes this connection made,
            // whose replies carry the new record instead.
            tracking.push("NOLOOP".to_owned());
        }
        match command(&mut sock, &mut buf, &tracking)? {
            resp::Frame::Simple(ok) if ok == "OK" => {}
            other => {
                return Err(Error::backend(
                    LABEL,
                    format!("CLIENT TRACKING failed: {other:?}"),
                ))
            }
        }
        if !buf.is_empty() {
            return Err(Error::backend(
                LABEL,
                "unexpected data after CLIENT TRACKING",
            ));
        }
        sock.set_nonblocking(true).map_err(|e| err("socket", &e))?;
        Ok(sock)
    }
}

/// A blocking TCP connection to `addr` with the set-up timeouts.
fn connect(addr: &str) -> Result<TcpStream> {
    let err = |what: &str, e: &dyn std::fmt::Display| Error::backend(LABEL, format!("{what}: {e}"));
    let resolved = std::net::ToSocketAddrs::to_socket_addrs(addr)
        .map_err(|e| err("resolving a Redis address", &e))?
        .next()
        .ok_or_else(|| Error::backend(LABEL, "a Redis address resolves to nothing"))?;
    let sock = TcpStream::connect_timeout(&resolved, SETUP_TIMEOUT)
        .map_err(|e| err(&format!("connecting to {addr}"), &e))?;
    sock.set_read_timeout(Some(SETUP_TIMEOUT))
        .map_err(|e| err("socket", &e))?;
    sock.set_write_timeout(Some(SETUP_TIMEOUT))
        .map_err(|e| err("socket", &e))?;
    sock.set_nodelay(true).map_err(|e| err("socket", &e))?;
    Ok(sock)
}

/// Send one command and read its reply (blocking; push messages before the
/// reply are skipped: none can arrive before tracking is on).
fn command(sock: &mut TcpStream, buf: &mut Vec<u8>, args: &[String]) -> Result<resp::Frame> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    sock.write_all(&out).map_err(|e| Error::backend(LABEL, e))?;
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((frame, used)) = resp::parse(buf).map_err(|e| Error::backend(LABEL, e))? {
            buf.drain(..used);
            if matches!(frame, resp::Frame::Push(_)) {
                continue;
            }
            return Ok(frame);
        }
        let n = sock
            .read(&mut chunk)
            .map_err(|e| Error::backend(LABEL, e))?;
        if n == 0 {
            return Err(Error::backend(LABEL, "Redis closed the connection"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

impl Node {
    fn new(addr: String) -> Self {
        Self {
            addr,
            sock: None,
            buf: Vec::new(),
            waker: None,
            pending: VecDeque::new(),
        }
    }

    /// Read everything waiting on this node's socket (real `recv` calls
    /// until it would block) and apply it; false if the connection is lost.
    fn drain(&mut self, chunk: &mut [u8], cache: &mut Cache) -> bool {
        let Some(sock) = self.sock.as_mut() else {
            return true;
        };
        let mut lost = false;
        loop {
            match sock.read(chunk) {
                Ok(0) => {
                    lost = true;
                    break;
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    if n < chunk.len() {
                        // Less than asked: the socket was empty after this
                        // read, so everything that had arrived before it
                        // is in (one system call fewer per drain).
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    lost = true;
                    break;
                }
            }
        }
        if !self.buf.is_empty() {
            let mut pos = 0;
            loop {
                match resp::parse(&self.buf[pos..]) {
                    Ok(Some((frame, used))) => {
                        pos += used;
                        if matches!(frame, resp::Frame::Push(_)) {
                            cache.apply(frame);
                        } else if let Some(p) = self.pending.pop_front() {
                            cache.own_update_reply(p, frame);
                        } else {
                            // A reply nobody asked for: the stream is not
                            // what we think it is.
                            lost = true;
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {
                        lost = true;
                        break;
                    }
                }
            }
            self.buf.drain(..pos);
        }
        if lost {
            self.lose();
        }
        !lost
    }

    /// Close the connection. Own updates still awaiting a reply learn that
    /// their outcome is unknown (their senders are dropped); the reader
    /// task sees the shutdown and ends.
    fn lose(&mut self) {
        if let Some(sock) = &self.sock {
            let _ = sock.shutdown(std::net::Shutdown::Both);
        }
        self.sock = None;
        self.waker = None;
        self.buf.clear();
        self.pending.clear();
    }

    /// Write `bytes` without blocking: all of it, or nothing (`false`). A
    /// partial write leaves half a command on the wire: the connection is
    /// closed (Redis discards an incomplete command) and `false` returned.
    fn send(&mut self, bytes: &[u8]) -> bool {
        let Some(sock) = self.sock.as_mut() else {
            return false;
        };
        let mut written = 0;
        while written < bytes.len() {
            match sock.write(&bytes[written..]) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if written == bytes.len() {
            return true;
        }
        if written > 0 {
            self.lose();
        }
        false
    }
}

impl State {
    /// Drain every invalidation connection; losing any flushes the cache.
    fn drain(&mut self) {
        let mut lost = 0;
        for node in &mut self.nodes {
            if !node.drain(&mut self.chunk, &mut self.cache) {
                lost += 1;
            }
        }
        if lost > 0 {
            tracing::warn!("redis near cache: invalidation connection lost; cache flushed and bypassed until reconnected");
            self.cache.stats.disconnects += lost;
            self.cache.flush();
        }
    }

    /// Every invalidation connection open (the cache may answer and fill).
    fn connected(&self) -> bool {
        !self.nodes.is_empty() && self.nodes.iter().all(|n| n.sock.is_some())
    }
}

impl Cache {
    /// Keep `record` under `key`, dropping an arbitrary entry when full.
    fn insert(&mut self, key: &str, record: Record) {
        if self.entries.len() >= self.max_entries && !self.entries.contains_key(key) {
            if let Some(victim) = self.entries.keys().next().cloned() {
                self.entries.remove(&victim);
            }
        }
        self.entries.insert(key.to_owned(), Arc::new(record));
    }

    /// The reply to an own update-and-read, applied where it stands in the
    /// stream: after every invalidation sent before it, before every one
    /// sent after it. The record it carries is the key's state right after
    /// our write, so it becomes the entry; reads of the key still in flight
    /// on the store's connection may have been answered before our write
    /// and must not fill.
    fn own_update_reply(&mut self, pending: Pending, frame: resp::Frame) {
        if let Some(f) = self.fetching.get_mut(&pending.key) {
            f.1 = true;
        }
        let reply = match frame {
            resp::Frame::Error(e) if e.starts_with("NOSCRIPT") => OwnReply::NoScript,
            resp::Frame::Error(e) => {
                // A script error may come after some of its writes.
                self.entries.remove(&pending.key);
                OwnReply::Failed(e)
            }
            image if pending.read => {
                let record = crate::layout::decode_reply(image.into_value(), unix_now());
                match &record {
                    Some(r) => self.insert(&pending.key, r.clone()),
                    None => {
                        self.entries.remove(&pending.key);
                    }
                }
                OwnReply::Read(record)
            }
            resp::Frame::Array(mut items) if items.len() == 2 => {
                let image = items.pop().map(resp::Frame::into_value);
                match (items.pop(), image) {
                    (Some(resp::Frame::Int(updated)), Some(image)) => {
                        match crate::layout::decode_reply(image, unix_now()) {
                            Some(record) => {
                                self.insert(&pending.key, record);
                                self.stats.write_fills += 1;
                            }
                            None => {
                                self.entries.remove(&pending.key);
                            }
                        }
                        OwnReply::Done(updated == 1)
                    }
                    _ => {
                        self.entries.remove(&pending.key);
                        OwnReply::Failed("unexpected reply to the update script".to_owned())
                    }
                }
            }
            _ => {
                self.entries.remove(&pending.key);
                OwnReply::Failed("unexpected reply to the update script".to_owned())
            }
        };
        let _ = pending.reply.send(reply);
    }

    fn apply(&mut self, frame: resp::Frame) {
        let resp::Frame::Push(items) = frame else {
            return;
        };
        if !items.first().is_some_and(|k| k.is_bulk("invalidate")) {
            return;
        }
        match items.get(1) {
            Some(resp::Frame::Array(keys)) => {
                for k in keys {
                    if let resp::Frame::Bulk(k) = k {
                        if let Ok(k) = std::str::from_utf8(k) {
                            self.invalidate(k);
                        }
                    }
                }
            }
            // A null key list: FLUSHALL / FLUSHDB.
            _ => self.flush(),
        }
    }

    fn invalidate(&mut self, key: &str) {
        self.stats.invalidations += 1;
        self.entries.remove(key);
        if let Some(f) = self.fetching.get_mut(key) {
            f.1 = true;
        }
    }

    fn flush(&mut self) {
        self.stats.invalidations += 1;
        self.entries.clear();
        for f in self.fetching.values_mut() {
            f.1 = true;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Ends the reader task, which holds a second handle on the socket.
        self.lose();
    }
}

/// With `keep_own_writes`: wait until the tracking connection has something
/// to read and apply it (replies to our reads and updates, invalidations),
/// so that requests waiting for a reply are woken. Ends when the socket is
/// closed or replaced, or the cache is gone.
async fn reader(shared: Weak<Shared>, sock: Arc<tokio::net::TcpStream>) {
    loop {
        let ready = sock.readable().await;
        let Some(s) = shared.upgrade() else { return };
        let current = sock.try_io(tokio::io::Interest::READABLE, || {
            let mut st = s.lock();
            st.drain();
            let current = st
                .nodes
                .first()
                .and_then(|n| n.waker.as_ref())
                .is_some_and(|w| Arc::ptr_eq(w, &sock));
            if current {
                Err(ErrorKind::WouldBlock.into())
            } else {
                Ok(())
            }
        });
        if ready.is_err() || current.is_ok() {
            return;
        }
    }
}

/// Drain invalidations while idle, reconnect lost connections and, on a
/// cluster, follow the slot map (`known`: the one the cache was built on).
async fn background(shared: Weak<Shared>, mut known: Option<SlotMap>) {
    let mut controls = Controls::default();
    loop {
        let interval = match shared.upgrade() {
            Some(s) => s.options.poll_interval,
            None => return,
        };
        tokio::time::sleep(interval).await;
        let Some(s) = shared.upgrade() else { return };
        let addrs: Vec<String> = {
            let mut st = s.lock();
            st.drain();
            st.nodes.iter().map(|n| n.addr.clone()).collect()
        };
        if let Some(old) = known.as_ref() {
            let seeds = s.seeds.clone().unwrap_or_default();
            let auth = s.auth.clone();
            let polled = tokio::task::spawn_blocking(move || {
                let map = controls.poll(&addrs, &seeds, auth.as_ref());
                (controls, map)
            })
            .await;
            let map;
            (controls, map) = polled.unwrap_or_default();
            if let Some(map) = map.filter(|m| m != old) {
                s.retopologize(&map);
                known = Some(map);
            }
        }
        reconnect(&s).await;
    }
}

impl Shared {
    /// The cluster changed: flush, keep the connections to masters still
    /// listed, drop the others, and add (unconnected: the cache is bypassed
    /// until they are open) the new ones.
    fn retopologize(&self, map: &SlotMap) {
        let masters = map.masters();
        let mut st = self.lock();
        st.drain();
        st.cache.flush();
        st.cache.stats.topology_changes += 1;
        st.nodes.retain(|n| masters.contains(&n.addr));
        for addr in masters {
            if !st.nodes.iter().any(|n| n.addr == addr) {
                st.nodes.push(Node::new(addr));
            }
        }
        tracing::info!(
            masters = st.nodes.len(),
            "redis near cache: cluster topology changed; cache flushed"
        );
    }
}

/// Open every missing invalidation connection.
async fn reconnect(s: &Arc<Shared>) {
    let missing: Vec<String> = {
        let st = s.lock();
        st.nodes
            .iter()
            .filter(|n| n.sock.is_none())
            .map(|n| n.addr.clone())
            .collect()
    };
    for addr in missing {
        let opened = tokio::task::spawn_blocking({
            let s = s.clone();
            let addr = addr.clone();
            move || s.open(&addr)
        })
        .await;
        if let Ok(Ok(sock)) = opened {
            let mut st = s.lock();
            if let Some(node) = st
                .nodes
                .iter_mut()
                .find(|n| n.addr == addr && n.sock.is_none())
            {
                node.sock = Some(sock);
                node.buf.clear();
                // Anything cached before the reconnect may have missed an
                // invalidation: start empty.
                st.cache.flush();
                tracing::info!("redis near cache: invalidation connection re-established");
            }
        }
    }
}

#[async_trait::async_trait]
impl SessionStore for NearCachedStore {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn reserved_fields(&self) -> &[&str] {
        self.inner.reserved_fields()
    }

    /// A hit from memory. A miss: with
    /// [`keep_own_writes`](NearCacheOptions::keep_own_writes), one `HGETALL`
    /// on the tracking connection (which makes Redis track the key for us);
    /// otherwise the store's read, filled unless an invalidation raced it.
    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        let k = key.store_key();
        match self.lookup(&k, unix_now()) {
            Lookup::Hit(r) => Ok(Some(r)),
            Lookup::Bypass => self.inner.load(key).await,
            Lookup::MissOwn => {
                let packed = redis::cmd("HGETALL").arg(&k).get_packed_command();
                match self.on_tracking_connection(&k, true, &packed).await {
                    Some(Ok(OwnReply::Read(r))) => Ok(r),
                    Some(Ok(OwnReply::Failed(e))) => Err(Error::backend(LABEL, e)),
                    // Not sent, or the connection was lost before the
                    // reply: a read can be made again elsewhere (uncached).
                    _ => self.inner.load(key).await,
                }
            }
            Lookup::Miss(ticket) => {
                let r = self.inner.load(key).await;
                self.fill(&k, ticket, r.as_ref().ok().and_then(Option::as_ref));
                r
            }
        }
    }

    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        let r = self.inner.create(key, record).await;
        self.forget(&key.store_key());
        r
    }

    /// With [`keep_own_writes`](NearCacheOptions::keep_own_writes): one
    /// round trip on the tracking connection, whose reply refreshes the
    /// entry. Otherwise, or when that connection is down: the store's
    /// update, and the entry is dropped.
    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        let k = key.store_key();
        if self.shared.own_path() {
            if let Some(r) = self.update_on_tracking_connection(&k, changes).await {
                return r;
            }
        }
        let r = self.inner.update(key, changes).await;
        self.forget(&k);
        r
    }

    async fn touch(&self, key: &RecordKey, meta: &MetaUpdate) -> Result<bool> {
        let r = self.inner.touch(key, meta).await;
        self.forget(&key.store_key());
        r
    }

    async fn supersede(&self, key: &RecordKey, until: i64) -> Result<Option<Record>> {
        let r = self.inner.supersede(key, until).await;
        self.forget(&key.store_key());
        r
    }

    async fn move_to(
        &self,
        from: &RecordKey,
        to: &RecordKey,
        changes: &Changes,
        binding: &str,
        tombstone_until: i64,
    ) -> Result<bool> {
        let r = self
            .inner
            .move_to(from, to, changes, binding, tombstone_until)
            .await;
        self.forget(&from.store_key());
        self.forget(&to.store_key());
        r
    }

    async fn delete(&self, key: &RecordKey) -> Result<()> {
        let r = self.inner.delete(key).await;
        self.forget(&key.store_key());
        r
    }

    async fn delete_by_field(
        &self,
        prefix: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<u64> {
        let r = self.inner.delete_by_field(prefix, field, value).await;
        self.forget_all();
        r
    }

    async fn delete_expired(&self) -> Result<u64> {
        let r = self.inner.delete_expired().await;
        self.forget_all();
        r
    }
}

/// The little of RESP3 the invalidation connection needs.
mod resp {
    #[derive(Debug)]
    pub(crate) enum Frame {
        Simple(String),
        Error(String),
        Int(i64),
        /// A double, boolean or big number: never needed here.
        Scalar,
        Null,
        Bulk(Vec<u8>),
        Array(Vec<Frame>),
        Push(Vec<Frame>),
        Map(Vec<(Frame, Frame)>),
    }

    impl Frame {
        /// The same value as the client library's type (for the record
        /// decoder).
        pub(crate) fn into_value(self) -> redis::Value {
            use redis::Value;
            match self {
                Frame::Simple(s) => Value::SimpleString(s),
                Frame::Error(_) | Frame::Scalar | Frame::Null => Value::Nil,
                Frame::Int(i) => Value::Int(i),
                Frame::Bulk(b) => Value::BulkString(b),
                Frame::Array(items) | Frame::Push(items) => {
                    Value::Array(items.into_iter().map(Frame::into_value).collect())
                }
                Frame::Map(pairs) => Value::Map(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.into_value(), v.into_value()))
                        .collect(),
                ),
            }
        }

        pub(crate) fn is_bulk(&self, s: &str) -> bool {
            match self {
                Frame::Bulk(b) => b.eq_ignore_ascii_case(s.as_bytes()),
                Frame::Simple(b) => b.eq_ignore_ascii_case(s),
                _ => false,
            }
        }
    }

    /// One frame from the front of `buf` and the bytes it used; `Ok(None)` if
    /// incomplete.
    pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, String> {
        let mut pos = 0;
        Ok(frame(buf, &mut pos, 0)?.map(|f| (f, pos)))
    }

    fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
        let rest = buf.get(*pos..)?;
        let end = rest.windows(2).position(|w| w == b"\r\n")?;
        *pos += end + 2;
        Some(&rest[..end])
    }

    fn number(l: &[u8]) -> Result<i64, String> {
        std::str::from_utf8(l)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| "malformed RESP length".to_owned())
    }

    fn frame(buf: &[u8], pos: &mut usize, depth: u32) -> Result<Option<Frame>, String> {
        if depth > 8 {
            return Err("RESP nesting too deep".to_owned());
        }
        let Some(&kind) = buf.get(*pos) else {
            return Ok(None);
        };
        *pos += 1;
        let Some(l) = line(buf, pos) else {
            return Ok(None);
        };
        let text = || String::from_utf8_lossy(l).into_owned();
        Ok(Some(match kind {
            b'+' => Frame::Simple(text()),
            b'-' => Frame::Error(text()),
            b':' => Frame::Int(number(l)?),
            b'#' | b',' | b'(' => Frame::Scalar,
            b'_' => Frame::Null,
            b'$' | b'=' | b'!' if number(l)? < 0 => Frame::Null,
            b'$' | b'=' | b'!' => {
                let n = usize::try_from(number(l)?).map_err(|_| "bad length".to_owned())?;
                if buf.len() < *pos + n + 2 {
                    return Ok(None);
                }
                let b = buf[*pos..*pos + n].to_vec();
                *pos += n + 2;
                if kind == b'!' {
                    Frame::Error(String::from_utf8_lossy(&b).into_owned())
                } else {
                    Frame::Bulk(b)
                }
            }
            b'*' | b'>' | b'~' | b'%' | b'|' => {
                let n = number(l)?;
                if n < 0 {
                    return Ok(Some(Frame::Null));
                }
                let count = if matches!(kind, b'%' | b'|') {
                    n * 2
                } else {
                    n
                };
                let mut items = Vec::new();
                for _ in 0..count {
                    match frame(buf, pos, depth + 1)? {
                        Some(f) => items.push(f),
                        None => return Ok(None),
                    }
                }
                match kind {
                    b'>' => Frame::Push(items),
                    b'%' | b'|' => {
                        let mut it = items.into_iter();
                        let mut pairs = Vec::new();
                        while let (Some(k), Some(v)) = (it.next(), it.next()) {
                            pairs.push((k, v));
                        }
                        if kind == b'|' {
                            // An attribute precedes the real frame.
                            return frame(buf, pos, depth + 1);
                        }
                        Frame::Map(pairs)
                    }
                    _ => Frame::Array(items),
                }
            }
            _ => return Err(format!("unknown RESP type byte {kind:#x}")),
        }))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn invalidation_push_incomplete_and_complete() {
            let msg = b">2\r\n$10\r\ninvalidate\r\n*1\r\n$5\r\nsess1\r\n";
            for cut in 0..msg.len() {
                assert!(parse(&msg[..cut]).unwrap().is_none(), "cut {cut}");
            }
            let (f, used) = parse(msg).unwrap().unwrap();
            assert_eq!(used, msg.len());
            assert!(matches!(f, Frame::Push(ref v) if v.len() == 2 && v[0].is_bulk("invalidate")));
            let (f, _) = parse(b">2\r\n$10\r\ninvalidate\r\n_\r\n").unwrap().unwrap();
            assert!(matches!(f, Frame::Push(ref v) if matches!(v[1], Frame::Null)));
            assert!(parse(b"?x\r\n").is_err());
        }
    }
}

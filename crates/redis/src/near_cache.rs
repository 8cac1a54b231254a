//! An opt-in near cache: decoded records kept in the app server, invalidated
//! by Redis itself through RESP3 client tracking (`CLIENT TRACKING ON BCAST`).
//!
//! [`NearCachedStore`] wraps a [`RedisStore`]. A read hit answers from memory
//! with no round trip; every write still goes to Redis as the store's
//! field-level scripts, so a stale read can never lose another request's
//! write (the scripts merge on the server).
//!
//! # The guarantee
//!
//! A dedicated RESP3 connection subscribes to invalidations of every key
//! under the tracked prefix, whoever writes it (BCAST mode). Before serving a
//! hit, the cache drains that connection's socket with a real non-blocking
//! `recv` and applies every invalidation in it: **an invalidation whose bytes
//! had reached this server's socket when the read began is always applied
//! before the read is answered.** A read misses (goes to Redis) from the
//! moment a write is applied in Redis until its invalidation arrives, so the
//! remaining window is the network delivery of one push message. Redis sends
//! BCAST invalidations in the same event-loop iteration as the writer's
//! reply, before it (broadcasts are queued in `beforeSleep` ahead of pending
//! replies), so on one Redis server a read that starts after another app
//! server's write has returned sees that write. A record filled from a reply
//! that raced with an invalidation of its key is not cached. On disconnect of
//! the invalidation connection the cache is flushed and bypassed until it is
//! connected and tracking again. Our own writes drop the local entry at once.
//! `FLUSHALL`/`FLUSHDB` are weaker: Redis writes their invalidation to tracking
//! clients without ordering it before the flushing client's reply, so a read
//! racing a flush may still be served from the cache until the message
//! arrives (microseconds on one host).
//!
//! Needs Redis 6 or newer (a clear error otherwise) and a plain `redis://`
//! URL; Redis Cluster is not supported by the near cache (yet).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use session_plus_core::store::{Capabilities, Changes, MetaUpdate, Record, SessionStore};
use session_plus_core::{unix_now, Error, RecordKey, Result};

use crate::RedisStore;

const LABEL: &str = "redis near cache";

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
    /// How often an idle cache drains its invalidations and, when
    /// disconnected, tries to reconnect (default 100 ms).
    pub poll_interval: Duration,
}

impl Default for NearCacheOptions {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            prefix: String::new(),
            poll_interval: Duration::from_millis(100),
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

    /// Keep at most `n` records.
    #[must_use]
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = n.max(1);
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
    /// Times the invalidation connection was lost.
    pub disconnects: u64,
}

struct State {
    sock: Option<TcpStream>,
    buf: Vec<u8>,
    /// Read buffer, zeroed once (not per drain: a drain runs on every read).
    chunk: Box<[u8]>,
    entries: HashMap<String, Arc<Record>>,
    /// Reads in flight: key -> (ticket, invalidated meanwhile).
    fetching: HashMap<String, (u64, bool)>,
    next_ticket: u64,
    stats: NearCacheStats,
}

struct Shared {
    state: Mutex<State>,
    addr: String,
    auth: Option<(Option<String>, String)>,
    options: NearCacheOptions,
}

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
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Ticket of a read that missed: fill the cache only if nothing invalidated
/// the key meanwhile.
struct Ticket(u64);

enum Lookup {
    Hit(Record),
    Miss(Ticket),
    Bypass,
}

impl NearCachedStore {
    /// Wrap `store`, opening the invalidation connection to the Redis server
    /// at `url` (the same server as the store's). Fails with a clear error on
    /// Redis older than 6, on TLS or Unix-socket URLs and on Redis Cluster.
    /// Call it inside a tokio runtime: a task drains invalidations while idle
    /// and reconnects.
    pub async fn connect(store: RedisStore, url: &str, options: NearCacheOptions) -> Result<Self> {
        let info = redis::IntoConnectionInfo::into_connection_info(url).map_err(|e| {
            Error::backend(LABEL, format!("not a usable Redis URL ({})", e.category()))
        })?;
        let addr = match info.addr() {
            redis::ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
            _ => {
                return Err(Error::backend(
                    LABEL,
                    "the near cache needs a plain redis:// TCP URL (no TLS, no Unix socket)",
                ))
            }
        };
        let redis_info = info.redis_settings();
        let auth = redis_info
            .password()
            .map(|p| (redis_info.username().map(str::to_owned), p.to_owned()));
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                sock: None,
                buf: Vec::new(),
                chunk: vec![0; 16 * 1024].into_boxed_slice(),
                entries: HashMap::new(),
                fetching: HashMap::new(),
                next_ticket: 0,
                stats: NearCacheStats::default(),
            }),
            addr,
            auth,
            options,
        });
        let sock = {
            let shared = shared.clone();
            tokio::task::spawn_blocking(move || shared.open())
                .await
                .map_err(|e| Error::backend(LABEL, e.to_string()))??
        };
        shared.lock().sock = Some(sock);
        tokio::spawn(background(Arc::downgrade(&shared)));
        Ok(Self {
            inner: Arc::new(store),
            shared,
        })
    }

    /// Hits, misses, invalidations and disconnects so far.
    pub fn stats(&self) -> NearCacheStats {
        self.shared.lock().stats
    }

    /// Records currently cached.
    pub fn len(&self) -> usize {
        self.shared.lock().entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lookup(&self, key: &str, now: i64) -> Lookup {
        let mut st = self.shared.lock();
        st.drain();
        if st.sock.is_none() {
            st.stats.misses += 1;
            return Lookup::Bypass;
        }
        if let Some(r) = st.entries.get(key) {
            if r.meta.expires > now {
                let r = Record::clone(r);
                st.stats.hits += 1;
                return Lookup::Hit(r);
            }
            st.entries.remove(key);
        }
        st.stats.misses += 1;
        if st.fetching.len() >= self.shared.options.max_entries {
            // Reads cancelled between lookup and fill (e.g. by a timeout)
            // leave tickets behind: forgetting them all only skips fills.
            st.fetching.clear();
        }
        st.next_ticket += 1;
        let t = st.next_ticket;
        st.fetching.insert(key.to_owned(), (t, false));
        Lookup::Miss(Ticket(t))
    }

    fn fill(&self, key: &str, ticket: Ticket, record: Option<&Record>) {
        let mut st = self.shared.lock();
        st.drain();
        let valid = st.fetching.get(key) == Some(&(ticket.0, false));
        if st.fetching.get(key).is_some_and(|(t, _)| *t == ticket.0) {
            st.fetching.remove(key);
        }
        let (Some(record), true, true) = (record, valid, st.sock.is_some()) else {
            return;
        };
        if st.entries.len() >= self.shared.options.max_entries && !st.entries.contains_key(key) {
            if let Some(victim) = st.entries.keys().next().cloned() {
                st.entries.remove(&victim);
            }
        }
        st.entries.insert(key.to_owned(), Arc::new(record.clone()));
    }

    /// Our own write: drop the entry now (Redis's invalidation follows).
    fn forget(&self, key: &str) {
        self.shared.lock().invalidate(key);
    }

    fn forget_all(&self) {
        self.shared.lock().flush();
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connect, switch to RESP3 and subscribe to invalidations (blocking).
    fn open(&self) -> Result<TcpStream> {
        let err =
            |what: &str, e: &dyn std::fmt::Display| Error::backend(LABEL, format!("{what}: {e}"));
        let timeout = Duration::from_secs(5);
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&self.addr)
            .map_err(|e| err("resolving the Redis address", &e))?
            .next()
            .ok_or_else(|| Error::backend(LABEL, "the Redis address resolves to nothing"))?;
        let mut sock =
            TcpStream::connect_timeout(&addr, timeout).map_err(|e| err("connecting", &e))?;
        sock.set_read_timeout(Some(timeout))
            .map_err(|e| err("socket", &e))?;
        sock.set_nodelay(true).map_err(|e| err("socket", &e))?;
        let mut hello = vec!["HELLO".to_owned(), "3".to_owned()];
        if let Some((user, pass)) = &self.auth {
            hello.extend([
                "AUTH".to_owned(),
                user.clone().unwrap_or_else(|| "default".to_owned()),
                pass.clone(),
            ]);
        }
        let mut buf = Vec::new();
        match command(&mut sock, &mut buf, &hello)? {
            resp::Frame::Error(e) if e.contains("unknown command") || e.contains("NOPROTO") => {
                return Err(Error::backend(
                    LABEL,
                    format!("the near cache needs Redis 6 or newer (RESP3 client tracking); HELLO 3 answered: {e}"),
                ))
            }
            resp::Frame::Error(e) => return Err(Error::backend(LABEL, format!("HELLO 3 failed: {e}"))),
            resp::Frame::Map(fields) => {
                if fields.iter().any(|(k, v)| k.is_bulk("mode") && v.is_bulk("cluster")) {
                    return Err(Error::backend(LABEL, "the near cache does not support Redis Cluster yet"));
                }
            }
            other => return Err(Error::backend(LABEL, format!("unexpected HELLO reply {other:?}"))),
        }
        let mut tracking = vec!["CLIENT", "TRACKING", "ON", "BCAST"]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        if !self.options.prefix.is_empty() {
            tracking.extend(["PREFIX".to_owned(), self.options.prefix.clone()]);
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

impl State {
    /// Read everything waiting on the invalidation socket (real `recv`
    /// calls until it would block) and apply it.
    fn drain(&mut self) {
        let Some(sock) = self.sock.as_mut() else {
            return;
        };
        let mut lost = false;
        loop {
            match sock.read(&mut self.chunk) {
                Ok(0) => {
                    lost = true;
                    break;
                }
                Ok(n) => self.buf.extend_from_slice(&self.chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    lost = true;
                    break;
                }
            }
        }
        loop {
            match resp::parse(&self.buf) {
                Ok(Some((frame, used))) => {
                    self.buf.drain(..used);
                    self.apply(frame);
                }
                Ok(None) => break,
                Err(_) => {
                    lost = true;
                    break;
                }
            }
        }
        if lost {
            self.disconnect();
        }
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

    fn disconnect(&mut self) {
        tracing::warn!("redis near cache: invalidation connection lost; cache flushed and bypassed until reconnected");
        self.sock = None;
        self.buf.clear();
        self.stats.disconnects += 1;
        self.flush();
    }
}

/// Drain invalidations while idle; reconnect when disconnected.
async fn background(shared: Weak<Shared>) {
    loop {
        let interval = match shared.upgrade() {
            Some(s) => s.options.poll_interval,
            None => return,
        };
        tokio::time::sleep(interval).await;
        let Some(s) = shared.upgrade() else { return };
        let connected = {
            let mut st = s.lock();
            st.drain();
            st.sock.is_some()
        };
        if !connected {
            let opened = tokio::task::spawn_blocking({
                let s = s.clone();
                move || s.open()
            })
            .await;
            if let Ok(Ok(sock)) = opened {
                let mut st = s.lock();
                // Anything cached before the reconnect may have missed an
                // invalidation: start empty.
                st.flush();
                st.sock = Some(sock);
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

    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        let k = key.store_key();
        match self.lookup(&k, unix_now()) {
            Lookup::Hit(r) => Ok(Some(r)),
            Lookup::Bypass => self.inner.load(key).await,
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

    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        let r = self.inner.update(key, changes).await;
        self.forget(&key.store_key());
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
    pub(super) enum Frame {
        Simple(String),
        Error(String),
        Int,
        Null,
        Bulk(Vec<u8>),
        Array(Vec<Frame>),
        Push(Vec<Frame>),
        Map(Vec<(Frame, Frame)>),
    }

    impl Frame {
        pub(super) fn is_bulk(&self, s: &str) -> bool {
            match self {
                Frame::Bulk(b) => b.eq_ignore_ascii_case(s.as_bytes()),
                Frame::Simple(b) => b.eq_ignore_ascii_case(s),
                _ => false,
            }
        }
    }

    /// One frame from the front of `buf` and the bytes it used; `Ok(None)` if
    /// incomplete.
    pub(super) fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, String> {
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
            b':' | b'#' | b',' | b'(' => Frame::Int,
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

//! [`RedisStore`]: the [`SessionStore`] over standalone Redis or Redis Cluster.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{RedisError, Value};
use session_plus_core::store::{Capabilities, Changes, MetaUpdate, Record, SessionStore};
use session_plus_core::{unix_now, Error, RecordKey, Result};

use crate::conn::{within, Conn, Healing};
use crate::layout::{decode_reply, encode_meta, encode_value, ms, META_FIELD};
use crate::scripts::{
    CREATE_SCRIPT, DELETE_IF_SCRIPT, MOVE_SCRIPT, SUPERSEDE_SCRIPT, UPDATE_SCRIPT,
};

/// The label backend errors carry when made outside the core (constructors);
/// inside a request the core relabels them with the interface's cookie name.
const LABEL: &str = "redis";

/// Client-side limits of a connection made by [`RedisStore`]'s constructors.
///
/// These limits make the store itself give up on a dead or frozen socket, so
/// a connection never stays stuck behind a request nobody waits for. A
/// standalone store bounds each whole call by the response timeout (see
/// [`RedisOptions::response_timeout`]); when that is at most the interface's
/// timeout, the core adds no timer of its own.
///
/// ```
/// use std::time::Duration;
/// use session_plus_redis::RedisOptions;
///
/// let opts = RedisOptions::default().response_timeout(Duration::from_millis(500));
/// assert_eq!(opts.response_timeout_value(), Duration::from_millis(500));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct RedisOptions {
    connection_timeout: Duration,
    response_timeout: Duration,
    reconnect_retries: usize,
}

impl Default for RedisOptions {
    /// 1 s to connect, 1 s for a reply (below the core's default call
    /// timeout of 2 s), one quick reconnect retry per failed request.
    fn default() -> Self {
        Self {
            connection_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
            reconnect_retries: 1,
        }
    }
}

impl RedisOptions {
    /// How long one connection attempt may take.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// How long the client waits for one reply. Keep it below the
    /// interface's timeout: a reply timeout seen by the store makes it replace
    /// the connection (a peer gone without a reset never answers again), which
    /// cannot happen when the core gives up on the call first.
    ///
    /// A standalone store made by [`RedisStore::from_url`],
    /// [`RedisStore::from_url_with`] or [`RedisStore::from_client`] applies it
    /// to each whole store call (all its round trips, a reconnect included)
    /// with one timer, instead of one per reply, and reports it as
    /// [`SessionStore::call_timeout`]: the core then drops its own timer when
    /// this is at most the interface's timeout. A cluster store applies it to
    /// each reply, as the cluster client does.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Reconnect attempts (with a short backoff) made for a request that finds
    /// the connection broken, before that request fails. Later requests try
    /// again, so the store recovers by itself once Redis is back; keeping this
    /// small makes requests during an outage fail fast instead of queueing.
    pub fn reconnect_retries(mut self, retries: usize) -> Self {
        self.reconnect_retries = retries;
        self
    }

    /// The configured connection timeout.
    pub fn connection_timeout_value(&self) -> Duration {
        self.connection_timeout
    }

    /// The configured response timeout.
    pub fn response_timeout_value(&self) -> Duration {
        self.response_timeout
    }
}

/// A session backend keeping one Redis hash per record.
///
/// See the [crate docs](crate) for the layout, the round trips per call and the
/// failure behaviour. Cheap to clone; clones share the connection.
///
/// ```no_run
/// # async fn demo() -> session_plus_core::Result<()> {
/// use std::sync::Arc;
/// use session_plus_core::{FieldRules, Interface};
/// use session_plus_redis::RedisStore;
///
/// let store = RedisStore::from_url("redis://127.0.0.1:6379").await?;
/// let interface = Interface::store("session", Arc::new(store))
///     .fields(FieldRules::include(["user_id"]));
/// # let _ = interface; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    /// The store's own bound on each whole call, when it has one (then the
    /// client sets no timer per reply).
    call_bound: Option<Duration>,
}

impl fmt::Debug for RedisStore {
    // Never the URL: it may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("mode", &self.conn.mode())
            .finish()
    }
}

fn backend(e: RedisError) -> Error {
    Error::backend(LABEL, e)
}

impl RedisStore {
    /// Use a connection you made (standalone Redis). [`ConnectionManager`]
    /// reconnects by itself; build it with timeouts
    /// ([`ConnectionManagerConfig`]) so a dead socket cannot hang, or use
    /// [`RedisStore::from_url`], which does.
    pub fn new(manager: ConnectionManager) -> Self {
        Self {
            conn: Conn::Single(Arc::new(Healing::fixed(manager))),
            call_bound: None,
        }
    }

    /// Use a Redis Cluster connection you made. It follows slot moves and
    /// reconnects by itself.
    pub fn cluster(connection: ClusterConnection) -> Self {
        Self {
            conn: Conn::Cluster(Arc::new(Healing::fixed(connection))),
            call_bound: None,
        }
    }

    /// Connect to a standalone server (`redis://[user:pass@]host:port[/db]`,
    /// or `redis+unix:///path`) with [`RedisOptions::default`].
    ///
    /// Connects before returning, so a wrong address fails at start-up; after
    /// that the connection is re-established automatically whenever it breaks.
    ///
    /// # Errors
    /// A config error for a malformed URL; a backend error if the server
    /// cannot be reached.
    pub async fn from_url(url: &str) -> Result<Self> {
        Self::from_url_with(url, RedisOptions::default()).await
    }

    /// [`RedisStore::from_url`] with explicit client limits.
    ///
    /// # Errors
    /// As [`RedisStore::from_url`].
    pub async fn from_url_with(url: &str, options: RedisOptions) -> Result<Self> {
        Self::connect_single("", url, options).await
    }

    /// Use a client you made (standalone Redis), with explicit limits.
    ///
    /// Unlike [`RedisStore::new`], the store can then also replace a
    /// connection whose replies stopped coming (a peer gone without a reset),
    /// which the client library alone does not do.
    ///
    /// # Errors
    /// A backend error if the server cannot be reached.
    pub async fn from_client(client: redis::Client, options: RedisOptions) -> Result<Self> {
        Self::connect_client("", client, options).await
    }

    /// Connect, naming `interface` in errors (empty: none).
    pub(crate) async fn connect_single(
        interface: &str,
        url: &str,
        options: RedisOptions,
    ) -> Result<Self> {
        // The URL may hold a password: errors never echo it.
        let client = redis::Client::open(url).map_err(|e| {
            Error::config(
                interface,
                "url",
                format!("not a usable Redis URL ({})", e.category()),
            )
        })?;
        Self::connect_client(interface, client, options).await
    }

    async fn connect_client(
        interface: &str,
        client: redis::Client,
        options: RedisOptions,
    ) -> Result<Self> {
        // No timer per reply: `bounded` puts one around each whole call.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connection_timeout))
            .set_response_timeout(None)
            .set_number_of_retries(options.reconnect_retries)
            .set_max_delay(Duration::from_millis(200));
        let manager = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .map_err(|e| Error::backend(label(interface), e))?;
        let rebuild = Box::new(move || {
            ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
        });
        Ok(Self {
            conn: Conn::Single(Arc::new(Healing::rebuildable(manager, rebuild))),
            call_bound: Some(options.response_timeout),
        })
    }

    /// Connect to a Redis Cluster through any of its nodes (one URL per seed
    /// node) with [`RedisOptions::default`].
    ///
    /// # Errors
    /// A config error for no or malformed URLs; a backend error if no node can
    /// be reached or the slot map cannot be read.
    pub async fn from_cluster_urls<S: AsRef<str>>(urls: &[S]) -> Result<Self> {
        Self::from_cluster_urls_with(urls, RedisOptions::default()).await
    }

    /// [`RedisStore::from_cluster_urls`] with explicit client limits.
    ///
    /// # Errors
    /// As [`RedisStore::from_cluster_urls`].
    pub async fn from_cluster_urls_with<S: AsRef<str>>(
        urls: &[S],
        options: RedisOptions,
    ) -> Result<Self> {
        Self::connect_cluster("", urls, options).await
    }

    /// Connect, naming `interface` in errors (empty: none).
    pub(crate) async fn connect_cluster<S: AsRef<str>>(
        interface: &str,
        urls: &[S],
        options: RedisOptions,
    ) -> Result<Self> {
        let bad = |why: &str| Error::config(interface, "cluster_urls", why);
        if urls.is_empty() {
            return Err(bad("needs at least one node URL"));
        }
        let client = ClusterClient::builder(urls.iter().map(AsRef::as_ref))
            .connection_timeout(options.connection_timeout)
            .response_timeout(options.response_timeout)
            .build()
            .map_err(|e| bad(&format!("not usable Redis URLs ({})", e.category())))?;
        let connection = client
            .get_async_connection()
            .await
            .map_err(|e| Error::backend(label(interface), e))?;
        let config = ClusterConfig::new()
            .set_connection_timeout(options.connection_timeout)
            .set_response_timeout(options.response_timeout);
        let rebuild =
            Box::new(move || Ok(client.get_pending_async_connection_with_config(config.clone())));
        Ok(Self {
            conn: Conn::Cluster(Arc::new(Healing::rebuildable(connection, rebuild))),
            // The cluster client times each reply itself.
            call_bound: None,
        })
    }
}

impl RedisStore {
    /// Run one store call under the store's own bound, if it has one. Out of
    /// time, the connection in use is replaced (its peer may be gone without
    /// a reset, so it would never answer again) and the call fails with a
    /// timeout error, which the core answers with 503 like its own.
    async fn bounded<T>(&self, call: impl Future<Output = Result<T>>) -> Result<T> {
        let Some(limit) = self.call_bound else {
            return call.await;
        };
        let generation = self.conn.generation();
        match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => {
                self.conn.replace(generation);
                Err(Error::timeout(LABEL, limit))
            }
        }
    }

    /// Turn the reply of `HGETALL` on a record's key into the record, as
    /// [`load`](SessionStore::load) does: in place, the reply's buffers
    /// becoming the field names, without an intermediate map. `now` is the
    /// current Unix time in seconds.
    ///
    /// `None` when the reply holds no record (`nil`, an empty hash), an
    /// expired one, or is not a record this store can read (not a hash, an
    /// odd number of items, no or a corrupt meta field): such a key reads as
    /// absent, logged at warn. A single field with a name that is not UTF-8
    /// or a value that is not JSON is left out (and logged). Never panics.
    ///
    /// For tools that read the store's keys themselves (e.g. in a pipeline),
    /// and for benchmarks.
    ///
    /// ```
    /// use session_plus_redis::{redis::Value, RedisStore, META_FIELD};
    ///
    /// let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
    /// let reply = Value::Array(vec![
    ///     bulk(META_FIELD),
    ///     bulk("2|0|100|100|200|0|binding"),
    ///     bulk("user_id"),
    ///     bulk("42"),
    /// ]);
    /// let record = RedisStore::record_from_reply(reply.clone(), 150).unwrap();
    /// assert_eq!(record.fields["user_id"], 42);
    /// assert_eq!(record.meta.expires, 200);
    /// // Expired by then, or not a hash at all: absent.
    /// assert!(RedisStore::record_from_reply(reply, 200).is_none());
    /// assert!(RedisStore::record_from_reply(Value::Int(1), 0).is_none());
    /// ```
    pub fn record_from_reply(reply: Value, now: i64) -> Option<Record> {
        decode_reply(reply, now)
    }

    async fn load_inner(&self, key: &RecordKey) -> Result<Option<Record>> {
        match self.conn.query_value(&key_cmd("HGETALL", key)).await {
            // Something else lives under the key (e.g. a string record written
            // by another program): not a session we can read, so absent. The
            // core then issues a fresh id; `create` never overwrites the key.
            Ok(Value::ServerError(e)) if e.code() == "WRONGTYPE" => {
                tracing::warn!("redis key under a session id is not a hash; treated as absent");
                Ok(None)
            }
            Ok(Value::ServerError(e)) => Err(backend(e.into())),
            Ok(reply) => Ok(decode_reply(reply, unix_now())),
            Err(e) => Err(backend(e)),
        }
    }

    async fn create_inner(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        let mut args = Vec::with_capacity(4 + 2 * record.fields.len());
        args.extend([
            META_FIELD.to_owned(),
            encode_meta(&record.meta),
            ms(record.meta.expires).to_string(),
            unix_now().to_string(),
        ]);
        for (name, value) in &record.fields {
            args.extend([name.clone(), encode_value(value)]);
        }
        let created: i64 = CREATE_SCRIPT
            .run(&self.conn, &[key.store_key().as_bytes()], &args)
            .await
            .map_err(backend)?;
        Ok(created == 1)
    }

    async fn supersede_inner(&self, key: &RecordKey, until: i64) -> Result<Option<Record>> {
        let args = [
            META_FIELD.to_owned(),
            unix_now().to_string(),
            until.to_string(),
            ms(until).to_string(),
        ];
        let held: Value = SUPERSEDE_SCRIPT
            .run(&self.conn, &[key.store_key().as_bytes()], &args)
            .await
            .map_err(backend)?;
        // Decoded as of the script's own check (it was writable then).
        Ok(decode_reply(held, i64::MIN))
    }

    async fn update_inner(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        let args = update_args(changes);
        let updated: i64 = UPDATE_SCRIPT
            .run(&self.conn, &[key.store_key().as_bytes()], &args)
            .await
            .map_err(backend)?;
        Ok(updated == 1)
    }

    async fn move_to_inner(
        &self,
        from: &RecordKey,
        to: &RecordKey,
        changes: &Changes,
        binding: &str,
        tombstone_until: i64,
    ) -> Result<bool> {
        if let Conn::Cluster(_) = &self.conn {
            let Some(current) = self.supersede_inner(from, tombstone_until).await? else {
                return Ok(false);
            };
            let record = changes.moved_record(&current, binding);
            return if self.create_inner(to, &record).await? {
                Ok(true)
            } else {
                Err(taken())
            };
        }
        let mut args = Vec::with_capacity(13 + 2 * changes.set.len() + changes.remove.len());
        args.extend([
            META_FIELD.to_owned(),
            unix_now().to_string(),
            tombstone_until.to_string(),
            ms(tombstone_until).to_string(),
            binding.to_owned(),
        ]);
        meta_args(&mut args, &changes.meta);
        field_args(&mut args, changes);
        let (from, to) = (from.store_key(), to.store_key());
        let moved: i64 = MOVE_SCRIPT
            .run(&self.conn, &[from.as_bytes(), to.as_bytes()], &args)
            .await
            .map_err(backend)?;
        match moved {
            1 => Ok(true),
            0 => Ok(false),
            _ => Err(taken()),
        }
    }
}

/// A record's Redis key as a command argument, written straight into the
/// command's buffer (no `String` of its own).
struct KeyArg<'a>(&'a RecordKey);

impl redis::ToRedisArgs for KeyArg<'_> {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        use std::io::Write as _;
        let mut arg = out.writer_for_next_arg();
        // Writing into the command's `Vec` cannot fail.
        let _ = arg.write_all(self.0.prefix().as_bytes());
        let _ = arg.write_all(self.0.id().as_str().as_bytes());
    }
}

/// `name key`, allocated once at its final size.
fn key_cmd(name: &str, key: &RecordKey) -> redis::Cmd {
    let len = name.len() + key.prefix().len() + key.id().as_str().len();
    let mut cmd = redis::Cmd::with_capacity(2, len);
    cmd.arg(name).arg(KeyArg(key));
    cmd
}

fn label(interface: &str) -> &str {
    if interface.is_empty() {
        LABEL
    } else {
        interface
    }
}

/// The `UPDATE` script's arguments for `changes` (also sent by the near
/// cache's update-and-read script, which takes the same ones).
pub(crate) fn update_args(changes: &Changes) -> Vec<String> {
    let mut args = Vec::with_capacity(8 + 2 * changes.set.len() + changes.remove.len());
    args.extend([META_FIELD.to_owned(), unix_now().to_string()]);
    meta_args(&mut args, &changes.meta);
    field_args(&mut args, changes);
    args
}

/// The script arguments of a meta update: permanent (`''`, `'0'`, `'1'`),
/// accessed, expires, shorten, expires in ms.
fn meta_args(args: &mut Vec<String>, meta: &MetaUpdate) {
    let permanent = match meta.permanent {
        None => "",
        Some(false) => "0",
        Some(true) => "1",
    };
    args.extend([
        permanent.to_owned(),
        meta.accessed.to_string(),
        meta.expires.to_string(),
        if meta.shorten { "1" } else { "0" }.to_owned(),
        ms(meta.expires).to_string(),
    ]);
}

/// The script arguments of a delta after its meta: `n`, the `n` name/value
/// pairs set, the names removed.
fn field_args(args: &mut Vec<String>, changes: &Changes) {
    args.push(changes.set.len().to_string());
    for (name, value) in &changes.set {
        args.extend([name.clone(), encode_value(value)]);
    }
    args.extend(changes.remove.iter().cloned());
}

#[async_trait::async_trait]
impl SessionStore for RedisStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .field_level_writes(true)
            // Lua scripts run atomically: a check-and-write needs no WATCH loop.
            .compare_and_swap(true)
            .native_ttl(true)
            .delete_by_field(true)
    }

    /// The response timeout, for a standalone store made by
    /// [`from_url`](RedisStore::from_url), [`from_url_with`](RedisStore::from_url_with)
    /// or [`from_client`](RedisStore::from_client): each call runs under one
    /// timer of that length (reconnects and retried sends included). `None`
    /// for a cluster store (its client times each reply) and for a
    /// connection handed over ready-made.
    fn call_timeout(&self) -> Option<Duration> {
        self.call_bound
    }

    /// One `HGETALL`.
    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        self.bounded(self.load_inner(key)).await
    }

    /// One script call: fails if a live record or tombstone (or anything
    /// unreadable) is under the key, else writes every field and the meta and
    /// sets the expiry.
    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        self.bounded(self.create_inner(key, record)).await
    }

    /// One script call: if a writable record is there, removes and sets the
    /// changed fields, merges the meta and moves the expiry when it grew (or
    /// was shortened on purpose); else writes nothing.
    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        self.bounded(self.update_inner(key, changes)).await
    }

    /// One script call: reads the writable record, replaces it by its
    /// tombstone and returns what it held. One key, so cluster-safe.
    async fn supersede(&self, key: &RecordKey, until: i64) -> Result<Option<Record>> {
        self.bounded(self.supersede_inner(key, until)).await
    }

    /// Standalone: one script call doing the supersede and the create. In a
    /// cluster the two keys live in different slots, so it is the two calls
    /// of the trait's default (under one bound).
    async fn move_to(
        &self,
        from: &RecordKey,
        to: &RecordKey,
        changes: &Changes,
        binding: &str,
        tombstone_until: i64,
    ) -> Result<bool> {
        self.bounded(self.move_to_inner(from, to, changes, binding, tombstone_until))
            .await
    }

    /// `SCAN` for `prefix*` (on every master of a cluster), then one atomic
    /// check-and-delete script per key found. Costs a pass over the keyspace:
    /// meant for rare events (a password change), not for every request.
    /// Not under [`call_timeout`](SessionStore::call_timeout) (the core
    /// gives it a limit of its own); each round trip of it is, though.
    async fn delete_by_field(
        &self,
        prefix: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<u64> {
        let keys = self
            .conn
            .scan_match(&glob_prefix(prefix), self.call_bound)
            .await
            .map_err(backend)?;
        let args = [META_FIELD.to_owned(), field.to_owned(), encode_value(value)];
        let mut deleted = 0;
        for chunk in keys.chunks(32) {
            let calls = chunk.iter().map(|k| async {
                within(
                    self.call_bound,
                    DELETE_IF_SCRIPT.run::<i64>(&self.conn, &[k.as_slice()], &args),
                )
                .await
            });
            for result in futures_util::future::join_all(calls).await {
                deleted += u64::try_from(result.map_err(backend)?).unwrap_or(0);
            }
        }
        Ok(deleted)
    }

    /// One `DEL`.
    async fn delete(&self, key: &RecordKey) -> Result<()> {
        let cmd = key_cmd("DEL", key);
        self.bounded(async { self.conn.query::<i64>(&cmd).await.map_err(backend) })
            .await?;
        Ok(())
    }
}

fn taken() -> Error {
    Error::backend(
        LABEL,
        "the new session id is already taken (broken random number generator?)",
    )
}

/// A `SCAN MATCH` pattern for keys starting with `prefix` (glob characters
/// in the prefix escaped).
fn glob_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    pattern
}

#[cfg(test)]
mod tests {
    use super::{glob_prefix, key_cmd};
    use session_plus_core::{RecordKey, SessionId};

    #[test]
    fn key_commands_name_the_stored_key() {
        let id = SessionId::generate();
        let key = RecordKey::new("app:", id.clone());
        let packed = key_cmd("HGETALL", &key).get_packed_command();
        let expected = redis::cmd("HGETALL")
            .arg(key.store_key())
            .get_packed_command();
        assert_eq!(packed, expected);
        assert!(String::from_utf8(packed)
            .unwrap()
            .contains(&format!("app:{}", id.as_str())));
    }

    #[test]
    fn glob_characters_in_prefixes_are_escaped() {
        assert_eq!(glob_prefix("session"), "session*");
        assert_eq!(glob_prefix("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\*");
    }
}

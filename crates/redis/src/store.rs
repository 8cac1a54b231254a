//! [`RedisStore`]: the [`SessionStore`] over standalone Redis or Redis Cluster.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::RedisError;
use session_plus_core::store::{Capabilities, Changes, MetaUpdate, Record, SessionStore};
use session_plus_core::{unix_now, Error, RecordKey, Result};

use crate::conn::{Conn, Healing};
use crate::layout::{decode, encode_meta, encode_value, ms, pairs, META_FIELD};
use crate::scripts::{
    CREATE_SCRIPT, DELETE_IF_SCRIPT, MOVE_SCRIPT, SUPERSEDE_SCRIPT, UPDATE_SCRIPT,
};

/// The label backend errors carry when made outside the core (constructors);
/// inside a request the core relabels them with the interface's cookie name.
const LABEL: &str = "redis";

/// Client-side limits of a connection made by [`RedisStore`]'s constructors.
///
/// The core already bounds every store call with the interface's timeout;
/// these limits make the client itself give up on a dead or frozen socket, so
/// a connection never stays stuck behind a request nobody waits for.
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
        }
    }

    /// Use a Redis Cluster connection you made. It follows slot moves and
    /// reconnects by itself.
    pub fn cluster(connection: ClusterConnection) -> Self {
        Self {
            conn: Conn::Cluster(Arc::new(Healing::fixed(connection))),
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
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connection_timeout))
            .set_response_timeout(Some(options.response_timeout))
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
        })
    }
}

fn label(interface: &str) -> &str {
    if interface.is_empty() {
        LABEL
    } else {
        interface
    }
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

    /// One `HGETALL`.
    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(key.store_key());
        match self.conn.query::<HashMap<Vec<u8>, Vec<u8>>>(&cmd).await {
            Ok(hash) => Ok(decode(hash, unix_now())),
            // Something else lives under the key (e.g. a string record written
            // by another program): not a session we can read, so absent. The
            // core then issues a fresh id; `create` never overwrites the key.
            Err(e) if e.code() == Some("WRONGTYPE") => {
                tracing::warn!("redis key under a session id is not a hash; treated as absent");
                Ok(None)
            }
            Err(e) => Err(backend(e)),
        }
    }

    /// One script call: fails if a live record or tombstone (or anything
    /// unreadable) is under the key, else writes every field and the meta and
    /// sets the expiry.
    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
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

    /// One script call: if a writable record is there, removes and sets the
    /// changed fields, merges the meta and moves the expiry when it grew (or
    /// was shortened on purpose); else writes nothing.
    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        let mut args = Vec::with_capacity(8 + 2 * changes.set.len() + changes.remove.len());
        args.extend([META_FIELD.to_owned(), unix_now().to_string()]);
        meta_args(&mut args, &changes.meta);
        field_args(&mut args, changes);
        let updated: i64 = UPDATE_SCRIPT
            .run(&self.conn, &[key.store_key().as_bytes()], &args)
            .await
            .map_err(backend)?;
        Ok(updated == 1)
    }

    /// One script call: reads the writable record, replaces it by its
    /// tombstone and returns what it held. One key, so cluster-safe.
    async fn supersede(&self, key: &RecordKey, until: i64) -> Result<Option<Record>> {
        let args = [
            META_FIELD.to_owned(),
            unix_now().to_string(),
            until.to_string(),
            ms(until).to_string(),
        ];
        let held: Option<Vec<Vec<u8>>> = SUPERSEDE_SCRIPT
            .run(&self.conn, &[key.store_key().as_bytes()], &args)
            .await
            .map_err(backend)?;
        // Decoded as of the script's own check (it was writable then).
        Ok(held.and_then(|flat| decode(pairs(flat), i64::MIN)))
    }

    /// Standalone: one script call doing the supersede and the create. In a
    /// cluster the two keys live in different slots, so it is the two calls
    /// of the trait's default.
    async fn move_to(
        &self,
        from: &RecordKey,
        to: &RecordKey,
        changes: &Changes,
        binding: &str,
        tombstone_until: i64,
    ) -> Result<bool> {
        if let Conn::Cluster(_) = &self.conn {
            let Some(current) = self.supersede(from, tombstone_until).await? else {
                return Ok(false);
            };
            let record = changes.moved_record(&current, binding);
            return if self.create(to, &record).await? {
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

    /// `SCAN` for `prefix*` (on every master of a cluster), then one atomic
    /// check-and-delete script per key found. Costs a pass over the keyspace:
    /// meant for rare events (a password change), not for every request.
    async fn delete_by_field(
        &self,
        prefix: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<u64> {
        let keys = self
            .conn
            .scan_match(&glob_prefix(prefix))
            .await
            .map_err(backend)?;
        let args = [META_FIELD.to_owned(), field.to_owned(), encode_value(value)];
        let mut deleted = 0;
        for chunk in keys.chunks(32) {
            let calls = chunk.iter().map(|k| async {
                DELETE_IF_SCRIPT
                    .run::<i64>(&self.conn, &[k.as_slice()], &args)
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
        let cmd = redis::cmd("DEL").arg(key.store_key()).clone();
        self.conn.query::<i64>(&cmd).await.map_err(backend)?;
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
    use super::glob_prefix;

    #[test]
    fn glob_characters_in_prefixes_are_escaped() {
        assert_eq!(glob_prefix("session"), "session*");
        assert_eq!(glob_prefix("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\*");
    }
}

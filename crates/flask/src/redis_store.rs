//! flask-session-plus's Redis records as a [`SessionStore`].

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use serde_json::{Map, Value};
use session_plus_core::store::{
    Capabilities, Changes, MetaUpdate, Record, RecordMeta, SessionStore,
};
use session_plus_core::{unix_now, Error, RecordKey, Result};

use crate::cookie::{session_dict, split_permanent, top_level, FAR_FUTURE, PERMANENT};
use crate::json;

/// Sets the key only if it still holds the value the merge started from: a
/// compare-and-swap over whole values. A vanished key never matches, so a
/// write can never resurrect a deleted session. The merge of the fields is
/// done in Rust (not with `cjson`, which would reformat numbers and reorder
/// keys); the expiry is merged here, against the key's own expiry at that
/// instant: it only moves forward unless `shorten` is set.
///
/// `ARGV`: expected value, new value, expiry (ms since the epoch), shorten
/// (`0`/`1`). Returns 1 when swapped, else 0.
const CAS: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local target = tonumber(ARGV[3])
if ARGV[4] == '0' then
  local pttl = redis.call('PTTL', KEYS[1])
  if pttl == -1 then
    redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
    return 1
  end
  local t = redis.call('TIME')
  local current = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + pttl
  if current > target then target = current end
end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', string.format('%.0f', target))
return 1
";

/// Moves the expiry of a live record that is not a tombstone forward (an
/// idle refresh without a permanence change): one round trip.
///
/// `ARGV`: the tombstone marker (the value prefix of every tombstone), expiry
/// (ms since the epoch). Returns 1, or 0 when there is nothing to refresh.
const TOUCH: &str = r"
local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, #ARGV[1]) == ARGV[1] then return 0 end
local pttl = redis.call('PTTL', KEYS[1])
if pttl == -1 then return 1 end
local t = redis.call('TIME')
local current = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + pttl
if tonumber(ARGV[2]) > current then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
return 1
";

/// The dict key marking a tombstone (a session moved to a new id at login).
/// It starts with a NUL character, which the core refuses in field names, so
/// no session field can collide with it; it sorts first, so every tombstone's
/// value starts with the same bytes.
const TOMBSTONE: &str = "\u{0}moved";

/// Send a command, and once more if the connection was refused: then it never
/// left this process, and the client has just started to reconnect, so the
/// first request after Redis comes back succeeds instead of getting the
/// failure of an attempt made while the server was down. A command that may
/// have reached the server is never sent twice.
macro_rules! once_more_if_refused {
    ($send:expr) => {
        match $send {
            Err(e) if e.is_connection_refusal() => $send,
            other => other,
        }
    };
}

/// Attempts of one `update` under contention before giving up with an error.
const MAX_CAS_ATTEMPTS: usize = 32;

/// Redis records laid out as flask-session-plus lays them out, so a Flask app
/// running that package and a Rust app share server-side sessions.
///
/// - key: `key_prefix + sid` (the interface's `key_prefix`, default `session`);
/// - value: TaggedJSON (compact, sorted keys, ASCII) of
///   `{"_permanent": bool, ...fields}`, written with an expiry (`SET .. EX`,
///   like Python's `SETEX`) of the session lifetime.
///
/// Records hold whole values, so [`update`](SessionStore::update) is a
/// read–merge–compare-and-swap loop (a small Lua script compares the stored
/// bytes): two concurrent requests changing different fields both survive,
/// and a record deleted meanwhile is never written again. The meta is merged
/// too: `_permanent` changes only when the request changed it, and the
/// script moves the key's expiry only forward (unless the request made the
/// session non-permanent), so a concurrent write never undoes
/// `set_permanent(true)`.
///
/// At login ([`supersede`](SessionStore::supersede), through the trait's
/// default `move_to`) the old key is swapped, by the same compare-and-swap,
/// for a short-lived tombstone: the dict `{"\u0000moved": true,
/// "_permanent": ..}` (a key no session field can have). Rust requests that
/// still carry the old id see it and neither write nor set cookies; a Python
/// app reads it as a session without fields.
///
/// Python keeps neither a creation nor a last-write time; the store derives
/// the last write from the remaining TTL and the configured
/// [`lifetimes`](Self::lifetimes) (set them to the interface's), so idle
/// refresh works; `created` is that same time (an `absolute_lifetime` counts
/// from the last write). A record whose value is not valid TaggedJSON is read
/// as absent (logged at warn) and left alone.
///
/// Python's flask-session-plus 0.6.2 never manages to write to Redis (its TTL
/// is computed from a datetime and the exception is only logged): records in
/// this layout come from Rust, or from a patched Python app.
///
/// ```no_run
/// # async fn demo() -> session_plus_core::Result<()> {
/// use std::sync::Arc;
/// use session_plus_core::{FieldRules, Interface, SessionManager};
/// use session_plus_flask::{FlaskIdSigner, FlaskRedisStore, FlaskSecrets};
///
/// let store = FlaskRedisStore::connect("redis://127.0.0.1/").await?;
/// let secrets = FlaskSecrets::new("the Flask SECRET_KEY")?;
/// let manager = SessionManager::builder()
///     .interface(
///         Interface::store("session", Arc::new(store))
///             .fields(FieldRules::include(["user_id"]))
///             .id_signer(Arc::new(FlaskIdSigner::new(&secrets))), // use_signer=True
///     )
///     .build()?;
/// # let _ = manager; Ok(()) }
/// ```
#[derive(Clone)]
pub struct FlaskRedisStore {
    conn: ConnectionManager,
    cas: Script,
    touch: Script,
    lifetime: i64,
    permanent_lifetime: i64,
}

impl fmt::Debug for FlaskRedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlaskRedisStore")
            .field("lifetime", &self.lifetime)
            .field("permanent_lifetime", &self.permanent_lifetime)
            .finish_non_exhaustive()
    }
}

fn backend(e: redis::RedisError) -> Error {
    // The interface name is not known here; the core adds it in its logs.
    Error::backend("flask-redis", e)
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)
}

impl FlaskRedisStore {
    /// A store over an existing connection manager. Lifetimes default to
    /// flask-session-plus's: 1 day, 31 days when permanent.
    pub fn new(conn: ConnectionManager) -> Self {
        Self {
            conn,
            cas: Script::new(CAS),
            touch: Script::new(TOUCH),
            lifetime: 24 * 3600,
            permanent_lifetime: 31 * 24 * 3600,
        }
    }

    /// Connect to `url` (`redis://host:port/db`), with the limits of
    /// `session_plus_redis::RedisOptions::default()`: 1 s to connect, 1 s for
    /// a reply, one quick reconnect retry per failed request (requests during
    /// an outage fail fast; the first one after it succeeds).
    ///
    /// # Errors
    /// If the URL is invalid or the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self> {
        let client = redis::Client::open(url).map_err(backend)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(backend)?;
        Ok(Self::new(conn))
    }

    /// The interface's `session_lifetime` and `session_permanent_lifetime`,
    /// used to recover a record's last write time from its TTL.
    #[must_use]
    pub fn lifetimes(mut self, session: Duration, permanent: Duration) -> Self {
        self.lifetime = secs(session);
        self.permanent_lifetime = secs(permanent);
        self
    }

    fn encode(record: &Record) -> String {
        let mut dict: Map<String, Value> = record
            .fields
            .iter()
            .filter(|(k, _)| k.as_str() != PERMANENT && k.as_str() != TOMBSTONE)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        dict.insert(PERMANENT.to_owned(), Value::Bool(record.meta.permanent));
        if record.meta.moved {
            dict.insert(TOMBSTONE.to_owned(), Value::Bool(true));
        }
        json::write(&top_level(dict))
    }

    /// The bytes every tombstone's value starts with.
    fn tombstone_marker() -> String {
        let stone = Self::encode(&Record::new(
            Default::default(),
            RecordMeta::new(0, 0, "").with_moved(true),
        ));
        let end = stone.find(',').unwrap_or(stone.len());
        stone[..=end.min(stone.len() - 1)].to_owned()
    }

    /// The record in a stored value with `pttl` milliseconds left (`-1`: none).
    fn decode(&self, key: &RecordKey, raw: &[u8], pttl: i64, now: i64) -> Option<Record> {
        let parsed = std::str::from_utf8(raw)
            .ok()
            .and_then(json::parse)
            .and_then(session_dict);
        let Some(dict) = parsed else {
            tracing::warn!(key = ?key, "flask-session-plus record is not valid TaggedJSON; treated as absent");
            return None;
        };
        let (mut fields, permanent) = split_permanent(dict);
        let moved = fields.remove(TOMBSTONE).is_some();
        let (expires, accessed) = if pttl < 0 {
            (FAR_FUTURE, now)
        } else {
            let expires = now.saturating_add(pttl.saturating_add(999) / 1000);
            let lifetime = if permanent {
                self.permanent_lifetime
            } else {
                self.lifetime
            };
            (expires, expires.saturating_sub(lifetime).min(now))
        };
        Some(Record::new(
            if moved { Default::default() } else { fields },
            RecordMeta::new(accessed, expires, "")
                .with_permanent(permanent)
                .with_moved(moved),
        ))
    }

    /// The value under `key` and its remaining time in ms (`-1`: no expiry),
    /// read together.
    async fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, i64)> {
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("GET").arg(key).cmd("PTTL").arg(key);
        once_more_if_refused!(pipe.query_async(&mut self.conn.clone()).await).map_err(backend)
    }

    /// Swap `old` for `new` if the key still holds `old`; the key's expiry
    /// becomes `expires` (moved only forward unless `shorten`).
    async fn swap(
        &self,
        key: &str,
        old: Vec<u8>,
        new: String,
        expires: i64,
        shorten: bool,
    ) -> Result<bool> {
        let mut call = self.cas.key(key);
        call.arg(old)
            .arg(new)
            .arg(expires.saturating_mul(1000))
            .arg(u8::from(shorten));
        let swapped: i64 = once_more_if_refused!(call.invoke_async(&mut self.conn.clone()).await)
            .map_err(backend)?;
        Ok(swapped == 1)
    }

    /// Read–change–compare-and-swap until the swap lands. `change` gets the
    /// writable record (it is not called for a missing record or a
    /// tombstone) and returns the record to write, its expiry and whether
    /// the expiry may shrink, plus what to return.
    async fn cas_loop<T>(
        &self,
        key: &RecordKey,
        mut change: impl FnMut(Record) -> (Record, i64, bool, T),
    ) -> Result<Option<T>> {
        let k = key.store_key();
        for _ in 0..MAX_CAS_ATTEMPTS {
            let (Some(old), pttl) = self.get(&k).await? else {
                return Ok(None);
            };
            let now = unix_now();
            // Unreadable: never overwrite it with partial data.
            let Some(record) = self.decode(key, &old, pttl, now) else {
                return Ok(None);
            };
            if !record.is_writable(now) {
                return Ok(None);
            }
            let (new, expires, shorten, out) = change(record);
            if self
                .swap(&k, old, Self::encode(&new), expires, shorten)
                .await?
            {
                return Ok(Some(out));
            }
        }
        Err(Error::backend(
            "flask-redis",
            "record kept changing under compare-and-swap; gave up",
        ))
    }
}

#[async_trait::async_trait]
impl SessionStore for FlaskRedisStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new().compare_and_swap(true).native_ttl(true)
    }

    /// `_permanent`: the layout keeps permanence under it.
    fn reserved_fields(&self) -> &[&str] {
        &[PERMANENT]
    }

    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        let (raw, pttl) = self.get(&key.store_key()).await?;
        Ok(raw.and_then(|raw| self.decode(key, &raw, pttl, unix_now())))
    }

    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key.store_key())
            .arg(Self::encode(record))
            .arg("NX")
            .arg("EX")
            .arg(ttl(record.meta.expires));
        let set: Option<String> =
            once_more_if_refused!(cmd.query_async(&mut self.conn.clone()).await)
                .map_err(backend)?;
        Ok(set.is_some())
    }

    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        let done = self
            .cas_loop(key, |mut record| {
                changes.apply_to(&mut record);
                (record, changes.meta.expires, changes.meta.shorten, ())
            })
            .await?;
        Ok(done.is_some())
    }

    /// A permanence change rewrites `_permanent` (an `update`); a plain
    /// refresh only moves the key's expiry forward, in one script call.
    async fn touch(&self, key: &RecordKey, meta: &MetaUpdate) -> Result<bool> {
        if meta.permanent.is_some() {
            return self.update(key, &Changes::new(meta.clone())).await;
        }
        let mut call = self.touch.key(key.store_key());
        call.arg(Self::tombstone_marker())
            .arg(meta.expires.saturating_mul(1000));
        let done: i64 = once_more_if_refused!(call.invoke_async(&mut self.conn.clone()).await)
            .map_err(backend)?;
        Ok(done == 1)
    }

    /// Compare-and-swap the record for its tombstone, expiring at `until`.
    async fn supersede(&self, key: &RecordKey, until: i64) -> Result<Option<Record>> {
        self.cas_loop(key, |record| {
            let stone = record.tombstone(until);
            (stone, until, true, record)
        })
        .await
    }

    async fn delete(&self, key: &RecordKey) -> Result<()> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(key.store_key());
        let _: i64 = once_more_if_refused!(cmd.query_async(&mut self.conn.clone()).await)
            .map_err(backend)?;
        Ok(())
    }
}

fn ttl(expires: i64) -> i64 {
    expires.saturating_sub(unix_now()).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn value_layout_is_python_exact() {
        let record = Record::new(
            [
                ("user_id".to_owned(), json!(42)),
                ("pair".to_owned(), json!({" t": [1, "é"]})),
            ]
            .into(),
            RecordMeta::new(0, 10, "ignored").with_permanent(true),
        );
        assert_eq!(
            FlaskRedisStore::encode(&record),
            r#"{"_permanent":true,"pair":{" t":[1,"\u00e9"]},"user_id":42}"#
        );
    }

    #[test]
    fn tombstones_share_a_prefix_no_session_has() {
        let marker = FlaskRedisStore::tombstone_marker();
        assert_eq!(marker, r#"{"\u0000moved":true,"#);
        for permanent in [false, true] {
            let stone = Record::new(
                Default::default(),
                RecordMeta::new(0, 10, "").with_permanent(permanent),
            )
            .tombstone(20);
            assert!(FlaskRedisStore::encode(&stone).starts_with(&marker));
        }
        let live = Record::new(
            [("a".to_owned(), json!(1))].into(),
            RecordMeta::new(0, 10, ""),
        );
        assert!(!FlaskRedisStore::encode(&live).starts_with(&marker));
    }

    /// Tombstones, the meta merge and the login move against a real
    /// `redis-server`.
    mod on_redis {
        use super::*;
        use session_plus_core::SessionId;
        use session_plus_testkit::{RedisServer, Reply};

        const DAY: i64 = 86_400;

        fn key() -> RecordKey {
            RecordKey::new("session", SessionId::generate())
        }

        fn pexpiretime(server: &RedisServer, key: &RecordKey) -> i64 {
            match server.command(&["PEXPIRETIME", &key.store_key()]).unwrap() {
                Reply::Integer(n) => n,
                other => panic!("PEXPIRETIME: {other:?}"),
            }
        }

        fn rt() -> tokio::runtime::Runtime {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
        }

        #[test]
        fn supersede_leaves_a_tombstone_that_refuses_writes() {
            let server = RedisServer::start();
            rt().block_on(async {
                let store = FlaskRedisStore::connect(&server.url()).await.unwrap();
                let (k, now) = (key(), unix_now());
                let record = Record::new(
                    [("user_id".to_owned(), json!(1))].into(),
                    RecordMeta::new(now, now + DAY, ""),
                );
                assert!(store.create(&k, &record).await.unwrap());
                let delta =
                    Changes::new(MetaUpdate::refresh(now, now + DAY)).set("cart", json!([1]));
                assert!(store.update(&k, &delta).await.unwrap());

                let until = now + 120;
                let snapshot = store.supersede(&k, until).await.unwrap().expect("snapshot");
                assert_eq!(
                    snapshot.fields.len(),
                    2,
                    "the write made just before is in the snapshot"
                );
                let stone = store.load(&k).await.unwrap().expect("tombstone");
                assert!(stone.meta.moved && stone.fields.is_empty());
                assert!(stone.meta.expires <= until && stone.meta.expires >= until - 1);
                assert!(!store.update(&k, &delta).await.unwrap());
                assert!(!store
                    .touch(&k, &MetaUpdate::refresh(now, now + DAY))
                    .await
                    .unwrap());
                assert!(store.supersede(&k, until).await.unwrap().is_none());
                assert!(!store.create(&k, &record).await.unwrap());
                assert_eq!(pexpiretime(&server, &k), until * 1000);

                // The trait's move_to (supersede, then create) carries it all over.
                let (from, to) = (key(), key());
                assert!(store.create(&from, &record).await.unwrap());
                let login =
                    Changes::new(MetaUpdate::refresh(now, now + DAY)).set("role", json!("admin"));
                assert!(store
                    .move_to(&from, &to, &login, "", now + 120)
                    .await
                    .unwrap());
                let moved = store.load(&to).await.unwrap().expect("moved record");
                assert_eq!(moved.fields.len(), 2);
                assert!(store.load(&from).await.unwrap().unwrap().meta.moved);
            });
        }

        /// Issue 13 for this store too: the first request after Redis
        /// comes back succeeds.
        #[test]
        fn first_request_after_redis_is_back_succeeds() {
            let mut server = RedisServer::start();
            rt().block_on(async {
                // No reconnect retries: the attempt made during the outage has
                // surely failed by the time the server is back.
                let client = redis::Client::open(server.url()).unwrap();
                let config = ConnectionManagerConfig::new().set_number_of_retries(0);
                let conn = ConnectionManager::new_with_config(client, config)
                    .await
                    .unwrap();
                let store = FlaskRedisStore::new(conn);
                let k = key();
                assert!(store.load(&k).await.unwrap().is_none());
                server.stop();
                for _ in 0..3 {
                    assert!(store.load(&k).await.is_err(), "Redis is down");
                }
                server.restart();
                assert!(
                    store.load(&k).await.is_ok(),
                    "the first request after Redis came back failed"
                );
            });
        }

        #[test]
        fn a_concurrent_write_never_undoes_set_permanent() {
            let server = RedisServer::start();
            rt().block_on(async {
                let store = FlaskRedisStore::connect(&server.url()).await.unwrap();
                let (k, now) = (key(), unix_now());
                let record = Record::new(
                    [("user_id".to_owned(), json!(1))].into(),
                    RecordMeta::new(now, now + DAY, ""),
                );
                assert!(store.create(&k, &record).await.unwrap());
                let permanent = MetaUpdate::refresh(now, now + 31 * DAY).with_permanent(true);
                assert!(store.update(&k, &Changes::new(permanent)).await.unwrap());
                // A request that loaded the non-permanent record writes another
                // field with its 1-day lifetime, then refreshes.
                let stale =
                    Changes::new(MetaUpdate::refresh(now, now + DAY)).set("theme", json!("dark"));
                assert!(store.update(&k, &stale).await.unwrap());
                assert!(store
                    .touch(&k, &MetaUpdate::refresh(now, now + DAY))
                    .await
                    .unwrap());
                let got = store.load(&k).await.unwrap().unwrap();
                assert!(got.meta.permanent, "a concurrent write reset permanence");
                assert_eq!(got.fields.len(), 2);
                assert_eq!(pexpiretime(&server, &k), (now + 31 * DAY) * 1000);

                // Making it non-permanent shortens on purpose.
                let off = MetaUpdate::refresh(now, now + DAY).with_permanent(false);
                assert!(store.touch(&k, &off).await.unwrap());
                assert!(!store.load(&k).await.unwrap().unwrap().meta.permanent);
                assert_eq!(pexpiretime(&server, &k), (now + DAY) * 1000);
            });
        }
    }
}

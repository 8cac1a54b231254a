//! flask-session-plus's Redis records as a [`SessionStore`].

use std::fmt;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Script;
use serde_json::{Map, Value};
use session_plus_core::store::{Capabilities, Changes, Record, RecordMeta, SessionStore};
use session_plus_core::{unix_now, Error, RecordKey, Result};

use crate::cookie::{session_dict, split_permanent, top_level, FAR_FUTURE, PERMANENT};
use crate::json;

/// Sets the key only if it still holds the value the merge started from: a
/// compare-and-swap over whole values. A vanished key never matches, so a
/// write can never resurrect a deleted session. The merge itself is done in
/// Rust (not with `cjson`, which would reformat numbers and reorder keys).
const CAS: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
";

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
/// and a record deleted meanwhile is never written again.
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
            lifetime: 24 * 3600,
            permanent_lifetime: 31 * 24 * 3600,
        }
    }

    /// Connect to `url` (`redis://host:port/db`).
    ///
    /// # Errors
    /// If the URL is invalid or the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self> {
        let client = redis::Client::open(url).map_err(backend)?;
        let conn = ConnectionManager::new(client).await.map_err(backend)?;
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
            .filter(|(k, _)| k.as_str() != PERMANENT)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        dict.insert(PERMANENT.to_owned(), Value::Bool(record.meta.permanent));
        json::write(&top_level(dict))
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
        let (fields, permanent) = split_permanent(dict);
        let (expires, accessed) = if pttl < 0 {
            (FAR_FUTURE, now)
        } else {
            let expires = now + (pttl + 999) / 1000;
            let lifetime = if permanent {
                self.permanent_lifetime
            } else {
                self.lifetime
            };
            (expires, expires.saturating_sub(lifetime).min(now))
        };
        Some(Record {
            fields,
            meta: RecordMeta {
                permanent,
                created: accessed,
                accessed,
                expires,
                binding: String::new(),
            },
        })
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(backend)
    }
}

fn ttl(meta: &RecordMeta) -> i64 {
    meta.expires.saturating_sub(unix_now()).max(1)
}

#[async_trait::async_trait]
impl SessionStore for FlaskRedisStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            field_level_writes: false,
            compare_and_swap: true,
            native_ttl: true,
        }
    }

    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        let k = key.store_key();
        let (raw, pttl): (Option<Vec<u8>>, i64) = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg(&k)
            .cmd("PTTL")
            .arg(&k)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(backend)?;
        Ok(raw.and_then(|raw| self.decode(key, &raw, pttl, unix_now())))
    }

    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        let set: Option<String> = redis::cmd("SET")
            .arg(key.store_key())
            .arg(Self::encode(record))
            .arg("NX")
            .arg("EX")
            .arg(ttl(&record.meta))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(backend)?;
        Ok(set.is_some())
    }

    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        let k = key.store_key();
        for _ in 0..MAX_CAS_ATTEMPTS {
            let Some(old) = self.get(&k).await? else {
                return Ok(false);
            };
            let Some(mut record) = self.decode(key, &old, -1, unix_now()) else {
                // Unreadable now: never overwrite it with partial data.
                return Ok(false);
            };
            changes.apply_to(&mut record);
            let swapped: i64 = self
                .cas
                .key(&k)
                .arg(old)
                .arg(Self::encode(&record))
                .arg(ttl(&changes.meta))
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(backend)?;
            if swapped == 1 {
                return Ok(true);
            }
        }
        Err(Error::backend(
            "flask-redis",
            "record kept changing under compare-and-swap; gave up",
        ))
    }

    async fn touch(&self, key: &RecordKey, meta: &RecordMeta) -> Result<bool> {
        let done: i64 = redis::cmd("EXPIRE")
            .arg(key.store_key())
            .arg(ttl(meta))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(backend)?;
        Ok(done == 1)
    }

    async fn delete(&self, key: &RecordKey) -> Result<()> {
        let _: i64 = redis::cmd("DEL")
            .arg(key.store_key())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn value_layout_is_python_exact() {
        let record = Record {
            fields: [
                ("user_id".to_owned(), json!(42)),
                ("pair".to_owned(), json!({" t": [1, "é"]})),
            ]
            .into(),
            meta: RecordMeta {
                permanent: true,
                created: 0,
                accessed: 0,
                expires: 10,
                binding: "ignored".into(),
            },
        };
        assert_eq!(
            FlaskRedisStore::encode(&record),
            r#"{"_permanent":true,"pair":{" t":[1,"\u00e9"]},"user_id":42}"#
        );
    }
}

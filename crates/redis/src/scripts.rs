//! The Lua scripts that make each write one atomic round trip.
//!
//! Every script touches exactly one key (`KEYS[1]`), so in a Redis Cluster it
//! runs on the node owning that key's slot (the client routes `EVALSHA` and
//! `EVAL` by their first key).

use std::sync::LazyLock;

use redis::{Cmd, RedisResult, ServerErrorKind};

use crate::conn::Conn;

/// Apply a delta to a live record; never resurrects one.
///
/// `ARGV`: meta field name, meta JSON, expiry (ms since the epoch), number of
/// fields to set `n`, `n` name/value pairs, then the names of removed fields.
/// Removals go first, then sets (as `Changes::apply_to` does). Returns 1, or 0
/// (writing nothing) when there is no live record.
const UPDATE: &str = r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local last = 4 + 2 * tonumber(ARGV[4])
for i = last + 1, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
for i = 5, last, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
";

/// Write a new record unless the key exists (whatever it holds).
///
/// `ARGV`: meta field name, meta JSON, expiry (ms since the epoch), then
/// name/value pairs. Returns 1, or 0 (writing nothing) when the key exists.
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
";

/// Delete the record if its field holds a value (for `delete_by_field`):
/// checked and deleted atomically, so a concurrent update cannot slip between.
///
/// `ARGV`: meta field name, field name, the value's JSON text. Returns 1 if
/// the record was deleted, else 0 (also for keys that are not our records).
const DELETE_IF: &str = r"
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[3] then return 0 end
return redis.call('DEL', KEYS[1])
";

pub(crate) static DELETE_IF_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(DELETE_IF));
pub(crate) static UPDATE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(UPDATE));
pub(crate) static CREATE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CREATE));

/// A Lua script with its SHA-1, run by hash first.
pub(crate) struct Script {
    source: &'static str,
    sha: String,
}

impl Script {
    fn new(source: &'static str) -> Self {
        Self {
            source,
            sha: redis::Script::new(source).get_hash().to_owned(),
        }
    }

    /// Run the script on `key`: `EVALSHA` (one round trip); only if the server
    /// does not know the script yet (first call, or after a restart) a second
    /// round trip sends it with `EVAL`, which also caches it.
    pub(crate) async fn run(&self, conn: &Conn, key: &[u8], args: &[String]) -> RedisResult<i64> {
        let by_hash = build(Cmd::new().arg("EVALSHA").arg(&self.sha), key, args);
        match conn.query(&by_hash).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(ServerErrorKind::NoScript) => {
                conn.query(&build(Cmd::new().arg("EVAL").arg(self.source), key, args))
                    .await
            }
            other => other,
        }
    }
}

fn build(cmd: &mut Cmd, key: &[u8], args: &[String]) -> Cmd {
    cmd.arg(1).arg(key).arg(args);
    cmd.clone()
}

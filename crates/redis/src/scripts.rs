//! The Lua scripts that make each write one atomic round trip.
//!
//! Every script but `MOVE` touches exactly one key (`KEYS[1]`), so in a Redis
//! Cluster it runs on the node owning that key's slot (the client routes
//! `EVALSHA` and `EVAL` by their first key). `MOVE` touches two keys and is
//! only used on a standalone server.
//!
//! The meta (see `layout`) is parsed and merged inside the scripts, so a
//! concurrent write never undoes another's permanence or shortens its expiry:
//! permanence is written only when the request gave it, `accessed` and
//! `expires` only move forward (unless the request shortens on purpose),
//! `created` and the binding never change. Times stay decimal strings; Lua
//! numbers are only used to compare them.

use std::sync::LazyLock;

use redis::{Cmd, FromRedisValue, RedisResult, ServerErrorKind};

use crate::conn::Conn;

/// Helpers every script starts with.
///
/// `parse_meta` reads the meta field's value in the current format or as the
/// JSON of earlier versions; `nil` if it is neither (the record is then left
/// alone). `writable` is true for a live record that is not a tombstone.
const PRELUDE: &str = r"
local function parse_meta(raw)
  if type(raw) ~= 'string' then return nil end
  local p, c, a, e, m, b = string.match(raw, '^2|([01])|(%-?%d+)|(%-?%d+)|(%-?%d+)|([01])|(.*)$')
  if p then return {p = p, c = c, a = a, e = e, m = m, b = b} end
  if string.sub(raw, 1, 1) ~= '{' then return nil end
  local ok, t = pcall(cjson.decode, raw)
  if not ok or type(t) ~= 'table' or type(t.c) ~= 'number' or type(t.a) ~= 'number'
     or type(t.e) ~= 'number' then return nil end
  return {
    p = (t.p == true) and '1' or '0',
    c = string.format('%.0f', t.c), a = string.format('%.0f', t.a), e = string.format('%.0f', t.e),
    m = (t.m == true) and '1' or '0',
    b = (type(t.b) == 'string') and t.b or ''}
end
local function meta_text(t)
  return '2|' .. t.p .. '|' .. t.c .. '|' .. t.a .. '|' .. t.e .. '|' .. t.m .. '|' .. t.b
end
local function read_meta(key, field)
  return parse_meta(redis.pcall('HGET', key, field))
end
local function writable(t, now)
  return t ~= nil and t.m == '0' and tonumber(t.e) > tonumber(now)
end
local function live(t, now)
  return t ~= nil and tonumber(t.e) > tonumber(now)
end
-- Merge a meta update into t; returns true when the expiry changed.
local function merge(t, permanent, accessed, expires, shorten)
  if permanent ~= '' then t.p = permanent end
  if tonumber(accessed) > tonumber(t.a) then t.a = accessed end
  if shorten == '1' or tonumber(expires) > tonumber(t.e) then
    local changed = t.e ~= expires
    t.e = expires
    return changed
  end
  return false
end
";

/// Apply a delta to a writable record; never resurrects one, never writes a
/// tombstone.
///
/// `ARGV`: meta field, now, permanent (`''`, `'0'` or `'1'`), accessed,
/// expires, shorten (`'0'`/`'1'`), expires in ms, number of fields to set `n`,
/// `n` name/value pairs, then the names of removed fields. Removals go first,
/// then sets (as `Changes::apply_to` does). Returns 1, or 0 (writing nothing)
/// when there is no writable record.
const UPDATE: &str = r"
local t = read_meta(KEYS[1], ARGV[1])
if not writable(t, ARGV[2]) then return 0 end
local last = 8 + 2 * tonumber(ARGV[8])
for i = last + 1, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
for i = 9, last, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local moved = merge(t, ARGV[3], ARGV[4], ARGV[5], ARGV[6])
redis.call('HSET', KEYS[1], ARGV[1], meta_text(t))
if moved then redis.call('PEXPIREAT', KEYS[1], ARGV[7]) end
return 1
";

/// Write a new record unless a live one (or a live tombstone, or anything we
/// cannot read) is under the key.
///
/// `ARGV`: meta field, meta, expiry in ms, now, then name/value pairs.
/// Returns 1, or 0 (writing nothing).
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  local t = read_meta(KEYS[1], ARGV[1])
  if t == nil or live(t, ARGV[4]) then return 0 end
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
";

/// Replace a writable record by its tombstone and return what it held
/// (`HGETALL`), or nil (writing nothing) when there is no writable record.
///
/// `ARGV`: meta field, now, tombstone expiry, tombstone expiry in ms.
const SUPERSEDE: &str = r"
local t = read_meta(KEYS[1], ARGV[1])
if not writable(t, ARGV[2]) then return false end
local all = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
t.m = '1'
t.e = ARGV[3]
redis.call('HSET', KEYS[1], ARGV[1], meta_text(t))
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return all
";

/// `SUPERSEDE` of `KEYS[1]` plus the creation of `KEYS[2]` from what it held
/// with a delta applied and a new binding, in one step (standalone only: the
/// keys are in different cluster slots).
///
/// `ARGV`: meta field, now, tombstone expiry, tombstone expiry in ms, new
/// binding, then as `UPDATE` from its third argument: permanent, accessed,
/// expires, shorten, expires in ms, `n`, pairs, removed names. Returns 1; 0
/// (writing nothing) when `KEYS[1]` holds no writable record; -1 (writing
/// nothing) when `KEYS[2]` is taken.
const MOVE: &str = r"
local t = read_meta(KEYS[1], ARGV[1])
if not writable(t, ARGV[2]) then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then
  local other = read_meta(KEYS[2], ARGV[1])
  if other == nil or live(other, ARGV[2]) then return -1 end
  redis.call('DEL', KEYS[2])
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] ~= ARGV[1] then redis.call('HSET', KEYS[2], all[i], all[i + 1]) end
end
local last = 11 + 2 * tonumber(ARGV[11])
for i = last + 1, #ARGV do redis.call('HDEL', KEYS[2], ARGV[i]) end
for i = 12, last, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
local n = {p = t.p, c = t.c, a = t.a, e = t.e, m = '0', b = ARGV[5]}
merge(n, ARGV[6], ARGV[7], ARGV[8], ARGV[9])
local expire_ms = string.format('%.0f', tonumber(t.e) * 1000)
if n.e == ARGV[8] then expire_ms = ARGV[10] end
redis.call('HSET', KEYS[2], ARGV[1], meta_text(n))
redis.call('PEXPIREAT', KEYS[2], expire_ms)
redis.call('DEL', KEYS[1])
t.m = '1'
t.e = ARGV[3]
redis.call('HSET', KEYS[1], ARGV[1], meta_text(t))
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
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

pub(crate) static DELETE_IF_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(DELETE_IF.to_owned()));
pub(crate) static UPDATE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::with_prelude(UPDATE));
pub(crate) static CREATE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::with_prelude(CREATE));
pub(crate) static SUPERSEDE_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::with_prelude(SUPERSEDE));
pub(crate) static MOVE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::with_prelude(MOVE));
/// `UPDATE`, then the record as that write left it, in one atomic call:
/// returns `{updated, HGETALL}` (the hash as a flat list). Same `ARGV` as
/// `UPDATE`. The near cache runs it on its tracking connection to refresh
/// its entry from its own write.
pub(crate) static UPDATE_GET_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::with_prelude(&format!(
        "local function update()\n{UPDATE}\nend\nlocal updated = update()\nreturn {{updated, redis.call('HGETALL', KEYS[1])}}\n"
    ))
});

/// A Lua script with its SHA-1, run by hash first.
pub(crate) struct Script {
    source: String,
    sha: String,
}

impl Script {
    fn new(source: String) -> Self {
        let sha = redis::Script::new(&source).get_hash().to_owned();
        Self { source, sha }
    }

    fn with_prelude(body: &str) -> Self {
        Self::new(format!("{PRELUDE}{body}"))
    }

    /// The script's call as bytes on the wire: `EVALSHA` (by hash), or
    /// `EVAL` with the source (which also makes the server cache it).
    pub(crate) fn packed(&self, by_hash: bool, keys: &[&[u8]], args: &[String]) -> Vec<u8> {
        let cmd = if by_hash {
            build(Cmd::new().arg("EVALSHA").arg(&self.sha), keys, args)
        } else {
            build(Cmd::new().arg("EVAL").arg(&self.source), keys, args)
        };
        cmd.get_packed_command()
    }

    /// Run the script on `keys`: `EVALSHA` (one round trip); only if the
    /// server does not know the script yet (first call, or after a restart) a
    /// second round trip sends it with `EVAL`, which also caches it.
    pub(crate) async fn run<T: FromRedisValue>(
        &self,
        conn: &Conn,
        keys: &[&[u8]],
        args: &[String],
    ) -> RedisResult<T> {
        let by_hash = build(Cmd::new().arg("EVALSHA").arg(&self.sha), keys, args);
        match conn.query(&by_hash).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(ServerErrorKind::NoScript) => {
                conn.query(&build(Cmd::new().arg("EVAL").arg(&self.source), keys, args))
                    .await
            }
            other => other,
        }
    }
}

fn build(cmd: &mut Cmd, keys: &[&[u8]], args: &[String]) -> Cmd {
    cmd.arg(keys.len());
    for key in keys {
        cmd.arg(*key);
    }
    cmd.arg(args);
    cmd.clone()
}

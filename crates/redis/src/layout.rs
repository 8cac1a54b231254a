//! How a session record is laid out in Redis: one hash per record. Private to
//! this crate: nothing here is the core's serde format.
//!
//! - key: [`RecordKey::store_key`](session_plus_core::RecordKey::store_key)
//!   (`key_prefix + id`, as flask-session-plus lays keys out);
//! - one hash field per session field, holding the value's JSON text, so a
//!   write changes only the fields it names;
//! - the record's meta in the reserved field [`META_FIELD`], whose name starts
//!   with a NUL byte: the core refuses field names with control characters, so
//!   no user field can ever collide with it. Its value is
//!   `2|permanent|created|accessed|expires|moved|binding` (flags `0`/`1`,
//!   times as decimal Unix seconds, the binding last so it may hold any
//!   byte): short, and simple for the Lua scripts to parse and merge field by
//!   field. Records written by earlier versions hold JSON there
//!   (`{"p":..,"c":..,"a":..,"e":..,"b":..}`); they are still read, and the
//!   first write converts them;
//! - the key's Redis expiry set with `PEXPIREAT` to exactly the record's
//!   expiry, so Redis frees the record when the core considers it over.
//!
//! A tombstone (a session moved to a new id at login) is a hash holding only
//! the meta field, with the moved flag set, expiring at the end of its grace
//! period.

use redis::Value;
use serde::Deserialize;
use session_plus_core::store::{Fields, Record, RecordMeta};

/// The hash field holding the record's meta.
pub const META_FIELD: &str = "\u{0}meta";

/// A Unix time in seconds as a `PEXPIREAT` argument (saturating).
pub(crate) fn ms(unix_secs: i64) -> i64 {
    unix_secs.saturating_mul(1000)
}

fn flag(on: bool) -> char {
    if on {
        '1'
    } else {
        '0'
    }
}

/// The meta field's value for `meta`.
pub(crate) fn encode_meta(meta: &RecordMeta) -> String {
    format!(
        "2|{}|{}|{}|{}|{}|{}",
        flag(meta.permanent),
        meta.created,
        meta.accessed,
        meta.expires,
        flag(meta.moved),
        meta.binding
    )
}

/// The JSON meta written by versions before the compact format.
#[derive(Deserialize)]
struct LegacyMeta {
    p: bool,
    c: i64,
    a: i64,
    e: i64,
    #[serde(default)]
    b: String,
    #[serde(default)]
    m: bool,
}

/// Read a meta field's value, in either format. Parsed byte by byte (no
/// UTF-8 pass and no `split` over the whole text: this runs on every load).
pub(crate) fn decode_meta(raw: &[u8]) -> Option<RecordMeta> {
    if raw.first() == Some(&b'{') {
        let m: LegacyMeta = serde_json::from_slice(raw).ok()?;
        return Some(
            RecordMeta::new(m.a, m.e, m.b)
                .with_created(m.c)
                .with_permanent(m.p)
                .with_moved(m.m),
        );
    }
    let rest = raw.strip_prefix(b"2|")?;
    let (permanent, rest) = flag_part(rest)?;
    let (created, rest) = int_part(rest)?;
    let (accessed, rest) = int_part(rest)?;
    let (expires, rest) = int_part(rest)?;
    let (moved, rest) = flag_part(rest)?;
    // The binding is last, so it may hold `|`.
    let binding = std::str::from_utf8(rest).ok()?;
    Some(
        RecordMeta::new(accessed, expires, binding)
            .with_created(created)
            .with_permanent(permanent)
            .with_moved(moved),
    )
}

/// `0|` or `1|` at the start of `raw`, and what follows.
fn flag_part(raw: &[u8]) -> Option<(bool, &[u8])> {
    match raw {
        [b'0', b'|', rest @ ..] => Some((false, rest)),
        [b'1', b'|', rest @ ..] => Some((true, rest)),
        _ => None,
    }
}

/// A decimal `i64` (optional sign, at least one digit, no overflow) ended by
/// `|`, and what follows the `|`.
fn int_part(raw: &[u8]) -> Option<(i64, &[u8])> {
    let end = raw.iter().position(|&b| b == b'|')?;
    let (digits, negative) = match &raw[..end] {
        [b'-', d @ ..] => (d, true),
        [b'+', d @ ..] => (d, false),
        d => (d, false),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for &b in digits {
        let d = i64::from(b.wrapping_sub(b'0'));
        if d > 9 {
            return None;
        }
        // Accumulated on the negative side, so i64::MIN fits.
        n = n.checked_mul(10)?.checked_sub(d)?;
    }
    let n = if negative { n } else { n.checked_neg()? };
    Some((n, &raw[end + 1..]))
}

pub(crate) fn encode_value(value: &serde_json::Value) -> String {
    value.to_string()
}

/// The bytes of a string reply item (bulk, simple or verbatim), borrowed.
fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => Some(s.as_bytes()),
        _ => None,
    }
}

/// A string reply item as an owned `String`, taking its buffer (no copy);
/// `Err` with a reason when it is not a UTF-8 string.
fn into_name(v: Value) -> std::result::Result<String, &'static str> {
    match v {
        Value::BulkString(b) => String::from_utf8(b).map_err(|_| "not UTF-8"),
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => Ok(s),
        _ => Err("not a string"),
    }
}

/// The `(name, value)` pairs of a hash reply: a flat RESP2 array
/// `[name, value, name, value, ...]` or a RESP3 map.
enum Pairs {
    Flat(Vec<Value>),
    Map(Vec<(Value, Value)>),
}

impl Pairs {
    fn len(&self) -> usize {
        match self {
            Self::Flat(items) => items.len() / 2,
            Self::Map(pairs) => pairs.len(),
        }
    }

    /// The meta field's raw value (the first one, should a hostile reply
    /// hold several).
    fn meta(&self) -> Option<&Value> {
        let is_meta = |name: &Value| bytes(name) == Some(META_FIELD.as_bytes());
        match self {
            Self::Flat(items) => items
                .chunks_exact(2)
                .find(|pair| is_meta(&pair[0]))
                .map(|pair| &pair[1]),
            Self::Map(pairs) => pairs
                .iter()
                .find(|(name, _)| is_meta(name))
                .map(|(_, value)| value),
        }
    }

    /// Every pair, by value (the names' buffers are reused as the field
    /// names).
    fn for_each(self, mut f: impl FnMut(Value, Value)) {
        match self {
            Self::Flat(items) => {
                let mut it = items.into_iter();
                while let (Some(name), Some(value)) = (it.next(), it.next()) {
                    f(name, value);
                }
            }
            Self::Map(pairs) => pairs.into_iter().for_each(|(name, value)| f(name, value)),
        }
    }
}

/// Turn an `HGETALL` reply (or a script's flat `HGETALL` result) into a
/// record, in place: the reply's buffers become the field names, values are
/// parsed straight from the reply's bytes, nothing is copied into an
/// intermediate map.
///
/// `None` when there is no record (`nil` or an empty hash), when it has
/// expired by `now` (Unix seconds; Redis may not have reaped it yet, or its
/// clock differs from ours), or when it is not a record we can read (not a
/// hash reply, an odd number of items, no or corrupt meta: treated as absent,
/// logged at warn, never a panic). A single unreadable field (a name that is
/// not a UTF-8 string, a value that is not JSON) is dropped from the result
/// and logged; the rest is kept. Tombstones are returned as they are. The
/// caller turns a server error reply into an error before calling this.
pub(crate) fn decode_reply(reply: Value, now: i64) -> Option<Record> {
    let pairs = match reply {
        Value::Nil => return None,
        Value::Array(items) if items.len() % 2 == 0 => Pairs::Flat(items),
        Value::Map(pairs) => Pairs::Map(pairs),
        Value::Array(_) => {
            tracing::warn!(
                "redis session record reply has an odd number of items; treated as absent"
            );
            return None;
        }
        _ => {
            tracing::warn!("redis session record reply is not a hash; treated as absent");
            return None;
        }
    };
    if pairs.len() == 0 {
        return None;
    }
    let Some(raw_meta) = pairs.meta() else {
        tracing::warn!("redis session record has no meta field; treated as absent");
        return None;
    };
    let Some(meta) = bytes(raw_meta).and_then(decode_meta) else {
        tracing::warn!("redis session record has corrupt meta; treated as absent");
        return None;
    };
    if meta.expires <= now {
        return None;
    }
    let mut fields = Fields::new();
    pairs.for_each(|name, value| {
        if bytes(&name) == Some(META_FIELD.as_bytes()) {
            return;
        }
        let name = match into_name(name) {
            Ok(name) => name,
            Err(why) => {
                tracing::warn!(
                    why,
                    "redis session record has an unreadable field name; field ignored"
                );
                return;
            }
        };
        let Some(raw) = bytes(&value) else {
            tracing::warn!("redis session field is not a string; field ignored");
            return;
        };
        match serde_json::from_slice(raw) {
            Ok(v) => {
                fields.insert(name, v);
            }
            Err(e) => tracing::warn!(error = %e, "redis session field is not JSON; field ignored"),
        }
    });
    Some(Record::new(fields, meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(expires: i64) -> RecordMeta {
        RecordMeta::new(2, expires, "b|with|bars")
            .with_created(1)
            .with_permanent(true)
    }

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    /// A RESP2 `HGETALL` reply.
    fn hash(pairs: &[(&str, &str)]) -> Value {
        Value::Array(pairs.iter().flat_map(|(k, v)| [bulk(k), bulk(v)]).collect())
    }

    #[test]
    fn round_trips_fields_and_meta() {
        let m = encode_meta(&meta(100));
        assert_eq!(m, "2|1|1|2|100|0|b|with|bars");
        let v = encode_value(&json!({"a": [1, "x"]}));
        let record = decode_reply(hash(&[(META_FIELD, &m), ("user", &v), ("n", "7")]), 50).unwrap();
        assert_eq!(record.meta, meta(100));
        assert_eq!(record.fields["user"], json!({"a": [1, "x"]}));
        assert_eq!(record.fields["n"], json!(7));
        assert_eq!(record.fields.len(), 2);
    }

    #[test]
    fn resp3_maps_and_simple_strings_are_read_too() {
        let m = encode_meta(&meta(100));
        let reply = Value::Map(vec![
            (bulk("n"), Value::SimpleString("7".into())),
            (Value::SimpleString(META_FIELD.into()), bulk(&m)),
        ]);
        let record = decode_reply(reply, 50).unwrap();
        assert_eq!(record.meta, meta(100));
        assert_eq!(record.fields["n"], json!(7));
        assert_eq!(record.fields.len(), 1);
    }

    #[test]
    fn tombstones_and_extreme_times_round_trip() {
        let stone = RecordMeta::new(i64::MIN, i64::MAX, "").with_moved(true);
        assert_eq!(
            decode_meta(encode_meta(&stone).as_bytes()),
            Some(stone.clone())
        );
        let record = decode_reply(hash(&[(META_FIELD, &encode_meta(&stone))]), 0).unwrap();
        assert!(record.meta.moved && record.fields.is_empty());
    }

    #[test]
    fn the_json_meta_of_earlier_versions_is_still_read() {
        let old = r#"{"p":true,"c":1,"a":2,"e":100,"b":"b|with|bars"}"#;
        assert_eq!(decode_meta(old.as_bytes()), Some(meta(100)));
        let record = decode_reply(hash(&[(META_FIELD, old), ("user", "1")]), 50).unwrap();
        assert_eq!(record.fields["user"], json!(1));
    }

    #[test]
    fn meta_numbers_parse_like_the_standard_library() {
        for n in [
            "0",
            "-0",
            "+7",
            "42",
            "-42",
            "9223372036854775807",
            "-9223372036854775808",
        ] {
            let raw = format!("2|0|{n}|1|100|0|b");
            let got = decode_meta(raw.as_bytes()).map(|m| m.created);
            assert_eq!(got, Some(n.parse::<i64>().unwrap()), "{n}");
        }
        for n in [
            "",
            "-",
            "+",
            "1e3",
            "1.0",
            " 1",
            "0x1",
            "9223372036854775808",
            "--1",
            "1-",
        ] {
            let raw = format!("2|0|{n}|1|100|0|b");
            assert!(decode_meta(raw.as_bytes()).is_none(), "{n:?}");
            assert!(n.parse::<i64>().is_err(), "{n:?}");
        }
    }

    #[test]
    fn absent_expired_and_foreign_records_read_as_none() {
        let m = encode_meta(&meta(100));
        assert!(decode_reply(Value::Nil, 0).is_none());
        assert!(decode_reply(Value::Array(vec![]), 0).is_none());
        assert!(decode_reply(Value::Map(vec![]), 0).is_none());
        assert!(decode_reply(hash(&[(META_FIELD, &m)]), 100).is_none());
        assert!(decode_reply(hash(&[("user", "1")]), 0).is_none());
        assert!(decode_reply(hash(&[(META_FIELD, "{not json"), ("user", "1")]), 0).is_none());
        for bad in [
            "",
            "2",
            "2|",
            "3|1|1|2|100|0|b",
            "2|x|1|2|100|0|b",
            "2|1|1|2|1e3|0|b",
            "2|1|1|2|100|0",
            "2|1|1|2|100|2|b",
        ] {
            assert!(decode_meta(bad.as_bytes()).is_none(), "{bad:?}");
        }
        // A binding that is not UTF-8.
        assert!(decode_meta(b"2|1|1|2|100|0|\xff").is_none());
    }

    #[test]
    fn hostile_replies_are_absent_or_lose_one_field_never_panic() {
        let m = encode_meta(&meta(100));
        // Not a hash at all.
        for reply in [
            Value::Int(3),
            Value::Okay,
            bulk(&m),
            Value::SimpleString("OK".into()),
            Value::Boolean(true),
            Value::Double(1.5),
            Value::Set(vec![bulk(META_FIELD), bulk(&m)]),
        ] {
            assert!(decode_reply(reply.clone(), 0).is_none(), "{reply:?}");
        }
        // An odd number of items: not a flat list of pairs.
        let mut odd = hash(&[(META_FIELD, &m), ("n", "1")]);
        if let Value::Array(items) = &mut odd {
            items.push(bulk("dangling"));
        }
        assert!(decode_reply(odd, 0).is_none());
        // The meta is not a string, or missing.
        let wrong_meta = Value::Array(vec![bulk(META_FIELD), Value::Int(2), bulk("n"), bulk("1")]);
        assert!(decode_reply(wrong_meta, 0).is_none());
        let nested = Value::Array(vec![bulk(META_FIELD), Value::Array(vec![bulk(&m)])]);
        assert!(decode_reply(nested, 0).is_none());
        // Names that are not UTF-8 or not strings, values that are not
        // strings: that field goes, the rest stays.
        let reply = Value::Array(vec![
            Value::BulkString(vec![0xff, b'x']),
            bulk("1"),
            Value::Int(5),
            bulk("2"),
            Value::Nil,
            bulk("3"),
            bulk("nested"),
            Value::Array(vec![bulk("4")]),
            bulk("int"),
            Value::Int(5),
            bulk(META_FIELD),
            bulk(&m),
            bulk("ok"),
            bulk("true"),
        ]);
        let record = decode_reply(reply, 0).unwrap();
        assert_eq!(record.meta, meta(100));
        assert_eq!(record.fields.len(), 1, "{:?}", record.fields);
        assert_eq!(record.fields["ok"], json!(true));
    }

    #[test]
    fn corrupt_field_is_dropped_not_fatal() {
        let m = encode_meta(&meta(100));
        let record =
            decode_reply(hash(&[(META_FIELD, &m), ("bad", "{"), ("ok", "true")]), 0).unwrap();
        assert_eq!(record.fields.len(), 1);
        assert_eq!(record.fields["ok"], json!(true));
    }

    #[test]
    fn meta_field_cannot_be_a_user_field_name() {
        assert!(session_plus_core::config::check_field_name(META_FIELD).is_err());
    }

    #[test]
    fn expiry_is_absolute_milliseconds() {
        assert_eq!(ms(1_700_000_000), 1_700_000_000_000);
        assert_eq!(ms(i64::MAX), i64::MAX);
    }
}

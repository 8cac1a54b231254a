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

use std::collections::HashMap;

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

/// Read a meta field's value, in either format.
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
    let text = std::str::from_utf8(raw).ok()?;
    let mut parts = text.splitn(7, '|');
    if parts.next()? != "2" {
        return None;
    }
    let flag = |s: &str| match s {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    };
    let permanent = flag(parts.next()?)?;
    let created = parts.next()?.parse().ok()?;
    let accessed = parts.next()?.parse().ok()?;
    let expires = parts.next()?.parse().ok()?;
    let moved = flag(parts.next()?)?;
    let binding = parts.next()?;
    Some(
        RecordMeta::new(accessed, expires, binding)
            .with_created(created)
            .with_permanent(permanent)
            .with_moved(moved),
    )
}

pub(crate) fn encode_value(value: &serde_json::Value) -> String {
    value.to_string()
}

/// Turn an `HGETALL` reply into a record. `None` when there is no record, when
/// it has expired by `now` (Unix seconds; Redis may not have reaped it yet, or
/// its clock differs from ours), or when it is not a record we can read (no or
/// corrupt meta: treated as absent, logged at warn, never a panic). A single
/// corrupt field is dropped from the result and logged; the rest is kept.
/// Tombstones are returned as they are.
pub(crate) fn decode(hash: HashMap<Vec<u8>, Vec<u8>>, now: i64) -> Option<Record> {
    if hash.is_empty() {
        return None;
    }
    let Some(raw_meta) = hash.get(META_FIELD.as_bytes()) else {
        tracing::warn!("redis session record has no meta field; treated as absent");
        return None;
    };
    let Some(meta) = decode_meta(raw_meta) else {
        tracing::warn!("redis session record has corrupt meta; treated as absent");
        return None;
    };
    if meta.expires <= now {
        return None;
    }
    let mut fields = Fields::new();
    for (name, value) in hash {
        if name == META_FIELD.as_bytes() {
            continue;
        }
        let Ok(name) = String::from_utf8(name) else {
            tracing::warn!("redis session record has a non-UTF-8 field name; field ignored");
            continue;
        };
        match serde_json::from_slice(&value) {
            Ok(v) => {
                fields.insert(name, v);
            }
            Err(e) => tracing::warn!(error = %e, "redis session field is not JSON; field ignored"),
        }
    }
    Some(Record::new(fields, meta))
}

/// A flat `[name, value, name, value, ...]` reply (as scripts return
/// `HGETALL`) as a map.
pub(crate) fn pairs(flat: Vec<Vec<u8>>) -> HashMap<Vec<u8>, Vec<u8>> {
    let mut map = HashMap::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        map.insert(k, v);
    }
    map
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

    fn hash(pairs: &[(&str, &str)]) -> HashMap<Vec<u8>, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn round_trips_fields_and_meta() {
        let m = encode_meta(&meta(100));
        assert_eq!(m, "2|1|1|2|100|0|b|with|bars");
        let v = encode_value(&json!({"a": [1, "x"]}));
        let record = decode(hash(&[(META_FIELD, &m), ("user", &v), ("n", "7")]), 50).unwrap();
        assert_eq!(record.meta, meta(100));
        assert_eq!(record.fields["user"], json!({"a": [1, "x"]}));
        assert_eq!(record.fields["n"], json!(7));
        assert_eq!(record.fields.len(), 2);
    }

    #[test]
    fn tombstones_and_extreme_times_round_trip() {
        let stone = RecordMeta::new(i64::MIN, i64::MAX, "").with_moved(true);
        assert_eq!(decode_meta(encode_meta(&stone).as_bytes()), Some(stone));
    }

    #[test]
    fn the_json_meta_of_earlier_versions_is_still_read() {
        let old = r#"{"p":true,"c":1,"a":2,"e":100,"b":"b|with|bars"}"#;
        assert_eq!(decode_meta(old.as_bytes()), Some(meta(100)));
        let record = decode(hash(&[(META_FIELD, old), ("user", "1")]), 50).unwrap();
        assert_eq!(record.fields["user"], json!(1));
    }

    #[test]
    fn absent_expired_and_foreign_records_read_as_none() {
        let m = encode_meta(&meta(100));
        assert!(decode(HashMap::new(), 0).is_none());
        assert!(decode(hash(&[(META_FIELD, &m)]), 100).is_none());
        assert!(decode(hash(&[("user", "1")]), 0).is_none());
        assert!(decode(hash(&[(META_FIELD, "{not json"), ("user", "1")]), 0).is_none());
        for bad in [
            "",
            "2",
            "3|1|1|2|100|0|b",
            "2|x|1|2|100|0|b",
            "2|1|1|2|1e3|0|b",
            "2|1|1|2|100|0",
        ] {
            assert!(decode_meta(bad.as_bytes()).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn corrupt_field_is_dropped_not_fatal() {
        let m = encode_meta(&meta(100));
        let record = decode(hash(&[(META_FIELD, &m), ("bad", "{"), ("ok", "true")]), 0).unwrap();
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

//! How a session record is laid out in Redis: one hash per record.
//!
//! - key: [`RecordKey::store_key`](session_plus_core::RecordKey::store_key)
//!   (`key_prefix + id`, as flask-session-plus lays keys out);
//! - one hash field per session field, holding the value's JSON text, so a
//!   write changes only the fields it names;
//! - the [`RecordMeta`] as JSON in the reserved field [`META_FIELD`], whose
//!   name starts with a NUL byte: the core refuses field names with control
//!   characters, so no user field can ever collide with it;
//! - the key's Redis expiry set with `PEXPIREAT` to exactly
//!   [`RecordMeta::expires`], so Redis frees the record when the core
//!   considers it over.

use std::collections::HashMap;

use session_plus_core::store::{Fields, Record, RecordMeta};

/// The hash field holding the record's meta (JSON of [`RecordMeta`]).
pub const META_FIELD: &str = "\u{0}meta";

/// `RecordMeta::expires` (Unix seconds) as a `PEXPIREAT` argument.
pub(crate) fn expire_at_ms(meta: &RecordMeta) -> i64 {
    meta.expires.saturating_mul(1000)
}

pub(crate) fn encode_meta(meta: &RecordMeta) -> String {
    // RecordMeta is plain data: serializing it cannot fail.
    serde_json::to_string(meta).unwrap_or_default()
}

pub(crate) fn encode_value(value: &serde_json::Value) -> String {
    value.to_string()
}

/// Turn an `HGETALL` reply into a record. `None` when there is no record, when
/// it has expired by `now` (Unix seconds; Redis may not have reaped it yet, or
/// its clock differs from ours), or when it is not a record we can read (no or
/// corrupt meta: treated as absent, logged at warn, never a panic). A single
/// corrupt field is dropped from the result and logged; the rest is kept.
pub(crate) fn decode(hash: HashMap<Vec<u8>, Vec<u8>>, now: i64) -> Option<Record> {
    if hash.is_empty() {
        return None;
    }
    let Some(raw_meta) = hash.get(META_FIELD.as_bytes()) else {
        tracing::warn!("redis session record has no meta field; treated as absent");
        return None;
    };
    let meta: RecordMeta = match serde_json::from_slice(raw_meta) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "redis session record has corrupt meta; treated as absent");
            return None;
        }
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
    Some(Record { fields, meta })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(expires: i64) -> RecordMeta {
        RecordMeta {
            permanent: true,
            created: 1,
            accessed: 2,
            expires,
            binding: "b".into(),
        }
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
        let v = encode_value(&json!({"a": [1, "x"]}));
        let record = decode(hash(&[(META_FIELD, &m), ("user", &v), ("n", "7")]), 50).unwrap();
        assert_eq!(record.meta, meta(100));
        assert_eq!(record.fields["user"], json!({"a": [1, "x"]}));
        assert_eq!(record.fields["n"], json!(7));
        assert_eq!(record.fields.len(), 2);
    }

    #[test]
    fn absent_expired_and_foreign_records_read_as_none() {
        let m = encode_meta(&meta(100));
        assert!(decode(HashMap::new(), 0).is_none());
        assert!(decode(hash(&[(META_FIELD, &m)]), 100).is_none());
        assert!(decode(hash(&[("user", "1")]), 0).is_none());
        assert!(decode(hash(&[(META_FIELD, "{not json"), ("user", "1")]), 0).is_none());
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
        assert_eq!(expire_at_ms(&meta(1_700_000_000)), 1_700_000_000_000);
    }
}

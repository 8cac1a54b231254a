//! Small builders for keys, meta and records, shared by the checks and handy in
//! backend-specific tests.
//!
//! ```
//! use session_plus_conformance::fixtures;
//! use serde_json::json;
//!
//! let key = fixtures::key("app:");
//! assert_eq!(key.prefix(), "app:");
//! let record = fixtures::record([("user", json!(7))], fixtures::live_meta());
//! assert_eq!(record.fields["user"], json!(7));
//! assert!(record.meta.expires > session_plus_core::unix_now());
//! ```

use session_plus_core::store::{Changes, Fields, Record, RecordMeta};
use session_plus_core::{unix_now, RecordKey, SessionId};

/// The key prefix the checks use unless they test prefixes themselves.
pub const PREFIX: &str = "conformance:";

/// A key with a fresh random id under `prefix` (so parallel tests and shared
/// servers never collide).
pub fn key(prefix: &str) -> RecordKey {
    RecordKey::new(prefix, SessionId::generate())
}

/// Meta of a non-permanent record that is live for the next hour.
pub fn live_meta() -> RecordMeta {
    meta_expiring_at(unix_now() + 3600)
}

/// Meta of a record that expires at `expires` (Unix seconds).
pub fn meta_expiring_at(expires: i64) -> RecordMeta {
    let now = unix_now();
    RecordMeta {
        permanent: false,
        created: now,
        accessed: now,
        expires,
        binding: "conformance-binding".to_owned(),
    }
}

/// A record from `(name, value)` pairs.
pub fn record<K: Into<String>>(
    fields: impl IntoIterator<Item = (K, serde_json::Value)>,
    meta: RecordMeta,
) -> Record {
    Record {
        fields: fields.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        meta,
    }
}

/// A delta setting `set`, removing `remove`, with new `meta`.
pub fn changes<K: Into<String>>(
    set: impl IntoIterator<Item = (K, serde_json::Value)>,
    remove: &[&str],
    meta: RecordMeta,
) -> Changes {
    Changes {
        set: set
            .into_iter()
            .map(|(k, v)| (k.into(), v))
            .collect::<Fields>(),
        remove: remove.iter().map(|s| (*s).to_owned()).collect(),
        meta,
    }
}

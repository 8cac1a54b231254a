//! Small builders for keys, meta, records and deltas, shared by the checks and
//! handy in backend-specific tests.
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
//! let delta = fixtures::changes([("user", json!(8))], &["old"], fixtures::refresh());
//! assert_eq!(delta.remove, ["old"]);
//! ```

use session_plus_core::store::{Changes, MetaUpdate, Record, RecordMeta};
use session_plus_core::{unix_now, RecordKey, SessionId};

/// The key prefix the checks use unless they test prefixes themselves.
pub const PREFIX: &str = "conformance:";

/// The binding value of records made by [`live_meta`] and [`meta_expiring_at`].
pub const BINDING: &str = "conformance-binding";

/// A key with a fresh random id under `prefix` (so parallel tests and shared
/// servers never collide).
pub fn key(prefix: &str) -> RecordKey {
    RecordKey::new(prefix, SessionId::generate())
}

/// Meta of a non-permanent record that is live for the next hour.
pub fn live_meta() -> RecordMeta {
    meta_expiring_at(unix_now() + 3600)
}

/// Meta of a non-permanent record created now that expires at `expires`
/// (Unix seconds), bound to [`BINDING`].
pub fn meta_expiring_at(expires: i64) -> RecordMeta {
    RecordMeta::new(unix_now(), expires, BINDING)
}

/// A refresh at now that keeps the record for the next hour (permanence left
/// as stored).
pub fn refresh() -> MetaUpdate {
    refresh_to(unix_now() + 3600)
}

/// A refresh at now to `expires` (permanence left as stored).
pub fn refresh_to(expires: i64) -> MetaUpdate {
    MetaUpdate::refresh(unix_now(), expires)
}

/// A record from `(name, value)` pairs.
pub fn record<K: Into<String>>(
    fields: impl IntoIterator<Item = (K, serde_json::Value)>,
    meta: RecordMeta,
) -> Record {
    Record::new(
        fields.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        meta,
    )
}

/// A delta setting `set` and removing `remove`, with the meta update `meta`.
pub fn changes<K: Into<String>>(
    set: impl IntoIterator<Item = (K, serde_json::Value)>,
    remove: &[&str],
    meta: MetaUpdate,
) -> Changes {
    let mut delta = Changes::new(meta);
    for (k, v) in set {
        delta = delta.set(k, v);
    }
    for r in remove {
        delta = delta.remove(*r);
    }
    delta
}

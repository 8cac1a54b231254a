//! One memcached item per session: its fields and meta as JSON.

use serde::{Deserialize, Serialize};
use session_plus_core::store::{Fields, Record, RecordMeta};

/// The client flags that mark an item as a session-plus record, format 1
/// (`"SP"` and a format number). Items with other flags are not ours: they
/// read as absent and are never overwritten.
///
/// ```
/// assert_eq!(session_plus_memcache::ITEM_FLAGS.to_be_bytes()[..2], *b"SP");
/// ```
pub const ITEM_FLAGS: u32 = 0x5350_0001;

/// memcached reads an exptime above this many seconds as an absolute Unix
/// time.
const MAX_RELATIVE_EXPTIME: i64 = 30 * 24 * 60 * 60;

#[derive(Serialize)]
struct StoredRef<'a> {
    m: &'a RecordMeta,
    f: &'a Fields,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    m: RecordMeta,
    f: Fields,
}

/// The item value of a record: `{"m": meta, "f": fields}`.
pub(crate) fn encode(record: &Record) -> Vec<u8> {
    serde_json::to_vec(&StoredRef {
        m: &record.meta,
        f: &record.fields,
    })
    // Maps with string keys and JSON values always serialize.
    .unwrap_or_default()
}

/// The record in an item, or `None` when the item is not one of ours or is
/// corrupt.
pub(crate) fn decode(flags: Option<u32>, value: &[u8]) -> Option<Record> {
    if flags != Some(ITEM_FLAGS) {
        return None;
    }
    let stored: Stored = serde_json::from_slice(value).ok()?;
    Some(Record::new(stored.f, stored.m))
}

/// The exptime to send for a record expiring at `expires` (Unix seconds)
/// when the application's clock reads `now`: the remaining seconds when
/// they are at most 30 days (so the two clocks need not agree), else the
/// absolute time, which is how memcached reads any value above 30 days. A
/// record already expired gets an absolute time in the past, which memcached
/// treats as expired at once.
pub(crate) fn exptime(expires: i64, now: i64) -> u32 {
    let remaining = expires.saturating_sub(now);
    let wire = if remaining <= 0 {
        MAX_RELATIVE_EXPTIME + 1
    } else if remaining <= MAX_RELATIVE_EXPTIME {
        remaining
    } else {
        expires
    };
    u32::try_from(wire).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_and_rejects_foreign_items() {
        let record = Record::new(
            [("a".to_owned(), json!({"x": [1, 2]}))].into(),
            RecordMeta::new(1, 2, "b")
                .with_permanent(true)
                .with_moved(true),
        );
        let bytes = encode(&record);
        assert_eq!(decode(Some(ITEM_FLAGS), &bytes), Some(record));
        assert_eq!(decode(Some(0), &bytes), None, "foreign flags");
        assert_eq!(decode(None, &bytes), None);
        assert_eq!(decode(Some(ITEM_FLAGS), b"{\"m\":1}"), None, "corrupt");
        assert_eq!(decode(Some(ITEM_FLAGS), b"\xff"), None);
    }

    #[test]
    fn exptime_is_relative_up_to_30_days_then_absolute() {
        let now = 1_800_000_000;
        assert_eq!(exptime(now + 60, now), 60);
        assert_eq!(exptime(now + 86_400, now), 86_400);
        assert_eq!(exptime(now + 30 * 86_400, now), 30 * 86_400);
        assert_eq!(exptime(now + 31 * 86_400, now), (now + 31 * 86_400) as u32);
        // Expired: an absolute time long past.
        assert_eq!(exptime(now, now), 30 * 86_400 + 1);
        assert_eq!(exptime(now - 5, now), 30 * 86_400 + 1);
        assert_eq!(exptime(i64::MAX, now), u32::MAX);
    }
}

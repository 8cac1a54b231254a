//! How a record is laid out in its MongoDB document, and back.
//!
//! ```text
//! { _id: "<key prefix><session id>",
//!   fields: { "<encoded name>": <value>, ... },
//!   permanent: <bool>, created: <date>, accessed: <date>, expires: <date>,
//!   binding: "<string>", moved: <bool> }
//! ```

use mongodb::bson::{doc, Bson, DateTime, Document};
use serde_json::{Number, Value};
use session_plus_core::store::{Fields, Record, RecordMeta};

/// The sub-document holding the session's fields.
pub(crate) const FIELDS: &str = "fields";
pub(crate) const PERMANENT: &str = "permanent";
pub(crate) const CREATED: &str = "created";
pub(crate) const ACCESSED: &str = "accessed";
/// The expiry, a BSON date: the TTL index is on this field.
pub(crate) const EXPIRES: &str = "expires";
pub(crate) const BINDING: &str = "binding";
pub(crate) const MOVED: &str = "moved";
/// The one key of the document an array, an object or an integer beyond the
/// BSON range is kept in, as JSON text.
pub(crate) const JSON: &str = "json";

/// A field name as a key of the `fields` sub-document.
///
/// MongoDB reads `.` in an update path as a step into a sub-document and
/// reserves a leading `$` for operators, and BSON keys cannot hold NUL, so
/// those bytes (and `%`, the escape itself) are percent-encoded; every other
/// character stays as it is. The empty name (which the core refuses anyway)
/// becomes a lone `%`, which no other name can encode to.
pub(crate) fn encode_name(name: &str) -> String {
    if name.is_empty() {
        return "%".to_owned();
    }
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            '.' => out.push_str("%2E"),
            '$' => out.push_str("%24"),
            '\0' => out.push_str("%00"),
            c => out.push(c),
        }
    }
    out
}

/// The inverse of [`encode_name`]; `None` for a key it cannot have produced.
pub(crate) fn decode_name(key: &str) -> Option<String> {
    if key == "%" {
        return Some(String::new());
    }
    if !key.contains('%') {
        return Some(key.to_owned());
    }
    let mut out = String::with_capacity(key.len());
    let mut rest = key;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let c = match rest.get(at + 1..at + 3)? {
            "25" => '%',
            "2E" => '.',
            "24" => '$',
            "00" => '\0',
            _ => return None,
        };
        out.push(c);
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// `fields.<encoded name>`: the update path of one field.
pub(crate) fn field_path(name: &str) -> String {
    format!("{FIELDS}.{}", encode_name(name))
}

/// A JSON value as BSON. Scalars are stored natively (integers as Int64,
/// other numbers as doubles), so they can be read and queried in the
/// database; arrays, objects and integers above `i64::MAX` are kept as their
/// JSON text in `{json: "..."}`, because BSON cannot hold every JSON value
/// (object keys with `.` or a leading `$`, nesting beyond 100 levels,
/// unsigned 64-bit integers).
pub(crate) fn to_bson(value: &Value) -> Bson {
    match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::String(s) => Bson::String(s.clone()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Bson::Int64(i)
            } else if n.is_f64() {
                Bson::Double(n.as_f64().unwrap_or_default())
            } else {
                json_text(value)
            }
        }
        Value::Array(_) | Value::Object(_) => json_text(value),
    }
}

fn json_text(value: &Value) -> Bson {
    Bson::Document(doc! { JSON: value.to_string() })
}

/// The inverse of [`to_bson`], also accepting Int32 (written by other
/// tools); `None` for anything else.
pub(crate) fn from_bson(bson: &Bson) -> Option<Value> {
    Some(match bson {
        Bson::Null => Value::Null,
        Bson::Boolean(b) => Value::Bool(*b),
        Bson::String(s) => Value::String(s.clone()),
        Bson::Int64(i) => Value::Number((*i).into()),
        Bson::Int32(i) => Value::Number((*i).into()),
        Bson::Double(f) => Value::Number(Number::from_f64(*f)?),
        Bson::Document(d) if d.len() == 1 => {
            let text = d.get_str(JSON).ok()?;
            serde_json::from_str(text).ok()?
        }
        _ => return None,
    })
}

/// Unix seconds as a BSON date (milliseconds).
pub(crate) fn date(secs: i64) -> DateTime {
    DateTime::from_millis(secs.saturating_mul(1000))
}

fn secs(date: DateTime) -> i64 {
    date.timestamp_millis().div_euclid(1000)
}

/// The whole document of a new record under `id`.
pub(crate) fn record_document(id: &str, record: &Record) -> Document {
    let fields: Document = record
        .fields
        .iter()
        .map(|(k, v)| (encode_name(k), to_bson(v)))
        .collect();
    let m = &record.meta;
    doc! {
        "_id": id,
        FIELDS: fields,
        PERMANENT: m.permanent,
        CREATED: date(m.created),
        ACCESSED: date(m.accessed),
        EXPIRES: date(m.expires),
        BINDING: m.binding.as_str(),
        MOVED: m.moved,
    }
}

/// A stored document as a record. `None` (logged at warn) when the meta is
/// missing or malformed: the record is treated as absent. A single field
/// whose name or value cannot be read is dropped (logged); the rest is kept.
/// A tombstone (`moved`) never has fields, whatever the document still holds.
pub(crate) fn decode(doc: &Document) -> Option<Record> {
    let mut record = decode_snapshot(doc)?;
    if record.meta.moved {
        record.fields.clear();
    }
    Some(record)
}

/// [`decode`] keeping the fields of a document just marked `moved` (the
/// snapshot a login carries over).
pub(crate) fn decode_snapshot(doc: &Document) -> Option<Record> {
    let meta = match decode_meta(doc) {
        Some(meta) => meta,
        None => {
            tracing::warn!("mongodb session document has malformed meta; treated as absent");
            return None;
        }
    };
    let mut fields = Fields::new();
    if let Ok(stored) = doc.get_document(FIELDS) {
        for (key, value) in stored {
            match (decode_name(key), from_bson(value)) {
                (Some(name), Some(value)) => {
                    fields.insert(name, value);
                }
                _ => tracing::warn!(
                    "mongodb session document has a field that is not in this backend's format; field ignored"
                ),
            }
        }
    } else {
        tracing::warn!("mongodb session document has no fields sub-document; treated as absent");
        return None;
    }
    Some(Record::new(fields, meta))
}

fn decode_meta(doc: &Document) -> Option<RecordMeta> {
    let created = secs(*doc.get_datetime(CREATED).ok()?);
    let accessed = secs(*doc.get_datetime(ACCESSED).ok()?);
    let expires = secs(*doc.get_datetime(EXPIRES).ok()?);
    let permanent = doc.get_bool(PERMANENT).ok()?;
    let binding = doc.get_str(BINDING).ok()?;
    let moved = match doc.get(MOVED) {
        None => false,
        Some(b) => b.as_bool()?,
    };
    Some(
        RecordMeta::new(accessed, expires, binding)
            .with_created(created)
            .with_permanent(permanent)
            .with_moved(moved),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_round_trip_and_never_make_paths() {
        for name in [
            "plain",
            "a.b.c",
            "$set",
            "a$b",
            "%",
            "%25",
            "%2E",
            "100%.$",
            "",
            "nul\0byte",
            "ünï.cödé 🙂",
            "fields",
            "_id",
        ] {
            let key = encode_name(name);
            assert!(!key.is_empty() && !key.contains('.') && !key.starts_with('$'));
            assert!(!key.contains('\0'));
            assert_eq!(
                decode_name(&key).as_deref(),
                Some(name),
                "{name:?} -> {key:?}"
            );
        }
        assert_ne!(encode_name(""), encode_name("%"));
        assert_eq!(encode_name("user_id"), "user_id");
        assert_eq!(field_path("a.b"), "fields.a%2Eb");
    }

    #[test]
    fn foreign_keys_are_refused_not_misread() {
        for key in ["%zz", "a%2", "%2e", "x%"] {
            assert_eq!(decode_name(key), None, "{key:?}");
        }
    }

    #[test]
    fn values_round_trip() {
        for v in [
            json!(null),
            json!(true),
            json!(0),
            json!(i64::MIN),
            json!(i64::MAX),
            json!(u64::MAX),
            json!(-0.0),
            json!(1.0),
            json!(0.1),
            json!(""),
            json!("{\"json\": \"x\"}"),
            json!({"json": "[1]"}),
            json!({"a.b": {"$set": [1, {"": null}]}}),
            json!([]),
            json!({}),
        ] {
            let b = to_bson(&v);
            assert_eq!(from_bson(&b).as_ref(), Some(&v), "{v} via {b:?}");
        }
        assert_eq!(to_bson(&json!(7)), Bson::Int64(7));
        assert_eq!(to_bson(&json!("s")), Bson::String("s".into()));
        assert_eq!(from_bson(&Bson::Int32(3)), Some(json!(3)));
        assert_eq!(from_bson(&Bson::Double(f64::NAN)), None);
        assert_eq!(from_bson(&Bson::Document(doc! {"other": 1})), None);
    }

    #[test]
    fn records_round_trip() {
        let meta = RecordMeta::new(1_700_000_000, 1_700_086_400, "bind")
            .with_created(1_699_000_000)
            .with_permanent(true);
        let record = Record::new(
            [("a.b".to_owned(), json!(1)), ("$x".to_owned(), json!([1]))].into(),
            meta,
        );
        let doc = record_document("session123", &record);
        assert_eq!(doc.get_str("_id").unwrap(), "session123");
        assert_eq!(decode(&doc), Some(record.clone()));
        let stone = record.tombstone(1_700_000_100);
        assert_eq!(decode(&record_document("k", &stone)), Some(stone.clone()));
        // A document marked moved but not yet trimmed reads as the tombstone.
        let mut marked = doc.clone();
        marked.insert(MOVED, true);
        marked.insert(EXPIRES, date(1_700_000_100));
        assert_eq!(decode(&marked), Some(stone));
        assert_eq!(decode_snapshot(&marked).unwrap().fields, record.fields);
    }

    #[test]
    fn malformed_meta_reads_as_absent() {
        let mut doc = record_document("k", &Record::new(Fields::new(), RecordMeta::new(1, 2, "b")));
        doc.insert(EXPIRES, 5_i64);
        assert_eq!(decode(&doc), None);
    }
}

//! Firestore values, field paths and timestamps.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Number, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Latest instant a Firestore timestamp can hold (9999-12-31T23:59:59Z).
const MAX_TIMESTAMP: i64 = 253_402_300_799;

/// A field path segment as Firestore wants it in masks and queries: plain
/// identifiers as they are, anything else in backticks with `` ` `` and `\`
/// escaped.
///
/// ```
/// use session_plus_firestore::quote_field;
/// assert_eq!(quote_field("user_id"), "user_id");
/// assert_eq!(quote_field("a.b"), "`a.b`");
/// assert_eq!(quote_field("tick`back\\slash"), "`tick\\`back\\\\slash`");
/// ```
pub fn quote_field(name: &str) -> String {
    let mut chars = name.chars();
    let simple = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if simple {
        return name.to_owned();
    }
    let mut out = String::with_capacity(name.len() + 2);
    out.push('`');
    for c in name.chars() {
        if c == '`' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('`');
    out
}

/// Names Firestore keeps for itself (`__.*__`).
pub(crate) fn is_reserved_name(name: &str) -> bool {
    name.len() >= 4 && name.starts_with("__") && name.ends_with("__")
}

/// `{"timestampValue": ...}` for Unix seconds (clamped to Firestore's range).
pub(crate) fn timestamp(secs: i64) -> Value {
    let secs = secs.clamp(0, MAX_TIMESTAMP);
    let text = OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned());
    json!({ "timestampValue": text })
}

/// Unix seconds (rounded down) of a `timestampValue` text.
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// Why a value has no native Firestore form (or a Firestore value no JSON form).
pub(crate) type ValueError = &'static str;

/// A JSON value as a native Firestore value (the flask-session-plus layout).
///
/// Bytes and datetimes use Flask's TaggedJSON convention (`{" b": base64}`,
/// `{" d": HTTP date}`) so they reach Python as `bytes` and `datetime`.
pub(crate) fn to_native(v: &Value, depth: usize) -> Result<Value, ValueError> {
    if depth > 20 {
        return Err("nested deeper than Firestore's 20 levels");
    }
    Ok(match v {
        Value::Null => json!({ "nullValue": null }),
        Value::Bool(b) => json!({ "booleanValue": b }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!({ "integerValue": i.to_string() })
            } else if n.is_u64() {
                return Err("integers beyond 64-bit signed do not fit Firestore");
            } else {
                json!({ "doubleValue": n.as_f64().unwrap_or_default() })
            }
        }
        Value::String(s) => json!({ "stringValue": s }),
        Value::Array(items) => {
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                if item.is_array() {
                    return Err("Firestore arrays cannot hold arrays");
                }
                values.push(to_native(item, depth + 1)?);
            }
            json!({ "arrayValue": { "values": values } })
        }
        Value::Object(map) => {
            if map.len() == 1 {
                if let Some(Value::String(b64)) = map.get(" b") {
                    STANDARD
                        .decode(b64)
                        .map_err(|_| "bad base64 under \" b\"")?;
                    return Ok(json!({ "bytesValue": b64 }));
                }
                if let Some(Value::String(date)) = map.get(" d") {
                    let secs = parse_http_date(date).ok_or("bad HTTP date under \" d\"")?;
                    return Ok(timestamp(secs));
                }
            }
            let mut fields = Map::new();
            for (k, item) in map {
                if k.is_empty() || is_reserved_name(k) {
                    return Err("map keys must be non-empty and not of the form __name__");
                }
                fields.insert(k.clone(), to_native(item, depth + 1)?);
            }
            json!({ "mapValue": { "fields": fields } })
        }
    })
}

/// A native Firestore value as JSON (inverse of [`to_native`]).
pub(crate) fn from_native(v: &Value) -> Result<Value, ValueError> {
    let Some((kind, inner)) = v.as_object().and_then(|m| m.iter().next()) else {
        return Err("not a Firestore value");
    };
    Ok(match kind.as_str() {
        "nullValue" => Value::Null,
        "booleanValue" => Value::Bool(inner.as_bool().ok_or("bad booleanValue")?),
        "integerValue" => {
            let i: i64 = match inner {
                Value::String(s) => s.parse().map_err(|_| "bad integerValue")?,
                other => other.as_i64().ok_or("bad integerValue")?,
            };
            Value::from(i)
        }
        "doubleValue" => {
            let f = inner.as_f64().ok_or("NaN or an infinity (no JSON form)")?;
            Value::Number(Number::from_f64(f).ok_or("NaN or an infinity (no JSON form)")?)
        }
        "stringValue" => Value::String(inner.as_str().ok_or("bad stringValue")?.to_owned()),
        "bytesValue" => json!({ " b": inner.as_str().ok_or("bad bytesValue")? }),
        "timestampValue" => {
            let secs = parse_timestamp(inner.as_str().ok_or("bad timestampValue")?)
                .ok_or("bad timestampValue")?;
            json!({ " d": format_http_date(secs) })
        }
        "arrayValue" => {
            let items = inner["values"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            Value::Array(items.iter().map(from_native).collect::<Result<_, _>>()?)
        }
        "mapValue" => {
            let mut out = Map::new();
            if let Some(fields) = inner["fields"].as_object() {
                for (k, item) in fields {
                    out.insert(k.clone(), from_native(item)?);
                }
            }
            Value::Object(out)
        }
        _ => return Err("a Firestore type with no JSON form (reference, geo point)"),
    })
}

const HTTP_DATE: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// Unix seconds as `Tue, 02 Jan 2024 03:04:05 GMT` (Flask's TaggedJSON datetime).
fn format_http_date(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs.clamp(0, MAX_TIMESTAMP))
        .ok()
        .and_then(|t| t.format(HTTP_DATE).ok())
        .unwrap_or_default()
}

/// `Tue, 02 Jan 2024 03:04:05 GMT` as Unix seconds.
fn parse_http_date(text: &str) -> Option<i64> {
    time::PrimitiveDateTime::parse(text, HTTP_DATE)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_and_clamp() {
        let t = timestamp(1_700_000_000);
        assert_eq!(t["timestampValue"], "2023-11-14T22:13:20Z");
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20.999999Z"),
            Some(1_700_000_000)
        );
        assert_eq!(
            timestamp(i64::MAX)["timestampValue"],
            "9999-12-31T23:59:59Z"
        );
    }

    #[test]
    fn native_values_round_trip() {
        let v = json!({"a": [1, "x", null, true, 2.5, {"m": {" b": "AAE="}}], "d": {" d": "Tue, 02 Jan 2024 03:04:05 GMT"}, "n": -7});
        let native = to_native(&v, 0).unwrap();
        assert_eq!(from_native(&native).unwrap(), v);
        assert!(to_native(&json!([[1]]), 0).is_err());
        assert!(to_native(&json!(u64::MAX), 0).is_err());
        assert!(to_native(&json!({"__x__": 1}), 0).is_err());
        assert!(from_native(&json!({"doubleValue": "NaN"})).is_err());
    }
}

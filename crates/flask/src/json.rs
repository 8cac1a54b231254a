//! JSON exactly as Python's `json` module reads and writes it for Flask.
//!
//! serde_json cannot be used as is: Python writes `NaN`, `Infinity` and
//! integers of any size, escapes every non-ASCII character (`ensure_ascii`),
//! sorts keys and prints floats with `repr`. This module parses Python's output
//! into a [`serde_json::Value`] without losing anything, and writes values back
//! byte for byte as Python would.
//!
//! Numbers a `Value` cannot hold (integers beyond 64 bits, `NaN`, `±Infinity`,
//! floats that overflow) become the marker object `{" n": "<token>"}` (see
//! [`crate::RawNumber`]), written back as the raw token. So that the marker
//! can never be confused with data, a *dict* with the single key `" n"` is kept
//! in Flask's escaped form `{" di": {" n__": ...}}`, which Python reads back as
//! the same dict.

use serde_json::{Map, Number, Value};

/// Key of the private marker for numbers a `Value` cannot hold.
pub(crate) const NUMBER_TAG: &str = " n";
/// Flask's tag for an escaped one-key dict.
pub(crate) const DICT_TAG: &str = " di";
/// Every key Flask's TaggedJSON treats as a tag in a one-key object.
pub(crate) const FLASK_TAGS: [&str; 6] = [" di", " t", " b", " m", " u", " d"];

/// Deepest nesting accepted (serde_json's limit too); deeper input is rejected
/// instead of exhausting the stack.
const MAX_DEPTH: usize = 128;

/// Parse Python JSON text. `None` if it is not valid, nests too deep, or holds
/// a lone surrogate (a Python `str` can, a Rust `String` cannot).
pub(crate) fn parse(text: &str) -> Option<Value> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    (p.i == p.s.len()).then_some(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        let ok = self.s[self.i..].starts_with(lit);
        if ok {
            self.i += lit.len();
        }
        ok
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match *self.s.get(self.i)? {
            b'{' => self.object(depth),
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b"]") {
                    return Some(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(b"]") {
                        return Some(Value::Array(items));
                    }
                    if !self.eat(b",") {
                        return None;
                    }
                }
            }
            b'"' => self.string().map(Value::String),
            b't' if self.eat(b"true") => Some(Value::Bool(true)),
            b'f' if self.eat(b"false") => Some(Value::Bool(false)),
            b'n' if self.eat(b"null") => Some(Value::Null),
            b'N' if self.eat(b"NaN") => Some(raw_number("NaN")),
            b'I' if self.eat(b"Infinity") => Some(raw_number("Infinity")),
            b'-' if self.eat(b"-Infinity") => Some(raw_number("-Infinity")),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn object(&mut self, depth: usize) -> Option<Value> {
        self.i += 1;
        let mut map = Map::new();
        self.ws();
        if !self.eat(b"}") {
            loop {
                self.ws();
                if self.s.get(self.i) != Some(&b'"') {
                    return None;
                }
                let k = self.string()?;
                self.ws();
                if !self.eat(b":") {
                    return None;
                }
                let v = self.value(depth + 1)?;
                // Python keeps the last of duplicate keys; so does `insert`.
                map.insert(k, v);
                self.ws();
                if self.eat(b"}") {
                    break;
                }
                if !self.eat(b",") {
                    return None;
                }
            }
        }
        if map.len() == 1 && map.contains_key(NUMBER_TAG) {
            // A real dict `{" n": ...}`: keep it escaped so it is never read as
            // a number marker (Python reads the escaped form as the same dict).
            let (k, v) = map.into_iter().next()?;
            return Some(escaped_dict(k, v));
        }
        Some(Value::Object(map))
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        let h = std::str::from_utf8(h).ok()?;
        if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.i += 4;
        u32::from_str_radix(h, 16).ok()
    }

    fn string(&mut self) -> Option<String> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(&b) = self.s.get(self.i) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(std::str::from_utf8(&self.s[start..self.i]).ok()?);
            match *self.s.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(out);
                }
                b'\\' => {
                    self.i += 1;
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                if !self.eat(b"\\u") {
                                    return None;
                                }
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            // Lone low surrogates fail here.
                            out.push(char::from_u32(c)?);
                        }
                        _ => return None,
                    }
                }
                // Raw control characters are invalid JSON (Python's strict mode).
                _ => return None,
            }
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        self.eat(b"-");
        let digits = |p: &mut Self| {
            let s = p.i;
            while matches!(p.s.get(p.i), Some(b'0'..=b'9')) {
                p.i += 1;
            }
            p.i - s
        };
        let int_start = self.i;
        let n = digits(self);
        if n == 0 || (n > 1 && self.s[int_start] == b'0') {
            return None;
        }
        let mut float = false;
        if self.eat(b".") {
            float = true;
            if digits(self) == 0 {
                return None;
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            float = true;
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return None;
            }
        }
        let tok = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        Some(number_value(tok, float))
    }
}

/// The `Value` of a valid JSON number token: a plain number when a `Value`
/// holds it exactly, the raw-number marker otherwise.
fn number_value(tok: &str, float: bool) -> Value {
    if !float {
        if let Ok(i) = tok.parse::<i64>() {
            return Value::Number(i.into());
        }
        if let Ok(u) = tok.parse::<u64>() {
            return Value::Number(u.into());
        }
        return raw_number(tok);
    }
    match tok.parse::<f64>().ok().and_then(Number::from_f64) {
        Some(n) => Value::Number(n),
        None => raw_number(tok),
    }
}

pub(crate) fn raw_number(tok: &str) -> Value {
    let mut m = Map::new();
    m.insert(NUMBER_TAG.to_owned(), Value::String(tok.to_owned()));
    Value::Object(m)
}

/// Flask's escape of a one-key dict whose key looks like a tag.
pub(crate) fn escaped_dict(key: String, value: Value) -> Value {
    let mut inner = Map::new();
    inner.insert(key + "__", value);
    let mut m = Map::new();
    m.insert(DICT_TAG.to_owned(), Value::Object(inner));
    Value::Object(m)
}

/// Whether `tok` is a number token Python's `json` reads (so it is safe to
/// write raw).
pub(crate) fn is_number_token(tok: &str) -> bool {
    if matches!(tok, "NaN" | "Infinity" | "-Infinity") {
        return true;
    }
    let mut p = Parser {
        s: tok.as_bytes(),
        i: 0,
    };
    !tok.is_empty() && p.number().is_some() && p.i == tok.len()
}

/// Write `v` as Python's `json.dumps(v, separators=(",", ":"), sort_keys=True)`
/// (with `ensure_ascii`) would, turning raw-number markers back into tokens.
pub(crate) fn write(v: &Value) -> String {
    let mut out = String::new();
    write_into(v, &mut out);
    out
}

fn write_into(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_into(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            if map.len() == 1 {
                if let Some(inner) = map.get(NUMBER_TAG) {
                    match inner {
                        Value::String(tok) if is_number_token(tok) => out.push_str(tok),
                        // Not a valid marker (built by hand): it is a dict, and
                        // must be escaped to stay one for Python.
                        _ => write_into(&escaped_dict(NUMBER_TAG.to_owned(), inner.clone()), out),
                    }
                    return;
                }
            }
            // Sorted by code point, like Python, whatever order the map keeps.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_into(v, out);
            }
            out.push('}');
        }
    }
}

fn write_number(n: &Number, out: &mut String) {
    if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(f) = n.as_f64() {
        out.push_str(&py_float_repr(f));
    }
}

/// Python's `repr(float)`: the shortest round-tripping digits, fixed notation
/// for decimal exponents in `-4..16`, else `d.ddde+XX`.
pub(crate) fn py_float_repr(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    // `{:e}` gives the shortest round-trip digits, e.g. `-1.2345e-7`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::from(sign);
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
            out.push_str(&digits);
        } else {
            let point = point as usize;
            if digits.len() <= point {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', point - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    }
    out
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_float_repr() {
        for (f, s) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e15, "1000000000000000.0"),
            (123456.789, "123456.789"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.2345e-7, "1.2345e-07"),
            (1e300, "1e+300"),
            (5e-324, "5e-324"),
            (-0.0, "-0.0"),
            (f64::MAX, "1.7976931348623157e+308"),
        ] {
            assert_eq!(py_float_repr(f), s, "{f}");
        }
    }

    #[test]
    fn strings_are_ascii_escaped_like_python() {
        let v = json!("é\u{1F600}\"\\\n\u{1}\u{7f}/");
        assert_eq!(write(&v), r#""\u00e9\ud83d\ude00\"\\\n\u0001\u007f/""#);
        assert_eq!(parse(&write(&v)), Some(v));
    }

    #[test]
    fn keys_are_sorted_and_compact() {
        let v = json!({"b": [1, 2.5, null, true], "a": {"z": 1, "y": "x"}});
        assert_eq!(write(&v), r#"{"a":{"y":"x","z":1},"b":[1,2.5,null,true]}"#);
    }

    #[test]
    fn unrepresentable_numbers_round_trip_as_tokens() {
        let text = r#"[NaN,Infinity,-Infinity,123456789012345678901234567890,-99999999999999999999,1e400,18446744073709551615]"#;
        let v = parse(text).unwrap();
        assert_eq!(v[0], json!({" n": "NaN"}));
        assert_eq!(v[3], json!({" n": "123456789012345678901234567890"}));
        assert_eq!(v[6], json!(u64::MAX));
        assert_eq!(write(&v), text);
    }

    #[test]
    fn a_real_n_dict_is_kept_apart_from_markers() {
        let v = parse(r#"{"x":{" n":"5"}}"#).unwrap();
        assert_eq!(v, json!({"x": {" di": {" n__": "5"}}}));
        // A forged marker whose token is not a number is written as a dict.
        assert_eq!(write(&json!({" n": "1,2"})), r#"{" di":{" n__":"1,2"}}"#);
        assert_eq!(write(&json!({" n": 5})), r#"{" di":{" n__":5}}"#);
    }

    #[test]
    fn invalid_input_is_rejected_not_panicking() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\"}",
            "01",
            "1.",
            "-",
            "\"\\ud800\"",
            "\"\\udc00x\"",
            "\"\u{1}\"",
            "nul",
            "[1] x",
            "{\"a\":1,}",
            "\"\\x\"",
            "\"\\u12\"",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        let deep = "[".repeat(10_000);
        assert_eq!(parse(&deep), None);
        let ok_deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(&ok_deep).is_some());
    }

    #[test]
    fn number_tokens() {
        for ok in [
            "0",
            "-1",
            "1.5",
            "1e5",
            "1E+5",
            "-0.0e-1",
            "NaN",
            "-Infinity",
        ] {
            assert!(is_number_token(ok), "{ok}");
        }
        for bad in ["", "+1", "1 ", "0x1", "1,2", "nan", "--1", ".5"] {
            assert!(!is_number_token(bad), "{bad}");
        }
    }
}

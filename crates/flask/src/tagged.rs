//! Flask's TaggedJSON values, as Rust types.
//!
//! # The convention
//!
//! A Flask interface's fields hold **exactly the tagged JSON Flask wrote**:
//! a Python tuple is `{" t": [...]}`, bytes are `{" b": "<base64>"}`, and so on
//! (see the table below). Nothing is untagged on read, so a field a Rust
//! handler does not touch goes back to Python as the very type Python wrote.
//!
//! - Plain JSON types (`str`, `int`, `float`, `bool`, `None`, `list`, `dict`)
//!   carry no tag: `session.get::<u64>("user_id")` just works, and plain Rust
//!   values are written as plain JSON.
//! - Python-only types are read and written through the wrappers of this
//!   module, whose serde form *is* the tagged form: [`Tuple`], [`Bytes`],
//!   [`Uuid`], [`HttpDate`], [`Markup`], plus [`RawNumber`] for numbers Rust
//!   cannot hold. Put them anywhere in your own types (`struct Prefs {
//!   last_seen: HttpDate }`).
//! - [`Untagged<T>`] reads any tagged value into ordinary serde types: tuples
//!   become sequences, bytes a sequence of `u8`, a UUID its hyphenated text, a
//!   datetime RFC 3339 text (`2024-01-02T03:04:05Z`, or `null` for a date
//!   Flask cannot parse, as Flask reads it), Markup its text, numbers
//!   Rust cannot hold their Python text. It is for reading; writing it back
//!   would lose the Python types.
//! - Like Flask, a one-key object whose key is a tag is a tagged value; a
//!   *dict* with such a key is written escaped (`{" di": {" t__": ...}}`), as
//!   Python writes it. [`escape_dict`] builds that form.
//!
//! | Python | in the session (Rust `Value`) | wrapper |
//! |---|---|---|
//! | `tuple` | `{" t": [...]}` | [`Tuple<T>`] |
//! | `bytes` | `{" b": "<std base64, padded>"}` | [`Bytes`] |
//! | `Markup` | `{" m": "<html>"}` | [`Markup`] |
//! | `UUID` | `{" u": "<32 hex>"}` | [`Uuid`] |
//! | `datetime` | `{" d": "Tue, 02 Jan 2024 03:04:05 GMT"}` | [`HttpDate`] |
//! | dict `{" t": v}` | `{" di": {" t__": v}}` | [`escape_dict`] |
//! | `nan`, `inf`, int beyond 64 bits | `{" n": "NaN"}` (private, never sent to Python) | [`RawNumber`] |
//!
//! ```
//! use session_plus_flask::{Bytes, Tuple, Untagged};
//! use serde_json::json;
//!
//! let from_python = json!({" t": [1, {" b": "aGk="}]});
//! let typed: Tuple<(u8, Bytes)> = serde_json::from_value(from_python.clone()).unwrap();
//! assert_eq!(typed.0 .1, Bytes(b"hi".to_vec()));
//! assert_eq!(serde_json::to_value(&typed).unwrap(), from_python);
//!
//! let plain: Untagged<(u8, Vec<u8>)> = serde_json::from_value(from_python).unwrap();
//! assert_eq!(plain.0, (1, b"hi".to_vec()));
//! ```

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::{DeserializeOwned, Error as _};
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::json::{DICT_TAG, NUMBER_TAG};

fn tagged(tag: &str, v: Value) -> Value {
    let mut m = Map::new();
    m.insert(tag.to_owned(), v);
    Value::Object(m)
}

/// The value under `tag` if `v` is the one-key object `{tag: value}`.
fn untag_one(v: Value, tag: &str) -> Result<Value, Value> {
    match v {
        Value::Object(mut m) if m.len() == 1 && m.contains_key(tag) => {
            Ok(m.remove(tag).unwrap_or(Value::Null))
        }
        other => Err(other),
    }
}

fn expect_tag<E: serde::de::Error>(v: Value, tag: &str, what: &str) -> Result<Value, E> {
    untag_one(v, tag)
        .map_err(|_| E::custom(format!("expected a Flask {what} ({{\"{tag}\": ...}})")))
}

/// A Python `tuple`: `{" t": [...]}`. `T` is anything serde writes as a
/// sequence (a Rust tuple, a `Vec`, an array). Reads a plain list too.
///
/// ```
/// use session_plus_flask::Tuple;
/// use serde_json::json;
///
/// let v = serde_json::to_value(Tuple((1, "a"))).unwrap();
/// assert_eq!(v, json!({" t": [1, "a"]}));
/// let back: Tuple<(i32, String)> = serde_json::from_value(v).unwrap();
/// assert_eq!(back, Tuple((1, "a".to_owned())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Tuple<T>(pub T);

impl<T: Serialize> Serialize for Tuple<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let items = serde_json::to_value(&self.0).map_err(S::Error::custom)?;
        if !items.is_array() {
            return Err(S::Error::custom(
                "a Flask tuple must serialize as a sequence",
            ));
        }
        tagged(" t", items).serialize(s)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Tuple<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let items = match untag_one(v, " t") {
            Ok(items) => items,
            Err(v @ Value::Array(_)) => v,
            Err(_) => return Err(D::Error::custom("expected a Flask tuple ({\" t\": [...]})")),
        };
        T::deserialize(items).map(Tuple).map_err(D::Error::custom)
    }
}

/// Python `bytes`: `{" b": "<standard base64 with padding>"}`.
///
/// ```
/// use session_plus_flask::Bytes;
/// let v = serde_json::to_value(Bytes(vec![0, 255])).unwrap();
/// assert_eq!(v, serde_json::json!({" b": "AP8="}));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        tagged(" b", Value::String(STANDARD.encode(&self.0))).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match expect_tag::<D::Error>(Value::deserialize(d)?, " b", "bytes")? {
            Value::String(s) => STANDARD.decode(s).map(Bytes).map_err(D::Error::custom),
            _ => Err(D::Error::custom("Flask bytes must hold base64 text")),
        }
    }
}

/// Python `markupsafe.Markup` (HTML known to be safe): `{" m": "<html>"}`.
/// Python reads it back as `Markup`; Rust treats it as text.
///
/// ```
/// use session_plus_flask::Markup;
/// let v = serde_json::to_value(Markup("<b>hi</b>".into())).unwrap();
/// assert_eq!(v, serde_json::json!({" m": "<b>hi</b>"}));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Markup(pub String);

impl Serialize for Markup {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        tagged(" m", Value::String(self.0.clone())).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Markup {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match expect_tag::<D::Error>(Value::deserialize(d)?, " m", "Markup")? {
            Value::String(s) => Ok(Markup(s)),
            _ => Err(D::Error::custom("Flask Markup must hold text")),
        }
    }
}

/// Python `uuid.UUID`: `{" u": "<32 lowercase hex digits>"}`. Displays
/// hyphenated; parses the 32-digit and the hyphenated forms.
///
/// ```
/// use session_plus_flask::Uuid;
/// let u: Uuid = "12345678-1234-5678-1234-567812345678".parse().unwrap();
/// assert_eq!(serde_json::to_value(u).unwrap(),
///            serde_json::json!({" u": "12345678123456781234567812345678"}));
/// assert_eq!(u.to_string(), "12345678-1234-5678-1234-567812345678");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Uuid(pub u128);

impl Uuid {
    /// The 32 hex digits, no hyphens (Python's `UUID.hex`).
    pub fn simple(&self) -> String {
        format!("{:032x}", self.0)
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.simple();
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

/// Error of [`Uuid::from_str`](std::str::FromStr::from_str) and [`HttpDate::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(&'static str);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ParseError {}

impl std::str::FromStr for Uuid {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let hex: String =
            if s.len() == 36 && [8, 13, 18, 23].iter().all(|&i| s.as_bytes()[i] == b'-') {
                s.chars().filter(|&c| c != '-').collect()
            } else {
                s.to_owned()
            };
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseError(
                "a UUID is 32 hex digits, optionally hyphenated 8-4-4-4-12",
            ));
        }
        u128::from_str_radix(&hex, 16)
            .map(Uuid)
            .map_err(|_| ParseError("invalid UUID"))
    }
}

impl Serialize for Uuid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        tagged(" u", Value::String(self.simple())).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Uuid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match expect_tag::<D::Error>(Value::deserialize(d)?, " u", "UUID")? {
            Value::String(s) => s.parse().map_err(D::Error::custom),
            _ => Err(D::Error::custom("Flask UUID must hold hex text")),
        }
    }
}

/// Python `datetime` (UTC, whole seconds): `{" d": "Tue, 02 Jan 2024 03:04:05 GMT"}`.
/// Holds Unix seconds; converts to and from [`SystemTime`]. Python reads it
/// back as an aware UTC `datetime`; years 1 to 9999 (Python's range).
///
/// Read and written exactly as Flask does, quirks included: Flask writes the
/// year with four digits, and reads dates with `email.utils` (through
/// werkzeug's `parse_date`), which takes a year below 100 as a two-digit
/// year: `0001`..`0068` are 2001..2068, `0069`..`0099` are 1969..1999. So
/// a Python `datetime(1, 1, 1)` comes back from a cookie as 2001-01-01, in
/// Flask and here alike.
///
/// ```
/// use session_plus_flask::HttpDate;
/// let d = HttpDate::from_unix(1_704_164_645);
/// assert_eq!(d.to_string(), "Tue, 02 Jan 2024 03:04:05 GMT");
/// assert_eq!(HttpDate::parse("Tue, 02 Jan 2024 03:04:05 GMT"), Ok(d));
/// assert_eq!(serde_json::to_value(d).unwrap(),
///            serde_json::json!({" d": "Tue, 02 Jan 2024 03:04:05 GMT"}));
///
/// // Year 1 is written as Flask writes it, and read as Flask reads it: 2001.
/// let year_1 = HttpDate::from_unix(-62_135_596_800);
/// assert_eq!(year_1.to_string(), "Mon, 01 Jan 0001 00:00:00 GMT");
/// assert_eq!(HttpDate::parse(&year_1.to_string()).unwrap().rfc3339(), "2001-01-01T00:00:00Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct HttpDate {
    unix: i64,
}

/// Unix seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
const MIN_UNIX: i64 = -62_135_596_800;
const MAX_UNIX: i64 = 253_402_300_799;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `email.utils`' month names (short and long, lowercase), in its order.
const PY_MONTH_NAMES: [&str; 24] = [
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// `email.utils`' day names.
const PY_DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `email.utils`' named time zones, as `±hhmm`.
const PY_ZONES: [(&str, i64); 14] = [
    ("UT", 0),
    ("UTC", 0),
    ("GMT", 0),
    ("Z", 0),
    ("AST", -400),
    ("ADT", -300),
    ("EST", -500),
    ("EDT", -400),
    ("CST", -600),
    ("CDT", -500),
    ("MST", -700),
    ("MDT", -600),
    ("PST", -800),
    ("PDT", -700),
];

impl HttpDate {
    /// The instant `unix` seconds after the Unix epoch.
    pub fn from_unix(unix: i64) -> Self {
        Self { unix }
    }

    /// Seconds since the Unix epoch.
    pub fn unix(&self) -> i64 {
        self.unix
    }

    /// Parse a date the way Flask reads a tagged datetime (werkzeug's
    /// `parse_date`, i.e. `email.utils.parsedate_to_datetime`): the
    /// IMF-fixdate Flask writes (`Tue, 02 Jan 2024 03:04:05 GMT`), and the
    /// looser forms `email.utils` accepts (no day name, RFC 850 dashes,
    /// numeric or named zones, two-digit years). The day name is not checked.
    /// A date Flask reads as `None` is an error here.
    ///
    /// ```
    /// use session_plus_flask::HttpDate;
    /// let d = HttpDate::parse("Tue, 02 Jan 2024 03:04:05 GMT").unwrap();
    /// assert_eq!(HttpDate::parse("2 Jan 24 04:04:05 +0100"), Ok(d));
    /// assert_eq!(HttpDate::parse("Thu, 01 Jan 0069 00:00:00 GMT").unwrap().rfc3339(), "1969-01-01T00:00:00Z");
    /// assert!(HttpDate::parse("Tue, 02 Jan 2024 03:04:60 GMT").is_err()); // no leap seconds in Python
    /// ```
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        py_parse_date(s).map(Self::from_unix).ok_or(ParseError(
            "expected an HTTP date like `Tue, 02 Jan 2024 03:04:05 GMT`",
        ))
    }

    /// The date as Flask writes it (`email.utils.format_datetime`), if it lies
    /// in Python's years 1..9999.
    fn format(&self) -> Option<String> {
        if !(MIN_UNIX..=MAX_UNIX).contains(&self.unix) {
            return None;
        }
        const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        let days = self.unix.div_euclid(86_400);
        let secs = self.unix.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        Some(format!(
            "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
            WEEKDAYS[usize::try_from(days.rem_euclid(7)).ok()?],
            MONTHS[usize::try_from(m - 1).ok()?],
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        ))
    }

    /// RFC 3339 text in UTC, e.g. `2024-01-02T03:04:05Z` (the form [`Untagged`] gives).
    ///
    /// ```
    /// assert_eq!(session_plus_flask::HttpDate::from_unix(0).rfc3339(), "1970-01-01T00:00:00Z");
    /// ```
    pub fn rfc3339(&self) -> String {
        let days = self.unix.div_euclid(86_400);
        let secs = self.unix.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }
}

/// Python's `str.split()` separators.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `int()` of a short text: optional sign, ASCII digits, single
/// underscores between digits, surrounding whitespace. `None` where Python
/// raises (or where the number is too large for any date to use).
fn py_int(s: &str) -> Option<i64> {
    let s = s.trim_matches(py_space);
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let mut n: i64 = 0;
    for b in digits.bytes() {
        match b {
            b'_' => {}
            b'0'..=b'9' => n = n.checked_mul(10)?.checked_add(i64::from(b - b'0'))?,
            _ => return None,
        }
    }
    Some(if neg { -n } else { n })
}

/// `email.utils._parsedate_tz` (CPython 3.11) then the `datetime` checks of
/// `parsedate_to_datetime` and werkzeug's `parse_date` (a date without a
/// zone is UTC): the Unix time Flask reads from `data`, or `None` where
/// Flask gets `None`.
fn py_parse_date(data: &str) -> Option<i64> {
    let mut data: Vec<String> = data
        .split(py_space)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    let first = data.first()?;
    if first.ends_with(',') || PY_DAY_NAMES.contains(&first.to_lowercase().as_str()) {
        data.remove(0);
    } else if let Some(i) = first.rfind(',') {
        data[0] = first[i + 1..].to_owned();
    }
    if data.len() == 3 {
        let stuff: Vec<String> = data[0].split('-').map(str::to_owned).collect();
        if stuff.len() == 3 {
            data = stuff.into_iter().chain(data.drain(1..)).collect();
        }
    }
    if data.len() == 4 {
        let s = data[3].clone();
        match s.find('+').or_else(|| s.find('-')) {
            Some(i) if i > 0 => {
                data.truncate(3);
                data.push(s[..i].to_owned());
                data.push(s[i..].to_owned());
            }
            _ => data.push(String::new()),
        }
    }
    if data.len() < 5 {
        return None;
    }
    data.truncate(5);
    let mut it = data.into_iter();
    let (mut dd, mut mm, mut yy, mut tm, mut tz) =
        (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
    if dd.is_empty() || mm.is_empty() || yy.is_empty() {
        return None;
    }
    mm = mm.to_lowercase();
    if !PY_MONTH_NAMES.contains(&mm.as_str()) {
        (dd, mm) = (mm, dd.to_lowercase());
        if !PY_MONTH_NAMES.contains(&mm.as_str()) {
            return None;
        }
    }
    let mut month = PY_MONTH_NAMES.iter().position(|&n| n == mm)? as i64 + 1;
    if month > 12 {
        month -= 12;
    }
    if dd.ends_with(',') {
        dd.pop();
    }
    if yy.find(':').is_some_and(|i| i > 0) {
        std::mem::swap(&mut yy, &mut tm);
    }
    if yy.ends_with(',') {
        yy.pop();
        if yy.is_empty() {
            return None;
        }
    }
    if !yy.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        std::mem::swap(&mut yy, &mut tz);
    }
    if tm.ends_with(',') {
        tm.pop();
    }
    let parts: Vec<&str> = tm.split(':').collect();
    let (thh, tmm, tss) = match parts[..] {
        [h, m] => (h, m, "0"),
        [h, m, s] => (h, m, s),
        [one] if one.contains('.') => match one.split('.').collect::<Vec<_>>()[..] {
            [h, m] => (h, m, "0"),
            [h, m, s] => (h, m, s),
            _ => return None,
        },
        _ => return None,
    };
    let mut year = py_int(&yy)?;
    let day = py_int(&dd)?;
    let (hour, minute, second) = (py_int(thh)?, py_int(tmm)?, py_int(tss)?);
    // RFC 822's two-digit years, by the POSIX rule.
    if year < 100 {
        year += if year > 68 { 1900 } else { 2000 };
    }
    let tz = tz.to_uppercase();
    let named = PY_ZONES.iter().find(|(n, _)| *n == tz).map(|&(_, o)| o);
    let mut offset = named.or_else(|| py_int(&tz));
    if offset == Some(0) && tz.starts_with('-') {
        offset = None; // -0000: "no zone information", read as UTC
    }
    let offset_secs = match offset {
        Some(o) if o != 0 => {
            let a = o.checked_abs()?;
            let secs = (a / 100).checked_mul(3600)?.checked_add(a % 100 * 60)?;
            if o < 0 {
                -secs
            } else {
                secs
            }
        }
        _ => 0,
    };
    // `datetime(...)` and `timezone(timedelta(seconds=...))` refuse these.
    if !(1..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || !(0..=23).contains(&hour)
        || !(0..=59).contains(&minute)
        || !(0..=59).contains(&second)
        || offset_secs.abs() >= 86_400
    {
        return None;
    }
    Some(
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
            - offset_secs,
    )
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.format() {
            Some(s) => f.write_str(&s),
            None => write!(f, "@{} (outside years 1..9999)", self.unix),
        }
    }
}

impl From<SystemTime> for HttpDate {
    fn from(t: SystemTime) -> Self {
        let unix = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => {
                // Round toward the past, like `datetime.replace(microsecond=0)`.
                let d = e.duration();
                let s = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                -s - i64::from(d.subsec_nanos() > 0)
            }
        };
        Self { unix }
    }
}

impl From<HttpDate> for SystemTime {
    fn from(d: HttpDate) -> Self {
        if d.unix >= 0 {
            UNIX_EPOCH + Duration::from_secs(d.unix.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_secs(d.unix.unsigned_abs())
        }
    }
}

impl Serialize for HttpDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = self
            .format()
            .ok_or_else(|| S::Error::custom("a Flask datetime must lie in years 1 to 9999"))?;
        tagged(" d", Value::String(text)).serialize(s)
    }
}

impl<'de> Deserialize<'de> for HttpDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match expect_tag::<D::Error>(Value::deserialize(d)?, " d", "datetime")? {
            Value::String(s) => HttpDate::parse(&s).map_err(D::Error::custom),
            _ => Err(D::Error::custom("Flask datetime must hold an HTTP date")),
        }
    }
}

/// A number Python wrote that a Rust number cannot hold exactly: `NaN`,
/// `Infinity`, `-Infinity`, or an integer beyond 64 bits. Kept as its Python
/// text so it goes back to Python unchanged; write one to send such a number.
///
/// ```
/// use session_plus_flask::RawNumber;
/// let big: RawNumber = serde_json::from_value(serde_json::json!({" n": "340282366920938463463374607431768211456"})).unwrap();
/// assert_eq!(big.as_str(), "340282366920938463463374607431768211456");
/// assert!(RawNumber::from_f64(f64::NAN).to_f64().is_nan());
/// assert_eq!(RawNumber::new("1,2"), None); // not a number
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawNumber(String);

impl RawNumber {
    /// A number from its JSON/Python text (`NaN`, `Infinity`, digits...);
    /// `None` if the text is not a number Python's `json` reads.
    pub fn new(text: &str) -> Option<Self> {
        crate::json::is_number_token(text).then(|| Self(text.to_owned()))
    }

    /// Any float, including `NaN` and the infinities.
    pub fn from_f64(f: f64) -> Self {
        Self(if f.is_nan() {
            "NaN".to_owned()
        } else if f.is_infinite() {
            if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
        } else {
            crate::json::py_float_repr(f)
        })
    }

    /// The text, as Python wrote it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The nearest `f64` (big integers lose precision; `NaN` and the
    /// infinities are exact).
    pub fn to_f64(&self) -> f64 {
        self.0.parse().unwrap_or(f64::NAN)
    }
}

impl Serialize for RawNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        tagged(NUMBER_TAG, Value::String(self.0.clone())).serialize(s)
    }
}

impl<'de> Deserialize<'de> for RawNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => Ok(RawNumber(n.to_string())),
            v => match expect_tag::<D::Error>(v, NUMBER_TAG, "raw number")? {
                Value::String(s) => {
                    RawNumber::new(&s).ok_or_else(|| D::Error::custom("not a number"))
                }
                _ => Err(D::Error::custom("a raw number must hold text")),
            },
        }
    }
}

/// Reads a tagged value into ordinary serde types (see the module docs for
/// the mapping). For reading only: writing the result back would turn tuples
/// into lists, bytes into lists of numbers, and so on.
///
/// ```
/// use session_plus_flask::Untagged;
/// use serde_json::json;
///
/// let v = json!({"when": {" d": "Tue, 02 Jan 2024 03:04:05 GMT"}, "id": {" u": "12345678123456781234567812345678"}});
/// let Untagged(plain): Untagged<serde_json::Value> = serde_json::from_value(v).unwrap();
/// assert_eq!(plain, json!({"when": "2024-01-02T03:04:05Z", "id": "12345678-1234-5678-1234-567812345678"}));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Untagged<T>(pub T);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Untagged<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = untag(Value::deserialize(d)?).map_err(D::Error::custom)?;
        T::deserialize(v).map(Untagged).map_err(D::Error::custom)
    }
}

/// Recursively replace tagged values by their plain form (see [`Untagged`]).
///
/// ```
/// use serde_json::json;
/// assert_eq!(
///     session_plus_flask::untag(json!([{" t": [1, 2]}, {" di": {" t__": 3}}])).unwrap(),
///     json!([[1, 2], {" t": 3}]),
/// );
/// ```
///
/// # Errors
/// When a tagged value is malformed (e.g. bytes that are not base64).
pub fn untag(v: Value) -> Result<Value, serde_json::Error> {
    use serde_json::Error as E;
    Ok(match v {
        Value::Array(items) => {
            Value::Array(items.into_iter().map(untag).collect::<Result<_, _>>()?)
        }
        Value::Object(m) if m.len() == 1 => {
            let (k, inner) = m.into_iter().next().unwrap_or_default();
            let plain = match k.as_str() {
                " t" => untag(inner)?,
                " b" => {
                    let b: Bytes = serde_json::from_value(tagged(" b", inner))?;
                    Value::Array(b.0.into_iter().map(Value::from).collect())
                }
                " u" => {
                    Value::String(serde_json::from_value::<Uuid>(tagged(" u", inner))?.to_string())
                }
                // A date Flask cannot parse is `None` in Flask's session too.
                " d" => match inner {
                    Value::String(text) => {
                        HttpDate::parse(&text).map_or(Value::Null, |d| Value::String(d.rfc3339()))
                    }
                    _ => {
                        return Err(<E as serde::de::Error>::custom(
                            "Flask datetime must hold an HTTP date",
                        ))
                    }
                },
                " m" => match inner {
                    Value::String(s) => Value::String(s),
                    _ => {
                        return Err(<E as serde::de::Error>::custom(
                            "Flask Markup must hold text",
                        ))
                    }
                },
                NUMBER_TAG => match inner {
                    Value::String(s) => Value::String(s),
                    _ => {
                        return Err(<E as serde::de::Error>::custom(
                            "a raw number must hold text",
                        ))
                    }
                },
                DICT_TAG => match inner {
                    Value::Object(e) if e.len() == 1 => {
                        let (ek, ev) = e.into_iter().next().unwrap_or_default();
                        let key = ek.strip_suffix("__").unwrap_or(&ek).to_owned();
                        let mut out = Map::new();
                        out.insert(key, untag(ev)?);
                        Value::Object(out)
                    }
                    _ => {
                        return Err(<E as serde::de::Error>::custom(
                            "a Flask escaped dict must hold one key",
                        ))
                    }
                },
                _ => {
                    let mut out = Map::new();
                    out.insert(k, untag(inner)?);
                    Value::Object(out)
                }
            };
            plain
        }
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| Ok((k, untag(v)?)))
                .collect::<Result<_, E>>()?,
        ),
        other => other,
    })
}

/// A dict holding one key that Flask would take for a tag (`" t"`, `" b"`...),
/// in the escaped form Python reads back as that dict.
///
/// ```
/// use serde_json::json;
/// assert_eq!(session_plus_flask::escape_dict(" t", json!(1)), json!({" di": {" t__": 1}}));
/// ```
pub fn escape_dict(key: &str, value: Value) -> Value {
    crate::json::escaped_dict(key.to_owned(), value)
}

/// Howard Hinnant's civil-from-days.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Howard Hinnant's days-from-civil.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn http_dates_round_trip_over_the_years_flask_reads_back() {
        // From year 100 on, Flask's written form reads back as the same date.
        let year_100 = -59_011_459_200;
        for unix in [year_100, -1, 0, 951_782_400, 1_700_000_000, MAX_UNIX] {
            let d = HttpDate::from_unix(unix);
            assert_eq!(HttpDate::parse(&d.to_string()), Ok(d), "{unix}");
        }
        assert_eq!(
            HttpDate::from_unix(year_100).to_string(),
            "Fri, 01 Jan 0100 00:00:00 GMT"
        );
        assert_eq!(
            HttpDate::from_unix(MIN_UNIX).to_string(),
            "Mon, 01 Jan 0001 00:00:00 GMT"
        );
        assert!(serde_json::to_value(HttpDate::from_unix(MAX_UNIX + 1)).is_err());
        assert!(serde_json::to_value(HttpDate::from_unix(MIN_UNIX - 1)).is_err());
    }

    #[test]
    fn years_below_100_are_two_digit_years_as_in_python() {
        let read = |s: &str| HttpDate::parse(s).map(|d| d.rfc3339());
        for (text, want) in [
            ("Mon, 01 Jan 0001 00:00:00 GMT", "2001-01-01T00:00:00Z"),
            ("Sat, 31 Dec 0068 23:59:59 GMT", "2068-12-31T23:59:59Z"),
            ("Thu, 01 Jan 0069 00:00:00 GMT", "1969-01-01T00:00:00Z"),
            ("Thu, 31 Dec 0099 12:00:00 GMT", "1999-12-31T12:00:00Z"),
            ("Sat, 29 Feb 0004 00:00:00 GMT", "2004-02-29T00:00:00Z"),
            ("Sat, 01 Jan 0000 00:00:00 GMT", "2000-01-01T00:00:00Z"),
            ("Fri, 01 Jan 0100 00:00:00 GMT", "0100-01-01T00:00:00Z"),
        ] {
            assert_eq!(read(text).as_deref(), Ok(want), "{text}");
        }
        // Year 1, written as Flask writes it, comes back as 2001 (as in Flask).
        let year_1 = HttpDate::from_unix(MIN_UNIX);
        let v = serde_json::to_value(year_1).unwrap();
        assert_eq!(v, json!({" d": "Mon, 01 Jan 0001 00:00:00 GMT"}));
        let back: HttpDate = serde_json::from_value(v).unwrap();
        assert_eq!(back.rfc3339(), "2001-01-01T00:00:00Z");
    }

    #[test]
    fn the_looser_forms_email_utils_reads() {
        let read = |s: &str| HttpDate::parse(s).map(|d| d.rfc3339());
        for (text, want) in [
            ("Tue, 02 Jan 2024 03:04:05 UTC", "2024-01-02T03:04:05Z"),
            ("Tue,02 Jan 2024 03:04:05 GMT", "2024-01-02T03:04:05Z"),
            ("Sun, 02 Jan 2024 03:04:05 GMT", "2024-01-02T03:04:05Z"),
            ("2 Jan 2024 03:04:05", "2024-01-02T03:04:05Z"),
            ("Jan 2 2024 03:04", "2024-01-02T03:04:00Z"),
            ("02-Jan-24 03:04:05 GMT", "2024-01-02T03:04:05Z"),
            ("2 january 2024 03.04.05 +0130", "2024-01-02T01:34:05Z"),
            ("2 Jan 2024 03:04:05-0500", "2024-01-02T08:04:05Z"),
            ("2 Jan 2024 03:04:05 EST", "2024-01-02T08:04:05Z"),
            ("2 Jan 2024 03:04:05 -0000", "2024-01-02T03:04:05Z"),
            ("2 Jan 2024 03:04:05 XYZ", "2024-01-02T03:04:05Z"),
            ("2 Jan 2_024 03:04:05 GMT", "2024-01-02T03:04:05Z"),
        ] {
            assert_eq!(read(text).as_deref(), Ok(want), "{text}");
        }
        for bad in [
            "",
            "   ",
            "é",
            "02 Jan 2024",
            "Tue, 31 Feb 2024 00:00:00 GMT",
            "Tue, 02 Jan 2024 24:00:00 GMT",
            "Tue, 02 Jan 2024 03:04:60 GMT",
            "Tue, 02 Foo 2024 03:04:05 GMT",
            "Tue, 02 Jan 2024 03:04:05 +2400",
            "Tue, 02 Jan 10000 03:04:05 GMT",
            "Tue, 02 Jan 99999999999999999999999 03:04:05 GMT",
            "Tue, 02 Jan 2024 03-04-05 GMT",
            "Tue, 02 Jan 2__024 03:04:05 GMT",
            "2 Jan -5 03:04:05 GMT",
        ] {
            assert!(HttpDate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wrappers_reject_wrong_shapes() {
        assert!(serde_json::from_value::<Bytes>(json!({" b": "!!"})).is_err());
        assert!(serde_json::from_value::<Bytes>(json!("aGk=")).is_err());
        assert!(serde_json::from_value::<Uuid>(json!({" u": "xyz"})).is_err());
        assert!(serde_json::from_value::<Tuple<(u8,)>>(json!({" t": 1})).is_err());
        assert!(serde_json::to_value(Tuple(5)).is_err());
        assert!(untag(json!({" di": 5})).is_err());
        assert!(untag(json!({" d": 5})).is_err());
        assert_eq!(untag(json!({" d": "not a date"})).unwrap(), json!(null));
    }

    #[test]
    fn untag_maps_every_tag() {
        let v = json!({
            "t": {" t": [1, {" t": []}]},
            "b": {" b": "AAE="},
            "m": {" m": "<i>"},
            "u": {" u": "0123456789abcdef0123456789abcdef"},
            "d": {" d": "Thu, 01 Jan 1970 00:00:00 GMT"},
            "di": {" di": {" b__": {" t": [2]}}},
            "n": {" n": "NaN"},
            "other": {"x": {" t": [3]}},
        });
        assert_eq!(
            untag(v).unwrap(),
            json!({
                "t": [1, []], "b": [0, 1], "m": "<i>",
                "u": "01234567-89ab-cdef-0123-456789abcdef",
                "d": "1970-01-01T00:00:00Z", "di": {" b": [2]}, "n": "NaN",
                "other": {"x": [3]},
            })
        );
    }
}

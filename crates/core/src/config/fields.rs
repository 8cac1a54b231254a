//! Field rules (the seed's `session_fields`) and field-name checks.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::{Error, Result};

/// Longest field name accepted, in bytes.
pub const MAX_FIELD_NAME: usize = 256;

/// Which fields an interface owns.
///
/// In a TOML/JSON document it is written as in flask-session-plus:
/// `[]` (all), `["a", "b"]` (include), `{ include = [...], exclude = [...] }`,
/// or `"auto"`.
///
/// ```
/// use session_plus_core::FieldRules;
///
/// let rules: FieldRules = serde_json::from_str(r#"["user_id", "user_data"]"#).unwrap();
/// assert_eq!(rules, FieldRules::include(["user_id", "user_data"]));
/// let rules: FieldRules = serde_json::from_str(r#""auto""#).unwrap();
/// assert_eq!(rules, FieldRules::Auto);
/// let rules: FieldRules = serde_json::from_str(r#"[]"#).unwrap();
/// assert_eq!(rules, FieldRules::All);
/// let rules: FieldRules = serde_json::from_str(r#"{"exclude": ["csrf_token"]}"#).unwrap();
/// assert_eq!(rules, FieldRules::Exclude(vec!["csrf_token".into()]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FieldRules {
    /// Every field (the seed's `[]`, its default).
    #[default]
    All,
    /// Exactly these fields.
    Include(Vec<String>),
    /// Every field but these.
    Exclude(Vec<String>),
    /// Every field that no other interface includes by name.
    Auto,
}

impl FieldRules {
    /// Exactly the given fields. An empty list owns nothing (only a
    /// configuration document's `[]` means "all fields", the seed's rule; in
    /// code say [`FieldRules::All`]).
    ///
    /// ```
    /// use session_plus_core::FieldRules;
    /// assert_eq!(FieldRules::include(Vec::<String>::new()), FieldRules::Include(vec![]));
    /// assert_ne!(FieldRules::include(Vec::<String>::new()), FieldRules::All);
    /// ```
    pub fn include<I, S>(fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Include(fields.into_iter().map(Into::into).collect())
    }

    /// Every field but the given ones.
    pub fn exclude<I, S>(fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Exclude(fields.into_iter().map(Into::into).collect())
    }

    /// The seed's dict form: include list (empty = all) minus exclude list.
    pub fn include_exclude(include: Vec<String>, exclude: Vec<String>) -> Result<Self> {
        match (include.is_empty(), exclude.is_empty()) {
            (true, true) => Ok(Self::All),
            (true, false) => Ok(Self::Exclude(exclude)),
            (false, true) => Ok(Self::Include(include)),
            (false, false) => {
                if let Some(f) = include.iter().find(|f| exclude.contains(f)) {
                    return Err(Error::config(
                        "",
                        "session_fields",
                        format!("field `{f}` is both included and excluded"),
                    ));
                }
                Ok(Self::Include(include))
            }
        }
    }
}

/// Check a field name: non-empty, at most [`MAX_FIELD_NAME`] bytes, no control
/// characters. Names a cookie format keeps for itself are refused per
/// interface ([`CookieFormat::reserved_fields`](crate::cookie_format::CookieFormat::reserved_fields)),
/// not here: `_permanent` is an ordinary name unless a Flask interface owns it.
///
/// ```
/// use session_plus_core::config::check_field_name;
/// assert!(check_field_name("user_id").is_ok());
/// assert!(check_field_name("").is_err());
/// assert!(check_field_name("a\nb").is_err());
/// assert!(check_field_name("_permanent").is_ok());
/// ```
pub fn check_field_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid_field(name, "is empty"));
    }
    if name.len() > MAX_FIELD_NAME {
        return Err(Error::invalid_field(name, "is longer than 256 bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid_field(name, "contains control characters"));
    }
    Ok(())
}

impl<'de> Deserialize<'de> for FieldRules {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FieldRules;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(r#"a list of field names, {include, exclude}, or "auto""#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<FieldRules, E> {
                if v == "auto" {
                    Ok(FieldRules::Auto)
                } else {
                    Err(E::custom(format!(
                        r#"unknown field rule "{v}": the only string allowed is "auto""#
                    )))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<FieldRules, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    v.push(s);
                }
                // The seed's rule: in a document, `[]` means every field.
                Ok(if v.is_empty() {
                    FieldRules::All
                } else {
                    FieldRules::Include(v)
                })
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<FieldRules, A::Error> {
                let (mut inc, mut exc) = (Vec::new(), Vec::new());
                while let Some(k) = map.next_key::<String>()? {
                    match k.as_str() {
                        "include" => inc = map.next_value()?,
                        "exclude" => exc = map.next_value()?,
                        other => {
                            return Err(de::Error::custom(format!(
                            "unknown key `{other}` in session_fields (expected include, exclude)"
                        )))
                        }
                    }
                }
                FieldRules::include_exclude(inc, exc).map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

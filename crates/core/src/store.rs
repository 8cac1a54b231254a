//! The server-side backend trait, and the data that crosses it.
//!
//! A backend keeps one [`Record`] per [`SessionId`]: the fields an interface owns
//! plus a little [`RecordMeta`]. The core never asks a backend to overwrite a
//! whole record after a load: it sends a [`Changes`] delta (fields set, fields
//! removed, new meta), and the backend applies it the best way it can:
//!
//! - field-level writes where the engine has them (Redis hash fields, SQL rows in
//!   a transaction, MongoDB `$set`/`$unset`, Firestore update masks);
//! - read–merge–compare-and-swap where it only stores whole values (memcache
//!   `gets`/`cas`).
//!
//! Either way, two concurrent requests that change different fields of one
//! session both survive. Expiry is given as an absolute time in
//! [`RecordMeta::expires`]; backends with native TTLs turn it into one, others
//! store it and filter on read (and may implement [`SessionStore::delete_expired`]).
//!
//! # Writing a backend
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use session_plus_core::store::{Capabilities, Changes, Record, SessionStore};
//! use session_plus_core::{Result, RecordKey, unix_now};
//!
//! /// A toy backend: a map behind a mutex.
//! #[derive(Debug, Default)]
//! struct MapStore(Mutex<HashMap<String, Record>>);
//!
//! #[async_trait::async_trait]
//! impl SessionStore for MapStore {
//!     fn capabilities(&self) -> Capabilities {
//!         Capabilities { field_level_writes: true, compare_and_swap: true, native_ttl: false }
//!     }
//!     async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
//!         let map = self.0.lock().unwrap();
//!         Ok(map.get(&key.store_key()).filter(|r| r.meta.expires > unix_now()).cloned())
//!     }
//!     async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
//!         let mut map = self.0.lock().unwrap();
//!         if map.get(&key.store_key()).is_some_and(|r| r.meta.expires > unix_now()) {
//!             return Ok(false);
//!         }
//!         map.insert(key.store_key(), record.clone());
//!         Ok(true)
//!     }
//!     async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
//!         let mut map = self.0.lock().unwrap();
//!         match map.get_mut(&key.store_key()).filter(|r| r.meta.expires > unix_now()) {
//!             Some(record) => { changes.apply_to(record); Ok(true) }
//!             None => Ok(false),
//!         }
//!     }
//!     async fn delete(&self, key: &RecordKey) -> Result<()> {
//!         self.0.lock().unwrap().remove(&key.store_key());
//!         Ok(())
//!     }
//! }
//! ```

use std::collections::BTreeMap;
use std::fmt::Debug;

use serde::{Deserialize, Serialize};

use crate::{RecordKey, Result};

/// Field name -> JSON value. Ordered, so encodings are deterministic.
pub type Fields = BTreeMap<String, serde_json::Value>;

/// What the core keeps about a record besides its fields. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordMeta {
    /// Whether the interface's session is permanent (picks the lifetime).
    #[serde(rename = "p")]
    pub permanent: bool,
    /// When the session was created (for the absolute lifetime).
    #[serde(rename = "c")]
    pub created: i64,
    /// When the record was last written or refreshed (for the idle timeout).
    #[serde(rename = "a")]
    pub accessed: i64,
    /// When the record stops being valid. Backends with a native TTL set it to
    /// `expires - now`; others must not return the record once `now >= expires`.
    #[serde(rename = "e")]
    pub expires: i64,
    /// Random value shared by every interface of one session, so cookies of
    /// different sessions cannot be mixed into one.
    #[serde(rename = "b", default)]
    pub binding: String,
}

/// One session's data in one backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The fields this interface owns.
    pub fields: Fields,
    /// Lifetimes and permanence.
    pub meta: RecordMeta,
}

/// A delta to apply to an existing record.
///
/// ```
/// use session_plus_core::store::{Changes, Record, RecordMeta};
/// use serde_json::json;
///
/// let meta = RecordMeta { permanent: false, created: 1, accessed: 1, expires: 10, binding: "b".into() };
/// let mut record = Record { fields: [("a".to_owned(), json!(1)), ("b".to_owned(), json!(2))].into(), meta: meta.clone() };
/// let changes = Changes {
///     set: [("a".to_owned(), json!(5))].into(),
///     remove: vec!["b".to_owned()],
///     meta: RecordMeta { accessed: 5, expires: 20, ..meta },
/// };
/// changes.apply_to(&mut record);
/// assert_eq!(record.fields.get("a"), Some(&json!(5)));
/// assert!(record.fields.get("b").is_none());
/// assert_eq!(record.meta.expires, 20);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    /// Fields inserted or changed, with their new values.
    pub set: Fields,
    /// Fields removed.
    pub remove: Vec<String>,
    /// The record's meta after the change (always written).
    pub meta: RecordMeta,
}

impl Changes {
    /// Apply the delta to a record in memory (for backends that merge by hand,
    /// e.g. under compare-and-swap).
    pub fn apply_to(&self, record: &mut Record) {
        for f in &self.remove {
            record.fields.remove(f);
        }
        for (k, v) in &self.set {
            record.fields.insert(k.clone(), v.clone());
        }
        record.meta = self.meta.clone();
    }
}

/// What a backend can do natively; reported to the conformance suite and in logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Changes single fields without rewriting the record.
    pub field_level_writes: bool,
    /// Offers compare-and-swap (used to merge when fields cannot be written singly).
    pub compare_and_swap: bool,
    /// Expires records by itself.
    pub native_ttl: bool,
}

/// A server-side session backend.
///
/// Implementations must be safe to share across requests and tasks. The core
/// wraps every call in the interface's timeout, so implementations need not.
/// Errors should be made with [`crate::Error::backend`]. See the module docs for
/// a complete example.
#[async_trait::async_trait]
pub trait SessionStore: Debug + Send + Sync + 'static {
    /// What this backend does natively.
    fn capabilities(&self) -> Capabilities;

    /// The record under `key`, or `None` if there is none or it has expired.
    async fn load(&self, key: &RecordKey) -> Result<Option<Record>>;

    /// Store a new record under `key` unless a live one exists there already
    /// (returns `false` then, and writes nothing).
    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool>;

    /// Apply `changes` to the live record under `key`, atomically with respect to
    /// other `update` calls on the same id. Returns `false`, writing nothing, if
    /// there is no live record (a write must never resurrect a deleted session).
    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool>;

    /// Move the expiry of a live record (idle-timeout refresh) without touching
    /// its fields. Returns `false` if there is no live record. The default
    /// implementation is an `update` with no field changes.
    async fn touch(&self, key: &RecordKey, meta: &RecordMeta) -> Result<bool> {
        self.update(
            key,
            &Changes {
                set: Fields::new(),
                remove: Vec::new(),
                meta: meta.clone(),
            },
        )
        .await
    }

    /// Delete the record under `key`; deleting a missing record is not an error.
    async fn delete(&self, key: &RecordKey) -> Result<()>;

    /// Delete every record under `prefix` whose field `field` holds `value`
    /// (e.g. every session of one user after a password change), returning how
    /// many went. Backends that cannot search by field keep the default, which
    /// answers [`Error::unsupported`](crate::Error::unsupported).
    async fn delete_by_field(
        &self,
        prefix: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<u64> {
        let _ = (prefix, field, value);
        Err(crate::Error::unsupported("", "delete_by_field"))
    }

    /// Remove records whose expiry has passed, returning how many went. Backends
    /// with native TTLs keep the default, which does nothing.
    async fn delete_expired(&self) -> Result<u64> {
        Ok(0)
    }
}

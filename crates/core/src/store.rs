//! The server-side backend trait, and the data that crosses it.
//!
//! A backend keeps one [`Record`] per [`SessionId`](crate::SessionId): the fields an interface owns
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
//! session both survive. Meta is merged too (see [`MetaUpdate`]): a request
//! that did not change permanence never resets it, and expiry only moves the
//! way the writing request meant. Expiry is given as an absolute time in
//! [`RecordMeta::expires`]; backends with native TTLs turn it into one, others
//! store it and filter on read (and may implement [`SessionStore::delete_expired`]).
//!
//! # Login (`cycle_id`) without lost writes
//!
//! Moving a session to a new id is [`SessionStore::move_to`]: the backend
//! atomically replaces the old record with a short-lived *tombstone*
//! ([`SessionStore::supersede`]) and gets back what the record held at that
//! instant, so every write acknowledged before the move is carried over; then it
//! creates the new record from that with the login request's changes applied.
//! A write that arrives at the old id afterwards finds the tombstone: `update`
//! refuses it and the request gets a conflict error, never a success for a
//! dropped write; a request that loads the tombstone learns that its session
//! moved and sets no cookie, so it cannot overwrite the browser's new login
//! cookie.
//!
//! # Writing a backend
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use session_plus_core::store::{Capabilities, Changes, Record, SessionStore};
//! use session_plus_core::{Result, RecordKey};
//! # fn unix_now() -> i64 { std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 }
//!
//! /// A toy backend: a map behind a mutex.
//! #[derive(Debug, Default)]
//! struct MapStore(Mutex<HashMap<String, Record>>);
//!
//! #[async_trait::async_trait]
//! impl SessionStore for MapStore {
//!     fn capabilities(&self) -> Capabilities {
//!         Capabilities::new().field_level_writes(true).compare_and_swap(true)
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
//!         match map.get_mut(&key.store_key()).filter(|r| r.is_writable(unix_now())) {
//!             Some(record) => { changes.apply_to(record); Ok(true) }
//!             None => Ok(false),
//!         }
//!     }
//!     async fn supersede(&self, key: &RecordKey, until: i64) -> Result<Option<Record>> {
//!         let mut map = self.0.lock().unwrap();
//!         let Some(record) = map.get_mut(&key.store_key()).filter(|r| r.is_writable(unix_now())) else {
//!             return Ok(None);
//!         };
//!         Ok(Some(std::mem::replace(record, record.tombstone(until))))
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
///
/// The serde names are compact and stable (the cookie formats use them); a
/// backend is free to lay the meta out however it likes in its own storage.
///
/// ```
/// use session_plus_core::store::RecordMeta;
///
/// let meta = RecordMeta::new(1_700_000_000, 1_700_086_400, "binding");
/// assert!(!meta.permanent && !meta.moved);
/// assert_eq!(meta.created, meta.accessed);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
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
    /// This record is a tombstone: the session moved to a new id (login) and
    /// the old id must neither be written nor restarted until `expires`.
    #[serde(rename = "m", default, skip_serializing_if = "std::ops::Not::not")]
    pub moved: bool,
}

impl RecordMeta {
    /// Meta of a new, non-permanent record created at `now`.
    pub fn new(now: i64, expires: i64, binding: impl Into<String>) -> Self {
        Self {
            permanent: false,
            created: now,
            accessed: now,
            expires,
            binding: binding.into(),
            moved: false,
        }
    }

    /// The same meta with `permanent` set.
    ///
    /// ```
    /// # use session_plus_core::store::RecordMeta;
    /// assert!(RecordMeta::new(1, 2, "b").with_permanent(true).permanent);
    /// ```
    #[must_use]
    pub fn with_permanent(mut self, permanent: bool) -> Self {
        self.permanent = permanent;
        self
    }

    /// The same meta with `created` set (the other times unchanged).
    #[must_use]
    pub fn with_created(mut self, created: i64) -> Self {
        self.created = created;
        self
    }

    /// The same meta with `moved` set (a tombstone, see [`Record::tombstone`]).
    #[must_use]
    pub fn with_moved(mut self, moved: bool) -> Self {
        self.moved = moved;
        self
    }
}

/// One session's data in one backend.
///
/// ```
/// use session_plus_core::store::{Fields, Record, RecordMeta};
///
/// let record = Record::new(Fields::new(), RecordMeta::new(1, 10, "b"));
/// assert!(record.is_live(5) && !record.is_live(10));
/// let stone = record.tombstone(20);
/// assert!(stone.is_live(15) && !stone.is_writable(15) && stone.fields.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Record {
    /// The fields this interface owns.
    pub fields: Fields,
    /// Lifetimes and permanence.
    pub meta: RecordMeta,
}

impl Record {
    /// A record from its fields and meta.
    pub fn new(fields: Fields, meta: RecordMeta) -> Self {
        Self { fields, meta }
    }

    /// Not yet expired at `now` (tombstones included).
    pub fn is_live(&self, now: i64) -> bool {
        self.meta.expires > now
    }

    /// Live and not a tombstone: `update`, `touch` and `supersede` apply.
    pub fn is_writable(&self, now: i64) -> bool {
        self.is_live(now) && !self.meta.moved
    }

    /// The tombstone that replaces this record when its session moves to a new
    /// id: no fields, `moved` set, the same binding, live until `until`.
    pub fn tombstone(&self, until: i64) -> Record {
        Record {
            fields: Fields::new(),
            meta: RecordMeta {
                expires: until,
                moved: true,
                ..self.meta.clone()
            },
        }
    }
}

/// How a write changes a record's meta. Merged field by field with what the
/// store holds, so concurrent requests never undo each other's meta:
///
/// - `permanent` is written only when the request changed permanence;
/// - `accessed` only moves forward;
/// - `expires` only moves forward, except when `shorten` is set (the request
///   made the session non-permanent and means the shorter lifetime);
/// - `created` and `binding` never change on update.
///
/// ```
/// use session_plus_core::store::{MetaUpdate, RecordMeta};
///
/// let mut meta = RecordMeta::new(100, 100 + 31 * 86_400, "b").with_permanent(true);
/// // A concurrent request that did not touch permanence refreshes with its
/// // own (shorter) lifetime: permanence and the longer expiry survive.
/// MetaUpdate::refresh(200, 200 + 86_400).apply_to(&mut meta);
/// assert!(meta.permanent);
/// assert_eq!(meta.expires, 100 + 31 * 86_400);
/// assert_eq!(meta.accessed, 200);
/// // Turning permanence off shortens on purpose.
/// MetaUpdate::refresh(300, 300 + 86_400).with_permanent(false).apply_to(&mut meta);
/// assert!(!meta.permanent);
/// assert_eq!(meta.expires, 300 + 86_400);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetaUpdate {
    /// New permanence, only when this request changed it.
    pub permanent: Option<bool>,
    /// The request's time (`accessed` becomes the later of this and the stored one).
    pub accessed: i64,
    /// The expiry this request computed.
    pub expires: i64,
    /// Set `expires` exactly even if it is earlier than the stored one.
    pub shorten: bool,
}

impl MetaUpdate {
    /// A refresh at `now` to `expires`, leaving permanence as stored.
    pub fn refresh(now: i64, expires: i64) -> Self {
        Self {
            permanent: None,
            accessed: now,
            expires,
            shorten: false,
        }
    }

    /// The same update that also sets permanence. Making a session
    /// non-permanent sets `shorten` (its lifetime is meant to shrink).
    #[must_use]
    pub fn with_permanent(mut self, permanent: bool) -> Self {
        self.permanent = Some(permanent);
        self.shorten = !permanent;
        self
    }

    /// The expiry to store when the stored one is `stored`.
    pub fn merged_expires(&self, stored: i64) -> i64 {
        if self.shorten {
            self.expires
        } else {
            self.expires.max(stored)
        }
    }

    /// Apply to a meta in memory (for backends that merge by hand).
    pub fn apply_to(&self, meta: &mut RecordMeta) {
        if let Some(p) = self.permanent {
            meta.permanent = p;
        }
        meta.accessed = meta.accessed.max(self.accessed);
        meta.expires = self.merged_expires(meta.expires);
    }
}

/// A delta to apply to an existing record.
///
/// ```
/// use session_plus_core::store::{Changes, MetaUpdate, Record, RecordMeta};
/// use serde_json::json;
///
/// let mut record = Record::new(
///     [("a".to_owned(), json!(1)), ("b".to_owned(), json!(2))].into(),
///     RecordMeta::new(1, 10, "b"),
/// );
/// let changes = Changes::new(MetaUpdate::refresh(5, 20))
///     .set("a", json!(5))
///     .remove("b");
/// changes.apply_to(&mut record);
/// assert_eq!(record.fields.get("a"), Some(&json!(5)));
/// assert!(record.fields.get("b").is_none());
/// assert_eq!(record.meta.expires, 20);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Changes {
    /// Fields inserted or changed, with their new values.
    pub set: Fields,
    /// Fields removed.
    pub remove: Vec<String>,
    /// How the meta changes (merged with the stored meta, see [`MetaUpdate`]).
    pub meta: MetaUpdate,
}

impl Changes {
    /// No field changes, only `meta`.
    pub fn new(meta: MetaUpdate) -> Self {
        Self {
            set: Fields::new(),
            remove: Vec::new(),
            meta,
        }
    }

    /// Also set `field` to `value`.
    #[must_use]
    pub fn set(mut self, field: impl Into<String>, value: serde_json::Value) -> Self {
        self.set.insert(field.into(), value);
        self
    }

    /// Also remove `field`.
    #[must_use]
    pub fn remove(mut self, field: impl Into<String>) -> Self {
        self.remove.push(field.into());
        self
    }

    /// Whether no field changes (a refresh or a permanence change only).
    pub fn fields_unchanged(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }

    /// Apply the delta to a record in memory (for backends that merge by hand,
    /// e.g. under compare-and-swap).
    pub fn apply_to(&self, record: &mut Record) {
        for f in &self.remove {
            record.fields.remove(f);
        }
        for (k, v) in &self.set {
            record.fields.insert(k.clone(), v.clone());
        }
        self.meta.apply_to(&mut record.meta);
    }

    /// The record a session moves to at login: `current` (what the old id held
    /// when it was superseded) with these changes applied and a new binding.
    ///
    /// ```
    /// use session_plus_core::store::{Changes, MetaUpdate, Record, RecordMeta};
    /// use serde_json::json;
    ///
    /// let old = Record::new([("a".to_owned(), json!(1))].into(), RecordMeta::new(1, 10, "old"));
    /// let moved = Changes::new(MetaUpdate::refresh(5, 20)).set("u", json!(7)).moved_record(&old, "new");
    /// assert_eq!(moved.fields.len(), 2);
    /// assert_eq!(moved.meta.binding, "new");
    /// assert_eq!(moved.meta.created, 1);
    /// ```
    pub fn moved_record(&self, current: &Record, binding: &str) -> Record {
        let mut record = current.clone();
        record.meta.moved = false;
        self.apply_to(&mut record);
        record.meta.binding = binding.to_owned();
        record
    }
}

/// What a backend can do natively; reported to the conformance suite and in
/// logs. The optional operations ([`SessionStore::delete_by_field`],
/// [`SessionStore::delete_expired`]) are claimed here, and the conformance
/// suite holds a backend to its claims.
///
/// ```
/// use session_plus_core::store::Capabilities;
///
/// let caps = Capabilities::new().field_level_writes(true).delete_by_field(true);
/// assert!(caps.field_level_writes && caps.delete_by_field && !caps.native_ttl);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Capabilities {
    /// Changes single fields without rewriting the record.
    pub field_level_writes: bool,
    /// Offers compare-and-swap (used to merge when fields cannot be written singly).
    pub compare_and_swap: bool,
    /// Expires records by itself.
    pub native_ttl: bool,
    /// Implements [`SessionStore::delete_by_field`].
    pub delete_by_field: bool,
    /// Needs [`SessionStore::delete_expired`] called to free expired records
    /// (and implements it).
    pub delete_expired: bool,
}

impl Capabilities {
    /// Nothing claimed.
    pub const fn new() -> Self {
        Self {
            field_level_writes: false,
            compare_and_swap: false,
            native_ttl: false,
            delete_by_field: false,
            delete_expired: false,
        }
    }
    /// Claim (or not) field-level writes.
    pub const fn field_level_writes(mut self, yes: bool) -> Self {
        self.field_level_writes = yes;
        self
    }
    /// Claim (or not) compare-and-swap.
    pub const fn compare_and_swap(mut self, yes: bool) -> Self {
        self.compare_and_swap = yes;
        self
    }
    /// Claim (or not) a native TTL.
    pub const fn native_ttl(mut self, yes: bool) -> Self {
        self.native_ttl = yes;
        self
    }
    /// Claim (or not) [`SessionStore::delete_by_field`].
    pub const fn delete_by_field(mut self, yes: bool) -> Self {
        self.delete_by_field = yes;
        self
    }
    /// Claim (or not) [`SessionStore::delete_expired`].
    pub const fn delete_expired(mut self, yes: bool) -> Self {
        self.delete_expired = yes;
        self
    }
}

/// A server-side session backend.
///
/// Implementations must be safe to share across requests and tasks. The core
/// wraps every call in the interface's timeout (unless the store promises a
/// shorter bound itself: [`call_timeout`](SessionStore::call_timeout)), so
/// implementations need not.
/// Errors should be made with [`crate::Error::backend`]. See the module docs for
/// a complete example.
///
/// Wrapper stores (counting, caching, instrumenting) must forward **every**
/// method, the optional ones included, or the wrapped backend's operations are
/// silently lost; the conformance suite checks that what
/// [`capabilities`](SessionStore::capabilities) claims really works.
#[async_trait::async_trait]
pub trait SessionStore: Debug + Send + Sync + 'static {
    /// What this backend does natively.
    fn capabilities(&self) -> Capabilities;

    /// Field names this backend's storage layout keeps for itself (e.g. the
    /// `_permanent` of a Flask-compatible layout). The session refuses them
    /// to handlers, as it does a cookie format's
    /// ([`CookieFormat::reserved_fields`](crate::cookie_format::CookieFormat::reserved_fields)),
    /// so a write to one is an error, never silently dropped. None by default.
    fn reserved_fields(&self) -> &[&str] {
        &[]
    }

    /// The longest one call of [`load`](SessionStore::load),
    /// [`create`](SessionStore::create), [`update`](SessionStore::update),
    /// [`touch`](SessionStore::touch), [`supersede`](SessionStore::supersede),
    /// [`move_to`](SessionStore::move_to) or [`delete`](SessionStore::delete)
    /// can take: by then it has returned, with a timeout error
    /// ([`Error::timeout`](crate::Error::timeout)) if it could not finish.
    /// `None` (the default): no such promise.
    ///
    /// The core bounds each of these calls with the interface's timeout. When
    /// the store's own bound is at most that timeout, the core's timer could
    /// never fire first, so the core leaves it out: one timer per call
    /// instead of two. A longer bound changes nothing (the core keeps its
    /// timer: a timeout never gets longer).
    ///
    /// Claim it only if it holds for the whole call, every round trip, retry
    /// and reconnect included. Unlike the other methods, wrapper stores must
    /// **not** forward it blindly: one that adds waiting of its own (pauses,
    /// queues, retries, extra round trips) keeps the default.
    ///
    /// ```
    /// use std::time::Duration;
    /// use session_plus_core::{store::SessionStore, MemoryStore};
    ///
    /// // Answers from memory, never waits: but it makes no promise either,
    /// // so the core times its calls.
    /// assert_eq!(MemoryStore::with_capacity(10).call_timeout(), None::<Duration>);
    /// ```
    fn call_timeout(&self) -> Option<std::time::Duration> {
        None
    }

    /// The record under `key`, or `None` if there is none or it has expired.
    /// A live tombstone (see [`Record::tombstone`]) is returned as it is.
    async fn load(&self, key: &RecordKey) -> Result<Option<Record>>;

    /// Store a new record under `key` unless a live one (or a live tombstone)
    /// exists there already (returns `false` then, and writes nothing).
    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool>;

    /// Apply `changes` to the live record under `key`, atomically with respect to
    /// other writes on the same id, merging the meta as [`MetaUpdate`] says.
    /// Returns `false`, writing nothing, if there is no live record or only a
    /// tombstone (a write must never resurrect a deleted or moved session).
    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool>;

    /// Move the expiry of a live record (idle-timeout refresh) without touching
    /// its fields. Returns `false` if there is no live record (or a tombstone).
    /// The default implementation is an `update` with no field changes.
    async fn touch(&self, key: &RecordKey, meta: &MetaUpdate) -> Result<bool> {
        self.update(key, &Changes::new(meta.clone())).await
    }

    /// Atomically replace the live record under `key` with its tombstone
    /// ([`Record::tombstone`], live until `until`) and return the record as it
    /// was at that instant; `None`, writing nothing, when there is no live
    /// record (or only a tombstone). No write to `key` may be applied after the
    /// returned snapshot was taken.
    async fn supersede(&self, key: &RecordKey, until: i64) -> Result<Option<Record>>;

    /// Move a session to a new id (login): supersede `from` (tombstone until
    /// `tombstone_until`), then create `to` with [`Changes::moved_record`].
    /// Returns `false`, creating nothing, when `from` has no live record.
    ///
    /// The default is exactly that, in two calls; backends that can do both in
    /// one round trip may override it with the same semantics.
    async fn move_to(
        &self,
        from: &RecordKey,
        to: &RecordKey,
        changes: &Changes,
        binding: &str,
        tombstone_until: i64,
    ) -> Result<bool> {
        let Some(current) = self.supersede(from, tombstone_until).await? else {
            return Ok(false);
        };
        let record = changes.moved_record(&current, binding);
        if self.create(to, &record).await? {
            Ok(true)
        } else {
            Err(crate::Error::backend(
                "",
                "the new session id is already taken (broken random number generator?)",
            ))
        }
    }

    /// Delete the record under `key` (tombstones included); deleting a missing
    /// record is not an error. The core calls it only for records it has proven
    /// to belong to the session (binding checked).
    async fn delete(&self, key: &RecordKey) -> Result<()>;

    /// Delete every record under `prefix` whose field `field` holds `value`
    /// (e.g. every session of one user after a password change), returning how
    /// many went. Backends that cannot search by field keep the default, which
    /// answers [`Error::unsupported`](crate::Error::unsupported), and do not
    /// claim [`Capabilities::delete_by_field`].
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
    /// with native TTLs keep the default, which answers
    /// [`Error::unsupported`](crate::Error::unsupported); backends that need it
    /// claim [`Capabilities::delete_expired`].
    async fn delete_expired(&self) -> Result<u64> {
        Err(crate::Error::unsupported("", "delete_expired"))
    }
}

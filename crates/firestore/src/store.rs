//! `FirestoreStore`: the `SessionStore` over the REST client.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};
use session_plus_core::store::{Capabilities, Changes, Record, RecordMeta, SessionStore};
use session_plus_core::{unix_now, Error, RecordKey, Result};

use crate::client::{Document, FirestoreClient};
use crate::value::{self, is_reserved_name, quote_field};

/// Name of the expiry field (a timestamp): put Firestore's TTL policy on it.
pub const EXPIRATION_FIELD: &str = "_expiration";
/// Name of the permanence field (a boolean).
pub const PERMANENT_FIELD: &str = "_permanent";
/// Prefix of session fields in the session-plus layout (`user_id` is stored
/// as `f_user_id`), so no session field can collide with the meta fields
/// or with Firestore's reserved `__name__` form.
pub const FIELD_PREFIX: &str = "f_";

const CREATED: &str = "_created";
const ACCESSED: &str = "_accessed";
const BINDING: &str = "_binding";
const MOVED: &str = "_moved";

/// Attempts of one conditional write under contention before giving up
/// (the interface's timeout usually ends it first).
const MAX_ATTEMPTS: u32 = 100;
/// Longest pause between two attempts (each pause is random, up to
/// `2^attempt` ms, so contenders spread out instead of colliding again).
const MAX_BACKOFF_MS: u64 = 64;

/// Wait a little before attempt `attempt` of a conditional write.
async fn backoff(attempt: u32) {
    if attempt == 0 {
        return;
    }
    let cap = (1u64 << attempt.min(16)).min(MAX_BACKOFF_MS);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    let jitter = nanos.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    tokio::time::sleep(Duration::from_millis(jitter % (cap + 1))).await;
}
/// Documents per commit in the bulk deletes (Firestore allows 500).
const DELETE_BATCH: usize = 500;
/// Remembered document versions (see `Versions`).
const VERSIONS_CAP: usize = 16_384;

/// How records are laid out in documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Values as JSON text under `f_` + name, full meta.
    SessionPlus,
    /// flask-session-plus: native values under the field's own name,
    /// `_expiration` and `_permanent` only.
    Flask {
        lifetime: i64,
        permanent_lifetime: i64,
    },
}

/// Server-side sessions in Google Cloud Firestore, one document per session.
///
/// ```no_run
/// # async fn demo() -> session_plus_core::Result<()> {
/// use std::sync::Arc;
/// use session_plus_core::{FieldRules, Interface, Key, SessionManager};
/// use session_plus_firestore::{FirestoreClient, FirestoreStore};
///
/// // The seed's `'client': firestore.Client(), 'collection': 'sessions'`:
/// let client = FirestoreClient::from_env("my-project").await?;
/// let store = FirestoreStore::new(client, "sessions")?;
/// let manager = SessionManager::builder()
///     .keys(Key::generate())
///     .interface(Interface::store("session", Arc::new(store))
///         .fields(FieldRules::include(["user_id", "user_data"])))
///     .build()?;
/// # let _ = manager; Ok(()) }
/// ```
///
/// See the crate documentation for the layout, the round trips per call and
/// how writes stay safe without transactions.
#[derive(Clone)]
pub struct FirestoreStore {
    client: FirestoreClient,
    collection: Arc<str>,
    layout: Layout,
    versions: Arc<Versions>,
}

impl fmt::Debug for FirestoreStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FirestoreStore")
            .field("client", &self.client)
            .field("collection", &self.collection)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

/// The last version (`updateTime`) and meta seen of recent documents, so an
/// update right after a load is one conditional commit. Only a hint: every
/// write made from it carries the version as a precondition, so a stale
/// entry costs a retry, never a wrong write.
#[derive(Default)]
struct Versions(Mutex<HashMap<String, (String, RecordMeta)>>);

impl Versions {
    fn get(&self, id: &str) -> Option<(String, RecordMeta)> {
        self.0.lock().ok()?.get(id).cloned()
    }
    fn put(&self, id: &str, version: &str, meta: &RecordMeta) {
        if version.is_empty() {
            return self.forget(id);
        }
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= VERSIONS_CAP && !map.contains_key(id) {
                map.clear();
            }
            map.insert(id.to_owned(), (version.to_owned(), meta.clone()));
        }
    }
    fn forget(&self, id: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(id);
        }
    }
}

fn check_collection(collection: &str) -> Result<()> {
    if collection.is_empty()
        || collection.contains('/')
        || collection == "."
        || collection == ".."
        || is_reserved_name(collection)
    {
        return Err(Error::config(
            "",
            "collection",
            "must be a non-empty Firestore collection id without `/`",
        ));
    }
    Ok(())
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)
}

impl FirestoreStore {
    /// Sessions in `collection` (the seed's `collection`), session-plus layout.
    ///
    /// ```
    /// use session_plus_firestore::{FirestoreClient, FirestoreStore};
    ///
    /// let client = FirestoreClient::emulator("127.0.0.1:8080", "demo");
    /// let store = FirestoreStore::new(client.clone(), "sessions").unwrap();
    /// assert_eq!(store.collection(), "sessions");
    /// assert_eq!(store.client().project_id(), "demo");
    /// assert!(FirestoreStore::new(client, "a/b").unwrap_err().is_config());
    /// ```
    ///
    /// # Errors
    /// A configuration error if `collection` is not a valid collection id.
    pub fn new(client: FirestoreClient, collection: &str) -> Result<Self> {
        Self::with_layout(client, collection, Layout::SessionPlus)
    }

    pub(crate) fn with_layout(
        client: FirestoreClient,
        collection: &str,
        layout: Layout,
    ) -> Result<Self> {
        check_collection(collection)?;
        Ok(Self {
            client,
            collection: collection.into(),
            layout,
            versions: Arc::default(),
        })
    }

    /// Records laid out as flask-session-plus's `firestore` backend writes
    /// them (see [`crate::flask`]), with its default lifetimes (1 day, 31
    /// days when permanent); set them to the interface's with
    /// [`lifetimes`](Self::lifetimes).
    ///
    /// ```
    /// use std::time::Duration;
    /// use session_plus_firestore::{FirestoreClient, FirestoreStore};
    ///
    /// let client = FirestoreClient::emulator("127.0.0.1:8080", "demo");
    /// let store = FirestoreStore::flask_session_plus(client, "sessions")
    ///     .unwrap()
    ///     .lifetimes(Duration::from_secs(3600), Duration::from_secs(7 * 86_400));
    /// assert_eq!(store.collection(), "sessions");
    /// ```
    ///
    /// # Errors
    /// A configuration error if `collection` is not a valid collection id.
    pub fn flask_session_plus(client: FirestoreClient, collection: &str) -> Result<Self> {
        Self::with_layout(
            client,
            collection,
            Layout::Flask {
                lifetime: 24 * 3600,
                permanent_lifetime: 31 * 24 * 3600,
            },
        )
    }

    /// The interface's `session_lifetime` and `session_permanent_lifetime`
    /// (flask-session-plus layout only: it keeps no last-access time, so the
    /// store derives it from the expiry and the lifetime).
    #[must_use]
    pub fn lifetimes(mut self, session: Duration, permanent: Duration) -> Self {
        if let Layout::Flask { .. } = self.layout {
            self.layout = Layout::Flask {
                lifetime: secs(session),
                permanent_lifetime: secs(permanent),
            };
        }
        self
    }

    /// The client.
    pub fn client(&self) -> &FirestoreClient {
        &self.client
    }

    /// The collection.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    fn is_flask(&self) -> bool {
        matches!(self.layout, Layout::Flask { .. })
    }

    fn doc_id(key: &RecordKey) -> Result<String> {
        let id = key.store_key();
        if key.prefix().contains('/') || is_reserved_name(&id) {
            return Err(Error::config(
                "",
                "key_prefix",
                "a Firestore document id cannot contain `/`",
            ));
        }
        Ok(id)
    }

    fn name(&self, id: &str) -> String {
        self.client.document_name(&self.collection, id)
    }

    /// The document field holding session field `field`.
    fn stored_name(&self, field: &str) -> Result<String> {
        match self.layout {
            Layout::SessionPlus => Ok(format!("{FIELD_PREFIX}{field}")),
            Layout::Flask { .. } => {
                if field == EXPIRATION_FIELD || field == PERMANENT_FIELD {
                    Err(Error::invalid_field(
                        field,
                        "is flask-session-plus's own field in Firestore",
                    ))
                } else if is_reserved_name(field) {
                    Err(Error::invalid_field(
                        field,
                        "Firestore reserves names of the form __name__",
                    ))
                } else {
                    Ok(field.to_owned())
                }
            }
        }
    }

    fn stored_value(&self, field: &str, v: &Value) -> Result<Value> {
        match self.layout {
            Layout::SessionPlus => Ok(json!({ "stringValue": v.to_string() })),
            Layout::Flask { .. } => value::to_native(v, 0).map_err(|why| {
                Error::serialization(field, format!("no Firestore form for this value: {why}"))
            }),
        }
    }

    /// The meta fields of a whole document.
    fn meta_fields(&self, meta: &RecordMeta, out: &mut Map<String, Value>) {
        out.insert(EXPIRATION_FIELD.into(), value::timestamp(meta.expires));
        out.insert(
            PERMANENT_FIELD.into(),
            json!({ "booleanValue": meta.permanent }),
        );
        if self.layout == Layout::SessionPlus {
            out.insert(
                CREATED.into(),
                json!({ "integerValue": meta.created.to_string() }),
            );
            out.insert(
                ACCESSED.into(),
                json!({ "integerValue": meta.accessed.to_string() }),
            );
            out.insert(BINDING.into(), json!({ "stringValue": meta.binding }));
            out.insert(MOVED.into(), json!({ "booleanValue": meta.moved }));
        }
    }

    /// A whole document for `record`.
    fn encode(&self, id: &str, record: &Record) -> Result<Value> {
        let mut fields = Map::new();
        for (k, v) in &record.fields {
            fields.insert(self.stored_name(k)?, self.stored_value(k, v)?);
        }
        self.meta_fields(&record.meta, &mut fields);
        Ok(json!({ "name": self.name(id), "fields": fields }))
    }

    /// The record in a document, `None` (logged) when it is not one.
    fn decode(&self, doc: &Document, now: i64) -> Option<Record> {
        let got = self.try_decode(doc, now);
        if let Err(why) = &got {
            tracing::warn!(
                collection = %self.collection,
                "Firestore document is not a session record ({why}); treated as absent"
            );
        }
        got.ok()
    }

    fn try_decode(&self, doc: &Document, now: i64) -> std::result::Result<Record, &'static str> {
        let expires = doc
            .fields
            .get(EXPIRATION_FIELD)
            .and_then(|v| v["timestampValue"].as_str())
            .and_then(value::parse_timestamp)
            .ok_or("no _expiration timestamp")?;
        let permanent = doc
            .fields
            .get(PERMANENT_FIELD)
            .and_then(|v| v["booleanValue"].as_bool())
            .unwrap_or(false);
        let mut fields = session_plus_core::store::Fields::new();
        match self.layout {
            Layout::SessionPlus => {
                let int = |name: &str| -> Option<i64> {
                    doc.fields.get(name)?["integerValue"].as_str()?.parse().ok()
                };
                let created = int(CREATED).ok_or("no _created")?;
                let accessed = int(ACCESSED).ok_or("no _accessed")?;
                let binding = doc
                    .fields
                    .get(BINDING)
                    .and_then(|v| v["stringValue"].as_str())
                    .unwrap_or_default();
                let moved = doc
                    .fields
                    .get(MOVED)
                    .and_then(|v| v["booleanValue"].as_bool())
                    .unwrap_or(false);
                for (k, v) in &doc.fields {
                    let Some(name) = k.strip_prefix(FIELD_PREFIX) else {
                        continue;
                    };
                    let text = v["stringValue"]
                        .as_str()
                        .ok_or("a field is not JSON text")?;
                    let parsed = serde_json::from_str(text).map_err(|_| "a field is not JSON")?;
                    fields.insert(name.to_owned(), parsed);
                }
                let meta = RecordMeta::new(created, expires, binding)
                    .with_permanent(permanent)
                    .with_moved(moved);
                let mut meta = meta;
                meta.accessed = accessed;
                Ok(Record::new(fields, meta))
            }
            Layout::Flask {
                lifetime,
                permanent_lifetime,
            } => {
                for (k, v) in &doc.fields {
                    if k == EXPIRATION_FIELD || k == PERMANENT_FIELD {
                        continue;
                    }
                    fields.insert(k.clone(), value::from_native(v)?);
                }
                let lifetime = if permanent {
                    permanent_lifetime
                } else {
                    lifetime
                };
                let accessed = expires.saturating_sub(lifetime).min(now);
                let mut meta = RecordMeta::new(accessed, expires, "").with_permanent(permanent);
                meta.accessed = accessed;
                Ok(Record::new(fields, meta))
            }
        }
    }

    /// The current document and its record (`None`: absent or not a record).
    async fn fetch(&self, id: &str, now: i64) -> Result<Option<(Record, String)>> {
        let Some(doc) = self.client.get(&self.collection, id).await? else {
            self.versions.forget(id);
            return Ok(None);
        };
        Ok(self.decode(&doc, now).map(|r| (r, doc.update_time)))
    }

    /// One commit; `Ok(None)` when a precondition failed.
    async fn commit(&self, writes: Vec<Value>) -> Result<Option<Vec<String>>> {
        match self.client.commit(writes).await {
            Ok(times) => Ok(Some(times)),
            Err(e) if e.is_conflict() || e.is_exists() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The write that applies `changes` to a document whose meta is `meta`
    /// at version `version`.
    fn update_write(
        &self,
        id: &str,
        changes: &Changes,
        merged: &RecordMeta,
        version: &str,
    ) -> Result<Value> {
        let mut fields = Map::new();
        let mut mask = Vec::with_capacity(changes.set.len() + changes.remove.len() + 3);
        for (k, v) in &changes.set {
            let stored = self.stored_name(k)?;
            mask.push(quote_field(&stored));
            fields.insert(stored, self.stored_value(k, v)?);
        }
        for k in &changes.remove {
            if changes.set.contains_key(k) {
                continue;
            }
            let Ok(stored) = self.stored_name(k) else {
                continue; // never stored under that name
            };
            mask.push(quote_field(&stored));
        }
        mask.sort_unstable();
        mask.dedup();
        fields.insert(EXPIRATION_FIELD.into(), value::timestamp(merged.expires));
        fields.insert(
            PERMANENT_FIELD.into(),
            json!({ "booleanValue": merged.permanent }),
        );
        mask.extend([EXPIRATION_FIELD.to_owned(), PERMANENT_FIELD.to_owned()]);
        if self.layout == Layout::SessionPlus {
            fields.insert(
                ACCESSED.into(),
                json!({ "integerValue": merged.accessed.to_string() }),
            );
            mask.push(ACCESSED.to_owned());
        }
        Ok(json!({
            "update": { "name": self.name(id), "fields": fields },
            "updateMask": { "fieldPaths": mask },
            "currentDocument": { "updateTime": version },
        }))
    }

    fn create_write(&self, id: &str, record: &Record) -> Result<Value> {
        Ok(json!({
            "update": self.encode(id, record)?,
            "currentDocument": { "exists": false },
        }))
    }

    fn replace_write(&self, id: &str, record: &Record, version: &str) -> Result<Value> {
        Ok(json!({
            "update": self.encode(id, record)?,
            "currentDocument": { "updateTime": version },
        }))
    }

    /// What superseding leaves at the old id: a tombstone document, or (in
    /// the flask-session-plus layout, which has nowhere to mark one that
    /// Python would not read as session data) nothing.
    fn supersede_write(
        &self,
        id: &str,
        current: &Record,
        until: i64,
        version: &str,
    ) -> Result<Value> {
        if self.is_flask() {
            Ok(json!({ "delete": self.name(id), "currentDocument": { "updateTime": version } }))
        } else {
            self.replace_write(id, &current.tombstone(until), version)
        }
    }

    async fn bulk_delete(&self, docs: Vec<Document>, conditional: bool) -> Result<u64> {
        let mut deleted = 0u64;
        for chunk in docs.chunks(DELETE_BATCH) {
            let write = |d: &Document| {
                if conditional {
                    json!({ "delete": d.name, "currentDocument": { "updateTime": d.update_time } })
                } else {
                    json!({ "delete": d.name })
                }
            };
            if self
                .commit(chunk.iter().map(write).collect())
                .await?
                .is_some()
            {
                deleted += chunk.len() as u64;
                for d in chunk {
                    self.versions.forget(d.id());
                }
                continue;
            }
            // One of them changed since the query: one by one.
            for d in chunk {
                if self.commit(vec![write(d)]).await?.is_some() {
                    deleted += 1;
                    self.versions.forget(d.id());
                }
            }
        }
        Ok(deleted)
    }

    fn contention() -> Error {
        Error::backend(
            "firestore",
            "the session document kept changing under a conditional write; gave up",
        )
    }
}

#[async_trait::async_trait]
impl SessionStore for FirestoreStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .field_level_writes(true)
            .compare_and_swap(true)
            .delete_by_field(true)
            .delete_expired(true)
    }

    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        let id = Self::doc_id(key)?;
        let now = unix_now();
        let Some((record, version)) = self.fetch(&id, now).await? else {
            return Ok(None);
        };
        if !record.is_live(now) {
            self.versions.forget(&id);
            return Ok(None);
        }
        self.versions.put(&id, &version, &record.meta);
        Ok(Some(record))
    }

    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        let id = Self::doc_id(key)?;
        let mut write = self.create_write(&id, record)?;
        for attempt in 0..MAX_ATTEMPTS {
            backoff(attempt).await;
            if let Some(times) = self.commit(vec![write]).await? {
                self.versions
                    .put(&id, times.first().map_or("", String::as_str), &record.meta);
                return Ok(true);
            }
            // Taken, or it changed: create only over an expired document.
            let now = unix_now();
            write = match self.client.get(&self.collection, &id).await? {
                None => self.create_write(&id, record)?,
                Some(doc) => match self.decode(&doc, now) {
                    Some(old) if !old.is_live(now) => {
                        self.replace_write(&id, record, &doc.update_time)?
                    }
                    // Live, or unreadable: never overwritten.
                    _ => return Ok(false),
                },
            };
        }
        Err(Self::contention())
    }

    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        let id = Self::doc_id(key)?;
        let mut known = self
            .versions
            .get(&id)
            .filter(|(_, meta)| meta.expires > unix_now() && !meta.moved);
        for attempt in 0..MAX_ATTEMPTS {
            backoff(attempt).await;
            let (version, meta) = match known.take() {
                Some(hit) => hit,
                None => {
                    let now = unix_now();
                    match self.fetch(&id, now).await? {
                        Some((record, version)) if record.is_writable(now) => {
                            (version, record.meta)
                        }
                        _ => return Ok(false),
                    }
                }
            };
            let mut merged = meta;
            changes.meta.apply_to(&mut merged);
            let write = self.update_write(&id, changes, &merged, &version)?;
            match self.commit(vec![write]).await? {
                Some(times) => {
                    self.versions
                        .put(&id, times.first().map_or("", String::as_str), &merged);
                    return Ok(true);
                }
                None => self.versions.forget(&id),
            }
        }
        Err(Self::contention())
    }

    async fn supersede(&self, key: &RecordKey, until: i64) -> Result<Option<Record>> {
        let id = Self::doc_id(key)?;
        for attempt in 0..MAX_ATTEMPTS {
            backoff(attempt).await;
            let now = unix_now();
            let Some((current, version)) = self.fetch(&id, now).await? else {
                return Ok(None);
            };
            if !current.is_writable(now) {
                return Ok(None);
            }
            let write = self.supersede_write(&id, &current, until, &version)?;
            if let Some(times) = self.commit(vec![write]).await? {
                if self.is_flask() {
                    self.versions.forget(&id);
                } else {
                    let stone = current.tombstone(until);
                    self.versions
                        .put(&id, times.first().map_or("", String::as_str), &stone.meta);
                }
                return Ok(Some(current));
            }
        }
        Err(Self::contention())
    }

    async fn move_to(
        &self,
        from: &RecordKey,
        to: &RecordKey,
        changes: &Changes,
        binding: &str,
        tombstone_until: i64,
    ) -> Result<bool> {
        let (old_id, new_id) = (Self::doc_id(from)?, Self::doc_id(to)?);
        for attempt in 0..MAX_ATTEMPTS {
            backoff(attempt).await;
            let now = unix_now();
            let Some((current, version)) = self.fetch(&old_id, now).await? else {
                return Ok(false);
            };
            if !current.is_writable(now) {
                return Ok(false);
            }
            let record = changes.moved_record(&current, binding);
            // Both in one commit: the old id superseded only if the snapshot
            // is still current, the new one created only if absent.
            let writes = vec![
                self.supersede_write(&old_id, &current, tombstone_until, &version)?,
                self.create_write(&new_id, &record)?,
            ];
            match self.client.commit(writes).await {
                Ok(times) => {
                    self.versions.forget(&old_id);
                    self.versions.put(
                        &new_id,
                        times.get(1).map_or("", String::as_str),
                        &record.meta,
                    );
                    return Ok(true);
                }
                Err(e) if e.is_exists() => {
                    return Err(Error::backend(
                        "firestore",
                        "the new session id is already taken (broken random number generator?)",
                    ))
                }
                Err(e) if e.is_conflict() => self.versions.forget(&old_id),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Self::contention())
    }

    async fn delete(&self, key: &RecordKey) -> Result<()> {
        let id = Self::doc_id(key)?;
        self.versions.forget(&id);
        self.client
            .commit(vec![json!({ "delete": self.name(&id) })])
            .await?;
        Ok(())
    }

    async fn delete_by_field(&self, prefix: &str, field: &str, value: &Value) -> Result<u64> {
        let stored = self.stored_name(field)?;
        let query = json!({
            "from": [{ "collectionId": &*self.collection }],
            "where": { "fieldFilter": {
                "field": { "fieldPath": quote_field(&stored) },
                "op": "EQUAL",
                "value": self.stored_value(field, value)?,
            }},
            "select": { "fields": [{ "fieldPath": "__name__" }] },
        });
        let docs = self.client.run_query(query).await?;
        let mine: Vec<Document> = docs
            .into_iter()
            .filter(|d| d.id().starts_with(prefix))
            .collect();
        self.bulk_delete(mine, false).await
    }

    async fn delete_expired(&self) -> Result<u64> {
        let query = json!({
            "from": [{ "collectionId": &*self.collection }],
            "where": { "fieldFilter": {
                "field": { "fieldPath": EXPIRATION_FIELD },
                "op": "LESS_THAN_OR_EQUAL",
                "value": value::timestamp(unix_now()),
            }},
            "select": { "fields": [{ "fieldPath": "__name__" }] },
        });
        let docs = self.client.run_query(query).await?;
        // Conditional on the version the query saw: a record refreshed since
        // is not deleted.
        self.bulk_delete(docs, true).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_plus_core::SessionId;

    fn unreachable_flask_store() -> FirestoreStore {
        // Nothing listens there: every refusal below happens before any call.
        let client = FirestoreClient::emulator("127.0.0.1:9", "p");
        FirestoreStore::flask_session_plus(client, "sessions").unwrap()
    }

    #[tokio::test]
    async fn flask_layout_refuses_what_python_cannot_read() {
        let store = unreachable_flask_store();
        let key = RecordKey::new("session", SessionId::generate());
        let meta = RecordMeta::new(1, unix_now() + 60, "");
        for (name, value) in [
            ("big", json!(u64::MAX)),
            ("nested", json!([[1, 2]])),
            ("reserved_key", json!({"__x__": 1})),
        ] {
            let record = Record::new([(name.to_owned(), value)].into(), meta.clone());
            let err = store.create(&key, &record).await.unwrap_err();
            assert!(err.is_serialization(), "{name}: {err:?}");
            assert_eq!(err.status_code(), 400);
        }
        for name in [EXPIRATION_FIELD, "__name__"] {
            let record = Record::new([(name.to_owned(), json!(1))].into(), meta.clone());
            let err = store.create(&key, &record).await.unwrap_err();
            assert!(err.is_invalid_field(), "{name}: {err:?}");
        }
        // Errors never carry the document name (it holds the session id).
        let err = store.load(&key).await.unwrap_err();
        assert!(err.is_backend());
        let text = format!("{err} {err:?}");
        assert!(!text.contains(key.id().as_str()), "{text}");
    }

    #[test]
    fn collections_and_prefixes_are_checked() {
        let client = FirestoreClient::emulator("127.0.0.1:9", "p");
        for bad in ["", "a/b", "..", "__x__"] {
            assert!(FirestoreStore::new(client.clone(), bad).is_err(), "{bad:?}");
        }
        let key = RecordKey::new("a/", SessionId::generate());
        assert!(FirestoreStore::doc_id(&key).is_err());
    }
}

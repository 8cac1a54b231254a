//! [`MongoStore`]: the [`SessionStore`] over one MongoDB collection.

use std::fmt;
use std::time::Duration;

use mongodb::bson::{doc, Document};
use mongodb::options::{
    Acknowledgment, ClientOptions, CollectionOptions, IndexOptions, ReadPreference, ReturnDocument,
    SelectionCriteria, WriteConcern,
};
use mongodb::{Client, Collection, IndexModel};
use session_plus_core::store::{Capabilities, Changes, Record, SessionStore};
use session_plus_core::{unix_now, Error, RecordKey, Result};

use crate::error::{backend, is_duplicate_key, LABEL};
use crate::layout::{
    date, decode, decode_snapshot, field_path, record_document, to_bson, ACCESSED, EXPIRES, FIELDS,
    MOVED, PERMANENT,
};

/// Server codes for an index that exists with other options or another name.
const INDEX_CONFLICTS: [i32; 2] = [85, 86];

/// Choices for a [`MongoStore`] beyond its client, database and collection.
///
/// ```
/// use session_plus_mongodb::MongoOptions;
/// use session_plus_mongodb::mongodb::options::WriteConcern;
///
/// // Indexes are managed elsewhere; acknowledge writes on one node only.
/// let options = MongoOptions::default()
///     .ttl_index(false)
///     .write_concern(WriteConcern::nodes(1));
/// assert!(!options.creates_ttl_index());
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct MongoOptions {
    skip_ttl_index: bool,
    write_concern: Option<WriteConcern>,
}

impl MongoOptions {
    /// Whether the store creates the TTL index on `expires` when it is built
    /// (default `true`). Turn it off when indexes are managed by other means;
    /// without a TTL index expired documents stay until
    /// [`SessionStore::delete_expired`] removes them (the store then claims it
    /// in its capabilities).
    pub fn ttl_index(mut self, create: bool) -> Self {
        self.skip_ttl_index = !create;
        self
    }

    /// Whether the TTL index is created at start-up.
    pub fn creates_ttl_index(&self) -> bool {
        !self.skip_ttl_index
    }

    /// The write concern of every write. Default: the client's, if its
    /// options or URL set one (`w=...`), else `w: "majority"` (see the crate
    /// docs). An unacknowledged concern (`w: 0`) is refused when the store is
    /// built: the store must know whether a write matched.
    pub fn write_concern(mut self, concern: WriteConcern) -> Self {
        self.write_concern = Some(concern);
        self
    }
}

/// A session backend keeping one MongoDB document per record.
///
/// See the [crate docs](crate) for the layout, the round trips per call and
/// the failure behaviour. Cheap to clone; clones share the client.
///
/// ```no_run
/// # async fn demo() -> session_plus_core::Result<()> {
/// use std::sync::Arc;
/// use session_plus_core::{FieldRules, Interface};
/// use session_plus_mongodb::{mongodb::Client, MongoStore};
///
/// let client = Client::with_uri_str("mongodb://127.0.0.1:27017/?replicaSet=rs0")
///     .await
///     .map_err(|e| session_plus_core::Error::backend("session", e))?;
/// let store = MongoStore::new(client, "app", "sessions").await?;
/// let interface = Interface::store("session", Arc::new(store))
///     .fields(FieldRules::include(["user_id"]));
/// # let _ = interface; Ok(()) }
/// ```
#[derive(Clone)]
pub struct MongoStore {
    collection: Collection<Document>,
    ttl_index: bool,
}

impl fmt::Debug for MongoStore {
    // Never the client's options: they may hold credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoStore")
            .field("namespace", &self.collection.namespace().to_string())
            .field("ttl_index", &self.ttl_index)
            .finish()
    }
}

impl MongoStore {
    /// A store on `db.collection` through `client` (the seed's `client`, `db`
    /// and `collection`), creating the TTL index on `expires` if it is missing.
    ///
    /// # Errors
    /// A configuration error for an empty database or collection name, or a
    /// backend error when the index cannot be created (server unreachable
    /// within the client's server selection timeout, or an index on `expires`
    /// with other options exists).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use session_plus_mongodb::{mongodb::Client, MongoStore};
    ///
    /// let client = Client::with_uri_str("mongodb://127.0.0.1:27017").await?;
    /// let store = MongoStore::new(client.clone(), "app", "sessions").await?;
    /// # let _ = store; Ok(()) }
    /// ```
    pub async fn new(client: Client, db: &str, collection: &str) -> Result<Self> {
        Self::with_options(client, db, collection, MongoOptions::default()).await
    }

    /// [`MongoStore::new`] with [`MongoOptions`]. With the TTL index turned
    /// off, nothing is sent to the server here.
    ///
    /// # Errors
    /// As [`MongoStore::new`]; also a configuration error for an
    /// unacknowledged write concern.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use session_plus_mongodb::{mongodb::Client, MongoOptions, MongoStore};
    ///
    /// let client = Client::with_uri_str("mongodb://127.0.0.1:27017/?replicaSet=rs0").await?;
    /// // The TTL index is created by the deployment scripts: nothing is sent here.
    /// let options = MongoOptions::default().ttl_index(false);
    /// let store = MongoStore::with_options(client, "app", "sessions", options).await?;
    /// # let _ = store; Ok(()) }
    /// ```
    pub async fn with_options(
        client: Client,
        db: &str,
        collection: &str,
        options: MongoOptions,
    ) -> Result<Self> {
        Self::build(LABEL, client, db, collection, options).await
    }

    /// Connect to `url` (`mongodb://...`, `replicaSet=` and the other
    /// connection-string options as the driver documents them), then
    /// [`MongoStore::with_options`]. The server is contacted here, so a wrong
    /// address fails now (after the URL's `serverSelectionTimeoutMS`, 30 s by
    /// default).
    ///
    /// ```no_run
    /// # async fn demo() -> session_plus_core::Result<()> {
    /// use session_plus_mongodb::{MongoOptions, MongoStore};
    ///
    /// let store = MongoStore::from_url(
    ///     "mongodb://db1:27017,db2:27017/?replicaSet=rs0&serverSelectionTimeoutMS=5000",
    ///     "app",
    ///     "sessions",
    ///     MongoOptions::default(),
    /// )
    /// .await?;
    /// # let _ = store; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A configuration error naming `url` for a malformed URL (the URL itself
    /// is never repeated: it may hold a password), else as
    /// [`MongoStore::with_options`], or a backend error when the server does
    /// not answer.
    pub async fn from_url(
        url: &str,
        db: &str,
        collection: &str,
        options: MongoOptions,
    ) -> Result<Self> {
        Self::connect(LABEL, url, db, collection, options).await
    }

    pub(crate) async fn connect(
        interface: &str,
        url: &str,
        db: &str,
        collection: &str,
        options: MongoOptions,
    ) -> Result<Self> {
        let mut client_options = ClientOptions::parse(url).await.map_err(|e| {
            Error::config(
                interface,
                "url",
                format!(
                    "not a usable MongoDB connection string ({})",
                    url_problem(&e)
                ),
            )
        })?;
        if client_options.app_name.is_none() {
            client_options.app_name = Some("session-plus".to_owned());
        }
        let client = Client::with_options(client_options)
            .map_err(|e| Error::config(interface, "url", url_problem(&e)))?;
        let ttl = options.creates_ttl_index();
        let store = Self::build(interface, client.clone(), db, collection, options).await?;
        if !ttl {
            // The index build did not contact the server: check it answers.
            client
                .database(db)
                .run_command(doc! { "ping": 1 })
                .await
                .map_err(|e| backend(interface, "ping", &e))?;
        }
        Ok(store)
    }

    async fn build(
        interface: &str,
        client: Client,
        db: &str,
        collection: &str,
        options: MongoOptions,
    ) -> Result<Self> {
        if db.is_empty() {
            return Err(Error::config(interface, "db", "must not be empty"));
        }
        if collection.is_empty() {
            return Err(Error::config(interface, "collection", "must not be empty"));
        }
        // Named after where it came from: the options, or the client (URL).
        let source = if options.write_concern.is_some() {
            "write_concern"
        } else {
            "url"
        };
        let concern = options
            .write_concern
            .clone()
            .or_else(|| client.write_concern().cloned())
            .unwrap_or_else(WriteConcern::majority);
        if concern.w == Some(Acknowledgment::Nodes(0)) && concern.journal != Some(true) {
            return Err(Error::config(
                interface,
                source,
                "an unacknowledged write concern (w: 0) cannot tell whether a session write matched",
            ));
        }
        let collection_options = CollectionOptions::builder()
            .write_concern(concern)
            .selection_criteria(SelectionCriteria::ReadPreference(ReadPreference::Primary))
            .build();
        let collection = client
            .database(db)
            .collection_with_options::<Document>(collection, collection_options);
        let store = Self {
            collection,
            ttl_index: options.creates_ttl_index(),
        };
        if store.ttl_index {
            store.create_ttl_index(interface).await?;
        }
        Ok(store)
    }

    async fn create_ttl_index(&self, interface: &str) -> Result<()> {
        let index = IndexModel::builder()
            .keys(doc! { EXPIRES: 1 })
            .options(IndexOptions::builder().expire_after(Duration::ZERO).build())
            .build();
        match self.collection.create_index(index).await {
            Ok(_) => Ok(()),
            Err(e) if server_code(&e).is_some_and(|c| INDEX_CONFLICTS.contains(&c)) => {
                Err(Error::config(
                    interface,
                    "create_ttl_index",
                    "an index on `expires` exists with other options: make it a TTL index \
                     (expireAfterSeconds: 0), or turn the index creation off",
                ))
            }
            Err(e) => Err(backend(interface, "createIndexes", &e)),
        }
    }

    /// The collection the records live in (with the store's write concern
    /// and primary reads), e.g. for an administrative query.
    ///
    /// ```no_run
    /// # async fn demo(store: session_plus_mongodb::MongoStore) -> Result<(), Box<dyn std::error::Error>> {
    /// use session_plus_mongodb::mongodb::bson::doc;
    ///
    /// // Sessions of user 42 (field values are native BSON scalars).
    /// let n = store.collection().count_documents(doc! { "fields.user_id": 42_i64 }).await?;
    /// # let _ = n; Ok(()) }
    /// ```
    pub fn collection(&self) -> &Collection<Document> {
        &self.collection
    }

    /// A filter matching the live, writable record under `id` at `now`.
    fn writable(id: &str, now: i64) -> Document {
        doc! { "_id": id, EXPIRES: { "$gt": date(now) }, MOVED: { "$ne": true } }
    }
}

fn server_code(e: &mongodb::error::Error) -> Option<i32> {
    use mongodb::error::{ErrorKind, WriteFailure};
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        _ => None,
    }
}

/// Why a URL was refused, without quoting it.
fn url_problem(e: &mongodb::error::Error) -> &'static str {
    use mongodb::error::ErrorKind;
    match e.kind.as_ref() {
        ErrorKind::DnsResolve { .. } => {
            "a mongodb+srv:// URL needs DNS (the crate's `dns-resolver` feature) and a resolvable host"
        }
        ErrorKind::InvalidTlsConfig { .. } => "its TLS options are not usable",
        _ => "see the driver's connection string documentation",
    }
}

/// The `update` document for `changes`: `$set`/`$unset` of the changed
/// fields only, the meta merged by the server (`$max` on the times unless the
/// request shortens the expiry on purpose; permanence only when it changed).
fn update_document(changes: &Changes) -> Document {
    let mut set = Document::new();
    let mut unset = Document::new();
    for (name, value) in &changes.set {
        set.insert(field_path(name), to_bson(value));
    }
    for name in &changes.remove {
        // Set wins over remove (as `Changes::apply_to`); one path may not be
        // in both operators of one update.
        if !changes.set.contains_key(name) {
            unset.insert(field_path(name), "");
        }
    }
    let meta = &changes.meta;
    if let Some(permanent) = meta.permanent {
        set.insert(PERMANENT, permanent);
    }
    let mut max = doc! { ACCESSED: date(meta.accessed) };
    if meta.shorten {
        set.insert(EXPIRES, date(meta.expires));
    } else {
        max.insert(EXPIRES, date(meta.expires));
    }
    let mut update = doc! { "$max": max };
    if !set.is_empty() {
        update.insert("$set", set);
    }
    if !unset.is_empty() {
        update.insert("$unset", unset);
    }
    update
}

/// Regex source matching ids that start with `prefix`, every ASCII
/// punctuation character escaped.
fn prefix_regex(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 8);
    out.push('^');
    for c in prefix.chars() {
        if c.is_ascii() && !c.is_ascii_alphanumeric() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[async_trait::async_trait]
impl SessionStore for MongoStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .field_level_writes(true)
            .native_ttl(self.ttl_index)
            .delete_by_field(true)
            .delete_expired(!self.ttl_index)
    }

    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        let id = key.store_key();
        // The TTL monitor deletes lazily (once a minute on mongod): filter too.
        let filter = doc! { "_id": &id, EXPIRES: { "$gt": date(unix_now()) } };
        let found = self
            .collection
            .find_one(filter)
            .await
            .map_err(|e| backend(LABEL, "find", &e))?;
        Ok(found.as_ref().and_then(decode))
    }

    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        let id = key.store_key();
        // Matches only an expired document: replaced in place. No document:
        // the upsert inserts one. A live document (or tombstone) does not
        // match, so the upsert tries to insert a second `_id` and the
        // server refuses it with a duplicate-key error: nothing written.
        let filter = doc! { "_id": &id, EXPIRES: { "$lte": date(unix_now()) } };
        match self
            .collection
            .replace_one(filter, record_document(&id, record))
            .upsert(true)
            .await
        {
            Ok(r) => Ok(r.matched_count == 1 || r.upserted_id.is_some()),
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(backend(LABEL, "update (upsert)", &e)),
        }
    }

    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        let id = key.store_key();
        let result = self
            .collection
            .update_one(Self::writable(&id, unix_now()), update_document(changes))
            .await
            .map_err(|e| backend(LABEL, "update", &e))?;
        Ok(result.matched_count == 1)
    }

    async fn supersede(&self, key: &RecordKey, until: i64) -> Result<Option<Record>> {
        let id = key.store_key();
        // 1. Mark the live record moved, atomically, and take the document as
        //    that write left it: every update acknowledged before it is in
        //    there, and none can apply after it (their filter wants
        //    `moved != true`). The post-image is used rather than the
        //    pre-image: both are atomic on MongoDB, but the test server
        //    returned stale pre-images under concurrent updates.
        let after = self
            .collection
            .find_one_and_update(
                Self::writable(&id, unix_now()),
                doc! { "$set": { MOVED: true } },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| backend(LABEL, "findAndModify", &e))?;
        let Some(mut snapshot) = after.as_ref().and_then(decode_snapshot) else {
            return Ok(None);
        };
        snapshot.meta.moved = false;
        // 2. Make it the tombstone proper: no data, a short life. Reads
        //    already treat it as one (a moved document's fields are never
        //    returned), so if this fails the tombstone only keeps the record's
        //    expiry and its data until then; the login goes on.
        let tombstone = doc! { "$set": { FIELDS: Document::new(), EXPIRES: date(until) } };
        if let Err(e) = self
            .collection
            .update_one(doc! { "_id": &id, MOVED: true }, tombstone)
            .await
        {
            let e = backend(LABEL, "update (tombstone)", &e);
            tracing::warn!(error = %e, "mongodb tombstone not trimmed; it expires with the old record");
        }
        Ok(Some(snapshot))
    }

    async fn delete(&self, key: &RecordKey) -> Result<()> {
        self.collection
            .delete_one(doc! { "_id": key.store_key() })
            .await
            .map_err(|e| backend(LABEL, "delete", &e))?;
        Ok(())
    }

    async fn delete_by_field(
        &self,
        prefix: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<u64> {
        let filter = doc! {
            "_id": { "$regex": prefix_regex(prefix) },
            field_path(field): to_bson(value),
            EXPIRES: { "$gt": date(unix_now()) },
        };
        let result = self
            .collection
            .delete_many(filter)
            .await
            .map_err(|e| backend(LABEL, "delete (many)", &e))?;
        Ok(result.deleted_count)
    }

    /// Claimed (and done) only without the TTL index: with it, the server
    /// removes expired documents itself, and this answers unsupported.
    async fn delete_expired(&self) -> Result<u64> {
        if self.ttl_index {
            return Err(Error::unsupported(LABEL, "delete_expired"));
        }
        let result = self
            .collection
            .delete_many(doc! { EXPIRES: { "$lte": date(unix_now()) } })
            .await
            .map_err(|e| backend(LABEL, "delete (expired)", &e))?;
        Ok(result.deleted_count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use session_plus_core::store::MetaUpdate;

    #[test]
    fn updates_touch_only_the_changed_fields() {
        let changes = Changes::new(MetaUpdate::refresh(10, 20))
            .set("a.b", json!(1))
            .remove("$c")
            .set("both", json!(2))
            .remove("both");
        let u = update_document(&changes);
        assert_eq!(
            u.get_document("$set").unwrap(),
            &doc! { "fields.a%2Eb": 1_i64, "fields.both": 2_i64 }
        );
        assert_eq!(
            u.get_document("$unset").unwrap(),
            &doc! { "fields.%24c": "" }
        );
        assert_eq!(
            u.get_document("$max").unwrap(),
            &doc! { ACCESSED: date(10), EXPIRES: date(20) }
        );
    }

    #[test]
    fn meta_merges_on_the_server() {
        let refresh = update_document(&Changes::new(MetaUpdate::refresh(10, 20)));
        assert!(refresh.get("$set").is_none() && refresh.get("$unset").is_none());
        let shorten = update_document(&Changes::new(
            MetaUpdate::refresh(10, 20).with_permanent(false),
        ));
        assert_eq!(
            shorten.get_document("$set").unwrap(),
            &doc! { PERMANENT: false, EXPIRES: date(20) }
        );
        assert_eq!(
            shorten.get_document("$max").unwrap(),
            &doc! { ACCESSED: date(10) }
        );
    }

    #[test]
    fn prefixes_are_literal() {
        assert_eq!(prefix_regex("session"), "^session");
        assert_eq!(prefix_regex("a.b*(c)"), "^a\\.b\\*\\(c\\)");
        assert_eq!(prefix_regex("é:"), "^é\\:");
    }
}

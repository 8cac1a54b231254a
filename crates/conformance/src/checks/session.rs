//! Checks through the real [`Session`] and [`SessionManager`]: what a web app
//! sees, over two or more "requests" with a cookie jar in between.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use session_plus_core::store::SessionStore;
use session_plus_core::{
    unix_now, FieldRules, Interface, Key, Outcome, RecordKey, SessionDriver, SessionId,
    SessionManager,
};

use super::ok;
use crate::fixtures::PREFIX;
use crate::{CountingStore, PausingStore};

/// Cookie name of the server-side interface in these checks.
pub(crate) const SID: &str = "sid";
/// Cookie name of the signed-cookie interface (owns only the field `csrf`).
pub(crate) const CSRF: &str = "csrf";

/// One app (manager) over the store under test, plus a counting view of it
/// and gates to hold calls at.
pub(crate) struct App {
    manager: Arc<SessionManager>,
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) counting: Arc<CountingStore>,
    pub(crate) pausing: Arc<PausingStore>,
}

impl App {
    pub(crate) fn new(store: Arc<dyn SessionStore>) -> Self {
        let pausing = Arc::new(PausingStore::new(store.clone()));
        let counting = Arc::new(CountingStore::new(pausing.clone()));
        let manager = SessionManager::builder()
            .keys(Key::generate())
            .interface(Interface::secure_cookie(CSRF).fields(FieldRules::include([CSRF])))
            .interface(
                Interface::store(SID, counting.clone())
                    .key_prefix(PREFIX)
                    .fields(FieldRules::Auto),
            )
            .build()
            .unwrap_or_else(|e| panic!("conformance configuration rejected: {e}"));
        Self {
            manager: Arc::new(manager),
            store,
            counting,
            pausing,
        }
    }

    /// A request carrying the jar's cookies.
    pub(crate) fn request(&self, jar: &Jar) -> SessionDriver {
        let header = jar.header();
        SessionDriver::new(self.manager.clone(), [header.as_bytes()])
    }

    /// Load the record of `id` straight from the store.
    pub(crate) async fn record(&self, id: &SessionId) -> Option<session_plus_core::store::Record> {
        ok(
            self.store.load(&RecordKey::new(PREFIX, id.clone())).await,
            "load",
        )
    }

    /// Whether `id` names a live record that is not a tombstone.
    pub(crate) async fn has_live_record(&self, id: &SessionId) -> bool {
        self.record(id).await.is_some_and(|r| !r.meta.moved)
    }
}

/// A minimal browser cookie jar.
#[derive(Debug, Clone, Default)]
pub(crate) struct Jar(pub(crate) BTreeMap<String, String>);

impl Jar {
    pub(crate) fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Apply a response's `Set-Cookie`s like a browser: `Max-Age=0` deletes.
    pub(crate) fn apply(&mut self, done: &Outcome) {
        for c in &done.cookies {
            let header = c.header_value();
            let pair = header.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').expect("a Set-Cookie without `=`");
            if is_removal(header) {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    pub(crate) fn sid(&self) -> SessionId {
        let raw = self.0.get(SID).expect("no session id cookie in the jar");
        SessionId::parse(raw).expect("the session id cookie is not a well-formed id")
    }
}

fn is_removal(set_cookie: &str) -> bool {
    set_cookie.split(';').any(|a| a.trim() == "Max-Age=0")
}

pub(crate) fn max_age(set_cookie: &str) -> Option<i64> {
    set_cookie
        .split(';')
        .find_map(|a| a.trim().strip_prefix("Max-Age="))
        .map(|v| v.parse().expect("Max-Age is not a number"))
}

pub(crate) fn cookie<'a>(done: &'a Outcome, name: &str) -> Option<&'a str> {
    done.cookies
        .iter()
        .find(|c| c.name() == name)
        .map(|c| c.header_value())
}

/// Finish a request, insisting that it saved.
pub(crate) async fn finish(driver: SessionDriver) -> Outcome {
    let done = driver.finish().await;
    if let Some(e) = &done.error {
        panic!(
            "saving the session failed (status {:?}): {e:?}",
            done.status
        );
    }
    assert_eq!(done.status, None, "a saved request must keep its status");
    done
}

pub(crate) fn get<T: serde::de::DeserializeOwned>(
    r: session_plus_core::Result<Option<T>>,
) -> Option<T> {
    ok(r, "session read")
}

/// Start a session holding `user` in the store and `csrf` in the cookie.
pub(crate) async fn start(app: &App) -> Jar {
    let d = app.request(&Jar::default());
    let s = d.session();
    ok(s.insert("user", 42).await, "insert");
    ok(s.insert(CSRF, "t0k3n").await, "insert");
    let mut jar = Jar::default();
    jar.apply(&finish(d).await);
    jar
}

/// Write in one request, read in the next; the store holds only its fields.
pub async fn session_round_trip(store: Arc<dyn SessionStore>) {
    let app = App::new(store);
    let d = app.request(&Jar::default());
    let s = d.session();
    ok(s.insert("user", 42).await, "insert");
    ok(
        s.insert("profile", json!({"name": "Ada", "langs": ["en", "fr"]}))
            .await,
        "insert",
    );
    ok(s.insert(CSRF, "t0k3n").await, "insert");
    let done = finish(d).await;
    assert!(
        cookie(&done, SID).is_some(),
        "a new server-side session must set its id cookie"
    );
    assert!(
        cookie(&done, CSRF).is_some(),
        "the cookie interface must set its cookie"
    );
    let mut jar = Jar::default();
    jar.apply(&done);

    let rec = app
        .record(&jar.sid())
        .await
        .expect("the store must hold the new record");
    assert_eq!(rec.fields.get("user"), Some(&json!(42)));
    assert!(
        !rec.fields.contains_key(CSRF),
        "a field owned by the cookie interface reached the store"
    );

    let d = app.request(&jar);
    let s = d.session();
    assert_eq!(
        get(s.get::<u64>("user").await),
        Some(42),
        "a stored field was not read back"
    );
    assert_eq!(get(s.get::<String>(CSRF).await).as_deref(), Some("t0k3n"));
    let map = ok(s.to_map().await, "to_map");
    assert_eq!(
        map.len(),
        3,
        "whole-session map has the wrong fields: {:?}",
        map.keys()
    );
    assert_eq!(
        map["profile"],
        json!({"name": "Ada", "langs": ["en", "fr"]})
    );
    let _: Option<serde_json::Value> = ok(s.remove("profile").await, "remove");
    jar.apply(&finish(d).await);

    let d = app.request(&jar);
    let s = d.session();
    assert_eq!(
        get(s.get::<serde_json::Value>("profile").await),
        None,
        "a removed field came back"
    );
    assert_eq!(
        get(s.get::<u64>("user").await),
        Some(42),
        "removing one field lost another"
    );
}

/// A well-formed id the store does not know is never adopted.
pub async fn session_strict_ids(store: Arc<dyn SessionStore>) {
    let app = App::new(store);
    let planted = SessionId::generate();
    let mut jar = Jar::default();
    jar.0.insert(SID.to_owned(), planted.as_str().to_owned());
    let d = app.request(&jar);
    let s = d.session();
    assert_eq!(get(s.get::<u64>("user").await), None);
    ok(s.insert("user", 1).await, "insert");
    jar.apply(&finish(d).await);
    let issued = jar.sid();
    assert_ne!(
        issued, planted,
        "strict mode: an unknown id from the client was adopted"
    );
    assert!(
        app.record(&planted).await.is_none(),
        "a record was created under the client's unknown id"
    );
    assert_eq!(
        app.record(&issued)
            .await
            .expect("new record")
            .fields
            .get("user"),
        Some(&json!(1))
    );
}

/// `cycle_id` issues a new id, moves the data and leaves at most an empty
/// tombstone at the old id.
pub async fn session_cycle_id(store: Arc<dyn SessionStore>) {
    let app = App::new(store);
    let mut jar = start(&app).await;
    let old_jar = jar.clone();
    let old = jar.sid();

    let d = app.request(&jar);
    let s = d.session();
    assert_eq!(get(s.get::<u64>("user").await), Some(42));
    ok(s.cycle_id().await, "cycle_id");
    ok(s.insert("role", "admin").await, "insert");
    let done = finish(d).await;
    assert!(
        cookie(&done, SID).is_some(),
        "cycle_id must re-issue the id cookie"
    );
    jar.apply(&done);
    let new = jar.sid();
    assert_ne!(new, old, "cycle_id kept the old id");
    let stone = app.record(&old).await;
    assert!(
        stone
            .as_ref()
            .is_none_or(|r| r.meta.moved && r.fields.is_empty()),
        "cycle_id left the old record in the store (not a tombstone)"
    );

    let d = app.request(&jar);
    let s = d.session();
    assert_eq!(
        get(s.get::<u64>("user").await),
        Some(42),
        "cycle_id lost data"
    );
    assert_eq!(get(s.get::<String>("role").await).as_deref(), Some("admin"));
    assert_eq!(get(s.get::<String>(CSRF).await).as_deref(), Some("t0k3n"));

    // Whoever kept the old cookie gets nothing.
    let d = app.request(&old_jar);
    let s = d.session();
    assert_eq!(
        get(s.get::<u64>("user").await),
        None,
        "the old id still opens the session"
    );
}

/// `destroy` deletes the record and expires every cookie.
pub async fn session_destroy(store: Arc<dyn SessionStore>) {
    let app = App::new(store);
    let mut jar = start(&app).await;
    let old_jar = jar.clone();
    let old = jar.sid();

    let d = app.request(&jar);
    let s = d.session();
    ok(s.destroy().await, "destroy");
    let done = finish(d).await;
    for name in [SID, CSRF] {
        let c = cookie(&done, name)
            .unwrap_or_else(|| panic!("destroy must expire the `{name}` cookie"));
        assert!(
            is_removal(c),
            "the `{name}` cookie after destroy is not a removal: Max-Age=0 missing"
        );
    }
    jar.apply(&done);
    assert!(
        jar.0.is_empty(),
        "cookies left after destroy: {:?}",
        jar.0.keys()
    );
    assert!(
        app.record(&old).await.is_none(),
        "destroy left the record in the store"
    );

    let d = app.request(&old_jar);
    let s = d.session();
    assert_eq!(
        get(s.get::<u64>("user").await),
        None,
        "a destroyed session can be replayed"
    );
}

/// An interface emptied by the handler has its record deleted and its cookie removed.
pub async fn session_emptied_interface_is_deleted(store: Arc<dyn SessionStore>) {
    let app = App::new(store);
    let jar = start(&app).await;
    let old = jar.sid();
    let d = app.request(&jar);
    let s = d.session();
    let _: Option<u64> = ok(s.remove("user").await, "remove");
    let done = finish(d).await;
    let c = cookie(&done, SID).expect("an emptied interface must get a removal cookie");
    assert!(
        is_removal(c),
        "the cookie of an emptied interface is not a removal"
    );
    assert!(
        app.record(&old).await.is_none(),
        "an emptied interface's record was kept"
    );
}

/// Permanence survives requests and picks the cookie's `Max-Age` and the TTL.
pub async fn session_permanent(store: Arc<dyn SessionStore>) {
    const DAY: i64 = 86_400;
    let app = App::new(store);
    let d = app.request(&Jar::default());
    let s = d.session();
    ok(s.insert("user", 42).await, "insert");
    ok(s.set_permanent(SID, true).await, "set_permanent");
    let done = finish(d).await;
    let age = max_age(cookie(&done, SID).expect("id cookie"))
        .expect("a permanent session cookie needs Max-Age");
    assert!(
        age > 30 * DAY,
        "a permanent cookie must last the permanent lifetime, Max-Age={age}"
    );
    let mut jar = Jar::default();
    jar.apply(&done);
    let rec = app.record(&jar.sid()).await.expect("record");
    assert!(rec.meta.permanent, "the store lost the permanent flag");
    assert!(
        rec.meta.expires > unix_now() + 30 * DAY,
        "a permanent record must get the permanent TTL"
    );

    let d = app.request(&jar);
    let s = d.session();
    assert!(
        ok(s.is_permanent(SID).await, "is_permanent"),
        "permanence did not survive to the next request"
    );
    ok(s.insert("more", 1).await, "insert");
    let done = finish(d).await;
    jar.apply(&done);
    assert!(
        cookie(&done, SID)
            .and_then(max_age)
            .is_some_and(|a| a > 30 * DAY),
        "a write to a permanent session must keep its long-lived cookie"
    );

    let d = app.request(&jar);
    let s = d.session();
    ok(s.set_permanent(SID, false).await, "set_permanent");
    let done = finish(d).await;
    let c = cookie(&done, SID).expect("changing permanence must re-issue the cookie");
    assert_eq!(
        max_age(c),
        None,
        "a non-permanent session cookie (no cookie_max_age) must be a browser-session cookie"
    );
    jar.apply(&done);
    let rec = app.record(&jar.sid()).await.expect("record");
    assert!(
        !rec.meta.permanent,
        "the store kept the permanent flag after it was cleared"
    );
    assert!(
        rec.meta.expires <= unix_now() + DAY + 5,
        "a non-permanent record must get the session TTL"
    );

    let d = app.request(&jar);
    let s = d.session();
    assert!(!ok(s.is_permanent(SID).await, "is_permanent"));
    assert_eq!(get(s.get::<u64>("more").await), Some(1));
}

/// Concurrent requests on one session changing different fields all survive.
pub async fn session_concurrent_requests(store: Arc<dyn SessionStore>) {
    const REQUESTS: usize = 8;
    let app = App::new(store);
    let jar = start(&app).await;
    // Every request loads the same state before any of them saves: the classic
    // lost-update interleaving.
    let mut sessions = Vec::new();
    for i in 0..REQUESTS {
        let d = app.request(&jar);
        let s = d.session();
        assert_eq!(get(s.get::<u64>("user").await), Some(42));
        ok(s.insert(&format!("field-{i}"), i).await, "insert");
        sessions.push(d);
    }
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|d| tokio::spawn(async move { d.finish().await }))
        .collect();
    for t in tasks {
        let done = t.await.expect("finish panicked");
        if let Some(e) = done.error {
            panic!("a concurrent save failed: {e:?}");
        }
    }
    let d = app.request(&jar);
    let s = d.session();
    for i in 0..REQUESTS {
        assert_eq!(
            get(s.get::<usize>(&format!("field-{i}")).await),
            Some(i),
            "concurrent requests lost field-{i}"
        );
    }
    assert_eq!(
        get(s.get::<u64>("user").await),
        Some(42),
        "concurrent requests lost an untouched field"
    );
}

/// A request that reads, or writes values equal to the stored ones, causes no
/// backend write and sets no cookie.
pub async fn session_unchanged_write_writes_nothing(store: Arc<dyn SessionStore>) {
    let app = App::new(store);
    let jar = start(&app).await;
    let before_record = app.record(&jar.sid()).await.expect("record");
    let before = app.counting.counts();

    let d = app.request(&jar);
    let s = d.session();
    assert_eq!(get(s.get::<u64>("user").await), Some(42));
    ok(s.insert("user", 42).await, "insert");
    let done = finish(d).await;
    let after = app.counting.counts();
    assert_eq!(
        after.writes(),
        before.writes(),
        "a write of unchanged values reached the backend: {before:?} -> {after:?}"
    );
    assert_eq!(
        after.load,
        before.load + 1,
        "the request should have loaded once"
    );
    assert!(
        done.cookies.is_empty(),
        "an unchanged session set cookies: {:?}",
        done.cookies
    );
    let after_record = app.record(&jar.sid()).await.expect("record");
    assert_eq!(
        after_record, before_record,
        "the record changed without a write"
    );

    // A request that never touches the session costs nothing at all.
    let d = app.request(&jar);
    let s = d.session();
    assert!(!d.was_accessed());
    drop(s);
    let done = d.finish().await;
    assert!(done.cookies.is_empty() && done.error.is_none() && !done.vary_cookie);
    assert_eq!(
        app.counting.counts(),
        after,
        "an untouched session called the backend"
    );
}

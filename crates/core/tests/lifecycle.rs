//! Request lifecycle rules of issue 9 on the in-process store, with the
//! interleavings forced by the order in which requests are driven (no timing).

use std::sync::Arc;

use session_plus_core::store::SessionStore;
use session_plus_core::{
    FieldRules, Interface, Key, KeyRing, MemoryStore, Outcome, SessionDriver, SessionManager,
};

fn manager(store: Arc<MemoryStore>) -> Arc<SessionManager> {
    let key = Key::from_bytes(&[7; 64]).unwrap();
    Arc::new(
        SessionManager::builder()
            .keys(KeyRing::new(key))
            .interface(Interface::secure_cookie("csrf").fields(FieldRules::include(["csrf_token"])))
            .interface(
                Interface::store("session", store).fields(FieldRules::include([
                    "user_id",
                    "user_data",
                    "a",
                    "b",
                ])),
            )
            .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
            .build()
            .unwrap(),
    )
}

fn driver(m: &Arc<SessionManager>, cookie: &str) -> SessionDriver {
    SessionDriver::new(m.clone(), [cookie.as_bytes()])
}

/// The `Cookie` header after applying `outcome` to `jar`.
fn apply(jar: &str, outcome: &Outcome) -> String {
    let mut pairs: Vec<(String, String)> = jar
        .split("; ")
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for c in &outcome.cookies {
        let (k, v) = c.pair().split_once('=').unwrap();
        pairs.retain(|(n, _)| n != k);
        if !v.is_empty() {
            pairs.push((k.to_owned(), v.to_owned()));
        }
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn logged_in(m: &Arc<SessionManager>) -> String {
    let d = driver(m, "");
    let s = d.session();
    s.insert("csrf_token", "t").await.unwrap();
    s.insert("user_id", 1).await.unwrap();
    s.insert("theme", "dark").await.unwrap();
    let out = d.finish().await;
    assert_eq!(out.status, None);
    apply("", &out)
}

#[tokio::test]
async fn a_foreign_non_ascii_cookie_hides_nothing() {
    let m = manager(Arc::new(MemoryStore::new()));
    let jar = logged_in(&m).await;
    let mut header = b"theme=Jos\xc3\xa9; bad=\xff\xfe; ".to_vec();
    header.extend_from_slice(jar.as_bytes());
    header.extend_from_slice(b"; other=caf\xe9");
    let d = SessionDriver::new(m.clone(), [header.as_slice()]);
    let s = d.session();
    assert_eq!(s.get::<i32>("user_id").await.unwrap(), Some(1));
    assert_eq!(
        s.get::<String>("theme").await.unwrap().as_deref(),
        Some("dark")
    );
    assert_eq!(
        s.get::<String>("csrf_token").await.unwrap().as_deref(),
        Some("t")
    );
    assert!(d.finish().await.cookies.is_empty());
}

#[tokio::test]
async fn writes_acknowledged_before_a_login_move_with_it_and_later_ones_conflict() {
    let store = Arc::new(MemoryStore::new());
    let m = manager(store.clone());
    let jar = logged_in(&m).await;

    // The login request loads and cycles; before it saves, another request
    // writes to the old id and is acknowledged.
    let login = driver(&m, &jar);
    login.session().cycle_id().await.unwrap();
    login.session().insert("user_data", "admin").await.unwrap();
    let early = driver(&m, &jar);
    let late = driver(&m, &jar);
    late.session().get::<i32>("a").await.unwrap(); // loaded before the move
    early.session().insert("a", 1).await.unwrap();
    let early_out = early.finish().await;
    assert_eq!(early_out.status, None, "the early write is acknowledged");

    let login_out = login.finish().await;
    assert_eq!(login_out.status, None);
    let new_jar = apply(&jar, &login_out);
    assert_ne!(new_jar, jar);

    // A write that reaches the old id after the move: refused, not lost silently.
    late.session().insert("b", 2).await.unwrap();
    let late_out = late.finish().await;
    assert_eq!(late_out.status, Some(409));
    assert!(
        late_out.cookies.is_empty(),
        "no cookie from a superseded request"
    );

    // A request still carrying the old id right after: no cookie at all, and
    // its writes are refused at once.
    let stale = driver(&m, &jar);
    assert_eq!(stale.session().get::<i32>("user_id").await.unwrap(), None);
    let err = stale.session().insert("user_id", 666).await.unwrap_err();
    assert!(err.is_superseded(), "{err}");
    let stale_out = stale.finish().await;
    assert_eq!(stale_out.status, Some(409));
    assert!(stale_out.cookies.is_empty());
    let stale_read = driver(&m, &jar);
    stale_read.session().get::<i32>("user_id").await.unwrap();
    let out = stale_read.finish().await;
    assert!(out.cookies.is_empty() && out.status.is_none());

    // The new session holds the login's change and the early write.
    let after = driver(&m, &new_jar);
    let s = after.session();
    assert_eq!(s.get::<i32>("user_id").await.unwrap(), Some(1));
    assert_eq!(
        s.get::<String>("user_data").await.unwrap().as_deref(),
        Some("admin")
    );
    assert_eq!(s.get::<i32>("a").await.unwrap(), Some(1));
    assert_eq!(
        s.get::<String>("theme").await.unwrap().as_deref(),
        Some("dark")
    );
}

#[tokio::test]
async fn permanence_survives_a_concurrent_write_to_another_field() {
    let store = Arc::new(MemoryStore::new());
    let m = manager(store.clone());
    let jar = logged_in(&m).await;
    let perm = driver(&m, &jar);
    let other = driver(&m, &jar);
    // Both load the non-permanent record.
    assert!(!perm.session().is_permanent("session").await.unwrap());
    other.session().get::<i32>("a").await.unwrap();
    perm.session().set_permanent("session", true).await.unwrap();
    assert_eq!(perm.finish().await.status, None);
    other.session().insert("a", 5).await.unwrap();
    assert_eq!(other.finish().await.status, None);

    let check = driver(&m, &jar);
    assert!(check.session().is_permanent("session").await.unwrap());
    assert_eq!(check.session().get::<i32>("a").await.unwrap(), Some(5));
    drop(check);
    // The server-side expiry is still the permanent one (31 days).
    let id = jar
        .split("; ")
        .find_map(|p| p.strip_prefix("session="))
        .unwrap();
    let key = session_plus_core::RecordKey::new(
        "session",
        session_plus_core::SessionId::parse(id).unwrap(),
    );
    let record = store.load(&key).await.unwrap().unwrap();
    let left = record.meta.expires - session_plus_core::unix_now();
    assert!(left > 30 * 86_400, "expiry shortened to {left}s");
}

#[tokio::test]
async fn destroy_never_deletes_a_record_bound_to_another_session() {
    let store = Arc::new(MemoryStore::new());
    let m = manager(store.clone());
    let victim = logged_in(&m).await;
    let attacker = logged_in(&m).await;
    // The attacker's csrf/data cookies with the victim's session id planted.
    let victim_id = victim
        .split("; ")
        .find(|p| p.starts_with("session="))
        .unwrap();
    let mixed: Vec<&str> = attacker
        .split("; ")
        .filter(|p| !p.starts_with("session="))
        .chain([victim_id])
        .collect();
    let d = driver(&m, &mixed.join("; "));
    d.session().destroy().await.unwrap();
    let out = d.finish().await;
    assert_eq!(out.status, None);
    // The victim is still logged in.
    let v = driver(&m, &victim);
    assert_eq!(v.session().get::<i32>("user_id").await.unwrap(), Some(1));
}

#[tokio::test]
async fn using_a_session_after_its_request_ended_is_its_own_error() {
    let m = manager(Arc::new(MemoryStore::new()));
    let d = driver(&m, "");
    let s = d.session();
    s.insert("a", 1).await.unwrap();
    let out = d.finish().await;
    assert_eq!(out.status, None);
    let err = s.insert("a", 2).await.unwrap_err();
    assert!(err.is_closed() && !err.is_unavailable(), "{err}");
    assert_eq!(err.status_code(), 500);
}

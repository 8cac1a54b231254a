//! Shared by the MongoDB backend's tests: a store on a SecantusDB server
//! (started by the test kit), the seed-like configuration over it, and a tiny
//! cookie jar around the core's request driver.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use session_plus_core::store::SessionStore;
use session_plus_core::{
    FieldRules, Interface, Key, Outcome, Session, SessionDriver, SessionId, SessionManager,
};
use session_plus_mongodb::mongodb::Client;
use session_plus_mongodb::{MongoOptions, MongoStore};

/// A client for `url` that gives up on an unreachable server after `select`.
pub async fn client(url: &str, select: Duration) -> Client {
    let sep = if url.contains('?') { "&" } else { "/?" };
    Client::with_uri_str(format!(
        "{url}{sep}serverSelectionTimeoutMS={}",
        select.as_millis()
    ))
    .await
    .expect("a valid MongoDB URL")
}

/// A database name of its own for one test.
pub fn fresh_db(tag: &str) -> String {
    format!(
        "{tag}_{}",
        &SessionId::generate().as_str()[..10].replace('-', "_")
    )
}

/// A store on `db.sessions` with the default options.
pub async fn store(url: &str, db: &str) -> MongoStore {
    MongoStore::with_options(
        client(url, Duration::from_secs(5)).await,
        db,
        "sessions",
        MongoOptions::default(),
    )
    .await
    .expect("store")
}

/// The seed configuration: `csrf` and `data` signed cookies, `session` on
/// MongoDB owning `user_id` and `user_data`, with a short call timeout.
pub fn seed_manager(store: Arc<dyn SessionStore>, timeout: Duration) -> Arc<SessionManager> {
    Arc::new(
        SessionManager::builder()
            .keys(Key::generate())
            .interface(Interface::secure_cookie("csrf").fields(FieldRules::include(["csrf_token"])))
            .interface(
                Interface::store("session", store)
                    .fields(FieldRules::include(["user_id", "user_data"]))
                    .timeout(timeout),
            )
            .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
            .build()
            .expect("the seed configuration is valid"),
    )
}

/// A browser's cookies.
#[derive(Debug, Clone, Default)]
pub struct Jar(pub BTreeMap<String, String>);

impl Jar {
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Apply `Set-Cookie`s like a browser (`Max-Age=0` deletes).
    pub fn apply(&mut self, outcome: &Outcome) {
        for c in outcome.set_cookie_headers() {
            let pair = c.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if c.split(';').any(|a| a.trim() == "Max-Age=0") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// One request: the handler runs on the session; the jar takes the cookies.
/// Returns the outcome's status (`None` = the handler's own answer stands)
/// and the handler's result.
pub async fn request<T, F, Fut>(
    manager: &Arc<SessionManager>,
    jar: &mut Jar,
    handler: F,
) -> (Option<u16>, T)
where
    F: FnOnce(Session) -> Fut,
    Fut: Future<Output = T>,
{
    let header = jar.header();
    let driver = SessionDriver::new(manager.clone(), [header.as_bytes()]);
    let out = handler(driver.session()).await;
    let outcome = driver.finish().await;
    jar.apply(&outcome);
    (outcome.status, out)
}

/// A handler result as the HTTP status the layer would answer with.
pub fn status(result: &session_plus_core::Result<impl Sized>) -> u16 {
    match result {
        Ok(_) => 200,
        Err(e) => e.status_code(),
    }
}

//! What the rules use: a cookie jar, the reply, request helpers, the seed
//! configuration and cookie/record inspection.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use session_plus_core::store::{Record, SessionStore};
use session_plus_core::{FieldRules, Interface, Key, RecordKey, SessionId, SessionManager};

use crate::{App, FaultyStore};

/// A browser's cookie jar: name -> value, updated from `Set-Cookie`.
#[derive(Debug, Clone, Default)]
pub struct Jar(pub BTreeMap<String, String>);

impl Jar {
    /// The `Cookie` header a browser would send.
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
    /// The value of cookie `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
    /// Set cookie `name` by hand (forged, replayed, tampered...).
    pub fn set(&mut self, name: &str, value: &str) {
        self.0.insert(name.to_owned(), value.to_owned());
    }
    /// Apply a response's `Set-Cookie` headers (a `Max-Age=0` removes).
    pub fn update(&mut self, reply: &Reply) {
        for c in &reply.set_cookies {
            let pair = c.split(';').next().expect("pair");
            let (name, value) = pair.split_once('=').expect("name=value");
            if c.contains("Max-Age=0") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }
}

/// A response as the client saw it.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// Every `Set-Cookie` header value, in order.
    pub set_cookies: Vec<String>,
    /// Every header.
    pub headers: HeaderMap,
    /// The body as text.
    pub body: String,
}

impl Reply {
    /// Build from raw parts (what an adapter's [`App`] read off its response).
    ///
    /// # Panics
    /// On a status outside 100..=999, a header that is not valid, a
    /// `Set-Cookie` that is not ASCII or a body that is not UTF-8: all are
    /// bugs of the app under test.
    pub fn new<'a>(
        status: u16,
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        body: Vec<u8>,
    ) -> Self {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                HeaderValue::from_bytes(value).expect("header value"),
            );
        }
        let set_cookies = map
            .get_all(http::header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().expect("Set-Cookie is ASCII").to_owned())
            .collect();
        Self {
            status: StatusCode::from_u16(status).expect("status"),
            set_cookies,
            headers: map,
            body: String::from_utf8(body).expect("UTF-8 body"),
        }
    }

    /// The `Set-Cookie` value for cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(String::as_str)
    }
}

/// Send one request with the jar's cookies and update the jar from the reply.
pub async fn send<A: App>(app: &A, method: &str, path: &str, jar: &mut Jar) -> Reply {
    let cookie = (!jar.0.is_empty()).then(|| jar.header().into_bytes());
    let reply = send_request(app, method, path, cookie.as_deref()).await;
    jar.update(&reply);
    reply
}

/// Send one request with exactly this `Cookie` header (raw bytes, so foreign
/// non-ASCII cookies can be sent); no jar.
pub async fn send_request<A: App>(
    app: &A,
    method: &str,
    path: &str,
    cookie: Option<&[u8]>,
) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(c) = cookie {
        req = req.header(
            http::header::COOKIE,
            HeaderValue::from_bytes(c).expect("cookie header"),
        );
    }
    app.call(req.body(()).expect("request")).await
}

/// The seed configuration: `csrf` signed cookie (`csrf_token`), `session`
/// server-side (`user_id`, `user_data`; 300 ms timeout), `data` signed cookie
/// (`auto`).
pub fn seed_manager(store: Arc<dyn SessionStore>, key: Key) -> SessionManager {
    SessionManager::builder()
        .keys(key)
        .interface(Interface::secure_cookie("csrf").fields(FieldRules::include(["csrf_token"])))
        .interface(
            Interface::store("session", store)
                .fields(FieldRules::include(["user_id", "user_data"]))
                .timeout(Duration::from_millis(300)),
        )
        .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
        .build()
        .expect("seed config is valid")
}

/// Interface `a` (server-side, owning `a_field`) and `b` (server-side, the rest).
pub fn two_stores(a: &Arc<FaultyStore>, b: &Arc<FaultyStore>, a_field: &str) -> SessionManager {
    SessionManager::builder()
        .interface(
            Interface::store("a", a.clone())
                .fields(FieldRules::include([a_field]))
                .timeout(Duration::from_secs(5)),
        )
        .interface(
            Interface::store("b", b.clone())
                .fields(FieldRules::Auto)
                .timeout(Duration::from_secs(5)),
        )
        .build()
        .expect("valid")
}

/// The payload of a signed (not encrypted) cookie, version-1 JSON shape (not verified).
pub fn signed_payload(value: &str) -> serde_json::Value {
    session_plus_core::cookie_format::signed_payload_json(value).expect("a readable signed cookie")
}

/// The field names held by a signed cookie.
pub fn signed_fields(value: &str) -> Vec<String> {
    signed_payload(value)["f"]
        .as_object()
        .expect("fields")
        .keys()
        .cloned()
        .collect()
}

/// The record key of interface `session` for the id in a cookie.
pub fn record_key(id: &str) -> RecordKey {
    RecordKey::new("session", SessionId::parse(id).expect("well-formed id"))
}

/// Replace a record behind the app's back (to age it): delete, then create.
pub async fn replace_record(store: &dyn SessionStore, key: &RecordKey, record: &Record) {
    store.delete(key).await.expect("delete");
    assert!(store.create(key, record).await.expect("create"), "created");
}

/// A `tracing` writer that keeps what was logged, for assertions.
#[derive(Clone, Default)]
pub struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

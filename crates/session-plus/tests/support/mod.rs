//! Test harness: a real axum app behind the real `SessionLayer`, driven
//! in-process with `tower::ServiceExt::oneshot`, and a tiny cookie jar.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Path;
use axum::routing::{get, post};
use axum::Router;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use session_plus::store::{Capabilities, Changes, Record, RecordMeta, SessionStore};
use session_plus::{
    FieldRules, Interface, Key, MemoryStore, Session, SessionError, SessionLayer, SessionManager,
};
use session_plus_core::RecordKey;
use tower::ServiceExt;

/// A real `MemoryStore` wrapped to count calls and to inject faults (down,
/// slow). This is fault injection around a real store, not a backend mock.
#[derive(Debug, Default)]
pub struct FaultyStore {
    pub inner: MemoryStore,
    pub loads: AtomicU64,
    pub writes: AtomicU64,
    pub fail_load: AtomicBool,
    pub fail_write: AtomicBool,
    pub slow: AtomicBool,
    /// When set, loads wait here (to prove concurrency).
    pub barrier: std::sync::OnceLock<Arc<tokio::sync::Barrier>>,
    /// When set, creates wait here (to prove saves run concurrently).
    pub write_barrier: std::sync::OnceLock<Arc<tokio::sync::Barrier>>,
}

impl FaultyStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    pub fn calls(&self) -> (u64, u64) {
        (
            self.loads.load(Ordering::SeqCst),
            self.writes.load(Ordering::SeqCst),
        )
    }
    async fn gate(&self, fail: &AtomicBool) -> session_plus::Result<()> {
        if self.slow.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if fail.load(Ordering::SeqCst) {
            return Err(session_plus::Error::backend("faulty", "injected failure"));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl SessionStore for FaultyStore {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn load(&self, key: &RecordKey) -> session_plus::Result<Option<Record>> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        if let Some(b) = self.barrier.get() {
            b.wait().await;
        }
        self.gate(&self.fail_load).await?;
        self.inner.load(key).await
    }
    async fn create(&self, key: &RecordKey, record: &Record) -> session_plus::Result<bool> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        if let Some(b) = self.write_barrier.get() {
            b.wait().await;
        }
        self.gate(&self.fail_write).await?;
        self.inner.create(key, record).await
    }
    async fn update(&self, key: &RecordKey, changes: &Changes) -> session_plus::Result<bool> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.gate(&self.fail_write).await?;
        self.inner.update(key, changes).await
    }
    async fn touch(&self, key: &RecordKey, meta: &RecordMeta) -> session_plus::Result<bool> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.gate(&self.fail_write).await?;
        self.inner.touch(key, meta).await
    }
    async fn delete_by_field(
        &self,
        prefix: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> session_plus::Result<u64> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.gate(&self.fail_write).await?;
        self.inner.delete_by_field(prefix, field, value).await
    }
    async fn delete(&self, key: &RecordKey) -> session_plus::Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.gate(&self.fail_write).await?;
        self.inner.delete(key).await
    }
}

/// The seed configuration: `csrf` cookie, `session` server-side, `data` auto cookie.
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

fn parse_value(v: &str) -> serde_json::Value {
    serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_owned()))
}

/// Routes exposing the session API one operation per request.
pub fn app(manager: SessionManager) -> Router {
    app_with(Arc::new(manager))
}

/// [`app`] over a shared manager.
pub fn app_with(manager: Arc<SessionManager>) -> Router {
    async fn get_field(s: Session, Path(f): Path<String>) -> Result<String, SessionError> {
        Ok(s.get_value(&f)
            .await?
            .map_or("null".into(), |v| v.to_string()))
    }
    async fn set_field(
        s: Session,
        Path((f, v)): Path<(String, String)>,
    ) -> Result<&'static str, SessionError> {
        s.insert(&f, parse_value(&v)).await?;
        Ok("ok")
    }
    async fn set_ignoring_error(s: Session, Path((f, v)): Path<(String, String)>) -> &'static str {
        // A careless handler that drops the error: the layer must still fail the response.
        let _ = s.insert(&f, parse_value(&v)).await;
        "ok"
    }
    async fn remove_field(s: Session, Path(f): Path<String>) -> Result<&'static str, SessionError> {
        s.remove_value(&f).await?;
        Ok("ok")
    }
    async fn all(s: Session) -> Result<String, SessionError> {
        Ok(serde_json::to_string(&s.to_map().await?).unwrap_or_default())
    }
    async fn clear(s: Session) -> Result<&'static str, SessionError> {
        s.clear().await?;
        Ok("ok")
    }
    async fn destroy(s: Session) -> Result<&'static str, SessionError> {
        s.destroy().await?;
        Ok("ok")
    }
    async fn login(s: Session, Path(user): Path<u64>) -> Result<&'static str, SessionError> {
        s.cycle_id().await?;
        s.insert("user_id", user).await?;
        Ok("ok")
    }
    async fn permanent(
        s: Session,
        Path((i, on)): Path<(String, bool)>,
    ) -> Result<&'static str, SessionError> {
        s.set_permanent(&i, on).await?;
        Ok("ok")
    }
    async fn is_permanent(s: Session, Path(i): Path<String>) -> Result<String, SessionError> {
        Ok(s.is_permanent(&i).await?.to_string())
    }
    async fn seed_login(s: Session) -> Result<&'static str, SessionError> {
        s.cycle_id().await?;
        s.insert("csrf_token", "tok").await?;
        s.insert("user_id", 42).await?;
        s.insert("user_data", serde_json::json!({"name": "ann"}))
            .await?;
        s.insert("theme", "dark").await?;
        Ok("ok")
    }
    async fn none() -> &'static str {
        "none"
    }
    async fn cached(
        s: Session,
    ) -> Result<([(http::HeaderName, &'static str); 1], &'static str), SessionError> {
        s.insert("theme", "dark").await?;
        Ok(([(http::header::CACHE_CONTROL, "private, max-age=5")], "ok"))
    }
    Router::new()
        .route("/get/{f}", get(get_field))
        .route("/set/{f}/{v}", post(set_field))
        .route("/set-careless/{f}/{v}", post(set_ignoring_error))
        .route("/remove/{f}", post(remove_field))
        .route("/all", get(all))
        .route("/clear", post(clear))
        .route("/destroy", post(destroy))
        .route("/login/{user}", post(login))
        .route("/permanent/{i}/{on}", post(permanent))
        .route("/is-permanent/{i}", get(is_permanent))
        .route("/none", get(none))
        .route("/seed-login", post(seed_login))
        .route("/cached", post(cached))
        .layer(SessionLayer::new(manager))
}

/// A cookie jar: name -> value, updated from `Set-Cookie`.
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
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
    pub fn set(&mut self, name: &str, value: &str) {
        self.0.insert(name.to_owned(), value.to_owned());
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub set_cookies: Vec<String>,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(String::as_str)
    }
}

/// Send one request with the jar's cookies and update the jar from the reply.
pub async fn send(app: &Router, method: &str, path: &str, jar: &mut Jar) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    if !jar.0.is_empty() {
        req = req.header(http::header::COOKIE, jar.header());
    }
    let res: Response<Body> = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let set_cookies: Vec<String> = headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect();
    for c in &set_cookies {
        let pair = c.split(';').next().expect("pair");
        let (name, value) = pair.split_once('=').expect("name=value");
        if c.contains("Max-Age=0") {
            jar.0.remove(name);
        } else {
            jar.0.insert(name.to_owned(), value.to_owned());
        }
    }
    let body = String::from_utf8(
        res.into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec(),
    )
    .expect("utf8");
    Reply {
        status,
        set_cookies,
        headers,
        body,
    }
}

/// The JSON payload of a signed (not encrypted) cookie: `base64url(json).mac`.
pub fn signed_payload(value: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = value.split('.').next().expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64");
    serde_json::from_slice(&bytes).expect("json")
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

pub fn record_key(id: &str) -> RecordKey {
    RecordKey::new(
        "session",
        session_plus_core::SessionId::parse(id).expect("well-formed id"),
    )
}

/// A `tracing` writer that keeps what was logged, for assertions.
#[derive(Clone, Default)]
pub struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
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

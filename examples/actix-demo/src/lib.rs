//! The session-plus demo on actix-web: the seed configuration (a `csrf`
//! signed cookie for the CSRF token, a server-side `session` for the login —
//! SQLite by default, Redis with `SESSION_REDIS_URL` — and a `data` signed
//! cookie for everything else, `"auto"`) behind a login form protected by the
//! CSRF token, with a counter, a logout, and a page showing which interface
//! holds which field.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, ContentType};
use actix_web::{web, App, HttpResponse, HttpServer};
use base64::Engine as _;
use serde::Deserialize;
use session_plus_actix::store::SessionStore;
use session_plus_actix::{
    FieldRules, Interface, Key, Session, SessionError, SessionManager, SessionMiddleware,
};
use subtle::ConstantTimeEq;

/// Where the `session` interface keeps its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (the default: `session-plus-actix-demo.db`).
    Sqlite(String),
    /// A Redis server.
    Redis(String),
}

/// The demo's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen.
    pub addr: String,
    /// The key signing the cookies.
    pub key: Key,
    /// The `session` interface's backend.
    pub backend: Backend,
}

impl Settings {
    /// From `DEMO_ADDR`, `SESSION_SECRET`, `SESSION_DB`, `SESSION_REDIS_URL`.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let key = match var("SESSION_SECRET") {
            Some(secret) => {
                Key::from_bytes(secret.as_bytes()).map_err(|e| format!("SESSION_SECRET: {e}"))?
            }
            None => Key::generate(),
        };
        let backend = match (var("SESSION_REDIS_URL"), var("SESSION_DB")) {
            (Some(url), _) => Backend::Redis(url),
            (None, db) => {
                Backend::Sqlite(db.unwrap_or_else(|| "session-plus-actix-demo.db".into()))
            }
        };
        Ok(Self {
            addr: var("DEMO_ADDR").unwrap_or_else(|| "127.0.0.1:3000".into()),
            key,
            backend,
        })
    }
}

/// The server-side store the settings name.
pub async fn store(backend: &Backend) -> Result<Arc<dyn SessionStore>, String> {
    Ok(match backend {
        Backend::Sqlite(path) => {
            let store = session_plus_sqlite::SqliteStore::open(path)
                .map_err(|e| format!("SESSION_DB={path}: {}", e.report()))?;
            // Expired records are removed by a sweeper (SQLite has no TTL);
            // the task runs detached for as long as the store lives.
            drop(store.spawn_sweeper(Duration::from_secs(600)));
            Arc::new(store)
        }
        Backend::Redis(url) => Arc::new(
            session_plus_redis::RedisStore::from_url(url)
                .await
                .map_err(|e| format!("SESSION_REDIS_URL: {}", e.report()))?,
        ),
    })
}

/// The seed configuration: `csrf`, `session` on `store`, `data` ("auto").
pub fn manager(
    store: Arc<dyn SessionStore>,
    key: Key,
) -> session_plus_actix::Result<SessionManager> {
    SessionManager::builder()
        .keys(key)
        .interface(Interface::secure_cookie("csrf").fields(FieldRules::include(["csrf_token"])))
        .interface(
            Interface::store("session", store)
                .fields(FieldRules::include(["user_id", "user_data"])),
        )
        .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
        .build()
}

/// Serve until the process is stopped, with settings from the environment.
pub async fn run_from_env() -> Result<(), String> {
    let settings = Settings::from_env()?;
    let store = store(&settings.backend).await?;
    let manager = Arc::new(manager(store, settings.key).map_err(|e| e.report().to_string())?);
    let listener = std::net::TcpListener::bind(&settings.addr)
        .map_err(|e| format!("DEMO_ADDR={}: cannot listen: {e}", settings.addr))?;
    println!(
        "session-plus actix-web demo on http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    println!("  `session` interface: {:?}", settings.backend);
    server(manager, listener)
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| format!("serving failed: {e}"))
}

/// The demo's `HttpServer` on `listener` (one worker), not yet awaited.
pub fn server(
    manager: Arc<SessionManager>,
    listener: std::net::TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    Ok(HttpServer::new(move || app(manager.clone()))
        .workers(1)
        .listen(listener)?
        .run())
}

/// The demo's routes behind the session middleware.
pub fn app(
    manager: Arc<SessionManager>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(manager.clone()))
        .wrap(SessionMiddleware::new(manager))
        .route("/", web::get().to(index))
        .route("/login", web::post().to(login))
        .route("/count", web::post().to(count))
        .route("/logout", web::post().to(logout))
}

/// A POSTed form: the CSRF token, and the name at login.
#[derive(Debug, Deserialize)]
pub struct Form {
    csrf_token: String,
    #[serde(default)]
    name: String,
}

fn new_token() -> String {
    let mut bytes = [0_u8; 32];
    getrandom::getrandom(&mut bytes).expect("OS random number generator");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn csrf_token(session: &Session) -> Result<String, SessionError> {
    if let Some(t) = session.get::<String>("csrf_token").await? {
        return Ok(t);
    }
    let t = new_token();
    session.insert("csrf_token", &t).await?;
    Ok(t)
}

/// Whether the form carries the session's CSRF token (constant-time compare).
async fn csrf_ok(session: &Session, form: &Form) -> Result<bool, SessionError> {
    let expected = session
        .get::<String>("csrf_token")
        .await?
        .unwrap_or_default();
    Ok(!expected.is_empty() && bool::from(expected.as_bytes().ct_eq(form.csrf_token.as_bytes())))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn see_other() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/"))
        .finish()
}

fn forbidden() -> HttpResponse {
    HttpResponse::Forbidden()
        .content_type(ContentType::plaintext())
        .body("CSRF token missing or wrong")
}

async fn index(
    session: Session,
    manager: web::Data<Arc<SessionManager>>,
) -> Result<HttpResponse, SessionError> {
    let token = escape(&csrf_token(&session).await?);
    let all = session.to_map().await?;
    let user: Option<String> = session
        .get("user_data")
        .await?
        .and_then(|d: serde_json::Value| d.get("name").and_then(|n| n.as_str()).map(str::to_owned));
    let mut html = String::from(
        "<!doctype html><meta charset=utf-8><title>session-plus on actix-web</title>\
         <h1>session-plus on actix-web</h1>",
    );
    match user {
        Some(name) => {
            let n: u64 = session.get("counter").await?.unwrap_or(0);
            html.push_str(&format!(
                "<p>Logged in as <b>{}</b>. Counter: <b>{n}</b>.</p>\
                 <form method=post action=/count><input type=hidden name=csrf_token value=\"{token}\"><button>count</button></form>\
                 <form method=post action=/logout><input type=hidden name=csrf_token value=\"{token}\"><button>log out</button></form>",
                escape(&name)
            ));
        }
        None => html.push_str(&format!(
            "<form method=post action=/login><input type=hidden name=csrf_token value=\"{token}\">\
             <input name=name placeholder=name required> <button>log in</button></form>"
        )),
    }
    html.push_str(
        "<h2>Where each field lives</h2><table><tr><th>field<th>interface(s)<th>value</tr>",
    );
    for (field, value) in &all {
        html.push_str(&format!(
            "<tr><td>{}<td>{}<td><code>{}</code></tr>",
            escape(field),
            escape(&manager.owners_of(field).join(", ")),
            escape(&value.to_string())
        ));
    }
    html.push_str("</table>");
    Ok(HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(html))
}

async fn login(session: Session, form: web::Form<Form>) -> Result<HttpResponse, SessionError> {
    if !csrf_ok(&session, &form).await? {
        return Ok(forbidden());
    }
    let name = form.name.trim();
    if name.is_empty() {
        return Ok(see_other());
    }
    // New ids and a new CSRF token at a privilege change.
    session.cycle_id().await?;
    session.insert("csrf_token", new_token()).await?;
    session.insert("user_id", user_id(name)).await?;
    session
        .insert("user_data", serde_json::json!({ "name": name }))
        .await?;
    session.insert("counter", 0).await?;
    Ok(see_other())
}

/// A stable number for a name (the demo has no user table).
fn user_id(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) >> 11
}

async fn count(session: Session, form: web::Form<Form>) -> Result<HttpResponse, SessionError> {
    if !csrf_ok(&session, &form).await? {
        return Ok(forbidden());
    }
    let n: u64 = session.get("counter").await?.unwrap_or(0);
    session.insert("counter", n + 1).await?;
    Ok(see_other())
}

async fn logout(session: Session, form: web::Form<Form>) -> Result<HttpResponse, SessionError> {
    if !csrf_ok(&session, &form).await? {
        return Ok(forbidden());
    }
    session.destroy().await?;
    Ok(see_other())
}

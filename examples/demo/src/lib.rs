//! The session-plus demo app: the seed configuration (a `csrf` signed cookie,
//! a server-side `session` for the login, an `auto` signed cookie for the rest)
//! with a login form protected by a CSRF token, a logout, a counter, and a page
//! showing which interface holds which field.

use std::sync::Arc;

use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use session_plus::store::SessionStore;
use session_plus::{
    FieldRules, Interface, Key, Session, SessionError, SessionLayer, SessionManager,
};
use subtle::ConstantTimeEq;

/// Where the demo keeps its server-side `session` interface.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The embedded default: a SQLite file.
    Sqlite(String),
    /// Redis at this URL (set `SESSION_REDIS_URL`).
    Redis(String),
}

/// The demo's settings, read from the environment by [`Settings::from_env`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen address (`DEMO_ADDR`, default `127.0.0.1:3000`).
    pub addr: String,
    /// Server-side backend (`SESSION_REDIS_URL`, else `SESSION_DB`, default `session-plus-demo.db`).
    pub backend: Backend,
    /// Signing key (`SESSION_SECRET`, at least 32 bytes; default: random per start).
    pub key: Key,
    /// Where the key came from, for the start-up banner (never the key itself).
    pub key_source: &'static str,
}

impl Settings {
    /// Read the settings from the environment.
    pub fn from_env() -> Result<Self, String> {
        let addr = std::env::var("DEMO_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
        let backend = match std::env::var("SESSION_REDIS_URL") {
            Ok(url) if !url.is_empty() => Backend::Redis(url),
            _ => Backend::Sqlite(
                std::env::var("SESSION_DB").unwrap_or_else(|_| "session-plus-demo.db".into()),
            ),
        };
        let (key, key_source) = match std::env::var("SESSION_SECRET") {
            Ok(secret) => (
                Key::from_bytes(secret.as_bytes()).map_err(|e| format!("SESSION_SECRET: {e}"))?,
                "SESSION_SECRET",
            ),
            Err(_) => (
                Key::generate(),
                "random (set SESSION_SECRET to keep sessions across restarts)",
            ),
        };
        Ok(Self {
            addr,
            backend,
            key,
            key_source,
        })
    }
}

/// The seed configuration with `store` as the server-side backend.
pub fn manager(store: Arc<dyn SessionStore>, key: Key) -> session_plus::Result<SessionManager> {
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

/// Connect the backend chosen by the settings.
pub async fn store(backend: &Backend) -> session_plus::Result<Arc<dyn SessionStore>> {
    Ok(match backend {
        Backend::Sqlite(path) => {
            let store = session_plus::sqlite::SqliteStore::open(path)?;
            // Expired rows go every five minutes, while the store lives.
            drop(store.spawn_sweeper(std::time::Duration::from_secs(300)));
            Arc::new(store)
        }
        Backend::Redis(url) => Arc::new(session_plus::redis::RedisStore::from_url(url).await?),
    })
}

/// Serve the demo with settings from the environment until Ctrl-C.
pub async fn run_from_env() -> Result<(), Box<dyn std::error::Error>> {
    let settings = Settings::from_env()?;
    let store = store(&settings.backend).await?;
    let manager = Arc::new(manager(store, settings.key.clone())?);
    let listener = tokio::net::TcpListener::bind(&settings.addr).await?;
    println!("session-plus demo on http://{}", listener.local_addr()?);
    match &settings.backend {
        Backend::Sqlite(path) => println!("  server-side sessions: sqlite file {path}"),
        Backend::Redis(_) => println!("  server-side sessions: redis (SESSION_REDIS_URL)"),
    }
    println!("  signing key: {}", settings.key_source);
    axum::serve(listener, app(manager))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// The demo's routes behind the session layer.
pub fn app(manager: Arc<SessionManager>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/count", post(count))
        .layer(SessionLayer::new(manager.clone()))
        .with_state(manager)
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("OS randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

async fn csrf_token(session: &Session) -> Result<String, SessionError> {
    if let Some(t) = session.get::<String>("csrf_token").await? {
        return Ok(t);
    }
    let t = new_token();
    session.insert("csrf_token", &t).await?;
    Ok(t)
}

async fn index(
    axum::extract::State(manager): axum::extract::State<Arc<SessionManager>>,
    session: Session,
) -> Result<Html<String>, SessionError> {
    let token = csrf_token(&session).await?;
    let map = session.to_map().await?;
    let user = map
        .get("user_data")
        .and_then(|d| d.get("name"))
        .and_then(|n| n.as_str())
        .map(escape);
    let flash = match session.remove::<String>("flash").await? {
        Some(f) => format!("<p><i>{}</i></p>", escape(&f)),
        None => String::new(),
    };
    let counter = map
        .get("counter")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let rows: String = map
        .iter()
        .map(|(field, value)| {
            let shown = if field == "csrf_token" {
                "(hidden)".to_owned()
            } else {
                escape(&value.to_string())
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(field),
                manager.owners_of(field).join(", "),
                shown
            )
        })
        .collect();
    let login = match &user {
        Some(name) => format!(
            r#"<p>Logged in as <b>{name}</b>.</p>
<form method="post" action="/logout"><input type="hidden" name="csrf_token" value="{token}"><button>Log out</button></form>"#
        ),
        None => format!(
            r#"<form method="post" action="/login"><input type="hidden" name="csrf_token" value="{token}">
<label>Name <input name="name" required></label> <button>Log in</button></form>"#
        ),
    };
    Ok(Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>session-plus demo</title></head><body>
<h1>session-plus demo</h1>
{flash}
{login}
<p>Counter: <b id="counter">{counter}</b></p>
<form method="post" action="/count"><input type="hidden" name="csrf_token" value="{token}"><button>Count</button></form>
<h2>Where each field lives</h2>
<table border="1"><tr><th>field</th><th>interface</th><th>value</th></tr>{rows}</table>
</body></html>"#
    )))
}

/// A form carrying the CSRF token.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    csrf_token: String,
    #[serde(default)]
    name: String,
}

/// Compare the posted token with the session's, in constant time.
async fn check_csrf(session: &Session, form: &TokenForm) -> Result<bool, SessionError> {
    let Some(expected) = session.get::<String>("csrf_token").await? else {
        return Ok(false);
    };
    Ok(bool::from(
        expected.as_bytes().ct_eq(form.csrf_token.as_bytes()),
    ))
}

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "CSRF token missing or wrong").into_response()
}

async fn login(session: Session, Form(form): Form<TokenForm>) -> Result<Response, SessionError> {
    if !check_csrf(&session, &form).await? {
        return Ok(forbidden());
    }
    let name = form.name.trim();
    if name.is_empty() || name.len() > 64 {
        return Ok((StatusCode::BAD_REQUEST, "name must be 1 to 64 characters").into_response());
    }
    // New ids at login (session fixation), and a new CSRF token.
    session.cycle_id().await?;
    session.insert("user_id", name.to_lowercase()).await?;
    session
        .insert("user_data", serde_json::json!({ "name": name }))
        .await?;
    session.insert("csrf_token", new_token()).await?;
    // Lands in the `data` cookie ("auto"): every interface gets written at login.
    session.insert("flash", format!("Welcome, {name}!")).await?;
    Ok(Redirect::to("/").into_response())
}

async fn logout(session: Session, Form(form): Form<TokenForm>) -> Result<Response, SessionError> {
    if !check_csrf(&session, &form).await? {
        return Ok(forbidden());
    }
    session.destroy().await?;
    Ok(Redirect::to("/").into_response())
}

async fn count(session: Session, Form(form): Form<TokenForm>) -> Result<Response, SessionError> {
    if !check_csrf(&session, &form).await? {
        return Ok(forbidden());
    }
    let n: u64 = session.get("counter").await?.unwrap_or(0);
    session.insert("counter", n + 1).await?;
    Ok(Redirect::to("/").into_response())
}

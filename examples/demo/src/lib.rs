//! The session-plus demo app: the seed configuration (a `csrf` signed cookie,
//! a server-side `session` for the login, an `auto` encrypted cookie for the
//! rest) behind a login form protected by a CSRF token, with a counter, a
//! logout, and a page showing where each interface keeps its data and which
//! interface holds which field.
//!
//! Settings come from the environment ([`config::Settings`]); the
//! configuration is a document ([`config::DEFAULT_CONFIG`], or your own with
//! `SESSION_CONFIG=path.toml`), built with [`session_plus::default_registry`].

pub mod config;
pub mod page;
pub mod routes;

/// The README's Rust snippets, compiled as doc tests of this crate (run by
/// `./scripts/test`): a snippet that stops compiling fails the build.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod readme {}

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use session_plus::SessionLayer;

use config::{places, Settings, Source, DEMO_FIELDS};
use routes::Demo;

/// Build the session manager the settings describe; errors are ready to
/// print (they name the variable or file, the interface, the setting, and
/// every cause).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use session_plus_demo::config::Settings;
///
/// let dir = tempfile::tempdir().unwrap();
/// let db = dir.path().join("demo.db").display().to_string();
/// let settings = Settings::from_vars(|name| (name == "SESSION_DB").then(|| db.clone())).unwrap();
/// let demo = session_plus_demo::build(&settings).await.unwrap();
/// assert_eq!(demo.manager.owners_of("user_id"), ["session"]);
/// let app: axum::Router = session_plus_demo::app(demo); // serve it with axum::serve
///
/// let missing = Settings::from_vars(|name| {
///     (name == "SESSION_DB").then(|| "/nonexistent/demo.db".to_owned())
/// })
/// .unwrap();
/// let err = session_plus_demo::build(&missing).await.err().unwrap();
/// assert!(err.contains("`/nonexistent/demo.db`"), "{err}");
/// assert!(err.contains("No such file or directory (os error 2)"), "{err}");
/// # });
/// ```
pub async fn build(settings: &Settings) -> Result<Demo, String> {
    let origin = match &settings.source {
        Source::Builtin(server_side) => format!(
            "{}={}",
            server_side.chosen_by,
            match server_side.chosen_by {
                "SESSION_DB" => server_side
                    .url
                    .as_deref()
                    .map_or("", |u| u.trim_start_matches("sqlite://"))
                    .to_owned(),
                _ => server_side
                    .url
                    .as_deref()
                    .map_or_else(String::new, config::redact_url),
            }
        ),
        Source::File(path) => format!("SESSION_CONFIG={path}"),
    };
    let doc = settings.document()?;
    let manager = doc
        .build(
            settings.key.clone().into(),
            &session_plus::default_registry(),
        )
        .await
        .map_err(|e| format!("{origin}: {}", e.report()))?;
    if let Some(field) = DEMO_FIELDS.iter().find(|f| manager.owners_of(f).is_empty()) {
        return Err(format!(
            "{origin}: no interface owns the field `{field}`, which the demo uses \
             (give it to an interface's session_fields, or use [] or \"auto\")"
        ));
    }
    Ok(Demo {
        manager: Arc::new(manager),
        places: Arc::new(places(&doc)),
    })
}

/// Serve the demo with settings from the environment until Ctrl-C. The error
/// is a message for people.
pub async fn run_from_env() -> Result<(), String> {
    let settings = Settings::from_env()?;
    let demo = build(&settings).await?;
    let listener = tokio::net::TcpListener::bind(&settings.addr)
        .await
        .map_err(|e| format!("DEMO_ADDR={}: cannot listen: {e}", settings.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("session-plus demo on http://{addr}");
    match &settings.source {
        Source::Builtin(s) => println!(
            "  configuration: built-in, server-side backend `{}` (chosen by {})",
            s.session_type, s.chosen_by
        ),
        Source::File(path) => println!("  configuration: {path} (SESSION_CONFIG)"),
    }
    for p in demo.places.iter() {
        println!("  interface `{}`: {}, {}", p.interface, p.kind, p.location);
    }
    println!("  key: {}", settings.key_source);
    println!("  log: RUST_LOG=session_plus=debug shows one line per backend call");
    axum::serve(listener, app(demo))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| format!("serving failed: {e}"))
}

/// The demo's routes behind the session layer.
pub fn app(demo: Demo) -> Router {
    Router::new()
        .route("/", get(routes::index))
        .route("/login", post(routes::login))
        .route("/logout", post(routes::logout))
        .route("/count", post(routes::count))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(SessionLayer::new(demo.manager.clone()))
        .layer(middleware::map_response(error_pages))
        .layer(middleware::from_fn(log_request))
        .with_state(demo)
}

/// Every error response that is not a page yet (the session layer's bare
/// statuses, axum's rejections, 404) becomes one, with a link back. Headers
/// such as `Set-Cookie` are kept.
async fn error_pages(response: Response) -> Response {
    let status = response.status();
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_html {
        return response;
    }
    let (title, explanation) = page::explain(status);
    let (mut parts, _) = response.into_parts();
    let styled = page::error_page(status, title, explanation);
    let (styled_parts, body) = styled.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        styled_parts
            .headers
            .get(header::CONTENT_TYPE)
            .cloned()
            .unwrap_or(HeaderValue::from_static("text/html; charset=utf-8")),
    );
    Response::from_parts(parts, Body::new(body)).into_response()
}

/// One info line per request: method, path, status, latency (no cookies,
/// no query strings).
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let start = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        path = %path.chars().take(200).collect::<String>(),
        status = response.status().as_u16(),
        latency_us = start.elapsed().as_micros() as u64,
        "request"
    );
    response
}

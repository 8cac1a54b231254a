//! The demo's pages: the session shown field by field with where each field
//! lives, a login form protected by a CSRF token, a counter, a logout.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use session_plus::{Session, SessionError, SessionManager};
use subtle::ConstantTimeEq;

use crate::config::Place;
use crate::page::{error_page, escape, explain, layout, readable};

/// What the handlers share: the manager (for "which interface owns this
/// field") and where each interface lives.
#[derive(Clone)]
pub struct Demo {
    /// The session configuration.
    pub manager: Arc<SessionManager>,
    /// Where each interface keeps its data, in configuration order.
    pub places: Arc<Vec<Place>>,
}

/// A posted form: the fields as sent, or why it could not be read.
type PostedForm = Result<Form<HashMap<String, String>>, FormRejection>;

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("OS randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn csrf_token(session: &Session) -> Result<String, SessionError> {
    if let Some(t) = session.get::<String>("csrf_token").await? {
        return Ok(t);
    }
    let t = new_token();
    session.insert("csrf_token", &t).await?;
    Ok(t)
}

/// Whether the form carries the session's CSRF token (compared in constant
/// time). A missing field, a form that cannot be read, or a session without
/// a token all fail.
async fn csrf_ok(session: &Session, form: &PostedForm) -> Result<bool, SessionError> {
    let Some(posted) = form.as_ref().ok().and_then(|f| f.get("csrf_token")) else {
        return Ok(false);
    };
    let Some(expected) = session.get::<String>("csrf_token").await? else {
        return Ok(false);
    };
    Ok(bool::from(expected.as_bytes().ct_eq(posted.as_bytes())))
}

fn forbidden() -> Response {
    let (title, explanation) = explain(StatusCode::FORBIDDEN);
    error_page(StatusCode::FORBIDDEN, title, explanation)
}

fn badge(place: Option<&Place>) -> String {
    let Some(p) = place else {
        return String::new();
    };
    let class = match (p.server_side, p.kind.as_str()) {
        (true, _) => "k-server",
        (false, "encrypted cookie") => "k-encrypted",
        (false, _) => "k-cookie",
    };
    format!(r#"<span class="badge {class}">{}</span>"#, escape(&p.kind))
}

/// `GET /`: the session, field by field, and the forms.
pub async fn index(
    State(demo): State<Demo>,
    session: Session,
) -> Result<Html<String>, SessionError> {
    let token = csrf_token(&session).await?;
    let flash = session.remove::<String>("flash").await?;
    let map = session.to_map().await?;
    let place = |name: &str| demo.places.iter().find(|p| p.interface == name);

    let user = map
        .get("user_data")
        .and_then(|d| d.get("name"))
        .and_then(|n| n.as_str());
    let counter = map
        .get("counter")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let flash = flash.map_or_else(String::new, |f| {
        format!(r#"<div class="card flash" id="flash">{}</div>"#, escape(&f))
    });
    let login = match user {
        Some(name) => format!(
            r#"<div class="card row"><span>Logged in as <b id="user">{name}</b>.</span>
<form method="post" action="/logout"><input type="hidden" name="csrf_token" value="{token}"><button class="secondary" id="logout">Log out</button></form></div>"#,
            name = escape(name),
        ),
        None => format!(
            r#"<div class="card"><form method="post" action="/login" class="row"><input type="hidden" name="csrf_token" value="{token}">
<label>Name <input type="text" name="name" id="name" required maxlength="64" autocomplete="username"></label>
<button id="login">Log in</button></form>
<p class="muted">Logging in gives every server-side interface a new id (no session fixation) and a new CSRF token.</p></div>"#
        ),
    };
    let interfaces: String = demo
        .places
        .iter()
        .map(|p| {
            let cookie_holds = if p.server_side {
                "only a random 256-bit id"
            } else {
                "the fields themselves"
            };
            format!(
                r#"<tr data-interface="{name}"><td><code>{name}</code></td><td>{badge}</td><td class="where">{location}</td><td>{cookie_holds}</td></tr>"#,
                name = escape(&p.interface),
                badge = badge(Some(p)),
                location = escape(&p.location),
            )
        })
        .collect();
    let fields: String = if map.is_empty() {
        r#"<tr><td colspan="4" class="muted">The session is empty.</td></tr>"#.to_owned()
    } else {
        map.iter()
            .map(|(field, value)| {
                let owners = demo.manager.owners_of(field);
                let shown = if field == "csrf_token" {
                    format!(
                        r#"<span class="muted">secret ({} characters), checked on every form</span>"#,
                        value.as_str().map_or(0, str::len)
                    )
                } else {
                    escape(&readable(value))
                };
                format!(
                    r#"<tr data-field="{field}"><td><code>{field}</code></td><td class="interface">{owners}</td><td>{kinds}</td><td class="value">{shown}</td></tr>"#,
                    field = escape(field),
                    owners = owners
                        .iter()
                        .map(|o| format!("<code>{}</code>", escape(o)))
                        .collect::<Vec<_>>()
                        .join(", "),
                    kinds = owners
                        .iter()
                        .map(|o| badge(place(o)))
                        .collect::<Vec<_>>()
                        .join(" "),
                )
            })
            .collect()
    };
    let body = format!(
        r#"<h1>session-plus demo</h1>
<p class="lead">One session, kept in several places at once: each field goes to the interface that owns it.</p>
{flash}
{login}
<div class="card row"><span>Counter: <span class="counter" id="counter">{counter}</span></span>
<form method="post" action="/count"><input type="hidden" name="csrf_token" value="{token}"><button id="count">Count</button></form>
<span class="muted">kept in the <code>data</code> interface with every field no other interface claims</span></div>
<h2>Where each interface keeps its data</h2>
<table id="interfaces"><tr><th>interface (cookie)</th><th>kind</th><th>where</th><th>the cookie holds</th></tr>{interfaces}</table>
<h2>Where each field lives</h2>
<table id="fields"><tr><th>field</th><th>interface</th><th>kind</th><th>value</th></tr>{fields}</table>
<p class="muted">Run with <code>RUST_LOG=session_plus=debug</code> to see one log line per backend call.</p>"#
    );
    Ok(Html(layout("session-plus demo", &body)))
}

/// `POST /login`: check the token, then log in under a new session id.
pub async fn login(session: Session, form: PostedForm) -> Result<Response, SessionError> {
    if !csrf_ok(&session, &form).await? {
        return Ok(forbidden());
    }
    let name = form
        .as_ref()
        .ok()
        .and_then(|f| f.get("name"))
        .map_or("", |n| n.trim())
        .to_owned();
    if name.is_empty() || name.chars().count() > 64 {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The name must be 1 to 64 characters.",
        ));
    }
    // New ids at login (session fixation), and a new CSRF token.
    session.cycle_id().await?;
    session.insert("user_id", name.to_lowercase()).await?;
    session
        .insert("user_data", serde_json::json!({ "name": name }))
        .await?;
    session.insert("csrf_token", new_token()).await?;
    // Lands in the `data` cookie ("auto").
    session.insert("flash", format!("Welcome, {name}!")).await?;
    Ok(Redirect::to("/").into_response())
}

/// `POST /logout`: every record deleted, every cookie expired.
pub async fn logout(session: Session, form: PostedForm) -> Result<Response, SessionError> {
    if !csrf_ok(&session, &form).await? {
        return Ok(forbidden());
    }
    session.destroy().await?;
    Ok(Redirect::to("/").into_response())
}

/// `POST /count`: one more.
pub async fn count(session: Session, form: PostedForm) -> Result<Response, SessionError> {
    if !csrf_ok(&session, &form).await? {
        return Ok(forbidden());
    }
    let n: u64 = session.get("counter").await?.unwrap_or(0);
    session.insert("counter", n + 1).await?;
    Ok(Redirect::to("/").into_response())
}

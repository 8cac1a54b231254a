//! The handler logic every adapter's test app serves: the session API, one
//! operation per request.
//!
//! | route | does |
//! |---|---|
//! | `GET /get/{f}` | the JSON value of `f` (`null` when absent) |
//! | `POST /set/{f}/{v}` | insert `v` (JSON if it parses, else a string) |
//! | `POST /set-careless/{f}/{v}` | the same, dropping the error (the middleware must still fail the response) |
//! | `POST /remove/{f}` | remove `f` |
//! | `GET /all` | the whole map as JSON |
//! | `POST /clear`, `POST /destroy` | clear / destroy |
//! | `POST /login/{user}` | `cycle_id`, then `user_id = user` |
//! | `POST /permanent/{i}/{on}`, `GET /is-permanent/{i}` | permanence of interface `i` |
//! | `GET /none` | does not touch the session |
//! | `POST /seed-login` | `cycle_id` and one field for each seed interface |
//! | `POST /cached` | a write, and the handler's own `Cache-Control` |
//! | `POST /spawn-late` | keeps a clone of the session for [`late_use`] |

use std::sync::Mutex;

use session_plus_core::{Error, Session};

/// What a handler answers when the session calls succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// 200, or 404 / 405 for an unknown route or method.
    pub status: u16,
    /// The handler's own `Cache-Control`, if any.
    pub cache_control: Option<&'static str>,
    /// The body.
    pub body: String,
}

impl Handled {
    fn ok(body: impl Into<String>) -> Self {
        Self {
            status: 200,
            cache_control: None,
            body: body.into(),
        }
    }
    fn status(status: u16) -> Self {
        Self {
            status,
            cache_control: None,
            body: String::new(),
        }
    }
}

fn parse_value(v: &str) -> serde_json::Value {
    serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_owned()))
}

/// Sessions kept by `POST /spawn-late` beyond their request.
static LATE: Mutex<Vec<Session>> = Mutex::new(Vec::new());

/// Use the session kept by the last `POST /spawn-late` (its request is over):
/// what a task spawned by a handler would get.
pub async fn late_use() -> Result<(), Error> {
    let session = LATE
        .lock()
        .expect("lock")
        .pop()
        .expect("a POST /spawn-late first");
    session.insert("theme", "late").await
}

/// Run the route for `method` and `path` (query string ignored) on `session`.
pub async fn handle(session: &Session, method: &str, path: &str) -> Result<Handled, Error> {
    let path = path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let want = match parts.as_slice() {
        ["get", _] | ["all"] | ["is-permanent", _] | ["none"] => "GET",
        ["set", _, _]
        | ["set-careless", _, _]
        | ["remove", _]
        | ["clear"]
        | ["destroy"]
        | ["login", _]
        | ["permanent", _, _]
        | ["seed-login"]
        | ["cached"]
        | ["spawn-late"] => "POST",
        _ => return Ok(Handled::status(404)),
    };
    if method != want {
        return Ok(Handled::status(405));
    }
    let s = session;
    Ok(match parts.as_slice() {
        ["get", f] => Handled::ok(
            s.get_value(f)
                .await?
                .map_or("null".into(), |v| v.to_string()),
        ),
        ["set", f, v] => {
            s.insert(f, parse_value(v)).await?;
            Handled::ok("ok")
        }
        ["set-careless", f, v] => {
            // A careless handler that drops the error: the middleware must
            // still fail the response.
            let _ = s.insert(f, parse_value(v)).await;
            Handled::ok("ok")
        }
        ["remove", f] => {
            s.remove_value(f).await?;
            Handled::ok("ok")
        }
        ["all"] => Handled::ok(serde_json::to_string(&s.to_map().await?).unwrap_or_default()),
        ["clear"] => {
            s.clear().await?;
            Handled::ok("ok")
        }
        ["destroy"] => {
            s.destroy().await?;
            Handled::ok("ok")
        }
        ["login", user] => {
            let Ok(user) = user.parse::<u64>() else {
                return Ok(Handled::status(404));
            };
            s.cycle_id().await?;
            s.insert("user_id", user).await?;
            Handled::ok("ok")
        }
        ["permanent", i, on] => {
            let Ok(on) = on.parse::<bool>() else {
                return Ok(Handled::status(404));
            };
            s.set_permanent(i, on).await?;
            Handled::ok("ok")
        }
        ["is-permanent", i] => Handled::ok(s.is_permanent(i).await?.to_string()),
        ["none"] => Handled::ok("none"),
        ["seed-login"] => {
            s.cycle_id().await?;
            s.insert("csrf_token", "tok").await?;
            s.insert("user_id", 42).await?;
            s.insert("user_data", serde_json::json!({"name": "ann"}))
                .await?;
            s.insert("theme", "dark").await?;
            Handled::ok("ok")
        }
        ["cached"] => {
            s.insert("theme", "dark").await?;
            Handled {
                cache_control: Some("private, max-age=5"),
                ..Handled::ok("ok")
            }
        }
        ["spawn-late"] => {
            s.insert("theme", "early").await?;
            LATE.lock().expect("lock").push(s.clone());
            Handled::ok("ok")
        }
        _ => Handled::status(404),
    })
}

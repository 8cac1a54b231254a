//! The session is made on first use inside the layer's task-local scope;
//! `SessionLayer::cross_task` is the fallback for handlers run on another task.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use http::header::{COOKIE, SET_COOKIE, VARY};
use http::StatusCode;
use http_body_util::BodyExt;
use session_plus::{
    FieldRules, Interface, Key, Session, SessionError, SessionLayer, SessionManager,
};
use tower::{Layer, ServiceExt};

fn manager() -> Arc<SessionManager> {
    Arc::new(
        SessionManager::builder()
            .keys(Key::generate())
            .interface(Interface::secure_cookie("data").fields(FieldRules::All))
            .build()
            .unwrap(),
    )
}

async fn count(session: Session) -> Result<String, SessionError> {
    let n: u64 = session.get("n").await?.unwrap_or(0) + 1;
    session.insert("n", n).await?;
    Ok(n.to_string())
}

/// Two extractions in one request are one session.
async fn twice(a: Session, b: Session) -> Result<String, SessionError> {
    a.insert("n", 7_u64).await?;
    let n: Option<u64> = b.get("n").await?;
    Ok(format!("{n:?}"))
}

/// Extracts the session but never uses it.
async fn extract_only(_session: Session) -> &'static str {
    "idle"
}

/// The rest of the request on a new task (e.g. to isolate panics).
async fn spawn_rest(req: Request, next: Next) -> Response {
    tokio::spawn(next.run(req)).await.expect("handler task")
}

fn routes() -> Router {
    Router::new()
        .route("/count", get(count))
        .route("/twice", get(twice))
        .route("/idle", get(extract_only))
        .route("/none", get(|| async { "none" }))
}

struct Answer {
    status: StatusCode,
    body: String,
    cookie: Option<String>,
    vary: bool,
}

async fn send<S>(svc: S, path: &str, cookie: Option<&str>) -> Answer
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
{
    let mut req = http::Request::get(path);
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    let res = svc.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let cookie = res
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    let vary = res.headers().contains_key(VARY);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        body: String::from_utf8(body.to_vec()).unwrap(),
        cookie,
        vary,
    }
}

#[tokio::test]
async fn made_on_first_use_with_the_layer_around_the_router() {
    let app = SessionLayer::new(manager()).layer(routes());
    let first = send(app.clone(), "/count", None).await;
    assert_eq!((first.status, first.body.as_str()), (StatusCode::OK, "1"));
    let cookie = first.cookie.expect("a session cookie");
    let second = send(app.clone(), "/count", Some(&cookie)).await;
    assert_eq!(
        second.body, "2",
        "the Cookie header is read when the session is made"
    );

    let twice = send(app.clone(), "/twice", None).await;
    assert_eq!(twice.body, "Some(7)", "both extractions share one session");

    for path in ["/none", "/idle"] {
        let a = send(app.clone(), path, Some(&cookie)).await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(
            a.cookie.is_none() && !a.vary,
            "{path}: nothing when the session is not used"
        );
    }
}

#[tokio::test]
async fn made_on_first_use_with_router_layer() {
    let app = routes().layer(SessionLayer::new(manager()));
    let first = send(app.clone(), "/count", None).await;
    let second = send(app, "/count", first.cookie.as_deref()).await;
    assert_eq!(second.body, "2");
}

#[tokio::test]
async fn another_task_without_cross_task_is_a_clear_500() {
    let app = routes()
        .layer(middleware::from_fn(spawn_rest))
        .layer(SessionLayer::new(manager()));
    let a = send(app.clone(), "/count", None).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(a.body, "session layer missing");
    assert!(a.cookie.is_none());
    // Untouched requests are unaffected.
    assert_eq!(send(app, "/none", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn cross_task_reaches_the_session_from_another_task() {
    let app = routes()
        .layer(middleware::from_fn(spawn_rest))
        .layer(SessionLayer::new(manager()).cross_task(true));
    let first = send(app.clone(), "/count", None).await;
    assert_eq!((first.status, first.body.as_str()), (StatusCode::OK, "1"));
    let second = send(app.clone(), "/count", first.cookie.as_deref()).await;
    assert_eq!(second.body, "2");
    assert!(second.cookie.is_some());
    let twice = send(app.clone(), "/twice", None).await;
    assert_eq!(twice.body, "Some(7)");
    let idle = send(app, "/idle", first.cookie.as_deref()).await;
    assert!(idle.cookie.is_none() && !idle.vary);
}

#[tokio::test]
async fn cross_task_in_task_and_spawned_extractions_share_one_session() {
    async fn split(session: Session, req: Request) -> Result<String, SessionError> {
        session.insert("n", 3_u64).await?;
        // A task spawned with the request itself extracts the session again.
        let other = tokio::spawn(async move { Session::from_request(&req) })
            .await
            .expect("task")
            .expect("the cross-task handle");
        Ok(format!("{:?}", other.get::<u64>("n").await?))
    }
    let app = SessionLayer::new(manager())
        .cross_task(true)
        .layer(Router::new().route("/split", get(split)));
    let a = send(app, "/split", None).await;
    assert_eq!(a.body, "Some(3)");
    assert!(a.cookie.is_some());
}

#[tokio::test]
async fn after_the_response_the_request_has_no_session() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
    let app = SessionLayer::new(manager())
        .cross_task(true)
        .layer(Router::new().route(
            "/keep",
            get(move |req: Request| {
                let tx = tx.clone().lock().unwrap().take();
                async move {
                    let _ = tx.expect("one request").send(req);
                    "kept"
                }
            }),
        ));
    assert_eq!(send(app, "/keep", None).await.body, "kept");
    let kept = rx.await.unwrap();
    assert!(
        Session::from_request(&kept).is_none(),
        "a session made after the save would never be saved"
    );
}

#[test]
fn no_session_outside_a_layer() {
    assert!(Session::from_request(&http::Request::new(())).is_none());
}

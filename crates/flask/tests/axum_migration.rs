//! The migration scenario end to end: a user logs in on a Flask route (the
//! real Flask 3.1), then an axum route served by session-plus reads and
//! updates the same session, and Flask sees the update. This is the example of
//! `README-migrating.md`.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use common::{tagged, Peer};
use http::{header, Request, StatusCode};
use serde_json::json;
use session_plus::{Interface, Session, SessionError, SessionLayer, SessionManager};
use session_plus_flask::{FlaskCookieFormat, FlaskSecrets};
use tower::ServiceExt as _;

const SECRET_KEY: &str = "the same SECRET_KEY as the Flask app";

async fn profile(session: Session) -> Result<(StatusCode, String), SessionError> {
    let Some(user_id) = session.get::<u64>("user_id").await? else {
        return Ok((StatusCode::UNAUTHORIZED, "log in first".into()));
    };
    session.insert("last_route", "rust").await?;
    Ok((StatusCode::OK, format!("user {user_id}")))
}

fn app() -> Router {
    let format = FlaskCookieFormat::flask(FlaskSecrets::new(SECRET_KEY).unwrap());
    let manager = SessionManager::builder()
        .interface(Interface::cookie_with_format("session", Arc::new(format)))
        .build()
        .unwrap();
    Router::new()
        .route("/profile", get(profile))
        .layer(SessionLayer::new(Arc::new(manager)))
}

#[test]
fn a_user_logged_in_by_flask_is_logged_in_on_the_axum_route() {
    let mut flask = Peer::flask(SECRET_KEY, &[]);
    // Flask's login route: session["user_id"] = 42; session.permanent = True
    let login = flask.call(json!({"op": "request", "set": r#"{"user_id":42}"#, "permanent": true}));
    let cookie = login["cookie"].as_str().unwrap().to_owned();

    let rt = common::rt();
    let set_cookie = rt.block_on(async {
        let res = app()
            .oneshot(
                Request::get("/profile")
                    .header(header::COOKIE, format!("session={cookie}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let set = res
            .headers()
            .get(header::SET_COOKIE)
            .expect("the axum route updated the session")
            .to_str()
            .unwrap()
            .to_owned();
        assert!(set.contains("Max-Age=2678400"), "still permanent: {set}");
        set
    });
    let value = set_cookie
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("session=")
        .unwrap();
    let back = flask.call(json!({"op": "request", "cookie": value}));
    assert_eq!(
        tagged(back["session"].as_str().unwrap()),
        json!({"user_id": 42, "last_route": "rust"})
    );
    assert_eq!(back["permanent"], true);

    // Without Flask's login, the axum route refuses.
    let status = rt.block_on(async {
        app()
            .oneshot(Request::get("/profile").body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

//! The tower/axum side of the shared HTTP behaviour suite
//! (`session-plus-http-suite`): a real axum app behind the real
//! `SessionLayer`, driven in-process with `tower::ServiceExt::oneshot`.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::BodyExt;
use session_plus::{Session, SessionError, SessionLayer, SessionManager};
use session_plus_http_suite::routes;
use tower::ServiceExt;

#[allow(unused_imports)]
pub use session_plus_http_suite::{
    record_key, seed_manager, send, signed_fields, signed_payload, Captured, FaultyStore, Jar,
    Reply,
};

/// The axum adapter, for `session_plus_http_suite::suite!`.
pub struct Axum;

/// One axum app.
#[derive(Clone)]
pub struct AxumApp(Router);

/// The one handler: the suite's routes, errors through [`SessionError`].
async fn route(session: Session, method: Method, uri: Uri) -> Result<Response, SessionError> {
    let done = routes::handle(&session, method.as_str(), &uri.to_string()).await?;
    let status = StatusCode::from_u16(done.status).expect("status");
    Ok(match done.cache_control {
        Some(cc) => (status, [(http::header::CACHE_CONTROL, cc)], done.body).into_response(),
        None => (status, done.body).into_response(),
    })
}

/// The suite's routes behind a `SessionLayer` for `manager`.
pub fn app(manager: SessionManager) -> AxumApp {
    app_with(Arc::new(manager))
}

/// [`app`] over a shared manager.
pub fn app_with(manager: Arc<SessionManager>) -> AxumApp {
    AxumApp(
        Router::new()
            .fallback(route)
            .layer(SessionLayer::new(manager)),
    )
}

impl session_plus_http_suite::Adapter for Axum {
    type App = AxumApp;

    async fn app(&self, manager: Arc<SessionManager>) -> AxumApp {
        app_with(manager)
    }
}

impl session_plus_http_suite::App for AxumApp {
    fn call(&self, request: Request<()>) -> impl Future<Output = Reply> {
        let router = self.0.clone();
        async move {
            let res = router
                .oneshot(request.map(|()| Body::empty()))
                .await
                .expect("infallible");
            let status = res.status().as_u16();
            let headers = res.headers().clone();
            let body = res
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes()
                .to_vec();
            Reply::new(
                status,
                headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())),
                body,
            )
        }
    }
}

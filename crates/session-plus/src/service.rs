//! The tower [`Service`] wrapping a handler: loads lazily, saves after.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{HeaderValue, CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use http::{Request, Response, StatusCode};
use session_plus_core::{Finish, SessionManager};
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::Session;

/// The service made by [`SessionLayer`](crate::SessionLayer).
#[derive(Debug, Clone)]
pub struct SessionService<S> {
    inner: S,
    manager: Arc<SessionManager>,
}

impl<S> SessionService<S> {
    pub(crate) fn new(inner: S, manager: Arc<SessionManager>) -> Self {
        Self { inner, manager }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let cookies = req
            .headers()
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let session = Session(session_plus_core::Session::new(
            self.manager.clone(),
            cookies,
        ));
        req.extensions_mut().insert(session.clone());
        // The clone that was made ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(inner.call(req), session)
    }
}

/// Put the save's outcome on the response: cookies, caching headers, or an
/// error status that leaks nothing.
pub(crate) fn apply<B: Default>(res: &mut Response<B>, finish: Finish) {
    if let Some(err) = &finish.error {
        let status = if err.is_service_unavailable() {
            StatusCode::SERVICE_UNAVAILABLE
        } else if err.is_ended() {
            StatusCode::CONFLICT
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        tracing::error!(error = %err, %status, "session could not be saved; answering with an error");
        *res = Response::new(B::default());
        *res.status_mut() = status;
    }
    let headers = res.headers_mut();
    if finish.accessed {
        let has_cookie_vary = headers.get_all(VARY).iter().any(|v| {
            v.to_str().is_ok_and(|s| {
                s.split(',')
                    .any(|p| p.trim().eq_ignore_ascii_case("cookie") || p.trim() == "*")
            })
        });
        if !has_cookie_vary {
            headers.append(VARY, HeaderValue::from_static("Cookie"));
        }
    }
    if finish.cookies.is_empty() {
        return;
    }
    for c in &finish.cookies {
        match HeaderValue::from_str(c.header_value()) {
            Ok(v) => {
                headers.append(SET_COOKIE, v);
            }
            Err(_) => tracing::error!(cookie = c.name(), "cookie value is not a valid header"),
        }
    }
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

//! The tower [`Service`] wrapping a handler: loads lazily, saves after.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{HeaderValue, CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use http::{Request, Response, StatusCode};
use session_plus_core::{vary_covers_cookie, Outcome, SessionDriver, SessionManager};
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
        // Raw bytes: a foreign non-ASCII cookie is skipped pair by pair by the
        // core, never the whole header.
        let cookies = req
            .headers()
            .get_all(COOKIE)
            .iter()
            .map(HeaderValue::as_bytes);
        let driver = SessionDriver::new(self.manager.clone(), cookies);
        req.extensions_mut().insert(Session(driver.session()));
        // The clone that was made ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(inner.call(req), driver)
    }
}

/// Translate the driver's outcome onto the response: nothing here decides a
/// rule, the core's [`Outcome`] does.
pub(crate) fn apply<B: Default>(res: &mut Response<B>, outcome: Outcome) {
    if let Some(status) = outcome.status {
        *res = Response::new(B::default());
        *res.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let headers = res.headers_mut();
    if outcome.vary_cookie
        && !headers
            .get_all(VARY)
            .iter()
            .any(|v| v.to_str().is_ok_and(vary_covers_cookie))
    {
        headers.append(VARY, HeaderValue::from_static("Cookie"));
    }
    for c in outcome.set_cookie_headers() {
        match HeaderValue::from_str(c) {
            Ok(v) => {
                headers.append(SET_COOKIE, v);
            }
            Err(_) => tracing::error!("session cookie value is not a valid header"),
        }
    }
    if let Some(cc) = outcome.cache_control {
        if !headers.contains_key(CACHE_CONTROL) {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static(cc));
        }
    }
}

//! The tower [`Service`] wrapping a handler: the session is made on first
//! use, saved after the handler.
//!
//! A request that never touches its session costs a tokio task-local scope
//! around the inner future and nothing else: no allocation, no copy of the
//! `Cookie` header, no `Extensions` insert. The [`Session`] extractor builds
//! the session from the request's headers the first time a handler asks for
//! it, inside that scope. For handlers that run on another task than the
//! layer's, [`SessionLayer::cross_task`](crate::SessionLayer::cross_task)
//! also puts a handle in the request's extensions.

use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use http::header::{HeaderValue, CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use http::{Extensions, HeaderMap, Request, Response, StatusCode};
use session_plus_core::{vary_covers_cookie, Outcome, SessionDriver, SessionManager};
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::Session;

tokio::task_local! {
    /// The request being served by the innermost [`SessionService`] on this task.
    static CURRENT: Slot;
}

/// One request's session, not yet made: the manager and, after first use,
/// the driver.
#[derive(Debug)]
pub(crate) struct Current {
    manager: Arc<SessionManager>,
    driver: Mutex<Driver>,
}

#[derive(Debug)]
enum Driver {
    Unmade,
    Made(SessionDriver),
    /// The request ended (the service took the driver to save it).
    Ended,
}

impl Current {
    fn new(manager: Arc<SessionManager>) -> Self {
        Self {
            manager,
            driver: Mutex::new(Driver::Unmade),
        }
    }

    /// The session, made from `headers` on first use (later calls share it);
    /// `None` once the request has ended.
    fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let mut driver = self.driver.lock().unwrap_or_else(PoisonError::into_inner);
        match &*driver {
            Driver::Made(d) => Some(Session(d.session())),
            Driver::Ended => None,
            Driver::Unmade => {
                // Raw bytes: a foreign non-ASCII cookie is skipped pair by
                // pair by the core, never the whole header.
                let cookies = headers.get_all(COOKIE).iter().map(HeaderValue::as_bytes);
                let made = SessionDriver::new(self.manager.clone(), cookies);
                let session = Session(made.session());
                *driver = Driver::Made(made);
                Some(session)
            }
        }
    }

    /// The driver, if the session was made; the request ends here.
    fn take(&self) -> Option<SessionDriver> {
        let mut driver = self.driver.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *driver, Driver::Ended) {
            Driver::Made(d) => Some(d),
            Driver::Unmade | Driver::Ended => None,
        }
    }
}

/// The task-local value: inline (the fast path), or shared with the request's
/// extensions ([`SessionLayer::cross_task`](crate::SessionLayer::cross_task)).
#[derive(Debug)]
pub(crate) enum Slot {
    Inline(Current),
    Shared(Arc<Current>),
}

impl Slot {
    fn current(&self) -> &Current {
        match self {
            Slot::Inline(c) => c,
            Slot::Shared(c) => c,
        }
    }

    pub(crate) fn take(&self) -> Option<SessionDriver> {
        self.current().take()
    }
}

/// The extensions' handle of a [`SessionLayer::cross_task`](crate::SessionLayer::cross_task) layer.
#[derive(Debug, Clone)]
struct CrossTask(Arc<Current>);

/// The session of the request with these headers and extensions: the
/// task-local of the service serving it, else the cross-task handle in the
/// extensions, else `None` (no [`SessionLayer`](crate::SessionLayer) in
/// reach, or the request has ended).
pub(crate) fn lookup(headers: &HeaderMap, extensions: &Extensions) -> Option<Session> {
    match CURRENT.try_with(|slot| slot.current().session(headers)) {
        Ok(found) => found,
        Err(_) => extensions
            .get::<CrossTask>()
            .and_then(|c| c.0.session(headers)),
    }
}

/// The service made by [`SessionLayer`](crate::SessionLayer).
#[derive(Debug, Clone)]
pub struct SessionService<S> {
    inner: S,
    manager: Arc<SessionManager>,
    cross_task: bool,
}

impl<S> SessionService<S> {
    pub(crate) fn new(inner: S, manager: Arc<SessionManager>, cross_task: bool) -> Self {
        Self {
            inner,
            manager,
            cross_task,
        }
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
        let current = Current::new(self.manager.clone());
        let slot = if self.cross_task {
            let shared = Arc::new(current);
            req.extensions_mut().insert(CrossTask(shared.clone()));
            Slot::Shared(shared)
        } else {
            Slot::Inline(current)
        };
        // The clone that was made ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        // The scope covers the returned future, where axum runs extractors;
        // a `Service` must look the session up in its future, not in `call`.
        ResponseFuture::new(CURRENT.scope(slot, inner.call(req)))
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

//! The actix-web middleware: a [`Transform`] that wraps every service of an
//! `App` (or scope, or resource) with [`SessionMiddlewareService`].

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready as ready_poll, Context, Poll};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderValue, CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpResponse};
use pin_project_lite::pin_project;
use session_plus_core::{vary_covers_cookie, Outcome, SessionDriver, SessionManager};

use crate::Session;

/// Gives every request a [`Session`] and saves it after the handler; register
/// it with `App::wrap`. Build the [`SessionManager`] once, outside the
/// `HttpServer` factory, and share it between workers.
///
/// ```
/// use std::sync::Arc;
/// use actix_web::{web, App};
/// use session_plus_actix::{
///     FieldRules, Interface, Key, Session, SessionError, SessionManager, SessionMiddleware,
/// };
///
/// async fn count(session: Session) -> Result<String, SessionError> {
///     let n: u64 = session.get("n").await?.unwrap_or(0) + 1;
///     session.insert("n", n).await?;
///     Ok(n.to_string())
/// }
///
/// let manager = Arc::new(
///     SessionManager::builder()
///         .keys(Key::generate())
///         .interface(Interface::secure_cookie("session").fields(FieldRules::All))
///         .build()
///         .unwrap(),
/// );
/// let app = App::new()
///     .wrap(SessionMiddleware::new(manager.clone()))
///     .route("/", web::get().to(count));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SessionMiddleware {
    manager: Arc<SessionManager>,
}

impl SessionMiddleware {
    /// A middleware serving sessions configured by `manager`.
    pub fn new(manager: Arc<SessionManager>) -> Self {
        Self { manager }
    }
}

impl<S, B> Transform<S, ServiceRequest> for SessionMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = SessionMiddlewareService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SessionMiddlewareService {
            service,
            manager: self.manager.clone(),
        }))
    }
}

/// The service made by [`SessionMiddleware`]: drives one request's session.
#[derive(Debug)]
pub struct SessionMiddlewareService<S> {
    service: S,
    manager: Arc<SessionManager>,
}

impl<S, B> Service<ServiceRequest> for SessionMiddlewareService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = ResponseFuture<S::Future, B>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // Raw bytes: a foreign non-ASCII cookie is skipped pair by pair by the
        // core, never the whole header.
        let cookies = req.headers().get_all(COOKIE).map(HeaderValue::as_bytes);
        let driver = SessionDriver::new(self.manager.clone(), cookies);
        req.extensions_mut().insert(Session(driver.session()));
        ResponseFuture {
            state: State::Handler {
                fut: self.service.call(req),
                driver: Some(driver),
            },
        }
    }
}

type Saving<B> = Pin<Box<dyn Future<Output = ServiceResponse<EitherBody<B>>>>>;

pin_project! {
    /// Resolves to the handler's response with the session saved onto it. A
    /// request whose handler never used the session takes no allocation here.
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Handler { #[pin] fut: F, driver: Option<SessionDriver> },
        Saving { fut: Saving<B> },
    }
}

impl<F, B> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    B: MessageBody + 'static,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().state.project() {
                StateProj::Handler { fut, driver } => {
                    // An `Err` here never reached a handler-built response
                    // (actix turns handler errors into responses first): the
                    // session is dropped unsaved, as on the tower side.
                    let res = ready_poll!(fut.poll(cx))?;
                    let driver = match driver.take() {
                        Some(driver) if driver.was_accessed() => driver,
                        _ => return Poll::Ready(Ok(res.map_into_left_body())),
                    };
                    let saving: Saving<B> = Box::pin(async move {
                        let outcome = driver.finish().await;
                        apply(res, outcome)
                    });
                    self.as_mut()
                        .project()
                        .state
                        .set(State::Saving { fut: saving });
                }
                StateProj::Saving { fut } => return fut.as_mut().poll(cx).map(Ok),
            }
        }
    }
}

/// Translate the driver's outcome onto the response: nothing here decides a
/// rule, the core's [`Outcome`] does.
fn apply<B>(res: ServiceResponse<B>, outcome: Outcome) -> ServiceResponse<EitherBody<B>> {
    let mut res = match outcome.status {
        Some(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let (req, _) = res.into_parts();
            ServiceResponse::new(req, HttpResponse::new(status)).map_into_right_body()
        }
        None => res.map_into_left_body(),
    };
    let headers = res.headers_mut();
    if outcome.vary_cookie
        && !headers
            .get_all(VARY)
            .any(|v| v.to_str().is_ok_and(vary_covers_cookie))
    {
        headers.append(VARY, HeaderValue::from_static("Cookie"));
    }
    for c in outcome.set_cookie_headers() {
        match HeaderValue::from_str(c) {
            Ok(v) => headers.append(SET_COOKIE, v),
            Err(_) => tracing::error!("session cookie value is not a valid header"),
        }
    }
    if let Some(cc) = outcome.cache_control {
        if !headers.contains_key(CACHE_CONTROL) {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static(cc));
        }
    }
    res
}
